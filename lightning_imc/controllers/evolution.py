"""``evolution``: regularized (aging) evolution with tournament selection (Real et al., AAAI 2019)."""

from __future__ import annotations

import random
from collections import deque
from typing import Any, Sequence

from .base import (
    DUPLICATE_REDRAWS,
    Controller,
    check_number,
    draw_unseen,
    nearest_unseen,
    random_state_from_json,
    random_state_to_json,
    register_controller,
)

__all__ = ["EvolutionController"]


@register_controller("evolution")
class EvolutionController(Controller):
    """Regularized evolution over categorical codes.

    * Initialisation: the first ``population_size`` proposals are the ``initial`` codes (if
      given, in order) followed by uniform random codes.
    * Afterwards each proposal is a child: draw ``sample_size`` distinct members of the current
      population uniformly, take the one with the highest reward (first drawn on ties) and change
      exactly one dimension (uniform among dimensions with more than one choice) to a different
      value (uniform).  ``ask(n)`` draws its ``n`` children independently from the same
      population.  If the population is still empty when the initial proposals are used up
      (none told back yet), further proposals are random.
    * ``tell`` appends each result to the population (in the order told) and removes the oldest
      members beyond ``population_size``: aging, not the worst, is what leaves the population.
    * With ``avoid_duplicates`` (the default) no proposal repeats a point already proposed, told or
      seeded while the space has unseen points: a child that would is replaced by a new tournament and
      mutation (up to :data:`~lightning_imc.controllers.base.DUPLICATE_REDRAWS` times), then by the
      nearest unseen point (:func:`~lightning_imc.controllers.base.nearest_unseen`); random proposals
      are drawn among the unseen points. The
      search loop would only reuse the earlier result, so a repeat spends an episode and learns nothing.
      Given ``initial`` codes are proposed as they are.

    Starting from a previous search step (NACIM's rNAS "starts from the specifications provided
    by the previous search step"): pass the previous specification(s) as ``initial`` to have them
    proposed (and evaluated) first, or call :meth:`seed_population` with already evaluated codes
    to put them in the population directly (they count as initial members, and are the oldest).

    Args:
        cardinalities: Number of choices per dimension.
        seed: Seed of the controller's ``random.Random``.
        population_size: ``P``, members kept (>= 2).
        sample_size: ``S``, tournament size, in ``[1, population_size]``.
        initial: Codes proposed first during initialisation (at most ``population_size``).
        avoid_duplicates: Never propose an already proposed, told or seeded point while unseen ones remain.
    """

    def __init__(
        self,
        cardinalities: Sequence[int],
        seed: int = 0,
        *,
        population_size: int = 20,
        sample_size: int = 5,
        initial: Sequence[Sequence[int]] | None = None,
        avoid_duplicates: bool = True,
    ) -> None:
        super().__init__(cardinalities, seed)
        self.population_size: int = check_number("population_size", population_size, low=2, integer=True)
        self.sample_size: int = check_number(
            "sample_size", sample_size, low=1, high=self.population_size, integer=True
        )
        if initial is None:
            initial = []
        if isinstance(initial, (str, bytes)) or not hasattr(initial, "__iter__"):
            raise ValueError(f"initial must be a list of codes, got {initial!r}")
        self.initial: list[list[int]] = [self.check_codes(c, where=f"initial[{k}]") for k, c in enumerate(initial)]
        if len(self.initial) > self.population_size:
            raise ValueError(
                f"initial has {len(self.initial)} codes, more than population_size = {self.population_size}"
            )
        if not isinstance(avoid_duplicates, bool):
            raise ValueError(f"avoid_duplicates must be a bool, got {avoid_duplicates!r}")
        self.avoid_duplicates: bool = avoid_duplicates
        self._seen: set[tuple[int, ...]] = set()
        self._rng = random.Random(self.seed)
        self._population: deque[tuple[list[int], float]] = deque()
        self._initial_issued = 0
        self._num_seeded = 0
        self._mutable = [i for i, c in enumerate(self.cardinalities) if c > 1]

    @property
    def hyperparameters(self) -> dict[str, Any]:
        return {
            "population_size": self.population_size,
            "sample_size": self.sample_size,
            "initial": [list(c) for c in self.initial],
            "avoid_duplicates": self.avoid_duplicates,
        }

    @property
    def population(self) -> list[tuple[list[int], float]]:
        """Current members, oldest first, as ``(codes, reward)``."""
        return [(list(c), r) for c, r in self._population]

    def _random_code(self) -> list[int]:
        return [self._rng.randrange(c) for c in self.cardinalities]

    def mutate(self, parent: Sequence[int]) -> list[int]:
        """Copy of ``parent`` with exactly one dimension changed (unchanged if no dimension can change)."""
        child = list(parent)
        if not self._mutable:
            return child
        dim = self._mutable[self._rng.randrange(len(self._mutable))]
        # a different value, uniform over the other cardinalities[dim] - 1 choices
        value = self._rng.randrange(self.cardinalities[dim] - 1)
        child[dim] = value if value < child[dim] else value + 1
        return child

    def _tournament(self) -> list[int]:
        members = list(self._population)
        k = min(self.sample_size, len(members))
        contenders = self._rng.sample(range(len(members)), k)
        winner = max(contenders, key=lambda idx: members[idx][1])  # first maximum on ties
        return members[winner][0]

    def _ask(self, n: int) -> list[list[int]]:
        out = []
        for _ in range(n):
            if self._initial_issued + self._num_seeded < self.population_size or not self._population:
                if self._initial_issued < len(self.initial):
                    code = list(self.initial[self._initial_issued])
                else:
                    code = self._random_code()
                    if self.avoid_duplicates and tuple(code) in self._seen:
                        code = draw_unseen(self._rng, self.cardinalities, self._seen) or code
                self._initial_issued += 1
            else:
                code = self.mutate(self._tournament())
                if self.avoid_duplicates:
                    for _ in range(DUPLICATE_REDRAWS):
                        if tuple(code) not in self._seen:
                            break
                        code = self.mutate(self._tournament())
                    else:
                        if tuple(code) in self._seen:
                            code = nearest_unseen(self._rng, code, self.cardinalities, self._seen) or code
            self._seen.add(tuple(code))
            out.append(code)
        return out

    def _add(self, codes: list[list[int]], rewards: list[float]) -> None:
        for code, reward in zip(codes, rewards):
            self._population.append((list(code), reward))
            while len(self._population) > self.population_size:
                self._population.popleft()

    def _tell(self, codes: list[list[int]], rewards: list[float]) -> None:
        self._seen.update(tuple(c) for c in codes)
        self._add(codes, rewards)

    def _seed(self, codes: list[list[int]], rewards: list[float]) -> None:
        # seeded members take the place of initial random proposals
        self._num_seeded += len(codes)
        self._seen.update(tuple(c) for c in codes)
        self._add(codes, rewards)

    def _extra_state(self) -> dict[str, Any]:
        return {
            "rng": random_state_to_json(self._rng.getstate()),
            "population": [[list(c), r] for c, r in self._population],
            "initial_issued": self._initial_issued,
            "num_seeded": self._num_seeded,
            "seen": sorted(list(c) for c in self._seen),
        }

    def _load_extra_state(self, extra: dict[str, Any]) -> None:
        self._rng.setstate(random_state_from_json(extra["rng"]))
        self._population = deque(([int(v) for v in c], float(r)) for c, r in extra["population"])
        self._initial_issued = int(extra["initial_issued"])
        self._num_seeded = int(extra["num_seeded"])
        self._seen = {tuple(int(v) for v in c) for c in extra["seen"]}
