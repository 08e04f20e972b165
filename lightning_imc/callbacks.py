"""Lightning callbacks joining training to the chip: accuracy on Monte-Carlo chips, hardware metrics, reward.

They run at the end of fit, in list order (put ``RewardCallback`` last), and write their figures into
``pl_module.results`` (a dict) and to ``trainer.logger`` (``self.log`` is not allowed in
``on_fit_end``):

* :class:`VariationEvalCallback` — ``eval/acc_clean`` (no variation) and ``eval/acc_variation``
  (mean over chips) with ``_std``, ``_ci95_low``, ``_ci95_high`` (``iou`` instead of ``acc`` for
  segmentation);
* :class:`HardwareMetricsCallback` — ``hw/latency_s``, ``hw/energy_j``, ``hw/area_mm2``, ``hw/tops``,
  ``hw/tops_per_w``, ``hw/edp``, after circuit optimisation when a circuit space is given;
* :class:`RewardCallback` — ``reward`` and ``reward/hardware_efficiency`` (NACIM formulas (1), (3)).
"""

from __future__ import annotations

import dataclasses
import random
from typing import Any, Mapping, Sequence

import pytorch_lightning as pl
import torch
from torch import nn

from .hardware import ChipConfig, Network, evaluate, network_from_module, optimize_circuit
from .layers import evaluate_on_chips, variation_mode
from .reward import HARDWARE_METRICS, RewardConfig, compute_reward, reference_bounds

__all__ = [
    "measure_on_chips",
    "unlabelled_batches",
    "VariationEvalCallback",
    "EpochCurves",
    "HardwareMetricsCallback",
    "RewardCallback",
    "chip_for_candidate",
    "hardware_metrics",
    "estimate_reward_bounds",
    "log_metrics",
    "layer_cost_shares",
]


def log_metrics(trainer: pl.Trainer, metrics: Mapping[str, float]) -> None:
    """Log scalars through every logger of ``trainer`` (works in ``on_fit_end``)."""
    for logger in trainer.loggers:
        logger.log_metrics(dict(metrics), step=trainer.global_step)


class EpochCurves(pl.Callback):
    """The figures Lightning holds at the end of every training epoch (after its validation), as
    ``points``: ``[{"epoch": 0, "train/loss": ..., "val/accuracy": ...}, ...]`` (finite scalars only)."""

    def __init__(self) -> None:
        self.points: list[dict[str, float]] = []

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        point: dict[str, float] = {"epoch": int(trainer.current_epoch)}
        for name, value in sorted(trainer.callback_metrics.items()):
            tensor = torch.as_tensor(value)
            if tensor.numel() == 1 and bool(torch.isfinite(tensor)):
                point[name] = float(tensor)
        self.points.append(point)


def _eval_loader(trainer: pl.Trainer, split: str) -> Any:
    datamodule = trainer.datamodule
    if datamodule is None:
        raise ValueError("VariationEvalCallback needs the Trainer to be given a LightningDataModule")
    datamodule.setup("test" if split == "test" else "validate")
    return datamodule.test_dataloader() if split == "test" else datamodule.val_dataloader()


@torch.no_grad()
def _metric_over(model: nn.Module, loader: Any, device: torch.device, segmentation: bool, num_classes: int,
                 max_batches: int | None) -> float:
    """Accuracy (classification) or mean IoU over classes (segmentation) of ``model`` on ``loader``."""
    was_training = model.training
    model.eval()
    correct = total = 0
    intersection = torch.zeros(num_classes, device=device)
    union = torch.zeros(num_classes, device=device)
    try:
        for index, (x, y) in enumerate(loader):
            if max_batches is not None and index >= max_batches:
                break
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            prediction = model(x).argmax(1)
            if segmentation:
                for c in range(num_classes):
                    p, t = prediction == c, y == c
                    intersection[c] += (p & t).sum()
                    union[c] += (p | t).sum()
            else:
                correct += int((prediction == y).sum())
                total += y.numel()
    finally:
        model.train(was_training)
    if segmentation:
        present = union > 0
        return float((intersection[present] / union[present]).mean()) if present.any() else 0.0
    return correct / max(total, 1)


