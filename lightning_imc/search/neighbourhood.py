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
* with ``moves="cost_descent"`` and a ``cost`` function (the reward's hardware term from the analytical
  chip model: milliseconds, where judging a design on Monte-Carlo chips takes seconds to minutes), the
  mutations are not random: each slot gets the untried **single-field, one-step move** of the incumbent
  that the chip model rates cheapest (the largest gain of the hardware term; moves that leave the cost
  as it is, such as a format's integer/fraction split on a scaled layer, or raise it, are never
  proposed, and of moves that cost the same only one is tried). The accuracy of each is measured on
  chips like any other proposal, and a move becomes the incumbent only if its reward is better, so
  the phase descends the chip's cost for as long as the accuracy pays for it. When no single move is
  cheaper, a random mutation.

The proposer keeps no state of its own: the incumbent is recomputed from the phase's records, and its
randomness is seeded by ``(seed, step)``, so a resumed search proposes exactly the same batches.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

__all__ = ["MOVES", "NeighbourhoodProposer", "mutation_units", "mutate", "changed_units", "cost_unit_weights", "unit_is_layer"]

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


def unit_is_layer(space: Any, unit: Sequence[int]) -> bool:
    """Whether a unit of :func:`mutation_units` is a layer (its names end in ``_<number>``)."""
    return bool(unit) and _LAYER_SUFFIX.match(space.dimensions[unit[0]].name) is not None


def cost_unit_weights(space: Any, layer_cost_shares: Sequence[float] | None, cost_share: float) -> list[float] | None:
    """How often each unit of :func:`mutation_units` is picked: ``cost_share`` of the picks follow the
    layers' shares of the design's cost, the rest are uniform over all units (so every unit, the circuit
    included, stays reachable).

    ``layer_cost_shares`` has one non-negative entry per layer unit, in order (e.g.
    :func:`~lightning_imc.callbacks.layer_cost_shares` of the design's chip). ``None`` (uniform picks) when
    ``cost_share`` is 0, when no shares are given, or when their number is not the number of layer units.

    >>> from lightning_imc.space import rls
    >>> space = rls().select_groups(("quantization", "circuit"))
    >>> [round(w, 4) for w in cost_unit_weights(space, [1, 0, 0, 0, 0, 0, 0, 1], 0.5)]
    [0.3056, 0.0556, 0.0556, 0.0556, 0.0556, 0.0556, 0.0556, 0.3056, 0.0556]
    """
    if not 0.0 <= float(cost_share) <= 1.0:
        raise ValueError(f"search.rnas_cost_share={cost_share!r}; must be in [0, 1]")
    units = mutation_units(space)
    layers = [i for i, unit in enumerate(units) if unit_is_layer(space, unit)]
    if not cost_share or layer_cost_shares is None or len(layer_cost_shares) != len(layers):
        return None
    shares = _usable_weights(layer_cost_shares)
    if shares is None:
        return None
    total = sum(shares)
    weights = [(1.0 - cost_share) / len(units)] * len(units)
    for unit, value in zip(layers, shares):
        weights[unit] += cost_share * value / total
    return weights


#: How rNAS mutations are made (``search.rnas_moves``).
MOVES = ("random", "cost_descent")


def _cost_key(value: float) -> float:
    """A cost rounded so that the same chip reached by two routes compares equal."""
    return round(float(value), 12)


def _usable_weights(values: Sequence[float]) -> list[float] | None:
    """``values`` as floats when they can weigh a draw (finite, >= 0, not all 0), else ``None``."""
    weights = [float(v) for v in values]
    if any(not math.isfinite(w) or w < 0 for w in weights) or sum(weights) <= 0:
        return None
    return weights


def _weighted_sample(rng: random.Random, population: list[Any], weights: list[float], count: int) -> list[Any]:
    """``count`` distinct items, each draw in proportion to the weights of those left."""
    items, left, chosen = list(population), list(weights), []
    for _ in range(count):
        index = rng.choices(range(len(items)), weights=left)[0] if sum(left) > 0 else rng.randrange(len(items))
        chosen.append(items.pop(index))
        left.pop(index)
    return chosen


