"""How much of a search's lead is noise: its best designs trained again with fresh seeds.

A child's reward is one training run, judged on a few Monte-Carlo chips. Two designs whose rewards differ by
less than the spread of one design's reward over training seeds are not told apart by the search. This script
takes the best distinct designs of a search phase that trains from scratch (``--phase``, default ``ptbnas``)
in each search folder, trains each again ``--repeats`` times with fresh seeds and exactly the recorded job
(epochs, noise-aware training or not, accuracy source, reward; from the history's ``job/<phase>/<index>``), and
reports per design the recorded reward, the repeats' mean, standard deviation and 95% Student-t interval.

First each design is trained once more with its recorded seed: the reward must come back exactly (else the
configuration composed here is not the search's, or the kernels differ, and the script stops, naming both
values; ``--no-check`` skips this). Nothing is written into the searches' histories: the repeats are kept in ``--out`` (one JSON line per trained
repeat; a second call resumes, skipping those done).

    OMP_NUM_THREADS=1 python -m uv run python scripts/reward_noise.py outputs/qs26/reinforce-seed0 \
        outputs/qs26/surrogate-seed0 --top 2 --repeats 5

Last line: one JSON object, ``{"reward_sd_points": pooled within-design standard deviation of the reward
(points, i.e. x100), "designs": [{"search", "key", "recorded", "mean", "sd", "ci95", "repeats"}...]}``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any, Sequence

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RECORDED = "recorded"
"""The repeat label of the check: the design trained with the seed its search used."""

REPEAT_SEED_OFFSET = 7_777
"""Added to the search's seed for the repeats' seeds (``child_seed``), so that no repeat reuses a search's seed."""


def compose_search_config(folder: Path) -> dict[str, Any]:
    """The resolved configuration a search folder was run with (its ``.hydra/overrides.yaml``)."""
    import yaml
    from hydra import compose, initialize_config_dir

    from lightning_imc.app import _to_container

    overrides_file = folder / ".hydra" / "overrides.yaml"
    if not overrides_file.is_file():
        raise SystemExit(f"{folder}: no .hydra/overrides.yaml (not a search folder written by train.py)")
    overrides = [o for o in yaml.safe_load(overrides_file.read_text()) or []
                 if not o.startswith(("hydra.", "paths.output_dir="))]
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[*overrides, f"paths.output_dir={folder.resolve()}"])
    return _to_container(cfg)


