"""The noise sweep (issue 24) at its smallest budget, end to end, and its statistics on hand-made cells."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load_script():
    sys.path.insert(0, str(ROOT / "scripts"))
    spec = importlib.util.spec_from_file_location("noise_sweep", ROOT / "scripts" / "noise_sweep.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_plan_runs_the_devices_sigma_first_then_the_largest_and_quantnas_once_per_mapping_and_seed():
    script = _load_script()
    tasks = script.plan([0, 1], ["scaled", "absolute"], [0.8, 1.6, 2.4])
    assert tasks[:4] == [("scaled", 0, "quantnas", 0.8), ("scaled", 0, "nacim", 0.8),
                         ("scaled", 1, "quantnas", 0.8), ("scaled", 1, "nacim", 0.8)]
    assert [t for t in tasks if t[2] == "quantnas"] == [(m, s, "quantnas", 0.8) for m in ("scaled", "absolute") for s in (0, 1)]
    nacim_sigmas = [t[3] for t in tasks if t[2] == "nacim"]
    assert nacim_sigmas == [0.8] * 4 + [2.4] * 4 + [1.6] * 4
    assert tasks[-4:] == [(m, s, "ptbnas", 0.8) for m in ("scaled", "absolute") for s in (0, 1)]
    # the device's own σ shares reproduce_table2.py's layout (and its searches): no override there
    out = Path("/x")
    assert script.method_folder(out, "absolute", 1, "nacim", 0.8) == out / "absolute" / "seed1" / "nacim"
    assert script.method_folder(out, "absolute", 1, "nacim", 2.4) == out / "absolute" / "sigma2.4" / "seed1" / "nacim"
    assert script.sigma_overrides(0.8) == [] and script.sigma_overrides(2.4) == ["imc.sigma_levels=2.4"]


@pytest.mark.parametrize("text", ["0.8,x", "0,1", "1,1", "nan", ""])
def test_bad_sigmas_are_refused_with_the_value(text):
    with pytest.raises(SystemExit, match="--sigmas"):
        _load_script().parse_sigmas(text)


def test_gain_interval_on_hand_made_cells():
    script = _load_script()

    def cell(quantnas, nacim):
        gain = 100 * (sum(nacim) / len(nacim) - sum(quantnas) / len(quantnas))
        return {"quantnas": {"chip_values": quantnas}, "nacim_sw": {"chip_values": nacim}, "gain": gain}

    # chips without spread: every bootstrap draw is the mean gain itself
    mean, low, high = script.gain_interval({0: cell([0.5, 0.5], [0.7, 0.7]), 1: cell([0.6] * 3, [0.7] * 3)})
    assert mean == pytest.approx(15.0) and low == pytest.approx(10.0) and high == pytest.approx(20.0)
    # spread over chips widens the interval around the mean; it stays inside the chips' extremes
    mean, low, high = script.gain_interval({0: cell([0.4, 0.6], [0.6, 0.8])})
    assert mean == pytest.approx(20.0) and low < 20.0 < high and low >= 0.0 - 1e-9 and high <= 40.0 + 1e-9


def test_smallest_budget_end_to_end(tmp_path, capsys):
    """Two σ, one mapping, one seed: QuantNAS once and judged again at both σ from its saved weights (at the
    device's own σ exactly as its search judged it), NACIM per σ, the table, plot and JSON last line."""
    script = _load_script()
    script.DOCS_PAGE = tmp_path / "page.md"
    script.DOCS_PAGE.write_text(f"# prose\n\n{script.BEGIN}\nold\n{script.END}\n\nconclusion\n")
    tiny = ["logger=none", "+trainer.fast_dev_run=true", "search.chance_margin=null", "search.episodes=2",
            "search.rnas_steps=2", "callbacks.variation_eval.n_chips=2", "callbacks.variation_eval.bn_recalibration_batches=0"]
    result = script.main(["--budget", "tiny", "--seeds", "0", "--sigmas", "0.8,2.4", "--mappings", "absolute",
                          "--no-ptbnas", "--out", str(tmp_path / "sweep"), "--docs", *tiny])
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert json.loads(last) == result
    assert set(result) == {"sigmas", "gain_points_scaled", "gain_points_absolute"}
    assert result["sigmas"] == [0.8, 2.4] and result["gain_points_scaled"] == [None, None]
    sweep = tmp_path / "sweep" / "absolute"
    assert (sweep / "seed0" / "quantnas" / "search_summary.json").is_file()
    assert (sweep / "sigma2.4" / "seed0" / "nacim" / "search_summary.json").is_file()
    judged = {s: json.loads((sweep / "seed0" / "quantnas" / f"rejudged_sigma{s}.json").read_text()) for s in ("0.8", "2.4")}
    assert judged["0.8"]["accuracy_variation"] == judged["0.8"]["history_accuracy_variation"]
    assert judged["0.8"]["key"] == judged["2.4"]["key"] and judged["0.8"]["accuracy_clean"] == judged["2.4"]["accuracy_clean"]
    summary = json.loads((tmp_path / "sweep" / "noise_sweep.json").read_text())
    for row, gain in zip(summary["rows"], result["gain_points_absolute"]):
        if gain is not None:
            assert math.isclose(row["gain"], gain, abs_tol=0.006) and row["low"] <= row["gain"] <= row["high"]
    page = script.DOCS_PAGE.read_text()
    assert page.startswith("# prose") and page.rstrip().endswith("conclusion") and "old" not in page
    assert "| absolute | 0.8 |" in page and (tmp_path / "figures" / "when_noise_matters.png").stat().st_size > 1000
    # a second call trains nothing: every search is done and the judged σ are cached
    mtimes = {p: p.stat().st_mtime for p in (tmp_path / "sweep").rglob("history.sqlite")}
    from lightning_imc.search.history import HistoryStore

    for path in mtimes:  # every cell on the chip model the sweep started with (II: left out of the fingerprint)
        with HistoryStore.open_readonly(str(path)) as store:
            assert "chip_model" not in store.fingerprint["hardware"], path
    assert script.main(["--budget", "tiny", "--seeds", "0", "--sigmas", "0.8,2.4", "--mappings", "absolute",
                        "--no-ptbnas", "--out", str(tmp_path / "sweep"), *tiny]) == result
    assert {p: p.stat().st_mtime for p in mtimes} == mtimes
    # a new checkout: the sweep's histories without their weights (git keeps none), σ = 2.4 not judged yet;
    # the design's weights are trained again from QuantNAS's history and judge it as before
    import shutil

    shutil.rmtree(sweep / "seed0" / "quantnas" / "checkpoints")
    (sweep / "seed0" / "quantnas" / "rejudged_sigma2.4.json").unlink()
    again = script.rejudge(tmp_path / "sweep", "tiny", "absolute", 0, 2.4, tiny)
    assert again == judged["2.4"]
