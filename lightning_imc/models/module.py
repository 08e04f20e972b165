"""``ChildModule``: the LightningModule that trains a child network with device variation."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import pytorch_lightning as pl
import torch
import torchmetrics
from torch import Tensor, nn

from ..layers import IMCConfig, set_variation
from .networks import build_network, child_imc_config

__all__ = ["OptimizerConfig", "ChildModule", "OPTIMIZERS", "SCHEDULERS"]

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULERS = ("none", "cosine")


@dataclass(frozen=True)
class OptimizerConfig:
    """Optimizer and learning-rate schedule of a child.

    Attributes:
        name: ``sgd`` (with momentum, Nesterov), ``adam`` or ``adamw``.
        lr: Learning rate.
        momentum: SGD momentum, in [0, 1) (at 1 and above the velocity never decays and training diverges).
        weight_decay: L2 weight decay.
        scheduler: ``none`` or ``cosine`` (annealed to 0 over ``trainer.max_epochs``).
    """

    name: str = "adam"
    lr: float = 3e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    scheduler: str = "cosine"

    def __post_init__(self) -> None:
        if self.name not in OPTIMIZERS:
            raise ValueError(f"optimizer.name={self.name!r}; allowed: {list(OPTIMIZERS)}")
        if self.scheduler not in SCHEDULERS:
            raise ValueError(f"optimizer.scheduler={self.scheduler!r}; allowed: {list(SCHEDULERS)}")
        for key in ("lr", "momentum", "weight_decay"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or (key == "lr" and value == 0):
                raise ValueError(f"optimizer.{key}={value!r}; must be a number {'> 0' if key == 'lr' else '>= 0'}")
        if self.momentum >= 1:
            raise ValueError(f"optimizer.momentum={self.momentum!r}; must be a number in [0, 1): at 1 and above the "
                             "velocity never decays and training diverges")


class ChildModule(pl.LightningModule):
    """Trains a child network (classification or segmentation) with variation injected per forward.

    Training uses the IMC configuration's variation mode (``train`` for noise-aware training as in
    NACIM's ptbNAS, ``off`` for variation-unaware training as in QuantNAS). Validation and test run
    without variation (``val/acc``, ``test/acc``); accuracy on chips with variation is measured by
    :class:`lightning_imc.callbacks.VariationEvalCallback`.

    Attributes:
        network: The :class:`~lightning_imc.models.ChildNetwork`.
        results: Figures the callbacks add at the end of fit (accuracy on chips, hardware, reward).
    """

    def __init__(self, spec: Any, imc: IMCConfig | None = None, optimizer: OptimizerConfig | None = None):
        super().__init__()
        self.spec = spec
        self.imc = child_imc_config() if imc is None else imc
        self.optimizer_config = OptimizerConfig() if optimizer is None else optimizer
        self.network = build_network(spec, self.imc)
        self.training_variation = self.imc.variation
        self.segmentation = spec.task == "segmentation"
        if self.segmentation:
            metric: Any = torchmetrics.JaccardIndex(task="multiclass", num_classes=spec.num_classes)
        else:
            metric = torchmetrics.Accuracy(task="multiclass", num_classes=spec.num_classes)
        self.train_metric = metric.clone()
        self.val_metric = metric.clone()
        self.test_metric = metric.clone()
        self.metric_name = "iou" if self.segmentation else "acc"
        self.results: dict[str, Any] = {}
        self.save_hyperparameters(
            {"optimizer": asdict(self.optimizer_config), "imc": {k: v for k, v in asdict(self.imc).items()
                                                                   if k != "device"} | {"device": str(self.imc.device)}},
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.network(x)

    def _loss(self, logits: Tensor, target: Tensor) -> Tensor:
        return nn.functional.cross_entropy(logits, target)

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        x, y = batch
        logits = self.network(x)
        loss = self._loss(logits, y)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"non-finite training loss {loss.item()} at step {self.global_step}")
        self.train_metric(logits.argmax(1), y)
        self.log("train/loss", loss, prog_bar=True)
        self.log(f"train/{self.metric_name}", self.train_metric, on_step=False, on_epoch=True)
        return loss

    def _evaluate(self, batch: tuple[Tensor, Tensor], metric: torchmetrics.Metric, stage: str) -> None:
        x, y = batch
        logits = self.network(x)
        metric(logits.argmax(1), y)
        self.log(f"{stage}/loss", self._loss(logits, y))
        self.log(f"{stage}/{self.metric_name}", metric, prog_bar=stage == "val")

    def on_validation_epoch_start(self) -> None:
        set_variation(self.network, "off")

    def on_validation_epoch_end(self) -> None:
        set_variation(self.network, self.training_variation)

    on_test_epoch_start = on_validation_epoch_start
    on_test_epoch_end = on_validation_epoch_end

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._evaluate(batch, self.val_metric, "val")

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._evaluate(batch, self.test_metric, "test")

    def configure_optimizers(self) -> Any:
        cfg = self.optimizer_config
        params = self.parameters()
        if cfg.name == "sgd":
            optimizer: torch.optim.Optimizer = torch.optim.SGD(
                params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, nesterov=cfg.momentum > 0
            )
        elif cfg.name == "adam":
            optimizer = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        else:
            optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        if cfg.scheduler == "none":
            return optimizer
        epochs = max(1, int(self.trainer.max_epochs or 1))
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}
