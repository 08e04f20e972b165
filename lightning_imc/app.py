"""The application behind ``train.py``: from a composed Hydra config to trained, chip-evaluated children.

``mode=child`` trains one candidate (``candidate=default``, ``candidate=random`` or a map of
dimension values over the space's default candidate) with variation-aware training, evaluates it on
Monte-Carlo chips, maps it onto a chip (circuit optimisation + analytical hardware model), computes
NACIM's reward, logs everything to W&B (offline by default) and writes ``child_result.json``.

The application builds what the search layer needs — validated settings, the space, the candidate and
:func:`child_context` (how a child gets its settings, space and data) — and hands it down; the search
layer never imports this module.

Order of checks (nothing is loaded, trained or written before the settings are known to be good):
settings → lock on the output folder → the data's files exist → Trainer arguments → data loaded.
:func:`run_cli` is the one error path of ``train.py``: see :data:`EXIT_CONFIG` and friends.
"""

from __future__ import annotations

import copy
import json
import os
import random
import signal
import sys
import time
from pathlib import Path
from typing import Any, Mapping

import pytorch_lightning as pl
from pytorch_lightning.utilities.exceptions import MisconfigurationException

from .callbacks import HardwareMetricsCallback, RewardCallback, VariationEvalCallback, estimate_reward_bounds
from .models import ChildModule
from .console import (SearchProgress, ensure_console_logging, ignore_spurious_warnings, lightning_info_silenced, log,
                      planned_children, quiet_lightning)
from .settings import ConfigError, DataError, Settings, load_settings
from .tracking import SearchDashboard, candidate_row, child_settings, flat_config, log_child_artifact

__all__ = ["run", "run_cli", "run_child", "run_search", "prepare", "child_context", "make_logger", "Prepared",
           "Interrupted", "EXIT_OK", "EXIT_RUNTIME", "EXIT_CONFIG", "DEBUG_ENV"]

EXIT_OK = 0
EXIT_RUNTIME = 1
"""Exit status of a runtime failure: full disk, read-only storage, a busy output folder, an unexpected error."""
EXIT_CONFIG = 2
"""Exit status of a configuration or input error: a bad setting, missing data, a damaged or foreign history."""
DEBUG_ENV = "LIGHTNING_IMC_DEBUG"
"""Environment variable: ``LIGHTNING_IMC_DEBUG=1`` prints the traceback under every error message."""


class Interrupted(BaseException):
    """SIGTERM or SIGINT arrived (raised by :func:`run_cli`'s signal handlers; exit status 128 + signal).

    A ``BaseException``, so that no ``except Exception`` (a child's failure handling, Lightning's)
    records it as a failed child.
    """

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


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
    from .search.evaluate import ChildContext

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
        from .search.history import is_storage_error

        if isinstance(err, OSError) and not is_storage_error(err):
            raise
        raise DataError(f"data: {str(err).strip().splitlines()[0]}") from None


def prepare(cfg: Any) -> Prepared:
    """Validate the config and build the space, data module, candidate and child spec (no data loaded)."""
    from .data import get_datamodule
    from .space import SearchSpace, get_space, to_child

    settings = load_settings(_to_container(cfg))
    space = _build_component(settings.space.config, get_space, SearchSpace.from_config, "space")
    datamodule = _build_component(settings.data.config, get_datamodule, None, "data")
    candidate = _resolve_candidate(space, settings.candidate, settings.seed)
    spec = to_child(space, candidate, input_shape=tuple(datamodule.input_shape), num_classes=datamodule.num_classes)
    if spec.task != datamodule.task:
        raise ConfigError(f"space {space.name!r} builds {spec.task} networks but data {settings.data.name!r} is {datamodule.task}")
    return Prepared(settings, space, datamodule, candidate, spec)


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


