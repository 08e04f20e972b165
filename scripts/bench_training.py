"""Epoch time of a child through the project's Lightning path against a hand-written PyTorch loop.

Both train the same child (the RLS space's default candidate, noise-aware: a variation sample per
forward) on the same tensors with the same optimizer and batch size. They run interleaved in one
process (a hand-written epoch after each Lightning epoch, outside its timing); each figure is the median over ``--repeats`` epochs (the first epoch of each is a warm-up).

* ``project``: ``ChildModule`` + the project's tensor-resident data module + ``pl.Trainer`` (no
  validation, no checkpointing, no progress bar, no logger: the per-step ``self.log`` and
  torchmetrics updates stay on);
* ``handwritten``: a ``for`` loop over shuffled tensor slices, ``loss.backward()``, ``opt.step()``.

Run: ``uv run python scripts/bench_training.py [--data fashion_mnist|digits] [--train-samples 4096]``.
The last line is JSON: ``{"project_over_handwritten_cpu": ..., ...}`` (``_cuda`` keys on a GPU).
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time
import warnings

import pytorch_lightning as pl
import torch

from lightning_imc.data import get_datamodule
from lightning_imc.layers import IMCConfig
from lightning_imc.models import ChildModule, OptimizerConfig
from lightning_imc.space import get_space, to_child


class InterleavedTimer(pl.Callback):
    """Times every Lightning training epoch (s), then runs one hand-written epoch outside that window."""

    def __init__(self, run_handwritten) -> None:
        self.times: list[float] = []
        self.handwritten: list[float] = []
        self.run_handwritten = run_handwritten

    def _sync(self, pl_module: pl.LightningModule) -> None:
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize()

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._sync(pl_module)
        self._start = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self._sync(pl_module)
        self.times.append(time.perf_counter() - self._start)
        self.handwritten.append(self.run_handwritten())


def handwritten_epoch(model: torch.nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
                      batch_size: int, generator: torch.Generator) -> float:
    """One epoch of a plain loop (s)."""
    if x.is_cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    model.train()
    order = torch.randperm(len(x), generator=generator).to(x.device)
    for i in range(0, len(x), batch_size):
        index = order[i : i + batch_size]
        loss = torch.nn.functional.cross_entropy(model(x[index]), y[index])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    if x.is_cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - start


def bench(device: str, data: str, train_samples: int, batch_size: int, repeats: int) -> dict[str, float]:
    kwargs = dict(batch_size=batch_size, max_train_samples=train_samples, max_eval_samples=256, seed=0)
    if data == "digits":
        kwargs["image_size"] = 32
    datamodule = get_datamodule(data, **kwargs)
    datamodule.setup("fit")
    space = get_space("rls")
    spec = to_child(space, space.default_candidate(), input_shape=datamodule.input_shape, num_classes=datamodule.num_classes)
    imc = IMCConfig(variation="train", seed=0)
    optimizer = OptimizerConfig(name="adam", lr=1e-3, scheduler="none")
    torch.manual_seed(0)
    module = ChildModule(spec, imc, optimizer)
    reference = copy.deepcopy(module.network).to(device)
    reference_optimizer = torch.optim.Adam(reference.parameters(), lr=1e-3)
    x, y = (t.to(device) for t in datamodule.splits["train"])
    generator = torch.Generator().manual_seed(0)

    timer = InterleavedTimer(lambda: handwritten_epoch(reference, reference_optimizer, x, y, batch_size, generator))
    trainer = pl.Trainer(
        accelerator="gpu" if device == "cuda" else "cpu", devices=1, max_epochs=repeats + 1, logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        num_sanity_val_steps=0, limit_val_batches=0, callbacks=[timer],
    )
    trainer.fit(module, datamodule=datamodule)
    handwritten = timer.handwritten
    project = statistics.median(timer.times[1:])
    plain = statistics.median(handwritten[1:])
    print(f"{device:5s} {data} {len(x)} samples, batch {batch_size}: project {project:.3f} s/epoch, "
          f"hand-written {plain:.3f} s/epoch, ratio {project / plain:.3f}")
    return {"project": project, "handwritten": plain}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="fashion_mnist (default when its files exist) or digits")
    parser.add_argument("--train-samples", type=int, default=4096)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    data = args.data
    if data is None:
        from lightning_imc.data import FashionMNISTDataModule

        data = "fashion_mnist" if FashionMNISTDataModule().locate() is not None else "digits"
    figures: dict[str, float] = {}
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        result = bench(device, data, args.train_samples, args.batch_size, args.repeats)
        figures[f"project_over_handwritten_{device}"] = round(result["project"] / result["handwritten"], 3)
        figures[f"project_s_per_epoch_{device}"] = round(result["project"], 4)
        figures[f"handwritten_s_per_epoch_{device}"] = round(result["handwritten"], 4)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
