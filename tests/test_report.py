"""Pareto fronts, hypervolumes, Table II, plots and the report script, on hand-computed cases."""

from __future__ import annotations

import csv
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lightning_imc.search.history import CandidateRecord, HistoryStore
from lightning_imc.search.pareto import (
    default_reference,
    front_records,
    hypervolume,
    objective_pairs,
    pareto_front,
)
from lightning_imc.search.report import (
    plot_pareto,
    plot_rewards,
    select_designs,
    table2,
    to_csv,
    to_markdown,
    write_report,
)

ROOT = Path(__file__).resolve().parents[1]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _rec(i: int, acc_var: float, edp: float, *, phase: str = "search", reward: float | None = None,
         status: str = "ok", eff: float = 0.5, area: float = 2.0) -> CandidateRecord:
    return CandidateRecord(
        phase=phase, index=i, key=f"{phase[:2]}{i:04x}", codes=[i], choices={"i": i}, status=status,
        reward=acc_var if reward is None else reward,
        metrics={
            "accuracy_clean": acc_var + 0.01, "accuracy_variation": acc_var,
            "accuracy_variation_ci95": [acc_var - 0.002, acc_var + 0.002],
            "hardware": {"latency_s": edp * 10, "energy_j": edp * 100, "area_mm2": area, "edp": edp,
                         "tops": 0.2, "tops_per_w": 12.0},
            "hardware_efficiency": eff,
        } if status == "ok" else {},
        seed=0, train_seconds=2.0,
    )


# ----------------------------------------------------------------------------------------------
# Pareto fronts


def test_pareto_front_minimize_and_ties():
    pts = np.array([[1, 5], [2, 3], [3, 4], [4, 1], [2, 3], [5, 5], [1, 6]], dtype=float)
    # [3,4] by [2,3]; [5,5] by everything; [1,6] by [1,5]; the duplicate [2,3] is kept twice
    assert pareto_front(pts, (False, False)).tolist() == [0, 1, 3, 4]


def test_pareto_front_mixed_senses_and_edge_cases():
    pts = np.array([[0.9, 10.0], [0.8, 2.0], [0.85, 2.0], [0.7, 1.0], [0.95, 50.0], [np.nan, 0.1]])
    # maximise accuracy, minimise EDP: [0.8, 2] is dominated by [0.85, 2] (tie in EDP, better accuracy)
    assert pareto_front(pts, (True, False)).tolist() == [0, 2, 3, 4]
    assert pareto_front(np.zeros((0, 2)), (True, False)).tolist() == []
    assert pareto_front([[1.0, 1.0]], (True, True)).tolist() == [0]
    assert pareto_front([[1, 2, 3], [2, 1, 3], [2, 2, 3], [0, 0, 4]], (False,) * 3).tolist() == [0, 1, 3]
    with pytest.raises(ValueError):
        pareto_front(pts, (True,))


def test_hypervolume_hand_computed_2d():
    # minimise both, reference (4, 4): staircase (1,3), (2,2), (3,1) -> 3 + 2 + 1 = 6 (unit squares)
    assert hypervolume([[1, 3], [2, 2], [3, 1]], (4, 4), (False, False)) == pytest.approx(6.0)
    # dominated and duplicated points add nothing
    assert hypervolume([[1, 3], [2, 2], [3, 1], [3, 3], [2, 2]], (4, 4), (False, False)) == pytest.approx(6.0)
    # points outside the reference box add nothing
    assert hypervolume([[5, 1], [1, 5], [4, 0]], (4, 4), (False, False)) == 0.0
    # maximise accuracy, minimise EDP: (0.9, 3), (0.6, 1) against (0, 4):
    # 0.6 * (4 - 1) + (0.9 - 0.6) * (4 - 3) = 1.8 + 0.3 = 2.1
    assert hypervolume([[0.9, 3.0], [0.6, 1.0], [0.5, 2.0]], (0.0, 4.0), (True, False)) == pytest.approx(2.1)
    # both maximised: (2, 1), (1, 2) against (0, 0): 2 + 2 - 1 = 3
    assert hypervolume([[2, 1], [1, 2]], (0, 0), (True, True)) == pytest.approx(3.0)
    assert hypervolume(np.zeros((0, 2)), (0, 0), (True, False)) == 0.0


