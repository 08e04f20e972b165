"""Typed, validated settings of the Hydra application.

``load_settings(cfg)`` turns the composed Hydra/OmegaConf tree into frozen dataclasses and raises
:class:`ConfigError` — one line naming the offending key and what is allowed — before any data is
loaded or any model is built. ``train.py`` prints that line and exits with status 2.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from typing import Any, Mapping

from .hardware import ChipConfig
from .hardware.chip import CHIP_MODELS
from .layers import IMCConfig
from .models import OptimizerConfig
from .reward import MetricBounds, RewardConfig

__all__ = ["ConfigError", "DataError", "Settings", "load_settings", "check_trainer_settings", "MODES"]

MODES = ("child", "search")
SEARCH_MODES = ("nas", "quantnas", "ptbnas", "rnas", "nacim")
EXECUTORS = ("local", "ray")
CHIP_PRESETS = ("nacim", "neurosim_vgg8", "default")


class ConfigError(ValueError):
    """A configuration error; its message is one line naming the key and what is allowed."""


class DataError(ConfigError):
    """The configured data cannot be found or read; one line naming the folder or file to fill."""


#: SQLite's Unix file-name limit (``SQLITE_MAX_PATHNAME``, characters of an absolute path).
SQLITE_MAX_PATH = 512
#: What the output folder's longest SQLite file adds to its path.
_LONGEST_HISTORY_SUFFIX = "/history.sqlite-journal"
#: Trainer precisions Lightning accepts.
PRECISIONS = ("64-true", "32-true", "16-mixed", "16-true", "bf16-mixed", "bf16-true", "transformer-engine",
              "transformer-engine-float16", "64", "32", "16", "bf16", 64, 32, 16)
#: The "true" precision a child trains in: the crossbar layers compute in float32 (integer codes, variation
#: and the ADC's readout); in 16-true the loss is NaN at the first step, 64-true and bf16-true fail when the
#: chips are evaluated with float32 data. Mixed precision (``16-mixed``, ``bf16-mixed``) is left to GPUs
#: (``conf/trainer/auto.yaml``); under CPU autocast the ADC readout's backward multiplies bfloat16 by float32.
CHILD_TRUE_PRECISIONS = ("32-true", "32", 32)
MIXED_PRECISIONS = ("16-mixed", "bf16-mixed", "16", "bf16", 16)
#: Largest learning rate accepted: beyond it one optimizer step moves a weight of the layers' formats (a
#: few units at most) past its whole range, and training stops at its first step with a non-finite loss.
MAX_LR = 10.0
ACCELERATORS = ("cpu", "gpu", "cuda", "mps", "tpu", "auto")
#: What a multi-objective controller (``nsga2``) can be told per child: the record's reward, its accuracies
#: (fractions) and the chip model's figures (see :func:`~lightning_imc.search.pareto.metric_value`).
OBJECTIVE_METRICS = ("reward", "accuracy_variation", "accuracy_clean", "hardware_efficiency", "latency_s", "energy_j",
                     "area_mm2", "edp", "tops", "tops_per_w")

@dataclass(frozen=True)
class ComponentSettings:
    """A data module or search space: ``{name: ..., <kwargs>}`` for the registry, ``{_target_: ...}``
    for Hydra's ``instantiate``, or (spaces) the full ``{name, dimensions, ...}`` data of a space."""

    config: Mapping[str, Any]

    @property
    def label(self) -> str:
        """A short name for messages and run names."""
        return str(self.config.get("name") or self.config.get("_target_", "?")).rsplit(".", 1)[-1]


@dataclass(frozen=True)
class HardwareSettings:
    """Chip preset and overrides, circuit optimisation space, objective and constraints."""

    chip: ChipConfig
    circuit_space: Mapping[str, list]
    objective: Any
    constraints: Mapping[str, float]


