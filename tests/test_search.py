"""The co-exploration loop: modes, cache, failed children, resume after kill -9, report, Ray vs local."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from lightning_imc.app import prepare, run
from lightning_imc.search import MODE_SWITCHES, Search
from lightning_imc.search.history import HistoryStore
from lightning_imc.search.loop import SearchInputError, search_fingerprint
from lightning_imc.settings import ConfigError

ROOT = Path(__file__).resolve().parents[1]
CONF = str(ROOT / "conf")

# A small real search on the digits: 2 epochs per child, few chips, hardware-model bounds from 8 samples.
# Two epochs leave many children at chance level on chips, which the search records as failed
# (search.chance_margin); these tests are about the loop's structure, so they turn that rule off.
SMALL = ["mode=search", "trainer.max_epochs=2", "logger=none", "callbacks.variation_eval.n_chips=3",
         "reward.bound_samples=8", "executor.threads_per_child=1", "trainer.enable_progress_bar=false",
         "search.chance_margin=null"]


def compose_config(out: Path, *overrides: str):
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        return compose(config_name="config", overrides=[f"paths.output_dir={out}", *overrides])


class FakeExecutor:
    """Scores candidates without training: reward = mean code value; chosen codes fail."""

    def __init__(self, fail_if=lambda job: False, stop_after: int | None = None, checkpoints: bool = False):
        self.jobs: list = []
        self.fail_if = fail_if
        self.stop_after = stop_after
        self.checkpoints = checkpoints  # write and report the job's checkpoint (top-K phases need one)

    def imap(self, jobs):
        for position, job in enumerate(jobs):
            if self.stop_after is not None and len(self.jobs) >= self.stop_after:
                raise KeyboardInterrupt("simulated crash")
            self.jobs.append(job)
            failed = self.fail_if(job)
            reward = -1.0 if failed else sum(len(str(v)) * (i + 1) for i, v in enumerate(job.candidate.values())) % 97 / 97
            metrics = {} if failed else {"accuracy_variation": reward, "accuracy_clean": reward,
                                         "hardware": {"latency_s": 1e-5, "energy_j": 1e-7, "area_mm2": 5.0,
                                                      "tops": 0.1, "tops_per_w": 10.0, "edp": 1e-12}}
            if self.checkpoints and job.checkpoint_path and not failed:  # a file later phases can start from
                Path(job.checkpoint_path).parent.mkdir(parents=True, exist_ok=True)
                Path(job.checkpoint_path).write_bytes(b"")
            yield position, {"status": "failed" if failed else "ok", "reward": reward, "metrics": metrics,
                             "started_at": 0.0, "finished_at": 0.0, "train_seconds": 0.0,
                             "checkpoint_path": job.checkpoint_path if self.checkpoints else None,
                             "error": "boom" if failed else None}

    def close(self):
        pass


def _search(tmp_path, executor, *overrides):
    # the loop's structure with a fake executor and no chip model: random rNAS moves, which need no hardware_of
    cfg = compose_config(tmp_path, *SMALL, "search.rnas_moves=random", *overrides)
    prepared = prepare(cfg)
    from lightning_imc.app import _to_container

    config = _to_container(cfg)
    store = HistoryStore.open(str(tmp_path / "history.sqlite"), search_fingerprint(config))
    reward = {"alpha": 1.0, "weights": {}, "merge": "weighted_sum", "failed_reward": -1.0, "bounds": {}}
    return Search(config, prepared.settings, prepared.space, store, executor, reward), store


@pytest.mark.parametrize("mode", ["nas", "quantnas", "ptbnas"])
def test_modes_open_their_switches_only(tmp_path, mode):
    executor = FakeExecutor()
    search, store = _search(tmp_path, executor, f"search.mode={mode}", "search.episodes=6", "search.batch_size=3",
                            "controller=random")
    with store:
        search.run()
        records = store.records(phase=mode)
    assert len(records) == 6 and all(r.status == "ok" for r in records)
    space = search.space
    switches = MODE_SWITCHES[mode]
    default = space.default_candidate()
    for group, names in space.all_groups.items():
        for name in names:
            values = {r.choices[name] for r in records}
            if group not in switches.groups:
                assert values == {default[name]}, (group, name)  # frozen at the default
    assert {job.variation for job in executor.jobs} == {switches.variation}
    assert {job.accuracy_source for job in executor.jobs} == {switches.accuracy_source}


@pytest.mark.parametrize("mode", ["quantnas", "ptbnas"])
def test_finetune_baselines_spend_the_top_k_epochs_that_nacim_spends(tmp_path, mode):
    """Table II's budgets: a baseline fine-tunes its own top-K (by its own reward, with its own training:
    QuantNAS without variation) for topk_finetune_epochs, as NACIM does before rNAS."""
    executor = FakeExecutor(checkpoints=True)
    search, store = _search(tmp_path, executor, f"search.mode={mode}", "search.episodes=6", "search.batch_size=3",
                            "controller=random", "search.finetune_baselines=true", "search.top_k=2",
                            "search.topk_finetune_epochs=3")
    with store:
        phases = search.run()
        searched = store.records(phase=mode)
    assert list(phases) == [mode, "topk_finetune/0", "topk_finetune/1"]
    tuned = [job for job in executor.jobs if job.phase.startswith("topk_finetune/")]
    assert len(tuned) == 2 and all(job.train_epochs == 3 for job in tuned)
    assert {job.variation for job in tuned} == {MODE_SWITCHES[mode].variation}
    assert {job.accuracy_source for job in tuned} == {MODE_SWITCHES[mode].accuracy_source}
    best = max(searched, key=lambda r: r.reward)
    assert tuned[0].init_checkpoint == best.checkpoint_path and tuned[0].candidate == best.choices
    without = FakeExecutor(checkpoints=True)
    search, store = _search(tmp_path / "off", without, f"search.mode={mode}", "search.episodes=6",
                            "search.batch_size=3", "controller=random", "search.top_k=2")
    with store:
        assert list(search.run()) == [mode]  # off by default: the modes alone are unchanged


def test_same_genome_is_never_trained_twice_and_failures_are_recorded(tmp_path):
    # a space with 2 candidates: repeated proposals are certain
    executor = FakeExecutor(fail_if=lambda job: job.candidate["pool_1"] is True)
    search, store = _search(tmp_path, executor, "search.mode=nas", "search.episodes=10", "search.batch_size=5",
                            "controller=random")
    search.space = search.space.restrict({d.name: search.space.default_candidate()[d.name]
                                          for d in search.space.dimensions if d.name != "pool_1"})
    with store:
        search.run()
        records = store.records(phase="nas")
    assert len(records) == 10
    assert len(executor.jobs) == len({r.key for r in records}) <= 2  # each genome evaluated once
    failed = [r for r in records if r.status == "failed"]
    assert failed and all(r.reward == -1.0 and r.error for r in failed)


@pytest.mark.parametrize("batches", [4, 0])
def test_rnas_proposals_set_their_input_ranges_for_their_own_formats(tmp_path, batches):
    weights = tmp_path / "parent.pt"
    weights.write_bytes(b"")  # the fake executor never loads it
    executor = FakeExecutor()
    search, store = _search(tmp_path, executor, "search.mode=rnas", "search.episodes=3", "search.batch_size=3",
                            "controller=random", f"search.rnas_checkpoint={weights}",
                            f"search.rnas_input_calibration_batches={batches}")
    with store:
        search.run()
    assert executor.jobs and all(job.train_epochs == 0 for job in executor.jobs)
    assert {job.extra.get("input_calibration_batches") for job in executor.jobs} == {batches}


def test_interrupted_search_resumes_without_retraining_and_with_the_same_sequence(tmp_path):
    overrides = ["search.mode=ptbnas", "search.episodes=12", "search.batch_size=4", "controller=reinforce"]
    reference, store = _search(tmp_path / "a", FakeExecutor(), *overrides)
    with store:
        reference.run()
        expected = [(r.index, r.key, r.reward) for r in store.records()]
    crashing = FakeExecutor(stop_after=6)  # dies inside the second batch
    search, store = _search(tmp_path / "b", crashing, *overrides)
    with store, pytest.raises(KeyboardInterrupt):
        search.run()
    resumed_executor = FakeExecutor()
    search, store = _search(tmp_path / "b", resumed_executor, *overrides)
    with store:
        search.run()
        got = [(r.index, r.key, r.reward) for r in store.records()]
    assert got == expected
    # the children finished before the crash (inside the interrupted batch too) were not evaluated again
    assert len(crashing.jobs) == 6
    assert not {job.index for job in crashing.jobs} & {job.index for job in resumed_executor.jobs}


def test_rnas_needs_saved_weights(tmp_path):
    # the application refuses it with the settings, before any data loads
    with pytest.raises(ConfigError, match="search.rnas_checkpoint=None"):
        prepare(compose_config(tmp_path, *SMALL, "search.mode=rnas", "controller=random"))
    # the search layer on its own refuses it too (e.g. weights deleted after the settings were checked)
    missing = tmp_path / "gone.pt"
    missing.write_bytes(b"x")
    search, store = _search(tmp_path, FakeExecutor(), "search.mode=rnas", "controller=random",
                            f"search.rnas_checkpoint={missing}")
    missing.unlink()
    with store, pytest.raises(SearchInputError, match="search.rnas_checkpoint="):
        search.run()


def test_search_config_errors(tmp_path):
    for override, message in [("search.mode=darts", "search.mode='darts'; allowed"),
                              ("search.episodes=0", "search.episodes=0; must be an integer >= 1"),
                              ("executor.kind=slurm", "executor.kind='slurm'; allowed: ['local', 'ray']"),
                              ("controller.name=bayes", "controller.name='bayes'; allowed")]:
        with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(")):
            prepare(compose_config(tmp_path, "mode=search", override))


@pytest.mark.parametrize("name", ["evolution", "nsga2", "random", "reinforce", "surrogate", "tpe"])
def test_quickstart_composes_and_searches_with_every_controller(tmp_path, name):
    """`python train.py +experiment=quickstart controller=<name>` once failed for every controller but
    REINFORCE (the experiment set controller.batch_size); the batch is search.batch_size for all."""
    from lightning_imc.controllers import controller_names

    assert name in controller_names()
    executor = FakeExecutor()
    search, store = _search(tmp_path, executor, "+experiment=quickstart", f"controller={name}",
                            "search.mode=ptbnas", "search.episodes=8")
    controller = search._controller("ptbnas", search.space)
    assert controller.name == name
    if name == "reinforce":
        assert controller.batch_size == search.settings.search.batch_size == 4
    with store:
        search.run()
        records = store.records(phase="ptbnas")
    assert len(records) == 8 and all(r.status == "ok" for r in records)


def test_every_controller_name_has_a_config_that_composes_with_quickstart(tmp_path):
    from lightning_imc.controllers import controller_names

    for name in controller_names():
        prepared = prepare(compose_config(tmp_path, "+experiment=quickstart", f"controller={name}"))
        assert prepared.settings.controller["name"] == name


@pytest.mark.parametrize("override, message", [
    ("search.rnas_moves=steepest", "search.rnas_moves='steepest'; allowed: random, cost_descent"),
    ("search.rnas_cost_share=1.5", "search.rnas_cost_share=1.5; must be a number in [0, 1]"),
])
def test_bad_rnas_settings_fail_before_searching(tmp_path, override, message):
    with pytest.raises(ConfigError) as info:
        prepare(compose_config(tmp_path, "+experiment=quickstart", override))
    assert message in str(info.value)


def test_cost_descent_without_the_chip_model_is_refused(tmp_path):
    prepared = prepare(compose_config(tmp_path, "+experiment=quickstart", "search.rnas_moves=cost_descent"))
    search = Search({}, prepared.settings, prepared.space, None, None, {})
    with pytest.raises(SearchInputError, match="hardware_of"):
        search._hardware_efficiency(prepared.space, MODE_SWITCHES["rnas"])


@pytest.mark.parametrize("override, message", [
    ("+controller.batch_size=4", "controller.batch_size is not a controller setting; the batch of proposals "
                                 "(and REINFORCE's update batch m) is search.batch_size"),
    ("+controller.population=4", "controller.population is not a hyperparameter of controller 'evolution'; "
                                 "allowed: population_size, sample_size, initial"),
])
def test_unknown_controller_keys_fail_before_searching(tmp_path, override, message):
    with pytest.raises(ConfigError) as info:
        prepare(compose_config(tmp_path, "+experiment=quickstart", "controller=evolution", override))
    assert message in str(info.value)


NACIM_SMALL = ["search.mode=nacim", "controller=evolution", "controller.population_size=4", "controller.sample_size=2",
               "search.episodes=4", "search.batch_size=2", "search.top_k=1", "search.rnas_steps=3",
               "search.finetune_epochs=1", "search.topk_finetune_epochs=1", "search.rnas_cost_share=0.5",
               "search.rnas_moves=cost_descent"]


def test_small_real_nacim_search_writes_report_and_plots_and_resumes_moved_without_its_checkpoints(tmp_path):
    summary = run(compose_config(tmp_path, *SMALL, *NACIM_SMALL))
    # the paper's order: ptbNAS -> fine-tune the top-K -> rNAS on the fine-tuned weights -> fine-tune
    assert summary["phases"] == ["ptbnas", "topk_finetune/0", "rnas/0", "finetune"]
    assert summary["n_ok"] + summary["n_failed"] == 4 + 1 + 3 + 1
    report = (tmp_path / "report.md").read_text()
    assert "Table II" in report and "ptbnas" in report and "rnas/0" in report
    for name in ("pareto_edp.png", "pareto_area_mm2.png", "rewards.png", "report.csv"):
        assert (tmp_path / name).stat().st_size > 1000 or name.endswith(".csv")
    with HistoryStore.open_readonly(str(tmp_path / "history.sqlite")) as store:
        rnas = store.records(phase="rnas/0")
        ptb = {r.key: r for r in store.records(phase="ptbnas")}
        tuned = store.records(phase="topk_finetune/0")
    assert all(r.train_seconds == 0.0 for r in rnas)  # rNAS reuses saved weights: no training
    assert tuned[0].train_seconds > 0 and {r.checkpoint_path for r in rnas} == {tuned[0].checkpoint_path}
    archs = {tuple(sorted((k, v) for k, v in r.choices.items() if k.startswith(("filters", "kh", "kw", "pool", "fc"))))
             for r in rnas}
    assert len(archs) == 1  # one fixed architecture per rNAS phase
    assert any(r.checkpoint_path for r in ptb.values())
    shares = tuned[0].metrics["layer_cost_shares"]  # what steered rNAS's cost-guided mutations
    assert len(shares) == 8 and abs(sum(shares) - 1) < 1e-9 and min(shares) >= 0

    # The search folder moved (a new checkout) without its checkpoints (git keeps none), interrupted before its
    # last phase: the final fine-tune starts from rNAS's design, whose weights are the top-K fine-tune's, which
    # started from a ptbNAS child's. Both are trained again from the history, then the search ends as the
    # uninterrupted one did, record for record.
    import shutil
    import sqlite3

    moved = tmp_path.parent / (tmp_path.name + "_moved")
    shutil.copytree(tmp_path, moved, ignore=shutil.ignore_patterns("checkpoints", "*.lock"))
    shutil.rmtree(tmp_path / "checkpoints")  # the records' paths point here
    with sqlite3.connect(moved / "history.sqlite") as db:
        db.execute("DELETE FROM candidates WHERE phase = 'finetune'")
        db.execute("DELETE FROM meta WHERE key = 'phase_done/finetune'")
        # ptbNAS's jobs as a history written before they were kept: derived from the phase's switches
        db.execute("DELETE FROM meta WHERE key LIKE 'job/ptbnas/%'")
    run(compose_config(moved, *SMALL, *NACIM_SMALL))
    assert _history(moved) == _history(tmp_path)
    with HistoryStore.open_readonly(str(moved / "history.sqlite")) as store:
        rebuilt = {key: value for key, value in store.meta().items() if key.startswith("rebuilt/")}
        parent = tuned[0].metrics.get("promoted_from")  # no multi-fidelity here: the top-K's parent is ptbNAS's
    assert set(rebuilt) == {"rebuilt/topk_finetune/0/0", f"rebuilt/ptbnas/{ptb[tuned[0].key].index}"}, rebuilt
    assert all(v["reward_rebuilt"] == v["reward_recorded"] for v in rebuilt.values())  # same machine: same weights
    assert parent is None and (moved / "checkpoints" / "topk_finetune_0" / f"{tuned[0].key}.pt").is_file()


def _cli(out: Path, *overrides: str, **popen):
    command = [sys.executable, str(ROOT / "train.py"), *SMALL, f"paths.output_dir={out}", f"hydra.run.dir={out}",
               *overrides]
    return subprocess.Popen(command, cwd=str(out.parent), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env=dict(os.environ, PYTHONHASHSEED="0"), **popen)


def _history(out: Path) -> list[tuple]:
    """(phase, index, key, reward) in proposal order (Ray records children in completion order)."""
    with HistoryStore.open_readonly(str(out / "history.sqlite")) as store:
        return sorted((r.phase, r.index, r.key, round(r.reward, 6)) for r in store.records())


# kill -9 (and SIGTERM, a full disk, a second writer) at random moments, then the same command:
# tests/test_bad_inputs.py::test_signals_kill_a_second_writer_and_a_full_disk_end_with_the_uninterrupted_history


def test_ray_executor_gives_the_same_history_as_local(tmp_path):
    pytest.importorskip("ray")
    overrides = ["search.mode=ptbnas", "search.episodes=4", "search.batch_size=2", "controller=evolution",
                 "controller.population_size=2", "controller.sample_size=2"]
    local = tmp_path / "local"
    local.mkdir()
    assert _cli(local, *overrides).wait(timeout=600) == 0
    on_ray = tmp_path / "on_ray"  # not "ray": Ray puts the driver's working folder on its workers' sys.path
    on_ray.mkdir()
    process = _cli(on_ray, *overrides, "executor=ray", "executor.num_cpus=2", "executor.cpus_per_child=1")
    output = process.communicate(timeout=900)[0].decode(errors="replace")
    assert process.returncode == 0, output[-3000:]
    assert _history(on_ray) == _history(local)


def test_a_diverging_child_is_recorded_as_failed_with_the_floor_reward(tmp_path, monkeypatch):
    from lightning_imc.app import _to_container, child_context
    from lightning_imc.models.module import ChildModule
    from lightning_imc.search import ChildJob, run_child_job

    # The CLI refuses a step size that diverges by construction (optimizer.lr > 10, issue 28), so the
    # divergence is a loss that turns non-finite at the third step, as an unstable candidate's would.
    real_loss = ChildModule._loss

    def loss_that_diverges(self, logits, target):
        loss = real_loss(self, logits, target)
        return loss * float("inf") if self.global_step >= 2 else loss

    monkeypatch.setattr(ChildModule, "_loss", loss_that_diverges)
    cfg = compose_config(tmp_path, *SMALL, "optimizer=sgd", "optimizer.scheduler=none")
    config = _to_container(cfg)
    space = prepare(cfg).space
    reward = {"alpha": 1.0, "weights": {}, "merge": "weighted_sum", "failed_reward": -1.0, "bounds": {}}
    job = ChildJob(config=config, phase="ptbnas", index=0, candidate=space.default_candidate().to_dict(), seed=0,
                   train_epochs=2, variation="train", accuracy_source="variation", reward=reward, threads=1,
                   context_factory=child_context)
    outcome = run_child_job(job)
    assert outcome["status"] == "failed" and outcome["reward"] == -1.0
    assert "FloatingPointError" in outcome["error"] or "non-finite" in outcome["error"]
