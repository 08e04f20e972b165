"""Tests of the analytical hardware model (lightning_imc.hardware)."""

from __future__ import annotations

import itertools
import math
import subprocess
import sys

import numpy as np
import pytest

from lightning_imc.devices import get_device
from lightning_imc.hardware import (ChipConfig, Layer, Network, evaluate, evaluate_batch, optimize_circuit,
                                    random_rls_network)
from lightning_imc.hardware import components as comp
from lightning_imc.hardware.calibration import NEUROSIM_VGG8 as REF
from lightning_imc.hardware.calibration import calibrate_neurosim_vgg8


def rel(a: float, b: float) -> float:
    return (a - b) / b


@pytest.fixture(scope="module")
def vgg8():
    return evaluate(Network.vgg8(), "rram_vgg8", ChipConfig.neurosim_vgg8())


# ------------------------------------------------------------------------------------------ import
def test_import_does_not_import_torch():
    code = "import sys, lightning_imc.hardware as h; h.evaluate(h.Network.vgg8(), 'rram_vgg8', h.ChipConfig.nacim()); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ------------------------------------------------------------------------------------------ mapping
def test_hand_computed_mapping_manual_floorplan():
    # 3×3 conv, 32 → 64 channels, 8-bit weights on 2-bit cells: 4 cells per weight,
    # rows = 9·32 = 288, cols = 64·4 = 256 → 3 × 2 = 6 sub-arrays of 128×128.
    # PE = 2×2 sub-arrays (256×256), tile = 2×2 PEs (512×512) → 1 tile of 16 sub-arrays.
    # PE duplication: rows need 2 PEs of 2 → ×1; cols need 1 PE of 2 → ×2; sub-array dup ×1.
    net = Network((Layer("conv", 16, 16, 32, 64, 3, 3, 1, 1, 1, 8, 8),))
    chip = ChipConfig.nacim(subarrays_per_pe=4, pes_per_tile=4)
    r = evaluate(net, "rram_neurosim", chip)
    layer = r.layers[0]
    assert (layer.cells_per_weight, layer.rows, layer.cols) == (4, 288, 256)
    assert layer.subarrays == 6
    assert layer.tiles == 1 and r.tiles == 1 and r.pes == 4 and r.subarrays == 16
    assert layer.speedup == 2
    assert r.adcs == 16 * 128 // 8
    # conversions: 16×16 positions × 8 input bits × 3 row blocks × 256 columns
    assert layer.adc_conversions == 16 * 16 * 8 * 3 * 256
    assert r.utilization == pytest.approx(2 * 288 * 256 / (16 * 128 * 128))


@pytest.mark.parametrize("chip_model", ["II", "III"])
def test_hand_computed_latency_compute_part(chip_model):
    # one sub-array, one tile: compute = input bits × (cols_per_adc sensing steps of one ADC cycle, each
    # + the calibrated per-step overhead of the sub-array read under chip model II, none under III as in
    # V1.4's SubArray.cpp, + cols_per_adc input shift-and-adds), 1 ns cycles
    net = Network((Layer("linear", 1, 1, 100, 10, weight_bits=4, input_bits=6),))
    chip = ChipConfig.nacim(subarrays_per_pe=1, pes_per_tile=1, cols_per_adc=8, chip_model=chip_model)
    r = evaluate(net, "rram_nacim", chip)  # 4-bit cells: 1 cell per weight, 100×10 → 1 sub-array
    assert r.subarrays == 1 and r.layers[0].speedup == 1
    k_step = comp.CAL["step_overhead_cycles"] if chip_model == "II" else 0.0
    assert r.latency_breakdown_s["compute"] == pytest.approx(6 * (8 * (1 + k_step) + 8) * 1e-9)


def test_vgg8_floorplan_matches_neurosim(vgg8):
    assert vgg8.tiles_per_layer == REF["tiles_per_layer"]
    assert [l.mapping for l in vgg8.layers] == ["conventional"] + ["novel"] * 5 + ["conventional"] * 2
    assert vgg8.subarrays == 13 * 9 * 16 + 34 * 4 * 16  # 13 NM tiles (9 PEs of 4×4), 34 CM tiles
    assert vgg8.pes == 13 * 9 + 34 * 4 and vgg8.adcs == vgg8.subarrays * 16
    assert vgg8.floorplan["pe_nm"] == 512 and vgg8.floorplan["tile_cm_rows"] == 1024