@dataclass(frozen=True)
class EvalSettings:
    """Monte-Carlo chip evaluation at the end of each child's training.

    ``bn_settle_batches``: after a search child's training, its BatchNorm statistics are re-estimated
    with the final weights on this many training batches before anything judges it ("precise BN":
    short trainings leave the running statistics lagging the weights, which then ranks children by
    their lag; 0: off). Noise-aware children are re-estimated through chips with variation, as trained.
    """

    n_chips: int = 10
    seed: int = 0
    split: str = "test"
    max_batches: int | None = None
    bn_recalibration_batches: int = 0
    bn_settle_batches: int = 0


@dataclass(frozen=True)
class LoggerSettings:
    """Weights & Biases (offline by default) or none."""

    kind: str = "wandb"
    project: str = "lightning-imc"
    mode: str = "offline"
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class SearchSettings:
    """The co-exploration loop (``mode=search``).

    Attributes:
        mode: ``nas`` (architecture), ``quantnas`` (+ quantization), ``ptbnas`` (+ device, noise-aware
            training), ``rnas`` (quantization + circuit on a fixed architecture and device, saved
            weights, no retraining) or ``nacim`` (ptbnas → top-K → rnas per architecture → fine-tuning).
        episodes: Proposals of the first (or only) phase.
        batch_size: Proposals per controller update (the paper's m; also the unit of parallel work).
        train_epochs: Epochs per child (``None``: ``trainer.max_epochs``).
        top_k: Architectures kept after ptbNAS for rNAS (``nacim``).
        rnas_steps: Proposals per architecture in rNAS.
        topk_finetune_epochs: Epochs of fine-tuning of each of the top-K architectures before rNAS
            (``nacim``; the paper: 200); 0 runs rNAS on the ptbNAS weights as they are.
        rnas_neighbourhood_share: Share of rNAS proposals (after the specification) that mutate a few
            layers of the best design so far; the rest come from the controller (0: controller only).
        rnas_mutation_units: Most layers (or circuit/device groups) one such mutation changes.
        rnas_cost_share: Share of those mutations' unit picks drawn in proportion to each layer's share of
            the parent's chip cost (``(E_i/ΣE + L_i/ΣL)/2``, recorded as ``layer_cost_shares``); the rest
            are uniform over the layers and the circuit (0: all uniform).
        rnas_moves: How rNAS mutations are made: ``cost_descent`` (the default: each slot gets the untried
            single-field, one-step move of the best design so far that the analytical chip model rates
            cheapest by the reward's hardware term; accuracy is still measured on chips for every proposal)
            or ``random`` (1..``rnas_mutation_units`` layers changed at random; a history written before
            this setting existed resumes with it, see :data:`~lightning_imc.search.loop.ADDED_SETTINGS`).
        rnas_input_calibration_batches: Unlabelled batches from which an rNAS proposal's calibrated input
            ranges are set again for its own input formats (the least-error range depends on the bits;
            a programming-time step, like the weight scale; 0: keep the parent's ranges).
        rnas_bn_batches: Unlabelled batches for re-estimating BatchNorm statistics under variation after
            an rNAS format change (0: off; the weights themselves move between formats exactly).
        finetune_baselines: ``nas``/``quantnas``/``ptbnas`` also fine-tune their top-K architectures (by
            their own reward) for ``topk_finetune_epochs``, as ``nacim`` does before rNAS: the same
            child-epochs for every method of a Table II comparison.
        finetune_top: Best rNAS designs fine-tuned at the end (``nacim``; 0: none).
        finetune_epochs: Epochs of that final fine-tuning.
        reward_alpha: Accuracy weight of the phases that include hardware (``None``: ``reward.alpha``).
        rnas_checkpoint: For ``mode=rnas``: the trained weights of ``candidate`` (a ``state_dict`` file).
        resume: Resume from the history in the output folder when it exists.
        chance_margin: A child whose accuracy entering the reward is at most chance level (1 / classes)
            plus this margin (a fraction) did not learn: it is recorded as failed with the floor reward,
            so hardware efficiency alone never earns a reward. ``None`` turns the rule off.
        fidelity: Multi-fidelity schedule ``{rungs: [epochs, ...], eta, min_promoted}`` or ``None``
            (every child trains ``train_epochs``); see :mod:`lightning_imc.search.fidelity`.
        warm_start: A history (``history.sqlite``, or the output folder holding one) of an earlier search
            over the same space and reward: each phase's controller starts with that history's results of the
            phase of the same name (``seed_population``; the surrogate controller fits its model on them).
            ``None``: start cold.
    """

    mode: str = "nacim"
    episodes: int = 20
    batch_size: int = 5
    train_epochs: int | None = None
    top_k: int = 2
    rnas_steps: int = 10
    topk_finetune_epochs: int = 2
    rnas_neighbourhood_share: float = 0.75
    rnas_mutation_units: int = 2
    rnas_cost_share: float = 0.0
    rnas_moves: str = "cost_descent"
    rnas_input_calibration_batches: int = 4
    rnas_bn_batches: int = 0
    finetune_baselines: bool = False
    finetune_top: int = 1
    finetune_epochs: int = 5
    reward_alpha: float | None = None
    rnas_checkpoint: str | None = None
    resume: bool = True
    chance_margin: float | None = 0.02
    fidelity: Mapping[str, Any] | None = None
    warm_start: str | None = None


