"""Finer input quantization a chip can do: an integer zero point (asymmetric range) and a digital scale
per crossbar read (``input_scaling="dynamic"``)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from lightning_imc.layers import IMCConfig, IMCConv2d, IMCLinear, calibrate_input_ranges, conversion_config


def _silu_batch(n: int = 64, features: int = 32) -> torch.Tensor:
    torch.manual_seed(0)
    return F.silu(torch.randn(n, features) * 3.0)  # mostly positive, down to -0.28: one sign, but not all


def _relative_error(layer: IMCLinear, x: torch.Tensor) -> float:
    return float((layer._quantize_input(x) - x).pow(2).mean() / x.pow(2).mean())


def test_zero_point_doubles_the_resolution_of_one_sided_data_and_keeps_zero_exact():
    x = _silu_batch()
    signed = IMCLinear(32, 4, imc_config=conversion_config(variation="off", input_scaling="calibrated",
                                                          input_zero_point=False)).eval()
    shifted = IMCLinear(32, 4, imc_config=conversion_config(variation="off", input_scaling="calibrated")).eval()
    calibrate_input_ranges(signed, [x])
    calibrate_input_ranges(shifted, [x])
    assert signed.input_is_signed  # the data has negative values: a signed 8-bit DAC, step max|x| / 127
    low, high = float(x.min()), float(x.max())
    assert float(shifted.input_low) == low and float(shifted.input_range) == high
    step = (high - low) / 255
    q = shifted._quantize_input(x)
    assert float((q - x).abs().max()) <= step / 2 + 1e-6
    # the step is (hi - lo) / 255 instead of max|x| / 127: about half, so about a quarter of the error power
    assert _relative_error(shifted, x) < 0.35 * _relative_error(signed, x)
    assert float(shifted._quantize_input(torch.zeros(1, 32)).abs().max()) == 0.0  # zero padding stays exact


def test_zero_point_layer_equals_unsigned_codes_on_the_crossbar_plus_a_digital_offset():
    """What the chip computes: unsigned word-line codes times the weights, minus ``zero · scale · Σ_rows w``."""
    x = _silu_batch(8)
    layer = IMCLinear(32, 4, imc_config=conversion_config(variation="off", input_scaling="calibrated",
                                                          quantize_weights=False)).eval()
    calibrate_input_ranges(layer, [x])
    low, high = float(layer.input_low), float(layer.input_range)
    scale = (high - low) / 255
    zero = round(-low / scale)
    codes = torch.clamp(torch.round(x / scale + zero), 0, 255)
    assert codes.min() >= 0 and codes.max() <= 255
    on_chip = scale * (codes @ layer.weight.t()) - zero * scale * layer.weight.sum(1) + layer.bias
    assert torch.allclose(layer(x), on_chip, atol=1e-5)


def test_zero_point_range_follows_batches_in_training_and_passes_gradients_inside():
    layer = IMCLinear(3, 2, imc_config=IMCConfig(input_scaling="calibrated", input_zero_point=True, variation="off",
                                                 input_range_momentum=0.5))
    assert sorted(layer.state_dict()) == ["bias", "input_low", "input_range", "weight"]
    layer.train()
    layer(torch.tensor([[1.0, -4.0, 2.0]]))
    assert (float(layer.input_low), float(layer.input_range)) == (-4.0, 2.0)  # the first batch as it is
    layer(torch.tensor([[0.0, 6.0, 0.0]]))
    assert (float(layer.input_low), float(layer.input_range)) == (-2.0, 4.0)  # moving averages, momentum 0.5
    x = torch.tensor([[1.0, -1.0, 9.0]], requires_grad=True)
    layer.eval()(x).sum().backward()
    assert x.grad[0, 0] != 0 and x.grad[0, 1] != 0 and x.grad[0, 2] == 0  # 9 clips: no gradient


def test_zero_point_percentile_calibration_clips_both_tails():
    torch.manual_seed(0)
    x = torch.randn(1000, 10)
    layer = IMCLinear(10, 2, imc_config=conversion_config(variation="off", input_scaling="calibrated"))
    top = calibrate_input_ranges(layer, [x], percentile=99.0)[""]
    assert top == pytest.approx(float(torch.quantile(x.flatten(), 0.99)), rel=0.01)
    assert float(layer.input_low) == pytest.approx(float(torch.quantile(x.flatten(), 0.01)), rel=0.01)


def test_dynamic_scaling_gives_each_read_its_own_range():
    """A token with small values keeps 8-bit resolution; a calibrated per-layer range rounds it to 0."""
    torch.manual_seed(0)
    x = torch.randn(4, 16)
    x[0] *= 1e-3
    calibrated = IMCLinear(16, 2, imc_config=conversion_config(variation="off", input_scaling="calibrated",
                                                               input_zero_point=False))
    dynamic = IMCLinear(16, 2, imc_config=conversion_config(variation="off", input_scaling="dynamic",
                                                            input_zero_point=False))
    calibrate_input_ranges(calibrated, [x])
    calibrate_input_ranges(dynamic, [x])
    assert float(calibrated.eval()._quantize_input(x)[0].abs().max()) == 0.0
    q = dynamic.eval()._quantize_input(x)
    peaks = x.abs().amax(1, keepdim=True)
    assert torch.all((q - x).abs() <= peaks / 127 / 2 + 1e-9)
    assert torch.allclose(q.abs().amax(1, keepdim=True), peaks)  # each read's peak is a code exactly


def test_dynamic_scaling_is_per_pixel_on_1x1_convs_and_calibrated_on_kxk_convs():
    torch.manual_seed(0)
    x = torch.randn(2, 8, 5, 5) * torch.rand(1, 1, 5, 5) * 4
    one = IMCConv2d(8, 4, 1, imc_config=conversion_config(variation="off", input_scaling="dynamic",
                                                          input_zero_point=False)).eval()
    q = one._quantize_input(x)
    peaks = x.abs().amax(1, keepdim=True)
    assert torch.all((q - x).abs() <= peaks / 127 / 2 + 1e-6)
    torch.manual_seed(1)
    three = IMCConv2d(8, 4, 3, padding=1, imc_config=conversion_config(variation="off", input_scaling="dynamic"))
    torch.manual_seed(1)
    reference = IMCConv2d(8, 4, 3, padding=1, imc_config=conversion_config(variation="off", input_scaling="calibrated"))
    calibrate_input_ranges(three, [x])
    calibrate_input_ranges(reference, [x])
    assert torch.equal(three.eval()(x), reference.eval()(x))  # overlapping reads: the calibrated range


def test_dynamic_zero_point_reads_get_their_own_low_and_high():
    torch.manual_seed(0)
    x = F.silu(torch.randn(4, 16) * 3)
    x[0] *= 1e-3
    layer = IMCLinear(16, 2, imc_config=conversion_config(variation="off", input_scaling="dynamic")).eval()
    q = layer._quantize_input(x)
    steps = (x.amax(1, keepdim=True).clamp_min(0) - x.amin(1, keepdim=True).clamp_max(0)) / 255
    assert torch.all((q - x).abs() <= steps / 2 + 1e-9)


def test_zero_point_needs_a_scaled_input():
    with pytest.raises(ValueError, match=r"input_zero_point=True needs input_scaling='calibrated' or 'dynamic'"):
        IMCConfig(input_zero_point=True)
    with pytest.raises(ValueError, match=r"input_clipping='mse' with input_zero_point=True"):
        IMCConfig(input_scaling="calibrated", input_zero_point=True, input_clipping="mse")
    with pytest.raises(ValueError, match=r"input_clipping='mse' with input_scaling='dynamic'"):
        IMCConfig(input_scaling="dynamic", input_clipping="mse")
    with pytest.raises(ValueError, match=r"IMCConfig.input_zero_point=1; must be true or false"):
        IMCConfig(input_scaling="calibrated", input_zero_point=1)


def test_calibration_measures_the_design_not_a_noisy_chip_unless_asked():
    torch.manual_seed(0)
    x = torch.randn(32, 64)
    config = conversion_config(device="pcm", variation="train", input_zero_point=False, seed=0)
    first = IMCLinear(64, 64, imc_config=config)
    second = IMCLinear(64, 16, imc_config=config)
    model = torch.nn.Sequential(first, second)
    design = calibrate_input_ranges(model, [x])["1"]
    with torch.no_grad():
        clean = float(F.linear(x, first.weight, first.bias).abs().max())
    assert design == pytest.approx(clean, rel=0.02)  # only the 8-bit quantization of layer 0 in the way
    assert first.imc_config.variation == "train"  # the mode comes back
    through_noise = calibrate_input_ranges(model, [x], variation=None)["1"]
    assert abs(through_noise - clean) > 0.05 * clean  # PCM's variation on an untrained layer moves the range


def test_the_default_conversion_scales_each_read_so_a_rescaled_input_is_the_same_chip():
    """A read's own range makes the layer positively homogeneous: ``f(c·x) = c·f(x)`` for c = 2**k exactly
    (and any c > 0 up to rounding) — the same codes reach the crossbar whatever the scale of the previous
    layer (a BatchNorm's γ, a residual branch's gain). One calibrated range per layer is not: data 4× smaller
    than the calibration data uses a quarter of the codes."""
    torch.manual_seed(0)
    x = F.silu(torch.randn(32, 24) * 2)
    layer = IMCLinear(24, 6, bias=False, imc_config=conversion_config(variation="off")).eval()
    calibrated = IMCLinear(24, 6, bias=False, imc_config=conversion_config(variation="off", input_scaling="calibrated"))
    calibrated.weight = layer.weight
    calibrate_input_ranges(layer, [x])
    calibrate_input_ranges(calibrated.eval(), [x])
    with torch.no_grad():
        for c in (0.25, 2.0, 8.0):
            assert torch.equal(layer(c * x), c * layer(x))
        exact = x @ layer.weight.t()
        error_per_read = ((layer(x / 4) - exact / 4).pow(2).mean() / (exact / 4).pow(2).mean()).item()
        error_per_layer = ((calibrated(x / 4) - exact / 4).pow(2).mean() / (exact / 4).pow(2).mean()).item()
    assert error_per_layer > 4 * error_per_read


def _learning_layer(bits: int, zero_point: bool, features: int = 16) -> IMCLinear:
    config = IMCConfig(input_int_bits=bits, input_frac_bits=0, input_signed=False, input_scaling="calibrated",
                       input_zero_point=zero_point, input_range_learning=True, quantize_weights=False, variation="off")
    return IMCLinear(features, 4, bias=False, imc_config=config)


def test_a_learned_input_range_gets_lsq_gradients():
    """Hand-computed: range 1.5 on 2-bit unsigned codes (step s = 0.5), x = (0.3, 0.8, 3.0), all weights 1.
    y = 0.5 + 1.0 + 1.5; dy/ds = (1 − 0.6) + (2 − 1.6) + 3 (the rounding residuals, the clip code);
    ds/dr = 1/3, gradient scale 1/√(3 inputs · 3 levels): dy/dr = 3.8 / 9. Clipped inputs get no gradient."""
    layer = _learning_layer(2, zero_point=False, features=3)
    assert isinstance(layer.input_range, torch.nn.Parameter) and "input_range" not in layer._buffers
    with torch.no_grad():
        layer.weight.fill_(1.0)
        layer.input_range.fill_(1.5)
    x = torch.tensor([[0.3, 0.8, 3.0]], requires_grad=True)
    y = layer.train()(x)
    assert torch.allclose(y, torch.full((1, 4), 3.0))
    y[0, 0].backward()
    assert float(layer.input_range.grad) == pytest.approx(3.8 / 9, rel=1e-6)
    assert x.grad.tolist() == [[1.0, 1.0, 0.0]]
    assert float(layer.input_range.detach()) == 1.5  # a calibrated learned range is not moved by the batch itself


@pytest.mark.parametrize("zero_point", [False, True])
@pytest.mark.parametrize("start", [0.15, 1.0])
def test_a_learned_input_range_moves_to_where_the_error_is_smaller(zero_point, start):
    """3-bit inputs, a range started at the calibrated one (the largest input) or at 0.15 of it (heavy
    clipping): trained on the layer's own output error, the range settles inside the data, below its
    largest value — a 3-bit code does better clipping the tail — with at least 20% less error than the
    calibrated range (and 3× less than where it started)."""
    torch.manual_seed(0)
    x = F.silu(torch.randn(256, 16) * 2)
    layer = _learning_layer(3, zero_point)
    target = (x @ layer.weight.t()).detach()
    calibrate_input_ranges(layer, [x])

    def error() -> float:
        with torch.no_grad():
            return float((layer.eval()(x) - target).pow(2).mean())

    at_peak = error()
    with torch.no_grad():
        layer.input_range.mul_(start)
        if zero_point:
            layer.input_low.mul_(start)
    before = error()
    ranges = [p for n, p in layer.named_parameters() if n.startswith("input_")]
    optimizer = torch.optim.Adam(ranges, lr=0.3)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, 200)
    layer.train()
    for _ in range(200):
        loss = (layer(x) - target).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    assert error() < 0.8 * at_peak and (start == 1.0 or error() < before / 3)
    assert 0.3 * float(x.max()) < float(layer.input_range.detach()) < 0.9 * float(x.max())


def test_input_range_learning_needs_one_calibrated_range_and_keeps_the_state_dict_keys():
    with pytest.raises(ValueError, match=r"input_range_learning=True needs input_scaling='calibrated'.*'dynamic'"):
        conversion_config(input_range_learning=True)
    with pytest.raises(ValueError, match=r"IMCConfig.input_range_learning=1; must be true or false"):
        IMCConfig(input_scaling="calibrated", input_range_learning=1)
    torch.manual_seed(0)
    fixed = IMCLinear(8, 2, imc_config=conversion_config(input_scaling="calibrated"))
    calibrate_input_ranges(fixed, [torch.randn(4, 8)])
    learned = IMCLinear(8, 2, imc_config=conversion_config(input_scaling="calibrated", input_range_learning=True))
    learned.load_state_dict(fixed.state_dict())  # a calibrated checkpoint starts a learned one, and back
    assert sorted(learned.state_dict()) == sorted(fixed.state_dict())
    assert float(learned.input_low.detach()) == float(fixed.input_low) < 0
    fixed.set_config(fixed.imc_config.replace(input_range_learning=True))  # switching keeps the values
    assert isinstance(fixed.input_low, torch.nn.Parameter) and float(fixed.input_low.detach()) == float(learned.input_low.detach())
