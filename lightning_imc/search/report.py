"""The results of a search: named designs, the paper's Table II, Pareto plots and a report.

* :func:`select_designs` picks designs from a history as NACIM does (section V-B): ``*_sw``, the
  design with the best accuracy with variation, and ``*_hw``, the most hardware-efficient design
  that keeps accuracy (rule below); plus ``*_best_reward``.
* :func:`table2` builds the rows of the paper's Table II — approach, accuracy (%), accuracy with
  variation (% ± half-width of its 95% confidence interval), area (mm²), EDP (J·s), TOPS, TOPS/W —
  which :func:`to_markdown` and :func:`to_csv` write.
* :func:`plot_pareto` and :func:`plot_rewards` draw PNG files (matplotlib, Agg backend, imported
  only when plotting).
* :func:`write_report` writes ``report.md``, ``report.csv``, ``pareto_<metric>.png`` per metric and
  ``rewards.png`` from a :class:`~lightning_imc.search.history.HistoryStore` or a list of records.

Methods: the report compares *methods*, a method being a phase of the history or the phases
``name/0``, ``name/1``... together (the loop's ``rnas/<rank>`` phases form ``rnas``); within a
method a candidate key counts once (:func:`group_records`). Table II has rows ``<method>_sw``,
``<method>_hw`` and ``<method>_best_reward``.

Accuracies in records are fractions; the tables show percentages.
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from .history import CandidateRecord, HistoryStore
from .pareto import (
    METRIC_LABELS,
    METRIC_MAXIMIZE,
    PARETO_METRICS,
    default_reference,
    front_records,
    hypervolume,
    metric_value,
    objective_pairs,
    pareto_front,
)

__all__ = [
    "TABLE2_COLUMNS",
    "DEFAULT_TOLERANCE_PP",
    "select_designs",
    "table2",
    "to_markdown",
    "to_csv",
    "plot_pareto",
    "plot_rewards",
    "phase_group",
    "group_records",
    "render_report",
    "write_report",
    "rnas_gains",
]

DEFAULT_TOLERANCE_PP = 3.0
"""Default accuracy tolerance (percentage points) of the ``*_hw`` design below the best."""

TABLE2_COLUMNS: dict[str, str] = {
    "approach": "Approach",
    "accuracy_pct": "Accuracy (%)",
    "accuracy_variation_pct": "Acc. w/ variation (%)",
    "accuracy_variation_ci95_pct": "± CI95 half-width (pp)",
    "area_mm2": "Area (mm²)",
    "edp_js": "EDP (J·s)",
    "tops": "TOPS",
    "tops_per_w": "TOPS/W",
}
"""Keys of a :func:`table2` row (the CSV header) and their Markdown headings."""


# ----------------------------------------------------------------------------------------------
# designs and Table II


def _ok(records: Iterable[CandidateRecord]) -> list[CandidateRecord]:
    return [r for r in records if r.status == "ok"]


def select_designs(
    records: Iterable[CandidateRecord],
    *,
    prefix: str = "NACIM",
    tolerance_pp: float = DEFAULT_TOLERANCE_PP,
    metric: str = "edp",
) -> dict[str, CandidateRecord]:
    """Named designs of a search, as in the paper's Table II.

    Rules (successful records only; the first record wins a tie unless said otherwise):

    * ``{prefix}_sw``: highest accuracy with variation (ties: better ``metric``).
    * ``{prefix}_hw``: among the Pareto front of accuracy with variation against ``metric`` (EDP in
      J·s by default), the design with the best ``metric`` whose accuracy with variation is at most
      ``tolerance_pp`` percentage points below the best one. The paper calls NACIM_hw "the solution
      with maximum hardware efficiency"; the tolerance keeps that choice from being a useless
      network with tiny hardware cost. ``tolerance_pp = inf`` gives the paper's literal rule.
    * ``{prefix}_best_reward``: highest reward (what the controller optimised).

    Keys whose design cannot be chosen (no record with the figures) are absent.
    """
    ok = _ok(records)
    out: dict[str, CandidateRecord] = {}
    pts, kept = objective_pairs(ok, metric)
    with_acc = [(metric_value(r, "accuracy_variation"), r) for r in ok]
    with_acc = [(a, r) for a, r in with_acc if a is not None]
    if with_acc:
        best_acc = max(a for a, _ in with_acc)
        tied = [r for a, r in with_acc if a == best_acc]
        sign = -1.0 if METRIC_MAXIMIZE[metric] else 1.0

        def metric_key(r: CandidateRecord) -> float:
            v = metric_value(r, metric)
            return math.inf if v is None else sign * v

        out[f"{prefix}_sw"] = min(tied, key=metric_key)
        if kept:
            front = front_records(kept, metric)
            floor = best_acc - tolerance_pp / 100.0
            eligible = [r for r in front if metric_value(r, "accuracy_variation") >= floor - 1e-12]
            if eligible:
                out[f"{prefix}_hw"] = eligible[0]  # front_records sorts from the best metric
    rewarded = [r for r in ok if r.reward is not None and math.isfinite(r.reward)]
    if rewarded:
        out[f"{prefix}_best_reward"] = max(rewarded, key=lambda r: r.reward)
    return out


def _num(value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return math.nan
    return v


def table2(rows: Sequence[tuple[str, CandidateRecord]]) -> list[dict[str, Any]]:
    """Rows of the paper's Table II from ``(approach, record)`` pairs.

    Each row has the keys of :data:`TABLE2_COLUMNS`: ``approach``; ``accuracy_pct`` (clean accuracy,
    %); ``accuracy_variation_pct`` (mean accuracy over chips with variation, %);
    ``accuracy_variation_ci95_pct`` (half-width of its 95% CI, percentage points; NaN if unknown);
    ``area_mm2`` (mm²); ``edp_js`` (J·s); ``tops``; ``tops_per_w``. Missing figures are NaN.
    """
    table = []
    for approach, rec in rows:
        metrics = rec.metrics or {}
        hw = metrics.get("hardware") or {}
        ci = metrics.get("accuracy_variation_ci95")
        half = math.nan
        if isinstance(ci, (list, tuple)) and len(ci) == 2:
            lo, hi = _num(ci[0]), _num(ci[1])
            half = 100.0 * (hi - lo) / 2.0
        table.append({
            "approach": approach,
            "accuracy_pct": 100.0 * _num(metrics.get("accuracy_clean")),
            "accuracy_variation_pct": 100.0 * _num(metrics.get("accuracy_variation")),
            "accuracy_variation_ci95_pct": half,
            "area_mm2": _num(hw.get("area_mm2")),
            "edp_js": _num(hw.get("edp")),
            "tops": _num(hw.get("tops")),
            "tops_per_w": _num(hw.get("tops_per_w")),
        })
    return table


def _fmt(value: Any, digits: int = 4) -> str:
    """``digits`` significant figures; scientific notation for very small or large values."""
    if isinstance(value, str):
        return value
    v = _num(value)
    if math.isnan(v):
        return "–"
    if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e5):
        return f"{v:.{digits - 1}e}"
    return f"{v:#.{digits}g}".rstrip(".")


def to_markdown(table: Sequence[Mapping[str, Any]]) -> str:
    """Markdown of a :func:`table2` table, accuracy with variation shown as ``mean ± half-width``.

    >>> print(to_markdown([{"approach": "x", "accuracy_pct": 73.88, "accuracy_variation_pct": 73.45,
    ...   "accuracy_variation_ci95_pct": 0.2, "area_mm2": 1.5, "edp_js": 2e-9, "tops": 0.234,
    ...   "tops_per_w": 16.3}]))
    | Approach | Accuracy (%) | Acc. w/ variation (%) | Area (mm²) | EDP (J·s) | TOPS | TOPS/W |
    |---|---|---|---|---|---|---|
    | x | 73.88 | 73.45 ± 0.20 | 1.500 | 2.000e-09 | 0.2340 | 16.30 |
    """
    head = ["Approach", "Accuracy (%)", "Acc. w/ variation (%)", "Area (mm²)", "EDP (J·s)", "TOPS", "TOPS/W"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in table:
        acc_var = _num(row.get("accuracy_variation_pct"))
        half = _num(row.get("accuracy_variation_ci95_pct"))
        acc_var_txt = "–" if math.isnan(acc_var) else f"{acc_var:.2f}"
        if not math.isnan(acc_var) and not math.isnan(half):
            acc_var_txt += f" ± {half:.2f}"
        acc = _num(row.get("accuracy_pct"))
        cells = [
            str(row.get("approach", "")),
            "–" if math.isnan(acc) else f"{acc:.2f}",
            acc_var_txt,
            _fmt(row.get("area_mm2")),
            _fmt(row.get("edp_js")),
            _fmt(row.get("tops")),
            _fmt(row.get("tops_per_w")),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def to_csv(table: Sequence[Mapping[str, Any]], path: str | os.PathLike) -> Path:
    """Writes a :func:`table2` table as CSV (header: the keys of :data:`TABLE2_COLUMNS`, numbers
    at full precision, empty cells for missing figures). Returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(TABLE2_COLUMNS), extrasaction="ignore")
        writer.writeheader()
        for row in table:
            writer.writerow({
                k: ("" if isinstance(row.get(k), float) and math.isnan(row[k]) else row.get(k, ""))
                for k in TABLE2_COLUMNS
            })
    return path


