"""Deployment steps that need a few unlabelled batches: input-range calibration and per-chip BatchNorm.

* :func:`calibrate_input_ranges` sets every ``calibrated`` IMC layer's input range (the DAC's full
  scale, ``IMCConfig.input_scaling``) to the largest ``|x|`` the layer sees on the given batches.
* :func:`recalibrate_batchnorm` re-estimates every BatchNorm's running mean and variance on the given
  batches *through the current chip* (after ``resample_chip``): a programmed chip's weights differ
  from the trained ones, which shifts the statistics the trained BatchNorm normalises with. Measuring
  them again on the chip from a few unlabelled batches is a cheap deployment step (no labels, no
  gradient, no weight change); :func:`~lightning_imc.layers.evaluate_on_chips` does it per chip when
  given ``bn_batches``. It is reported beside, never mixed into, the uncalibrated figure.
* :func:`reestimate_batchnorm_under_variation` re-estimates the statistics once for a *design*, through
  fresh variation samples (``train`` variation: a new chip at every forward): what rNAS may do after it
  moves trained weights to another format (the noise and resolution changed, the scale did not). It
  changes the design's statistics, so its effect shows in every figure measured afterwards.
"""

from __future__ import annotations

import contextlib
import math
from typing import Iterable, Iterator, Sequence, cast

import torch
from torch import Tensor, nn

from .convert import imc_layers
from .modules import IMCLayer

__all__ = ["calibrate_input_ranges", "recalibrate_batchnorm", "settle_batchnorm", "reestimate_batchnorm_under_variation", "batchnorm_state",
           "BATCHNORM_TYPES"]

BATCHNORM_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def _inputs(batch: object) -> Tensor:
    """The input tensor of a batch given as a tensor or as ``(inputs, targets, ...)``."""
    if isinstance(batch, Tensor):
        return batch
    if isinstance(batch, dict) and isinstance(batch.get("input_ids"), Tensor):
        return batch["input_ids"]
    if isinstance(batch, (tuple, list)) and batch and isinstance(batch[0], Tensor):
        return batch[0]
    raise ValueError(f"a calibration batch must be a tensor or (inputs, ...), got {type(batch).__name__}")


