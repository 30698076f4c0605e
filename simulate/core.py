"""Finite-d simulation of one parameter point: sample, train Gamma* exactly, evaluate exact test errors.

``run_replicate`` is the unit of work (one replicate of one point, its own random stream from
:func:`simulate.seeding.stream`); ``run`` loops over replicates and collects a :class:`SimResult`.
Replicate ``r`` of ``run(..., seed=s)`` equals ``run_replicate(..., seed=s, replicate=r)`` exactly,
whatever else is run, and a sweep's task for the same point, seed and replicate is the same call.

Within a replicate the stream is consumed in a fixed order: training tasks, task index per context,
context statistics, queries. Changing that order changes the numbers (not their law).
"""
from __future__ import annotations

import hashlib
import math
import time
from dataclasses import asdict, dataclass, field
from typing import NamedTuple

import numpy as np

from asymptotics.kernel import TokenKernel, check_query, resolve_kernel
from asymptotics.params import check_alpha_test, check_int, check_scalar
from asymptotics.spectrum import ISOTROPIC, PowerLaw, Spectrum, Tasks, TaskSpectrum, TestLaw, resolve
from simulate._sizes import check_d, check_resources, context_length, sizes, task_count
from simulate.errors import kernel_monte_carlo_errors, population_gamma, test_errors
from simulate.options import Options, make_options
from simulate.sampler import kernel_factor, pretraining_tasks, sample_contexts, sample_contexts_kernel
from simulate.seeding import stream
from simulate.solvers import fit, resolve_solver
from simulate.stats import mean_sem


_DEFAULT_TASKS = resolve()


class Pair(NamedTuple):
    icl: float
    idg: float


@dataclass(frozen=True)
class Point:
    """One validated simulation point: the model parameters, ``d`` and the sizes they imply."""

    d: int
    tau: float
    alpha: float
    kappa: float
    rho: float
    lam: float
    l: int
    k: int | None
    n: int | None
    task_cov: str = "identity"
    test_cov: str = "identity"
    alpha_test: float | None = None
    l_test: int | None = None
    token_kernel: str = "none"
    query: str = "independent"

    def key(self) -> dict:
        """The parameters the simulation depends on: what keys its random streams (the structured-task
        entries only when they differ from the default, so isotropic streams never changed)."""
        key = {"d": self.d, "tau": self.tau, "alpha": self.alpha, "kappa": self.kappa,
               "rho": self.rho, "lam": self.lam}
        if self.task_cov != "identity":
            key["task_cov"] = self.task_cov
        if self.test_cov != "identity":
            key["test_cov"] = self.test_cov
        if self.alpha_test is not None:
            key["alpha_test"] = self.alpha_test
        if self.token_kernel != "none":
            key["token_kernel"] = self.token_kernel
            key["query"] = self.query
        return key


def describe(cov) -> str:
    """A short, stable name of a ``task_cov``/``test_cov`` argument (None: ``identity``): a named law
    by its name, anything else by a digest of its numbers. Keys the random streams and the cache."""
    if isinstance(cov, TokenKernel):
        return cov.name
    if cov is None or cov is ISOTROPIC:
        return "identity"
    if isinstance(cov, PowerLaw):
        return f"power:{cov.p!r}"  # the simulator uses the formula at d; n is the theory's resolution
    if isinstance(cov, TestLaw):
        return ("anti:" if cov.order == "anti" else "aligned:") + describe(cov.spectrum)
    if isinstance(cov, Spectrum):
        digest = hashlib.sha256(cov.values.tobytes() + cov.weights.tobytes()).hexdigest()[:16]
        return f"{cov.label}#{digest}"
    arr = np.ascontiguousarray(np.asarray(cov, dtype=np.float64))
    return f"array{arr.shape}#{hashlib.sha256(arr.tobytes()).hexdigest()[:16]}"


#: Test contexts per error of the Monte Carlo test errors of a correlated query (no closed form; the
#: standard error of a replicate's error is about sqrt(2/N) relative, 1.1%, and the replicates' sem
#: includes it).
N_TEST_CORRELATED = 16384


def _check_kernel(token_kernel, query, tasks: Tasks, options: Options):
    """``(kernel or None, query)``: None for independent tokens (``iid()`` too: the same law, the
    O(d) path); refuses a correlated query with structured tasks or ``normalize_tasks`` (its Monte
    Carlo ICL error draws isotropic Gaussian tasks)."""
    query = check_query(query)
    kern = resolve_kernel(token_kernel)
    if kern is None or kern.is_iid:
        return None, "independent"
    if query == "correlated" and (tasks.structured or options.normalize_tasks):
        raise ValueError("query='correlated' is simulated with isotropic Gaussian tasks only; drop "
                         "task_cov/test_cov/normalize_tasks or use query='independent'")
    return kern, query


