"""Benchmark of the analytical hardware model: evaluations per second on one CPU core.

Random child networks of NACIM's RLS space (6 conv + 2 FC, CIFAR-10 input, per-layer bits) are
evaluated one at a time (``evaluate``) and in batches (``evaluate_batch``); the VGG-8 example is
evaluated one at a time. The last line printed is one JSON object:

    {"rls_evals_per_s": ..., "rls_evals_per_s_batched": ..., "vgg8_evals_per_s": ...,
     "rls_evals_per_cpu_s": ..., "rls_evals_per_cpu_s_batched": ..., "vgg8_evals_per_cpu_s": ...}

``*_per_s`` divide by wall-clock time, ``*_per_cpu_s`` by the process's CPU time: on a shared machine
the wall-clock rate also counts the time the process waits for a core, the CPU-time rate does not.

Usage: ``uv run python scripts/bench_hardware.py [--n 2000] [--batch 1000] [--seconds 3]``
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from lightning_imc.hardware import ChipConfig, Network, evaluate, evaluate_batch, random_rls_network  # noqa: E402


def _rate(fn, items, seconds: float) -> tuple[float, float]:
    """Calls per second of ``fn`` over ``items`` (cycled), for at least ``seconds``: (wall, CPU)."""
    fn(items[0])  # warm-up
    done, t0, c0 = 0, time.perf_counter(), time.process_time()
    while True:
        for it in items:
            fn(it)
        done += len(items)
        dt = time.perf_counter() - t0
        if dt >= seconds:
            return done / dt, done / max(time.process_time() - c0, 1e-9)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=500, help="distinct random RLS networks")
    ap.add_argument("--batch", type=int, default=1000, help="batch size of the batched run")
    ap.add_argument("--seconds", type=float, default=3.0, help="minimum time per measurement (s)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    try:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    except (AttributeError, OSError):
        pass
    chip = ChipConfig.nacim()
    nets = [random_rls_network(args.seed + i) for i in range(args.n)]
    single = _rate(lambda n: evaluate(n, "rram_nacim", chip), nets, args.seconds)
    batches = [nets[i % len(nets):] + nets[: i % len(nets)] for i in range(3)]
    batches = [(b * (args.batch // len(b) + 1))[: args.batch] for b in batches]
    batched = [r * args.batch for r in _rate(lambda b: evaluate_batch(b, "rram_nacim", chip), batches, args.seconds)]
    vgg = Network.vgg8()
    vchip = ChipConfig.neurosim_vgg8()
    vgg_rate = _rate(lambda n: evaluate(n, "rram_vgg8", vchip), [vgg], args.seconds)
    print("evaluations/s                         wall-clock   CPU time")
    print(f"RLS networks, single evaluate():      {single[0]:10.0f} {single[1]:10.0f}")
    print(f"RLS networks, evaluate_batch({args.batch}): {batched[0]:10.0f} {batched[1]:10.0f}")
    print(f"VGG-8 (NeuroSim example), evaluate(): {vgg_rate[0]:10.0f} {vgg_rate[1]:10.0f}")
    print(json.dumps({"rls_evals_per_s": round(single[0], 1), "rls_evals_per_s_batched": round(batched[0], 1),
                      "vgg8_evals_per_s": round(vgg_rate[0], 1), "rls_evals_per_cpu_s": round(single[1], 1),
                      "rls_evals_per_cpu_s_batched": round(batched[1], 1), "vgg8_evals_per_cpu_s": round(vgg_rate[1], 1)}))


if __name__ == "__main__":
    main()