class VariationEvalCallback(pl.Callback):
    """Accuracy without variation and on ``n_chips`` Monte-Carlo chips with variation, at the end of fit.

    Args:
        n_chips: Chips sampled (each fixes one variation sample per layer for the whole split).
        seed: Chip ``i`` uses seed ``seed + i``: every candidate is judged on the same chips.
        split: ``test`` or ``val``.
        max_batches: Evaluate at most this many batches per chip (``None``: the whole split).
        bn_recalibration_batches: When > 0, also report the accuracy on the same chips after a
            per-chip BatchNorm re-calibration on this many unlabelled training batches (a deployment
            step: :func:`~lightning_imc.layers.recalibrate_batchnorm`), as ``accuracy_variation_bn_recal``
            beside the uncalibrated ``accuracy_variation`` (which alone enters the reward).
    """

    def __init__(self, n_chips: int = 10, seed: int = 0, split: str = "test", max_batches: int | None = None,
                 bn_recalibration_batches: int = 0):
        if isinstance(n_chips, bool) or not isinstance(n_chips, int) or n_chips < 1:
            raise ValueError(f"callbacks.variation_eval.n_chips={n_chips!r}; must be an integer >= 1")
        if split not in ("test", "val"):
            raise ValueError(f"callbacks.variation_eval.split={split!r}; allowed: ['test', 'val']")
        if (isinstance(bn_recalibration_batches, bool) or not isinstance(bn_recalibration_batches, int)
                or bn_recalibration_batches < 0):
            raise ValueError(f"callbacks.variation_eval.bn_recalibration_batches={bn_recalibration_batches!r}; "
                             "must be an integer >= 0")
        self.n_chips, self.seed, self.split, self.max_batches = n_chips, seed, split, max_batches
        self.bn_recalibration_batches = bn_recalibration_batches

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        max_batches = 1 if trainer.fast_dev_run else self.max_batches
        loader = _eval_loader(trainer, self.split)
        bn_batches = None
        if self.bn_recalibration_batches > 0:
            bn_batches = unlabelled_batches(trainer.datamodule.train_dataloader(), self.bn_recalibration_batches,
                                            pl_module.device)
        figures = measure_on_chips(pl_module.network, pl_module.spec, loader, pl_module.device, self.n_chips,
                                   self.seed, max_batches, bn_batches=bn_batches)
        pl_module.results.update(figures)
        name = "iou" if pl_module.spec.task == "segmentation" else "acc"
        low, high = figures["accuracy_variation_ci95"]
        metrics = {
            f"eval/{name}_clean": figures["accuracy_clean"],
            f"eval/{name}_variation": figures["accuracy_variation"],
            f"eval/{name}_variation_std": figures["accuracy_variation_std"],
            f"eval/{name}_variation_ci95_low": low,
            f"eval/{name}_variation_ci95_high": high,
        }
        if "accuracy_variation_bn_recal" in figures:
            metrics[f"eval/{name}_variation_bn_recal"] = figures["accuracy_variation_bn_recal"]
        log_metrics(trainer, metrics)


def unlabelled_batches(loader: Any, count: int, device: torch.device) -> list[torch.Tensor]:
    """The inputs of the first ``count`` batches of ``loader`` (labels dropped), on ``device``."""
    batches = []
    for batch in loader:
        inputs = batch[0] if isinstance(batch, (tuple, list)) else batch
        batches.append(inputs.to(device))
        if len(batches) == count:
            break
    return batches


def measure_on_chips(network: nn.Module, spec: Any, loader: Any, device: torch.device, n_chips: int, seed: int,
                     max_batches: int | None = None, bn_batches: Sequence[torch.Tensor] | None = None) -> dict[str, Any]:
    """Accuracy (IoU for segmentation) without variation and on ``n_chips`` Monte-Carlo chips.

    Returns ``accuracy_clean``, ``accuracy_variation`` (mean over chips), ``accuracy_variation_std``,
    ``accuracy_variation_ci95`` (low, high, clipped to [0, 1]) and ``chip_values``, all fractions. With
    ``bn_batches``, also ``accuracy_variation_bn_recal`` and ``accuracy_variation_bn_recal_ci95``: the same
    chips after a per-chip BatchNorm re-calibration on those unlabelled batches.
    """
    segmentation = spec.task == "segmentation"

    def metric(model: nn.Module) -> float:
        return _metric_over(model, loader, device, segmentation, spec.num_classes, max_batches)

    with variation_mode(network, "off"):
        clean = metric(network)
    chips = evaluate_on_chips(network, metric, n_chips=n_chips, seed=seed, value_range=(0.0, 1.0))
    figures: dict[str, Any] = dict(
        accuracy_clean=clean, accuracy_variation=chips.mean, accuracy_variation_std=chips.std,
        accuracy_variation_ci95=(chips.ci95_low, chips.ci95_high), chip_values=list(chips.values),
        ci_method=chips.CI_METHOD)
    if bn_batches:
        recal = evaluate_on_chips(network, metric, n_chips=n_chips, seed=seed, bn_batches=bn_batches,
                                  value_range=(0.0, 1.0))
        figures.update(accuracy_variation_bn_recal=recal.mean,
                       accuracy_variation_bn_recal_ci95=(recal.ci95_low, recal.ci95_high))
    return figures


