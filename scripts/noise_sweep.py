"""When variation-aware co-exploration pays: QuantNAS against NACIM over device noise and weight mapping.

For each weight mapping (``scaled``: each layer's largest weight on the format's largest code, the child
default, budget ``table2_cpu``; ``absolute``: NACIM's fixed-point formats, budget ``table2_cpu_absolute``),
each seed and each device noise σ (level units of the paper's 4-bit ReRAM), the script runs the searches of
``scripts/reproduce_table2.py`` with the same budget rules (22 child-epochs per method, 8 chips per child):

* **QuantNAS** once per (mapping, seed): it trains without variation and picks by clean accuracy and
  hardware, so its search does not depend on σ. Its best-reward design's saved weights are judged again on
  the same Monte-Carlo chips at every σ (the chips' seeds are the search's; only σ differs). At the device's
  own σ the re-judged accuracy must equal the one in its history, which the script checks.
* **NACIM** (ptbNAS with variation at that σ, top-K fine-tuning, rNAS) once per (mapping, seed, σ); its
  ``NACIM_sw`` design is the best accuracy on chips of its rNAS and fine-tuned designs, as in Table II.
* **ptbNAS** at the device's own σ (so that ``reproduce_table2.py --budget cpu_absolute --out
  <out>/absolute`` finds all three methods done and only writes the table).

The gain on chips of a (mapping, σ) is NACIM_sw's accuracy on chips − QuantNAS's, in points, averaged over
seeds; its 95% interval is a two-level bootstrap (seeds, then each design's chips within a seed). Folders:
``<out>/<mapping>/seed<s>/<method>`` at the device's σ and ``<out>/<mapping>/sigma<σ>/seed<s>/nacim``
otherwise; every search resumes where it stopped, so the same command continues an interrupted sweep and
only the cells whose searches are all done enter the table (``--report-only`` runs nothing).

    python -m uv run python scripts/noise_sweep.py --seeds 0 logger=none &   # one process per seed,
    python -m uv run python scripts/noise_sweep.py --seeds 1 logger=none &   # one core each
    python -m uv run python scripts/noise_sweep.py --seeds 0,1 --report-only --docs

Prints one line per finished cell and, as its LAST line, one JSON object with ``sigmas`` (ascending) and
``gain_points_scaled`` / ``gain_points_absolute`` (mean gain over seeds per σ; ``null`` where no seed is
done); the line before it (``details:``) has the intervals, the seeds counted and the searches' provenance.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Sequence

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from reproduce_table2 import _records, children_seconds, compose, parse_seeds, run_method  # noqa: E402

#: Weight mapping → the suffix of the ``reproduce_table2.py`` budget that runs its searches
#: (``--budget cpu``: ``table2_cpu`` and ``table2_cpu_absolute``; ``--budget tiny``: the tests' budget).
MAPPINGS: dict[str, str] = {"scaled": "", "absolute": "_absolute"}
SWEEP_BUDGETS = ("cpu", "tiny")
#: The device every method's children sit on (``conf/experiment/table2_cpu.yaml``).
DEVICE = "rram_nacim"
#: The chip model of every search of the sweep: it started (2026-12-06) before chip model III existed, and its
#: cells compare only on one chip model (hardware enters every reward), so all of them, old and new, use II.
SWEEP_CHIP_MODEL = "II"
DOCS_PAGE = ROOT / "docs" / "when_noise_matters.md"
BEGIN, END = "<!-- noise_sweep:begin -->", "<!-- noise_sweep:end -->"
BOOTSTRAP_SAMPLES = 4000
#: (mapping, σ) → seeds whose finished NACIM search has no design above chance (filled by :func:`collect`).
NO_DESIGN: dict[tuple[str, float], list[int]] = {}


def device_sigma() -> float:
    """σ (level units) of :data:`DEVICE` as the library defines it."""
    from lightning_imc.devices import get_device

    return float(get_device(DEVICE).sigma_levels)


def parse_sigmas(text: str) -> list[float]:
    """``"0.8,1.6,2.4"`` → ascending distinct floats > 0, with a clear error for anything else."""
    try:
        sigmas = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise SystemExit(f"--sigmas={text!r}: give comma-separated numbers of level spacings, e.g. 0.8,1.6,2.4") from None
    if not sigmas or any(not (math.isfinite(s) and s > 0) for s in sigmas) or len(set(sigmas)) != len(sigmas):
        raise SystemExit(f"--sigmas={text!r}: give distinct finite numbers > 0, e.g. 0.8,1.6,2.4")
    return sorted(sigmas)


def parse_mappings(text: str) -> list[str]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [n for n in names if n not in MAPPINGS]
    if not names or unknown:
        raise SystemExit(f"--mappings={text!r}: allowed: {', '.join(MAPPINGS)}")
    return names


def sigma_tag(sigma: float) -> str:
    return f"sigma{sigma:g}"


def method_folder(out: Path, mapping: str, seed: int, mode: str, sigma: float) -> Path:
    """Where a method's history lives; the device's own σ shares ``reproduce_table2.py``'s layout."""
    if math.isclose(sigma, device_sigma()):
        return out / mapping / f"seed{seed}" / mode
    return out / mapping / sigma_tag(sigma) / f"seed{seed}" / mode


