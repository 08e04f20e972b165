"""rNAS that improves designs: exact transfer between formats, BatchNorm under variation, neighbourhood proposals.

* A trained child moved to a format that is the same chip up to scale keeps its accuracy on chips; one
  moved to more fraction bits loses no more than the chips' 95% interval (the scaled layers re-quantize
  the weights, nothing is rescaled).
* BatchNorm re-estimation under variation averages the statistics over fresh chips and leaves the
  layers' variation modes as they were.
* Neighbourhood proposals: the specification first, then designs a few layers away, the controller's
  share still reachable; the batches are a function of (seed, step, what was told).
"""

from __future__ import annotations

import random

import pytest
import torch
from torch import nn

from lightning_imc.layers import (
    IMCConfig,
    IMCLinear,
    classification_accuracy,
    evaluate_on_chips,
    reestimate_batchnorm_under_variation,
    resample_chip,
    variation_mode,
)
from lightning_imc.models import build_network, child_imc_config
from lightning_imc.search.neighbourhood import (NeighbourhoodProposer, changed_units, cost_unit_weights, mutate,
                                               mutation_units)
from lightning_imc.space import get_space, to_child

N_CHIPS = 8


def _digits(n_train: int = 1000):
    from sklearn.datasets import load_digits

    data = load_digits()
    x = torch.tensor(data.images, dtype=torch.float32)[:, None] / 16.0
    x = (x - 0.3) / 0.4
    y = torch.tensor(data.target)
    return x[:n_train], y[:n_train], x[1000:1500], y[1000:1500]


def _space():
    return get_space("rls", include=("architecture", "quantization"), filters=(8, 16), fc_units=(32, 64), n_conv=2)


def _spec(w_int: int, w_frac: int):
    space = _space()
    changes = {n: (w_int if n.startswith("w_int_") else w_frac) for n in space.names if n.startswith(("w_int_", "w_frac_"))}
    return to_child(space, space.canonical(space.default_candidate().replace(**changes)), input_shape=(1, 8, 8),
                    num_classes=10)


@pytest.fixture(scope="module")
def trained_q13():
    """A Q1.3 child trained noise-aware on the digits (120 Adam steps): its weights and test data."""
    torch.set_num_threads(1)
    x, y, xt, yt = _digits()
    torch.manual_seed(0)
    net = build_network(_spec(1, 3), child_imc_config(seed=0))
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    net.train()
    for _ in range(120):
        index = torch.randint(0, len(x), (64,), generator=g)
        loss = nn.functional.cross_entropy(net(x[index]), y[index])
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    return net.state_dict(), xt, yt


def _on_chips(state, w_int: int, w_frac: int, xt, yt):
    """The trained weights transferred as they are (no rescaling) into a child of format Q<w_int>.<w_frac>."""
    net = build_network(_spec(w_int, w_frac), child_imc_config(seed=0))
    net.load_state_dict(state)
    net.eval()
    return evaluate_on_chips(net, lambda m: classification_accuracy(m, xt, yt), n_chips=N_CHIPS, seed=0)


@pytest.mark.parametrize("w_int,w_frac", [(2, 2), (3, 1), (0, 4)])
def test_a_trained_child_moved_to_a_same_chip_format_keeps_its_accuracy_on_chips(trained_q13, w_int, w_frac):
    state, xt, yt = trained_q13
    base = _on_chips(state, 1, 3, xt, yt)
    moved = _on_chips(state, w_int, w_frac, xt, yt)
    assert base.mean > 0.5  # it learnt
    half_ci = (base.ci95_high - base.ci95_low) / 2
    assert abs(moved.mean - base.mean) <= half_ci
    assert moved.values == base.values  # same 16 levels, same noise in code units: the same chips exactly


@pytest.mark.parametrize("w_frac", [4, 5, 6])
def test_a_transfer_to_more_fraction_bits_loses_no_more_than_the_chips_interval(trained_q13, w_frac):
    state, xt, yt = trained_q13
    base = _on_chips(state, 1, 3, xt, yt)
    moved = _on_chips(state, 1, w_frac, xt, yt)
    assert moved.mean >= base.mean - (base.ci95_high - base.ci95_low) / 2


