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
for ``lam > 0`` a vectorised Newton iteration started at the upper bound ``lam + (1+q)/tau`` decreases
monotonically to the root (convexity), safeguarded by bisection.

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

import numpy as np

from asymptotics.params import PARAMS, check_params
from asymptotics.spectrum import ISOTROPIC, TaskSpectrum


class ConvergenceError(RuntimeError):
    """An iterative solve did not reach its tolerance: the effective-ridge fixed point here, the
    simulator's conjugate gradients (:mod:`simulate.solvers`) there. The message gives the residual
    actually measured; no unconverged number is ever returned as an answer."""


#: Defaults of the effective-ridge solve (relative step tolerance of Newton, iteration cap).
RTOL = 4 * np.finfo(float).eps
MAXITER = 100


@dataclass(frozen=True)
class TheoryResult:
    """Every intermediate of the asymptotic theory at each (broadcast) parameter point.

    Arrays share the broadcast shape of the inputs (0-d for scalar inputs). ``converged`` and
    ``residual`` (relative, ``|h(nu) - lam| / max(lam, nu, tiny)``) are per point; ``iterations`` is
    the number of Newton steps taken by the slowest point (0 when closed forms covered everything).
    Where ``converged`` is False the errors are NaN: use ``e_icl``/``e_idg`` to get an exception instead.
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


def _h(nu, m, T1, q, tau):
    """``h(nu) = nu (tau - (1 - nu m))/tau`` with ``1 - nu m = T1 + q m`` (a positive sum).

    For ``tau >= 1/2`` it is formed as ``(tau - 1) + nu m`` (``tau - 1`` exact, a positive sum for
    ``tau >= 1``); for small ``tau`` as ``tau - (T1 + q m)``, whose terms are both O(tau) at the root,
    so the root stays well conditioned (the other form cancels terms of size 1 there).
    """
    return nu * np.where(tau >= 0.5, (tau - 1.0) + nu * m, tau - (T1 + q * m)) / tau


def _h_and_slope(nu, q, kappa, tau, spectrum):
    """``h(nu)`` and ``h'(nu) = (tau - T4)/tau = ((tau - 1) + nu G4)/tau`` at ``b = q + nu``."""
    mo = spectrum.moments(q + nu, q, kappa)
    return _h(nu, mo.m, mo.T1, q, tau), ((tau - 1.0) + nu * mo.G4) / tau


def _effective_ridge(tau, q, kappa, lam, rtol, maxiter, spectrum):
    """Vectorised solve of ``h(nu) = lam``; returns ``nu`` and the Newton iteration count.

    Convergence is judged afterwards by :func:`_residual`, for closed-form and Newton points alike.
    """
    finite_tau = np.isfinite(tau)
    closed = (lam == 0) & (tau < 1)
    nu = np.where(closed, spectrum.ridgeless_nu(tau, q, kappa), 0.0)
    nu = np.where(finite_tau, nu, lam)
    newton = finite_tau & (lam > 0)
    iterations = 0
    if np.any(newton):
        idx = np.flatnonzero(newton)
        t, qq, kk, ll = tau[idx], q[idx], kappa[idx], lam[idx]
        hi = ll + (1.0 + qq) / t
        over = t > 1
        hi[over] = np.minimum(hi[over], ll[over] / (1.0 - 1.0 / t[over]))
        lo = np.zeros_like(hi)
        x = hi.copy()
        # Working arrays hold only the still-active points (compacted every step).
        while idx.size and iterations < maxiter:
            iterations += 1
            h, slope = _h_and_slope(x, qq, kk, t, spectrum)
            f = h - ll
            lo = np.where(f < 0, x, lo)
            hi = np.where(f > 0, x, hi)
            with np.errstate(divide="ignore", invalid="ignore"):
                x_new = x - f / slope
            bad = ~np.isfinite(x_new) | (x_new < lo) | (x_new > hi)
            x_new = np.where(bad, 0.5 * (lo + hi), x_new)
            # From the right a convex h gives f > 0 at every iterate; f <= 0 means the root is
            # reached to rounding.
            done = (np.abs(x_new - x) <= rtol * np.abs(x_new)) | (f <= 0)
            nu[idx[done]] = np.where(f[done] <= 0, x[done], x_new[done])
            keep = ~done
            idx, x, lo, hi = idx[keep], x_new[keep], lo[keep], hi[keep]
            t, qq, kk, ll = t[keep], qq[keep], kk[keep], ll[keep]
        nu[idx] = x  # not converged within maxiter: flagged by the residual check below
    return nu, iterations


