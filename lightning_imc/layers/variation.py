"""Device variation on bit-sliced weights (NACIM section III-A(e)).

Storage model. A signed ``b``-bit weight code ``n`` (``b = I + F``) is stored in *offset binary*,
``u = n + 2**(b-1)`` in ``[0, 2**b - 1]``, as NeuroSim does; the offset is removed digitally with a
noise-free reference. ``u`` is split into ``cells = ceil(b / bits_per_cell)`` slices, least significant
first; slice ``k`` holds ``b_k = min(bits_per_cell, b - k * bits_per_cell)`` bits. Each slice is mapped
linearly onto its cell's full conductance range (as NeuroSim maps weights onto ``[Gmin, Gmax]``): value
``s_k`` is programmed as level ``s_k * (L - 1) / (2**b_k - 1)`` of the cell's ``L = 2**bits_per_cell``
levels, so a slice that does not fill its cell (the top slice of a 5-bit weight in 4-bit cells, or a
2-bit weight in a 4-bit cell) gets wider level spacing. Programming is imperfect: the read level is the
target plus ``e_k ~ N(0, sigma_levels**2)`` (level units, independent per cell). Shift-and-add
recombines the slices with significance ``2**(k * bits_per_cell)``, so the read weight is::

    w_read = w + 2**-F * sum_k e_k * (2**b_k - 1) / (L - 1) * 2**(k * bits_per_cell)

The error is Gaussian, independent of the stored value, with standard deviation::

    sigma_w = sigma_levels * 2**-F * sqrt(sum_k ((2**b_k - 1) / (L - 1))**2 * 4**(k * bits_per_cell))

It is dominated by the most significant cell. For the same ``sigma_levels``, fewer bits per cell means
*more* weight noise (the top 1-bit cell of an 8-bit weight carries half the range), while a dense cell's
levels are closer together, so its ``sigma_levels`` is larger in practice (NACIM's 16-level ReRAM: 0.8).
The device's precision and its variation enter together, which is what makes the device choice matter
in the search. The layers draw this error directly (one ``randn`` per weight), which is exactly equal
in distribution to programming and reading every slice; :func:`slice_codes`, :func:`recombine_slices`
and :func:`sample_bit_sliced_read` do it cell by cell and are what the tests check the shortcut against.

Differential mapping (``IMCConfig.weight_mapping="differential"``). The magnitude ``|n|`` (``b - 1``
bits) is stored in the column of its sign (G+ for n > 0, G− for n < 0), sliced as above, and the other
column's cells sit at level 0; the read is G+ − G−. Both columns' cells carry independent errors, so::

    sigma_w = sigma_levels * 2**-F * sqrt(2 * sum_k ((2**b_k - 1) / (L - 1))**2 * 4**(k * bits_per_cell))

with ``b_k`` the slices of the ``b - 1`` magnitude bits (:func:`weight_noise_std_levels`;
:func:`sample_differential_read` does it cell by cell). Read noise (``read_noise_levels``) is the same
equation with a per-read sigma.

Stuck-at faults (:func:`stuck_at_codes`): each cell independently reads its highest level with
probability ``p_on`` or level 0 with probability ``p_off``, whatever it was programmed to.

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
    "slice_bits",
    "level_scale",
    "bit_sliced_noise_std",
    "slice_codes",
    "recombine_slices",
    "sample_bit_sliced_read",
    "weight_noise_std_levels",
    "sample_differential_read",
    "stuck_at_codes",
]


def cells_per_weight(weight_bits: int, bits_per_cell: int) -> int:
    """Cells storing one weight: ``ceil(weight_bits / bits_per_cell)``.

    >>> cells_per_weight(8, 4), cells_per_weight(5, 4), cells_per_weight(3, 1)
    (2, 2, 3)
    """
    if weight_bits < 1 or bits_per_cell < 1:
        raise ValueError(f"weight_bits={weight_bits} and bits_per_cell={bits_per_cell} must be >= 1")
    return -(-weight_bits // bits_per_cell)


def slice_bits(total_bits: int, bits_per_cell: int) -> list[int]:
    """Bits held by each slice, least significant first.

    >>> slice_bits(5, 4), slice_bits(8, 4), slice_bits(2, 4)
    ([4, 1], [4, 4], [2])
    """
    cells = cells_per_weight(total_bits, bits_per_cell)
    return [min(bits_per_cell, total_bits - k * bits_per_cell) for k in range(cells)]


def level_scale(slice_bits_k: int, bits_per_cell: int) -> float:
    """Levels of the cell per unit of a ``slice_bits_k``-bit slice value: ``(L - 1) / (2**b_k - 1)``."""
    return (2**bits_per_cell - 1) / (2**slice_bits_k - 1)


def bit_sliced_noise_std(fmt: FixedPoint, bits_per_cell: int, sigma_levels: float) -> float:
    """Std of the read error of one weight in ``fmt`` (in weight units).

    >>> round(bit_sliced_noise_std(FixedPoint(2, 6), 4, 0.8), 6)  # 8 bits = 2 full cells of 4 bits
    0.20039
    >>> round(bit_sliced_noise_std(FixedPoint(1, 4), 4, 0.8), 6)  # 5 bits: the top cell holds 1 bit
    0.073106
    """
    variance = 0.0
    for k, bits in enumerate(slice_bits(fmt.total_bits, bits_per_cell)):
        variance += (4.0 ** (k * bits_per_cell)) / level_scale(bits, bits_per_cell) ** 2
    return sigma_levels * math.sqrt(variance) * fmt.step


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
    """Shift-and-add slice values (possibly noisy, float; in slice units) back into weights of ``fmt``."""
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
    """Program ``weights`` cell by cell (each slice spread over its cell's levels), add per-cell
    Gaussian variation in level units, read the levels back and recombine."""
    slices = slice_codes(weights, fmt, bits_per_cell).to(torch.float64)
    scale = torch.tensor([level_scale(b, bits_per_cell) for b in slice_bits(fmt.total_bits, bits_per_cell)],
                         dtype=torch.float64, device=slices.device).view(-1, *([1] * (slices.dim() - 1)))
    programmed = slices * scale  # target levels of each cell
    noise = torch.randn(programmed.shape, generator=generator, dtype=torch.float64, device=programmed.device)
    read_levels = programmed + sigma_levels * noise
    return recombine_slices(read_levels / scale, fmt, bits_per_cell)


def weight_noise_std_levels(total_bits: int, bits_per_cell: int, sigma_levels: float, mapping: str = "offset_binary") -> float:
    """Std of one weight's read error in units of its code's LSB, for per-cell errors of ``sigma_levels``.

    ``offset_binary``: the ``total_bits`` offset code in one column; ``differential``: the
    ``total_bits - 1`` magnitude bits in a G+/G− pair (two cells per slice).

    >>> round(weight_noise_std_levels(8, 4, 0.8), 4) == round(bit_sliced_noise_std(FixedPoint(1, 7), 4, 0.8) * 2**7, 4)
    True
    >>> round(weight_noise_std_levels(8, 4, 1.0, "differential"), 4)  # 7 bits: slices of 4 and 3 bits, 2 columns
    10.6537
    """
    bits = total_bits if mapping == "offset_binary" else total_bits - 1
    copies = 1.0 if mapping == "offset_binary" else 2.0
    if mapping not in ("offset_binary", "differential"):
        raise ValueError(f"mapping={mapping!r}; allowed: ['offset_binary', 'differential']")
    variance = sum(4.0 ** (k * bits_per_cell) / level_scale(b, bits_per_cell) ** 2
                   for k, b in enumerate(slice_bits(bits, bits_per_cell)))
    return sigma_levels * math.sqrt(copies * variance)


def _slice_unsigned(values: Tensor, bits: int, bits_per_cell: int) -> list[Tensor]:
    mask = 2**bits_per_cell - 1
    return [(values >> (k * bits_per_cell)) & mask for k in range(cells_per_weight(bits, bits_per_cell))]


def sample_differential_read(
    codes: Tensor, total_bits: int, bits_per_cell: int, sigma_levels: float, generator: torch.Generator | None = None
) -> Tensor:
    """Program signed integer ``codes`` on G+/G− pairs cell by cell, add per-cell Gaussian errors
    (level units), read G+ − G− and recombine (code units, float64)."""
    n = codes.to(torch.int64)
    bits = total_bits - 1
    read = torch.zeros(codes.shape, dtype=torch.float64, device=codes.device)
    for sign, column in ((1.0, n.clamp_min(0)), (-1.0, (-n).clamp_min(0))):
        for k, (slice_k, b) in enumerate(zip(_slice_unsigned(column, bits, bits_per_cell), slice_bits(bits, bits_per_cell))):
            scale = level_scale(b, bits_per_cell)
            noise = torch.randn(codes.shape, generator=generator, dtype=torch.float64, device=codes.device)
            levels = slice_k.to(torch.float64) * scale + sigma_levels * noise
            read += sign * levels / scale * 2.0 ** (k * bits_per_cell)
    return read


def stuck_at_codes(
    codes: Tensor, total_bits: int, bits_per_cell: int, uniform: Tensor, p_on: float, p_off: float,
    mapping: str = "offset_binary",
) -> Tensor:
    """Signed integer ``codes`` as read from cells some of which are stuck.

    Args:
        codes: Integer-valued weight codes (float or int tensor).
        uniform: ``U(0, 1)`` draws of shape ``(cells, *codes.shape)`` (``2 * cells`` for
            ``differential``): a cell is stuck on where the draw is ``< p_on``, off where it is
            ``>= 1 - p_off``.
        p_on: Probability of a cell stuck at its highest level.
        p_off: Probability of a cell stuck at level 0.

    >>> u = torch.tensor([[[0.0]], [[0.5]]])  # low cell stuck on, high cell fine
    >>> stuck_at_codes(torch.tensor([[-128.0]]), 8, 4, u, 0.1, 0.0)  # u = 0 -> 15 -> code -113
    tensor([[-113.]])
    """
    n = codes.to(torch.int64)
    if mapping == "offset_binary":
        columns = [(1, n + 2 ** (total_bits - 1), total_bits)]
        offset = 2 ** (total_bits - 1)
    else:
        columns = [(1, n.clamp_min(0), total_bits - 1), (-1, (-n).clamp_min(0), total_bits - 1)]
        offset = 0
    out = torch.zeros_like(n)
    cell = 0
    for sign, column, bits in columns:
        for k, (slice_k, b) in enumerate(zip(_slice_unsigned(column, bits, bits_per_cell), slice_bits(bits, bits_per_cell))):
            draw = uniform[cell]
            full = 2**b - 1
            slice_k = torch.where(draw < p_on, torch.full_like(slice_k, full), slice_k)
            slice_k = torch.where(draw >= 1 - p_off, torch.zeros_like(slice_k), slice_k)
            out = out + sign * (slice_k << (k * bits_per_cell))
            cell += 1
    return (out - offset).to(codes.dtype)


def stuck_cells(total_bits: int, bits_per_cell: int, mapping: str = "offset_binary") -> int:
    """Cells per weight that can be stuck: the offset code's cells, or both columns' for ``differential``."""
    if mapping == "offset_binary":
        return cells_per_weight(total_bits, bits_per_cell)
    return 2 * cells_per_weight(total_bits - 1, bits_per_cell)