def run(cfg: Any, state: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run the configured job (``mode=child`` or ``mode=search``) and return its results.

    Checks in order — settings, the output folder's lock, the data's files, the Trainer's arguments —
    before any data is loaded. ``state`` (optional) receives ``output_dir``, ``mode`` and, once a search
    has opened it, ``history``: what :func:`run_cli` reports after an interruption or a storage error.

    Raises:
        ConfigError: a bad setting (:class:`DataError`: missing data).
        HistoryError: a damaged, foreign or different search's history, a busy or unwritable folder.
    """
    from .search.history import OutputLock

    state = {} if state is None else state
    prepared = prepare(cfg)
    if prepared.settings.mode == "search":
        kept = _keep_settings_of_older_history(cfg, prepared.settings)
        if kept is not None:
            cfg, prepared = kept, prepare(kept)
    settings = prepared.settings
    state.update(output_dir=settings.output_dir, mode=settings.mode)
    if settings.mode == "search":
        history_path = Path(settings.output_dir) / "history.sqlite"
        if history_path.exists() and not settings.search.resume:
            raise ConfigError(f"search.resume=false but {history_path} exists; choose another output folder or resume")
    with OutputLock(settings.output_dir):
        if settings.mode == "search":
            _check_history(settings, _to_container(cfg))
        check_data(prepared.datamodule)
        check_trainer_arguments(settings)
        if settings.mode == "search":
            return run_search(prepared, _to_container(cfg), state)
        return run_child(prepared, _to_container(cfg))


def _keep_settings_of_older_history(cfg: Any, settings: Settings) -> Any:
    """``cfg`` with the search settings an existing history was written under where a default changed since
    (:func:`~lightning_imc.search.loop.settings_of_older_history`), said in the log; ``None`` when nothing
    changes (no history, or one of today's settings)."""
    from omegaconf import DictConfig, OmegaConf

    from .search.history import HistoryError, HistoryStore
    from .search.loop import settings_of_older_history

    history_path = Path(settings.output_dir) / "history.sqlite"
    if not history_path.is_file() or not settings.search.resume:
        return None
    try:
        with HistoryStore.open_readonly(str(history_path)) as store:
            keep = settings_of_older_history(store.fingerprint, _to_container(cfg))
    except HistoryError:  # a damaged or foreign file: the checks under the lock say so
        return None
    if not keep:
        return None
    cfg = copy.deepcopy(cfg)
    for key, value in keep.items():
        log.info("resuming %s, written before search.%s existed: it goes on with search.%s=%s", history_path, key, key, value)
        if isinstance(cfg, DictConfig):
            OmegaConf.update(cfg, f"search.{key}", value, force_add=True)
        else:
            cfg["search"][key] = value
    return cfg


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
    candidate and the settings its layers really use (``child.*``)."""
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
        from .space import to_child

        bounds = estimate_reward_bounds(prepared.space, to_child, prepared.datamodule.input_shape,
                                        prepared.datamodule.num_classes, hardware,
                                        n_samples=settings.reward_bound_samples, seed=settings.seed, metrics=missing)
        reward.config = settings.reward.with_bounds(bounds)
    module = ChildModule(spec, settings.imc, settings.optimizer)
    start = time.perf_counter()
    trainer.fit(module, datamodule=prepared.datamodule)
    results = {
        "candidate": prepared.candidate.to_dict(),
        "candidate_key": prepared.candidate.key,
        "repairs": list(getattr(spec, "repairs", ())),
        "train_seconds": time.perf_counter() - start,
        **{k: v for k, v in module.results.items()},
    }
    from .search.history import atomic_write

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


def _reward_dict(config: Any) -> dict[str, Any]:
    return {"alpha": config.alpha, "weights": dict(config.weights), "merge": config.merge,
            "failed_reward": config.failed_reward,
            "bounds": {k: [b.best, b.worst] for k, b in config.bounds.items()}}


def _check_history(settings: Settings, config: Mapping[str, Any]) -> dict[str, Any]:
    """The search's fingerprint; an existing history of another search (or other thread count) is refused now,
    before any data loads (:class:`~lightning_imc.search.history.HistoryMismatchError`)."""
    from .search.history import HistoryMismatchError, HistoryStore
    from .search.loop import child_threads, search_fingerprint

    fingerprint = search_fingerprint(config, threads=child_threads(settings.executor))
    history_path = Path(settings.output_dir) / "history.sqlite"
    if history_path.exists():
        try:
            HistoryStore.open(str(history_path), fingerprint, create=False).close()
        except HistoryMismatchError as err:
            if "reproducibility.threads_per_child" not in str(err):
                raise
            with HistoryStore.open_readonly(str(history_path)) as store:
                stored = store.fingerprint.get("reproducibility", {}).get("threads_per_child")
            raise HistoryMismatchError(
                f"{history_path} was searched with {stored} torch threads per child, this run would use "
                f"{fingerprint['reproducibility']['threads_per_child']} (the thread count changes a child's result); "
                f"resume with executor.threads_per_child={stored}, or use another paths.output_dir") from None
    return fingerprint


def run_search(prepared: Prepared, config: Mapping[str, Any], state: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run the co-exploration loop; history, report and plots go to the output folder (resumable).

    The caller holds the output folder's lock (:func:`run` does)."""
    from .search.history import HistoryStore, atomic_write
    from .search.loop import Search, make_executor
    from .search.report import write_report

    state = {} if state is None else state
    settings = prepared.settings
    out = Path(settings.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    history_path = out / "history.sqlite"
    if history_path.exists() and not settings.search.resume:
        raise ConfigError(f"search.resume=false but {history_path} exists; choose another output folder or resume")
    fingerprint = _check_history(settings, config)
    # load the data once here: missing files stop the search now, not in every child
    load_data(prepared.datamodule)
    hardware = HardwareMetricsCallback(settings.hardware.chip, settings.hardware.circuit_space,
                                       settings.hardware.objective, settings.hardware.constraints)
    quiet_lightning()  # children: no Trainer banners, no known-spurious warnings
    logger = make_logger(settings, f"search-{settings.search.mode}-seed{settings.seed}", flat_config(config))
    experiment = str(config.get("experiment_name") or "search")
    dashboard = SearchDashboard(logger, experiment)
    with HistoryStore.open(str(history_path), fingerprint) as store:
        state["history"] = str(history_path)
        reward = store.get_meta("reward")
        if reward is None:  # fixed once per search, so that a resumed search uses the same bounds
            reward_config = settings.reward
            missing = [k for k, w in reward_config.weights.items() if w > 0 and k not in reward_config.bounds]
            if missing:
                from .space import to_child

                bounds = estimate_reward_bounds(prepared.space, to_child, prepared.datamodule.input_shape,
                                                prepared.datamodule.num_classes, hardware,
                                                n_samples=settings.reward_bound_samples, seed=settings.seed,
                                                metrics=missing)
                reward_config = reward_config.with_bounds(bounds)
            reward = _reward_dict(reward_config)
            store.set_meta("reward", reward)
        counter = {"n": store.count()}
        progress = SearchProgress(planned_children(settings.search), already_done=counter["n"],
                                  enabled=bool(settings.trainer.get("enable_progress_bar", True)))

        def on_record(record: Any) -> None:
            counter["n"] += 1
            progress.child_finished(record)
            dashboard.child_finished(record, step=counter["n"])

        def on_phase(phase: str, size: int, promotion: bool) -> None:
            progress.phase_started(phase, size, planned_phase=not promotion)

        def design_hardware(candidate: Mapping[str, Any]) -> dict[str, float]:  # the chip model alone, no training
            from .space import to_child

            return hardware.design_metrics(to_child(prepared.space, dict(candidate),
                                                    input_shape=tuple(prepared.datamodule.input_shape),
                                                    num_classes=prepared.datamodule.num_classes))

        executor = make_executor(settings)
        _reinstall_signal_handlers()  # Ray's driver installs its own SIGTERM handler
        start = time.perf_counter()
        log.info("search %s (%s): %d children planned, %d already in %s", experiment,
                 settings.search.mode, progress.planned, counter["n"], history_path)
        try:
            with progress:
                phases = Search(config, settings, prepared.space, store, executor, reward, on_record,
                                context_factory=child_context, candidate=prepared.candidate, on_phase=on_phase,
                                hardware_of=design_hardware).run()
                progress.finish()
        finally:
            executor.close()
        records = store.records()
        paths = write_report(store, str(out))
    summary = search_summary(records)
    summary.update(phases=list(phases), n_records=len(records), report=paths,
                   wall_seconds=time.perf_counter() - start, history=str(history_path))
    if logger:
        logger.log_metrics({f"summary/{k}": v for k, v in summary.items() if isinstance(v, (int, float))}, step=counter["n"] + 1)
    text = json.dumps(summary, indent=2, default=str)
    atomic_write(out / "search_summary.json", lambda handle: handle.write(text), binary=False)
    if dashboard.active:
        from .search.report import select_designs

        dashboard.finish(records, summary, paths, select_designs(records, prefix=settings.search.mode.upper()),
                         extra_files=[out / "search_summary.json"])
    _finish_wandb(logger)
    return summary


def search_summary(records: list[Any]) -> dict[str, Any]:
    """The figures a sweep dashboard needs: best reward and its design's accuracy and hardware, and the
    hypervolumes of the accuracy/hardware trade-off (:func:`search_hypervolumes`)."""
    ok = [r for r in records if r.status == "ok"]
    summary: dict[str, Any] = {"n_ok": len(ok), "n_failed": len(records) - len(ok)}
    if not ok:
        return summary
    best = max(ok, key=lambda r: r.reward)
    summary.update(best_reward=best.reward, best_key=best.key, best_phase=best.phase,
                   best_accuracy_variation=max(r.metrics.get("accuracy_variation", 0.0) for r in ok),
                   best_design_accuracy_variation=best.metrics.get("accuracy_variation"),
                   best_design_accuracy_clean=best.metrics.get("accuracy_clean"))
    for key, value in best.metrics.get("hardware", {}).items():
        summary[f"best_design_{key}"] = value
    summary.update(search_hypervolumes(ok))
    return summary


def search_hypervolumes(records: list[Any]) -> dict[str, float]:
    """Hypervolumes of a search's accuracy/hardware trade-off, with fixed reference points so that the
    runs of a sweep compare on a dashboard.

    * ``hypervolume_accuracy_log10edp``: the area dominated in the plane (accuracy on chips with
      variation, as a fraction, maximised; log10 of EDP in J·s, minimised), bounded by the reference
      point (accuracy 0, EDP 1 J·s, i.e. log10 EDP = 0). In fraction × decades: each decade of EDP
      below 1 J·s at accuracy 1 adds 1.
    * ``hypervolume_accuracy_hardware_efficiency``: accuracy with variation against the reward's
      hardware efficiency (both maximised, in [0, 1]), reference (0, 0). The efficiency is normalised by
      the search's own reward bounds: compare it between runs that share the space and device.

    A key is left out when no successful record has both figures.
    """
    import numpy as np

    from .search.pareto import hypervolume, objective_pairs

    out: dict[str, float] = {}
    pts, _ = objective_pairs(records, "edp")
    pts = pts[(pts[:, 1] > 0) & np.isfinite(pts).all(axis=1)]
    if len(pts):
        pts[:, 1] = np.log10(pts[:, 1])
        out["hypervolume_accuracy_log10edp"] = hypervolume(pts, reference=(0.0, 0.0), maximize=(True, False))
    pts, _ = objective_pairs(records, "hardware_efficiency")
    if len(pts):
        out["hypervolume_accuracy_hardware_efficiency"] = hypervolume(pts, reference=(0.0, 0.0),
                                                                         maximize=(True, True))
    return out


def format_search_summary(summary: Mapping[str, Any]) -> str:
    """A short human-readable summary of a finished search."""
    lines = [f"search finished: {summary['n_ok']} children evaluated, {summary['n_failed']} failed, "
             f"phases {', '.join(summary['phases'])} ({summary['wall_seconds']:.0f} s)"]
    if "best_reward" in summary:
        lines.append(f"  best reward {summary['best_reward']:.4f} ({summary['best_phase']}, {summary['best_key'][:12]}): "
                     f"accuracy on chips {100 * (summary.get('best_design_accuracy_variation') or 0):.2f}%, "
                     f"area {summary.get('best_design_area_mm2', float('nan')):.3f} mm², "
                     f"EDP {summary.get('best_design_edp', float('nan')):.3e} J·s")
    phases = list(summary.get("phases", []))
    if "ptbnas" in phases and "finetune" in phases and not any(p.startswith("rnas/") for p in phases):
        lines.append("  no ptbNAS child learned (every one failed or stayed at chance level): rNAS and fine-tuning "
                     "had nothing to start from; train longer (trainer.max_epochs) or check the failures in the report")
    report = summary.get("report", {})
    if report:
        lines.append("  report: " + ", ".join(str(p) for p in report.values()))
    lines.append(f"  history: {summary['history']}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------
# the one error path of the command line


_HANDLERS_ACTIVE = {"on": False, "received": None}


def _raise_interrupted(signum: int, frame: Any) -> None:
    if _HANDLERS_ACTIVE["received"] is not None:
        return  # already stopping: a second Ctrl-C or SIGTERM must not break the clean-up
    _HANDLERS_ACTIVE["received"] = signum
    raise Interrupted(signum)


def _install_signal_handlers() -> dict[int, Any]:
    previous = {}
    for signum in (signal.SIGTERM, signal.SIGINT):
        previous[signum] = signal.getsignal(signum)
        signal.signal(signum, _raise_interrupted)
    _HANDLERS_ACTIVE.update(on=True, received=None)
    return previous


def _reinstall_signal_handlers() -> None:
    """Put :func:`run_cli`'s handlers back after a library (Ray) replaced them; no-op outside ``run_cli``."""
    if _HANDLERS_ACTIVE["on"]:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, _raise_interrupted)


def _saved(state: Mapping[str, Any]) -> str:
    """What is on disk now, in words."""
    history = state.get("history")
    if history and Path(history).exists():
        from .search.history import HistoryStore

        try:
            with HistoryStore.open_readonly(history) as store:
                n = store.count()
        except Exception:  # noqa: BLE001 - only for the message
            return f"the history {history} keeps every child that finished"
        return f"{n} finished children are in {history} (a child still training is not saved)"
    if state.get("mode") == "child":
        return "nothing was saved (a single child is written only when it ends)"
    return "nothing was saved yet"


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _classify(err: BaseException, state: Mapping[str, Any]) -> tuple[int, str]:
    """Exit status and the one line to print for ``err``."""
    from .search.history import (HistoryError, OutputFolderError, OutputLockedError, is_storage_error)
    from .search.loop import SearchInputError

    if isinstance(err, Interrupted):
        name = signal.Signals(err.signum).name
        resume = "run the same command to resume" if state.get("mode") == "search" else "run the same command to start again"
        return 128 + err.signum, f"interrupted by {name}: {_saved(state)}; {resume}"
    if isinstance(err, DataError):
        return EXIT_CONFIG, f"data error: {_first_line(err)}"
    if isinstance(err, ConfigError):
        return EXIT_CONFIG, f"config error: {_first_line(err)}"
    if isinstance(err, SearchInputError):
        return EXIT_CONFIG, f"input error: {_first_line(err)}"
    if isinstance(err, OutputLockedError):
        return EXIT_RUNTIME, f"busy: {_first_line(err)}"
    if isinstance(err, OutputFolderError):
        return EXIT_CONFIG, f"output folder error: {_first_line(err)}"
    if isinstance(err, HistoryError):  # a damaged, foreign or different search's history: never overwritten
        return EXIT_CONFIG, f"history error: {_first_line(err)}"
    if is_storage_error(err):
        where = getattr(err, "filename", None) or state.get("history") or state.get("output_dir")
        reason = getattr(err, "strerror", None) or _first_line(err)
        return EXIT_RUNTIME, (f"storage error: {reason} (writing {where}); {_saved(state)}, nothing recorded is lost; "
                              "free space or make the folder writable, then run the same command to resume")
    return EXIT_RUNTIME, (f"error: {type(err).__name__}: {_first_line(err)} "
                          f"(set {DEBUG_ENV}=1 to see the traceback)")


def run_cli(cfg: Any) -> int:
    """``train.py``'s job: run, print the summary or one error line, return the exit status.

    Exit statuses: 0 done; 1 runtime failure (:data:`EXIT_RUNTIME`); 2 configuration or input
    (:data:`EXIT_CONFIG`); 130 / 143 interrupted by SIGINT / SIGTERM (the line says what was saved;
    the same command resumes a search). No traceback unless ``LIGHTNING_IMC_DEBUG=1``.
    """
    debug = os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no")
    ensure_console_logging()  # the run's lines reach the console even where nothing configured logging
    state: dict[str, Any] = {}
    previous = _install_signal_handlers()
    try:
        try:
            results = run(cfg, state)
        except BaseException as err:  # noqa: BLE001 - the one place errors become messages
            if isinstance(err, SystemExit) and state.get("mode") is None:
                raise
            if isinstance(err, KeyboardInterrupt):
                err = Interrupted(signal.SIGINT)
            for signum in (signal.SIGTERM, signal.SIGINT):  # the clean-up below must not be interrupted
                signal.signal(signum, signal.SIG_IGN)
            if debug:
                import traceback

                traceback.print_exc()
            status, line = _classify(err, state)
            print(line, file=sys.stderr, flush=True)
            return status
        log.info(format_search_summary(results) if "n_records" in results else format_child_summary(results))
        return EXIT_OK
    finally:
        _HANDLERS_ACTIVE.update(on=False, received=None)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
