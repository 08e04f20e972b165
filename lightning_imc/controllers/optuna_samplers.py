"""``tpe`` and ``nsga2``: Optuna's samplers behind the controllers' ask/tell interface.

Each dimension ``i`` is an Optuna categorical parameter ``d<i>`` with choices ``0 .. c_i - 1``
(unordered, like the space's dimensions). ``ask(n)`` opens ``n`` trials of an in-memory study;
``tell`` closes the open trial with the same codes (the oldest one, if several), or adds a finished
trial for codes that were never asked (a previous step's result, a proposal the search loop
inserted). A failed candidate (objective vector ``None``) is told to Optuna as a failed trial.

No repeats (``avoid_duplicates``, the default).  Optuna's samplers may propose a point that was already
asked or told (TPE once its model is sharp, NSGA-II whenever crossover and mutation rebuild a parent: half
of its proposals before this). The search loop only reuses the earlier result of a repeat, so it spends an
episode and teaches the sampler nothing. Such a trial is closed at once as failed (Optuna's samplers
leave failed trials out of their models and NSGA-II out of its generations) and the sampler is asked
again, up to :data:`OPTUNA_REDRAWS` times; then the unseen point
nearest to its last proposal (:func:`~lightning_imc.controllers.base.nearest_unseen`) is enqueued and asked. The discarded trials stay in the study (and in the replay).

Exact state.  Optuna's in-memory study is not serialisable, so the state is the controller's
*event log* (every ask with the codes it returned, every tell, every seeded result). Loading
replays the log on a fresh study built with the same seed: Optuna's samplers are deterministic
given their seed and the calls made, so the restored controller has the same trials, the same
sampler random state and asks the same proposals. Replay checks each ask against the recorded
codes and says so if they differ (another Optuna version). Its cost is that of the original asks
(milliseconds each; seconds for a search of a few hundred proposals).

* ``tpe`` — the Tree-structured Parzen Estimator, multivariate (dimensions modelled jointly, so
  interactions are seen), with the constant liar so that the proposals of one batch differ.
* ``nsga2`` — NSGA-II, a genetic algorithm with non-dominated sorting and crowding distance: with
  several objectives (e.g. accuracy on chips against EDP) it keeps a Pareto front instead of a
  weighted reward. The objectives' names are labels for the search loop, which reads them from
  each child's metrics.
"""

from __future__ import annotations

import logging
import random
from typing import Any, Sequence

from .base import Controller, check_number, nearest_unseen, register_controller

__all__ = ["TPEController", "NSGA2Controller"]

_DIRECTIONS = ("maximize", "minimize")

OPTUNA_REDRAWS = 2
"""Sampler calls that replace a repeating proposal before the nearest unseen point is taken. Fewer than
evolution's (:data:`~lightning_imc.controllers.base.DUPLICATE_REDRAWS`): each is a full sampler call
whose cost grows with the study, and a sharp TPE model repeats itself: on the synthetic landscapes
(500+ proposals) 16 redraws made TPE's runs 4-5x slower than 2 (up to 17 sampler calls per proposal once
the model is sharp), for no clear gain in queries to the top 0.1% (10 and 4 seeds)."""


def _optuna() -> Any:
    import optuna

    optuna.logging.set_verbosity(logging.WARNING)
    return optuna