def test_batchnorm_reestimation_under_variation_averages_fresh_chips_and_restores_modes():
    torch.manual_seed(0)
    config = IMCConfig(weight_int_bits=1, weight_frac_bits=3, weight_scaling="layer", variation="fixed", seed=1)
    model = nn.Sequential(IMCLinear(6, 4, imc_config=config), nn.BatchNorm1d(4))
    batches = [torch.randn(32, 6) for _ in range(3)]
    expected_mean = torch.zeros(4)
    with torch.no_grad(), variation_mode(model, "fixed"):
        for k, batch in enumerate(batches):  # the same chips by hand: seed 5 + 2k + c for batch k, chip c
            for c in range(2):
                resample_chip(model, 5 + 2 * k + c)
                expected_mean += model[0](batch).mean(0) / (2 * len(batches))
        resample_chip(model, 0)
        clean_out = model[0](batches[0])
    assert reestimate_batchnorm_under_variation(model, batches, seed=5, chips_per_batch=2) == 6
    assert torch.allclose(model[1].running_mean, expected_mean, atol=1e-5)
    assert model[0].imc_config.variation == "fixed"  # the layers' modes are left as they were
    # the statistics saw variation: they differ from those of one chip's outputs
    assert not torch.allclose(model[1].running_mean, clean_out.mean(0), atol=1e-4)


def _rnas_space():
    full = get_space("rls")
    return full.select_groups(("quantization", "circuit"), defaults=full.default_candidate())


def test_mutation_units_are_layers_and_groups():
    space = _rnas_space()
    units = mutation_units(space)
    names = [[space.names[i] for i in unit] for unit in units]
    assert names[0] == ["w_int_1", "w_frac_1", "a_int_1", "a_frac_1"]
    assert len(units) == 8 + 1  # 8 layers' formats + the circuit
    assert names[-1] == ["array_size", "adc_bits", "cols_per_adc"]


def test_neighbourhood_starts_at_the_specification_then_changes_few_layers():
    space = _rnas_space()
    full = get_space("rls")
    spec = space.encode({k: v for k, v in full.default_candidate().items() if k in space.names})
    calls: list[int] = []

    def controller(n):
        calls.append(n)
        return [space.encode(space.sample(random.Random(i))) for i in range(n)]

    proposer = NeighbourhoodProposer(space, spec, share=1.0, max_units=2, seed=3)
    batch = proposer.ask(0, 6, [], controller)
    assert batch[0] == spec
    assert not calls  # share 1: all mutations
    for codes in batch[1:]:
        assert 1 <= changed_units(space, spec, codes) <= 2
        changed = [i for i, (a, b) in enumerate(zip(spec, codes)) if a != b]
        assert 1 <= len(changed) <= 4  # one or two fields per changed unit
    assert len({tuple(c) for c in batch}) == len(batch)  # no repeats within a batch
    assert proposer.ask(0, 6, [], controller) == batch  # a function of (seed, step, told): resumable


def test_neighbourhood_follows_the_best_design_and_keeps_the_controller_reachable():
    space = _rnas_space()
    spec = [0] * len(space.names)
    better = mutate(space, spec, random.Random(0), max_units=1)
    far = [c - 1 for c in space.cardinalities]

    def controller(n):
        return [list(far) for _ in range(n)]

    local_only = NeighbourhoodProposer(space, spec, share=1.0, max_units=1, seed=0)
    told = [(spec, 0.2), (better, 0.9)]
    assert local_only.incumbent(told) == better
    for codes in local_only.ask(1, 8, told, controller):
        assert changed_units(space, better, codes) == 1  # neighbours of the incumbent, not of the spec
    mixed = NeighbourhoodProposer(space, spec, share=0.5, max_units=1, seed=0)
    proposals = [c for step in range(1, 6) for c in mixed.ask(step, 8, told, controller)]
    from_controller = sum(c == far for c in proposals)
    assert 5 <= from_controller <= 35  # about half of 40 come from the controller (global search)
    with pytest.raises(ValueError, match="rnas_neighbourhood_share"):
        NeighbourhoodProposer(space, spec, share=1.5)


