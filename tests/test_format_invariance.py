"""An honest search signal: formats that are the same chip give the same result; what costs hardware costs accuracy.

* Scaled weights (``weight_scaling='layer'|'channel'``): Q1.3, Q2.2, Q3.1 and Q0.4 program the same 16
  levels, so layers, trained networks and their Monte-Carlo chips must agree exactly.
* Calibrated inputs (``input_scaling='calibrated'``): the range follows the data, the format's total
  bits decide the resolution; the first layer's input is not clipped away.
* No degenerate format reaches a child; a candidate's ADC is emulated; an accuracy-only search never
  searches a variation-free device; per-chip BatchNorm re-calibration is exact and restores the state.
"""

from __future__ import annotations

import copy
import random

import pytest
import torch
from torch import nn

from lightning_imc.layers import (
    FixedPoint,
    IMCConfig,
    IMCConv2d,
    IMCLinear,
    calibrate_input_ranges,
    evaluate_on_chips,
    classification_accuracy,
    fixed_point_quantize,
    mse_clip_range,
    quantize_to_codes,
    recalibrate_batchnorm,
)
from lightning_imc.models import ChildModule, OptimizerConfig, build_network, child_imc_config, layer_config
from lightning_imc.search.loop import devices_with_variation
from lightning_imc.space import get_space, to_child

SAME_CHIP = [(1, 3), (2, 2), (3, 1), (0, 4)]  # 4-bit signed weights: one 4-bit ReRAM cell


def _conv(int_bits: int, frac_bits: int, scaling: str, seed: int = 0) -> IMCConv2d:
    torch.manual_seed(seed)
    config = IMCConfig(weight_int_bits=int_bits, weight_frac_bits=frac_bits, weight_scaling=scaling, seed=3,
                       input_signed=True, input_int_bits=2, input_frac_bits=6, input_scaling="calibrated")
    return IMCConv2d(4, 8, 3, padding=1, imc_config=config)


@pytest.mark.parametrize("scaling", ["layer", "channel"])
def test_same_chip_formats_compute_the_same_layer_output_exactly(scaling):
    x = torch.randn(2, 4, 6, 6)
    outputs = []
    for int_bits, frac_bits in SAME_CHIP:
        layer = _conv(int_bits, frac_bits, scaling)
        outputs.append(layer(x))  # training mode: a fresh (seeded) variation sample
    for out in outputs[1:]:
        assert torch.equal(out, outputs[0])


def test_absolute_formats_are_not_scale_invariant():
    """NACIM's absolute semantics: Q2.2 has twice Q1.3's step, so the same weights quantize differently."""
    x = torch.randn(2, 4, 6, 6)
    a = _conv(1, 3, "absolute")(x)
    b = _conv(2, 2, "absolute")(x)
    assert not torch.allclose(a, b)


def test_scaled_weights_use_every_level_and_noise_follows_the_scale():
    torch.manual_seed(0)
    layer = IMCLinear(64, 16, imc_config=IMCConfig(weight_int_bits=2, weight_frac_bits=2, weight_scaling="layer",
                                                    variation="off"))
    with torch.no_grad():
        layer.weight.mul_(0.01)  # tiny weights: absolute Q2.2 (step 0.25) would round all of them to 0
        scale = layer.weight_scale(layer.weight)
        q = quantize_to_codes(layer.weight / scale, -8, 7) * scale
    codes = torch.round(q / scale).unique()
    assert codes.min() == -7 and codes.max() == 7 and len(codes) == 15
    assert fixed_point_quantize(layer.weight, FixedPoint(2, 2)).abs().max() == 0
    # bit-sliced noise in code units is the same for Q1.3 and Q2.2, and scales with the layer's weights
    noisy = IMCConfig(weight_int_bits=2, weight_frac_bits=2, weight_scaling="layer")
    layer.set_config(noisy)
    std = layer.weight_noise_std(q, scale)
    assert torch.allclose(std, layer._bit_sliced_std / 0.25 * scale)


def test_input_range_follows_batches_in_training_and_freezes_in_eval():
    layer = IMCLinear(3, 2, imc_config=IMCConfig(input_scaling="calibrated", input_signed=True, variation="off",
                                                 input_range_momentum=0.5))
    assert sorted(layer.state_dict()) == ["bias", "input_range", "weight"]
    layer.train()
    layer(torch.tensor([[1.0, -4.0, 2.0]]))
    assert float(layer.input_range) == 4.0  # the first batch is taken as it is
    layer(torch.tensor([[2.0, 0.0, 0.0]]))
    assert float(layer.input_range) == 3.0  # 4 + 0.5 * (2 - 4)
    layer.eval()
    layer(torch.tensor([[100.0, 0.0, 0.0]]))
    assert float(layer.input_range) == 3.0