class _OptunaController(Controller):
    """Shared machinery: the study, the open trials and the replayable event log."""

    def __init__(self, cardinalities: Sequence[int], seed: int = 0, avoid_duplicates: bool = True) -> None:
        super().__init__(cardinalities, seed)
        if not isinstance(avoid_duplicates, bool):
            raise ValueError(f"avoid_duplicates must be a bool, got {avoid_duplicates!r}")
        self.avoid_duplicates: bool = avoid_duplicates
        self._seen: set[tuple[int, ...]] = set()
        self._fallback_rng = random.Random(self.seed)
        self._events: list[list[Any]] = []
        self._study: Any = None
        self._open: list[tuple[Any, list[int]]] = []

    # -- subclass hooks ----------------------------------------------------------------------------
    def _make_sampler(self) -> Any:
        raise NotImplementedError

    # -- study -------------------------------------------------------------------------------------
    def _fresh_study(self) -> None:
        optuna = _optuna()
        self._study = optuna.create_study(directions=list(self.directions), sampler=self._make_sampler(),
                                          storage=optuna.storages.InMemoryStorage())
        self._distributions = {
            f"d{i}": optuna.distributions.CategoricalDistribution(list(range(c)))
            for i, c in enumerate(self.cardinalities)
        }
        self._open = []
        self._seen = set()
        self._fallback_rng = random.Random(self.seed)

    def _ensure_study(self) -> None:
        if self._study is None:
            self._fresh_study()

    def _values(self, reward: float, vector: list[float] | None) -> list[float] | None:
        if vector is None:
            return None
        if not self.multi_objective:
            return [reward]
        return vector

    def _do_ask(self, n: int) -> list[list[int]]:
        self._ensure_study()
        out = []
        for _ in range(n):
            trial, code = self._new_trial()
            if self.avoid_duplicates and tuple(code) in self._seen and len(self._seen) < self.space_size:
                trial, code = self._redraw(trial, code)
            self._seen.add(tuple(code))
            self._open.append((trial, code))
            out.append(code)
        return out

    def _new_trial(self) -> tuple[Any, list[int]]:
        trial = self._study.ask(self._distributions)
        return trial, [int(trial.params[f"d{i}"]) for i in range(self.num_dimensions)]

    def _redraw(self, trial: Any, code: list[int]) -> tuple[Any, list[int]]:
        """Close the repeating ``trial`` as failed and ask again (see the module doc)."""
        failed = _optuna().trial.TrialState.FAIL
        for attempt in range(OPTUNA_REDRAWS + 1):
            self._study.tell(trial, state=failed)
            if attempt < OPTUNA_REDRAWS:
                trial, code = self._new_trial()
            else:
                fresh = nearest_unseen(self._fallback_rng, code, self.cardinalities, self._seen)
                if fresh is not None:
                    self._study.enqueue_trial({f"d{i}": v for i, v in enumerate(fresh)})
                trial, code = self._new_trial()
            if tuple(code) not in self._seen:
                break
        return trial, code

    def _do_tell(self, codes: list[list[int]], rewards: list[float], objectives: list[list[float] | None]) -> None:
        optuna = _optuna()
        self._ensure_study()
        for code, reward, vector in zip(codes, rewards, objectives):
            self._seen.add(tuple(code))
            values = self._values(reward, vector)
            position = next((k for k, (_, c) in enumerate(self._open) if c == code), None)
            if position is not None:
                trial, _ = self._open.pop(position)
                if values is None:
                    self._study.tell(trial, state=optuna.trial.TrialState.FAIL)
                else:
                    self._study.tell(trial, values)
            else:
                params = {f"d{i}": v for i, v in enumerate(code)}
                state = optuna.trial.TrialState.FAIL if values is None else optuna.trial.TrialState.COMPLETE
                self._study.add_trial(optuna.trial.create_trial(
                    params=params, distributions=self._distributions, state=state, values=values))

    # -- the controller contract -------------------------------------------------------------------
    def _ask(self, n: int) -> list[list[int]]:
        codes = self._do_ask(n)
        self._events.append(["ask", [list(c) for c in codes]])
        return codes

    def _tell(self, codes: list[list[int]], rewards: list[float]) -> None:
        self._tell_objectives(codes, rewards, [[r] for r in rewards])

    def _tell_objectives(self, codes: list[list[int]], rewards: list[float],
                         objectives: list[list[float] | None]) -> None:
        self._do_tell(codes, rewards, objectives)
        self._events.append(["tell", [list(c) for c in codes], list(rewards), objectives])

    def _seed(self, codes: list[list[int]], rewards: list[float]) -> None:
        if self.num_objectives != 1:
            return  # seeded rewards are not objective vectors: they only count for best()
        vectors: list[list[float] | None] = [[r] for r in rewards]
        self._do_tell(codes, rewards, vectors)
        self._events.append(["tell", [list(c) for c in codes], list(rewards), vectors])

    @property
    def pareto_front(self) -> list[tuple[list[int], list[float]]]:
        """The non-dominated told codes with their objective vectors (Optuna's ``best_trials``)."""
        if self._study is None or not any(t.state.name == "COMPLETE" for t in self._study.trials):
            return []
        return [([int(t.params[f"d{i}"]) for i in range(self.num_dimensions)], list(t.values))
                for t in self._study.best_trials]

    def _extra_state(self) -> dict[str, Any]:
        return {"events": [list(e) for e in self._events]}

    def _load_extra_state(self, extra: dict[str, Any]) -> None:
        events = extra["events"]
        self._fresh_study()
        for k, event in enumerate(events):
            if event[0] == "ask":
                recorded = [[int(v) for v in c] for c in event[1]]
                replayed = self._do_ask(len(recorded))
                if replayed != recorded:
                    raise ValueError(
                        f"state of controller {self.name!r}: replaying ask #{k} proposed {replayed}, the saved "
                        f"run {recorded}; the state was written by another Optuna version "
                        f"(installed: {_optuna().__version__})")
            elif event[0] == "tell":
                codes = [[int(v) for v in c] for c in event[1]]
                rewards = [float(r) for r in event[2]]
                vectors = [None if v is None else [float(x) for x in v] for v in event[3]]
                self._do_tell(codes, rewards, vectors)
            else:
                raise ValueError(f"state of controller {self.name!r}: unknown event {event[0]!r}")
        self._events = [list(e) for e in events]


