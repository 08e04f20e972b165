"""What a person running ``train.py`` sees: Python logging, quiet children, the live progress of a search.

* Every line of the application goes through :data:`log` (the ``lightning_imc`` logger). Under Hydra the
  console shows the bare message and ``<output_dir>/train.log`` holds it with time, logger and level
  (``hydra.job_logging`` in ``conf/config.yaml``); a program that configures no logging still sees
  the lines on stdout (:func:`ensure_console_logging`).
* :func:`quiet_lightning` keeps the Trainer's per-fit banners (GPU/TPU available, the litlogger tip) and
  Lightning's known-spurious deprecation warning out of a search's output. Installed once per
  process: re-adding warning filters per child would reset Python's once-per-location registry and
  bring the warning back before every child.
* :class:`SearchProgress` is the live display of a search (Rich): the phase, children done / planned,
  the best reward so far, elapsed time and ETA; log lines print above it. Outside a terminal it draws
  nothing live and leaves one final line.
"""

from __future__ import annotations

import contextlib
import logging
import math
import sys
import warnings
from typing import Any, Iterator, Mapping

__all__ = ["log", "ensure_console_logging", "quiet_lightning", "ignore_spurious_warnings", "lightning_info_silenced", "planned_children",
           "SearchProgress", "LIGHTNING_LOGGERS", "SPURIOUS_WARNINGS"]

log = logging.getLogger("lightning_imc")
"""The application's logger: per-child lines, phase changes, the final summary."""

LIGHTNING_LOGGERS = ("pytorch_lightning", "lightning.pytorch", "lightning_fabric", "lightning.fabric")
"""Loggers of Lightning's per-Trainer INFO banners."""

SPURIOUS_WARNINGS = (
    # Lightning's own _pytree helper on torch >= 2.9, at every fit: nothing a user can change
    r".*isinstance\(treespec, LeafSpec\)` is deprecated.*",
    # children train on small tensor-resident data sets: worker processes would only add start-up time
    r".*does not have many workers.*",
)
"""Warning messages (regular expressions) that say nothing to a user of a search."""

_QUIET = {"installed": False}


def ensure_console_logging(level: int = logging.INFO) -> None:
    """Send :data:`log` to stdout (bare messages) when nothing configured logging (no Hydra, no handler)."""
    if logging.getLogger().handlers or log.handlers:
        return
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(handler)
    log.setLevel(level)
    log.propagate = False


def quiet_lightning() -> None:
    """Lightning's INFO banners off and :data:`SPURIOUS_WARNINGS` ignored, in this process: a search's children."""
    for name in LIGHTNING_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    ignore_spurious_warnings()


def ignore_spurious_warnings() -> None:
    """:data:`SPURIOUS_WARNINGS` ignored in this process (filters added once; a single child keeps its banner)."""
    if not _QUIET["installed"]:
        for message in SPURIOUS_WARNINGS:
            warnings.filterwarnings("ignore", message=message)
        _QUIET["installed"] = True


@contextlib.contextmanager
def lightning_info_silenced() -> Iterator[None]:
    """Lightning's INFO banners off for the block (e.g. a Trainer built only to check its arguments)."""
    previous = {name: logging.getLogger(name).level for name in LIGHTNING_LOGGERS}
    for name in previous:
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        yield
    finally:
        for name, level in previous.items():
            logging.getLogger(name).setLevel(level)


def planned_children(search: Any) -> int:
    """Children a search plans to evaluate, from its settings (``search.*``): the progress bar's total.

    ``nacim``: ``episodes`` + ``top_k`` fine-tunings (when ``topk_finetune_epochs > 0``) + ``top_k`` ×
    ``rnas_steps`` + ``finetune_top``; ``rnas``: ``episodes``; the others: ``episodes``. Promotion rungs
    of a multi-fidelity search are added when they start (:meth:`SearchProgress.phase_started`).

    >>> from types import SimpleNamespace as S
    >>> planned_children(S(mode="nacim", episodes=12, top_k=2, topk_finetune_epochs=4, rnas_steps=8, finetune_top=2))
    32
    """
    if search.mode != "nacim":
        return int(search.episodes)
    top_k = int(search.top_k)
    topk_finetune = top_k if int(search.topk_finetune_epochs) > 0 else 0
    return int(search.episodes) + topk_finetune + top_k * int(search.rnas_steps) + int(search.finetune_top)


