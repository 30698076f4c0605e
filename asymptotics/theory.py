"""Asymptotic ICL and IDG test errors of linear attention for every (tau, alpha, kappa, rho, lambda).

Formulas: THEORY.md §4, "General ridge, both errors" (derived here; the ridgeless case is checked
against the paper's Result 1 in ``asymptotics.ridgeless``, against an independent mpmath evaluation in
``asymptotics.highprec`` and against finite-d simulation in ``simulate``). With ``q = (1+rho)/alpha``,
``m`` the Marchenko–Pastur transform (``asymptotics.stieltjes``) and ``F2 = -m'``, the effective ridge
``nu >= 0`` solves

    h(nu) := nu (1 - (1 - nu m(q+nu))/tau) = lam.

``h`` is convex with ``h(0) = 0`` and ``h'(nu) = 1 - T4(nu)/tau``, so the root is unique: ``nu = 0`` for
``lam = 0, tau >= 1``; for ``lam = 0, tau < 1`` the positive root, which has the closed form

    tau nu^2 - B nu - C = 0,  B = (1-tau)(q+1) - (1-tau) tau/kappa,  C = q (1-tau)^2/kappa

(obtained by eliminating ``m`` with its quadratic; THEORY.md §4, derived in ``asymptotics.symbolic``);
for ``lam > 0`` a vectorised Newton iteration started above the root (at the root for ``R = I``, an
upper bound by Jensen's inequality) decreases monotonically to it (convexity), safeguarded by bisection.

``e_icl``/``e_idg`` take a lean path that computes only the error asked for and the convergence
check; ``solve`` computes every intermediate with the same formulas (so the two agree bitwise).

Singular points, handled on purpose:

- ridgeless ``tau = 1``: the interpolation peak; both errors are ``+inf`` (``tau - T4 = 0``).
- ``tau = inf``: ``nu = lam``, ``e_IDG = sigma2 + B5`` and the ``e_IDG/tau`` term of ``e_ICL`` vanishes.
- ``kappa = inf``: ``m = 1/(1+z)`` (infinite task diversity; then ``e_ICL = e_IDG``).
- ``kappa -> 0`` and ``rho = 0`` need nothing special: all formulas stay finite and well conditioned.

Accuracy: every average over the task spectrum is evaluated as a sum of positive terms
(:meth:`asymptotics.spectrum.TaskSpectrum.moments`; e.g. ``sigma2 + B5 = rho + q T1 + nu b P2`` and ``e_ICL = rho + b^2 F2 + q T2 +
(1+q) T3 e_IDG/tau``) and ``tau - 1`` is formed exactly, so the float64 results agree with the
independent mpmath evaluation (``asymptotics.highprec``) to <= 1e-12 relative over 12 decades of
every parameter, including ``tau = 1 -+ 1e-12`` next to the peak (tests/test_highprec.py).
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from functools import partial

import numpy as np

from asymptotics.params import (PARAMS, Range, as_real_scalar, broadcast_params, check, check_alpha_test,
                                check_params, in_range)
from asymptotics.kernel import KernelStats, check_query, resolve_kernel
from asymptotics.spectrum import ISOTROPIC, TaskSpectrum, resolve
from asymptotics.stieltjes import b_plus_sqrt


class ConvergenceError(RuntimeError):
    """An iterative solve did not reach its tolerance: the effective-ridge fixed point here, the
    simulator's conjugate gradients (:mod:`simulate.solvers`) there. The message gives the residual
    actually measured; no unconverged number is ever returned as an answer."""


#: Defaults of the effective-ridge solve (relative step tolerance of Newton, iteration cap).
RTOL = 4 * np.finfo(float).eps
MAXITER = 100

_EPS, _TINY = np.finfo(float).eps, np.finfo(float).tiny


@dataclass(frozen=True)
class TheoryResult:
    """Every intermediate of the asymptotic theory at each (broadcast) parameter point.

    Arrays share the broadcast shape of the inputs; for scalar inputs every field is a Python
    ``float`` (``converged`` a ``bool``), as :func:`e_icl` returns a float. ``converged`` and
    ``residual`` (relative, ``|h(nu) - lam| / max(lam, nu, tiny)``) are per point; ``iterations`` is
    the number of Newton steps taken by the slowest point (0 when closed forms covered everything).
    Where ``converged`` is False the errors are NaN: use ``e_icl``/``e_idg`` to get an exception instead.

    ``e_icl = e_bias + e_align`` (docs/THEORY.md, structured tasks): ``e_bias`` depends on the test
    covariance only through ``tr C_te/d``; ``e_align = (1/d) tr C_te K`` is linear in it, ``K`` the
    per-direction error pretraining left. ``alignment = e_align / e_align(isotropic test of the same
    trace)``: 1 for ``C_te`` proportional to ``I``, below 1 when the test tasks lie where pretraining
    learned best, above 1 when they lie where it learned least. For the default (isotropic) task law
    and test, ``e_icl`` is computed by the isotropic formula and ``e_bias + e_align`` equals it to rounding.
    ``tau``, ..., ``lam`` are the inputs; with ``alpha_test`` the ``e_idg`` and ``e_icl`` are at the
    test context length ``alpha_test d``.

    Correlated contexts (docs/THEORY.md section 9): ``alpha_eff = alpha (t + rho)/(tk2 t + rho)``
    (``t = tr C_tr/d``) is the i.i.d. context length with the same noise scale ``q``; every field is
    that of the i.i.d. model at ``alpha_eff`` (``q``, ``nu``, ... included). ``query_gain`` is the
    change of ``e_icl`` from a query correlated with the context (``<= 0``; 0 for an independent
    query); ``e_icl`` includes it, ``e_icl - query_gain`` is the independent-query error.
    """

    tau: np.ndarray
    alpha: np.ndarray
    kappa: np.ndarray
    rho: np.ndarray
    lam: np.ndarray
    q: np.ndarray
    nu: np.ndarray
    b: np.ndarray
    m_q: np.ndarray
    m_b: np.ndarray
    F2_b: np.ndarray
    sigma2: np.ndarray
    T1: np.ndarray
    T2: np.ndarray
    T3: np.ndarray
    T4: np.ndarray
    B5: np.ndarray
    e_icl: np.ndarray
    e_idg: np.ndarray
    e_bias: np.ndarray
    e_align: np.ndarray
    alignment: np.ndarray
    alpha_eff: np.ndarray
    query_gain: np.ndarray
    converged: np.ndarray
    residual: np.ndarray
    iterations: int

    def __repr__(self) -> str:
        n = np.size(self.tau)
        ok = int(np.count_nonzero(self.converged))
        if n == 1:
            keys = ("tau", "alpha", "kappa", "rho", "lam", "q", "nu", "sigma2", "e_icl", "e_idg")
            body = ", ".join(f"{k}={float(np.ravel(getattr(self, k))[0]):.10g}" for k in keys)
            return f"TheoryResult({body}, converged={bool(np.all(self.converged))}, " \
                   f"residual={float(np.max(self.residual)):.1e})"
        return (f"TheoryResult(shape={np.shape(self.tau)}, converged={ok}/{n}, "
                f"max residual={float(np.max(self.residual)):.1e}, iterations={self.iterations})")

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _any_positive(lam) -> bool:
    """``(lam > 0).any()`` for ``lam >= 0``, one reduction cheaper."""
    return lam.size > 0 and lam.max() > 0


def _h(nu, m, T1, q, tau, tm1):
    """``h(nu) = nu (tau - (1 - nu m))/tau`` with ``1 - nu m = T1 + q m`` (a positive sum).

    For ``tau >= 1/2`` it is formed as ``(tau - 1) + nu m`` (``tm1 = tau - 1`` exact, a positive sum
    for ``tau >= 1``); for small ``tau`` as ``tau - (T1 + q m)``, whose terms are both O(tau) at the
    root, so the root stays well conditioned (the other form cancels terms of size 1 there).
    """
    large = nu * m
    large += tm1
    small = q * m
    small += T1
    np.subtract(tau, small, out=small)
    h = np.where(tau >= 0.5, large, small)
    h *= nu
    h /= tau
    return h


def _newton_start(tau, q, lam, mean=1.0):
    """An upper bound on the root of ``h(nu) = lam``, close to it: Newton's starting point.

    ``1 - nu m(q+nu) = E[(l+q)/(l+q+nu)] <= (1+q)/(1+q+nu)`` (Jensen, ``E l = 1``), so ``h`` lies above
    ``g(nu) = nu (1 - (1+q)/(tau (1+q+nu)))``, whose root (the ``R = I`` case) bounds the root of ``h``
    (for a structured task law ``1`` is its mean eigenvalue ``tr C/d``, ``mean`` here):
    the positive root of ``tau x^2 - B x - C = 0``, ``B = lam tau + (1-tau)(1+q)``, ``C = lam tau (1+q)``,
    in a form without cancellation for either sign of ``B`` (as in ``Isotropic.ridgeless_nu``), raised
    by 1e-8 relative to stay above the root after rounding. The cruder bounds ``lam + (1+q)/tau``
    and, for ``tau > 1``, ``lam/(1 - 1/tau)`` cap it and replace it where the quadratic overflows.
    """
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        B = lam * tau + (1.0 - tau) * (mean + q)
        E = 4.0 * tau * (lam * tau * (mean + q))
        root, _ = b_plus_sqrt(B, E)
        root /= 2.0 * tau
        crude = lam + (mean + q) / tau
        over = tau > 1
        if over.any():
            crude = np.where(over, np.minimum(crude, lam / (1.0 - 1.0 / tau)), crude)
    start = np.fmin(root * (1.0 + 1e-8), crude)
    ok = start >= lam  # the root is >= lam; False where overflow left 0 or NaN
    return start if ok.all() else np.where(ok, start, crude)


def _effective_ridge(tau, q, kappa, lam, rtol, maxiter, spectrum):
    """Vectorised solve of ``h(nu) = lam``; returns ``nu`` and the Newton iteration count.

    Convergence is judged afterwards by :func:`_finish`, for closed-form and Newton points alike.
    """
    closed = spectrum.closed_form_ridgeless
    if closed and not _any_positive(lam):
        return spectrum.ridgeless_nu(tau, q, kappa), 0
    ridge = lam > 0
    # nu = lam at tau = inf; the other ridge points are overwritten by Newton below. Without a closed
    # form, ridgeless points with tau < 1 go to Newton too (h(nu) = 0, h convex, h'(0) < 0: one
    # positive root, approached from the Jensen bound above it like every other point).
    if closed:
        nu = lam.copy() if ridge.all() else np.where(ridge, lam, spectrum.ridgeless_nu(tau, q, kappa))
        newton = ridge & np.isfinite(tau)
    else:
        nu = lam.copy()
        newton = (ridge & np.isfinite(tau)) | (~ridge & (tau < 1))
    iterations = 0
    if not newton.any():
        return nu, iterations
    idx = np.flatnonzero(newton)
    t, qq, kk, ll = (tau, q, kappa, lam) if idx.size == tau.size else (tau[idx], q[idx], kappa[idx], lam[idx])
    x = hi = _newton_start(t, qq, ll, spectrum.mean)
    # From the right a convex h decreases monotonically to the root: every iterate has f > 0 (f <= 0
    # means the root is reached to rounding), so the bracket is (0, last x with f > 0]. That needs an
    # accurate slope tau h' = tau - T4, formed like h: as (tau - 1) + nu G4 for tau >= 1/2 and as
    # tau - T4 below (T4 = O(tau) there; the first form would cancel terms of size 1).
    # Working arrays hold only the still-active points (compacted whenever some finish).
    while idx.size and iterations < maxiter:
        iterations += 1
        mo = spectrum.moments(qq + x, qq, kk)
        large = t >= 0.5
        f = x * np.where(large, (t - 1.0) + x * mo.m, t - (mo.T1 + qq * mo.m)) / t - ll
        above = f > 0
        hi = x if above.all() else np.where(above, x, hi)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            slope = np.where(large, (t - 1.0) + x * mo.G4, t - mo.T4)  # tau h'(x)
            x_new = x - f * t / slope
            far = ~(x_new >= 0.5 * x)
            if far.any():
                # A long step cancels in x - f/h'; the same iterate as a positive sum
                # (h = x k, h' = k + x k', k' = T3/tau): x_new = (lam tau + x^2 T3)/(tau h').
                x_new = np.where(far, (ll * t + x * x * mo.T3) / slope, x_new)
        bad = ~(x_new > 0) | (x_new > hi) | ~np.isfinite(x_new)
        if bad.any():
            x_new = np.where(bad, 0.5 * hi, x_new)
        done = (np.abs(x_new - x) <= rtol * np.abs(x_new)) | (f <= 0)
        if done.any():
            nu[idx[done]] = np.where(f <= 0, x, x_new)[done]
            keep = np.flatnonzero(~done)
            idx, x_new, hi, t, qq, kk, ll = (a[keep] for a in (idx, x_new, hi, t, qq, kk, ll))
        x = x_new
    nu[idx] = x  # not converged within maxiter: flagged by the residual check below
    return nu, iterations


def solve(tau, alpha, kappa, rho, lam=0.0, *, task_cov=None, test_cov=None, alpha_test=None,
          token_kernel=None, query: str = "independent", rtol: float = RTOL,
          maxiter: int = MAXITER) -> TheoryResult:
    """Solve the deterministic-equivalent equations and return every intermediate.

    Parameters broadcast against each other: ``0 < tau <= inf`` (``n/d^2``; inf is the
    ``tau -> inf`` limit), ``0 < alpha < inf`` (``l/d``), ``0 < kappa <= inf`` (``k/d``; inf is
    infinite task diversity), ``rho >= 0`` (label-noise variance), ``lam >= 0`` (ridge; 0 is the
    ridgeless limit ``lam -> 0+``). See the module docstring for formulas and singular points.

    Structured tasks (docs/THEORY.md): ``task_cov`` is the covariance ``C_tr`` of the pretraining
    tasks, ``test_cov`` that of the test tasks ``C_te`` (each None = identity; a 1-D array of
    eigenvalues, a 2-D symmetric PSD matrix, or a named law from :mod:`asymptotics.spectrum` such as
    ``power_law(0.9)``; see :func:`asymptotics.spectrum.resolve`), ``alpha_test`` the test context
    length per dimension (None = ``alpha``; broadcasts with the other parameters).

    Correlated contexts (docs/THEORY.md section 9): ``token_kernel`` is a
    :class:`asymptotics.kernel.TokenKernel` (``exponential(xi)``, ``power_law(gamma)``, ``iid()``)
    or an ``(l+1) x (l+1)`` correlation matrix (query last; :func:`asymptotics.kernel.from_matrix`);
    None = independent tokens. ``query='independent'`` (default; every ``lam``, task and test
    covariances, ``alpha_test``: the i.i.d. theory at the effective length ``alpha_eff``) or
    ``'correlated'`` (the query is the next token of the sequence; ridgeless isotropic tasks only,
    ``ValueError`` elsewhere). ``alpha_eff`` and ``query_gain`` are reported.
    """
    rtol = as_real_scalar("rtol", rtol)
    if not np.finfo(float).eps <= rtol < 1:
        raise ValueError(f"rtol must satisfy eps <= rtol < 1 (eps = {np.finfo(float).eps:.3g}); got {rtol!r}")
    if isinstance(maxiter, bool) or not isinstance(maxiter, (int, np.integer)) or maxiter < 1:
        raise ValueError(f"maxiter must be an integer >= 1; got {maxiter!r}")
    stats, correlated = _kernel_stats(token_kernel, query, lam, task_cov, test_cov, alpha_test, "solve")
    tasks, params = _structured_inputs(tau, alpha, kappa, rho, lam, task_cov, test_cov, alpha_test,
                                       1.0 if stats is None else stats.tk2)
    kernel = partial(_solve_flat, tasks=tasks, stats=stats, correlated=correlated)
    out = _evaluate(params, rtol, maxiter, kernel, [f.name for f in fields(TheoryResult)][:-1],
                    spectrum=tasks.spectrum)
    del out["unconverged"]
    if np.ndim(out["tau"]) == 0:  # scalar inputs: Python numbers, as e_icl/e_idg return a float
        out = {k: v if k == "iterations" else bool(v) if k == "converged" else float(v)
               for k, v in out.items()}
    return TheoryResult(**out)


#: Structured tasks (a general task law) are evaluated for ``kappa >= 1e-30`` and ``lam <= 1e30``:
#: beyond, products in the scalar root and the test sums leave float64 (the isotropic closed forms
#: reach further; asymptotics.params.RANGES).
STRUCTURED_RANGES = {"kappa": Range(1e-30, True, np.inf, True, "1e-30 <= kappa <= inf for structured tasks"),
                     "lam": Range(0.0, True, 1e30, False, "0 <= lam <= 1e30 for structured tasks")}


def _check_noise_scale(params, tasks, tk2=1.0):
    """``q = (tr C_tr/d + rho)/alpha`` and ``q_te = (tr C_te/d + rho)/alpha_test`` at least 1e-100
    (the smallest ``q`` of the isotropic model in ``RANGES``); below, the float64 sums underflow.
    With a token kernel ``tr C/d`` is multiplied by ``tk2`` (docs/THEORY.md section 9)."""
    tau, alpha, kappa, rho, lam, at = params
    for q, names in (((tk2 * tasks.spectrum.mean + rho) / alpha, "task_cov, rho and alpha"),
                     ((tk2 * tasks.test_trace + rho) / at, "test_cov, rho and alpha_test")):
        if q.size and q.min() < 1e-100:
            raise ValueError(f"{names} give q = (tr C/d + rho)/alpha = {float(q.min()):.3g}; structured tasks "
                             "need q >= 1e-100 (the float64 range of the theory)")


def _structured_inputs(tau, alpha, kappa, rho, lam, task_cov, test_cov, alpha_test, tk2=1.0):
    """Everything checked for the structured path: ``(tasks, params)``, ``params`` the five model
    parameters and ``alpha_test`` (``alpha`` when None) broadcast to six arrays; a general task law
    also within :data:`STRUCTURED_RANGES`, and the noise scales ``q``, ``q_te`` in range."""
    tasks = resolve(task_cov, test_cov)
    params = check_params(tau, alpha, kappa, rho, lam)
    if tasks.spectrum is not ISOTROPIC:
        for name, r in STRUCTURED_RANGES.items():
            check(name, params[PARAMS.index(name)], low=r.low, low_ok=r.low_ok, high=r.high, inf_ok=r.inf_ok,
                  allowed=r.text)
    params = (*params, params[1]) if alpha_test is None else \
        tuple(np.broadcast_arrays(*params, check_alpha_test(alpha_test)))
    _check_noise_scale(params, tasks, tk2)
    return tasks, params


def _kernel_stats(token_kernel, query, lam, task_cov, test_cov, alpha_test, field):
    """``(stats, correlated)``: the kernel statistics the theory uses (None for independent tokens,
    the default path) and whether the query is correlated with a non-trivial kernel. Refuses, with a
    ``ValueError`` saying why, what docs/THEORY.md section 9 does not derive: the correlated query with
    ``lam > 0``, with task or test covariances or ``alpha_test``, and for ``e_idg``."""
    query = check_query(query)
    kern = resolve_kernel(token_kernel)
    if query == "correlated":
        where = None
        if field == "e_idg":
            where = "e_idg (the in-distribution error)"
        elif task_cov is not None or test_cov is not None or alpha_test is not None:
            where = "task_cov / test_cov / alpha_test"
        else:
            lam_arr = check("lam", lam)
            if lam_arr.size and lam_arr.max() > 0:
                where = "lam > 0"
        if where is not None:
            raise ValueError(f"query='correlated' is derived for ridgeless (lam = 0) isotropic e_icl only "
                             f"(docs/THEORY.md section 9.3); not for {where}. Use query='independent'")
    if kern is None or kern.is_iid:
        return None, False
    stats = kern.theory_stats(query)
    return stats, query == "correlated"


def query_gain_formula(tau_inv_den, alpha, rho, q, nu, b, m, F2, k0, k1):
    """The query gain as plain arithmetic (numpy arrays or sympy symbols alike; used by
    :func:`_query_gain` and by ``asymptotics.symbolic.prove_kernel_identities``): the change of the
    ridgeless isotropic ``e_ICL`` when the query is the next token of the sequence (docs/THEORY.md
    section 9.3; the closed form of the authors' research code, rewritten: a 2 x 2 structure in
    ``phi2 = k0/alpha``, ``phi1 = (k1 + rho k0)/alpha^2``). ``m = m(b)``, ``F2 = -m'(b)`` at
    ``b = q + nu`` of the independent-query model at ``alpha_eff``; ``tau_inv_den = 1/(tau - T4)``
    (0 at ``tau = inf``)."""
    phi2 = k0 / alpha
    phi1 = (k1 + rho * k0) / (alpha * alpha)
    M, Mp = m, -F2
    ts = b - phi2
    m1 = (M, phi2 * (1 - b * M))
    m2 = (1 - ts * M, phi2 * (1 - ts + b * ts * M))
    m3 = (M + ts * Mp, phi2 * (1 - b * M - ts * M - b * ts * Mp))
    a00, a01, a11 = -Mp, phi2 * (M + b * Mp), phi2 * phi2 * (1 - 2 * b * M - b * b * Mp)
    s00, s01, s11 = M, 1 + phi2 * (1 - b * M), -phi1 + phi2 * phi2 * (1 - b + b * b * M)
    det = s00 * s11 - s01 * s01
    Sm2 = ((s11 * m2[0] - s01 * m2[1]) / det, (s00 * m2[1] - s01 * m2[0]) / det)  # S m2, S = Sinv^-1
    m2Sm2 = m2[0] * Sm2[0] + m2[1] * Sm2[1]
    m2Sm3 = m3[0] * Sm2[0] + m3[1] * Sm2[1]
    m1Sm2 = m1[0] * Sm2[0] + m1[1] * Sm2[1]
    ASA = a00 * Sm2[0] ** 2 + 2 * a01 * Sm2[0] * Sm2[1] + a11 * Sm2[1] ** 2
    num = (m2Sm2 - nu * (ASA - 2 * m2Sm3) - 2 * phi2 * (nu * (M + b * Mp) + 1 - b * M)
           - phi2 * phi2 * (M - nu * Mp))
    Eq = num * tau_inv_den
    return (-2 * phi2 + 2 * phi2 * (ts + q) * M
            + (1 + q) * (Eq * (M + nu * Mp) + phi2 * (2 * b - phi2) * Mp + ASA - 2 * m2Sm3)
            + 2 * (1 + phi2) * m1Sm2 + (phi1 + 2 * phi2) * (1 - ts * M - m1Sm2) ** 2)


def _query_gain(tau, alpha, rho, q, nu, b, m, F2, E, k0, k1):
    """:func:`query_gain_formula` on arrays; 0 where ``E = e_IDG/tau`` is infinite (the ridgeless
    peak, where ``e_icl`` is ``inf`` anyway). Exactly 0 for ``k0 = k1 = 0``
    (``asymptotics.symbolic.prove_kernel_identities``)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        T4 = 1.0 - 2.0 * nu * m + nu * nu * F2
        inv = np.where(np.isinf(tau), 0.0, 1.0 / (tau - T4))
        gain = query_gain_formula(inv, alpha, rho, q, nu, b, m, F2, k0, k1)
        return np.where(np.isinf(E), 0.0, gain)


