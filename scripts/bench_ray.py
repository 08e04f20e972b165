"""Wall time of one search with 1 worker vs 2 Ray workers (a benchmark, not a test).

The same small search — ptbNAS of the RLS space on the embedded digits, 8 children in batches of 4,
3 epochs each, random controller, seed 0 — run as `train.py` commands, one after the other:

* ``local-1thread``: the local executor, one child at a time, 1 torch thread (the 1-worker baseline);
* ``local-2threads``: the local executor, one child at a time, 2 torch threads;
* ``ray-2workers``: a local Ray with 2 CPUs, 1 CPU (and 1 thread) per child: 2 children at once;
* ``ray-cluster-2nodes`` (``--cluster``): a Ray cluster of a head and a worker node of 1 CPU each
  (``ray.cluster_utils.Cluster``, the ``ray start --head`` / ``ray start --address`` recipe on one
  machine), the app pointed at it with ``executor.address``.

Each command's wall time (process start to exit: imports, data, Ray start, the search, the report) and
the search loop's own time (``wall_seconds`` of ``search_summary.json``) are printed, with the 1-minute
load average before each run (other work on the machine skews the figures); the runs with 1 thread per
child must give the same history (candidates and rewards). The last line is one JSON object whose
``ray_2_workers_over_1_worker_speedup`` is local-1thread's command time over ray-2workers'.

    python -m uv run python scripts/bench_ray.py [--episodes 8] [--epochs 3] [--cluster] [--gpu] [--no-local-2threads]

``--gpu``: children on the GPU (``trainer=auto``; Ray reserves ``executor.gpus_per_child=0.5`` so two
children share one GPU).
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def search_command(out: Path, args: argparse.Namespace, *extra: str) -> list[str]:
    return [sys.executable, str(ROOT / "train.py"), "mode=search", "data=digits", "space=rls", "search.mode=ptbnas",
            f"search.episodes={args.episodes}", f"search.batch_size={args.batch}", f"trainer.max_epochs={args.epochs}",
            f"seed={args.seed}", "controller=random", "logger=none", "trainer.enable_progress_bar=false",
            "callbacks.variation_eval.n_chips=5", f"trainer={'auto' if args.gpu else 'cpu'}",
            f"paths.output_dir={out}", f"hydra.run.dir={out}", *extra]


def history(out: Path) -> list[tuple]:
    with sqlite3.connect(f"file:{out / 'history.sqlite'}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT phase, idx, key, reward FROM candidates").fetchall()
    return sorted((phase, idx, key, round(reward, 5)) for phase, idx, key, reward in rows)


def load_average() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:  # pragma: no cover
        return float("nan")


def run_one(name: str, args: argparse.Namespace, root: Path, *extra: str) -> dict:
    out = root / name
    env = dict(os.environ, PYTHONHASHSEED="0", RAY_USAGE_STATS_ENABLED="0", WANDB_MODE="disabled")
    load = load_average()
    start = time.perf_counter()
    result = subprocess.run(search_command(out, args, *extra), cwd=str(root), env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"{name} failed:\n{(result.stdout + result.stderr)[-4000:]}")
    summary = json.loads((out / "search_summary.json").read_text())
    row = {"name": name, "command_s": round(seconds, 2), "search_loop_s": round(summary["wall_seconds"], 2),
           "children": summary["n_records"], "load_before": round(load, 2), "history": history(out)}
    print(f"{name:20s} command {seconds:7.1f} s   search loop {summary['wall_seconds']:7.1f} s   "
          f"{summary['n_records']} children   (1-min load before: {load:.2f})", flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=8)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cluster", action="store_true", help="also run on a 2-node local Ray cluster")
    parser.add_argument("--gpu", action="store_true", help="children on the GPU (two share it on Ray)")
    parser.add_argument("--no-local-2threads", action="store_true", help="skip the local run with 2 threads")
    parser.add_argument("--workdir", default=None, help="where the runs write (default: a temporary folder)")
    args = parser.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    root = Path(args.workdir or tempfile.mkdtemp(prefix="bench-ray-"))
    root.mkdir(parents=True, exist_ok=True)
    print(f"ptbNAS, {args.episodes} children in batches of {args.batch}, {args.epochs} epochs each, on "
          f"{os.cpu_count()} CPUs{' + GPU' if args.gpu else ''}; runs in {root}", flush=True)
    gpu = ["executor.gpus_per_child=0.5"] if args.gpu else []
    rows = [run_one("local-1thread", args, root, "executor=local", "executor.threads_per_child=1")]
    if not args.no_local_2threads:
        rows.append(run_one("local-2threads", args, root, "executor=local", "executor.threads_per_child=2"))
    rows.append(run_one("ray-2workers", args, root, "executor=ray", "executor.num_cpus=2", "executor.cpus_per_child=1",
                        *gpu))
    if args.cluster:
        from ray.cluster_utils import Cluster

        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
        try:
            cluster.add_node(num_cpus=1)
            cluster.wait_for_nodes()
            rows.append(run_one("ray-cluster-2nodes", args, root, "executor=ray", f"executor.address={cluster.address}",
                                "executor.cpus_per_child=1", *gpu))
        finally:
            cluster.shutdown()
    # 1 thread per child everywhere but local-2threads, whose 2-thread float reductions may round differently
    same = all(row["history"] == rows[0]["history"] for row in rows if row["name"] != "local-2threads")
    print(f"same history in every 1-thread-per-child run: {same}")
    by = {row["name"]: row for row in rows}
    base = by["local-1thread"]
    result = {
        "ray_2_workers_over_1_worker_speedup": round(base["command_s"] / by["ray-2workers"]["command_s"], 3),
        "ray_2_workers_over_1_worker_search_loop_speedup":
            round(base["search_loop_s"] / by["ray-2workers"]["search_loop_s"], 3),
        "seconds": {row["name"]: row["command_s"] for row in rows},
        "search_loop_seconds": {row["name"]: row["search_loop_s"] for row in rows},
        "same_history": same,
        "cpus": os.cpu_count(),
        "children": base["children"],
    }
    if "local-2threads" in by:
        result["ray_2_workers_over_local_2_threads_speedup"] = round(
            by["local-2threads"]["command_s"] / by["ray-2workers"]["command_s"], 3)
    if "ray-cluster-2nodes" in by:
        result["ray_cluster_2_nodes_over_1_worker_speedup"] = round(base["command_s"] / by["ray-cluster-2nodes"]["command_s"], 3)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
