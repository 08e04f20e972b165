"""Chip models II and III: DNN+NeuroSim V1.4 validation, partial-parallel reads, pipeline duplication, node scaling."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from lightning_imc.devices import Device, get_device
from lightning_imc.hardware import ChipConfig, Layer, Network, evaluate, evaluate_batch, random_rls_network
from lightning_imc.hardware import components as comp

#: DNN+NeuroSim V1.4 manual, Table VII (VGG-8, 1 bit/cell, 128×128, 8-bit W/A, 4-bit ADC, XY bus):
#: (device, node nm, rows in parallel) → area (mm²), TOPS, TOPS/W.
V14_TABLE_VII = {
    ("rram_v14", 22, 32): {"area_mm2": 381.90, "tops": 6.25, "tops_per_w": 11.25},
    ("rram_v14", 22, 64): {"area_mm2": 378.06, "tops": 8.16, "tops_per_w": 19.88},
    ("sram", 22, 32): {"area_mm2": 85.97, "tops": 6.06, "tops_per_w": 8.76},
    ("sram", 22, 64): {"area_mm2": 84.39, "tops": 8.01, "tops_per_w": 17.13},
    ("sram", 5, 32): {"area_mm2": 14.64, "tops": 11.48, "tops_per_w": 32.43},
    ("sram", 5, 64): {"area_mm2": 14.33, "tops": 11.96, "tops_per_w": 54.41},
}
#: The figures chip model III holds within ±35 % (docs/hardware.md gives the measured cause of the two
#: others: TOPS at 5 nm, −36 % and −41 %).
V14_OUTSIDE = {(("sram", 5, 32), "tops"), (("sram", 5, 64), "tops")}
V14_WITHIN = [(config, key) for config in V14_TABLE_VII for key in ("area_mm2", "tops", "tops_per_w")
              if (config, key) not in V14_OUTSIDE]
V14_TOL = 0.35


def rel(a: float, b: float) -> float:
    return (a - b) / b


def v14_chip(node: int = 22, rows: int = 32, **changes) -> ChipConfig:
    return ChipConfig.neurosim_v14(node_nm=node, rows_in_parallel=rows, **changes)


@pytest.fixture(scope="module")
def v14():
    return evaluate(Network.vgg8(), "rram_v14", ChipConfig.neurosim_v14())


# ------------------------------------------------------------------------------------------ V1.4 points
@pytest.mark.parametrize("config,key", V14_WITHIN, ids=[f"{d}-{n}nm-{p}rows-{k}" for (d, n, p), k in V14_WITHIN])
def test_neurosim_v14_table_vii_within_35_percent(config, key):
    device, node, rows = config
    report = evaluate(Network.vgg8(), device, v14_chip(node, rows))
    assert abs(rel(getattr(report, key), V14_TABLE_VII[config][key])) <= V14_TOL
    assert len(V14_WITHIN) == 16


def test_v14_floorplan_is_the_one_v14_builds(v14):
    """V1.4's Chip.cpp divides a layer's pipeline copies by the duplication inside its tiles: VGG-8 gets
    103 tiles, 9,472 sub-arrays, 151,552 ADCs and speed-ups [16, 16, 4, 4, 2, 1, 1, 8] (V1.4 built from
    its source); chip model II multiplied the copies on top (161 tiles, 16,704 sub-arrays)."""
    assert v14.tiles_per_layer == [2, 8, 4, 8, 8, 8, 64, 1]
    assert [layer.speedup for layer in v14.layers] == [16, 16, 4, 4, 2, 1, 1, 8]
    assert (v14.tiles, v14.subarrays, v14.adcs) == (103, 9472, 151552)
    old = evaluate(Network.vgg8(), "rram_v14", ChipConfig.neurosim_v14(chip_model="II"))
    assert (old.tiles, old.subarrays) == (161, 16704)


def test_pipeline_copies_bound_by_the_ifm_ratio(v14):
    # IFM 32 → 8 over the convs: the degree 8 is bounded to 32/8 = 4, bound IFM = 8, ⌈(IFM/8)²⌉ copies
    # = [16, 16, 4, 4, 1, 1, 1, 1] before the in-tile duplication is taken off; a higher degree changes nothing
    more = evaluate(Network.vgg8(), "rram_v14", ChipConfig.neurosim_v14(speedup_degree=64))
    assert more.tiles_per_layer == v14.tiles_per_layer
    old = [evaluate(Network.vgg8(), "rram_v14", ChipConfig.neurosim_v14(chip_model="II", speedup_degree=d)) for d in (1, 8)]
    assert [a.tiles // b.tiles for a, b in zip(old[1].layers, old[0].layers)] == [16, 16, 4, 4, 1, 1, 1, 1]


def test_chip_model_ii_is_unchanged_for_older_histories():
    """Histories written before chip model III resume with model II: its figures must not move."""
    old = evaluate(Network.vgg8(), "rram_v14", ChipConfig.neurosim_v14(chip_model="II"))
    assert old.area_mm2 == pytest.approx(319.95791992098566, rel=1e-12)
    assert old.tops == pytest.approx(6.757765758131403, rel=1e-12)
    assert old.tops_per_w == pytest.approx(8.03471720246615, rel=1e-12)
    assert ChipConfig.neurosim_v14(chip_model="II").cell_feature_used == "metal"
    assert ChipConfig.neurosim_v14().cell_feature_used == "node" and ChipConfig.neurosim_vgg8().chip_model == "II"
    with pytest.raises(ValueError, match="chip_model"):
        ChipConfig(chip_model="IV")


def test_cells_are_drawn_on_the_node(v14):
    # V1.4 SubArray.cpp:147-175: SRAM and 1T1R arrays on F = node (22 nm), not the 40 nm metal width
    sram = evaluate(Network.vgg8(), "sram", ChipConfig.neurosim_v14())
    cells = 9472 * 128 * 128
    assert sram.area_breakdown_mm2["arrays"] == pytest.approx(cells * 280 * 0.022 ** 2 * 1e-6, rel=1e-9)
    assert v14.area_breakdown_mm2["arrays"] == pytest.approx(cells * get_device("rram_v14").cell_area_f2 * 0.022 ** 2 * 1e-6,
                                                            rel=1e-9)


def test_v14_multilevel_sense_amplifier_area_hand_computed():
    """Sense amplifiers (1,915 F² per level), dummy reference columns ((L−1)/L of a 128-cell column, height on
    the 40 nm metal width, width on the node for SRAM), encoder (222 F) and SRAM precharger (84 F) strips
    under 8 columns √(cell F²)·F wide; 4 bits, 22 nm."""
    f, w, levels = 0.022, 0.040, 15
    csa = 1915 * levels * f ** 2
    sram = csa + 128 * 280 * w * f * levels / 16 + (222 + 84) * f * 8 * math.sqrt(280) * f
    rram = csa + 128 * 48 * w * w * levels / 16 + 222 * f * 8 * math.sqrt(48) * f
    assert float(comp.mlsa_area_v14_um2(4, 22, 128, 280, 40, True, 8)) == pytest.approx(sram, rel=1e-12)
    assert float(comp.mlsa_area_v14_um2(4, 22, 128, 48, 40, False, 8)) == pytest.approx(rram, rel=1e-12)
    # V1.4's own (its layout, non-square cells): 76.6 µm² (SRAM) and 33.4 µm² (1T1R) per 4-bit ADC
    assert abs(rel(sram, 76.6)) < 0.2 and abs(rel(rram, 33.4)) < 0.15
    bits = np.arange(1, 9)
    assert np.all(np.diff(comp.mlsa_area_v14_um2(bits, 22, 128, 280, 40, True, 8)) > 0)
    assert np.all(np.diff(comp.mlsa_area_v14_um2(4, 22, np.array([32, 64, 128, 256]), 280, 40, True, 8)) > 0)


def test_v14_rram_larger_than_sram_as_published():
    # Table VII at 22 nm: RRAM 381.90 mm² vs SRAM 85.97 mm² (4.4×): the level shifters of the 2 V writes,
    # laid beside a short 1T1R array, make V1.4's RRAM sub-array a mostly empty bounding box
    for rows in (32, 64):
        rram = evaluate(Network.vgg8(), "rram_v14", v14_chip(rows=rows))
        sram = evaluate(Network.vgg8(), "sram", v14_chip(rows=rows))
        ratio = rram.area_mm2 / sram.area_mm2
        published = V14_TABLE_VII[("rram_v14", 22, rows)]["area_mm2"] / V14_TABLE_VII[("sram", 22, rows)]["area_mm2"]
        assert abs(rel(ratio, published)) <= V14_TOL


def test_v14_rram_more_efficient_than_sram_as_published():
    # Table VII at 22 nm: RRAM 11.25 / 19.88 TOPS/W against SRAM 8.76 / 17.13 (32 / 64 rows): V1.4's SRAM
    # sense amplifier charges its dummy columns' word lines at every conversion and reads through 86 kΩ
    # access transistors
    for rows in (32, 64):
        rram = evaluate(Network.vgg8(), "rram_v14", v14_chip(rows=rows))
        sram = evaluate(Network.vgg8(), "sram", v14_chip(rows=rows))
        assert rram.tops_per_w > sram.tops_per_w
        assert rram.energy_breakdown_j["adc"] < sram.energy_breakdown_j["adc"]


def test_level_shifters_only_for_high_write_voltage():
    from lightning_imc.hardware import model

    net, chip = Network.vgg8(), ChipConfig.neurosim_v14()
    rram = get_device("rram_v14")
    low = dataclasses.replace(rram, name="rram_low_write", write_voltage_v=1.2)
    counts = model.core(model.pack([net], [rram], [chip]), counts=True)["counts"]
    # hand count: (2R + C) level shifters per sub-array × 20,700 F² × (22 nm)² (V1.4 LevelShifter.cpp)
    assert float(counts["a_ls"][0]) == pytest.approx(9472 * (2 * 128 + 128) * 20700 * 0.022 ** 2, rel=1e-9)
    assert float(model.core(model.pack([net], [low], [chip]), counts=True)["counts"]["a_ls"][0]) == 0.0
    assert evaluate(net, low, chip).area_mm2 < evaluate(net, rram, chip).area_mm2 / 2
    old = ChipConfig.neurosim_v14(chip_model="II")
    counts = model.core(model.pack([net], [rram], [old]), counts=True)["counts"]
    assert float(counts["a_ls"][0]) == pytest.approx(16704 * (2 * 128 + 128) * comp.CAL["level_shifter_a_f2"] * 0.040 ** 2,
                                                     rel=1e-9)
    assert get_device("fefet").needs_level_shifter and not get_device("sram").needs_level_shifter
    with pytest.raises(ValueError, match="write_voltage_v"):
        dataclasses.replace(rram, write_voltage_v=-1.0)


def test_bounding_box_adds_the_empty_corner_of_the_sub_array():
    """Chip model III: sub-array = (W_a + A_side/H_a)(H_a + A_strip/W_a); the box exceeds the summed
    areas by A_side·A_strip/A_cells, which vanishes as the array grows against its periphery."""
    net = Network.vgg8()
    small = evaluate(net, "rram_v14", v14_chip())
    # the empty corner of V1.4's RRAM sub-array: 79 % of its 32,752 µm² (V1.4 built from its source)
    per_sub = small.area_mm2 * 1e6 / small.subarrays
    assert 0.65 * 32752 <= per_sub <= 1.35 * 32752
    # SRAM (no level shifters, a 3.3× wider array): the box is mostly used
    sram = evaluate(net, "sram", ChipConfig.neurosim_v14())
    assert sram.area_breakdown_mm2["other"] < 0.4 * sram.area_mm2 < small.area_breakdown_mm2["other"]


# ------------------------------------------------------------------------------------------ partial-parallel read
def test_rows_in_parallel_hand_computed_conversions():
    # 100 rows on one 128-row sub-array read 32 at a time: ⌈100/32⌉ = 4 groups, 4× the conversions
    net = Network((Layer("linear", 1, 1, 100, 10, weight_bits=4, input_bits=6),))
    full = evaluate(net, "rram_nacim", ChipConfig.nacim())
    part = evaluate(net, "rram_nacim", ChipConfig.nacim(rows_in_parallel=32))
    assert part.layers[0].row_groups == 4 and full.layers[0].row_groups == 1
    assert part.layers[0].adc_conversions == 4 * full.layers[0].adc_conversions == 4 * 6 * 10
    assert part.energy_breakdown_j["adc"] > full.energy_breakdown_j["adc"]
    assert part.latency_s > full.latency_s


@pytest.mark.parametrize("device", ["rram_v14", "sram"])
def test_tops_and_tops_per_w_rise_with_rows_in_parallel(device):
    chips = [ChipConfig.neurosim_v14(rows_in_parallel=p) for p in (8, 16, 32, 64, 128)]
    b = evaluate_batch(Network.vgg8(), device, chips)
    # TOPS rises until the global buffer, not the arrays, sets VGG-8's slowest pipeline stage (from 32 rows
    # under chip model III; V1.4 still gains 1.31× from 32 to 64 rows: docs/hardware.md)
    assert np.all(np.diff(b.tops) >= 0) and b.tops[2] > b.tops[0] and np.all(np.diff(b.tops_per_w) > 0)
    for seed in range(5):
        net = random_rls_network(seed)
        b = evaluate_batch(net, "rram_nacim", [ChipConfig.nacim(rows_in_parallel=p) for p in (4, 16, 64, 128)])
        assert np.all(np.diff(b.tops) >= 0) and np.all(np.diff(b.tops_per_w) >= 0)


# ------------------------------------------------------------------------------------------ duplication
@pytest.mark.parametrize("execution", ["layer_by_layer", "pipelined"])
def test_more_tiles_never_lower_tops(execution):
    for seed in range(6):
        net = random_rls_network(seed)
        need = evaluate(net, "rram_nacim", ChipConfig.nacim(execution=execution)).tiles
        chips = [ChipConfig.nacim(execution=execution, max_tiles=need + k) for k in range(0, 4 * need + 1, max(1, need // 4))]
        b = evaluate_batch(net, "rram_nacim", chips)
        assert np.all(np.diff(b.tops) >= -1e-12 * b.tops[:-1])
        assert b.tops[-1] > b.tops[0]
    vgg = Network.vgg8()
    b = evaluate_batch(vgg, "rram_vgg8", [ChipConfig.neurosim_vgg8(max_tiles=t) for t in range(47, 200, 7)])
    assert np.all(np.diff(b.tops) >= 0) and b.tops[-1] > b.tops[0]


def test_more_pipeline_copies_never_lower_tops():
    for net in [Network.vgg8()] + [random_rls_network(s) for s in range(4)]:
        chips = [ChipConfig.neurosim_v14(speedup_degree=d) for d in (1, 2, 4, 8)]
        b = evaluate_batch(net, "rram_v14", chips)
        assert np.all(np.diff(b.tops) >= 0)


def test_copies_do_not_multiply_buffer_energy():
    net = random_rls_network(3)
    base = evaluate(net, "rram_nacim", ChipConfig.nacim())
    dup = evaluate(net, "rram_nacim", ChipConfig.nacim(max_tiles=base.tiles * 3))
    assert dup.tiles > base.tiles
    assert dup.energy_breakdown_j["buffer"] == pytest.approx(base.energy_breakdown_j["buffer"], rel=1e-12)


# ------------------------------------------------------------------------------------------ node scaling
NODES = (180, 130, 90, 65, 45, 32, 22, 14, 10, 7)


@pytest.mark.parametrize("chip_model", ["II", "III"])
def test_component_area_scaling_over_nodes(chip_model):
    """CMOS components scale as node²; cells as node² (III, V1.4) or the metal width² (II); the III
    sense amplifiers' dummy reference columns between the two; wires as pitch × floorplan length.
    Checked over 180 → 7 nm."""
    net = random_rls_network(5)
    b = evaluate_batch(net, "rram_nacim", [ChipConfig.nacim(node_nm=n, chip_model=chip_model) for n in NODES])
    reps = [b.report(i) for i in range(len(NODES))]
    node = np.array(NODES, dtype=float)
    metal = comp.metal_width_nm(node)
    logic = node if chip_model == "II" else comp.logic_feature_nm(node)  # III: V1.4's gate areas below 22 nm
    for key in ("adc", "accumulation", "buffer") if chip_model == "II" else ("accumulation", "buffer"):
        a = np.array([r.area_breakdown_mm2[key] for r in reps])
        assert np.allclose(a / logic ** 2, a[0] / logic[0] ** 2, rtol=1e-9), key
    arrays = np.array([r.area_breakdown_mm2["arrays"] for r in reps])
    cell_f = metal if chip_model == "II" else node
    assert np.allclose(arrays / cell_f ** 2, arrays[0] / cell_f[0] ** 2, rtol=1e-9)
    if chip_model == "III":  # sense amplifiers and strips on the node, dummy columns' height on the metal width
        adc = np.array([r.area_breakdown_mm2["adc"] for r in reps])
        assert np.all(np.diff(adc) < 0)
        k_adc = np.log(adc[0] / adc[-1]) / np.log(node[0] / node[-1])
        k_metal = np.log(metal[0] / metal[-1]) / np.log(node[0] / node[-1])
        assert k_metal < k_adc < 2.0
    total = np.array([r.area_mm2 for r in reps])
    # the whole chip: between node² and metal width² scaling (interconnect: pitch × length, once) down to
    # 22 nm; below, model III's logic shrinks as V1.4's FinFET gates do, slower than node²
    at22 = NODES.index(22)
    k_node = np.log(total[0] / total[at22]) / np.log(node[0] / node[at22])
    assert 1.6 <= k_node <= 2.1
    k_below = np.log(total[at22] / total[-1]) / np.log(node[at22] / node[-1])
    assert (k_below < k_node - 0.3) if chip_model == "III" else (1.3 <= k_below <= 2.1)
    ic = np.array([r.area_breakdown_mm2["interconnect"] for r in reps])
    k_ic = np.log(ic[0] / ic[-1]) / np.log(node[0] / node[-1])
    assert 1.4 <= k_ic <= 2.1  # was 3 (node³) before: length × node² factor


def test_logic_feature_follows_v14_gate_areas_below_22nm():
    nodes = np.arange(5, 181)
    logic = comp.logic_feature_nm(nodes)
    assert np.all(np.diff(logic) > 0)
    assert np.array_equal(logic[nodes >= 22], nodes[nodes >= 22].astype(float))
    # V1.4's smallest inverter relative to 22 nm: 0.178 at 5 nm, 0.872 at 14 nm (FinFET cells)
    assert float(comp.logic_feature_nm(5)) == pytest.approx(22 * math.sqrt(0.178))
    assert float(comp.logic_feature_nm(14)) == pytest.approx(22 * math.sqrt(0.872))
    assert np.all(logic >= nodes)


def test_five_nm_accepted_and_energy_falls_with_node():
    net = random_rls_network(1)
    b = evaluate_batch(net, "rram_nacim", [ChipConfig.nacim(node_nm=n) for n in (65, 22, 7, 5)])
    assert np.all(np.diff(b.area_mm2) < 0) and np.all(np.diff(b.dynamic_energy_j) < 0)


def test_sram_cell_grows_in_f2_below_14nm():
    assert float(comp.sram_cell_f2(22)) == pytest.approx(280.0)
    assert float(comp.sram_cell_f2(7)) == pytest.approx(16 * 34.43)
    assert float(comp.sram_cell_f2(5)) == pytest.approx(19.2 * 43.75)
    assert float(comp.metal_width_nm(22)) == pytest.approx(40.0) and float(comp.node_vdd_v(7)) == pytest.approx(0.7)


@pytest.mark.parametrize("chip_model", ["II", "III"])
def test_array_read_energy_follows_conductance_and_voltage(chip_model):
    net = random_rls_network(2)
    dev = get_device("rram_nacim")
    lo = dataclasses.replace(dev, name="rram_lo_g", r_on_ohm=dev.r_on_ohm * 4)
    chip = ChipConfig.nacim(chip_model=chip_model)
    e = evaluate(net, dev, chip).energy_breakdown_j["adc"]
    e_lo = evaluate(net, lo, chip).energy_breakdown_j["adc"]
    assert e_lo < e  # lower conductance, lower sense current (III: lower static power of the sense amplifier)
    e_v = evaluate(net, dev, chip.replace(v_mem=0.25)).energy_breakdown_j["adc"]
    if chip_model == "II":
        assert e_v < e
    else:  # V1.4's sense amplifier reads at its node's own voltage (0.55 V at 22 nm): v_mem does not enter
        assert e_v == pytest.approx(e, rel=1e-12)
    assert isinstance(lo, Device)


def test_derived_clock_follows_v14_sensing_cycle_under_chip_model_iii():
    from lightning_imc.hardware import mlsa_v14

    net = random_rls_network(4)
    nodes = (180, 130, 90, 65, 45, 32, 22, 14, 10, 7, 5)
    reps = [evaluate(net, "sram", ChipConfig.nacim(node_nm=n, clock_hz=None)) for n in nodes]
    periods = np.array([r.clock_period_s for r in reps])
    assert np.all(np.diff(periods) < 0)  # V1.4's sensing cycle shortens with every node
    c_col = mlsa_v14.column_capacitance_f(22, 128, None, True)
    expected = mlsa_v14.sensing_cycle_s(22, 4, mlsa_v14.sram_access_resistance_ohm(22), 128, c_col, True)
    assert reps[nodes.index(22)].clock_period_s == pytest.approx(float(expected), rel=1e-12)
    # 22 → 5 nm: ×1.55 at 32 rows in parallel, ×1.34 at 64 (V1.4), less with all 128 rows at once
    assert 1.15 < reps[nodes.index(22)].clock_period_s / reps[nodes.index(5)].clock_period_s < 2.0
    tops = [r.tops for r in reps]
    assert np.all(np.diff(tops) > 0)


def test_derived_clock_and_node_supply():
    net = random_rls_network(4)  # input bits ≤ 10: shift-and-add width ≤ 4 + 10 bits
    chips = [ChipConfig.nacim(node_nm=n, clock_hz=None, v_chip=None, chip_model="II") for n in (180, 130, 65, 22, 7)]
    reps = [evaluate(net, "rram_nacim", c) for c in chips]
    periods = [r.clock_period_s for r in reps]
    w = 4 + max(l.input_bits for l in net.layers)
    # sensing-limited (1.4 × 1 ns) at small nodes, adder-limited (2·w FO4, FO4 = 0.5 ps/nm) at large
    assert periods[-1] == pytest.approx(1.4e-9) and periods[-2] == pytest.approx(1.4e-9)
    assert periods[0] == pytest.approx(max(1.4e-9, 2 * w * 0.5e-12 * 180))
    assert np.all(np.diff(periods) <= 0)
    tops = [r.tops for r in reps]
    assert np.all(np.diff(tops) >= 0) and tops[-1] > tops[0]
    # the node's supply: 22 nm runs at 0.85 V, so its dynamic energy is (0.85/1.1)² of the 1.1 V chip
    a = evaluate(net, "rram_nacim", ChipConfig.nacim(node_nm=22, v_chip=None))
    b = evaluate(net, "rram_nacim", ChipConfig.nacim(node_nm=22, v_chip=1.1))
    assert a.energy_breakdown_j["accumulation"] == pytest.approx(b.energy_breakdown_j["accumulation"] * (0.85 / 1.1) ** 2)
    assert np.isnan(ChipConfig(clock_hz=None).clock_period_s)


def test_first_spare_copy_goes_to_the_slowest_layer_pipelined():
    # the allocator ranks layers by their whole latency (compute, adder trees, tile buffers, global
    # buffer), not by compute alone: in pipelined mode the first copy goes to the slowest layer
    for seed in range(8):
        net = random_rls_network(seed)
        chip = ChipConfig.nacim(execution="pipelined")
        base = evaluate(net, "rram_nacim", chip)
        slow = int(np.argmax([l.latency_s for l in base.layers]))
        if base.layers[slow].speedup >= net.layers[slow].out_h * net.layers[slow].out_w:
            continue  # already one copy per position
        one = evaluate(net, "rram_nacim", chip.replace(max_tiles=base.tiles + base.layers[slow].tiles))
        assert one.layers[slow].tiles == 2 * base.layers[slow].tiles
        assert one.latency_s < base.latency_s