def _evaluate(params, rtol, maxiter, kernel, keys, spectrum: TaskSpectrum, *, raw=None):
    """Run ``kernel`` over cache-sized chunks of the flattened parameters; gather the fields ``keys``
    and, under ``unconverged``, :func:`_first_unconverged` over all points.

    With ``raw`` (the values as given) ``params`` are not yet range-checked: each chunk is, just
    before it is used (its data then already in cache), and a failure goes to :func:`check_params`,
    which raises the error for the values as given.
    """
    shape, size = params[0].shape, params[0].size
    step = max(min(size, _CHUNK), 1)
    # A parameter that is one value broadcast (no stride) is passed as one chunk-long array that
    # serves every chunk, instead of being copied out to the full size.
    const = [a.size > 0 and not any(a.strides) for a in params]
    flat = [np.full(step, a.flat[0]) if c else np.ravel(a) for a, c in zip(params, const)]
    if raw is not None and not all(in_range(k, a[:1]) for k, a, c in zip(PARAMS, flat, const) if c):
        check_params(*raw)
    out, iterations, unconverged = {}, 0, None
    for i in range(0, max(size, 1), step):
        n = min(step, size - i)
        chunk = [a[:n] if c else a[i:i + n] for a, c in zip(flat, const)]
        if raw is not None and not all(in_range(k, a) for k, a, c in zip(PARAMS, chunk, const) if not c):
            check_params(*raw)
        part = kernel(*chunk, rtol, maxiter, spectrum)
        iterations = max(iterations, part["iterations"])
        failed = _first_unconverged(part["converged"], part["residual"])
        if failed:
            first = unconverged[:2] if unconverged else (i + failed[0], failed[1])
            unconverged = (*first, failed[2] + (unconverged[2] if unconverged else 0))
        for k in keys:
            if k not in out:
                out[k] = np.empty(size, dtype=part[k].dtype)
            out[k][i:i + n] = part[k]
    out = {k: v.reshape(shape) for k, v in out.items()}
    out["iterations"] = iterations
    out["unconverged"] = unconverged
    return out


