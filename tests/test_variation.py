"""Bit-sliced device variation: exact slicing, analytical noise std, seeds and modes."""

import math

import pytest
import torch

from lightning_imc.devices import get_device
from lightning_imc.layers import (
    FixedPoint,
    IMCConfig,
    IMCLinear,
    bit_sliced_noise_std,
    cells_per_weight,
    fixed_point_quantize,
    recombine_slices,
    sample_bit_sliced_read,
    slice_codes,
)


def test_cells_per_weight_matches_device_helper():
    for bits in range(1, 10):
        for bpc in (1, 2, 4):
            assert cells_per_weight(bits, bpc) == math.ceil(bits / bpc)
    assert get_device("rram_nacim").cells_per_weight(9) == 3


def test_slicing_hand_computed_example():
    fmt = FixedPoint(2, 3)  # 5 bits, codes in [-16, 15], offset binary u = code + 16
    w = torch.tensor([-2.0, 0.0, 1.875, 0.625])  # codes -16, 0, 15, 5 -> u = 0, 16, 31, 21
    levels = slice_codes(w, fmt, bits_per_cell=2)  # 3 cells of 2 bits, LSB first
    assert levels.shape == (3, 4)
    assert levels[:, 3].tolist() == [1, 1, 1]  # 21 = 0b10101 -> slices 01, 01, 01
    assert levels[:, 2].tolist() == [3, 3, 1]  # 31 = 0b11111
    assert levels[:, 1].tolist() == [0, 0, 1]  # 16 = 0b10000
    assert levels[:, 0].tolist() == [0, 0, 0]
    assert torch.equal(recombine_slices(levels, fmt, 2), w)


def test_slice_and_recombine_round_trip_all_codes():
    for fmt, bpc in ((FixedPoint(3, 6), 4), (FixedPoint(1, 6), 1), (FixedPoint(0, 3), 2)):
        codes = torch.arange(fmt.min_code, fmt.max_code + 1, dtype=torch.float64)
        w = (codes * fmt.step).float()
        levels = slice_codes(w, fmt, bpc)
        assert levels.min() >= 0 and levels.max() <= 2**bpc - 1
        assert levels.shape[0] == cells_per_weight(fmt.total_bits, bpc)
        assert torch.equal(recombine_slices(levels, fmt, bpc), w)


@pytest.mark.parametrize(
    "fmt,bits_per_cell,sigma",
    [(FixedPoint(2, 6), 4, 0.8), (FixedPoint(1, 5), 2, 0.5), (FixedPoint(3, 4), 1, 0.1), (FixedPoint(0, 4), 4, 0.8)],
)
def test_cell_by_cell_noise_std_matches_analytical(fmt, bits_per_cell, sigma):
    generator = torch.Generator().manual_seed(7)
    w = fixed_point_quantize(torch.empty(200_000).uniform_(fmt.min_value, fmt.max_value, generator=generator), fmt)
    read = sample_bit_sliced_read(w, fmt, bits_per_cell, sigma, generator=generator)
    error = (read - w).double()
    expected = bit_sliced_noise_std(fmt, bits_per_cell, sigma)
    assert abs(error.std().item() / expected - 1) < 0.05
    assert abs(error.mean().item()) < 0.05 * expected
    # the error does not depend on the stored value (level-independent variation)
    low, high = error[w < 0], error[w >= 0]
    assert abs(low.std().item() / high.std().item() - 1) < 0.05


def test_noise_depends_on_device_precision():
    fmt = FixedPoint(2, 6)  # 8 bits
    # same sigma in level units: the most significant cell dominates, so 1-bit cells are noisiest
    stds = [bit_sliced_noise_std(fmt, bpc, 0.5) for bpc in (1, 2, 4, 8)]
    assert stds == sorted(stds, reverse=True)
    assert stds[0] == pytest.approx(0.5 * math.sqrt(sum(4.0**k for k in range(8))) / 64)
    assert stds[-1] == pytest.approx(0.5 / 64)  # one 8-bit cell: one level of noise
    # more weight bits in the same device add cells (and noise) at the top
    assert bit_sliced_noise_std(FixedPoint(3, 6), 4, 0.8) > bit_sliced_noise_std(FixedPoint(2, 6), 4, 0.8)
    # closed form for 8 bits in two 4-bit cells: sigma * sqrt(1 + 16**2) * 2**-6
    assert bit_sliced_noise_std(fmt, 4, 0.8) == pytest.approx(0.8 * math.sqrt(257) / 64)


