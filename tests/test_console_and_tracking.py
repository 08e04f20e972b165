"""What a person sees of a search: logging, quiet children, the progress display, and the W&B run
(read back from the offline run file)."""

from __future__ import annotations

import io
import logging
import math
import time
import warnings
from pathlib import Path
from types import SimpleNamespace

import pytest
from hydra import compose, initialize_config_dir

from lightning_imc.console import SearchProgress, describe_record, planned_children, quiet_lightning
from lightning_imc.tracking import child_settings, flat_config, read_offline_run

ROOT = Path(__file__).resolve().parents[1]
CONF = str(ROOT / "conf")


def _record(phase: str, index: int, reward: float, status: str = "ok") -> SimpleNamespace:
    return SimpleNamespace(phase=phase, index=index, key=f"{phase}-{index}".ljust(20, "0"), status=status, reward=reward,
                           metrics={"accuracy_variation": reward} if status == "ok" else {},
                           train_seconds=1.5, error=None if status == "ok" else "ChildDidNotLearn: at chance")


def test_planned_children_counts_every_phase_of_nacim_and_one_phase_otherwise() -> None:
    nacim = SimpleNamespace(mode="nacim", episodes=12, top_k=2, topk_finetune_epochs=4, rnas_steps=8, finetune_top=2)
    assert planned_children(nacim) == 12 + 2 + 2 * 8 + 2
    assert planned_children(SimpleNamespace(**{**vars(nacim), "topk_finetune_epochs": 0})) == 12 + 2 * 8 + 2
    assert planned_children(SimpleNamespace(mode="ptbnas", episodes=7)) == 7


def test_progress_logs_each_child_counts_phases_and_gives_the_console_back() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    previous_level = root.level
    root.setLevel(logging.INFO)
    try:
        with SearchProgress(planned=3, already_done=1) as progress:
            progress.phase_started("ptbnas", 3)
            progress.child_finished(_record("ptbnas", 1, 0.4))
            progress.child_finished(_record("ptbnas", 2, 0.0, status="failed"))
            progress.phase_started("ptbnas/rung1", 2, planned_phase=False)  # a promotion rung: beyond the plan
            assert progress.planned == 5 and progress.done == 3 and progress.best_reward == 0.4
            progress.child_finished(_record("ptbnas/rung1", 0, 0.7))
            progress.finish()
        assert progress.planned == progress.done == 4 and progress.best_reward == 0.7
    finally:
        root.removeHandler(handler)
        root.setLevel(previous_level)
    assert handler.stream is stream  # the handler writes to its own stream again
    lines = stream.getvalue().splitlines()
    assert "phase ptbnas: 3 children" in lines and "phase ptbnas/rung1: 2 children" in lines
    assert "[ptbnas #1] ptbnas-10000: accuracy on chips 40.0%, reward 0.4000, 1.5 s" in lines
    assert any("FAILED (ChildDidNotLearn: at chance)" in line for line in lines)
    assert describe_record(_record("x", 3, 0.5)) == "[x #3] x-3000000000: accuracy on chips 50.0%, reward 0.5000, 1.5 s"


def test_quiet_lightning_silences_the_trainer_banner_and_installs_its_filters_once(caplog, monkeypatch) -> None:
    import pytorch_lightning as pl

    from lightning_imc import console

    quiet_lightning()
    count = len(warnings.filters)
    quiet_lightning()  # a second child in the same process: no filter added (the once-registry survives)
    assert len(warnings.filters) == count
    with caplog.at_level(logging.INFO):
        pl.Trainer(accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False)
    assert "GPU available" not in caplog.text
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        monkeypatch.setitem(console._QUIET, "installed", False)  # install again inside this catch_warnings
        quiet_lightning()
        warnings.warn("`isinstance(treespec, LeafSpec)` is deprecated, use ...", DeprecationWarning)
        warnings.warn("something a user must see", DeprecationWarning)
    assert [str(w.message) for w in caught] == ["something a user must see"]


def test_flat_config_keeps_every_leaf_under_a_dotted_key() -> None:
    config = {"search": {"mode": "nacim", "fidelity": None}, "trainer": {"max_epochs": 8}, "tags": ["a"]}
    assert flat_config(config) == {"search.mode": "nacim", "search.fidelity": None, "trainer.max_epochs": 8,
                                   "tags": ["a"]}


