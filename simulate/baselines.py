"""Finite-d Monte Carlo of the Bayes baselines the paper compares linear attention with (THEORY.md §5).

Both estimators see one context ``(x_i, y_i)_{i<=l}``, ``x_i ~ N(0, I_d/d)``, ``y_i = <x_i, w> + eps_i``,
``eps_i ~ N(0, rho)``, ``l = round(alpha d)`` (:func:`simulate._sizes.context_length`), and predict
``y_{l+1}`` by ``<x_{l+1}, w_hat>``. Given ``w_hat`` the expectation over the query is exact,
``E (y_{l+1} - <x_{l+1}, w_hat>)^2 = rho + |w - w_hat|^2 / d``, so the Monte Carlo averages only over
contexts (and tasks); each context contributes that conditional error (lower variance, same mean).

- ridge / Bayes for ``w ~ N(0, I_d)``: ``w_hat = (X^T X + rho I)^{-1} X^T y``, the posterior mean;
  ``rho = 0`` is the minimum-norm least-squares solution (the ``rho -> 0+`` limit).
- dMMSE: posterior mean under the prior uniform on the ``k = round(kappa d)`` training tasks,
  ``w_hat = sum_j p_j w_j``, ``p_j`` the softmax over j of ``-|y - X w_j|^2 / (2 rho)``, computed
  from residuals minus their minimum (log-sum-exp; no overflow for any ``rho > 0``); ``rho = 0`` is
  the hard argmin (the ``rho -> 0+`` limit). ICL error: fresh ``w ~ N(0, I_d)``; IDG error: ``w``
  uniform on the training tasks.

Contexts are processed in chunks of at most ``CHUNK_FLOATS`` float64 working values.
"""
from __future__ import annotations

import math
import numbers
import time
from typing import NamedTuple

import numpy as np

from simulate.seeding import stream
from asymptotics.params import check_scalar
from asymptotics.spectrum import ISOTROPIC
from simulate._sizes import check_d, check_memory, context_length, task_count
from simulate.stats import mean_sem

CHUNK_FLOATS = 1 << 22  # 32 MiB of float64 working memory per chunk


class Estimate(NamedTuple):
    """Monte Carlo mean, its standard error (ddof = 1) and the number of contexts."""

    mean: float
    sem: float
    n: int


class DMMSEErrors(NamedTuple):
    """dMMSE errors on new tasks (``icl``) and on the training tasks (``idg``), with sizes ``l``, ``k``."""

    icl: Estimate
    idg: Estimate
    l: int
    k: int


def _generator(rng) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool) and rng >= 0:
        return np.random.default_rng(int(rng))
    raise ValueError(f"rng must be a numpy.random.Generator or a seed (integer >= 0); got {rng!r}")


def _n_contexts(n) -> int:
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 2:
        raise ValueError(f"n_contexts must be an integer >= 2 (a standard error needs two); got {n!r}")
    return int(n)


def _estimate(errors: np.ndarray) -> Estimate:
    return Estimate(*mean_sem(errors), errors.size)


