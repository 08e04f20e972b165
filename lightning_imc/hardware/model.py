"""The analytical chip model: floorplan, mapping, latency, energy and area (vectorised NumPy).

One implementation serves single and batched evaluation: :func:`evaluate` packs one
(network, device, chip) triple into arrays of shape (1, L) and :func:`lightning_imc.hardware.batch.evaluate_batch`
packs many into (N, L_max) with a validity mask. See ``docs/hardware.md`` for the equations.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from ..devices import Device, get_device
from . import components as comp
from . import mlsa_v14
from .chip import ChipConfig
from .network import Network

__all__ = ["HardwareReport", "LayerReport", "evaluate", "COMPONENTS"]

#: Names of the component breakdown (energy and area).
COMPONENTS = ("arrays", "adc", "accumulation", "buffer", "interconnect", "other")

_NC = 16  # candidate PE / tile sizes examined by the automatic floorplan (powers of two)


@dataclass(frozen=True)
class LayerReport:
    """Per-layer results.

    Attributes:
        name: Layer label.
        mapping: ``"novel"`` (one PE per kernel position, NeuroSim) or ``"conventional"``.
        cells_per_weight: ceil(weight_bits / bits_per_cell).
        rows: Weight-matrix rows (K²·C_in).
        cols: Weight-matrix columns (C_out·cells_per_weight).
        subarrays: Sub-arrays holding one copy of the weights.
        tiles: Tiles given to the layer (including duplicated copies).
        speedup: Parallel copies of the weights processing different output positions.
        adc_conversions: ADC conversions per inference.
        latency_s: Latency of the layer per inference (s).
        energy_j: Dynamic energy of the layer per inference (J).
        energy_breakdown_j: Dynamic energy per component (J).
        ops: Operations of the layer in the chip's op-count convention.
        row_groups: Sequential row groups per sub-array read (⌈rows used / rows_in_parallel⌉).
    """

    name: str
    mapping: str
    cells_per_weight: int
    rows: int
    cols: int
    subarrays: int
    tiles: int
    speedup: int
    adc_conversions: float
    latency_s: float
    energy_j: float
    energy_breakdown_j: Mapping[str, float]
    ops: float
    row_groups: int = 1


@dataclass(frozen=True)
class HardwareReport:
    """Result of :func:`evaluate` for ``n_inferences`` inferences.

    Attributes:
        area_mm2: Chip area (mm²).
        latency_s: Latency of ``n_inferences`` inferences (s); per inference for n = 1. Pipelined
            execution: n × the slowest layer (1 / throughput).
        dynamic_energy_j: Dynamic energy (J).
        leakage_energy_j: Leakage energy (J) = leakage power × latency.
        energy_j: dynamic + leakage (J).
        leakage_power_w: Leakage power (W).
        ops: Operations performed, in ``ops_convention``.
        ops_convention: ``"exact"`` or ``"neurosim"`` (see :meth:`Network.ops`).
        tops: Throughput (10¹² ops/s).
        tops_per_w: Energy efficiency (10¹² ops/J), including the chip's post-layout factor.
        tops_per_mm2: Compute density (TOPS/mm²).
        edp_js: Energy-delay product (J·s).
        utilization: Fraction of the chip's cells holding weights (copies included).
        clock_period_s: Clock period (s).
        tiles: Total tiles.
        pes: Total processing elements (PEs).
        subarrays: Total sub-arrays.
        adcs: Total ADCs.
        floorplan: Tile/PE sizes chosen (cells) and PE counts.
        area_breakdown_mm2: Area per component (mm²).
        energy_breakdown_j: Dynamic energy per component (J).
        latency_breakdown_s: Latency per part (``compute``, ``accumulation``, ``buffer``,
            ``interconnect``) (s).
        layers: Per-layer reports (for one inference).
        n_inferences: Inferences the totals cover.
    """

    area_mm2: float
    latency_s: float
    dynamic_energy_j: float
    leakage_energy_j: float
    energy_j: float
    leakage_power_w: float
    ops: float
    ops_convention: str
    tops: float
    tops_per_w: float
    tops_per_mm2: float
    edp_js: float
    utilization: float
    clock_period_s: float
    tiles: int
    pes: int
    subarrays: int
    adcs: int
    floorplan: Mapping[str, float]
    area_breakdown_mm2: Mapping[str, float]
    energy_breakdown_j: Mapping[str, float]
    latency_breakdown_s: Mapping[str, float]
    layers: tuple[LayerReport, ...] = field(default_factory=tuple)
    n_inferences: int = 1

    @property
    def fps(self) -> float:
        """Inferences per second."""
        return self.n_inferences / self.latency_s

    @property
    def tiles_per_layer(self) -> list[int]:
        """Tiles of each layer."""
        return [l.tiles for l in self.layers]

    def summary(self) -> str:
        """A short human-readable summary."""
        return (f"area {self.area_mm2:.3f} mm², latency {self.latency_s * 1e6:.2f} µs, "
                f"energy {self.energy_j * 1e6:.3f} µJ, {self.tops:.4f} TOPS, {self.tops_per_w:.2f} TOPS/W, "
                f"{self.tiles} tiles")


# ==================================================================================================
# Packing
# ==================================================================================================

_LAYER_FIELDS = ("in_h", "in_c", "out_c", "kernel_h", "kernel_w", "pool", "weight_bits", "input_bits",
                 "input_range_per_read")


def pack(networks: Sequence[Network], devices: Sequence[Device], chips: Sequence[ChipConfig]) -> dict:
    """Pack N (network, device, chip) triples into arrays: layer fields (N, L_max), chip and device
    fields (N,). Used by both the single and the batched evaluation."""
    n = len(networks)
    lmax = max(len(net) for net in networks)
    P: dict[str, np.ndarray] = {}
    valid = np.zeros((n, lmax), dtype=bool)
    nf = len(_LAYER_FIELDS)
    table = np.ones((nf + 3, n, lmax))            # layer fields, positions, input bits, next input bits
    table[nf:nf + 2] = 0.0
    for i, net in enumerate(networks):
        layers = net.layers
        k = len(layers)
        valid[i, :k] = True
        table[:, i, :k] = np.array(
            [(l.in_h, l.in_c, l.out_c, l.kernel_h, l.kernel_w, l.pool, l.weight_bits, l.input_bits,
              l.input_range_per_read, l.out_h * l.out_w, l.in_h * l.in_w * l.in_c * l.input_bits,
              layers[j + 1].input_bits if j + 1 < k else l.input_bits) for j, l in enumerate(layers)], dtype=float).T
    P.update(zip(_LAYER_FIELDS, table[:nf]))
    P["valid"] = valid
    P["positions"] = table[nf]
    P["in_bits_total"] = table[nf + 1]
    P["out_bits"] = table[nf + 2]
    P["n_layers"] = np.array([len(net) for net in networks])

    nan = np.nan
    chip_rows = np.array([
        (c.subarray_rows, c.subarray_cols, c.adc_bits, c.cols_per_adc, c.node_nm, c.clock_period_s,
         c.v_chip if c.v_chip is not None else nan,
         math.isqrt(c.pes_per_tile) if c.pes_per_tile else 1, math.isqrt(c.subarrays_per_pe) if c.subarrays_per_pe else 1,
         c.global_buffer_kb * 8192.0 if c.global_buffer_kb else nan, c.tile_buffer_core_bits, c.tile_buffer_width_bits,
         c.bus_width_bits if c.bus_width_bits else nan, c.post_layout_energy_factor, c.max_tiles if c.max_tiles else nan,
         c.rows_in_parallel or c.subarray_rows, c.speedup_degree, c.bus_input_toggle, c.bus_output_toggle)
        for c in chips], dtype=float).T
    (P["R"], P["C"], P["adc_bits"], P["cpa"], P["node"], P["tclk"], v_chip, P["pes_side"], P["subs_side"],
     P["buffer_bits"], P["tb_core"], P["tb_width"], P["bus_width"], P["zeta"], P["max_tiles"], P["p_par"],
     P["degree"], P["toggle_in"], P["toggle_out"]) = chip_rows
    no_v = np.isnan(v_chip)
    P["v_chip"] = np.where(no_v, comp.node_vdd_v(P["node"]), v_chip) if no_v.any() else v_chip  # None: node's supply
    flags = np.array([(c.novel_mapping, c.manual_floorplan, c.execution == "pipelined", c.duplicate_weights,
                       c.cell_feature_used == "metal", c.chip_model == "III") for c in chips], dtype=bool).T
    P["novel"], P["manual"], P["pipelined"], P["dup_weights"], metal, P["m3"] = flags
    P["adc_type"] = np.array([c.adc_type for c in chips])
    P["adc_model"] = np.array([c.adc_model for c in chips])
    dev_rows = np.array([(d.bits_per_cell, d.cell_area_f2, d.read_pulse_s, d.g_on_s, d.g_off_s, d.read_voltage_v,
                          d.technology == "SRAM", d.needs_level_shifter, not d.nonvolatile) for d in devices],
                        dtype=float).T
    P["bpc"], cell_f2, P["read_pulse"], P["g_on"], P["g_off"], v_read_dev = dev_rows[:6]
    sram, P["level_shift"], P["volatile"] = dev_rows[6:].astype(bool)
    P["sram"] = sram
    P["metal_nm"] = comp.metal_width_nm(P["node"])
    P["f_cell_um"] = np.where(metal, P["metal_nm"], P["node"]) * 1e-3
    # SRAM cells grow in F² below 22 nm (NeuroSim V1.4 table); a device's own F² is the 22 nm value
    P["cell_f2"] = (np.where(sram, cell_f2 * comp.sram_cell_f2(P["node"]) / comp.SRAM_CELL_F2[22], cell_f2)
                    if sram.any() else cell_f2)
    v_mem = np.array([c.v_mem if c.v_mem is not None else nan for c in chips], dtype=float)
    P["v_mem"] = np.where(np.isnan(v_mem), v_read_dev, v_mem)
    P["ops"] = np.array([net.ops(c.ops_convention) for net, c in zip(networks, chips)])
    return P


# ==================================================================================================
# The vectorised core
# ==================================================================================================

def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, 0 where den is 0."""
    num, den = np.broadcast_arrays(num, den)
    return np.divide(num, den, out=np.zeros(den.shape), where=den > 0)


