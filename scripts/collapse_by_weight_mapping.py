"""Why a variation-unaware design does not collapse here: the same design, trained without variation
under two weight mappings, judged on the same chips.

Table II's first claim is that a network searched and trained without device variation collapses on a
chip with it (the paper: 84.92% → 8.48%). This tool's child networks scale each layer's weights so that
max|w| maps to the format's largest code (``weight_scaling="layer"``); NACIM's fixed-point formats are
absolute (``weight_scaling="absolute"``: a Q1.3 weight has steps of 0.125 whatever the layer's weights
are). The script takes one design (the best-reward design of the search output given with ``--history``,
e.g. QuantNAS's Table II design of a ``reproduce_table2.py`` output), trains it without variation under each mapping — inputs, data, epochs and seeds identical —
and judges both on the same Monte-Carlo chips of the paper's 4-bit ReRAM (σ = 0.8 level), with
BatchNorm statistics settled on the final weights as the search does.

    python -m uv run python scripts/collapse_by_weight_mapping.py --history outputs/table2_cpu/seed0/quantnas

Prints a row per (mapping, seed) and, as its LAST line, one JSON object with the mean loss on chips
(clean − chips, points) per mapping.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from pathlib import Path

import pytorch_lightning as pl
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_rnas import train  # noqa: E402  (the same Lightning training loop)

from lightning_imc.callbacks import measure_on_chips  # noqa: E402
from lightning_imc.data import get_datamodule  # noqa: E402
from lightning_imc.layers.calibration import settle_batchnorm  # noqa: E402
from lightning_imc.models import ChildModule, OptimizerConfig, child_imc_config  # noqa: E402
from lightning_imc.search.history import HistoryStore  # noqa: E402
from lightning_imc.space import get_space, to_child  # noqa: E402

MAPPINGS = ("layer", "absolute")


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--history", required=True, help="a search output folder (its best-reward design is used)")
    parser.add_argument("--epochs", type=int, default=5, help="variation-unaware training (table2_cpu: 2 + 3)")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--train-samples", type=int, default=2048)
    parser.add_argument("--eval-samples", type=int, default=500)
    parser.add_argument("--chips", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(args.threads)
    seeds = [int(s) for s in args.seeds.split(",")]
    full = get_space("rls")
    design = full.canonical(dict(full.default_candidate()) | best_design(Path(args.history)))
    datamodule = get_datamodule("fashion_mnist", batch_size=256, max_train_samples=args.train_samples,
                                max_eval_samples=args.eval_samples, seed=0)
    datamodule.prepare_data()
    datamodule.setup("fit")
    datamodule.setup("test")
    spec = to_child(full, design, input_shape=tuple(datamodule.input_shape), num_classes=datamodule.num_classes)
    settle = [x for x, _ in list(datamodule.train_dataloader())[:4]]
    losses: dict[str, list[float]] = {m: [] for m in MAPPINGS}
    print(f"design: device {design['device']}, weights "
          + " ".join(f"Q{design[f'w_int_{i}']}.{design[f'w_frac_{i}']}" for i in range(1, 9)), flush=True)
    for seed in seeds:
        for mapping in MAPPINGS:
            pl.seed_everything(seed, workers=True, verbose=False)
            imc = child_imc_config(variation="off", weight_scaling=mapping, seed=seed)
            module = ChildModule(spec, imc, OptimizerConfig(name="adam", lr=3e-3, scheduler="cosine"))
            start = time.perf_counter()
            train(module, datamodule, args.epochs)
            module.network.eval()
            settle_batchnorm(module.network, settle, noise_aware=False)
            figures = measure_on_chips(module.network, spec, datamodule.test_dataloader(), torch.device("cpu"),
                                       args.chips, seed=seed)
            clean, chips = 100 * figures["accuracy_clean"], 100 * figures["accuracy_variation"]
            low, high = (100 * v for v in figures["accuracy_variation_ci95"])
            losses[mapping].append(clean - chips)
            print(f"seed {seed} {mapping:9s} clean {clean:6.2f}%  chips {chips:6.2f}% ({low:.2f}–{high:.2f})  "
                  f"loss {clean - chips:6.2f} points  ({time.perf_counter() - start:.0f} s)", flush=True)
    print(json.dumps({f"loss_points_{m}": round(statistics.fmean(v), 2) for m, v in losses.items()}))


if __name__ == "__main__":
    main()
