"""The one error path of ``train.py``: signal handling, exit statuses, and one line per failure.

:func:`run_cli` runs the job (:func:`lightning_imc.app.run`), prints its summary or one line naming what
went wrong, and returns the exit status (:data:`EXIT_CONFIG` and friends). SIGTERM and SIGINT become
:class:`Interrupted`, so that what was saved is said and the same command resumes.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any, Mapping

from ..console import ensure_console_logging, log
from ..settings import ConfigError, DataError

__all__ = ["run_cli", "Interrupted", "EXIT_OK", "EXIT_RUNTIME", "EXIT_CONFIG", "DEBUG_ENV"]

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
        from ..search.history import HistoryStore

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
    from ..search.history import (HistoryError, OutputFolderError, OutputLockedError, is_storage_error)
    from ..search.loop import SearchInputError

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
    from . import run
    from .child_job import format_child_summary
    from .search_job import format_search_summary

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
