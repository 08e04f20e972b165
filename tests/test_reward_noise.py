"""scripts/reward_noise.py at its smallest budget: a tiny real search, its best design trained again."""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir

from lightning_imc.app import run

ROOT = Path(__file__).resolve().parents[1]
TINY_SEARCH = ["+experiment=quickstart", "search.mode=ptbnas", "search.episodes=2", "search.batch_size=2",
               "controller=random", "trainer.max_epochs=3", "data.max_train_samples=512", "data.max_eval_samples=64",
               "callbacks.variation_eval.n_chips=2", "reward.bound_samples=4", "logger=none"]


def _search(folder: Path, overrides: list[str]) -> None:
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        run(compose(config_name="config", overrides=[*overrides, f"paths.output_dir={folder}"]))
    (folder / ".hydra").mkdir()
    (folder / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))  # what train.py writes


def test_best_design_trained_again_checks_reproduction_and_resumes(tmp_path, monkeypatch):
    sys.path.insert(0, str(ROOT / "scripts"))
    import reward_noise as script

    from lightning_imc.search.history import HistoryStore

    folder = tmp_path / "search"
    _search(folder, TINY_SEARCH)
    with HistoryStore.open_readonly(str(folder / "history.sqlite")) as store:
        best = max((r for r in store.records(status="ok")), key=lambda r: r.reward)
    out = tmp_path / "noise.jsonl"
    args = [str(folder), "--top", "1", "--repeats", "2", "--out", str(out)]
    summary = script.main(args)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["repeat"] for r in rows] == ["recorded", 0, 1] and {r["key"] for r in rows} == {best.key}
    assert rows[0]["reward"] == pytest.approx(best.reward, abs=1e-9)  # the search's own seed: the same child
    repeats = [r["reward"] for r in rows[1:]]
    (design,) = summary["designs"]
    assert design["recorded"] == round(best.reward, 4) and design["repeats"] == [round(r, 4) for r in repeats]
    assert design["mean"] == round(statistics.mean(repeats), 4) and design["sd"] == round(statistics.stdev(repeats), 4)
    assert design["ci95"][0] <= design["mean"] <= design["ci95"][1]
    assert summary["reward_sd_points"] == pytest.approx(100 * statistics.stdev(repeats), abs=1e-3)

    import lightning_imc.search.evaluate as evaluate

    def no_training(*_, **__):
        raise AssertionError("a finished repeat was trained again")

    monkeypatch.setattr(evaluate, "run_child_job", no_training)
    assert script.main(args) == summary  # resumed from the JSON lines
    monkeypatch.undo()

    # a configuration that is not the search's: the check stops before any repeat is measured
    (folder / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump([*TINY_SEARCH, "optimizer.lr=0.5"]))
    with pytest.raises(SystemExit, match="does not reproduce the search"):
        script.main([*args[:-1], str(tmp_path / "other.jsonl")])
    with pytest.raises(SystemExit, match="--repeats"):
        script.main([str(folder), "--repeats", "1"])