# Points per chunk: the ~110 elementwise passes of a chunk then run from cache (L2) instead of memory,
# while numpy's fixed cost per call stays small next to the work.
_CHUNK = 12288


def _finish(tau, rho, lam, ridge, q, nu, b, m_b, F2_b, T1, P2, T2, T3, icl=True, idg=True):
    """The convergence check of ``h(nu) = lam`` and the errors asked for (``icl``, ``idg``; None
    otherwise), from the spectral averages at ``b = q + nu``: ``(converged, residual, e_icl,
    e_idg)``, the errors NaN where not converged. ``ridge``: whether any ``lam > 0``."""
    all_finite = tau.size == 0 or tau.max() < np.inf  # tau > 0 here, so no NaN
    finite_tau = None if all_finite else np.isfinite(tau)
    tm1 = tau - 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        # Relative residual |h(nu) - lam| / max(lam, nu, tiny), reusing m(q + nu). Newton
        # convergence is judged on the step; this check (a few ulps of the terms of h) catches
        # anything that stalled, and checks the closed forms.
        h = _h(nu, m_b, T1, q, tau, tm1)
        if not all_finite:
            h = np.where(finite_tau, h, nu)
        if ridge:
            h -= lam
        residual = np.abs(h, out=h)
        residual /= np.maximum(np.maximum(lam, nu) if ridge else nu, _TINY)
        tol = 1.0 / (tau if all_finite else np.where(finite_tau, tau, 1.0))
        tol += 1.0
        tol *= 1e3 * _EPS
        converged = residual <= tol

        # Dead buffers are reused from here on: fewer arrays in cache at once.
        numer = np.multiply(q, T1, out=tol)
        numer += rho
        den = nu * b
        den *= P2
        numer += den  # sigma2 + B5 = rho + q T1 + nu b P2, a positive sum
        # tau - T4 = (tau - 1) + nu G4; at the root (tau - 1 = tau lam/nu - nu m, G4 - m = T3) this
        # is the positive sum nu T3 + tau lam/nu, used whenever nu > 0 (no cancellation for tau < 1);
        # where nu = 0 (ridgeless, tau >= 1) it is tau - 1.
        np.multiply(nu, T3, out=den)
        zero = nu == 0
        if ridge:
            den += tau * lam / nu
            if zero.any():
                den = np.where(zero, tm1, den)
        elif T3.size and T3.max() < np.inf:
            # lam = 0: den = nu T3 is exactly 0 where nu = 0 (T3 >= 0 finite), so adding (tau - 1)
            # there selects like np.where, whose per-point branch costs more than this sum.
            den += tm1 * zero
        else:
            den = np.where(zero, tm1, den)
        # tau = inf: e_IDG = sigma2 + B5 and the e_IDG/tau term of e_ICL vanishes; ridgeless tau = 1:
        # both +inf.
        peak = tau == 1
        at_peak = peak.any()
        if at_peak:
            peak &= lam == 0
        e_icl = e_idg = None
        if idg:
            # numer (tau/den), not (tau numer)/den: tau numer can underflow to a subnormal (tau =
            # 1e-23, numer = 1e-298 lost 4 digits) while tau/den is O(nu/lam) or O(1).
            e_idg = np.divide(tau, den)
            e_idg *= numer
            if not all_finite:
                e_idg = np.where(finite_tau, e_idg, numer)
            if at_peak:
                e_idg = np.where(peak, np.inf, e_idg)
            if not converged.all():
                e_idg = np.where(converged, e_idg, np.nan)
        if icl:
            ratio = np.divide(numer, den, out=den)  # e_IDG/tau
            if not all_finite:
                ratio = np.where(finite_tau, ratio, 0.0)
            # 1 + rho - 2 T1 + (1+q) T2 = rho + b^2 F2 + q T2 (1 - 2 T1 + T2 = E[b^2/(l+b)^2]).
            e_icl = b * b
            e_icl *= F2_b
            e_icl += rho
            e_icl += np.multiply(q, T2, out=tm1)  # dead buffers again
            ratio *= T3
            ratio *= np.add(q, 1.0, out=numer)
            e_icl += ratio
            if at_peak:
                e_icl = np.where(peak, np.inf, e_icl)
            if not converged.all():
                e_icl = np.where(converged, e_icl, np.nan)
    return converged, residual, e_icl, e_idg


