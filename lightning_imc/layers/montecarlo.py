"""Monte-Carlo chips: evaluate a model on independently programmed chips (variation fixed per chip)."""

from __future__ import annotations

import contextlib
import math
import numbers
import statistics
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import torch
from torch import Tensor, nn

from .convert import imc_layers

__all__ = [
    "MonteCarloResult",
    "evaluate_on_chips",
    "set_variation",
    "variation_mode",
    "resample_chip",
    "classification_accuracy",
    "student_t_quantile",
    "model_logits",
]


@dataclass(frozen=True)
class MonteCarloResult:
    """A metric over ``n_chips`` sampled chips.

    Attributes:
        mean: Mean of the metric over chips.
        std: Sample standard deviation over chips (0 for one chip).
        ci95_low: Lower end of the 95% confidence interval of the mean (Student's t).
        ci95_high: Upper end of that interval.
        values: The metric on each chip, in order.
    """

    mean: float
    std: float
    ci95_low: float
    ci95_high: float
    values: tuple[float, ...]

    @property
    def n_chips(self) -> int:
        """Number of chips evaluated."""
        return len(self.values)

    #: How the interval is computed (named in reports).
    CI_METHOD = "95% Student-t interval of the mean over chips"

    @classmethod
    def from_values(cls, values: "list[float] | tuple[float, ...]",
                    value_range: tuple[float, float] | None = None) -> "MonteCarloResult":
        """Summarise per-chip values.

        Args:
            values: The metric on each chip.
            value_range: ``(low, high)`` the metric cannot leave (e.g. ``(0, 1)`` for an accuracy):
                the interval is clipped to it.

        >>> r = MonteCarloResult.from_values([0.9, 0.8, 0.85, 0.95])
        >>> round(r.mean, 4), round(r.std, 4), round(r.ci95_low, 4), round(r.ci95_high, 4)
        (0.875, 0.0645, 0.7723, 0.9777)
        >>> MonteCarloResult.from_values([0.1, 0.9], value_range=(0.0, 1.0)).ci95_low
        0.0
        """
        values = tuple(_metric_number(v, i) for i, v in enumerate(values))
        if not values:
            raise ValueError("MonteCarloResult needs at least one value")
        if value_range is not None:
            check_value_range(value_range)
        bad = [i for i, v in enumerate(values) if not math.isfinite(v)]
        if bad:
            raise ValueError(f"MonteCarloResult: the metric is {values[bad[0]]} on chip {bad[0]} ({len(bad)} of "
                             f"{len(values)} chips not finite); a metric must return a finite number")
        mean = statistics.fmean(values)
        if len(values) == 1:
            return cls(mean, 0.0, mean, mean, values)
        std = statistics.stdev(values)
        half = student_t_quantile(0.975, len(values) - 1) * std / math.sqrt(len(values))
        low, high = mean - half, mean + half
        if value_range is not None:
            low, high = max(value_range[0], low), min(value_range[1], high)
        return cls(mean, std, low, high, values)


def _metric_number(value: object, chip: int) -> float:
    """A chip's metric as a float: a real number or a one-element tensor (not a string, not a bool)."""
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise ValueError(f"the metric returned a tensor of shape {tuple(value.shape)} on chip {chip}; "
                             "a metric must return one number")
        return float(value.detach().reshape(()).item())
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"the metric returned {type(value).__name__} {value!r} on chip {chip}; a metric must "
                        "return a number (float, int or a one-element tensor)")
    return float(value)


def check_value_range(value_range: object) -> tuple[float, float]:
    """``value_range`` as ``(low, high)``: two finite numbers with ``low < high`` (ValueError naming it otherwise)."""
    try:
        low, high = (float(v) for v in value_range)  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        raise ValueError(f"value_range={value_range!r}; must be (low, high), two numbers") from None
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ValueError(f"value_range={value_range!r}; must be (low, high) with finite low < high, e.g. (0, 1) "
                         "for an accuracy")
    return low, high


def check_chip_seed(seed: object) -> int | None:
    """A chip seed: ``None`` or an integer (ValueError naming ``seed`` otherwise)."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise ValueError(f"seed={seed!r}; must be None or an integer")
    return int(seed)


def student_t_quantile(p: float, df: int) -> float:
    """Quantile of Student's t with ``df`` degrees of freedom (SciPy's ``stats.t.ppf``).

    >>> round(student_t_quantile(0.975, 9), 4), round(student_t_quantile(0.975, 1), 3)
    (2.2622, 12.706)
    """
    if not 0 < p < 1 or isinstance(df, bool) or not isinstance(df, int) or df < 1:
        raise ValueError(f"student_t_quantile needs 0 < p < 1 and an integer df >= 1, got p={p}, df={df}")
    from scipy import stats  # local: SciPy loads only when an interval is computed

    return float(stats.t.ppf(p, df))


def set_variation(model: nn.Module, mode: str) -> None:
    """Set the variation mode (``off`` | ``train`` | ``fixed``) of every IMC layer in ``model``."""
    for _, layer in imc_layers(model):
        layer.set_variation(mode)


@contextlib.contextmanager
def variation_mode(model: nn.Module, mode: str) -> Iterator[nn.Module]:
    """Temporarily set every IMC layer's variation mode; the previous modes come back on exit."""
    layers = imc_layers(model)
    previous = [layer.imc_config.variation for _, layer in layers]
    try:
        for _, layer in layers:
            layer.set_variation(mode)
        yield model
    finally:
        for (_, layer), mode_before in zip(layers, previous):
            layer.set_variation(mode_before)


