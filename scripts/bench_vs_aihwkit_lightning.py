"""Training-step time of this project's noise-aware layers against AIHWKit-Lightning's, on the same work.

The work (issue 25): 8-bit weights quantized per output channel, per-channel Gaussian weight noise (a new
draw at every forward), 8-bit inputs; a training step is forward, loss, backward and an SGD step, on CPU
with one thread. Two models:

* ``linear``: six ``nn.Linear(768, 768)`` in a row, batch 64;
* ``conv``: torchvision ``resnet18`` (10 classes) at 32×32, batch 16.

Variants of each model, timed side by side in one process, interleaved round after round (a burst of load
on the shared machine hits every variant alike), median over rounds:

* ``plain``: the digital model;
* ``aihwkit_lightning``: ``aihwkit_lightning.nn.conversion.convert_to_analog`` with a
  ``TorchInferenceRPUConfig``: ``modifier.quantization_type = DISCRETIZE_PER_CHANNEL`` with ``res = 254``
  (8-bit weights), ``modifier.noise_type = ADD_NORMAL_PER_CHANNEL`` (``std_dev`` 0.02 of each channel's
  max|w|), ``forward.inp_res = 254`` (8-bit inputs) on a static input range (``pre_post.input_range``
  enabled and learned; initialised from the first ``init_from_data`` = 10 batches, all inside the warm-up);
* ``imc``: ``convert_to_imc(model, conversion_config(variation="train"))`` — the default conversion (8-bit
  weights scaled per channel, bit-sliced per-cell variation, per channel in weight units; 8-bit inputs with a
  zero point on each read's own range, K×K convolutions on a calibrated range) — calibrated on one batch;
* ``imc_calibrated``: the same with ``input_scaling="calibrated"`` (one range per layer, as AIHWKit's).

AIHWKit-Lightning 2.1.0 is pure Python: unless it imports already, it is installed without dependencies
into a scratch folder (``--aihwkit-dir``, default in the system's temporary folder) put on ``sys.path``
beside this project's torch, with pip or uv, whichever is found. This project does not depend on it; if it
cannot be installed the script says why and exits 0 without figures.

    python -m uv run python scripts/bench_vs_aihwkit_lightning.py [--rounds 15] [--steps 3]

The line before the last (``details:``) holds every variant's median step time (ms) and the other
ratios; the LAST line is one JSON object with exactly ``imc_over_aihwkit_lightning_linear`` and
``imc_over_aihwkit_lightning_conv`` (median step time of ``imc`` over ``aihwkit_lightning``).
"""

from __future__ import annotations

import argparse
import importlib
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from lightning_imc.layers import calibrate_input_ranges, conversion_config, convert_to_imc

AIHWKIT_VERSION = "2.1.0"
WEIGHT_NOISE_STD = 0.02  # AIHWKit-Lightning's per-channel std, relative to each channel's max|w|


def _installers(target: Path) -> list[list[str]]:
    """Commands that can install the pure-Python wheel into ``target`` (first that works wins)."""
    spec = f"aihwkit-lightning=={AIHWKIT_VERSION}"
    commands = [[sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(target), spec]]
    uv = shutil.which("uv")
    if uv:
        commands.append([uv, "pip", "install", "--no-deps", "--target", str(target), spec])
    for python in ("python3", "python"):
        found = shutil.which(python)
        if found:
            commands.append([found, "-m", "uv", "pip", "install", "--no-deps", "--target", str(target), spec])
            commands.append([found, "-m", "pip", "install", "--no-deps", "--target", str(target), spec])
    return commands


def load_aihwkit_lightning(target: Path) -> tuple[Any, str]:
    """Import ``aihwkit_lightning`` (installing it into ``target`` first if needed); ``(None, why)`` if impossible."""
    try:
        return importlib.import_module("aihwkit_lightning"), "already importable"
    except ImportError:
        pass
    if not (target / "aihwkit_lightning").is_dir():
        errors = []
        for command in _installers(target):
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode == 0 and (target / "aihwkit_lightning").is_dir():
                break
            errors.append(f"{' '.join(command[:3])}: {(done.stderr or done.stdout).strip().splitlines()[-1:]}")
        else:
            return None, "could not install aihwkit-lightning: " + "; ".join(errors)
    sys.path.insert(0, str(target))
    try:
        return importlib.import_module("aihwkit_lightning"), f"from {target}"
    except ImportError as err:
        return None, f"installed into {target} but it does not import: {err}"


def aihwkit_convert(model: nn.Module) -> nn.Module:
    """``model`` converted by AIHWKit-Lightning with the issue's settings (module docstring)."""
    from aihwkit_lightning.nn.conversion import convert_to_analog
    from aihwkit_lightning.simulator.configs import (
        TorchInferenceRPUConfig,
        WeightNoiseInjectionType,
        WeightQuantizationType,
    )

    config = TorchInferenceRPUConfig()
    config.modifier.quantization_type = WeightQuantizationType.DISCRETIZE_PER_CHANNEL
    config.modifier.res = 254
    config.modifier.noise_type = WeightNoiseInjectionType.ADD_NORMAL_PER_CHANNEL
    config.modifier.std_dev = WEIGHT_NOISE_STD
    config.forward.inp_res = 254
    config.pre_post.input_range.enable = True
    config.pre_post.input_range.init_from_data = 10
    return convert_to_analog(model, config)


