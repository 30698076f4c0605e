"""Correlated contexts: finite-d simulation, extrapolated to d = inf, against the exact theory.

For each point of ``POINTS`` :func:`simulate.validate` runs a ladder of d (``--d``, default
16,24,32,48,64,96) with ``--seeds`` replicates through the sweep cache and fits
``e(d) = e_inf + c1/d + c2/d^2`` (``--order``, weights 1/sem^2). The theory is the d -> inf theory
with the kernel's ``l -> inf`` statistics (docs/THEORY.md section 9); the simulation uses the
kernel at its finite ``l = round(alpha d)`` (whose statistics differ by O(1/l), part of what the fit
removes). A point passes when ``|e_inf - theory| <= max(3% theory, 3 se)``. The correlated query's
errors are Monte Carlo per replicate (``simulate.core.N_TEST_CORRELATED`` test contexts); its
``e_IDG`` has no theory (extrapolated only). Prints a Markdown table; ``--json`` writes the record.

    python benchmarks/verify_kernel.py --cache cache/kernel --json docs/results/kernel_verification.json
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time

import asymptotics as A
import simulate
from asymptotics.kernel import exponential
from asymptotics.spectrum import anti_aligned, two_level

# name -> (parameters, run options)
POINTS = {
    "exp:3 independent, tau=2, kappa=2": (dict(tau=2.0, alpha=1.0, kappa=2.0, rho=0.1, lam=0.0),
                                          dict(token_kernel=exponential(3.0), query="independent")),
    "exp:3 correlated, tau=2, kappa=2": (dict(tau=2.0, alpha=1.0, kappa=2.0, rho=0.1, lam=0.0),
                                         dict(token_kernel=exponential(3.0), query="correlated")),
    "exp:1 independent, tau=0.5, kappa=0.5": (dict(tau=0.5, alpha=2.0, kappa=0.5, rho=0.1, lam=0.0),
                                              dict(token_kernel=exponential(1.0), query="independent")),
    "exp:1 correlated, tau=0.5, kappa=0.5": (dict(tau=0.5, alpha=2.0, kappa=0.5, rho=0.1, lam=0.0),
                                             dict(token_kernel=exponential(1.0), query="correlated")),
    "exp:5 independent, lam=0.1, tau=2, kappa=0.5": (dict(tau=2.0, alpha=2.0, kappa=0.5, rho=0.25, lam=0.1),
                                                     dict(token_kernel=exponential(5.0), query="independent")),
    "exp:10 independent, lam=0.05, tau=0.5, kappa=2": (dict(tau=0.5, alpha=3.0, kappa=2.0, rho=0.1, lam=0.05),
                                                       dict(token_kernel=exponential(10.0), query="independent")),
    "exp:10 correlated, tau=3, kappa=2": (dict(tau=3.0, alpha=3.0, kappa=2.0, rho=0.1, lam=0.0),
                                          dict(token_kernel=exponential(10.0), query="correlated")),
    "exp:5 correlated, tau=0.5, kappa=4": (dict(tau=0.5, alpha=2.0, kappa=4.0, rho=0.1, lam=0.0),
                                           dict(token_kernel=exponential(5.0), query="correlated")),
    "exp:2 independent, two-level tasks, anti-aligned test, lam=0.01": (
        dict(tau=2.0, alpha=2.0, kappa=1.5, rho=0.1, lam=0.01),
        dict(token_kernel=exponential(2.0), query="independent", task_cov=two_level(0.25, 3.0),
             test_cov=anti_aligned(two_level(0.25, 3.0)))),
}


def verify(name, ds, n_seeds, order=2, seed=0, jobs=1, cache=None):
    params, options = POINTS[name]
    v = simulate.validate(**params, d=ds, n_seeds=n_seeds, seed=seed, order=order, cache_dir=cache,
                          n_jobs=jobs, **options)
    out = dict(point=name, params=params, query=options["query"], kernel=options["token_kernel"].name,
               ladder=v.rows, seconds=v.wall_seconds)
    if "task_cov" in options:
        out["task_cov"] = "two_level(0.25, 3)"
        out["test_cov"] = "anti_aligned(two_level(0.25, 3))"
    for e, fit in (("icl", v.icl), ("idg", v.idg)):
        th = fit.theory
        gap = fit.estimate - th
        ok = None if th != th else bool(abs(gap) <= max(0.03 * abs(th), 3 * fit.se))
        out[e] = dict(theory=th, extrapolated=fit.estimate, se=fit.se, rel_gap=gap / th if th == th else None,
                      z=fit.z, chi2=fit.chi2, dof=fit.dof, passed=ok)
    out["alpha_eff"] = float(A.solve(**params, **options).alpha_eff)
    return out


def _fmt(e):
    if e["theory"] != e["theory"]:
        return f"{e['extrapolated']:.4f} +- {e['se']:.4f} | (none) | | "
    return (f"{e['extrapolated']:.4f} +- {e['se']:.4f} | {e['theory']:.4f} | {100 * e['rel_gap']:+.1f}% "
            f"(z {e['z']:+.1f}) | {'yes' if e['passed'] else 'NO'}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--d", default="16,24,32,48,64,96")
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--order", type=int, default=2)
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
        r = verify(name, ds, args.seeds, order=args.order, jobs=args.jobs, cache=args.cache)
        results.append(r)
        print(f"{name}: icl {_fmt(r['icl'])}; idg {_fmt(r['idg'])}; {r['seconds']:.0f} s", file=sys.stderr,
              flush=True)
    record = dict(ladder=ds, n_seeds=args.seeds, order=args.order, seconds=time.time() - t0,
                  python=platform.python_version(), version=A.__version__, points=results)
    print("| point | alpha_eff | e_ICL d->inf +- se | theory | gap | pass | e_IDG d->inf +- se | theory | gap | pass |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['point']} | {r['alpha_eff']:.3f} | {_fmt(r['icl'])} | {_fmt(r['idg'])} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(record, f, indent=1, default=float)
    return record


if __name__ == "__main__":
    main()