def test_calibrated_inputs_of_equal_width_are_the_same_dac():
    """Unsigned Q3.4 and Q0.7 have 128 codes each: with a calibrated range they quantize identically."""
    torch.manual_seed(0)
    x = torch.rand(5, 16) * 3
    outs = []
    for int_bits, frac_bits in [(3, 4), (0, 7), (2, 5)]:
        torch.manual_seed(1)
        layer = IMCLinear(16, 4, imc_config=IMCConfig(input_int_bits=int_bits, input_frac_bits=frac_bits,
                                                      input_scaling="calibrated", variation="off"))
        calibrate_input_ranges(layer, [x])
        outs.append(layer.eval()(x))
    assert torch.equal(outs[0], outs[1]) and torch.equal(outs[0], outs[2])


def test_first_layer_input_is_not_clipped_with_calibrated_ranges():
    """A normalised image (mean 0, signed) through a signed 3-bit DAC: absolute Q0.3 clips most pixels."""
    torch.manual_seed(0)
    image = torch.randn(8, 1, 12, 12) * 1.5
    fmt = FixedPoint(0, 3, signed=True)
    clipped_absolute = float(((image < fmt.min_value) | (image > fmt.max_value)).float().mean())
    assert clipped_absolute > 0.6
    layer = IMCConv2d(1, 4, 3, imc_config=IMCConfig(input_int_bits=0, input_frac_bits=3, input_signed=True,
                                                    input_scaling="calibrated", variation="off"))
    calibrate_input_ranges(layer, [image])
    scale = layer.eval().input_scale(image)
    codes = image / scale
    assert float(((codes < fmt.min_code - 0.5) | (codes > fmt.max_code + 0.5)).float().mean()) == 0.0


def _quantization_mse(x: torch.Tensor, value_range: float, min_code: int, max_code: int) -> float:
    step = value_range / max_code
    return float((torch.clamp(torch.round(x / step), min_code, max_code) * step - x).square().mean())


def test_mse_clip_range_grows_with_bits_and_never_loses_to_max():
    """Half-normal activations (post-ReLU): the least-error range clips harder with fewer bits, and its
    error is never above the max|x| range's (max|x| is one of the candidates)."""
    torch.manual_seed(0)
    x = torch.randn(4000).abs()
    peak = float(x.max())
    ranges = [float(mse_clip_range(x, 0, 2 ** bits - 1)) for bits in (1, 2, 3, 4, 6, 8)]
    assert ranges == sorted(ranges) and ranges[0] < 0.45 * peak and ranges[-1] > 0.7 * peak
    for bits, value_range in zip((1, 2, 3, 4, 6, 8), ranges):
        max_code = 2 ** bits - 1
        assert _quantization_mse(x, value_range, 0, max_code) <= _quantization_mse(x, peak, 0, max_code)
    # 1 bit on a half-normal of unit scale: the best single level is near 1.2 sigma (hand search below)
    grid = torch.linspace(0.2, 3.0, 281)
    best = float(grid[torch.argmin(torch.tensor([_quantization_mse(x, float(r), 0, 1) for r in grid]))])
    assert abs(ranges[0] - best) / best < 0.2  # within one step of the candidates' 19% grid


def test_mse_clipping_lifts_a_two_bit_input_above_max_clipping():
    """A 2-bit unsigned input with max|x| ranging rounds most of a heavy-tailed batch to zero; the
    least-error range keeps it. Training-mode ranges follow the batch's statistic; calibration too."""
    torch.manual_seed(1)
    x = torch.randn(16, 32).exp()  # log-normal: heavy tail
    errors = {}
    for clipping in ("max", "mse"):
        layer = IMCLinear(32, 4, imc_config=IMCConfig(input_int_bits=0, input_frac_bits=2, input_scaling="calibrated",
                                                      input_clipping=clipping, variation="off"))
        layer.train()(x)  # first batch: the range is this batch's statistic
        expected = float(x.max()) if clipping == "max" else float(mse_clip_range(x, 0, 3))
        assert float(layer.input_range) == pytest.approx(expected)
        calibrate_input_ranges(layer, [x, x])
        assert float(layer.input_range) == pytest.approx(expected)
        errors[clipping] = _quantization_mse(x, float(layer.input_range), 0, 3)
    assert errors["mse"] < 0.6 * errors["max"]
    with pytest.raises(ValueError, match="input_clipping"):
        IMCConfig(input_clipping="percentile")


def test_nan_stays_nan_in_quantizers():
    x = torch.tensor([float("nan"), 0.3, -9.0])
    assert torch.isnan(fixed_point_quantize(x, FixedPoint(1, 3))[0])
    assert torch.isnan(quantize_to_codes(x, -8, 7)[0])
    layer = IMCLinear(3, 1, imc_config=IMCConfig(variation="off", input_signed=True))
    assert torch.isnan(layer(x[None])).all()


