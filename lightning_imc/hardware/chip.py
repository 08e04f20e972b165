"""Chip configuration: typed, validated circuit parameters of a CIM accelerator (NeuroSim-style).

Every field is checked in ``__post_init__``; a bad value raises ``ValueError`` naming the field and
its allowed range before any evaluation work is done.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

__all__ = ["ChipConfig", "ADC_TYPES", "ADC_MODELS", "EXECUTION_MODES", "OPS_CONVENTIONS", "CELL_FEATURES", "CHIP_MODELS"]

ADC_TYPES = ("flash", "sar")
ADC_MODELS = ("neurosim", "survey")
EXECUTION_MODES = ("layer_by_layer", "pipelined")
OPS_CONVENTIONS = ("exact", "neurosim")
CELL_FEATURES = ("metal", "node")
#: Versions of the chip model (docs/hardware.md): ``II`` (periphery of DNN+NeuroSim V1.3, on which the
#: constants are calibrated) and ``III`` (the sub-array periphery and floorplan of V1.4's source).
CHIP_MODELS = ("II", "III")


def _int_in(field: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not (low <= value <= high):
        raise ValueError(f"ChipConfig.{field}={value!r}; must be an integer in [{low}, {high}]")


def _float_in(field: str, value: object, low: float, high: float, *, low_open: bool = False) -> None:
    ok = False
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        ok = (value > low if low_open else value >= low) and value <= high
    if not ok:
        lo = "(" if low_open else "["
        raise ValueError(f"ChipConfig.{field}={value!r}; must be a number in {lo}{low:g}, {high:g}]")


def _choice(field: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"ChipConfig.{field}={value!r}; allowed: {list(allowed)}")


def _is_square(n: int) -> bool:
    r = math.isqrt(n)
    return r * r == n


@dataclass(frozen=True)
class ChipConfig:
    """Circuit parameters of a chip (tile → PE → sub-array hierarchy, as in DNN+NeuroSim).

    Attributes:
        node_nm: Technology node (nm), 5..180. CMOS areas scale with node², cells with node² or the
            node's metal width squared (see ``cell_feature``), dynamic energy with node·V².
        subarray_rows: Rows (word lines) per crossbar sub-array, 8..2048.
        subarray_cols: Columns (bit lines) per crossbar sub-array, 8..2048.
        adc_bits: ADC resolution (bits), 1..12.
        adc_type: ``"flash"`` (NeuroSim's multi-level sense amplifier, one sensing step per
            conversion) or ``"sar"`` (successive approximation, b+1 steps).
        adc_model: Energy/area model of the ADC: ``"neurosim"`` (NeuroSim-like circuit model,
            calibrated on the DNN+NeuroSim VGG-8 report) or ``"survey"`` (ISAAC/Accelergy-like SAR
            figures fitted over 4..10 bits). They differ by >10× in converter-core energy at 4–5 bits.
        cols_per_adc: Columns sharing one ADC through a column multiplexer (NeuroSim ``numColMuxed``).
        pes_per_tile: PEs per tile (a perfect square), or ``None`` for NeuroSim's automatic floorplan.
        subarrays_per_pe: Sub-arrays per PE (a perfect square), or ``None`` for automatic floorplanning.
        global_buffer_kb: Global buffer size (KiB), or ``None`` = sized to hold the largest layer input.
        tile_buffer_core_bits: Capacity of one tile-buffer core (bits); NeuroSim: 32 × 32 register file.
        tile_buffer_width_bits: Interface width of one tile-buffer core (bits per access); NeuroSim: 32.
        bus_width_bits: Global interconnect / buffer interface width (bits per access), or ``None`` =
            NeuroSim's rule (sum of the layers' tile input widths, halved until ≤ 2048).
        clock_hz: Clock frequency (Hz); one ADC sensing step per cycle. ``None``: set by the slowest
            of the per-cycle delays, max(β·t_sense, 2·w·FO4(node)) with β = 1.4 (NeuroSim's
            validated sensing-cycle factor), t_sense the 1 ns sensing window, and a w-bit ripple
            shift-and-add (w = ADC bits + input bits + log₂ row groups, 2 FO4 per bit, FO4 ≈
            0.5 ps per nm of node; Weste & Harris, *CMOS VLSI Design*). The period used is in
            :attr:`HardwareReport.clock_period_s`.
        v_chip: Digital supply voltage (V); dynamic energy scales with (v_chip / 1.1 V)². ``None``:
            the node's nominal supply (PTM models of NeuroSim's Technology.cpp: 0.85 V at 22 nm,
            0.7 V at 7 and 5 nm, 1.8 V at 180 nm).
        v_mem: Read voltage on the bit lines (V), or ``None`` = the device's ``read_voltage_v``.
        execution: ``"layer_by_layer"`` (latency = sum of layers) or ``"pipelined"`` (latency per
            inference = slowest layer, i.e. 1 / throughput).
        rows_in_parallel: Word lines activated at once in a sub-array read (NeuroSim V1.4
            ``numRowParallel``), or ``None`` = all ``subarray_rows``. A column is then read in
            ⌈rows/rows_in_parallel⌉ groups, each one ADC conversion whose partial sums add up.
        speedup_degree: NeuroSim V1.4 ``speedUpDegree`` (pipelined execution only): layer l gets
            ⌈(IFM_l / ⌈IFM_max / d⌉)²⌉ copies of its weights, d = min(speedup_degree,
            IFM_max / IFM_min of the conv layers); 1 = no pipeline duplication.
        cell_feature: Feature size F of the cell area (cell F² × F²): ``"node"`` (F = node: DNN+NeuroSim
            V1.4 draws SRAM and 1T1R arrays on the technology's feature size, SubArray.cpp:147-175, as the
            V1.3 VGG-8 example's array area also implies) or ``"metal"`` (the node's metal-1 width, 40 nm
            at 22 nm: V1.4 draws only access-device-free cross-point cells on it). ``None``: ``"node"``
            under chip model III, ``"metal"`` under II (what II assumed).
        bus_input_toggle: Fraction of input-activation bits that toggle on the buses, (0, 1]:
            interconnect energy is charged for toggling bits only. 1 = every bit (NeuroSim V1.3, on
            which the wire energy is calibrated); NeuroSim V1.4 uses 0.18 for VGG-8 on CIFAR-10
            (Param.cpp ``inputtoggle``; 0.29/0.33 for ResNet-34/18 on ImageNet).
        bus_output_toggle: Same for output (partial-sum) bits; NeuroSim V1.4: 0.5.
        novel_mapping: Use NeuroSim's "novel mapping" (one PE per kernel position) for the conv
            layers with the most common kernel size; otherwise conventional (im2col) mapping only.
        max_tiles: Tiles available on the chip, or ``None`` = as many as the network needs.
        duplicate_weights: With ``max_tiles`` set, use left-over tiles to duplicate the weights of the
            slowest layers (each copy processes a share of the output positions).
        post_layout_energy_factor: Multiplier on energy for TOPS/W only (NeuroSim's ζ = 1.22 when
            ``validated``), ≥ 1.
        ops_convention: Op count behind TOPS, TOPS/W, TOPS/mm²: ``"exact"`` (2 × MACs on the real
            output size, default) or ``"neurosim"`` (2·Σ IFM_H·IFM_W·C_in·K²·C_out).
        chip_model: ``"III"`` (default): the sub-array as DNN+NeuroSim V1.4's source builds it: cells on
            F = node, V1.4's level-shifter size, its multi-level sense amplifier's area (sense amplifiers,
            dummy reference columns, encoder, SRAM precharger), the sub-array as the bounding box of its
            periphery strips, and pipeline copies that count the duplication already inside a tile.
            ``"II"``: the model before (cells on the metal width, V1.3-calibrated ADC area, summed areas);
            searches written under it resume with it. See docs/hardware.md.
        name: Label.
    """

    node_nm: int = 32
    subarray_rows: int = 128
    subarray_cols: int = 128
    adc_bits: int = 4
    adc_type: str = "flash"
    adc_model: str = "neurosim"
    cols_per_adc: int = 8
    pes_per_tile: int | None = None
    subarrays_per_pe: int | None = None
    global_buffer_kb: float | None = None
    tile_buffer_core_bits: int = 1024
    tile_buffer_width_bits: int = 32
    bus_width_bits: int | None = None
    clock_hz: float | None = 1e9
    v_chip: float | None = 1.1
    v_mem: float | None = None
    execution: str = "layer_by_layer"
    rows_in_parallel: int | None = None
    speedup_degree: int = 1
    cell_feature: str | None = None
    bus_input_toggle: float = 1.0
    bus_output_toggle: float = 1.0
    novel_mapping: bool = True
    max_tiles: int | None = None
    duplicate_weights: bool = True
    post_layout_energy_factor: float = 1.0
    ops_convention: str = "exact"
    chip_model: str = "III"
    name: str = "custom"

    def __post_init__(self) -> None:
        _int_in("node_nm", self.node_nm, 5, 180)
        _int_in("subarray_rows", self.subarray_rows, 8, 2048)
        _int_in("subarray_cols", self.subarray_cols, 8, 2048)
        _int_in("adc_bits", self.adc_bits, 1, 12)
        _choice("adc_type", self.adc_type, ADC_TYPES)
        _choice("adc_model", self.adc_model, ADC_MODELS)
        _int_in("cols_per_adc", self.cols_per_adc, 1, self.subarray_cols)
        if (self.pes_per_tile is None) != (self.subarrays_per_pe is None):
            raise ValueError("ChipConfig.pes_per_tile and ChipConfig.subarrays_per_pe must both be set "
                             "(manual floorplan) or both be None (automatic floorplan)")
        for f in ("pes_per_tile", "subarrays_per_pe"):
            v = getattr(self, f)
            if v is not None:
                _int_in(f, v, 1, 4096)
                if not _is_square(v):
                    raise ValueError(f"ChipConfig.{f}={v!r}; must be a perfect square (1, 4, 9, 16, ...)")
        if self.global_buffer_kb is not None:
            _float_in("global_buffer_kb", self.global_buffer_kb, 0.0, 1e6, low_open=True)
        _int_in("tile_buffer_core_bits", self.tile_buffer_core_bits, 8, 1 << 24)
        _int_in("tile_buffer_width_bits", self.tile_buffer_width_bits, 1, self.tile_buffer_core_bits)
        if self.bus_width_bits is not None:
            _int_in("bus_width_bits", self.bus_width_bits, 1, 65536)
        if self.clock_hz is not None:
            _float_in("clock_hz", self.clock_hz, 1e6, 1e10)
        if self.v_chip is not None:
            _float_in("v_chip", self.v_chip, 0.3, 3.0)
        if self.v_mem is not None:
            _float_in("v_mem", self.v_mem, 0.01, 5.0)
        _choice("execution", self.execution, EXECUTION_MODES)
        if self.rows_in_parallel is not None:
            _int_in("rows_in_parallel", self.rows_in_parallel, 1, self.subarray_rows)
        _int_in("speedup_degree", self.speedup_degree, 1, 1024)
        if self.speedup_degree > 1 and self.execution != "pipelined":
            raise ValueError(f"ChipConfig.speedup_degree={self.speedup_degree}; pipeline duplication needs "
                             "execution='pipelined' (use 1 for layer_by_layer)")
        if self.cell_feature is not None:
            _choice("cell_feature", self.cell_feature, CELL_FEATURES)
        _choice("chip_model", self.chip_model, CHIP_MODELS)
        _float_in("bus_input_toggle", self.bus_input_toggle, 0.0, 1.0, low_open=True)
        _float_in("bus_output_toggle", self.bus_output_toggle, 0.0, 1.0, low_open=True)
        if not isinstance(self.novel_mapping, bool):
            raise ValueError(f"ChipConfig.novel_mapping={self.novel_mapping!r}; must be a bool")
        if self.max_tiles is not None:
            _int_in("max_tiles", self.max_tiles, 1, 10**7)
        if not isinstance(self.duplicate_weights, bool):
            raise ValueError(f"ChipConfig.duplicate_weights={self.duplicate_weights!r}; must be a bool")
        _float_in("post_layout_energy_factor", self.post_layout_energy_factor, 1.0, 10.0)
        _choice("ops_convention", self.ops_convention, OPS_CONVENTIONS)

    @property
    def clock_period_s(self) -> float:
        """Clock period (s); NaN when ``clock_hz`` is ``None`` (the model derives it per network)."""
        return 1.0 / self.clock_hz if self.clock_hz is not None else float("nan")

    @property
    def cell_feature_used(self) -> str:
        """The cell's feature size in use: ``cell_feature``, else the chip model's (III: node, II: metal)."""
        if self.cell_feature is not None:
            return self.cell_feature
        return "node" if self.chip_model == "III" else "metal"

    @property
    def manual_floorplan(self) -> bool:
        """Whether PEs per tile and sub-arrays per PE are fixed by the user."""
        return self.pes_per_tile is not None

    def replace(self, **changes: Any) -> "ChipConfig":
        """A validated copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    # ------------------------------------------------------------------ presets
    @classmethod
    def nacim(cls, **changes: Any) -> "ChipConfig":
        """The NACIM paper's setup (section V): 32 nm, 1 GHz, 16-level (4-bit) ADCs, 0.5 V memory,
        1.1 V chip, 128×128 crossbars (the size was lost from the paper's text; 128 is the usual
        choice), weight-stationary with all weights on chip, 8 columns per ADC (NeuroSim default).

        >>> ChipConfig.nacim().adc_bits
        4
        """
        base: dict[str, Any] = dict(node_nm=32, subarray_rows=128, subarray_cols=128, adc_bits=4, adc_type="flash",
                    adc_model="neurosim", cols_per_adc=8, clock_hz=1e9, v_chip=1.1, v_mem=0.5,
                    execution="layer_by_layer", name="nacim")
        base.update(changes)
        return cls(**base)

    @classmethod
    def neurosim_vgg8(cls, **changes: Any) -> "ChipConfig":
        """DNN+NeuroSim V1.3's VGG-8 example: 22 nm, 128×128 sub-arrays, 8 columns per ADC, 4-bit
        multi-level sense amplifier (issue #9 of the V1.3 repository), synchronous clock of 2.05 ns
        (the reported sensing-limited period), layer-by-layer, novel mapping, ζ = 1.22 on TOPS/W
        and NeuroSim's op count; chip model II (the constants are calibrated on this report).
        """
        base: dict[str, Any] = dict(node_nm=22, subarray_rows=128, subarray_cols=128, adc_bits=4, adc_type="flash",
                    adc_model="neurosim", cols_per_adc=8, clock_hz=1.0 / 2.05e-9, v_chip=1.1, v_mem=0.5,
                    execution="layer_by_layer", novel_mapping=True, post_layout_energy_factor=1.22,
                    ops_convention="neurosim", cell_feature="node", chip_model="II", name="neurosim_vgg8")
        base.update(changes)
        return cls(**base)

    @classmethod
    def neurosim_v14(cls, **changes: Any) -> "ChipConfig":
        """DNN+NeuroSim V1.4's hardware example (manual, Table VII): 22 nm, 128×128 sub-arrays, 8
        columns per ADC, 4-bit multi-level sense amplifier, 32 rows read in parallel, pipelined with
        ``speedUpDegree`` 8 (Param.cpp default), chip model III (V1.4's sub-array: cells on F = node), bus
        toggle rates 0.18 (inputs) and 0.5 (outputs) (Param.cpp, VGG-8), ζ = 1.22 and NeuroSim's op count.
        V1.4 runs synchronously with the clock set by the sensing delay and does not report the
        period: the clock is derived (``clock_hz=None``: β × the 1 ns sensing window = 1.4 ns at
        22 nm). Use with a 1-bit-per-cell device (``rram_v14`` or ``sram``).
        """
        base: dict[str, Any] = dict(node_nm=22, subarray_rows=128, subarray_cols=128, adc_bits=4, adc_type="flash",
                    adc_model="neurosim", cols_per_adc=8, clock_hz=None, v_chip=1.1, v_mem=0.5,
                    execution="pipelined", rows_in_parallel=32, speedup_degree=8, novel_mapping=True,
                    post_layout_energy_factor=1.22, ops_convention="neurosim", chip_model="III",
                    bus_input_toggle=0.18, bus_output_toggle=0.5, name="neurosim_v14")
        base.update(changes)
        return cls(**base)
