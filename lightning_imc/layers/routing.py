"""Functional uses of a converted layer's weight, routed through the crossbar.

Some models do not call a layer but read its weight: torchvision's Swin Transformer computes
``F.linear(x, self.qkv.weight, bias)`` in ``ShiftedWindowAttention.forward``, timm's EVA/BEiT attention
``F.linear(x, self.qkv.weight, qkv_bias)``. Converting ``qkv`` alone would leave that product digital while
the report counts the layer as converted. :func:`find_weight_readers` finds, from the forwards' source,
which modules read a converted layer's ``weight``; :func:`route_weight_reads` attaches to each such module
a :class:`torch.overrides.TorchFunctionMode`, active only during its forward, that sends every
``F.linear`` / ``F.conv1d`` / ``F.conv2d`` on that weight (with the layer's own stride, padding,
dilation and groups) through the layer itself — quantized, with variation, hooks and calibration — with
the bias the caller passes. Any other use of the weight (a ``matmul``, a transpose, a conv with other
settings) stays digital and raises a ``UserWarning`` naming the layer and the operation, once per layer.
"""

from __future__ import annotations

import contextlib
import inspect
import re
import warnings
from typing import Any, Callable, Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

from .modules import IMCLayer

__all__ = ["find_weight_readers", "route_weight_reads", "unrouted_uses"]

_WEIGHT_READ = r"\b{self}\.((?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*)\.weight\b"
#: Operations on a weight that read only its metadata (no arithmetic): never reported.
_METADATA = {"size", "dim", "numel", "is_floating_point", "data_ptr", "stride", "element_size", "is_contiguous"}
_CONV = {F.conv1d: 1, F.conv2d: 2}


def _weight_paths(kind: type) -> list[str]:
    """The ``<self>.<path>.weight`` paths read in ``kind.forward``'s source (``<self>``: its first parameter)."""
    try:
        forward = kind.forward  # type: ignore[attr-defined]
        source = inspect.getsource(forward)
        first = next(iter(inspect.signature(forward).parameters), "self")
    except (OSError, TypeError, ValueError):
        return []
    return list(dict.fromkeys(re.findall(_WEIGHT_READ.format(self=re.escape(first)), source)))


def find_weight_readers(model: nn.Module, layer_names: "set[str] | list[str]") -> dict[str, list[str]]:
    """``{module name: [layer names]}``: the modules whose own ``forward`` reads ``self.<path>.weight`` of
    one of ``layer_names`` (a direct read of the weight, not a call of the layer). Source-based: a forward
    whose source cannot be read (built-ins, C extensions) reads nothing here."""
    wanted = set(layer_names)
    paths: dict[type, list[str]] = {}
    found: dict[str, list[str]] = {}
    for name, module in model.named_modules():
        if isinstance(module, IMCLayer):
            continue
        kind = type(module)
        if kind not in paths:
            paths[kind] = _weight_paths(kind)
        for path in paths[kind]:
            full = f"{name}.{path}" if name else path
            if full in wanted:
                found.setdefault(name, []).append(full)
    return found


def unrouted_uses(layer: nn.Module) -> tuple[str, ...]:
    """The operations that used ``layer``'s weight outside the crossbar so far (names, in order)."""
    return tuple(layer.__dict__.get("_imc_unrouted_uses", ()))


@contextlib.contextmanager
def _bias_for_call(layer: nn.Module, bias: "Tensor | None") -> Iterator[None]:
    """The layer's ``bias`` replaced by ``bias`` for one call (the caller's, e.g. Swin V2's zeroed key bias)."""
    own = layer._parameters.get("bias")
    if bias is own:
        yield
        return
    layer._parameters["bias"] = bias  # type: ignore[assignment]  # read by the layer's forward as self.bias
    try:
        yield
    finally:
        layer._parameters["bias"] = own


def _same(value: Any, layer_value: Any, dims: int) -> bool:
    if isinstance(value, str) or isinstance(layer_value, str):
        return value == layer_value
    as_tuple = tuple(value) if isinstance(value, (tuple, list)) else (value,) * dims
    return as_tuple == tuple(layer_value)


