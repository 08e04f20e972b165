"""Running one child: settings → space, data module, candidate and child spec (:func:`prepare`), then
training, Monte-Carlo chips, the chip model and the reward (:func:`run_child`).

Also what the search needs of a child: :func:`child_context` (its ``context_factory``) and the shared
helpers of both jobs (the data checks, the W&B logger).
"""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path
from typing import Any, Mapping

import pytorch_lightning as pl
from pytorch_lightning.utilities.exceptions import MisconfigurationException

from ..callbacks import HardwareMetricsCallback, RewardCallback, VariationEvalCallback, estimate_reward_bounds
from ..console import ignore_spurious_warnings, lightning_info_silenced
from ..models import ChildModule
from ..settings import ConfigError, DataError, Settings, load_settings
from ..tracking import candidate_row, child_settings, flat_config, log_child_artifact

__all__ = ["Prepared", "prepare", "child_context", "check_data", "load_data", "check_trainer_arguments",
           "make_logger", "run_child", "format_child_summary", "check_rnas_checkpoint", "single_child_threads"]


class Prepared:
    """Everything built from the settings before training starts (cheap: no data is loaded)."""

    def __init__(self, settings: Settings, space: Any, datamodule: Any, candidate: Any, spec: Any):
        self.settings, self.space, self.datamodule, self.candidate, self.spec = settings, space, datamodule, candidate, spec


def _to_container(cfg: Any) -> dict[str, Any]:
    try:
        from omegaconf import DictConfig, OmegaConf
    except ImportError:  # pragma: no cover - hydra is a dependency
        return dict(cfg)
    if isinstance(cfg, DictConfig):
        container = OmegaConf.to_container(cfg, resolve=True)
        container.pop("hydra", None)
        return container
    return dict(cfg)


def _resolve_candidate(space: Any, candidate: Any, seed: int) -> Any:
    if candidate in (None, "default"):
        return space.default_candidate()
    if candidate == "random":
        return space.sample(random.Random(seed))
    if isinstance(candidate, str):
        raise ConfigError(f"candidate={candidate!r}; allowed: 'default', 'random' or a map of dimension values")
    if not isinstance(candidate, Mapping):
        raise ConfigError(f"candidate must be 'default', 'random' or a map, got {type(candidate).__name__}")
    known = {d.name for d in space.all_dimensions}
    unknown = sorted(set(candidate) - known)
    if unknown:
        raise ConfigError(f"candidate.{unknown[0]} is not a dimension of space {space.name!r}; allowed: {sorted(known)}")
    try:
        # overrides on top of the defaults; dimensions the overrides activate take their defaults
        chosen = space.complete({**space.default_candidate().to_dict(), **dict(candidate)})
        space.encode(chosen)
    except ValueError as err:
        raise ConfigError(f"candidate: {str(err).splitlines()[0]}") from None
    return chosen


def _build_component(config: Mapping[str, Any], registry: Any, from_data: Any, what: str) -> Any:
    config = dict(config)
    try:
        if "_target_" in config:
            from hydra.utils import instantiate

            return instantiate(config)
        if from_data is not None and "dimensions" in config:
            return from_data(config)
        return registry(config.pop("name"), **config)
    except Exception as err:  # noqa: BLE001 - constructors validate; report their first line
        raise ConfigError(_component_message(err, config, what)) from None


def _component_message(err: BaseException, config: Mapping[str, Any], what: str) -> str:
    """One line for a component that refused its arguments: the constructor's own reason, under ``what``.

    Hydra wraps the constructor's error ("Error in call to target ..."); the reason is its cause.
    """
    while err.__cause__ is not None and type(err).__name__ == "InstantiationException":
        err = err.__cause__
    text = str(err).strip()
    message = text.splitlines()[0] if text else type(err).__name__
    if type(err).__name__ == "InstantiationException":  # e.g. a _target_ that cannot be imported
        message = " ".join(line.strip() for line in text.splitlines()[:2])
    first = message.split(" ", 1)[0].split("=", 1)[0]
    if first in config:  # "batch_size must be ..." -> "data.batch_size must be ..."
        return f"{what}.{message}"
    return f"{what}: {message}"


def child_context(config: Mapping[str, Any]) -> Any:
    """The :class:`~lightning_imc.search.evaluate.ChildContext` of a resolved configuration: validated
    settings, space, and the data module with its data loaded. The search's ``context_factory``."""
    from ..search.evaluate import ChildContext

    prepared = prepare(dict(config))
    load_data(prepared.datamodule)
    return ChildContext(prepared.settings, prepared.space, prepared.datamodule)