@dataclass(frozen=True)
class ExecutorSettings:
    """Where children run.

    Attributes:
        kind: ``local`` (one child at a time, in this process) or ``ray`` (several at once).
        address: Ray cluster address (``None``: start a local Ray on this machine).
        num_cpus: CPUs Ray may use on a local start (``None``: all).
        cpus_per_child: CPUs reserved per child (Ray) — also its torch thread count.
        gpus_per_child: GPUs reserved per child (Ray; fractions share a GPU).
        threads_per_child: Torch CPU threads per child (``None``: ``cpus_per_child`` on Ray, all locally in a
            search, 1 for ``mode=child``: see :func:`~lightning_imc.app.child_job.single_child_threads`).
    """

    kind: str = "local"
    address: str | None = None
    num_cpus: int | None = None
    cpus_per_child: float = 1.0
    gpus_per_child: float = 0.0
    threads_per_child: int | None = None


@dataclass(frozen=True)
class Settings:
    """Everything ``train.py`` needs, validated."""

    mode: str
    seed: int
    candidate: Any
    data: ComponentSettings
    space: ComponentSettings
    imc: IMCConfig
    optimizer: OptimizerConfig
    hardware: HardwareSettings
    reward: RewardConfig
    reward_bound_samples: int
    evaluation: EvalSettings
    trainer: Mapping[str, Any]
    logger: LoggerSettings
    output_dir: str
    search: SearchSettings = field(default_factory=SearchSettings)
    controller: Mapping[str, Any] = field(default_factory=lambda: {"name": "random"})
    executor: ExecutorSettings = field(default_factory=ExecutorSettings)
    extra: Mapping[str, Any] = field(default_factory=dict)


def _section(cfg: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = cfg.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{key} must be a mapping, got {type(value).__name__} {value!r}")
    return dict(value)


def _build(cls: type, values: Mapping[str, Any], prefix: str, rename: Mapping[str, str] | None = None) -> Any:
    """``cls(**values)`` with unknown keys and bad values reported as one line under ``prefix``."""
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise ConfigError(f"{prefix}.{unknown[0]} is not a known key; allowed: {names}")
    try:
        return cls(**values)
    except (ValueError, TypeError) as err:
        message = str(err).splitlines()[0]
        for old in (f"{cls.__name__}.", "optimizer.", "reward."):
            message = message.replace(old, f"{prefix}.", 1) if message.startswith(old) else message
        if not message.startswith(prefix):
            message = f"{prefix}: {message}"
        raise ConfigError(message) from None


def _int(cfg: Mapping[str, Any], key: str, low: int, default: int) -> int:
    value = cfg.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"{key}={value!r}; must be an integer >= {low}")
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _runs_on_cpu(accelerator: Any) -> bool:
    """Whether a Trainer with this ``accelerator`` would train on the CPU (``auto``: no CUDA GPU here)."""
    if accelerator == "cpu":
        return True
    if accelerator in (None, "auto"):
        import torch

        return not torch.cuda.is_available()
    return False


