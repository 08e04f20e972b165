"""``convert_to_imc``: turn the Conv1d/Conv2d/Linear/MultiheadAttention layers of any model into crossbar layers."""

from __future__ import annotations

import copy
import fnmatch
import warnings
from dataclasses import dataclass, field
from typing import Any, Mapping, Union

from torch import nn

from .config import IMCConfig, conversion_config, field_names
from .modules import (
    IMCConv1d,
    IMCConv2d,
    IMCConv2dSame,
    IMCLayer,
    IMCLinear,
    IMCMultiheadAttention,
    IMCTransposedLinear,
    seed_offset_for,
)
from .routing import find_weight_readers, route_weight_reads

__all__ = ["convert_to_imc", "convert_to_digital", "imc_layers", "ConversionReport"]


@dataclass
class ConversionReport:
    """What :func:`convert_to_imc` did, layer by layer.

    Attributes:
        converted: ``{module name: IMC class name}`` of every layer mapped onto crossbars.
        digital: ``{module name: why it stayed digital}`` for every other module that holds a
            matrix-shaped weight (grouped convolutions, embeddings, recurrent layers, overrides,
            unsupported subclasses).
        weight_reads: ``{converted layer name: how}`` for the converted layers whose weight another
            module's forward reads directly (``F.linear(x, self.qkv.weight, b)``, torchvision's Swin):
            those calls are routed through the crossbar (:mod:`~lightning_imc.layers.routing`); any other
            use of such a weight warns at run time, naming the layer.
        mapped_weights: Weights (parameters) held by the converted layers.
        total_weights: All parameters of the model.
    """

    converted: dict[str, str] = field(default_factory=dict)
    digital: dict[str, str] = field(default_factory=dict)
    weight_reads: dict[str, str] = field(default_factory=dict)
    mapped_weights: int = 0
    total_weights: int = 0

    @property
    def mapped_share(self) -> float:
        """Share of the model's parameters that live on crossbars (0..1)."""
        return self.mapped_weights / self.total_weights if self.total_weights else 0.0

    def __str__(self) -> str:
        lines = [f"convert_to_imc: {len(self.converted)} layers on crossbars, {len(self.digital)} digital, "
                 f"{self.mapped_share:.1%} of {self.total_weights} parameters mapped"]
        lines += [f"  imc      {name}: {kind}" + (f" ({self.weight_reads[name]})" if name in self.weight_reads else "")
                  for name, kind in self.converted.items()]
        lines += [f"  digital  {name}: {why}" for name, why in self.digital.items()]
        return "\n".join(lines)


def _is_hf_conv1d(module: nn.Module) -> bool:
    """Hugging Face ``Conv1D`` (GPT-2): a linear layer with its weight stored ``(in, out)`` (duck-typed)."""
    weight = getattr(module, "weight", None)
    return (
        type(module).__name__ == "Conv1D" and not isinstance(module, nn.Conv1d) and hasattr(module, "nf")
        and isinstance(weight, nn.Parameter) and weight.dim() == 2 and weight.shape[1] == module.nf
    )


def _is_same_padded_conv(module: nn.Module) -> bool:
    """timm's ``Conv2dSame`` (TensorFlow "SAME" padding computed per input)."""
    return isinstance(module, nn.Conv2d) and type(module).__name__ == "Conv2dSame"


def _own_forward(module: nn.Module, base: type[nn.Module]) -> bool:
    return type(module).forward is not base.forward


def _has_matrix_weight(module: nn.Module) -> bool:
    return any(p is not None and p.dim() >= 2 for n, p in module._parameters.items() if "weight" in n)

Override = Union[Mapping[str, Any], IMCConfig, None]

