"""One child of a search: train (or load saved weights), judge on Monte-Carlo chips, map onto a chip, reward.

A :class:`ChildJob` is plain data (picklable), so the same function runs in the search process (local
executor) or in a Ray worker. What a child needs beyond the job — validated settings, the space and the
loaded data — is a :class:`ChildContext`, built by the job's ``context_factory`` (a module-level
function of the application, so it pickles by reference). The search layer never builds settings or
data itself. Each process keeps one context per configuration, so data are loaded once per worker,
not once per child.
"""

from __future__ import annotations

import io
import json
import math
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from .history import atomic_write, is_storage_error

__all__ = ["ChildJob", "ChildContext", "ChildDidNotLearn", "ContextFactory", "SearchInputError", "run_child_job",
           "child_seed", "load_saved_weights"]


class SearchInputError(ValueError):
    """An input the search cannot use (e.g. missing or unreadable saved weights for rNAS); one line naming the
    key or file. Never recorded as a child's result: the user fixes the input and runs the same command."""


def load_saved_weights(path: str, network: Any) -> None:
    """Load the ``state_dict`` file ``path`` into ``network`` (strict: the same keys and shapes).

    Raises:
        SearchInputError: the file cannot be read as a torch ``state_dict`` (truncated, not a torch file),
            or it holds the weights of another architecture (keys or shapes differ); the message names
            the file and the first difference.
    """
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - unpickling, zip and OS errors all mean "not these weights"
        if is_storage_error(err):  # the storage failing a read: stop as for a failed write
            raise
        reason = " ".join(str(err).split())[:160] or type(err).__name__
        raise SearchInputError(f"{path} cannot be read as saved weights ({type(err).__name__}: {reason}); "
                               "give a file written by torch.save(network.state_dict(), path)") from None
    if not isinstance(state, Mapping) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                                 for k, v in state.items()):
        raise SearchInputError(f"{path} holds a {type(state).__name__}, not a state_dict (a map of parameter "
                               "names to tensors); give a file written by torch.save(network.state_dict(), path)")
    own = network.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or shapes:
        if shapes:
            k = shapes[0]
            first = f"{k} has shape {tuple(state[k].shape)} in the file, {tuple(own[k].shape)} in the candidate"
        elif missing:
            first = f"{len(missing)} of the candidate's {len(own)} tensors are missing (first: {missing[0]})"
        else:
            first = f"{len(unexpected)} tensors are not the candidate's (first: {unexpected[0]})"
        raise SearchInputError(f"{path} holds the weights of another architecture: {first}; give the state_dict "
                               "of this candidate's trained network")
    network.load_state_dict(state)


@dataclass(frozen=True)
class ChildContext:
    """What every child of one configuration shares.

    Attributes:
        settings: The validated settings; a child reads ``imc``, ``optimizer``, ``trainer``,
            ``evaluation`` and ``hardware`` from it.
        space: The full search space (decodes candidates into child specifications).
        datamodule: The data module, already set up for fitting (data loaded).
    """

    settings: Any
    space: Any
    datamodule: Any


ContextFactory = Callable[[Mapping[str, Any]], ChildContext]
"""Builds the :class:`ChildContext` of a resolved configuration (plain dict); called once per process."""


def child_seed(search_seed: int, phase: str, index: int) -> int:
    """Seed of the ``index``-th child of ``phase``: independent of the executor and of resumption."""
    import zlib

    return (search_seed * 1_000_003 + zlib.crc32(phase.encode()) * 7919 + index) % (2**31 - 1)


@dataclass(frozen=True)
class ChildJob:
    """What to do with one candidate.

    Attributes:
        config: The resolved application configuration (plain dict).
        phase: Search phase (``ptbnas``, ``rnas``, ``finetune``, ``search``...).
        index: Position of the proposal in its phase.
        candidate: The decoded candidate (every dimension, frozen ones included).
        seed: Seed of this child's training and chips.
        train_epochs: Epochs to train; 0 evaluates ``init_checkpoint``'s weights as they are (rNAS).
        variation: Variation mode while training (``train`` noise-aware, ``off`` variation-unaware).
        accuracy_source: Accuracy entering the reward: ``variation`` (on chips) or ``clean``.
        reward: Reward settings as a plain dict (alpha, weights, merge, bounds {metric: [best, worst]}).
        init_checkpoint: Weights to start from (a ``state_dict`` file of the same architecture).
        checkpoint_path: Where to save the trained weights (``None``: not saved).
        threads: Torch CPU threads for this child (``None``: leave as is).
        chance_margin: The child did not learn when the accuracy entering its reward is at most chance
            level (1 / classes, classification) plus this margin: it is recorded as failed with the floor
            reward, so that a chance-level design never earns a reward from its hardware alone
            (``None``: no such rule).
        context_factory: Builds the settings, space and data of ``config`` (see :data:`ContextFactory`).
    """

    config: Mapping[str, Any]
    phase: str
    index: int
    candidate: Mapping[str, Any]
    seed: int
    train_epochs: int
    variation: str
    accuracy_source: str
    reward: Mapping[str, Any]
    init_checkpoint: str | None = None
    checkpoint_path: str | None = None
    threads: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    context_factory: ContextFactory | None = None
    chance_margin: float | None = None


