"""Read noise, drift (with global compensation), stuck-at faults, output noise and differential mapping,
each against its analytic statistics; auto-signed calibrated inputs."""

from __future__ import annotations

import math

import torch

from lightning_imc.devices import get_device
from lightning_imc.layers import IMCConfig, IMCLinear, calibrate_input_ranges, model_logits, classification_accuracy
from lightning_imc.layers.variation import (
    sample_differential_read,
    stuck_at_codes,
    weight_noise_std_levels,
)

torch.set_num_threads(1)

# 8-bit weights, absolute Q1.7 (step 2**-7), inputs ideal: an identity input reads the weights back
BASE = dict(weight_int_bits=1, weight_frac_bits=7, quantize_inputs=False, sigma_levels=0.0, seed=3)


def _read_weights(layer: IMCLinear) -> torch.Tensor:
    with torch.no_grad():
        return layer(torch.eye(layer.in_features)).t()  # (out, in), bias is None


def _layer(n_out: int = 200, n_in: int = 200, **changes) -> IMCLinear:
    torch.manual_seed(0)
    layer = IMCLinear(n_in, n_out, bias=False, imc_config=IMCConfig(**{**BASE, **changes}))
    with torch.no_grad():
        layer.weight.uniform_(-0.9, 0.9)
    return layer.eval()


def test_read_noise_is_redrawn_every_read_on_a_fixed_chip_with_the_analytic_std():
    layer = _layer(variation="fixed", read_noise_levels=0.5)
    layer.resample(7)
    first, second = _read_weights(layer), _read_weights(layer)
    expected = weight_noise_std_levels(8, get_device("rram_nacim").bits_per_cell, 0.5) * 2**-7
    diff = (first - second).flatten()
    assert diff.abs().min() > 0  # every read differs
    assert abs(float(diff.std()) / (math.sqrt(2) * expected) - 1) < 0.03  # 40 000 samples: ~0.4 % std error
    assert abs(float(diff.mean())) < 4 * math.sqrt(2) * expected / 200


def test_differential_mapping_std_matches_cell_by_cell_programming():
    codes = torch.randint(-128, 128, (100_000,))
    generator = torch.Generator().manual_seed(0)
    read = sample_differential_read(codes, 8, 4, 0.8, generator)
    measured = float((read - codes.double()).std())
    assert abs(measured / weight_noise_std_levels(8, 4, 0.8, "differential") - 1) < 0.02
    # and the layer draws that std in differential mode (programming variation)
    layer = _layer(variation="fixed", sigma_levels=0.8, weight_mapping="differential")
    layer.resample(1)
    ideal = _layer(variation="off")
    error = (_read_weights(layer) - _read_weights(ideal)).flatten()
    assert abs(float(error.std()) / (weight_noise_std_levels(8, 4, 0.8, "differential") * 2**-7) - 1) < 0.03


def test_drift_follows_the_power_law_and_global_compensation_undoes_a_common_nu():
    day = 86_400.0
    ideal = _read_weights(_layer(variation="off"))
    plain = _read_weights(_layer(variation="fixed", drift_time_s=day, drift_nu=0.05, drift_compensation=False))
    factor = (day / 20.0) ** -0.05
    assert torch.allclose(plain, ideal * factor, rtol=1e-5, atol=1e-7)
    compensated = _read_weights(_layer(variation="fixed", drift_time_s=day, drift_nu=0.05))
    assert torch.allclose(compensated, ideal, rtol=1e-5, atol=1e-6)
    # PCM: ν per weight ~ N(0.05, 0.01²): log(w(t)/w0) = -ν log(t/t0) has std 0.01 · log(t/t0)
    pcm = _layer(variation="fixed", device="pcm", drift_time_s=day, drift_compensation=False)
    pcm.resample(0)
    ratio = _read_weights(pcm) / ideal
    keep = ideal.abs() > 0.05
    log_ratio = torch.log(ratio[keep])
    assert abs(float(-log_ratio.mean()) / (0.05 * math.log(day / 20)) - 1) < 0.02
    assert abs(float(log_ratio.std()) / (0.01 * math.log(day / 20)) - 1) < 0.05


