"""Benchmark of the search controllers: queries to the top 1% / 0.1% and repeat rate, over many seeds.

Landscapes (see :mod:`lightning_imc.controllers.benchmark`):

* ``chain`` — synthetic, 8 dimensions (86,400 points), every dimension interacting with its
  neighbours through random tables; a new landscape per seed;
* ``plateau`` — synthetic, same space, blocks of two dimensions that score only when both are right
  (flat regions), gently sloped by a small interaction term; a new landscape per seed;
* ``tabular`` — the project's own children: every point of a grid of the RLS space trained on the
  digits (``data/tabular_digits_rls.jsonl``, built by ``scripts/make_tabular_benchmark.py``);
  value = accuracy on chips with variation; the controller's seed changes per run.

Each run asks batches of 10 and stops once it has proposed a point of the top 0.1% and made at least
``--min-queries`` proposals (so repeat rates compare over the same length), or at the budget. A query
is a proposal, one episode of a search's budget: repeats count (the search loop copies a repeat's
earlier result instead of training it again, but the episode is spent); the ``distinct`` column counts
only new points (the children a search would train). Every controller re-draws repeats by default, so
the two agree until a space is exhausted. A run that never hit counts as budget + 1 (the median is
then a lower bound, marked ``>``). Controllers run with their ``conf/controller/*.yaml`` settings;
``nsga2`` with the single objective of the landscape. ``[lo, hi]``: 95% bootstrap interval of the
median over seeds (percentile bootstrap, 2000 resamples); ``best/random``: the best controller's median
over random's on each landscape, with its interval from resampling the seeds jointly.

Table lines first; the last line is one JSON object::

    {"<landscape>": {"<controller>": {"median_queries_top0_1": ..., "repeat_rate": ...}, ...}, ...,
     "best_over_random_top0_1": ..., "max_repeat_rate_reinforce": ..., "surrogate_over_evolution_top0_1": ...}

``best_over_random_top0_1``: on the worst landscape, the best controller's median queries to the top
0.1% divided by random's (lower is better; <= 0.5 is the target). ``max_repeat_rate_reinforce``: the
largest repeat rate of any REINFORCE run. ``surrogate_over_evolution_top0_1``: on the worst landscape, the
surrogate controller's median queries to the top 0.1% divided by regularized evolution's (<= 0.7 is the
target). ``--ablation`` adds a table of REINFORCE variants (each
change of ``conf/controller/reinforce.yaml`` off in turn) on the synthetic landscapes.

Usage: ``python -m uv run python scripts/bench_controllers.py [--seeds 30] [--ablation]``
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

from lightning_imc.controllers import controller_hyperparameters, get_controller  # noqa: E402
from lightning_imc.controllers.benchmark import (  # noqa: E402
    chain_landscape,
    plateau_landscape,
    run_controller,
    tabular_landscape,
)

CONTROLLERS = ("random", "evolution", "reinforce", "tpe", "nsga2", "surrogate")
TABULAR = ROOT / "data" / "tabular_digits_rls.jsonl"
BATCH = 10
"""Proposals per ask (the search loop's search.batch_size; REINFORCE's update batch m)."""

#: REINFORCE variants of the ablation: the configured controller with one change undone.
ABLATION = {
    "reinforce (configured)": {},
    "no entropy floor": {"target_entropy": None},
    "no duplicate re-draw": {"avoid_duplicates": False},
    "raw advantages (R - b)": {"advantage_scale": "none"},
    "Adam lr 0.01 (unbounded steps)": {"optimizer": "adam", "lr": 0.01, "grad_clip": None},
    "earlier controller (all off)": {"optimizer": "adam", "lr": 0.01, "grad_clip": None, "advantage_scale": "none",
                                     "target_entropy": None, "avoid_duplicates": False},
}


def controller_settings(name: str) -> dict:
    """Hyperparameters of ``conf/controller/<name>.yaml`` (nsga2: one objective, the landscape's value)."""
    config = OmegaConf.to_container(OmegaConf.load(ROOT / "conf" / "controller" / f"{name}.yaml"))
    config.pop("name")
    if "batch_size" in controller_hyperparameters(name):  # as the search loop: REINFORCE's m = the batch
        config["batch_size"] = BATCH
    if name == "nsga2":
        config.update(objectives=["reward"], directions=["maximize"])
    return config


BOOTSTRAP = 2000


def bootstrap_median(values: list[float], resamples: int = BOOTSTRAP, seed: int = 0) -> tuple[float, float]:
    """95% percentile-bootstrap interval of the median of ``values``."""
    rng = random.Random(seed)
    medians = sorted(statistics.median(rng.choices(values, k=len(values))) for _ in range(resamples))
    return medians[int(0.025 * resamples)], medians[int(0.975 * resamples) - 1]


def bootstrap_ratio(numerator: list[float], denominator: list[float], resamples: int = BOOTSTRAP,
                    seed: int = 0) -> tuple[float, float]:
    """95% interval of median(numerator) / median(denominator), the seeds (paired runs) resampled jointly."""
    rng = random.Random(seed)
    n = len(numerator)
    ratios = []
    for _ in range(resamples):
        idx = [rng.randrange(n) for _ in range(n)]
        ratios.append(statistics.median(numerator[i] for i in idx) / statistics.median(denominator[i] for i in idx))
    ratios.sort()
    return ratios[int(0.025 * resamples)], ratios[int(0.975 * resamples) - 1]


def measure(name: str, settings: dict, make_landscape, seeds, budget: int, min_queries: int) -> dict:
    """Median queries to the top 1% / 0.1% (with bootstrap intervals) and repeat rates of ``len(seeds)`` runs."""
    top1, top01, distinct01, repeats = [], [], [], []
    for seed in seeds:
        landscape = make_landscape(seed)
        controller = get_controller(name, cardinalities=landscape.cardinalities, seed=seed, **settings)
        run = run_controller(controller, landscape, budget=budget, min_queries=min_queries)
        top1.append(run.queries_to_top[0.01] or budget + 1)
        top01.append(run.queries_to_top[0.001] or budget + 1)
        distinct01.append(run.evaluations_to_top[0.001] or budget + 1)
        repeats.append(run.repeat_rate)
    return {
        "median_queries_top1": statistics.median(top1), "median_queries_top0_1": statistics.median(top01),
        "ci_top0_1": bootstrap_median(top01), "median_distinct_top0_1": statistics.median(distinct01),
        "runs_top0_1": top01,
        "censored_top0_1": statistics.median(top01) > budget, "repeat_rate": statistics.fmean(repeats),
        "max_repeat_rate": max(repeats), "found_top0_1": sum(q <= budget for q in top01) / len(top01),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--budget", type=int, default=3000, help="most proposals per synthetic run")
    parser.add_argument("--min-queries", type=int, default=500, help="fewest proposals per synthetic run")
    parser.add_argument("--tabular", default=str(TABULAR))
    parser.add_argument("--ablation", action="store_true")
    parser.add_argument("--ablation-seeds", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(1)

    seeds = range(args.seeds)
    landscapes = {"chain": (chain_landscape, args.budget, args.min_queries),
                  "plateau": (plateau_landscape, args.budget, args.min_queries)}
    if Path(args.tabular).exists():
        table = tabular_landscape(args.tabular)
        # 216 points: a budget of 3x the table, repeat rates over the first half of the table
        landscapes["tabular"] = (lambda seed: table, 3 * table.size, table.size // 2)
        print(f"tabular: {table.size} children, dimensions {table.cardinalities}, best accuracy on chips "
              f"{table.threshold(0.001):.4f}, top 1% from {table.threshold(0.01):.4f}")
    else:
        print(f"tabular: {args.tabular} not found (run scripts/make_tabular_benchmark.py); skipped")

    results: dict[str, dict[str, dict]] = {}
    print(f"{'landscape':9s} {'controller':11s} {'top1% med':>9s} {'top0.1% med':>11s} {'[95% CI]':>12s} "
          f"{'distinct':>8s} {'found':>6s} {'repeat mean':>11s} {'repeat max':>10s} {'s':>5s}")
    for land, (make, budget, min_queries) in landscapes.items():
        results[land] = {}
        for name in CONTROLLERS:
            start = time.perf_counter()
            r = measure(name, controller_settings(name), make, seeds, budget, min_queries)
            results[land][name] = r
            mark = ">" if r["censored_top0_1"] else " "
            lo, hi = r["ci_top0_1"]
            print(f"{land:9s} {name:11s} {r['median_queries_top1']:9.0f} {mark}{r['median_queries_top0_1']:10.1f} "
                  f"{f'[{lo:.0f}, {hi:.0f}]':>12s} {r['median_distinct_top0_1']:8.1f} "
                  f"{r['found_top0_1']:6.2f} {r['repeat_rate']:11.3f} {r['max_repeat_rate']:10.3f} "
                  f"{time.perf_counter() - start:5.0f}", flush=True)
        best = min((n for n in CONTROLLERS if n != "random"), key=lambda n: results[land][n]["median_queries_top0_1"])
        ratio = results[land][best]["median_queries_top0_1"] / results[land]["random"]["median_queries_top0_1"]
        lo, hi = bootstrap_ratio(results[land][best]["runs_top0_1"], results[land]["random"]["runs_top0_1"])
        print(f"{land:9s} best/random: {best} {ratio:.3f} [95% CI {lo:.3f}, {hi:.3f}]", flush=True)
        ratio = results[land]["surrogate"]["median_queries_top0_1"] / results[land]["evolution"]["median_queries_top0_1"]
        lo, hi = bootstrap_ratio(results[land]["surrogate"]["runs_top0_1"], results[land]["evolution"]["runs_top0_1"])
        print(f"{land:9s} surrogate/evolution: {ratio:.3f} [95% CI {lo:.3f}, {hi:.3f}]", flush=True)

    if args.ablation:
        print(f"\nREINFORCE ablation ({args.ablation_seeds} seeds; per landscape: median queries to the top 0.1% / "
              "repeat rate mean / max)")
        base = controller_settings("reinforce")
        for label, change in ABLATION.items():
            cells = []
            for land in ("chain", "plateau"):
                make, budget, min_queries = landscapes[land]
                r = measure("reinforce", {**base, **change}, make, range(args.ablation_seeds), budget, min_queries)
                mark = ">" if r["censored_top0_1"] else ""
                cells.append(f"{land} {mark}{r['median_queries_top0_1']:.0f} / {r['repeat_rate']:.2f} / "
                             f"{r['max_repeat_rate']:.2f}")
            print(f"  {label:32s} " + "   ".join(cells), flush=True)

    worst_ratio = max(
        min(results[land][n]["median_queries_top0_1"] for n in CONTROLLERS if n != "random")
        / results[land]["random"]["median_queries_top0_1"]
        for land in results)
    summary: dict = {land: {n: {"median_queries_top0_1": results[land][n]["median_queries_top0_1"],
                                "repeat_rate": round(results[land][n]["repeat_rate"], 4)} for n in CONTROLLERS}
                     for land in results}
    summary["best_over_random_top0_1"] = round(worst_ratio, 4)
    summary["max_repeat_rate_reinforce"] = round(max(results[land]["reinforce"]["max_repeat_rate"]
                                                     for land in results), 4)
    summary["surrogate_over_evolution_top0_1"] = round(max(
        results[land]["surrogate"]["median_queries_top0_1"] / results[land]["evolution"]["median_queries_top0_1"]
        for land in results), 4)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