def test_hypervolume_3d_matches_hand_and_2d():
    # 3-D: unit cubes at (0,0,0)..(1,1,1) and (1,0,0)..: boxes to (2,2,2)
    # A=(0,1,1): 2*1*1 = 2; B=(1,0,1): 1*2*1 = 2; C=(1,1,0): 1*1*2 = 2; pairwise overlaps 1 each, triple 1
    # union = 6 - 3 + 1 = 4
    pts = [[0, 1, 1], [1, 0, 1], [1, 1, 0]]
    assert hypervolume(pts, (2, 2, 2), (False,) * 3) == pytest.approx(4.0)
    assert hypervolume([[1, 1, 1], [1.5, 1.5, 1.5]], (2, 2, 2), (False,) * 3) == pytest.approx(1.0)
    assert hypervolume([[3], [1]], (4,), (False,)) == pytest.approx(3.0)
    rng = np.random.default_rng(0)
    pts2 = rng.random((40, 2))
    # 2-D against a staircase sum over the front (sorted by the first objective, each step to the next x)
    front = pts2[pareto_front(pts2, (False, False))]
    front = front[np.argsort(front[:, 0])]
    xs = np.append(front[:, 0], 1.1)
    staircase = float(np.sum((xs[1:] - xs[:-1]) * (1.1 - front[:, 1])))
    assert hypervolume(pts2, (1.1, 1.1), (False, False)) == pytest.approx(staircase)
    # 3-D against Monte-Carlo (loose) and against the 2-D value when the third objective is constant
    pts3 = rng.random((25, 3))
    flat = np.column_stack([pts2[:25], np.zeros(25)])
    assert hypervolume(flat, (1.1, 1.1, 2.0), (False,) * 3) == pytest.approx(2.0 * hypervolume(pts2[:25], (1.1, 1.1), (False, False)))
    samples = rng.random((100_000, 3))
    dominated = np.zeros(len(samples), dtype=bool)
    for p in pts3:
        dominated |= np.all(samples >= p, axis=1)
    assert hypervolume(pts3, (1, 1, 1), (False,) * 3) == pytest.approx(dominated.mean(), abs=0.01)


def test_objective_pairs_and_front_records():
    recs = [_rec(0, 0.70, 3e-9, eff=0.2), _rec(1, 0.72, 5e-9, eff=0.6), _rec(2, 0.65, 4e-9, eff=0.1),
            _rec(3, 0.0, 0.0, status="failed"), _rec(4, 0.60, 1e-9, eff=0.9)]
    recs.append(CandidateRecord("search", 5, "k5", [], {}, "ok", 0.1, {"accuracy_variation": 0.5}, 0))
    pts, kept = objective_pairs(recs, "edp")
    assert [r.index for r in kept] == [0, 1, 2, 4] and pts.shape == (4, 2)
    assert [r.index for r in front_records(recs, "edp")] == [4, 0, 1]
    assert [r.index for r in front_records(recs, "hardware_efficiency")] == [4, 1]
    assert [r.index for r in front_records(recs, "area_mm2")] == [1]  # equal areas: best accuracy only
    assert default_reference(pts, "edp") == (0.0, pytest.approx(5.5e-9))
    assert default_reference(pts, "hardware_efficiency") == (0.0, 0.0)
    with pytest.raises(ValueError):
        objective_pairs(recs, "flops")


# ----------------------------------------------------------------------------------------------
# designs and Table II


def test_select_designs_rule():
    recs = [
        _rec(0, 0.735, 8e-9, reward=0.60),  # best accuracy with variation -> _sw
        _rec(1, 0.720, 3e-9, reward=0.70),  # front, within 3 pp
        _rec(2, 0.712, 2e-9, reward=0.75),  # front, 2.3 pp below -> _hw (lowest EDP within 3 pp)
        _rec(3, 0.600, 1e-9, reward=0.80),  # front but 13.5 pp below; best reward
        _rec(4, 0.710, 9e-9, reward=0.50),  # dominated
        _rec(5, 0.0, 0.0, status="failed", reward=float("nan")),
    ]
    d = select_designs(recs)
    assert d["NACIM_sw"].index == 0 and d["NACIM_hw"].index == 2 and d["NACIM_best_reward"].index == 3
    assert select_designs(recs, tolerance_pp=2.0, prefix="x")["x_hw"].index == 1
    assert select_designs(recs, tolerance_pp=math.inf)["NACIM_hw"].index == 3  # the paper's literal rule
    assert select_designs(recs, tolerance_pp=0.0)["NACIM_hw"].index == 0
    # ties in accuracy: lower EDP wins
    assert select_designs([_rec(0, 0.7, 5e-9), _rec(1, 0.7, 2e-9)])["NACIM_sw"].index == 1
    assert select_designs([_rec(0, 0, 0, status="failed")]) == {}