def mutate(space: Any, codes: Sequence[int], rng: random.Random, max_units: int = 2,
           units: Sequence[Sequence[int]] | None = None, unit_weights: Sequence[float] | None = None) -> list[int]:
    """``codes`` with ``1..max_units`` units changed (one or two active dimensions each, see module doc).

    ``unit_weights`` (one per unit of ``units``): units are picked in proportion to them (without
    replacement); ``None`` picks uniformly.

    Raises:
        ValueError: ``max_units`` < 1, or ``unit_weights`` not one per unit.
    """
    if max_units < 1:
        raise ValueError(f"max_units={max_units!r}; must be >= 1")
    units = list(units if units is not None else mutation_units(space))
    if unit_weights is not None and len(unit_weights) != len(units):
        raise ValueError(f"unit_weights has {len(unit_weights)} entries for {len(units)} units")
    dims = space.dimensions
    mask = space.active_mask(list(codes))
    mutable_all = [[i for i in unit if mask[i] and dims[i].cardinality > 1] for unit in units]
    keep = [k for k, unit in enumerate(mutable_all) if unit]
    mutable = [mutable_all[k] for k in keep]
    new = list(codes)
    if not mutable:
        return new
    count = rng.randint(1, min(max_units, len(mutable)))
    picked = (rng.sample(mutable, count) if unit_weights is None
              else _weighted_sample(rng, mutable, [float(unit_weights[k]) for k in keep], count))
    for unit in picked:
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
        unit_weights: How often each unit is picked (:func:`cost_unit_weights`); ``None``: uniformly.
        moves: ``random`` (mutations as above) or ``cost_descent`` (the cheapest untried single move by
            ``cost``, see the module doc).
        cost: Hardware figure of merit of a code vector, higher is cheaper (e.g. the reward's hardware
            efficiency ``F``); needed by ``cost_descent``. Must be deterministic (a resumed search
            proposes the same batches); the proposer asks it once per design.
    """

    space: Any
    specification: Sequence[int]
    share: float = 0.75
    max_units: int = 2
    seed: int = 0
    unit_weights: Sequence[float] | None = None
    moves: str = "random"
    cost: Callable[[Sequence[int]], float] | None = None
    _ratings: dict[tuple[int, ...], float] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        if not 0.0 <= float(self.share) <= 1.0:
            raise ValueError(f"search.rnas_neighbourhood_share={self.share!r}; must be in [0, 1]")
        if int(self.max_units) < 1:
            raise ValueError(f"search.rnas_mutation_units={self.max_units!r}; must be >= 1")
        if self.moves not in MOVES:
            raise ValueError(f"search.rnas_moves={self.moves!r}; allowed: {', '.join(MOVES)}")
        if self.moves == "cost_descent" and self.cost is None:
            raise ValueError("search.rnas_moves='cost_descent' needs a cost function (the chip model's rating)")
        self.specification = [int(c) for c in self.specification]
        self._units = mutation_units(self.space)
        if self.unit_weights is not None:
            weights = _usable_weights(self.unit_weights)
            if weights is None or len(weights) != len(self._units):
                raise ValueError(f"NeighbourhoodProposer.unit_weights={self.unit_weights!r}: one finite weight >= 0 "
                                 f"per unit ({len(self._units)}), not all 0")
            self.unit_weights = weights

    def incumbent(self, told: Sequence[tuple[Sequence[int], float]]) -> list[int]:
        """The best told codes (first one on ties), the specification before anything is told."""
        best, best_reward = self.specification, None
        for codes, reward in told:
            if best_reward is None or reward > best_reward:
                best, best_reward = list(codes), reward
        return list(best)

    def _new_mutation(self, centre: Sequence[int], rng: random.Random, seen: set[tuple[int, ...]]) -> list[int]:
        """A mutation of ``centre`` not in ``seen`` (16 tries, then a repeat is accepted)."""
        for _ in range(16):
            codes = mutate(self.space, centre, rng, self.max_units, self._units, self.unit_weights)
            if tuple(codes) not in seen:
                break
        return codes

    def _rating(self, codes: Sequence[int]) -> float:
        """``cost(codes)``, computed once per design (it is asked again at every step of the descent)."""
        assert self.cost is not None
        key = tuple(int(c) for c in codes)
        if key not in self._ratings:
            self._ratings[key] = float(self.cost(list(key)))
        return self._ratings[key]

    def _cheapest_move(self, centre: Sequence[int], seen: set[tuple[int, ...]],
                       tried_costs: set[float]) -> list[int] | None:
        """The single-field, one-step move of ``centre`` that ``cost`` rates best among those that are
        rated above ``centre`` itself, not in ``seen`` and not at the cost of a design already tried (the
        same cost is taken as the same chip); ``None`` when there is none."""
        dims = self.space.dimensions
        mask = self.space.active_mask(list(centre))
        best, best_cost = None, self._rating(centre)
        for unit in self._units:
            for i in unit:
                if not mask[i] or dims[i].cardinality < 2:
                    continue
                if _ordered(dims[i].choices):
                    targets = [c for c in (centre[i] - 1, centre[i] + 1) if 0 <= c < dims[i].cardinality]
                else:
                    targets = [c for c in range(dims[i].cardinality) if c != centre[i]]
                for target in targets:
                    codes = list(centre)
                    codes[i] = target
                    value = self._rating(codes)
                    if value > best_cost and tuple(codes) not in seen and _cost_key(value) not in tried_costs:
                        best, best_cost = codes, value
        return best

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
        descent = self.moves == "cost_descent" and bool(local)
        tried_costs = {_cost_key(self._rating(c)) for c, _ in told} if descent else set()
        for slot in local:
            codes = self._cheapest_move(centre, seen, tried_costs) if descent else None
            if codes is None:
                codes = self._new_mutation(centre, rng, seen)
            if descent:
                tried_costs.add(_cost_key(self._rating(codes)))
            proposals[slot] = codes
            seen.add(tuple(codes))
        rest = [slot for slot in slots if slot not in local]
        if rest:
            for slot, codes in zip(rest, controller_ask(len(rest))):
                proposals[slot] = list(codes)
        return [list(p) for p in proposals if p is not None]
