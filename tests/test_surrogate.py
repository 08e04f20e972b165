"""The surrogate controller: beats random, restores exactly, never repeats, warm-starts, and never asks what
the chip model (its exact part) rules out; its wiring in the search (exact part, warm start, bad settings)."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from lightning_imc.controllers import ExactPart, get_controller
from lightning_imc.controllers.benchmark import chain_landscape, run_controller

SMALL = {"n_estimators": 16}  # fast trees; the defaults otherwise


def _run(controller, value, rounds: int, batch: int = 5) -> list[list[int]]:
    asked = []
    for _ in range(rounds):
        codes = controller.ask(batch)
        asked += codes
        controller.tell(codes, [value(c) for c in codes])
    return asked


def test_beats_random_on_a_small_landscape_across_seeds():
    cards = (3, 4, 3, 4, 3, 4)  # 1,728 points: scored in full
    ratios = []
    for seed in range(4):
        land = chain_landscape(seed, cards)
        queries = {}
        for name, settings in (("surrogate", SMALL), ("random", {})):
            runs = [run_controller(get_controller(name, cardinalities=cards, seed=s, **settings), land,
                                   budget=600, batch_size=10).queries_to_top[0.01] or 601 for s in range(3)]
            queries[name] = statistics.median(runs)
        ratios.append(queries["surrogate"] / queries["random"])
    assert statistics.median(ratios) <= 0.5, ratios


def test_state_round_trip_gives_identical_asks_and_reactions():
    land = chain_landscape(1, (4, 5, 3, 6, 4, 5, 3, 4))  # a large space: random candidates and neighbours
    a = get_controller("surrogate", cardinalities=land.cardinalities, seed=3, **SMALL)
    _run(a, land, rounds=4)
    state = json.loads(json.dumps(a.state_dict()))
    b = get_controller("surrogate", cardinalities=land.cardinalities, seed=3, **SMALL)
    b.load_state_dict(state)
    for _ in range(3):
        codes_a, codes_b = a.ask(5), b.ask(5)
        assert codes_a == codes_b
        a.tell(codes_a, [land(c) for c in codes_a])
        b.tell(codes_b, [land(c) for c in codes_b])
    assert a.state_dict() == b.state_dict()
    with pytest.raises(ValueError, match="kappa"):
        get_controller("surrogate", cardinalities=land.cardinalities, seed=3, n_estimators=16, kappa=1.0).load_state_dict(state)


def test_never_repeats_until_the_space_is_exhausted():
    cards = [3, 3, 2]
    ctrl = get_controller("surrogate", cardinalities=cards, seed=0, **SMALL)
    asked = _run(ctrl, lambda c: float(c[0] * c[1] - c[2]), rounds=6, batch=3)  # all 18 points
    assert len({tuple(c) for c in asked}) == 18
    assert len(ctrl.ask(2)) == 2  # an exhausted space still answers


def test_warm_start_fits_the_model_on_the_history():
    land = chain_landscape(2, (4, 5, 3, 6, 4, 5, 3, 4))
    history = get_controller("random", cardinalities=land.cardinalities, seed=9).ask(60)
    gains = []
    for seed in range(3):
        warm = get_controller("surrogate", cardinalities=land.cardinalities, seed=seed, **SMALL)
        warm.seed_population(history, [land(c) for c in history])
        cold = get_controller("surrogate", cardinalities=land.cardinalities, seed=seed, **SMALL)
        first_warm, first_cold = warm.ask(10), cold.ask(10)
        assert not {tuple(c) for c in first_warm} & {tuple(c) for c in history}  # no seeded point again
        gains.append(statistics.fmean(land(c) for c in first_warm) - statistics.fmean(land(c) for c in first_cold))
    # the cold controller's first batch is random; the warm one's is the model's, near the history's best
    assert min(gains) > 0.05, gains
    assert warm.num_told == 60 and warm.state_dict()["extra"]["codes"][:60] == history


def test_ruled_out_and_no_upside_candidates_are_never_asked():
    land = chain_landscape(3, (4, 5, 3, 6, 4, 5, 3, 4))
    calls = []

    def exact(code):  # code[0] == 0: infeasible; reward = 0.5 * hardware(code[1]) + 0.5 * accuracy
        calls.append(tuple(code))
        return None if code[0] == 0 else ExactPart(0.5 * code[1] / 4, 0.5)

    def reward(code):
        part = exact(code)
        assert part is not None
        return part.offset + part.weight * land(code)

    ctrl = get_controller("surrogate", cardinalities=land.cardinalities, seed=0, exact_part=exact, **SMALL)
    asked = []
    for _ in range(12):
        codes = ctrl.ask(5)
        best = ctrl.best()[1] if ctrl.best() else float("-inf")
        for c in codes:  # admissible when asked: feasible, and able to beat the best so far at accuracy 1
            assert c[0] != 0
            assert 0.5 * c[1] / 4 + 0.5 > best
        asked += codes
        ctrl.tell(codes, [reward(c) for c in codes])
    assert len({tuple(c) for c in asked}) == len(asked)
    assert "exact_part" not in ctrl.hyperparameters and "exact_part" not in json.dumps(ctrl.state_dict())
    # the chip model judged a shortlist, not the whole pool of thousands of candidates
    assert len(set(calls)) < 12 * 200


def test_bad_settings_name_the_key_and_what_is_allowed():
    with pytest.raises(ValueError, match=r"model='xgboost' is not allowed; allowed: random_forest, extra_trees"):
        get_controller("surrogate", cardinalities=[3, 3], model="xgboost")
    with pytest.raises(ValueError, match=r"n_initial must be an int in \[2, inf\]"):
        get_controller("surrogate", cardinalities=[3, 3], n_initial=1)
    with pytest.raises(ValueError, match="unknown hyperparameter"):
        get_controller("surrogate", cardinalities=[3, 3], exact=None)


# ---------------------------------------------------------------------- in the search
from test_search import FakeExecutor, _search, compose_config  # noqa: E402


def test_search_settings_are_checked_before_the_search_starts(tmp_path):
    from lightning_imc.app import prepare
    from lightning_imc.settings import ConfigError

    for override, message in (("controller.kappa=-1", "controller.kappa must be a number in [0.0, inf], got -1"),
                              ("controller.acquisition=pi", "controller.acquisition='pi' is not allowed; allowed: ucb, ei, mean"),
                              ("search.warm_start=/nonexistent", "search.warm_start='/nonexistent': give an earlier")):
        with pytest.raises(ConfigError) as info:
            prepare(compose_config(tmp_path, "mode=search", "+experiment=quickstart", "controller=surrogate", override))
        assert message in str(info.value)


def test_search_hands_down_the_exact_part_and_warm_starts(tmp_path):
    from lightning_imc.search import MODE_SWITCHES

    first, store = _search(tmp_path / "a", FakeExecutor(), "controller=surrogate", "search.mode=ptbnas",
                           "search.episodes=8", "search.batch_size=4")
    with store:
        first.run()
        told = store.records(phase="ptbnas")
    assert len(told) == 8
    # accuracy-only phase, no constraints: the chip model has nothing to tell the controller
    assert first._controller("ptbnas", first.space, MODE_SWITCHES["ptbnas"]).exact_part is None
    # a phase whose reward counts hardware gets the chip model's share: offset (1 - alpha) F, weight alpha
    first.hardware_of = lambda candidate: {"latency_s": 1e-5, "energy_j": 1e-7, "area_mm2": 5.0}
    first.reward = {"alpha": 0.5, "weights": {"latency_s": 1.0}, "merge": "weighted_sum", "failed_reward": -1.0,
                    "bounds": {"latency_s": [1e-6, 1e-4]}}
    space = first.space.select_groups(MODE_SWITCHES["rnas"].groups)
    controller = first._controller("rnas", space, MODE_SWITCHES["rnas"])
    part = controller.exact_part(controller.ask(1)[0])
    assert part == ExactPart(pytest.approx(0.25), 0.5)  # efficiency 0.5 at 1e-5 s on the log scale

    second, store2 = _search(tmp_path / "b", FakeExecutor(), "controller=surrogate", "search.mode=ptbnas",
                             "search.episodes=4", "search.batch_size=4", f"search.warm_start={tmp_path / 'a'}")
    with store2:
        second.run()
        state = store2.load_state("ptbnas")[1]
    assert state["num_told"] == 8 + 4  # the earlier history's 8 results, then its own 4
    assert sorted(state["extra"]["codes"][:8]) == sorted(r.codes for r in told)
    new = [tuple(c) for c in state["extra"]["codes"][8:]]
    assert not set(new) & {tuple(r.codes) for r in told}  # nothing of the earlier history is trained again
