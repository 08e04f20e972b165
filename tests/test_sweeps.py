"""W&B sweep configs (conf/sweep/) validated offline with W&B's open-source `sweeps` engine; their proposed
runs turned into commands exactly as `wandb agent` builds them and composed by the Hydra app; one run end
to end; the same study as a Hydra multirun."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from lightning_imc.app import prepare

sweeps = pytest.importorskip("sweeps")
sweep_utils = pytest.importorskip("wandb.sdk.launch.sweeps.utils")

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
SWEEPS = sorted((CONF / "sweep").glob("*.yaml"))

# A budget of seconds: one batch per epoch and per chip, small phases (appended after the agent's command:
# Hydra keeps the last value of a key given twice).
# fast_dev_run trains one batch, so every child is at chance level, which a search records as failed
# (search.chance_margin): this plumbing test turns that rule off
TINY = ["+trainer.fast_dev_run=true", "search.episodes=2", "search.batch_size=2", "search.top_k=1",
        "search.rnas_steps=2", "search.finetune_top=1", "search.finetune_epochs=1", "search.topk_finetune_epochs=1",
        "executor.threads_per_child=1", "search.chance_margin=null"]
SUMMARY_KEYS = ("best_reward", "best_accuracy_variation", "best_design_accuracy_variation", "best_design_edp",
                "best_design_area_mm2", "best_design_latency_s", "best_design_energy_j", "best_design_tops_per_w",
                "hypervolume_accuracy_log10edp", "hypervolume_accuracy_hardware_efficiency")


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def _finished(run, config: dict, value: float):
    """A finished run of the sweep, as the W&B backend would report it (for the bayes/random engines)."""
    metric = config.get("metric", {}).get("name", "best_reward")
    return sweeps.SweepRun(name=f"fake-{value}", config=run.config, state=sweeps.RunState.finished,
                           summaryMetrics={metric: value}, sampledHistory=[{metric: value}])


def proposals(config: dict, limit: int) -> list:
    """Runs the sweep engine proposes: the whole grid, or ``limit`` proposals of bayes/random, each told
    a fake finished result before the next is asked for."""
    runs: list = []
    out = []
    while len(out) < limit:
        run = sweeps.next_run(config, runs, validate=True)
        if run is None:
            break
        out.append(run)
        runs.append(_finished(run, config, 0.1 * len(out)))
    return out


def agent_command(config: dict, run) -> list[str]:
    """The command line `wandb agent` runs for a proposed run (wandb's own helpers, as in wandb_agent.py)."""
    command = {"args": run.config, "program": config["program"]}
    template = sweep_utils.create_sweep_command(list(config["command"]))
    macros = sweep_utils.create_sweep_command_args(command)
    macros.update(interpreter=["python"], program=[command["program"]], env=["/usr/bin/env"])
    line: list[str] = []
    for token in template:
        token = str(token)
        line += (macros.get(token[2:-1]) or []) if token.startswith("${") and token.endswith("}") else [token]
    return line


def hydra_overrides(line: list[str]) -> list[str]:
    assert line[:3] == ["/usr/bin/env", "python", "train.py"], line
    return line[3:]


def compose_overrides(overrides: list[str], out: Path):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="config", overrides=[*overrides, f"paths.output_dir={out}"])


def test_the_issue_studies_have_sweep_configs():
    names = {p.stem for p in SWEEPS}
    assert {"alpha_device", "sigma_mode", "controller_seed"} <= names
    swept = {p.stem: set(_load(p)["parameters"]) for p in SWEEPS}
    assert {"reward.alpha", "device"} <= swept["alpha_device"]
    assert {"imc.sigma_levels", "search.mode"} <= swept["sigma_mode"]
    assert {"controller", "seed"} <= swept["controller_seed"]


