"""One child of a search: train (or load saved weights), judge on Monte-Carlo chips, map onto a chip, reward.

A :class:`ChildJob` is plain data (picklable), so the same function runs in the search process (local
executor) or in a Ray worker. Each process keeps one :class:`_Context` per configuration (settings,
space, loaded data), so data are loaded once per worker, not once per child.
"""

from __future__ import annotations

import json
import math
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

__all__ = ["ChildJob", "run_child_job", "child_seed"]


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


class _Context:
    """Settings, space and loaded data for one configuration (cached per process)."""

    def __init__(self, config: Mapping[str, Any]):
        from ..app import prepare

        prepared = prepare(dict(config))
        self.settings = prepared.settings
        self.space = prepared.space
        self.datamodule = prepared.datamodule
        self.datamodule.prepare_data()
        self.datamodule.setup("fit")


_CONTEXTS: dict[str, _Context] = {}


def _context(config: Mapping[str, Any]) -> _Context:
    key = json.dumps(config, sort_keys=True, default=str)
    if key not in _CONTEXTS:
        _CONTEXTS.clear()  # one configuration at a time per process
        _CONTEXTS[key] = _Context(config)
    return _CONTEXTS[key]


def _reward_config(reward: Mapping[str, Any]) -> Any:
    from ..reward import MetricBounds, RewardConfig

    bounds = {k: MetricBounds(float(v[0]), float(v[1])) for k, v in (reward.get("bounds") or {}).items()}
    return RewardConfig(alpha=float(reward["alpha"]), weights=dict(reward["weights"]), merge=reward["merge"],
                        bounds=bounds, failed_reward=float(reward["failed_reward"]))


def run_child_job(job: ChildJob) -> dict[str, Any]:
    """Run ``job``; never raises for a failing child: returns ``status='failed'`` with the error."""
    import pytorch_lightning as pl
    import torch

    from ..callbacks import HardwareMetricsCallback, hardware_metrics, measure_on_chips, unlabelled_batches
    from ..models import ChildModule
    from ..reward import compute_reward
    from ..space import to_child

    import logging
    import warnings

    # a search trains many children: keep Lightning's per-fit banners out of the search's output
    for name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    started = time.time()
    reward_config = _reward_config(job.reward)
    outcome: dict[str, Any] = {"started_at": started, "checkpoint_path": None, "train_seconds": 0.0}
    try:
        if job.threads:
            torch.set_num_threads(int(job.threads))
        ctx = _context(job.config)
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
            state = torch.load(job.init_checkpoint, map_location="cpu", weights_only=True)
            module.network.load_state_dict(state)
        device = torch.device("cpu")
        if job.train_epochs > 0:
            trainer_kwargs = {k: v for k, v in settings.trainer.items()
                              if k not in ("max_epochs", "enable_progress_bar", "logger", "enable_checkpointing",
                                           "enable_model_summary", "fast_dev_run", "max_steps")}
            trainer = pl.Trainer(max_epochs=job.train_epochs, logger=False, enable_checkpointing=False,
                                 enable_progress_bar=False, enable_model_summary=False,
                                 max_steps=int(settings.trainer.get("max_steps", -1) or -1),
                                 fast_dev_run=settings.trainer.get("fast_dev_run", False), **trainer_kwargs)
            start = time.perf_counter()
            trainer.fit(module, datamodule=datamodule)
            outcome["train_seconds"] = time.perf_counter() - start
            device = module.device
            for value in trainer.callback_metrics.values():
                if not torch.isfinite(torch.as_tensor(value)).all():
                    raise FloatingPointError("non-finite training metric")
        module.to(device)
        if job.checkpoint_path and job.train_epochs > 0:
            Path(job.checkpoint_path).parent.mkdir(parents=True, exist_ok=True)
            torch.save(module.network.state_dict(), job.checkpoint_path)
            outcome["checkpoint_path"] = job.checkpoint_path
        elif job.init_checkpoint:
            outcome["checkpoint_path"] = job.init_checkpoint
        evaluation = settings.evaluation
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
        metrics["repairs"] = list(spec.repairs)
        accuracy = figures["accuracy_variation" if job.accuracy_source == "variation" else "accuracy_clean"]
        if not math.isfinite(accuracy):
            raise FloatingPointError("non-finite accuracy")
        breakdown = compute_reward(accuracy, metrics["hardware"], reward_config)
        metrics["hardware_efficiency"] = breakdown.hardware_efficiency
        outcome.update(status="ok", reward=breakdown.reward, metrics=metrics, error=None)
    except Exception as err:  # noqa: BLE001 - a failing child is data, not a crash of the search
        outcome.update(status="failed", reward=reward_config.failed_reward, metrics={},
                       error=f"{type(err).__name__}: {err}"[:2000], traceback=traceback.format_exc()[-4000:])
    outcome["finished_at"] = time.time()
    return outcome
