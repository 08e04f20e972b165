"""Device variation on bit-sliced weights (NACIM section III-A(e)).

Storage model. A signed ``b``-bit weight code ``n`` (``b = I + F``) is stored in *offset binary*,
``u = n + 2**(b-1)`` in ``[0, 2**b - 1]``, as NeuroSim does; the offset is removed digitally with a
noise-free reference. ``u`` is split into ``ceil(b / bits_per_cell)`` slices of ``bits_per_cell`` bits,
least significant first; slice ``k`` is programmed as level ``s_k`` of one cell and read back as
``s_k + e_k`` with ``e_k ~ N(0, sigma_levels**2)`` (in level units, independent per cell). Shift-and-add
recombines the slices with significance ``2**(k * bits_per_cell)``, so the read weight is::

    w_read = w + 2**-F * sum_k e_k * 2**(k * bits_per_cell)

The error is Gaussian, independent of the stored value, with standard deviation::

    sigma_w = sigma_levels * 2**-F * sqrt(sum_k 4**(k * bits_per_cell))

It is dominated by the most significant cell, ``sigma_levels * 2**((cells - 1) * bits_per_cell - F)``.
For the same ``sigma_levels``, fewer bits per cell therefore means *more* weight noise (the top 1-bit
cell of an 8-bit weight carries half the range), while a dense cell's levels are closer together, so
its ``sigma_levels`` is larger in practice (NACIM's 16-level ReRAM: 0.8). The device's precision and
its variation enter together, which is what makes the device choice matter in the search. The layers draw this
error directly (one ``randn`` per weight), which is exactly equal in distribution to programming and
reading every slice; :func:`slice_codes`, :func:`recombine_slices` and
:func:`sample_bit_sliced_read` do it cell by cell and are what the tests check the shortcut against.

The ``relative`` model (common in other toolkits) instead draws ``N(0, (relative_sigma * max|w|)**2)``
per weight, with ``max|w|`` over the layer.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .quantization import FixedPoint

__all__ = [
    "cells_per_weight",
    "bit_sliced_noise_std",
    "slice_codes",
    "recombine_slices",
    "sample_bit_sliced_read",
]


def cells_per_weight(weight_bits: int, bits_per_cell: int) -> int:
    """Cells storing one weight: ``ceil(weight_bits / bits_per_cell)``.

    >>> cells_per_weight(8, 4), cells_per_weight(5, 4), cells_per_weight(3, 1)
    (2, 2, 3)
    """
    if weight_bits < 1 or bits_per_cell < 1:
        raise ValueError(f"weight_bits={weight_bits} and bits_per_cell={bits_per_cell} must be >= 1")
    return -(-weight_bits // bits_per_cell)


def bit_sliced_noise_std(fmt: FixedPoint, bits_per_cell: int, sigma_levels: float) -> float:
    """Std of the read error of one weight in ``fmt`` (in weight units).

    >>> round(bit_sliced_noise_std(FixedPoint(2, 6), 4, 0.8), 6)  # 8 bits = 2 cells of 4 bits
    0.20039
    """
    slices = cells_per_weight(fmt.total_bits, bits_per_cell)
    gain = math.sqrt(sum(4.0 ** (k * bits_per_cell) for k in range(slices)))
    return sigma_levels * gain * fmt.step


def slice_codes(weights: Tensor, fmt: FixedPoint, bits_per_cell: int) -> Tensor:
    """Split quantized signed weights into per-cell levels.

    Args:
        weights: Values already on the grid of ``fmt`` (e.g. from ``fixed_point_quantize``).
        fmt: Their signed fixed-point format.
        bits_per_cell: Bits per cell of the device.

    Returns:
        Integer levels, shape ``(cells, *weights.shape)``, least significant slice first, each in
        ``[0, 2**bits_per_cell - 1]``.
    """
    if not fmt.signed:
        raise ValueError("slice_codes expects a signed (weight) format")
    codes = torch.round(weights / fmt.step).to(torch.int64) + 2 ** (fmt.total_bits - 1)
    mask = 2**bits_per_cell - 1
    slices = [(codes >> (k * bits_per_cell)) & mask for k in range(cells_per_weight(fmt.total_bits, bits_per_cell))]
    return torch.stack(slices)


def recombine_slices(levels: Tensor, fmt: FixedPoint, bits_per_cell: int) -> Tensor:
    """Shift-and-add cell levels (possibly noisy, float) back into weights of ``fmt``."""
    significance = torch.tensor(
        [2.0 ** (k * bits_per_cell) for k in range(levels.shape[0])], dtype=torch.float64, device=levels.device
    ).view(-1, *([1] * (levels.dim() - 1)))
    codes = (levels.to(torch.float64) * significance).sum(0) - 2 ** (fmt.total_bits - 1)
    return (codes * fmt.step).to(torch.get_default_dtype())


def sample_bit_sliced_read(
    weights: Tensor,
    fmt: FixedPoint,
    bits_per_cell: int,
    sigma_levels: float,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Program ``weights`` cell by cell, add per-cell Gaussian variation, and read them back."""
    levels = slice_codes(weights, fmt, bits_per_cell).to(torch.float64)
    noise = torch.randn(levels.shape, generator=generator, dtype=torch.float64, device=levels.device)
    return recombine_slices(levels + sigma_levels * noise, fmt, bits_per_cell)
