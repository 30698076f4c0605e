"""Structured tasks: finite-d simulation, extrapolated to d = inf, against the exact theory.

For each point of ``POINTS`` the simulator runs a ladder of d (``--d``, default 32,48,64) with
``--seeds`` replicates (the sweep cache makes reruns free), and the gap ``sim(d) - theory(d)`` is
extrapolated to 1/d = 0 by weighted least squares (model ``g0 + g1/d``, weights 1/sem^2;
:func:`simulate.extrapolate`). The
theory at each d uses the covariances *at that d* (a power law ``i^-p`` changes with d), so the gap
isolates the finite-size error of the formula; ``theory`` in the table is the largest-d value.
Prints a Markdown table and a JSON record (``--json`` to write it).

    python benchmarks/verify_structured.py --jobs 2 --cache cache/structured --json docs/results/structured_verification.json
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time

import numpy as np

import asymptotics as A
import simulate
from asymptotics.spectrum import aligned, anti_aligned, power_law, spiked, two_level


def rotated(d: int, angle: float = np.pi / 4) -> np.ndarray:
    """``C_te = Q diag(a) Q^T`` in the task basis of ``two_level(0.25, 3)`` at ``d``: ``a`` puts 3 on
    the high directions, 1 elsewhere, and ``Q`` rotates each high direction ``i`` by ``angle`` in the
    plane it spans with the low direction ``d - 1 - i``: not diagonal in the task eigenbasis."""
    lam = two_level(0.25, 3.0).eigenvalues(d)
    C = np.diag(np.where(lam > 1, 3.0, 1.0))
    Q = np.eye(d)
    c, s = np.cos(angle), np.sin(angle)
    for i in np.flatnonzero(lam > 1):
        j = d - 1 - i
        Q[[i, i, j, j], [i, j, i, j]] = c, -s, s, c
    return Q @ C @ Q.T


def _pl(p):
    return lambda d: power_law(p, d)


# name -> (parameters, task_cov(d), test_cov(d), alpha_test)
POINTS = {
    "power 0.5 aligned, tau=2": (dict(tau=2.0, alpha=1.0, kappa=1.0, rho=0.1, lam=0.0),
                                 _pl(0.5), lambda d: aligned(power_law(0.5, d)), None),
    "power 0.5 anti-aligned, tau=2": (dict(tau=2.0, alpha=1.0, kappa=1.0, rho=0.1, lam=0.0),
                                      _pl(0.5), lambda d: anti_aligned(power_law(0.5, d)), None),
    "spiked 0.125x5, kappa=0.5, tau=0.5": (dict(tau=0.5, alpha=1.0, kappa=0.5, rho=0.1, lam=0.0),
                              lambda d: spiked(0.125, 5.0), lambda d: None, None),
    "two-level, rotated C_te, tau=2": (dict(tau=2.0, alpha=1.0, kappa=1.0, rho=0.1, lam=0.0),
                                       lambda d: two_level(0.25, 3.0).eigenvalues(d), rotated, None),
    "two-level anti, alpha_test=3": (dict(tau=2.0, alpha=1.0, kappa=1.0, rho=0.1, lam=0.0),
                                     lambda d: two_level(0.25, 3.0),
                                     lambda d: anti_aligned(two_level(0.25, 3.0)), 3.0),
    "power 0.5 aligned, lam=0.05, tau=0.5": (dict(tau=0.5, alpha=1.0, kappa=1.0, rho=0.1, lam=0.05),
                                             _pl(0.5), lambda d: aligned(power_law(0.5, d)), None),
    "two-level anti, kappa=0.5, lam=0.02": (dict(tau=1.5, alpha=2.0, kappa=0.5, rho=0.1, lam=0.02),
                                            lambda d: two_level(0.25, 3.0),
                                            lambda d: anti_aligned(two_level(0.25, 3.0)), None),
}


def verify(name, ds, n_seeds, seed=0, jobs=1, cache=None, progress=False):
    params, task_cov, test_cov, alpha_test = POINTS[name]
    rows = []
    for d in ds:
        tc, te = task_cov(d), test_cov(d)
        res = simulate.sweep({k: [v] for k, v in params.items()}, d=[d], n_seeds=n_seeds, seed=seed,
                             cache_dir=cache, n_jobs=jobs, progress=progress,
                             options={"task_cov": tc, "test_cov": te, "alpha_test": alpha_test})
        if res.errors:
            raise RuntimeError(f"{name} at d = {d}: {res.errors[0]['error']}")
        icl = np.array([r["icl"] for r in res.records])
        idg = np.array([r["idg"] for r in res.records])
        th_icl = A.e_icl(**params, task_cov=tc, test_cov=te, alpha_test=alpha_test)
        th_idg = A.e_idg(**params, task_cov=tc, alpha_test=alpha_test)
        rows.append(dict(d=d, icl=icl.mean(), icl_sem=simulate.mean_sem(icl)[1], idg=idg.mean(),
                         idg_sem=simulate.mean_sem(idg)[1], theory_icl=th_icl, theory_idg=th_idg))
    out = dict(point=name, params=params, alpha_test=alpha_test, ladder=rows)
    for e in ("icl", "idg"):
        gap = [r[e] - r["theory_" + e] for r in rows]
        fit = simulate.extrapolate([r["d"] for r in rows], gap, [r[e + "_sem"] for r in rows], theory=0.0)
        g0, se, chi2, dof = fit.estimate, fit.se, fit.chi2, fit.dof
        th = rows[-1]["theory_" + e]
        out[e] = dict(theory=th, extrapolated=th + g0, se=se, rel_gap=g0 / th, z=g0 / se, chi2=chi2, dof=dof)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--d", default="32,48,64")
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--cache", default=None)
    ap.add_argument("--json", default=None)
    ap.add_argument("--only", default=None, help="substring of a point name")
    args = ap.parse_args(argv)
    ds = [int(x) for x in args.d.split(",")]
    t0 = time.time()
    results = []
    for name in POINTS:
        if args.only and args.only not in name:
            continue
        t = time.time()
        r = verify(name, ds, args.seeds, jobs=args.jobs, cache=args.cache)
        r["seconds"] = time.time() - t
        results.append(r)
        print(f"{name}: " + "; ".join(
            f"{e} sim->inf {r[e]['extrapolated']:.4f} +- {r[e]['se']:.4f} theory {r[e]['theory']:.4f} "
            f"({100 * r[e]['rel_gap']:+.1f}%, z {r[e]['z']:+.1f})" for e in ("icl", "idg")), file=sys.stderr)
    record = dict(ladder=ds, n_seeds=args.seeds, seconds=time.time() - t0, python=platform.python_version(),
                  version=A.__version__, points=results)
    print("| point | d ladder | e_ICL extrapolated +- se | theory | gap | e_IDG extrapolated +- se | theory | gap |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        c, g = r["icl"], r["idg"]
        print(f"| {r['point']} | {','.join(map(str, ds))} | {c['extrapolated']:.4f} +- {c['se']:.4f} | "
              f"{c['theory']:.4f} | {100 * c['rel_gap']:+.1f}% | {g['extrapolated']:.4f} +- {g['se']:.4f} | "
              f"{g['theory']:.4f} | {100 * g['rel_gap']:+.1f}% |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(record, f, indent=1, default=float)
    return record


if __name__ == "__main__":
    main()
