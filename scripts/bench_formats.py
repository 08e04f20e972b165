"""Does a child's accuracy on chips depend on the physics of its formats, or on how they are scaled?

One fixed child (the RLS space's default architecture: 6 conv layers of 36 3×3 filters, FC 128, the
paper's 4-bit ReRAM with σ = 0.8 level) is trained noise-aware on a Fashion-MNIST subset (scikit-learn's
digits when Fashion-MNIST is not installed) with several weight formats and with random per-layer
formats, each with the same seed, optimizer and epochs, then judged on ``--chips`` Monte-Carlo chips.

* ``Q1.3``, ``Q2.2``, ``Q3.1``, ``Q0.4`` — 4-bit weights in one 4-bit cell: the same chip up to a
  power-of-two scale (every hidden layer is followed by batch norm; the classifier's scale does not
  change its arg-max). Their 95% intervals should overlap.
* ``Q2.6`` — 8-bit weights in two cells (a different chip: more levels, more noise from the top cell).
* ``random_<k>`` — every layer's weight *and* input format drawn at random from the space (NACIM
  Table I: integer bits 0–3, fraction bits 0–6), the device fixed to the 4-bit ReRAM.

Run: ``uv run python scripts/bench_formats.py [--epochs 4] [--train-samples 4096] [--chips 8] [--random 6]``.
The last line is one JSON object: per format ``{"clean", "chips", "chips_ci95": [low, high]}`` (fractions),
``equivalent_formats_ci_overlap`` (the four same-chip formats' intervals share a point) and
``random_over_default_chips`` (median on-chip accuracy of the random formats ÷ the default Q1.3's).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
import warnings

import pytorch_lightning as pl
import torch

from lightning_imc.callbacks import measure_on_chips
from lightning_imc.data import FashionMNISTDataModule, get_datamodule
from lightning_imc.models import ChildModule, OptimizerConfig, child_imc_config
from lightning_imc.space import get_space, to_child

EQUIVALENT = ("Q1.3", "Q2.2", "Q3.1", "Q0.4")


def weight_format_candidate(space, int_bits: int, frac_bits: int):
    """The default candidate with every layer's weight format set to Q<int_bits>.<frac_bits>."""
    changes = {name: (int_bits if name.startswith("w_int_") else frac_bits)
               for name in space.names if name.startswith(("w_int_", "w_frac_"))}
    return space.default_candidate().replace(**changes)


def random_format_candidate(space, rng: random.Random):
    """The default architecture with every layer's weight and input format drawn uniformly."""
    changes = {}
    for dim in space.dimensions:
        if dim.name.startswith(("w_int_", "w_frac_", "a_int_", "a_frac_")):
            changes[dim.name] = rng.choice(list(dim.choices))
    return space.default_candidate().replace(**changes)


def describe(spec) -> str:
    return " ".join(f"w{l.weight_int_bits}.{l.weight_frac_bits}/a{l.input_int_bits}.{l.input_frac_bits}"
                    for l in spec.layers)


def train_and_judge(candidate, space, datamodule, epochs: int, chips: int, seed: int) -> dict:
    spec = to_child(space, candidate, input_shape=datamodule.input_shape, num_classes=datamodule.num_classes)
    pl.seed_everything(seed, workers=True, verbose=False)
    imc = child_imc_config(variation="train", seed=seed)  # the search's child layers (conf/imc/noise_aware.yaml)
    module = ChildModule(spec, imc, OptimizerConfig(name="adam", lr=3e-3, scheduler="cosine"))
    trainer = pl.Trainer(accelerator="cpu", devices=1, max_epochs=epochs, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                         limit_val_batches=0)
    start = time.perf_counter()
    trainer.fit(module, datamodule=datamodule)
    datamodule.setup("test")
    figures = measure_on_chips(module.network, spec, datamodule.test_dataloader(), torch.device("cpu"), chips, seed=0)
    low, high = figures["accuracy_variation_ci95"]
    return {"formats": describe(spec), "clean": round(figures["accuracy_clean"], 4),
            "chips": round(figures["accuracy_variation"], 4),
            "chips_ci95": [round(max(0.0, low), 4), round(min(1.0, high), 4)],
            "seconds": round(time.perf_counter() - start, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="fashion_mnist (default when installed) or digits")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--train-samples", type=int, default=4096)
    parser.add_argument("--eval-samples", type=int, default=2000)
    parser.add_argument("--chips", type=int, default=8)
    parser.add_argument("--random", type=int, default=6, help="random per-layer format candidates")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--cases", default=None, help="comma-separated subset of the cases to run (default: all)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    if args.threads:
        torch.set_num_threads(args.threads)
    data = args.data or ("fashion_mnist" if FashionMNISTDataModule().locate() is not None else "digits")
    kwargs = dict(batch_size=256, max_train_samples=args.train_samples, max_eval_samples=args.eval_samples, seed=0)
    if data == "digits":
        kwargs["image_size"] = 16
    datamodule = get_datamodule(data, **kwargs)
    space = get_space("rls", include=("architecture", "quantization"))
    cases = {name: weight_format_candidate(space, int(name[1]), int(name[3])) for name in EQUIVALENT + ("Q2.6",)}
    rng = random.Random(args.seed)
    for k in range(args.random):
        cases[f"random_{k}"] = random_format_candidate(space, rng)
    if args.cases:
        wanted = args.cases.split(",")
        unknown = [c for c in wanted if c not in cases]
        if unknown:
            parser.error(f"--cases: unknown {unknown}; allowed: {list(cases)}")
        cases = {name: cases[name] for name in wanted}
    results: dict[str, dict] = {}
    print(f"{data}: {args.train_samples} training images, {args.epochs} epochs, {args.chips} chips, "
          f"{torch.get_num_threads()} threads")
    for name, candidate in cases.items():
        results[name] = train_and_judge(candidate, space, datamodule, args.epochs, args.chips, args.seed)
        r = results[name]
        print(f"{name:9s} clean {r['clean']:.4f}  chips {r['chips']:.4f} "
              f"[{r['chips_ci95'][0]:.4f}, {r['chips_ci95'][1]:.4f}]  {r['seconds']:6.1f} s  {r['formats']}", flush=True)
    lows = [results[n]["chips_ci95"][0] for n in EQUIVALENT if n in results]
    highs = [results[n]["chips_ci95"][1] for n in EQUIVALENT if n in results]
    random_chips = [results[n]["chips"] for n in results if n.startswith("random_")]
    summary = {name: {k: r[k] for k in ("clean", "chips", "chips_ci95")} for name, r in results.items()}
    summary["equivalent_formats_ci_overlap"] = bool(lows) and max(lows) <= min(highs)
    default = results.get("Q1.3", {}).get("chips", 0.0)
    summary["random_over_default_chips"] = (round(statistics.median(random_chips) / default, 3)
                                            if random_chips and default > 0 else None)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
