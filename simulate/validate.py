"""Validation as a product: simulate a ladder of dimensions and extrapolate to ``d = inf``.

:func:`validate` simulates one parameter point at every ``d`` of a ladder (``n_seeds`` replicates
each), fits the means against ``1/d`` by weighted least squares and compares the intercept with the
asymptotic theory (:func:`asymptotics.e_icl` / :func:`asymptotics.e_idg`). :func:`extrapolate` is
the fit on its own, a pure numpy function of ``(d, mean, sem)`` (testable on synthetic ladders).

Why ``1/d``: finite-d errors sit above the limit by roughly ``c/d`` (THEORY.md section 6); near the
ridgeless interpolation peak the expansion runs in ``1/(d |tau - 1|)`` and a ``c2/d^2`` term
(``order=2``) is needed over a wide ladder.

Statistics (what ``se`` and ``z`` mean). The model ``mean(d) = e_inf + c1/d (+ c2/d^2)`` is fitted
with weights ``1/sem^2`` and the standard errors taken as known ("absolute sigma"): ``se`` is
``sqrt([(A^T W A)^-1]_00)``, not rescaled by the fit's chi-square, which is reported (``chi2``,
``dof``) so a misfit is visible rather than absorbed. With Gaussian replicates the sample mean and
sample variance are independent, so the weights do not bias the estimate. The sems are themselves
estimated from ``n_seeds`` replicates, so ``z = (estimate - theory)/se`` has heavier tails than a
normal, and each weight ``1/sem^2`` is itself noisy. Measured on synthetic Gaussian ladders, the
1-sigma interval covers 64.9% at 3 rungs x 8 seeds (about Student t with 7 degrees of freedom),
62.8% at 5 rungs x 8 seeds, 67% at 3 rungs x 16 seeds, against 68.3% with known sems
(``tests/test_validate.py`` checks the default ladder and the known-sem case). Replicates at
different ``d`` are independent (streams keyed by the point, :mod:`simulate.seeding`);
``common_random_numbers=True`` would correlate them and is refused.
"""
from __future__ import annotations

import inspect
import math
import time
from dataclasses import dataclass, field, fields

import numpy as np

from asymptotics.params import check_int, check_scalar
from simulate._sizes import check_d


# ----------------------------------------------------------------------------- the pure fit
@dataclass(frozen=True)
class Extrapolation:
    """Weighted least-squares extrapolation of finite-d means to ``1/d = 0`` (:func:`extrapolate`).

    ``estimate``: the fitted ``e_inf``; ``se``: its standard error from the fit; ``theory``: the
    asymptotic value compared with (NaN if none); ``z = (estimate - theory)/se``; ``chi2``: the
    weighted residual sum of squares, on ``dof = (number of d) - (order + 1)`` degrees of freedom
    (``dof = 0``: an exact fit, no goodness-of-fit information); ``coef``: ``(e_inf, c1, ...)`` of
    ``e_inf + c1/d + c2/d^2 + ...``; ``cov``: their covariance matrix; ``order``: the highest power
    of ``1/d``.
    """

    estimate: float
    se: float
    theory: float
    z: float
    chi2: float
    dof: int
    order: int
    coef: tuple
    cov: np.ndarray = field(repr=False)

    def predict(self, x):
        """The fitted curve at ``x = 1/d`` (array-like), and its standard error (both arrays)."""
        x = np.asarray(x, dtype=np.float64)
        basis = np.stack([x ** j for j in range(self.order + 1)], axis=-1)
        value = basis @ np.asarray(self.coef)
        var = np.einsum("...i,ij,...j->...", basis, self.cov, basis)
        return value, np.sqrt(np.maximum(var, 0.0))

    def as_dict(self, prefix: str = "") -> dict:
        """``estimate, se, theory, z, chi2, dof`` (names prefixed with ``prefix``), for tables."""
        return {f"{prefix}{k}": getattr(self, k) for k in ("estimate", "se", "theory", "z", "chi2", "dof")}