def check_trainer_settings(trainer: Mapping[str, Any]) -> None:
    """Check the Trainer arguments that decide whether and how long a child trains, without building a Trainer.

    Raises:
        ConfigError: an unknown argument, a non-integer or too small epoch or step count, a batch limit that
            trains nothing, an unknown precision or accelerator.
    """
    import inspect

    import pytorch_lightning as pl

    known = [p for p in inspect.signature(pl.Trainer.__init__).parameters if p != "self"]
    for key in trainer:
        if key not in known:
            raise ConfigError(f"trainer.{key} is not a Trainer argument; allowed: {known}")
    if "max_epochs" in trainer:
        value = trainer["max_epochs"]
        if not _is_int(value) or value < 1:
            raise ConfigError(f"trainer.max_epochs={value!r}; must be an integer >= 1")
    for key, low in (("min_epochs", 0), ("min_steps", 0), ("log_every_n_steps", 1), ("accumulate_grad_batches", 1),
                     ("num_sanity_val_steps", -1), ("num_nodes", 1)):
        value = trainer.get(key)
        if value is not None and (not _is_int(value) or value < low):
            raise ConfigError(f"trainer.{key}={value!r}; must be an integer >= {low}")
    max_steps = trainer.get("max_steps")
    if max_steps is not None and (not _is_int(max_steps) or (max_steps < 1 and max_steps != -1)):
        raise ConfigError(f"trainer.max_steps={max_steps!r}; must be -1 (no limit) or an integer >= 1")
    fast = trainer.get("fast_dev_run")
    if fast is not None and not isinstance(fast, bool) and (not _is_int(fast) or fast < 0):
        raise ConfigError(f"trainer.fast_dev_run={fast!r}; must be true, false or an integer >= 0")
    for key in ("limit_train_batches", "limit_val_batches", "limit_test_batches"):
        value = trainer.get(key)
        if value is None:
            continue
        smallest = 1 if key == "limit_train_batches" else 0
        if _is_int(value) and value >= smallest:
            continue
        if isinstance(value, float) and math.isfinite(value) and (0 < value <= 1 or (value == 0 and smallest == 0)):
            continue
        what = "> 0" if smallest else ">= 0"
        raise ConfigError(f"trainer.{key}={value!r}; must be an integer {what} (batches) or a fraction in (0, 1]")
    if "precision" in trainer and trainer["precision"] not in PRECISIONS:
        raise ConfigError(f"trainer.precision={trainer['precision']!r}; allowed: {[p for p in PRECISIONS if isinstance(p, str)]}")
    precision = trainer.get("precision", "32-true")
    if precision not in CHILD_TRUE_PRECISIONS + MIXED_PRECISIONS:
        raise ConfigError(f"trainer.precision={precision!r} is not supported: the crossbar layers compute in float32 "
                          "(codes, variation, ADC readout); allowed: '32-true', or '16-mixed'/'bf16-mixed' on a GPU")
    if precision in MIXED_PRECISIONS and _runs_on_cpu(trainer.get("accelerator")):
        raise ConfigError(f"trainer.precision={precision!r} runs on a GPU only (under CPU autocast the ADC readout's "
                          "backward multiplies bfloat16 by float32); on a CPU use '32-true'")
    accelerator = trainer.get("accelerator")
    if accelerator is not None and (not isinstance(accelerator, str) or accelerator not in ACCELERATORS):
        raise ConfigError(f"trainer.accelerator={accelerator!r}; allowed: {list(ACCELERATORS)}")
    clip = trainer.get("gradient_clip_val")
    if clip is not None and (not _is_number(clip) or clip < 0):
        raise ConfigError(f"trainer.gradient_clip_val={clip!r}; must be a finite number >= 0 or null")
    for key in ("deterministic", "benchmark", "enable_progress_bar", "enable_model_summary", "inference_mode"):
        value = trainer.get(key)
        if value is not None and not isinstance(value, bool) and not (key == "deterministic" and value == "warn"):
            raise ConfigError(f"trainer.{key}={value!r}; must be true or false")


