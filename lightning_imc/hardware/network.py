"""Network descriptions for the hardware model: a list of conv / linear layers (no torch needed).

A :class:`Layer` holds what the crossbar mapping needs: the input feature map (IFM) size and
channels, the kernel, stride, padding, the pooling that follows the layer, and the per-layer
fixed-point precisions (weight bits, input-activation bits). A :class:`Network` is an ordered tuple
of layers; the order is the order of execution (residual networks are flattened into execution
order, each layer keeping its own IFM size, so no chain structure is assumed).

:func:`network_from_module` derives a description from any torch model by running one forward pass
with hooks; torch is imported lazily inside that function only.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

__all__ = ["Layer", "Network", "network_from_module", "device_from_module", "random_rls_network", "DEFAULT_BITS"]

#: Precision assumed for layers that do not carry ``weight_bits`` / ``input_bits`` (bits).
DEFAULT_BITS = 8

_KINDS = ("conv", "linear")


def _check_int(owner: str, field: str, value: object, low: int, high: int | None = None) -> None:
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= low
    if ok and high is not None:
        ok = isinstance(value, int) and value <= high
    if not ok:
        rng = f"[{low}, {high}]" if high is not None else f">= {low}"
        raise ValueError(f"{owner}.{field}={value!r}; must be an integer in {rng}")


@dataclass(frozen=True)
class Layer:
    """One conv or linear layer as the crossbar sees it.

    Attributes:
        kind: ``"conv"`` or ``"linear"`` (a linear layer is a 1×1 conv on a 1×1 IFM).
        in_h: IFM height (pixels; 1 for linear).
        in_w: IFM width (pixels; 1 for linear).
        in_c: Input channels (features for linear).
        out_c: Output channels (features for linear).
        kernel_h: Kernel height (pixels).
        kernel_w: Kernel width (pixels).
        stride: Convolution stride (pixels).
        padding: Zero padding on each side along the height (pixels).
        padding_w: Zero padding along the width (pixels); -1 = same as ``padding``.
        pool: Window of the max-pooling that follows the layer (1 = none; 2 = 2×2).
        weight_bits: Total fixed-point bits of a weight (bits, 1..16).
        input_bits: Total fixed-point bits of an input activation, applied bit-serially (bits, 1..16).
        name: Optional label.
        input_range_per_read: Each read's input vector is coded on its own range (a converted layer with
            ``input_scaling="dynamic"``): the chip model charges a min/max finder over the read's
            ``in_c`` inputs, a multiply per input to code it and two per output to rescale (energy).
    """

    kind: str
    in_h: int
    in_w: int
    in_c: int
    out_c: int
    kernel_h: int = 1
    kernel_w: int = 1
    stride: int = 1
    padding: int = 0
    pool: int = 1
    weight_bits: int = DEFAULT_BITS
    input_bits: int = DEFAULT_BITS
    name: str = ""
    padding_w: int = -1
    input_range_per_read: bool = False

    def __post_init__(self) -> None:
        owner = f"Layer({self.name or self.kind})"
        if self.kind not in _KINDS:
            raise ValueError(f"{owner}.kind={self.kind!r}; allowed: {list(_KINDS)}")
        for f in ("in_h", "in_w", "in_c", "out_c", "kernel_h", "kernel_w", "stride", "pool"):
            _check_int(owner, f, getattr(self, f), 1)
        _check_int(owner, "padding", self.padding, 0)
        _check_int(owner, "padding_w", self.padding_w, -1)
        _check_int(owner, "weight_bits", self.weight_bits, 1, 16)
        _check_int(owner, "input_bits", self.input_bits, 1, 16)
        if not isinstance(self.input_range_per_read, bool):
            raise ValueError(f"{owner}.input_range_per_read={self.input_range_per_read!r}; must be true or false")
        if self.input_range_per_read and (self.kernel_h, self.kernel_w) != (1, 1):
            raise ValueError(f"{owner}.input_range_per_read=True needs a 1×1 kernel (the reads of a "
                             f"{self.kernel_h}×{self.kernel_w} kernel overlap)")
        if self.out_h < 1 or self.out_w < 1:
            raise ValueError(
                f"{owner}: kernel {self.kernel_h}×{self.kernel_w} (padding {self.padding}) does not fit "
                f"the {self.in_h}×{self.in_w} IFM; the layer cannot be mapped"
            )

    @property
    def out_h(self) -> int:
        """Output height before pooling (pixels)."""
        return (self.in_h + 2 * self.padding - self.kernel_h) // self.stride + 1

    @property
    def out_w(self) -> int:
        """Output width before pooling (pixels)."""
        pw = self.padding if self.padding_w < 0 else self.padding_w
        return (self.in_w + 2 * pw - self.kernel_w) // self.stride + 1

    @property
    def rows(self) -> int:
        """Rows of the unrolled weight matrix: ``kernel_h · kernel_w · in_c``."""
        return self.kernel_h * self.kernel_w * self.in_c

    @property
    def macs(self) -> int:
        """Multiply-accumulates actually performed (real output size, padding and stride honoured)."""
        return self.out_h * self.out_w * self.rows * self.out_c

    @property
    def macs_neurosim(self) -> int:
        """MACs as DNN+NeuroSim counts them for its op count: ``IFM_H·IFM_W·C_in·K²·C_out``."""
        return self.in_h * self.in_w * self.rows * self.out_c

    @property
    def params(self) -> int:
        """Number of weights."""
        return self.rows * self.out_c

    def with_bits(self, weight_bits: int, input_bits: int) -> "Layer":
        """A copy with other precisions."""
        return dataclasses.replace(self, weight_bits=weight_bits, input_bits=input_bits)


@dataclass(frozen=True)
class Network:
    """An ordered tuple of layers (execution order) with a name.

    Attributes:
        layers: The crossbar layers, in execution order.
        name: Label.
        digital_macs: Multiply-accumulates per inference that run digitally, not on crossbars
            (depthwise/grouped, 3-D and transposed convolutions, recurrent layers, attention score and
            value products, functional uses of a weight, layers a converted model kept digital);
            reported, not charged by the chip model.
        digital_layers: What those MACs are, each with its module name and reason.
    """

    layers: tuple[Layer, ...]
    name: str = "network"
    digital_macs: int = 0
    digital_layers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.layers, tuple):
            object.__setattr__(self, "layers", tuple(self.layers))
        if len(self.layers) == 0:
            raise ValueError("Network.layers is empty; a network needs at least one conv/linear layer")
        for i, layer in enumerate(self.layers):
            if not isinstance(layer, Layer):
                raise ValueError(f"Network.layers[{i}] is a {type(layer).__name__}, not a Layer")

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self):
        return iter(self.layers)

    def __getitem__(self, i: int) -> Layer:
        return self.layers[i]

    @property
    def macs(self) -> int:
        """Total MACs actually performed per inference."""
        return sum(l.macs for l in self.layers)

    def ops(self, convention: str = "exact") -> float:
        """Operations per inference (1 MAC = 2 ops).

        Args:
            convention: ``"exact"`` — 2 × MACs on the real output size (this project's default);
                ``"neurosim"`` — DNN+NeuroSim's ``2·Σ IFM_H·IFM_W·C_in·K²·C_out`` on the IFM size as listed.
        """
        if convention == "exact":
            return 2.0 * self.macs
        if convention == "neurosim":
            return 2.0 * sum(l.macs_neurosim for l in self.layers)
        raise ValueError(f"ops convention={convention!r}; allowed: ['exact', 'neurosim']")

    def with_bits(self, weight_bits: int | Sequence[int], input_bits: int | Sequence[int]) -> "Network":
        """A copy with uniform (int) or per-layer (sequence) precisions."""
        n = len(self.layers)
        wb = [weight_bits] * n if isinstance(weight_bits, int) else list(weight_bits)
        ib = [input_bits] * n if isinstance(input_bits, int) else list(input_bits)
        if len(wb) != n or len(ib) != n:
            raise ValueError(f"with_bits: need {n} weight/input bit values, got {len(wb)}/{len(ib)}")
        return Network(tuple(l.with_bits(w, a) for l, w, a in zip(self.layers, wb, ib)), self.name,
                       digital_macs=self.digital_macs, digital_layers=self.digital_layers)

    @classmethod
    def from_rows(cls, rows: Iterable[Sequence[int]], *, weight_bits: int = 8, input_bits: int = 8,
                  name: str = "network") -> "Network":
        """Build from DNN+NeuroSim ``NetWork.csv`` rows: ``IFM_H, IFM_W, C_in, K_H, K_W, C_out, pool[, stride]``.

        NeuroSim lists the unpadded IFM; ``padding`` is left at 0 (so real output sizes here are
        (H−K+1)·(W−K+1), exactly the positions NeuroSim simulates). A row with a 1×1 IFM and a 1×1
        kernel becomes a linear layer.
        """
        layers = []
        for i, r in enumerate(rows):
            r = [int(v) for v in r]
            h, w, c, kh, kw, co, pool = r[:7]
            stride = r[7] if len(r) > 7 else 1
            kind = "linear" if (h == w == kh == kw == 1) else "conv"
            layers.append(Layer(kind, h, w, c, co, kh, kw, stride, 0, 2 if pool else 1,
                                weight_bits, input_bits, name=f"layer{i + 1}"))
        return cls(tuple(layers), name)

    @classmethod
    def vgg8(cls, weight_bits: int = 8, input_bits: int = 8) -> "Network":
        """VGG-8 for CIFAR-10 as in the DNN+NeuroSim V1.3 manual (``NetWork.csv``, Table II).

        >>> Network.vgg8().ops("neurosim") / 1e9  # doctest: +ELLIPSIS
        1.23...
        """
        rows = [
            (32, 32, 3, 3, 3, 128, 0), (32, 32, 128, 3, 3, 128, 1),
            (16, 16, 128, 3, 3, 256, 0), (16, 16, 256, 3, 3, 256, 1),
            (8, 8, 256, 3, 3, 512, 0), (8, 8, 512, 3, 3, 512, 1),
            (1, 1, 8192, 1, 1, 1024, 0), (1, 1, 1024, 1, 1, 10, 0),
        ]
        return cls.from_rows(rows, weight_bits=weight_bits, input_bits=input_bits, name="vgg8")

    @classmethod
    def small_cnn(cls) -> "Network":
        """A three-layer toy network (CIFAR-sized input) for examples and tests."""
        return cls((
            Layer("conv", 32, 32, 3, 16, 3, 3, 1, 1, 2, name="conv1"),
            Layer("conv", 16, 16, 16, 32, 3, 3, 1, 1, 2, name="conv2"),
            Layer("linear", 1, 1, 32 * 8 * 8, 10, name="fc"),
        ), "small_cnn")


# ----------------------------------------------------------------------------------------------
# The NACIM RLS space (paper section V-A): random child networks for benchmarks and property tests
# ----------------------------------------------------------------------------------------------

RLS_FILTERS = (24, 36, 48, 64)
RLS_KERNELS = (1, 3, 5, 7)
RLS_FC_UNITS = (64, 128, 256, 512)


def random_rls_network(rng: random.Random | int | None = None, *, n_conv: int = 6, n_fc: int = 2,
                       num_classes: int = 10, input_hw: int = 32, input_c: int = 3) -> Network:
    """A random child network of NACIM's RLS space (CIFAR-10 input, 32×32×3).

    ``n_conv`` conv layers (filters {24,36,48,64}, kernel height/width each {1,3,5,7}, 'same'
    padding, optional 2×2 pooling), then ``n_fc`` FC layers ({64,128,256,512} units, the last one
    has ``num_classes`` outputs). Per-layer weight and activation precision = integer bits 0..3 +
    fractional bits 0..6 (+1 sign bit), at least 2 bits in total.
    """
    if not isinstance(rng, random.Random):
        rng = random.Random(rng)
    layers: list[Layer] = []
    h = w = input_hw
    c = input_c

    def bits() -> int:
        return max(2, 1 + rng.randint(0, 3) + rng.randint(0, 6))

    for i in range(n_conv):
        kh, kw = rng.choice(RLS_KERNELS), rng.choice(RLS_KERNELS)
        co = rng.choice(RLS_FILTERS)
        pool = 2 if (rng.random() < 0.5 and h >= 2 and w >= 2) else 1
        layers.append(Layer("conv", h, w, c, co, kh, kw, 1, kh // 2, pool, bits(), bits(),
                            name=f"conv{i + 1}", padding_w=kw // 2))
        c = co
        if pool == 2:
            h, w = h // 2, w // 2
    feat = h * w * c
    for j in range(n_fc):
        units = num_classes if j == n_fc - 1 else rng.choice(RLS_FC_UNITS)
        layers.append(Layer("linear", 1, 1, feat, units, weight_bits=bits(), input_bits=bits(), name=f"fc{j + 1}"))
        feat = units
    return Network(tuple(layers), "rls")


# ----------------------------------------------------------------------------------------------
# From a torch model (lazy torch import)
# ----------------------------------------------------------------------------------------------

def _bits_attr(module: Any, name: str, default: int) -> int:
    value = getattr(module, name, None)
    if value is None:
        return default
    return int(value)


def network_from_module(model: Any, example_inputs: Any, *, default_bits: int = DEFAULT_BITS,
                        name: str | None = None) -> Network:
    """Describe a torch model's crossbar layers by running one forward pass with hooks.

    Works for any graph (residual networks, transformers): each ``nn.Conv2d``/``nn.Linear`` call, each
    ``nn.MultiheadAttention``'s q/k/v and output projections, and each Hugging Face ``Conv1D`` (GPT-2)
    is recorded in execution order with the input it actually received (a linear layer applied to
    ``P`` positions, e.g. tokens, is a 1×1 conv over ``P`` positions; an ``nn.Conv1d`` is a 1×K conv on a
    1×L map). Precisions come from the
    layer's ``weight_bits`` / ``input_bits`` attributes when present (the IMC layers carry them; any
    module may), else ``default_bits``; ``input_range_per_read`` likewise (default false). Work that does not map onto a crossbar — depthwise/grouped
    convolutions, and in a converted model (one with IMC layers) every layer it kept digital — is
    summed in ``Network.digital_macs`` and named in ``Network.digital_layers`` instead of raising, and so
    is every other multiply-accumulate of the forward: 3-D and transposed convolutions, ``nn.LSTM``/``GRU``/
    ``RNN`` (``gates · H · (I + H)`` per step, layer and direction), attention score and value products
    (``nn.MultiheadAttention``'s analytically, whichever kernel it runs; elsewhere ``matmul``/``bmm``/
    ``einsum``/``scaled_dot_product_attention`` of two activations, seen by a ``TorchFunctionMode``) and
    ``F.linear``/``F.conv*`` on a weight outside its module (a functional use). Figures are per
    inference: the example's batch size divides them. A
    max/avg-pool module that directly consumes a recorded layer's output (after an optional
    activation) marks that layer as pooled, which affects only the output-buffer traffic.

    Args:
        model: A ``torch.nn.Module``.
        example_inputs: Either the shape of one input without the batch dimension, e.g.
            ``(3, 32, 32)`` (a zero float tensor of batch 1 is fed), or example inputs fed as they
            are: a tensor (integer token IDs included), a tuple of positional tensors, or a dict of
            keyword tensors. Their batch size should be 1 (figures are per inference).
        default_bits: Precision (bits) used where a layer does not carry one.
        name: Network name (default: the model's class name).
    """
    import torch  # lazy: the rest of lightning_imc.hardware never imports torch
    from torch import nn

    records: list[dict[str, Any]] = []
    digital: list[tuple[str, int]] = []
    handles = []
    last_output: dict[str, Any] = {"tensor": None, "index": None}
    converted = any(hasattr(m, "imc_config") for m in model.modules())
    batch = _example_batch(example_inputs)
    inside = [0, 0]  # depth of counted layers (conv/linear/recurrent), of attention modules, currently running

    def label(mod: nn.Module) -> str:
        return mod_names.get(id(mod), type(mod).__name__)

    def bits(mod: nn.Module) -> dict[str, Any]:
        return {"weight_bits": _bits_attr(mod, "weight_bits", default_bits),
                "input_bits": _bits_attr(mod, "input_bits", default_bits),
                "input_range_per_read": bool(getattr(mod, "input_range_per_read", False))}

    def linear_record(mod: nn.Module, x: Any, in_f: int, out_f: int, suffix: str = "") -> dict[str, Any]:
        # every row of x is one read; per inference: rows / the example's batch (windows of a Swin stay counted)
        positions = max(1, int(x.numel() // in_f // batch)) if x.dim() > 1 else 1
        return dict(kind="linear" if positions == 1 else "conv", in_h=1, in_w=max(1, positions), in_c=in_f,
                    out_c=out_f, kernel_h=1, kernel_w=1, stride=1, padding=0, pool=1,
                    name=label(mod) + suffix, **bits(mod))

    def on_crossbar(mod: nn.Module) -> bool:
        return not converted or hasattr(mod, "imc_config")

    def add(rec: dict[str, Any], output: Any) -> None:
        records.append(rec)
        last_output["tensor"] = output
        last_output["index"] = len(records) - 1

    def conv_hook(mod: nn.Module, inputs: tuple, output: Any) -> None:
        x = inputs[0]
        if isinstance(mod, nn.Conv1d):
            k, = mod.kernel_size
            if mod.groups != 1 or not on_crossbar(mod) or isinstance(mod.padding, str):
                why = f"groups={mod.groups}" if mod.groups != 1 else "kept digital"
                digital.append((f"{label(mod)} (Conv1d, {why})", _conv_like_macs(mod, x, output, batch)))
                return
            rec1: dict[str, Any] = dict(kind="conv", in_h=1, in_w=int(x.shape[-1]), in_c=mod.in_channels,
                                        out_c=mod.out_channels, kernel_h=1, kernel_w=k, stride=int(mod.stride[0]),
                                        padding=0, padding_w=int(mod.padding[0]), pool=1, name=label(mod), **bits(mod))
            add(rec1, output)
            return
        if isinstance(mod, nn.Conv2d):
            kh, kw = mod.kernel_size
            sh, sw = mod.stride
            if isinstance(mod.padding, str):
                ph, pw = (kh // 2, kw // 2) if mod.padding == "same" else (0, 0)
            else:
                ph, pw = mod.padding
            h, w = int(x.shape[-2]), int(x.shape[-1])
            if mod.groups != 1 or not on_crossbar(mod):
                macs = int(output.shape[-2] * output.shape[-1]) * kh * kw * (mod.in_channels // mod.groups) * mod.out_channels
                macs = macs * (int(output.numel()) // max(1, int(output.shape[-3] * output.shape[-2] * output.shape[-1]) * batch) or 1)
                why = f"groups={mod.groups}" if mod.groups != 1 else "kept digital"
                digital.append((f"{label(mod)} ({type(mod).__name__}, {why})", macs))
                return
            out_h, out_w = int(output.shape[-2]), int(output.shape[-1])
            if (out_h, out_w) != ((h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1):
                # the module pads its input itself (timm's Conv2dSame: TensorFlow's "SAME", per input) or
                # dilates its kernel: the crossbar reads the input it really convolves, so its positions are
                # the output's (padding or dilation included in the input's size)
                h, w, ph, pw = (out_h - 1) * sh + kh, (out_w - 1) * sw + kw, 0, 0
            rec: dict[str, Any] = dict(kind="conv", in_h=h, in_w=w, in_c=mod.in_channels, out_c=mod.out_channels,
                       kernel_h=kh, kernel_w=kw, stride=max(sh, sw), padding=ph, padding_w=pw, pool=1,
                       name=label(mod), **bits(mod))
        else:
            shape = _linear_shape(mod)
            assert shape is not None, "the hook is registered on linear-like modules only"
            rec = linear_record(mod, x, *shape)
            if not on_crossbar(mod):
                digital.append((f"{rec['name']} ({type(mod).__name__}, kept digital)",
                                rec["in_w"] * rec["in_c"] * rec["out_c"]))
                return
        add(rec, output)

    def attention_hook(mod: nn.MultiheadAttention, args: tuple, kwargs: dict, output: Any) -> None:
        query = args[0] if args else kwargs["query"]
        key = args[1] if len(args) > 1 else kwargs.get("key", query)
        value = args[2] if len(args) > 2 else kwargs.get("value", key)
        e = mod.embed_dim
        projections = (("q", query, e), ("k", key, mod.kdim), ("v", value, mod.vdim))
        recs = [linear_record(mod, t, d, e, f".{p}_proj") for p, t, d in projections]
        recs.append(linear_record(mod, query, e, e, ".out_proj"))
        for rec in recs:
            if on_crossbar(mod):
                records.append(rec)
            else:
                digital.append((f"{rec['name']} (MultiheadAttention, kept digital)",
                                rec["in_w"] * rec["in_c"] * rec["out_c"]))
        # scores q·kᵀ (E per query-key pair over all heads) and values a·v: activation × activation, digital
        queries, keys = recs[0]["in_w"], recs[1]["in_w"]
        digital.append((f"{label(mod)} (attention scores and values, digital)", queries * keys * (e + e)))
        last_output["index"] = None

    def other_conv_hook(mod: nn.Module, inputs: tuple, output: Any) -> None:
        digital.append((f"{label(mod)} ({type(mod).__name__}, not mapped)", _conv_like_macs(mod, inputs[0], output, batch)))

    def recurrent_hook(mod: nn.Module, inputs: tuple, output: Any) -> None:
        digital.append((f"{label(mod)} ({type(mod).__name__}, recurrent, digital)", _recurrent_macs(mod, inputs[0], batch)))

    def enter(mod: nn.Module, args: Any) -> None:
        inside[isinstance(mod, nn.MultiheadAttention)] += 1

    def leave(mod: nn.Module, args: Any, output: Any) -> None:
        inside[isinstance(mod, nn.MultiheadAttention)] -= 1

    def pool_hook(mod: nn.MaxPool2d | nn.AvgPool2d, inputs: tuple, output: Any) -> None:
        idx = last_output["index"]
        if idx is None:
            return
        k = mod.kernel_size if isinstance(mod.kernel_size, int) else mod.kernel_size[0]
        if records[idx]["kind"] == "conv" and records[idx]["pool"] == 1:
            records[idx]["pool"] = max(1, int(k))
        last_output["index"] = None

    mod_names = {id(m): n for n, m in model.named_modules()}
    inside_attention: set[int] = set()
    for m in model.modules():
        if isinstance(m, nn.MultiheadAttention):
            inside_attention.update(id(sub) for sub in m.modules() if sub is not m)
    other_convs = (nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
    for m in model.modules():
        if id(m) in inside_attention:
            continue  # MultiheadAttention's out_proj is read through F.multi_head_attention_forward
        hook: Any = None
        if isinstance(m, nn.MultiheadAttention):
            handles.append(m.register_forward_hook(attention_hook, with_kwargs=True))
            hook = "attention"
        elif isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear)) or _linear_shape(m) is not None:
            hook = conv_hook
        elif isinstance(m, other_convs):
            hook = other_conv_hook
        elif isinstance(m, (nn.RNNBase, nn.RNNCellBase)):
            hook = recurrent_hook
        elif isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
            handles.append(m.register_forward_hook(pool_hook))
        if hook is not None:
            if hook != "attention":
                handles.append(m.register_forward_hook(hook))
            # while a counted layer runs, its own products are its MACs: the product counter looks away
            # (inside attention it still counts the score and value products, not the projections)
            handles.append(m.register_forward_pre_hook(enter))
            handles.append(m.register_forward_hook(leave, always_call=True))
    running: list[str] = []  # names of the modules whose forward is running, innermost last

    def push(mod: nn.Module, args: Any) -> None:
        running.append(label(mod))

    def pop(mod: nn.Module, args: Any, output: Any) -> None:
        running.pop()

    for m in model.modules():
        if m is not model:
            handles.append(m.register_forward_pre_hook(push))
            handles.append(m.register_forward_hook(pop, always_call=True))
    products = _ProductCounter(inside, running, {id(p): n for n, p in model.named_parameters()}, batch)
    was_training = model.training
    try:
        model.eval()
        param = next(iter(model.parameters()), None)
        dev = param.device if param is not None else "cpu"
        with torch.no_grad(), products:
            if isinstance(example_inputs, torch.Tensor):
                model(example_inputs.to(dev))
            elif isinstance(example_inputs, dict):
                model(**{k: v.to(dev) if isinstance(v, torch.Tensor) else v for k, v in example_inputs.items()})
            elif isinstance(example_inputs, (tuple, list)) and example_inputs and all(
                    isinstance(v, torch.Tensor) for v in example_inputs):
                model(*(v.to(dev) for v in example_inputs))
            else:
                shape = tuple(int(s) for s in example_inputs)
                model(torch.zeros((1, *shape), device=dev))
    finally:
        for hnd in handles:
            hnd.remove()
        model.train(was_training)
    if not records:
        raise ValueError(f"network_from_module: {type(model).__name__} has no conv/linear layer on a crossbar to map"
                         + (f" (digital: {[d for d, _ in digital][:8]})" if digital else ""))
    digital += products.entries()
    layers = []
    for r in records:
        r["weight_bits"] = min(16, max(1, r["weight_bits"]))
        r["input_bits"] = min(16, max(1, r["input_bits"]))
        layers.append(Layer(**r))
    return Network(tuple(layers), name or type(model).__name__, digital_macs=sum(m for _, m in digital),
                   digital_layers=tuple(d for d, _ in digital))


def _linear_shape(module: Any) -> tuple[int, int] | None:
    """``(in_features, out_features)`` of a linear-like module: ``nn.Linear``, an IMC transposed linear,
    or Hugging Face's ``Conv1D`` (weight ``(in, out)``); ``None`` for anything else."""
    from torch import nn

    if isinstance(module, nn.Linear):
        return module.in_features, module.out_features
    weight = getattr(module, "weight", None)
    if type(module).__name__ in ("Conv1D", "IMCTransposedLinear") and weight is not None and weight.dim() == 2:
        return int(weight.shape[0]), int(weight.shape[1])
    return None


def device_from_module(model: Any, default: Any = None) -> Any:
    """The :class:`~lightning_imc.devices.Device` of the first layer carrying ``imc_config.device``.

    Duck-typed (no import of :mod:`lightning_imc.layers`); returns ``default`` when no layer
    carries one, and raises ``ValueError`` when layers carry different devices.
    """
    found = None
    for m in model.modules():
        dev = getattr(getattr(m, "imc_config", None), "device", None)
        if dev is None:
            continue
        if found is not None and dev != found:
            raise ValueError(f"device_from_module: layers use different devices ({found.name!r}, {dev.name!r}); "
                             "evaluate them separately")
        found = dev
    return default if found is None else found




def _example_batch(example_inputs: Any) -> int:
    """The batch size of ``network_from_module``'s example inputs (1 for a shape)."""
    import torch

    first = None
    if isinstance(example_inputs, torch.Tensor):
        first = example_inputs
    elif isinstance(example_inputs, dict):
        first = next((v for v in example_inputs.values() if isinstance(v, torch.Tensor)), None)
    elif isinstance(example_inputs, (tuple, list)) and example_inputs and isinstance(example_inputs[0], torch.Tensor):
        first = example_inputs[0]
    return max(1, int(first.shape[0])) if first is not None and first.dim() > 0 else 1


def _conv_like_macs(mod: Any, x: Any, output: Any, batch: int) -> int:
    """Multiply-accumulates per inference of a (grouped, transposed, 1-/2-/3-D) convolution module:
    every output element of a convolution sums ``C_in/groups · prod(kernel)`` products; a transposed
    convolution scatters every input element into ``C_out/groups · prod(kernel)`` outputs."""
    import math

    kernel = math.prod(int(k) for k in mod.kernel_size)
    if "Transpose" in type(mod).__name__:
        return int(x.numel()) // batch * (mod.out_channels // mod.groups) * kernel
    return int(output.numel()) // batch * (mod.in_channels // mod.groups) * kernel


def _recurrent_macs(mod: Any, x: Any, batch: int) -> int:
    """Multiply-accumulates per inference of an ``nn.LSTM``/``GRU``/``RNN`` (or cell): per step, layer and
    direction, ``gates · H · (I + H)`` (gates: LSTM 4, GRU 3, RNN 1; ``I`` the layer's input width, the
    previous layer's ``H · directions``) plus ``H · proj`` for an LSTM projection."""
    from torch import nn

    gates = 4 if isinstance(mod, (nn.LSTM, nn.LSTMCell)) else 3 if isinstance(mod, (nn.GRU, nn.GRUCell)) else 1
    hidden = int(mod.hidden_size)
    if isinstance(mod, nn.RNNCellBase):
        rows = int(x.numel()) // max(1, int(mod.input_size)) // batch
        return rows * gates * hidden * (int(mod.input_size) + hidden)
    data = x.data if hasattr(x, "batch_sizes") else x  # a PackedSequence: its data holds every step once
    steps = int(data.numel()) // int(mod.input_size) // (1 if hasattr(x, "batch_sizes") else batch)
    directions = 2 if mod.bidirectional else 1
    out = int(getattr(mod, "proj_size", 0) or 0) or hidden
    total, width = 0, int(mod.input_size)
    for _ in range(int(mod.num_layers)):
        per_direction = gates * hidden * (width + out) + (hidden * out if out != hidden else 0)
        total += steps * directions * per_direction
        width = out * directions
    return total


class _ProductCounter:
    """A ``TorchFunctionMode`` (built lazily: torch is imported only here) counting the multiply-accumulates
    that no counted layer performs: activation × activation products (attention scores and values:
    ``matmul``, ``bmm``, ``baddbmm``, ``einsum`` of two tensors, ``scaled_dot_product_attention``) and
    ``F.linear``/``F.conv*`` on a weight outside its module's forward (a functional use, named by the
    weight). Not counted while a counted layer or an ``nn.MultiheadAttention`` runs (its hook counts its
    projections and products, whichever kernel it takes)."""

    def __init__(self, inside: list[int], running: list[str], parameter_names: dict[int, str], batch: int):
        import torch
        import torch.nn.functional as F
        from torch.overrides import TorchFunctionMode

        counter = self
        self.inside, self.running, self.names, self.batch = inside, running, parameter_names, batch
        self.counts: dict[tuple[str, str], int] = {}
        products = {torch.matmul, torch.Tensor.matmul, torch.Tensor.__matmul__, torch.bmm, torch.Tensor.bmm,
                    torch.mm, torch.Tensor.mm, torch.baddbmm, torch.Tensor.baddbmm, torch.addmm, torch.einsum,
                    F.scaled_dot_product_attention}
        functional = {F.linear, F.conv1d, F.conv2d, F.conv3d}

        class Mode(TorchFunctionMode):
            def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: Any = None) -> Any:
                kwargs = kwargs or {}
                out = func(*args, **kwargs)
                if counter.inside == [0, 0] and (func in products or func in functional):
                    counter.count(func, args, kwargs, out, func in functional)
                return out

        self.mode = Mode()

    def __enter__(self) -> "_ProductCounter":
        self.mode.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.mode.__exit__(*exc)

    def count(self, func: Any, args: tuple, kwargs: dict, out: Any, functional: bool) -> None:
        import torch
        import torch.nn.functional as F

        tensors = [a for a in (*args, *kwargs.values()) if isinstance(a, torch.Tensor)]
        if func is torch.einsum:
            operands = [a for a in args[1:] if isinstance(a, torch.Tensor)] if len(args) > 1 else []
            if len(operands) != 2:
                return
            macs = _einsum_macs(args[0], operands)
            what = "einsum"
        elif func is F.scaled_dot_product_attention:
            q, k, v = tensors[:3]
            macs = int(q.numel() // q.shape[-1]) * int(k.shape[-2]) * (int(q.shape[-1]) + int(v.shape[-1]))
            what = "attention scores and values"
        elif functional:
            weight = args[1] if len(args) > 1 else kwargs.get("weight")
            if not isinstance(weight, torch.Tensor) or not isinstance(out, torch.Tensor):
                return
            per_output = weight[0].numel() if func is not F.linear else int(weight.shape[-1])
            outputs = out.numel() if func is F.linear else out.numel()
            macs = int(outputs) * int(per_output)
            owner = self.names.get(id(weight), "a tensor")
            what = f"{func.__name__} on {owner}, functional, digital"
        else:
            if not isinstance(out, torch.Tensor) or len(tensors) < 2:
                return
            a, b = (tensors[1], tensors[2]) if func in (torch.baddbmm, torch.Tensor.baddbmm, torch.addmm) else tensors[:2]
            macs = int(out.numel()) * int(a.shape[-1])
            what = "activation products" if not any(id(t) in self.names for t in (a, b)) else "products with a weight"
        key = (self.running[-1] if self.running else "the model", what)
        self.counts[key] = self.counts.get(key, 0) + macs // self.batch

    def entries(self) -> list[tuple[str, int]]:
        """``("<module> (<what>, digital)", MACs per inference)`` of every product counted, by the module
        whose forward ran it."""
        return [(f"{owner} ({what})" if "digital" in what else f"{owner} ({what}, digital)", macs)
                for (owner, what), macs in self.counts.items()]


def _einsum_macs(equation: str, operands: list[Any]) -> int:
    """Multiply-accumulates of a two-operand ``einsum``: the product of every index's size."""
    inputs = equation.replace(" ", "").split("->")[0].split(",")
    sizes: dict[str, int] = {}
    for spec, tensor in zip(inputs, operands):
        if "..." in spec:
            return int(operands[0].numel())  # ellipsis: a lower bound, rare in attention code
        for letter, size in zip(spec, tensor.shape):
            sizes[letter] = int(size)
    total = 1
    for size in sizes.values():
        total *= size
    return total