class ChildDidNotLearn(FloatingPointError):
    """A child whose loss, weights or accuracy show that it did not learn (recorded as failed)."""


_CONTEXTS: dict[str, ChildContext] = {}


def _context(job: ChildJob) -> ChildContext:
    """The job's context, built once per configuration and process."""
    key = json.dumps(job.config, sort_keys=True, default=str)
    if key not in _CONTEXTS:
        _CONTEXTS.clear()  # one configuration at a time per process
        _CONTEXTS[key] = job.context_factory(dict(job.config))
    return _CONTEXTS[key]


def reward_config_from_dict(reward: Mapping[str, Any]) -> Any:
    """The :class:`~lightning_imc.reward.RewardConfig` of a search's plain reward dict (see :class:`ChildJob`)."""
    from ..reward import MetricBounds, RewardConfig

    bounds = {k: MetricBounds(float(v[0]), float(v[1])) for k, v in (reward.get("bounds") or {}).items()}
    return RewardConfig(alpha=float(reward["alpha"]), weights=dict(reward["weights"]), merge=reward["merge"],
                        bounds=bounds, failed_reward=float(reward["failed_reward"]))


def run_child_job(job: ChildJob) -> dict[str, Any]:
    """Run ``job``; never raises for a failing child: returns ``status='failed'`` with the error.

    Raises:
        ValueError: the job has no ``context_factory`` (a misuse, not a failing child).
        OSError: the storage refused a write (full disk, read-only, file too large): the search must stop,
            not record the child as failed (:func:`~lightning_imc.search.history.is_storage_error`).
    """
    if job.context_factory is None:
        raise ValueError("ChildJob.context_factory is None: the application must say how to build the settings, "
                         "space and data of a child (e.g. lightning_imc.app.child_context)")
    import pytorch_lightning as pl
    import torch

    from ..callbacks import (EpochCurves, HardwareMetricsCallback, hardware_metrics, layer_cost_shares, measure_on_chips,
                             unlabelled_batches)
    from ..console import quiet_lightning
    from ..models import ChildModule
    from ..reward import compute_reward
    from ..space import to_child

    # a search trains many children: no per-fit banners or known-spurious warnings (once per process, also
    # in a Ray worker)
    quiet_lightning()
    started = time.time()
    reward_config = reward_config_from_dict(job.reward)
    outcome: dict[str, Any] = {"started_at": started, "checkpoint_path": None, "train_seconds": 0.0}
    try:
        if job.threads:
            torch.set_num_threads(int(job.threads))
        ctx = _context(job)
        settings, datamodule = ctx.settings, ctx.datamodule
        spec = to_child(ctx.space, dict(job.candidate), input_shape=tuple(datamodule.input_shape),
                        num_classes=datamodule.num_classes)
        hardware = HardwareMetricsCallback(settings.hardware.chip, settings.hardware.circuit_space,
                                           settings.hardware.objective, settings.hardware.constraints)
        spec = hardware.settle_circuit(spec)  # the ADC/rows the chip is charged for are those trained with
        pl.seed_everything(job.seed, workers=True, verbose=False)
        imc = settings.imc.replace(variation=job.variation)
        module = ChildModule(spec, imc, settings.optimizer)
        if job.init_checkpoint:
            load_saved_weights(job.init_checkpoint, module.network)
        device = torch.device("cpu")
        if job.train_epochs > 0:
            trainer_kwargs = {k: v for k, v in settings.trainer.items()
                              if k not in ("max_epochs", "enable_progress_bar", "logger", "enable_checkpointing",
                                           "enable_model_summary", "fast_dev_run", "max_steps")}
            curves = EpochCurves()
            trainer = pl.Trainer(max_epochs=job.train_epochs, logger=False, enable_checkpointing=False,
                                 enable_progress_bar=False, enable_model_summary=False, callbacks=[curves],
                                 max_steps=int(settings.trainer.get("max_steps", -1) or -1),
                                 fast_dev_run=settings.trainer.get("fast_dev_run", False), **trainer_kwargs)
            start = time.perf_counter()
            trainer.fit(module, datamodule=datamodule)
            outcome["train_seconds"] = time.perf_counter() - start
            device = module.device
            for name, value in trainer.callback_metrics.items():
                if not torch.isfinite(torch.as_tensor(value)).all():
                    raise ChildDidNotLearn(f"non-finite training metric {name} ({float(torch.as_tensor(value).mean())})")
            for name, parameter in module.network.named_parameters():
                if not torch.isfinite(parameter).all():
                    raise ChildDidNotLearn(f"non-finite weights after training ({name})")
        module.to(device)
        settle = settings.evaluation.bn_settle_batches
        if settle and job.train_epochs > 0:  # BatchNorm statistics of the final weights, saved with them
            from ..layers.calibration import BATCHNORM_TYPES, settle_batchnorm

            if any(isinstance(m, BATCHNORM_TYPES) for m in module.network.modules()):
                settle_batchnorm(module.network, unlabelled_batches(datamodule.train_dataloader(), settle, device),
                                 noise_aware=job.variation != "off", seed=settings.evaluation.seed + 104729)
        if job.checkpoint_path and job.train_epochs > 0:  # atomic: a later phase never loads a partial file
            buffer = io.BytesIO()  # serialised first, so that a refused write is a plain OSError (ENOSPC, EFBIG)
            torch.save(module.network.state_dict(), buffer)
            atomic_write(job.checkpoint_path, lambda handle: handle.write(buffer.getbuffer()))
            outcome["checkpoint_path"] = job.checkpoint_path
        elif job.init_checkpoint:
            outcome["checkpoint_path"] = job.init_checkpoint
        evaluation = settings.evaluation
        calibration = int(job.extra.get("input_calibration_batches", 0) or 0)
        if calibration and job.train_epochs == 0 and job.init_checkpoint:  # rNAS: ranges for the new formats
            from ..layers.calibration import calibrate_input_ranges
            from ..layers.convert import imc_layers

            if any(layer.imc_config.input_scaling == "calibrated" for _, layer in imc_layers(module.network)):
                datamodule.setup("fit")
                # through the layers' own variation mode, as training measured the ranges it replaces
                calibrate_input_ranges(module.network, unlabelled_batches(datamodule.train_dataloader(), calibration, device),
                                       variation=None)
        reestimate = int(job.extra.get("bn_reestimate_batches", 0) or 0)
        if reestimate and job.train_epochs == 0:  # rNAS: BatchNorm statistics under the new formats' variation
            from ..layers.calibration import BATCHNORM_TYPES, reestimate_batchnorm_under_variation

            if any(isinstance(m, BATCHNORM_TYPES) for m in module.network.modules()):
                datamodule.setup("fit")
                reestimate_batchnorm_under_variation(
                    module.network, unlabelled_batches(datamodule.train_dataloader(), reestimate, device),
                    seed=evaluation.seed + 7919)
        loader = datamodule.test_dataloader() if evaluation.split == "test" else datamodule.val_dataloader()
        bn_batches = None
        if evaluation.bn_recalibration_batches > 0:
            datamodule.setup("fit")
            bn_batches = unlabelled_batches(datamodule.train_dataloader(), evaluation.bn_recalibration_batches, device)
        figures = measure_on_chips(module.network, spec, loader, device, evaluation.n_chips, evaluation.seed,
                                   1 if settings.trainer.get("fast_dev_run") else evaluation.max_batches,
                                   bn_batches=bn_batches)
        _, chip, report = hardware.evaluate_module(module.network.cpu(), spec)
        metrics = dict(figures)
        metrics["hardware"] = hardware_metrics(report)
        metrics["layer_cost_shares"] = layer_cost_shares(report)  # where rNAS may mutate (search.rnas_cost_share)
        metrics["repairs"] = list(spec.repairs)
        if job.train_epochs > 0:
            metrics["curves"] = curves.points
        accuracy = figures["accuracy_variation" if job.accuracy_source == "variation" else "accuracy_clean"]
        if not math.isfinite(accuracy):
            raise ChildDidNotLearn("non-finite accuracy")
        if job.chance_margin is not None and spec.task == "classification":
            chance = 1.0 / datamodule.num_classes
            if accuracy <= chance + job.chance_margin:
                source = "on chips" if job.accuracy_source == "variation" else "without variation"
                raise ChildDidNotLearn(f"accuracy {source} {100 * accuracy:.1f}% is at chance level ({100 * chance:.1f}% "
                                       f"+ margin {100 * job.chance_margin:.1f}%, search.chance_margin)")
        breakdown = compute_reward(accuracy, metrics["hardware"], reward_config)
        metrics["hardware_efficiency"] = breakdown.hardware_efficiency
        outcome.update(status="ok", reward=breakdown.reward, metrics=metrics, error=None)
    except Exception as err:  # noqa: BLE001 - a failing child is data, not a crash of the search
        if is_storage_error(err):  # the disk refused a write: stop the search, record nothing wrong
            raise
        if isinstance(err, SearchInputError):  # the user's input, not the candidate: fixed, the same command goes on
            raise
        outcome.update(status="failed", reward=reward_config.failed_reward, metrics={},
                       error=f"{type(err).__name__}: {err}"[:2000], traceback=traceback.format_exc()[-4000:])
    outcome["finished_at"] = time.time()
    return outcome
