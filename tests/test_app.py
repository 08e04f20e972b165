"""The Hydra application end to end: config composition, fast_dev_run of every experiment, real
training on digits, the variation-aware advantage, logged metrics and one-line config errors."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from lightning_imc.app import prepare, run
from lightning_imc.settings import ConfigError, DataError

ROOT = Path(__file__).resolve().parents[1]
CONF = str(ROOT / "conf")
EXPERIMENTS = sorted(p.stem for p in (ROOT / "conf" / "experiment").glob("*.yaml"))


def compose_config(tmp_path: Path, *overrides: str):
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        return compose(config_name="config", overrides=[f"paths.output_dir={tmp_path}", *overrides])


# Tiny stand-ins so every experiment runs here: digits upsampled to the experiment's input size for
# classification, generated blobs for segmentation.
TINY_DATA = {
    "classification": ["data=digits", "data.image_size=32", "data.max_train_samples=128", "data.max_eval_samples=64"],
    "segmentation": ["data=toy_segmentation"],
}


def test_every_experiment_composes_and_validates(tmp_path):
    assert {"quickstart", "rls", "rls_fmnist", "vls", "eds"} <= set(EXPERIMENTS)
    for name in EXPERIMENTS:
        cfg = compose_config(tmp_path, f"+experiment={name}")
        assert cfg.experiment_name == name
        prepared = prepare(cfg)  # validates everything and builds space, data module and child spec
        assert prepared.spec.layers and prepared.datamodule.task == prepared.spec.task


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_fast_dev_run_of_each_experiment(tmp_path, name):
    probe = prepare(compose_config(tmp_path, f"+experiment={name}"))
    cfg = compose_config(
        tmp_path, f"+experiment={name}", "mode=child", *TINY_DATA[probe.spec.task], "+trainer.fast_dev_run=true",
        "trainer.accelerator=cpu", "logger=none", "callbacks.variation_eval.n_chips=2", "reward.bound_samples=4",
    )
    results = run(cfg)
    assert results["reward"] == pytest.approx(results["reward"])  # finite
    for key in ("latency_s", "energy_j", "area_mm2", "tops", "tops_per_w", "edp"):
        assert results["hardware"][key] > 0
    assert len(results["chip_values"]) == 2


def test_quickstart_trains_well_above_chance_and_logs_named_metrics(tmp_path):
    cfg = compose_config(tmp_path, "+experiment=quickstart", "mode=child", "trainer.max_epochs=8", "logger=csv",
                         "callbacks.variation_eval.n_chips=4", "reward.bound_samples=16", "trainer.enable_progress_bar=false")
    results = run(cfg)
    assert results["accuracy_clean"] > 0.6  # ten classes: chance is 0.1
    assert results["accuracy_variation"] > 0.3
    metrics_file = next(tmp_path.rglob("metrics.csv"))
    with open(metrics_file) as handle:
        columns = set(next(csv.reader(handle)))
    expected = {"hw/latency_s", "hw/energy_j", "hw/area_mm2", "hw/tops", "hw/tops_per_w", "hw/edp", "reward",
                "eval/acc_clean", "eval/acc_variation", "eval/acc_variation_ci95_low", "train/loss", "val/acc"}
    assert expected <= columns, expected - columns
    assert (tmp_path / "child_result.json").exists()


def test_variation_aware_training_keeps_more_accuracy_on_chips(tmp_path):
    # With the weights spread over the cell's range (scaled formats), NACIM's sigma = 0.8 level is ~11% of
    # the largest 4-bit weight and this child survives the chip either way (98.0% vs 97.4%); the paper's
    # finding is about noise that is large against the weights: sigma = 2 levels (measured 60.0% vs 34.2%)
    common = ["+experiment=quickstart", "mode=child", "trainer.max_epochs=8", "logger=none", "callbacks.variation_eval.n_chips=6",
              "reward=accuracy", "trainer.enable_progress_bar=false", "seed=0", "imc.sigma_levels=2.0"]
    aware = run(compose_config(tmp_path / "aware", *common, "imc=noise_aware"))
    unaware = run(compose_config(tmp_path / "unaware", *common, "imc=noise_unaware"))
    assert aware["candidate_key"] == unaware["candidate_key"]
    assert aware["accuracy_variation"] > unaware["accuracy_variation"] + 0.05


def test_wandb_offline_run_writes_inside_output_dir(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    out = tmp_path / "out"
    # fast_dev_run would swap the logger for a dummy: run two real batches instead
    cfg = compose_config(out, "trainer.max_epochs=1", "+trainer.limit_train_batches=2", "+trainer.limit_val_batches=1",
                         "logger=wandb", "callbacks.variation_eval.n_chips=2", "callbacks.variation_eval.max_batches=1",
                         "reward.bound_samples=4", "trainer.enable_progress_bar=false")
    run(cfg)
    runs = list((out / "wandb").glob("offline-run-*"))
    assert len(runs) == 1, "W&B offline run missing under the output folder"
    summary = (runs[0] / "files" / "wandb-summary.json")
    assert not summary.exists() or "hw/latency_s" in summary.read_text()
    assert list(home.iterdir()) == [], f"files written to the home folder: {list(home.rglob('*'))[:5]}"


@pytest.mark.parametrize(
    "override,message",
    [
        ("imc.variation=sometimes", "imc.variation='sometimes'; allowed: ['off', 'train', 'fixed']"),
        ("+imc.sigma=0.3", "imc.sigma is not a known key"),
        ("optimizer.lr=-1", "optimizer.lr=-1"),
        ("hardware.preset=isaac", "hardware.preset='isaac'; allowed: ['nacim', 'neurosim_vgg8', 'default']"),
        ("+hardware.chip.adc_bits=40", "hardware.chip.adc_bits=40"),
        ("reward.alpha=2", "reward.alpha=2; must be a number in [0, 1]"),
        ("mode=search_everything", "mode='search_everything'; allowed: ['child', 'search']"),
        ("candidate=best", "candidate='best'; allowed: 'default', 'random'"),
        ("+candidate.not_a_dim=3", "not a dimension of space"),
        ("callbacks.variation_eval.n_chips=0", "callbacks.variation_eval.n_chips=0"),
        ("logger.mode=cloud", "logger.mode='cloud'; allowed"),
        ("data.batch_size=0", "data.batch_size must be an integer >= 1, got 0"),
        ("data.val_fraction=1.5", "data.val_fraction must lie in (0, 1), got 1.5"),
        ("data.image_size=2", "data.image_size must be an integer >= 8, got 2"),
        ("trainer.max_epochs=-1", "trainer.max_epochs=-1; must be an integer >= 1"),
        ("trainer.max_epochs=abc", "trainer.max_epochs='abc'; must be an integer >= 1"),
        ("optimizer.lr=nan", "optimizer.lr=nan; must be a finite number"),
    ],
)
def test_bad_configs_fail_fast_with_one_line(tmp_path, override, message):
    if override.startswith("+candidate."):
        override = "candidate={not_a_dim: 3}"
    with pytest.raises(ConfigError) as info:
        prepare(compose_config(tmp_path, override))
    text = str(info.value)
    assert message in text and "\n" not in text


def test_cli_reports_config_error_on_one_line_with_status_2(tmp_path):
    env = dict(os.environ, HYDRA_FULL_ERROR="0")
    done = subprocess.run(
        [sys.executable, str(ROOT / "train.py"), "imc.adc_bits=99", f"paths.output_dir={tmp_path}",
         f"hydra.run.dir={tmp_path}"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300,
    )
    assert done.returncode == 2, done.stderr[-2000:]
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines[-1] == "config error: imc.adc_bits=99; must be an integer in [1, 16] or None"


def test_bad_trainer_value_fails_before_data_is_loaded(tmp_path):
    # CIFAR-10 is absent: had the data been loaded first, this would be a FileNotFoundError instead
    cfg = compose_config(tmp_path, "+experiment=rls", f"data.root={tmp_path / 'nowhere'}", "trainer.precision=banana",
                         "logger=none")
    with pytest.raises(ConfigError, match="^trainer.precision=.banana.; allowed"):
        run(cfg)


def test_rls_search_without_cifar_files_fails_before_searching(tmp_path):
    cfg = compose_config(tmp_path, "+experiment=rls", f"data.root={tmp_path / 'nowhere'}", "trainer.accelerator=cpu",
                         "logger=none")
    with pytest.raises(DataError, match="cifar-10-batches-py"):
        run(cfg)
    assert not (tmp_path / "history.sqlite").exists()


def test_rls_without_cifar_files_fails_with_clear_message(tmp_path):
    cfg = compose_config(tmp_path, "+experiment=rls", "mode=child", f"data.root={tmp_path / 'nowhere'}",
                         "trainer.accelerator=cpu", "logger=none", "reward=accuracy")
    with pytest.raises(Exception) as info:
        run(cfg)
    assert "cifar-10-batches-py" in str(info.value)
