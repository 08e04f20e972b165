"""Pareto fronts and hypervolumes of search results (non-dominated sorting and hypervolume by moocore).

Objectives are columns of an ``(n, d)`` array with a per-column sense (``maximize[j]``).

* :func:`pareto_front` — indices of the non-dominated points (``moocore.is_nondominated``). Point ``a``
  dominates ``b`` when it is at least as good in every objective and strictly better in one. Hence
  **ties**: identical points do not dominate each other, so all copies of a non-dominated point are
  kept. Rows containing NaN are never on the front.
* :func:`hypervolume` — exact volume dominated by the points and bounded by the reference point, any
  number of objectives (``moocore.hypervolume``). Points that are not strictly better than the
  reference in every objective contribute nothing; rows with NaN are ignored.

Search records: :func:`objective_pairs` extracts ``(accuracy_variation, metric)`` from
:class:`~lightning_imc.search.history.CandidateRecord` objects, where the metric is a hardware
figure (``latency_s`` in s, ``energy_j`` in J, ``area_mm2`` in mm², ``edp`` in J·s, minimised;
``tops``, ``tops_per_w``, maximised) or ``hardware_efficiency`` (maximised); failed records and
records lacking the figures are skipped.

Example:
    >>> import numpy as np
    >>> pts = np.array([[0.9, 3.0], [0.8, 1.0], [0.7, 2.0], [0.9, 3.0]])
    >>> pareto_front(pts, maximize=(True, False)).tolist()
    [0, 1, 3]
    >>> round(hypervolume(pts, reference=(0.0, 4.0), maximize=(True, False)), 6)
    2.5
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

import moocore
import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from .history import CandidateRecord

__all__ = [
    "METRIC_MAXIMIZE",
    "PARETO_METRICS",
    "pareto_front",
    "hypervolume",
    "metric_value",
    "objective_pairs",
    "front_records",
    "objective_vectors",
    "default_reference",
]

METRIC_MAXIMIZE: dict[str, bool] = {
    "latency_s": False,
    "energy_j": False,
    "area_mm2": False,
    "edp": False,
    "tops": True,
    "tops_per_w": True,
    "hardware_efficiency": True,
}
"""Whether a larger value of each metric is better."""

PARETO_METRICS: tuple[str, ...] = ("latency_s", "energy_j", "area_mm2", "edp", "hardware_efficiency")
"""Metrics that accuracy with variation is traded against in the report."""

METRIC_LABELS: dict[str, str] = {
    "latency_s": "latency (s)",
    "energy_j": "energy (J)",
    "area_mm2": "area (mm²)",
    "edp": "EDP (J·s)",
    "tops": "TOPS",
    "tops_per_w": "TOPS/W",
    "hardware_efficiency": "hardware efficiency",
}


def _as_array(points: Any, maximize: Sequence[bool]) -> np.ndarray:
    """``points`` as an ``(n, d)`` float array, checked against ``maximize``'s length."""
    pts = np.asarray(points, dtype=float)
    if pts.ndim == 1:
        pts = pts.reshape(-1, len(maximize)) if len(maximize) else pts.reshape(-1, 1)
    if pts.ndim != 2:
        raise ValueError(f"points must be an (n, d) array, got shape {pts.shape}")
    if pts.shape[1] != len(maximize):
        raise ValueError(f"maximize has {len(maximize)} entries for {pts.shape[1]} objectives")
    return pts


def pareto_front(points: Any, maximize: Sequence[bool]) -> np.ndarray:
    """Indices (ascending) of the non-dominated rows of ``points`` (shape ``(n, d)``).

    Identical points do not dominate each other: all copies of a non-dominated point are returned.
    Rows with NaN are excluded.

    >>> pareto_front([[1, 1], [2, 2], [1, 1], [0, 3]], maximize=(False, False)).tolist()
    [0, 2, 3]
    """
    pts = _as_array(points, maximize)
    valid = np.flatnonzero(~np.isnan(pts).any(axis=1))
    if len(valid) == 0:
        return np.zeros(0, dtype=int)
    keep = moocore.is_nondominated(pts[valid], maximise=[bool(m) for m in maximize], keep_weakly=True)
    return valid[np.asarray(keep, dtype=bool)]


