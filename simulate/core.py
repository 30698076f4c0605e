"""Finite-d simulation of one parameter point: sample, train Gamma* exactly, evaluate exact test errors.

``run_replicate`` is the unit of work (one replicate of one point, its own random stream from
:func:`simulate._seeding.replicate_rng`); ``run`` loops over replicates and collects a
:class:`SimResult`. Replicate ``r`` of ``run(..., seed=s)`` equals
``run_replicate(..., seed=s, replicate=r)`` exactly, whatever else is run.

Within a replicate the stream is consumed in a fixed order: training tasks, task index per context,
context statistics, queries. Changing that order changes the numbers (not their law).
"""
from __future__ import annotations

import math
import numbers
import time
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from simulate._seeding import replicate_rng
from asymptotics.params import check_int, check_scalar
from simulate._sizes import check_d, sizes
from simulate.errors import test_errors
from simulate.sampler import pretraining_tasks, sample_contexts
from simulate.solvers import SOLVERS, resolve_solver, solve

OPTIONS = ("normalize_tasks", "solver", "dtype", "cg_rtol", "cg_maxiter")


class Pair(NamedTuple):
    icl: float
    idg: float


def _check_options(options: dict) -> dict:
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown}; allowed: {list(OPTIONS)}")
    opts = {"normalize_tasks": False, "solver": "auto", "dtype": np.float64, "cg_rtol": None,
            "cg_maxiter": None}
    opts.update(options)
    if opts["solver"] not in SOLVERS:
        raise ValueError(f"solver must be one of {SOLVERS}; got {opts['solver']!r}")
    if np.dtype(opts["dtype"]) not in (np.dtype(np.float64), np.dtype(np.float32)):
        raise ValueError(f"dtype must be float64 or float32; got {opts['dtype']!r}")
    if not isinstance(opts["normalize_tasks"], (bool, np.bool_)):
        raise ValueError(f"normalize_tasks must be True or False; got {opts['normalize_tasks']!r}")
    if opts["cg_rtol"] is not None and not (isinstance(opts["cg_rtol"], numbers.Real)
                                           and 0 < opts["cg_rtol"] < 1):
        raise ValueError(f"cg_rtol must be a number in (0, 1); got {opts['cg_rtol']!r}")
    if opts["cg_maxiter"] is not None:
        check_int("cg_maxiter", opts["cg_maxiter"], 1)
    return opts


def check_point(d, tau, alpha, kappa, rho, lam, seed, options):
    """All validation of one point, before any work: sizes, scalars, seed, options, solver."""
    d = check_d(d)
    l, k, n = sizes(d, tau, alpha, kappa)
    rho, lam = check_scalar("rho", rho), check_scalar("lam", lam)
    seed = check_int("seed", seed, 0)
    opts = _check_options(options)
    return d, l, k, n, rho, lam, seed, opts, resolve_solver(opts["solver"], n, d, lam)


def run_replicate(d, tau, alpha, kappa, rho, lam=0.0, *, seed: int, replicate: int, **options) -> dict:
    """One replicate of one parameter point at dimension ``d``.

    Sizes from :func:`simulate._sizes.sizes`; tasks ``w ~ N(0, I_d)`` (``|w| = sqrt(d)`` with
    ``normalize_tasks``); ``n`` contexts sampled exactly in O(d) each
    (:func:`simulate.sampler.sample_contexts`); ``Gamma*`` the ridge solution with penalty
    ``(n/d) lam ||Gamma||_F^2`` (minimum norm for ``lam = 0``; :func:`simulate.solvers.solve`);
    errors exact given ``Gamma*`` (:func:`simulate.errors.test_errors`, always float64).

    Options: ``normalize_tasks`` (False), ``solver`` ('auto', 'dual', 'cg', 'direct'),
    ``dtype`` of the solve (float64 or float32), ``cg_rtol``, ``cg_maxiter``. Unknown options and
    bad values raise ``ValueError``; an unconverged CG raises :class:`simulate.solvers.ConvergenceError`.

    Returns a flat dict: ``icl``, ``idg`` (floats), ``l``, ``k`` (None for kappa = inf), ``n``,
    ``solver`` (the one used), ``seconds`` (total), ``seconds_sample``, ``seconds_solve``,
    ``seconds_errors``, ``solver_method``, ``solver_iterations``, ``solver_residual``.
    """
    t0 = time.perf_counter()
    d, l, k, n, rho, lam, seed, opts, solver = check_point(d, tau, alpha, kappa, rho, lam, seed, options)
    rng = replicate_rng(seed, check_int("replicate", replicate, 0))
    tasks, per_context = pretraining_tasks(d, k, n, rng, normalize=opts["normalize_tasks"])
    ctx = sample_contexts(per_context, l, rho, rng)
    t1 = time.perf_counter()
    sol = solve(ctx.x_query, ctx.h, ctx.y_query, lam, solver=solver, dtype=opts["dtype"],
                cg_rtol=opts["cg_rtol"], cg_maxiter=opts["cg_maxiter"])
    del ctx
    t2 = time.perf_counter()
    e_icl, e_idg = test_errors(sol.gamma, tasks, l, rho, normalize_tasks=opts["normalize_tasks"])
    t3 = time.perf_counter()
    return {"icl": e_icl, "idg": e_idg, "l": l, "k": k, "n": n, "solver": solver,
            "seconds": t3 - t0, "seconds_sample": t1 - t0, "seconds_solve": t2 - t1,
            "seconds_errors": t3 - t2, "solver_method": sol.method,
            "solver_iterations": sol.iterations, "solver_residual": sol.residual}


