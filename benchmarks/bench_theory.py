"""Speed of the vectorised theory against a scalar Python loop (the way research scripts do it).

Prints JSON. Both are timed in this process on the same random grid: the vectorised API on
``N`` points, the scalar baseline on a subsample (per-point times are compared). The scalar
baseline is the paper's Result 1 closed form (ridgeless) and, for ``lam > 0``,
``scipy.optimize.brentq`` per point on the fixed-point equation followed by the same closed-form
error expressions; it runs twice, with the ``math`` module on Python floats (the fastest scalar
loop) and with numpy scalars (``np.sqrt`` on ``np.float64``, as the paper's scripts do). Times are
medians over ``--repeats`` runs. The JSON records, per ``lam``, whether the speedup over the
numpy-scalar loop reaches ``TARGET`` (and, at the top, whether every one does).
Run: ``python benchmarks/bench_theory.py [--points N]``.
"""
from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import time

import numpy as np
import scipy
from scipy.optimize import brentq

import asymptotics as A


SQRT = math.sqrt  # the numpy-scalar baseline swaps in np.sqrt and np.float64 inputs
TARGET = 30.0  # speedup of the vectorised API over the numpy-scalar loop, for every lam


def m_scalar(z, kappa):
    a = z + 1 - 1 / kappa
    s = SQRT(a * a + 4 * z / kappa)
    return 2 / (a + s) if a >= 0 else kappa * (s - a) / (2 * z)


def dm_scalar(z, kappa):
    a = z + 1 - 1 / kappa
    m = m_scalar(z, kappa)
    return -(m * m / kappa + m) / SQRT(a * a + 4 * z / kappa)


def e_icl_scalar(tau, alpha, kappa, rho, lam):
    q = (1 + rho) / alpha
    if lam == 0:  # paper Result 1
        if tau < 1:
            mu = q * m_scalar(q, kappa / tau)
            return tau * (1 + q) / (1 - tau) * (1 - tau * (1 - mu) ** 2 - mu * (q - rho) / q) - 2 * tau * (1 - mu) + 1 + rho
        m = m_scalar(q, kappa)
        return ((1 + q) * (1 - 2 * q * m - q * q * dm_scalar(q, kappa)) - 2 * (1 - q * m) + 1 + rho
                + (1 + q) * m * (rho + q - q * q * m) / (tau - 1))
    nu = brentq(lambda v: v - lam - (v / tau) * (1 - v * m_scalar(q + v, kappa)), 0.0, lam + (1 + q) / tau,
                xtol=1e-300, rtol=4 * np.finfo(float).eps)
    b = q + nu
    m, F2, mq = m_scalar(b, kappa), -dm_scalar(b, kappa), m_scalar(q, kappa)
    T1, T2 = 1 - b * m, 1 - 2 * b * m + b * b * F2
    T3, T4 = m - nu * F2, 1 - 2 * nu * m + nu * nu * F2
    B5 = q * q * mq + (nu * nu - q * q) * m - nu * b * b * F2
    idg = tau * (rho + q - q * q * mq + B5) / (tau - T4)
    return 1 + rho - 2 * T1 + (1 + q) * T2 + (1 + q) * T3 * idg / tau


def median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--scalar-points", type=int, default=2_000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    n = args.points
    tau = 10 ** rng.uniform(-1, 1, n)
    alpha = 10 ** rng.uniform(-1, 1, n)
    kappa = 10 ** rng.uniform(-1, 1, n)
    rho = rng.uniform(0, 1, n)
    results = []
    for lam in (0.0, 0.1):
        vec = median_time(lambda: A.e_icl(tau, alpha, kappa, rho, lam), args.repeats)
        ns = args.scalar_points
        sub = list(zip(tau[:ns].tolist(), alpha[:ns].tolist(), kappa[:ns].tolist(), rho[:ns].tolist()))
        global SQRT
        SQRT = math.sqrt
        loop = median_time(lambda: [e_icl_scalar(*p, lam) for p in sub], args.repeats)
        check = np.array([e_icl_scalar(*p, lam) for p in sub[:200]])
        SQRT = np.sqrt
        sub_np = [tuple(np.float64(v) for v in p) for p in sub]
        loop_np = median_time(lambda: [e_icl_scalar(*p, np.float64(lam)) for p in sub_np], args.repeats)
        SQRT = math.sqrt
        speedup = (loop_np / ns) / (vec / n)
        results.append({
            "lam": lam,
            "vectorised_points": n,
            "vectorised_seconds_median": vec,
            "vectorised_ns_per_point": 1e9 * vec / n,
            "scalar_loop_points": ns,
            "scalar_loop_ns_per_point": 1e9 * loop / ns,
            "numpy_scalar_loop_ns_per_point": 1e9 * loop_np / ns,
            "speedup_vs_math_loop": (loop / ns) / (vec / n),
            "speedup_vs_numpy_scalar_loop": speedup,
            "speedup_target": TARGET,
            "speedup_target_met": speedup >= TARGET,
            "max_rel_diff_vs_scalar": float(np.max(np.abs(A.e_icl(tau[:200], alpha[:200], kappa[:200], rho[:200], lam) / check - 1))),
        })
    print(json.dumps({
        "benchmark": "theory e_icl: vectorised API vs scalar Python loop",
        "repeats": args.repeats,
        "target": {"speedup_vs_numpy_scalar_loop": TARGET,
                   "met": all(r["speedup_target_met"] for r in results)},
        "results": results,
        "machine": {"python": platform.python_version(), "numpy": np.__version__, "scipy": scipy.__version__,
                    "processor": platform.machine(), "cpus": __import__("os").cpu_count()},
    }, indent=2))


if __name__ == "__main__":
    main()
