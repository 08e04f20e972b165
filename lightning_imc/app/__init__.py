"""The application behind ``train.py``: from a composed Hydra config to trained, chip-evaluated children.

``mode=child`` trains one candidate (``candidate=default``, ``candidate=random`` or a map of
dimension values over the space's default candidate) with variation-aware training, evaluates it on
Monte-Carlo chips, maps it onto a chip (circuit optimisation + analytical hardware model), computes
NACIM's reward, logs everything to W&B (offline by default) and writes ``child_result.json``.

The application builds what the search layer needs — validated settings, the space, the candidate and
:func:`child_context` (how a child gets its settings, space and data) — and hands it down; the search
layer never imports this package.

Order of checks (nothing is loaded, trained or written before the settings are known to be good):
settings → lock on the output folder → the data's files exist → rNAS's saved weights fit the candidate →
Trainer arguments → data loaded.
:func:`run_cli` is the one error path of ``train.py``: see :data:`EXIT_CONFIG` and friends.

By job: :mod:`.cli` (the command line's error path and signal handling), :mod:`.child_job` (preparing
and running one child), :mod:`.search_job` (the search's orchestration and summary); :func:`run` here
dispatches between them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..settings import ConfigError
from .child_job import (Prepared, _build_component, _component_message, _finish_wandb, _log_candidate_table,
                        _one_line, _resolve_candidate, _to_container, check_data, check_rnas_checkpoint,
                        check_trainer_arguments, child_context, format_child_summary, load_data, make_logger, prepare,
                        run_child, single_child_threads)
from .cli import (DEBUG_ENV, EXIT_CONFIG, EXIT_OK, EXIT_RUNTIME, Interrupted, _classify, _first_line,
                  _install_signal_handlers, _reinstall_signal_handlers, _saved, run_cli)
from .search_job import (_check_history, _keep_settings_of_older_history, _reward_dict, format_search_summary,
                         run_search, saved_weights, search_hypervolumes, search_summary)

__all__ = ["run", "run_cli", "run_child", "run_search", "saved_weights", "prepare", "child_context", "make_logger", "Prepared",
           "Interrupted", "EXIT_OK", "EXIT_RUNTIME", "EXIT_CONFIG", "DEBUG_ENV"]


def run(cfg: Any, state: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run the configured job (``mode=child`` or ``mode=search``) and return its results.

    Checks in order — settings, the output folder's lock, the data's files, rNAS's saved weights, the
    Trainer's arguments — before any data is loaded. ``state`` (optional) receives ``output_dir``, ``mode`` and, once a search
    has opened it, ``history``: what :func:`run_cli` reports after an interruption or a storage error.

    Raises:
        ConfigError: a bad setting (:class:`DataError`: missing data).
        HistoryError: a damaged, foreign or different search's history, a busy or unwritable folder.
    """
    from ..search.history import OutputLock

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
        check_rnas_checkpoint(prepared)
        check_trainer_arguments(settings)
        if settings.mode == "search":
            return run_search(prepared, _to_container(cfg), state)
        return run_child(prepared, _to_container(cfg))
