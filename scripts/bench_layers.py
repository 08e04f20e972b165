"""Training-step time of a small CNN with IMC layers against the same CNN with plain layers.

Variants, measured side by side in one process (interleaved rounds, median of repeats):

* ``plain``   — ``nn.Conv2d``/``nn.Linear``;
* ``adc_off`` — IMC layers: input and weight quantization + bit-sliced variation (new sample every
  forward), ideal readout;
* ``adc_on``  — the same plus 128-row tiles and a 5-bit ADC on every tile's partial sums.

Run: ``uv run python scripts/bench_layers.py [--repeats 7] [--steps 10] [--batch 64]``. The last line is
JSON: ``{"imc_over_plain_cpu_adc_off": ..., "imc_over_plain_cpu_adc_on": ..., ...}`` (and ``_cuda_``
keys when a GPU is present).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from torch import nn

from lightning_imc.layers import IMCConfig, convert_to_imc


def small_cnn() -> nn.Module:
    """A NACIM-RLS-sized CNN for 32×32×3 inputs (about 0.2 M parameters)."""
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 128, 3, padding=1), nn.BatchNorm2d(128), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(128 * 4 * 4, 256), nn.ReLU(), nn.Linear(256, 10),
    )


def build_variants(device: torch.device) -> dict[str, nn.Module]:
    torch.manual_seed(0)
    base = small_cnn()
    first = {"0": {"input_signed": True}}
    variants = {
        "plain": base,
        "adc_off": convert_to_imc(base, IMCConfig(variation="train", seed=0), overrides=first),
        "adc_on": convert_to_imc(base, IMCConfig(variation="train", seed=0, adc_bits=5), overrides=first),
    }
    return {name: model.to(device).train() for name, model in variants.items()}


def time_steps(model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor, steps: int) -> float:
    """Seconds per training step (forward, backward, optimizer step)."""
    sync = torch.cuda.synchronize if x.is_cuda else (lambda: None)
    sync()
    start = time.perf_counter()
    for _ in range(steps):
        loss = nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    sync()
    return (time.perf_counter() - start) / steps


def bench(device: torch.device, repeats: int, steps: int, batch: int) -> dict[str, float]:
    variants = build_variants(device)
    optimizers = {n: torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9) for n, m in variants.items()}
    x = torch.rand(batch, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (batch,), device=device)
    for name, model in variants.items():  # warm-up
        time_steps(model, optimizers[name], x, y, 3)
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeats):
        for name, model in variants.items():  # interleaved, so drift hits every variant alike
            samples[name].append(time_steps(model, optimizers[name], x, y, steps))
    medians = {name: statistics.median(values) for name, values in samples.items()}
    for name, value in medians.items():
        spread = max(samples[name]) / min(samples[name])
        print(f"{device.type:5s} {name:8s} {value * 1e3:8.2f} ms/step  (max/min over repeats {spread:.2f})")
    return medians


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, batch {args.batch}")
    figures: dict[str, float] = {}
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    for device in devices:
        medians = bench(device, args.repeats, args.steps, args.batch)
        figures[f"imc_over_plain_{device.type}_adc_off"] = round(medians["adc_off"] / medians["plain"], 3)
        figures[f"imc_over_plain_{device.type}_adc_on"] = round(medians["adc_on"] / medians["plain"], 3)
        figures[f"plain_{device.type}_ms_per_step"] = round(medians["plain"] * 1e3, 3)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