def test_child_settings_are_the_ones_the_layers_use(tmp_path) -> None:
    from lightning_imc.app import prepare
    from lightning_imc.layers import imc_layers
    from lightning_imc.models import build_network

    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose(config_name="config", overrides=[f"paths.output_dir={tmp_path}", "candidate=random", "seed=3"])
    prepared = prepare(cfg)
    spec = prepared.spec
    settings = child_settings(spec, prepared.settings.imc)
    layers = dict(imc_layers(build_network(spec, prepared.settings.imc)))
    first = next(iter(layers.values())).imc_config
    assert settings["child.array_rows"] == first.array_rows == spec.circuit["array_size"]
    assert settings["child.adc_bits"] == first.adc_bits == spec.circuit["adc_bits"]
    assert settings["child.device"] == spec.device == prepared.candidate.to_dict()["device"]
    for layer in spec.layers:
        assert settings[f"child.layers.{layer.name}.weight_format"] == f"Q{layer.weight_int_bits}.{layer.weight_frac_bits}"
        assert settings[f"child.layers.{layer.name}.input_format"] == f"Q{layer.input_int_bits}.{layer.input_frac_bits}"
    formats = {(c.imc_config.weight_int_bits, c.imc_config.weight_frac_bits) for c in layers.values()}
    assert formats == {(layer.weight_int_bits, layer.weight_frac_bits) for layer in spec.layers}


def test_read_offline_run_refuses_other_files(tmp_path) -> None:
    path = tmp_path / "run-x.wandb"
    path.write_bytes(b"not a run")
    with pytest.raises(ValueError, match="not a W&B run file"):
        read_offline_run(path)


@pytest.mark.timeout(900)
def test_offline_wandb_search_run_holds_config_charts_curves_and_design_artifacts(tmp_path) -> None:
    """A tiny NACIM search logged to an offline W&B run, read back from the run file."""
    from lightning_imc.app import run

    out = tmp_path / "search"
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose(config_name="config", overrides=[
            f"paths.output_dir={out}", "mode=search", "search.mode=nacim", "search.episodes=2", "search.batch_size=2",
            "search.top_k=1", "search.topk_finetune_epochs=1", "search.rnas_steps=2",
            "search.finetune_top=1", "search.finetune_epochs=1", "trainer.max_epochs=2", "logger=wandb",
            "callbacks.variation_eval.n_chips=2", "callbacks.variation_eval.max_batches=2", "reward.bound_samples=8",
            "executor.threads_per_child=1", "trainer.enable_progress_bar=false", "search.chance_margin=null",
            "experiment_name=tiny"])
    summary = run(cfg)
    assert summary["n_ok"] >= 4
    files = list(out.glob("wandb/offline-run-*/run-*.wandb"))
    assert len(files) == 1
    # wandb's service process writes the file: after wandb.finish() its last records may still be on their way
    deadline = time.monotonic() + 120
    wandb_run = read_offline_run(files[0])
    while wandb_run.kinds.get("exit") != 1 and time.monotonic() < deadline:
        time.sleep(1)
        wandb_run = read_offline_run(files[0])
    assert wandb_run.kinds.get("exit") == 1
    # the full resolved config, flat
    assert wandb_run.config["search.mode"] == "nacim" and wandb_run.config["trainer.max_epochs"] == 2
    assert wandb_run.config["experiment_name"] == "tiny" and wandb_run.config["imc.weight_scaling"] == "layer"
    assert not any(key.startswith("search.search") for key in wandb_run.config)
    charts = {key.split("visualize.", 1)[1]: value["panel_config"]["panelDefId"]
              for key, value in wandb_run.config.items() if key.startswith("_wandb.visualize.")}
    assert charts["pareto/accuracy_vs_edp"] == "wandb/scatter/v0"
    assert charts["pareto/accuracy_vs_area_mm2"] == "wandb/scatter/v0"
    assert charts["pareto_front/accuracy_vs_edp"] == "wandb/line/v0"
    assert charts["search/reward_by_phase"] == "wandb/line/v0"
    assert charts["children/val/acc"] == charts["children/train/loss"] == "wandb/lineseries/v0"
    assert {"search/reward", "search/best_reward", "hw/edp", "candidates/_type", "child_curves/_type"} <= wandb_run.history_keys
    assert math.isclose(wandb_run.summary["best_reward"], summary["best_reward"])
    models = {name: files for name, kind, files in wandb_run.artifacts if kind == "model"}
    assert {"tiny-NACIM_sw", "tiny-NACIM_hw", "tiny-NACIM_best_reward"} <= set(models)
    assert all(sorted(f) == ["design.json", "weights.pt"] for f in models.values())
    reports = [files for name, kind, files in wandb_run.artifacts if kind == "search-report"]
    assert len(reports) == 1 and {"report.md", "report.csv", "search_summary.json"} <= set(reports[0])
