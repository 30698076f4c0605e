"""Arbitrary-precision evaluation of the asymptotic theory (mpmath), independent of the float64 kernels.

This is the reference the float64 kernels (``asymptotics.stieltjes``, ``asymptotics.theory``) are tested
against, in the spirit of ``scipy.special._mptestutils``. It shares no numerical code with them: the
Marchenko-Pastur transform, the effective-ridge root and the error formulas are re-implemented here.

Formulas: THEORY.md section 4 (general ridge; derived here, agrees with paper Result 1 in the ridgeless
limit, which ``asymptotics.symbolic`` proves). Regime: the proportional limit d -> inf with
l/d -> alpha, k/d -> kappa, n/d^2 -> tau. Valid for 0 < tau <= inf, 0 < alpha < inf, 0 < kappa <= inf,
rho >= 0, lam >= 0; at lam = 0, tau = 1 the errors are +inf (interpolation peak).

How precision is chosen
-----------------------
The caller asks for ``dps`` correct significant digits. Each solve runs inside one ``mp.workdps``
context at ``dps + guard`` digits (guard starts at 20) and then once more at ``dps + 2*guard``. If every
returned quantity agrees between the two runs to ``10**-dps`` relative, the higher-precision run is
returned; otherwise the guard is doubled (at most 5 times) and the comparison repeated, and
``ArithmeticError`` is raised if agreement is never reached. This covers the cancellations that
occur near the singular points (``tau - T4 -> 0`` at tau -> 1 with small lam; ``1 - q m(q)`` for
large q; ``a = z + 1 - 1/kappa`` for kappa -> 0) without having to bound each one by hand.
Inputs are taken as exact: a Python float is converted to the mpf with the same binary value, and a
string or mpf is read at the working precision (``tau="1.000000000000000000001"`` is honoured).
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import mpmath
import numpy as np

from .params import PARAMS, check, check_broadcast

__all__ = ["HighPrecResult", "solve_hp", "e_icl_hp", "e_idg_hp", "solve_hp_array"]


_MAX_GUARD_DOUBLINGS = 5
_MAX_ITER = 400


@dataclass(frozen=True)
class HighPrecResult:
    """All intermediates of one high-precision solve (mpf values; see THEORY.md section 4).

    ``nu`` is the effective ridge, ``b = q + nu``, ``m_q = m(q)``, ``m_b = m(b)``, ``F2_b = -m'(b)``.
    ``converged``/``residual``/``iterations`` describe the root solve for ``nu`` (relative residual
    ``|nu - lam - (nu/tau)(1 - nu m(b))| / max(nu, lam)``; 0 iterations when ``nu`` is exact).
    ``dps`` is the number of significant digits verified; ``working_dps`` the precision used.
    """
    tau: mpmath.mpf
    alpha: mpmath.mpf
    kappa: mpmath.mpf
    rho: mpmath.mpf
    lam: mpmath.mpf
    q: mpmath.mpf
    nu: mpmath.mpf
    b: mpmath.mpf
    m_q: mpmath.mpf
    m_b: mpmath.mpf
    F2_b: mpmath.mpf
    sigma2: mpmath.mpf
    T1: mpmath.mpf
    T2: mpmath.mpf
    T3: mpmath.mpf
    T4: mpmath.mpf
    B5: mpmath.mpf
    e_icl: mpmath.mpf
    e_idg: mpmath.mpf
    converged: bool
    residual: mpmath.mpf
    iterations: int
    dps: int
    working_dps: int

    def __str__(self) -> str:
        n = min(self.dps, 20)
        return (f"HighPrecResult(tau={mpmath.nstr(self.tau, 8)}, alpha={mpmath.nstr(self.alpha, 8)}, "
                f"kappa={mpmath.nstr(self.kappa, 8)}, rho={mpmath.nstr(self.rho, 8)}, "
                f"lam={mpmath.nstr(self.lam, 8)}): e_icl={mpmath.nstr(self.e_icl, n)}, "
                f"e_idg={mpmath.nstr(self.e_idg, n)}, nu={mpmath.nstr(self.nu, n)} "
                f"[{self.dps} digits verified, converged={self.converged}, "
                f"{self.iterations} iterations]")


_VALUES = ("nu", "m_q", "m_b", "F2_b", "sigma2", "T1", "T2", "T3", "T4", "B5", "e_icl", "e_idg")


def _stieltjes_hp(z, kappa):
    """m(z) = M_kappa(z) and F2(z) = -m'(z) for z > 0 at the current precision (THEORY.md section 4).

    The root of (z/kappa) m^2 + a m - 1 = 0, a = z + 1 - 1/kappa, with m > 0; the two algebraically
    equal forms avoid cancellation for either sign of a. F2 by implicit differentiation of the
    quadratic: m' = -(m^2/kappa + m) / (2 z m/kappa + a), and 2 z m/kappa + a = s (the discriminant
    root), so F2 = (m^2/kappa + m)/s has no cancellation either.
    """
    if mpmath.isinf(kappa):
        m = 1 / (1 + z)
        return m, m * m
    a = z + 1 - 1 / kappa
    s = mpmath.sqrt(a * a + 4 * z / kappa)
    m = 2 / (a + s) if a >= 0 else kappa * (s - a) / (2 * z)
    return m, (m * m / kappa + m) / s


def _solve_nu(tau, q, kappa, lam, eps):
    """Effective ridge: root of h(nu) = nu - lam - (nu/tau)(1 - nu m(q+nu)) (THEORY.md section 4).

    Returns (nu, iterations, converged). Where the root is not exact it is bracketed by the sign of
    g(nu) = h(nu)/nu, strictly increasing in nu because nu m(q+nu) is, in d = nu - lam: a bracket
    [d_lo, d_hi] with g(lam + d_lo) <= 0 <= g(lam + d_hi) (derived here):
      * upper end: m(b) >= 1/(b + 1) by Jensen (the spectrum of R has mean 1), so
        1 - nu m(b) <= (1+q)/(1+q+nu) and g(lam + (1+q)/tau) >= 0;
      * lam > 0: u = 1 - nu m(b) >= q/(q + nu) (m(b) <= 1/b) gives g <= d/lam - q/(tau (q + nu)),
        negative at d_lo = lam q/(2 tau (q + lam + (1+q)/tau));
      * lam = 0, tau < 1: d_lo = q (1-tau)/tau, since m(b) <= 1/b gives nu m(b) <= nu/(q+nu).
    Inside it a Newton iteration on F(t) = log(1 - nu m) - log(tau d/nu) in t = log d (nearly
    linear where the root is many decades from an end: tiny tau, huge lam; before, Newton on g
    crept there and did not converge in 400 steps at tau = 1e-24 or tau = 1e-300); a step leaving
    the bracket is replaced by a geometric bisection. Converged when the step is below ``eps``
    relative.
    """
    if mpmath.isinf(tau):
        return lam, 0, True
    if lam == 0 and tau >= 1:
        return mpmath.mpf(0), 0, True

    def f_and_step(d):
        """F(t) = log u - log(tau d/nu) at nu = lam + d, t = log d, and its Newton iterate of d.

        ``u = 1 - nu m(q + nu)`` in (0, 1] as the positive sum ``m/(1 + m/kappa) + q m`` (from m's
        quadratic, ``1 - b m(b) = m/(1 + m/kappa)``): formed as ``1 - nu m`` it cancels to ``1e-300``
        at tiny tau and lost the digits the iteration needs. ``F > 0`` exactly where ``g < 0``."""
        nu = lam + d
        m, f2 = _stieltjes_hp(q + nu, kappa)
        u = m / (1 + m / kappa) + q * m
        F = mpmath.log(u) - mpmath.log(tau * d / nu)
        dF = d * (1 / nu - (m - nu * f2) / u) - 1  # < 0; 0 to rounding where F is flat in t
        return F, d * mpmath.exp(-F / dF) if dF < 0 else None

    # Work with d = nu - lam > 0: the root can sit 1e-100 relative above lam (huge lam) or 240
    # decades above it (tiny tau), and log d is the variable in which F is nearly linear in both.
    # lam > 0: g(lam + d) <= d/lam - q/(tau (q + nu)) (u >= q/(q + nu)), < 0 at the d_lo below.
    hi = lam + (1 + q) / tau
    d_lo = lam * q / (2 * tau * (q + hi)) if lam > 0 else q * (1 - tau) / tau
    d_hi = (1 + q) / tau
    f_lo, _ = f_and_step(d_lo)
    if f_lo <= 0:
        return lam + d_lo, 1, f_lo == 0
    f_hi, _ = f_and_step(d_hi)
    if f_hi >= 0:
        return lam + d_hi, 1, f_hi == 0
    d, side = mpmath.sqrt(d_lo * d_hi), 0
    for it in range(1, _MAX_ITER + 1):
        F, new = f_and_step(d)
        if F == 0:
            return lam + d, it, True
        if F > 0:
            d_lo, f_lo = d, F
            f_hi = f_hi / 2 if side > 0 else f_hi  # Illinois: the same end kept twice
            side = 1
        else:
            d_hi, f_hi = d, F
            f_lo = f_lo / 2 if side < 0 else f_lo
            side = -1
        newton = new is not None and d_lo < new < d_hi
        # A Newton step below sqrt(eps) leaves an error of order eps (quadratic convergence); waiting
        # for the step itself to fall below eps can take forever where rounding noise in F (terms
        # 100 decades apart) exceeds eps.
        if newton and abs(new - d) <= mpmath.sqrt(eps) * (lam + new):
            return lam + new, it, True
        if not newton:
            # Newton left the bracket (F flat in log d near tau = 1; an overshoot when the root is
            # nearer an end than the step's O(F^2) error): the Illinois false-position point of F
            # in log d (superlinear, never stalls at one end), else a geometric bisection.
            t_lo, t_hi = mpmath.log(d_lo), mpmath.log(d_hi)
            new = mpmath.exp(t_lo - f_lo * (t_hi - t_lo) / (f_hi - f_lo))
            if not d_lo < new < d_hi:
                new = mpmath.sqrt(d_lo * d_hi)
        if abs(new - d) <= eps * (lam + new) or (d_hi - d_lo) <= eps * (lam + d_lo):
            return lam + new, it, True
        d = new
    return lam + d, _MAX_ITER, False


def _solve_at(raw, wdps):
    """One complete evaluation at ``wdps`` digits; returns a dict of mpf values and solver stats."""
    with mpmath.workdps(wdps):
        tau, alpha, kappa, rho, lam = (mpmath.mpf(v) for v in raw)
        eps = mpmath.mpf(10) ** (-(wdps - 5))
        q = (1 + rho) / alpha
        nu, iterations, converged = _solve_nu(tau, q, kappa, lam, eps)
        b = q + nu
        m_q, _ = _stieltjes_hp(q, kappa)
        m_b, F2_b = _stieltjes_hp(b, kappa)
        sigma2 = rho + q * (1 - q * m_q)
        T1 = 1 - b * m_b
        T2 = 1 - 2 * b * m_b + b * b * F2_b
        T3 = m_b - nu * F2_b
        T4 = 1 - 2 * nu * m_b + nu * nu * F2_b
        B5 = q * q * m_q + (nu * nu - q * q) * m_b - nu * b * b * F2_b
        if mpmath.isinf(tau):
            e_idg = sigma2 + B5
            e_icl = 1 + rho - 2 * T1 + (1 + q) * T2
        elif tau == T4:
            e_idg = e_icl = mpmath.inf
        else:
            e_idg = tau * (sigma2 + B5) / (tau - T4)
            e_icl = 1 + rho - 2 * T1 + (1 + q) * T2 + (1 + q) * T3 * e_idg / tau
        if mpmath.isinf(tau) or nu == 0:
            residual = mpmath.mpf(0) if nu == lam else abs(nu - lam) / max(nu, lam)
        else:
            residual = abs(nu - lam - (nu / tau) * (1 - nu * m_b)) / max(nu, lam)
        vals = dict(tau=tau, alpha=alpha, kappa=kappa, rho=rho, lam=lam, q=q, b=b, nu=nu, m_q=m_q,
                    m_b=m_b, F2_b=F2_b, sigma2=sigma2, T1=T1, T2=T2, T3=T3, T4=T4, B5=B5,
                    e_icl=e_icl, e_idg=e_idg)
        return vals, dict(converged=converged, residual=residual, iterations=iterations)


def _agree(x, y, tol) -> bool:
    if mpmath.isinf(x) or mpmath.isinf(y):
        return x == y
    return abs(x - y) <= tol * max(abs(x), abs(y)) or x == y


def _validated_raw(tau, alpha, kappa, rho, lam):
    raw = []
    for name, v in zip(PARAMS, (tau, alpha, kappa, rho, lam)):
        try:
            as_float = float(mpmath.mpf(v)) if isinstance(v, (str, mpmath.mpf)) else v
        except (TypeError, ValueError):
            as_float = v
        check(name, as_float, domain=True)
        if np.ndim(as_float) != 0:
            raise ValueError(f"{name} must be a scalar here (use solve_hp_array for arrays); "
                             f"got shape {np.shape(as_float)}")
        raw.append(v if isinstance(v, (str, mpmath.mpf)) else float(v))
    return raw


def _decades(raw) -> int:
    """Decades spanned by the inputs and ``q``: the extra digits to start with.

    Averages such as ``T1 = 1 - b m(b)``, ``B5`` or ``1 - q m(q)`` cancel terms whose size ratio is
    at most about the ratio of the largest to the smallest scale in play (e.g. ``b m(b) = 1 - O(1/b)``
    at ``b = lam = 1e100``). A cancellation that leaves an exact 0 agrees between the two runs of
    the verification and would pass it (before: ``solve_hp(inf, 2, 1, 0.1, lam=1e100)`` returned
    ``e_idg = 0.366`` with ``B5 = 0``, instead of 1.1), so those digits are provided up front.
    """
    with mpmath.workdps(30):
        vals = [abs(mpmath.mpf(v)) for v in raw]
        vals.append((1 + vals[3]) / vals[1])
        logs = [abs(mpmath.log10(v)) for v in vals if v != 0 and mpmath.isfinite(v)]
        return int(mpmath.ceil(max(logs, default=0)))


def solve_hp(tau, alpha, kappa, rho, lam=0, *, dps: int = 50) -> HighPrecResult:
    """Solve the asymptotic theory at ``dps`` verified significant digits (THEORY.md section 4).

    Parameters are scalars (float, int, str or mpf; ``float('inf')`` allowed for tau and kappa),
    validated with ``asymptotics.params.check``. Returns an :class:`HighPrecResult` holding every
    intermediate. Raises ``ArithmeticError`` if the effective-ridge root does not converge or the
    result cannot be verified to ``dps`` digits (see the module docstring for how precision is chosen).
    At lam = 0, tau = 1 the errors are ``mpf('inf')`` (the interpolation peak; paper Result 1).
    """
    if not isinstance(dps, (int, np.integer)) or dps < 5:
        raise ValueError(f"dps must be an integer >= 5; got {dps!r}")
    dps = int(dps)
    raw = _validated_raw(tau, alpha, kappa, rho, lam)
    tol = mpmath.mpf(10) ** (-dps)
    guard = 20 + _decades(raw)
    for _ in range(_MAX_GUARD_DOUBLINGS + 1):
        lo_vals, lo_stats = _solve_at(raw, dps + guard)
        hi_vals, hi_stats = _solve_at(raw, dps + 2 * guard)
        if not (lo_stats["converged"] and hi_stats["converged"]):
            raise ArithmeticError(f"effective-ridge root did not converge in {_MAX_ITER} iterations "
                                  f"at {dict(zip(PARAMS, raw))}")
        with mpmath.workdps(dps + 2 * guard):
            ok = all(_agree(lo_vals[k], hi_vals[k], tol) for k in _VALUES)
        if ok:
            return HighPrecResult(**hi_vals, **hi_stats, dps=dps, working_dps=dps + 2 * guard)
        guard *= 2
    raise ArithmeticError(f"could not verify {dps} digits at {dict(zip(PARAMS, raw))} "
                          f"with up to {2 * guard} guard digits")


def e_icl_hp(tau, alpha, kappa, rho, lam=0, *, dps: int = 50) -> mpmath.mpf:
    """ICL error at ``dps`` verified digits (THEORY.md section 4; see :func:`solve_hp`)."""
    return solve_hp(tau, alpha, kappa, rho, lam, dps=dps).e_icl


def e_idg_hp(tau, alpha, kappa, rho, lam=0, *, dps: int = 50) -> mpmath.mpf:
    """IDG error at ``dps`` verified digits (THEORY.md section 4; see :func:`solve_hp`)."""
    return solve_hp(tau, alpha, kappa, rho, lam, dps=dps).e_idg


_FIELDS = tuple(f.name for f in fields(HighPrecResult))


def solve_hp_array(tau, alpha, kappa, rho, lam=0.0, *, dps: int = 30,
                   fields=("e_icl", "e_idg", "nu")) -> dict[str, np.ndarray]:
    """Loop :func:`solve_hp` over broadcast float arrays; returns float64 arrays (for testing).

    Each entry is the correctly rounded float64 of a value verified to ``dps`` digits, so for
    ``dps >= 20`` it is the reference a float64 kernel should reproduce up to its own rounding.
    """
    bad = [f for f in fields if f not in _FIELDS or f in ("converged", "iterations", "dps",
                                                          "working_dps")]
    if bad:
        raise ValueError(f"fields must be numeric fields of HighPrecResult; got {bad}")
    arrs = check_broadcast(tau=tau, alpha=alpha, kappa=kappa, rho=rho, lam=lam, domain=True)
    out = {f: np.empty(arrs[0].shape) for f in fields}
    for idx in np.ndindex(arrs[0].shape):
        r = solve_hp(*(float(a[idx]) for a in arrs), dps=dps)
        for f in fields:
            out[f][idx] = float(getattr(r, f))
    return out