def _one_line(err: BaseException) -> str:
    return " ".join(line.strip() for line in str(err).splitlines() if line.strip()) or type(err).__name__


def check_data(datamodule: Any) -> None:
    """That the data's files exist (or can be fetched), before any Trainer is built: raises :class:`DataError`."""
    try:
        datamodule.prepare_data()
    except (FileNotFoundError, NotADirectoryError) as err:
        raise DataError(_one_line(err)) from None


def load_data(datamodule: Any) -> None:
    """Load the data for fitting (after :func:`check_data`); unreadable or missing files raise :class:`DataError`."""
    check_data(datamodule)
    try:
        datamodule.setup("fit")
    except (FileNotFoundError, NotADirectoryError) as err:
        raise DataError(_one_line(err)) from None
    except (ValueError, OSError) as err:
        from ..search.history import is_storage_error

        if isinstance(err, OSError) and not is_storage_error(err):
            raise
        raise DataError(f"data: {str(err).strip().splitlines()[0]}") from None


def prepare(cfg: Any) -> Prepared:
    """Validate the config and build the space, data module, candidate and child spec (no data loaded)."""
    from ..data import get_datamodule
    from ..space import SearchSpace, get_space, to_child

    settings = load_settings(_to_container(cfg))
    space = _build_component(settings.space.config, get_space, SearchSpace.from_config, "space")
    datamodule = _build_component(settings.data.config, get_datamodule, None, "data")
    candidate = _resolve_candidate(space, settings.candidate, settings.seed)
    spec = to_child(space, candidate, input_shape=tuple(datamodule.input_shape), num_classes=datamodule.num_classes)
    if spec.task != datamodule.task:
        fitting = _spaces_for_task(datamodule.task)
        raise ConfigError(f"data ({settings.data.label}) is a {datamodule.task} task but space={space.name} builds "
                          f"{spec.task} networks; choose a {datamodule.task} space"
                          + (f" ({', '.join(f'space={n}' for n in fitting)})" if fitting else ""))
    return Prepared(settings, space, datamodule, candidate, spec)


def _spaces_for_task(task: str) -> list[str]:
    """Names of the registered spaces whose networks solve ``task`` (for messages)."""
    from ..space import get_space, space_names

    names = []
    for name in space_names():
        try:
            template = get_space(name).template
            if isinstance(template, Mapping) and template.get("task") == task:
                names.append(name)
        except Exception:  # noqa: BLE001 - only for a message
            continue
    return names


def check_rnas_checkpoint(prepared: Prepared) -> None:
    """For ``mode=search search.mode=rnas``: ``search.rnas_checkpoint`` is readable and holds the weights of the
    configured candidate's network (same keys and shapes). Raises :class:`ConfigError` naming the key, before
    any history is opened or any data loaded, so that a wrong file is never recorded as the candidates' result."""
    settings = prepared.settings
    if settings.mode != "search" or settings.search.mode != "rnas":
        return
    from ..models.networks import build_network
    from ..search.evaluate import SearchInputError, load_saved_weights

    path = settings.search.rnas_checkpoint
    try:
        load_saved_weights(str(path), build_network(prepared.spec, settings.imc))
    except SearchInputError as err:
        raise ConfigError(f"search.rnas_checkpoint={path!r}: {_one_line(err).removeprefix(str(path) + ' ')}") from None


_WANDB_DATA_DIR_SET_HERE: list[bool] = []
"""Non-empty once :func:`make_logger` has set ``WANDB_DATA_DIR`` (then it follows each run's output folder)."""