@torch.no_grad()
def calibrate_input_ranges(model: nn.Module, batches: Iterable[object], percentile: float = 100.0,
                           variation: str | None = "off") -> dict[str, float]:
    """Set each ``calibrated`` (or ``dynamic``) IMC layer's input range to the largest ``|x|`` it sees on
    ``batches`` (``percentile=100``; with ``input_clipping="mse"``, to the mean over batches of the
    least-error range for the layer's format), or to the mean over batches of the ``percentile``-th
    percentile of ``|x|`` (e.g. 99.99: a few outliers clip, every other input gets a finer step). Layers
    with ``input_zero_point`` get ``[min(x), max(x)]`` (or the percentiles of ``x`` and ``-x``), widened
    to include 0; the returned range is then the top, ``max(x)``.

    The model runs in eval mode (BatchNorm statistics untouched); layers with ``absolute`` input
    scaling are left as they are. ``variation="off"`` (the default) measures the ranges of the design,
    quantization only, the same for every chip: through a noisy chip (or a new noise draw per forward
    in ``train`` mode) the activations of a model not trained with noise can be several times larger,
    and so would every range. ``variation=None`` keeps each layer's mode (calibrate through the current
    chip); the modes are restored afterwards. Layers with ``input_signed="auto"`` become signed if any input
    they see is negative, else unsigned. Returns ``{layer name: range}`` (input units).

    >>> from lightning_imc.layers import IMCConfig, IMCLinear
    >>> layer = IMCLinear(4, 2, imc_config=IMCConfig(input_scaling="calibrated", input_signed=True, variation="off"))
    >>> calibrate_input_ranges(layer, [torch.tensor([[0.5, -3.0, 1.0, 2.0]])])
    {'': 3.0}
    """
    layers = [(name, layer) for name, layer in imc_layers(model) if layer.imc_config.input_scaling != "absolute"]
    if not layers:
        raise ValueError("calibrate_input_ranges: no IMC layer has input_scaling='calibrated' or 'dynamic'")
    if not (isinstance(percentile, (int, float)) and 0 < percentile <= 100):
        raise ValueError(f"calibrate_input_ranges: percentile={percentile!r}; must be in (0, 100]")
    seen: dict[str, Tensor] = {}
    counts: dict[str, int] = {}
    lowest: dict[str, Tensor] = {}  # the smallest input seen (percentile 100) ...
    low_sums: dict[str, Tensor] = {}  # ... or the sum over batches of the low percentile
    handles = []
    for name, layer in layers:
        layer.input_range.zero_()  # uncalibrated: each forward ranges on its own batch meanwhile

        def record(module: nn.Module, args: tuple, name: str = name, zero_point: bool = layer.imc_config.input_zero_point) -> None:
            x = args[0].detach()
            if not bool(torch.isfinite(x.amax()) and torch.isfinite(x.amin())):
                bad = "NaN" if bool(torch.isnan(x).any()) else "infinite"
                raise ValueError(f"calibrate_input_ranges: layer {name!r} got {bad} inputs on calibration batch "
                                 f"{count} (0-based); a range measured on them would be {bad} — check the batch "
                                 "and the layers before this one")
            low = x.amin().float()
            imc = cast(IMCLayer, module)
            if percentile >= 100 and imc.imc_config.input_clipping == "mse":
                if imc.imc_config.input_signed == "auto":  # the range depends on the codes' sign
                    imc.resolve_input_sign(bool(low < 0) or bool(lowest.get(name, low) < 0))
                peak = imc.batch_input_range(x).float()
                seen[name] = seen[name] + peak if name in seen else peak
                lowest[name] = torch.minimum(lowest[name], low) if name in lowest else low
                counts[name] = counts.get(name, 0) + 1
                return
            if percentile >= 100:
                peak = x.amax().float().clamp_min(0.0) if zero_point else x.abs().amax().float()
                seen[name] = torch.maximum(seen[name], peak) if name in seen else peak
                lowest[name] = torch.minimum(lowest[name], low) if name in lowest else low
                return
            flat = (x if zero_point else x.abs()).flatten().float()
            rank = max(1, min(flat.numel(), math.ceil(percentile / 100 * flat.numel())))
            peak = flat.kthvalue(rank).values.clamp_min(0.0)
            low = -(-x.flatten().float()).kthvalue(rank).values if zero_point else x.amin().float()
            seen[name] = seen[name] + peak if name in seen else peak
            low_sums[name] = low_sums[name] + low if name in low_sums else low
            counts[name] = counts.get(name, 0) + 1

        handles.append(layer.register_forward_pre_hook(record))
    from .montecarlo import variation_mode

    was_training = model.training
    model.eval()
    count = 0
    try:
        with contextlib.nullcontext() if variation is None else variation_mode(model, variation):
            for batch in batches:
                model(_inputs(batch))
                count += 1
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    if count == 0:
        raise ValueError("calibrate_input_ranges: no batch given")
    silent = [name for name, _ in layers if name not in seen]
    if silent:
        from .routing import unrouted_uses

        causes = {name: unrouted_uses(model.get_submodule(name)) if name else () for name in silent}
        raise ValueError(
            f"calibrate_input_ranges: {len(silent)} IMC layer(s) never ran on the calibration batches, so no input "
            f"range could be measured: {silent[:8]}{' ...' if len(silent) > 8 else ''}. Either the batches do not reach "
            "them, or the model uses their weight without calling them (e.g. F.linear(x, layer.weight) in a parent's "
            "forward that convert_to_imc could not read"
            + (f"; seen here: {({n: list(c) for n, c in causes.items() if c})}" if any(causes.values()) else "")
            + "); keep such layers digital with convert_to_imc(..., overrides={name: None})")
    for name in counts:
        seen[name] = seen[name] / counts[name]
    for name in low_sums:
        lowest[name] = low_sums[name] / counts[name]
    for name, layer in layers:
        layer.input_range.fill_(float(seen[name]))
        if layer.imc_config.input_zero_point:
            cast(Tensor, layer.input_low).fill_(min(float(lowest[name]), 0.0))
        if layer.imc_config.input_signed == "auto":  # signed iff the data has negative values
            layer.resolve_input_sign(bool(lowest[name] < 0))
    return {name: float(seen[name]) for name, _ in layers}