def pinned(overrides: Sequence[str]) -> list[str]:
    """``overrides`` with the sweep's chip model (:data:`SWEEP_CHIP_MODEL`) first, unless already there."""
    key = "hardware.chip_model="
    return list(overrides) if any(o.startswith(key) for o in overrides) else [key + SWEEP_CHIP_MODEL, *overrides]


def sigma_overrides(sigma: float) -> list[str]:
    """At the device's own σ no override (the same search as Table II's); otherwise ``imc.sigma_levels``."""
    return [] if math.isclose(sigma, device_sigma()) else [f"imc.sigma_levels={sigma!r}"]


def plan(seeds: Sequence[int], mappings: Sequence[str], sigmas: Sequence[float]) -> list[tuple[str, int, str, float]]:
    """(mapping, seed, mode, σ) searches in the order they run: the device's σ first (Table II's cells), then
    the largest σ (where the answer is expected to change), then the rest; ptbNAS last (Table II only)."""
    own = device_sigma()
    order = sorted(sigmas, key=lambda s: (not math.isclose(s, own), -s))
    tasks: list[tuple[str, int, str, float]] = []
    for sigma in order:
        for mapping in mappings:
            for seed in seeds:
                if math.isclose(sigma, order[0]):
                    tasks.append((mapping, seed, "quantnas", own))
                tasks.append((mapping, seed, "nacim", sigma))
    tasks += [(mapping, seed, "ptbnas", own) for mapping in mappings for seed in seeds]
    return tasks


def is_done(folder: Path) -> bool:
    """Whether the search in ``folder`` finished (its summary, written last, exists)."""
    return (folder / "history.sqlite").is_file() and (folder / "search_summary.json").is_file()


def best_quantnas(records: list[Any]) -> Any:
    ok = [r for r in records if r.status == "ok"]
    return max(ok, key=lambda r: r.reward) if ok else None


def nacim_sw(records: list[Any]) -> Any:
    from lightning_imc.search.report import select_designs

    designs = select_designs([r for r in records if r.status == "ok" and r.phase.split("/")[0] in ("rnas", "finetune")],
                             prefix="NACIM")
    return designs.get("NACIM_sw")