# ------------------------------------------------------------------------------------------ validation
def test_accumulation_split_keeps_neurosim_total(vgg8):
    # ISAAC's shift-and-add units + calibrated adder trees = NeuroSim's accumulation energy and area
    assert vgg8.energy_breakdown_j["accumulation"] == pytest.approx(REF["energy_accumulation_j"], rel=1e-3)
    assert vgg8.area_breakdown_mm2["accumulation"] == pytest.approx(REF["area_accumulation_mm2"], rel=1e-3)
    assert comp.CAL["accum_e_bit_j"] > 0 and comp.CAL["accum_a_bit_um2"] > 0


def test_calibration_constants_are_reproducible():
    new = calibrate_neurosim_vgg8()
    for key, value in new.items():
        assert comp.CAL[key] == pytest.approx(value, rel=2e-3), key


def test_neurosim_op_count_convention():
    net = Network.vgg8()
    assert net.ops("neurosim") == pytest.approx(1.2318e9, rel=1e-3)
    assert net.ops("neurosim") / net.ops("exact") == pytest.approx(1.38, abs=0.01)
    with pytest.raises(ValueError, match="convention"):
        net.ops("macs")


@pytest.mark.parametrize("key,tol", [("area_mm2", 0.25), ("latency_s", 0.25), ("dynamic_energy_j", 0.25),
                                     ("tops_per_w", 0.25), ("tops", 0.25), ("tops_per_mm2", 0.25)])
def test_vgg8_totals_within_25_percent(vgg8, key, tol):
    assert abs(rel(getattr(vgg8, key), REF[key])) <= tol


def test_vgg8_fps(vgg8):
    assert abs(rel(vgg8.fps, REF["fps"])) <= 0.25


def test_vgg8_held_out_array_area_and_leakage(vgg8):
    # not used for calibration: the array area follows from the floorplan and the 4×12 F² cell
    assert abs(rel(vgg8.area_breakdown_mm2["arrays"], REF["area_arrays_mm2"])) <= 0.02
    assert abs(rel(vgg8.leakage_energy_j, REF["leakage_energy_j"])) <= 0.25


def test_vgg8_held_out_layer1(vgg8):
    l1 = vgg8.layers[0]
    assert abs(rel(l1.latency_s, REF["layer1_latency_s"])) <= 0.25
    assert abs(rel(l1.energy_j, REF["layer1_energy_j"])) <= 0.25


@pytest.mark.xfail(strict=True, reason="known deviation (docs/hardware.md): layer 8 (1024×10 FC) is over-estimated, "
                   "latency +96 %, energy +100 %: the calibrated per-step overhead and the global-interconnect energy dominate this one-position layer in our model")
def test_vgg8_held_out_layer8(vgg8):
    l8 = vgg8.layers[7]
    assert abs(rel(l8.latency_s, REF["layer8_latency_s"])) <= 0.25
    assert abs(rel(l8.energy_j, REF["layer8_energy_j"])) <= 0.25


ISAAC_ADC = {4: (0.79, 361), 5: (0.99, 477), 6: (1.20, 627), 7: (1.42, 845), 8: (1.67, 1200),
             9: (1.97, 1828), 10: (2.38, 3002)}


@pytest.mark.parametrize("bits", sorted(ISAAC_ADC))
def test_isaac_adc_survey_model(bits):
    e_pj, a_um2 = ISAAC_ADC[bits]
    e = float(comp.adc_energy_j(bits, 32, "sar", "survey")) * 1e12
    a = float(comp.adc_area_um2(bits, 32, "sar", "survey"))
    assert abs(rel(e, e_pj)) <= 0.15 and abs(rel(a, a_um2)) <= 0.15


def test_isaac_adc_power_at_1p28_gsps():
    # ISAAC: 8-bit ADC at 1.28 GS/s draws 2 mW and occupies 1200 µm²
    p = float(comp.adc_energy_j(8, 32, "sar", "survey")) * 1.28e9
    assert abs(rel(p, 2e-3)) <= 0.15
    assert abs(rel(float(comp.adc_area_um2(8, 32, "sar", "survey")), 1200)) <= 0.15


def test_adc_models_differ_by_10x_at_4_5_bits():
    for b in (4, 5):
        core_neurosim = float(comp.CAL["adc_flash_e_level_j"] * (2 ** b - 1) * 32 / 22)
        survey = float(comp.adc_energy_j(b, 32, "sar", "survey"))
        assert survey / core_neurosim > 10


