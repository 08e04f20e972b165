"""Why a design collapses (or not) on chips: the same design trained under controlled changes, judged on the
same chips.

Table II's first claim is that a network searched and trained without device variation collapses on a
chip with it (the paper: 84.92% → 8.48%), and that a variation-aware search does better. Two things differ
between this tool's searches and the paper's, and this script holds everything else fixed to measure each:

* **Weight mapping** (``--mappings``): the child networks scale each layer's weights so that max|w| maps to
  the format's largest code (``layer``); NACIM's fixed-point formats are absolute (``absolute``: a Q1.3
  weight has steps of 0.125 whatever the layer's weights are).
* **Training with variation, and for how long** (``--training``, ``--epochs``): ``unaware`` trains without
  variation (QuantNAS's children), ``aware`` with a new Gaussian variation sample at every forward at the
  σ the chips have (ptbNAS/NACIM's children). The search's budget gives a child 2 epochs, the fine-tuned
  designs 2 + 3 = 5.

The design is the best-reward design of the search output given with ``--history`` (e.g. QuantNAS's
Table II design of a ``reproduce_table2.py`` or ``noise_sweep.py`` output). Inputs, data, optimizer and
seeds are identical across the grid; every trained network has its BatchNorm statistics settled on its
final weights as the search does (through variation for ``aware``), and is judged on the same Monte-Carlo
chips of the paper's 4-bit ReRAM (seed s: the same chips for every row of seed s).

    python -m uv run python scripts/collapse_by_weight_mapping.py --history outputs/table2_cpu/seed0/quantnas
    python -m uv run python scripts/collapse_by_weight_mapping.py --mappings absolute --training unaware,aware \\
        --epochs 5,20 --history experiments/noise_sweep/absolute/seed0/quantnas --out experiments/aware_training

With ``--out``, every finished row is appended to ``<out>/rows.jsonl`` at once and a rerun of the same
command skips the rows already there (an interrupted grid resumes; a row's settings are its key).

Prints a row per (seed, mapping, training, epochs), with both trainings the gain of noise-aware training on
chips per (mapping, epochs) with its 95% two-level bootstrap interval (seeds, then chips; as
``noise_sweep.py``), and, as its LAST line, one JSON object: ``loss_points_<mapping>`` (clean − chips,
points, mean over seeds, of the ``unaware`` rows at the first ``--epochs``) where those rows exist,
``chips_<mapping>_<training>_<E>ep`` / ``clean_<mapping>_<training>_<E>ep`` (accuracy, %, mean over seeds)
for every cell of the grid, and ``gain_aware_<mapping>_<E>ep`` (aware − unaware on chips, points).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_rnas import train  # noqa: E402  (the same Lightning training loop)
from reproduce_table2 import parse_seeds  # noqa: E402

from lightning_imc.callbacks import measure_on_chips  # noqa: E402
from lightning_imc.data import get_datamodule  # noqa: E402
from lightning_imc.devices import get_device  # noqa: E402
from lightning_imc.layers.calibration import settle_batchnorm  # noqa: E402
from lightning_imc.models import ChildModule, OptimizerConfig, child_imc_config  # noqa: E402
from lightning_imc.search.history import HistoryStore  # noqa: E402
from lightning_imc.space import get_space, to_child  # noqa: E402

MAPPINGS = ("layer", "absolute")
TRAININGS = ("unaware", "aware")
#: Seed of the BatchNorm settling draws, as the search's evaluation uses it (``evaluation.seed`` 0 + 104729).
SETTLE_SEED = 104729


def best_design(history: Path) -> dict:
    """The best-reward finished design of a search output folder (or its history.sqlite)."""
    path = history / "history.sqlite" if history.is_dir() else history
    if not path.is_file():
        raise SystemExit(f"--history: no history at {path}")
    with HistoryStore.open_readonly(str(path)) as store:
        ok = [r for r in store.records() if r.ok]
    if not ok:
        raise SystemExit(f"--history: {path} has no finished design")
    return dict(max(ok, key=lambda r: r.reward).choices)


def parse_list(text: str, allowed: tuple[str, ...], flag: str) -> list[str]:
    values = [part.strip() for part in text.split(",") if part.strip()]
    bad = [v for v in values if v not in allowed]
    if not values or bad:
        raise SystemExit(f"{flag}={text!r}: give a comma-separated subset of {', '.join(allowed)}")
    return values


def parse_ints(text: str, flag: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise SystemExit(f"{flag}={text!r}: give comma-separated integers >= 1, e.g. 5,20") from None
    if not values or min(values) < 1:
        raise SystemExit(f"{flag}={text!r}: give comma-separated integers >= 1, e.g. 5,20")
    return values


def row_key(seed: int, mapping: str, training: str, epochs: int, sigma: float) -> str:
    return f"seed{seed}/{mapping}/{training}/{epochs}ep/sigma{sigma:g}"


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--history", required=True, help="a search output folder (its best-reward design is used)")
    parser.add_argument("--mappings", default="layer,absolute", help=f"any of {', '.join(MAPPINGS)}")
    parser.add_argument("--training", default="unaware", help=f"any of {', '.join(TRAININGS)}")
    parser.add_argument("--epochs", default="5", help="training epochs, comma-separated (table2_cpu: 2 + 3 = 5)")
    parser.add_argument("--sigma", type=float, default=None,
                        help="variation σ (level spacings) of the chips and of aware training; default: the device's own")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--data", default="fashion_mnist", help="fashion_mnist (Table II's) or digits")
    parser.add_argument("--train-samples", type=int, default=2048)
    parser.add_argument("--eval-samples", type=int, default=500)
    parser.add_argument("--chips", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=None, help="folder of rows.jsonl: finished rows are kept and skipped on a rerun")
    args = parser.parse_args(argv)
    mappings = parse_list(args.mappings, MAPPINGS, "--mappings")
    trainings = parse_list(args.training, TRAININGS, "--training")
    epochs_grid = parse_ints(args.epochs, "--epochs")
    seeds = parse_seeds(args.seeds)
    if args.sigma is not None and not args.sigma > 0:
        raise SystemExit(f"--sigma={args.sigma}: give a variation σ > 0 in level spacings, e.g. 0.8")
    warnings.filterwarnings("ignore")
    torch.set_num_threads(args.threads)
    full = get_space("rls")
    design = full.canonical(dict(full.default_candidate()) | best_design(Path(args.history)))
    sigma = float(args.sigma if args.sigma is not None else get_device(design["device"]).sigma_levels)
    done: dict[str, dict[str, Any]] = {}
    rows_path = Path(args.out) / "rows.jsonl" if args.out else None  # a row's key holds its settings
    if rows_path is not None:
        rows_path.parent.mkdir(parents=True, exist_ok=True)
        # what every row shares (the grid's axes are in each row's key): rows of other settings never mix
        shared = {"design": dict(design), "data": args.data, "train_samples": args.train_samples,
                  "eval_samples": args.eval_samples, "chips": args.chips, "threads": args.threads}
        settings_path = rows_path.parent / "settings.json"
        if settings_path.is_file() and json.loads(settings_path.read_text(encoding="utf-8")) != json.loads(json.dumps(shared)):
            raise SystemExit(f"--out={args.out}: its rows were measured with other settings ({settings_path}); "
                             "give another --out folder")
        settings_path.write_text(json.dumps(shared, indent=1, sort_keys=True), encoding="utf-8")
        if rows_path.is_file():
            for line in rows_path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    row = json.loads(line)
                    done[row["key"]] = row
    datamodule = get_datamodule(args.data, batch_size=256, max_train_samples=args.train_samples,
                                max_eval_samples=args.eval_samples, seed=0)
    datamodule.prepare_data()
    datamodule.setup("fit")
    datamodule.setup("test")
    spec = to_child(full, design, input_shape=tuple(datamodule.input_shape), num_classes=datamodule.num_classes)
    settle = [x for x, _ in list(datamodule.train_dataloader())[:4]]
    print(f"design: device {design['device']}, weights "
          + " ".join(f"Q{design[f'w_int_{i}']}.{design[f'w_frac_{i}']}" for i in range(1, 9))
          + f"; chips at σ = {sigma:g} level", flush=True)
    rows: list[dict[str, Any]] = []
    for seed in seeds:
        for mapping in mappings:
            for training in trainings:
                for epochs in epochs_grid:
                    key = row_key(seed, mapping, training, epochs, sigma)
                    if key in done:
                        row = done[key]
                    else:
                        row = train_and_judge(spec, mapping, training, epochs, sigma, seed, datamodule, settle, args.chips)
                        row["key"] = key
                        if rows_path is not None:
                            with rows_path.open("a", encoding="utf-8") as handle:
                                handle.write(json.dumps(row) + "\n")
                    rows.append(row)
                    print(f"seed {seed} {mapping:9s} {training:8s} {epochs:3d} ep  clean {row['clean']:6.2f}%  chips "
                          f"{row['chips']:6.2f}% ({row['chips_low']:.2f}–{row['chips_high']:.2f})  "
                          f"loss {row['clean'] - row['chips']:6.2f} points  ({row['seconds']:.0f} s)", flush=True)
    summary: dict[str, float] = {}
    for mapping in mappings:
        unaware = [r["clean"] - r["chips"] for r in rows
                   if r["mapping"] == mapping and r["training"] == "unaware" and r["epochs"] == epochs_grid[0]]
        if unaware:
            summary[f"loss_points_{mapping}"] = round(statistics.fmean(unaware), 2)
    for mapping in mappings:
        for training in trainings:
            for epochs in epochs_grid:
                cell = [r for r in rows if r["mapping"] == mapping and r["training"] == training and r["epochs"] == epochs]
                summary[f"chips_{mapping}_{training}_{epochs}ep"] = round(statistics.fmean(r["chips"] for r in cell), 2)
                summary[f"clean_{mapping}_{training}_{epochs}ep"] = round(statistics.fmean(r["clean"] for r in cell), 2)
    if set(TRAININGS) <= set(trainings):
        from noise_sweep import gain_interval  # the sweep's two-level bootstrap (seeds, then chips)

        for mapping in mappings:
            for epochs in epochs_grid:
                per_seed = {}
                for seed in seeds:
                    pair = {r["training"]: r for r in rows if r["mapping"] == mapping and r["epochs"] == epochs and r["seed"] == seed}
                    per_seed[seed] = {"gain": pair["aware"]["chips"] - pair["unaware"]["chips"],
                                      "quantnas": {"chip_values": [v / 100 for v in pair["unaware"]["chip_values"]]},
                                      "nacim_sw": {"chip_values": [v / 100 for v in pair["aware"]["chip_values"]]}}
                mean, low, high = gain_interval(per_seed)
                print(f"{mapping:9s} {epochs:3d} ep  aware − unaware on chips: {mean:+6.2f} points (95% interval "
                      f"{low:+.2f} to {high:+.2f}; per seed " + ", ".join(f"{c['gain']:+.2f}" for c in per_seed.values()) + ")",
                      flush=True)
                summary[f"gain_aware_{mapping}_{epochs}ep"] = round(mean, 2)
    print(json.dumps(summary))
    return summary


def train_and_judge(spec: Any, mapping: str, training: str, epochs: int, sigma: float, seed: int, datamodule: Any,
                    settle: list[torch.Tensor], chips: int) -> dict[str, Any]:
    """Train ``spec`` once (``training``: without variation or with it at ``sigma``) and judge it on ``chips``
    Monte-Carlo chips at ``sigma`` (chip seed = ``seed``); accuracies in %, wall time in s."""
    pl.seed_everything(seed, workers=True, verbose=False)
    aware = training == "aware"
    imc = child_imc_config(variation="train" if aware else "off", weight_scaling=mapping, seed=seed, sigma_levels=sigma)
    module = ChildModule(spec, imc, OptimizerConfig(name="adam", lr=3e-3, scheduler="cosine"))
    start = time.perf_counter()
    train(module, datamodule, epochs)
    module.network.eval()
    settle_batchnorm(module.network, settle, noise_aware=aware, seed=SETTLE_SEED)
    figures = measure_on_chips(module.network, spec, datamodule.test_dataloader(), torch.device("cpu"), chips, seed=seed)
    low, high = (100 * v for v in figures["accuracy_variation_ci95"])
    return {"seed": seed, "mapping": mapping, "training": training, "epochs": epochs, "sigma": sigma,
            "clean": 100 * figures["accuracy_clean"], "chips": 100 * figures["accuracy_variation"],
            "chips_low": low, "chips_high": high, "chip_values": [100 * v for v in figures["chip_values"]],
            "seconds": time.perf_counter() - start}


if __name__ == "__main__":
    main()