def _check_order(order) -> int:
    return check_int("order", order, 1)


def extrapolate(d, mean, sem, *, order: int = 1, theory=None) -> Extrapolation:
    """Fit ``mean(d) = e_inf + sum_k c_k/d^k`` (``k`` from 1 to ``order``) by weighted least squares
    (weights ``1/sem^2``) and return the :class:`Extrapolation` to ``1/d = 0``.

    ``d``: the dimensions (distinct, each >= 2, at least ``order + 1`` of them); ``mean``, ``sem``:
    the mean at each ``d`` and its standard error (finite, ``sem > 0``). ``theory``: the value the
    intercept is compared with (``z``), or None. Pure numpy; no simulation.
    """
    order = _check_order(order)
    d_arr = np.asarray(d, dtype=np.float64).ravel()
    mean = np.asarray(mean, dtype=np.float64).ravel()
    sem = np.asarray(sem, dtype=np.float64).ravel()
    if not d_arr.size == mean.size == sem.size:
        raise ValueError(f"d, mean and sem must have the same length; "
                         f"got {d_arr.size}, {mean.size}, {sem.size}")
    for v in d_arr:
        check_d(float(v))
    n_distinct = np.unique(d_arr).size
    if n_distinct != d_arr.size:
        raise ValueError(f"d must be distinct dimensions (average replicates per d first); "
                         f"got {d_arr.tolist()}")
    if n_distinct < 2:
        raise ValueError(f"d needs at least 2 distinct dimensions to extrapolate in 1/d; "
                         f"got {d_arr.tolist()}")
    if n_distinct < order + 1:
        raise ValueError(f"order={order} needs at least {order + 1} distinct d (one per coefficient); "
                         f"got {n_distinct}")
    if not np.all(np.isfinite(mean)):
        raise ValueError(f"mean must be finite; got {mean.tolist()}")
    if not np.all(np.isfinite(sem) & (sem > 0)):
        raise ValueError(f"sem must be finite and > 0 (at least 2 distinct replicates per d); "
                         f"got {sem.tolist()}")
    x = 1.0 / d_arr
    basis = np.stack([x ** j for j in range(order + 1)], axis=1)
    a = basis / sem[:, None]
    b = mean / sem
    q, r = np.linalg.qr(a)  # A = QR, (A^T A)^-1 = R^-1 R^-T: better conditioned than the normal equations
    coef = np.linalg.solve(r, q.T @ b)
    r_inv = np.linalg.solve(r, np.eye(order + 1))
    cov = r_inv @ r_inv.T
    resid = b - a @ coef
    estimate, se = float(coef[0]), float(math.sqrt(cov[0, 0]))
    th = math.nan if theory is None else float(theory)
    return Extrapolation(estimate=estimate, se=se, theory=th, z=(estimate - th) / se,
                         chi2=float(resid @ resid), dof=int(d_arr.size - order - 1), order=order,
                         coef=tuple(float(c) for c in coef), cov=cov)


