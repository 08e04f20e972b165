"""NACIM's reward: accuracy on chips with variation plus normalised hardware efficiency.

Formulas (1) and (3) of the paper (section IV ➀, V-B)::

    R = alpha * A + (1 - alpha) * F(e_latency, e_energy, e_area)

``A`` is the accuracy (a fraction) on chips with device variation, ``alpha`` the scaling parameter
(0.5 in the paper's bi- and multi-objective runs: "the total normalized hardware efficiency consists of
half of the reward and inference accuracy takes another half"; a larger ``alpha`` favours accuracy),
and ``F`` merges the normalised efficiencies — a weighted sum by default (the paper's choice), with
equal weights by default. ``alpha = 1`` gives accuracy alone (ptbNAS/QuantNAS).

Normalisation (the paper does not give one; this is ours): each metric ``m`` (lower is better) maps
to an efficiency in [0, 1] on a log scale between two reference values, ``best`` (efficiency 1) and
``worst`` (efficiency 0)::

    e(m) = clip( log(worst / m) / log(worst / best), 0, 1 )

A log scale because hardware metrics of candidates span orders of magnitude; a ratio of two
designs then changes the reward by the same amount wherever they sit. References come from the
configuration or from :func:`reference_bounds` (percentiles over random candidates of the space).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping, Sequence

__all__ = ["RewardConfig", "MetricBounds", "compute_reward", "RewardBreakdown", "MERGES", "HARDWARE_METRICS", "reference_bounds"]

HARDWARE_METRICS = ("latency_s", "energy_j", "area_mm2", "edp")
MERGES = ("weighted_sum", "product", "min")

@dataclass(frozen=True)
class MetricBounds:
    """Reference values of one metric (same unit as the metric: s, J, mm², J·s)."""

    best: float
    worst: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.best) and math.isfinite(self.worst) and 0 < self.best < self.worst):
            raise ValueError(f"MetricBounds needs 0 < best < worst, got best={self.best}, worst={self.worst}")

    def efficiency(self, value: float) -> float:
        """Normalised efficiency of ``value`` in [0, 1] (1 at ``best`` or better)."""
        if not (value > 0 and math.isfinite(value)):
            return 0.0
        return min(1.0, max(0.0, math.log(self.worst / value) / math.log(self.worst / self.best)))

@dataclass(frozen=True)
class RewardConfig:
    """Reward settings.

    Attributes:
        alpha: Weight of accuracy in [0, 1]; ``1 - alpha`` goes to hardware efficiency.
        weights: Weight of each hardware metric in the merge (keys from ``latency_s``, ``energy_j``,
            ``area_mm2``, ``edp``); normalised to sum to 1. A single key gives the paper's
            bi-objective runs.
        merge: ``weighted_sum`` (paper), ``product`` (weighted geometric mean) or ``min`` (worst metric).
        bounds: Reference values per metric; metrics without bounds must come from ``reference_bounds``.
        failed_reward: Reward of a child that failed (diverged, could not be mapped).
    """

    alpha: float = 0.5
    weights: Mapping[str, float] = field(default_factory=lambda: {"latency_s": 1.0, "energy_j": 1.0, "area_mm2": 1.0})
    merge: str = "weighted_sum"
    bounds: Mapping[str, MetricBounds] = field(default_factory=dict)
    failed_reward: float = -1.0

    def __post_init__(self) -> None:
        if isinstance(self.alpha, bool) or not isinstance(self.alpha, (int, float)) or not 0 <= self.alpha <= 1:
            raise ValueError(f"reward.alpha={self.alpha!r}; must be a number in [0, 1]")
        if self.merge not in MERGES:
            raise ValueError(f"reward.merge={self.merge!r}; allowed: {list(MERGES)}")
        unknown = sorted(set(self.weights) - set(HARDWARE_METRICS))
        if unknown:
            raise ValueError(f"reward.weights has unknown metric(s) {unknown}; allowed: {list(HARDWARE_METRICS)}")
        if self.alpha < 1 and not self.weights:
            raise ValueError("reward.weights is empty but alpha < 1: name at least one hardware metric")
        for key, weight in self.weights.items():
            if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight < 0:
                raise ValueError(f"reward.weights.{key}={weight!r}; must be a number >= 0")
        unknown = sorted(set(self.bounds) - set(HARDWARE_METRICS))
        if unknown:
            raise ValueError(f"reward.bounds has unknown metric(s) {unknown}; allowed: {list(HARDWARE_METRICS)}")

    def with_bounds(self, bounds: Mapping[str, MetricBounds]) -> "RewardConfig":
        """A copy whose missing bounds are filled from ``bounds``."""
        merged = dict(bounds)
        merged.update(self.bounds)
        return RewardConfig(self.alpha, dict(self.weights), self.merge, merged, self.failed_reward)

@dataclass(frozen=True)
class RewardBreakdown:
    """The reward and its parts."""

    reward: float
    accuracy: float
    hardware_efficiency: float
    efficiencies: Mapping[str, float]

def compute_reward(accuracy: float, hardware: Mapping[str, float], config: RewardConfig) -> RewardBreakdown:
    """The reward of a child from its accuracy on chips (a fraction) and its hardware metrics.

    >>> cfg = RewardConfig(alpha=0.5, weights={"latency_s": 1.0},
    ...                    bounds={"latency_s": MetricBounds(best=1e-4, worst=1e-2)})
    >>> compute_reward(0.8, {"latency_s": 1e-3}, cfg).reward  # efficiency 0.5
    0.65
    """
    if not 0 <= accuracy <= 1:
        raise ValueError(f"accuracy={accuracy!r}; must be a fraction in [0, 1]")
    total_weight = sum(config.weights.values())
    efficiencies: dict[str, float] = {}
    for key, weight in config.weights.items():
        if weight == 0:
            continue
        if key not in config.bounds:
            raise ValueError(f"reward.bounds has no reference for {key!r}; give reward.bounds.{key} or use reference_bounds()")
        if key not in hardware:
            raise ValueError(f"hardware metrics lack {key!r}; have {sorted(hardware)}")
        efficiencies[key] = config.bounds[key].efficiency(float(hardware[key]))
    efficiency = _merge(efficiencies, config.weights, total_weight, config.merge) if efficiencies else 0.0
    reward = config.alpha * accuracy + (1 - config.alpha) * efficiency
    return RewardBreakdown(round(reward, 12), accuracy, efficiency, efficiencies)

def _merge(efficiencies: Mapping[str, float], weights: Mapping[str, float], total: float, how: str) -> float:
    if how == "weighted_sum":
        return sum(weights[k] * e for k, e in efficiencies.items()) / total
    if how == "product":
        return math.exp(sum(weights[k] * math.log(max(e, 1e-12)) for k, e in efficiencies.items()) / total)
    return min(efficiencies.values())

def reference_bounds(
    metric_samples: Mapping[str, Sequence[float]], low_percentile: float = 5.0, high_percentile: float = 95.0
) -> dict[str, MetricBounds]:
    """Bounds from metrics of sample candidates: ``best`` and ``worst`` at the given percentiles."""
    bounds = {}
    for key, values in metric_samples.items():
        ordered = sorted(float(v) for v in values if v > 0 and math.isfinite(v))
        if len(ordered) < 2:
            raise ValueError(f"reference_bounds needs at least 2 positive samples of {key!r}")
        best = _percentile(ordered, low_percentile)
        worst = _percentile(ordered, high_percentile)
        if worst <= best:
            worst = best * 1.0001
        bounds[key] = MetricBounds(best, worst)
    return bounds

def _percentile(ordered: list[float], q: float) -> float:
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
