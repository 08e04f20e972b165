"""``surrogate``: a model of the reward fitted on the history picks each proposal among many cheap candidates.

Every result told to a search controller cost a trained child; a candidate scored by a model costs
microseconds. The surrogate controller fits an ensemble of trees (scikit-learn's random forest, or
extremely randomised trees) on every result told or seeded so far, scores a pool of unseen candidates
(random points of the space, and every one-dimension change and some two-dimension changes of the best
results so far) by an acquisition over the ensemble's mean and spread, and proposes the best-scored ones.

The exact part of the reward.  A search's reward is ``alpha * accuracy + (1 - alpha) * F(hardware)``
where ``F`` comes from the chip model, exactly and in milliseconds, without training. Given
``exact_part`` (a function of codes, see :class:`ExactPart`), the model learns only the unknown part
(the accuracy), and the controller never proposes

* a candidate the function rules out (it returns ``None``: e.g. a design that violates the chip's
  constraints), nor
* a candidate that cannot beat the best reward told so far even with the learned part at its largest
  possible value (1: a perfect accuracy): its hardware alone loses, so a trained child would be wasted.

The controller still knows nothing about networks: ``exact_part`` is an opaque function of codes that
the search hands down (built from the application's chip model, as ``search.rnas_moves=cost_descent``
gets its cost function).

Determinism and state.  The model is refitted at every :meth:`ask` from the results in the state, with a
seed drawn from the controller's own ``random.Random``; the state holds the generator, the results and
the points already proposed, so a restored controller asks exactly what the original would. No
proposal repeats a point already proposed, told or seeded while unseen points remain. (Only when
:data:`MAX_RULED_OUT_DRAWS` random draws find no admissible unseen point — nearly everything left is ruled
out — does a proposal fall back to any unseen point: :meth:`ask` always answers.)

Warm start: :meth:`seed_population` with the results of an earlier search over the same space (the
search loop does it for ``controller.warm_start``); they train the model like told results, so with at
least ``n_initial`` of them the very first proposal is already the model's.

Example:
    >>> from lightning_imc.controllers import get_controller
    >>> ctrl = get_controller("surrogate", cardinalities=[4, 4, 4], seed=0, n_initial=8, n_estimators=16)
    >>> for _ in range(4):
    ...     codes = ctrl.ask(4)
    ...     ctrl.tell(codes, [float(sum(c)) for c in codes])
    >>> ctrl.best()[1] >= 7.0
    True
"""

from __future__ import annotations

import itertools
import math
import random
from typing import Any, Callable, NamedTuple, Sequence

import numpy as np

from .base import (
    Controller,
    check_number,
    draw_unseen,
    random_state_from_json,
    random_state_to_json,
    register_controller,
)

__all__ = ["ExactPart", "SurrogateController", "ACQUISITIONS", "MODELS"]

MODELS = ("random_forest", "extra_trees")
"""Tree ensembles of scikit-learn the controller can fit (uncertainty: the spread of the trees)."""

ACQUISITIONS = ("ucb", "ei", "mean")
"""``ucb``: mean + kappa * spread; ``ei``: expected improvement over the best result (Gaussian over the
trees' spread); ``mean``: the prediction alone."""

ENUMERATE_LIMIT = 4096
"""Spaces of at most this many points are scored in full (every unseen point is a candidate)."""

PAIR_ENUMERATE_LIMIT = 4096
"""Two-dimension changes of the best result listed in full up to this many (else ``n_candidates`` random ones)."""

MAX_RULED_OUT_DRAWS = 200
"""Random draws tried for one proposal when the exact part rules out every candidate of the pool."""


class ExactPart(NamedTuple):
    """The exactly known part of a candidate's reward: ``reward = offset + weight * learned``, where the
    learned part (accuracy on chips, a fraction) lies in ``[0, 1]``.

    Attributes:
        offset: The reward's exact term, e.g. ``(1 - alpha) * F(latency, energy, area)``.
        weight: The learned part's weight, e.g. ``alpha`` (>= 0).
    """

    offset: float
    weight: float


