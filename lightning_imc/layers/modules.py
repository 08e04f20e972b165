"""Noise-aware crossbar layers: drop-in subclasses of ``nn.Conv2d``, ``nn.Linear`` and ``nn.MultiheadAttention``.

Each forward quantizes the input (the crossbar's word-line drive) and the weight (the programmed
conductances) to fixed point, adds device variation to the quantized weight, and calls the native
``F.conv2d`` / ``F.linear`` — or, with an ADC configured, the tiled version of
:mod:`lightning_imc.layers.adc`. Noise lives in the forward pass only, so any optimizer trains these
layers, and ``state_dict`` keys are those of the digital layer (variation samples are never saved).
"""

from __future__ import annotations

import math
import numbers
import zlib
from typing import TYPE_CHECKING, Any, TypeVar, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .adc import conv_tile_plan, tiled_conv2d, tiled_linear
from .config import VARIATION_MODES, IMCConfig
from .quantization import FixedPoint, fixed_point_quantize, mse_clip_range, peak_magnitude, quantize_to_codes
from .variation import bit_sliced_noise_std, stuck_at_codes, stuck_cells, weight_noise_std_levels

__all__ = [
    "IMCLayer", "IMCConv1d", "IMCConv2d", "IMCConv2dSame", "IMCLinear", "IMCTransposedLinear", "IMCMultiheadAttention",
    "seed_offset_for", "same_padding", "counter_random",
]


def seed_offset_for(name: str) -> int:
    """A stable per-layer seed offset derived from the layer's qualified name."""
    return zlib.crc32(name.encode())


def _mix_seed(*parts: int) -> int:
    """Combine integers into one 63-bit seed (plain arithmetic: deterministic, and constant-folded by
    ``torch.compile``)."""
    seed = 0x2545_F491_4F6C_DD1D
    for part in parts:
        seed = ((seed ^ (int(part) & 0xFFFF_FFFF_FFFF_FFFF)) * 0x100_0000_01B3 + 0x9E37_79B9) & 0xFFFF_FFFF_FFFF_FFFF
    return seed & 0x7FFF_FFFF_FFFF_FFFF


# splitmix64 constants as signed 64-bit integers (torch has no uint64 arithmetic; products wrap)
_GOLDEN = 0x9E37_79B9_7F4A_7C15 - 2**64
_MIX1 = 0xBF58_476D_1CE4_E5B9 - 2**64
_MIX2 = 0x94D0_49BB_1331_11EB - 2**64


def counter_random(seed: "int | Tensor", shape: "torch.Size | tuple[int, ...]", like: Tensor, uniform: bool = False) -> Tensor:
    """A reproducible standard-normal (or ``U(0, 1)``) sample of ``shape`` from a 64-bit ``seed``.

    Counter-based (splitmix64 of ``seed + i·φ`` for element ``i``, two 24-bit uniforms per element,
    Box–Muller): plain tensor arithmetic, so it traces into one ``torch.compile`` graph, gives the same
    numbers on every device, and needs no ``torch.Generator`` (which ``torch.compile`` cannot create).

    >>> z = counter_random(7, (100_000,), torch.empty(0))
    >>> round(float(z.mean()), 2), round(float(z.std()), 2), torch.equal(z, counter_random(7, (100_000,), torch.empty(0)))
    (0.0, 1.0, True)
    """
    count = math.prod(shape)
    x = torch.arange(1, count + 1, device=like.device, dtype=torch.int64) * _GOLDEN + seed
    x = x ^ ((x >> 30) & 0x3_FFFF_FFFF)
    x = x * _MIX1
    x = x ^ ((x >> 27) & 0x1F_FFFF_FFFF)
    x = x * _MIX2
    x = x ^ ((x >> 31) & 0x1_FFFF_FFFF)
    dtype = like.dtype if like.dtype.is_floating_point else torch.get_default_dtype()
    u1 = (((x >> 40) & 0xFF_FFFF).to(torch.float32) + 0.5) * 2.0**-24
    if uniform:
        return u1.to(dtype).reshape(shape)
    u2 = ((x & 0xFF_FFFF).to(torch.float32) + 0.5) * 2.0**-24
    z = torch.sqrt(-2.0 * torch.log(u1)) * torch.cos((2.0 * math.pi) * u2)
    return z.to(dtype).reshape(shape)


#: The scaled-input range tensors of an IMC layer (top, and bottom with a zero point).
_RANGE_NAMES = ("input_range", "input_low")


def _range_names(config: IMCConfig) -> tuple[str, ...]:
    """The range tensors a layer with ``config`` holds (none with absolute input formats)."""
    if config.input_scaling == "absolute":
        return ()
    return _RANGE_NAMES if config.input_zero_point else _RANGE_NAMES[:1]


if TYPE_CHECKING:  # the mixin is only ever combined with an nn.Module: let the type checker see its methods
    _MixinBase = nn.Module
else:
    _MixinBase = object