def rejudge(out: Path, budget: str, mapping: str, seed: int, sigma: float, overrides: Sequence[str]) -> dict[str, Any]:
    """QuantNAS's best design (saved weights, nothing trained) on the search's chips at ``sigma``; cached as
    ``<quantnas folder>/rejudged_<sigma tag>.json``."""
    from lightning_imc.app import _to_container, child_context, prepare, saved_weights
    from lightning_imc.search.evaluate import ChildJob, run_child_job
    from lightning_imc.search.history import HistoryStore, atomic_write

    folder = method_folder(out, mapping, seed, "quantnas", device_sigma())
    cache = folder / f"rejudged_{sigma_tag(sigma)}.json"
    if cache.is_file():
        return json.loads(cache.read_text())
    with HistoryStore.open_readonly(str(folder / "history.sqlite")) as store:
        reward = store.get_meta("reward")
        record = best_quantnas(store.records())
    if record is None or not record.checkpoint_path:
        raise SystemExit(f"{folder}: QuantNAS's best design has no saved weights to judge at σ = {sigma:g}")
    # in the folder if it moved (a new checkout), else trained again from the history (git keeps no weights)
    search_overrides = [*pinned(overrides), f"seed={seed}"]
    search_cfg = compose(budget + MAPPINGS[mapping], "quantnas", folder, search_overrides)
    weights = saved_weights(prepare(search_cfg), _to_container(search_cfg), record.checkpoint_path)
    config = _to_container(compose(budget + MAPPINGS[mapping], "quantnas", folder,
                                   [*search_overrides, f"imc.sigma_levels={sigma!r}"]))
    job = ChildJob(config=config, phase="rejudge", index=record.index, candidate=dict(record.choices), seed=record.seed,
                   train_epochs=0, variation="off", accuracy_source="clean", reward=reward,
                   init_checkpoint=str(weights), threads=1, context_factory=child_context)
    result = run_child_job(job)
    if result["status"] != "ok":
        raise SystemExit(f"{folder}: judging QuantNAS's design at σ = {sigma:g} failed: {result['error']}")
    metrics = result["metrics"]
    if abs(metrics["accuracy_clean"] - record.metrics["accuracy_clean"]) > 1e-9:
        raise SystemExit(f"{folder}: the saved weights give {metrics['accuracy_clean']:.6f} clean, the history "
                         f"{record.metrics['accuracy_clean']:.6f}: not the design the search judged")
    cell = {"key": record.key, "phase": record.phase, "index": record.index, "sigma": sigma,
            "accuracy_clean": metrics["accuracy_clean"], "accuracy_variation": metrics["accuracy_variation"],
            "chip_values": metrics["chip_values"], "history_accuracy_variation": record.metrics["accuracy_variation"]}
    atomic_write(str(cache), lambda handle: handle.write(json.dumps(cell, indent=1).encode()))
    return cell


def provenance(records: list[Any], winner: Any) -> dict[str, Any]:
    """How many distinct designs a search evaluated, and where its winner came from."""
    ok = [r for r in records if r.status == "ok"]
    first = min((r for r in records if r.phase == records[0].phase), key=lambda r: r.index) if records else None
    return {"distinct_designs": len({r.key for r in ok}), "children": len(records),
            "winner": f"{winner.phase}/{winner.index}" if winner is not None else None,
            "winner_is_first_candidate": bool(winner is not None and first is not None and winner.key == first.key),
            "children_seconds": round(children_seconds(records))}


