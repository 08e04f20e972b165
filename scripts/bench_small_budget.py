"""Benchmark at a quickstart's budget: does a controller reach the default controller's best with half the children?

Issue 26 asks that the surrogate controller reach, on the digits quickstart (16 trained children, batches of 4),
the best reward of the default controller (REINFORCE) with at most half its children. Two seeds of real
searches cannot say how often that happens, so this bench measures it on the landscapes of
``scripts/bench_controllers.py`` (``tabular``: real digits children of this project; ``chain``, ``plateau``:
synthetic), over many seeds: per seed, the default controller's best value after ``--budget`` proposals and
each challenger's best after half of them, both asked in batches of ``--batch``.

What to compare it with.  For two controllers that are no better than uniform sampling, the best of ``n/2``
independent draws is at least the best of ``n`` with probability (n/2) / (n/2 + n) = 1/3 (continuous values;
ties make it a little larger): a challenger that meets the criterion on about a third of the seeds has
learned nothing the default did not; a controller that really needs half the children meets it on at least
half of them (then its best after n/2 is as good as the default's after n, in the median).

Also reported, per controller: the median top fraction of its best value (the share of the landscape at least
as good; smaller is better) after n/2 and after n proposals. 95% intervals: Wilson for the proportions.

    OMP_NUM_THREADS=1 python -m uv run python scripts/bench_small_budget.py --seeds 100

Last line, one JSON object: ``{"<landscape>": {"<controller>": {"p_half_reaches_default": ..., "ci95": [lo, hi],
"top_fraction_half": ..., "top_fraction_full": ...}, ...}, ..., "iid_expectation": 0.333,
"surrogate_half_reaches_default_worst": ...}`` (the last: the smallest proportion over the landscapes).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import numpy as np  # noqa: E402
from bench_controllers import TABULAR, controller_settings  # noqa: E402

from lightning_imc.controllers import get_controller  # noqa: E402
from lightning_imc.controllers.benchmark import (  # noqa: E402
    Landscape,
    chain_landscape,
    plateau_landscape,
    run_controller,
    tabular_landscape,
)

DEFAULT = "reinforce"
"""The default controller (``conf/config.yaml``)."""

CHALLENGERS = ("random", "evolution", "surrogate")

CHALLENGER_SEED_OFFSET = 100_000
"""Added to a seed for the challengers' runs, so that no challenger replays the default's random stream."""


def best_so_far(name: str, landscape: Landscape, seed: int, budget: int, batch: int) -> list[float]:
    """The best value after each of ``budget`` proposals, asked ``batch`` at a time (the configured controller)."""
    settings = controller_settings(name)
    if "batch_size" in settings:  # REINFORCE's update batch m = the search's batch
        settings["batch_size"] = batch
    controller = get_controller(name, cardinalities=landscape.cardinalities, seed=seed, **settings)
    return run_controller(controller, landscape, budget=budget, batch_size=batch, min_queries=budget).best_so_far


def wilson(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval of a proportion (95% by default)."""
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def top_fraction(landscape: Landscape, value: float) -> float:
    """Share of the landscape's points at least as good as ``value``."""
    return float(np.count_nonzero(landscape.values >= value) / landscape.size)


def measure(make_landscape: Callable[[int], Landscape], seeds: Sequence[int], budget: int, batch: int,
            challengers: Sequence[str], default: str = DEFAULT) -> dict[str, Any]:
    """Per controller: the proportion of seeds whose best after ``budget // 2`` proposals reaches ``default``'s
    best after ``budget`` (challengers only, with its Wilson interval), and the median top fractions."""
    half = budget // 2
    # a challenger of the default's own name (a check: random against random) gets its own row
    labels = {name: name if name != default else f"{name} (challenger)" for name in challengers}
    reached = {name: 0 for name in challengers}
    fractions: dict[str, list[tuple[float, float]]] = {label: [] for label in (default, *labels.values())}
    for seed in seeds:
        landscape = make_landscape(seed)
        reference = best_so_far(default, landscape, seed, budget, batch)
        fractions[default].append((top_fraction(landscape, reference[half - 1]), top_fraction(landscape, reference[-1])))
        for name in challengers:
            run = best_so_far(name, landscape, seed + CHALLENGER_SEED_OFFSET, budget, batch)
            reached[name] += run[half - 1] >= reference[-1]
            fractions[labels[name]].append((top_fraction(landscape, run[half - 1]), top_fraction(landscape, run[-1])))
    n = len(seeds)
    out: dict[str, Any] = {}
    for label, values in fractions.items():
        out[label] = {"top_fraction_half": round(statistics.median(f[0] for f in values), 4),
                      "top_fraction_full": round(statistics.median(f[1] for f in values), 4)}
    for name, label in labels.items():
        lo, hi = wilson(reached[name], n)
        out[label] = {"p_half_reaches_default": round(reached[name] / n, 3), "ci95": [round(lo, 3), round(hi, 3)],
                      **out[label]}
    return out


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=100, help="seeds per landscape")
    parser.add_argument("--budget", type=int, default=16, help="the default controller's children (even, >= 2)")
    parser.add_argument("--batch", type=int, default=4, help="proposals per ask (the quickstart's search.batch_size)")
    parser.add_argument("--landscapes", default="tabular,chain,plateau")
    args = parser.parse_args(argv)
    if args.seeds < 1:
        raise SystemExit(f"--seeds must be >= 1, got {args.seeds}")
    if args.budget < 2 or args.budget % 2:
        raise SystemExit(f"--budget must be an even number >= 2, got {args.budget}")
    if args.batch < 1:
        raise SystemExit(f"--batch must be >= 1, got {args.batch}")
    makers: dict[str, Callable[[int], Landscape]] = {
        "tabular": lambda _seed: tabular_landscape(TABULAR), "chain": chain_landscape, "plateau": plateau_landscape}
    names = [n.strip() for n in args.landscapes.split(",") if n.strip()]
    unknown = [n for n in names if n not in makers]
    if unknown or not names:
        raise SystemExit(f"--landscapes: {unknown[0] if unknown else args.landscapes!r} is not one of {', '.join(makers)}")
    summary: dict[str, Any] = {}
    print(f"best after {args.budget // 2} proposals (challenger) vs after {args.budget} ({DEFAULT}), batches of "
          f"{args.batch}, {args.seeds} seeds; iid expectation 1/3")
    print("| landscape | controller | P(half reaches default's best) [95% CI] | median top fraction after "
          f"{args.budget // 2} / {args.budget} | seconds |")
    print("|---|---|---|---|---|")
    for name in names:
        start = time.perf_counter()
        result = measure(makers[name], range(args.seeds), args.budget, args.batch, CHALLENGERS)
        seconds = time.perf_counter() - start
        for controller, row in result.items():
            p = (f"{row['p_half_reaches_default']:.2f} [{row['ci95'][0]:.2f}, {row['ci95'][1]:.2f}]"
                 if "p_half_reaches_default" in row else "(the default)")
            print(f"| {name} | {controller} | {p} | {row['top_fraction_half']:.4f} / {row['top_fraction_full']:.4f} "
                  f"| {seconds:.0f} |", flush=True)
        summary[name] = result
    summary["iid_expectation"] = round(1 / 3, 3)
    summary["surrogate_half_reaches_default_worst"] = min(summary[n]["surrogate"]["p_half_reaches_default"] for n in names)
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