def make_logger(settings: Settings, run_name: str, config: Mapping[str, Any]) -> Any:
    """The Lightning logger: W&B (offline by default, files under the output folder), CSV, or none.

    ``config`` is the run's W&B config: flat dotted keys (see :func:`~lightning_imc.tracking.flat_config`)."""
    if settings.logger.kind == "none":
        return False
    save_dir = Path(settings.output_dir)
    save_dir.mkdir(parents=True, exist_ok=True)
    if settings.logger.kind == "csv":
        return pl.loggers.CSVLogger(save_dir=str(save_dir), name=run_name)
    os.environ.setdefault("WANDB_SILENT", "true")
    # artifacts are staged (copied) under WANDB_DATA_DIR until `wandb sync`: keep them in the run's output folder,
    # not the home folder, unless the user chose a place
    if "WANDB_DATA_DIR" not in os.environ or _WANDB_DATA_DIR_SET_HERE:
        os.environ["WANDB_DATA_DIR"] = str(save_dir / "wandb")
        _WANDB_DATA_DIR_SET_HERE.append(True)
    logger = pl.loggers.WandbLogger(
        project=settings.logger.project, name=run_name, save_dir=str(save_dir), offline=settings.logger.mode == "offline",
        mode=settings.logger.mode if settings.logger.mode == "disabled" else None, tags=list(settings.logger.tags),
        config=dict(config),
    )
    # Lightning always passes `anonymous` (None by default), which wandb >= 0.2x answers with a deprecation
    # warning on every run although the setting does nothing: leave it out
    init_arguments = getattr(logger, "_wandb_init", None)
    if isinstance(init_arguments, dict) and init_arguments.get("anonymous") is None:
        init_arguments.pop("anonymous", None)
    return logger


def _log_candidate_table(logger: Any, results: Mapping[str, Any]) -> None:
    if isinstance(logger, pl.loggers.WandbLogger):
        row = candidate_row(results)
        logger.log_table(key="candidates", columns=list(row), data=[[str(v) if v is None else v for v in row.values()]])


def _finish_wandb(logger: Any) -> None:
    if isinstance(logger, pl.loggers.WandbLogger):
        import wandb

        wandb.finish()


def check_trainer_arguments(settings: Settings) -> None:
    """Build (and drop) a Trainer from the settings so that a bad argument fails before any data loads."""
    kwargs = {k: v for k, v in settings.trainer.items() if k not in ("logger", "enable_checkpointing")}
    try:
        with lightning_info_silenced():  # the real Trainer prints its banner; this one must not add a second
            pl.Trainer(logger=False, enable_checkpointing=False, **kwargs)
    except (TypeError, ValueError, MisconfigurationException) as err:
        raise ConfigError(f"trainer: {str(err).splitlines()[0]}") from None


