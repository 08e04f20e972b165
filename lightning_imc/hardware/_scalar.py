"""Scalar (pure-Python) twin of :func:`lightning_imc.hardware.model.core` for one evaluation.

NumPy's per-call overhead dominates when a single network of ~8 layers is evaluated; this module
evaluates the same equations with Python floats (about 3× faster) and returns the same keys as
``core`` (arrays of shape (1,) and (1, L)) so that reports are built identically. The batched,
vectorised ``core`` remains the reference: ``tests/test_hardware.py`` checks that both agree on
random networks and chips to 1e-9.
"""

from __future__ import annotations

import math
from typing import Mapping

import numpy as np

from ..devices import Device
from . import components as comp
from .chip import ChipConfig
from .network import Network

__all__ = ["core_one"]

_ceil = math.ceil


def _log2ceil(n: float) -> float:
    return float(_ceil(math.log2(n))) if n > 1 else 0.0


def _choose(cands: list[float], utils: list[float]) -> float:
    """First candidate with the maximal utilisation (NeuroSim keeps the first strict maximum)."""
    best, best_u = cands[0], -math.inf
    for c, u in zip(cands, utils):
        if u > best_u:
            best, best_u = c, u
    return best


def core_one(net: Network, dev: Device, chip: ChipConfig, cal: Mapping[str, float] | None = None) -> dict:
    """Evaluate one (network, device, chip); raises ``ValueError`` for unmappable networks."""
    cal = comp.CAL if cal is None else cal
    layers = net.layers
    L = len(layers)
    R, C = float(chip.subarray_rows), float(chip.subarray_cols)
    mux = float(chip.cols_per_adc)
    bpc = float(dev.bits_per_cell)
    b_adc = float(chip.adc_bits)
    man = chip.manual_floorplan
    cin = [float(l.in_c) for l in layers]
    cout = [float(l.out_c) for l in layers]
    kh = [float(l.kernel_h) for l in layers]
    K2 = [float(l.kernel_h * l.kernel_w) for l in layers]
    ib = [float(l.input_bits) for l in layers]
    cpw = [float(_ceil(l.weight_bits / bpc)) for l in layers]
    rows = [k * c for k, c in zip(K2, cin)]
    cols = [co * c for co, c in zip(cout, cpw)]
    V = [float(l.out_h * l.out_w) for l in layers]
    mat = [r * c for r, c in zip(rows, cols)]
    rng = range(L)

    # ------------------------------------------------------------------ novel-mapping kernel size
    num_pe_nm = 0.0
    if chip.novel_mapping and not man:
        best = 0
        for i in rng:
            if K2[i] != 1:
                f = sum(1 for j in rng if K2[j] == K2[i])
                if f > best:
                    best, num_pe_nm = f, K2[i]
    nm = [num_pe_nm > 0 and K2[i] == num_pe_nm and rows[i] >= R for i in rng]
    np2 = [2.0 ** _ceil(math.log2(c)) for c in cols]
    max_pe_nm = max([np2[i] for i in rng if nm[i]], default=0.0)
    max_t_cm = max([np2[i] for i in rng if not nm[i]], default=0.0)

    start = max(max_pe_nm, 2 * R)
    cands = [start / 2.0 ** k for k in range(16) if k == 0 or start / 2.0 ** k > 2 * R]
    utils = []
    mat_nm = sum(mat[i] for i in rng if nm[i])
    for p in cands:
        t = sum(_ceil(cin[i] / p) * _ceil(cols[i] / p) for i in rng if nm[i])
        utils.append(mat_nm / (t * p * p * max(num_pe_nm, 1.0)) if t else 0.0)
    pe_nm = _choose(cands, utils)

    start = max(max_t_cm, 4 * R)
    cands = [start / 2.0 ** k for k in range(16) if k == 0 or start / 2.0 ** k > 4 * R]
    utils = []
    mat_cm = sum(mat[i] for i in rng if not nm[i])
    for T in cands:
        t = sum(_ceil(rows[i] / T) * _ceil(cols[i] / T) for i in rng if not nm[i])
        utils.append(mat_cm / (t * T * T) if t else 0.0)
    t_cm = _choose(cands, utils)
    candp = [t_cm / 2.0 ** (k + 1) for k in range(16) if k == 0 or t_cm / 2.0 ** (k + 1) > 2 * R]
    utils = []
    for p in candp:
        u = 0.0
        for i in rng:
            if nm[i]:
                continue
            d = 1.0
            if rows[i] <= t_cm or cols[i] <= t_cm:
                d = (max(1.0, math.floor(_ceil(t_cm / p) / _ceil(rows[i] / p)))
                     * max(1.0, math.floor(_ceil(t_cm / p) / _ceil(cols[i] / p))))
            u += d * mat[i]
        utils.append(u)
    pe_cm = _choose(candp, utils)

    if man:
        s, m_ = math.isqrt(chip.subarrays_per_pe), math.isqrt(chip.pes_per_tile)
        pe_r, pe_c = s * R, s * C
        t_r, t_c = m_ * pe_r, m_ * pe_c
        pe_nm = 0.0
    else:
        pe_r = pe_c = pe_cm
        t_r = t_c = t_cm
    Pn = max(pe_nm, 1.0)

    # ------------------------------------------------------------------ tiles, duplication
    tiles, speed = [], []
    for i in rng:
        r, c = rows[i], cols[i]
        if nm[i]:
            tiles.append(float(_ceil(cin[i] / Pn) * _ceil(c / Pn)))
            if cin[i] <= Pn or c <= Pn:
                sp = (max(1.0, math.floor(_ceil(Pn / R) / _ceil(cin[i] / R)))
                      * max(1.0, math.floor(_ceil(Pn / C) / _ceil(c / C))))
            else:
                sp = 1.0
        else:
            tiles.append(float(_ceil(r / t_r) * _ceil(c / t_c)))
            sp = 1.0
            if r <= t_r or c <= t_c:
                sp *= (max(1.0, math.floor(_ceil(t_r / pe_r) / _ceil(r / pe_r)))
                       * max(1.0, math.floor(_ceil(t_c / pe_c) / _ceil(c / pe_c))))
            if r <= pe_r or c <= pe_c:
                sp *= (max(1.0, math.floor(_ceil(pe_r / R) / _ceil(r / R)))
                       * max(1.0, math.floor(_ceil(pe_c / C) / _ceil(c / C))))
        speed.append(sp)
    total_tiles = sum(tiles)
    tdup = [1.0] * L
    if chip.max_tiles is not None:
        mt = float(chip.max_tiles)
        if total_tiles > mt:
            raise ValueError(f"network #0 needs {int(total_tiles)} tiles but ChipConfig.max_tiles={chip.max_tiles}; "
                             "the network cannot be mapped (raise max_tiles, use larger sub-arrays/tiles, "
                             "or fewer weight bits)")
        if chip.duplicate_weights and total_tiles < mt:
            left = mt - total_tiles
            work = [_ceil(V[i] / speed[i]) * ib[i] for i in rng]
            while True:
                gains = [work[i] / tdup[i] - work[i] / (tdup[i] + 1) if tiles[i] <= left else -1.0 for i in rng]
                j = max(rng, key=lambda q: (gains[q], -q))
                if gains[j] <= 0:
                    break
                tdup[j] += 1
                left -= tiles[j]
    tiles = [t * d for t, d in zip(tiles, tdup)]
    total_tiles = sum(tiles)

    # ------------------------------------------------------------------ sub-arrays, ADCs
    if man:
        subs_cm_tile = float(chip.pes_per_tile * chip.subarrays_per_pe)
        pes_cm_tile = float(chip.pes_per_tile)
        n_pe_side_cm = float(math.isqrt(chip.pes_per_tile))
    else:
        n_pe_side_cm = float(_ceil(t_cm / pe_cm))
        pes_cm_tile = n_pe_side_cm ** 2
        subs_cm_tile = pes_cm_tile * _ceil(pe_cm / R) * _ceil(pe_cm / C)
    subs_nm_tile = num_pe_nm * _ceil(pe_nm / R) * _ceil(pe_nm / C)
    n_tiles_cm = sum(tiles[i] for i in rng if not nm[i])
    n_tiles_nm = sum(tiles[i] for i in rng if nm[i])
    n_sub = n_tiles_cm * subs_cm_tile + n_tiles_nm * subs_nm_tile
    n_adc = n_sub * _ceil(C / mux)
    s_a = (chip.node_nm / comp.REF_NODE_NM) ** 2
    s_e = (chip.node_nm / comp.REF_NODE_NM) * (chip.v_chip / comp.REF_VDD) ** 2

    # ------------------------------------------------------------------ buffer and bus
    in_bits = [float(l.in_h * l.in_w * l.in_c * l.input_bits) for l in layers]
    buf_bits = max(in_bits) if chip.global_buffer_kb is None else chip.global_buffer_kb * 8192.0
    for j in rng:
        if in_bits[j] > buf_bits:
            raise ValueError(f"network #0 layer {j}: its input needs {in_bits[j] / 8192:.1f} KiB but "
                             f"ChipConfig.global_buffer_kb={buf_bits / 8192:.1f}; the layer cannot be mapped")
    sq_nm = float(_ceil(math.sqrt(num_pe_nm)))
    bus = sum((pe_nm * sq_nm if nm[i] else t_r) for i in rng) * (1 + 1 / mux)
    if bus > 2048:
        bus = bus / 2.0 ** _ceil(math.log2(bus / 2048))
    if chip.bus_width_bits is not None:
        bus = float(chip.bus_width_bits)

    # ------------------------------------------------------------------ area (µm²)
    node = float(chip.node_nm)
    a_array = n_sub * R * C * dev.cell_area_f2 * (node * 1e-3) ** 2
    a_adc = n_adc * float(comp.adc_area_um2(b_adc, node, chip.adc_type, chip.adc_model))
    acc_w = b_adc + max(ib)
    a_acc = n_adc * (cal["shift_add_a_bit_um2"] + cal["accum_a_bit_um2"]) * acc_w * s_a
    a_periph = n_sub * cal["periph_a_line_um2"] * (R + C) * s_a
    a_buf = buf_bits * cal["buffer_a_bit_um2"] * s_a
    tiles_area = a_array + a_adc + a_acc + a_periph
    per_sub = tiles_area / max(n_sub, 1.0)
    tile_cm_mm = math.sqrt(per_sub * subs_cm_tile) * 1e-3
    tile_nm_mm = math.sqrt(per_sub * subs_nm_tile) * 1e-3
    chip_side_mm = math.sqrt(tiles_area + a_buf) * 1e-3
    ic_units = n_tiles_cm * t_r * tile_cm_mm + n_tiles_nm * pe_nm * sq_nm * tile_nm_mm + bus * chip_side_mm
    a_ic = cal["ic_a_bit_mm_um2"] * ic_units * s_a
    area_um2 = tiles_area + a_buf + a_ic
    chip_side_mm = math.sqrt(area_um2) * 1e-3

    # ------------------------------------------------------------------ per layer
    e_adc_unit = float(comp.adc_energy_j(b_adc, node, chip.adc_type, chip.adc_model, chip.v_chip))
    tclk = chip.clock_period_s
    t_conv_c = float(comp.adc_conversion_s(b_adc, tclk, chip.adc_type)) / tclk
    v_mem = chip.v_mem if chip.v_mem is not None else dev.read_voltage_v
    g_mean = 0.5 * (dev.g_on_s + dev.g_off_s)
    sqrt_pe = math.sqrt(max(num_pe_nm, 1.0))
    n_adder = _ceil(max(t_r, pe_nm * sq_nm) / mux)
    core_bits, core_w = float(chip.tile_buffer_core_bits), float(chip.tile_buffer_width_bits)
    names = ("arrays", "adc", "accumulation", "buffer", "interconnect", "other")
    lnames = ("compute", "accumulation", "buffer", "interconnect")
    parts = {k: [] for k in names}
    lat = {k: [] for k in lnames}
    rowblocks_l, colblocks_l, n_conv_l = [], [], []
    for i in rng:
        l = layers[i]
        r, c, v, b, w = rows[i], cols[i], V[i], ib[i], cpw[i]
        is_nm = nm[i]
        rowblocks = K2[i] * _ceil(cin[i] / R) if is_nm else float(_ceil(r / R))
        colblocks = float(_ceil(c / C))
        n_conv = v * b * rowblocks * c
        n_subact = v * b * rowblocks * colblocks
        n_cell = v * b * r * c
        tree_adds = v * c * (rowblocks - 1) + v * cout[i] * (w - 1)
        sa_bitops = n_conv * (b_adc + b)
        acc_bitops = sa_bitops + tree_adds * (b_adc + b + w * bpc)
        parts["adc"].append(n_conv * e_adc_unit)
        parts["accumulation"].append((sa_bitops * cal["shift_add_e_bit_j"]
                                      + (acc_bitops - sa_bitops) * cal["accum_e_bit_j"]) * s_e)
        parts["arrays"].append(n_cell * 0.5 * v_mem ** 2 * g_mean * cal["cell_conduction_s"])
        parts["other"].append(n_subact * (R + C) * cal["periph_e_line_j"] * s_e)
        nib = layers[i + 1].input_bits if i + 1 < L else l.input_bits
        bits = r * b * v / (kh[i] if is_nm else 1.0) + cout[i] * nib * v / l.pool ** 2
        n_pe_side = num_pe_nm if is_nm else n_pe_side_cm
        pe_rows = pe_nm if is_nm else pe_r
        w_acc = b_adc + b + 1 + _log2ceil(max(_ceil(pe_rows / R), 1))
        if is_nm:
            rows_eff = r / sqrt_pe
            rows_t = min(cin[i], Pn) * K2[i] / sqrt_pe
            cols_t = min(c, Pn)
            tr, tc = float(_ceil(cin[i] / Pn)), float(_ceil(c / Pn))
            out_share = num_pe_nm
        else:
            rows_eff, rows_t, cols_t = r, min(r, t_r), min(c, t_c)
            tr, tc = float(_ceil(r / t_r)), float(_ceil(c / t_c))
            out_share = 1.0
        tb_in = rows_t * v * b
        tb_out = cols_t / w * (1 + w_acc) * v / out_share
        tbits = 2 * (rows_eff * v * b * tc + cout[i] * (1 + w_acc) * v * tr / out_share) * tdup[i]
        size_in = n_pe_side * b * R
        bus_t = n_pe_side * R
        b_in = bus_t if size_in < core_bits else core_w * min(_ceil(size_in / core_bits), _ceil(bus_t / core_w))
        size_out = w_acc * n_pe_side * C / mux
        b_out = (w_acc * n_pe_side if size_out < core_bits
                 else core_w * min(_ceil(size_out / core_bits), _ceil(bus_t / core_w)))
        tile_side = tile_nm_mm if is_nm else tile_cm_mm
        parts["buffer"].append((bits + tbits) * cal["buffer_e_bit_j"] * s_e)
        parts["interconnect"].append((bits * chip_side_mm + 0.5 * tbits * tile_side) * cal["ic_e_bit_mm_j"] * s_e)
        # latency
        eff = speed[i] * tdup[i]
        steps = _ceil(v / eff) * b
        step_cycles = (mux * (t_conv_c + cal["step_overhead_cycles"]) + (mux if w > 1 else 0.0)
                       + (_ceil(mux / w) if b > 1 else 0.0))
        lat["compute"].append(steps * step_cycles * tclk)
        pe_blocks = _ceil((min(cin[i], Pn) if is_nm else min(r, pe_r)) / R)
        tile_units = num_pe_nm if is_nm else float(_ceil(rows_t / pe_r))
        lat["accumulation"].append((_ceil(v / eff) * mux * _log2ceil(pe_blocks) + v * mux * _log2ceil(tile_units)
                                    + _ceil(c * v / n_adder) * _log2ceil(tr)) * tclk)
        share = _ceil(total_tiles / max(tiles[i], 1.0))
        words = _ceil(bits / bus)
        words_shared = _ceil(bits * share / bus)
        words_tile = 2 * _ceil(tb_in / b_in) + 2 * _ceil(tb_out / b_out)
        lat["buffer"].append((words_shared + words_tile) * cal["buffer_access_cycles"] * tclk)
        lat["interconnect"].append((words + _ceil((tb_in + tb_out) / bus_t)) * tclk)
        rowblocks_l.append(rowblocks)
        colblocks_l.append(colblocks)
        n_conv_l.append(n_conv)

    e_layer = [sum(parts[k][i] for k in names) for i in rng]
    t_layer = [sum(lat[k][i] for k in lnames) for i in rng]
    latency = max(t_layer) if chip.execution == "pipelined" else sum(t_layer)
    e_dyn = sum(e_layer)
    periph_mm2 = (area_um2 - (0.0 if not dev.nonvolatile else a_array)) * 1e-6
    p_leak = cal["leak_w_per_mm2"] * periph_mm2
    e_leak = p_leak * latency
    e_tot = e_dyn + e_leak
    ops = net.ops(chip.ops_convention)
    mapped = sum(mat[i] * speed[i] * tdup[i] for i in rng)
    area_mm2 = area_um2 * 1e-6

    def a1(x: float) -> np.ndarray:
        return np.array([x], dtype=float)

    def a2(x: list) -> np.ndarray:
        return np.array([x], dtype=float)

    return dict(
        feasible=np.array([True]),
        area_mm2=a1(area_mm2), latency_s=a1(latency), dynamic_energy_j=a1(e_dyn), leakage_energy_j=a1(e_leak),
        energy_j=a1(e_tot), leakage_power_w=a1(p_leak), ops=a1(ops),
        tops=a1(ops / latency / 1e12), tops_per_w=a1(ops / (e_tot * chip.post_layout_energy_factor) / 1e12),
        tops_per_mm2=a1(ops / latency / 1e12 / area_mm2), edp_js=a1(e_tot * latency),
        utilization=a1(mapped / (n_sub * R * C)), tiles=a1(total_tiles), subarrays=a1(n_sub), adcs=a1(n_adc),
        pes=a1(n_tiles_cm * pes_cm_tile + n_tiles_nm * num_pe_nm),
        area_arrays_mm2=a1(a_array * 1e-6), area_adc_mm2=a1(a_adc * 1e-6), area_accumulation_mm2=a1(a_acc * 1e-6),
        area_buffer_mm2=a1(a_buf * 1e-6), area_interconnect_mm2=a1(a_ic * 1e-6), area_other_mm2=a1(a_periph * 1e-6),
        layer_latency_s=a2(t_layer), layer_energy_j=a2(e_layer), layer_tiles=a2(tiles),
        layer_speedup=a2([s * d for s, d in zip(speed, tdup)]), layer_nm=np.array([nm]), layer_cpw=a2(cpw),
        layer_rows=a2(rows), layer_cols=a2(cols),
        layer_subarrays=a2([rb * cb for rb, cb in zip(rowblocks_l, colblocks_l)]), layer_conversions=a2(n_conv_l),
        layer_parts={k: a2(v) for k, v in parts.items()}, layer_lat_parts={k: a2(v) for k, v in lat.items()},
        floorplan=dict(pe_nm=a1(pe_nm), num_pe_nm=a1(num_pe_nm), tile_cm_rows=a1(t_r), tile_cm_cols=a1(t_c),
                       pe_cm_rows=a1(pe_r), pe_cm_cols=a1(pe_c), bus_width_bits=a1(bus),
                       global_buffer_bits=a1(buf_bits), tiles_cm=a1(n_tiles_cm), tiles_nm=a1(n_tiles_nm)),
    )
