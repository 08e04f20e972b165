"""The search's orchestration: the history's fingerprint and reward bounds, the executor, the live
progress and dashboard around :class:`~lightning_imc.search.loop.Search`, and the summary it ends with.

The caller (:func:`lightning_imc.app.run`) holds the output folder's lock.
"""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any, Mapping

from ..callbacks import HardwareMetricsCallback, estimate_reward_bounds
from ..console import SearchProgress, log, planned_children, quiet_lightning
from ..settings import ConfigError, Settings
from ..tracking import SearchDashboard, flat_config
from .child_job import Prepared, _finish_wandb, _to_container, child_context, load_data, make_logger
from .cli import _reinstall_signal_handlers

__all__ = ["run_search", "saved_weights", "search_summary", "search_hypervolumes", "format_search_summary"]


def _keep_settings_of_older_history(cfg: Any, settings: Settings) -> Any:
    """``cfg`` with the search settings an existing history was written under where a default changed since
    (:func:`~lightning_imc.search.loop.settings_of_older_history`), said in the log; ``None`` when nothing
    changes (no history, or one of today's settings)."""
    from omegaconf import DictConfig, OmegaConf

    from ..search.history import HistoryError, HistoryStore
    from ..search.loop import settings_of_older_history

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
        log.info("resuming %s, written before %s existed: it goes on with %s=%s", history_path, key, key, value)
        if isinstance(cfg, DictConfig):
            OmegaConf.update(cfg, key, value, force_add=True)
        else:
            section, name = key.split(".")
            cfg.setdefault(section, {})[name] = value
    return cfg


def _reward_dict(config: Any) -> dict[str, Any]:
    return {"alpha": config.alpha, "weights": dict(config.weights), "merge": config.merge,
            "failed_reward": config.failed_reward,
            "bounds": {k: [b.best, b.worst] for k, b in config.bounds.items()}}


def _check_history(settings: Settings, config: Mapping[str, Any]) -> dict[str, Any]:
    """The search's fingerprint; an existing history of another search (or other thread count) is refused now,
    before any data loads (:class:`~lightning_imc.search.history.HistoryMismatchError`)."""
    from ..search.history import HistoryMismatchError, HistoryStore
    from ..search.loop import child_threads, search_fingerprint

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
    from ..search.history import HistoryStore, atomic_write
    from ..search.loop import Search, make_executor
    from ..search.report import write_report

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
                from ..space import to_child

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
            from ..space import to_child

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
        from ..search.report import select_designs

        dashboard.finish(records, summary, paths, select_designs(records, prefix=settings.search.mode.upper()),
                         extra_files=[out / "search_summary.json"])
    _finish_wandb(logger)
    return summary


def saved_weights(prepared: Prepared, config: Mapping[str, Any], path: str) -> str:
    """Where the weights a finished search saved at ``path`` (as its history records it) are now: in the
    search folder if it moved, else trained again from its history (:meth:`Search.weights_at
    <lightning_imc.search.loop.Search.weights_at>`), e.g. to judge a design after a new checkout."""
    from ..search.history import HistoryStore
    from ..search.loop import Search, make_executor

    settings = prepared.settings
    fingerprint = _check_history(settings, config)
    executor = make_executor(settings)
    try:
        with HistoryStore.open(str(Path(settings.output_dir) / "history.sqlite"), fingerprint, create=False) as store:
            search = Search(config, settings, prepared.space, store, executor, store.get_meta("reward"),
                            context_factory=child_context, candidate=prepared.candidate)
            found = search.weights_at(path)
    finally:
        executor.close()
    assert found is not None
    return found


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

    from ..search.pareto import hypervolume, objective_pairs

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
