"""Fixed-point quantizer: exact values, edge cases and the straight-through gradient."""

import pytest
import torch

from lightning_imc.layers import FixedPoint, fixed_point_quantize


def test_signed_format_range_matches_formula():
    fmt = FixedPoint(3, 2)  # I=3 (sign included), F=2
    assert (fmt.min_value, fmt.max_value, fmt.step) == (-4.0, 3.75, 0.25)
    assert (fmt.min_code, fmt.max_code, fmt.total_bits) == (-16, 15, 5)


def test_unsigned_format_range_matches_formula():
    fmt = FixedPoint(2, 3, signed=False)
    assert (fmt.min_value, fmt.max_value, fmt.step) == (0.0, 3.875, 0.125)
    assert (fmt.min_code, fmt.max_code) == (0, 31)


def test_signed_quantizer_exact_values():
    fmt = FixedPoint(2, 2)  # grid 0.25, range [-2, 1.75]
    x = torch.tensor([0.0, 0.1, 0.13, 0.374, 0.376, -0.2, 1.74, 1.9, 100.0, -1.99, -2.0, -2.2, -50.0])
    expected = torch.tensor([0.0, 0.0, 0.25, 0.25, 0.5, -0.25, 1.75, 1.75, 1.75, -2.0, -2.0, -2.0, -2.0])
    assert torch.equal(fixed_point_quantize(x, fmt), expected)


def test_unsigned_quantizer_clamps_negative_to_zero():
    fmt = FixedPoint(1, 3, signed=False)  # grid 0.125, range [0, 1.875]
    x = torch.tensor([-1.0, 0.06, 0.07, 1.0, 1.9, 3.0])
    assert torch.equal(fixed_point_quantize(x, fmt), torch.tensor([0.0, 0.0, 0.125, 1.0, 1.875, 1.875]))


def test_rounding_is_half_to_even():
    fmt = FixedPoint(3, 0)  # integers in [-4, 3]
    x = torch.tensor([0.5, 1.5, 2.5, -0.5, -1.5])
    assert torch.equal(fixed_point_quantize(x, fmt), torch.tensor([0.0, 2.0, 2.0, -0.0, -2.0]))


def test_degenerate_formats():
    # I = 0: purely fractional; signed range [-0.5, 0.5 - 2**-F]
    fmt = FixedPoint(0, 2)
    assert (fmt.min_value, fmt.max_value) == (-0.5, 0.25)
    assert torch.equal(fixed_point_quantize(torch.tensor([-3.0, 0.3, 0.9]), fmt), torch.tensor([-0.5, 0.25, 0.25]))
    # one signed bit: codes {-1, 0}
    one_bit = FixedPoint(1, 0)
    assert (one_bit.min_value, one_bit.max_value) == (-1.0, 0.0)
    # F = 0 unsigned: integers
    assert FixedPoint(3, 0, signed=False).max_value == 7.0
    with pytest.raises(ValueError, match="total width must be in"):
        FixedPoint(0, 0)
    with pytest.raises(ValueError, match=r"int_bits=-1; must be an integer in \[0, 16\]"):
        FixedPoint(-1, 3)
    with pytest.raises(ValueError, match="frac_bits"):
        FixedPoint(2, 1.5)


def test_quantizer_output_is_on_grid_and_in_range():
    torch.manual_seed(0)
    for fmt in (FixedPoint(0, 6), FixedPoint(3, 6), FixedPoint(2, 0, signed=False), FixedPoint(3, 4, signed=False)):
        x = torch.randn(10_000) * 4
        q = fixed_point_quantize(x, fmt)
        codes = q / fmt.step
        assert torch.equal(codes, codes.round())
        assert q.min() >= fmt.min_value and q.max() <= fmt.max_value
        inside = (x >= fmt.min_value) & (x <= fmt.max_value)
        assert (q - x)[inside].abs().max() <= fmt.step / 2 + 1e-6


def test_straight_through_gradient_identity_inside_zero_outside():
    fmt = FixedPoint(2, 2)  # range [-2, 1.75]
    x = torch.tensor([-2.5, -2.0, -0.3, 0.0, 1.0, 1.75, 1.8, 5.0], requires_grad=True)
    fixed_point_quantize(x, fmt).backward(torch.arange(1.0, 9.0))
    assert torch.equal(x.grad, torch.tensor([0.0, 2.0, 3.0, 4.0, 5.0, 6.0, 0.0, 0.0]))


def test_quantizer_bf16_and_half():
    fmt = FixedPoint(2, 3)
    x = torch.randn(100)
    reference = fixed_point_quantize(x, fmt)
    for dtype in (torch.bfloat16, torch.float16):
        out = fixed_point_quantize(x.to(dtype), fmt)
        assert out.dtype == dtype
        # bf16 rounds the input first; outputs must still be on the grid and within one step
        assert (out.float() - reference).abs().max() <= fmt.step
