"""Weights & Biases as a dashboard of a child or a search (offline by default: files under the output folder).

What a W&B run of ``train.py`` holds:

* **config** — the full resolved configuration as flat dotted keys (``trainer.max_epochs``,
  ``search.mode``, ``imc.weight_int_bits``...: what W&B's filters and sweeps address), and for a child
  the settings its layers really ran with (``child.*``: device, sub-array rows, ADC bits, every
  layer's weight and input format), which differ from the base ``imc.*`` once the candidate chooses
  them (:func:`child_settings`).
* **a child** — Lightning's training curves, its figures, the ``candidates`` table, and an artifact of
  type ``model`` with its weights (``child_weights.pt``) and ``child_result.json``.
* **a search** — per child, as it finishes: ``search/*`` and ``hw/*`` at step = children so far (so
  W&B's own line charts show reward, accuracy and hardware over the search); at the end the
  ``candidates`` table (one row per successful child, with its phase), native charts built on it
  (:class:`SearchDashboard`), the children's training curves, the report's PNG files, the summary, and
  artifacts: one ``model`` artifact per final design (weights + ``design.json``) and one
  ``search-report`` artifact.

Children's training curves live in the search's run, one line per child (``wandb.plot.line_series``),
not in a W&B run per child: a search trains tens to hundreds of children and a sweep runs many searches,
so a run per child would bury the search runs a sweep compares; the search run stays the unit of a
dashboard, and the long-form ``child_curves`` table lets a user re-plot any child.

:func:`read_offline_run` reads an offline run file back (no network, no wandb service).
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

__all__ = ["flat_config", "child_settings", "candidate_row", "SearchDashboard", "log_child_artifact", "read_offline_run",
           "OfflineRun"]


def flat_config(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``config`` with nested mappings flattened to dotted keys (lists kept as values).

    >>> flat_config({"trainer": {"max_epochs": 8}, "seed": 0, "space": {"fixed": {}}})
    {'trainer.max_epochs': 8, 'seed': 0, 'space.fixed': {}}
    """
    out: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flat_config(value, f"{name}."))
        else:
            out[name] = value
    return out


def candidate_row(results: Mapping[str, Any]) -> dict[str, Any]:
    """One flat row per candidate: its choices, accuracy figures (fractions), hardware metrics and reward."""
    row: dict[str, Any] = {"candidate_key": results["candidate_key"]}
    row.update({f"choice/{k}": v for k, v in sorted(results["candidate"].items())})
    for key in ("accuracy_clean", "accuracy_variation", "accuracy_variation_std", "reward", "hardware_efficiency"):
        if key in results:
            row[key] = results[key]
    row.update({f"hw/{k}": v for k, v in results.get("hardware", {}).items()})
    return row


def _format(int_bits: int, frac_bits: int) -> str:
    return f"Q{int_bits}.{frac_bits}"


def child_settings(spec: Any, imc: Any) -> dict[str, Any]:
    """The crossbar settings a child's layers really use (flat ``child.*`` keys), from its
    :class:`~lightning_imc.space.ChildSpec` and the base :class:`~lightning_imc.layers.IMCConfig`.

    Keys: ``child.device``, ``child.array_rows`` (word lines per sub-array), ``child.adc_bits`` (bits;
    ``None``: ideal readout), ``child.rows_in_parallel``, ``child.variation``, and per layer
    ``child.layers.<name>.weight_format`` / ``.input_format`` (``Q<integer bits>.<fraction bits>``).
    """
    from .models.networks import layer_config

    configs = [(layer.name, layer_config(imc, layer, spec.device, spec.circuit)) for layer in spec.layers]
    out: dict[str, Any] = {"child.candidate_key": spec.candidate_key, "child.device": spec.device,
                           **{f"child.circuit.{k}": v for k, v in sorted(spec.circuit.items())}}
    if configs:
        first = configs[0][1]
        device = first.device if isinstance(first.device, str) else getattr(first.device, "name", str(first.device))
        out.update({"child.device": device, "child.array_rows": first.array_rows, "child.adc_bits": first.adc_bits,
                    "child.rows_in_parallel": first.rows_in_parallel, "child.variation": first.variation})
    for name, config in configs:
        out[f"child.layers.{name}.weight_format"] = _format(config.weight_int_bits, config.weight_frac_bits)
        out[f"child.layers.{name}.input_format"] = _format(config.input_int_bits, config.input_frac_bits)
    return out


