"""Landscapes to measure controllers on, and the measurement: queries to the top fraction, repeat rate.

A :class:`Landscape` is a finite space (``cardinalities``) with a value for every point, known in
full, so the rank of any proposal is exact. Two kinds:

* synthetic, with structure (:func:`chain_landscape`: every dimension interacts with its
  neighbours through random tables, NK-style; :func:`plateau_landscape`: blocks of dimensions
  score only when the whole block is right, so most moves change nothing), and
* tabular (:func:`tabular_landscape`): real children of this project trained and measured on
  chips, one per grid point (``scripts/make_tabular_benchmark.py`` builds the file).

:func:`run_controller` asks a controller in batches, tells it the values, and records when it
first proposed a point of the top 1% and top 0.1% and how many proposals repeated an earlier one.

What a query is.  A query is a proposal: one episode of the search's budget. Repeats count (the search
loop does not retrain a repeat, it copies the earlier result, but the episode is spent and the
controller learns nothing new). The run also records the number of distinct points evaluated up to
the first hit (:attr:`RunResult.evaluations_to_top`), the cost in trained children of a search whose
budget counted only new children; the two are equal for a controller that never repeats, which is
what every controller does by default while unseen points remain.

Example:
    >>> from lightning_imc.controllers import get_controller
    >>> land = chain_landscape(seed=0, cardinalities=(3, 3, 3))
    >>> run = run_controller(get_controller("random", cardinalities=land.cardinalities, seed=0), land,
    ...                      budget=27, min_queries=27)
    >>> run.queries_to_top[0.001] <= 27, run.repeat_rate
    (True, 0.0)
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

__all__ = [
    "Landscape",
    "RunResult",
    "chain_landscape",
    "plateau_landscape",
    "tabular_landscape",
    "run_controller",
    "SYNTHETIC_CARDINALITIES",
]

SYNTHETIC_CARDINALITIES: tuple[int, ...] = (4, 5, 3, 6, 4, 5, 3, 4)
"""Default synthetic space: 8 dimensions, 86,400 points (top 0.1% = 87 points)."""


@dataclass
class Landscape:
    """A finite space with a known value for each point (higher is better).

    Attributes:
        name: Label in reports.
        cardinalities: Choices per dimension.
        values: Value of every point, an array of shape ``cardinalities`` (C order).
    """

    name: str
    cardinalities: list[int]
    values: np.ndarray
    _sorted: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.values = np.asarray(self.values, dtype=float).reshape(self.cardinalities)
        self._sorted = np.sort(self.values.ravel())[::-1]

    @property
    def size(self) -> int:
        """Number of points."""
        return int(self.values.size)

    def __call__(self, code: Sequence[int]) -> float:
        return float(self.values[tuple(code)])

    def threshold(self, fraction: float) -> float:
        """Value of the ``ceil(fraction * size)``-th best point: the top ``fraction`` is every point at
        least this good (ties included)."""
        k = max(1, math.ceil(fraction * self.size))
        return float(self._sorted[k - 1])

    def top_size(self, fraction: float) -> int:
        """Number of points in the top ``fraction`` (ties make it larger than ``fraction * size``)."""
        return int(np.count_nonzero(self.values >= self.threshold(fraction)))


def chain_landscape(seed: int = 0, cardinalities: Sequence[int] = SYNTHETIC_CARDINALITIES) -> Landscape:
    """Mean of random tables ``T_i[x_i, x_(i+1)]`` (uniform in [0, 1)) over neighbouring dimensions:
    no dimension is good or bad on its own."""
    rng = np.random.default_rng(10_000 + seed)
    cards = list(cardinalities)
    values = np.zeros(cards)
    for i in range(len(cards) - 1):
        table = rng.random((cards[i], cards[i + 1]))
        shape = [1] * len(cards)
        shape[i], shape[i + 1] = cards[i], cards[i + 1]
        values = values + table.reshape(shape)
    return Landscape(f"chain{seed}", cards, values / (len(cards) - 1))


def plateau_landscape(seed: int = 0, cardinalities: Sequence[int] = SYNTHETIC_CARDINALITIES,
                      block: int = 2) -> Landscape:
    """Blocks of ``block`` neighbouring dimensions; a block adds its weight (1, 2, 3... in a random
    order) only when all of its dimensions equal a hidden target, plus a small NK term (a chain
    landscape scaled to 0.05) that makes the plateaus gently sloped. Large flat regions: most
    single moves change the value by less than 0.05."""
    rng = np.random.default_rng(20_000 + seed)
    cards = list(cardinalities)
    target = [int(rng.integers(c)) for c in cards]
    blocks = [list(range(i, min(i + block, len(cards)))) for i in range(0, len(cards), block)]
    weights = rng.permutation(len(blocks)) + 1.0
    grids = np.indices(cards)
    values = np.zeros(cards)
    for weight, dims in zip(weights, blocks):
        hit = np.ones(cards, dtype=bool)
        for d in dims:
            hit &= grids[d] == target[d]
        values = values + weight * hit
    values = values / weights.sum() + 0.05 * chain_landscape(seed + 500, cards).values
    return Landscape(f"plateau{seed}", cards, values)


def tabular_landscape(path: str | Path, metric: str = "accuracy_variation") -> Landscape:
    """The table written by ``scripts/make_tabular_benchmark.py``: each line a child (its ``point``
    of the grid and its measured figures). The grid's dimensions and values are read from the file;
    a failed child counts as 0. Raises ``ValueError`` when the grid is incomplete."""
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    if not rows:
        raise ValueError(f"{path}: no children")
    levels = {n: sorted({json.dumps(r["point"][n]) for r in rows}, key=lambda s: json.loads(s)) for n in rows[0]["point"]}
    names = [n for n in levels if len(levels[n]) > 1]  # a dimension fixed for every child is no dimension
    cards = [len(levels[n]) for n in names]
    values = np.full(cards, np.nan)
    for r in rows:
        index = tuple(levels[n].index(json.dumps(r["point"][n])) for n in names)
        value = r.get(metric) if r.get("status") == "ok" else 0.0
        values[index] = 0.0 if value is None else float(value)
    missing = int(np.isnan(values).sum())
    if missing:
        raise ValueError(f"{path}: {missing} of {values.size} grid points are missing; finish the table first")
    return Landscape(f"tabular:{Path(path).stem}", cards, values)


@dataclass
class RunResult:
    """One run of a controller on a landscape.

    Attributes:
        queries_to_top: ``{fraction: number of proposals up to and including the first one in the top
            fraction}``, or ``None`` when the budget ran out first.
        evaluations_to_top: The same in distinct points (repeats not counted).
        repeat_rate: Fraction of the run's proposals that repeated an earlier proposal.
        num_queries: Proposals made.
        best_value: Best value proposed.
        best_so_far: The best value proposed up to and including each proposal, in order.
    """

    queries_to_top: dict[float, int | None]
    evaluations_to_top: dict[float, int | None]
    repeat_rate: float
    num_queries: int
    best_value: float
    best_so_far: list[float] = field(default_factory=list)


def run_controller(controller: Any, landscape: Landscape, *, budget: int, batch_size: int = 10,
                   min_queries: int = 0, fractions: Sequence[float] = (0.01, 0.001),
                   objectives: Any = None) -> RunResult:
    """Ask ``batch_size`` proposals at a time and tell their values, until every top fraction was hit
    and at least ``min_queries`` were made, or ``budget`` proposals were made.

    Args:
        controller: A :class:`~lightning_imc.controllers.Controller` over ``landscape.cardinalities``.
        landscape: The landscape.
        budget: Most proposals.
        batch_size: Proposals per ask (the loop's batch).
        min_queries: Keep going at least this long (so repeat rates compare over the same length).
        fractions: Top fractions to record.
        objectives: Optional ``f(code) -> vector`` told as objective vectors (multi-objective runs).

    Raises:
        ValueError: before the first proposal, when ``controller`` optimises several objectives and
            ``objectives`` is ``None`` (the landscape's scalar value alone cannot steer it).
    """
    if objectives is None and getattr(controller, "multi_objective", False) and controller.num_objectives != 1:
        raise ValueError(f"run_controller: controller {controller.name!r} optimises {controller.num_objectives} "
                         f"objectives ({', '.join(controller.objective_names)}) but objectives=None tells only the "
                         "landscape's scalar value; pass objectives=f(code) -> vector, or build the controller with "
                         "objectives=['reward'], directions=['maximize']")
    thresholds = {f: landscape.threshold(f) for f in fractions}
    first: dict[float, int | None] = {f: None for f in fractions}
    first_distinct: dict[float, int | None] = {f: None for f in fractions}
    seen: set[tuple[int, ...]] = set()
    repeats = 0
    queries = 0
    best = -math.inf
    best_so_far: list[float] = []
    while queries < budget:
        codes = controller.ask(min(batch_size, budget - queries))
        values = []
        for code in codes:
            queries += 1
            key = tuple(code)
            repeats += key in seen
            seen.add(key)
            value = landscape(code)
            values.append(value)
            best = max(best, value)
            best_so_far.append(best)
            for f, t in thresholds.items():
                if first[f] is None and value >= t:
                    first[f] = queries
                    first_distinct[f] = len(seen)
        vectors = None if objectives is None else [objectives(c) for c in codes]
        controller.tell(codes, values, vectors)
        if queries >= min_queries and all(v is not None for v in first.values()):
            break
    return RunResult(first, first_distinct, repeats / max(queries, 1), queries, best, best_so_far)


def all_points(cardinalities: Sequence[int]) -> list[list[int]]:
    """Every code of a (small) space, in C order."""
    return [list(p) for p in itertools.product(*(range(c) for c in cardinalities))]