def _errors_flat(tau, alpha, kappa, rho, lam, rtol, maxiter, spectrum, field, stats=None,
                 correlated=False) -> dict:
    """The lean path of ``e_icl``/``e_idg``: only what ``field`` and the convergence check need
    (isotropic tasks; a token kernel's ``tk2`` enters ``q``, docs/THEORY.md section 9)."""
    q = (1.0 + rho) / alpha if stats is None else (stats.tk2 + rho) / alpha
    ridge = _any_positive(lam)
    if ridge:
        nu, iterations = _effective_ridge(tau, q, kappa, lam, rtol, maxiter, spectrum)
        b = q + nu
        moments = spectrum.error_moments(b, q, kappa)
    else:
        (nu, *moments), iterations = spectrum.ridgeless_moments(tau, q, kappa), 0
        b = q + nu
    converged, residual, e_icl, e_idg = _finish(tau, rho, lam, ridge, q, nu, b, *moments,
                                                icl=field == "e_icl", idg=field == "e_idg" or correlated)
    if correlated:
        e_icl = e_icl + _query_gain(tau, alpha, rho, q, nu, b, moments[0], moments[1], e_idg / tau,
                                    stats.k0, stats.k1)
    return {field: e_icl if field == "e_icl" else e_idg, "converged": converged, "residual": residual,
            "iterations": iterations}