_UNMAPPABLE = (nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
_RECURRENT = (nn.RNNBase, nn.RNNCellBase)
_FUSED_FAST_PATH = (nn.TransformerEncoderLayer, nn.TransformerDecoderLayer)


def convert_to_imc(
    model: nn.Module,
    config: IMCConfig | None = None,
    overrides: Mapping[str, Override] | None = None,
    inplace: bool = False,
    verbose: bool = False,
    return_report: bool = False,
) -> "nn.Module | tuple[nn.Module, ConversionReport]":
    """Replace every ``Conv1d``/``Conv2d`` (``groups=1``), ``Linear``, ``MultiheadAttention`` and Hugging
    Face ``Conv1D`` by its IMC layer; nothing is skipped or changed silently.

    Args:
        model: Any PyTorch model.
        config: The configuration of every converted layer (default :func:`conversion_config`:
            8-bit weights scaled per output channel, 8-bit inputs on a calibrated range with a zero
            point; run :func:`calibrate_input_ranges` on a few batches next).
        overrides: Per-layer changes by module-name pattern (``fnmatch`` syntax, e.g. ``"conv1"``,
            ``"layer4.*"``, ``"*.downsample.0"``). A value is a dict of ``IMCConfig`` fields to change,
            a whole ``IMCConfig``, or ``None`` to keep matching layers digital. Patterns apply in order;
            later ones win. A pattern that matches no module is an error (it is usually a typo).
        inplace: Modify ``model`` itself instead of a deep copy.
        verbose: Print the :class:`ConversionReport`.
        return_report: Return ``(model, report)`` instead of the model alone.

    Returns:
        The converted model (and its report). Layers the crossbar cannot map (grouped/depthwise
        convolutions, 3-D and transposed convolutions, recurrent layers — ``nn.LSTM``/``GRU``/``RNN``
        and their cells, whose fused kernels read the gate matrices directly — and subclasses of
        ``Conv*``/``Linear`` with a forward of their own that is not known here) stay digital, listed in
        one ``UserWarning`` and in the report with the reason. timm's ``Conv2dSame`` becomes
        :class:`IMCConv2dSame` (its padding kept); ``convert_to_digital`` restores every converted
        module as it was. A converted layer whose weight another module's forward reads directly
        (``F.linear(x, self.qkv.weight, ...)``) gets those calls routed through it (``report.weight_reads``).

    Each layer gets its own seed offset (from its name), so layers draw independent variation even
    with one ``config.seed``.

    >>> net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 10))
    >>> imc = convert_to_imc(net, IMCConfig(seed=0), overrides={"0": {"input_signed": True}})
    >>> [type(m).__name__ for m in imc]
    ['IMCConv2d', 'ReLU', 'Flatten', 'IMCLinear']
    >>> _, report = convert_to_imc(net, return_report=True)
    >>> report.converted, round(report.mapped_share, 3)
    ({'0': 'IMCConv2d', '3': 'IMCLinear'}, 1.0)
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"convert_to_imc: model must be a torch.nn.Module, got {type(model).__name__} ({model!r:.60})")
    base = conversion_config() if config is None else config
    if not isinstance(base, IMCConfig):
        raise ValueError(f"config must be an IMCConfig, got {type(base).__name__}")
    rules = _validate_overrides(overrides or {}, base)
    names = [name for name, _ in model.named_modules() if name]
    for pattern in rules:
        if not any(fnmatch.fnmatchcase(name, pattern) for name in names):
            raise ValueError(f"overrides pattern {pattern!r} matches no module; module names include {names[:12]}")
    if not inplace:
        model = copy.deepcopy(model)

    report = ConversionReport(total_weights=sum(p.numel() for p in model.parameters()))
    left_digital: list[str] = []
    ideal_adc: list[str] = []
    converted_under: list[str] = []
    for name, module in list(model.named_modules()):
        if any(name.startswith(prefix + ".") for prefix in converted_under):
            continue  # inside a converted attention block: its projections are handled there
        if isinstance(module, IMCLayer):
            report.converted[name] = type(module).__name__
            continue
        layer_config = _config_for(name, base, rules)
        reason = _unmappable_reason(module)
        if reason is not None:
            if reason:
                report.digital[name] = reason
                left_digital.append(f"{name} ({reason.split(':')[0]})")
            continue
        if layer_config is None:
            report.digital[name] = "kept digital by overrides"
            continue
        offset = seed_offset_for(name)
        if isinstance(module, nn.MultiheadAttention):
            new: nn.Module = IMCMultiheadAttention.from_digital(module, layer_config, offset)
            converted_under.append(name)
            if layer_config.adc_bits is not None:
                ideal_adc.append(name)
        elif _is_same_padded_conv(module):
            new = IMCConv2dSame.from_digital(module, layer_config, offset)
        elif isinstance(module, nn.Conv2d):
            new = IMCConv2d.from_digital(module, layer_config, offset)
        elif isinstance(module, nn.Conv1d):
            new = IMCConv1d.from_digital(module, layer_config, offset)
        elif _is_hf_conv1d(module):
            new = IMCTransposedLinear.from_digital(module, layer_config, offset)
        else:
            new = IMCLinear.from_digital(module, layer_config, offset)
        _set_submodule(model, name, new)
        report.converted[name] = type(new).__name__

    for name, module in model.named_modules():
        if not name or name in report.digital or isinstance(module, IMCLayer):
            continue
        if any(name.startswith(prefix + ".") for prefix in converted_under):
            continue
        if _has_matrix_weight(module):
            why = ("embedding lookup (a table read, no multiply-accumulate)" if isinstance(module, nn.Embedding)
                   else f"{type(module).__name__} is not a layer type the crossbar maps")
            report.digital[name] = why
    report.mapped_weights = sum(p.numel() for n, p in model.named_parameters()
                                if _owner(n) in report.converted or any(n.startswith(c + ".") for c in converted_under))

    routable = [name for name, kind in report.converted.items() if kind in ("IMCLinear", "IMCConv1d", "IMCConv2d")]
    readers = find_weight_readers(model, routable)
    route_weight_reads(model, readers)
    for owner, names in readers.items():
        kind = type(model.get_submodule(owner)).__name__ if owner else type(model).__name__
        for name in names:
            report.weight_reads[name] = (f"weight read by {kind}.forward ({owner or 'the model'}): its F.linear/F.conv "
                                         "calls routed through the crossbar")

    for module in model.modules():
        if isinstance(module, _FUSED_FAST_PATH) and any(isinstance(m, IMCLayer) for m in module.modules()):
            # PyTorch's fused inference fast path reads the raw weights and skips our forward; it is
            # not taken when a forward pre-hook is attached, so attach a no-op one.
            module.register_forward_pre_hook(_keep_imc_forward)

    if left_digital:
        warnings.warn(
            "convert_to_imc left these layers digital (a crossbar maps only dense Conv1d/Conv2d/Linear "
            f"weights): {left_digital}",
            UserWarning,
            stacklevel=2,
        )
    if ideal_adc:
        warnings.warn(
            f"ADC emulation is not applied inside MultiheadAttention; these read out ideally: {ideal_adc}",
            UserWarning,
            stacklevel=2,
        )
    if verbose:
        print(report)
    return (model, report) if return_report else model


def _owner(parameter_name: str) -> str:
    return parameter_name.rpartition(".")[0]


def _unmappable_reason(module: nn.Module) -> str | None:
    """``None``: the crossbar maps it; ``""``: not a weight layer at all; else why it stays digital."""
    if isinstance(module, _RECURRENT):
        return (f"{type(module).__name__}: recurrent layer, not mapped (its gate matrices stay digital; "
                "the chip model counts their multiply-accumulates as digital)")
    if isinstance(module, (nn.Conv1d, nn.Conv2d)):
        if module.groups != 1:
            kind = "depthwise" if module.groups == module.in_channels == module.out_channels else "grouped"
            return f"{type(module).__name__}, groups={module.groups}: a {kind} convolution is not a dense crossbar matrix"
        if _is_same_padded_conv(module):
            return None
        base = nn.Conv2d if isinstance(module, nn.Conv2d) else nn.Conv1d
        if _own_forward(module, base):
            return f"{type(module).__name__} overrides {base.__name__}.forward; converting it would change what it computes"
        if not isinstance(module._parameters.get("weight"), nn.Parameter):
            return f"{type(module).__name__}: its weight is parametrized (e.g. weight_norm), not a stored matrix"
        return None
    if isinstance(module, _UNMAPPABLE):
        return f"{type(module).__name__}: not mapped (only 2-D convolutions and linear layers are)"
    if isinstance(module, nn.Linear):
        if _own_forward(module, nn.Linear):
            return f"{type(module).__name__} overrides Linear.forward; converting it would change what it computes"
        return None
    if isinstance(module, nn.MultiheadAttention):
        return None
    if _is_hf_conv1d(module):
        return None
    return ""


def _keep_imc_forward(module: nn.Module, args: Any) -> None:
    return None


def convert_to_digital(model: nn.Module, inplace: bool = False) -> nn.Module:
    """Replace every IMC layer by its plain PyTorch layer (parameters shared, no noise, no quantization)."""
    if not inplace:
        model = copy.deepcopy(model)
    for name, module in list(model.named_modules()):
        if isinstance(module, IMCLayer):
            _set_submodule(model, name, module.to_digital())
    return model


def imc_layers(model: nn.Module) -> list[tuple[str, IMCLayer]]:
    """The ``(name, layer)`` pairs of every IMC layer in ``model``."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, IMCLayer)]


def _validate_overrides(overrides: Mapping[str, Override], base: IMCConfig) -> dict[str, Override]:
    allowed = field_names()
    rules: dict[str, Override] = {}
    for pattern, value in overrides.items():
        if not isinstance(pattern, str) or not pattern:
            raise ValueError(f"overrides key {pattern!r} must be a non-empty module-name pattern")
        if value is not None and not isinstance(value, IMCConfig):
            if not isinstance(value, Mapping):
                raise ValueError(
                    f"overrides[{pattern!r}] must be a dict of IMCConfig fields, an IMCConfig or None; "
                    f"got {type(value).__name__}"
                )
            unknown = sorted(set(value) - set(allowed))
            if unknown:
                raise ValueError(f"overrides[{pattern!r}] has unknown IMCConfig field(s) {unknown}; allowed: {allowed}")
            base.replace(**dict(value))  # validates the values before any work
        rules[pattern] = value
    return rules


def _config_for(name: str, base: IMCConfig, rules: dict[str, Override]) -> IMCConfig | None:
    config: IMCConfig | None = base
    for pattern, value in rules.items():
        if not fnmatch.fnmatchcase(name, pattern):
            continue
        if value is None or isinstance(value, IMCConfig):
            config = value
        else:
            config = (config or base).replace(**dict(value))
    return config


def _set_submodule(model: nn.Module, name: str, new: nn.Module) -> None:
    if not name:
        raise ValueError("convert_to_imc converts the layers inside a model; wrap a bare layer in nn.Sequential")
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, new)