def _residual(nu, m_b, T1, q, tau, lam):
    """Relative residual of ``h(nu) = lam`` and the convergence verdict, reusing ``m(q + nu)``."""
    finite_tau = np.isfinite(tau)
    with np.errstate(invalid="ignore"):
        h = np.where(finite_tau, _h(nu, m_b, T1, q, tau), nu)
    scale = np.maximum(np.maximum(lam, nu), np.finfo(float).tiny)
    residual = np.abs(h - lam) / scale
    # Newton convergence is judged on the step; this residual check (a few ulps of the terms of h)
    # catches anything that stalled.
    converged = residual <= 1e3 * np.finfo(float).eps * (1.0 + 1.0 / np.where(finite_tau, tau, 1.0))
    return converged, residual


def solve(tau, alpha, kappa, rho, lam=0.0, *, rtol: float = RTOL, maxiter: int = MAXITER) -> TheoryResult:
    """Solve the deterministic-equivalent equations and return every intermediate.

    Parameters broadcast against each other: ``0 < tau <= inf`` (``n/d^2``; inf is the
    ``tau -> inf`` limit), ``0 < alpha < inf`` (``l/d``), ``0 < kappa <= inf`` (``k/d``; inf is
    infinite task diversity), ``rho >= 0`` (label-noise variance), ``lam >= 0`` (ridge; 0 is the
    ridgeless limit ``lam -> 0+``). See the module docstring for formulas and singular points.
    """
    params = check_params(tau, alpha, kappa, rho, lam)
    if not (isinstance(rtol, (int, float)) and np.finfo(float).eps <= rtol < 1):
        raise ValueError(f"rtol must satisfy eps <= rtol < 1 (eps = {np.finfo(float).eps:.3g}); got {rtol!r}")
    if isinstance(maxiter, bool) or not isinstance(maxiter, (int, np.integer)) or maxiter < 1:
        raise ValueError(f"maxiter must be an integer >= 1; got {maxiter!r}")
    out = _evaluate(params, rtol, maxiter, keep=None, spectrum=ISOTROPIC)
    return TheoryResult(**out)


def _evaluate(params, rtol, maxiter, keep, spectrum: TaskSpectrum):
    """Run ``_solve_flat`` over cache-sized chunks; gather the fields in ``keep`` (None: all)."""
    shape = params[0].shape
    flat = [np.ravel(a) for a in params]
    size = flat[0].size
    # Cache-sized chunks: the ~100 elementwise passes then run from cache instead of memory.
    parts = [_solve_flat(*(a[i:i + _CHUNK] for a in flat), rtol, maxiter, spectrum) for i in range(0, size, _CHUNK)]
    if not parts:
        parts = [_solve_flat(*flat, rtol, maxiter, spectrum)]
    iterations = max(p.pop("iterations") for p in parts)
    keys = parts[0] if keep is None else keep
    out = {k: (np.concatenate([p[k] for p in parts]) if len(parts) > 1 else parts[0][k]).reshape(shape)
           for k in keys}
    out["iterations"] = iterations
    return out


_CHUNK = 1 << 14