def collect(out: Path, budget: str, seeds: Sequence[int], mappings: Sequence[str], sigmas: Sequence[float],
            overrides: Sequence[str]) -> dict[tuple[str, float], dict[int, dict[str, Any]]]:
    """The finished cells: ``{(mapping, σ): {seed: {quantnas: ..., nacim: ..., gain: points}}}``."""
    cells: dict[tuple[str, float], dict[int, dict[str, Any]]] = {}
    own = device_sigma()
    for mapping in mappings:
        for sigma in sigmas:
            for seed in seeds:
                q_folder, n_folder = (method_folder(out, mapping, seed, "quantnas", own),
                                      method_folder(out, mapping, seed, "nacim", sigma))
                if not (is_done(q_folder) and is_done(n_folder)):
                    continue
                q_records, n_records = _records(q_folder), _records(n_folder)
                q_best, sw = best_quantnas(q_records), nacim_sw(n_records)
                if q_best is None:
                    continue
                if sw is None:  # a finished NACIM search with no rNAS/fine-tuned design above chance: reported
                    print(f"{mapping:8s} σ {sigma:<4g} seed {seed}: NACIM found no design above chance", flush=True)
                    NO_DESIGN.setdefault((mapping, sigma), []).append(seed)
                    continue
                q = rejudge(out, budget, mapping, seed, sigma, overrides)
                if math.isclose(sigma, own) and abs(q["accuracy_variation"] - q["history_accuracy_variation"]) > 1e-9:
                    raise SystemExit(f"{q_folder}: re-judged at the device's σ {q['accuracy_variation']:.6f}, the history "
                                     f"{q['history_accuracy_variation']:.6f}: the chips are not the search's")
                sw_chips = list(sw.metrics["chip_values"])
                cells.setdefault((mapping, sigma), {})[seed] = {
                    "quantnas": q, "quantnas_search": provenance(q_records, q_best),
                    "nacim_sw": {"key": sw.key, "phase": sw.phase, "index": sw.index,
                                 "accuracy_clean": sw.metrics["accuracy_clean"],
                                 "accuracy_variation": sw.metrics["accuracy_variation"], "chip_values": sw_chips},
                    "nacim_search": provenance(n_records, sw),
                    "gain": 100 * (sw.metrics["accuracy_variation"] - q["accuracy_variation"])}
                print(f"{mapping:8s} σ {sigma:<4g} seed {seed}: QuantNAS {100 * q['accuracy_variation']:6.2f}% on chips "
                      f"({100 * q['accuracy_clean']:.2f}% clean), NACIM_sw {100 * sw.metrics['accuracy_variation']:6.2f}% "
                      f"({100 * sw.metrics['accuracy_clean']:.2f}% clean): gain {cells[(mapping, sigma)][seed]['gain']:+.2f} points",
                      flush=True)
    return cells


def gain_interval(per_seed: dict[int, dict[str, Any]], samples: int = BOOTSTRAP_SAMPLES, seed: int = 0) -> tuple[float, float, float]:
    """Mean gain over seeds (points) and its 95% two-level bootstrap interval: seeds resampled, then within a
    seed each design's chips resampled (the chip means are what the search reports)."""
    rng = random.Random(seed)
    seeds = sorted(per_seed)
    mean = statistics.fmean(per_seed[s]["gain"] for s in seeds)
    draws = []
    for _ in range(samples):
        total = 0.0
        for _ in seeds:
            cell = per_seed[rng.choice(seeds)]
            q, n = cell["quantnas"]["chip_values"], cell["nacim_sw"]["chip_values"]
            total += 100 * (statistics.fmean(rng.choices(n, k=len(n))) - statistics.fmean(rng.choices(q, k=len(q))))
        draws.append(total / len(seeds))
    draws.sort()
    return mean, draws[int(0.025 * samples)], draws[int(0.975 * samples) - 1]


def summarise(cells: dict[tuple[str, float], dict[int, dict[str, Any]]], mappings: Sequence[str],
              sigmas: Sequence[float]) -> dict[str, Any]:
    rows = []
    for mapping in mappings:
        for sigma in sigmas:
            per_seed = cells.get((mapping, sigma))
            failed = NO_DESIGN.get((mapping, sigma), [])
            if not per_seed:
                rows.append({"mapping": mapping, "sigma": sigma, "seeds": [], "no_nacim_design": failed})
                continue
            mean, low, high = gain_interval(per_seed)
            rows.append({"mapping": mapping, "sigma": sigma, "seeds": sorted(per_seed), "no_nacim_design": failed, "gain": mean, "low": low, "high": high,
                         "quantnas": statistics.fmean(100 * c["quantnas"]["accuracy_variation"] for c in per_seed.values()),
                         "nacim_sw": statistics.fmean(100 * c["nacim_sw"]["accuracy_variation"] for c in per_seed.values()),
                         "quantnas_clean": statistics.fmean(100 * c["quantnas"]["accuracy_clean"] for c in per_seed.values()),
                         "nacim_sw_clean": statistics.fmean(100 * c["nacim_sw"]["accuracy_clean"] for c in per_seed.values()),
                         "per_seed": {s: round(c["gain"], 2) for s, c in sorted(per_seed.items())},
                         "provenance": {s: {"quantnas": c["quantnas_search"], "nacim": c["nacim_search"]}
                                        for s, c in sorted(per_seed.items())}})
    return {"rows": rows}