def _check_optional_int(key: str, value: Any, low: int) -> int | None:
    return None if value is None else check_number(key, value, low=low, integer=True)


@register_controller("tpe")
class TPEController(_OptunaController):
    """Optuna's TPE sampler (single objective: the reward).

    Args:
        cardinalities: Number of choices per dimension.
        seed: Seed of the sampler.
        n_startup_trials: Random proposals before the Parzen estimators are used (>= 1).
        n_ei_candidates: Candidates drawn from the good-point model per proposal, the one with the
            best expected improvement proposed (>= 1).
        multivariate: Model the dimensions jointly (interactions) rather than one by one.
        constant_liar: Count open (asked, not told) trials as bad ones, so a batch's proposals differ.
        avoid_duplicates: Never propose an already asked or told point while unseen ones remain.
    """

    def __init__(
        self,
        cardinalities: Sequence[int],
        seed: int = 0,
        *,
        n_startup_trials: int = 10,
        n_ei_candidates: int = 24,
        multivariate: bool = True,
        constant_liar: bool = True,
        avoid_duplicates: bool = True,
    ) -> None:
        super().__init__(cardinalities, seed, avoid_duplicates)
        self.n_startup_trials: int = check_number("n_startup_trials", n_startup_trials, low=1, integer=True)
        self.n_ei_candidates: int = check_number("n_ei_candidates", n_ei_candidates, low=1, integer=True)
        for key, value in (("multivariate", multivariate), ("constant_liar", constant_liar)):
            if not isinstance(value, bool):
                raise ValueError(f"{key} must be a bool, got {value!r}")
        self.multivariate, self.constant_liar = multivariate, constant_liar

    @property
    def hyperparameters(self) -> dict[str, Any]:
        return {"n_startup_trials": self.n_startup_trials, "n_ei_candidates": self.n_ei_candidates,
                "multivariate": self.multivariate, "constant_liar": self.constant_liar,
                "avoid_duplicates": self.avoid_duplicates}

    def _make_sampler(self) -> Any:
        import warnings

        optuna = _optuna()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # multivariate is "experimental" in Optuna's wording
            return optuna.samplers.TPESampler(seed=self.seed, n_startup_trials=self.n_startup_trials,
                                              n_ei_candidates=self.n_ei_candidates, multivariate=self.multivariate,
                                              constant_liar=self.constant_liar)


