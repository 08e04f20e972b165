"""NACIM's reward: hand-computed values, normalisation properties, bounds and errors."""

import math

import pytest

from lightning_imc.reward import MetricBounds, RewardConfig, compute_reward, reference_bounds

BOUNDS = {
    "latency_s": MetricBounds(best=1e-5, worst=1e-3),
    "energy_j": MetricBounds(best=1e-7, worst=1e-5),
    "area_mm2": MetricBounds(best=1.0, worst=100.0),
}


def test_hand_computed_weighted_sum():
    config = RewardConfig(alpha=0.5, bounds=BOUNDS)
    # latency at the geometric middle (0.5), energy at best (1.0), area at worst (0.0): mean 0.5
    hw = {"latency_s": 1e-4, "energy_j": 1e-7, "area_mm2": 100.0}
    breakdown = compute_reward(0.8, hw, config)
    assert breakdown.efficiencies == pytest.approx({"latency_s": 0.5, "energy_j": 1.0, "area_mm2": 0.0})
    assert breakdown.hardware_efficiency == pytest.approx(0.5)
    assert breakdown.reward == pytest.approx(0.5 * 0.8 + 0.5 * 0.5)


def test_merges_and_weights():
    hw = {"latency_s": 1e-4, "energy_j": 1e-7, "area_mm2": 10.0}  # efficiencies 0.5, 1.0, 0.5
    weighted = RewardConfig(alpha=0.0, weights={"latency_s": 2.0, "energy_j": 1.0, "area_mm2": 1.0}, bounds=BOUNDS)
    assert compute_reward(0.0, hw, weighted).reward == pytest.approx((2 * 0.5 + 1.0 + 0.5) / 4)
    product = RewardConfig(alpha=0.0, merge="product", bounds=BOUNDS)
    assert compute_reward(0.0, hw, product).reward == pytest.approx((0.5 * 1.0 * 0.5) ** (1 / 3))
    worst = RewardConfig(alpha=0.0, merge="min", bounds=BOUNDS)
    assert compute_reward(0.0, hw, worst).reward == pytest.approx(0.5)
    accuracy_only = RewardConfig(alpha=1.0, weights={}, bounds={})
    assert compute_reward(0.7, {}, accuracy_only).reward == pytest.approx(0.7)


def test_efficiency_is_monotone_clipped_and_scale_free():
    bounds = MetricBounds(best=2.0, worst=200.0)
    values = [0.5, 2.0, 5.0, 20.0, 100.0, 200.0, 1e4]
    effs = [bounds.efficiency(v) for v in values]
    assert effs == sorted(effs, reverse=True) and effs[0] == 1.0 and effs[-1] == 0.0
    # a fixed ratio between two designs changes the efficiency by the same amount anywhere inside
    assert bounds.efficiency(5.0) - bounds.efficiency(10.0) == pytest.approx(bounds.efficiency(50.0) - bounds.efficiency(100.0))
    assert bounds.efficiency(float("nan")) == 0.0 and bounds.efficiency(-1.0) == 0.0


def test_reference_bounds_percentiles():
    samples = {"latency_s": [float(v) for v in range(1, 102)]}  # 1..101
    bounds = reference_bounds(samples, 5, 95)["latency_s"]
    assert (bounds.best, bounds.worst) == (6.0, 96.0)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"alpha": 1.5}, r"reward.alpha=1.5; must be a number in \[0, 1\]"),
        ({"merge": "max"}, r"reward.merge='max'; allowed: \['weighted_sum', 'product', 'min'\]"),
        ({"weights": {"power": 1.0}}, r"reward.weights has unknown metric\(s\) \['power'\]"),
        ({"weights": {"latency_s": -1}}, r"reward.weights.latency_s=-1; must be a number >= 0"),
        ({"alpha": 0.5, "weights": {}}, r"reward.weights is empty but alpha < 1"),
    ],
)
def test_config_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RewardConfig(**kwargs)


def test_missing_bounds_and_metrics_are_named():
    with pytest.raises(ValueError, match="reward.bounds has no reference for 'latency_s'"):
        compute_reward(0.5, {"latency_s": 1.0, "energy_j": 1.0, "area_mm2": 1.0}, RewardConfig())
    with pytest.raises(ValueError, match="hardware metrics lack 'area_mm2'"):
        compute_reward(0.5, {"latency_s": 1e-4, "energy_j": 1e-6}, RewardConfig(bounds=BOUNDS))
    with pytest.raises(ValueError, match=r"accuracy=1.2; must be a fraction"):
        compute_reward(1.2, {}, RewardConfig(alpha=1.0, weights={}))
    with pytest.raises(ValueError, match="MetricBounds needs 0 < best < worst"):
        MetricBounds(best=5.0, worst=1.0)
    assert math.isfinite(RewardConfig(bounds=BOUNDS).with_bounds({"edp": MetricBounds(1, 2)}).bounds["edp"].worst)