def _wandb_run(logger: Any) -> Any:
    """The ``wandb`` run behind a Lightning ``WandbLogger`` (``None`` for another logger or none)."""
    if not logger or type(logger).__name__ != "WandbLogger":
        return None
    return logger.experiment


def log_child_artifact(logger: Any, name: str, files: Sequence[str | Path], metadata: Mapping[str, Any]) -> None:
    """A ``model`` artifact ``name`` with ``files`` (a single child's weights and results) on the logger's run."""
    run = _wandb_run(logger)
    if run is None:
        return
    import wandb

    artifact = wandb.Artifact(name, type="model", metadata=_jsonable(metadata))
    for path in files:
        artifact.add_file(str(path))
    run.log_artifact(artifact)


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _artifact_name(text: str) -> str:
    """W&B artifact names: letters, digits, ``-``, ``_`` and ``.`` only."""
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in text)


class SearchDashboard:
    """The W&B side of a search: per-child metrics as they finish, then tables, charts and artifacts.

    Args:
        logger: The search's Lightning logger (only a ``WandbLogger`` does anything).
        name: Prefix of the artifacts' names (e.g. the experiment name).
    """

    def __init__(self, logger: Any, name: str):
        self.logger = logger
        self.run = _wandb_run(logger)
        self.name = _artifact_name(name)
        self.best_reward = float("-inf")

    @property
    def active(self) -> bool:
        """Whether a W&B run receives anything."""
        return self.run is not None

    def child_finished(self, record: Any, step: int) -> None:
        """``search/*`` and ``hw/*`` figures of one finished child at ``step`` (children so far)."""
        if not self.logger:
            return
        ok = record.status == "ok"
        if ok:
            self.best_reward = max(self.best_reward, float(record.reward))
        metrics: dict[str, float] = {"search/reward": record.reward, "search/failed": float(not ok)}
        if self.best_reward > float("-inf"):
            metrics["search/best_reward"] = self.best_reward
        for key in ("accuracy_clean", "accuracy_variation", "hardware_efficiency"):
            if key in record.metrics:
                metrics[f"search/{key}"] = record.metrics[key]
        metrics.update({f"hw/{k}": v for k, v in record.metrics.get("hardware", {}).items()})
        self.logger.log_metrics(metrics, step=step)

    def finish(self, records: Sequence[Any], summary: Mapping[str, Any], report_paths: Mapping[str, Any],
               designs: Mapping[str, Any], extra_files: Iterable[str | Path] = ()) -> None:
        """Tables, native charts, curves, summary and artifacts of the finished search.

        Args:
            records: Every record of the search.
            summary: The search's summary (numbers go to the run's summary).
            report_paths: ``write_report``'s files (PNG files are also logged as images).
            designs: The final designs, ``{label: record}`` (e.g. the report's NACIM_sw / NACIM_hw).
            extra_files: More files for the ``search-report`` artifact (e.g. ``search_summary.json``).
        """
        if self.run is None:
            return
        import wandb

        from .search.pareto import METRIC_LABELS, METRIC_MAXIMIZE, PARETO_METRICS, pareto_front

        ok = [r for r in records if r.status == "ok"]
        table, columns = self._candidates_table(ok)
        charts: dict[str, Any] = {"candidates": table}
        if ok:
            for metric in PARETO_METRICS:
                column = metric if metric == "hardware_efficiency" else f"hw/{metric}"
                if column not in columns:
                    continue
                charts[f"pareto/accuracy_vs_{metric}"] = wandb.plot.scatter(
                    table, column, "accuracy_variation",
                    title=f"accuracy on chips vs {METRIC_LABELS[metric]} (every successful child)")
                fronts = self._fronts_table(ok, metric, METRIC_MAXIMIZE[metric], pareto_front)
                if fronts is not None:
                    charts[f"pareto_front/accuracy_vs_{metric}"] = wandb.plot.line(
                        fronts, metric, "accuracy_variation", stroke="phase",
                        title=f"Pareto front per phase: accuracy on chips vs {METRIC_LABELS[metric]}")
            charts["search/reward_by_phase"] = wandb.plot.line(
                table, "child", "reward", stroke="phase", title="reward of each child, by phase")
        curves = self._curves(records)
        if curves is not None:
            charts.update(curves)
        for key, path in report_paths.items():
            if str(path).endswith(".png"):
                charts[f"report/{key}"] = wandb.Image(str(path))
        self.run.log(charts)
        for key, value in summary.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                self.run.summary[key] = value
        self._log_designs(designs)
        report = wandb.Artifact(f"{self.name}-search-report", type="search-report",
                                metadata=_jsonable({k: v for k, v in summary.items() if k != "report"}))
        for path in [*report_paths.values(), *extra_files]:
            if Path(path).is_file():
                report.add_file(str(path))
        self.run.log_artifact(report)

    # -- pieces ---------------------------------------------------------------------------------------
    @staticmethod
    def _candidates_table(ok: Sequence[Any]) -> tuple[Any, list[str]]:
        import wandb

        rows = [candidate_row({"candidate": r.choices, "candidate_key": r.key, **r.metrics, "reward": r.reward})
                for r in ok]
        columns = ["child", "phase", "index"] + sorted({c for row in rows for c in row})
        data = [[position, r.phase, r.index] + [_cell(row.get(c)) for c in columns[3:]]
                for position, (r, row) in enumerate(zip(ok, rows))]
        return wandb.Table(columns=columns, data=data), columns

    @staticmethod
    def _fronts_table(ok: Sequence[Any], metric: str, maximize_metric: bool, pareto_front: Any) -> Any:
        """Each phase's Pareto front of (accuracy on chips, ``metric``), sorted along the metric."""
        import wandb

        from .search.pareto import objective_pairs

        data = []
        for phase in dict.fromkeys(r.phase for r in ok):
            pts, _ = objective_pairs([r for r in ok if r.phase == phase], metric)
            if not len(pts):
                continue
            front = pts[pareto_front(pts, (True, maximize_metric))]
            for accuracy, value in sorted(map(tuple, front), key=lambda p: p[1]):
                data.append([phase, float(value), float(accuracy)])
        return wandb.Table(columns=["phase", metric, "accuracy_variation"], data=data) if data else None

    @staticmethod
    def _curves(records: Sequence[Any]) -> dict[str, Any] | None:
        """The children's per-epoch curves: a long-form table and one multi-line chart per metric (``train/loss``,
        ``val/acc``...: what the child module logs)."""
        import wandb

        trained = [r for r in records if r.metrics.get("curves") and r.train_seconds > 0]
        if not trained:
            return None
        rows = []
        for r in trained:
            for point in r.metrics["curves"]:
                for metric, value in point.items():
                    if metric != "epoch":
                        rows.append([f"{r.phase}#{r.index}", r.phase, r.index, r.key, point["epoch"], metric, value])
        out: dict[str, Any] = {"child_curves": wandb.Table(
            columns=["child", "phase", "index", "key", "epoch", "metric", "value"], data=rows)}
        for metric in sorted({m for r in trained for p in r.metrics["curves"] for m in p if m != "epoch"}):
            lines = [(f"{r.phase}#{r.index}", [p["epoch"] for p in r.metrics["curves"] if metric in p],
                      [p[metric] for p in r.metrics["curves"] if metric in p]) for r in trained]
            lines = [line for line in lines if line[1]]
            if not lines:
                continue
            out[f"children/{metric}"] = wandb.plot.line_series(
                xs=[x for _, x, _ in lines], ys=[y for _, _, y in lines], keys=[k for k, _, _ in lines],
                title=f"{metric} of each trained child, per epoch", xname="epoch")
        return out

    def _log_designs(self, designs: Mapping[str, Any]) -> None:
        """One ``model`` artifact per final design: its weights (when kept) and ``design.json``."""
        import tempfile

        import wandb

        for label, record in designs.items():
            design = {"label": label, "phase": record.phase, "index": record.index, "key": record.key,
                      "choices": record.choices, "reward": record.reward, "seed": record.seed,
                      "metrics": {k: v for k, v in record.metrics.items() if k != "curves"},
                      "weights": Path(record.checkpoint_path).name if record.checkpoint_path else None,
                      "load": "state_dict of lightning_imc.models.ChildNetwork built from `choices` "
                              "(lightning_imc.space.to_child + lightning_imc.models.build_network)"}
            artifact = wandb.Artifact(_artifact_name(f"{self.name}-{label}"), type="model",
                                      metadata=_jsonable({k: v for k, v in design.items() if k != "metrics"}
                                                         | {"accuracy_variation": record.metrics.get("accuracy_variation"),
                                                            **record.metrics.get("hardware", {})}))
            with tempfile.TemporaryDirectory() as folder:
                path = Path(folder) / "design.json"
                path.write_text(json.dumps(_jsonable(design), indent=2))
                artifact.add_file(str(path))
                if record.checkpoint_path and Path(record.checkpoint_path).is_file():
                    artifact.add_file(str(record.checkpoint_path), name="weights.pt")
                self.run.log_artifact(artifact, aliases=["latest", label])