# ----------------------------------------------------------------------------------------------
# plots


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


_MARKERS = ("x", "s", "o", "^", "D", "v", "P", "*")


def plot_pareto(
    records_by_label: Mapping[str, Sequence[CandidateRecord]],
    metric: str,
    path: str | os.PathLike,
    *,
    log_x: bool | None = None,
    title: str | None = None,
) -> Path:
    """Scatter of accuracy with variation (%) against ``metric`` with each label's Pareto front.

    Several methods go on one plot (markers ``x``, ``s``, ``o``..., like the crosses of ptbNAS and
    the squares of NACIM in the paper's Figure 4). ``log_x`` defaults to a log axis for the
    hardware metrics (s, J, mm², J·s) when all values are positive.
    """
    plt = _pyplot()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6.4, 4.6), dpi=110)
    all_x: list[float] = []
    try:
        for i, (label, recs) in enumerate(records_by_label.items()):
            pts, _ = objective_pairs(recs, metric)
            if pts.shape[0] == 0:
                continue
            marker = _MARKERS[i % len(_MARKERS)]
            color = f"C{i % 10}"
            ax.scatter(pts[:, 1], 100 * pts[:, 0], marker=marker, color=color, alpha=0.45, s=22,
                       label=f"{label} ({pts.shape[0]})")
            front = pts[pareto_front(pts, (True, METRIC_MAXIMIZE[metric]))]
            front = front[np.lexsort((front[:, 0], front[:, 1]))]
            ax.step(front[:, 1], 100 * front[:, 0], where="pre" if METRIC_MAXIMIZE[metric] else "post",
                    color=color, linewidth=1.5)
            ax.scatter(front[:, 1], 100 * front[:, 0], marker=marker, color=color, s=46, linewidths=1.4)
            all_x.extend(pts[:, 1].tolist())
        if log_x is None:
            log_x = not METRIC_MAXIMIZE[metric] and bool(all_x) and min(all_x) > 0
        if log_x:
            ax.set_xscale("log")
        ax.set_xlabel(METRIC_LABELS.get(metric, metric))
        ax.set_ylabel("accuracy with variation (%)")
        ax.set_title(title or f"Pareto front: accuracy with variation vs {METRIC_LABELS.get(metric, metric)}")
        ax.grid(True, alpha=0.3, which="both")
        if all_x:
            ax.legend(loc="best", fontsize=8)
        else:
            ax.text(0.5, 0.5, "no successful candidates", ha="center", va="center", transform=ax.transAxes)
        fig.tight_layout()
        fig.savefig(path, format="png")
    finally:
        plt.close(fig)
    return path