ExactFunction = Callable[[Sequence[int]], "ExactPart | None"]
"""Codes -> their :class:`ExactPart`, or ``None`` when the chip model rules the candidate out."""


def _forest_class(model: str) -> Any:
    """scikit-learn's regressor for ``model``, imported on first use. Importing scikit-learn draws from
    Python's global ``random`` generator; its state is put back, so that a controller never moves it."""
    state = random.getstate()
    try:
        from sklearn.ensemble import ExtraTreesRegressor, RandomForestRegressor
    finally:
        random.setstate(state)
    return RandomForestRegressor if model == "random_forest" else ExtraTreesRegressor


def _one_hot_index(cardinalities: Sequence[int]) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(cardinalities)[:-1]]).astype(np.int64)


@register_controller("surrogate")
class SurrogateController(Controller):
    """Surrogate-assisted search: a tree ensemble of the reward, an acquisition over many unseen candidates.

    * The first proposals, until ``n_initial`` results are known (told or seeded), are uniform over the
      unseen points that the exact part (if any) does not rule out.
    * Then each :meth:`ask` fits ``model`` (``n_estimators`` trees; features: each dimension's index
      and its one-hot coding) on every known result, scores a pool of unseen candidates — every unseen
      point of a space of at most :data:`ENUMERATE_LIMIT` points; otherwise ``n_candidates`` uniform
      ones, every one-dimension change of each of the ``n_parents`` best results, every two-dimension
      change of the ``n_pair_parents`` best (at most :data:`PAIR_ENUMERATE_LIMIT`, else ``n_candidates``
      random ones) and ``n_local`` random two-dimension changes of the other parents — by
      ``acquisition``, and proposes the ``n`` best, distinct.
    * With ``exact_part`` the trees learn ``(reward - offset) / weight`` (accuracy) and the score is
      ``offset + weight * acquisition``. The exact part costs a chip-model evaluation, so it judges the
      model's ranking from the top, ``n_exact`` candidates at a time, until ``n`` admissible ones are
      found; ruled-out and no-upside candidates (see the module doc) are never proposed.

    Args:
        cardinalities: Number of choices per dimension.
        seed: Seed of the controller's ``random.Random`` (the trees' seeds are drawn from it).
        n_initial: Known results before the model is used (>= 2).
        model: One of :data:`MODELS`.
        n_estimators: Trees in the ensemble (>= 2).
        min_samples_leaf: Smallest leaf of a tree (>= 1).
        acquisition: One of :data:`ACQUISITIONS`.
        kappa: ``ucb``'s weight of the spread (>= 0).
        n_candidates: Uniform random candidates per ask in a large space (>= 1).
        n_parents: Best results whose neighbourhoods are candidates (>= 0).
        n_local: Random two-dimension changes per parent beyond the first ``n_pair_parents`` (>= 0).
        n_pair_parents: Best results whose two-dimension changes are all candidates (>= 0).
        max_features: Fraction of the features each split considers, in (0, 1].
        n_exact: Candidates the exact part judges at a time, from the top of the model's ranking (>= 1).
        exact_part: Optional function of codes giving their :class:`ExactPart` or ``None`` (ruled out); not a
            hyperparameter (not saved): the search builds it from the chip model and passes it again on resume.
    """

    runtime_arguments = ("exact_part",)

    def __init__(
        self,
        cardinalities: Sequence[int],
        seed: int = 0,
        *,
        n_initial: int = 4,
        model: str = "extra_trees",
        n_estimators: int = 64,
        min_samples_leaf: int = 1,
        acquisition: str = "ucb",
        kappa: float = 0.25,
        n_candidates: int = 1000,
        n_parents: int = 16,
        n_local: int = 30,
        n_pair_parents: int = 1,
        max_features: float = 1.0,
        n_exact: int = 64,
        exact_part: ExactFunction | None = None,
    ) -> None:
        super().__init__(cardinalities, seed)
        settings = self.check_hyperparameters(
            n_initial=n_initial, model=model, n_estimators=n_estimators, min_samples_leaf=min_samples_leaf,
            acquisition=acquisition, kappa=kappa, n_candidates=n_candidates, n_parents=n_parents, n_local=n_local,
            n_pair_parents=n_pair_parents, max_features=max_features, n_exact=n_exact)
        self.n_initial: int = settings["n_initial"]
        self.model: str = settings["model"]
        self.n_estimators: int = settings["n_estimators"]
        self.min_samples_leaf: int = settings["min_samples_leaf"]
        self.acquisition: str = settings["acquisition"]
        self.kappa: float = settings["kappa"]
        self.n_candidates: int = settings["n_candidates"]
        self.n_parents: int = settings["n_parents"]
        self.n_local: int = settings["n_local"]
        self.n_pair_parents: int = settings["n_pair_parents"]
        self.max_features: float = settings["max_features"]
        self.n_exact: int = settings["n_exact"]
        if exact_part is not None and not callable(exact_part):
            raise ValueError(f"exact_part must be a function of codes or None, got {exact_part!r}")
        self.exact_part: ExactFunction | None = exact_part
        self._rng = random.Random(self.seed)
        self._codes: list[list[int]] = []
        self._rewards: list[float] = []
        self._seen: set[tuple[int, ...]] = set()
        self._exact_cache: dict[tuple[int, ...], ExactPart | None] = {}
        self._offsets = _one_hot_index(self.cardinalities)

    @classmethod
    def check_hyperparameters(cls, **settings: Any) -> dict[str, Any]:
        """Validate the hyperparameters (before a search starts); returns them checked.

        Raises:
            ValueError: Naming the key and what is allowed.
        """
        out = dict(settings)
        ints = {"n_initial": 2, "n_estimators": 2, "min_samples_leaf": 1, "n_candidates": 1, "n_parents": 0,
                "n_local": 0, "n_pair_parents": 0, "n_exact": 1}
        for key, low in ints.items():
            if key in out:
                out[key] = check_number(key, out[key], low=low, integer=True)
        if "kappa" in out:
            out["kappa"] = check_number("kappa", out["kappa"], low=0.0)
        if "max_features" in out:
            out["max_features"] = check_number("max_features", out["max_features"], low=0.0, high=1.0, low_open=True)
        for key, allowed in (("model", MODELS), ("acquisition", ACQUISITIONS)):
            if key in out and out[key] not in allowed:
                raise ValueError(f"{key}={out[key]!r} is not allowed; allowed: {', '.join(allowed)}")
        return out

    @property
    def hyperparameters(self) -> dict[str, Any]:
        return {
            "n_initial": self.n_initial, "model": self.model, "n_estimators": self.n_estimators,
            "min_samples_leaf": self.min_samples_leaf, "acquisition": self.acquisition, "kappa": self.kappa,
            "n_candidates": self.n_candidates, "n_parents": self.n_parents, "n_local": self.n_local,
            "n_pair_parents": self.n_pair_parents, "max_features": self.max_features, "n_exact": self.n_exact,
        }

    @property
    def num_known(self) -> int:
        """Results the model is fitted on (told and seeded)."""
        return len(self._codes)

    # ------------------------------------------------------------------ the exact part
    def _exact(self, code: Sequence[int]) -> ExactPart | None:
        """The exact part of ``code`` (cached); ``(0, 1)`` without an ``exact_part`` function."""
        if self.exact_part is None:
            return ExactPart(0.0, 1.0)
        key = tuple(code)
        if key not in self._exact_cache:
            part = self.exact_part(list(code))
            if part is not None:
                part = ExactPart(float(part[0]), float(part[1]))
                if not (math.isfinite(part.offset) and math.isfinite(part.weight) and part.weight >= 0):
                    raise ValueError(f"exact_part({list(code)}) = {part}: offset must be finite and weight >= 0")
            self._exact_cache[key] = part
        return self._exact_cache[key]

    def _incumbent(self) -> float:
        return max(self._rewards) if self._rewards else -math.inf

    def _admissible(self, code: Sequence[int], incumbent: float) -> bool:
        """Not ruled out by the exact part, and able to beat ``incumbent`` with a perfect learned part."""
        if self.exact_part is None:
            return True
        part = self._exact(code)
        return part is not None and (part.offset + part.weight > incumbent or not math.isfinite(incumbent))

    # ------------------------------------------------------------------ proposals
    def _random_admissible(self, incumbent: float) -> list[int] | None:
        """An unseen admissible point, uniform (rejection); ``None`` after :data:`MAX_RULED_OUT_DRAWS` draws."""
        for _ in range(MAX_RULED_OUT_DRAWS):
            code = draw_unseen(self._rng, self.cardinalities, self._seen)
            if code is None:
                return None
            if self._admissible(code, incumbent):
                return code
        return None

    def _features(self, codes: np.ndarray) -> np.ndarray:
        one_hot = np.zeros((len(codes), int(sum(self.cardinalities))), dtype=np.float32)
        rows = np.repeat(np.arange(len(codes)), codes.shape[1])
        one_hot[rows, (codes + self._offsets).ravel()] = 1.0
        return np.hstack([codes.astype(np.float32), one_hot])

    def _targets(self) -> np.ndarray:
        """What the trees learn: the reward, or its learned part ``(reward - offset) / weight``."""
        values = []
        for code, reward in zip(self._codes, self._rewards):
            part = self._exact(code) if self.exact_part is not None else None
            if part is None or part.weight <= 0:
                values.append(reward)
            else:
                values.append((reward - part.offset) / part.weight)
        return np.asarray(values, dtype=float)

    def _change_two(self, parent: Sequence[int], mutable: Sequence[int]) -> tuple[int, ...]:
        child = list(parent)
        for d in self._rng.sample(list(mutable), 2):
            v = self._rng.randrange(self.cardinalities[d] - 1)
            child[d] = v if v < parent[d] else v + 1
        return tuple(child)

    def _pool(self) -> list[tuple[int, ...]]:
        """Unseen candidates: the whole space if small, else random points and the best results' neighbours."""
        if math.prod(self.cardinalities) <= ENUMERATE_LIMIT:
            return [p for p in itertools.product(*(range(c) for c in self.cardinalities)) if p not in self._seen]
        pool: dict[tuple[int, ...], None] = {}
        order = sorted(range(len(self._rewards)), key=lambda i: -self._rewards[i])  # stable: first on ties
        mutable = [d for d, c in enumerate(self.cardinalities) if c > 1]
        for rank, i in enumerate(order[: self.n_parents]):
            parent = self._codes[i]
            for d in mutable:
                for v in range(self.cardinalities[d]):
                    if v != parent[d]:
                        pool[tuple(parent[:d]) + (v,) + tuple(parent[d + 1:])] = None
            if rank < self.n_pair_parents and len(mutable) >= 2:  # two-dimension changes of the very best
                pairs = sum((self.cardinalities[a] - 1) * (self.cardinalities[b] - 1)
                            for a, b in itertools.combinations(mutable, 2))
                if pairs <= PAIR_ENUMERATE_LIMIT:  # every one
                    for d1, d2 in itertools.combinations(mutable, 2):
                        for v1, v2 in itertools.product(range(self.cardinalities[d1]), range(self.cardinalities[d2])):
                            if v1 != parent[d1] and v2 != parent[d2]:
                                child = list(parent)
                                child[d1], child[d2] = v1, v2
                                pool[tuple(child)] = None
                else:  # a large space: as many random ones as uniform candidates
                    for _ in range(self.n_candidates):
                        pool[self._change_two(parent, mutable)] = None
            elif len(mutable) >= 2:
                for _ in range(self.n_local):
                    pool[self._change_two(parent, mutable)] = None
        for _ in range(self.n_candidates):
            pool[tuple(self._rng.randrange(c) for c in self.cardinalities)] = None
        return [p for p in pool if p not in self._seen]

    def _fit_predict(self, candidates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and spread (std over the trees) of the learned target at ``candidates``."""
        cls = _forest_class(self.model)
        forest = cls(n_estimators=self.n_estimators, min_samples_leaf=self.min_samples_leaf,
                     max_features=self.max_features, random_state=self._rng.getrandbits(31), n_jobs=1)
        forest.fit(self._features(np.asarray(self._codes, dtype=np.int64)), self._targets())
        x = self._features(candidates)
        per_tree = np.stack([tree.predict(x) for tree in forest.estimators_])
        return per_tree.mean(axis=0), per_tree.std(axis=0)

    def _score(self, mean: np.ndarray, spread: np.ndarray, best: float) -> np.ndarray:
        if self.acquisition == "mean":
            return mean
        if self.acquisition == "ucb":
            return mean + self.kappa * spread
        from scipy.stats import norm

        spread = np.maximum(spread, 1e-12)
        z = (mean - best) / spread
        return (mean - best) * norm.cdf(z) + spread * norm.pdf(z)

    def _model_proposals(self, n: int, incumbent: float) -> list[list[int]]:
        pool = self._pool()
        if not pool:
            return []
        mean, spread = self._fit_predict(np.asarray(pool, dtype=np.int64))
        targets = self._targets()
        score = self._score(mean, spread, float(np.max(targets)))
        order = np.argsort(-score, kind="stable")
        if self.exact_part is None:
            return [list(map(int, pool[i])) for i in order[:n]]
        # the chip model costs milliseconds a call: it judges the model's shortlist, n_exact at a time,
        # until n admissible candidates are found; the score is then the reward's: offset + weight * acquisition
        chosen: list[tuple[float, int]] = []
        for start in range(0, len(order), self.n_exact):
            for i in order[start:start + self.n_exact]:
                if self._admissible(pool[i], incumbent):
                    part = self._exact(pool[i])
                    assert part is not None
                    chosen.append((part.offset + part.weight * float(score[i]), int(i)))
            if len(chosen) >= n:
                break
        chosen.sort(key=lambda item: -item[0])  # stable: the model's order on ties
        return [list(map(int, pool[i])) for _, i in chosen[:n]]

    def _ask(self, n: int) -> list[list[int]]:
        incumbent = self._incumbent()
        out: list[list[int]] = []
        if self.num_known >= self.n_initial:
            out = self._model_proposals(n, incumbent)
        for code in out:
            self._seen.add(tuple(code))
        while len(out) < n:
            found = self._random_admissible(incumbent)
            if found is None:  # every point seen, or none admissible among many draws: ask() must still answer
                found = draw_unseen(self._rng, self.cardinalities, self._seen) or [
                    self._rng.randrange(c) for c in self.cardinalities]
            self._seen.add(tuple(found))
            out.append(found)
        return out

    # ------------------------------------------------------------------ results
    def _tell(self, codes: list[list[int]], rewards: list[float]) -> None:
        for code, reward in zip(codes, rewards):
            self._codes.append(list(code))
            self._rewards.append(float(reward))
            self._seen.add(tuple(code))

    def _seed(self, codes: list[list[int]], rewards: list[float]) -> None:
        self._tell(codes, rewards)

    def _extra_state(self) -> dict[str, Any]:
        return {
            "rng": random_state_to_json(self._rng.getstate()),
            "codes": [list(c) for c in self._codes],
            "rewards": list(self._rewards),
            "seen": sorted(list(c) for c in self._seen),
        }

    def _load_extra_state(self, extra: dict[str, Any]) -> None:
        self._rng.setstate(random_state_from_json(extra["rng"]))
        self._codes = [[int(v) for v in c] for c in extra["codes"]]
        self._rewards = [float(r) for r in extra["rewards"]]
        self._seen = {tuple(int(v) for v in c) for c in extra["seen"]}
