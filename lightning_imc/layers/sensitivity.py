"""Which layers lose most at a given bit width: a per-layer sensitivity report for mixed precision.

:func:`layer_sensitivity` converts a model once at ``bits``-bit weights and inputs (variation off, the
conversion's scaling), measures the input ranges on the digital activations, and then quantizes one
layer at a time, every other layer exact: the mean cosine of the logits to the digital model's, on the
given batches, is that layer's fidelity at ``bits`` bits, and ``1 − cosine`` its loss. The layers that
lose most are the ones to keep at 8 bits (:meth:`SensitivityReport.overrides`); the report also gives the
model with every layer at ``bits`` and with the worst ``k`` kept at 8 bits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .calibration import _inputs, calibrate_input_ranges
from .config import IMCConfig, conversion_config
from .convert import convert_to_imc, imc_layers
from .montecarlo import model_logits

__all__ = ["LayerSensitivity", "SensitivityReport", "layer_sensitivity"]


@dataclass(frozen=True)
class LayerSensitivity:
    """One layer's fidelity when it alone is quantized.

    Attributes:
        name: Module name.
        kind: IMC layer class.
        cosine: Mean cosine of the logits to the digital model's with only this layer at ``bits`` (1 = exact).
        loss: ``1 − cosine``.
    """

    name: str
    kind: str
    cosine: float

    @property
    def loss(self) -> float:
        """``1 − cosine`` (0 = no loss)."""
        return 1.0 - self.cosine


@dataclass
class SensitivityReport:
    """Per-layer sensitivity at ``bits`` bits, the most sensitive first.

    Attributes:
        bits: Weight and input bits (bits) of the quantized layer.
        layers: Every converted layer, by decreasing loss.
        all_layers_cosine: Cosine with every layer at ``bits`` bits.
        keep_at_8bit_cosine: ``{k: cosine}`` with the ``k`` most sensitive layers at 8 bits, the rest at ``bits``.
    """

    bits: int
    layers: list[LayerSensitivity]
    all_layers_cosine: float
    keep_at_8bit_cosine: dict[int, float] = field(default_factory=dict)

    def most_sensitive(self, k: int) -> list[str]:
        """Names of the ``k`` layers that lose most."""
        return [layer.name for layer in self.layers[:k]]

    def overrides(self, k: int, high_bits: int = 8) -> dict[str, dict[str, Any]]:
        """``convert_to_imc`` overrides keeping the ``k`` most sensitive layers at ``high_bits`` bits."""
        return {name: _bit_fields(high_bits) for name in self.most_sensitive(k)}

    def __str__(self) -> str:
        lines = [f"layer sensitivity at {self.bits} bits (weights and inputs; others exact): all layers at "
                 f"{self.bits} bits give cosine {self.all_layers_cosine:.4f}"]
        lines += [f"  keeping the worst {k} at 8 bits: cosine {c:.4f}" for k, c in self.keep_at_8bit_cosine.items()]
        lines += [f"  {layer.loss:9.2e}  {layer.name} ({layer.kind})" for layer in self.layers]
        return "\n".join(lines)


def _bit_fields(bits: int) -> dict[str, int]:
    """``IMCConfig`` fields of a ``bits``-bit weight and input format (scaled formats: only the total matters)."""
    return {"weight_int_bits": 1, "weight_frac_bits": bits - 1, "input_int_bits": 1, "input_frac_bits": bits - 1}


@torch.no_grad()
def _mean_cosine(model: nn.Module, inputs: Sequence[Tensor], reference: Sequence[Tensor]) -> float:
    values = [F.cosine_similarity(model_logits(model(x)).flatten(1).double(), ref, dim=1) for x, ref in zip(inputs, reference)]
    return float(torch.cat(values).mean())


def layer_sensitivity(model: nn.Module, batches: Iterable[object], bits: int = 4, config: IMCConfig | None = None,
                      keep: Sequence[int] = (1, 2, 4)) -> SensitivityReport:
    """Rank a model's layers by what quantizing each alone to ``bits`` bits costs (see the module docstring).

    Args:
        model: The digital model (left unchanged).
        batches: A few input batches (tensors, ``(inputs, ...)`` or ``{"input_ids": ...}``): the input
            ranges are measured on them and the cosines computed on them.
        bits: Weight and input bits of the quantized layer (2..16).
        config: The conversion configuration (default :func:`conversion_config`); its bit fields are
            replaced by ``bits`` and variation is off.
        keep: Numbers ``k`` of most sensitive layers to keep at 8 bits for ``keep_at_8bit_cosine``.

    >>> _ = torch.manual_seed(0); net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
    >>> report = layer_sensitivity(net, [torch.randn(32, 8)], bits=4, keep=(1,))
    >>> [layer.name for layer in report.layers], report.all_layers_cosine < 1.0
    (['0', '2'], True)
    """
    if isinstance(bits, bool) or not isinstance(bits, int) or not 2 <= bits <= 16:
        raise ValueError(f"layer_sensitivity: bits={bits!r}; must be an integer in [2, 16]")
    inputs = [_inputs(batch) for batch in batches]
    if not inputs:
        raise ValueError("layer_sensitivity: no batch given")
    was_training = model.training
    model.eval()
    with torch.no_grad():
        reference = [model_logits(model(x)).flatten(1).double() for x in inputs]
    model.train(was_training)
    base = (conversion_config() if config is None else config).replace(variation="off", **_bit_fields(bits))
    imc = cast(nn.Module, convert_to_imc(model, base)).eval()
    layers = imc_layers(imc)
    if not layers:
        raise ValueError("layer_sensitivity: the model has no layer convert_to_imc maps onto crossbars")
    quantized = {name: layer.imc_config for name, layer in layers}
    exact = {name: config.replace(quantize_weights=False, quantize_inputs=False) for name, config in quantized.items()}
    for name, layer in layers:
        layer.set_config(exact[name])
    if base.input_scaling != "absolute":
        calibrate_input_ranges(imc, inputs)  # the ranges of the digital activations each layer sees alone
    results = []
    for name, layer in layers:
        layer.set_config(quantized[name])
        results.append(LayerSensitivity(name, type(layer).__name__, _mean_cosine(imc, inputs, reference)))
        layer.set_config(exact[name])
    results.sort(key=lambda r: r.cosine)
    for name, layer in layers:
        layer.set_config(quantized[name])
    report = SensitivityReport(bits, results, _mean_cosine(imc, inputs, reference))
    by_name = dict(layers)
    for k in keep:
        for name in report.most_sensitive(k):
            by_name[name].set_config(quantized[name].replace(**_bit_fields(8)))
        report.keep_at_8bit_cosine[k] = _mean_cosine(imc, inputs, reference)
        for name in report.most_sensitive(k):
            by_name[name].set_config(quantized[name])
    return report