def _first_argmax(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Index of the first maximum along the last axis among ``mask``-ed entries."""
    v = np.where(mask, values, -np.inf)
    return np.argmax(v, axis=-1)


#: Input bits at 1 among a column's rows (the activity this model assumes throughout: half the bits).
INPUT_ACTIVITY = 0.5


@functools.lru_cache(maxsize=4096)
def _mlsa_v14_scalar(node: float, bits: float, r_on: float, r_off: float, p: float, rows: float, cols: float,
                     cols_muxed: float, sram: bool) -> tuple[float, float, float]:
    """(energy of one conversion in J, sensing cycle in s, word-line energy per sub-array read in J) of
    DNN+NeuroSim V1.4's multi-level sense amplifier for one chip (chip model III;
    :mod:`~lightning_imc.hardware.mlsa_v14`). The column: the active half of ``rows`` cells, weights half at
    R_on and half at R_off behind V1.4's access resistance 0.25·R_on (1T1R), or SRAM's access transistor;
    reference ladder on R_on (SRAM: the access transistor)."""
    c_col = mlsa_v14.column_capacitance_f(node, rows, None, sram)
    if sram:
        r_unit = float(mlsa_v14.sram_access_resistance_ohm(node))
        g_path = 1.0 / r_unit
    else:
        r_unit, r_access = r_on, 0.25 * r_on
        g_path = 0.5 / (r_on + r_access) + 0.5 / (r_off + r_access)
    r_col = mlsa_v14.column_resistance_ohm(g_path, INPUT_ACTIVITY * rows, p, sram, rows)
    energy = mlsa_v14.conversion_energy_j(node, bits, r_col, r_unit, p, c_col, sram, rows)
    cycle = mlsa_v14.sensing_cycle_s(node, bits, r_unit, p, c_col, sram)
    word_lines = mlsa_v14.word_line_energy_j(node, INPUT_ACTIVITY * rows, cols, cols_muxed, sram)
    return float(energy), float(cycle), float(word_lines)


def _mlsa_v14(P: dict, rows_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-chip V1.4 sense-amplifier figures (J per conversion, s per sensing cycle, J of word lines per
    sub-array read), NaN where not asked."""
    out = np.full((3, rows_mask.size), np.nan)
    p_chip = np.minimum(P["p_par"], P["R"])
    for i in np.flatnonzero(rows_mask):
        out[:, i] = _mlsa_v14_scalar(float(P["node"][i]), float(P["adc_bits"][i]), 1.0 / float(P["g_on"][i]),
                                     1.0 / float(P["g_off"][i]), float(p_chip[i]), float(P["R"][i]), float(P["C"][i]),
                                     float(P["cpa"][i]), bool(P["sram"][i]))
    return out[0], out[1], out[2]


