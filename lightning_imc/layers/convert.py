"""``convert_to_imc``: turn the Conv2d/Linear/MultiheadAttention layers of any model into crossbar layers."""

from __future__ import annotations

import copy
import fnmatch
import warnings
from typing import Any, Mapping, Union

from torch import nn

from .config import IMCConfig, field_names
from .modules import IMCConv2d, IMCLayer, IMCLinear, IMCMultiheadAttention, seed_offset_for

__all__ = ["convert_to_imc", "convert_to_digital", "imc_layers"]

Override = Union[Mapping[str, Any], IMCConfig, None]

_UNMAPPABLE = (nn.Conv1d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
_FUSED_FAST_PATH = (nn.TransformerEncoderLayer, nn.TransformerDecoderLayer)


def convert_to_imc(
    model: nn.Module,
    config: IMCConfig | None = None,
    overrides: Mapping[str, Override] | None = None,
    inplace: bool = False,
) -> nn.Module:
    """Replace every ``Conv2d`` (``groups=1``), ``Linear`` and ``MultiheadAttention`` by its IMC layer.

    Args:
        model: Any PyTorch model.
        config: The configuration of every converted layer (default ``IMCConfig()``).
        overrides: Per-layer changes by module-name pattern (``fnmatch`` syntax, e.g. ``"conv1"``,
            ``"layer4.*"``, ``"*.downsample.0"``). A value is a dict of ``IMCConfig`` fields to change,
            a whole ``IMCConfig``, or ``None`` to keep matching layers digital. Patterns apply in order;
            later ones win. A pattern that matches no module is an error (it is usually a typo).
        inplace: Modify ``model`` itself instead of a deep copy.

    Returns:
        The converted model. Layers the crossbar cannot map (grouped/depthwise ``Conv2d``, 1-D/3-D and
        transposed convolutions) stay digital, listed in one ``UserWarning``.

    Each layer gets its own seed offset (from its name), so layers draw independent variation even
    with one ``config.seed``.

    >>> net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 10))
    >>> imc = convert_to_imc(net, IMCConfig(seed=0), overrides={"0": {"input_signed": True}})
    >>> [type(m).__name__ for m in imc]
    ['IMCConv2d', 'ReLU', 'Flatten', 'IMCLinear']
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"convert_to_imc: model must be a torch.nn.Module, got {type(model).__name__} ({model!r:.60})")
    base = IMCConfig() if config is None else config
    if not isinstance(base, IMCConfig):
        raise ValueError(f"config must be an IMCConfig, got {type(base).__name__}")
    rules = _validate_overrides(overrides or {}, base)
    names = [name for name, _ in model.named_modules() if name]
    for pattern in rules:
        if not any(fnmatch.fnmatchcase(name, pattern) for name in names):
            raise ValueError(f"overrides pattern {pattern!r} matches no module; module names include {names[:12]}")
    if not inplace:
        model = copy.deepcopy(model)

    left_digital: list[str] = []
    ideal_adc_attention: list[str] = []
    converted_under: list[str] = []
    for name, module in list(model.named_modules()):
        if any(name.startswith(prefix + ".") for prefix in converted_under):
            continue  # inside a converted attention block: its projections are handled there
        if isinstance(module, IMCLayer):
            continue
        layer_config = _config_for(name, base, rules)
        mappable = (
            (isinstance(module, nn.Conv2d) and module.groups == 1)
            or isinstance(module, (nn.Linear, nn.MultiheadAttention))
        )
        if not mappable:
            if isinstance(module, nn.Conv2d) or isinstance(module, _UNMAPPABLE):
                left_digital.append(f"{name} ({type(module).__name__}"
                                    + (f", groups={module.groups})" if isinstance(module, nn.Conv2d) else ")"))
            continue
        if layer_config is None:
            continue
        offset = seed_offset_for(name)
        if isinstance(module, nn.MultiheadAttention):
            new: nn.Module = IMCMultiheadAttention.from_digital(module, layer_config, offset)
            converted_under.append(name)
            if layer_config.adc_bits is not None:
                ideal_adc_attention.append(name)
        elif isinstance(module, nn.Conv2d):
            new = IMCConv2d.from_digital(module, layer_config, offset)
        else:
            new = IMCLinear.from_digital(module, layer_config, offset)
        _set_submodule(model, name, new)

    for module in model.modules():
        if isinstance(module, _FUSED_FAST_PATH) and any(isinstance(m, IMCLayer) for m in module.modules()):
            # PyTorch's fused inference fast path reads the raw weights and skips our forward; it is
            # not taken when a forward pre-hook is attached, so attach a no-op one.
            module.register_forward_pre_hook(_keep_imc_forward)

    if left_digital:
        warnings.warn(
            "convert_to_imc left these layers digital (a crossbar maps only dense Conv2d/Linear "
            f"weights): {left_digital}",
            UserWarning,
            stacklevel=2,
        )
    if ideal_adc_attention:
        warnings.warn(
            f"ADC emulation is not applied inside MultiheadAttention; these read out ideally: {ideal_adc_attention}",
            UserWarning,
            stacklevel=2,
        )
    return model


def _keep_imc_forward(module: nn.Module, args: Any) -> None:
    return None


def convert_to_digital(model: nn.Module, inplace: bool = False) -> nn.Module:
    """Replace every IMC layer by its plain PyTorch layer (parameters shared, no noise, no quantization)."""
    if not inplace:
        model = copy.deepcopy(model)
    for name, module in list(model.named_modules()):
        if isinstance(module, IMCLayer):
            _set_submodule(model, name, module.to_digital())  # type: ignore[attr-defined]
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