@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: p.stem)
def test_sweep_config_is_valid_for_the_sweep_engine_and_the_agent(path):
    config = _load(path)
    assert sweeps.schema_violations_from_proposed_config(config) == []
    assert config["program"] == "train.py" and (ROOT / config["program"]).is_file()
    command = [str(c) for c in config["command"]]
    assert command[:3] == ["${env}", "${interpreter}", "${program}"] and command[-1] == "${args_no_hyphens}"
    experiments = [c for c in command if c.startswith("+experiment=")]
    assert len(experiments) == 1 and (CONF / "experiment" / f"{experiments[0].split('=', 1)[1]}.yaml").is_file()
    metric = config["metric"]["name"]
    assert metric in SUMMARY_KEYS  # a summary key every search run logs


def test_the_sweep_engine_rejects_a_broken_config():
    broken = _load(SWEEPS[0])
    broken["method"] = "gridd"
    assert sweeps.schema_violations_from_proposed_config(broken)


@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: p.stem)
def test_every_proposed_run_composes_into_a_valid_app_config(path, tmp_path):
    config = _load(path)
    grid = math.prod(len(p.get("values", [p.get("value")])) for p in config["parameters"].values())
    runs = proposals(config, limit=grid + 1 if config["method"] == "grid" else 4)
    assert runs, f"{path.name}: the sweep engine proposed no run"
    if config["method"] == "grid":
        assert len(runs) == grid  # the whole grid, each point once, then nothing
        assert len({json.dumps(r.config, sort_keys=True, default=str) for r in runs}) == len(runs)
    for run in runs:
        overrides = hydra_overrides(agent_command(config, run))
        cfg = compose_overrides(overrides, tmp_path)
        prepared = prepare(cfg)  # validates every key and value; no data is loaded
        assert prepared.settings.mode == "search" and prepared.settings.logger.mode == "online"
        for key, value in ((k, v["value"]) for k, v in run.config.items()):
            if key == "controller":
                assert cfg.controller.name == value
            elif key == "device":  # the config group: the imc device, and the frozen device of the space
                assert cfg.imc.device == value and prepared.space.fixed["device"] == value
                assert "device" not in prepared.space.names
            else:
                assert OmegaConf.select(cfg, key) == pytest.approx(value), key


def test_sweep_device_freezes_the_device_in_every_phase(tmp_path):
    from lightning_imc.search import MODE_SWITCHES

    prepared = prepare(compose_overrides(["+experiment=sweep_device", "device=sram"], tmp_path))
    assert prepared.settings.imc.device == "sram" and prepared.space.fixed == {"device": "sram"}
    for switches in MODE_SWITCHES.values():
        space = prepared.space.select_groups(switches.groups)
        assert "device" not in space.names and space.decode([0] * len(space.names))["device"] == "sram"
    full = prepare(compose_overrides(["+experiment=sweep_base", "device=sram"], tmp_path))
    assert "device" in full.space.names  # sweep_base searches the device


def test_search_summary_has_hypervolumes_against_fixed_references():
    from types import SimpleNamespace

    from lightning_imc.app import search_summary

    def record(status, reward, acc, edp, efficiency):
        hardware = {"edp": edp, "area_mm2": 1.0}
        return SimpleNamespace(status=status, reward=reward, key=f"k{reward}", phase="ptbnas",
                               metrics={"accuracy_variation": acc, "accuracy_clean": acc, "hardware": hardware,
                                        "hardware_efficiency": efficiency})

    records = [record("ok", 0.6, 0.8, 1e-12, 0.5), record("ok", 0.5, 0.6, 1e-13, 0.7),
               record("failed", -1.0, 0.99, 1e-15, 0.99)]
    summary = search_summary(records)
    # (0.8, -12) and (0.6, -13) against (accuracy 0, log10 EDP 0): 0.8 * 12 + 0.6 * 1
    assert summary["hypervolume_accuracy_log10edp"] == pytest.approx(10.2)
    # (0.8, 0.5) and (0.6, 0.7) against (0, 0): 0.8 * 0.5 + 0.6 * 0.2
    assert summary["hypervolume_accuracy_hardware_efficiency"] == pytest.approx(0.52)
    assert summary["best_reward"] == 0.6 and summary["best_design_edp"] == 1e-12 and summary["n_failed"] == 1
    assert "hypervolume_accuracy_log10edp" not in search_summary([records[2]])