def core(P: dict, cal: Mapping[str, float] | None = None, strict: bool = True, counts: bool = False) -> dict:
    """Evaluate packed arrays. Returns totals (N,), per-layer arrays (N, L) and counts.

    With ``strict`` (default), raises ``ValueError`` when a network needs more tiles than
    ``max_tiles`` or a layer's input does not fit the global buffer; otherwise such rows are
    marked ``feasible = False`` and their metrics set to +inf. ``counts`` adds the event counts the
    calibration needs (key ``"counts"``).
    """
    cal = comp.CAL if cal is None else cal
    valid = P["valid"]
    N, L = valid.shape
    R = P["R"][:, None]
    C = P["C"][:, None]
    cin, cout = P["in_c"], P["out_c"]
    K2 = P["kernel_h"] * P["kernel_w"]
    cpw = np.ceil(P["weight_bits"] / P["bpc"][:, None])
    rows = K2 * cin
    cols = cout * cpw
    ib = P["input_bits"]
    V = P["positions"]

    # ---------------------------------------------------------------- novel-mapping kernel size
    elig = valid & (K2 != 1)
    same = (K2[:, :, None] == K2[:, None, :]) & elig[:, None, :]
    freq = np.where(elig, same.sum(-1), 0)
    first = np.argmax(freq, axis=1)
    num_pe_nm = np.where((freq.max(1) > 0) & P["novel"] & ~P["manual"], K2[np.arange(N), first], 0.0)
    nm = valid & (K2 == num_pe_nm[:, None]) & (num_pe_nm[:, None] > 0) & (rows >= R)
    cm = valid & ~nm
    np2 = 2.0 ** np.ceil(np.log2(cols))
    max_pe_nm = np.where(nm, np2, 0).max(1)
    max_t_cm = np.where(cm, np2, 0).max(1)
    mat = rows * cols
    k = np.arange(_NC, dtype=float)
    Rv, Cv = P["R"], P["C"]

    # ---------------------------------------------------------------- NM PE size (auto)
    start = np.maximum(max_pe_nm, 2 * Rv)
    cand = start[:, None] / 2.0 ** k                                 # (N, K)
    okc = (k == 0) | (cand > 2 * Rv[:, None])
    cand3 = cand[:, :, None]
    tiles_c = (np.ceil(cin[:, None, :] / cand3) * np.ceil(cols[:, None, :] / cand3) * nm[:, None, :]).sum(-1)
    util = _safe_div((mat * nm).sum(-1)[:, None], tiles_c * cand ** 2 * np.maximum(num_pe_nm, 1)[:, None])
    pe_nm = cand[np.arange(N), _first_argmax(util, okc)]

    # ---------------------------------------------------------------- CM tile and PE size (auto)
    start = np.maximum(max_t_cm, 4 * Rv)
    cand = start[:, None] / 2.0 ** k
    okc = (k == 0) | (cand > 4 * Rv[:, None])
    cand3 = cand[:, :, None]
    tiles_c = (np.ceil(rows[:, None, :] / cand3) * np.ceil(cols[:, None, :] / cand3) * cm[:, None, :]).sum(-1)
    util = _safe_div((mat * cm).sum(-1)[:, None], tiles_c * cand ** 2)
    t_cm = cand[np.arange(N), _first_argmax(util, okc)]
    # PE size: T/2, T/4, ... (> 2R), maximising utilisation with PE-level duplication
    candp = t_cm[:, None] / 2.0 ** (k + 1)
    okp = (k == 0) | (candp > 2 * Rv[:, None])
    p3 = candp[:, :, None]
    T3 = t_cm[:, None, None]
    small = (rows[:, None, :] <= T3) | (cols[:, None, :] <= T3)
    dr = np.maximum(1, np.floor(np.ceil(T3 / p3) / np.ceil(rows[:, None, :] / p3)))
    dc = np.maximum(1, np.floor(np.ceil(T3 / p3) / np.ceil(cols[:, None, :] / p3)))
    dupp = np.where(small, dr * dc, 1.0)
    u_pe = (dupp * mat[:, None, :] * cm[:, None, :]).sum(-1)
    pe_cm = candp[np.arange(N), _first_argmax(u_pe, okp)]

    # ---------------------------------------------------------------- manual floorplan override
    man = P["manual"]
    pe_r = np.where(man, P["subs_side"] * Rv, pe_cm)
    pe_c = np.where(man, P["subs_side"] * Cv, pe_cm)
    t_r = np.where(man, P["pes_side"] * pe_r, t_cm)
    t_c = np.where(man, P["pes_side"] * pe_c, t_cm)
    pe_nm = np.where(man, 0.0, pe_nm)

    # ---------------------------------------------------------------- tiles and duplication per layer
    Tr, Tc, Pr, Pc, Pn = t_r[:, None], t_c[:, None], pe_r[:, None], pe_c[:, None], np.maximum(pe_nm, 1)[:, None]
    tiles_cm = np.ceil(rows / Tr) * np.ceil(cols / Tc)
    tiles_nm = np.ceil(cin / Pn) * np.ceil(cols / Pn)
    tiles = np.where(nm, tiles_nm, np.where(cm, tiles_cm, 0.0))
    small_t = (rows <= Tr) | (cols <= Tc)
    pdr = np.where(small_t, np.maximum(1, np.floor(np.ceil(Tr / Pr) / np.ceil(rows / Pr))), 1)
    pdc = np.where(small_t, np.maximum(1, np.floor(np.ceil(Tc / Pc) / np.ceil(cols / Pc))), 1)
    small_p = (rows <= Pr) | (cols <= Pc)
    sdr = np.where(small_p, np.maximum(1, np.floor(np.ceil(Pr / R) / np.ceil(rows / R))), 1)
    sdc = np.where(small_p, np.maximum(1, np.floor(np.ceil(Pc / C) / np.ceil(cols / C))), 1)
    small_n = (cin <= Pn) | (cols <= Pn)
    ndr = np.where(small_n, np.maximum(1, np.floor(np.ceil(Pn / R) / np.ceil(cin / R))), 1)
    ndc = np.where(small_n, np.maximum(1, np.floor(np.ceil(Pn / C) / np.ceil(cols / C))), 1)
    speed = np.where(nm, ndr * ndc, pdr * pdc * sdr * sdc)
    speed = np.where(valid, speed, 1.0)

    rowblocks = np.where(nm, K2 * np.ceil(cin / R), np.ceil(rows / R))
    colblocks = np.ceil(cols / C)
    # partial-parallel read: a sub-array column is read in ⌈rows used / rows_in_parallel⌉ groups
    groups = np.ceil(np.minimum(np.where(nm, cin, rows), R) / P["p_par"][:, None])
    conv_per_pos = ib * rowblocks * groups * cols              # ADC conversions per output position
    tiles_base = tiles                                          # one copy of each layer's weights
    # NeuroSim V1.4 pipeline speed-up (Chip.cpp): d = min(speedUpDegree, IFM_max / IFM_min over conv
    # layers), each layer gets ⌈(IFM / ⌈IFM_max/d⌉)²⌉ copies (deeper, smaller layers fewer)
    tdup = np.ones((N, L))
    if (P["pipelined"] & (P["degree"] > 1)).any():
        ifm = P["in_h"]
        ifm_max = np.where(valid, ifm, 0.0).max(1)
        ifm_min = np.where(valid & (P["kernel_h"] != 1), ifm, np.inf).min(1)
        ifm_min = np.where(np.isfinite(ifm_min), ifm_min, ifm_max)
        degree = np.where(P["pipelined"], np.maximum(np.minimum(P["degree"], np.floor(ifm_max / ifm_min)), 1.0), 1.0)
        bound = np.ceil(ifm_max / degree)
        tdup = np.where(valid & (degree[:, None] > 1), np.ceil((ifm / bound[:, None]) ** 2 - 1e-9), 1.0)
        tdup = np.maximum(tdup, 1.0)
        # chip model III (V1.4 Chip.cpp:1302-1303, 1322-1323, 1338-1339): the copies a layer needs are
        # divided by the duplication already inside its tiles, ⌈copies / speed⌉ tiles per base tile
        tdup = np.where(P["m3"][:, None], np.maximum(np.ceil(tdup / speed - 1e-9), 1.0), tdup)
    total_tiles = (tiles * tdup).sum(1)
    mt = P["max_tiles"]
    over = np.isfinite(mt) & (total_tiles > mt)
    if strict and over.any():
        i = int(np.flatnonzero(over)[0])
        raise ValueError(f"network #{i} needs {int(total_tiles[i])} tiles but ChipConfig.max_tiles="
                         f"{int(mt[i])}; the network cannot be mapped (raise max_tiles, use larger "
                         f"sub-arrays/tiles, or fewer weight bits)")
    # chip model III: V1.4's multi-level sense amplifier (energy per conversion, sensing cycle)
    mlsa3 = P["m3"] & (P["adc_type"] == "flash") & (P["adc_model"] == "neurosim")
    e_conv3, t_cycle3, e_wl3 = _mlsa_v14(P, mlsa3)                      # NaN on the other rows
    # clock: given, or the slowest per-cycle delay (model II: sensing window × β, or a ripple shift-and-add;
    # model III with V1.4's sense amplifier: V1.4's sensing cycle at the node, main.cpp:285-302)
    P_tclk = P["tclk"]
    derive = np.isnan(P_tclk)
    if derive.any():
        w_add = P["adc_bits"] + np.where(valid, ib, 0).max(1) + np.ceil(np.log2(np.where(valid, groups, 1).max(1)))
        t_derived = np.maximum(cal["sense_cycle_factor"] * cal["sense_window_s"],
                               2.0 * w_add * cal["fo4_s_per_nm"] * P["node"])
        t_derived = np.where(mlsa3, t_cycle3, t_derived)
        P_tclk = np.where(derive, t_derived, P_tclk)
    tclk = P_tclk[:, None]
    t_conv = comp.adc_conversion_s(P["adc_bits"], P_tclk, P["adc_type"])[:, None]
    mux = P["cpa"][:, None]
    # per input bit, each sub-array (NeuroSim SubArray.cpp/ShiftAdd.cpp, synchronous): m·g sensing
    # steps (g row groups), m weight shift-and-adds when a weight spans several cells, ⌈m/c⌉ input
    # shift-and-adds when the input has several bits (one cycle each), plus (chip model II) a calibrated
    # overhead per sensing step; chip model III counts none, as V1.4's sub-array does (SubArray.cpp:1027-1037:
    # numColMuxed × numAdd sensing cycles per input bit, shift-and-adds within their cycles)
    k_step = np.where(P["m3"], 0.0, cal["step_overhead_cycles"])[:, None]
    step_cycles = (mux * groups * (t_conv / tclk + k_step) + np.where(cpw > 1, mux, 0.0)
                   + np.where(ib > 1, np.ceil(mux / cpw), 0.0))
    # -- per-copy work of each layer (cycles), known from the floorplan before copies are added
    # global traffic: inputs read from the global buffer (NM reuses kernel rows), outputs written back
    bits_rd = rows * ib * V / np.where(nm, P["kernel_h"], 1.0)
    bits_wr = cout * P["out_bits"] * V / P["pool"] ** 2
    bits = bits_rd + bits_wr
    # tile traffic (NeuroSim Tile.cpp): every tile's input buffer takes its rows' inputs, its output
    # buffer the (1 + accumulator width)-bit partial sums of its columns; both written then read
    n_pe_side = np.where(nm, num_pe_nm[:, None], np.where(man, P["pes_side"], np.ceil(t_cm / pe_cm))[:, None])
    pe_rows = np.where(nm, pe_nm[:, None], Pr)
    w_acc = P["adc_bits"][:, None] + ib + 1 + np.ceil(np.log2(np.maximum(np.ceil(pe_rows / R), 1)))
    sqrt_pe = np.sqrt(np.maximum(num_pe_nm, 1))[:, None]
    rows_eff = np.where(nm, rows / sqrt_pe, rows)
    rows_t = np.where(nm, np.minimum(cin, Pn) * K2 / sqrt_pe, np.minimum(rows, Tr))
    cols_t = np.where(nm, np.minimum(cols, Pn), np.minimum(cols, Tc))
    tr = np.where(nm, np.ceil(cin / Pn), np.ceil(rows / Tr))
    tc = np.where(nm, np.ceil(cols / Pn), np.ceil(cols / Tc))
    tb_in = rows_t * V * ib                      # per tile (tiles work in parallel)
    out_share = np.where(nm, num_pe_nm[:, None], 1.0)    # NM: partial sums split over the PEs
    tb_out = cols_t / cpw * (1 + w_acc) * V / out_share
    size_in = n_pe_side * ib * R
    core_bits, core_w = P["tb_core"][:, None], P["tb_width"][:, None]
    bus_t = n_pe_side * R
    b_in = np.where(size_in < core_bits, bus_t, core_w * np.minimum(np.ceil(size_in / core_bits), np.ceil(bus_t / core_w)))
    size_out = w_acc * n_pe_side * C / P["cpa"][:, None]
    b_out = np.where(size_out < core_bits, w_acc * n_pe_side,
                     core_w * np.minimum(np.ceil(size_out / core_bits), np.ceil(bus_t / core_w)))
    # adder trees, one stage per cycle for each of the P·m partial-sum words: inside a PE across its
    # sub-array rows (sped up by duplication), across the PEs of a tile and across row tiles
    pe_blocks = np.ceil(np.where(nm, np.minimum(cin, Pn), np.minimum(rows, Pr)) / R)
    tile_units = np.where(nm, num_pe_nm[:, None], np.ceil(rows_t / Pr))
    stages = lambda n: np.ceil(np.log2(np.maximum(n, 1)))  # noqa: E731
    n_adder = np.ceil(np.maximum(t_r, pe_nm * np.ceil(np.sqrt(num_pe_nm)))[:, None] / mux)
    width_l = np.where(nm, pe_nm[:, None] * np.ceil(np.sqrt(num_pe_nm))[:, None], Tr)
    bus_auto = (np.where(valid, width_l, 0) * (1 + 1 / P["cpa"][:, None])).sum(1)
    bus_auto = np.where(bus_auto > 2048, bus_auto / 2.0 ** np.ceil(np.log2(bus_auto / 2048)), bus_auto)
    bus = np.where(np.isnan(P["bus_width"]), bus_auto, P["bus_width"])
    # the global bus is shared among layers by their tile counts, a layer's copies sharing its part
    base_total = np.where(valid, tiles_base, 0.0).sum(1)
    share = np.ceil(base_total[:, None] / np.maximum(tiles_base, 1))
    words = np.ceil(bits / bus[:, None])
    words_shared = np.ceil(bits * share / bus[:, None])
    spare = np.isfinite(mt) & P["dup_weights"] & (total_tiles < mt) & ~over
    if spare.any():
        fixed_cycles = words_shared * cal["buffer_access_cycles"] + words      # global buffer and bus
        # everything that one more copy divides: compute, adder trees, tile buffers and tile buses
        dup_cycles = (V / speed * (ib * step_cycles + mux * stages(pe_blocks)) + V * mux * stages(tile_units)
                      + cols * V / n_adder * stages(tr) + (tb_in + tb_out) / bus_t
                      + (2 * tb_in / b_in + 2 * tb_out / b_out) * cal["buffer_access_cycles"])
    for i in map(int, np.flatnonzero(spare)):
        # greedy, with a choice that never depends on the tiles left: a larger max_tiles only
        # extends the sequence of copies, so latency never rises with more tiles. Pipelined: copy
        # the slowest layer; layer-by-layer: the largest latency saving per tile. A layer's latency
        # is ranked as its per-copy work / copies + its global-buffer time.
        left = mt[i] - total_tiles[i]
        v = valid[i]
        work = np.where(v, dup_cycles[i], 0.0)
        fixed = np.where(v, fixed_cycles[i], 0.0)
        cap = np.where(v, np.ceil(V[i] / speed[i]), 1.0)          # more copies than positions: no gain
        cost = np.where(v, tiles[i], np.inf)
        while True:
            room = v & (tdup[i] < cap)
            if P["pipelined"][i]:
                per = np.where(v, work / tdup[i] + fixed, -1.0)
                j = int(np.argmax(per))
                if not room[j]:
                    break
            else:
                gain = np.where(room, (work / tdup[i] - work / (tdup[i] + 1)) / cost, -1.0)
                j = int(np.argmax(gain))
                if gain[j] <= 0:
                    break
            if cost[j] > left:
                break
            tdup[i, j] += 1
            left -= cost[j]
    tiles = tiles * tdup
    total_tiles = tiles.sum(1)

    # ---------------------------------------------------------------- sub-arrays, ADCs
    subs_cm_tile = np.where(man, P["pes_side"] ** 2 * P["subs_side"] ** 2,
                            np.ceil(t_cm / pe_cm) ** 2 * np.ceil(pe_cm / Rv) * np.ceil(pe_cm / Cv))
    subs_nm_tile = num_pe_nm * np.ceil(pe_nm / Rv) * np.ceil(pe_nm / Cv)
    n_tiles_cm = np.where(cm, tiles, 0).sum(1)
    n_tiles_nm = np.where(nm, tiles, 0).sum(1)
    n_sub = n_tiles_cm * subs_cm_tile + n_tiles_nm * subs_nm_tile
    adc_per_sub = np.ceil(Cv / P["cpa"])
    n_adc = n_sub * adc_per_sub
    # CMOS area: (node/22 nm)² (model II), (logic feature/22 nm)² (model III: V1.4's gate areas below 22 nm)
    s_a = np.where(P["m3"], comp.area_scale(comp.logic_feature_nm(P["node"])), comp.area_scale(P["node"]))
    s_e = comp.energy_scale(P["node"], P["v_chip"])

    # ---------------------------------------------------------------- global buffer and bus
    need_buf = np.where(valid, P["in_bits_total"], 0).max(1)
    buf_bits = np.where(np.isnan(P["buffer_bits"]), need_buf, P["buffer_bits"])
    too_big = valid & (P["in_bits_total"] > buf_bits[:, None])
    if strict and too_big.any():
        i, j = (int(v) for v in np.argwhere(too_big)[0])
        raise ValueError(f"network #{i} layer {j}: its input needs {P['in_bits_total'][i, j] / 8192:.1f} KiB "
                         f"but ChipConfig.global_buffer_kb={buf_bits[i] / 8192:.1f}; the layer cannot be mapped")

    # ---------------------------------------------------------------- area (µm²)
    f_cell = P["f_cell_um"]
    a_array = n_sub * Rv * Cv * P["cell_f2"] * f_cell ** 2
    # write periphery: level shifters on the R word lines, R bit lines and C source lines of every
    # sub-array whose cells are written above 1.5 V (RRAM, FeFET, PCM; none for SRAM)
    m3 = P["m3"]
    a_ls_unit = np.where(P["level_shift"], comp.level_shifter_area_um2(P["node"], f_cell, m3), 0.0)
    a_ls = n_sub * (2 * Rv + Cv) * a_ls_unit
    a_adc_unit = comp.adc_area_um2(P["adc_bits"], P["node"], P["adc_type"], P["adc_model"])
    if mlsa3.any():  # chip model III: V1.4's multi-level sense amplifier, laid out in the sub-array
        a_adc_unit = np.where(mlsa3, comp.mlsa_area_v14_um2(P["adc_bits"], P["node"], Rv, P["cell_f2"], P["metal_nm"],
                                                           P["sram"], P["cpa"]), a_adc_unit)
    a_adc = n_adc * a_adc_unit
    max_ib = np.where(valid, ib, 0).max(1)
    acc_w = P["adc_bits"] + max_ib
    a_acc = n_adc * (cal["shift_add_a_bit_um2"] + cal["accum_a_bit_um2"]) * acc_w * s_a
    a_periph = n_sub * cal["periph_a_line_um2"] * (Rv + Cv) * s_a + a_ls
    a_corner = np.zeros(N)
    if m3.any():
        # chip model III: a sub-array is the bounding box of its periphery (V1.4 SubArray.cpp:616-619,
        # 766-776): the word-line side (switch matrix, the word- and bit-line level shifters) is laid
        # beside the array along its height, the column strips (ADCs, shift-and-adds, column periphery,
        # source-line shifters) under it along its width. Box = (W_a + A_side/H_a)(H_a + A_strip/W_a):
        # beyond the used area it holds the empty corner A_side·A_strip/A_array (µm² per sub-array)
        a_cells = Rv * Cv * P["cell_f2"] * f_cell ** 2
        a_side = 2 * Rv * a_ls_unit + Rv * cal["periph_a_line_um2"] * s_a
        a_strip = (Cv * a_ls_unit + Cv * cal["periph_a_line_um2"] * s_a
                   + adc_per_sub * (a_adc_unit + cal["shift_add_a_bit_um2"] * acc_w * s_a))
        a_corner = np.where(m3, n_sub * a_side * a_strip / a_cells, 0.0)
        a_periph = a_periph + a_corner
    a_buf = buf_bits * cal["buffer_a_bit_um2"] * s_a
    tiles_area = a_array + a_adc + a_acc + a_periph                    # all tiles, without IC
    per_sub = tiles_area / np.maximum(n_sub, 1)
    tile_cm_mm = np.sqrt(per_sub * subs_cm_tile) * 1e-3
    tile_nm_mm = np.sqrt(per_sub * subs_nm_tile) * 1e-3
    chip_side_mm = np.sqrt(tiles_area + a_buf) * 1e-3
    w_cm = t_r
    w_nm = pe_nm * np.ceil(np.sqrt(num_pe_nm))
    ic_units = n_tiles_cm * w_cm * tile_cm_mm + n_tiles_nm * w_nm * tile_nm_mm + bus * chip_side_mm
    # wire area = bits × pitch × length: the floorplan gives the length, the node the pitch
    a_ic = cal["ic_a_bit_mm_um2"] * ic_units * (P["metal_nm"] / comp.METAL_WIDTH_NM[int(comp.REF_NODE_NM)])
    area_um2 = tiles_area + a_buf + a_ic
    chip_side_mm = np.sqrt(area_um2) * 1e-3

    # ---------------------------------------------------------------- energy per layer (J)
    n_conv = V * conv_per_pos
    n_subact = V * ib * rowblocks * colblocks
    n_cell = V * ib * rows * cols
    v_scale = (P["v_chip"] / comp.REF_VDD) ** 2
    e_adc_unit = comp.adc_energy_j(P["adc_bits"], P["node"], P["adc_type"], P["adc_model"], P["v_chip"])
    # current-mode sensing: the selected column's cells (half of the rows in parallel carry a 1 input
    # bit) drive V_read·I_col into the sense amplifier for the sensing window (NeuroSim books this
    # column power in the ADC energy, MultilevelSenseAmp.cpp); SRAM's read port conducts likewise
    p_eff = np.minimum(P["p_par"][:, None], np.minimum(np.where(nm, cin, rows), R))
    t_sense = np.minimum(cal["sense_window_s"], P["read_pulse"])
    g_mean = 0.5 * (P["g_on"] + P["g_off"])
    e_col = (P["v_mem"] ** 2 * g_mean * t_sense)[:, None] * 0.5 * p_eff
    e_adc = n_conv * (e_adc_unit[:, None] + e_col)
    if mlsa3.any():
        # model III: V1.4's conversion energy, (L−1)·E_sw + (P_col + P_ref)·T_col, its column current included
        # (the static power of the current-mirror sense amplifier over the sensing time) at V1.4's node supply
        # and, booked with it as V1.4 does, the word lines of the active rows charged once per mux step of
        # every sub-array read (rows used in the layer's sub-arrays: min(R, rows of the layer))
        used_rows = np.minimum(np.where(nm, cin, rows), R) / R
        e_adc = np.where(mlsa3[:, None], n_conv * np.nan_to_num(e_conv3)[:, None]
                         + n_subact * used_rows * np.nan_to_num(e_wl3)[:, None], e_adc)
    tree_adds = V * cols * (rowblocks - 1) + V * cout * (cpw - 1)
    # one shift-and-add per sensing step (NeuroSim ShiftAdd.cpp) and, with several row groups, one
    # group addition per extra conversion (SubArray.cpp adder, log₂(groups) bits wider)
    sa_bitops = (n_conv / groups * (P["adc_bits"][:, None] + ib)
                 + n_conv * (groups - 1) / groups * (P["adc_bits"][:, None] + np.ceil(np.log2(groups))))
    acc_bitops = sa_bitops + tree_adds * (P["adc_bits"][:, None] + ib + cpw * P["bpc"][:, None])
    # a read coded on its own input range (Layer.input_range_per_read): a min/max finder over the read's
    # in_c inputs, 2·(in_c − 1) comparisons of w bits, then a w×w multiply per input (coding) and two per
    # output (rescale, zero-point correction), w = the accumulator width; an N-bit comparison costs N
    # adder bits, an N×N array multiplier about N² (Weste & Harris, CMOS VLSI Design, 4th ed., §11.2, §11.9)
    range_bitops = P["input_range_per_read"] * V * (2 * (cin - 1) * w_acc + (cin + 2 * cout) * w_acc ** 2)
    acc_bitops = acc_bitops + range_bitops
    e_acc = (sa_bitops * cal["shift_add_e_bit_j"] + (acc_bitops - sa_bitops) * cal["accum_e_bit_j"]) * s_e[:, None]
    # cell reads (half the input bits are 1): each read swings the cell's share of its line, whose
    # capacitance is the wire's per µm times the cell pitch √(cell F²)·F, at the read voltage
    # (their conduction current is the sense current above)
    c_cell = cal["wire_c_f_per_um"] * np.sqrt(P["cell_f2"]) * f_cell              # F per cell
    e_arr = 0.5 * n_cell * (c_cell * P["v_mem"] ** 2)[:, None]
    # periphery: word-line switch matrix and column mux/decoder switch once per sensing step, not per
    # row group (NeuroSim V1.4 SubArray.cpp: their energy counts numColMuxed reads, the row groups
    # only add ADC conversions and group additions)
    e_per = n_subact * (R + C) * cal["periph_e_line_j"] * s_e[:, None]
    # tile traffic (NeuroSim Tile.cpp): every tile's input buffer takes its rows' inputs, its output
    # buffer the (1 + accumulator width)-bit partial sums of its columns; both written then read
    tbits_in = 2 * rows_eff * V * ib * tc                       # copies split positions: no × copies
    tbits_out = 2 * cout * (1 + w_acc) * V * tr / out_share
    tbits = tbits_in + tbits_out
    tile_side = np.where(nm, tile_nm_mm[:, None], tile_cm_mm[:, None])
    e_buf = (bits + tbits) * cal["buffer_e_bit_j"] * s_e[:, None]
    # wire energy per bit and mm ∝ capacitance per mm (about constant over nodes) × V²: the node
    # enters once, through the lengths
    # (NeuroSim V1.4: only toggling bits cost energy, its inputtoggle/outputtoggle; V1.3 = 1)
    tg_in, tg_out = P["toggle_in"][:, None], P["toggle_out"][:, None]
    e_ic = ((bits_rd * tg_in + bits_wr * tg_out) * chip_side_mm[:, None]
            + 0.5 * (tbits_in * tg_in + tbits_out * tg_out) * tile_side) * cal["ic_e_bit_mm_j"] * v_scale[:, None]
    parts = {"arrays": e_arr, "adc": e_adc, "accumulation": e_acc, "buffer": e_buf, "interconnect": e_ic,
             "other": e_per}
    padded = not valid.all()                    # zero the padding of a batch's shorter networks
    if padded:
        for key in parts:
            parts[key] = np.where(valid, parts[key], 0.0)
    e_layer = sum(parts.values())

    # ---------------------------------------------------------------- latency per layer (s)
    eff_speed = speed * tdup
    t_compute = np.ceil(V / eff_speed) * ib * step_cycles * tclk
    v_copy = np.ceil(V / tdup)                                  # positions one copy of the layer handles
    t_accum = (np.ceil(V / eff_speed) * mux * stages(pe_blocks) + v_copy * mux * stages(tile_units)
               + np.ceil(cols * v_copy / n_adder) * stages(tr)) * tclk
    tb_in = tb_in / tdup                                        # each copy's tile buffers see its share
    tb_out = tb_out / tdup
    words_tile = 2 * np.ceil(tb_in / b_in) + 2 * np.ceil(tb_out / b_out)
    t_buffer = (words_shared + words_tile) * cal["buffer_access_cycles"] * tclk
    t_ic = (words + np.ceil((tb_in + tb_out) / bus_t)) * tclk
    lat = {"compute": t_compute, "accumulation": t_accum, "buffer": t_buffer, "interconnect": t_ic}
    if padded:
        for key in lat:
            lat[key] = np.where(valid, lat[key], 0.0)
    t_layer = sum(lat.values())
    latency = np.where(P["pipelined"], t_layer.max(1), t_layer.sum(1))

    # ---------------------------------------------------------------- totals
    e_dyn = e_layer.sum(1)
    # leaking CMOS: everything but the non-volatile cells and the sub-arrays' empty corners (model III)
    periph_mm2 = (area_um2 - a_corner - a_array + np.where(P["volatile"], a_array, 0.0)) * 1e-6
    p_leak = cal["leak_w_per_mm2"] * periph_mm2
    e_leak = p_leak * latency
    e_tot = e_dyn + e_leak
    ops = P["ops"]
    mapped = (mat * speed * tdup * valid).sum(1)
    util = mapped / (n_sub * P["R"] * P["C"])
    area_mm2 = area_um2 * 1e-6
    feasible = ~over & ~too_big.any(1)
    if not feasible.all():
        inf = np.where(feasible, 0.0, np.inf)
        area_mm2, latency, e_dyn, e_tot = area_mm2 + inf, latency + inf, e_dyn + inf, e_tot + inf
    out = dict(feasible=feasible,
        area_mm2=area_mm2, latency_s=latency, dynamic_energy_j=e_dyn, leakage_energy_j=e_leak,
        energy_j=e_tot, leakage_power_w=p_leak, ops=ops,
        tops=ops / latency / 1e12, tops_per_w=ops / (e_tot * P["zeta"]) / 1e12,
        tops_per_mm2=ops / latency / 1e12 / area_mm2, edp_js=e_tot * latency, utilization=util,
        tiles=total_tiles, subarrays=n_sub, adcs=n_adc, clock_period_s=P_tclk,
        pes=n_tiles_cm * np.where(man, P["pes_side"] ** 2, np.ceil(t_cm / pe_cm) ** 2) + n_tiles_nm * num_pe_nm,
        area_arrays_mm2=a_array * 1e-6, area_adc_mm2=a_adc * 1e-6, area_accumulation_mm2=a_acc * 1e-6,
        area_buffer_mm2=a_buf * 1e-6, area_interconnect_mm2=a_ic * 1e-6, area_other_mm2=a_periph * 1e-6,
        # per layer
        layer_latency_s=t_layer, layer_energy_j=e_layer, layer_tiles=tiles, layer_speedup=speed * tdup,
        layer_nm=nm, layer_cpw=cpw, layer_rows=rows, layer_cols=cols,
        layer_subarrays=rowblocks * colblocks, layer_conversions=n_conv, layer_groups=groups,
        layer_parts=parts, layer_lat_parts=lat,
        # counts for calibration
        counts=None if not counts else dict(n_conv=n_conv, n_subact=n_subact, n_cell=n_cell, acc_bitops=acc_bitops, sa_bitops=sa_bitops,
                    bits=bits,
                    words_shared=words_shared + words_tile, words=words + np.ceil((tb_in + tb_out) / bus_t),
                    t_compute=t_compute, t_accum=t_accum, tbits=tbits,
                    sense_steps=np.ceil(V / eff_speed) * ib * mux * groups, a_ls=a_ls,
                    R_plus_C=(R + C), e_col=n_conv * e_col, n_adc=n_adc, acc_w=acc_w, ic_units=ic_units, buf_bits=buf_bits,
                    chip_side_mm=chip_side_mm, a_array=a_array, e_arr=e_arr),
        floorplan=dict(pe_nm=pe_nm, num_pe_nm=num_pe_nm, tile_cm_rows=t_r, tile_cm_cols=t_c, pe_cm_rows=pe_r,
                       pe_cm_cols=pe_c, bus_width_bits=bus, global_buffer_bits=buf_bits,
                       tiles_cm=n_tiles_cm, tiles_nm=n_tiles_nm),
    )
    return out


