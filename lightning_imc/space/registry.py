"""The paper's search spaces (NACIM Table I: RLS, VLS, EDS) and a name -> builder registry.

Every builder takes ``include``, the groups that get dimensions:

* ``"architecture"``: per-layer filters / kernel / pooling / FC widths. If left out, the
  architecture dimensions still exist (the network needs them) but are frozen at their defaults.
* ``"quantization"``: per mappable layer ``w_int_{i}`` {0..3}, ``w_frac_{i}`` {0..6}, ``a_int_{i}``
  {0..3}, ``a_frac_{i}`` {0..6} (NACIM section V-A), ``i`` = 1-based position in the template's
  layer list. ``w_int`` includes the sign bit (weights are signed); ``a_*`` is the format of the
  layer's *input* (signed for the first layer, unsigned after a ReLU). If left out, layers use
  :data:`~lightning_imc.space.child.DEFAULT_WEIGHT_BITS` (Q1.7) and
  :data:`~lightning_imc.space.child.DEFAULT_INPUT_BITS` (Q3.4).
* ``"device"``: ``device`` over device names of :mod:`lightning_imc.devices`; if left out, the
  ``device`` argument (default ``"rram_nacim"``) is used.
* ``"circuit"``: ``array_size`` (crossbar rows = columns, cells), ``adc_bits`` (bits),
  ``cols_per_adc`` (columns sharing one ADC); if left out, the first value of each argument is used.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Sequence

from lightning_imc.space.core import GROUPS, Dimension, SearchSpace

__all__ = [
    "rls",
    "vls",
    "eds",
    "get_space",
    "register_space",
    "space_names",
    "load_space",
    "DEFAULT_DEVICES",
    "INT_BITS",
    "FRAC_BITS",
]

#: Devices searched by default (all registered in :mod:`lightning_imc.devices`).
DEFAULT_DEVICES: tuple[str, ...] = ("rram_nacim", "fefet", "stt_mram", "sram", "pcm")
#: Integer-bit choices of a fixed-point format (NACIM section V-A), bits.
INT_BITS: tuple[int, ...] = (0, 1, 2, 3)
#: Fraction-bit choices of a fixed-point format (NACIM section V-A), bits.
FRAC_BITS: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6)

_Builder = Callable[..., SearchSpace]
_REGISTRY: dict[str, _Builder] = {}


def _check_include(include: Iterable[str] | str) -> tuple[str, ...]:
    inc = (include,) if isinstance(include, str) else tuple(include)
    unknown = [g for g in inc if g not in GROUPS]
    if unknown:
        raise ValueError(f"include: unknown group(s) {unknown}; allowed: {list(GROUPS)}")
    return inc


def _tuple(values: Iterable[Any], what: str) -> tuple:
    out = tuple(values)
    if not out:
        raise ValueError(f"{what} is empty; give at least one value")
    return out


class _Builder_:
    """Collects dimensions and template layers of a builder."""

    def __init__(self, include: tuple[str, ...], int_bits: Sequence[int], frac_bits: Sequence[int]) -> None:
        self.include = include
        self.int_bits = _tuple(int_bits, "int_bits")
        self.frac_bits = _tuple(frac_bits, "frac_bits")
        self.arch: list[Dimension] = []
        self.quant: list[Dimension] = []
        self.layers: list[dict[str, Any]] = []

    def dim(self, name: str, choices: Sequence[Any], default: Any = None, condition: Any = None) -> str:
        choices = _tuple(choices, name)
        if default is not None and default not in choices:
            default = None
        self.arch.append(Dimension(name, choices, "architecture", condition, default))
        return f"${name}"

    def layer(self, layer: dict[str, Any], condition: Any = None) -> None:
        i = len(self.layers) + 1
        if condition is not None:
            layer["condition"] = {"dimension": condition[0], "values": list(condition[1])}
        if "quantization" in self.include:
            for field, prefix, choices, default in (
                # Q1.3 by default: a 4-bit weight fills one cell of NACIM's 4-bit ReRAM (noise 0.1 at
                # sigma 0.8 level); see lightning_imc.layers.variation for why the format matters.
                ("weight_int_bits", "w_int", self.int_bits, 1),
                ("weight_frac_bits", "w_frac", self.frac_bits, 3),
                ("input_int_bits", "a_int", self.int_bits, 3),
                ("input_frac_bits", "a_frac", self.frac_bits, 4),
            ):
                name = f"{prefix}_{i}"
                self.quant.append(Dimension(name, choices, "quantization", condition,
                                            default if default in choices else None))
                layer[field] = f"${name}"
        self.layers.append(layer)

    def build(self, name: str, task: str, input_shape: Sequence[int], num_classes: int, device: str,
              devices: Sequence[str], array_sizes: Sequence[int], adc_bits: Sequence[int],
              cols_per_adc: Sequence[int]) -> SearchSpace:
        dims = list(self.arch) + list(self.quant)
        tpl: dict[str, Any] = {"task": task, "input_shape": list(input_shape), "num_classes": num_classes}
        if "device" in self.include:
            devices = _tuple(devices, "devices")
            dims.append(Dimension("device", devices, "device", None, device if device in devices else None))
            tpl["device"] = "$device"
        else:
            tpl["device"] = device
        circuit: dict[str, Any] = {}
        for cname, choices in (("array_size", array_sizes), ("adc_bits", adc_bits), ("cols_per_adc", cols_per_adc)):
            choices = _tuple(choices, cname)
            if "circuit" in self.include:
                dims.append(Dimension(cname, choices, "circuit"))
                circuit[cname] = f"${cname}"
            else:
                circuit[cname] = choices[0]
        tpl["circuit"] = circuit
        tpl["layers"] = self.layers
        space = SearchSpace(name, dims, tpl)
        if "architecture" not in self.include:
            space = space.restrict({d.name: d.default_value for d in self.arch})
        return space


def rls(
    include: Iterable[str] = GROUPS,
    *,
    filters: Sequence[int] = (24, 36, 48, 64),
    kernels: Sequence[int] = (1, 3, 5, 7),
    fc_units: Sequence[int] = (64, 128, 256, 512),
    n_conv: int = 6,
    n_fc_hidden: int = 1,
    int_bits: Sequence[int] = INT_BITS,
    frac_bits: Sequence[int] = FRAC_BITS,
    devices: Sequence[str] = DEFAULT_DEVICES,
    device: str = "rram_nacim",
    array_sizes: Sequence[int] = (64, 128, 256),
    adc_bits: Sequence[int] = (4, 5, 6, 8),
    cols_per_adc: Sequence[int] = (4, 8, 16),
    input_shape: Sequence[int] = (3, 32, 32),
    num_classes: int = 10,
) -> SearchSpace:
    """NACIM's Resource-Limited Space: 6 conv + 2 FC layers (8 layers, Table I).

    Conv layer ``i`` (1..6): ``filters_i`` {24,36,48,64}, ``kh_i`` and ``kw_i`` {1,3,5,7}
    (independent; 'same' padding keeps H×W for non-square kernels), ``pool_i`` {False, True} (a 2×2
    max-pool after the layer). ``fc_units_1`` {64,128,256,512} is the width of the first FC layer;
    the second FC layer is the classifier with ``num_classes`` outputs, so its width is not searched.
    Quantization dimensions cover all 8 layers (``i`` = 1..8, fc1 = 7, classifier = 8).

    Table III of the paper lists a width for fc2 as well (64 in both reported networks), which
    reads as two searched FC layers followed by a classifier: ``n_fc_hidden=2`` builds that variant
    (``fc_units_1``, ``fc_units_2``, then the classifier; 9 layers).

    The architecture group alone has (4·4·4·2)^6 · 4 code vectors:

    >>> rls(include=("architecture",)).size == (4 * 4 * 4 * 2) ** 6 * 4
    True
    """
    inc = _check_include(include)
    b = _Builder_(inc, int_bits, frac_bits)
    if isinstance(n_conv, bool) or not isinstance(n_conv, int) or n_conv < 0:
        raise ValueError(f"n_conv={n_conv!r}; must be an integer >= 0")
    for i in range(1, n_conv + 1):
        f = b.dim(f"filters_{i}", filters, default=sorted(filters)[len(filters) // 2 - 1] if len(filters) > 1 else filters[0])
        kh = b.dim(f"kh_{i}", kernels, default=3)
        kw = b.dim(f"kw_{i}", kernels, default=3)
        p = b.dim(f"pool_{i}", (False, True), default=(i % 2 == 0))
        b.layer({"name": f"conv{i}", "kind": "conv", "out_features": f, "kernel": [kh, kw], "pool": p})
    if isinstance(n_fc_hidden, bool) or not isinstance(n_fc_hidden, int) or n_fc_hidden < 0:
        raise ValueError(f"n_fc_hidden={n_fc_hidden!r}; must be an integer >= 0")
    for j in range(1, n_fc_hidden + 1):
        fc = b.dim(f"fc_units_{j}", fc_units, default=128)
        b.layer({"name": f"fc{j}", "kind": "fc", "out_features": fc})
    b.layer({"name": f"fc{n_fc_hidden + 1}", "kind": "fc", "out_features": "$num_classes"})
    return b.build("rls", "classification", input_shape, num_classes, device, devices, array_sizes, adc_bits,
                   cols_per_adc)


#: VGG-11's conv layers followed by a 2×2 max-pool (1-based conv index).
VGG11_POOLS: tuple[int, ...] = (1, 2, 4, 6, 8)


def vls(
    include: Iterable[str] = GROUPS,
    *,
    filters: Sequence[int] = (128, 256, 512, 1024),
    fc_units: Sequence[int] = (256, 512, 1024, 2048),
    search_kernels: bool = False,
    kernels: Sequence[int] = (1, 3, 5, 7),
    int_bits: Sequence[int] = INT_BITS,
    frac_bits: Sequence[int] = FRAC_BITS,
    devices: Sequence[str] = DEFAULT_DEVICES,
    device: str = "rram_nacim",
    array_sizes: Sequence[int] = (64, 128, 256),
    adc_bits: Sequence[int] = (4, 5, 6, 8),
    cols_per_adc: Sequence[int] = (4, 8, 16),
    input_shape: Sequence[int] = (3, 32, 32),
    num_classes: int = 10,
) -> SearchSpace:
    """NACIM's VGG-Like Space: VGG-11's layout (8 conv + 3 FC = 11 layers, Table I).

    Conv layer ``i`` (1..8): ``filters_i`` {128,256,512,1024}, 3×3 kernels, a 2×2 max-pool after conv
    1, 2, 4, 6 and 8 (fixed, as in VGG-11). ``fc_units_1`` and ``fc_units_2`` {256,...,2048} are the
    two hidden FC widths; the third FC layer is the classifier. Table I lists filter sizes {1,3,5,7}
    for VLS too: ``search_kernels=True`` adds ``kh_i``/``kw_i`` over ``kernels``.

    >>> vls(include=("architecture",)).size == 4 ** 8 * 4 ** 2
    True
    """
    inc = _check_include(include)
    b = _Builder_(inc, int_bits, frac_bits)
    for i in range(1, 9):
        f = b.dim(f"filters_{i}", filters, default=min(filters))
        kernel: list[Any] = [3, 3]
        if search_kernels:
            kernel = [b.dim(f"kh_{i}", kernels, default=3), b.dim(f"kw_{i}", kernels, default=3)]
        b.layer({"name": f"conv{i}", "kind": "conv", "out_features": f, "kernel": kernel,
                 "pool": i in VGG11_POOLS})
    for j in (1, 2):
        u = b.dim(f"fc_units_{j}", fc_units, default=min(fc_units))
        b.layer({"name": f"fc{j}", "kind": "fc", "out_features": u})
    b.layer({"name": "fc3", "kind": "fc", "out_features": "$num_classes"})
    return b.build("vls", "classification", input_shape, num_classes, device, devices, array_sizes, adc_bits,
                   cols_per_adc)


def eds(
    include: Iterable[str] = GROUPS,
    *,
    depths: Sequence[int] = (4, 6, 8, 10),
    filters: Sequence[int] = (16, 32, 64, 128),
    int_bits: Sequence[int] = INT_BITS,
    frac_bits: Sequence[int] = FRAC_BITS,
    devices: Sequence[str] = DEFAULT_DEVICES,
    device: str = "rram_nacim",
    array_sizes: Sequence[int] = (64, 128, 256),
    adc_bits: Sequence[int] = (4, 5, 6, 8),
    cols_per_adc: Sequence[int] = (4, 8, 16),
    input_shape: Sequence[int] = (3, 128, 128),
    num_classes: int = 1,
) -> SearchSpace:
    """NACIM's Encoder-Decoder-Like Space for segmentation (Nuclei; Table I).

    ``depth`` {4,6,8,10} conv layers (3×3): ``depth/2`` encoder layers, each followed by a 2×2
    max-pool, then ``depth/2`` decoder layers, each followed by 2× upsampling, then a 1×1 conv head
    with ``num_classes`` output channels (not counted in ``depth``, not searched). Template layer
    order: ``enc1..enc5`` (positions 1..5), ``dec5..dec1`` (positions 6..10), ``head`` (11);
    ``filters_i`` {16,32,64,128} and the quantization dimensions of position ``i`` are *conditional*:
    ``enc_k``/``dec_k`` exist only when ``depth >= 2k``. Inactive dimensions encode to 0 and decode
    to ``None``.

    >>> s = eds(include=("architecture",))
    >>> s.size == 4 * 4 ** 10, s.distinct_size == 4 ** 4 + 4 ** 6 + 4 ** 8 + 4 ** 10
    (True, True)
    """
    inc = _check_include(include)
    depths = _tuple(depths, "depths")
    for d in depths:
        if isinstance(d, bool) or not isinstance(d, int) or d < 2 or d % 2:
            raise ValueError(f"depths: {d!r}; each depth must be an even integer >= 2")
    levels = max(depths) // 2
    b = _Builder_(inc, int_bits, frac_bits)
    b.dim("depth", sorted(depths), default=sorted(depths)[0])

    def cond(k: int) -> Any:
        allowed = [d for d in sorted(depths) if d >= 2 * k]
        return None if len(allowed) == len(depths) else ("depth", allowed)

    order = [("enc", k) for k in range(1, levels + 1)] + [("dec", k) for k in range(levels, 0, -1)]
    for pos, (role, k) in enumerate(order, start=1):
        c = cond(k)
        f = b.dim(f"filters_{pos}", filters, default=filters[min(k - 1, len(filters) - 1)], condition=c)
        b.layer({"name": f"{role}{k}", "kind": "conv", "out_features": f, "kernel": [3, 3],
                 "pool": role == "enc", "upsample": role == "dec"}, condition=c)
    b.layer({"name": "head", "kind": "conv", "out_features": "$num_classes", "kernel": [1, 1]})
    return b.build("eds", "segmentation", input_shape, num_classes, device, devices, array_sizes, adc_bits,
                   cols_per_adc)


def register_space(name: str, builder: _Builder | None = None, *, overwrite: bool = False) -> Any:
    """Register ``builder(**kwargs) -> SearchSpace`` under ``name`` (usable as a decorator).

    Raises:
        ValueError: ``name`` already registered and ``overwrite`` is false, or a bad name.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"space name {name!r}; must be a non-empty string")

    def deco(fn: _Builder) -> _Builder:
        if not callable(fn):
            raise ValueError(f"register_space({name!r}): builder must be callable")
        if name.lower() in _REGISTRY and not overwrite:
            raise ValueError(f"space {name!r} is already registered; pass overwrite=True to replace it")
        _REGISTRY[name.lower()] = fn
        return fn

    return deco if builder is None else deco(builder)


def space_names() -> list[str]:
    """Names of the registered spaces, sorted."""
    return sorted(_REGISTRY)


def get_space(name: str, **kwargs: Any) -> SearchSpace:
    """Build a registered space by name (case-insensitive), passing ``kwargs`` to its builder.

    >>> get_space("rls").name
    'rls'

    Raises:
        ValueError: unknown name (the message lists the registered names).
    """
    if not isinstance(name, str) or name.lower() not in _REGISTRY:
        raise ValueError(f"unknown search space {name!r}; allowed: {space_names()}")
    return _REGISTRY[name.lower()](**kwargs)


def load_space(path: str) -> SearchSpace:
    """Read a space from a YAML file (plain data or ``_target_: lightning_imc.space.get_space``)."""
    from omegaconf import OmegaConf  # lazy

    return SearchSpace.from_config(OmegaConf.to_container(OmegaConf.load(path), resolve=True))  # type: ignore[arg-type]


register_space("rls", rls)
register_space("vls", vls)
register_space("eds", eds)
