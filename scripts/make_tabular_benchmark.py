"""Build the tabular controller benchmark from the project's own real children (resumable).

Every point of a small sub-grid of NACIM's RLS space is trained on scikit-learn's digits (the
quickstart's data and trainer) for ``--epochs`` epochs with noise-aware training, evaluated on
Monte-Carlo chips with variation and mapped onto a chip. One JSON line per child goes to ``--out``
(default ``data/tabular_digits_rls.jsonl``); a child already in the file is skipped, so the script
can be stopped and started again. ``scripts/bench_controllers.py`` reads the file as a lookup table:
a controller's query of a grid point returns that child's accuracy on chips.

The grid opens dimensions that interact (the first layer's kernel and pooling, the classifier's
width, the first layer's weight and input precision) and freezes the others at the space's defaults.

    python -m uv run python scripts/make_tabular_benchmark.py            # ~15 min on 1 free core
    python -m uv run python scripts/make_tabular_benchmark.py --limit 3  # a smoke test
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Open dimensions of the grid and their values (a subset of each RLS dimension's choices).
GRID: dict[str, list] = {
    "kh_1": [1, 3, 5],
    "kw_1": [1, 3, 5],
    "pool_1": [False, True],
    "filters_2": [24],  # fixed (a one-value entry): 64 doubled the grid beyond what 2 shared cores train
    "fc_units_1": [64, 256],
    "w_frac_1": [0, 2, 4],
    "a_frac_1": [0, 4],
}


def grid_points() -> list[dict]:
    """Every point of :data:`GRID`, in a fixed order."""
    names = list(GRID)
    return [dict(zip(names, values)) for values in itertools.product(*(GRID[n] for n in names))]


def compose_config(epochs: int) -> dict:
    """The quickstart's resolved configuration (digits, RLS, CPU trainer), without logging."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base=None):
        cfg = compose("config", overrides=["+experiment=quickstart", "logger=none", f"trainer.max_epochs={epochs}",
                                           "trainer.enable_progress_bar=false", "paths.output_dir=outputs/tabular",
                                           f"paths.data_dir={ROOT / 'data'}"])
    container = OmegaConf.to_container(cfg, resolve=True)
    container.pop("hydra", None)
    return container


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(ROOT / "data" / "tabular_digits_rls.jsonl"))
    parser.add_argument("--epochs", type=int, default=6, help="training epochs per child")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads per child")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=None, help="stop after this many new children")
    args = parser.parse_args()

    import torch

    from lightning_imc.app import prepare
    from lightning_imc.search.evaluate import ChildJob, child_seed, run_child_job

    torch.set_num_threads(args.threads)
    config = compose_config(args.epochs)
    prepared = prepare(config)
    space = prepared.space
    reward = {"alpha": 1.0, "weights": {}, "merge": "weighted_sum", "failed_reward": 0.0, "bounds": {}}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    done: set[str] = set()
    if out.exists():  # resume; children outside the grid (an earlier, larger grid) are dropped
        rows = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
        kept = [r for r in rows if all(r["point"].get(n) in values for n, values in GRID.items())]
        if len(kept) != len(rows):
            out.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in kept))
        done = {r["key"] for r in kept}
    new = 0
    points = grid_points()
    for position, point in enumerate(points):
        candidate = space.complete({**space.default_candidate().to_dict(), **point})
        if candidate.key in done:
            continue
        start = time.perf_counter()
        result = run_child_job(ChildJob(
            config=config, phase="tabular", index=position, candidate=candidate.to_dict(),
            seed=child_seed(args.seed, "tabular", position), train_epochs=args.epochs, variation="train",
            accuracy_source="variation", reward=reward, threads=args.threads))
        metrics = result.get("metrics", {})
        row = {
            "key": candidate.key, "point": point, "status": result["status"], "epochs": args.epochs,
            "accuracy_variation": metrics.get("accuracy_variation"), "accuracy_clean": metrics.get("accuracy_clean"),
            "accuracy_variation_std": metrics.get("accuracy_variation_std"),
            "hardware": {k: metrics.get("hardware", {}).get(k) for k in ("latency_s", "energy_j", "area_mm2", "edp")},
            "train_seconds": round(float(result.get("train_seconds", 0.0)), 2), "error": result.get("error"),
        }
        with out.open("a") as handle:
            handle.write(json.dumps(row, sort_keys=True) + "\n")
        done.add(candidate.key)
        new += 1
        print(f"[{len(done)}/{len(points)}] {point} acc={row['accuracy_variation']} "
              f"({time.perf_counter() - start:.1f} s)", flush=True)
        if args.limit is not None and new >= args.limit:
            break


if __name__ == "__main__":
    main()