def check_output_dir(output_dir: Any) -> str:
    """The output folder as a string, if the history's SQLite files can live there (length limits)."""
    if not isinstance(output_dir, str) or not output_dir.strip():
        raise ConfigError(f"paths.output_dir={output_dir!r}; must be a non-empty folder path")
    absolute = os.path.abspath(output_dir)
    limit = SQLITE_MAX_PATH - len(_LONGEST_HISTORY_SUFFIX) - 1
    if len(absolute) > limit:
        raise ConfigError(f"paths.output_dir is {len(absolute)} characters long (absolute); the search history "
                          f"(SQLite) allows file paths up to {SQLITE_MAX_PATH}, so at most {limit}: choose a shorter folder")
    longest = max(absolute.split(os.sep), key=len)
    if len(longest.encode()) > 255:
        raise ConfigError(f"paths.output_dir has a folder name of {len(longest.encode())} bytes ({longest[:20]}...); "
                          "file systems allow 255")
    return output_dir


def _check_controller_keys(controller: Mapping[str, Any]) -> None:
    """The controller's name is registered and every other key of ``controller`` is one of its
    hyperparameters. The batch of proposals is no controller key: it is ``search.batch_size``, read by
    the search loop for every controller (and passed to REINFORCE as its update batch ``m``)."""
    from .controllers import controller_hyperparameters, controller_names

    name = controller.get("name")
    if name not in controller_names():
        raise ConfigError(f"controller.name={name!r}; allowed: {controller_names()}")
    allowed = [k for k in controller_hyperparameters(name) if k != "batch_size"]
    for key in controller:
        if key == "name" or key in allowed:
            continue
        if key == "batch_size":
            raise ConfigError("controller.batch_size is not a controller setting; the batch of proposals (and "
                              "REINFORCE's update batch m) is search.batch_size, which every controller reads")
        raise ConfigError(f"controller.{key} is not a hyperparameter of controller {name!r}; "
                          f"allowed: {', '.join(allowed) or '(none)'}")
    from .controllers import get_controller
    from .controllers.base import controller_class

    try:  # the values that do not depend on the space, before the search starts
        controller_class(name).check_hyperparameters(**{k: v for k, v in controller.items() if k != "name"})
    except ValueError as err:
        raise ConfigError(f"controller.{err}") from None

    try:  # the constructor checks its values: a bad one fails now, not when the first phase starts
        built = get_controller(name, cardinalities=[2, 2], seed=0,
                               **{k: v for k, v in controller.items() if k not in ("name", "batch_size")})
    except (ValueError, TypeError) as err:
        message = str(err).splitlines()[0]
        first = message.split(" ", 1)[0].split("=", 1)[0]
        raise ConfigError(f"controller.{message}" if first in controller else f"controller ({name}): {message}") from None
    if getattr(built, "multi_objective", False):
        names = list(built.objective_names)
        unknown = [n for n in names if n not in OBJECTIVE_METRICS]
        if unknown:
            raise ConfigError(f"controller.objectives has {unknown[0]!r}, not a metric of a child; allowed: "
                              f"{', '.join(OBJECTIVE_METRICS)} (a single-objective search: controller.objectives=[reward] "
                              "controller.directions=[maximize])")