# ==================================================================================================
# Single evaluation
# ==================================================================================================

def _check_inputs(network: Network, device: Device | str, chip: ChipConfig) -> Device:
    if not isinstance(network, Network):
        raise ValueError(f"network must be a Network, got {type(network).__name__}")
    if not isinstance(chip, ChipConfig):
        raise ValueError(f"chip must be a ChipConfig, got {type(chip).__name__}")
    return get_device(device)


def evaluate(network: Network, device: Device | str, chip: ChipConfig, *, n_inferences: int = 1) -> HardwareReport:
    """Latency, energy and area of ``network`` on ``chip`` built from ``device`` cells.

    Args:
        network: The layers to map.
        device: A :class:`~lightning_imc.devices.Device` or its registry name.
        chip: Circuit parameters.
        n_inferences: Number of inferences the latency and energy totals cover (≥ 1).

    >>> from lightning_imc.hardware import Network, ChipConfig, evaluate
    >>> r = evaluate(Network.vgg8(), "rram_vgg8", ChipConfig.neurosim_vgg8())
    >>> r.tiles_per_layer
    [1, 1, 2, 2, 4, 4, 32, 1]
    """
    dev = _check_inputs(network, device, chip)
    if isinstance(n_inferences, bool) or not isinstance(n_inferences, int) or n_inferences < 1:
        raise ValueError(f"n_inferences={n_inferences!r}; must be an integer >= 1")
    # one implementation: a single evaluation is a batch of one
    return _report(core(pack([network], [dev], [chip])), 0, network, chip, n_inferences)