@pytest.mark.xfail(strict=True, reason="known deviation (docs/hardware.md): ISAAC's 25 µm² for a 128×128 crossbar "
                   "implies 1.5 F² per cell at 32 nm, below the 4 F² of a planar crossbar; we give 67 µm²")
def test_isaac_crossbar_area():
    assert abs(rel(float(comp.crossbar_area_um2(128, 128, 4.0, 32)), 25.0)) <= 0.15


def test_isaac_shift_add():
    # consistency check: the shift-and-add constants come from ISAAC (scaled to 22 nm and back)
    e = float(comp.shift_add_energy_j(16, 32)) * 1.28e9  # W at ISAAC's 1.28 GHz
    a = float(comp.shift_add_area_um2(16, 32))
    assert abs(rel(e, 0.05e-3)) <= 0.15 and abs(rel(a, 60.0)) <= 0.15


# ------------------------------------------------------------------------------------------ properties
@pytest.mark.parametrize("model,kind", [("neurosim", "flash"), ("neurosim", "sar"), ("survey", "sar")])
def test_more_adc_bits_never_lower_adc_energy_or_area(model, kind):
    bits = np.arange(1, 13)
    for node in (14, 22, 32, 65):
        e = comp.adc_energy_j(bits, node, kind, model)
        a = comp.adc_area_um2(bits, node, kind, model)
        assert np.all(np.diff(e) >= 0) and np.all(np.diff(a) >= 0)


def test_more_adc_bits_never_lower_chip_adc_energy_area():
    nets = [random_rls_network(s) for s in range(5)]
    for net in nets:
        b = evaluate_batch(net, "rram_nacim", [ChipConfig.nacim(adc_bits=k) for k in range(1, 9)])
        e = np.array([b.report(i).energy_breakdown_j["adc"] for i in range(len(b))])
        a = np.array([b.report(i).area_breakdown_mm2["adc"] for i in range(len(b))])
        assert np.all(np.diff(e) >= 0) and np.all(np.diff(a) >= 0)


def test_bigger_arrays_never_increase_array_count():
    for seed in range(25):
        net = random_rls_network(seed)
        chips = [ChipConfig.nacim(subarray_rows=s, subarray_cols=s) for s in (32, 64, 128, 256, 512)]
        b = evaluate_batch(net, "rram_nacim", chips)
        per_layer = np.array([[l.subarrays for l in b.report(i).layers] for i in range(len(chips))])
        assert np.all(np.diff(per_layer, axis=0) <= 0)
        # one sub-array per tile (manual floorplan): the chip's array count follows
        man = [c.replace(pes_per_tile=1, subarrays_per_pe=1) for c in chips]
        bm = evaluate_batch(net, "rram_nacim", man)
        assert np.all(np.diff([bm.report(i).subarrays for i in range(5)]) <= 0)


def test_more_weight_bits_never_lower_cell_count():
    for seed in range(25):
        net = random_rls_network(seed)
        prev_cells, prev_subs = -1, -1
        for wb in range(1, 13):
            r = evaluate(net.with_bits(wb, 6), "rram_neurosim", ChipConfig.nacim())
            cells = sum(l.rows * l.cols for l in r.layers)
            assert cells >= prev_cells and r.subarrays >= prev_subs
            prev_cells, prev_subs = cells, r.subarrays


def test_pipelined_latency_not_above_layer_by_layer():
    nets = [random_rls_network(s) for s in range(20)] + [Network.vgg8()]
    lbl = evaluate_batch(nets, "rram_nacim", ChipConfig.nacim())
    pip = evaluate_batch(nets, "rram_nacim", ChipConfig.nacim(execution="pipelined"))
    assert np.all(pip.latency_s <= lbl.latency_s)
    assert np.any(pip.latency_s < lbl.latency_s)


def test_energy_linear_in_inferences():
    for seed in range(5):
        net = random_rls_network(seed)
        r1 = evaluate(net, "rram_nacim", ChipConfig.nacim())
        for n in (2, 7, 100):
            rn = evaluate(net, "rram_nacim", ChipConfig.nacim(), n_inferences=n)
            assert rn.energy_j == pytest.approx(n * r1.energy_j, rel=1e-12)
            assert rn.dynamic_energy_j == pytest.approx(n * r1.dynamic_energy_j, rel=1e-12)
            assert rn.tops_per_w == pytest.approx(r1.tops_per_w, rel=1e-12)