# ----------------------------------------------------------------------------- simulate + fit
@dataclass(frozen=True)
class Validation:
    """A simulated d-ladder at one parameter point and its extrapolation to ``d = inf``
    (:func:`validate`).

    ``params``: ``tau, alpha, kappa, rho, lam``; ``d``: the ladder (sorted); ``n_seeds``, ``seed``,
    ``order``; ``rows``: one dict per d (``d, n_seeds, l, k, n, icl_mean, icl_sem, idg_mean,
    idg_sem, seconds``; ``seconds`` is compute time summed over replicates, cached or not);
    ``icl``, ``idg``: the :class:`Extrapolation` of each error; ``wall_seconds``: this call's wall
    time; ``n_computed``, ``n_cached``: replicates run now / read from the sweep cache;
    ``run_options``: the options forwarded to the simulator.
    """

    params: dict
    d: tuple
    n_seeds: int
    seed: int
    order: int
    rows: list
    icl: Extrapolation
    idg: Extrapolation
    wall_seconds: float
    n_computed: int
    n_cached: int
    run_options: dict = field(default_factory=dict)

    @property
    def table(self):
        """The per-d rows as a pandas DataFrame when pandas is installed, else the list of dicts."""
        try:
            import pandas as pd
        except ImportError:
            return [dict(r) for r in self.rows]
        return pd.DataFrame(self.rows)

    def summary(self) -> dict:
        """One flat row: the parameters, the ladder, and ``icl_estimate, icl_se, icl_theory, icl_z,
        icl_chi2, icl_dof`` and the same for ``idg`` (a grid of validations is a list of these)."""
        return {**self.params, "d": ",".join(str(v) for v in self.d), "n_seeds": self.n_seeds,
                **self.icl.as_dict("icl_"), **self.idg.as_dict("idg_"),
                "seconds": float(sum(r["seconds"] for r in self.rows))}

    def __repr__(self) -> str:
        p = ", ".join(f"{k}={v:g}" for k, v in self.params.items())
        lines = [f"Validation({p}; d={list(self.d)}, {self.n_seeds} seeds from seed={self.seed}, "
                 f"order={self.order})"]
        for name, e in (("e_ICL", self.icl), ("e_IDG", self.idg)):
            lines.append(f"  {name}: d->inf {e.estimate:.6g} +- {e.se:.2g}, theory {e.theory:.6g}, "
                         f"z = {e.z:+.2f}, chi2 = {e.chi2:.2f} on {e.dof} dof")
        return "\n".join(lines)


def _option_names() -> set:
    """What the sweep's default runner takes: :class:`simulate.Options` fields, ``options`` and the
    structured-task arguments (:data:`simulate.sweep.MODEL_OPTIONS`)."""
    from simulate.options import Options
    from simulate.sweep import MODEL_OPTIONS
    return {f.name for f in fields(Options)} | {"options"} | set(MODEL_OPTIONS)


def _theory_kwargs(func, run_options: dict) -> dict:
    """The run options the theory function also accepts (e.g. a task covariance), by name."""
    accepted = inspect.signature(func).parameters
    return {k: v for k, v in run_options.items() if k in accepted}


def _check_ladder(d) -> tuple:
    ds = [d] if np.ndim(d) == 0 else list(np.asarray(d).ravel().tolist())
    checked = sorted({check_d(v) for v in ds})
    if len(checked) < 2:
        raise ValueError(f"d needs at least 2 distinct dimensions (each an integer >= 2) to "
                         f"extrapolate in 1/d; got {d!r}")
    return tuple(checked)


def _check_ladder_has_a_limit(run_options: dict) -> None:
    """Refuse a power-law covariance with ``p >= 1``: the ladder has no ``d -> inf`` limit to compare.

    The simulator at ``d`` uses ``i^-p``, ``i = 1..d``, normalised to mean 1
    (:class:`asymptotics.spectrum.PowerLaw`); for ``p >= 1`` its largest eigenvalue
    ``d / sum_i i^-p`` grows like ``d/zeta(p)`` (``d/log d`` at ``p = 1``) and its law has no limit as
    ``d`` grows, while the theory uses the fixed ``n`` atoms of the law given. An extrapolation in
    ``1/d`` would compare two different laws (issue 19 reported ``z ~ -3``)."""
    from asymptotics.spectrum import PowerLaw, TestLaw

    for name in ("task_cov", "test_cov"):
        law = run_options.get(name)
        law = law.spectrum if isinstance(law, TestLaw) else law
        if isinstance(law, PowerLaw) and law.p >= 1:
            raise ValueError(
                f"{name} = power_law({law.p:g}) with p >= 1 has no d -> inf limit: the simulation at d "
                f"uses d eigenvalues i^-p of mean 1, whose largest grows like d (d/log d at p = 1), "
                f"while the theory uses the fixed n = {law.n} eigenvalues; a 1/d extrapolation would "
                f"compare different laws. Use p < 1, or compare at one d (simulate.run against the "
                f"theory with power_law(p, d))")