def _structured(tau, alpha, rho, alpha_te, q, nu, b, mo, e_idg, Sa, Sb, t_tr, t_te, tk2=1.0):
    """The structured-task errors from the isotropic-form ``e_idg`` (at ``alpha``) and the test sums
    (docs/THEORY.md, structured tasks; THEORY.md section 8 for the ridgeless anchor):
    ``E = e_IDG/tau``, ``e_bias = rho + q_te (T2 + E T3)``, ``e_align = E Sa + Sb`` (test sums of
    :meth:`asymptotics.spectrum.TaskSpectrum.structured_moments`), and ``e_IDG`` at ``alpha_te``:
    ``rho + b^2 P2 + q' T2 + E (T2 + q P2 + q' T3)``, ``q' = (tr C_tr/d + rho)/alpha_te``.
    A token kernel multiplies ``tr C/d`` in ``q_te``, ``q'`` by ``tk2`` (docs/THEORY.md section 9).
    Returns ``(e_icl, e_idg, e_bias, e_align, alignment)``."""
    with np.errstate(invalid="ignore", divide="ignore"):
        E = e_idg / tau  # 0 at tau = inf, inf at the ridgeless peak, NaN where unconverged
        q_te = (tk2 * t_te + rho) / alpha_te
        e_bias = rho + q_te * (mo.T2 + E * mo.T3)
        e_align = E * Sa[..., 0] + Sb[..., 0]
        ref = t_te * (E * Sa[..., 1] + Sb[..., 1])
        alignment = np.where(np.isinf(E), Sa[..., 0] / (t_te * Sa[..., 1]), e_align / ref)
        same = alpha_te == alpha
        if not same.all():
            qp = (tk2 * t_tr + rho) / alpha_te
            other = rho + b * b * mo.P2 + qp * mo.T2 + E * (mo.T2 + q * mo.P2 + qp * mo.T3)
            e_idg = np.where(same, e_idg, other)
    return e_bias + e_align, e_idg, e_bias, e_align, alignment