def markdown(summary: dict[str, Any]) -> str:
    lines = ["| mapping | σ (levels) | seeds | QuantNAS on chips (%) | NACIM_sw on chips (%) | gain (points) | 95% interval |"
             " per seed | clean: QuantNAS / NACIM_sw (%) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in summary["rows"]:
        if not row["seeds"]:
            what = (f"NACIM found no design above chance (seeds {row['no_nacim_design']})" if row["no_nacim_design"]
                    else "not run yet")
            lines.append(f"| {row['mapping']} | {row['sigma']:g} | – | {what} | | | | | |")
            continue
        lines.append(f"| {row['mapping']} | {row['sigma']:g} | {','.join(map(str, row['seeds']))} | {row['quantnas']:.2f} | "
                     f"{row['nacim_sw']:.2f} | **{row['gain']:+.2f}** | [{row['low']:+.2f}, {row['high']:+.2f}] | "
                     + ", ".join(f"{g:+.2f}" for g in row["per_seed"].values())
                     + f" | {row['quantnas_clean']:.2f} / {row['nacim_sw_clean']:.2f} |")
    lines += ["", "Where each winner came from (distinct designs judged; the winner's phase/index; whether it is the "
              "search's first candidate):", "",
              "| mapping | σ | seed | QuantNAS: designs, winner | NACIM: designs, NACIM_sw | children's wall time (s): QuantNAS / NACIM |",
              "|---|---|---|---|---|---|"]
    for row in summary["rows"]:
        for seed, p in (row.get("provenance") or {}).items():
            q, n = p["quantnas"], p["nacim"]
            lines.append(f"| {row['mapping']} | {row['sigma']:g} | {seed} | {q['distinct_designs']}, {q['winner']}"
                         f"{' (first)' if q['winner_is_first_candidate'] else ''} | {n['distinct_designs']}, {n['winner']}"
                         f"{' (first)' if n['winner_is_first_candidate'] else ''} | {q['children_seconds']} / {n['children_seconds']} |")
    return "\n".join(lines)


def plot(summary: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for mapping, marker in zip(MAPPINGS, "os"):
        rows = [r for r in summary["rows"] if r["mapping"] == mapping and r["seeds"]]
        if not rows:
            continue
        x = [r["sigma"] for r in rows]
        y = [r["gain"] for r in rows]
        err = [[r["gain"] - r["low"] for r in rows], [r["high"] - r["gain"] for r in rows]]
        ax.errorbar(x, y, yerr=err, marker=marker, capsize=4, label=f"{mapping} weights")
    ax.axhline(0.0, color="grey", lw=0.8)
    ax.axhline(10.0, color="grey", lw=0.8, ls=":", label="the paper's claim: +10 points")
    ax.set_xlabel("device variation σ (level spacings, 4-bit ReRAM)")
    ax.set_ylabel("NACIM_sw − QuantNAS on chips (points)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_docs(table: str, figure: Path, command: str) -> None:
    """Replace the generated block of ``docs/when_noise_matters.md`` (the rest of the page is prose)."""
    target = DOCS_PAGE.parent / "figures" / "when_noise_matters.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(figure, target)
    block = "\n".join([BEGIN, "", f"Command: `{command}` (generated; do not edit by hand).", "",
                       "![gain on chips against σ](figures/when_noise_matters.png)", "", table, "", END])
    text = DOCS_PAGE.read_text(encoding="utf-8") if DOCS_PAGE.is_file() else f"# When noise matters\n\n{BEGIN}\n{END}\n"
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{DOCS_PAGE}: the markers {BEGIN} / {END} are missing")
    head, rest = text.split(BEGIN, 1)
    DOCS_PAGE.write_text(head + block + rest.split(END, 1)[1], encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", choices=SWEEP_BUDGETS, default="cpu",
                        help="the Table II budget every search uses (tiny: the tests' seconds-long budget)")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--sigmas", default="0.8,1.6,2.4", help="device variation σ in level spacings")
    parser.add_argument("--mappings", default="scaled,absolute", help=f"any of {', '.join(MAPPINGS)}")
    parser.add_argument("--out", default=str(ROOT / "experiments" / "noise_sweep"),
                        help="sweep folder (default: experiments/noise_sweep, kept in git so that the next session resumes it)")
    parser.add_argument("--report-only", action="store_true", help="run no search; report the finished cells")
    parser.add_argument("--no-ptbnas", action="store_true", help="skip ptbNAS (only Table II needs it)")
    parser.add_argument("--docs", action="store_true", help="also write the generated block of docs/when_noise_matters.md")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for every search, e.g. logger=none")
    args = parser.parse_args(argv)
    seeds, sigmas, mappings = parse_seeds(args.seeds), parse_sigmas(args.sigmas), parse_mappings(args.mappings)
    if any(o.split("=", 1)[0].lstrip("+~") in ("seed", "imc.sigma_levels", "imc.weight_scaling") for o in args.overrides):
        parser.error("give seeds, σ and mappings with --seeds, --sigmas and --mappings, not as overrides")
    if any(o.split("=", 1)[0].lstrip("+~") == "hardware.chip_model" for o in args.overrides):
        parser.error(f"the sweep's searches all use chip model {SWEEP_CHIP_MODEL} (SWEEP_CHIP_MODEL): it is not an override")
    overrides = pinned(args.overrides)
    out = Path(args.out).resolve()
    start = time.perf_counter()
    if not args.report_only:
        for mapping, seed, mode, sigma in plan(seeds, mappings, sigmas):
            if mode == "ptbnas" and args.no_ptbnas:
                continue
            folder = method_folder(out, mapping, seed, mode, sigma)
            if not is_done(folder):
                print(f"=== {mapping} σ {sigma:g} seed {seed}: {mode} -> {folder} ===", flush=True)
                run_method(args.budget + MAPPINGS[mapping], mode, folder, [*overrides, *sigma_overrides(sigma), f"seed={seed}"])
            if mode == "quantnas":  # judged at every σ now: afterwards only the small JSON files are needed
                for other in sigmas:
                    rejudge(out, args.budget, mapping, seed, other, overrides)
    cells = collect(out, args.budget, seeds, mappings, sigmas, overrides)
    summary = summarise(cells, mappings, sigmas)
    table = markdown(summary)
    out.mkdir(parents=True, exist_ok=True)
    (out / "noise_sweep.md").write_text(table + "\n", encoding="utf-8")
    (out / "noise_sweep.json").write_text(json.dumps(summary, indent=1, default=str), encoding="utf-8")
    plot(summary, out / "noise_sweep.png")
    if args.docs:
        write_docs(table, out / "noise_sweep.png", f"python -m uv run python scripts/noise_sweep.py --budget {args.budget} --seeds "
                   f"{','.join(map(str, seeds))} --report-only --docs")
    print(table)
    print(f"wall time of this call: {time.perf_counter() - start:.0f} s", flush=True)

    def gains(mapping: str) -> list[float | None]:
        return [next((round(r["gain"], 2) for r in summary["rows"] if r["mapping"] == mapping and r["sigma"] == s
                      and r["seeds"]), None) for s in sigmas]

    details = {f"{r['mapping']}_sigma{r['sigma']:g}": ({"seeds": r["seeds"], "interval": [round(r["low"], 2), round(r["high"], 2)],
                                                         "per_seed": r["per_seed"]} if r["seeds"] else None)
               for r in summary["rows"]}
    print("details: " + json.dumps(details))
    result = {"sigmas": sigmas, "gain_points_scaled": gains("scaled"), "gain_points_absolute": gains("absolute")}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
