"""``IMCConfig``: every non-ideality of a crossbar layer in one validated dataclass."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Literal, Union

from ..devices import Device, get_device
from .quantization import FixedPoint, check_fixed_point

__all__ = [
    "IMCConfig", "VARIATION_MODES", "VARIATION_MODELS", "ADC_RANGES", "WEIGHT_SCALINGS", "INPUT_SCALINGS", "INPUT_CLIPPINGS",
    "WEIGHT_MAPPINGS", "conversion_config",
]

VARIATION_MODES = ("off", "train", "fixed")
VARIATION_MODELS = ("bit_sliced", "relative")
WEIGHT_MAPPINGS = ("offset_binary", "differential")
ADC_RANGES = ("dynamic", "worst_case")
WEIGHT_SCALINGS = ("absolute", "layer", "channel")
INPUT_SCALINGS = ("absolute", "calibrated", "dynamic")
INPUT_CLIPPINGS = ("max", "mse")
#: Sub-array rows/columns the chip model accepts (``ChipConfig.subarray_rows``), cells.
MIN_ARRAY_SIZE, MAX_ARRAY_SIZE = 8, 2048

AdcRange = Union[Literal["dynamic", "worst_case"], float]


@dataclass(frozen=True)
class IMCConfig:
    """Configuration of a noise-aware crossbar layer (``IMCConv2d``, ``IMCLinear``, ...).

    Attributes:
        weight_int_bits: Integer bits of the weights, sign included (bits).
        weight_frac_bits: Fraction bits of the weights (bits).
        input_int_bits: Integer bits of the layer input, i.e. the previous layer's activation (bits).
        input_frac_bits: Fraction bits of the layer input (bits).
        input_signed: Quantize the input as signed (e.g. a network's first layer, transformers) or
            unsigned (post-ReLU activations, the default), or ``"auto"``: decided per layer from the
            data — by :func:`~lightning_imc.layers.calibrate_input_ranges` (signed iff any calibration
            input is negative) or by the first training-mode batch; until then the layer quantizes
            as signed (never clips negative data).
        quantize_weights: Quantize weights to the fixed-point grid (needed by ``bit_sliced`` noise).
        quantize_inputs: Quantize inputs (the crossbar's bit-serial word-line drive).
        device: Device name from :data:`lightning_imc.devices.DEVICE_LIBRARY`, or a ``Device``.
        variation: ``off`` (quantization only), ``train`` (a new variation sample at every forward:
            noise-aware training) or ``fixed`` (one sample per programmed chip, redrawn only by
            ``resample()``: Monte-Carlo chip evaluation).
        variation_model: ``bit_sliced`` (per-cell Gaussian in level units, recombined with each
            slice's significance; see :mod:`lightning_imc.layers.variation`) or ``relative``
            (Gaussian with std ``relative_sigma * max|w|``).
        sigma_levels: Per-cell variation std in level units; ``None`` uses the device's own value.
        relative_sigma: Std relative to the layer's ``max|w|`` for the ``relative`` model.
        array_rows: Rows of one crossbar sub-array (word lines); the unrolled weight matrix
            (K²·C_in rows) is split into tiles of this many rows for the ADC.
        array_cols: Columns of one sub-array (bit lines); used by the hardware mapping.
        adc_bits: ADC resolution (bits); ``None`` is an ideal (infinite-precision) readout.
        adc_range: Full scale of the ADC: ``dynamic`` (the largest |partial sum| of the current
            forward, like an auto-ranging converter), ``worst_case`` (the largest partial sum the
            formats allow: ``rows · max|input| · max|weight|``; never clips), or a positive number
            (a fixed full scale in the layer's output units).
        weight_scaling: How weights map onto the format's levels. ``absolute``: the fixed-point
            format's own range (NACIM's semantics; weights outside it clip). ``layer``: a per-layer
            digital scale maps ``max|w|`` onto the largest code (AIHWKit's weight remapping), so only
            the format's total bits matter — Q1.3, Q2.2 and Q3.1 program the same 16 levels. ``channel``:
            one such scale per output channel (crossbar column). The scale is applied digitally to
            the column outputs (one multiply per output, as the shift-and-add already does).
        input_scaling: How inputs map onto the DAC's codes. ``absolute``: the format's own range
            (inputs outside it clip). ``calibrated``: a per-layer input range ``r`` (the buffer
            ``input_range``) maps ``[0, r]`` (unsigned) or ``[-r, r]`` (signed) onto the format's codes;
            ``r`` follows the batches' ``max|x|`` as an exponential moving average in training mode
            (momentum ``input_range_momentum``), is frozen in eval mode, and can be set from data with
            :func:`~lightning_imc.layers.calibrate_input_ranges`.
            ``dynamic``: as ``calibrated``, but every crossbar read (one input vector: a token's features
            for a linear layer, one pixel's channels for a 1×1 convolution) gets its own digital scale
            from that vector's ``max|x|`` (block floating point: the periphery finds the vector's peak,
            drives ``x / scale`` as codes and multiplies the column outputs by ``scale``). The reads of a
            K×K convolution overlap (each pixel is read by several patches), so K×K convolutions keep
            the calibrated per-layer range. The max-finder is not part of the chip model's costs.
        input_zero_point: Map the input range ``[lo, hi]`` (``lo <= 0 <= hi``; calibrated, or per read
            with ``dynamic``) onto the unsigned codes ``0 .. 2**bits - 1`` with an integer zero point
            (asymmetric quantization, as integer inference does): data that is mostly of one sign but
            not all (SiLU, hardswish, GELU outputs) gets twice the resolution of a signed format. The
            word lines are driven with unsigned codes; the offset's contribution, ``zero_point · scale ·
            Σ_rows w`` per column, is one digital subtraction per output (like a bias). 0 is a code, so
            zero padding stays exact. ``input_signed`` is then not used. Needs scaled inputs
            (``input_scaling`` ``calibrated`` or ``dynamic``). With ``adc_bits``, the ADC converts the
            partial sums of the zero-centred inputs (``(code - zero_point) · scale``): the offset is
            taken as removed before conversion, as a reference column would (not costed by the chip model).
        input_range_momentum: Momentum of the ``calibrated`` input range's moving average, in (0, 1].
        input_range_learning: Learn the ``calibrated`` input range by gradient descent instead of
            following a moving average (``input_range``, and ``input_low`` with a zero point, become
            parameters): LSQ's gradient (Esser et al., "Learned step size quantization", ICLR 2020) — for
            each input inside the range the rounding residual ``round(x/s) − x/s``, for each clipped one
            its clip code — so the range settles where the loss, not the largest input, wants it (PACT's
            clipping, AIHWKit's ``learn_input_range``). Initialised by
            :func:`~lightning_imc.layers.calibrate_input_ranges` or the first training batch.
        input_clipping: Which statistic of a batch the ``calibrated`` range follows. ``max``: ``max|x|``
            (never clips the batch). ``mse``: the range that minimises the batch's mean squared
            quantization error for this layer's format (:func:`~lightning_imc.layers.quantization.mse_clip_range`):
            a 1- or 2-bit input clips the activations' tail so that the rest is not rounded to zero;
            an 8-bit input keeps (nearly) the whole range. Either is a fixed digital scale per layer
            on the chip; the format's bits still set the resolution.
        seed: Seed of the variation samples; ``None`` draws from torch's global generator.
        rows_in_parallel: Word lines read at once (partial-parallel read, NeuroSim V1.4
            ``numRowParallel``); ``None`` = all ``array_rows``. Each ADC conversion then sees the
            partial sum of ``adc_rows = min(array_rows, rows_in_parallel)`` consecutive rows.
        weight_mapping: How a signed weight code is stored: ``offset_binary`` (one column,
            ``u = n + 2**(b-1)``, offset removed digitally; NeuroSim's scheme) or ``differential``
            (a G+/G− column pair: the magnitude ``|n|`` on ``b - 1`` bits in the column of its sign,
            the other at level 0; read as G+ − G−). Differential pairs read two cells per slice,
            so per-cell variation adds ``√2×`` over ``b - 1`` bits (see :mod:`~lightning_imc.layers.variation`).
        read_noise_levels: Std of the read noise of one cell, in level units, drawn anew at every
            forward (every read) — also on a fixed, programmed chip. Recombined over the slices like
            the programming variation (same equation, :func:`~lightning_imc.layers.weight_noise_std_levels`).
        drift_time_s: Time since programming (s) at which the chip is read; ``None`` = no drift.
            Each weight's conductances decay as ``G(t) = G0 · (t / drift_t0_s)**-ν`` with ``ν`` drawn
            per weight once per chip from the device's ``drift_nu ± drift_nu_std`` (or ``drift_nu``
            here). Offset-binary's reference column drifts alike, so the signed weight scales too.
        drift_t0_s: Reference time of the drift law (s), when the conductances were verified (AIHWKit: 20 s).
        drift_nu: Drift exponent ν overriding the device's ``drift_nu`` (its spread stays the device's).
        drift_compensation: Global drift compensation (AIHWKit's ``GlobalDriftCompensation``): one
            digital factor per layer, ``Σ|w(t)| / Σ|w(t0)|`` (what a known reference input reads at
            ``t`` versus at ``t0``), divides the outputs. Exact when all cells share one ν.
        stuck_on_prob: Probability that a cell is stuck at its highest level (Gmax), per chip.
        stuck_off_prob: Probability that a cell is stuck at level 0 (Gmin), per chip.
        output_noise: Std of Gaussian noise added to each crossbar output at every forward, relative
            to the largest |output| of that forward (the readout's full scale); bias excluded.

    ``variation="off"`` turns off every random non-ideality (programming variation, read noise,
    stuck-at faults, output noise and drift): quantization only. IR drop along the word and bit lines
    is not modelled (it depends on the input pattern per read: a cheap first-order model would scale
    each column by ``1 - k·(active rows)``, which per-layer weight remapping and drift compensation
    would largely absorb; it is left out rather than guessed).

    Weight formats must have at least one positive and one negative non-zero level: a signed format
    needs at least 2 bits (Q0.1 is {-0.5, 0}, Q1.0 is {-1, 0}); so must a signed input format.
    """

    weight_int_bits: int = 1
    weight_frac_bits: int = 7
    input_int_bits: int = 3
    input_frac_bits: int = 4
    input_signed: Union[bool, Literal["auto"]] = False
    quantize_weights: bool = True
    quantize_inputs: bool = True
    device: Union[str, Device] = "rram_nacim"
    variation: str = "train"
    variation_model: str = "bit_sliced"
    sigma_levels: float | None = None
    relative_sigma: float = 0.1
    array_rows: int = 128
    array_cols: int = 128
    adc_bits: int | None = None
    adc_range: AdcRange = "dynamic"
    weight_scaling: str = "absolute"
    input_scaling: str = "absolute"
    input_zero_point: bool = False
    input_range_momentum: float = 0.1
    input_range_learning: bool = False
    input_clipping: str = "max"
    seed: int | None = None
    rows_in_parallel: int | None = None
    weight_mapping: str = "offset_binary"
    read_noise_levels: float = 0.0
    drift_time_s: float | None = None
    drift_t0_s: float = 20.0
    drift_nu: float | None = None
    drift_compensation: bool = True
    stuck_on_prob: float = 0.0
    stuck_off_prob: float = 0.0
    output_noise: float = 0.0

    def __post_init__(self) -> None:
        check_fixed_point(
            self.weight_int_bits, self.weight_frac_bits, "IMCConfig.weight_int_bits", "IMCConfig.weight_frac_bits"
        )
        check_fixed_point(
            self.input_int_bits, self.input_frac_bits, "IMCConfig.input_int_bits", "IMCConfig.input_frac_bits"
        )
        if self.weight_int_bits + self.weight_frac_bits < 2:
            raise ValueError(
                f"IMCConfig.weight_int_bits + weight_frac_bits = {self.weight_int_bits + self.weight_frac_bits} bit; "
                "a signed weight format needs at least 2 bits (one positive and one negative non-zero level)"
            )
        if self.input_signed is not False and self.input_int_bits + self.input_frac_bits < 2:
            raise ValueError(
                f"IMCConfig.input_int_bits + input_frac_bits = {self.input_int_bits + self.input_frac_bits} bit with "
                f"input_signed={self.input_signed!r}; a signed input format needs at least 2 bits"
            )
        if not isinstance(self.input_signed, bool) and self.input_signed != "auto":
            raise ValueError(f"IMCConfig.input_signed={self.input_signed!r}; must be true, false or 'auto'")
        for field in ("quantize_weights", "quantize_inputs", "drift_compensation", "input_zero_point",
                      "input_range_learning"):
            if not isinstance(getattr(self, field), bool):
                raise ValueError(f"IMCConfig.{field}={getattr(self, field)!r}; must be true or false")
        try:
            get_device(self.device)
        except ValueError as err:
            raise ValueError(f"IMCConfig.{err}") from None
        _check_choice("variation", self.variation, VARIATION_MODES)
        _check_choice("variation_model", self.variation_model, VARIATION_MODELS)
        if self.sigma_levels is not None:
            _check_non_negative("sigma_levels", self.sigma_levels)
        _check_non_negative("relative_sigma", self.relative_sigma)
        _check_int("array_rows", self.array_rows, MIN_ARRAY_SIZE, MAX_ARRAY_SIZE)
        _check_int("array_cols", self.array_cols, MIN_ARRAY_SIZE, MAX_ARRAY_SIZE)
        if self.rows_in_parallel is not None:
            _check_int("rows_in_parallel", self.rows_in_parallel, 1, self.array_rows, none_ok=True)
        if self.adc_bits is not None:
            _check_int("adc_bits", self.adc_bits, 1, 16, none_ok=True)
        if isinstance(self.adc_range, str):
            _check_choice("adc_range", self.adc_range, ADC_RANGES + ("<positive number>",))
        elif isinstance(self.adc_range, bool) or not isinstance(self.adc_range, (int, float)) or not (
            math.isfinite(self.adc_range) and self.adc_range > 0
        ):
            raise ValueError(
                f"IMCConfig.adc_range={self.adc_range!r}; allowed: 'dynamic', 'worst_case' or a number > 0"
            )
        _check_choice("weight_scaling", self.weight_scaling, WEIGHT_SCALINGS)
        _check_choice("input_scaling", self.input_scaling, INPUT_SCALINGS)
        _check_choice("input_clipping", self.input_clipping, INPUT_CLIPPINGS)
        if self.input_zero_point and self.input_scaling == "absolute":
            raise ValueError(
                "IMCConfig.input_zero_point=True needs input_scaling='calibrated' or 'dynamic' (a zero point "
                "shifts a scaled range; the absolute formats have none)"
            )
        if self.input_range_learning and self.input_scaling != "calibrated":
            raise ValueError(
                f"IMCConfig.input_range_learning=True needs input_scaling='calibrated' (one range per layer "
                f"to learn), got input_scaling={self.input_scaling!r}"
            )
        if self.input_zero_point and self.input_clipping != "max":
            raise ValueError(
                f"IMCConfig.input_clipping={self.input_clipping!r} with input_zero_point=True: the least-error "
                "clipping is defined for symmetric ranges only; use input_clipping='max' or input_zero_point=False"
            )
        if self.input_scaling == "dynamic" and self.input_clipping != "max":
            raise ValueError(
                f"IMCConfig.input_clipping={self.input_clipping!r} with input_scaling='dynamic': a read's own "
                "range is its max|x|; use input_clipping='max'"
            )
        if isinstance(self.input_range_momentum, bool) or not isinstance(self.input_range_momentum, (int, float)) or not (
            0 < self.input_range_momentum <= 1
        ):
            raise ValueError(f"IMCConfig.input_range_momentum={self.input_range_momentum!r}; must be a number in (0, 1]")
        _check_choice("weight_mapping", self.weight_mapping, WEIGHT_MAPPINGS)
        for field in ("read_noise_levels", "output_noise", "drift_t0_s"):
            _check_non_negative(field, getattr(self, field))
        if self.drift_t0_s <= 0:
            raise ValueError(f"IMCConfig.drift_t0_s={self.drift_t0_s!r}; must be > 0 s")
        if self.drift_time_s is not None:
            _check_non_negative("drift_time_s", self.drift_time_s)
            if self.drift_time_s <= 0:
                raise ValueError(f"IMCConfig.drift_time_s={self.drift_time_s!r}; must be > 0 s (or None: no drift)")
        if self.drift_nu is not None:
            _check_non_negative("drift_nu", self.drift_nu)
        for field in ("stuck_on_prob", "stuck_off_prob"):
            _check_non_negative(field, getattr(self, field))
            if getattr(self, field) > 1:
                raise ValueError(f"IMCConfig.{field}={getattr(self, field)!r}; must be a probability in [0, 1]")
        if self.stuck_on_prob + self.stuck_off_prob > 1:
            raise ValueError(
                f"IMCConfig.stuck_on_prob + stuck_off_prob = {self.stuck_on_prob + self.stuck_off_prob}; must be <= 1"
            )
        if (self.stuck_on_prob > 0 or self.stuck_off_prob > 0) and not self.quantize_weights:
            raise ValueError("IMCConfig.stuck_on_prob/stuck_off_prob need quantize_weights=True (faults act on cells)")
        if self.seed is not None:
            _check_int("seed", self.seed, 0, 2**63 - 1, none_ok=True)
        if self.variation != "off" and self.variation_model == "bit_sliced" and not self.quantize_weights:
            raise ValueError(
                "IMCConfig.quantize_weights=False with variation_model='bit_sliced': bit slicing needs "
                "fixed-point weights; quantize them or use variation_model='relative'"
            )

    # -- derived -------------------------------------------------------------------------------
    @property
    def weight_format(self) -> FixedPoint:
        """Signed fixed-point format of the weights."""
        return FixedPoint(self.weight_int_bits, self.weight_frac_bits, signed=True)

    @property
    def input_format(self) -> FixedPoint:
        """Fixed-point format of the layer input (``"auto"`` not yet decided: signed)."""
        return FixedPoint(self.input_int_bits, self.input_frac_bits, signed=self.input_signed is not False)

    @property
    def effective_drift_nu(self) -> float:
        """Mean drift exponent ν (``drift_nu`` or the device's)."""
        return self.device_spec.drift_nu if self.drift_nu is None else float(self.drift_nu)

    @property
    def adc_rows(self) -> int:
        """Rows whose partial sum one ADC conversion sees: ``min(array_rows, rows_in_parallel)``."""
        return self.array_rows if self.rows_in_parallel is None else min(self.array_rows, self.rows_in_parallel)

    @property
    def device_spec(self) -> Device:
        """The resolved :class:`~lightning_imc.devices.Device`."""
        return get_device(self.device)

    @property
    def effective_sigma_levels(self) -> float:
        """Per-cell variation std in level units (``sigma_levels`` or the device's)."""
        return self.device_spec.sigma_levels if self.sigma_levels is None else float(self.sigma_levels)

    def replace(self, **changes: Any) -> "IMCConfig":
        """A validated copy with ``changes`` applied; unknown keys raise ``ValueError`` naming them."""
        unknown = sorted(set(changes) - set(field_names()))
        if unknown:
            raise ValueError(f"unknown IMCConfig field(s) {unknown}; allowed: {field_names()}")
        return dataclasses.replace(self, **changes)


def conversion_config(**changes: Any) -> IMCConfig:
    """The configuration :func:`~lightning_imc.layers.convert_to_imc` uses by default.

    8-bit weights mapped per output channel (``weight_scaling="channel"``: one digital scale per
    crossbar column, AIHWKit's channel-wise remapping); 8-bit unsigned input codes with a zero point
    (``input_zero_point``: one digital offset per column, so SiLU/GELU/hardswish outputs — one-sided
    but not all — use all 256 codes) on each crossbar read's own range ``[lo, hi]``
    (``input_scaling="dynamic"``: a token of a linear layer, one pixel's channels of a 1×1
    convolution; AIHWKit's default ``noise_management=ABS_MAX`` scales each read alike). K×K
    convolutions, whose reads overlap, use the per-layer range that
    :func:`~lightning_imc.layers.calibrate_input_ranges` measures on a few batches after converting.
    Device variation is on in training mode. ``input_scaling="calibrated"`` gives every layer one
    calibrated range (no max-finder per read); ``input_zero_point=False`` a symmetric range whose sign
    is decided from the data (``input_signed="auto"``).

    >>> c = conversion_config(variation="off")
    >>> (c.weight_format.total_bits, c.input_int_bits + c.input_frac_bits, c.weight_scaling, c.input_scaling,
    ...  c.input_zero_point)
    (8, 8, 'channel', 'dynamic', True)
    """
    base = IMCConfig(
        weight_int_bits=1, weight_frac_bits=7, input_int_bits=1, input_frac_bits=7, input_signed="auto",
        weight_scaling="channel", input_scaling="dynamic", input_zero_point=True,
    )
    return base.replace(**changes)


def field_names() -> list[str]:
    """Names of the fields of :class:`IMCConfig`."""
    return [f.name for f in dataclasses.fields(IMCConfig)]


def _check_choice(field: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"IMCConfig.{field}={value!r}; allowed: {list(allowed)}")


def _check_int(field: str, value: object, low: int, high: int, none_ok: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not (low <= value <= high):
        extra = " or None" if none_ok else ""
        raise ValueError(f"IMCConfig.{field}={value!r}; must be an integer in [{low}, {high}]{extra}")


def _check_non_negative(field: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value >= 0):
        raise ValueError(f"IMCConfig.{field}={value!r}; must be a finite number >= 0")