def batchnorm_state(model: nn.Module) -> dict[str, dict[str, Tensor]]:
    """A copy of every BatchNorm's running statistics (to restore after a per-chip re-estimation)."""
    return {name: {k: v.detach().clone() for k, v in module.state_dict().items()}
            for name, module in model.named_modules() if isinstance(module, BATCHNORM_TYPES)}


@contextlib.contextmanager
def _only_batchnorm_training(model: nn.Module) -> Iterator[None]:
    modes = {name: module.training for name, module in model.named_modules()}
    model.eval()
    for module in model.modules():
        if isinstance(module, BATCHNORM_TYPES):
            module.train()
    try:
        yield
    finally:
        for name, module in model.named_modules():
            module.training = modes[name]


@contextlib.contextmanager
def _cumulative_batchnorm(model: nn.Module, caller: str) -> Iterator[None]:
    """Reset every BatchNorm's statistics to a cumulative average (``momentum=None``) for the block."""
    norms = [m for m in model.modules() if isinstance(m, BATCHNORM_TYPES)]
    if not norms:
        raise ValueError(f"{caller}: the model has no BatchNorm layer")
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    try:
        yield
    finally:
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum


@torch.no_grad()
def settle_batchnorm(model: nn.Module, batches: Sequence[object], noise_aware: bool, seed: int | None = None) -> int:
    """Re-estimate BatchNorm statistics with a trained model's final weights ("precise BN"), before it is judged.

    A short training leaves the running statistics (a moving average over the last batches) behind the
    weights; children judged with them are ranked by that lag. Without variation the statistics are
    averaged over ``batches`` as the model is (:func:`recalibrate_batchnorm`); a ``noise_aware`` model,
    whose statistics were gathered through variation in training, through two chips per batch
    (:func:`reestimate_batchnorm_under_variation`). Returns the number of forwards.
    """
    if noise_aware:
        return reestimate_batchnorm_under_variation(model, batches, seed=seed, chips_per_batch=2)
    return recalibrate_batchnorm(model, batches)


def recalibrate_batchnorm(model: nn.Module, batches: Iterable[object]) -> int:
    """Re-estimate every BatchNorm's running statistics on ``batches`` through the model as it is now.

    Statistics are reset and averaged over all given batches (cumulative average, as
    ``momentum=None`` does); everything else runs in eval mode, so IMC layers keep their fixed chip
    and their input ranges. Returns the number of batches used.
    """
    count = 0
    with _cumulative_batchnorm(model, "recalibrate_batchnorm"), _only_batchnorm_training(model):
        for batch in batches:
            model(_inputs(batch))
            count += 1
    if count == 0:
        raise ValueError("recalibrate_batchnorm: no batch given")
    return count


@torch.no_grad()
def reestimate_batchnorm_under_variation(model: nn.Module, batches: Iterable[object], seed: int | None = None,
                                         chips_per_batch: int = 4) -> int:
    """Re-estimate every BatchNorm's statistics on ``batches``, each seen through ``chips_per_batch`` chips.

    The statistics then describe the design's expected chip (averaged over chips and batches: a
    cumulative average), not one chip: a design-level step after a format change (rNAS), unlike the
    per-chip :func:`recalibrate_batchnorm`. Few chips give a noisy mean shift (each chip shifts the
    outputs), hence several per batch. IMC layers' variation modes are restored afterwards and their
    next forward draws a new chip. ``seed`` makes the chips reproducible (batch ``k``'s ``c``-th chip
    uses seed ``seed + k·chips_per_batch + c``). Returns the number of forwards (batches × chips).
    """
    from .montecarlo import resample_chip, variation_mode

    batches = list(batches)
    if not batches:
        raise ValueError("reestimate_batchnorm_under_variation: no batch given")
    if isinstance(chips_per_batch, bool) or not isinstance(chips_per_batch, int) or chips_per_batch < 1:
        raise ValueError(f"chips_per_batch={chips_per_batch!r}; must be an integer >= 1")
    count = 0
    with _cumulative_batchnorm(model, "reestimate_batchnorm_under_variation"), variation_mode(model, "fixed"), \
            _only_batchnorm_training(model):
        for k, batch in enumerate(batches):
            for c in range(chips_per_batch):
                resample_chip(model, None if seed is None else seed + k * chips_per_batch + c)
                model(_inputs(batch))
                count += 1
        resample_chip(model, None)
    return count
