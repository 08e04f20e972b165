"""Multi-fidelity search (successive halving) and multi-objective controllers inside the search loop."""

from __future__ import annotations

from pathlib import Path

import pytest

from lightning_imc.search.fidelity import FidelitySchedule, child_epochs, highest_rung_records
from lightning_imc.search.report import render_report
from lightning_imc.settings import ConfigError
from test_search import SMALL, FakeExecutor, _search, compose_config


class EpochExecutor(FakeExecutor):
    """FakeExecutor whose children keep weights: a child's accuracy grows with its total epochs, so a
    continued child must have started from its parent's weights to score its total."""

    def __init__(self, stop_after: int | None = None):
        super().__init__(stop_after=stop_after)
        self.epochs_of: dict[str, int] = {}  # checkpoint path -> epochs trained into it

    def imap(self, jobs):
        for position, outcome in super().imap(jobs):
            job = jobs[position]
            total = self.epochs_of.get(job.init_checkpoint, 0) + job.train_epochs
            self.epochs_of[job.checkpoint_path] = total
            if job.checkpoint_path:
                Path(job.checkpoint_path).parent.mkdir(parents=True, exist_ok=True)
                Path(job.checkpoint_path).write_text(str(total))
            quality = outcome["reward"]
            accuracy = quality * total / (total + 2.0)
            outcome = dict(outcome, reward=accuracy, checkpoint_path=job.checkpoint_path,
                           metrics=dict(outcome["metrics"], accuracy_variation=accuracy), train_seconds=1.0)
            yield position, outcome


FIDELITY = ["search.mode=ptbnas", "search.episodes=12", "search.batch_size=4", "controller=random",
            "search.fidelity={rungs: [2, 4, 8], eta: 2}"]


def test_schedule_validation_names_the_key():
    assert FidelitySchedule.from_config(None) is None
    schedule = FidelitySchedule.from_config({"rungs": [1, 3, 9], "eta": 3})
    assert [schedule.promoted_count(n) for n in (1, 3, 4, 9, 27)] == [1, 1, 2, 3, 9]
    assert schedule.promoted_count(9, at_least=5) == 5 and schedule.promoted_count(2, at_least=5) == 2
    for bad, match in [({"rungs": [4, 2]}, "rungs=.*strictly increasing"), ({"rungs": [2, 8], "eta": 1}, "eta=1"),
                       ({"rungs": []}, "rungs"), ({"rungs": [2], "min_promoted": 0}, "min_promoted=0"),
                       ({"rungs": [2], "budget": 3}, "fidelity.budget is not a known key")]:
        with pytest.raises(ValueError, match=match):
            FidelitySchedule.from_config(bad)


def test_bad_fidelity_fails_when_settings_load(tmp_path):
    from lightning_imc.app import prepare

    with pytest.raises(ConfigError, match="search.fidelity.eta=0.5"):
        prepare(compose_config(tmp_path, *SMALL, "search.fidelity={rungs: [2, 8], eta: 0.5}"))


def _no_context(config):  # a child context factory the fake executors never call
    raise AssertionError("not called")


