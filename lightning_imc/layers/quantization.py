"""Fixed-point quantization with a straight-through gradient.

A format has ``int_bits`` integer bits and ``frac_bits`` fraction bits (NACIM section III-A(b)):

* signed (weights): two's complement with ``int_bits`` including the sign bit,
  ``q(x) = clamp(round(x * 2**F) / 2**F, -2**(I-1), 2**(I-1) - 2**-F)``;
* unsigned (activations after ReLU): ``q(x) = clamp(round(x * 2**F) / 2**F, 0, 2**I - 2**-F)``.

Degenerate settings: the total width ``I + F`` must be at least 1 bit. ``I = 0`` is allowed (a purely
fractional format; for signed values the range is then ``[-0.5, 0.5 - 2**-F]``), ``F = 0`` is an
integer format. ``I = F = 0`` has no representable value besides (at most) zero and is rejected with a
``ValueError``. Rounding is round-half-to-even (``torch.round``).

The gradient is the straight-through estimator: identity where ``min_value <= x <= max_value``, zero
outside (clipped values get no gradient). NaN stays NaN (a broken input is never silently a number);
±inf clip to the range's ends.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["FixedPoint", "check_fixed_point", "fixed_point_quantize", "quantize_to_codes", "peak_magnitude",
           "mse_clip_range", "MAX_TOTAL_BITS"]

MAX_TOTAL_BITS = 16


@dataclass(frozen=True)
class FixedPoint:
    """A fixed-point number format.

    Attributes:
        int_bits: Integer bits (bits); for signed formats this includes the sign bit.
        frac_bits: Fraction bits (bits); the resolution is ``2**-frac_bits``.
        signed: Two's complement (weights) or unsigned (post-ReLU activations).

    >>> FixedPoint(2, 3).min_value, FixedPoint(2, 3).max_value, FixedPoint(2, 3).total_bits
    (-2.0, 1.875, 5)
    >>> FixedPoint(2, 3, signed=False).max_value
    3.875
    """

    int_bits: int
    frac_bits: int
    signed: bool = True

    def __post_init__(self) -> None:
        check_fixed_point(self.int_bits, self.frac_bits)

    @property
    def total_bits(self) -> int:
        """Width of the format (bits)."""
        return self.int_bits + self.frac_bits

    @property
    def step(self) -> float:
        """Resolution: value of one least significant bit (``2**-frac_bits``)."""
        return 2.0**-self.frac_bits

    @property
    def min_value(self) -> float:
        """Smallest representable value."""
        return -(2.0 ** (self.int_bits - 1)) if self.signed else 0.0

    @property
    def max_value(self) -> float:
        """Largest representable value."""
        top = 2.0 ** (self.int_bits - 1) if self.signed else 2.0**self.int_bits
        return top - self.step

    @property
    def min_code(self) -> int:
        """Smallest integer code (``min_value / step``)."""
        return -(2 ** (self.total_bits - 1)) if self.signed else 0

    @property
    def max_code(self) -> int:
        """Largest integer code (``max_value / step``)."""
        return (2 ** (self.total_bits - 1) if self.signed else 2**self.total_bits) - 1

    @property
    def max_abs(self) -> float:
        """Largest magnitude in the format."""
        return max(abs(self.min_value), abs(self.max_value))


def check_fixed_point(
    int_bits: object, frac_bits: object, int_field: str = "int_bits", frac_field: str = "frac_bits"
) -> None:
    """Raise ``ValueError`` naming ``int_field``/``frac_field`` unless they form a usable format."""
    for field, value in ((int_field, int_bits), (frac_field, frac_bits)):
        if isinstance(value, bool) or not isinstance(value, int) or not (0 <= value <= MAX_TOTAL_BITS):
            raise ValueError(f"{field}={value!r}; must be an integer in [0, {MAX_TOTAL_BITS}]")
    total = int_bits + frac_bits  # type: ignore[operator]
    if not (1 <= total <= MAX_TOTAL_BITS):
        raise ValueError(
            f"{int_field} + {frac_field} = {total} bits; the total width must be in [1, {MAX_TOTAL_BITS}]"
            " (I = F = 0 represents no value)"
        )


class _FixedPointSTE(torch.autograd.Function):
    """Round-to-grid forward (one fused kernel), straight-through gradient masked to the range."""

    @staticmethod
    def forward(ctx, x: Tensor, step: float, min_code: int, max_code: int) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.bounds = (min_code * step, max_code * step)
        out = torch.fake_quantize_per_tensor_affine(x, step, 0, min_code, max_code)
        return torch.where(torch.isnan(x), x, out)  # the fused kernel maps NaN to a code; keep it NaN

    @staticmethod
    def backward(ctx, grad_output: Tensor):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        low, high = ctx.bounds
        inside = (x >= low) & (x <= high)
        return grad_output * inside, None, None, None


def fixed_point_quantize(x: Tensor, fmt: FixedPoint) -> Tensor:
    """Quantize ``x`` to ``fmt`` with a straight-through gradient.

    >>> fixed_point_quantize(torch.tensor([0.3, -5.0, 1.9, 0.0625]), FixedPoint(2, 2))
    tensor([ 0.2500, -2.0000,  1.7500,  0.0000])
    """
    return _FixedPointSTE.apply(x, fmt.step, fmt.min_code, fmt.max_code)


def quantize_to_codes(codes: Tensor, min_code: int, max_code: int) -> Tensor:
    """Round values already in code units (LSB = 1) to integers in ``[min_code, max_code]``.

    The scaled formats (``IMCConfig.weight_scaling`` / ``input_scaling``) divide by their digital
    scale, call this, and multiply back; the gradient is straight-through inside the range.

    >>> quantize_to_codes(torch.tensor([0.4, 2.6, -9.0, 7.2]), -8, 7)
    tensor([ 0.,  3., -8.,  7.])
    """
    return _FixedPointSTE.apply(codes, 1.0, min_code, max_code)


def peak_magnitude(x: Tensor) -> Tensor:
    """``max|x|`` as a 0-d tensor, without allocating ``|x|`` (one pass; stays on the device, no sync).

    >>> peak_magnitude(torch.tensor([0.5, -3.0, 2.0]))
    tensor(3.)
    """
    low, high = torch.aminmax(x.detach())
    return torch.maximum(-low, high)


#: Candidate clipping ranges of :func:`mse_clip_range`, as fractions of ``max|x|``: ``2^(-k/4)``,
#: k = 0..23 (1 down to 0.019; neighbouring candidates 19% apart).
CLIP_FRACTIONS = tuple(2.0 ** (-k / 4) for k in range(24))
#: Elements of ``x`` that :func:`mse_clip_range` looks at (an even stride over the flattened tensor).
CLIP_SAMPLES = 8192


def mse_clip_range(x: Tensor, min_code: int, max_code: int) -> Tensor:
    """The clipping range ``r`` that minimises the mean squared error of quantizing ``x`` on the codes
    ``[min_code, max_code]`` with step ``r / max_code`` (0-d tensor, ``x``'s units; no host sync).

    ``r`` is chosen among :data:`CLIP_FRACTIONS` of ``max|x|``, on at most :data:`CLIP_SAMPLES`
    elements of ``x`` (an even stride). With few bits the best range clips the tail of a
    heavy-tailed activation distribution to give every other value a finer step (Banner et al.,
    "Post-training 4-bit quantization", NeurIPS 2019, sec. 3: the optimal clip grows with the
    bit width); with many bits it is ``max|x|`` itself.

    >>> x = torch.tensor([1.0] * 20 + [3.0])           # one outlier
    >>> round(float(mse_clip_range(x, 0, 1)), 3)        # 1 bit: clip the outlier rather than round all else to 0
    1.061
    >>> float(mse_clip_range(x, 0, 255))                # 8 bits: keep the whole range
    3.0
    """
    flat = x.detach().reshape(-1)
    if flat.numel() > CLIP_SAMPLES:
        flat = flat[:: flat.numel() // CLIP_SAMPLES][:CLIP_SAMPLES]
    flat = flat.float()
    peak = peak_magnitude(flat)
    fractions = torch.tensor(CLIP_FRACTIONS, dtype=flat.dtype, device=flat.device)
    ranges = (peak * fractions).clamp_min(torch.finfo(flat.dtype).tiny)  # (K,)
    steps = (ranges / max_code).unsqueeze(1)  # (K, 1)
    codes = torch.clamp(torch.round(flat.unsqueeze(0) / steps), min_code, max_code)
    errors = (codes * steps - flat.unsqueeze(0)).square().mean(dim=1)  # (K,)
    return ranges[torch.argmin(errors)].to(x.dtype)