@dataclass(frozen=True)
class SimResult:
    """Errors of ``n_seeds`` independent replicates at one parameter point (from :func:`run`).

    ``icl``, ``idg``: arrays over replicates ``0..n_seeds-1`` of stream ``seed``; ``timings``:
    seconds summed over replicates for ``sample``, ``solve``, ``errors``; ``solver``: the solver
    used; ``records``: the per-replicate dicts of :func:`run_replicate`.
    """

    d: int
    tau: float
    alpha: float
    kappa: float
    rho: float
    lam: float
    l: int
    k: int | None
    n: int
    seed: int
    n_seeds: int
    solver: str
    options: dict
    icl: np.ndarray
    idg: np.ndarray
    timings: dict
    records: list = field(repr=False)

    def mean(self) -> Pair:
        """Mean over replicates, ``(icl, idg)``."""
        return Pair(float(np.mean(self.icl)), float(np.mean(self.idg)))

    def sem(self) -> Pair:
        """Standard error of the mean over replicates (ddof = 1), ``(icl, idg)``; needs n_seeds >= 2."""
        if self.n_seeds < 2:
            raise ValueError("sem needs n_seeds >= 2 replicates")
        root = math.sqrt(self.n_seeds)
        return Pair(float(np.std(self.icl, ddof=1) / root), float(np.std(self.idg, ddof=1) / root))

    def __repr__(self) -> str:
        m = self.mean()
        if self.n_seeds >= 2:
            s = self.sem()
            errs = f"e_icl = {m.icl:.6g} +- {s.icl:.2g}, e_idg = {m.idg:.6g} +- {s.idg:.2g}"
        else:
            errs = f"e_icl = {m.icl:.6g}, e_idg = {m.idg:.6g}"
        t = ", ".join(f"{key} {v:.3g}" for key, v in self.timings.items())
        return (f"SimResult(d={self.d}, tau={self.tau:g}, alpha={self.alpha:g}, kappa={self.kappa:g}, "
                f"rho={self.rho:g}, lam={self.lam:g}; l={self.l}, k={self.k}, n={self.n}; "
                f"{self.n_seeds} seed(s) from seed={self.seed}, solver={self.solver!r})\n"
                f"  {errs}  (mean +- sem over seeds)\n  seconds: {t}")


def run(d, tau, alpha, kappa, rho, lam=0.0, n_seeds: int = 1, seed: int = 0, *,
        normalize_tasks: bool = False, solver: str = "auto", dtype=np.float64,
        cg_rtol: float | None = None, cg_maxiter: int | None = None) -> SimResult:
    """Simulate ``n_seeds`` replicates of the point ``(tau, alpha, kappa, rho, lam)`` at dimension ``d``.

    Replicate ``r`` is ``run_replicate(d, ..., seed=seed, replicate=r, **options)``; see there for
    the model, the options and what each step does. Validation happens before any work.
    """
    n_seeds = check_int("n_seeds", n_seeds, 1)
    options = {"normalize_tasks": normalize_tasks, "solver": solver, "dtype": dtype,
               "cg_rtol": cg_rtol, "cg_maxiter": cg_maxiter}
    d, l, k, n, *_ = check_point(d, tau, alpha, kappa, rho, lam, seed, options)
    records = [run_replicate(d, tau, alpha, kappa, rho, lam, seed=seed, replicate=r, **options)
               for r in range(n_seeds)]
    timings = {key: float(sum(rec["seconds_" + key] for rec in records))
               for key in ("sample", "solve", "errors")}
    return SimResult(d=d, tau=float(tau), alpha=float(alpha), kappa=float(kappa), rho=float(rho),
                     lam=float(lam), l=l, k=k, n=n, seed=seed, n_seeds=n_seeds,
                     solver=records[0]["solver"], options=options,
                     icl=np.array([rec["icl"] for rec in records]),
                     idg=np.array([rec["idg"] for rec in records]),
                     timings=timings, records=records)