def _check_memory(who: str, d: int, l: int, n: int, floats_per_context: float, fixed_floats: float,
                  flops_per_context: float) -> None:
    """Refuse (``ValueError`` with the estimate, through :func:`simulate._sizes.check_memory`) a Monte
    Carlo run whose one chunk of contexts (:func:`_chunks`: at least one context, however large) and
    fixed arrays cannot fit, before anything is allocated."""
    per_chunk = max(1, CHUNK_FLOATS // max(1, int(floats_per_context))) * float(floats_per_context)
    memory = 8.0 * (per_chunk + fixed_floats + n)
    check_memory(memory, flops_per_context * n, f"{who} at d = {d}", f"l = {l} tokens per context, "
                 f"{n} contexts", "use a smaller alpha or d", stacklevel=4)


def _check_dmmse_memory(d: int, l: int, k: int, n: int) -> None:
    """The tasks, one chunk of contexts with its (l, k) residuals, twice (ICL and IDG contexts)."""
    _check_memory("dmmse_mc", d, l, 2 * n, l * (2.0 * k + d) + k, float(k) * d, 4.0 * l * d * k)


def _chunks(n: int, floats_per_context: int):
    size = max(1, CHUNK_FLOATS // max(1, floats_per_context))
    for start in range(0, n, size):
        yield start, min(size, n - start)


def _contexts(rng: np.random.Generator, w: np.ndarray, l: int, rho: float):
    """Tokens ``X`` (b, l, d) and labels ``y`` (b, l) for the task vectors ``w`` (b, d)."""
    b, d = w.shape
    x = rng.standard_normal((b, l, d)) / math.sqrt(d)
    noise = rng.standard_normal((b, l)) * math.sqrt(rho)
    return x, np.einsum("bld,bd->bl", x, w) + noise


def _ridge_estimate(x: np.ndarray, y: np.ndarray, rho: float) -> np.ndarray:
    """Posterior mean ``(X^T X + rho I)^{-1} X^T y = X^T (X X^T + rho I)^{-1} y`` per context.

    The smaller of the two systems is solved; for ``rho = 0`` both are the minimum-norm least-squares
    solution (Gaussian ``X`` has full rank ``min(l, d)`` almost surely).
    """
    b, l, d = x.shape
    if l < d:
        gram = x @ x.transpose(0, 2, 1) + rho * np.eye(l)
        return np.einsum("bld,bl->bd", x, np.linalg.solve(gram, y[:, :, None])[:, :, 0])
    gram = x.transpose(0, 2, 1) @ x + rho * np.eye(d)
    return np.linalg.solve(gram, np.einsum("bld,bl->bd", x, y)[:, :, None])[:, :, 0]


def ridge_mc(d, alpha, rho, n_contexts, rng) -> Estimate:
    """Monte Carlo test error of the ridge / Bayes posterior mean for ``w ~ N(0, I_d)`` at finite ``d``.

    THEORY.md §5; estimator ``w_hat = (X^T X + rho I)^{-1} X^T y`` (min-norm least squares at
    ``rho = 0``); per-context error ``rho + |w - w_hat|^2 / d`` (module docstring). Its
    ``d -> inf`` limit is the Marchenko–Pastur closed form ``rho (1 + g)``, ``g`` the positive root of
    ``rho g^2 + (rho + alpha - 1) g - 1 = 0`` (derived here; finite-d bias O(1/d)); at ``rho = 0`` the
    finite-d mean is exactly ``max(0, 1 - l/d)``.

    ``rng``: a ``numpy.random.Generator`` or an integer seed. Returns :class:`Estimate`.
    """
    d = check_d(d)
    l = context_length(d, alpha)
    rho = check_scalar("rho", rho)
    n = _n_contexts(n_contexts)
    rng = _generator(rng)
    m = min(l, d)  # the smaller Gram system: its matrix and its solve
    _check_memory("ridge_mc", d, l, n, 3.0 * l * d + 2.0 * m * m, 0.0, 2.0 * l * d * m + m ** 3 / 3)
    errors = np.empty(n)
    for start, b in _chunks(n, 3 * l * d):
        w = ISOTROPIC.sample(b, d, rng)
        x, y = _contexts(rng, w, l, rho)
        errors[start:start + b] = rho + np.sum((w - _ridge_estimate(x, y, rho)) ** 2, axis=1) / d
    return _estimate(errors)


def _dmmse_estimate(x: np.ndarray, y: np.ndarray, tasks: np.ndarray, rho: float) -> np.ndarray:
    """Posterior mean of ``w`` under the prior uniform on the rows of ``tasks``."""
    resid = np.sum((y[:, :, None] - x @ tasks.T) ** 2, axis=1)  # (b, k) = |y - X w_j|^2
    if rho == 0.0:
        return tasks[np.argmin(resid, axis=1)]
    with np.errstate(over="ignore"):  # a huge scaled gap means weight exp(-inf) = 0, as intended
        logw = -(resid - resid.min(axis=1, keepdims=True)) / (2.0 * rho)
    p = np.exp(logw)
    p /= p.sum(axis=1, keepdims=True)  # the best task has weight 1 before normalising: sum >= 1
    return p @ tasks


def dmmse_mc(d, alpha, kappa, rho, n_contexts, rng, tasks=None) -> DMMSEErrors:
    """Monte Carlo ICL and IDG errors of the dMMSE estimator at finite ``d`` (THEORY.md §5).

    Training tasks: ``k = round(kappa d)`` draws of ``N(0, I_d)`` from ``rng`` (first), or the rows of
    ``tasks`` (shape ``(k, d)``; then ``kappa`` must be None). Then ``n_contexts`` ICL contexts
    (fresh ``w ~ N(0, I_d)``), then ``n_contexts`` IDG contexts (``w`` uniform on the tasks). The
    per-context error is ``rho + |w - w_hat|^2 / d`` (module docstring).

    Regimes: ``kappa -> inf`` at fixed ``d`` recovers the ridge posterior mean (the empirical prior
    converges to ``N(0, I)``), so the ICL error decreases to :func:`ridge_mc`'s (ridge is Bayes-optimal
    for Gaussian tasks, so dMMSE's ICL error is never below it in expectation). With
    ``alpha d / rho`` large the posterior sits on the true training task: a wrong task ``j`` has
    log-weight about ``-l |w - w_j|^2 / (2 d rho) ~ -l / rho``, so the IDG error is ``rho`` up to
    ``O(k exp(-l / rho))``. ``kappa = inf`` is refused (that is :func:`ridge_mc`).

    ``rng``: a ``numpy.random.Generator`` or an integer seed. Returns :class:`DMMSEErrors`.
    """
    d = check_d(d)
    rho = check_scalar("rho", rho)
    n = _n_contexts(n_contexts)
    rng = _generator(rng)
    if tasks is None:
        if kappa is None:
            raise ValueError("give kappa (tasks are then drawn from rng) or tasks")
        l, k = context_length(d, alpha), task_count(d, kappa)
        if k is None:
            raise ValueError("kappa = inf makes the dMMSE prior Gaussian; use ridge_mc for that limit")
        _check_dmmse_memory(d, l, k, n)
        tasks = ISOTROPIC.sample(k, d, rng)
    else:
        if kappa is not None:
            raise ValueError("give either kappa or tasks, not both (tasks fixes k = len(tasks))")
        tasks = np.asarray(tasks, dtype=np.float64)
        if tasks.ndim != 2 or tasks.shape[1] != d or tasks.shape[0] < 1:
            raise ValueError(f"tasks must have shape (k, d) = (k, {d}) with k >= 1; got {tasks.shape}")
        if not np.all(np.isfinite(tasks)):
            raise ValueError("tasks must be finite")
        l = context_length(d, alpha)
        k = tasks.shape[0]
        _check_dmmse_memory(d, l, k, n)
    out = []
    for on_tasks in (False, True):
        errors = np.empty(n)
        for start, b in _chunks(n, l * (2 * k + d) + k):
            w = tasks[rng.integers(k, size=b)] if on_tasks else ISOTROPIC.sample(b, d, rng)
            x, y = _contexts(rng, w, l, rho)
            errors[start:start + b] = rho + np.sum((w - _dmmse_estimate(x, y, tasks, rho)) ** 2, axis=1) / d
        out.append(_estimate(errors))
    return DMMSEErrors(icl=out[0], idg=out[1], l=l, k=k)


def _check_unused(unused: dict, allowed: tuple, who: str) -> None:
    extra = sorted(set(unused) - set(allowed))
    if extra:
        raise ValueError(f"{who} does not take {extra}; it ignores only {list(allowed)}")
    for name, value in unused.items():
        check_scalar(name, value)


def _validate_ridge(d, alpha, rho, n_contexts=1000, **unused):
    _check_unused(unused, ("tau", "kappa", "lam"), "ridge_replicate")
    context_length(d, alpha), check_scalar("rho", rho), _n_contexts(n_contexts)


def ridge_replicate(d, alpha, rho, *, seed: int, replicate: int, n_contexts: int = 1000, **unused) -> dict:
    """:func:`ridge_mc` as a :func:`simulate.sweep` runner; its stream is
    :func:`simulate.seeding.stream` of ``(seed, (d, alpha, rho), replicate)``.

    Grid parameters it does not depend on (``tau``, ``kappa``, ``lam``) are accepted and ignored,
    so the simulator's grid can be reused. Ridge ignores the training tasks, which are themselves
    ``N(0, I)`` draws, so its IDG error equals its ICL error: both columns hold the one estimate.
    """
    _validate_ridge(d, alpha, rho, n_contexts, **unused)
    t0 = time.perf_counter()
    point = {"d": check_d(d), "alpha": check_scalar("alpha", alpha), "rho": check_scalar("rho", rho)}
    est = ridge_mc(d, alpha, rho, n_contexts, stream(seed, replicate, point))
    return {"icl": est.mean, "idg": est.mean, "icl_sem": est.sem, "idg_sem": est.sem,
            "l": context_length(d, alpha), "k": None, "n": None, "n_contexts": est.n,
            "solver": "ridge-mc", "seconds": time.perf_counter() - t0}


ridge_replicate.validate = _validate_ridge


def _validate_dmmse(d, alpha, kappa, rho, n_contexts=1000, **unused):
    _check_unused(unused, ("tau", "lam"), "dmmse_replicate")
    if math.isinf(check_scalar("kappa", kappa)):
        raise ValueError("kappa = inf makes the dMMSE prior Gaussian; use ridge_replicate for that limit")
    context_length(d, alpha), task_count(d, kappa), check_scalar("rho", rho), _n_contexts(n_contexts)


def dmmse_replicate(d, alpha, kappa, rho, *, seed: int, replicate: int, n_contexts: int = 1000,
                    **unused) -> dict:
    """:func:`dmmse_mc` as a :func:`simulate.sweep` runner; its stream is :func:`simulate.seeding.stream`
    of ``(seed, (d, alpha, kappa, rho), replicate)`` and each replicate draws its own training tasks.
    ``tau`` and ``lam`` are accepted and ignored."""
    _validate_dmmse(d, alpha, kappa, rho, n_contexts, **unused)
    t0 = time.perf_counter()
    point = {"d": check_d(d), "alpha": check_scalar("alpha", alpha), "kappa": check_scalar("kappa", kappa),
             "rho": check_scalar("rho", rho)}
    res = dmmse_mc(d, alpha, kappa, rho, n_contexts, stream(seed, replicate, point))
    return {"icl": res.icl.mean, "idg": res.idg.mean, "icl_sem": res.icl.sem, "idg_sem": res.idg.sem,
            "l": res.l, "k": res.k, "n": None, "n_contexts": res.icl.n, "solver": "dmmse-mc",
            "seconds": time.perf_counter() - t0}


dmmse_replicate.validate = _validate_dmmse