def test_breakdowns_add_up(vgg8):
    assert sum(vgg8.area_breakdown_mm2.values()) == pytest.approx(vgg8.area_mm2, rel=1e-9)
    assert sum(vgg8.energy_breakdown_j.values()) == pytest.approx(vgg8.dynamic_energy_j, rel=1e-9)
    assert sum(l.energy_j for l in vgg8.layers) == pytest.approx(vgg8.dynamic_energy_j, rel=1e-9)
    assert sum(l.latency_s for l in vgg8.layers) == pytest.approx(vgg8.latency_s, rel=1e-9)
    assert vgg8.edp_js == pytest.approx(vgg8.energy_j * vgg8.latency_s)


def test_weight_duplication_uses_left_over_tiles():
    net = random_rls_network(3)
    base = evaluate(net, "rram_nacim", ChipConfig.nacim())
    dup = evaluate(net, "rram_nacim", ChipConfig.nacim(max_tiles=base.tiles * 4))
    nodup = evaluate(net, "rram_nacim", ChipConfig.nacim(max_tiles=base.tiles * 4, duplicate_weights=False))
    assert base.tiles < dup.tiles <= base.tiles * 4
    assert dup.latency_s < base.latency_s
    assert nodup.tiles == base.tiles and nodup.latency_s == pytest.approx(base.latency_s)


def test_batch_equals_single():
    rng = np.random.default_rng(0)
    nets = [random_rls_network(int(s), n_conv=int(k)) for s, k in zip(rng.integers(0, 10_000, 12), rng.integers(1, 7, 12))]
    nets += [Network.vgg8()]  # mixed lengths: 3..9 layers (padding of the batch)
    chips = [ChipConfig.nacim(subarray_rows=int(r), subarray_cols=int(r), adc_bits=int(a), adc_type=t, adc_model=m)
             for r, a, t, m in zip(rng.choice([64, 128, 256], 13), rng.integers(2, 8, 13),
                                   rng.choice(["flash", "sar"], 13), rng.choice(["neurosim", "survey"], 13))]
    b = evaluate_batch(nets, "rram_nacim", chips)
    for i, (n, c) in enumerate(zip(nets, chips)):
        r = evaluate(n, "rram_nacim", c)
        for key in ("area_mm2", "latency_s", "energy_j", "tops_per_w", "edp_js"):
            assert getattr(b, key)[i] == pytest.approx(getattr(r, key), rel=1e-9), key


def _random_chip(rng: np.random.Generator) -> ChipConfig:
    r = int(rng.choice([32, 64, 128, 256]))
    c = int(rng.choice([32, 64, 128, 256]))
    kw = dict(subarray_rows=r, subarray_cols=c, adc_bits=int(rng.integers(1, 10)),
              adc_type=str(rng.choice(["flash", "sar"])), adc_model=str(rng.choice(["neurosim", "survey"])),
              cols_per_adc=int(rng.choice([1, 4, 8, 16])), node_nm=int(rng.choice([14, 22, 32, 65])),
              execution=str(rng.choice(["layer_by_layer", "pipelined"])), novel_mapping=bool(rng.random() < 0.7),
              clock_hz=float(rng.choice([5e8, 1e9])), v_chip=float(rng.choice([0.8, 1.1])))
    if rng.random() < 0.3:
        kw.update(pes_per_tile=int(rng.choice([1, 4, 9])), subarrays_per_pe=int(rng.choice([1, 4, 16])))
    if rng.random() < 0.3:
        kw.update(max_tiles=int(rng.choice([200, 1000, 5000])), duplicate_weights=bool(rng.random() < 0.8))
    if rng.random() < 0.2:
        kw.update(bus_width_bits=int(rng.choice([64, 512])), global_buffer_kb=float(rng.choice([64.0, 512.0])))
    if rng.random() < 0.5:
        kw.update(rows_in_parallel=int(rng.choice([1, 8, 32, r])))
    if kw["execution"] == "pipelined" and rng.random() < 0.5:
        kw.update(speedup_degree=int(rng.choice([2, 4, 8])))
    kw.update(cell_feature=str(rng.choice(["metal", "node"])))
    if rng.random() < 0.2:
        kw.update(clock_hz=None, v_chip=None)
    return ChipConfig(**kw)