def test_cost_guided_mutations_go_where_the_cost_is_and_keep_every_unit_reachable():
    space = _rnas_space()
    spec = [0] * len(space.names)
    units = mutation_units(space)
    # layer 4 holds all the cost; half the picks follow the cost, half are uniform over the 9 units
    weights = cost_unit_weights(space, [0, 0, 0, 1, 0, 0, 0, 0], 0.5)
    assert weights is not None and abs(sum(weights) - 1) < 1e-12
    assert weights[3] == pytest.approx(0.5 + 0.5 / 9) and weights[0] == weights[-1] == pytest.approx(0.5 / 9)
    rng = random.Random(0)
    picks = [changed for changed in (
        [k for k, unit in enumerate(units) if any(m[i] != spec[i] for i in unit)]
        for m in (mutate(space, spec, rng, max_units=1, units=units, unit_weights=weights) for _ in range(3000)))]
    share_layer4 = sum(p == [3] for p in picks) / len(picks)
    assert abs(share_layer4 - (0.5 + 0.5 / 9)) < 0.04  # binomial sd ~0.009
    circuit = sum(p == [8] for p in picks) / len(picks)
    assert 0.03 < circuit < 0.09  # still reachable: 1/18 expected
    # uniform when off, without shares, or with a share per layer missing
    assert cost_unit_weights(space, [1] * 8, 0.0) is None
    assert cost_unit_weights(space, None, 0.5) is None and cost_unit_weights(space, [1] * 7, 0.5) is None
    with pytest.raises(ValueError, match="rnas_cost_share"):
        cost_unit_weights(space, [1] * 8, 1.5)
    with pytest.raises(ValueError, match="unit_weights"):
        NeighbourhoodProposer(space, spec, unit_weights=[1.0] * 3)
    with pytest.raises(ValueError, match="unit_weights"):
        mutate(space, spec, rng, unit_weights=[1.0] * 3)


def test_layer_cost_shares_split_energy_and_latency_equally():
    from types import SimpleNamespace

    from lightning_imc.callbacks import layer_cost_shares

    report = SimpleNamespace(layers=[SimpleNamespace(energy_j=1e-6, latency_s=1e-5),
                                     SimpleNamespace(energy_j=3e-6, latency_s=1e-5)])
    assert layer_cost_shares(report) == pytest.approx([(0.25 + 0.5) / 2, (0.75 + 0.5) / 2])


def test_a_setting_added_later_at_its_default_leaves_old_histories_resumable():
    from lightning_imc.search.loop import ADDED_SETTINGS, search_fingerprint

    base = {"search": {"mode": "nacim", "seed": 0}}
    assert ADDED_SETTINGS["search.rnas_cost_share"] == 0.0
    assert search_fingerprint({"search": dict(base["search"], rnas_cost_share=0.0)}) == search_fingerprint(base)
    assert search_fingerprint({"search": dict(base["search"], rnas_cost_share=0.5)})["search"]["rnas_cost_share"] == 0.5


def _chip_cost(space):
    """Codes → −log10(EDP) of the RLS child on the paper's chip, by the analytical model alone (higher: cheaper)."""
    import math

    from lightning_imc.callbacks import HardwareMetricsCallback

    full, hardware, cache = get_space("rls"), HardwareMetricsCallback(), {}

    def cost(codes):
        key = tuple(codes)
        if key not in cache:
            candidate = full.canonical(dict(full.default_candidate()) | dict(space.decode(list(codes))))
            metrics = hardware.design_metrics(to_child(full, candidate, input_shape=(1, 28, 28), num_classes=10))
            cache[key] = -math.log10(metrics["edp"])
        return cache[key]

    return cost


def test_cost_descent_proposes_the_cheapest_untried_single_moves_and_random_moves_are_unchanged():
    space = _rnas_space()
    spec = space.encode({k: v for k, v in get_space("rls").default_candidate().items() if k in space.names})
    cost = _chip_cost(space)

    def controller(n):
        raise AssertionError("share 1: no controller proposals")

    descent = NeighbourhoodProposer(space, spec, share=1.0, seed=3, moves="cost_descent", cost=cost)
    batch = descent.ask(0, 4, [], controller)
    assert batch[0] == spec
    # every single-field one-step move, rated by the chip model: the batch takes the cheapest, in order
    singles = []
    for i, dim in enumerate(space.dimensions):
        for target in (spec[i] - 1, spec[i] + 1):
            if 0 <= target < dim.cardinality:
                singles.append(spec[:i] + [target] + spec[i + 1:])
    cheaper = sorted((c for c in singles if cost(c) > cost(spec)), key=cost, reverse=True)
    distinct = [c for k, c in enumerate(cheaper) if all(round(cost(c), 12) != round(cost(d), 12) for d in cheaper[:k])]
    assert batch[1:] == distinct[:3]
    assert NeighbourhoodProposer(space, spec, share=1.0, seed=3, moves="cost_descent", cost=cost).ask(
        0, 4, [], controller) == batch  # a function of (seed, step, told): a resumed search proposes the same
    assert all(sum(a != b for a, b in zip(spec, c)) == 1 for c in batch[1:])
    # told results move the incumbent: the next moves start from the best design so far
    told = [(codes, -k) for k, codes in enumerate(batch)]  # the specification stays best
    told[2] = (batch[2], 1.0)
    for codes in descent.ask(1, 3, told, controller):
        assert sum(a != b for a, b in zip(batch[2], codes)) == 1 and cost(codes) > cost(batch[2])
        assert tuple(codes) not in {tuple(c) for c, _ in told}
    # the default random moves draw exactly what they drew before cost_descent existed, cost given or not
    plain = NeighbourhoodProposer(space, spec, share=1.0, seed=3)
    assert NeighbourhoodProposer(space, spec, share=1.0, seed=3, cost=cost).ask(0, 6, [], controller) == \
        plain.ask(0, 6, [], controller)
    with pytest.raises(ValueError, match="rnas_moves"):
        NeighbourhoodProposer(space, spec, moves="steepest")
    with pytest.raises(ValueError, match="needs a cost function"):
        NeighbourhoodProposer(space, spec, moves="cost_descent")