def resample_chip(model: nn.Module, seed: int | None = None) -> None:
    """Program a new chip: every IMC layer draws a new fixed variation sample at its next forward.

    Raises:
        ValueError: ``seed`` is not ``None`` or an integer.
    """
    seed = check_chip_seed(seed)
    for _, layer in imc_layers(model):
        layer.resample(seed)


def evaluate_on_chips(
    model: nn.Module,
    metric: Callable[[nn.Module], float],
    n_chips: int = 10,
    seed: int | None = None,
    bn_batches: Sequence[object] | None = None,
    value_range: tuple[float, float] | None = None,
) -> MonteCarloResult:
    """Evaluate ``metric(model)`` on ``n_chips`` independently sampled chips.

    Each chip fixes one variation sample per layer (``fixed`` mode) for the whole metric evaluation;
    the layers' modes are restored afterwards. With ``seed``, chip ``i`` uses seed ``seed + i`` in
    every layer (combined with the layer's own offset), so results are reproducible.

    Args:
        bn_batches: Unlabelled batches (tensors, or ``(inputs, ...)``) for a per-chip BatchNorm
            re-calibration, a deployment step (:func:`~lightning_imc.layers.recalibrate_batchnorm`):
            on each chip the BatchNorm statistics are measured again through that chip before the
            metric runs; the trained statistics are restored afterwards. ``None``: no re-calibration.
        value_range: ``(low, high)`` the metric cannot leave (e.g. ``(0, 1)`` for an accuracy): the
            interval is clipped to it; finite, ``low < high``.

    Raises:
        ValueError: ``n_chips`` < 1, a ``seed`` that is not an integer, a reversed or non-finite
            ``value_range`` (all before any chip is evaluated), or a non-finite metric.
        TypeError: ``metric`` returned something other than a number (a string, ``None``...).
    """
    from .calibration import batchnorm_state, recalibrate_batchnorm

    if isinstance(n_chips, bool) or not isinstance(n_chips, int) or n_chips < 1:
        raise ValueError(f"n_chips={n_chips!r}; must be an integer >= 1")
    check_chip_seed(seed)
    if value_range is not None:
        check_value_range(value_range)
    if not callable(metric):
        raise TypeError(f"metric must be a callable metric(model) -> number, got {type(metric).__name__}")
    if not imc_layers(model):
        raise ValueError("evaluate_on_chips: the model has no IMC layers (convert it with convert_to_imc first)")
    if bn_batches is not None and len(bn_batches) == 0:
        raise ValueError("evaluate_on_chips: bn_batches is empty; give at least one batch or None")
    saved = batchnorm_state(model) if bn_batches is not None else None
    values = []
    try:
        with variation_mode(model, "fixed"):
            for chip in range(n_chips):
                resample_chip(model, None if seed is None else seed + chip)
                if bn_batches is not None:
                    recalibrate_batchnorm(model, bn_batches)
                values.append(_metric_number(metric(model), chip))
            resample_chip(model, None)
    finally:
        if saved:
            modules = dict(model.named_modules())
            for name, state in saved.items():
                modules[name].load_state_dict(state)
    return MonteCarloResult.from_values(values, value_range)


def model_logits(output: object) -> Tensor:
    """The logits of a model's output: a tensor, a Hugging Face output (``.logits``), a dict with
    ``"logits"``, or the first element of a tuple."""
    if isinstance(output, Tensor):
        return output
    logits = getattr(output, "logits", None)
    if logits is None and isinstance(output, dict):
        logits = output.get("logits")
    if logits is None and isinstance(output, (tuple, list)) and output and isinstance(output[0], Tensor):
        logits = output[0]
    if not isinstance(logits, Tensor):
        raise ValueError(f"cannot find logits in a model output of type {type(output).__name__}")
    return logits


@torch.no_grad()
def classification_accuracy(model: nn.Module, inputs: Tensor, targets: Tensor, batch_size: int = 1024) -> float:
    """Top-1 accuracy of ``model`` on in-memory tensors (eval mode; training mode restored after).

    The model may return logits or a Hugging Face output (its ``.logits`` are used).
    """
    was_training = model.training
    model.eval()
    try:
        correct = 0
        for start in range(0, len(inputs), batch_size):
            logits = model_logits(model(inputs[start : start + batch_size]))
            correct += int((logits.argmax(-1) == targets[start : start + batch_size]).sum())
        return correct / len(inputs)
    finally:
        model.train(was_training)
