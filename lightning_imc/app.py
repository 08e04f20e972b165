"""The application behind ``train.py``: from a composed Hydra config to trained, chip-evaluated children.

``mode=child`` trains one candidate (``candidate=default``, ``candidate=random`` or a map of
dimension values over the space's default candidate) with variation-aware training, evaluates it on
Monte-Carlo chips, maps it onto a chip (circuit optimisation + analytical hardware model), computes
NACIM's reward, logs everything to W&B (offline by default) and writes ``child_result.json``.
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

from .callbacks import HardwareMetricsCallback, RewardCallback, VariationEvalCallback, estimate_reward_bounds
from .models import ChildModule
from .settings import ConfigError, Settings, load_settings

__all__ = ["run", "run_child", "run_search", "prepare", "make_logger", "Prepared"]


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
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ConfigError(f"{what}: {message}") from None


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


def make_logger(settings: Settings, run_name: str, config: Mapping[str, Any]) -> Any:
    """The Lightning logger: W&B (offline by default, files under the output folder), CSV, or none."""
    if settings.logger.kind == "none":
        return False
    save_dir = Path(settings.output_dir)
    save_dir.mkdir(parents=True, exist_ok=True)
    if settings.logger.kind == "csv":
        return pl.loggers.CSVLogger(save_dir=str(save_dir), name=run_name)
    os.environ.setdefault("WANDB_SILENT", "true")
    return pl.loggers.WandbLogger(
        project=settings.logger.project, name=run_name, save_dir=str(save_dir), offline=settings.logger.mode == "offline",
        mode=settings.logger.mode if settings.logger.mode == "disabled" else None, tags=list(settings.logger.tags),
        config=dict(config),
    )


def candidate_row(results: Mapping[str, Any]) -> dict[str, Any]:
    """One flat row per candidate: its choices, accuracy figures, hardware metrics and reward."""
    row: dict[str, Any] = {"candidate_key": results["candidate_key"]}
    row.update({f"choice/{k}": v for k, v in sorted(results["candidate"].items())})
    for key in ("accuracy_clean", "accuracy_variation", "accuracy_variation_std", "reward", "hardware_efficiency"):
        if key in results:
            row[key] = results[key]
    row.update({f"hw/{k}": v for k, v in results.get("hardware", {}).items()})
    return row


def _log_candidate_table(logger: Any, results: Mapping[str, Any]) -> None:
    if isinstance(logger, pl.loggers.WandbLogger):
        row = candidate_row(results)
        logger.log_table(key="candidates", columns=list(row), data=[[str(v) if v is None else v for v in row.values()]])


def _finish_wandb(logger: Any) -> None:
    if isinstance(logger, pl.loggers.WandbLogger):
        import wandb

        wandb.finish()


def run(cfg: Any) -> dict[str, Any]:
    """Run the configured job (``mode=child`` or ``mode=search``) and return its results."""
    prepared = prepare(cfg)
    check_trainer_arguments(prepared.settings)
    if prepared.settings.mode == "search":
        return run_search(prepared, _to_container(cfg))
    return run_child(prepared)


def check_trainer_arguments(settings: Settings) -> None:
    """Build (and drop) a Trainer from the settings so that a bad argument fails before any data loads."""
    kwargs = {k: v for k, v in settings.trainer.items() if k not in ("logger", "enable_checkpointing")}
    try:
        pl.Trainer(logger=False, enable_checkpointing=False, **kwargs)
    except (TypeError, ValueError, MisconfigurationException) as err:
        raise ConfigError(f"trainer: {str(err).splitlines()[0]}") from None


def run_child(prepared: Prepared) -> dict[str, Any]:
    """Train and evaluate one candidate; returns its results (also written to ``child_result.json``)."""
    settings, spec = prepared.settings, prepared.spec
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
    logger = make_logger(settings, run_name, {"candidate": prepared.candidate.to_dict(), "seed": settings.seed})
    try:  # the Trainer validates its own arguments: do it before any data is loaded
        trainer = pl.Trainer(logger=logger, callbacks=callbacks, default_root_dir=settings.output_dir,
                             enable_checkpointing=False, **trainer_kwargs)
    except (TypeError, ValueError, MisconfigurationException) as err:
        raise ConfigError(f"trainer: {str(err).splitlines()[0]}") from None

    # Load the (small, tensor-resident) data now: missing files fail here, before any model is built.
    prepared.datamodule.prepare_data()
    prepared.datamodule.setup("fit")
    missing = [k for k, w in settings.reward.weights.items() if w > 0 and k not in settings.reward.bounds]
    if missing and settings.reward.alpha < 1:
        from .space import to_child

        bounds = estimate_reward_bounds(prepared.space, to_child, prepared.datamodule.input_shape,
                                        prepared.datamodule.num_classes, hardware,
                                        n_samples=settings.reward_bound_samples, seed=settings.seed, metrics=missing)
        reward.config = settings.reward.with_bounds(bounds)
    spec = hardware.settle_circuit(spec)
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
    out = Path(settings.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "child_result.json").write_text(json.dumps(results, indent=2, default=str))
    _log_candidate_table(logger, results)
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
            f"{100 * results['accuracy_variation']:.2f}% (95% CI {100 * low:.2f}–{100 * high:.2f}, "
            f"{len(results['chip_values'])} chips)"
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


def run_search(prepared: Prepared, config: Mapping[str, Any]) -> dict[str, Any]:
    """Run the co-exploration loop; history, report and plots go to the output folder (resumable)."""
    from .search.history import HistoryStore
    from .search.loop import Search, make_executor, search_fingerprint
    from .search.report import write_report

    settings = prepared.settings
    out = Path(settings.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    history_path = out / "history.sqlite"
    if history_path.exists() and not settings.search.resume:
        raise ConfigError(f"search.resume=false but {history_path} exists; choose another output folder or resume")
    fingerprint = search_fingerprint(config)
    # load the data once here: missing files stop the search now, not in every child
    prepared.datamodule.prepare_data()
    prepared.datamodule.setup("fit")
    hardware = HardwareMetricsCallback(settings.hardware.chip, settings.hardware.circuit_space,
                                       settings.hardware.objective, settings.hardware.constraints)
    logger = make_logger(settings, f"search-{settings.search.mode}-seed{settings.seed}", {"search": dict(config)})
    with HistoryStore.open(str(history_path), fingerprint) as store:
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

        def on_record(record: Any) -> None:
            counter["n"] += 1
            acc = record.metrics.get("accuracy_variation")
            detail = (f"accuracy on chips {100 * acc:.1f}%, reward {record.reward:.4f}, {record.train_seconds:.1f} s"
                      if record.status == "ok" and acc is not None else f"FAILED ({record.error})")
            print(f"[{record.phase} #{record.index}] {record.key[:12]}: {detail}", flush=True)
            if not logger:
                return
            metrics = {"search/reward": record.reward, "search/failed": float(record.status != "ok")}
            for key in ("accuracy_clean", "accuracy_variation", "hardware_efficiency"):
                if key in record.metrics:
                    metrics[f"search/{key}"] = record.metrics[key]
            metrics.update({f"hw/{k}": v for k, v in record.metrics.get("hardware", {}).items()})
            logger.log_metrics(metrics, step=counter["n"])

        executor = make_executor(settings)
        start = time.perf_counter()
        try:
            phases = Search(config, settings, prepared.space, store, executor, reward, on_record).run()
        finally:
            executor.close()
        records = store.records()
        paths = write_report(store, str(out))
    summary = search_summary(records)
    summary.update(phases=list(phases), n_records=len(records), report=paths,
                   wall_seconds=time.perf_counter() - start, history=str(history_path))
    if logger:
        logger.log_metrics({f"summary/{k}": v for k, v in summary.items() if isinstance(v, (int, float))}, step=counter["n"] + 1)
        if isinstance(logger, pl.loggers.WandbLogger):
            for key, path in paths.items():
                if str(path).endswith(".png"):
                    logger.log_image(key=f"report/{key}", images=[str(path)])
            rows = [candidate_row({"candidate": r.choices, "candidate_key": r.key, **r.metrics, "reward": r.reward})
                    for r in records if r.status == "ok"]
            if rows:
                columns = sorted({c for row in rows for c in row})
                logger.log_table(key="candidates", columns=["phase"] + columns,
                                 data=[[r.phase] + [row.get(c) for c in columns] for r, row in
                                       zip([r for r in records if r.status == "ok"], rows)])
            for key, value in summary.items():
                if isinstance(value, (int, float)):
                    logger.experiment.summary[key] = value
    (out / "search_summary.json").write_text(json.dumps(summary, indent=2, default=str))
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

    from .search.pareto import hypervolume_2d, objective_pairs

    out: dict[str, float] = {}
    pts, _ = objective_pairs(records, "edp")
    pts = pts[(pts[:, 1] > 0) & np.isfinite(pts).all(axis=1)]
    if len(pts):
        pts[:, 1] = np.log10(pts[:, 1])
        out["hypervolume_accuracy_log10edp"] = hypervolume_2d(pts, reference=(0.0, 0.0), maximize=(True, False))
    pts, _ = objective_pairs(records, "hardware_efficiency")
    if len(pts):
        out["hypervolume_accuracy_hardware_efficiency"] = hypervolume_2d(pts, reference=(0.0, 0.0),
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
    report = summary.get("report", {})
    if report:
        lines.append("  report: " + ", ".join(str(p) for p in report.values()))
    lines.append(f"  history: {summary['history']}")
    return "\n".join(lines)