def test_single_evaluate_equals_its_row_in_a_mixed_batch():
    """evaluate() is a batch of one through the same core: a row of a padded, mixed batch must agree."""
    from lightning_imc.devices import device_names

    rng = np.random.default_rng(1)
    nets, chips, devs, singles = [], [], [], []
    for t in range(60):
        net = random_rls_network(int(rng.integers(1e6)), n_conv=int(rng.integers(1, 7)), n_fc=int(rng.integers(1, 3)))
        if t % 10 == 0:
            net = Network.vgg8(int(rng.integers(2, 12)), int(rng.integers(2, 12)))
        chip = _random_chip(rng)
        dev = get_device(str(rng.choice(device_names())))
        try:
            singles.append(evaluate(net, dev, chip))
        except ValueError:
            continue
        nets.append(net), chips.append(chip), devs.append(dev)
    assert len(nets) > 40
    b = evaluate_batch(nets, devs, chips)
    for i, a in enumerate(singles):
        r = b.report(i)
        for key in ("area_mm2", "latency_s", "energy_j", "tops", "tops_per_w", "utilization", "tiles", "adcs"):
            assert getattr(a, key) == pytest.approx(getattr(r, key), rel=1e-9), key
        for la, lb in zip(a.layers, r.layers):
            assert (la.tiles, la.speedup, la.row_groups) == (lb.tiles, lb.speedup, lb.row_groups)
            assert la.latency_s == pytest.approx(lb.latency_s, rel=1e-9)


# ------------------------------------------------------------------------------------------ errors
@pytest.mark.parametrize("kwargs,field", [
    (dict(subarray_rows=0), "subarray_rows"), (dict(subarray_cols=0), "subarray_cols"),
    (dict(adc_bits=0), "adc_bits"), (dict(adc_bits=13), "adc_bits"), (dict(adc_type="delta"), "adc_type"),
    (dict(adc_model="x"), "adc_model"), (dict(cols_per_adc=256), "cols_per_adc"), (dict(clock_hz=0), "clock_hz"),
    (dict(node_nm=3), "node_nm"), (dict(pes_per_tile=3, subarrays_per_pe=4), "pes_per_tile"),
    (dict(pes_per_tile=4), "subarrays_per_pe"), (dict(execution="async"), "execution"),
    (dict(max_tiles=0), "max_tiles"), (dict(post_layout_energy_factor=0.5), "post_layout_energy_factor"),
    (dict(node_nm=4), "node_nm"), (dict(node_nm=181), "node_nm"),
    (dict(rows_in_parallel=0), "rows_in_parallel"), (dict(rows_in_parallel=129), "rows_in_parallel"),
    (dict(rows_in_parallel=8.0), "rows_in_parallel"), (dict(speedup_degree=0), "speedup_degree"),
    (dict(speedup_degree=4), "speedup_degree"),  # needs execution="pipelined"
    (dict(cell_feature="gate"), "cell_feature"),
])
def test_bad_chip_config_names_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        ChipConfig.nacim(**kwargs)


def test_bad_range_message_gives_range():
    with pytest.raises(ValueError, match=r"adc_bits=13; must be an integer in \[1, 12\]"):
        ChipConfig(adc_bits=13)


def test_unmappable_layer_errors():
    net = random_rls_network(0)
    with pytest.raises(ValueError, match="max_tiles"):
        evaluate(net, "rram_nacim", ChipConfig.nacim(max_tiles=1))
    with pytest.raises(ValueError, match="global_buffer_kb"):
        evaluate(net, "rram_nacim", ChipConfig.nacim(global_buffer_kb=0.5))
    with pytest.raises(ValueError, match="cannot be mapped"):
        Layer("conv", 4, 4, 3, 8, 7, 7)
    with pytest.raises(ValueError, match="weight_bits"):
        Layer("linear", 1, 1, 10, 10, weight_bits=0)
    with pytest.raises(ValueError, match="in_c"):
        Layer("linear", 1, 1, 0, 10)
    with pytest.raises(ValueError, match="device"):
        evaluate(net, "no_such_device", ChipConfig.nacim())


# ------------------------------------------------------------------------------------------ optimisation
SMALL_SPACE = {"subarray_rows": [64, 128, 256], "adc_bits": [3, 4, 5], "cols_per_adc": [4, 8, 16],
               "max_tiles": [None, 40, 80]}