def best_designs(folder: Path, phase: str, top: int) -> tuple[list[tuple[Any, dict[str, Any]]], int | None]:
    """The ``top`` best distinct designs of ``phase`` (ok records), each with its recorded job, and the torch CPU
    threads each child of the search used (its fingerprint; the figures depend on them), ``None`` if not recorded."""
    from lightning_imc.search.history import HistoryStore

    history = folder / "history.sqlite"
    if not history.is_file():
        raise SystemExit(f"{folder}: no history.sqlite")
    with HistoryStore.open_readonly(str(history)) as store:
        threads = (store.fingerprint.get("reproducibility") or {}).get("threads_per_child")
        records = [r for r in store.records(status="ok") if r.phase == phase]
        if not records:
            raise SystemExit(f"{folder}: no finished child in phase {phase!r}")
        chosen, keys = [], set()
        for record in sorted(records, key=lambda r: (-r.reward, r.index)):
            if record.key in keys:
                continue
            spec = store.get_meta(f"job/{record.phase}/{record.index}")
            if spec is None:
                raise SystemExit(f"{folder}: {phase} #{record.index} has no recorded job (an older history)")
            if spec.get("init_checkpoint"):
                raise SystemExit(f"--phase {phase!r} starts from saved weights; choose a phase that trains from scratch")
            keys.add(record.key)
            chosen.append((record, spec))
            if len(chosen) == top:
                break
    return chosen, None if threads is None else int(threads)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="+", type=Path, help="search output folders (history.sqlite, .hydra/)")
    parser.add_argument("--phase", default="ptbnas", help="phase whose designs are trained again (from scratch)")
    parser.add_argument("--top", type=int, default=2, help="best distinct designs per search")
    parser.add_argument("--repeats", type=int, default=5, help="fresh training seeds per design (>= 2)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads per child (default: the search's own, from its history; else 1)")
    parser.add_argument("--no-check", action="store_true", help="skip training each design with its recorded seed first")
    parser.add_argument("--out", type=Path, default=None, help="JSON lines of the repeats (default <first folder>/../reward_noise.jsonl)")
    args = parser.parse_args(argv)
    if args.top < 1:
        raise SystemExit(f"--top must be >= 1, got {args.top}")
    if args.repeats < 2:
        raise SystemExit(f"--repeats must be >= 2 (a standard deviation), got {args.repeats}")
    plan = [(folder, compose_search_config(folder), *best_designs(folder, args.phase, args.top)) for folder in args.folders]

    from lightning_imc.app import child_context
    from lightning_imc.layers.montecarlo import MonteCarloResult
    from lightning_imc.search.evaluate import ChildJob, child_seed, run_child_job

    out = args.out or args.folders[0].resolve().parent / "reward_noise.jsonl"
    done: dict[tuple[str, str, int], float] = {}
    if out.is_file():
        for line in out.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                done[(row["search"], row["key"], row["repeat"])] = row["reward"]
    designs: list[dict[str, Any]] = []
    variances: list[float] = []
    for folder, config, chosen, recorded_threads in plan:
        name = str(folder.resolve())  # the repeats' key: the same from any working directory
        search_seed = int(config["seed"])
        threads = args.threads or recorded_threads or 1  # the kernels' sums depend on the thread count
        for record, spec in chosen:
            rewards = []
            for repeat in ([] if args.no_check else [RECORDED]) + list(range(args.repeats)):
                if (name, record.key, repeat) not in done:
                    seed = record.seed if repeat == RECORDED else child_seed(
                        search_seed + REPEAT_SEED_OFFSET, record.key, int(repeat))
                    job = ChildJob(
                        config=config, phase=f"noise/{args.phase}", index=record.index, candidate=dict(record.choices),
                        seed=seed, train_epochs=int(record.metrics["epochs"]), variation=spec["variation"],
                        accuracy_source=spec["accuracy_source"], reward=spec["reward"], threads=threads,
                        extra=dict(spec.get("extra") or {}), context_factory=child_context)
                    result = run_child_job(job)
                    if result["status"] != "ok":  # a failed repeat is the design's result too: the floor reward
                        print(f"{folder} {record.key[:12]} repeat {repeat}: {result['status']} ({result.get('error')})")
                    reward = result.get("reward")
                    reward = float(spec["reward"]["failed_reward"] if reward is None else reward)
                    done[(name, record.key, repeat)] = reward
                    out.parent.mkdir(parents=True, exist_ok=True)
                    with out.open("a") as handle:
                        handle.write(json.dumps({"search": name, "key": record.key, "repeat": repeat, "reward": reward,
                                                 "status": result["status"]}) + "\n")
                if repeat == RECORDED:
                    again = done[(name, record.key, repeat)]
                    if abs(again - record.reward) > 1e-9:
                        raise SystemExit(
                            f"{folder}: {args.phase} #{record.index} ({record.key[:12]}) trained again with its recorded seed "
                            f"scores {again:.6f}, the history {record.reward:.6f}: this configuration or machine does not "
                            "reproduce the search (--no-check to measure anyway)")
                    continue
                rewards.append(done[(name, record.key, repeat)])
            again = MonteCarloResult.from_values(rewards)  # mean, sd and Student-t interval over the repeats
            variances.append(again.std ** 2)
            designs.append({"search": str(folder), "key": record.key[:12], "recorded": round(record.reward, 4),
                            "mean": round(again.mean, 4), "sd": round(again.std, 4),
                            "ci95": [round(again.ci95_low, 4), round(again.ci95_high, 4)],
                            "repeats": [round(r, 4) for r in rewards]})
            print(f"{folder}  {record.key[:12]}  recorded {record.reward:.4f}  again {again.mean:.4f} ± {again.std:.4f} "
                  f"(95% CI {again.ci95_low:.4f}–{again.ci95_high:.4f}, n={len(rewards)})", flush=True)
    pooled = math.sqrt(sum(variances) / len(variances))  # equal repeats per design
    summary = {"reward_sd_points": round(100 * pooled, 3), "designs": designs}
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
