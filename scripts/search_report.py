"""Report of a finished or running search, from its history file.

Opens the history read-only (safe while the search is writing it), prints the Markdown report
(candidate counts, named designs, the paper's Table II, Pareto sizes and hypervolumes) to stdout
and writes ``report.md``, ``report.csv``, ``pareto_<metric>.png`` and ``rewards.png``.

Usage::

    uv run python scripts/search_report.py <history.sqlite | output_dir> [--out DIR] [--tolerance PP]

A directory is searched for ``history.sqlite`` (or a single ``*.sqlite`` file). Files are written
next to the history unless ``--out`` is given. Exit status 2 for a missing or foreign file.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from lightning_imc.search.history import DEFAULT_HISTORY_NAME, HistoryError, HistoryStore  # noqa: E402
from lightning_imc.search.report import DEFAULT_TOLERANCE_PP, render_report, write_report  # noqa: E402


def find_history(target: Path) -> Path:
    """The history file named by ``target`` (a file, or a directory holding one)."""
    if target.is_dir():
        default = target / DEFAULT_HISTORY_NAME
        if default.is_file():
            return default
        found = sorted(p for p in target.glob("*.sqlite") if p.is_file())
        if len(found) == 1:
            return found[0]
        if not found:
            raise HistoryError(f"{target}: no {DEFAULT_HISTORY_NAME} (nor any *.sqlite file) in this directory")
        raise HistoryError(f"{target}: several *.sqlite files ({', '.join(p.name for p in found)}); name one")
    if not target.exists():
        raise HistoryError(f"{target}: no such file or directory")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("history", type=Path, help="history file, or the search's output directory")
    parser.add_argument("--out", type=Path, default=None, help="output directory (default: next to the history)")
    parser.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE_PP,
                        help="accuracy tolerance of the *_hw designs, percentage points (default %(default)s)")
    parser.add_argument("--no-files", action="store_true", help="only print the report")
    args = parser.parse_args(argv)
    try:
        path = find_history(args.history)
        with HistoryStore.open_readonly(path) as store:
            print(render_report(store, tolerance_pp=args.tolerance))
            if not args.no_files:
                out = args.out if args.out is not None else path.parent
                written = write_report(store, out, tolerance_pp=args.tolerance)
                print("Written: " + ", ".join(str(p) for p in written.values()), file=sys.stderr)
    except HistoryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except sqlite3.Error as exc:
        print(f"error: {args.history}: cannot read the history ({exc})", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