class _CrossbarRouting(TorchFunctionMode):
    """During one module's forward: ``F.linear``/``F.conv*`` on a converted layer's weight call the layer."""

    def __init__(self, owner: str, layers: dict[str, nn.Module]):
        super().__init__()
        self.owner = owner
        self.layers = layers

    def _layer_of(self, tensor: Any) -> "tuple[str, nn.Module] | None":
        if isinstance(tensor, Tensor):
            for name, layer in self.layers.items():
                if tensor is layer._parameters.get("weight"):
                    return name, layer
        return None

    def __torch_function__(self, func: Callable, types: Any, args: tuple = (), kwargs: "dict | None" = None) -> Any:
        kwargs = kwargs or {}
        if any(layer.__dict__.get("_imc_running", 0) for layer in self.layers.values()):
            return func(*args, **kwargs)  # inside a layer's own forward: its weight is used as it should be
        if func is F.linear or func in _CONV:
            params = inspect.signature(_conv_signature if func in _CONV else _linear_signature).bind(*args, **kwargs).arguments
            hit = self._layer_of(params.get("weight"))
            if hit is not None and self._routable(func, hit[1], params):
                with _bias_for_call(hit[1], params.get("bias")):
                    return hit[1](params["input"])
        name = getattr(func, "__name__", "")
        if name not in _METADATA and not name.startswith("__get"):
            for value in (*args, *kwargs.values()):
                hit = self._layer_of(value)
                if hit is not None:
                    self._report(hit[0], hit[1], func)
                    break
        return func(*args, **kwargs)

    @staticmethod
    def _routable(func: Callable, layer: nn.Module, params: dict[str, Any]) -> bool:
        if func is F.linear:
            return isinstance(layer, nn.Linear)
        dims = _CONV[func]
        if not isinstance(layer, (nn.Conv1d, nn.Conv2d)) or len(layer.kernel_size) != dims:
            return False
        return (layer.padding_mode == "zeros" and type(layer).__name__ != "IMCConv2dSame"
                and _same(params.get("stride", 1), layer.stride, dims)
                and _same(params.get("padding", 0), layer.padding, dims)
                and _same(params.get("dilation", 1), layer.dilation, dims)
                and int(params.get("groups", 1)) == layer.groups)

    def _report(self, name: str, layer: nn.Module, func: Callable) -> None:
        uses = layer.__dict__.setdefault("_imc_unrouted_uses", [])
        op = getattr(func, "__qualname__", getattr(func, "__name__", repr(func)))
        if op in uses:
            return
        uses.append(op)
        warnings.warn(
            f"{name}: its weight is used directly by the forward of {self.owner or 'the model'} in {op}, which "
            f"does not run through the crossbar: that product is computed digitally (keep the layer digital "
            f"with convert_to_imc(..., overrides={{{name!r}: None}}) to make the report say so)",
            UserWarning, stacklevel=3,
        )


def _linear_signature(input: Tensor, weight: Tensor, bias: "Tensor | None" = None) -> None:  # noqa: A002
    """``F.linear``'s parameters (a builtin without a signature)."""


def _conv_signature(input: Tensor, weight: Tensor, bias: "Tensor | None" = None, stride: Any = 1,  # noqa: A002
                    padding: Any = 0, dilation: Any = 1, groups: int = 1) -> None:
    """``F.conv1d``/``F.conv2d``'s parameters (builtins without a signature)."""


class _EnterRouting:
    """Forward pre-hook of a reader module: push its routing mode (layers found from the module itself,
    so a deep copy of the model routes to its own layers)."""

    def __init__(self, owner: str, paths: tuple[str, ...]):
        self.owner, self.paths = owner, paths

    def __call__(self, module: nn.Module, args: Any) -> None:
        prefix = f"{self.owner}." if self.owner else ""
        mode = _CrossbarRouting(self.owner, {prefix + p: module.get_submodule(p) for p in self.paths})
        mode.__enter__()
        module.__dict__.setdefault("_imc_routing_modes", []).append(mode)


class _LeaveRouting:
    """Forward hook (always called) of a reader module: pop its routing mode."""

    def __call__(self, module: nn.Module, args: Any, output: Any) -> None:
        module.__dict__["_imc_routing_modes"].pop().__exit__(None, None, None)


class _Running:
    """Pre-hook (``+1``) and hook (``-1``) counting a routed layer's forwards in progress."""

    def __init__(self, step: int):
        self.step = step

    def __call__(self, module: nn.Module, *args: Any) -> None:
        module.__dict__["_imc_running"] = module.__dict__.get("_imc_running", 0) + self.step


def route_weight_reads(model: nn.Module, readers: dict[str, list[str]]) -> None:
    """Make each reader module's forward send the functional uses of its layers' weights through them."""
    for owner, names in readers.items():
        module = model.get_submodule(owner) if owner else model
        prefix = f"{owner}." if owner else ""
        paths = tuple(name[len(prefix):] for name in names)
        if module.__dict__.get("_imc_routes") == paths:
            continue  # converted again: already routed
        module.__dict__["_imc_routes"] = paths
        module.register_forward_pre_hook(_EnterRouting(owner, paths))
        module.register_forward_hook(_LeaveRouting(), always_call=True)
        for path in paths:
            layer = module.get_submodule(path)
            if "_imc_running" not in layer.__dict__:
                layer.__dict__["_imc_running"] = 0
                layer.register_forward_pre_hook(_Running(+1))
                layer.register_forward_hook(_Running(-1), always_call=True)