def _solve_flat(tau, alpha, kappa, rho, lam, rtol, maxiter, spectrum) -> dict:
    q = (1.0 + rho) / alpha
    nu, iterations = _effective_ridge(tau, q, kappa, lam, rtol, maxiter, spectrum)
    b = q + nu
    m_q, _ = spectrum.transform(q, kappa)
    m_b, F2_b, T1, P2, T2, T3, T4, G4 = spectrum.moments(b, q, kappa)
    converged, residual = _residual(nu, m_b, T1, q, tau, lam)
    sigma2 = rho + q * spectrum.T1(q, kappa)  # rho + q - q^2 m(q), as a positive sum
    # Reported as defined; the errors use the positive-sum form sigma2 + B5 = rho + q T1 + nu b P2.
    B5 = q * q * m_q + (nu * nu - q * q) * m_b - nu * b * b * F2_b
    numer = rho + q * T1 + nu * b * P2

    finite_tau = np.isfinite(tau)
    peak = (lam == 0) & (tau == 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        # tau = inf: e_IDG = sigma2 + B5 and the e_IDG/tau term vanishes; ridgeless tau = 1: +inf.
        # tau - T4 = (tau - 1) + nu G4; at the root (tau - 1 = tau lam/nu - nu m, G4 - m = T3) this
        # is the positive sum nu T3 + tau lam/nu, used whenever nu > 0 (no cancellation for tau < 1).
        den = np.where(nu > 0, nu * T3 + tau * lam / nu, tau - 1.0)
        e_idg = np.where(finite_tau, tau * numer / den, numer)
        e_idg = np.where(peak, np.inf, e_idg)
        ratio = np.where(finite_tau, e_idg / tau, 0.0)
        # 1 + rho - 2 T1 + (1+q) T2 = rho + b^2 F2 + q T2 (1 - 2 T1 + T2 = E[b^2/(l+b)^2]).
        e_icl = rho + b * b * F2_b + q * T2 + (1.0 + q) * T3 * ratio
    e_icl = np.where(peak, np.inf, e_icl)
    e_icl = np.where(converged, e_icl, np.nan)
    e_idg = np.where(converged, e_idg, np.nan)

    return dict(tau=tau, alpha=alpha, kappa=kappa, rho=rho, lam=lam, q=q, nu=nu, b=b, m_q=m_q, m_b=m_b,
                F2_b=F2_b, sigma2=sigma2, T1=T1, T2=T2, T3=T3, T4=T4, B5=B5, e_icl=e_icl, e_idg=e_idg,
                converged=converged, residual=residual, iterations=iterations)


def _checked(params, out, field):
    converged = out["converged"]
    if not np.all(converged):
        bad = np.flatnonzero(~np.ravel(converged))[0]
        point = {k: float(np.ravel(v)[bad]) for k, v in zip(PARAMS, params)}
        raise ConvergenceError(
            f"effective-ridge fixed point did not converge at {point} "
            f"(relative residual {float(np.ravel(out['residual'])[bad]):.3e}; "
            f"{int(np.size(converged) - np.count_nonzero(converged))} point(s) affected)")
    value = out[field]
    return float(value) if np.ndim(value) == 0 else value


def _error(field, tau, alpha, kappa, rho, lam):
    params = check_params(tau, alpha, kappa, rho, lam)
    return _checked(params, _evaluate(params, RTOL, MAXITER, keep=(field, "converged", "residual"),
                                     spectrum=ISOTROPIC),
                    field)


def e_icl(tau, alpha, kappa, rho, lam=0.0):
    """Asymptotic ICL test error (fresh task ``w ~ N(0, I)``); THEORY.md §4.

    Broadcasts over all five parameters; a float for scalar inputs. Ridgeless ``tau = 1`` gives
    ``inf``. Raises ``ValueError`` for out-of-range input and ``ConvergenceError`` if the fixed point
    failed anywhere (never an unconverged number).
    """
    return _error("e_icl", tau, alpha, kappa, rho, lam)


def e_idg(tau, alpha, kappa, rho, lam=0.0):
    """Asymptotic in-distribution (IDG) test error (task uniform on the k training tasks); THEORY.md §4.

    Same conventions as :func:`e_icl`.
    """
    return _error("e_idg", tau, alpha, kappa, rho, lam)