def run_child(prepared: Prepared, config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Train and evaluate one candidate; returns its results (written to ``child_result.json``, its trained
    network's ``state_dict`` to ``child_weights.pt``; both are a W&B ``model`` artifact when W&B logs).

    ``config``: the resolved configuration, logged as the W&B run's config (flat keys) beside the
    candidate and the settings its layers really use (``child.*``). It trains on
    :func:`single_child_threads` torch threads (1 unless ``executor.threads_per_child`` says otherwise),
    recorded as ``torch_threads``; the previous count is restored afterwards."""
    import torch

    threads = single_child_threads(prepared.settings)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return _run_child(prepared, config, threads)
    finally:
        torch.set_num_threads(previous)


def single_child_threads(settings: Settings) -> int:
    """Torch CPU threads of ``mode=child``: ``executor.threads_per_child`` if set, else 1.

    Not the machine's core count: the thread count changes the floating-point sums (hence the figures a
    child prints), and the count torch picks by itself follows the cores (and ``OMP_NUM_THREADS``) of
    whichever machine runs it; one thread gives the same figures on every machine of a kind.
    """
    threads = settings.executor.threads_per_child
    return 1 if threads is None else int(threads)


def _run_child(prepared: Prepared, config: Mapping[str, Any] | None, threads: int) -> dict[str, Any]:
    settings, spec = prepared.settings, prepared.spec
    ignore_spurious_warnings()  # Lightning's own _pytree deprecation: nothing a user can change
    pl.seed_everything(settings.seed, workers=True, verbose=False)
    hardware = HardwareMetricsCallback(settings.hardware.chip, settings.hardware.circuit_space,
                                       settings.hardware.objective, settings.hardware.constraints)
    reward = RewardCallback(settings.reward)
    callbacks: list[pl.Callback] = [
        VariationEvalCallback(settings.evaluation.n_chips, settings.evaluation.seed, settings.evaluation.split,
                              settings.evaluation.max_batches, settings.evaluation.bn_recalibration_batches),
        hardware,
        reward,
    ]
    trainer_kwargs = dict(settings.trainer)
    run_name = f"child-{prepared.candidate.key[:12]}"
    spec = hardware.settle_circuit(spec)  # the ADC/rows the chip is charged for are those trained with
    run_config = {**flat_config(config or {}), **flat_config({"candidate": prepared.candidate.to_dict()}),
                  "seed": settings.seed, **child_settings(spec, settings.imc)}
    logger = make_logger(settings, run_name, run_config)
    try:  # the Trainer validates its own arguments: do it before any data is loaded
        trainer = pl.Trainer(logger=logger, callbacks=callbacks, default_root_dir=settings.output_dir,
                             enable_checkpointing=False, **trainer_kwargs)
    except (TypeError, ValueError, MisconfigurationException) as err:
        raise ConfigError(f"trainer: {str(err).splitlines()[0]}") from None

    # Load the (small, tensor-resident) data now: missing files fail here, before any model is built.
    load_data(prepared.datamodule)
    missing = [k for k, w in settings.reward.weights.items() if w > 0 and k not in settings.reward.bounds]
    if missing and settings.reward.alpha < 1:
        from ..space import to_child

        bounds = estimate_reward_bounds(prepared.space, to_child, prepared.datamodule.input_shape,
                                        prepared.datamodule.num_classes, hardware,
                                        n_samples=settings.reward_bound_samples, seed=settings.seed, metrics=missing)
        reward.config = settings.reward.with_bounds(bounds)
    module = ChildModule(spec, settings.imc, settings.optimizer)
    start = time.perf_counter()
    try:
        trainer.fit(module, datamodule=prepared.datamodule)
    except FloatingPointError as err:  # ChildModule: a non-finite loss (the step size is the usual cause)
        optimizer = settings.optimizer
        raise ConfigError(f"optimizer.lr={optimizer.lr!r}: training diverged ({_one_line(err)}); lower optimizer.lr "
                          f"(optimizer={optimizer.name})") from None
    results = {
        "candidate": prepared.candidate.to_dict(),
        "candidate_key": prepared.candidate.key,
        "repairs": list(getattr(spec, "repairs", ())),
        "train_seconds": time.perf_counter() - start,
        "torch_threads": threads,
        **{k: v for k, v in module.results.items()},
    }
    from ..search.history import atomic_write

    text = json.dumps(results, indent=2, default=str)
    result_path = Path(settings.output_dir) / "child_result.json"
    atomic_write(result_path, lambda handle: handle.write(text), binary=False)
    import io

    import torch

    buffer = io.BytesIO()  # serialised first: a refused write is a plain OSError
    torch.save(module.network.state_dict(), buffer)
    weights_path = Path(settings.output_dir) / "child_weights.pt"
    atomic_write(weights_path, lambda handle: handle.write(buffer.getbuffer()))
    results["weights"] = str(weights_path)
    _log_candidate_table(logger, results)
    log_child_artifact(logger, f"child-{prepared.candidate.key[:12]}", [weights_path, result_path],
                       {"candidate": results["candidate"], "candidate_key": results["candidate_key"],
                        **{k: results[k] for k in ("accuracy_clean", "accuracy_variation", "reward") if k in results},
                        **results.get("hardware", {})})
    _finish_wandb(logger)
    return results


def format_child_summary(results: Mapping[str, Any]) -> str:
    """A short human-readable summary of a child's results."""
    lines = [f"candidate {results['candidate_key'][:12]}  ({results['train_seconds']:.1f} s of training)"]
    if results.get("repairs"):
        lines.append(f"  repairs: {'; '.join(results['repairs'])}")
    if "accuracy_variation" in results:
        low, high = results["accuracy_variation_ci95"]
        lines.append(
            f"  accuracy without variation {100 * results['accuracy_clean']:.2f}%, on chips with variation "
            f"{100 * results['accuracy_variation']:.2f}% (95% CI {100 * low:.2f}–{100 * high:.2f}: Student t over "
            f"{len(results['chip_values'])} chips, clipped to 0–100%)"
        )
    if "accuracy_variation_bn_recal" in results:
        low, high = results["accuracy_variation_bn_recal_ci95"]
        lines.append(
            f"  the same chips after per-chip BatchNorm re-calibration (a deployment step, not in the reward): "
            f"{100 * results['accuracy_variation_bn_recal']:.2f}% (95% CI {100 * low:.2f}–{100 * high:.2f})"
        )
    hw = results.get("hardware")
    if hw:
        lines.append(
            f"  chip: area {hw['area_mm2']:.3f} mm², latency {hw['latency_s'] * 1e6:.2f} µs, energy "
            f"{hw['energy_j'] * 1e6:.3f} µJ, {hw['tops']:.3f} TOPS, {hw['tops_per_w']:.2f} TOPS/W, EDP {hw['edp']:.3e} J·s"
        )
    if "reward" in results:
        lines.append(f"  reward {results['reward']:.4f} (hardware efficiency {results['hardware_efficiency']:.3f})")
    return "\n".join(lines)
