"""Crossbar tiling and ADC readout on hand-computed examples."""

import pytest
import torch
import torch.nn.functional as F

from lightning_imc.layers import IMCConfig, IMCConv2d, IMCLinear, adc_quantize, conv_tile_plan, tiled_conv2d, tiled_linear


def test_adc_quantize_hand_computed():
    # 3-bit signed mid-tread ADC over [-1, 1): step 0.25, codes -4..3
    p = torch.tensor([0.3, -1.0, 0.74, 2.0, -0.13, -7.0, 0.125])
    expected = torch.tensor([0.25, -1.0, 0.75, 0.75, -0.25, -1.0, 0.0])
    assert torch.equal(adc_quantize(p, adc_bits=3, full_scale=1.0), expected)


def test_adc_gradient_passes_inside_range_only():
    p = torch.tensor([0.3, 2.0, -7.0, -0.9], requires_grad=True)
    adc_quantize(p, adc_bits=3, full_scale=1.0).sum().backward()
    assert torch.equal(p.grad, torch.tensor([1.0, 0.0, 0.0, 1.0]))


def test_tiled_linear_two_tiles_hand_computed():
    # 4 inputs, tiles of 2 rows: tile sums are quantized separately, then added.
    x = torch.tensor([[1.0, 1.0, 1.0, 0.0]])
    w = torch.tensor([[0.3, 0.3, 0.2, 0.9]])
    # tile 1: 0.6 -> 2-bit ADC over [-1, 1): step 0.5, codes -2..1 -> 0.5
    # tile 2: 0.2 -> 0.0 ; total 0.5 (an ideal linear layer gives 0.8)
    out = tiled_linear(x, w, None, array_rows=2, adc_bits=2, full_scale=1.0)
    assert out.item() == pytest.approx(0.5)
    # one tile of 4 rows: 0.8 -> clipped to code 1 -> 0.5 as well; with 4 bits: step 0.125 -> 0.75
    assert tiled_linear(x, w, None, array_rows=4, adc_bits=4, full_scale=1.0).item() == pytest.approx(0.75)


def test_conv_tile_plan_counts_and_coverage():
    channel_index, mask, tiles = conv_tile_plan(in_channels=16, kernel_size=(3, 3), array_rows=128)
    assert tiles == 2  # 144 rows
    assert int(mask.sum()) == 144  # every unrolled row in exactly one tile
    assert mask[0].sum() == 128 and mask[1].sum() == 16
    # the first tile ends inside channel 14 (rows 126, 127 are channel 14's first two taps)
    span = mask.shape[1]
    channels_of_tile0 = channel_index[:span]
    assert channels_of_tile0[mask[0].flatten(1).any(1)].tolist() == list(range(15))


@pytest.mark.parametrize("cin,k,rows,pad,stride", [(3, 3, 128, 1, 1), (16, 3, 128, 1, 2), (16, 3, 10, 0, 1), (7, 5, 16, 2, 1)])
def test_tiled_conv_with_fine_adc_matches_conv(cin, k, rows, pad, stride):
    torch.manual_seed(0)
    x, w, b = torch.rand(2, cin, 9, 9), torch.randn(6, cin, k, k) * 0.1, torch.randn(6)
    reference = F.conv2d(x, w, b, stride, pad)
    out = tiled_conv2d(x, w, b, (stride, stride), (pad, pad), (1, 1), rows, adc_bits=16, full_scale=8.0)
    tiles = conv_tile_plan(cin, (k, k), rows)[2]
    assert (out - reference).abs().max() <= tiles * 8.0 / 2**15 / 2 + 1e-5


def test_tiled_conv_equals_per_tile_reference():
    """Each tile's partial sum is quantized on its own: compare with an explicit unfold reference."""
    torch.manual_seed(1)
    x, w = torch.rand(1, 5, 6, 6), torch.randn(4, 5, 3, 3) * 0.2
    rows, bits, scale = 16, 4, 2.0
    out = tiled_conv2d(x, w, None, (1, 1), (0, 0), (1, 1), rows, bits, scale)
    cols = F.unfold(x, 3)  # (1, 45, 16): rows in c*9 + kh*3 + kw order
    w_flat = w.flatten(1)
    reference = torch.zeros(1, 4, 16)
    for start in range(0, 45, rows):
        partial = w_flat[:, start : start + rows] @ cols[0, start : start + rows]
        reference[0] += adc_quantize(partial, bits, scale)
    assert torch.allclose(out.flatten(2), reference, atol=1e-6)


def test_worst_case_adc_range_formula():
    config = IMCConfig(variation="off", adc_bits=8, adc_range="worst_case", array_rows=64)
    layer = IMCLinear(100, 3, imc_config=config)
    x = torch.rand(2, 100)
    # rows per tile 64, max input 2**3 - 2**-4, max |weight| 2**0 = 1
    assert layer._adc_full_scale(x, layer.weight, 100) == 64 * (8 - 1 / 16) * 1.0
    small = IMCLinear(10, 3, imc_config=config)
    assert small._adc_full_scale(x, small.weight, 10) == 10 * (8 - 1 / 16)


def test_adc_layers_run_and_differ_from_ideal():
    torch.manual_seed(0)
    conv = IMCConv2d(8, 4, 3, padding=1, padding_mode="reflect", imc_config=IMCConfig(variation="off", adc_bits=3))
    x = torch.rand(2, 8, 6, 6)
    coarse = conv(x)
    conv.set_config(IMCConfig(variation="off"))
    ideal = conv(x)
    assert coarse.shape == ideal.shape and not torch.allclose(coarse, ideal)
    conv.set_config(IMCConfig(variation="off", adc_bits=16, adc_range=50.0))
    assert torch.allclose(conv(x), ideal, atol=2e-3)