def plot_rewards(records: Sequence[CandidateRecord], path: str | os.PathLike, *, window: int | None = None) -> Path:
    """Reward per episode (the proposal index) with the running best and a moving average, one
    colour per phase. ``window`` (episodes) defaults to ``max(1, n // 10)``, at most 50."""
    plt = _pyplot()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    by_phase: dict[str, list[CandidateRecord]] = {}
    for r in records:
        by_phase.setdefault(r.phase, []).append(r)
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=110)
    try:
        plotted = False
        for i, (phase, recs) in enumerate(by_phase.items()):
            recs = sorted(recs, key=lambda r: r.index)
            x = np.array([r.index for r in recs], dtype=float)
            y = np.array([r.reward if (r.status == "ok" and r.reward is not None) else np.nan for r in recs],
                         dtype=float)
            good = np.isfinite(y)
            if not good.any():
                continue
            plotted = True
            color = f"C{i % 10}"
            ax.scatter(x[good], y[good], s=10, color=color, alpha=0.4, label=f"{phase}: reward")
            best = np.fmax.accumulate(np.where(good, y, -np.inf))
            best[np.isinf(best)] = np.nan
            ax.plot(x, best, color=color, linewidth=1.6, label=f"{phase}: best so far")
            w = window or max(1, min(50, int(good.sum()) // 10))
            yg, xg = y[good], x[good]
            if w > 1 and yg.size >= w:
                ma = np.convolve(yg, np.ones(w) / w, mode="valid")
                ax.plot(xg[w - 1:], ma, color=color, linestyle="--", linewidth=1.2,
                        label=f"{phase}: moving average ({w})")
        ax.set_xlabel("episode")
        ax.set_ylabel("reward")
        ax.set_title("Reward over episodes")
        ax.grid(True, alpha=0.3)
        if plotted:
            ax.legend(loc="best", fontsize=8)
        else:
            ax.text(0.5, 0.5, "no rewards yet", ha="center", va="center", transform=ax.transAxes)
        fig.tight_layout()
        fig.savefig(path, format="png")
    finally:
        plt.close(fig)
    return path


# ----------------------------------------------------------------------------------------------
# the report


def _load(source: HistoryStore | Iterable[CandidateRecord]) -> tuple[list[CandidateRecord], dict, dict]:
    if isinstance(source, HistoryStore):
        return source.records(), source.fingerprint, source.meta()
    return list(source), {}, {}


def phase_group(phase: str) -> str:
    """The method a phase belongs to: the part before ``/`` (``"rnas/3"`` → ``"rnas"``)."""
    return phase.split("/", 1)[0]


def group_records(records: Iterable[CandidateRecord]) -> dict[str, list[CandidateRecord]]:
    """Records by :func:`phase_group` (in order of first appearance), one record per candidate key
    within a group (the first successful one, else the first): a genome met again is not counted
    twice on a Pareto front."""
    groups: dict[str, dict[str, CandidateRecord]] = {}
    for r in records:
        seen = groups.setdefault(phase_group(r.phase), {})
        if r.key not in seen or (seen[r.key].status != "ok" and r.status == "ok"):
            seen[r.key] = r
    return {g: list(by_key.values()) for g, by_key in groups.items()}


def _table_rows(records: list[CandidateRecord], tolerance_pp: float) -> list[tuple[str, CandidateRecord]]:
    rows: list[tuple[str, CandidateRecord]] = []
    for group, recs in group_records(records).items():
        rows.extend(select_designs(recs, prefix=group, tolerance_pp=tolerance_pp).items())
    return rows


def rnas_gains(records: Iterable[CandidateRecord], tolerance_pp: float = DEFAULT_TOLERANCE_PP) -> list[dict[str, Any]]:
    """What rNAS gained over its parents: one row per ``rnas/<rank>`` phase (one architecture).

    The parent is the phase's first record (the specification found by ptbNAS, judged on the same
    chips as the proposals); the design is that architecture's ``*_hw`` pick (lowest EDP on its
    accuracy-with-variation/EDP Pareto front within ``tolerance_pp`` points of its best accuracy).
    Row keys: ``phase``, ``pareto_size``, ``parent_key``, ``design_key``, ``changed`` (the design
    differs from its parent), ``accuracy_variation_delta_pp`` (design − parent, percentage points),
    ``edp_gain`` and ``area_gain`` (parent ÷ design; > 1 is better).
    """
    by_phase: dict[str, list[CandidateRecord]] = {}
    for r in records:
        if phase_group(r.phase) == "rnas":
            by_phase.setdefault(r.phase, []).append(r)
    rows = []
    for phase, recs in by_phase.items():
        ok = _ok(recs)
        parent = min(recs, key=lambda r: r.index)
        if not ok or parent.status != "ok":
            continue
        design = select_designs(ok, prefix="x", tolerance_pp=tolerance_pp).get("x_hw")
        _, kept = objective_pairs(ok, "edp")
        if design is None:
            continue

        def gain(metric: str) -> float:
            a, b = metric_value(parent, metric), metric_value(design, metric)
            return a / b if a is not None and b else math.nan

        rows.append({
            "phase": phase, "pareto_size": len(front_records(kept, "edp")) if kept else 0,
            "parent_key": parent.key, "design_key": design.key, "changed": design.key != parent.key,
            "accuracy_variation_delta_pp": 100.0 * ((metric_value(design, "accuracy_variation") or math.nan)
                                                    - (metric_value(parent, "accuracy_variation") or math.nan)),
            "edp_gain": gain("edp"), "area_gain": gain("area_mm2"),
        })
    nacim = _ok(r for r in records if phase_group(r.phase) in ("rnas", "finetune"))
    ptbnas = select_designs(_ok(r for r in records if r.phase == "ptbnas"), prefix="ptbnas").get("ptbnas_sw")
    pick = select_designs(nacim, prefix="NACIM", tolerance_pp=tolerance_pp).get("NACIM_hw") if nacim else None
    if rows and ptbnas is not None and pick is not None:  # the paper's picks come from the union
        _, kept = objective_pairs(nacim, "edp")
        rows.append({
            "phase": "NACIM_hw (rnas ∪ finetune) vs ptbnas_sw", "pareto_size": len(front_records(kept, "edp")),
            "parent_key": ptbnas.key, "design_key": pick.key, "changed": pick.key != ptbnas.key,
            "accuracy_variation_delta_pp": 100.0 * ((metric_value(pick, "accuracy_variation") or math.nan)
                                                    - (metric_value(ptbnas, "accuracy_variation") or math.nan)),
            "edp_gain": (metric_value(ptbnas, "edp") or math.nan) / (metric_value(pick, "edp") or math.nan),
            "area_gain": (metric_value(ptbnas, "area_mm2") or math.nan) / (metric_value(pick, "area_mm2") or math.nan),
        })
    return rows


def render_report(
    source: HistoryStore | Iterable[CandidateRecord],
    *,
    tolerance_pp: float = DEFAULT_TOLERANCE_PP,
    title: str = "Search report",
) -> str:
    """The Markdown report (summary, best designs, Table II, hypervolumes and Pareto sizes)."""
    records, fingerprint, meta = _load(source)
    lines = [f"# {title}", ""]
    if isinstance(source, HistoryStore):
        lines += [f"History: `{source.path}`", ""]
    search = fingerprint.get("search") if isinstance(fingerprint.get("search"), Mapping) else {}
    facts = {k: fingerprint.get(k, search.get(k)) for k in ("mode", "seed") if fingerprint.get(k, search.get(k)) is not None}
    if facts:
        lines += ["Search: " + ", ".join(f"{k} = {v}" for k, v in facts.items()), ""]

    from .fidelity import child_epochs

    lines += ["## Candidates", "", "Child-epochs: epochs of training spent (a reused genome trains none).", "",
              "| phase | ok | failed | train time (s) | child-epochs |", "|---|---|---|---|---|"]
    phases: list[str] = []
    for r in records:
        if r.phase not in phases:
            phases.append(r.phase)
    for phase in phases:
        recs = [r for r in records if r.phase == phase]
        ok = sum(r.status == "ok" for r in recs)
        train = sum(r.train_seconds for r in recs)
        lines.append(f"| {phase} | {ok} | {len(recs) - ok} | {train:.1f} | {child_epochs(recs)} |")
    ok_total = sum(r.status == "ok" for r in records)
    lines.append(f"| all | {ok_total} | {len(records) - ok_total} | {sum(r.train_seconds for r in records):.1f} | "
                 f"{child_epochs(records)} |")
    if meta:
        lines += ["", "Status: " + "; ".join(f"{k} = {v}" for k, v in meta.items())]
    lines.append("")

    rows = _table_rows(records, tolerance_pp)
    lines += ["## Table II", ""]
    if rows:
        lines += [
            f"`*_sw`: best accuracy with variation; `*_hw`: lowest EDP on the accuracy-with-variation/EDP "
            f"Pareto front within {tolerance_pp:g} percentage points of the best accuracy with variation; "
            f"`*_best_reward`: highest reward. Accuracy with variation: mean over chips ± half-width of "
            f"its 95% confidence interval.",
            "",
            to_markdown(table2(rows)),
            "",
            "| design | phase | index | key | reward |",
            "|---|---|---|---|---|",
        ]
        for name, rec in rows:
            lines.append(f"| {name} | {rec.phase} | {rec.index} | `{rec.key}` | {_fmt(rec.reward)} |")
    else:
        lines.append("No successful candidate yet.")
    lines.append("")

    gains = rnas_gains(records, tolerance_pp)
    if gains:
        lines += [
            "## What rNAS gained over its parents",
            "",
            f"Per architecture: its parent (ptbNAS's specification, on the same chips) against its `*_hw` "
            f"design (lowest EDP on that architecture's accuracy-with-variation/EDP Pareto front within "
            f"{tolerance_pp:g} points of its best accuracy with variation). Gains are parent ÷ design.",
            "",
            "| architecture | Pareto size | design ≠ parent | Δ acc. w/ variation (pp) | EDP gain | area gain |",
            "|---|---|---|---|---|---|",
        ]
        for row in gains:
            lines.append(f"| {row['phase']} | {row['pareto_size']} | {'yes' if row['changed'] else 'no'} | "
                         f"{row['accuracy_variation_delta_pp']:+.2f} | {_fmt(row['edp_gain'], 3)}× | "
                         f"{_fmt(row['area_gain'], 3)}× |")
        lines.append("")

    lines += [
        "## Pareto fronts and hypervolumes",
        "",
        "Accuracy with variation (fraction, maximised) against each metric. Reference point: accuracy 0 and "
        "1.1 × the worst value over all methods for minimised metrics (0 for hardware efficiency, "
        "maximised), the same for every method. A method is a phase, or the phases `name/0`, `name/1`... "
        "together; a candidate key counts once per method.",
        "",
        "| metric | method | Pareto size | hypervolume | reference point |",
        "|---|---|---|---|---|",
    ]
    groups = group_records(records)
    everything = [r for recs in groups.values() for r in recs]
    for metric in PARETO_METRICS:
        all_pts, _ = objective_pairs(everything, metric)
        if all_pts.shape[0] == 0:
            continue
        ref = default_reference(all_pts, metric)
        for group in list(groups) + (["all"] if len(groups) > 1 else []):
            recs = everything if group == "all" else groups[group]
            pts, _ = objective_pairs(recs, metric)
            if pts.shape[0] == 0:
                continue
            size = len(pareto_front(pts, (True, METRIC_MAXIMIZE[metric])))
            hv = hypervolume(pts, ref, (True, METRIC_MAXIMIZE[metric]))
            lines.append(f"| {metric} | {group} | {size} | {_fmt(hv)} | ({ref[0]:g}, {ref[1]:.4g}) |")
    lines.append("")
    front = front_records(everything, "edp")
    if front:
        lines += ["## Pareto front: accuracy with variation against EDP", "",
                  "The non-dominated designs of the whole search (e.g. what `controller=nsga2` optimises), "
                  "lowest EDP first.", "",
                  "| phase | index | key | accuracy with variation | EDP (J·s) | area (mm²) | latency (s) |",
                  "|---|---|---|---|---|---|---|"]
        for rec in front:
            lines.append(f"| {rec.phase} | {rec.index} | `{rec.key}` | {_fmt(metric_value(rec, 'accuracy_variation'))} | "
                         f"{_fmt(metric_value(rec, 'edp'))} | {_fmt(metric_value(rec, 'area_mm2'))} | "
                         f"{_fmt(metric_value(rec, 'latency_s'))} |")
        lines.append("")
    return "\n".join(lines)


def write_report(
    source: HistoryStore | Iterable[CandidateRecord],
    out_dir: str | os.PathLike,
    *,
    tolerance_pp: float = DEFAULT_TOLERANCE_PP,
    metrics: Sequence[str] = PARETO_METRICS,
    title: str = "Search report",
) -> dict[str, Path]:
    """Writes ``report.md``, ``report.csv`` (Table II), ``pareto_<metric>.png`` and ``rewards.png``.

    Args:
        source: An open history (read-only is enough) or a list of records.
        out_dir: Output directory (created).
        tolerance_pp: Accuracy tolerance of the ``*_hw`` designs (percentage points).
        metrics: Metrics of the Pareto plots.
        title: Title of the Markdown report.

    Returns:
        ``{"markdown": ..., "csv": ..., "pareto_<metric>": ..., "rewards": ...}`` paths.
    """
    records, _, _ = _load(source)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    text = render_report(source if isinstance(source, HistoryStore) else records, tolerance_pp=tolerance_pp,
                         title=title)
    paths: dict[str, Path] = {}
    md = out / "report.md"
    md.write_text(text + "\n", encoding="utf-8")
    paths["markdown"] = md
    paths["csv"] = to_csv(table2(_table_rows(records, tolerance_pp)), out / "report.csv")
    groups = group_records(records)
    for metric in metrics:
        paths[f"pareto_{metric}"] = plot_pareto(groups, metric, out / f"pareto_{metric}.png")
    paths["rewards"] = plot_rewards(records, out / "rewards.png")
    return paths
