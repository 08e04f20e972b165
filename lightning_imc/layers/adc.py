"""Crossbar tiling and ADC readout of partial sums.

A layer's unrolled weight matrix has ``K²·C_in`` rows (PyTorch's unfold order: row
``c·K² + kh·K + kw``) and ``C_out`` columns. It is split into tiles of ``array_rows`` consecutive rows;
each tile produces one partial sum per output (column), which an ADC converts before the tiles are
summed digitally. This is a functional model: the analog partial sum of a tile is taken at full
precision (bit-serial inputs and bit slices are not simulated one by one) and then quantized once by
a signed, mid-tread ADC of ``adc_bits``::

    step = full_scale / 2**(adc_bits - 1)
    adc(p) = step * clamp(round(p / step), -2**(adc_bits - 1), 2**(adc_bits - 1) - 1)

:func:`adc_quantize` alone passes gradients straight through inside the range (zero where it clips).
The tiled layers (:func:`tiled_linear`, :func:`tiled_conv2d`) are autograd functions whose backward is
the plain layer's (the ADC as a straight-through identity, like the rounding of any quantizer): the
forward is exact, and training pays no more for an ADC than one extra forward of its tiles. With the
default ``dynamic`` full scale nothing but the single largest partial sum can clip, so this is the
same as masking; with a fixed full scale that clips, the gradient of clipped sums is not zeroed.

Convolutions stay native: all tiles of a layer run as one grouped ``F.conv2d`` over a gathered copy
of the input channels that each tile touches (no unfold); the ADC codes of every tile are summed
before the one multiply by the ADC step.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .quantization import peak_magnitude

__all__ = ["adc_quantize", "tiled_linear", "tiled_conv2d", "conv_tile_plan"]


def adc_quantize(partial_sums: Tensor, adc_bits: int, full_scale: float | Tensor) -> Tensor:
    """Quantize partial sums with a signed mid-tread ADC of ``adc_bits`` over ``[-full_scale, full_scale)``.

    >>> adc_quantize(torch.tensor([0.3, -1.0, 0.74, 2.0]), adc_bits=3, full_scale=1.0)
    tensor([ 0.2500, -1.0000,  0.7500,  0.7500])
    """
    step = full_scale / 2 ** (adc_bits - 1)
    if isinstance(step, Tensor):
        step = step.clamp_min(torch.finfo(torch.float32).tiny)  # stays on device: no host sync
    levels = 2 ** (adc_bits - 1)
    return _ClampedRoundSTE.apply(partial_sums, step, -levels, levels - 1)


class _ClampedRoundSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, step: "float | Tensor", min_code: int, max_code: int) -> Tensor:  # type: ignore[override]
        codes = torch.round(x / step)
        ctx.save_for_backward((codes >= min_code) & (codes <= max_code))
        return codes.clamp_(min_code, max_code).mul_(step)

    @staticmethod
    def backward(ctx, grad_output: Tensor):  # type: ignore[override]
        (inside,) = ctx.saved_tensors
        return grad_output * inside, None, None, None


def tiled_linear(
    x: Tensor, weight: Tensor, bias: Tensor | None, array_rows: int, adc_bits: int, full_scale: "float | str | Tensor"
) -> Tensor:
    """``F.linear`` with the input dimension split into crossbar tiles and an ADC on each tile's sums.

    Args:
        x: Input ``(..., in_features)``.
        weight: ``(out_features, in_features)``.
        bias: Added digitally after the tiles are summed.
        array_rows: Rows per tile.
        adc_bits: ADC resolution (bits).
        full_scale: ADC full scale, or ``"dynamic"`` for the largest |partial sum| of this call.
    """
    out = _TiledLinearADC.apply(x, weight, array_rows, adc_bits, full_scale)
    return out if bias is None else out + bias


class _TiledLinearADC(torch.autograd.Function):
    """Exact tiled forward; the backward of ``F.linear`` (straight-through ADC)."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, array_rows: int, adc_bits: int, full_scale: "float | str | Tensor") -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(x, weight)
        in_features = weight.shape[1]
        tiles = -(-in_features // array_rows)
        pad = tiles * array_rows - in_features
        xp, wp = (F.pad(x, (0, pad)), F.pad(weight, (0, pad))) if pad else (x, weight)
        x_tiles = xp.reshape(*xp.shape[:-1], tiles, array_rows)
        w_tiles = wp.reshape(weight.shape[0], tiles, array_rows)
        partial = torch.einsum("...tr,otr->...to", x_tiles, w_tiles)
        return _adc_sum(partial, -2, adc_bits, full_scale)

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        x, weight = ctx.saved_tensors
        grad_x = grad @ weight if ctx.needs_input_grad[0] else None
        grad_w = None
        if ctx.needs_input_grad[1]:
            grad_w = grad.reshape(-1, grad.shape[-1]).t() @ x.reshape(-1, x.shape[-1])
        return grad_x, grad_w, None, None, None


def conv_tile_plan(in_channels: int, kernel_size: "tuple[int, ...]", array_rows: int) -> tuple[Tensor, Tensor, int]:
    """How a conv's unrolled rows map onto tiles.

    Returns:
        ``(channel_index, row_mask, tiles)``: ``channel_index`` ``(tiles * span,)`` gives, for each
        tile, the ``span`` input channels it touches (clamped to the last channel);
        ``row_mask`` ``(tiles, span, kh, kw)`` is 1 where that (channel, kh, kw) row belongs to the tile.
    """
    kh, kw = kernel_size
    per_channel = kh * kw
    rows = in_channels * per_channel
    tiles = -(-rows // array_rows)
    first_channel = torch.arange(tiles) * array_rows // per_channel
    last_channel = (torch.clamp((torch.arange(tiles) + 1) * array_rows, max=rows) - 1) // per_channel
    span = int((last_channel - first_channel).max()) + 1
    channel = first_channel[:, None] + torch.arange(span)[None, :]  # (tiles, span)
    row = channel[:, :, None] * per_channel + torch.arange(per_channel)[None, None, :]  # (tiles, span, k²)
    tile_of_row = torch.arange(tiles)[:, None, None]
    in_tile = (row >= tile_of_row * array_rows) & (row < (tile_of_row + 1) * array_rows) & (channel[:, :, None] < in_channels)
    return channel.clamp(max=in_channels - 1).reshape(-1), in_tile.reshape(tiles, span, kh, kw), tiles


def tiled_conv2d(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    stride: tuple[int, ...],
    padding: "tuple[int, ...] | str",
    dilation: tuple[int, ...],
    array_rows: int,
    adc_bits: int,
    full_scale: "float | str | Tensor",
    plan: tuple[Tensor, Tensor, int] | None = None,
) -> Tensor:
    """``F.conv2d`` (groups=1) with crossbar tiles over the unrolled rows and an ADC per tile."""
    stride, dilation = _pair(stride), _pair(dilation)
    if isinstance(padding, str):
        x, padding = _explicit_padding(x, weight, padding, dilation)
    plan = plan or conv_tile_plan(weight.shape[1], tuple(weight.shape[2:]), array_rows)
    out = _TiledConvADC.apply(x, weight, stride, _pair(padding), dilation, adc_bits, full_scale, plan)
    return out if bias is None else out + bias.view(1, -1, 1, 1)


def _pair(value: "int | tuple[int, ...] | list[int]") -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def _explicit_padding(x: Tensor, weight: Tensor, padding: str, dilation: tuple[int, ...]) -> tuple[Tensor, tuple[int, int]]:
    """``'valid'``/``'same'`` as explicit zero padding of ``x`` (``'same'`` may be asymmetric)."""
    if padding == "valid":
        return x, (0, 0)
    if padding != "same":
        raise ValueError(f"padding={padding!r}; allowed: 'same', 'valid' or numbers")
    pads: list[int] = []
    for k, d in zip(reversed(weight.shape[2:]), reversed(dilation)):
        total = d * (k - 1)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads), (0, 0)


class _TiledConvADC(torch.autograd.Function):
    """Exact tiled forward (one grouped conv over all tiles); the backward of the plain ``F.conv2d``."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, stride: tuple[int, ...], padding: tuple[int, ...],  # type: ignore[override]
                dilation: tuple[int, ...], adc_bits: int, full_scale: "float | str | Tensor",
                plan: tuple[Tensor, Tensor, int]) -> Tensor:
        ctx.save_for_backward(x, weight)
        ctx.conv = (stride, padding, dilation)
        out_channels = weight.shape[0]
        channel_index, row_mask, tiles = plan
        channel_index = channel_index.to(x.device)
        row_mask = row_mask.to(device=weight.device, dtype=weight.dtype)
        span = row_mask.shape[1]
        # gather the channels each tile touches in NHWC order: the copy comes out channels-last, where
        # CPU grouped convolutions run several times faster than on NCHW (no extra layout conversion)
        x_gathered = x.permute(0, 2, 3, 1).index_select(3, channel_index).permute(0, 3, 1, 2)  # (N, tiles*span, H, W)
        w = weight.index_select(1, channel_index.to(weight.device)).view(out_channels, tiles, span, *weight.shape[2:])
        w = (w * row_mask.unsqueeze(0)).transpose(0, 1).reshape(tiles * out_channels, span, *weight.shape[2:])
        w = w.contiguous(memory_format=torch.channels_last)
        partial = F.conv2d(x_gathered, w, None, stride, padding, dilation, groups=tiles)
        # the ADC works element by element: run it over the memory as laid out (channels-last), then sum tiles
        dense = partial.permute(0, 2, 3, 1) if partial.is_contiguous(memory_format=torch.channels_last) else partial
        codes, step = _adc_codes(dense, adc_bits, full_scale)
        if dense is not partial:  # (N, H, W, tiles*O): add the tiles' contiguous slices (integer codes: exact)
            per_tile = codes.view(*codes.shape[:3], tiles, out_channels)
            total = per_tile[..., 0, :].clone()
            for tile in range(1, tiles):
                total.add_(per_tile[..., tile, :])
            total = total.permute(0, 3, 1, 2)  # (N, O, H, W), channels-last memory
        else:
            total = codes.view(codes.shape[0], tiles, out_channels, *codes.shape[2:]).sum(1)
        return total.mul_(step).to(x.dtype)

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        x, weight = ctx.saved_tensors
        stride, padding, dilation = ctx.conv
        grad_x, grad_w, _ = torch.ops.aten.convolution_backward(
            grad.contiguous(), x, weight, None, list(stride), list(padding), list(dilation), False, [0, 0], 1,
            [ctx.needs_input_grad[0], ctx.needs_input_grad[1], False],
        )
        return grad_x, grad_w, None, None, None, None, None, None


def _adc_codes(partial: Tensor, adc_bits: int, full_scale: "float | str | Tensor") -> tuple[Tensor, Tensor]:
    """ADC codes ``round(p / step)`` in ``[-2**(b-1), 2**(b-1) - 1]``, in place on this call's own partial sums
    (no autograd here), and the step (a 0-d tensor: no host sync)."""
    if isinstance(full_scale, str):  # "dynamic": the largest |partial sum| of this call
        full_scale = peak_magnitude(partial)
    levels = 2 ** (adc_bits - 1)
    step = torch.as_tensor(full_scale, dtype=torch.float32, device=partial.device) / levels
    step = step.clamp_min(torch.finfo(torch.float32).tiny).reshape(())
    return partial.float().div_(step).round_().clamp_(-levels, levels - 1), step


def _adc_sum(partial: Tensor, tile_dim: int, adc_bits: int, full_scale: "float | str | Tensor") -> Tensor:
    """The ADC on every tile's partial sums, then the digital sum over tiles: a shared step lets the sum
    run on codes (one multiply per output)."""
    codes, step = _adc_codes(partial, adc_bits, full_scale)
    return codes.sum(tile_dim).mul_(step).to(partial.dtype)