def _structured_flat(tau, alpha, kappa, rho, lam, alpha_te, rtol, maxiter, spectrum, *, tasks, field,
                     stats=None, correlated=False) -> dict:
    """The lean path of ``e_icl``/``e_idg`` for structured tasks (any task law, test covariance,
    test context length) and correlated contexts (``stats``: :class:`asymptotics.kernel.KernelStats`)."""
    tk2 = 1.0 if stats is None else stats.tk2
    q = (tk2 * spectrum.mean + rho) / alpha
    ridge = _any_positive(lam)
    nu, iterations = _effective_ridge(tau, q, kappa, lam, rtol, maxiter, spectrum)
    b = q + nu
    mo, Sa, Sb, ok = spectrum.structured_moments(b, q, kappa, nu, tasks.test_weights)
    converged, residual, _, e_idg = _finish(tau, rho, lam, ridge, q, nu, b, *mo[:6], icl=False, idg=True)
    if not ok.all():
        converged = converged & ok
        e_idg = np.where(ok, e_idg, np.nan)
    e_icl, e_idg, *_ = _structured(tau, alpha, rho, alpha_te, q, nu, b, mo, e_idg, Sa, Sb, spectrum.mean,
                                   tasks.test_trace, tk2)
    if correlated:
        e_icl = e_icl + _query_gain(tau, alpha, rho, q, nu, b, mo[0], mo[1], e_idg / tau, stats.k0, stats.k1)
    return {field: e_icl if field == "e_icl" else e_idg, "converged": converged, "residual": residual,
            "iterations": iterations}


