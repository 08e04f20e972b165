"""Monte-Carlo chips, training with ordinary optimizers, torch.compile, bf16 and CUDA."""

import statistics

import pytest
import torch
from torch import nn

from lightning_imc.layers import (
    IMCConfig,
    MonteCarloResult,
    classification_accuracy,
    convert_to_imc,
    evaluate_on_chips,
    imc_layers,
    student_t_quantile,
    variation_mode,
)


def _digits():
    from sklearn.datasets import load_digits

    data = load_digits()
    x = torch.tensor(data.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(data.target)
    return x[:1400], y[:1400], x[1400:], y[1400:]


def _cnn():
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 2 * 2, 10),
    )


def _train(model, x, y, optimizer, epochs=15):
    model.train()
    losses = []
    for _ in range(epochs):
        permutation = torch.randperm(len(x))
        for start in range(0, len(x), 64):
            idx = permutation[start : start + 64]
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    return losses


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_noise_aware_training_with_any_optimizer_learns_digits(optimizer):
    torch.manual_seed(0)
    x, y, x_test, y_test = _digits()
    # NACIM's 4-bit ReRAM (sigma 0.8 level); 4-bit weights in [-0.5, 0.5) fit one cell
    config = IMCConfig(seed=0, variation="train", device="rram_nacim", weight_int_bits=0, weight_frac_bits=4)
    model = convert_to_imc(_cnn(), config, overrides={"0": {"input_signed": True}})
    params = model.parameters()
    opt = torch.optim.SGD(params, lr=0.05, momentum=0.9) if optimizer == "sgd" else torch.optim.Adam(params, lr=3e-3)
    losses = _train(model, x, y, opt)
    assert statistics.fmean(losses[-20:]) < statistics.fmean(losses[:20]) / 2
    result = evaluate_on_chips(model, lambda m: classification_accuracy(m, x_test, y_test), n_chips=5, seed=0)
    assert result.mean > 0.6  # 10 classes: chance is 0.1


def test_noise_aware_training_beats_noise_unaware_training_on_chips():
    """The paper's core finding in miniature: training without variation collapses on a noisy chip."""
    x, y, x_test, y_test = _digits()
    chips = {}
    for mode in ("off", "train"):
        torch.manual_seed(0)
        config = IMCConfig(seed=0, variation=mode, weight_int_bits=1, weight_frac_bits=3)  # one 4-bit cell
        model = convert_to_imc(_cnn(), config, overrides={"0": {"input_signed": True}})
        _train(model, x, y, torch.optim.Adam(model.parameters(), lr=3e-3))
        chips[mode] = evaluate_on_chips(model, lambda m: classification_accuracy(m, x_test, y_test), 8, seed=1)
    assert chips["train"].mean > chips["off"].mean + 0.15
    assert chips["train"].ci95_low > chips["off"].ci95_high


def test_evaluate_on_chips_statistics_and_mode_restore():
    torch.manual_seed(0)
    x, y, x_test, y_test = _digits()
    model = convert_to_imc(_cnn(), IMCConfig(variation="train", seed=0), overrides={"0": {"input_signed": True}})
    _train(model, x, y, torch.optim.Adam(model.parameters(), lr=3e-3), epochs=3)

    def metric(m):
        return classification_accuracy(m, x_test, y_test)

    first = evaluate_on_chips(model, metric, n_chips=6, seed=10)
    again = evaluate_on_chips(model, metric, n_chips=6, seed=10)
    assert first.values == again.values and first.n_chips == 6
    assert first.std > 0 and first.ci95_low < first.mean < first.ci95_high
    assert first.mean == pytest.approx(statistics.fmean(first.values))
    half_width = student_t_quantile(0.975, 5) * first.std / 6**0.5
    assert first.ci95_high - first.mean == pytest.approx(half_width)
    assert all(layer.imc_config.variation == "train" for _, layer in imc_layers(model))
    with variation_mode(model, "off"):
        clean = metric(model)
        assert metric(model) == clean  # deterministic without variation
    with pytest.raises(ValueError, match="n_chips=0; must be an integer >= 1"):
        evaluate_on_chips(model, metric, n_chips=0)
    with pytest.raises(ValueError, match="no IMC layers"):
        evaluate_on_chips(_cnn(), metric)


def test_monte_carlo_result_single_chip():
    result = MonteCarloResult.from_values([0.5])
    assert (result.mean, result.std, result.ci95_low, result.ci95_high) == (0.5, 0.0, 0.5, 0.5)


def test_student_t_quantiles_match_tables():
    table = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 9: 2.262, 30: 2.042, 120: 1.980}
    for df, value in table.items():
        assert student_t_quantile(0.975, df) == pytest.approx(value, abs=1e-3)
    assert student_t_quantile(0.5, 7) == pytest.approx(0.0, abs=1e-9)


def test_torch_compile_matches_eager_and_trains():
    torch.manual_seed(0)
    model = convert_to_imc(_cnn(), IMCConfig(variation="fixed", adc_bits=6, seed=0), overrides={"0": {"input_signed": True}})
    x = torch.rand(8, 1, 8, 8)
    eager = model(x)
    compiled = torch.compile(model)
    assert torch.allclose(compiled(x), eager, atol=1e-5)
    loss = compiled(x).sum()
    loss.backward()
    assert model[0].weight.grad is not None and torch.isfinite(model[0].weight.grad).all()


def test_bf16_autocast_close_to_fp32():
    torch.manual_seed(0)
    model = convert_to_imc(_cnn(), IMCConfig(variation="fixed", seed=0), overrides={"0": {"input_signed": True}})
    x = torch.rand(16, 1, 8, 8)
    reference = model(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = model(x)
    assert low.dtype == torch.bfloat16
    assert torch.nn.functional.cosine_similarity(low.float().flatten(), reference.flatten(), dim=0) > 0.98


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_forward_backward_and_fixed_chip():
    model = convert_to_imc(_cnn(), IMCConfig(variation="fixed", adc_bits=6, seed=0), overrides={"0": {"input_signed": True}})
    model = model.cuda()
    x = torch.rand(8, 1, 8, 8, device="cuda")
    out = model(x)
    assert torch.equal(out, model(x))
    out.sum().backward()
    with torch.autocast("cuda", dtype=torch.bfloat16):
        assert model(x).dtype == torch.bfloat16
