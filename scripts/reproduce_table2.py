"""Reproduce the paper's Table II: QuantNAS, ptbNAS and NACIM with the same budget on one dataset.

Runs three searches of the RLS space (``search.mode=quantnas``, ``ptbnas``, ``nacim``) from the chosen
budget experiment (``conf/experiment/table2_<budget>.yaml``), then builds, from their histories only:

* ``QuantNAS`` — the QuantNAS design with the best reward (clean accuracy: variation-unaware search);
* ``ptbNAS`` — the ptbNAS design with the best reward (accuracy on chips with variation);
* ``NACIM_sw`` / ``NACIM_hw`` — from NACIM's rNAS and fine-tuned designs, as the paper picks them:
  the best accuracy with variation, and the lowest EDP on the accuracy-with-variation/EDP Pareto front
  within 3 percentage points of that accuracy (:func:`lightning_imc.search.report.select_designs`).

Writes ``table2.md`` (the table, the area and EDP ratios of NACIM_hw against QuantNAS, and the provenance
of every row), ``table2.csv``, and Pareto plots of accuracy with variation against latency, energy, area
and EDP with every method's points. A finished method is not run again (its history is reused;
an interrupted one resumes).

    python -m uv run python scripts/reproduce_table2.py --budget small            # Fashion-MNIST, CPU
    python -m uv run python scripts/reproduce_table2.py --budget paper trainer=auto executor=ray
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any, Sequence

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

METHODS = (("QuantNAS", "quantnas"), ("ptbNAS", "ptbnas"), ("NACIM", "nacim"))
BUDGETS = ("tiny", "small", "medium", "paper")


def compose(budget: str, mode: str, out: Path, overrides: Sequence[str]) -> Any:
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return hydra_compose(config_name="config", overrides=[
            f"+experiment=table2_{budget}", f"search.mode={mode}", f"paths.output_dir={out}", *overrides])


def run_method(budget: str, mode: str, out: Path, overrides: Sequence[str]) -> dict[str, Any]:
    """Run (or resume, or reuse) one method's search; returns its summary."""
    from lightning_imc.app import run

    start = time.perf_counter()
    summary = run(compose(budget, mode, out, overrides))
    summary["wall_seconds_this_call"] = time.perf_counter() - start
    return summary


def _records(out: Path) -> list[Any]:
    from lightning_imc.search.history import HistoryStore

    with HistoryStore.open_readonly(str(out / "history.sqlite")) as store:
        return store.records()


def pick_rows(histories: dict[str, list[Any]]) -> list[tuple[str, Any]]:
    """(approach, record) rows of Table II, chosen from the histories as the paper does."""
    from lightning_imc.search.report import select_designs

    rows: list[tuple[str, Any]] = []
    for label, mode in METHODS[:2]:
        ok = [r for r in histories[mode] if r.status == "ok"]
        if ok:
            rows.append((label, max(ok, key=lambda r: r.reward)))
    nacim = [r for r in histories["nacim"] if r.status == "ok" and r.phase.split("/")[0] in ("rnas", "finetune")]
    designs = select_designs(nacim, prefix="NACIM")
    for suffix in ("hw", "sw"):
        if f"NACIM_{suffix}" in designs:
            rows.append((f"NACIM_{suffix}", designs[f"NACIM_{suffix}"]))
    return rows


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator and math.isfinite(numerator) and math.isfinite(denominator) else float("nan")


def write_table(rows: list[tuple[str, Any]], histories: dict[str, list[Any]], out: Path, budget: str,
                summaries: dict[str, dict[str, Any]], command: str) -> dict[str, Path]:
    """table2.md, table2.csv and the Pareto plots; returns the written paths."""
    from lightning_imc.search.report import plot_pareto, table2, to_csv, to_markdown

    table = table2(rows)
    paths = {"csv": to_csv(table, out / "table2.csv")}
    by_label = {label: [r for r in histories[mode] if r.status == "ok"] for label, mode in METHODS}
    for metric in ("latency_s", "energy_j", "area_mm2", "edp"):
        path = out / f"table2_pareto_{metric}.png"
        plot_pareto(by_label, metric, path, title=f"Accuracy with variation vs {metric}: QuantNAS, ptbNAS, NACIM")
        paths[f"pareto_{metric}"] = path
    named = dict(rows)
    lines = [f"# Table II reproduction (budget `{budget}`)", "", f"Command: `{command}`", "", to_markdown(table), ""]
    if "QuantNAS" in named and "NACIM_hw" in named:
        q, h = named["QuantNAS"].metrics["hardware"], named["NACIM_hw"].metrics["hardware"]
        lines += [f"NACIM_hw against QuantNAS: {ratio(q['area_mm2'], h['area_mm2']):.3g}× less area, "
                  f"{ratio(q['edp'], h['edp']):.3g}× better EDP (paper, CIFAR-10: 1.82× and 3.66×).", ""]
    if "QuantNAS" in named:
        m = named["QuantNAS"].metrics
        lines += [f"QuantNAS's design: {100 * m['accuracy_clean']:.2f}% without variation → "
                  f"{100 * m['accuracy_variation']:.2f}% on chips with variation (paper: 84.92% → 8.48%).", ""]
    lines += ["| approach | phase | index | key | reward | children in the method's history | wall time (s) |",
              "|---|---|---|---|---|---|---|"]
    mode_of = {label: mode for label, mode in METHODS}
    for label, record in rows:
        mode = mode_of.get(label.split("_")[0], "nacim")
        lines.append(f"| {label} | {record.phase} | {record.index} | `{record.key}` | {record.reward:.4f} | "
                     f"{len(histories[mode])} | {summaries.get(mode, {}).get('wall_seconds', float('nan')):.0f} |")
    lines += ["", "Every number above is read from the methods' `history.sqlite` files "
              "(`<out>/<method>/history.sqlite`); `scripts/search_report.py <out>/<method>` prints each in full.", ""]
    (out / "table2.md").write_text("\n".join(lines))
    paths["markdown"] = out / "table2.md"
    (out / "table2.json").write_text(json.dumps({"rows": table, "summaries": summaries}, indent=2, default=str))
    return paths


def main(argv: Sequence[str] | None = None) -> dict[str, Path]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", choices=BUDGETS, default="small")
    parser.add_argument("--out", default=None, help="output folder (default outputs/table2_<budget>)")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for every method, e.g. data=cifar10 seed=1")
    args = parser.parse_args(argv)
    out = Path(args.out or ROOT / "outputs" / f"table2_{args.budget}").resolve()
    out.mkdir(parents=True, exist_ok=True)
    summaries: dict[str, dict[str, Any]] = {}
    histories: dict[str, list[Any]] = {}
    for label, mode in METHODS:
        print(f"=== {label} ({mode}) ===", flush=True)
        summaries[mode] = run_method(args.budget, mode, out / mode, args.overrides)
        histories[mode] = _records(out / mode)
    rows = pick_rows(histories)
    command = "python -m uv run python scripts/reproduce_table2.py " + " ".join(
        [f"--budget {args.budget}", *args.overrides])
    paths = write_table(rows, histories, out, args.budget, summaries, command)
    print((out / "table2.md").read_text())
    return paths


if __name__ == "__main__":
    main()