def _solve_flat(tau, alpha, kappa, rho, lam, alpha_te, rtol, maxiter, spectrum, *, tasks, stats=None,
                correlated=False) -> dict:
    tk2 = 1.0 if stats is None else stats.tk2
    q = (tk2 * spectrum.mean + rho) / alpha
    nu, iterations = _effective_ridge(tau, q, kappa, lam, rtol, maxiter, spectrum)
    b = q + nu
    m_q, _ = spectrum.transform(q, kappa)
    mo, Sa, Sb, ok = spectrum.structured_moments(b, q, kappa, nu, tasks.test_weights)
    m_b, F2_b, T1, P2, T2, T3, T4, G4 = mo
    converged, residual, e_icl, e_idg = _finish(tau, rho, lam, _any_positive(lam), q, nu, b, m_b, F2_b, T1,
                                                P2, T2, T3)
    if not ok.all():
        converged = converged & ok
        e_icl, e_idg = (np.where(ok, e, np.nan) for e in (e_icl, e_idg))
    s_icl, e_idg, e_bias, e_align, alignment = _structured(tau, alpha, rho, alpha_te, q, nu, b, mo, e_idg, Sa,
                                                           Sb, spectrum.mean, tasks.test_trace, tk2)
    if tasks.structured or not (alpha_te == alpha).all():
        e_icl = s_icl
    alpha_eff = alpha if stats is None else alpha * ((spectrum.mean + rho) / (tk2 * spectrum.mean + rho))
    gain = np.zeros_like(q)
    if correlated:
        with np.errstate(invalid="ignore", divide="ignore"):
            gain = _query_gain(tau, alpha, rho, q, nu, b, m_b, F2_b, e_idg / tau, stats.k0, stats.k1)
        e_icl = e_icl + gain
    sigma2 = rho + q * spectrum.T1(q, kappa)  # rho + q - q^2 m(q), as a positive sum
    # Reported as defined; the errors use the positive-sum form sigma2 + B5 = rho + q T1 + nu b P2.
    B5 = q * q * m_q + (nu * nu - q * q) * m_b - nu * b * b * F2_b
    return dict(tau=tau, alpha=alpha, kappa=kappa, rho=rho, lam=lam, q=q, nu=nu, b=b, m_q=m_q, m_b=m_b,
                F2_b=F2_b, sigma2=sigma2, T1=T1, T2=T2, T3=T3, T4=T4, B5=B5, e_icl=e_icl, e_idg=e_idg,
                e_bias=e_bias, e_align=e_align, alignment=alignment, alpha_eff=alpha_eff, query_gain=gain,
                converged=converged, residual=residual, iterations=iterations)


