"""The controlled experiment of issue 24 (scripts/collapse_by_weight_mapping.py) at its smallest budget."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HISTORY = ROOT / "experiments" / "noise_sweep" / "absolute" / "seed0" / "quantnas"


@pytest.mark.skipif(not (HISTORY / "history.sqlite").is_file(), reason="the sweep's QuantNAS history is not in this checkout")
def test_controlled_grid_trains_judges_and_resumes(tmp_path, monkeypatch):
    sys.path.insert(0, str(ROOT / "scripts"))
    import collapse_by_weight_mapping as script

    args = ["--history", str(HISTORY), "--mappings", "absolute", "--training", "unaware,aware", "--epochs", "1",
            "--seeds", "0", "--data", "digits", "--train-samples", "128", "--eval-samples", "64", "--chips", "2",
            "--threads", "1", "--out", str(tmp_path)]
    summary = script.main(args)
    rows = [json.loads(line) for line in (tmp_path / "rows.jsonl").read_text().splitlines()]
    assert [(r["training"], r["epochs"]) for r in rows] == [("unaware", 1), ("aware", 1)]
    unaware, aware = rows
    assert summary["gain_aware_absolute_1ep"] == pytest.approx(aware["chips"] - unaware["chips"], abs=0.01)
    assert summary["chips_absolute_unaware_1ep"] == pytest.approx(unaware["chips"], abs=0.01)
    assert summary["loss_points_absolute"] == pytest.approx(unaware["clean"] - unaware["chips"], abs=0.01)
    for row in rows:  # the chips' mean is the row's accuracy on chips, every value a percentage
        assert len(row["chip_values"]) == 2 and row["chips"] == pytest.approx(sum(row["chip_values"]) / 2)
        assert 0 <= row["chips_low"] <= row["chips"] <= row["chips_high"] <= 100 and 0 <= row["clean"] <= 100

    def no_training(*_, **__):
        raise AssertionError("a finished row was trained again")

    monkeypatch.setattr(script, "train_and_judge", no_training)
    assert script.main(args) == summary  # resumed: every row read back
    changed = [a if a != "128" else "256" for a in args]
    with pytest.raises(SystemExit, match="other settings"):
        script.main(changed)
    with pytest.raises(SystemExit, match="--training"):
        script.main([*args[:4], "--training", "noisy"])
    with pytest.raises(SystemExit, match="--seeds"):
        script.main([*args[:4], "--seeds", "zero"])