def test_table2_values_markdown_and_csv(tmp_path):
    rec = CandidateRecord(
        "search", 0, "ab", [0], {}, "ok", 0.8,
        {"accuracy_clean": 0.7388, "accuracy_variation": 0.7345, "accuracy_variation_ci95": [0.7315, 0.7375],
         "hardware": {"area_mm2": 12.5, "edp": 3.2e-8, "tops": 0.234, "tops_per_w": 16.3}}, 0)
    bare = CandidateRecord("search", 1, "cd", [0], {}, "ok", 0.5, {"accuracy_variation": 0.5}, 0)
    table = table2([("NACIM_sw", rec), ("partial", bare)])
    row = table[0]
    assert row["approach"] == "NACIM_sw"
    assert row["accuracy_pct"] == pytest.approx(73.88)
    assert row["accuracy_variation_pct"] == pytest.approx(73.45)
    assert row["accuracy_variation_ci95_pct"] == pytest.approx(0.30)
    assert (row["area_mm2"], row["edp_js"], row["tops"], row["tops_per_w"]) == (12.5, 3.2e-8, 0.234, 16.3)
    assert math.isnan(table[1]["accuracy_pct"]) and math.isnan(table[1]["edp_js"])
    md = to_markdown(table)
    lines = md.splitlines()
    assert lines[0] == "| Approach | Accuracy (%) | Acc. w/ variation (%) | Area (mm²) | EDP (J·s) | TOPS | TOPS/W |"
    assert lines[2] == "| NACIM_sw | 73.88 | 73.45 ± 0.30 | 12.50 | 3.200e-08 | 0.2340 | 16.30 |"
    assert lines[3] == "| partial | – | 50.00 | – | – | – | – |"
    path = to_csv(table, tmp_path / "t" / "table.csv")
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert float(rows[0]["edp_js"]) == 3.2e-8 and float(rows[0]["accuracy_variation_pct"]) == pytest.approx(73.45)
    assert rows[1]["area_mm2"] == "" and rows[1]["approach"] == "partial"


# ----------------------------------------------------------------------------------------------
# plots and the report


def _assert_png(path: Path) -> None:
    data = Path(path).read_bytes()
    assert data[:8] == PNG_SIGNATURE and len(data) > 5000


def _synthetic(n: int = 30, phase: str = "nacim", seed: int = 0) -> list[CandidateRecord]:
    rng = np.random.default_rng(seed)
    recs = []
    for i in range(n):
        if i % 11 == 7:
            recs.append(_rec(i, 0, 0, phase=phase, status="failed", reward=float("nan")))
            continue
        edp = float(10 ** rng.uniform(-9, -7))
        acc = float(np.clip(0.55 + 0.04 * np.log10(edp * 1e9) + rng.normal(0, 0.03), 0.1, 0.9))
        recs.append(_rec(i, acc, edp, phase=phase, eff=float(rng.random()), area=float(rng.uniform(1, 20)),
                         reward=acc * 0.5 + 0.25 * rng.random()))
    return recs


def test_plots_are_png(tmp_path):
    by_label = {"ptbNAS": _synthetic(25, "ptbnas", 1), "NACIM": _synthetic(25, "nacim", 2)}
    for metric in ("edp", "hardware_efficiency"):
        _assert_png(plot_pareto(by_label, metric, tmp_path / f"p_{metric}.png"))
    _assert_png(plot_rewards(by_label["ptbNAS"] + by_label["NACIM"], tmp_path / "r.png"))
    # empty inputs still give a (blank) figure rather than an error
    assert plot_pareto({"x": []}, "edp", tmp_path / "empty.png").read_bytes()[:8] == PNG_SIGNATURE
    assert plot_rewards([], tmp_path / "empty_r.png").read_bytes()[:8] == PNG_SIGNATURE


def test_write_report_from_records(tmp_path):
    paths = write_report(_synthetic(30), tmp_path / "out")
    assert set(paths) == {"markdown", "csv", "rewards", "pareto_latency_s", "pareto_energy_j", "pareto_area_mm2",
                          "pareto_edp", "pareto_hardware_efficiency"}
    text = paths["markdown"].read_text(encoding="utf-8")
    assert "| nacim | 27 | 3 |" in text and "nacim_sw" in text and "nacim_hw" in text and "hypervolume" in text
    for key, path in paths.items():
        if key.startswith("pareto_") or key == "rewards":
            _assert_png(path)