def chip_for_candidate(base: ChipConfig, circuit: Mapping[str, Any]) -> ChipConfig:
    """``base`` with the candidate's circuit choices (``array_size``, ``adc_bits``, ``cols_per_adc``, ...)."""
    changes: dict[str, Any] = {}
    fields = {f.name for f in dataclasses.fields(ChipConfig)}
    for key, value in circuit.items():
        if key == "array_size":
            changes["subarray_rows"] = changes["subarray_cols"] = int(value)
        elif key in fields:
            changes[key] = value
        else:
            raise ValueError(f"circuit choice {key!r} is not a ChipConfig field; allowed: 'array_size', {sorted(fields)}")
    if "cols_per_adc" not in changes and "subarray_cols" in changes:
        changes["cols_per_adc"] = min(base.cols_per_adc, changes["subarray_cols"])
    return base.replace(**changes)


def hardware_metrics(report: Any) -> dict[str, float]:
    """The scalar hardware metrics of a :class:`~lightning_imc.hardware.HardwareReport`."""
    return {
        "latency_s": report.latency_s,
        "energy_j": report.energy_j,
        "area_mm2": report.area_mm2,
        "tops": report.tops,
        "tops_per_w": report.tops_per_w,
        "edp": report.edp_js,
    }


def layer_cost_shares(report: Any) -> list[float]:
    """Each layer's share of the chip's cost, ``(E_i / ΣE + L_i / ΣL) / 2`` (dimensionless, sums to 1).

    ``E_i`` (J) and ``L_i`` (s) are the layer's energy and latency in the
    :class:`~lightning_imc.hardware.HardwareReport` (``report.layers``, in network order). For a small
    change of one layer, the relative change of EDP = energy × latency is ``dE_i/ΣE + dL_i/ΣL``; the share
    says where a change can move EDP most. rNAS uses it to pick which layers to mutate
    (``search.rnas_cost_share``).
    """
    energy = [max(0.0, float(layer.energy_j)) for layer in report.layers]
    latency = [max(0.0, float(layer.latency_s)) for layer in report.layers]
    total_e, total_l = sum(energy), sum(latency)
    if total_e <= 0 or total_l <= 0:
        return [1.0 / len(energy)] * len(energy) if energy else []
    return [(e / total_e + l / total_l) / 2 for e, l in zip(energy, latency)]


