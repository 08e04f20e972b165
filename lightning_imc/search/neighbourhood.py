"""Search around a specification: rNAS proposals that mutate a few layers of the best design so far.

NACIM's rNAS "starts from the specifications provided by the previous search step" (section IV ➃). A
controller started from scratch proposes uniformly: with 8 layers of 4 format fields each, almost every
proposal changes most of the formats of a network whose weights were trained for one of them. This
module keeps the search local without touching the controllers:

* the first proposal of a phase is the specification itself;
* afterwards a share ``share`` of each batch are **mutations of the incumbent** (the best design told
  so far in this phase, the specification until something beats it): ``1..max_units`` *units* change,
  a unit being one layer (the free dimensions that end in the same ``_<number>``, e.g. ``w_int_3``,
  ``w_frac_3``, ``a_int_3``, ``a_frac_3``) or one group of the remaining dimensions (the circuit, the
  device); in each changed unit one or two of its active dimensions move by one or two steps of their
  (ordered) choices, a categorical one (a device) to another choice;
* the rest of the batch comes from the controller, so the global search stays reachable
  (``share=1`` is pure local search, ``share=0`` the controller alone).

The proposer keeps no state of its own: the incumbent is recomputed from the phase's records, and its
randomness is seeded by ``(seed, step)``, so a resumed search proposes exactly the same batches.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any, Callable, Sequence

__all__ = ["NeighbourhoodProposer", "mutation_units", "mutate", "changed_units"]

_LAYER_SUFFIX = re.compile(r"^(?P<stem>.+)_(?P<layer>\d+)$")


def mutation_units(space: Any) -> list[list[int]]:
    """The free dimensions of ``space`` grouped into units (indices into ``space.names``).

    A unit is one layer (dimensions whose names end in the same ``_<number>``) or, for the others, one
    group (``circuit``, ``device``, ...). Units are ordered by first appearance.
    """
    units: dict[str, list[int]] = {}
    for index, dim in enumerate(space.dimensions):
        match = _LAYER_SUFFIX.match(dim.name)
        unit = f"layer {match.group('layer')}" if match else f"group {dim.group}"
        units.setdefault(unit, []).append(index)
    return list(units.values())


def _ordered(choices: Sequence[Any]) -> bool:
    return all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in choices)


def _step(code: int, cardinality: int, ordered: bool, rng: random.Random) -> int:
    """A different code: one or two steps away along ordered choices, any other for categorical ones."""
    if cardinality < 2:
        return code
    if not ordered:
        return rng.choice([c for c in range(cardinality) if c != code])
    size = 1 if rng.random() < 0.7 else 2
    options = [c for c in (code - size, code + size) if 0 <= c < cardinality]
    if not options:
        options = [c for c in (code - 1, code + 1) if 0 <= c < cardinality]
    return rng.choice(options)


def mutate(space: Any, codes: Sequence[int], rng: random.Random, max_units: int = 2,
           units: Sequence[Sequence[int]] | None = None) -> list[int]:
    """``codes`` with ``1..max_units`` units changed (one or two active dimensions each, see module doc).

    Raises:
        ValueError: ``max_units`` < 1.
    """
    if max_units < 1:
        raise ValueError(f"max_units={max_units!r}; must be >= 1")
    units = list(units if units is not None else mutation_units(space))
    dims = space.dimensions
    mask = space.active_mask(list(codes))
    mutable = [[i for i in unit if mask[i] and dims[i].cardinality > 1] for unit in units]
    mutable = [unit for unit in mutable if unit]
    new = list(codes)
    if not mutable:
        return new
    count = rng.randint(1, min(max_units, len(mutable)))
    for unit in rng.sample(mutable, count):
        fields = rng.sample(unit, min(len(unit), 1 if rng.random() < 0.5 else 2))
        for i in fields:
            new[i] = _step(new[i], dims[i].cardinality, _ordered(dims[i].choices), rng)
    return new


def changed_units(space: Any, before: Sequence[int], after: Sequence[int]) -> int:
    """How many units (layers, groups) differ between two code vectors."""
    return sum(any(before[i] != after[i] for i in unit) for unit in mutation_units(space))


@dataclass
class NeighbourhoodProposer:
    """Mixes mutations of the incumbent with a controller's proposals (see the module doc).

    Args:
        space: The phase's space (its free dimensions are what the codes encode).
        specification: Codes of the starting design (the previous phase's candidate).
        share: Fraction of proposals (after the specification) that are mutations, in [0, 1].
        max_units: Most units (layers, circuit) one mutation changes (>= 1).
        seed: Seed of the mutations (with the step, so every batch is reproducible).
    """

    space: Any
    specification: Sequence[int]
    share: float = 0.75
    max_units: int = 2
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= float(self.share) <= 1.0:
            raise ValueError(f"search.rnas_neighbourhood_share={self.share!r}; must be in [0, 1]")
        if int(self.max_units) < 1:
            raise ValueError(f"search.rnas_mutation_units={self.max_units!r}; must be >= 1")
        self.specification = [int(c) for c in self.specification]
        self._units = mutation_units(self.space)

    def incumbent(self, told: Sequence[tuple[Sequence[int], float]]) -> list[int]:
        """The best told codes (first one on ties), the specification before anything is told."""
        best, best_reward = self.specification, None
        for codes, reward in told:
            if best_reward is None or reward > best_reward:
                best, best_reward = list(codes), reward
        return list(best)

    def ask(self, step: int, n: int, told: Sequence[tuple[Sequence[int], float]],
            controller_ask: Callable[[int], list[list[int]]]) -> list[list[int]]:
        """The ``step``-th batch of ``n`` proposals given what has been told so far in the phase.

        Step 0 starts with the specification. Mutations avoid codes already told or proposed in this
        batch (a few tries, then they accept a repeat, which the loop reuses without evaluating).
        """
        rng = random.Random(f"{self.seed}/{step}")
        slots = list(range(n))
        proposals: list[list[int] | None] = [None] * n
        if step == 0 and n > 0:
            proposals[0] = list(self.specification)
            slots = slots[1:]
        local = [slot for slot in slots if rng.random() < self.share]
        centre = self.incumbent(told)
        seen = {tuple(c) for c, _ in told} | {tuple(p) for p in proposals if p is not None}
        for slot in local:
            for _ in range(16):
                codes = mutate(self.space, centre, rng, self.max_units, self._units)
                if tuple(codes) not in seen:
                    break
            proposals[slot] = codes
            seen.add(tuple(codes))
        rest = [slot for slot in slots if slot not in local]
        if rest:
            for slot, codes in zip(rest, controller_ask(len(rest))):
                proposals[slot] = list(codes)
        return [list(p) for p in proposals if p is not None]
