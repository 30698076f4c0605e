"""Structured-task theory: exact scalar-root evaluation against the follow-up's Monte-Carlo approach.

Prints JSON. The grid: ``--points`` (default 10,000) random points (tau, kappa, alpha, rho, lam = 0)
with the task law ``power_law(0.9, n)`` at ``n = --atoms`` (default 1000) eigenvalues and an
anti-aligned test law, both timed in this process:

* ``exact``: :func:`asymptotics.e_icl` on the whole grid (one vectorised call; the scalar root
  ``x = c/z`` per point, O(atoms) per Newton step; no sampling);
* ``baseline``: the approach of the follow-up's public scripts, reimplemented (THEORY.md section 8,
  "known defects"): per point, draw the ``k = kappa d`` training tasks at ``d = atoms``, form
  ``R = W^T W / k``, take its eigenvalues, use the empirical ``m``/``m'`` of ``R`` inside
  ``scipy.optimize.brentq`` for the effective ridge ``nu`` and in the section-8 formulas. Its cost
  per point is measured on ``--baseline-points`` points (default 8) and compared per point.

Accuracy: both are compared with an independent reference on the baseline's points: THEORY.md
section 8 transcribed (deterministic ``c``-root by brentq at 1e-15). The JSON gives the median of
``--repeats`` timings, the per-point speedup, each method's median and max relative error, and
whether the speedup reaches ``TARGET``. Run: ``python benchmarks/bench_structured.py``.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import numpy as np
import scipy
from scipy.optimize import brentq

import asymptotics as A
from asymptotics.spectrum import anti_aligned, power_law

TARGET = 100.0  # per-point speedup of the exact evaluation over the Monte-Carlo baseline


def grid(n, rng):
    return dict(tau=np.exp(rng.uniform(np.log(0.1), np.log(10), n)),
                alpha=np.exp(rng.uniform(np.log(0.5), np.log(4), n)),
                kappa=np.exp(rng.uniform(np.log(0.1), np.log(10), n)),
                rho=rng.uniform(0.0, 0.5, n))


def _formulas(tau, q, q_te, rho, kappa, m_of, lam_i, a_i, c_of):
    """The section-8 errors given a Stieltjes evaluator ``m_of(z) -> (m, m2)`` and ``c_of(z)``."""
    nu = 0.0 if tau > 1 else brentq(lambda v: v * m_of(q + v)[0] - (1 - tau), 1e-12, 1e6, rtol=1e-14)
    b = q + nu
    m, m2 = m_of(b)
    c = c_of(b)
    cp = (m - b * m2) / kappa
    E = (rho + b - b * b * m - nu * (1 - 2 * b * m + b * b * m2)) / (tau - (1 - 2 * nu * m + nu * nu * m2))
    e_bias = rho + q_te * (1 + (E - 2 * b) * m - (nu * E - b * b) * m2)
    K = E / (c * lam_i + b) + (b * b - nu * E) * (1 + cp * lam_i) / (c * lam_i + b) ** 2
    return e_bias + np.mean(a_i * K)


def reference(p, lam_i, a_i):
    """THEORY.md section 8 with the deterministic c-root (brentq at 1e-15)."""
    kappa = p["kappa"]

    def c_of(z):
        f = lambda c: c - 1 + (1 - z * np.mean(1 / (c * lam_i + z))) / kappa  # noqa: E731
        return brentq(f, -z / lam_i.max() * (1 - 1e-12), 1, xtol=1e-300, rtol=1e-15)

    def m_of(z):
        c = c_of(z)
        m = np.mean(1 / (c * lam_i + z))
        a_, b_ = np.mean((c * lam_i + z) ** -2), np.mean(lam_i * (c * lam_i + z) ** -2)
        return m, (a_ + m * b_ / kappa) / (1 + z * b_ / kappa)

    q = (lam_i.mean() + p["rho"]) / p["alpha"]
    q_te = (a_i.mean() + p["rho"]) / p["alpha"]
    return _formulas(p["tau"], q, q_te, p["rho"], kappa, m_of, lam_i, a_i, c_of)


def baseline(p, lam_i, a_i, rng):
    """The Monte-Carlo approach: empirical m of one sampled R; c from the empirical m."""
    d = lam_i.size
    k = max(1, int(round(p["kappa"] * d)))
    W = rng.standard_normal((k, d)) * np.sqrt(lam_i)
    ev = np.linalg.eigvalsh(W.T @ W / k)
    kappa = k / d

    def m_of(z):
        return np.mean(1 / (ev + z)), np.mean(1 / (ev + z) ** 2)

    def c_of(z):
        return 1 - (1 - z * m_of(z)[0]) / kappa  # the c the empirical m implies

    q = (lam_i.mean() + p["rho"]) / p["alpha"]
    q_te = (a_i.mean() + p["rho"]) / p["alpha"]
    return _formulas(p["tau"], q, q_te, p["rho"], kappa, m_of, lam_i, a_i, c_of)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=10_000)
    ap.add_argument("--atoms", type=int, default=1000)
    ap.add_argument("--baseline-points", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    task = power_law(0.9, args.atoms)
    test = anti_aligned(task)
    lam_i = task.values
    a_i = lam_i[::-1].copy()  # anti-aligned at equal resolution: the reversed eigenvalues
    g = grid(args.points, rng)
    g["tau"] = np.where(np.abs(g["tau"] - 1) < 0.05, 1.1, g["tau"])  # stay off the peak

    t_exact = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        exact = A.e_icl(g["tau"], g["alpha"], g["kappa"], g["rho"], 0.0, task_cov=task, test_cov=test)
        t_exact.append(time.perf_counter() - t0)
    per_exact = statistics.median(t_exact) / args.points

    idx = rng.choice(args.points, args.baseline_points, replace=False)
    pts = [{k: float(v[i]) for k, v in g.items()} for i in idx]
    t_base, base_vals = [], []
    for r in range(args.repeats):
        brng = np.random.default_rng([args.seed, r])
        t0 = time.perf_counter()
        vals = [baseline(p, lam_i, a_i, brng) for p in pts]
        t_base.append(time.perf_counter() - t0)
        base_vals.append(vals)
    per_base = statistics.median(t_base) / args.baseline_points
    ref = np.array([reference(p, lam_i, a_i) for p in pts])
    err_exact = np.abs(exact[idx] / ref - 1)
    err_base = np.abs(np.array(base_vals[0]) / ref - 1)
    speedup = per_base / per_exact
    out = {
        "benchmark": "structured theory, exact scalar root vs Monte-Carlo Stieltjes (follow-up's approach)",
        "task_cov": "power_law(0.9, %d)" % args.atoms, "test_cov": "anti_aligned(same)",
        "points": args.points, "baseline_points": args.baseline_points, "repeats": args.repeats,
        "exact_seconds_total_median": statistics.median(t_exact),
        "exact_us_per_point": 1e6 * per_exact,
        "baseline_ms_per_point": 1e3 * per_base,
        "speedup_per_point": speedup,
        "target": TARGET, "target_met": bool(speedup >= TARGET),
        "exact_rel_error_median": float(np.median(err_exact)), "exact_rel_error_max": float(err_exact.max()),
        "baseline_rel_error_median": float(np.median(err_base)), "baseline_rel_error_max": float(err_base.max()),
        "python": platform.python_version(), "numpy": np.__version__, "scipy": scipy.__version__,
        "machine": platform.machine(),
    }
    print(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