def test_random_candidates_never_decode_to_a_degenerate_weight_format():
    space = get_space("rls")
    rng = random.Random(0)
    for _ in range(300):
        spec = to_child(space, space.sample(rng))
        for index, layer in enumerate(spec.layers):
            fmt = FixedPoint(layer.weight_int_bits, layer.weight_frac_bits, signed=True)
            assert fmt.max_value > 0 and fmt.min_value < 0, (layer.name, fmt)
            if index == 0:
                assert layer.input_bits >= 2  # the signed first-layer input
    cand = space.default_candidate().replace(w_int_1=1, w_frac_1=0, w_int_2=0, w_frac_2=1, a_int_1=0, a_frac_1=1)
    spec = to_child(space, space.canonical(cand))
    assert (spec.layers[0].weight_int_bits, spec.layers[0].weight_frac_bits) == (1, 1)
    assert (spec.layers[1].weight_int_bits, spec.layers[1].weight_frac_bits) == (0, 2)
    assert (spec.layers[0].input_int_bits, spec.layers[0].input_frac_bits) == (0, 2)
    assert len(spec.repairs) == 3


def test_a_candidates_adc_and_rows_always_reach_the_layers():
    base = child_imc_config()
    assert base.adc_bits is None
    spec = to_child(get_space("rls"), get_space("rls").default_candidate())
    config = layer_config(base, spec.layers[0], spec.device, {"array_size": 64, "adc_bits": 4})
    assert (config.adc_bits, config.array_rows) == (4, 64)
    settled = layer_config(base, spec.layers[0], spec.device, {"subarray_rows": 256, "adc_bits": 6})
    assert (settled.adc_bits, settled.array_rows) == (6, 256)


def test_settled_circuit_is_the_one_trained_and_charged():
    from lightning_imc.callbacks import HardwareMetricsCallback

    space = get_space("rls")
    spec = to_child(space, space.default_candidate(), input_shape=(1, 16, 16), num_classes=10)
    hardware = HardwareMetricsCallback(circuit_space={"adc_bits": [3, 4, 5, 6], "subarray_rows": [64, 128]})
    settled = hardware.settle_circuit(spec)
    network = build_network(settled)
    first = network.body[0][0]
    assert first.imc_config.adc_bits == settled.circuit["adc_bits"] in (3, 4, 5, 6)
    assert first.imc_config.array_rows == settled.circuit["subarray_rows"]
    _, chip, _ = hardware.evaluate_module(network.eval(), settled)
    assert (chip.adc_bits, chip.subarray_rows) == (settled.circuit["adc_bits"], settled.circuit["subarray_rows"])
    assert HardwareMetricsCallback(circuit_space={"cols_per_adc": [4, 8]}).settle_circuit(spec) is spec


def test_accuracy_only_search_sees_only_devices_with_variation():
    imc = child_imc_config()
    assert devices_with_variation(["rram_nacim", "fefet", "stt_mram", "sram", "pcm"], imc) == [
        "rram_nacim", "fefet", "stt_mram", "pcm"]
    with pytest.raises(ValueError, match=r"space.device choices \['sram'\] have no variation"):
        devices_with_variation(["sram"], imc)
    narrowed = get_space("rls").narrow("device", ["fefet", "rram_nacim"])
    assert narrowed.dimension("device").choices == ("rram_nacim", "fefet")
    with pytest.raises(ValueError, match=r"device='dram' is not a choice"):
        get_space("rls").narrow("device", ["dram"])


def test_batchnorm_recalibration_measures_the_chip_and_restores_the_trained_statistics():
    torch.manual_seed(0)
    model = nn.Sequential(IMCLinear(4, 3, imc_config=IMCConfig(variation="off", input_signed=True, seed=0)),
                          nn.BatchNorm1d(3))
    batches = [torch.randn(16, 4), torch.randn(16, 4)]
    with torch.no_grad():
        outputs = torch.cat([model[0].eval()(b) for b in batches])
    trained = copy.deepcopy(model[1].state_dict())
    assert recalibrate_batchnorm(model, batches) == 2
    assert torch.allclose(model[1].running_mean, outputs.mean(0), atol=1e-6)
    per_batch_var = torch.stack([model[0](b).var(0, unbiased=True) for b in batches]).mean(0)
    assert torch.allclose(model[1].running_var, per_batch_var, atol=1e-5)  # mean of unbiased batch variances
    model[1].load_state_dict(trained)
    evaluate_on_chips(model, lambda m: 0.5, n_chips=2, seed=0, bn_batches=batches)
    for key, value in model[1].state_dict().items():
        assert torch.equal(value, trained[key]), key