def check_point(d, tau, alpha, kappa, rho, lam=0.0, options: Options | None = None, *,
                task_cov=None, test_cov=None, alpha_test=None, token_kernel=None,
                query: str = "independent") -> tuple[Point, str, Tasks, TokenKernel | None]:
    """All validation of one point before any work: sizes, ranges, the task and test covariances at
    dimension ``d``, and the solver that will run.

    Returns the :class:`Point`, the solver name ``options.solver`` resolves to at its sizes (raises
    ``ValueError`` for an impossible combination, e.g. CG at ``lam = 0``, ``n <= d(d+1)``), the
    resolved :class:`asymptotics.spectrum.Tasks` and the token kernel (None: independent tokens;
    a kernel matrix must have size ``l + 1`` at this ``d``, and ``l_test + 1`` with ``alpha_test``).
    Also refuses sizes whose estimated memory exceeds the memory available
    (:func:`simulate._sizes.check_resources`).
    """
    d = check_d(d)
    options = Options() if options is None else options
    population = math.isinf(check_scalar("tau", tau))
    if population:  # tau = inf: the exact optimum from population moments, no sampled contexts
        l, k, n = context_length(d, alpha), task_count(d, kappa), None
        if options.solver != "auto" or options.normalize_tasks:
            raise ValueError("at tau = inf Gamma* is solved from population moments: the options "
                             "solver and normalize_tasks do not apply; leave them at their defaults")
    else:
        l, k, n = sizes(d, tau, alpha, kappa)
    tasks = resolve(task_cov, test_cov)
    if tasks.structured and options.normalize_tasks:
        raise ValueError("normalize_tasks (|w| = sqrt(d)) is defined for isotropic tasks only; "
                         "drop it or task_cov/test_cov")
    for name, cov in (("task_cov", task_cov), ("test_cov", test_cov)):
        shape = np.shape(cov) if cov is not None and not isinstance(cov, (TaskSpectrum, TestLaw)) else ()
        if shape and shape[0] != d:
            raise ValueError(f"{name} is given at dimension {shape[0]}; the simulation has d = {d}")
    if alpha_test is None:
        at, l_test = None, None
    else:
        at = float(check_alpha_test(alpha_test))
        l_test = context_length(d, at, "alpha_test")
    point = Point(d, check_scalar("tau", tau), check_scalar("alpha", alpha), check_scalar("kappa", kappa),
                  check_scalar("rho", rho), check_scalar("lam", lam), l, k, n,
                  describe(task_cov), describe(test_cov), at, l_test)
    kern, query = _check_kernel(token_kernel, query, tasks, options)
    if kern is not None:
        if population:
            raise ValueError("tau = inf (the population optimum) is implemented for independent "
                             "tokens only; use a finite tau with token_kernel")
        kern.stats(l)  # a matrix of the wrong size is refused here, before any work
        if l_test is not None:
            kern.stats(l_test)
        point = Point(**{**asdict(point), "token_kernel": kern.name, "query": query})
    if population:
        return point, "population", tasks, None
    solver = resolve_solver(options.solver, n, d, point.lam)
    check_resources(d, l, k, n, solver, options.dtype)
    return point, solver, tasks, kern


def _replicate(point: Point, solver: str, options: Options, seed: int, replicate: int,
               law: Tasks = _DEFAULT_TASKS, kern: TokenKernel | None = None) -> dict:
    t0 = time.perf_counter()
    rng = stream(seed, replicate, point.key(), common=options.common_random_numbers)
    if point.n is None:
        return _population_replicate(point, rng, law, t0)
    tasks, per_context = pretraining_tasks(point.d, point.k, point.n, rng,
                                           normalize=options.normalize_tasks, spectrum=law.spectrum)
    if kern is None:
        ctx = sample_contexts(per_context, point.l, point.rho, rng)
    else:
        factor = kernel_factor(kern.matrix(point.l, point.query), point.query)
        ctx = sample_contexts_kernel(per_context, factor, point.rho, rng)
    t1 = time.perf_counter()
    sol = fit(ctx.x_query, ctx.h, ctx.y_query, point.lam, options)  # resolves to `solver` again
    del ctx
    t2 = time.perf_counter()
    test_cov = None if law.test is None else law.test_matrix(point.d)  # None: C_te = I
    extra = {}
    if kern is None or point.query == "independent":
        lt = point.l if point.l_test is None else point.l_test
        e_icl, e_idg = test_errors(sol.gamma, tasks, point.l, point.rho, normalize_tasks=options.normalize_tasks,
                                   test_cov=test_cov, l_test=point.l_test,
                                   tk2=None if kern is None else kern.stats(lt).tk2)
    else:
        if point.l_test is not None:
            factor = kernel_factor(kern.matrix(point.l_test, point.query), point.query)
        mc = kernel_monte_carlo_errors(sol.gamma, tasks, factor, point.rho, N_TEST_CORRELATED, rng)
        e_icl, e_idg = mc["icl"], mc["idg"]
        extra = {"icl_mc_sem": mc["icl_sem"], "idg_mc_sem": mc["idg_sem"]}
    t3 = time.perf_counter()
    return {"icl": e_icl, "idg": e_idg, **extra, "l": point.l, "k": point.k, "n": point.n, "solver": solver,
            "seconds": t3 - t0, "seconds_sample": t1 - t0, "seconds_solve": t2 - t1,
            "seconds_errors": t3 - t2, "solver_method": sol.method, "solver_converged": sol.converged,
            "solver_iterations": sol.iterations, "solver_residual": sol.residual}


