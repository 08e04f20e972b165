"""Circuit optimisation: choose the chip configuration that minimises an objective under constraints.

NACIM's performance evaluator (paper §IV ➃) optimises the circuit for a given network, quantisation
and device before estimating latency, energy and area. :func:`optimize_circuit` searches a space of
:class:`ChipConfig` field values: exhaustively (vectorised) when the space is small, otherwise by
seeded random restarts + coordinate descent (each coordinate sweep is one batched evaluation).
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass, fields
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from ..devices import Device, get_device
from .batch import evaluate_batch
from .chip import ChipConfig
from .model import HardwareReport, evaluate
from .network import Network

__all__ = ["optimize_circuit", "OptimizationResult", "OBJECTIVES", "CONSTRAINTS"]

#: Objective names → metric of :class:`BatchReport`.
OBJECTIVES = {"latency": "latency_s", "energy": "energy_j", "area": "area_mm2", "edp": "edp_js"}
#: Constraint names → (metric, sense). ``max_*``: metric ≤ bound; ``min_*``: metric ≥ bound.
CONSTRAINTS = {
    "max_area_mm2": ("area_mm2", "max"), "max_latency_s": ("latency_s", "max"),
    "max_energy_j": ("energy_j", "max"), "max_edp_js": ("edp_js", "max"),
    "min_tops": ("tops", "min"), "min_tops_per_w": ("tops_per_w", "min"),
}
_CHIP_FIELDS = {f.name for f in fields(ChipConfig)}


@dataclass(frozen=True)
class OptimizationResult:
    """Outcome of :func:`optimize_circuit`.

    Attributes:
        chip: The best configuration found.
        report: Its full hardware report.
        objective_value: Objective at the optimum (metric units, or the weighted log-sum for mixes).
        n_evaluated: Configurations evaluated.
        n_feasible: Of those, how many met the constraints.
        method: ``"exhaustive"`` or ``"coordinate_descent"``.
    """

    chip: ChipConfig
    report: HardwareReport
    objective_value: float
    n_evaluated: int
    n_feasible: int
    method: str


def _objective_fn(objective: str | Mapping[str, float]):
    if isinstance(objective, str):
        if objective not in OBJECTIVES:
            raise ValueError(f"objective={objective!r}; allowed: {sorted(OBJECTIVES)} or a dict of weights")
        key = OBJECTIVES[objective]
        return lambda b: np.asarray(b.metric(key), dtype=float)
    if not isinstance(objective, Mapping) or not objective:
        raise ValueError("objective must be a name or a non-empty dict {metric: weight}")
    for k, w in objective.items():
        if k not in OBJECTIVES:
            raise ValueError(f"objective weight for {k!r}; allowed metrics: {sorted(OBJECTIVES)}")
        if not (isinstance(w, (int, float)) and w >= 0):
            raise ValueError(f"objective weight {k}={w!r}; must be a number >= 0")

    def f(b):  # weighted sum of logs = log of a weighted product: scale-free mix of metrics
        with np.errstate(divide="ignore"):
            return sum(w * np.log(np.asarray(b.metric(OBJECTIVES[k]), dtype=float)) for k, w in objective.items())
    return f


def _feasible(b, constraints: Mapping[str, float]) -> np.ndarray:
    ok = np.asarray(b.feasible, dtype=bool).copy()
    for name, bound in constraints.items():
        metric, sense = CONSTRAINTS[name]
        v = np.asarray(getattr(b, metric), dtype=float)
        ok &= (v <= bound) if sense == "max" else (v >= bound)
    return ok


def _field_error(base: ChipConfig, field: str, value: Any, space: Mapping[str, Any]) -> str | None:
    """ChipConfig's reason for refusing ``field=value`` with every other value of ``space``, or ``None``.

    ``field=value`` is tried alone and beside each other field's values in turn (``speedup_degree=2`` is
    fine beside ``execution='pipelined'``); it is refused when every try fails on this field's own check
    (a message starting with ``ChipConfig.<field>=``). A value wrong only in some combinations stays a
    point the optimiser skips as infeasible.
    """
    square = "subarray_rows" in space and "subarray_cols" not in space
    tries: list[dict[str, Any]] = [{}]
    tries += [{other: v} for other, values in space.items() if other != field for v in values]
    reason = None
    for extra in tries:
        changes = {field: value, **extra}
        if square and "subarray_rows" in changes:
            changes["subarray_cols"] = changes["subarray_rows"]
        try:
            base.replace(**changes)
            return None
        except (ValueError, TypeError) as err:
            message = str(err).splitlines()[0] if str(err) else type(err).__name__
            if not (message.startswith(f"ChipConfig.{field}=") or isinstance(err, TypeError)):
                return None  # refused for another field's sake: a combination, not this value
            reason = reason or message
    return reason


def _make_chip(base: ChipConfig, assignment: Mapping[str, Any]) -> ChipConfig | None:
    try:
        return base.replace(**assignment)
    except ValueError:
        return None  # e.g. cols_per_adc larger than the array: not a valid point of the space


def optimize_circuit(network: Network, device: Device | str, space: Mapping[str, Sequence[Any]],
                     objective: str | Mapping[str, float] = "edp",
                     constraints: Mapping[str, float] | None = None, *, base: ChipConfig | None = None,
                     method: str = "auto", exhaustive_limit: int = 4096, budget: int = 2000,
                     restarts: int = 4, seed: int = 0) -> OptimizationResult:
    """Choose the chip configuration minimising ``objective`` subject to ``constraints``.

    Args:
        network: Network to map (its per-layer bits are fixed: quantisation is not a circuit choice).
        device: Device or registry name.
        space: ``{ChipConfig field: candidate values}``, e.g.
            ``{"subarray_rows": [64, 128, 256], "adc_bits": [3, 4, 5], "max_tiles": [None, 64]}``.
            ``subarray_cols`` follows ``subarray_rows`` when only rows are given (square arrays).
        objective: ``"latency"``, ``"energy"``, ``"area"``, ``"edp"``, or ``{metric: weight}`` for the
            weighted log-sum Σ wₖ·log(metricₖ) (a weighted product; scale-free).
        constraints: e.g. ``{"max_area_mm2": 50.0, "max_latency_s": 1e-3, "min_tops_per_w": 10}``.
        base: Configuration the space's fields are applied to (default :meth:`ChipConfig.nacim`).
        method: ``"exhaustive"``, ``"coordinate_descent"`` or ``"auto"`` (exhaustive when the space has
            at most ``exhaustive_limit`` points).
        budget: Maximum configurations evaluated by coordinate descent.
        restarts: Random starting points of coordinate descent.
        seed: Seed of the random starts.

    Raises:
        ValueError: unknown field/constraint/objective, empty value lists, a value ChipConfig refuses for its
            field (e.g. ``adc_bits=0``: the message says why), or no configuration
            satisfying the constraints (the message gives the closest one).
    """
    constraints = dict(constraints or {})
    for name in constraints:
        if name not in CONSTRAINTS:
            raise ValueError(f"constraint {name!r} is unknown; allowed: {sorted(CONSTRAINTS)}")
    if not isinstance(space, Mapping) or not space:
        raise ValueError("space must be a non-empty dict {ChipConfig field: [values]}")
    base_for_check = base or ChipConfig.nacim()
    for k, vals in space.items():
        if k not in _CHIP_FIELDS:
            raise ValueError(f"space field {k!r} is not a ChipConfig field; allowed: {sorted(_CHIP_FIELDS)}")
        if isinstance(vals, (str, bytes)) or not isinstance(vals, Iterable):
            raise ValueError(f"space[{k!r}] must be a list of candidate values, got {type(vals).__name__} {vals!r}")
        if len(list(vals)) == 0:
            raise ValueError(f"space[{k!r}] is empty")
        for value in vals:  # a value ChipConfig refuses on its own would only show up as "infeasible"
            reason = _field_error(base_for_check, k, value, space)
            if reason is not None:
                raise ValueError(f"space[{k!r}] has {value!r}: {reason}")
    if method not in ("auto", "exhaustive", "coordinate_descent"):
        raise ValueError(f"method={method!r}; allowed: ['auto', 'exhaustive', 'coordinate_descent']")
    base = base or ChipConfig.nacim()
    dev = get_device(device)
    obj = _objective_fn(objective)
    keys = list(space)
    values = [list(space[k]) for k in keys]
    square = "subarray_rows" in space and "subarray_cols" not in space
    size = math.prod(len(v) for v in values)
    if method == "auto":
        method = "exhaustive" if size <= exhaustive_limit else "coordinate_descent"

    cache: dict[tuple, tuple[float, bool, float]] = {}

    def assign(idx: tuple) -> dict:
        a = {k: values[j][i] for j, (k, i) in enumerate(zip(keys, idx))}
        if square:
            a["subarray_cols"] = a["subarray_rows"]
        return a

    def run(idxs: list[tuple]) -> None:
        todo = [t for t in dict.fromkeys(idxs) if t not in cache]
        chips, keep = [], []
        for t in todo:
            c = _make_chip(base, assign(t))
            if c is None:
                cache[t] = (math.inf, False, math.inf)
            else:
                chips.append(c)
                keep.append(t)
        for start in range(0, len(chips), 512):
            part = chips[start:start + 512]
            b = evaluate_batch(network, dev, part, strict=False)
            f = obj(b)
            ok = _feasible(b, constraints)
            viol = _violation(b, constraints)
            for t, fv, okv, vv in zip(keep[start:start + 512], f, ok, viol):
                cache[t] = (float(fv) if okv else math.inf, bool(okv), float(vv))

    if method == "exhaustive":
        run(list(itertools.product(*[range(len(v)) for v in values])))
    else:
        rng = random.Random(seed)
        for _ in range(max(1, restarts)):
            cur = tuple(rng.randrange(len(v)) for v in values)
            run([cur])
            improved = True
            while improved and len(cache) < budget:
                improved = False
                for j in range(len(keys)):
                    cands = [cur[:j] + (i,) + cur[j + 1:] for i in range(len(values[j]))]
                    run(cands)
                    best = min(cands, key=lambda t: (cache[t][0], cache[t][2]))
                    if (cache[best][0], cache[best][2]) < (cache[cur][0], cache[cur][2]):
                        cur, improved = best, True
                    if len(cache) >= budget:
                        break
            # a few random probes between restarts keep the search from one basin
            run([tuple(rng.randrange(len(v)) for v in values) for _ in range(8)])
    feasible = [t for t, (f, ok, _) in cache.items() if ok and math.isfinite(f)]
    if not feasible:
        closest = min(cache, key=lambda t: cache[t][2])
        raise ValueError(
            f"optimize_circuit: none of the {len(cache)} configurations evaluated satisfies the constraints "
            f"{constraints}; the closest was {assign(closest)} (relative violation {cache[closest][2]:.3g})")
    best = min(feasible, key=lambda t: cache[t][0])
    chip = base.replace(**assign(best))
    return OptimizationResult(chip=chip, report=evaluate(network, dev, chip), objective_value=cache[best][0],
                              n_evaluated=len(cache), n_feasible=len(feasible), method=method)


def _violation(b, constraints: Mapping[str, float]) -> np.ndarray:
    """Sum of relative constraint violations (0 when all are met; inf when unmappable)."""
    v = np.where(np.asarray(b.feasible, dtype=bool), 0.0, np.inf)
    for name, bound in constraints.items():
        metric, sense = CONSTRAINTS[name]
        m = np.asarray(getattr(b, metric), dtype=float)
        with np.errstate(invalid="ignore", divide="ignore"):
            rel = (m - bound) / abs(bound) if sense == "max" else (bound - m) / abs(bound)
        v = v + np.maximum(np.nan_to_num(rel, nan=np.inf), 0.0)
    return v