def test_layer_noise_std_matches_analytical():
    config = IMCConfig(weight_int_bits=1, weight_frac_bits=6, device="rram_nacim", seed=3, quantize_inputs=False)
    layer = IMCLinear(400, 500, bias=False, imc_config=config)
    w_q = fixed_point_quantize(layer.weight.detach(), config.weight_format)
    errors = torch.stack([layer._effective_weight(0, layer.weight).detach() - w_q for _ in range(4)])
    expected = bit_sliced_noise_std(config.weight_format, 4, 0.8)
    assert abs(errors.std().item() / expected - 1) < 0.05


def test_relative_model_std():
    config = IMCConfig(variation_model="relative", relative_sigma=0.05, seed=0, quantize_inputs=False)
    layer = IMCLinear(300, 300, bias=False, imc_config=config)
    w_q = fixed_point_quantize(layer.weight.detach(), config.weight_format)
    error = layer._effective_weight(0, layer.weight).detach() - w_q
    assert abs(error.std().item() / (0.05 * w_q.abs().max().item()) - 1) < 0.05


def test_sram_has_no_variation_and_sigma_override():
    x = torch.rand(4, 32)
    layer = IMCLinear(32, 8, imc_config=IMCConfig(device="sram", variation="train"))
    assert torch.equal(layer(x), layer(x))
    noisy = IMCLinear(32, 8, imc_config=IMCConfig(device="sram", sigma_levels=0.3, seed=1))
    assert not torch.equal(noisy(x), noisy(x))


def test_train_mode_draws_every_forward_fixed_mode_only_on_resample():
    x = torch.rand(8, 64)
    layer = IMCLinear(64, 16, imc_config=IMCConfig(variation="train", seed=0))
    assert not torch.equal(layer(x), layer(x))
    layer.set_variation("fixed")
    first = layer(x)
    assert torch.equal(first, layer(x))
    layer.resample()
    second = layer(x)
    assert not torch.equal(first, second)
    assert torch.equal(second, layer(x))
    layer.set_variation("off")
    quantized = torch.nn.functional.linear(
        fixed_point_quantize(x, layer.imc_config.input_format),
        fixed_point_quantize(layer.weight, layer.imc_config.weight_format),
        layer.bias,
    )
    assert torch.equal(layer(x), quantized)


def test_fixed_noise_is_not_saved_and_survives_device_move():
    layer = IMCLinear(16, 4, imc_config=IMCConfig(variation="fixed", seed=0))
    x = torch.rand(2, 16)
    before = layer(x)
    assert sorted(layer.state_dict()) == ["bias", "weight"]
    layer.to(torch.float32)
    assert torch.equal(before, layer(x))


def test_seeded_layers_are_deterministic_and_seeds_differ():
    x = torch.rand(4, 32)

    def outputs(seed, offset=0):
        torch.manual_seed(123)  # same initial weights
        layer = IMCLinear(32, 8, imc_config=IMCConfig(seed=seed), seed_offset=offset)
        return torch.stack([layer(x) for _ in range(3)])

    assert torch.equal(outputs(5), outputs(5))
    assert not torch.equal(outputs(5), outputs(6))
    assert not torch.equal(outputs(5, offset=0), outputs(5, offset=1))


def test_unseeded_layers_follow_torch_manual_seed():
    torch.manual_seed(0)
    layer = IMCLinear(32, 8, imc_config=IMCConfig(seed=None))
    x = torch.rand(4, 32)
    torch.manual_seed(1)
    a = layer(x)
    torch.manual_seed(1)
    assert torch.equal(a, layer(x))


def test_chip_seed_reproduces_a_chip():
    layer = IMCLinear(32, 8, imc_config=IMCConfig(variation="fixed", seed=0))
    x = torch.rand(4, 32)
    layer.resample(seed=11)
    chip11 = layer(x)
    layer.resample(seed=12)
    assert not torch.equal(chip11, layer(x))
    layer.resample(seed=11)
    assert torch.equal(chip11, layer(x))


def test_partial_top_slice_spreads_over_the_cell_and_has_less_noise():
    # 5-bit weights in 4-bit cells: the top slice holds 1 bit, programmed on levels 0 and 15
    fmt = FixedPoint(1, 4)
    expected = 0.8 * math.sqrt(1 + (1 / 15) ** 2 * 256) / 16
    assert bit_sliced_noise_std(fmt, 4, 0.8) == pytest.approx(expected)
    # a 2-bit weight in a 4-bit cell: 4 values spread over 16 levels (5 levels apart)
    assert bit_sliced_noise_std(FixedPoint(1, 1), 4, 0.8) == pytest.approx(0.8 / 5 * 0.5)
    generator = torch.Generator().manual_seed(3)
    w = fixed_point_quantize(torch.empty(200_000).uniform_(-1, 1, generator=generator), fmt)
    read = sample_bit_sliced_read(w, fmt, 4, 0.8, generator=generator)
    assert abs((read - w).double().std().item() / expected - 1) < 0.05
