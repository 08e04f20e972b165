"""Child networks built from a decoded candidate (:class:`lightning_imc.space.ChildSpec`).

Every convolution and linear layer is an IMC layer whose :class:`IMCConfig` carries the candidate's
per-layer quantization, the candidate's device and its circuit (array size, ADC bits). Plain PyTorch:
the LightningModule wrapper lives in :mod:`lightning_imc.models.module`.

Classification (RLS, VLS): ``[IMCConv2d → BatchNorm2d → ReLU → (MaxPool2d 2×2)] × n`` → flatten →
``[IMCLinear → BatchNorm1d → ReLU] × m`` → ``IMCLinear`` classifier (the spec's last layer). Weights
start on the fixed-point grid (:meth:`ChildNetwork.reset_quantization_aware_init`).
Segmentation (EDS): conv blocks with pooling (encoder) and ×2 upsampling (decoder), ending with the
spec's output conv (class logits per pixel).
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import torch
from torch import Tensor, nn

from ..layers import IMCConfig, IMCConv2d, IMCLinear
from ..layers.modules import seed_offset_for

__all__ = ["ChildNetwork", "build_network", "layer_config", "child_imc_config", "CHILD_SCALING"]


def layer_config(base: IMCConfig, layer: Any, device: str | None, circuit: Mapping[str, Any]) -> IMCConfig:
    """The IMC configuration of one layer: ``base`` with the layer's bits, the device and the circuit."""
    changes: dict[str, Any] = dict(
        weight_int_bits=layer.weight_int_bits,
        weight_frac_bits=layer.weight_frac_bits,
        input_int_bits=layer.input_int_bits,
        input_frac_bits=layer.input_frac_bits,
        input_signed=layer.input_signed,
    )
    if device is not None:
        changes["device"] = device
    if "array_size" in circuit:
        changes["array_rows"] = changes["array_cols"] = int(circuit["array_size"])
    if "subarray_rows" in circuit:  # a circuit settled by the chip model's optimiser
        changes["array_rows"] = int(circuit["subarray_rows"])
    if "rows_in_parallel" in circuit:
        # the same partial-parallel read as the chip (ChipConfig.rows_in_parallel): the ADC sees its partial sums
        value = circuit["rows_in_parallel"]
        changes["rows_in_parallel"] = None if value is None else int(value)
    if "adc_bits" in circuit:
        # the chip the hardware model charges for has these ADCs: the accuracy sees them too (no free lunch)
        changes["adc_bits"] = int(circuit["adc_bits"])
    return base.replace(**changes)


#: How a child network's layers map onto the crossbar unless its configuration says otherwise: a
#: per-layer digital weight scale and calibrated input ranges, so that a format's integer/fraction
#: split (a power-of-two scale behind batch norm) does not change training (see ``IMCConfig``).
CHILD_SCALING: dict[str, str] = {"weight_scaling": "layer", "input_scaling": "calibrated", "input_clipping": "mse"}


def child_imc_config(**changes: Any) -> IMCConfig:
    """The default IMC configuration of a child network (:data:`CHILD_SCALING`), with ``changes``."""
    return IMCConfig(**(CHILD_SCALING | changes))


class ChildNetwork(nn.Module):
    """A classification or segmentation network made of crossbar layers, one per ``spec.layers`` entry.

    A conv layer is ``IMCConv2d → BatchNorm2d → ReLU → (MaxPool2d 2×2) → (Upsample ×2)``; an fc layer is
    ``IMCLinear → BatchNorm1d → ReLU``. The last layer is the output (fc classifier, or the segmentation head conv) and
    has no normalisation or activation.

    Attributes:
        spec: The :class:`~lightning_imc.space.ChildSpec` it was built from.
        body: One ``nn.Sequential`` block per layer of the spec (``Flatten`` before the first fc).
    """

    def __init__(self, spec: Any, imc: IMCConfig):
        super().__init__()
        self.spec = spec
        blocks: list[nn.Module] = []
        flattened = False
        last = len(spec.layers) - 1
        for index, layer in enumerate(spec.layers):
            config = layer_config(imc, layer, spec.device, spec.circuit)
            offset = seed_offset_for(layer.name or f"layer{index}")
            block: list[nn.Module] = []
            if layer.kind == "conv":
                block.append(IMCConv2d(layer.in_features, layer.out_features, tuple(layer.kernel), stride=layer.stride,
                                       padding=layer.padding_hw, bias=index == last, imc_config=config, seed_offset=offset))
                if index != last:
                    block += [nn.BatchNorm2d(layer.out_features), nn.ReLU(inplace=True)]
                if layer.pool:
                    block.append(nn.MaxPool2d(2))
                if layer.upsample:
                    block.append(nn.Upsample(size=tuple(layer.out_hw), mode="nearest"))
            elif layer.kind == "fc":
                if not flattened:
                    block.append(nn.Flatten())
                    flattened = True
                block.append(IMCLinear(layer.in_features, layer.out_features, bias=index == last, imc_config=config,
                                       seed_offset=offset))
                if index != last:
                    block += [nn.BatchNorm1d(layer.out_features), nn.ReLU(inplace=True)]
            else:
                raise ValueError(f"spec.layers[{index}].kind={layer.kind!r}; allowed: 'conv', 'fc'")
            blocks.append(nn.Sequential(*block))
        self.body = nn.Sequential(*blocks)
        self.reset_quantization_aware_init()

    @torch.no_grad()
    def reset_quantization_aware_init(self) -> None:
        """Initialise weights so that they land on the fixed-point grid.

        With a scaled weight mapping (``weight_scaling`` ``layer``/``channel``, the child default) the
        format's levels follow the weights, so PyTorch's default initialisation is kept for every
        layer, the classifier included: training is then the same for Q1.3, Q2.2 and Q3.1.

        With ``absolute`` formats (NACIM's semantics), PyTorch's default init gives a layer with fan-in
        ``n`` weights within ``±1/sqrt(n)``; with a coarse format (Q1.3 has a step of 0.125) every weight
        of a wide layer rounds to zero and the network cannot start. Hidden layers are followed by
        batch norm, so their scale is free: draw them uniformly within half the format's range. The
        output layer keeps the default scale but at least two quantization steps.
        """
        layers = [m for m in self.modules() if isinstance(m, (IMCConv2d, IMCLinear))]
        for position, module in enumerate(layers):
            if module.bias is not None:
                module.bias.zero_()
            if module.imc_config.weight_scaling != "absolute":
                continue
            fmt = module.imc_config.weight_format
            fan_in = module.weight[0].numel()
            default = 1.0 / math.sqrt(fan_in)
            bound = max(default, 2 * fmt.step) if position == len(layers) - 1 else max(default, fmt.max_abs / 2)
            module.weight.uniform_(-bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)


def build_network(spec: Any, imc: IMCConfig | None = None) -> ChildNetwork:
    """Build the child network of ``spec`` (a decoded, repaired candidate)."""
    return ChildNetwork(spec, child_imc_config() if imc is None else imc)