def test_report_script_on_a_history(tmp_path):
    out_dir = tmp_path / "run"
    fp = {"search": {"mode": "nacim", "seed": 3}}
    with HistoryStore.open(out_dir / "history.sqlite", fp) as store:
        for r in _synthetic(20, "ptbnas", 4) + _synthetic(20, "nacim", 5):
            store.record(r)
        store.set_meta("nacim.status", "done")
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "search_report.py"), str(out_dir)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "| Approach | Accuracy (%) | Acc. w/ variation (%) | Area (mm²) | EDP (J·s) | TOPS | TOPS/W |" in proc.stdout
    assert "nacim_hw" in proc.stdout and "ptbnas_sw" in proc.stdout and "seed = 3" in proc.stdout
    for name in ("report.md", "report.csv", "rewards.png", "pareto_edp.png", "pareto_hardware_efficiency.png"):
        assert (out_dir / name).is_file(), name
    # --out and a file path
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "search_report.py"),
                           str(out_dir / "history.sqlite"), "--out", str(tmp_path / "elsewhere"), "--no-files"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "Table II" in proc.stdout and not (tmp_path / "elsewhere").exists()


def test_report_script_errors(tmp_path):
    foreign = tmp_path / "history.sqlite"
    foreign.write_bytes(b"\x00garbage" * 100)
    before = foreign.read_bytes()
    script = str(ROOT / "scripts" / "search_report.py")
    proc = subprocess.run([sys.executable, script, str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "not a SQLite database" in proc.stderr and proc.stdout == ""
    assert foreign.read_bytes() == before
    proc = subprocess.run([sys.executable, script, str(tmp_path / "nope")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "no such file" in proc.stderr


def test_methods_group_phases_and_count_a_key_once():
    import dataclasses

    from lightning_imc.search.report import group_records, render_report

    a = _rec(0, 0.70, 2e-9, phase="rnas/0")
    b = dataclasses.replace(_rec(0, 0.72, 4e-9, phase="rnas/1"), key="other")
    copy = dataclasses.replace(a, phase="rnas/1", index=1)  # the same genome met again
    failed_then_ok = [_rec(0, 0, 0, phase="ptbnas", status="failed"), _rec(1, 0.6, 1e-9, phase="ptbnas")]
    failed_then_ok[1].key = failed_then_ok[0].key
    groups = group_records([a, b, copy] + failed_then_ok)
    assert list(groups) == ["rnas", "ptbnas"]
    assert [r.key for r in groups["rnas"]] == [a.key, b.key] and groups["ptbnas"][0].status == "ok"
    text = render_report([a, b, copy] + failed_then_ok)
    assert "| rnas_sw |" in text and "| rnas_hw |" in text and "| edp | rnas | 2 |" in text
    assert "| rnas/1 | 2 | 0 |" in text  # the per-phase counts keep every record


def test_report_says_what_rnas_gained_over_its_parents():
    """Hand-made history: the rNAS parent (index 0) is beaten on EDP at −0.5 pp by a design with 2× less EDP."""
    import dataclasses

    from lightning_imc.search.report import render_report, rnas_gains

    ptb = [_rec(0, 0.80, 4e-10, phase="ptbnas"), _rec(1, 0.70, 3e-10, phase="ptbnas")]
    parent = dataclasses.replace(_rec(0, 0.80, 4e-10, phase="rnas/0", area=4.0), key=ptb[0].key)
    rnas = [parent, _rec(1, 0.795, 2e-10, phase="rnas/0", area=2.0), _rec(2, 0.60, 1e-10, phase="rnas/0")]
    rows = rnas_gains(ptb + rnas, tolerance_pp=1.0)
    assert [r["phase"] for r in rows] == ["rnas/0", "NACIM_hw (rnas ∪ finetune) vs ptbnas_sw"]
    first, union = rows
    assert first["changed"] and first["design_key"] == rnas[1].key and first["parent_key"] == ptb[0].key
    assert first["pareto_size"] == 3
    assert first["accuracy_variation_delta_pp"] == pytest.approx(-0.5)
    assert first["edp_gain"] == pytest.approx(2.0) and first["area_gain"] == pytest.approx(2.0)
    assert union["changed"] and union["edp_gain"] == pytest.approx(2.0)
    text = render_report(ptb + rnas, tolerance_pp=1.0)
    assert "What rNAS gained over its parents" in text and "| rnas/0 | 3 | yes | -0.50 | 2.00× | 2.00× |" in text
