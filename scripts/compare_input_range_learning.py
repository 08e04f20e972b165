"""Controlled comparison: noise-aware fine-tuning with learned input ranges vs moving-average ranges.

Same budget, same seeds, one difference. For each seed: a digits CNN (scikit-learn's 8×8 digits, no
download) is trained digitally (15 epochs), converted to ``BITS``-bit inputs on one calibrated range per
layer (zero point) and 4-bit weights on ReRAM, the ranges calibrated on 4 training batches, then
fine-tuned for ``EPOCHS`` epochs with variation injected at every forward (Adam, weights lr 1e-3):

* ``moving average``: each range follows the batches' largest input (``input_range_momentum`` 0.1);
* ``learned``: ``input_range_learning=True``, the ranges are parameters with their own Adam group
  (lr 1e-2; Adam's step does not depend on the gradient's scale, so the range needs its own).

Each model is judged on 10 Monte-Carlo chips (accuracy on the 449 test digits). Printed: per seed both
accuracies; the mean paired difference (learned − moving average) in points with its 95% t interval.

    python -m uv run python scripts/compare_input_range_learning.py [--seeds 5] [--bits 3]

The LAST line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics

import torch
from scipy import stats

from lightning_imc.demo import digits_cnn, load_digits_tensors, train
from lightning_imc.layers import (
    calibrate_input_ranges,
    classification_accuracy,
    conversion_config,
    convert_to_imc,
    evaluate_on_chips,
)

EPOCHS = 3


def fine_tuned_accuracy(seed: int, bits: int, learned: bool) -> float:
    """Mean accuracy on 10 chips of the seed's digits CNN after noise-aware fine-tuning."""
    x_train, y_train, x_test, y_test = load_digits_tensors(seed=seed)
    torch.manual_seed(seed)
    digital = digits_cnn()
    train(digital, x_train, y_train, epochs=15, seed=seed)
    config = conversion_config(device="rram_nacim", variation="train", input_scaling="calibrated", seed=seed,
                               weight_int_bits=1, weight_frac_bits=3, input_int_bits=0, input_frac_bits=bits,
                               input_range_learning=learned)
    model = convert_to_imc(digital, config)
    calibrate_input_ranges(model, [x_train[64 * i:64 * (i + 1)] for i in range(4)])
    ranges = [p for n, p in model.named_parameters() if n.endswith(("input_range", "input_low"))]
    weights = [p for n, p in model.named_parameters() if not n.endswith(("input_range", "input_low"))]
    assert bool(ranges) == learned
    optimizer = torch.optim.Adam([{"params": weights, "lr": 1e-3}] + ([{"params": ranges, "lr": 1e-2}] if learned else []))
    train(model, x_train, y_train, epochs=EPOCHS, seed=seed, optimizer=optimizer)
    chips = evaluate_on_chips(model, lambda m: classification_accuracy(m, x_test, y_test), n_chips=10, seed=seed)
    return chips.mean


def main(seeds: int, bits: int) -> None:
    torch.set_num_threads(1)
    moving, learned = [], []
    for seed in range(seeds):
        moving.append(fine_tuned_accuracy(seed, bits, learned=False))
        learned.append(fine_tuned_accuracy(seed, bits, learned=True))
        print(f"seed {seed}: moving average {100 * moving[-1]:.2f}%, learned {100 * learned[-1]:.2f}%", flush=True)
    differences = [100 * (b - a) for a, b in zip(moving, learned)]
    mean = statistics.fmean(differences)
    half = (stats.t.ppf(0.975, len(differences) - 1) * statistics.stdev(differences) / len(differences) ** 0.5
            if len(differences) > 1 else float("nan"))
    print(f"learned − moving average: {mean:+.2f} points, 95% interval [{mean - half:+.2f}, {mean + half:+.2f}] "
          f"over {seeds} seeds ({bits}-bit inputs, {EPOCHS} fine-tuning epochs, 10 chips each)")
    print(json.dumps({"input_bits": bits, "seeds": seeds, "chip_accuracy_moving_average": round(statistics.fmean(moving), 4),
                      "chip_accuracy_learned": round(statistics.fmean(learned), 4), "difference_points": round(mean, 2),
                      "difference_ci95_points": [round(mean - half, 2), round(mean + half, 2)] if seeds > 1 else None}))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=5, help="number of seeds (>= 2 for an interval)")
    parser.add_argument("--bits", type=int, default=3, help="input bits (1..8)")
    args = parser.parse_args()
    if args.seeds < 1 or not 1 <= args.bits <= 8:
        parser.error(f"--seeds={args.seeds} must be >= 1 and --bits={args.bits} in 1..8")
    main(args.seeds, args.bits)
