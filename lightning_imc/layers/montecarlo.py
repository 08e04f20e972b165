"""Monte-Carlo chips: evaluate a model on independently programmed chips (variation fixed per chip)."""

from __future__ import annotations

import contextlib
import math
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
    "student_t_cdf",
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

    @classmethod
    def from_values(cls, values: "list[float] | tuple[float, ...]") -> "MonteCarloResult":
        """Summarise per-chip values.

        >>> r = MonteCarloResult.from_values([0.9, 0.8, 0.85, 0.95])
        >>> round(r.mean, 4), round(r.std, 4), round(r.ci95_low, 4), round(r.ci95_high, 4)
        (0.875, 0.0645, 0.7723, 0.9777)
        """
        values = tuple(float(v) for v in values)
        if not values:
            raise ValueError("MonteCarloResult needs at least one value")
        mean = statistics.fmean(values)
        if len(values) == 1:
            return cls(mean, 0.0, mean, mean, values)
        std = statistics.stdev(values)
        half = student_t_quantile(0.975, len(values) - 1) * std / math.sqrt(len(values))
        return cls(mean, std, mean - half, mean + half, values)


def student_t_cdf(t: float, df: int) -> float:
    """CDF of Student's t with integer ``df`` (closed-form series, Abramowitz & Stegun 26.7.3-4)."""
    theta = math.atan(abs(t) / math.sqrt(df))
    c2, s = math.cos(theta) ** 2, math.sin(theta)
    if df % 2:
        term, total = math.cos(theta), 0.0
        for k in range(1, (df - 1) // 2 + 1):
            total += term
            term *= c2 * (2 * k) / (2 * k + 1)
        inside = 2 / math.pi * (theta + s * total) if df > 1 else 2 / math.pi * theta
    else:
        term, total = 1.0, 0.0
        for k in range(1, df // 2 + 1):
            total += term
            term *= c2 * (2 * k - 1) / (2 * k)
        inside = s * total
    return 0.5 + math.copysign(inside / 2, t)


def student_t_quantile(p: float, df: int) -> float:
    """Quantile of Student's t with integer ``df`` (bisection on the exact CDF).

    >>> round(student_t_quantile(0.975, 9), 4), round(student_t_quantile(0.975, 1), 3)
    (2.2622, 12.706)
    """
    if not 0 < p < 1 or isinstance(df, bool) or not isinstance(df, int) or df < 1:
        raise ValueError(f"student_t_quantile needs 0 < p < 1 and an integer df >= 1, got p={p}, df={df}")
    low, high = -1.0, 1.0
    while student_t_cdf(low, df) > p:
        low *= 2
    while student_t_cdf(high, df) < p:
        high *= 2
    for _ in range(200):
        mid = (low + high) / 2
        if student_t_cdf(mid, df) < p:
            low = mid
        else:
            high = mid
        if high - low < 1e-12 * max(1.0, abs(mid)):
            break
    return (low + high) / 2


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
    """Program a new chip: every IMC layer draws a new fixed variation sample at its next forward."""
    for _, layer in imc_layers(model):
        layer.resample(seed)


def evaluate_on_chips(
    model: nn.Module,
    metric: Callable[[nn.Module], float],
    n_chips: int = 10,
    seed: int | None = None,
    bn_batches: Sequence[object] | None = None,
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
    """
    from .calibration import batchnorm_state, recalibrate_batchnorm

    if isinstance(n_chips, bool) or not isinstance(n_chips, int) or n_chips < 1:
        raise ValueError(f"n_chips={n_chips!r}; must be an integer >= 1")
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
                value = float(metric(model))
                if not math.isfinite(value):
                    raise ValueError(f"evaluate_on_chips: the metric returned {value} on chip {chip}; it must be finite")
                values.append(value)
            resample_chip(model, None)
    finally:
        if saved:
            modules = dict(model.named_modules())
            for name, state in saved.items():
                modules[name].load_state_dict(state)
    return MonteCarloResult.from_values(values)


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
