"""From a candidate to a child network description: templates, :class:`ChildSpec` and repairs.

A space's *template* (plain data, part of its YAML) describes the backbone::

    task: classification            # or segmentation
    input_shape: [3, 32, 32]        # default (C, H, W); to_child(input_shape=...) overrides
    num_classes: 10                 # default; to_child(num_classes=...) overrides
    device: $device                 # a device name, or a reference to a dimension
    circuit: {array_size: $array_size, adc_bits: 4, cols_per_adc: 8}
    layers:
      - {name: conv1, kind: conv, out_features: $filters_1, kernel: [$kh_1, $kw_1], pool: $pool_1,
         weight_int_bits: $w_int_1, weight_frac_bits: $w_frac_1,
         input_int_bits: $a_int_1, input_frac_bits: $a_frac_1}
      - {name: fc2, kind: fc, out_features: $num_classes}

A string starting with ``$`` refers to a dimension (frozen or free) and takes its value in the
candidate; ``$num_classes`` is the ``num_classes`` argument of :func:`to_child`. A layer may carry a
``condition`` (``{dimension: depth, values: [6, 8, 10]}``): it exists only when that holds. A
dimension referenced by a layer must be unconditional or carry the same condition as the layer, so a
present layer never reads an inactive dimension.

Layer fields and their defaults: ``kind`` (``conv`` | ``fc``, required), ``out_features``
(required), ``name`` (``layer{i}``), ``kernel`` ([3, 3] for conv; fc layers have none), ``stride``
(1; only 1 is supported, with 'same' padding), ``pool`` (false: a 2×2/2 max-pool after the layer),
``upsample`` (false: 2× nearest upsampling after the layer), and the precisions
``weight_int_bits``/``weight_frac_bits`` (default Q1.7: :data:`DEFAULT_WEIGHT_BITS`) and
``input_int_bits``/``input_frac_bits`` (default Q3.4: :data:`DEFAULT_INPUT_BITS`), which apply when a
space has no quantization dimension for the layer. Circuit defaults: :data:`DEFAULT_CIRCUIT`.
Device default: ``"rram_nacim"`` (the paper's 4-bit ReRAM).

**Repair rule** (:func:`to_child` never raises for a candidate of the space; it repairs and records
one line per change in :attr:`ChildSpec.repairs`), applied layer by layer in order:

1. Degenerate formats: a signed format needs a positive and a negative non-zero level, i.e. at least
   :data:`MIN_SIGNED_BITS` = 2 bits (signed Q0.1 is {-0.5, 0} and Q1.0 is {-1, 0}). A weight format, or
   the first layer's (signed) input format, with ``I + F < 2`` gets ``F = 2 - I`` (Q0.0 and Q0.1 → Q0.2,
   Q1.0 → Q1.1); an unsigned input format with ``I = F = 0`` gets ``F = 1``. This narrows NACIM Table I's
   ranges only at the bottom: of its 28 (I, F) pairs, the 3 with fewer than 2 bits decode to 2-bit
   formats, so 1-bit signed weights are never trained.
2. Pooling: a 2×2 max-pool is kept only if the feature map is at least 2×2 before it; otherwise it
   is dropped (so the first poolings in layer order are the ones kept).
3. Upsampling: each 2× upsample restores the size before the most recent still-unmatched pool
   (exactly, also for odd sizes); an upsample with no pool left to undo is dropped. A
   segmentation network therefore ends at its input size whenever it has as many upsamples as pools.

A kernel larger than the feature map is not repaired: with 'same' padding it is still a valid
convolution.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from lightning_imc.space.core import Candidate, Condition

if TYPE_CHECKING:  # pragma: no cover
    from lightning_imc.space.core import SearchSpace

__all__ = [
    "LayerSpec",
    "ChildSpec",
    "to_child",
    "DEFAULT_WEIGHT_BITS",
    "DEFAULT_INPUT_BITS",
    "DEFAULT_CIRCUIT",
    "DEFAULT_DEVICE",
    "MIN_SIGNED_BITS",
    "TASKS",
]

#: Fewest bits of a signed format with a positive and a negative non-zero level (bits).
MIN_SIGNED_BITS = 2

#: Weight format (integer bits incl. sign, fraction bits) of layers without quantization dimensions: Q1.7.
DEFAULT_WEIGHT_BITS: tuple[int, int] = (1, 7)
#: Input-activation format (integer bits, fraction bits) of layers without quantization dimensions: Q3.4.
DEFAULT_INPUT_BITS: tuple[int, int] = (3, 4)
#: Circuit parameters used where a template does not give them: crossbar rows = columns
#: (``array_size``, cells), ADC resolution (``adc_bits``, bits), columns sharing one ADC (``cols_per_adc``).
DEFAULT_CIRCUIT: dict[str, int] = {"array_size": 128, "adc_bits": 4, "cols_per_adc": 8}
#: Device used where a template names none (NACIM section V-A: 4-bit ReRAM).
DEFAULT_DEVICE = "rram_nacim"
#: Tasks a template may declare.
TASKS: tuple[str, ...] = ("classification", "segmentation")

_KINDS = ("conv", "fc")
_LAYER_KEYS = {
    "name", "kind", "out_features", "kernel", "stride", "pool", "upsample", "condition",
    "weight_int_bits", "weight_frac_bits", "input_int_bits", "input_frac_bits",
}
_TEMPLATE_KEYS = {"task", "input_shape", "num_classes", "device", "circuit", "layers"}
_BIT_FIELDS = ("weight_int_bits", "weight_frac_bits", "input_int_bits", "input_frac_bits")
_MAX_BITS = 16


@dataclass(frozen=True)
class LayerSpec:
    """One mappable layer of a child network, after repairs.

    Attributes:
        name: Label (e.g. ``"conv3"``, ``"fc1"``, ``"enc2"``).
        kind: ``"conv"`` (2-D convolution) or ``"fc"`` (fully connected).
        in_features: Input channels (conv) or input features (fc; the flattened C·H·W for the first fc).
        out_features: Output channels (conv) or output features (fc).
        kernel: ``(kh, kw)`` kernel height and width (pixels); ``(1, 1)`` for fc.
        stride: Convolution stride (pixels); always 1.
        padding: ``"same"``: zero padding ``(kh // 2, kw // 2)`` keeps H×W (kernels are odd).
        pool: A 2×2 max-pool with stride 2 follows the layer (after its activation).
        upsample: A 2× nearest-neighbour upsampling (to exactly ``out_hw``) follows the layer.
        weight_int_bits: Weight integer bits, sign included (weights are signed two's complement).
        weight_frac_bits: Weight fraction bits.
        input_int_bits: Input-activation integer bits (sign included when ``input_signed``).
        input_frac_bits: Input-activation fraction bits.
        input_signed: Whether the layer's input is signed: true for the first layer (the
            normalised image), false after a ReLU.
        in_hw: Input feature-map ``(H, W)`` (pixels); ``(1, 1)`` for fc.
        out_hw: Output ``(H, W)`` after pooling/upsampling (pixels); ``(1, 1)`` for fc.
    """

    name: str
    kind: str
    in_features: int
    out_features: int
    kernel: tuple[int, int]
    stride: int
    padding: str
    pool: bool
    upsample: bool
    weight_int_bits: int
    weight_frac_bits: int
    input_int_bits: int
    input_frac_bits: int
    input_signed: bool
    in_hw: tuple[int, int]
    out_hw: tuple[int, int]

    @property
    def weight_bits(self) -> int:
        """Total weight width (bits) = integer + fraction bits."""
        return self.weight_int_bits + self.weight_frac_bits

    @property
    def input_bits(self) -> int:
        """Total input-activation width (bits) = integer + fraction bits."""
        return self.input_int_bits + self.input_frac_bits

    @property
    def padding_hw(self) -> tuple[int, int]:
        """Zero padding (top/bottom, left/right) in pixels that realises 'same'."""
        return (self.kernel[0] // 2, self.kernel[1] // 2)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (JSON-serialisable)."""
        return {f: (list(v) if isinstance(v, tuple) else v) for f, v in self.__dict__.items()}


@dataclass(frozen=True)
class ChildSpec:
    """The decoded and repaired network that the model builder and the hardware model consume.

    Attributes:
        task: ``"classification"`` (ends with an fc classifier) or ``"segmentation"`` (per-pixel output).
        input_shape: ``(C, H, W)`` of one input (channels, pixels, pixels).
        num_classes: Classes (classifier outputs, or output channels of a segmentation head).
        layers: The mappable layers in execution order.
        device: Device name in :mod:`lightning_imc.devices`.
        circuit: Circuit parameters, e.g. ``{"array_size": 128, "adc_bits": 4, "cols_per_adc": 8}``
            (crossbar rows = columns in cells, ADC bits, columns per ADC).
        repairs: One line per repair applied (empty for a valid candidate).
        candidate_key: :attr:`Candidate.key` of the candidate it came from.
    """

    task: str
    input_shape: tuple[int, int, int]
    num_classes: int
    layers: tuple[LayerSpec, ...]
    device: str
    circuit: dict[str, Any]
    repairs: tuple[str, ...] = ()
    candidate_key: str = ""

    @property
    def is_valid(self) -> bool:
        """True when no repair was needed."""
        return not self.repairs

    @property
    def output_shape(self) -> tuple[int, ...]:
        """``(num_classes,)`` for classification, ``(C, H, W)`` of the last layer for segmentation."""
        last = self.layers[-1]
        if last.kind == "fc":
            return (last.out_features,)
        return (last.out_features, *last.out_hw)

    @property
    def key(self) -> str:
        """Stable 20-hex-digit identifier of the *network* (repairs and candidate key excluded).

        Two candidates that repair to the same network (e.g. Q0.0 and Q0.1) share it.
        """
        import hashlib
        import json

        data = self.to_dict()
        del data["repairs"], data["candidate_key"]
        text = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (JSON-serialisable)."""
        return {
            "task": self.task,
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "layers": [layer.to_dict() for layer in self.layers],
            "device": self.device,
            "circuit": dict(self.circuit),
            "repairs": list(self.repairs),
            "candidate_key": self.candidate_key,
        }

    def to_network(self, name: str | None = None) -> Any:
        """The :class:`lightning_imc.hardware.Network` of this child (imports the hardware model lazily).

        Total bit widths go to the hardware model: weight bits = I + F, input bits = I + F.
        """
        from lightning_imc.hardware.network import Layer, Network

        out = []
        for ls in self.layers:
            if ls.kind == "conv":
                ph, pw = ls.padding_hw
                out.append(Layer("conv", ls.in_hw[0], ls.in_hw[1], ls.in_features, ls.out_features,
                                 ls.kernel[0], ls.kernel[1], ls.stride, ph, 2 if ls.pool else 1,
                                 ls.weight_bits, ls.input_bits, name=ls.name, padding_w=pw))
            else:
                out.append(Layer("linear", 1, 1, ls.in_features, ls.out_features,
                                 weight_bits=ls.weight_bits, input_bits=ls.input_bits, name=ls.name))
        return Network(tuple(out), name or (self.candidate_key or "child"))


# ---------------------------------------------------------------------------------------------
# Template validation
# ---------------------------------------------------------------------------------------------

def _is_ref(value: object) -> bool:
    return isinstance(value, str) and value.startswith("$")


def validate_template(space: "SearchSpace", template: Mapping[str, Any]) -> dict[str, Any]:
    """Check a template against its space; returns a normalised deep copy.

    Raises:
        ValueError: unknown keys, unknown references, bad literals, or a layer reading a dimension
            that may be inactive while the layer exists.
    """
    where = f"space {space.name!r} template"
    if not isinstance(template, Mapping):
        raise ValueError(f"{where}: must be a mapping, got {type(template).__name__}")
    tpl = copy.deepcopy(dict(template))
    unknown = sorted(set(tpl) - _TEMPLATE_KEYS)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(_TEMPLATE_KEYS)}")
    tpl.setdefault("task", "classification")
    if tpl["task"] not in TASKS:
        raise ValueError(f"{where}: task={tpl['task']!r}; allowed: {list(TASKS)}")
    tpl["input_shape"] = list(_check_shape(tpl.get("input_shape", [3, 32, 32]), f"{where}.input_shape"))
    tpl["num_classes"] = _check_pos_int(tpl.get("num_classes", 10), f"{where}.num_classes")
    names = {d.name: d for d in space.all_dimensions}

    def ref(value: object, field: str, condition: Condition | None) -> None:
        name = value[1:]  # type: ignore[index]
        if name == "num_classes":
            return
        if name not in names:
            raise ValueError(f"{where}.{field}: reference {value!r} to unknown dimension; allowed: {sorted(names)} or $num_classes")
        dcond = names[name].condition
        if dcond is not None and dcond != condition:
            raise ValueError(
                f"{where}.{field}: reads {name!r}, which is conditional ({dcond.dimension} in {list(dcond.values)}) "
                f"but the layer's condition is {condition}; give the layer the same condition"
            )

    def check(value: object, field: str, kind: type, condition: Condition | None, low: int | None = None) -> None:
        if _is_ref(value):
            ref(value, field, condition)
            if value == "$num_classes" and kind is not int:
                raise ValueError(f"{where}.{field}: $num_classes is only allowed for out_features")
            if not value == "$num_classes":
                for c in names[value[1:]].choices:  # type: ignore[index]
                    _check_literal(c, f"{where}.{field} (choice of {value[1:]!r})", kind, low)  # type: ignore[index]
            return
        _check_literal(value, f"{where}.{field}", kind, low)

    # device
    device = tpl.setdefault("device", DEFAULT_DEVICE)
    from lightning_imc.devices import device_names  # plain Python module

    known = device_names()
    values = names[device[1:]].choices if _is_ref(device) and device[1:] in names else None
    if _is_ref(device):
        ref(device, "device", None)
    for v in (values if values is not None else [device]):
        if v not in known:
            raise ValueError(f"{where}.device: {v!r} is not a registered device; allowed: {known}")
    # circuit
    circuit = tpl.setdefault("circuit", {})
    if not isinstance(circuit, Mapping):
        raise ValueError(f"{where}.circuit: must be a mapping, got {type(circuit).__name__}")
    circuit = {**DEFAULT_CIRCUIT, **dict(circuit)}
    for k, v in circuit.items():
        if v == "$num_classes":
            raise ValueError(f"{where}.circuit.{k}: $num_classes is only allowed for out_features")
        if _is_ref(v):
            ref(v, f"circuit.{k}", None)
        elif v is not None and not isinstance(v, (bool, int, float, str)):
            raise ValueError(f"{where}.circuit.{k}={v!r}; must be a scalar or a $reference")
    tpl["circuit"] = circuit
    # layers
    layers = tpl.get("layers")
    if not isinstance(layers, Sequence) or isinstance(layers, str) or not layers:
        raise ValueError(f"{where}.layers: must be a non-empty list of layer mappings")
    out_layers = []
    for i, layer in enumerate(layers):
        lw = f"layers[{i}]"
        if not isinstance(layer, Mapping):
            raise ValueError(f"{where}.{lw}: must be a mapping, got {type(layer).__name__}")
        layer = dict(layer)
        bad = sorted(set(layer) - _LAYER_KEYS)
        if bad:
            raise ValueError(f"{where}.{lw}: unknown key(s) {bad}; allowed: {sorted(_LAYER_KEYS)}")
        if layer.get("kind") not in _KINDS:
            raise ValueError(f"{where}.{lw}.kind={layer.get('kind')!r}; allowed: {list(_KINDS)}")
        layer.setdefault("name", f"layer{i + 1}")
        lw = f"layers[{i}] ({layer['name']})"
        cond = Condition.coerce(layer.get("condition"), f"{where}.{lw}.condition")
        if cond is not None:
            if cond.dimension not in names:
                raise ValueError(
                    f"{where}.{lw}.condition: unknown dimension {cond.dimension!r}; allowed: {sorted(names)}"
                )
            layer["condition"] = cond.to_config()
        if "out_features" not in layer:
            raise ValueError(f"{where}.{lw}: missing key 'out_features'")
        check(layer["out_features"], f"{lw}.out_features", int, cond, 1)
        if layer["kind"] == "conv":
            kernel = layer.setdefault("kernel", [3, 3])
            if isinstance(kernel, (str, bytes)) or not isinstance(kernel, Sequence) or len(kernel) != 2:
                raise ValueError(f"{where}.{lw}.kernel={kernel!r}; must be [kh, kw]")
            layer["kernel"] = list(kernel)
            for k in kernel:
                check(k, f"{lw}.kernel", int, cond, 1)
                if not _is_ref(k) and k % 2 == 0:
                    raise ValueError(f"{where}.{lw}.kernel={kernel!r}; 'same' padding needs odd kernel sizes")
            if _is_ref(kernel[0]) or _is_ref(kernel[1]):
                for k in kernel:
                    if _is_ref(k) and any(c % 2 == 0 for c in names[k[1:]].choices):
                        raise ValueError(f"{where}.{lw}.kernel: {k} has even choices; 'same' padding needs odd kernels")
        elif "kernel" in layer:
            raise ValueError(f"{where}.{lw}: an fc layer has no kernel")
        stride = layer.setdefault("stride", 1)
        if stride != 1 or isinstance(stride, bool):
            raise ValueError(f"{where}.{lw}.stride={stride!r}; allowed: 1 (layers use 'same' padding)")
        for flag in ("pool", "upsample"):
            check(layer.setdefault(flag, False), f"{lw}.{flag}", bool, cond)
            if layer["kind"] == "fc" and layer[flag] is not False:
                raise ValueError(f"{where}.{lw}.{flag}: an fc layer cannot {flag}; allowed: false")
        for f in _BIT_FIELDS:
            if f in layer and layer[f] is not None:
                check(layer[f], f"{lw}.{f}", int, cond, 0)
            else:
                layer.pop(f, None)
        out_layers.append(layer)
    kinds = [layer["kind"] for layer in out_layers]
    if "fc" in kinds and "conv" in kinds[kinds.index("fc"):]:
        raise ValueError(f"{where}.layers: a conv layer follows an fc layer; conv layers must come first")
    last = out_layers[-1]
    if "condition" in last:
        raise ValueError(f"{where}.layers: the last layer ({last['name']}) must be unconditional (it is the output)")
    want = "fc" if tpl["task"] == "classification" else "conv"
    if last["kind"] != want:
        raise ValueError(f"{where}.layers: a {tpl['task']} network must end with a {want} layer, not {last['kind']}")
    tpl["layers"] = out_layers
    return tpl


def _check_literal(value: object, where: str, kind: type, low: int | None) -> None:
    if kind is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{where}={value!r}; must be true or false (or a $reference)")
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{where}={value!r}; must be an integer (or a $reference)")
    if low is not None and value < low:
        raise ValueError(f"{where}={value!r}; must be >= {low}")
    if low == 0 and value > _MAX_BITS:
        raise ValueError(f"{where}={value!r}; must be <= {_MAX_BITS}")


def _check_pos_int(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{where}={value!r}; must be a positive integer")
    return value


def _check_shape(shape: object, where: str) -> tuple[int, int, int]:
    if isinstance(shape, (str, bytes)) or not isinstance(shape, Sequence) or len(shape) != 3:
        raise ValueError(f"{where}={shape!r}; must be (C, H, W)")
    return tuple(_check_pos_int(v, where) for v in shape)  # type: ignore[return-value]


# ---------------------------------------------------------------------------------------------
# Candidate -> ChildSpec
# ---------------------------------------------------------------------------------------------

def to_child(
    space: "SearchSpace",
    candidate: Mapping[str, Any] | Sequence[int],
    input_shape: Sequence[int] | None = None,
    num_classes: int | None = None,
) -> ChildSpec:
    """Decode ``candidate`` (a mapping, or a code vector) into a repaired :class:`ChildSpec`.

    Args:
        space: The space the candidate belongs to (it must have a template).
        candidate: A candidate mapping (validated with :meth:`SearchSpace.canonical`) or codes.
        input_shape: ``(C, H, W)`` of one input; default: the template's.
        num_classes: Classifier outputs / segmentation channels; default: the template's.

    Raises:
        ValueError: only for a candidate outside the space or bad arguments, never for a candidate
            of the space: invalid networks are repaired (see the module docstring).
    """
    if space.template is None:
        raise ValueError(f"space {space.name!r} has no template; it does not describe a network")
    tpl = space.template
    if isinstance(candidate, Mapping):
        cand = space.canonical(candidate)
    else:
        cand = space.decode(candidate)
    shape = _check_shape(tpl["input_shape"] if input_shape is None else input_shape, "input_shape")
    n_cls = _check_pos_int(tpl["num_classes"] if num_classes is None else num_classes, "num_classes")
    values = dict(cand)

    def get(value: Any) -> Any:
        if _is_ref(value):
            return n_cls if value == "$num_classes" else values[value[1:]]
        return value

    active_layers = []
    for layer in tpl["layers"]:
        cond = layer.get("condition")
        if cond is not None:
            condition = Condition.coerce(cond)
            if condition is not None and (values.get(condition.dimension) is None
                                          or not condition.holds(values[condition.dimension])):
                continue
        active_layers.append(layer)

    repairs: list[str] = []
    c, h, w = shape
    flat: int | None = None  # set once an fc layer has consumed the feature map
    pool_stack: list[tuple[int, int]] = []
    specs: list[LayerSpec] = []
    for idx, layer in enumerate(active_layers):
        name = layer["name"]
        wi, wf = (get(layer["weight_int_bits"]) if "weight_int_bits" in layer else DEFAULT_WEIGHT_BITS[0],
                  get(layer["weight_frac_bits"]) if "weight_frac_bits" in layer else DEFAULT_WEIGHT_BITS[1])
        ai, af = (get(layer["input_int_bits"]) if "input_int_bits" in layer else DEFAULT_INPUT_BITS[0],
                  get(layer["input_frac_bits"]) if "input_frac_bits" in layer else DEFAULT_INPUT_BITS[1])
        if wi + wf < MIN_SIGNED_BITS:
            repairs.append(f"{name}: weight format Q{wi}.{wf} has no positive and negative non-zero level; "
                           f"fraction bits set to {MIN_SIGNED_BITS - wi} (Q{wi}.{MIN_SIGNED_BITS - wi})")
            wf = MIN_SIGNED_BITS - wi
        min_input_bits = MIN_SIGNED_BITS if idx == 0 else 1  # the first layer's input is signed
        if ai + af < min_input_bits:
            repairs.append(f"{name}: input format Q{ai}.{af} has {ai + af} bit(s) (at least {min_input_bits} needed); "
                           f"fraction bits set to {min_input_bits - ai} (Q{ai}.{min_input_bits - ai})")
            af = min_input_bits - ai
        out_f = get(layer["out_features"])
        if layer["kind"] == "conv":
            kh, kw = (get(k) for k in layer["kernel"])
            pool, up = bool(get(layer["pool"])), bool(get(layer["upsample"]))
            in_hw = (h, w)
            if pool and up:
                repairs.append(f"{name}: both pool and upsample requested; upsample dropped")
                up = False
            if pool:
                if h < 2 or w < 2:
                    repairs.append(f"{name}: 2x2 pooling dropped (feature map {h}x{w} is smaller than 2x2)")
                    pool = False
                else:
                    pool_stack.append((h, w))
                    h, w = h // 2, w // 2
            if up:
                if not pool_stack:
                    repairs.append(f"{name}: 2x upsampling dropped (no pooling left to undo at {h}x{w})")
                    up = False
                else:
                    h, w = pool_stack.pop()
            specs.append(LayerSpec(name, "conv", c, out_f, (kh, kw), 1, "same", pool, up, wi, wf, ai, af,
                                   idx == 0, in_hw, (h, w)))
            c = out_f
        else:
            in_f = c * h * w if flat is None else flat
            specs.append(LayerSpec(name, "fc", in_f, out_f, (1, 1), 1, "same", False, False, wi, wf, ai, af,
                                   idx == 0, (1, 1), (1, 1)))
            flat = out_f
    device = get(tpl["device"])
    circuit = {k: get(v) for k, v in tpl["circuit"].items()}
    return ChildSpec(tpl["task"], shape, n_cls, tuple(specs), device, circuit, tuple(repairs), cand.key)