def _report(o: dict, i: int, network: Network, chip: ChipConfig, n: int = 1) -> HardwareReport:
    nl = len(network)
    row = {k: o[k][i, :nl].tolist() for k in ("layer_nm", "layer_cpw", "layer_rows", "layer_cols", "layer_subarrays",
                                               "layer_tiles", "layer_speedup", "layer_conversions", "layer_latency_s",
                                               "layer_energy_j", "layer_groups")}
    part_rows = {k: v[i, :nl].tolist() for k, v in o["layer_parts"].items()}
    neurosim_ops = chip.ops_convention == "neurosim"
    layers = []
    for j, layer in enumerate(network.layers):
        layers.append(LayerReport(
            name=layer.name or f"layer{j + 1}",
            mapping="novel" if row["layer_nm"][j] else "conventional",
            cells_per_weight=int(row["layer_cpw"][j]), rows=int(row["layer_rows"][j]),
            cols=int(row["layer_cols"][j]), subarrays=int(row["layer_subarrays"][j]),
            tiles=int(row["layer_tiles"][j]), speedup=int(row["layer_speedup"][j]),
            adc_conversions=row["layer_conversions"][j], latency_s=row["layer_latency_s"][j],
            energy_j=row["layer_energy_j"][j], energy_breakdown_j={k: v[j] for k, v in part_rows.items()},
            ops=(2.0 * (layer.macs_neurosim if neurosim_ops else layer.macs)),
            row_groups=int(row["layer_groups"][j]),
        ))
    e_dyn = float(o["dynamic_energy_j"][i]) * n
    e_leak = float(o["leakage_energy_j"][i]) * n
    lat = float(o["latency_s"][i]) * n
    ops = float(o["ops"][i]) * n
    e_tot = e_dyn + e_leak
    area = float(o["area_mm2"][i])
    return HardwareReport(
        area_mm2=area, latency_s=lat, dynamic_energy_j=e_dyn, leakage_energy_j=e_leak, energy_j=e_tot,
        leakage_power_w=float(o["leakage_power_w"][i]), ops=ops, ops_convention=chip.ops_convention,
        tops=ops / lat / 1e12, tops_per_w=ops / (e_tot * chip.post_layout_energy_factor) / 1e12,
        tops_per_mm2=ops / lat / 1e12 / area, edp_js=e_tot * lat, utilization=float(o["utilization"][i]),
        clock_period_s=float(o["clock_period_s"][i]), tiles=int(o["tiles"][i]), pes=int(o["pes"][i]),
        subarrays=int(o["subarrays"][i]),
        adcs=int(o["adcs"][i]),
        floorplan={k: float(v[i]) for k, v in o["floorplan"].items()},
        area_breakdown_mm2={c: float(o[f"area_{c}_mm2"][i]) for c in COMPONENTS},
        energy_breakdown_j={k: float(v[i].sum()) * n for k, v in o["layer_parts"].items()},
        latency_breakdown_s={k: float(v[i].sum()) * n for k, v in o["layer_lat_parts"].items()}
        if chip.execution == "layer_by_layer" else
        {k: float(v[i, int(np.argmax(o["layer_latency_s"][i]))]) * n for k, v in o["layer_lat_parts"].items()},
        layers=tuple(layers), n_inferences=n,
    )
