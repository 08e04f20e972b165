"""Chip model II: DNN+NeuroSim V1.4 validation, partial-parallel reads, pipeline duplication, node scaling."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from lightning_imc.devices import Device, get_device
from lightning_imc.hardware import ChipConfig, Layer, Network, evaluate, evaluate_batch, random_rls_network
from lightning_imc.hardware import components as comp

#: DNN+NeuroSim V1.4 manual, Table VII (VGG-8, 1 bit/cell, 128×128, 8-bit W/A, 4-bit ADC, XY bus).
V14_RRAM_22NM_32ROWS = {"area_mm2": 381.90, "tops": 6.25, "tops_per_w": 11.25}
V14_TOL = 0.35


def rel(a: float, b: float) -> float:
    return (a - b) / b


@pytest.fixture(scope="module")
def v14():
    return evaluate(Network.vgg8(), "rram_v14", ChipConfig.neurosim_v14())


# ------------------------------------------------------------------------------------------ V1.4 point
@pytest.mark.parametrize("key", ["area_mm2", "tops", "tops_per_w"])
def test_neurosim_v14_rram_22nm_within_35_percent(v14, key):
    assert abs(rel(getattr(v14, key), V14_RRAM_22NM_32ROWS[key])) <= V14_TOL


def test_neurosim_v14_pipeline_copies_follow_chip_cpp(v14):
    # IFM 32 → 8 over the convs: the degree 8 is bounded to 32/8 = 4, bound IFM = 8, copies ⌈(IFM/8)²⌉
    net = Network.vgg8()
    base = evaluate(net, "rram_v14", ChipConfig.neurosim_v14(speedup_degree=1))
    copies = [a.tiles // b.tiles for a, b in zip(v14.layers, base.layers)]
    assert copies == [16, 16, 4, 4, 1, 1, 1, 1]
    # a degree above the bound changes nothing
    more = evaluate(net, "rram_v14", ChipConfig.neurosim_v14(speedup_degree=64))
    assert more.tiles_per_layer == v14.tiles_per_layer


def test_v14_rram_larger_than_sram_as_published():
    # Table VII at 22 nm: RRAM 381.90 mm² vs SRAM 85.97 mm² (level shifters for the 2 V writes)
    rram = evaluate(Network.vgg8(), "rram_v14", ChipConfig.neurosim_v14())
    sram = evaluate(Network.vgg8(), "sram", ChipConfig.neurosim_v14())
    assert rram.area_mm2 > sram.area_mm2
    assert rram.area_breakdown_mm2["other"] > 3 * sram.area_breakdown_mm2["other"]


def test_level_shifters_only_for_high_write_voltage():
    net, chip = Network.vgg8(), ChipConfig.neurosim_v14()
    rram = get_device("rram_v14")
    low = dataclasses.replace(rram, name="rram_low_write", write_voltage_v=1.2)
    a_hi = evaluate(net, rram, chip).area_breakdown_mm2["other"]
    a_lo = evaluate(net, low, chip).area_breakdown_mm2["other"]
    r = evaluate(net, rram, chip)
    # hand count: (2R + C) level shifters per sub-array × 16,000 F² × (40 nm)²
    expected = r.subarrays * (2 * 128 + 128) * comp.CAL["level_shifter_a_f2"] * 0.040 ** 2 * 1e-6
    assert a_hi - a_lo == pytest.approx(expected, rel=1e-9)
    assert get_device("fefet").needs_level_shifter and not get_device("sram").needs_level_shifter
    with pytest.raises(ValueError, match="write_voltage_v"):
        dataclasses.replace(rram, write_voltage_v=-1.0)


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
    assert np.all(np.diff(b.tops) > 0) and np.all(np.diff(b.tops_per_w) > 0)
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


def test_component_area_scaling_over_nodes():
    """CMOS components scale as node²; cells and level shifters as the metal width²; wires as
    pitch × floorplan length. Checked over 180 → 7 nm."""
    net = random_rls_network(5)
    b = evaluate_batch(net, "rram_nacim", [ChipConfig.nacim(node_nm=n) for n in NODES])
    reps = [b.report(i) for i in range(len(NODES))]
    node = np.array(NODES, dtype=float)
    metal = comp.metal_width_nm(node)
    for key in ("adc", "accumulation", "buffer"):
        a = np.array([r.area_breakdown_mm2[key] for r in reps])
        assert np.allclose(a / node ** 2, a[0] / node[0] ** 2, rtol=1e-9), key
    arrays = np.array([r.area_breakdown_mm2["arrays"] for r in reps])
    assert np.allclose(arrays / metal ** 2, arrays[0] / metal[0] ** 2, rtol=1e-9)
    total = np.array([r.area_mm2 for r in reps])
    # the whole chip: between node² and metal width² scaling (interconnect: pitch × length, once)
    k_node = np.log(total[0] / total[-1]) / np.log(node[0] / node[-1])
    assert 1.6 <= k_node <= 2.1
    ic = np.array([r.area_breakdown_mm2["interconnect"] for r in reps])
    k_ic = np.log(ic[0] / ic[-1]) / np.log(node[0] / node[-1])
    assert 1.5 <= k_ic <= 2.1  # was 3 (node³) before: length × node² factor


def test_five_nm_accepted_and_energy_falls_with_node():
    net = random_rls_network(1)
    b = evaluate_batch(net, "rram_nacim", [ChipConfig.nacim(node_nm=n) for n in (65, 22, 7, 5)])
    assert np.all(np.diff(b.area_mm2) < 0) and np.all(np.diff(b.dynamic_energy_j) < 0)


def test_sram_cell_grows_in_f2_below_14nm():
    assert float(comp.sram_cell_f2(22)) == pytest.approx(280.0)
    assert float(comp.sram_cell_f2(7)) == pytest.approx(16 * 34.43)
    assert float(comp.sram_cell_f2(5)) == pytest.approx(19.2 * 43.75)
    assert float(comp.metal_width_nm(22)) == pytest.approx(40.0) and float(comp.node_vdd_v(7)) == pytest.approx(0.7)


def test_array_read_energy_follows_conductance_and_voltage():
    net = random_rls_network(2)
    dev = get_device("rram_nacim")
    lo = dataclasses.replace(dev, name="rram_lo_g", r_on_ohm=dev.r_on_ohm * 4)
    chip = ChipConfig.nacim()
    e = evaluate(net, dev, chip).energy_breakdown_j["adc"]
    e_lo = evaluate(net, lo, chip).energy_breakdown_j["adc"]
    assert e_lo < e  # lower conductance, lower sense current
    e_v = evaluate(net, dev, chip.replace(v_mem=0.25)).energy_breakdown_j["adc"]
    assert e_v < e
    assert isinstance(lo, Device)


def test_derived_clock_and_node_supply():
    net = random_rls_network(4)  # input bits ≤ 10: shift-and-add width ≤ 4 + 10 bits
    chips = [ChipConfig.nacim(node_nm=n, clock_hz=None, v_chip=None) for n in (180, 130, 65, 22, 7)]
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