def test_settle_batchnorm_replaces_lagging_statistics_with_those_of_the_final_weights():
    """Precise BN before judging: without variation the statistics become exactly those of the data through
    the final weights; a noise-aware model's are gathered through chips (seeded, modes restored)."""
    from lightning_imc.layers.calibration import settle_batchnorm

    torch.manual_seed(0)
    batches = [torch.randn(16, 4), torch.randn(16, 4)]
    unaware = nn.Sequential(IMCLinear(4, 3, imc_config=IMCConfig(variation="off", input_signed=True, seed=0)),
                            nn.BatchNorm1d(3))
    unaware[1].running_mean.fill_(5.0)  # lagging statistics, far from the data's
    with torch.no_grad():
        expected = torch.cat([unaware[0].eval()(b) for b in batches]).mean(0)
    assert settle_batchnorm(unaware, batches, noise_aware=False) == 2
    assert torch.allclose(unaware[1].running_mean, expected, atol=1e-6)

    def aware() -> nn.Sequential:
        torch.manual_seed(0)
        model = nn.Sequential(IMCLinear(4, 3, imc_config=IMCConfig(variation="train", input_signed=True, seed=0)),
                              nn.BatchNorm1d(3))
        model[0].load_state_dict(unaware[0].state_dict())  # the same weights as the unaware model
        model[1].running_mean.fill_(5.0)
        return model

    first, second = aware(), aware()
    assert settle_batchnorm(first, batches, noise_aware=True, seed=3) == 4  # 2 batches x 2 chips
    settle_batchnorm(second, batches, noise_aware=True, seed=3)
    assert torch.equal(first[1].running_mean, second[1].running_mean)  # the same chips
    assert (first[1].running_mean - expected).abs().max() < 0.5  # the data's through noisy chips, not 5.0
    assert first[0].imc_config.variation == "train"  # the layers' mode is restored


def _digits(n_train: int = 512):
    from sklearn.datasets import load_digits

    data = load_digits()
    x = torch.tensor(data.images, dtype=torch.float32)[:, None] / 16.0
    x = (x - 0.3) / 0.4
    y = torch.tensor(data.target)
    return x[:n_train], y[:n_train], x[1000:1400], y[1000:1400]


def _small_spec(w_int: int, w_frac: int, adc_bits: int = 8):
    space = get_space("rls", include=("architecture", "quantization"), filters=(8, 16), fc_units=(32, 64),
                      n_conv=2)
    cand = space.default_candidate()
    changes = {n: (w_int if n.startswith("w_int_") else w_frac) for n in space.names if n.startswith(("w_int_", "w_frac_"))}
    spec = to_child(space, space.canonical(cand.replace(**changes)), input_shape=(1, 8, 8), num_classes=10)
    import dataclasses

    return dataclasses.replace(spec, circuit=spec.circuit | {"adc_bits": adc_bits})


def _train(spec, steps: int = 60, seed: int = 0):
    x, y, _, _ = _digits()
    torch.manual_seed(seed)
    net = build_network(spec, child_imc_config(seed=seed))
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(seed)
    net.train()
    for _ in range(steps):
        index = torch.randint(0, len(x), (64,), generator=g)
        loss = nn.functional.cross_entropy(net(x[index]), y[index])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net


def test_same_chip_formats_train_to_the_same_network_and_chips():
    """Noise-aware training of Q1.3 and Q2.2 children: same losses, weights and Monte-Carlo chips."""
    _, _, xt, yt = _digits()
    results = []
    for w_int, w_frac in [(1, 3), (2, 2)]:
        net = _train(_small_spec(w_int, w_frac))
        chips = evaluate_on_chips(net, lambda m: classification_accuracy(m, xt, yt), n_chips=4, seed=0)
        results.append((net.state_dict(), chips))
    (a, ca), (b, cb) = results
    for key in a:
        assert torch.allclose(a[key].float(), b[key].float(), rtol=1e-5, atol=1e-6), key
    assert ca.values == cb.values
    assert ca.mean > 0.5  # it learnt: the invariance is not that of two chance-level networks


def test_a_4_bit_adc_costs_accuracy_that_an_8_bit_adc_does_not():
    _, _, xt, yt = _digits()
    net = _train(_small_spec(1, 3, adc_bits=8), steps=80)
    net.eval()
    with torch.no_grad():
        accuracy = {}
        for bits in (8, 4, 2):
            coarse = build_network(_small_spec(1, 3, adc_bits=bits), child_imc_config(variation="off"))
            coarse.load_state_dict(net.state_dict())
            accuracy[bits] = classification_accuracy(coarse, xt, yt)
    assert accuracy[8] > 0.6
    assert accuracy[2] < accuracy[8] - 0.1  # a 2-bit ADC is paid for in accuracy
    assert accuracy[4] <= accuracy[8] + 0.02