def linear_stack() -> tuple[nn.Module, torch.Tensor, Callable[[torch.Tensor], torch.Tensor]]:
    """Six 768×768 linear layers, a batch of 64, a squared-error loss."""
    model = nn.Sequential(*[nn.Linear(768, 768) for _ in range(6)])
    x = torch.randn(64, 768)
    target = torch.randn(64, 768)
    return model, x, lambda out: nn.functional.mse_loss(out, target)


def resnet18() -> tuple[nn.Module, torch.Tensor, Callable[[torch.Tensor], torch.Tensor]]:
    """torchvision resnet18 (10 classes) at 32×32, a batch of 16, cross-entropy."""
    import torchvision

    model = torchvision.models.resnet18(num_classes=10)
    x = torch.randn(16, 3, 32, 32)
    labels = torch.randint(0, 10, (16,))
    return model, x, lambda out: nn.functional.cross_entropy(out, labels)


def variants(build: Callable[[], tuple[nn.Module, torch.Tensor, Callable]]) -> tuple[dict[str, nn.Module], torch.Tensor, Callable]:
    """The plain model and its three conversions, all from the same initial weights."""
    torch.manual_seed(0)
    model, x, loss = build()
    out: dict[str, nn.Module] = {"plain": model}
    out["aihwkit_lightning"] = aihwkit_convert(_copy(model))
    for name, changes in (("imc", {}), ("imc_calibrated", {"input_scaling": "calibrated"})):
        imc = convert_to_imc(model, conversion_config(variation="train", **changes))
        calibrate_input_ranges(imc, [x])
        out[name] = imc
    return {name: m.train() for name, m in out.items()}, x, loss


def _copy(model: nn.Module) -> nn.Module:
    import copy

    return copy.deepcopy(model)


def step_time(model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, loss_of: Callable, steps: int) -> float:
    """Seconds per training step: forward, loss, backward, SGD step."""
    start = time.perf_counter()
    for _ in range(steps):
        loss = loss_of(model(x))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return (time.perf_counter() - start) / steps


def bench(name: str, build: Callable, rounds: int, steps: int, warmup: int) -> dict[str, float]:
    """Median seconds per step of every variant of one model (interleaved rounds)."""
    models, x, loss_of = variants(build)
    optimizers = {k: torch.optim.SGD(m.parameters(), lr=1e-3) for k, m in models.items()}
    for k, m in models.items():
        step_time(m, optimizers[k], x, loss_of, warmup)
    samples: dict[str, list[float]] = {k: [] for k in models}
    for _ in range(rounds):
        for k, m in models.items():
            samples[k].append(step_time(m, optimizers[k], x, loss_of, steps))
    medians = {k: statistics.median(v) for k, v in samples.items()}
    for k, v in medians.items():
        print(f"{name:6s} {k:18s} {v * 1e3:8.2f} ms/step  ({v / medians['plain']:.2f}x plain; "
              f"max/min over rounds {max(samples[k]) / min(samples[k]):.2f})", flush=True)
    return medians


def main(argv: list[str] | None = None) -> dict[str, float] | None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds (median over them)")
    parser.add_argument("--steps", type=int, default=3, help="training steps timed per variant and round")
    parser.add_argument("--warmup", type=int, default=12, help="untimed steps per variant first (> AIHWKit's 10 init batches)")
    parser.add_argument("--aihwkit-dir", default=str(Path(tempfile.gettempdir()) / f"aihwkit-lightning-{AIHWKIT_VERSION}"),
                        help="scratch folder AIHWKit-Lightning is installed into (with --no-deps) if it does not import")
    args = parser.parse_args(argv)
    module, how = load_aihwkit_lightning(Path(args.aihwkit_dir))
    if module is None:
        print(f"skipped: AIHWKit-Lightning {AIHWKIT_VERSION} is not available ({how}); no figures", flush=True)
        return None
    print(f"AIHWKit-Lightning {getattr(module, '__version__', '?')} ({how}), torch {torch.__version__}, 1 thread", flush=True)
    torch.set_num_threads(1)
    warnings.simplefilter("ignore", UserWarning)
    results = {"linear": bench("linear", linear_stack, args.rounds, args.steps, args.warmup),
               "conv": bench("conv", resnet18, args.rounds, args.steps, args.warmup)}
    details: dict[str, Any] = {"step_ms": {m: {k: round(v * 1e3, 2) for k, v in r.items()} for m, r in results.items()}}
    for m, r in results.items():
        details[f"imc_calibrated_over_aihwkit_lightning_{m}"] = round(r["imc_calibrated"] / r["aihwkit_lightning"], 3)
        details[f"aihwkit_lightning_over_plain_{m}"] = round(r["aihwkit_lightning"] / r["plain"], 3)
        details[f"imc_over_plain_{m}"] = round(r["imc"] / r["plain"], 3)
    print("details:", json.dumps(details))
    final = {f"imc_over_aihwkit_lightning_{m}": round(r["imc"] / r["aihwkit_lightning"], 3) for m, r in results.items()}
    print(json.dumps(final))
    return final


if __name__ == "__main__":
    main()