def _population_replicate(point: Point, rng, law: Tasks, t0: float) -> dict:
    """``tau = inf``: the k tasks from the stream (none for kappa = inf), ``Gamma*`` exactly from the
    population moments (:func:`simulate.errors.population_gamma`), exact errors. IDG averages over
    the k tasks, or over the whole task law for kappa = inf."""
    d, l = point.d, point.l
    if point.k is None:
        tasks, cov = None, law.spectrum.eigenvalues(d)
    else:
        tasks, cov = pretraining_tasks(d, point.k, 1, rng, spectrum=law.spectrum)[0], None
    t1 = time.perf_counter()
    gamma = population_gamma(l, point.rho, point.lam, tasks, cov)
    t2 = time.perf_counter()
    test_cov = None if law.test is None else law.test_matrix(d)
    probe = np.zeros((1, d)) if tasks is None else tasks
    e_icl, e_idg = test_errors(gamma, probe, l, point.rho, test_cov=test_cov, l_test=point.l_test)
    if tasks is None:  # the pretraining law itself: N(0, C_tr)
        e_idg = test_errors(gamma, probe, l, point.rho, test_cov=cov, l_test=point.l_test)[0]
    t3 = time.perf_counter()
    return {"icl": e_icl, "idg": e_idg, "l": l, "k": point.k, "n": None, "solver": "population",
            "seconds": t3 - t0, "seconds_sample": t1 - t0, "seconds_solve": t2 - t1,
            "seconds_errors": t3 - t2, "solver_method": "cholesky", "solver_converged": True,
            "solver_iterations": 0, "solver_residual": 0.0}


def run_replicate(d, tau, alpha, kappa, rho, lam=0.0, *, seed: int, replicate: int,
                  options: Options | None = None, task_cov=None, test_cov=None, alpha_test=None,
                  token_kernel=None, query: str = "independent", **option_kwargs) -> dict:
    """One replicate of one parameter point at dimension ``d``.

    Sizes from :func:`simulate.sizes`; tasks from the task law (default ``w ~ N(0, I_d)``;
    ``|w| = sqrt(d)`` with ``normalize_tasks``); ``n`` contexts sampled exactly in O(d) each
    (:func:`simulate.sampler.sample_contexts`); ``Gamma*`` the ridge solution with penalty
    ``(n/d) lam ||Gamma||_F^2`` (minimum norm for ``lam = 0``; :func:`simulate.solvers.fit`);
    errors exact given ``Gamma*`` (:func:`simulate.errors.test_errors`, always float64). The random
    stream is :func:`simulate.seeding.stream` of ``(seed, (d, tau, alpha, kappa, rho, lam), replicate)``.

    Structured tasks (docs/THEORY.md): ``task_cov`` (pretraining tasks ``w = C_tr^{1/2} g``, drawn in
    ``C_tr``'s eigenbasis; tokens stay isotropic, so nothing else changes), ``test_cov`` (test tasks
    ``N(0, C_te)``, exact errors by the Gaussian moment identity) and ``alpha_test`` (test contexts
    of ``round(alpha_test d)`` tokens, for both errors), with the meanings of
    :func:`asymptotics.solve`; arrays must be given at dimension ``d``, named laws
    (:mod:`asymptotics.spectrum`) work at every ``d``.

    Correlated contexts (docs/THEORY.md section 9): ``token_kernel`` (a named kernel of
    :mod:`asymptotics.kernel`, used at ``l = round(alpha d)`` tokens, or an ``(l+1) x (l+1)`` matrix)
    and ``query`` (``'independent'`` or ``'correlated'``). The kernel is factored once per replicate
    and contexts are drawn exactly in ``O(l^2 + d)`` each
    (:func:`simulate.sampler.sample_contexts_kernel`); errors are exact for an independent query
    (:func:`simulate.errors.test_errors` with the kernel's ``tr(K_c^2)/l``), Monte Carlo over
    :data:`N_TEST_CORRELATED` test contexts for a correlated one (``icl_mc_sem``, ``idg_mc_sem`` in
    the record; the replicates' sem includes this noise). ``None`` or ``iid()``: the O(d) path,
    streams unchanged.

    ``options``: a :class:`simulate.Options`, or its fields as keywords (``solver``, ``dtype``,
    ``cg_rtol``, ``cg_maxiter``, ``normalize_tasks``, ``common_random_numbers``). Unknown options
    and bad values raise ``ValueError``; a solve that did not converge raises
    :class:`asymptotics.ConvergenceError` with its measured residual.

    Returns a flat dict: ``icl``, ``idg`` (floats), ``l``, ``k`` (None for kappa = inf), ``n``,
    ``solver`` (the one used), ``seconds`` (total), ``seconds_sample``, ``seconds_solve``,
    ``seconds_errors``, ``solver_method``, ``solver_converged``, ``solver_iterations``,
    ``solver_residual``.
    """
    options = make_options(options, **option_kwargs)
    point, solver, law, kern = check_point(d, tau, alpha, kappa, rho, lam, options, task_cov=task_cov,
                                           test_cov=test_cov, alpha_test=alpha_test, token_kernel=token_kernel,
                                           query=query)
    return _replicate(point, solver, options, check_int("seed", seed, 0), check_int("replicate", replicate, 0),
                      law, kern)