class IMCLayer(_MixinBase):
    """Mixin holding the crossbar behaviour shared by all IMC layers.

    Attributes:
        imc_config: The layer's :class:`IMCConfig`.
    """

    imc_config: IMCConfig
    input_range: Tensor  # a buffer (a parameter with ``input_range_learning``), registered only with scaled inputs

    if TYPE_CHECKING:
        def to_digital(self) -> nn.Module:
            """The plain PyTorch layer (each IMC layer class defines it)."""
            ...
    #: Attributes this mixin adds to a module (dropped again by ``to_digital``).
    IMC_ATTRIBUTES = (
        "imc_config", "_imc_seed_offset", "_imc_draws", "_imc_chip_seed", "_imc_chip_seeded", "_fixed_noise",
        "_weight_format", "_input_format", "_bit_sliced_std", "_bit_sliced_std_codes",
        "_input_signed_auto", "_read_std_codes", "_weight_cache", "_digital_original",
    )
    # draw keys of the non-idealities beside the programming variation (``key`` itself)
    _STUCK_KEY, _DRIFT_KEY, _READ_KEY, _OUTPUT_KEY = 1000, 2000, 3000, 4000

    def _init_imc(self, config: IMCConfig | None, seed_offset: int = 0) -> None:
        config = IMCConfig() if config is None else config
        if not isinstance(config, IMCConfig):
            raise ValueError(f"imc_config must be an IMCConfig, got {type(config).__name__}")
        self._imc_seed_offset = seed_offset
        self._imc_draws: "Tensor | None" = None  # draws so far (a tensor: no recompile per call)
        self._imc_chip_seed: Tensor | None = None  # a tensor: a new chip does not recompile a graph
        self._imc_chip_seeded = False
        self._fixed_noise: dict[str, Tensor] = {}
        self._input_signed_auto: bool | None = None
        self._weight_cache: dict[int, tuple[Any, Tensor]] = {}
        self._apply_config(config)

    def _apply_config(self, config: IMCConfig) -> None:
        self.imc_config = config
        self._weight_format = config.weight_format
        self._input_format = config.input_format
        signed_auto: bool | None = getattr(self, "_input_signed_auto", None)
        if config.input_signed == "auto" and signed_auto is not None:
            self._input_format = FixedPoint(config.input_int_bits, config.input_frac_bits, signed=signed_auto)
        device = config.device_spec
        bits = self._weight_format.total_bits
        if config.weight_mapping == "offset_binary":
            self._bit_sliced_std = bit_sliced_noise_std(
                self._weight_format, device.bits_per_cell, config.effective_sigma_levels
            )
        else:
            self._bit_sliced_std = weight_noise_std_levels(
                bits, device.bits_per_cell, config.effective_sigma_levels, config.weight_mapping
            ) * self._weight_format.step
        self._read_std_codes = weight_noise_std_levels(
            bits, device.bits_per_cell, config.read_noise_levels, config.weight_mapping
        )
        if hasattr(self, "_weight_cache"):
            self._weight_cache.clear()
        # the same std in units of the format's least significant bit (exact: the step is a power of 2)
        self._bit_sliced_std_codes = self._bit_sliced_std / self._weight_format.step
        if config.input_scaling != "absolute":
            home = self._parameters if config.input_range_learning else self._buffers  # type: ignore[attr-defined]
            if not all(name in home for name in _range_names(config)):
                self._add_input_range()

    def _add_input_range(self) -> None:
        """Register the scaled input range on the weights' device: ``input_range`` (the top of the range,
        0 = not calibrated yet) and, with a zero point, ``input_low`` (its bottom, <= 0) — buffers, or
        parameters with ``input_range_learning``; values already held (on a real device) are kept."""
        like = next((p for n, p in self._parameters.items() if p is not None and n not in _RANGE_NAMES), None)
        device = None if like is None or like.device.type == "meta" else like.device
        for name in _RANGE_NAMES:
            old = self._buffers.pop(name, None)  # type: ignore[attr-defined]
            held = self._parameters.pop(name, None)  # type: ignore[attr-defined]
            old = held if old is None else old
            if name not in _range_names(self.imc_config):
                continue
            value = old.detach().clone() if old is not None and old.device.type != "meta" else torch.zeros(())
            if device is not None:
                value = value.to(device)
            if self.imc_config.input_range_learning:
                self.register_parameter(name, nn.Parameter(value))  # type: ignore[attr-defined]
            else:
                self.register_buffer(name, value)  # type: ignore[attr-defined]

    def resolve_input_sign(self, signed: bool) -> None:
        """Decide an ``input_signed="auto"`` layer's input format: signed or unsigned (from the data)."""
        if self.imc_config.input_signed != "auto":
            raise ValueError(f"resolve_input_sign: the layer's input_signed is {self.imc_config.input_signed!r}, not 'auto'")
        self._input_signed_auto = bool(signed)
        self._apply_config(self.imc_config)

    @property
    def input_is_signed(self) -> bool:
        """Whether the layer quantizes its input as signed now (``"auto"`` undecided: signed)."""
        return self._input_format.signed

    def set_config(self, config: IMCConfig) -> None:
        """Replace the layer's configuration (variation samples of a fixed chip are kept if shapes allow)."""
        if not isinstance(config, IMCConfig):
            raise ValueError(f"imc_config must be an IMCConfig, got {type(config).__name__}")
        self._apply_config(config)

    # -- what the hardware model reads ------------------------------------------------------------
    @property
    def weight_bits(self) -> int | None:
        """Total weight bits (bits), or ``None`` when weights are not quantized."""
        return self._weight_format.total_bits if self.imc_config.quantize_weights else None

    @property
    def input_bits(self) -> int | None:
        """Total input-activation bits (bits), or ``None`` when inputs are not quantized."""
        return self._input_format.total_bits if self.imc_config.quantize_inputs else None

    @property
    def input_range_per_read(self) -> bool:
        """Whether each crossbar read is coded on its own input range (``dynamic`` scaling on a layer
        whose reads do not overlap: not a K×K convolution); the chip model charges its finder."""
        return self.imc_config.input_scaling == "dynamic" and self._read_dim() is not None

    # -- variation control ---------------------------------------------------------------------------
    def set_variation(self, mode: str) -> None:
        """Switch the variation mode (``off`` | ``train`` | ``fixed``) without touching anything else."""
        if mode not in VARIATION_MODES:
            raise ValueError(f"variation={mode!r}; allowed: {list(VARIATION_MODES)}")
        self.set_config(self.imc_config.replace(variation=mode))

    def resample(self, seed: int | None = None) -> None:
        """Program a new chip: the next forward in ``fixed`` mode draws a new variation sample.

        Args:
            seed: Seed of this chip (combined with the layer's own offset); ``None`` continues the
                layer's sequence (seeded by ``imc_config.seed``) or uses the global generator.
        """
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
            raise ValueError(f"seed={seed!r}; must be None or an integer")
        self._fixed_noise.clear()
        self._weight_cache.clear()
        self._imc_chip_seeded = seed is not None
        if seed is not None:
            mixed = _mix_seed(seed, self._imc_seed_offset) - 2**62  # fits int64 with room for the key
            if isinstance(self._imc_chip_seed, Tensor):
                self._imc_chip_seed.fill_(mixed)
            else:
                self._imc_chip_seed = torch.tensor(mixed, dtype=torch.int64)

    def weight_scale(self, weight: Tensor) -> Tensor | None:
        """Weight units per integer code of the format, or ``None`` for ``absolute`` scaling.

        ``layer``: ``max|w| / max_code`` (one scale); ``channel``: one per output channel (shape
        ``(C_out, 1, ...)``). The scale is a digital multiplier, not trained through (detached).
        """
        mode = self.imc_config.weight_scaling
        if mode == "absolute":
            return None
        magnitude = weight.detach().abs()
        if mode == "layer":
            peak = magnitude.amax()
        else:
            peak = magnitude.reshape(weight.shape[0], -1).amax(1).view(-1, *([1] * (weight.dim() - 1)))
        return peak.clamp_min(torch.finfo(weight.dtype).tiny) / self._weight_format.max_code

    def weight_noise_std(self, weight: Tensor, scale: Tensor | None = None) -> "float | Tensor":
        """Std of the variation added to each quantized weight (weight units).

        Args:
            weight: The (quantized) weight.
            scale: Its :meth:`weight_scale` (weight units per code), ``None`` for ``absolute`` scaling.
        """
        config = self.imc_config
        if config.variation == "off":
            return 0.0
        if config.variation_model == "bit_sliced":
            return self._bit_sliced_std if scale is None else self._bit_sliced_std_codes * scale
        return config.relative_sigma * weight.detach().abs().amax()

    def _standard_normal(self, key: int, like: Tensor) -> Tensor:
        return self._draw(key, like.shape, like)

    def _draw(self, key: int, shape: "torch.Size | tuple[int, ...]", like: Tensor, uniform: bool = False,
              per_read: bool = False) -> Tensor:
        """A standard normal (or ``U(0, 1)``) sample of ``shape``: seeded by the chip, by ``config.seed``
        (a new draw per call), or from torch's global generator. ``per_read``: a new draw at every
        call also on a seeded chip (read noise), reproducible from the chip's seed.

        Seeded draws use :func:`counter_random` with a per-layer draw counter held in a tensor, so
        seeded and fixed-chip forwards compile into one graph without recompiling per call.
        """
        config = self.imc_config
        if self._imc_chip_seeded:
            chip: Tensor = self._imc_chip_seed  # type: ignore[assignment]
            if chip.device != like.device:
                chip = self._imc_chip_seed = chip.to(like.device)
            base: "Tensor | int" = chip * _MIX1 + _mix_seed(key)
            if not per_read:
                return counter_random(base, shape, like, uniform)
        elif config.seed is not None:
            base = _mix_seed(config.seed, self._imc_seed_offset, key)
        else:
            return (torch.rand if uniform else torch.randn)(shape, device=like.device, dtype=like.dtype)
        counter = self._imc_draws
        if not isinstance(counter, Tensor) or counter.device != like.device:
            counter = self._imc_draws = torch.zeros((), dtype=torch.int64, device=like.device)
        counter.add_(1)
        return counter_random(counter * _MIX2 + base, shape, like, uniform)

    def _chip_draw(self, key: int, shape: "torch.Size | tuple[int, ...]", like: Tensor, uniform: bool = False) -> Tensor:
        """A draw that is part of the programmed chip: fixed in ``fixed`` mode, new per forward in ``train``."""
        if self.imc_config.variation == "train" or (self._imc_chip_seeded and torch.compiler.is_compiling()):
            return self._draw(key, shape, like, uniform)  # a seeded chip's draw is reproducible: no cache
        name = f"{key}"
        z = self._fixed_noise.get(name)
        if z is None or z.shape != torch.Size(shape):
            z = self._fixed_noise[name] = self._draw(key, shape, like, uniform)
        elif z.device != like.device or z.dtype != like.dtype:
            z = self._fixed_noise[name] = z.to(device=like.device, dtype=like.dtype)
        return z

    def _has_device_effects(self) -> bool:
        c = self.imc_config
        return c.variation != "off" and (
            c.stuck_on_prob > 0 or c.stuck_off_prob > 0 or c.drift_time_s is not None or c.read_noise_levels > 0
        )

    def _effective_weight(self, key: int, weight: Tensor) -> Tensor:
        """Quantized weight plus this forward's non-idealities (variation, faults, drift, read noise).

        On a fixed chip in eval mode without gradient, the programmed weight (everything but the read
        noise) is cached until the weight, the chip or the configuration changes.
        """
        config = self.imc_config
        cacheable = (
            config.variation == "fixed" and not torch.is_grad_enabled() and not torch.compiler.is_compiling()
        )
        if cacheable:
            hit = self._weight_cache.get(key)
            stamp = (weight._version, weight.data_ptr(), weight.dtype, weight.device)
            if hit is not None and hit[0] == stamp:
                programmed = hit[1]
            else:
                programmed = self._programmed_weight(key, weight)
                self._weight_cache[key] = (stamp, programmed)
        else:
            programmed = self._programmed_weight(key, weight)
        if config.variation != "off" and config.read_noise_levels > 0:
            unit = self._code_unit(weight)
            z = self._draw(key + self._READ_KEY, programmed.shape, programmed, per_read=True)
            programmed = programmed + (self._read_std_codes * z) * unit
        return programmed

    def _code_unit(self, weight: Tensor) -> "float | Tensor":
        """Weight units per code: the format's step (``absolute``) or the layer/channel scale."""
        scale = self.weight_scale(weight) if self.imc_config.quantize_weights else None
        return self._weight_format.step if scale is None else scale

    def _variation_normal(self, key: int, like: Tensor) -> Tensor:
        """The standard-normal programming-variation sample of weight ``key`` (``like``'s shape): a new
        draw per forward in ``train`` mode, the chip's stored draw in ``fixed`` mode."""
        if self.imc_config.variation == "train" or (self._imc_chip_seeded and torch.compiler.is_compiling()):
            return self._standard_normal(key, like)
        stored = self._fixed_noise.get(str(key))
        if stored is None or stored.shape != like.shape:
            z = self._standard_normal(key, like)
            self._fixed_noise[str(key)] = z
            return z
        if stored.device != like.device or stored.dtype != like.dtype:
            stored = self._fixed_noise[str(key)] = stored.to(device=like.device, dtype=like.dtype)
        return stored

    def _programmed_weight(self, key: int, weight: Tensor) -> Tensor:
        """Quantized weight as programmed on this chip: stuck cells, variation and drift (no read noise)."""
        config = self.imc_config
        if (config.weight_scaling == "channel" and config.quantize_weights and config.stuck_on_prob == 0
                and config.stuck_off_prob == 0 and (config.variation == "off" or config.variation_model == "bit_sliced")):
            return self._programmed_weight_per_channel(key, weight)
        scale = self.weight_scale(weight) if config.quantize_weights else None
        fmt = self._weight_format
        if not config.quantize_weights:
            w = weight
        elif scale is None:
            w = fixed_point_quantize(weight, fmt)
        else:
            w = quantize_to_codes(weight / scale, fmt.min_code, fmt.max_code) * scale
        if config.variation == "off":
            return w
        unit = fmt.step if scale is None else scale
        if config.stuck_on_prob > 0 or config.stuck_off_prob > 0:
            codes = torch.round(w.detach() / unit)
            cells = stuck_cells(fmt.total_bits, config.device_spec.bits_per_cell, config.weight_mapping)
            u = self._chip_draw(key + self._STUCK_KEY, (cells, *w.shape), w, uniform=True)
            read = stuck_at_codes(codes, fmt.total_bits, config.device_spec.bits_per_cell, u,
                                  config.stuck_on_prob, config.stuck_off_prob, config.weight_mapping)
            w = w + (read - codes) * unit  # faults shift the value; the gradient stays straight-through
        std = self.weight_noise_std(w, scale)
        if not (isinstance(std, float) and std == 0.0):
            w = w + std * self._variation_normal(key, w)
        if config.drift_time_s is not None:
            w = self._drifted(key, w)
        return w

    def _programmed_weight_per_channel(self, key: int, weight: Tensor) -> Tensor:
        """:meth:`_programmed_weight` with one scale per output channel and bit-sliced variation, fused:
        the codes are rounded in place and the variation (``σ_codes · scale`` per channel, weight units)
        added by one ``addcmul`` (:class:`_ChannelCodes`); drift as in the general path."""
        config = self.imc_config
        fmt = self._weight_format
        std_codes = self._bit_sliced_std_codes if config.variation != "off" else 0.0
        z = self._variation_normal(key, weight) if std_codes > 0 else None
        w = _ChannelCodes.apply(weight, z, float(std_codes), fmt.min_code, fmt.max_code)
        if config.variation != "off" and config.drift_time_s is not None:
            w = self._drifted(key, w)
        return w

    def drift_factor(self, key: int, like: Tensor) -> Tensor:
        """``(t / t0)**-ν`` per weight, ``ν ~ N(ν̄, σ_ν²)`` clamped at 0, fixed per chip."""
        config = self.imc_config
        ratio = config.drift_time_s / config.drift_t0_s  # type: ignore[operator]
        nu = torch.full_like(like, config.effective_drift_nu)
        spread = config.device_spec.drift_nu_std
        if spread > 0:
            nu = (nu + spread * self._chip_draw(key + self._DRIFT_KEY, like.shape, like)).clamp_min(0.0)
        return torch.exp(-nu * math.log(ratio))

    def _drifted(self, key: int, w: Tensor) -> Tensor:
        drifted = w * self.drift_factor(key, w.detach())
        if not self.imc_config.drift_compensation:
            return drifted
        # global drift compensation: one digital factor per layer, what a reference read sees
        reference = w.detach().abs().sum().clamp_min(torch.finfo(w.dtype).tiny)
        factor = drifted.detach().abs().sum() / reference
        return drifted / factor.clamp_min(torch.finfo(w.dtype).tiny)

    def _add_output_noise(self, out: Tensor) -> Tensor:
        """Crossbar output plus ``output_noise · max|out|`` Gaussian noise (fresh each forward)."""
        config = self.imc_config
        if config.output_noise == 0 or config.variation == "off":
            return out
        peak = out.detach().abs().amax()
        return out + config.output_noise * peak * self._draw(self._OUTPUT_KEY, out.shape, out, per_read=True)

    def _read_dim(self) -> int | None:
        """The dimension of ``x`` that one crossbar read spans (``dynamic`` scaling): the features (-1) of a
        linear layer, the channels (1) of a 1×1 convolution; ``None`` for a K×K convolution (overlapping reads)."""
        if isinstance(self, (nn.Conv1d, nn.Conv2d)):
            return 1 if all(k == 1 for k in self.kernel_size) else None
        return -1

    def _tracked(self, name: str, batch_value: Tensor, x: Tensor) -> Tensor:
        """A calibrated range bound (``name``): followed as a moving average in training mode, frozen in
        eval mode (a layer never calibrated uses this batch's value). With ``input_range_learning`` the
        bound is a parameter: the first training batch of an uncalibrated layer sets it, then only its
        gradient moves it (LSQ's, scaled by ``1/√(inputs per sample · levels)``; Esser et al., ICLR 2020)."""
        stored = cast(Tensor, getattr(self, name))
        calibrated_range = cast(Tensor, getattr(self, "input_range"))
        batch_value = batch_value.to(stored.dtype)
        learning = self.imc_config.input_range_learning
        if self.training:  # type: ignore[attr-defined]
            with torch.no_grad():
                # first batch (range 0): take it as it is; then a moving average (no host sync)
                calibrated = calibrated_range > 0
                moved = stored if learning else stored + self.imc_config.input_range_momentum * (batch_value - stored)
                stored.copy_(torch.where(calibrated, moved, batch_value))
            if learning:
                scale = 1.0 / math.sqrt(max(1, x[0].numel()) * max(1, self._input_format.max_code))
                return stored * scale + (stored - stored * scale).detach()  # value unchanged, gradient × scale
            return stored
        return torch.where(calibrated_range > 0, stored, batch_value)

    def input_scale(self, x: Tensor) -> Tensor | None:
        """Input units per integer code of the input format (``calibrated``/``dynamic`` scaling, no zero
        point), else ``None``.

        In training mode the layer's ``input_range`` follows the batches' :meth:`batch_input_range`
        (exponential moving average); in eval mode it is frozen (a layer never calibrated uses this
        batch's). With ``dynamic`` scaling, reads that do not overlap get their own ``max|x|`` (shape
        broadcastable to ``x``).
        """
        config = self.imc_config
        if config.input_scaling == "absolute" or config.input_zero_point:
            return None
        tiny = torch.finfo(x.dtype).tiny
        dim = self._read_dim() if config.input_scaling == "dynamic" else None
        if dim is not None:
            if self.training:  # keep the calibrated range current (used by KxK convs and reported)
                self._tracked("input_range", peak_magnitude(x), x)
            return x.detach().abs().amax(dim, keepdim=True).clamp_min(tiny) / self._input_format.max_code
        current = self._tracked("input_range", self.batch_input_range(x), x)  # computed on every call: no host sync
        return current.clamp_min(tiny).to(x.dtype) / self._input_format.max_code

    @property
    def input_levels(self) -> int:
        """Largest unsigned input code with a zero point: ``2**(input_int_bits + input_frac_bits) - 1``."""
        return 2 ** self._input_format.total_bits - 1

    def input_bounds(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(lo, hi)`` of the zero-point input range (``lo <= 0 <= hi``): calibrated per layer, or per read
        with ``dynamic`` scaling (shapes broadcastable to ``x``)."""
        dim = self._read_dim() if self.imc_config.input_scaling == "dynamic" else None
        if dim is not None:
            d = x.detach()
            read_low, read_high = d.amin(dim, keepdim=True).clamp_max(0.0), d.amax(dim, keepdim=True).clamp_min(0.0)
            if self.training:  # low first: it takes the first batch as it is while input_range is still 0
                self._tracked("input_low", read_low.amin(), x)  # the batch's min(x, 0), from the reads' minima
                self._tracked("input_range", read_high.amax(), x)
            return read_low, read_high
        low, high = torch.aminmax(x.detach())
        low = self._tracked("input_low", low.clamp_max(0.0), x).to(x.dtype).clamp_max(0.0)
        high = self._tracked("input_range", high.clamp_min(0.0), x).to(x.dtype).clamp_min(0.0)
        return low, high

    def batch_input_range(self, x: Tensor) -> Tensor:
        """The input range this batch asks for (``IMCConfig.input_clipping``): ``max|x|``, or the
        range with the least squared quantization error for this layer's input format (input units)."""
        if self.imc_config.input_clipping == "mse":
            fmt = self._input_format
            return mse_clip_range(x, fmt.min_code, fmt.max_code)
        return peak_magnitude(x)

    def _quantize_input(self, x: Tensor) -> Tensor:
        config = self.imc_config
        if not config.quantize_inputs:
            return x
        if config.input_zero_point:
            low, high = self.input_bounds(x)
            levels = self.input_levels
            step = ((high - low) / levels).clamp_min(torch.finfo(x.dtype).tiny)
            zero = torch.round(-low / step)  # an integer code in [0, levels]: 0 is exactly representable
            if config.input_range_learning:  # straight-through zero point: the bottom gets a gradient (LSQ+)
                zero = zero + (-low / step - (-low / step).detach())
                return (quantize_to_codes(x / step + zero, 0, levels) - zero) * step
            # a read on its own range [min, max] clips nothing: its straight-through gradient needs no mask
            own_range = config.input_scaling == "dynamic" and self._read_dim() is not None
            return _ZeroPointCodes.apply(x, step, zero, levels, not own_range)
        if self._input_signed_auto is None and config.input_signed == "auto" and self.training:  # type: ignore[attr-defined]
            self.resolve_input_sign(bool((x.detach() < 0).any()))
        scale = self.input_scale(x)
        if scale is None:
            return fixed_point_quantize(x, self._input_format)
        fmt = self._input_format
        return quantize_to_codes(x / scale, fmt.min_code, fmt.max_code) * scale

    def _adc_full_scale(self, x: Tensor, weight: Tensor, rows: int) -> "float | str | Tensor":
        adc_range = self.imc_config.adc_range
        if adc_range == "dynamic" or not isinstance(adc_range, str):
            return adc_range
        config = self.imc_config
        scaled = config.weight_scaling != "absolute" or config.input_scaling != "absolute"
        x_max = self._input_format.max_abs if config.quantize_inputs and not scaled else x.detach().abs().amax()
        w_max = self._weight_format.max_abs if config.quantize_weights and not scaled else weight.detach().abs().amax()
        return min(config.adc_rows, rows) * x_max * w_max

    def _imc_repr(self) -> str:
        c = self.imc_config
        device = c.device if isinstance(c.device, str) else c.device.name
        return (
            f"w=Q{c.weight_int_bits}.{c.weight_frac_bits}, x=Q{c.input_int_bits}.{c.input_frac_bits}"
            f"{'z' if c.input_zero_point else 's' if self._input_format.signed else 'u'}"
            f"{' (auto)' if c.input_signed == 'auto' and not c.input_zero_point else ''}"
            f"{', dynamic' if c.input_scaling == 'dynamic' else ''}, device={device}, variation={c.variation}, "
            f"adc_bits={c.adc_bits}"
        )


class _ChannelCodes(torch.autograd.Function):
    """Weights on a per-output-channel code grid plus Gaussian variation, in few in-place passes.

    ``scale_c = max_k |w_ck| / max_code`` (weight units per code, channel ``c``), ``q = clamp(round(w /
    scale), min_code, max_code) · scale`` and, given a standard-normal ``z``, ``q + (σ_codes · scale) · z``
    (σ in codes, weight units after the product). Nothing is clipped (``|w| / scale <= max_code``), so
    the straight-through gradient is the identity. A NaN weight makes its channel's scale, and so its
    outputs, NaN (never a number).
    """

    @staticmethod
    def forward(ctx: Any, weight: Tensor, z: "Tensor | None", std_codes: float, min_code: int, max_code: int) -> Tensor:  # type: ignore[override]
        flat = weight.detach().reshape(weight.shape[0], -1)
        scale = flat.abs().amax(1, keepdim=True).clamp_min(torch.finfo(weight.dtype).tiny) / max_code
        q = (flat / scale).round_().clamp_(min_code, max_code).mul_(scale)
        if z is not None:
            q.addcmul_(z.reshape(q.shape), std_codes * scale)
        return q.view(weight.shape)

    @staticmethod
    def backward(ctx: Any, grad: Tensor):  # type: ignore[override]
        return grad, None, None, None, None


class _ZeroPointCodes(torch.autograd.Function):
    """Inputs on unsigned codes with a zero point: ``(clamp(round(x / step + zero), 0, levels) - zero) · step``.

    ``step`` (input units per code) and ``zero`` (an integer code) broadcast to ``x``: one per layer or one
    per read. With ``clips`` the straight-through gradient is masked to the range (one fused
    ``hardtanh_backward`` on the saved ``x / step + zero``); a read on its own range clips nothing and
    passes the gradient as it is. NaN stays NaN.
    """

    @staticmethod
    def forward(ctx: Any, x: Tensor, step: Tensor, zero: Tensor, levels: int, clips: bool) -> Tensor:  # type: ignore[override]
        codes = (x.detach() / step).add_(zero)
        ctx.levels = levels
        if clips:
            ctx.save_for_backward(codes)
            out = codes.round()
        else:
            ctx.save_for_backward()
            out = codes.round_()
        return out.clamp_(0, levels).sub_(zero).mul_(step)

    @staticmethod
    def backward(ctx: Any, grad: Tensor):  # type: ignore[override]
        saved = ctx.saved_tensors
        if saved:
            grad = torch.ops.aten.hardtanh_backward(grad, saved[0], 0.0, float(ctx.levels))
        return grad, None, None, None, None


def _crossbar_linear(layer: IMCLayer, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """``x @ weight.T + bias`` through the crossbar: ideal or tiled ADC readout, optional output noise."""
    config = layer.imc_config
    noisy = config.output_noise > 0 and config.variation != "off"
    inner_bias = None if noisy else bias
    if config.adc_bits is None:
        out = F.linear(x, weight, inner_bias)
    else:
        out = tiled_linear(x, weight, inner_bias, config.adc_rows, config.adc_bits,
                           layer._adc_full_scale(x, weight, weight.shape[1]))
    if noisy:
        out = layer._add_output_noise(out)
        out = out if bias is None else out + bias
    return out


class IMCConv2d(nn.Conv2d, IMCLayer):
    """``nn.Conv2d`` mapped onto crossbars: quantized, variation-injecting, optionally ADC-limited.

    Only ``groups=1`` convolutions map onto a crossbar; use :func:`convert_to_imc` to leave
    grouped/depthwise ones digital.

    >>> layer = IMCConv2d(3, 8, 3, padding=1, imc_config=IMCConfig(seed=0))
    >>> layer(torch.rand(2, 3, 8, 8)).shape
    torch.Size([2, 8, 8, 8])
    >>> sorted(layer.state_dict())
    ['bias', 'weight']
    """

    def __init__(self, *args: Any, imc_config: IMCConfig | None = None, seed_offset: int = 0, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if self.groups != 1:
            raise ValueError(f"IMCConv2d needs groups=1 (a crossbar maps a dense kernel), got groups={self.groups}")
        self._init_imc(imc_config, seed_offset)
        self._tile_plans: dict[int, tuple[Tensor, Tensor, int]] = {}

    def forward(self, x: Tensor) -> Tensor:
        config = self.imc_config
        x = self._quantize_input(x)
        weight = self._effective_weight(0, self.weight)
        if config.output_noise > 0 and config.variation != "off":
            out = self._add_output_noise(self._crossbar_conv(x, weight, None))
            return out if self.bias is None else out + self.bias.view(1, -1, 1, 1)
        return self._crossbar_conv(x, weight, self.bias)

    def _crossbar_conv(self, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        config = self.imc_config
        if config.adc_bits is None:
            return self._conv_forward(x, weight, bias)
        padding: "tuple[int, ...] | str" = self.padding
        if self.padding_mode != "zeros":
            x = F.pad(x, self._reversed_padding_repeated_twice, mode=self.padding_mode)
            padding = (0, 0)
        plan = self._tile_plans.get(config.adc_rows)
        if plan is None:
            plan = self._tile_plans[config.adc_rows] = conv_tile_plan(
                self.in_channels, self.kernel_size, config.adc_rows
            )
        rows = self.in_channels * self.kernel_size[0] * self.kernel_size[1]
        return tiled_conv2d(
            x, weight, bias, self.stride, padding, self.dilation, config.adc_rows, config.adc_bits,
            self._adc_full_scale(x, weight, rows), plan,
        )

    @classmethod
    def from_digital(cls, module: nn.Conv2d, imc_config: IMCConfig | None = None, seed_offset: int = 0) -> "IMCConv2d":
        """An ``IMCConv2d`` sharing ``module``'s parameters (no copy)."""
        layer = cls(
            module.in_channels, module.out_channels, module.kernel_size, stride=module.stride,
            padding=module.padding, dilation=module.dilation, groups=module.groups,
            bias=module.bias is not None, padding_mode=module.padding_mode, device="meta",
            imc_config=imc_config, seed_offset=seed_offset,
        )
        layer.weight, layer.bias = module.weight, module.bias
        return _adopt(layer, module, nn.Conv2d)

    def to_digital(self) -> nn.Conv2d:
        """The digital layer this one was converted from (a subclass comes back as itself), or a plain
        ``nn.Conv2d`` sharing this layer's parameters (full-precision, noise-free)."""
        original = _original(self)
        if original is not None:
            return original
        padding = self.padding if isinstance(self.padding, str) else _two(self.padding)
        module = nn.Conv2d(
            self.in_channels, self.out_channels, _two(self.kernel_size), stride=_two(self.stride), padding=padding,
            dilation=_two(self.dilation), groups=self.groups, bias=self.bias is not None,
            padding_mode=self.padding_mode, device="meta",
        )
        module.weight, module.bias = self.weight, self.bias
        module.train(self.training)
        return module

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, {self._imc_repr()}"


class IMCConv1d(nn.Conv1d, IMCLayer):
    """``nn.Conv1d`` mapped onto crossbars (audio front ends: Whisper, wav2vec2): ``C_in · K`` rows, one
    column per output channel; a read is one output position's ``C_in × K`` window (a 1-wide 2-D kernel).

    The same quantization, variation and ADC as :class:`IMCConv2d` (the ADC path runs the 2-D tiled
    convolution on a height-1 view). Only ``groups=1`` maps onto a crossbar.

    >>> layer = IMCConv1d(3, 8, 5, padding=2, imc_config=IMCConfig(variation="off"))
    >>> layer(torch.rand(2, 3, 40)).shape
    torch.Size([2, 8, 40])
    """

    def __init__(self, *args: Any, imc_config: IMCConfig | None = None, seed_offset: int = 0, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if self.groups != 1:
            raise ValueError(f"IMCConv1d needs groups=1 (a crossbar maps a dense kernel), got groups={self.groups}")
        self._init_imc(imc_config, seed_offset)
        self._tile_plans: dict[int, tuple[Tensor, Tensor, int]] = {}

    def forward(self, x: Tensor) -> Tensor:
        config = self.imc_config
        x = self._quantize_input(x)
        weight = self._effective_weight(0, self.weight)
        if config.output_noise > 0 and config.variation != "off":
            out = self._add_output_noise(self._crossbar_conv(x, weight, None))
            return out if self.bias is None else out + self.bias.view(1, -1, 1)
        return self._crossbar_conv(x, weight, self.bias)

    def _crossbar_conv(self, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        config = self.imc_config
        if config.adc_bits is None:
            return self._conv_forward(x, weight, bias)
        padding: "tuple[int, ...] | str" = self.padding
        if self.padding_mode != "zeros":
            x = F.pad(x, self._reversed_padding_repeated_twice, mode=self.padding_mode)
            padding = (0,)
        padding_2d: "tuple[int, ...] | str" = padding if isinstance(padding, str) else (0, int(padding[0]))
        kernel = (1, int(self.kernel_size[0]))
        plan = self._tile_plans.get(config.adc_rows)
        if plan is None:
            plan = self._tile_plans[config.adc_rows] = conv_tile_plan(self.in_channels, kernel, config.adc_rows)
        rows = self.in_channels * kernel[1]
        out = tiled_conv2d(
            x.unsqueeze(-2), weight.unsqueeze(-2), bias, (1, int(self.stride[0])), padding_2d,
            (1, int(self.dilation[0])), config.adc_rows, config.adc_bits, self._adc_full_scale(x, weight, rows), plan,
        )
        return out.squeeze(-2)

    @classmethod
    def from_digital(cls, module: nn.Conv1d, imc_config: IMCConfig | None = None, seed_offset: int = 0) -> "IMCConv1d":
        """An ``IMCConv1d`` sharing ``module``'s parameters (no copy)."""
        layer = cls(
            module.in_channels, module.out_channels, module.kernel_size, stride=module.stride,
            padding=module.padding, dilation=module.dilation, groups=module.groups,
            bias=module.bias is not None, padding_mode=module.padding_mode, device="meta",
            imc_config=imc_config, seed_offset=seed_offset,
        )
        layer.weight, layer.bias = module.weight, module.bias
        return _adopt(layer, module, nn.Conv1d)

    def to_digital(self) -> nn.Conv1d:
        """The digital layer this one was converted from, or a plain ``nn.Conv1d`` sharing its parameters."""
        original = _original(self)
        if original is not None:
            return original
        padding = self.padding if isinstance(self.padding, str) else (int(self.padding[0]),)
        module = nn.Conv1d(
            self.in_channels, self.out_channels, (int(self.kernel_size[0]),), stride=(int(self.stride[0]),),
            padding=padding, dilation=(int(self.dilation[0]),), groups=self.groups, bias=self.bias is not None,
            padding_mode=self.padding_mode, device="meta",
        )
        module.weight, module.bias = self.weight, self.bias
        module.train(self.training)
        return module

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, {self._imc_repr()}"


_Adopted = TypeVar("_Adopted", bound="IMCLayer")


def _adopt(layer: _Adopted, module: nn.Module, base: type | None = None) -> _Adopted:
    """The end of every ``from_digital``: the input-range buffers on the shared weights' device (a layer
    built on ``meta`` registered them there), ``module``'s train/eval mode, and ``module`` kept (not as a
    submodule: parameters are shared) so that ``to_digital`` gives it back — unless it is exactly
    ``base``, which ``to_digital`` rebuilds."""
    if "input_range" in layer._buffers or "input_range" in layer._parameters:
        layer._add_input_range()
    layer.train(module.training)  # type: ignore[attr-defined]
    if base is None or type(module) is not base:
        layer.__dict__["_digital_original"] = module
    return layer


def _two(values: "tuple[int, ...]") -> tuple[int, int]:
    """A 2-D convolution's ``(height, width)`` pair from torch's ``tuple[int, ...]`` attributes."""
    return int(values[0]), int(values[1])


def _original(layer: nn.Module) -> Any:
    """The digital module a layer was converted from (its parameters brought up to date), or ``None``."""
    original = layer.__dict__.get("_digital_original")
    if original is not None:
        for name, param in layer._parameters.items():  # parameters may have been replaced since
            original._parameters[name] = param
        original.train(layer.training)
    return original


def same_padding(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """TensorFlow "SAME" padding of one dimension (before, after), as timm's ``Conv2dSame`` pads.

    >>> same_padding(32, 3, 2, 1), same_padding(31, 3, 1, 1), same_padding(32, 1, 1, 1)
    ((0, 1), (1, 1), (0, 0))
    """
    total = max((-(-size // stride) - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


class IMCConv2dSame(nn.Conv2d, IMCLayer):
    """A crossbar ``Conv2d`` with TensorFlow-"SAME" padding computed from each input's size (timm's
    ``Conv2dSame``): the input is padded (before, after) per dimension, then convolved unpadded."""

    def __init__(self, *args: Any, imc_config: IMCConfig | None = None, seed_offset: int = 0, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._init_imc(imc_config, seed_offset)
        self._tile_plans: dict[int, tuple[Tensor, Tensor, int]] = {}

    _crossbar_conv = IMCConv2d._crossbar_conv  # the same tiled/ADC path as IMCConv2d

    def forward(self, x: Tensor) -> Tensor:
        (kh, kw), (sh, sw), (dh, dw) = self.kernel_size, self.stride, self.dilation
        top, bottom = same_padding(int(x.shape[-2]), kh, sh, dh)
        left, right = same_padding(int(x.shape[-1]), kw, sw, dw)
        x = F.pad(x, (left, right, top, bottom))
        return IMCConv2d.forward(self, x)  # type: ignore[arg-type]

    @classmethod
    def from_digital(cls, module: nn.Conv2d, imc_config: IMCConfig | None = None, seed_offset: int = 0) -> "IMCConv2dSame":
        """An ``IMCConv2dSame`` sharing ``module``'s parameters; ``to_digital`` gives ``module`` back."""
        layer = cls(
            module.in_channels, module.out_channels, module.kernel_size, stride=module.stride, padding=0,
            dilation=module.dilation, groups=1, bias=module.bias is not None, device="meta",
            imc_config=imc_config, seed_offset=seed_offset,
        )
        layer.weight, layer.bias = module.weight, module.bias
        return _adopt(layer, module)

    def to_digital(self) -> nn.Module:
        """The digital layer this one was converted from."""
        return _original(self)  # type: ignore[return-value]

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, padding=SAME, {self._imc_repr()}"


class IMCTransposedLinear(IMCLayer, nn.Module):  # IMCLayer shares no name with nn.Module: order is free
    """A crossbar linear layer whose weight is stored ``(in_features, out_features)``: Hugging Face's
    ``Conv1D`` (GPT-2's attention and MLP projections), ``y = x @ W + b``. The state-dict keys and the
    parameters are the original layer's; ``to_digital`` gives the original module back.
    """

    def __init__(self, weight: nn.Parameter, bias: nn.Parameter | None, imc_config: IMCConfig | None = None,
                 seed_offset: int = 0):
        super().__init__()
        self.weight = weight
        self.bias = bias
        self.in_features, self.out_features = int(weight.shape[0]), int(weight.shape[1])
        self._init_imc(imc_config, seed_offset)

    def forward(self, x: Tensor) -> Tensor:
        x = self._quantize_input(x)
        # the crossbar holds W^T's columns as its outputs: scale per output channel = per column of W
        weight = self._effective_weight(0, self.weight.t())
        return _crossbar_linear(self, x, weight, self.bias)

    @classmethod
    def from_digital(cls, module: nn.Module, imc_config: IMCConfig | None = None, seed_offset: int = 0) -> "IMCTransposedLinear":
        """Wrap a ``Conv1D``-style module (``weight`` of shape ``(in, out)``, ``bias`` of ``(out,)``)."""
        weight = module.weight
        if not isinstance(weight, nn.Parameter):
            raise TypeError(f"{type(module).__name__}.weight is a {type(weight).__name__}, not a Parameter")
        return _adopt(cls(weight, getattr(module, "bias", None), imc_config, seed_offset), module)

    def to_digital(self) -> nn.Module:
        """The digital module this one was converted from (parameters shared)."""
        return _original(self)  # type: ignore[return-value]

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, transposed weight, {self._imc_repr()}"


class IMCLinear(nn.Linear, IMCLayer):
    """``nn.Linear`` mapped onto crossbars (rows = ``in_features``).

    >>> layer = IMCLinear(16, 4, imc_config=IMCConfig(variation="off"))
    >>> layer(torch.rand(3, 16)).shape
    torch.Size([3, 4])
    """

    def __init__(self, *args: Any, imc_config: IMCConfig | None = None, seed_offset: int = 0, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._init_imc(imc_config, seed_offset)

    def forward(self, x: Tensor) -> Tensor:
        config = self.imc_config
        x = self._quantize_input(x)
        weight = self._effective_weight(0, self.weight)
        return _crossbar_linear(self, x, weight, self.bias)

    @classmethod
    def from_digital(cls, module: nn.Linear, imc_config: IMCConfig | None = None, seed_offset: int = 0) -> "IMCLinear":
        """An ``IMCLinear`` sharing ``module``'s parameters (no copy)."""
        layer = cls(
            module.in_features, module.out_features, bias=module.bias is not None, device="meta",
            imc_config=imc_config, seed_offset=seed_offset,
        )
        layer.weight, layer.bias = module.weight, module.bias
        return _adopt(layer, module, nn.Linear)

    def to_digital(self) -> nn.Linear:
        """The digital layer this one was converted from, or a plain ``nn.Linear`` sharing its parameters."""
        original = _original(self)
        if original is not None:
            return original
        module = nn.Linear(self.in_features, self.out_features, bias=self.bias is not None, device="meta")
        module.weight, module.bias = self.weight, self.bias
        module.train(self.training)
        return module

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, {self._imc_repr()}"


class IMCMultiheadAttention(nn.MultiheadAttention, IMCLayer):
    """``nn.MultiheadAttention`` whose input and output projections are crossbar layers.

    The q/k/v and output projection weights are quantized and perturbed like an ``IMCLinear``'s, and
    the query/key/value inputs are quantized; the attention products themselves (activation ×
    activation) are not weight-stationary and stay digital. ADC emulation is not applied inside the
    fused attention kernel: with ``adc_bits`` set, the projections read out ideally (a warning says so
    at conversion).
    """

    def __init__(self, *args: Any, imc_config: IMCConfig | None = None, seed_offset: int = 0, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._init_imc(imc_config, seed_offset)

    @classmethod
    def from_digital(
        cls, module: nn.MultiheadAttention, imc_config: IMCConfig | None = None, seed_offset: int = 0
    ) -> "IMCMultiheadAttention":
        """An ``IMCMultiheadAttention`` sharing ``module``'s parameters and submodules."""
        layer = cls.__new__(cls)
        layer.__dict__.update(module.__dict__)
        layer._parameters = dict(module._parameters)
        layer._modules = dict(module._modules)
        layer._buffers = dict(module._buffers)
        layer._init_imc(imc_config, seed_offset)
        return layer

    def to_digital(self) -> nn.MultiheadAttention:
        """A plain ``nn.MultiheadAttention`` sharing this layer's parameters."""
        module = nn.MultiheadAttention.__new__(nn.MultiheadAttention)
        module.__dict__.update({k: v for k, v in self.__dict__.items() if k not in self.IMC_ATTRIBUTES})
        module._parameters = {k: v for k, v in self._parameters.items() if k not in _RANGE_NAMES}
        module._modules = dict(self._modules)
        module._buffers = {k: v for k, v in self._buffers.items() if k not in _RANGE_NAMES}
        return module

    def forward(  # type: ignore[override]
        self,
        query: Tensor,
        key: Tensor,
        value: Tensor,
        key_padding_mask: Tensor | None = None,
        need_weights: bool = True,
        attn_mask: Tensor | None = None,
        average_attn_weights: bool = True,
        is_causal: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        same_kv = key is value
        same_qk = query is key
        query = self._quantize_input(query)
        key = query if same_qk else self._quantize_input(key)
        value = key if same_kv else self._quantize_input(value)
        batched = query.dim() == 3
        if self.batch_first and batched:
            query, key, value = (t.transpose(1, 0) for t in (query, key, value))
        out_weight = self._effective_weight(3, self.out_proj.weight)
        if self._qkv_same_embed_dim:
            in_proj = self._effective_weight(0, self.in_proj_weight)
            separate: dict[str, Any] = {}
        else:
            in_proj = None
            separate = dict(
                use_separate_proj_weight=True,
                q_proj_weight=self._effective_weight(0, self.q_proj_weight),
                k_proj_weight=self._effective_weight(1, self.k_proj_weight),
                v_proj_weight=self._effective_weight(2, self.v_proj_weight),
            )
        attn_output, attn_weights = F.multi_head_attention_forward(
            query, key, value, self.embed_dim, self.num_heads, in_proj, self.in_proj_bias,
            self.bias_k, self.bias_v, self.add_zero_attn, self.dropout, out_weight, self.out_proj.bias,
            training=self.training, key_padding_mask=key_padding_mask, need_weights=need_weights,
            attn_mask=attn_mask, average_attn_weights=average_attn_weights, is_causal=is_causal, **separate,
        )
        if self.batch_first and batched:
            attn_output = attn_output.transpose(1, 0)
        return attn_output, attn_weights