class SearchProgress:
    """The live display of a search: phase, children done / planned, best reward so far, elapsed, ETA.

    Use as a context manager around the search; call :meth:`phase_started` when a phase begins and
    :meth:`child_finished` with every record. While it is open, the console handlers of the root logger
    write above the display (so that log lines do not break it); the file handler (``train.log``) is
    left alone.

    Args:
        planned: Children the search plans to evaluate (see :func:`planned_children`).
        already_done: Children found in the history of a resumed search (counted as done, not in the ETA).
        enabled: ``False`` draws nothing (the records are still counted).
    """

    def __init__(self, planned: int, already_done: int = 0, enabled: bool = True):
        self.planned = max(int(planned), int(already_done))
        self.done = int(already_done)
        self.best_reward = -math.inf
        self.phase = "starting"
        self._announced: set[str] = set()
        self._phase_sizes: dict[str, int] = {}
        self.enabled = enabled
        self._progress: Any = None
        self._task: Any = None
        self._streams: list[tuple[logging.StreamHandler, Any]] = []

    # -- display ---------------------------------------------------------------------------------
    def __enter__(self) -> "SearchProgress":
        if not self.enabled:
            return self
        from rich.console import Console
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)

        self._progress = Progress(
            TextColumn("[bold]{task.fields[phase]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("children"),
            TextColumn("best reward {task.fields[best]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=Console(file=sys.stdout),
            # a child takes tens of seconds: Rich's default 30-s window would often hold no finished child
            # (ETA unknown); the ETA is the search's average pace so far
            speed_estimate_period=24 * 3600.0,
            refresh_per_second=1,  # children take seconds: a faster redraw only fills W&B's console log
            redirect_stdout=True,
            redirect_stderr=True,
        )
        self._progress.start()
        self._task = self._progress.add_task("search", total=self.planned, completed=self.done, phase=self.phase,
                                             best="-")
        # console log handlers were bound to the real stdout/stderr: point them at Rich's proxies
        for handler in logging.getLogger().handlers + log.handlers:
            if type(handler) is logging.StreamHandler and handler.stream in (sys.__stdout__, sys.__stderr__,
                                                                             self._progress.console.file):
                self._streams.append((handler, handler.stream))
                handler.setStream(sys.stdout)
        return self

    def __exit__(self, *exc: Any) -> None:
        for handler, stream in self._streams:
            handler.setStream(stream)
        self._streams.clear()
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def _refresh(self) -> None:
        if self._progress is not None:
            best = f"{self.best_reward:.4f}" if math.isfinite(self.best_reward) else "-"
            self._progress.update(self._task, total=self.planned, completed=self.done, phase=self.phase, best=best)

    # -- events ----------------------------------------------------------------------------------
    def phase_started(self, phase: str, size: int, planned_phase: bool = True) -> None:
        """Phase ``phase`` begins with ``size`` children; a phase outside the plan (a promotion rung)
        raises the total by its size."""
        self.phase = phase
        if phase not in self._announced:
            self._announced.add(phase)
            self._phase_sizes[phase] = int(size)
            if not planned_phase:
                self.planned += int(size)
            log.info("phase %s: %d %s", phase, size, "child" if size == 1 else "children")
        self._refresh()

    def child_finished(self, record: Any) -> None:
        """Count ``record`` (a :class:`~lightning_imc.search.history.CandidateRecord`) and log its line."""
        self.done += 1
        self.planned = max(self.planned, self.done)
        if record.status == "ok" and math.isfinite(record.reward):
            self.best_reward = max(self.best_reward, float(record.reward))
        log.info(describe_record(record))
        self._refresh()

    def finish(self) -> None:
        """The search ended: the total becomes what was done (a plan can overestimate, e.g. fewer top-K)."""
        self.planned = self.done
        self.phase = "done"
        self._refresh()


def describe_record(record: Any) -> str:
    """One line for a finished child: phase, index, key, accuracy on chips, reward, training time."""
    metrics: Mapping[str, Any] = record.metrics or {}
    accuracy = metrics.get("accuracy_variation")
    if record.status == "ok" and accuracy is not None:
        detail = f"accuracy on chips {100 * accuracy:.1f}%, reward {record.reward:.4f}, {record.train_seconds:.1f} s"
    else:
        detail = f"FAILED ({record.error})"
    return f"[{record.phase} #{record.index}] {record.key[:12]}: {detail}"