def _validate_run_replicate(d, tau=None, alpha=None, kappa=None, rho=None, lam=0.0, options=None, *,
                            task_cov=None, test_cov=None, alpha_test=None, token_kernel=None,
                            query="independent"):
    missing = [n for n, v in (("tau", tau), ("alpha", alpha), ("kappa", kappa), ("rho", rho)) if v is None]
    if missing:
        raise ValueError(f"the simulator needs parameter(s) {missing} at every grid point")
    return check_point(d, tau, alpha, kappa, rho, lam, options, task_cov=task_cov, test_cov=test_cov,
                       alpha_test=alpha_test, token_kernel=token_kernel, query=query)


run_replicate.validate = _validate_run_replicate


@dataclass(frozen=True, kw_only=True)
class SimResult(Point):
    """Errors of ``n_seeds`` independent replicates at one parameter point (from :func:`run`).

    The point's fields (``d, tau, ..., l, k, n``), then ``icl``, ``idg``: arrays over replicates
    ``0..n_seeds-1`` of stream ``seed``; ``timings``: seconds summed over replicates for ``sample``,
    ``solve``, ``errors``; ``solver``: the solver used; ``options``: the :class:`simulate.Options` in
    force; ``records``: the per-replicate dicts of :func:`run_replicate`.
    """

    seed: int
    n_seeds: int
    solver: str
    options: Options
    icl: np.ndarray
    idg: np.ndarray
    timings: dict
    records: list = field(repr=False)

    def mean(self) -> Pair:
        """Mean over replicates, ``(icl, idg)``."""
        return Pair(float(np.mean(self.icl)), float(np.mean(self.idg)))

    def sem(self) -> Pair:
        """Standard error of the mean over replicates (:func:`simulate.stats.mean_sem`), ``(icl, idg)``;
        needs n_seeds >= 2."""
        if self.n_seeds < 2:
            raise ValueError("sem needs n_seeds >= 2 replicates")
        return Pair(mean_sem(self.icl)[1], mean_sem(self.idg)[1])

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
        options: Options | None = None, task_cov=None, test_cov=None, alpha_test=None,
        token_kernel=None, query: str = "independent", **option_kwargs) -> SimResult:
    """Simulate ``n_seeds`` replicates of the point ``(tau, alpha, kappa, rho, lam)`` at dimension ``d``.

    Replicate ``r`` is ``run_replicate(d, ..., seed=seed, replicate=r, options=options)``; see there
    for the model, the options and what each step does. Everything is validated once, before any
    work: the point, ``n_seeds``, ``seed`` and the options.
    """
    options = make_options(options, **option_kwargs)
    n_seeds = check_int("n_seeds", n_seeds, 1)
    seed = check_int("seed", seed, 0)
    point, solver, law, kern = check_point(d, tau, alpha, kappa, rho, lam, options, task_cov=task_cov,
                                           test_cov=test_cov, alpha_test=alpha_test, token_kernel=token_kernel,
                                           query=query)
    records = [_replicate(point, solver, options, seed, r, law, kern) for r in range(n_seeds)]
    timings = {key: float(sum(rec["seconds_" + key] for rec in records))
               for key in ("sample", "solve", "errors")}
    return SimResult(**asdict(point), seed=seed, n_seeds=n_seeds, solver=solver, options=options,
                     icl=np.array([rec["icl"] for rec in records]),
                     idg=np.array([rec["idg"] for rec in records]),
                     timings=timings, records=records)