@pytest.mark.parametrize("objective", ["latency", "energy", "area", "edp", {"latency": 1.0, "energy": 2.0}])
def test_optimize_exhaustive_finds_brute_force_minimum(objective):
    net = random_rls_network(7)
    res = optimize_circuit(net, "rram_nacim", SMALL_SPACE, objective, {"max_area_mm2": 30.0})
    assert res.method == "exhaustive"
    best = math.inf
    for r, a, c, t in itertools.product(*SMALL_SPACE.values()):
        chip = ChipConfig.nacim(subarray_rows=r, subarray_cols=r, adc_bits=a, cols_per_adc=c, max_tiles=t)
        try:
            rep = evaluate(net, "rram_nacim", chip)
        except ValueError:
            continue
        if rep.area_mm2 > 30.0:
            continue
        if isinstance(objective, dict):
            v = objective["latency"] * math.log(rep.latency_s) + objective["energy"] * math.log(rep.energy_j)
        else:
            v = {"latency": rep.latency_s, "energy": rep.energy_j, "area": rep.area_mm2, "edp": rep.edp_js}[objective]
        best = min(best, v)
    assert res.objective_value == pytest.approx(best, rel=1e-9)
    assert res.report.area_mm2 <= 30.0


def test_optimize_coordinate_descent_large_space():
    net = random_rls_network(11)
    space = {"subarray_rows": [32, 64, 128, 256, 512], "adc_bits": list(range(2, 9)), "cols_per_adc": [1, 2, 4, 8, 16],
             "max_tiles": [None, 16, 32, 64, 128], "clock_hz": [5e8, 1e9, 2e9], "node_nm": [22, 32, 45]}
    res = optimize_circuit(net, "rram_nacim", space, "edp", {"max_area_mm2": 20.0}, exhaustive_limit=100,
                           budget=800, seed=1)
    assert res.method == "coordinate_descent" and res.n_evaluated <= 900
    assert res.report.area_mm2 <= 20.0
    # at least as good as 200 seeded random configurations of the same space
    rng = np.random.default_rng(0)
    chips = []
    for _ in range(200):
        r = int(rng.choice(space["subarray_rows"]))
        chips.append(ChipConfig.nacim(subarray_rows=r, subarray_cols=r, adc_bits=int(rng.choice(space["adc_bits"])),
                                      cols_per_adc=int(rng.choice(space["cols_per_adc"])), clock_hz=float(rng.choice(space["clock_hz"])),
                                      node_nm=int(rng.choice(space["node_nm"])), max_tiles=rng.choice(space["max_tiles"])))
    b = evaluate_batch(net, "rram_nacim", chips, strict=False)
    ok = b.feasible & (b.area_mm2 <= 20.0)
    assert res.objective_value <= b.edp_js[ok].min() * (1 + 1e-9)
    again = optimize_circuit(net, "rram_nacim", space, "edp", {"max_area_mm2": 20.0}, exhaustive_limit=100,
                             budget=800, seed=1)
    assert again.chip == res.chip


def test_optimize_infeasible_and_bad_arguments():
    net = random_rls_network(2)
    with pytest.raises(ValueError, match="none of the .* configurations .* satisfies the constraints"):
        optimize_circuit(net, "rram_nacim", SMALL_SPACE, "edp", {"max_area_mm2": 1e-6})
    with pytest.raises(ValueError, match="constraint"):
        optimize_circuit(net, "rram_nacim", SMALL_SPACE, "edp", {"max_power": 1})
    with pytest.raises(ValueError, match="objective"):
        optimize_circuit(net, "rram_nacim", SMALL_SPACE, "speed")
    with pytest.raises(ValueError, match="not a ChipConfig field"):
        optimize_circuit(net, "rram_nacim", {"tiles": [1]}, "edp")


# ------------------------------------------------------------------------------------------ presets / networks
def test_presets():
    n = ChipConfig.nacim()
    assert (n.node_nm, n.adc_bits, n.clock_hz, n.v_mem, n.v_chip) == (32, 4, 1e9, 0.5, 1.1)
    v = ChipConfig.neurosim_vgg8()
    assert (v.node_nm, v.subarray_rows, v.cols_per_adc, v.ops_convention) == (22, 128, 8, "neurosim")
    assert get_device("rram_nacim").bits_per_cell == 4


def test_random_rls_network_space():
    for seed in range(50):
        net = random_rls_network(seed)
        assert len(net) == 8
        convs, fcs = net.layers[:6], net.layers[6:]
        assert all(l.kind == "conv" and l.out_c in (24, 36, 48, 64) and l.kernel_h in (1, 3, 5, 7)
                   and l.kernel_w in (1, 3, 5, 7) for l in convs)
        assert all(l.kind == "linear" for l in fcs) and fcs[-1].out_c == 10 and fcs[0].out_c in (64, 128, 256, 512)
        assert all(2 <= l.weight_bits <= 10 and 2 <= l.input_bits <= 10 for l in net)
        assert convs[0].in_h == 32 and convs[0].in_c == 3