def _cell(value: Any) -> Any:
    """A table cell: numbers and strings as they are, anything else as text."""
    if value is None or isinstance(value, (int, float, str, bool)):
        return value
    return str(value)


# ------------------------------------------------------------------------------------------------
# reading an offline run back


class OfflineRun:
    """What an offline run file (``run-<id>.wandb``) holds, read back without wandb's service.

    Attributes:
        kinds: Count of each record kind (``config``, ``history``, ``summary``, ``artifact``, ``exit``...).
        config: The run's config, ``{key: value}`` (values decoded from JSON).
        history_keys: Keys logged with ``log`` (metrics, tables, charts, images).
        summary: The run's final summary, ``{key: value}``.
        artifacts: ``(name, type, [file paths in the artifact])`` of every logged artifact.
    """

    def __init__(self) -> None:
        self.kinds: dict[str, int] = {}
        self.config: dict[str, Any] = {}
        self.history_keys: set[str] = set()
        self.summary: dict[str, Any] = {}
        self.artifacts: list[tuple[str, str, list[str]]] = []


def _decode(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def read_offline_run(path: str | Path) -> OfflineRun:
    """Read an offline W&B run file: a LevelDB-style log (7-byte file header ``:W&B``..., then 32 KiB
    blocks of chunks with 7-byte headers: CRC32, length, kind) of ``wandb_internal_pb2.Record`` messages.

    Raises:
        ValueError: not a W&B run file.
    """
    from wandb.proto import wandb_internal_pb2 as pb

    raw = Path(path).read_bytes()
    if raw[:4] != b":W&B":
        raise ValueError(f"{path} is not a W&B run file")
    block, pos, pending, messages = 32768, 7, b"", []
    while pos + 7 <= len(raw):
        if block - pos % block < 7:  # a block's tail too short for a header is padding
            pos += block - pos % block
            continue
        length, kind = struct.unpack("<HB", raw[pos + 4:pos + 7])
        if length == 0 and kind == 0:
            break
        pending += raw[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # a full record, or the last chunk of one
            messages.append(pending)
            pending = b""
    run = OfflineRun()
    for message in messages:
        record = pb.Record()
        record.ParseFromString(message)
        kind = record.WhichOneof("record_type")
        run.kinds[kind] = run.kinds.get(kind, 0) + 1
        if kind in ("config", "run"):  # the config given to wandb.init arrives with the run record
            updates = record.config.update if kind == "config" else record.run.config.update
            for item in updates:
                run.config[item.key or ".".join(item.nested_key)] = _decode(item.value_json)
        elif kind == "history":
            run.history_keys.update(item.key or "/".join(item.nested_key) for item in record.history.item)
        elif kind == "summary":
            for item in record.summary.update:
                run.summary[item.key or "/".join(item.nested_key)] = _decode(item.value_json)
        elif kind == "artifact":
            files = [entry.path for entry in record.artifact.manifest.contents]
            run.artifacts.append((record.artifact.name, record.artifact.type, files))
    return run