def load_settings(cfg: Mapping[str, Any]) -> Settings:
    """Validate a composed configuration (a plain dict, e.g. ``OmegaConf.to_container(cfg, resolve=True)``)."""
    allowed_top = {"mode", "seed", "candidate", "data", "space", "imc", "optimizer", "hardware", "reward",
                   "callbacks", "trainer", "logger", "paths", "experiment_name", "notes", "search", "controller",
                   "executor"}
    unknown = sorted(set(cfg) - allowed_top)
    if unknown:
        raise ConfigError(f"{unknown[0]} is not a known top-level key; allowed: {sorted(allowed_top)}")
    mode = cfg.get("mode", "child")
    if mode not in MODES:
        raise ConfigError(f"mode={mode!r}; allowed: {list(MODES)}")
    seed = _int(cfg, "seed", 0, 0)

    data = _section(cfg, "data")
    if "name" not in data and "_target_" not in data:
        raise ConfigError("data needs a name or a _target_; choose a data config, e.g. data=digits")
    space = _section(cfg, "space")
    if "name" not in space and "_target_" not in space:
        raise ConfigError("space needs a name or a _target_; choose a space config, e.g. space=rls")

    imc = _build(IMCConfig, _section(cfg, "imc"), "imc")
    optimizer = _build(OptimizerConfig, _section(cfg, "optimizer"), "optimizer")
    for key in ("lr", "momentum", "weight_decay"):
        value = getattr(optimizer, key, None)
        if value is not None and not math.isfinite(value):
            raise ConfigError(f"optimizer.{key}={value!r}; must be a finite number")
    if optimizer.lr > MAX_LR:
        raise ConfigError(f"optimizer.lr={optimizer.lr!r}; must be a number in (0, {MAX_LR:g}]: a larger step moves "
                          "every weight past its format's range at the first step")

    hardware = _section(cfg, "hardware")
    known_hw = {"preset", "chip_model", "chip", "circuit_space", "objective", "constraints"}
    unknown = sorted(set(hardware) - known_hw)
    if unknown:
        raise ConfigError(f"hardware.{unknown[0]} is not a known key; allowed: {sorted(known_hw)}")
    preset = hardware.get("preset", "nacim")
    if preset not in CHIP_PRESETS:
        raise ConfigError(f"hardware.preset={preset!r}; allowed: {list(CHIP_PRESETS)}")
    chip_changes = dict(hardware.get("chip") or {})
    if "chip_model" in chip_changes:
        raise ConfigError("hardware.chip.chip_model: give the chip model as hardware.chip_model (one place); "
                          f"allowed: {list(CHIP_MODELS)}")
    chip_model = hardware.get("chip_model", "III")
    if chip_model not in CHIP_MODELS:
        raise ConfigError(f"hardware.chip_model={chip_model!r}; allowed: {list(CHIP_MODELS)} (docs/hardware.md)")
    chip_changes["chip_model"] = chip_model
    chip_fields = [f.name for f in dataclasses.fields(ChipConfig)]
    unknown = sorted(set(chip_changes) - set(chip_fields))
    if unknown:
        raise ConfigError(f"hardware.chip.{unknown[0]} is not a ChipConfig field; allowed: {chip_fields}")
    try:
        chip = ChipConfig(**chip_changes) if preset == "default" else getattr(ChipConfig, preset)(**chip_changes)
    except (ValueError, TypeError) as err:
        raise ConfigError(str(err).splitlines()[0].replace("ChipConfig.", "hardware.chip.")) from None
    circuit_space = dict(hardware.get("circuit_space") or {})
    for key, values in circuit_space.items():
        if key not in chip_fields:
            raise ConfigError(f"hardware.circuit_space.{key} is not a ChipConfig field; allowed: {chip_fields}")
        if not isinstance(values, (list, tuple)) or not values:
            raise ConfigError(f"hardware.circuit_space.{key} must be a non-empty list of values")
        for value in values:
            try:
                chip.replace(**{key: value, **({"subarray_cols": value} if key == "subarray_rows" else {})})
            except (ValueError, TypeError) as err:
                raise ConfigError(f"hardware.circuit_space.{key}: {str(err).splitlines()[0]}") from None
    objective = hardware.get("objective", "edp")
    if isinstance(objective, str) and objective not in ("latency", "energy", "area", "edp"):
        raise ConfigError(f"hardware.objective={objective!r}; allowed: 'latency', 'energy', 'area', 'edp' or a {{metric: weight}} map")
    hw = HardwareSettings(chip, circuit_space, objective, dict(hardware.get("constraints") or {}))

    reward_cfg = _section(cfg, "reward")
    bound_samples = reward_cfg.pop("bound_samples", 64)
    if isinstance(bound_samples, bool) or not isinstance(bound_samples, int) or bound_samples < 2:
        raise ConfigError(f"reward.bound_samples={bound_samples!r}; must be an integer >= 2")
    bounds = {}
    for key, value in dict(reward_cfg.pop("bounds", None) or {}).items():
        if not isinstance(value, Mapping) or set(value) != {"best", "worst"}:
            raise ConfigError(f"reward.bounds.{key} must be {{best: <number>, worst: <number>}}")
        try:
            bounds[key] = MetricBounds(float(value["best"]), float(value["worst"]))
        except ValueError as err:
            raise ConfigError(f"reward.bounds.{key}: {err}") from None
    reward_cfg["bounds"] = bounds
    reward = _build(RewardConfig, reward_cfg, "reward")

    callbacks = _section(cfg, "callbacks")
    unknown = sorted(set(callbacks) - {"variation_eval"})
    if unknown:
        raise ConfigError(f"callbacks.{unknown[0]} is not a known key; allowed: ['variation_eval']")
    evaluation = _build(EvalSettings, dict(callbacks.get("variation_eval") or {}), "callbacks.variation_eval")
    if isinstance(evaluation.n_chips, bool) or not isinstance(evaluation.n_chips, int) or evaluation.n_chips < 1:
        raise ConfigError(f"callbacks.variation_eval.n_chips={evaluation.n_chips!r}; must be an integer >= 1")
    for key in ("bn_recalibration_batches", "bn_settle_batches"):
        value = getattr(evaluation, key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigError(f"callbacks.variation_eval.{key}={value!r}; must be an integer >= 0")
    if evaluation.max_batches is not None and (not _is_int(evaluation.max_batches) or evaluation.max_batches < 1):
        raise ConfigError(f"callbacks.variation_eval.max_batches={evaluation.max_batches!r}; must be an integer >= 1 "
                          "(batches per chip) or null (the whole split)")
    if evaluation.split not in ("test", "val"):
        raise ConfigError(f"callbacks.variation_eval.split={evaluation.split!r}; allowed: ['test', 'val']")

    logger_cfg = _section(cfg, "logger")
    if "tags" in logger_cfg:
        logger_cfg["tags"] = tuple(logger_cfg["tags"] or ())
    logger = _build(LoggerSettings, logger_cfg, "logger")
    if logger.kind not in ("wandb", "none", "csv"):
        raise ConfigError(f"logger.kind={logger.kind!r}; allowed: ['wandb', 'csv', 'none']")
    if logger.mode not in ("offline", "online", "disabled"):
        raise ConfigError(f"logger.mode={logger.mode!r}; allowed: ['offline', 'online', 'disabled']")

    trainer = _section(cfg, "trainer")
    check_trainer_settings(trainer)
    paths = _section(cfg, "paths")
    output_dir = check_output_dir(paths.get("output_dir", "outputs"))
    search = _build(SearchSettings, _section(cfg, "search"), "search")
    if search.mode not in SEARCH_MODES:
        raise ConfigError(f"search.mode={search.mode!r}; allowed: {list(SEARCH_MODES)}")
    for key in ("episodes", "batch_size", "top_k", "rnas_steps", "rnas_mutation_units"):
        value = getattr(search, key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"search.{key}={value!r}; must be an integer >= 1")
    for key in ("train_epochs", "finetune_epochs"):  # 0 would record untrained networks as results
        value = getattr(search, key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ConfigError(f"search.{key}={value!r}; must be an integer >= 1{' or null' if key == 'train_epochs' else ''}")
    if search.chance_margin is not None and not (_is_number(search.chance_margin) and 0 <= search.chance_margin < 1):
        raise ConfigError(f"search.chance_margin={search.chance_margin!r}; must be a fraction in [0, 1) or null")
    if not isinstance(search.resume, bool):
        raise ConfigError(f"search.resume={search.resume!r}; must be true or false")
    if mode == "search" and search.mode == "rnas":
        checkpoint = search.rnas_checkpoint
        if not isinstance(checkpoint, str) or not os.path.isfile(checkpoint):
            raise ConfigError(f"search.rnas_checkpoint={checkpoint!r}: rNAS evaluates saved weights; give the "
                              "state_dict file of the candidate's trained network")
    try:
        from .search.fidelity import FidelitySchedule

        FidelitySchedule.from_config(search.fidelity)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    for key in ("topk_finetune_epochs", "rnas_bn_batches", "rnas_input_calibration_batches", "finetune_top"):  # 0 turns the step off
        value = getattr(search, key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise ConfigError(f"search.{key}={value!r}; must be an integer >= 0")
    if not isinstance(search.finetune_baselines, bool):
        raise ConfigError(f"search.finetune_baselines={search.finetune_baselines!r}; must be true or false")
    if search.warm_start is not None and not (isinstance(search.warm_start, str) and (
            os.path.isfile(search.warm_start) or os.path.isfile(os.path.join(search.warm_start, "history.sqlite")))):
        raise ConfigError(f"search.warm_start={search.warm_start!r}: give an earlier search's history.sqlite or the "
                          "output folder that holds it, or null")
    from .search.neighbourhood import MOVES

    if search.rnas_moves not in MOVES:
        raise ConfigError(f"search.rnas_moves={search.rnas_moves!r}; allowed: {', '.join(MOVES)}")
    for key in ("rnas_neighbourhood_share", "rnas_cost_share"):
        share = getattr(search, key)
        if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share <= 1:
            raise ConfigError(f"search.{key}={share!r}; must be a number in [0, 1]")
    if search.reward_alpha is not None and not (isinstance(search.reward_alpha, (int, float)) and 0 <= search.reward_alpha <= 1):
        raise ConfigError(f"search.reward_alpha={search.reward_alpha!r}; must be a number in [0, 1] or null")
    controller = _section(cfg, "controller") or {"name": "random"}
    if mode == "search":
        _check_controller_keys(controller)
    executor = _build(ExecutorSettings, _section(cfg, "executor"), "executor")
    if executor.kind not in EXECUTORS:
        raise ConfigError(f"executor.kind={executor.kind!r}; allowed: {list(EXECUTORS)}")
    if not (isinstance(executor.cpus_per_child, (int, float)) and executor.cpus_per_child > 0):
        raise ConfigError(f"executor.cpus_per_child={executor.cpus_per_child!r}; must be a number > 0")
    if not (isinstance(executor.gpus_per_child, (int, float)) and executor.gpus_per_child >= 0):
        raise ConfigError(f"executor.gpus_per_child={executor.gpus_per_child!r}; must be a number >= 0")
    for key in ("threads_per_child", "num_cpus"):
        value = getattr(executor, key)
        if value is not None and (not _is_int(value) or value < 1):
            raise ConfigError(f"executor.{key}={value!r}; must be an integer >= 1 or null")
    if not _is_number(reward.failed_reward):
        raise ConfigError(f"reward.failed_reward={reward.failed_reward!r}; must be a finite number")
    return Settings(
        mode=mode, seed=seed, candidate=cfg.get("candidate", "default"),
        data=ComponentSettings(data), space=ComponentSettings(space),
        imc=imc, optimizer=optimizer, hardware=hw, reward=reward, reward_bound_samples=bound_samples,
        evaluation=evaluation, trainer=trainer, logger=logger,
        output_dir=output_dir,
        search=search, controller=controller, executor=executor,
    )