def test_moves_setting_leaves_old_histories_resumable_at_its_default():
    from lightning_imc.search.loop import ADDED_SETTINGS, search_fingerprint

    assert ADDED_SETTINGS["search.rnas_moves"] == "random"  # what an older history (without the key) used
    base = {"search": {"mode": "nacim"}}
    assert search_fingerprint({"search": {"mode": "nacim", "rnas_moves": "random"}}) == search_fingerprint(base)
    assert search_fingerprint({"search": {"mode": "nacim", "rnas_moves": "cost_descent"}}) != search_fingerprint(base)


def test_cost_descent_is_the_default_and_a_history_searched_with_random_moves_resumes_with_them(tmp_path):
    """Issue 24: new searches descend the chip cost; a history written with random moves (or before the
    setting existed: the same fingerprint) goes on with random moves under the same command, nothing re-run."""
    from pathlib import Path

    from hydra import compose, initialize_config_dir

    from lightning_imc.app import prepare, run
    from lightning_imc.search.history import HistoryStore
    from lightning_imc.search.loop import settings_of_older_history

    def config(*overrides):
        conf = str(Path(__file__).resolve().parents[1] / "conf")
        with initialize_config_dir(config_dir=conf, version_base="1.3"):
            return compose(config_name="config", overrides=[
                f"paths.output_dir={tmp_path}", "mode=search", "search.mode=nacim", "logger=none", "+trainer.fast_dev_run=true",
                "search.episodes=2", "search.batch_size=2", "search.top_k=1", "search.rnas_steps=2", "search.finetune_top=0",
                "search.topk_finetune_epochs=1", "executor.threads_per_child=1", "search.chance_margin=null",
                "reward.bound_samples=8", "callbacks.variation_eval.n_chips=2", *overrides])

    assert prepare(config()).settings.search.rnas_moves == "cost_descent"
    first = run(config("search.rnas_moves=random"))
    with HistoryStore.open_readonly(str(tmp_path / "history.sqlite")) as store:
        assert "rnas_moves" not in store.fingerprint["search"]  # as a history written before the setting existed
        assert settings_of_older_history(store.fingerprint, {"search": {"rnas_moves": "cost_descent"}}) == {
            "search.rnas_moves": "random"}
    again = run(config())  # today's default would be cost_descent: the old search goes on as it was
    assert again["n_records"] == first["n_records"] and again["phases"] == first["phases"]


def test_design_metrics_are_the_trained_childs_chip_costs():
    """What cost_descent rates before any training is what the child is charged after it."""
    from lightning_imc.callbacks import HardwareMetricsCallback, hardware_metrics
    from lightning_imc.models import ChildModule, OptimizerConfig

    full, hardware, rng = get_space("rls"), HardwareMetricsCallback(), random.Random(0)
    for _ in range(3):
        spec = to_child(full, full.sample(rng), input_shape=(1, 28, 28), num_classes=10)
        child = ChildModule(spec, child_imc_config(variation="train"), OptimizerConfig()).network
        with torch.no_grad():
            for parameter in child.parameters():
                parameter.mul_(3.0)  # other weights: the chip costs the same
        _, _, report = hardware.evaluate_module(child.eval(), spec)
        assert hardware.design_metrics(spec) == pytest.approx(hardware_metrics(report), rel=1e-12)