def hypervolume(points: Any, reference: Sequence[float], maximize: Sequence[bool]) -> float:
    """Exact hypervolume of ``points`` (shape ``(n, d)``) bounded by ``reference``, any ``d``.

    Args:
        points: ``(n, d)`` array, e.g. (accuracy with variation, EDP in J·s).
        reference: The reference point, worse than every point of interest in every objective
            (e.g. accuracy 0 and an EDP above the worst); points not strictly better than it in
            every objective add nothing.
        maximize: Sense of each objective.

    Returns:
        The hypervolume, in the product of the objectives' units.

    >>> hypervolume([[0.5, 1.0]], reference=(0.0, 3.0), maximize=(True, False))
    1.0
    >>> hypervolume([[1, 0, 0], [0, 1, 0]], reference=(2, 2, 1), maximize=(False,) * 3)
    3.0
    """
    pts = _as_array(points, maximize)
    ref = np.asarray(reference, dtype=float).reshape(-1)
    if ref.shape[0] != pts.shape[1]:
        raise ValueError(f"reference has {ref.shape[0]} entries for {pts.shape[1]} objectives")
    if np.isnan(ref).any():
        raise ValueError("reference point contains NaN")
    sense = np.asarray(maximize, dtype=bool)
    strictly_better = np.where(sense, pts > ref, pts < ref).all(axis=1)  # NaN compares False: dropped
    pts = pts[strictly_better]
    if pts.shape[0] == 0:
        return 0.0
    return float(moocore.hypervolume(pts, ref=ref, maximise=[bool(m) for m in sense]))


# ----------------------------------------------------------------------------------------------
# search records


def metric_value(record: "CandidateRecord", metric: str) -> float | None:
    """Value of ``metric`` in a record: ``metrics["hardware"][metric]``, else ``metrics[metric]``.

    ``accuracy_variation``, ``accuracy_clean`` and ``hardware_efficiency`` are read from the top
    level of ``metrics``; ``reward`` from the record. ``None`` when absent or not a finite number.
    """
    if metric == "reward":
        value: Any = record.reward
    else:
        metrics = record.metrics or {}
        hardware = metrics.get("hardware") or {}
        value = hardware.get(metric, metrics.get(metric)) if isinstance(hardware, Mapping) else metrics.get(metric)
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if np.isfinite(value) else None


def objective_vectors(records: Iterable["CandidateRecord"], names: Sequence[str]) -> list[list[float] | None]:
    """Per record, the values of the metrics ``names`` (see :func:`metric_value`), or ``None`` for a
    failed record or one lacking a figure: what a multi-objective controller is told.

    >>> from lightning_imc.search.history import CandidateRecord
    >>> rec = CandidateRecord(phase="p", index=0, key="k", codes=[0], choices={}, status="ok", reward=0.5,
    ...                       metrics={"accuracy_variation": 0.9, "hardware": {"edp": 2e-12}})
    >>> objective_vectors([rec], ["accuracy_variation", "edp"])
    [[0.9, 2e-12]]
    """
    out: list[list[float] | None] = []
    for record in records:
        values = [metric_value(record, name) for name in names] if record.status == "ok" else [None]
        out.append(None if any(v is None for v in values) else [float(v) for v in values])
    return out


def objective_pairs(
    records: Iterable["CandidateRecord"], metric: str, accuracy: str = "accuracy_variation"
) -> tuple[np.ndarray, list["CandidateRecord"]]:
    """``(accuracy, metric)`` pairs of the successful records that have both figures.

    Returns:
        An ``(n, 2)`` array (accuracy as a fraction, the metric in its unit) and the ``n`` records
        it came from, in the same order. Use ``maximize=(True, METRIC_MAXIMIZE[metric])``.
    """
    if metric not in METRIC_MAXIMIZE:
        raise ValueError(f"unknown metric {metric!r}; known: {', '.join(METRIC_MAXIMIZE)}")
    rows, kept = [], []
    for rec in records:
        if rec.status != "ok":
            continue
        a, m = metric_value(rec, accuracy), metric_value(rec, metric)
        if a is None or m is None:
            continue
        rows.append((a, m))
        kept.append(rec)
    return np.asarray(rows, dtype=float).reshape(-1, 2), kept


def front_records(
    records: Iterable["CandidateRecord"], metric: str, accuracy: str = "accuracy_variation"
) -> list["CandidateRecord"]:
    """Records on the Pareto front of accuracy (maximised) against ``metric``, sorted by the metric
    from best to worst (so accuracy increases along the list)."""
    pts, kept = objective_pairs(records, metric, accuracy)
    if not kept:
        return []
    maximize = (True, METRIC_MAXIMIZE[metric])
    idx = pareto_front(pts, maximize)
    sign = -1.0 if METRIC_MAXIMIZE[metric] else 1.0
    idx = sorted(idx, key=lambda i: (sign * pts[i, 1], -pts[i, 0]))
    return [kept[i] for i in idx]


def default_reference(values: Any, metric: str, margin: float = 0.1) -> tuple[float, float]:
    """Reference point ``(accuracy, metric)`` for a hypervolume: accuracy 0 and a metric value
    worse than every given one — ``(1 + margin) ×`` the largest for minimised metrics, 0 for
    maximised ones (hardware efficiency, TOPS, TOPS/W).

    >>> default_reference([[0.7, 2.0], [0.8, 4.0]], "edp")
    (0.0, 4.4)
    """
    vals = np.asarray(values, dtype=float).reshape(-1, 2)
    if METRIC_MAXIMIZE[metric]:
        return (0.0, 0.0)
    worst = float(np.nanmax(vals[:, 1])) if vals.shape[0] else 1.0
    return (0.0, round(worst * (1.0 + margin), 12))
