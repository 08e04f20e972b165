"""Run every benchmark of the project and regenerate ``docs/benchmarks.md``.

Each benchmark runs in its own process and ends with one JSON line; this script collects them, adds
the search's throughput (children per hour of a small ptbNAS search on the embedded digits), and writes
``docs/benchmarks.md`` and ``docs/benchmarks.json`` with the machine they ran on.

    python -m uv run python scripts/bench_all.py            # about 5 minutes on 2 CPU cores
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

BENCHMARKS = {
    "layers": ("scripts/bench_layers.py", "IMC layers against plain layers, training step of a 4-conv CNN (batch 64)"),
    "training": ("scripts/bench_training.py", "the project's Lightning epoch against a hand-written loop, RLS default child"),
    "hardware": ("scripts/bench_hardware.py", "analytical chip model, evaluations per second on one core"),
}


def last_json_line(output: str) -> dict:
    for line in reversed(output.strip().splitlines()):
        line = line.strip()
        if line.startswith("{") and line.endswith("}"):
            return json.loads(line)
    raise RuntimeError(f"no JSON line in the output:\n{output[-2000:]}")


def run_benchmark(script: str) -> dict:
    done = subprocess.run([sys.executable, str(ROOT / script)], capture_output=True, text=True, cwd=ROOT, check=True)
    return last_json_line(done.stdout)


def search_throughput(children: int = 8) -> dict:
    """Children per hour of a small ptbNAS search (digits, 8 epochs per child, 10 chips each)."""
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, str(ROOT / "train.py"), "+experiment=quickstart", "search.mode=ptbnas",
                   f"search.episodes={children}", "logger=none", f"paths.output_dir={out}", f"hydra.run.dir={out}"]
        start = time.perf_counter()
        subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=True)
        wall = time.perf_counter() - start
        summary = json.loads((Path(out) / "search_summary.json").read_text())
    search_wall = summary["wall_seconds"]
    return {"search_children": summary["n_ok"] + summary["n_failed"], "search_wall_s": round(search_wall, 1),
            "search_children_per_hour": round(3600 * (summary["n_ok"] + summary["n_failed"]) / search_wall, 1),
            "search_process_wall_s": round(wall, 1)}


def machine() -> dict:
    import torch

    info = {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
            "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}
    try:
        info["cpu_model"] = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                                 if line.startswith("model name"))
    except (OSError, StopIteration):
        info["cpu_model"] = platform.processor()
    return info


def main() -> None:
    load_before = os.getloadavg()[0]
    results = {name: run_benchmark(script) for name, (script, _) in BENCHMARKS.items()}
    results["search"] = search_throughput()
    info = machine()
    info["load_average_1min_before_after"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    lines = ["# Benchmarks", "",
             f"Measured by `python -m uv run python scripts/bench_all.py` on {time.strftime('%Y-%m-%d')}: "
             f"{info['cpu_model']}, {info['cpus']} CPUs, {info['torch_threads']} torch threads, "
             f"GPU: {info['gpu'] or 'none'}; Python {info['python']}, torch {info['torch']}; 1-minute load average "
             f"{info['load_average_1min_before_after'][0]} before, {info['load_average_1min_before_after'][1]} after "
             "(2 cores: above 2 means other jobs shared the machine). Ratios are measured side by side in one "
             "process; absolute times vary with the load.", "",
             "| benchmark | what | figures |", "|---|---|---|"]
    for name, (script, what) in BENCHMARKS.items():
        lines.append(f"| `{script}` | {what} | `{json.dumps(results[name])}` |")
    lines.append(f"| search throughput | small ptbNAS search on the digits (8 epochs per child, 10 chips each) | "
                 f"`{json.dumps(results['search'])}` |")
    lines += ["", "Targets: IMC/plain training step ≤ 1.5 with the ADC off; the project's epoch ≤ 1.15× the "
              "hand-written loop. For scale: DNN+NeuroSim's C++ estimator takes 110–132 s for VGG-8.", ""]
    (ROOT / "docs").mkdir(exist_ok=True)
    (ROOT / "docs" / "benchmarks.md").write_text("\n".join(lines))
    (ROOT / "docs" / "benchmarks.json").write_text(json.dumps({"machine": info, **results}, indent=2))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