def _env(tmp_path: Path) -> dict:
    return dict(os.environ, PYTHONHASHSEED="0", WANDB_MODE="offline", WANDB_SILENT="true",
                **{k: str(tmp_path / "wandb-home") for k in ("WANDB_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR",
                                                             "WANDB_CONFIG_DIR")})


def test_a_proposed_run_executes_as_the_agent_would_run_it(tmp_path):
    """The first proposal of the alpha x device sweep, its exact command line plus a tiny budget, W&B offline."""
    config = _load(CONF / "sweep" / "alpha_device.yaml")
    run = proposals(config, limit=1)[0]
    line = agent_command(config, run)
    # the agent runs `python train.py ...` in the repository; here the program's full path, outputs in tmp_path
    command = [sys.executable, str(ROOT / line[2]), *hydra_overrides(line), *TINY, "logger.mode=offline"]
    result = subprocess.run(command, cwd=str(tmp_path), env=_env(tmp_path), capture_output=True, text=True,
                            timeout=600)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    summaries = list((tmp_path / "outputs" / "sweep_device").glob("*/search_summary.json"))
    assert len(summaries) == 1, output[-3000:]
    folder = summaries[0].parent.name  # named after the overrides: each sweep run has its own history
    assert "device=rram_nacim" in folder and "reward.alpha=0.25" in folder and "logger" not in folder
    summary = json.loads(summaries[0].read_text())
    assert summary["phases"] == ["ptbnas", "topk_finetune/0", "rnas/0", "finetune"] and summary["n_ok"] >= 1
    for key in SUMMARY_KEYS:
        assert isinstance(summary[key], float), key
    from lightning_imc.search.history import HistoryStore

    with HistoryStore.open_readonly(str(summaries[0].parent / "history.sqlite")) as store:
        assert {r.choices["device"] for r in store.records()} == {"rram_nacim"}
    # the W&B run (offline here; online under an agent) got the dashboard's summary keys and was finished
    runs = list(summaries[0].parent.glob("wandb/offline-run-*/run-*.wandb"))
    assert len(runs) == 1, output[-3000:]
    from lightning_imc.tracking import read_offline_run

    wandb_run = read_offline_run(runs[0])
    assert wandb_run.kinds.get("exit") == 1  # wandb.finish()
    assert set(SUMMARY_KEYS) <= set(wandb_run.summary)


def test_hydra_multirun_runs_the_same_study_without_wandb(tmp_path):
    sweep_dir = tmp_path / "multirun"
    command = [sys.executable, str(ROOT / "train.py"), "-m", "+experiment=sweep_device", "search.mode=ptbnas",
               "device=fefet,sram", *TINY, "logger=none", f"hydra.sweep.dir={sweep_dir}"]
    result = subprocess.run(command, cwd=str(tmp_path), env=_env(tmp_path), capture_output=True, text=True,
                            timeout=600)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    summaries = sorted(sweep_dir.glob("*/search_summary.json"))
    assert len(summaries) == 2, output[-3000:]
    for device, path in zip(("fefet", "sram"), summaries):  # sequential jobs, one folder each
        assert f"device={device}" in path.parent.name
        summary = json.loads(path.read_text())
        assert summary["phases"] == ["ptbnas"] and summary["n_ok"] == 2
        assert "best_reward" in summary and "hypervolume_accuracy_log10edp" in summary


# One search on Ray with 2 workers: tests/test_search.py::test_ray_executor_gives_the_same_history_as_local
# (a local Ray of 2 CPUs, one per child, gives the history of the local executor); the two-node cluster
# recipe of docs/sweeps_and_scale.md (head + worker, executor.address) is exercised by scripts/bench_ray.py.