def _first_unconverged(converged, residual):
    """``None`` if every point converged, else (flat index and residual of the first failure, count)."""
    if converged.all():
        return None
    converged, residual = np.ravel(converged), np.ravel(residual)
    bad = int(np.flatnonzero(~converged)[0])
    return bad, float(residual[bad]), int(converged.size - np.count_nonzero(converged))


def _checked(params, out, field):
    if "unconverged" in out:
        failed = out["unconverged"]
    else:
        failed = _first_unconverged(out["converged"], out["residual"])
    if failed:
        bad, residual, count = failed
        point = {k: float(np.ravel(v)[bad]) for k, v in zip(PARAMS, params)}
        raise ConvergenceError(
            f"effective-ridge fixed point did not converge at {point} "
            f"(relative residual {residual:.3e}; {count} point(s) affected)")
    value = out[field]
    return float(value) if np.ndim(value) == 0 else value


def _error(field, tau, alpha, kappa, rho, lam, stats=None, correlated=False):
    raw = (tau, alpha, kappa, rho, lam)
    params = broadcast_params(*raw)
    if params is None:
        check_params(*raw)
    out = _evaluate(params, RTOL, MAXITER, partial(_errors_flat, field=field, stats=stats, correlated=correlated),
                    (field,), spectrum=ISOTROPIC, raw=raw)
    return _checked(params, out, field)


def _structured_error(field, tau, alpha, kappa, rho, lam, task_cov, test_cov, alpha_test, stats=None,
                      correlated=False):
    tasks, params = _structured_inputs(tau, alpha, kappa, rho, lam, task_cov, test_cov, alpha_test,
                                       1.0 if stats is None else stats.tk2)
    out = _evaluate(params, RTOL, MAXITER, partial(_structured_flat, tasks=tasks, field=field, stats=stats,
                                                   correlated=correlated), (field,), spectrum=tasks.spectrum)
    return _checked(params, out, field)


def e_icl(tau, alpha, kappa, rho, lam=0.0, *, task_cov=None, test_cov=None, alpha_test=None,
          token_kernel=None, query: str = "independent"):
    """Asymptotic ICL test error (fresh task ``w ~ N(0, C_te)``, default ``C_te = I``); THEORY.md §4.

    Broadcasts over all five parameters (and ``alpha_test``); a float for scalar inputs. Ridgeless
    ``tau = 1`` gives ``inf``. Raises ``ValueError`` for out-of-range input and ``ConvergenceError``
    if the fixed point failed anywhere (never an unconverged number). ``task_cov``, ``test_cov``,
    ``alpha_test``: structured tasks, as in :func:`solve` (docs/THEORY.md). ``token_kernel``,
    ``query``: correlated contexts, as in :func:`solve` (docs/THEORY.md section 9).
    """
    stats, correlated = _kernel_stats(token_kernel, query, lam, task_cov, test_cov, alpha_test, "e_icl")
    if task_cov is None and test_cov is None and alpha_test is None:
        return _error("e_icl", tau, alpha, kappa, rho, lam, stats, correlated)
    return _structured_error("e_icl", tau, alpha, kappa, rho, lam, task_cov, test_cov, alpha_test, stats,
                             correlated)


def e_idg(tau, alpha, kappa, rho, lam=0.0, *, task_cov=None, test_cov=None, alpha_test=None,
          token_kernel=None, query: str = "independent"):
    """Asymptotic in-distribution (IDG) test error (task uniform on the k training tasks); THEORY.md §4.

    Same conventions as :func:`e_icl` (``test_cov`` does not enter: the test tasks are the training
    tasks; ``alpha_test`` does). ``query='correlated'`` is refused (not derived; docs/THEORY.md 9.3).
    """
    stats, _ = _kernel_stats(token_kernel, query, lam, task_cov, test_cov, alpha_test, "e_idg")
    if task_cov is None and test_cov is None and alpha_test is None:
        return _error("e_idg", tau, alpha, kappa, rho, lam, stats)
    return _structured_error("e_idg", tau, alpha, kappa, rho, lam, task_cov, None, alpha_test, stats)