def validate(tau, alpha, kappa, rho, lam=0.0, *, d=(40, 60, 80), n_seeds: int = 8, seed: int = 0,
             order: int = 1, cache_dir=None, n_jobs: int = 1, progress: bool = False,
             **run_options) -> Validation:
    """Simulate the point ``(tau, alpha, kappa, rho, lam)`` at every ``d`` of the ladder and
    extrapolate ``e_ICL`` and ``e_IDG`` to ``d = inf`` (model ``e_inf + c1/d``; ``+ c2/d^2`` with
    ``order=2``), against the theory.

    Parameters
    ----------
    d : the dimensions (at least 2 distinct integers >= 2; sorted, duplicates merged).
    n_seeds : replicates per d (>= 2: each mean needs a standard error).
    seed : entropy of the streams; replicate r at dimension d is replicate r of
        ``simulate.run(d, ..., seed=seed)`` (streams keyed by the point, so adding a rung to the
        ladder or seeds to a rung leaves the others' numbers unchanged).
    order : highest power of ``1/d`` in the fit (needs ``order + 1`` distinct d).
    cache_dir, n_jobs, progress : the sweep's resumable cache, worker processes and progress bar
        (:func:`simulate.sweep`); with a cache a longer ladder computes only the new rungs.
    **run_options : forwarded unchanged to the simulator: :class:`simulate.Options` fields
        (``solver``, ``dtype``, ``normalize_tasks``, ... or ``options=``), the structured-task
        arguments (``task_cov``, ``test_cov``, ``alpha_test``) and the correlated-context ones
        (``token_kernel``, ``query``; a correlated query's e_IDG has no theory: its fit is reported
        with ``theory`` NaN) go through :func:`simulate.sweep`
        with the default runner (cache and engines work); anything else (an option
        ``simulate.run`` gains later) is passed verbatim to :func:`simulate.run` per d (then
        without ``cache_dir`` / ``n_jobs``). Options the theory functions also accept (by name)
        are passed to them too.

    Returns
    -------
    Validation
        The table per d and the extrapolations of both errors.

    Raises
    ------
    ValueError
        For fewer than 2 distinct d, d < 2, n_seeds < 2, ``order + 1`` more than the number of
        d, a power-law ``task_cov``/``test_cov`` with ``p >= 1`` (no ``d -> inf`` limit to
        extrapolate to), or any bad parameter or option (before any simulation).
    RuntimeError
        A failed replicate raises (a ``ConvergenceError`` as :func:`simulate.run` would, else
        ``RuntimeError``) rather than being dropped from the fit.
    """
    import asymptotics

    ladder = _check_ladder(d)
    n_seeds = check_int("n_seeds", n_seeds, 2)
    seed = check_int("seed", seed, 0)
    order = _check_order(order)
    if len(ladder) < order + 1:
        raise ValueError(f"order={order} needs at least {order + 1} distinct d (one per coefficient); "
                         f"got {len(ladder)}: {list(ladder)}")
    params = {"tau": check_scalar("tau", tau), "alpha": check_scalar("alpha", alpha),
              "kappa": check_scalar("kappa", kappa), "rho": check_scalar("rho", rho),
              "lam": check_scalar("lam", lam)}
    _check_ladder_has_a_limit(run_options)
    via_sweep = set(run_options) <= _option_names()
    if via_sweep:
        from simulate.options import make_options
        from simulate.sweep import MODEL_OPTIONS
        plain = {k: v for k, v in run_options.items() if k not in MODEL_OPTIONS}
        common = make_options(**plain).common_random_numbers  # also validates the options
    else:
        opt = run_options.get("options")
        common = bool(run_options.get("common_random_numbers", getattr(opt, "common_random_numbers", False)))
    if common:
        raise ValueError("common_random_numbers=True correlates the rungs of the ladder, which the "
                         "fit treats as independent; validate with independent streams")
    if not via_sweep and (cache_dir is not None or n_jobs != 1):
        extra = sorted(set(run_options) - _option_names())
        raise ValueError(f"cache_dir and n_jobs need simulate.Options fields only; run option(s) "
                         f"{extra} go to simulate.run directly, uncached and serial")
    t0 = time.perf_counter()
    if via_sweep:
        rows, n_computed = _ladder_via_sweep(params, ladder, n_seeds, seed, cache_dir, n_jobs,
                                             progress, run_options)
    else:
        rows, n_computed = _ladder_via_run(params, ladder, n_seeds, seed, progress, run_options)
    wall = time.perf_counter() - t0
    p = tuple(params.values())
    fits = {}
    for name, func in (("icl", asymptotics.e_icl), ("idg", asymptotics.e_idg)):
        # e_IDG of a correlated query is not derived (docs/THEORY.md 9.3): extrapolated, no theory.
        no_theory = name == "idg" and run_options.get("query") == "correlated"
        theory = None if no_theory else float(func(*p, **_theory_kwargs(func, run_options)))
        fits[name] = extrapolate([r["d"] for r in rows], [r[f"{name}_mean"] for r in rows],
                                 [r[f"{name}_sem"] for r in rows], order=order, theory=theory)
    return Validation(params=params, d=ladder, n_seeds=n_seeds, seed=seed, order=order, rows=rows,
                      icl=fits["icl"], idg=fits["idg"], wall_seconds=wall, n_computed=n_computed,
                      n_cached=len(ladder) * n_seeds - n_computed, run_options=dict(run_options))