class HardwareMetricsCallback(pl.Callback):
    """Maps the trained child onto a chip and estimates latency, energy and area at the end of fit.

    Args:
        chip: Base chip configuration (default: :meth:`ChipConfig.nacim`); the candidate's own circuit
            choices (``spec.circuit``) are applied on top.
        circuit_space: ``{ChipConfig field: [values]}`` to optimise over (NACIM's performance evaluator
            optimises the circuit for each network); ``None`` evaluates the candidate's circuit as is.
        objective: Objective of the circuit optimisation (``latency``, ``energy``, ``area``, ``edp`` or
            ``{metric: weight}``).
        constraints: e.g. ``{"max_area_mm2": 50}``.
    """

    def __init__(self, chip: ChipConfig | None = None, circuit_space: Mapping[str, Sequence[Any]] | None = None,
                 objective: str | Mapping[str, float] = "edp", constraints: Mapping[str, float] | None = None):
        self.chip = chip or ChipConfig.nacim()
        self.circuit_space = dict(circuit_space) if circuit_space else None
        self.objective = objective
        self.constraints = dict(constraints or {})

    #: Circuit fields that change what the layers compute (rows summed per ADC conversion, ADC levels).
    ACCURACY_FIELDS = ("subarray_rows", "adc_bits")

    def settle_circuit(self, spec: Any) -> Any:
        """``spec`` with the circuit the optimiser would pick, *before* training, where it matters to accuracy.

        When ``circuit_space`` searches ADC bits or sub-array rows, the chip that the hardware model
        charges for must be the chip the child is trained and judged on: the optimum (it depends on the
        network's shape, not on its weights) is chosen first and written into ``spec.circuit``, so the
        layers emulate that ADC and those rows. Without such fields, ``spec`` is returned unchanged.
        """
        if not self.circuit_space or not any(f in self.circuit_space for f in self.ACCURACY_FIELDS):
            return spec
        from .models import build_network  # local: models sits beside callbacks in the layer order

        network = network_from_module(build_network(spec).eval(), spec.input_shape, name="child")
        result = optimize_circuit(network, spec.device, self.circuit_space, self.objective, self.constraints,
                                  base=chip_for_candidate(self.chip, spec.circuit))
        chosen = {field: getattr(result.chip, field) for field in self.circuit_space}
        circuit = {k: v for k, v in spec.circuit.items() if not (k == "array_size" and "subarray_rows" in chosen)}
        return dataclasses.replace(spec, circuit=circuit | chosen)

    def evaluate_module(self, network_module: nn.Module, spec: Any) -> tuple[Network, ChipConfig, Any]:
        """Describe, optimise and evaluate ``network_module``; returns (network, chip, report)."""
        network = network_from_module(network_module, spec.input_shape, name="child")
        device = spec.device
        chip = chip_for_candidate(self.chip, spec.circuit)
        if self.circuit_space:
            result = optimize_circuit(network, device, self.circuit_space, self.objective, self.constraints, base=chip)
            return network, result.chip, result.report
        return network, chip, evaluate(network, device, chip)

    def design_metrics(self, spec: Any) -> dict[str, float]:
        """:func:`hardware_metrics` of the chip for ``spec`` with its circuit settled as a child's would be,
        from a freshly built network (the cost does not depend on the weights): milliseconds, no training."""
        from .models import build_network  # local: models sits beside callbacks in the layer order

        spec = self.settle_circuit(spec)
        _, _, report = self.evaluate_module(build_network(spec).eval(), spec)
        return hardware_metrics(report)

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        network, chip, report = self.evaluate_module(pl_module.network, pl_module.spec)
        metrics = hardware_metrics(report)
        pl_module.results["hardware"] = metrics
        pl_module.results["chip"] = dataclasses.asdict(chip)
        pl_module.results["area_breakdown_mm2"] = dict(report.area_breakdown_mm2)
        pl_module.results["energy_breakdown_j"] = dict(report.energy_breakdown_j)
        log_metrics(trainer, {f"hw/{k}": v for k, v in metrics.items()})
        for logger in trainer.loggers:
            if hasattr(logger, "log_table"):  # W&B: the chip breakdown as a table
                rows = [[component, report.area_breakdown_mm2.get(component, 0.0),
                         report.energy_breakdown_j.get(component, 0.0)]
                        for component in sorted(set(report.area_breakdown_mm2) | set(report.energy_breakdown_j))]
                logger.log_table(key="hw/breakdown", columns=["component", "area_mm2", "energy_j"], data=rows)


def estimate_reward_bounds(
    space: Any, to_child: Any, input_shape: Sequence[int], num_classes: int, hardware: HardwareMetricsCallback,
    n_samples: int = 64, seed: int = 0, metrics: Sequence[str] = HARDWARE_METRICS,
) -> dict[str, Any]:
    """Reference bounds of the hardware metrics: 5th/95th percentiles over random candidates of ``space``.

    Only the hardware model runs (children are built, never trained), so this takes seconds.
    """
    from .models import build_network  # local: models sits beside callbacks in the layer order

    rng = random.Random(seed)
    samples: dict[str, list[float]] = {m: [] for m in metrics}
    for _ in range(n_samples):
        spec = to_child(space, space.sample(rng), input_shape=tuple(input_shape), num_classes=num_classes)
        _, _, report = hardware.evaluate_module(build_network(spec).eval(), spec)
        values = hardware_metrics(report)
        for m in metrics:
            samples[m].append(values[m])
    return reference_bounds(samples)


class RewardCallback(pl.Callback):
    """NACIM's reward from ``results['accuracy_variation']`` and ``results['hardware']`` (formulas (1), (3)).

    Args:
        config: Reward settings; its bounds must cover every weighted metric.
    """

    def __init__(self, config: RewardConfig):
        self.config = config

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        results = pl_module.results
        if "accuracy_variation" not in results or "hardware" not in results:
            raise RuntimeError("RewardCallback must come after VariationEvalCallback and HardwareMetricsCallback")
        breakdown = compute_reward(results["accuracy_variation"], results["hardware"], self.config)
        results["reward"] = breakdown.reward
        results["hardware_efficiency"] = breakdown.hardware_efficiency
        log_metrics(trainer, {"reward": breakdown.reward, "reward/hardware_efficiency": breakdown.hardware_efficiency,
                              **{f"reward/efficiency_{k}": v for k, v in breakdown.efficiencies.items()}})
