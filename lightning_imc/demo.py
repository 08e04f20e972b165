"""Demo of the noise-aware layers on scikit-learn's bundled digits (no download, about a minute on 2 cores).

For each device it trains the same small CNN twice — once without variation (what a
variation-unaware search such as QuantNAS does) and once with variation injected at every forward
(NACIM's noise-aware training) — then programs Monte-Carlo chips and reports accuracy without
variation and on chips with variation (mean, 95% confidence interval).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch import nn

from .layers import IMCConfig, classification_accuracy, convert_to_imc, evaluate_on_chips, variation_mode


@dataclass(frozen=True)
class DemoRow:
    """One line of the demo's table (accuracies as fractions)."""

    device: str
    training: str
    clean_accuracy: float
    chip_accuracy: float
    chip_ci95: tuple[float, float]


def load_digits_tensors(test_fraction: float = 0.25, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """scikit-learn's 8×8 digits as ``(x_train, y_train, x_test, y_test)``, pixels scaled to [0, 1]."""
    from sklearn.datasets import load_digits

    data = load_digits()
    x = torch.tensor(data.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(data.target, dtype=torch.long)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    n_test = int(len(x) * test_fraction)
    test, train = order[:n_test], order[n_test:]
    return x[train], y[train], x[test], y[test]


def digits_cnn() -> nn.Module:
    """A small CNN for 8×8 digits."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 2 * 2, 10),
    )


def train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int, seed: int,
          optimizer: torch.optim.Optimizer | None = None) -> None:
    """Batches of 64 in a seeded random order, cross-entropy; ``optimizer`` defaults to Adam (lr 3e-3)."""
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3) if optimizer is None else optimizer
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), 64):
            batch = order[start : start + 64]
            loss = nn.functional.cross_entropy(model(x[batch]), y[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()


def run(
    devices: tuple[str, ...] = ("rram_nacim", "fefet", "stt_mram", "pcm", "sram"),
    weight_int_bits: int = 1,
    weight_frac_bits: int = 3,
    epochs: int = 15,
    n_chips: int = 10,
    seed: int = 0,
) -> list[DemoRow]:
    """Train and evaluate on every device; returns the table rows."""
    x_train, y_train, x_test, y_test = load_digits_tensors(seed=seed)
    rows = []
    for device in devices:
        for mode, label in (("off", "variation-unaware"), ("train", "noise-aware")):
            torch.manual_seed(seed)
            config = IMCConfig(
                device=device, variation=mode, seed=seed,
                weight_int_bits=weight_int_bits, weight_frac_bits=weight_frac_bits,
            )
            model = convert_to_imc(digits_cnn(), config, overrides={"0": {"input_signed": True}})
            train(model, x_train, y_train, epochs, seed)
            with variation_mode(model, "off"):
                clean = classification_accuracy(model, x_test, y_test)
            chips = evaluate_on_chips(
                model, lambda m: classification_accuracy(m, x_test, y_test), n_chips=n_chips, seed=seed
            )
            rows.append(DemoRow(device, label, clean, chips.mean, (chips.ci95_low, chips.ci95_high)))
    return rows


def format_table(rows: list[DemoRow]) -> str:
    """Markdown table of the rows."""
    lines = [
        "| device | training | accuracy (no variation) | accuracy on chips with variation (95% CI) |",
        "|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.device} | {r.training} | {100 * r.clean_accuracy:.1f}% | "
            f"{100 * r.chip_accuracy:.1f}% ({100 * r.chip_ci95[0]:.1f}–{100 * r.chip_ci95[1]:.1f}) |"
        )
    return "\n".join(lines)


def main() -> None:
    start = time.perf_counter()
    print("lightning-imc layers demo: digits CNN, 4-bit weights (Q1.3), 7-bit unsigned inputs, 10 chips per model")
    rows = run()
    print(format_table(rows))
    print(f"done in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
