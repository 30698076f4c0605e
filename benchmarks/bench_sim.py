"""Benchmark: one trained Gamma (sample + solve + exact errors), fast path vs a naive simulator.

Fast path: ``simulate.core.run_replicate`` (O(d) per-context sampling, CG in matrix form without
the D x D Gram, D = d(d+1)). Naive baseline, measured in the same run on the same point: every token
drawn explicitly (``sample_contexts_tokens``), the D x D Gram formed from the n x D features and
solved densely (``solve_direct``), errors by the same exact formula. Prints one JSON object.

Both paths run with one BLAS thread (unless the environment sets ``OPENBLAS_NUM_THREADS`` etc.),
so the ratio compares algorithms and is not disturbed by thread spin-waits when another process
shares the 2 cores (measured: single fast d = 80 replicates jumping from 0.9 s to 16-20 s).

Usage: ``python benchmarks/bench_sim.py [--repeats 3] [--naive-repeats 3] [--big-d 200]``.
"""
from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402  (BLAS threads must be fixed before numpy is imported)
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from simulate import run_replicate, sizes, stream, test_errors  # noqa: E402
from simulate.sampler import pretraining_tasks, sample_contexts_tokens  # noqa: E402
from simulate.solvers import solve_direct  # noqa: E402

POINT = dict(tau=2.0, alpha=1.0, kappa=1.0, rho=0.25, lam=0.0)


def naive_replicate(d: int, seed: int, replicate: int) -> dict:
    p = POINT
    l, k, n = sizes(d, p["tau"], p["alpha"], p["kappa"])
    t0 = time.perf_counter()
    rng = stream(seed, replicate, {"d": d, **{k: float(v) for k, v in p.items()}})  # run_replicate's stream
    tasks, per = pretraining_tasks(d, k, n, rng)
    ctx = sample_contexts_tokens(per, l, p["rho"], rng)
    t1 = time.perf_counter()
    sol = solve_direct(ctx.x_query, ctx.h, ctx.y_query, n / d * p["lam"])
    t2 = time.perf_counter()
    icl, idg = test_errors(sol.gamma, tasks, l, p["rho"])
    t3 = time.perf_counter()
    return {"icl": icl, "idg": idg, "seconds": t3 - t0, "seconds_sample": t1 - t0,
            "seconds_solve": t2 - t1, "seconds_errors": t3 - t2, "method": sol.method}


def _summary(recs: list[dict]) -> dict:
    out = {key: statistics.median(r[key] for r in recs)
           for key in ("seconds", "seconds_sample", "seconds_solve", "seconds_errors")}
    out["all_seconds"] = [round(r["seconds"], 4) for r in recs]
    out["icl"] = [round(r["icl"], 6) for r in recs]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--naive-repeats", type=int, default=3)
    ap.add_argument("--dims", type=int, nargs="+", default=[60, 80])
    ap.add_argument("--big-d", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    t_start = time.perf_counter()
    report = {"benchmark": "bench_sim", "point": POINT, "seed": args.seed,
              "machine": {"python": platform.python_version(), "numpy": np.__version__,
                          "cpus": os.cpu_count(), "blas_threads": os.environ["OPENBLAS_NUM_THREADS"], "processor": platform.processor() or platform.machine()},
              "comparisons": []}
    for d in args.dims:
        l, k, n = sizes(d, POINT["tau"], POINT["alpha"], POINT["kappa"])
        fast = [run_replicate(d, **POINT, seed=args.seed, replicate=r) for r in range(args.repeats)]
        naive = [naive_replicate(d, args.seed, r) for r in range(args.naive_repeats)]
        fs, ns = _summary(fast), _summary(naive)
        fs["solver"] = fast[0]["solver"]
        fs["cg_iterations"] = [r["solver_iterations"] for r in fast]
        ns["gram_bytes"] = 8 * (d * (d + 1)) ** 2
        report["comparisons"].append({"d": d, "l": l, "k": k, "n": n, "D": d * (d + 1), "fast": fs,
                                      "naive": ns, "speedup": ns["seconds"] / fs["seconds"]})
    if args.big_d:
        d = args.big_d
        l, k, n = sizes(d, POINT["tau"], POINT["alpha"], POINT["kappa"])
        rec = run_replicate(d, **POINT, seed=args.seed, replicate=0)
        report["big"] = {"d": d, "l": l, "k": k, "n": n, "D": d * (d + 1),
                         "naive_gram_bytes_not_run": 8 * (d * (d + 1)) ** 2,
                         **{key: rec[key] for key in ("seconds", "seconds_sample", "seconds_solve",
                                                      "seconds_errors", "solver", "solver_iterations",
                                                      "solver_residual", "icl", "idg")}}
    report["total_seconds"] = time.perf_counter() - t_start
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