def test_successive_halving_continues_the_best_from_their_weights(tmp_path):
    executor = EpochExecutor()
    search, store = _search(tmp_path, executor, *FIDELITY)
    search.context_factory, search.chance_margin = _no_context, 0.05
    with store:
        phases = search.run()
        records = store.records()
    assert list(phases) == ["ptbnas", "ptbnas/rung1", "ptbnas/rung2"]
    rung0, rung1, rung2 = (phases[p] for p in phases)
    distinct = {r.key for r in rung0}
    assert len(rung1) == -(-len(distinct) // 2) and len(rung2) == -(-len(rung1) // 2)
    # the promoted are the best of the rung below (by the reward the controller saw)
    best0 = sorted({r.key: r.reward for r in rung0}.items(), key=lambda kv: -kv[1])[:len(rung1)]
    assert {r.key for r in rung1} == {k for k, _ in best0}
    # each continued child trained only the missing epochs, from its parent's checkpoint
    for record in rung1 + rung2:
        assert record.metrics["epochs"] == {1: 2, 2: 4}[int(record.phase[-1])]
        assert record.metrics["total_epochs"] == {1: 4, 2: 8}[int(record.phase[-1])]
        parent_phase, parent_index = record.metrics["promoted_from"]
        parent = next(r for r in records if r.phase == parent_phase and r.index == parent_index)
        assert parent.key == record.key and parent.reward < record.reward  # more epochs, from its weights
    assert all(r.metrics["epochs"] == 2 for r in rung0)
    jobs_by_phase = {}
    for job in executor.jobs:
        jobs_by_phase.setdefault(job.phase, []).append(job)
    assert all(job.init_checkpoint for job in jobs_by_phase["ptbnas/rung1"] + jobs_by_phase["ptbnas/rung2"])
    # a promoted child is built like any other (a real executor needs the application's context factory)
    assert {(job.context_factory, job.chance_margin) for job in executor.jobs} == {(_no_context, 0.05)}
    # child-epochs: rung 0 at 2 epochs each, then 2 and 4 more for the promoted
    assert child_epochs(records) == 2 * len(distinct) + 2 * len(rung1) + 4 * len(rung2)
    top = highest_rung_records(rung0, {p: phases[p] for p in ("ptbnas/rung1", "ptbnas/rung2")})
    assert {r.phase for r in top if r.key in {x.key for x in rung2}} == {"ptbnas/rung2"}


def test_fidelity_resumes_inside_a_rung_without_retraining(tmp_path):
    reference, store = _search(tmp_path / "a", EpochExecutor(), *FIDELITY)
    with store:
        reference.run()
        expected = [(r.phase, r.index, r.key, r.reward) for r in store.records()]
    crashing = EpochExecutor(stop_after=14)  # rung 0 has at most 12 children: dies inside rung 1
    search, store = _search(tmp_path / "b", crashing, *FIDELITY)
    with store, pytest.raises(KeyboardInterrupt):
        search.run()
    resumed = EpochExecutor()
    resumed.epochs_of = dict(crashing.epochs_of)  # the checkpoints on disk survive the crash
    search, store = _search(tmp_path / "b", resumed, *FIDELITY)
    with store:
        search.run()
        got = [(r.phase, r.index, r.key, r.reward) for r in store.records()]
    assert got == expected
    done_before = {(j.phase, j.index) for j in crashing.jobs}
    assert not done_before & {(j.phase, j.index) for j in resumed.jobs}


def test_nacim_with_fidelity_sends_fully_trained_architectures_to_rnas(tmp_path):
    executor = EpochExecutor()
    search, store = _search(tmp_path, executor, "search.mode=nacim", "search.episodes=6", "search.batch_size=3",
                            "controller=random", "search.top_k=2", "search.rnas_steps=2", "search.finetune_top=1",
                            "search.finetune_epochs=1", "search.fidelity={rungs: [1, 4], eta: 4}",
                            "search.topk_finetune_epochs=0")  # no top-K fine-tune: rNAS starts from rung 1's weights
    with store:
        phases = search.run()
    assert len(phases["ptbnas/rung1"]) == 2  # ceil(6 / 4) = 2, raised to top_k = 2 anyway
    rnas_starts = {job.init_checkpoint for job in executor.jobs if job.phase.startswith("rnas/")}
    assert rnas_starts == {r.checkpoint_path for r in phases["ptbnas/rung1"]}


def test_nsga2_is_told_the_named_metrics_and_the_report_has_a_front(tmp_path):
    class TwoObjectives(FakeExecutor):
        def imap(self, jobs):
            for position, outcome in super().imap(jobs):
                acc = outcome["reward"]
                hardware = dict(outcome["metrics"]["hardware"], edp=1e-12 * (1.0 + 3.0 * acc))  # accuracy costs EDP
                yield position, dict(outcome, metrics=dict(outcome["metrics"], hardware=hardware))

    search, store = _search(tmp_path, TwoObjectives(), "search.mode=ptbnas", "search.episodes=12",
                            "search.batch_size=4", "controller=nsga2", "controller.population_size=4")
    with store:
        search.run()
        records = store.records()
        step, state = store.load_state("ptbnas")
        report = render_report(store)
    told = [event for event in state["extra"]["events"] if event[0] == "tell"]
    by_key = {r.key: r for r in records}
    assert sum(len(event[1]) for event in told) == 12
    for event in told:
        for code, vector in zip(event[1], event[3]):
            record = next(r for r in records if r.codes == code)
            assert vector == [record.metrics["accuracy_variation"], record.metrics["hardware"]["edp"]]
    assert len(by_key) >= 2
    assert "| edp | ptbnas |" in report and "## Pareto front: accuracy with variation against EDP" in report