@register_controller("nsga2")
class NSGA2Controller(_OptunaController):
    """Optuna's NSGA-II sampler: multi-objective search without a weighted reward.

    Told objective vectors (see :meth:`Controller.tell`) drive the selection; the reward is only
    recorded for :meth:`best`. With ``objectives: [reward]`` it is a single-objective genetic
    algorithm.

    Args:
        cardinalities: Number of choices per dimension.
        seed: Seed of the sampler.
        objectives: Names of the objectives (labels; the search loop reads each child's metric of
            that name: ``accuracy_variation``, ``latency_s``, ``energy_j``, ``area_mm2``, ``edp``...).
        directions: ``maximize`` or ``minimize`` per objective.
        population_size: Trials per generation (>= 2).
        mutation_prob: Probability of re-drawing each parameter of a child; ``None`` = 1 / D.
        crossover_prob: Probability that a child is a crossover of two parents, in [0, 1].
        swapping_prob: Uniform crossover's probability of taking each parameter from the second
            parent, in [0, 1].
        avoid_duplicates: Never propose an already asked or told point while unseen ones remain.
    """

    multi_objective = True

    def __init__(
        self,
        cardinalities: Sequence[int],
        seed: int = 0,
        *,
        objectives: Sequence[str] = ("accuracy_variation", "edp"),
        directions: Sequence[str] = ("maximize", "minimize"),
        population_size: int = 20,
        mutation_prob: float | None = None,
        crossover_prob: float = 0.9,
        swapping_prob: float = 0.5,
        avoid_duplicates: bool = True,
    ) -> None:
        super().__init__(cardinalities, seed, avoid_duplicates)
        if isinstance(objectives, str) or not all(isinstance(o, str) and o for o in objectives):
            raise ValueError(f"objectives must be a list of metric names, got {objectives!r}")
        if isinstance(directions, str) or any(d not in _DIRECTIONS for d in directions):
            raise ValueError(f"directions must be a list of {' or '.join(_DIRECTIONS)}, got {directions!r}")
        if len(objectives) != len(directions) or not objectives:
            raise ValueError(f"objectives {list(objectives)} and directions {list(directions)} must have the same, "
                             "non-zero length")
        self._objective_names = list(objectives)
        self._directions = list(directions)
        self.population_size: int = check_number("population_size", population_size, low=2, integer=True)
        self.mutation_prob: float | None = (
            None if mutation_prob is None else check_number("mutation_prob", mutation_prob, low=0.0, high=1.0))
        self.crossover_prob: float = check_number("crossover_prob", crossover_prob, low=0.0, high=1.0)
        self.swapping_prob: float = check_number("swapping_prob", swapping_prob, low=0.0, high=1.0)

    @property
    def directions(self) -> list[str]:
        return list(self._directions)

    @property
    def objective_names(self) -> list[str]:
        return list(self._objective_names)

    @property
    def hyperparameters(self) -> dict[str, Any]:
        return {"objectives": self.objective_names, "directions": self.directions,
                "population_size": self.population_size, "mutation_prob": self.mutation_prob,
                "crossover_prob": self.crossover_prob, "swapping_prob": self.swapping_prob,
                "avoid_duplicates": self.avoid_duplicates}

    def _make_sampler(self) -> Any:
        optuna = _optuna()
        return optuna.samplers.NSGAIISampler(seed=self.seed, population_size=self.population_size,
                                             mutation_prob=self.mutation_prob, crossover_prob=self.crossover_prob,
                                             swapping_prob=self.swapping_prob)