def _row(d, n_seeds, l, k, n, icl, idg, seconds) -> dict:
    from simulate.stats import mean_sem

    row = {"d": int(d), "n_seeds": int(n_seeds), "l": int(l), "k": None if k is None else int(k),
           "n": None if n is None else int(n)}
    for name, values in (("icl", icl), ("idg", idg)):
        row[f"{name}_mean"], row[f"{name}_sem"] = mean_sem(values)
    row["seconds"] = float(seconds)
    return row


def _raise_failed(errors: list, total: int):
    from asymptotics import ConvergenceError

    first = errors[0]
    msg = (f"{len(errors)} of {total} replicates failed (a validation fits all of them or none); "
           f"first at d={first['d']}, replicate {first['replicate']}: {first['error']}")
    raise (ConvergenceError if first["error"].startswith("ConvergenceError") else RuntimeError)(msg)


def _ladder_via_sweep(params, ladder, n_seeds, seed, cache_dir, n_jobs, progress, run_options):
    from simulate.options import make_options
    from simulate.sweep import sweep

    from simulate.sweep import MODEL_OPTIONS

    model = {k: v for k, v in run_options.items() if k in MODEL_OPTIONS}
    opts = make_options(**{k: v for k, v in run_options.items() if k not in MODEL_OPTIONS})
    res = sweep(params, d=list(ladder), n_seeds=n_seeds, seed=seed, cache_dir=cache_dir,
                n_jobs=n_jobs, progress=progress, options={**opts.as_dict(), **model} if model else opts)
    if res.errors:
        _raise_failed(res.errors, len(res.records))
    rows = []
    for dd in ladder:
        recs = [r for r in res.records if r["d"] == dd]
        recs.sort(key=lambda r: r["replicate"])
        rows.append(_row(dd, n_seeds, recs[0]["l"], recs[0]["k"], recs[0]["n"],
                         [r["icl"] for r in recs], [r["idg"] for r in recs],
                         sum(r["seconds"] for r in recs)))
    return rows, int(res.metadata["n_computed"])


def _ladder_via_run(params, ladder, n_seeds, seed, progress, run_options):
    import sys

    from simulate.core import run

    rows = []
    for i, dd in enumerate(ladder):
        if progress:
            print(f"validate: d = {dd} ({i + 1}/{len(ladder)})", file=sys.stderr, flush=True)
        res = run(dd, *params.values(), n_seeds=n_seeds, seed=seed, **run_options)
        rows.append(_row(dd, n_seeds, res.l, res.k, res.n, res.icl, res.idg,
                         sum(res.timings.values())))
    return rows, len(ladder) * n_seeds