def test_stuck_at_faults_hit_the_expected_share_of_cells():
    # every weight at the largest code: all cells at their top level; stuck-off cells fall to 0
    codes = torch.full((200_000,), 127.0)
    p = 0.1
    u = torch.rand((2, *codes.shape), generator=torch.Generator().manual_seed(0))
    read = stuck_at_codes(codes, 8, 4, u, 0.0, p)
    # offset code u = 255 = 15 + 15·16; a stuck-off low cell costs 15, a stuck-off high one 240
    assert abs(float((codes - read).mean()) / (p * 255) - 1) < 0.03
    assert abs(float((read == 127).double().mean()) - (1 - p) ** 2) < 0.005
    # all cells stuck off: offset code 0 = the smallest code; all stuck on: the largest
    assert bool((stuck_at_codes(codes, 8, 4, u, 0.0, 1.0) == -128).all())
    assert bool((stuck_at_codes(-codes, 8, 4, u, 1.0, 0.0) == 127).all())
    # in a layer (per chip): the same share of weights changes
    layer = _layer(variation="fixed", stuck_off_prob=0.05)
    layer.resample(2)
    changed = (_read_weights(layer) != _read_weights(_layer(variation="off"))).double().mean()
    assert abs(float(changed) - (1 - 0.95**2)) < 0.01


def test_output_noise_is_relative_to_the_largest_output():
    layer = _layer(n_out=100, n_in=64, variation="fixed", output_noise=0.02)
    ideal = _layer(n_out=100, n_in=64, variation="off")
    x = torch.rand(500, 64)
    with torch.no_grad():
        clean = ideal(x)
        noisy = layer(x)
    error = (noisy - clean) / clean.abs().max()
    assert abs(float(error.std()) / 0.02 - 1) < 0.03


def test_variation_off_turns_every_non_ideality_off():
    all_on = dict(read_noise_levels=1.0, stuck_on_prob=0.1, drift_time_s=1e5, drift_nu=0.1, output_noise=0.1)
    assert torch.equal(_read_weights(_layer(variation="off", **all_on)), _read_weights(_layer(variation="off")))


def test_auto_input_sign_follows_the_calibration_data():
    config = IMCConfig(input_scaling="calibrated", input_signed="auto", variation="off", input_int_bits=1, input_frac_bits=7)
    signed_layer = IMCLinear(4, 2, imc_config=config).eval()
    unsigned_layer = IMCLinear(4, 2, imc_config=config).eval()
    assert signed_layer.input_is_signed  # undecided: signed, never clips negative data
    calibrate_input_ranges(signed_layer, [torch.tensor([[0.5, -1.0, 2.0, 0.0]])])
    calibrate_input_ranges(unsigned_layer, [torch.tensor([[0.5, 1.0, 2.0, 0.0]])])
    assert signed_layer.input_is_signed and not unsigned_layer.input_is_signed
    # unsigned: 255 codes over [0, 2]; signed: 127 over [-2, 2]
    x = torch.tensor([[0.01, 0.0, 0.0, 0.0]])
    assert torch.allclose(unsigned_layer._quantize_input(x), torch.tensor([[2.0 / 255 * round(0.01 * 255 / 2), 0, 0, 0]]))
    assert torch.allclose(signed_layer._quantize_input(x), torch.tensor([[2.0 / 127 * round(0.01 * 127 / 2), 0, 0, 0]]))


def test_classification_accuracy_reads_hugging_face_style_logits():
    class Output:
        def __init__(self, logits: torch.Tensor):
            self.logits = logits

    class Wrapped(torch.nn.Module):
        def forward(self, x):
            return Output(x)

    x = torch.tensor([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    assert classification_accuracy(Wrapped(), x, torch.tensor([1, 0, 0])) == 2 / 3
    assert torch.equal(model_logits({"logits": x}), x)


def test_percentile_calibration_averages_the_batch_percentiles():
    layer = IMCLinear(10, 2, imc_config=IMCConfig(input_scaling="calibrated", input_signed=True, variation="off")).eval()
    first = torch.arange(1.0, 11.0).view(1, 10)  # |x| = 1..10: the 90th percentile is 9
    second = -torch.arange(11.0, 21.0).view(1, 10)  # 11..20: 19
    assert calibrate_input_ranges(layer, [first, second], percentile=90) == {"": 14.0}
    assert calibrate_input_ranges(layer, [first, second]) == {"": 20.0}
