"""Limits and landmarks of the asymptotic errors (THEORY.md §4, "Limits to reproduce").

Each function is either a thin evaluation of the general formulas at a limiting parameter value that
``asymptotics.theory`` supports exactly (``tau = inf``, ``kappa = inf``), or a closed form that the
tests check against the general formulas evaluated close to the limit.

Domains. Every function validates through :mod:`asymptotics.params` and raises ``TypeError`` /
``ValueError`` naming the parameter and its range otherwise (NaN never accepted). None of them
returns NaN:

- :func:`optimal_attention_error` and :func:`e_alpha_inf_tau_inf` are closed forms evaluated without
  overflow, so they accept the whole domain (``asymptotics.params.DOMAIN``: ``0 < alpha < inf``,
  ``0 < kappa <= inf``, ``0 <= rho < inf``) and are finite there.
- :func:`e_tau_inf`, :func:`e_kappa_inf` and :func:`interpolation_peak` evaluate the float64 kernels
  of :mod:`asymptotics.theory`, so they accept the float64 range of the theory
  (``asymptotics.params.RANGES``: ``1e-30 <= tau <= 1e100`` or ``inf``, ``1e-30 <= alpha <= 1e100``,
  ``rho <= 1e30``, ``lam <= 1e100``), where the kernels are finite and converged at every
  combination (tests/test_fuzz.py); beyond it ``ValueError`` names the parameter and the bound.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar

from asymptotics.params import PARAMS, RANGES, as_real_array, check_broadcast, check_scalar
from asymptotics.theory import ConvergenceError, solve


def _scalar_or_array(a):
    return float(a) if np.ndim(a) == 0 else a


def _solve(tau, alpha, kappa, rho, lam):
    """``solve`` with float64 warnings left silent: :func:`_finite_result` checks what comes back."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return solve(tau, alpha, kappa, rho, lam)


def _finite_result(who: str, r, fields=("e_icl", "e_idg")):
    """Refuse to pass on an unconverged point (``ConvergenceError``) or a NaN or overflowed inf from
    ``solve`` (``ArithmeticError``; inside ``RANGES`` neither happens: tests/test_fuzz.py). The ridgeless
    peak ``lam = 0, tau = 1`` is ``inf`` on purpose and passes."""
    peak = (np.asarray(r.lam) == 0) & (np.asarray(r.tau) == 1)
    bad = ~np.asarray(r.converged, dtype=bool)
    for f in fields:
        bad = bad | (~np.isfinite(getattr(r, f)) & ~peak)
    if not np.any(bad):
        return
    i = int(np.flatnonzero(np.ravel(bad))[0])
    point = {k: float(np.ravel(getattr(r, k))[i]) for k in PARAMS}
    where = "" if bad.ndim == 0 else f" ({int(np.count_nonzero(bad))} of {bad.size} points)"
    if not bool(np.ravel(r.converged)[i]):
        raise ConvergenceError(f"{who}: effective-ridge fixed point did not converge at {point}{where}")
    raise ArithmeticError(f"{who}: non-finite float64 result at {point}{where}, inside the float64 "
                          f"range of asymptotics.params.RANGES (a bug: please report it)")


def e_tau_inf(alpha, kappa, rho, lam=0.0):
    """``tau -> inf`` (infinite pretraining data): returns ``(e_icl, e_idg)``; broadcasting.

    Ridgeless, ``e_IDG -> sigma2 = rho + q - q^2 m(q)``. Domain: the float64 range of the theory
    (``asymptotics.params.RANGES``; module docstring); beyond it ``ValueError`` naming the
    parameter, never NaN.
    """
    r = _solve(np.inf, alpha, kappa, rho, lam)
    _finite_result("e_tau_inf", r)
    return _scalar_or_array(r.e_icl), _scalar_or_array(r.e_idg)


def e_kappa_inf(tau, alpha, rho, lam=0.0):
    """``kappa -> inf`` (infinite task diversity, ``R = I``): returns ``(e_icl, e_idg)``, equal.

    Domain: the float64 range of the theory (``asymptotics.params.RANGES``; module docstring);
    beyond it ``ValueError`` naming the parameter; never NaN. Ridgeless ``tau = 1`` is the
    interpolation peak: both errors are ``inf`` there, on purpose.
    """
    r = _solve(tau, alpha, np.inf, rho, lam)
    _finite_result("e_kappa_inf", r)
    return _scalar_or_array(r.e_icl), _scalar_or_array(r.e_idg)


def optimal_attention_error(alpha, rho):
    """``tau, kappa -> inf`` (ridgeless): ``rho + q/(1+q)``, ``q = (1+rho)/alpha``; broadcasting.

    The best error linear attention reaches; it is above the Bayes error ``baselines.ridge_error``.
    Domain: every ``0 < alpha < inf``, ``0 <= rho < inf``; ``q/(1+q)`` is formed as
    ``1/(1 + alpha/(1+rho))``, which neither overflows nor loses accuracy (``-> 1`` as ``alpha -> 0``).
    """
    alpha, rho = check_broadcast(alpha=alpha, rho=rho, domain=True)
    return _scalar_or_array(rho + 1.0 / (1.0 + alpha / (1.0 + rho)))


def e_alpha_inf_tau_inf(kappa, rho):
    """Ridgeless ``tau -> inf`` then ``alpha -> inf``: returns ``(e_icl, e_idg)``; broadcasting.

    ``e_IDG -> rho`` for every kappa; ``e_ICL -> 1 + rho - kappa`` for ``kappa < 1`` (rank-deficient
    task covariance: memorisation) and ``-> rho`` for ``kappa >= 1`` (in-context learning); the
    non-analytic point at ``kappa = 1`` (continuous, with a kink) is the memorisation-to-ICL
    transition. Domain: every ``0 < kappa <= inf`` (``inf`` gives ``rho``) and ``0 <= rho < inf``.
    """
    kappa, rho = check_broadcast(kappa=kappa, rho=rho, domain=True)
    icl = np.where(kappa < 1, 1.0 + rho - np.minimum(kappa, 1.0), rho)
    return _scalar_or_array(icl), _scalar_or_array(rho.copy())


@dataclass(frozen=True)
class Peak:
    """Location of the maximum of an error over tau.

    ``interior`` is False when the error is monotone on the searched range (strong ridge removes the
    peak); then ``tau`` and ``value`` are None: a boundary point is never reported as a peak.
    """

    tau: float | None
    value: float | None
    interior: bool


def _peak_scalar(name: str, value) -> float:
    """One model parameter of :func:`interpolation_peak`: a scalar within its range."""
    value = as_real_array(name, value)
    if value.ndim != 0:
        raise ValueError(f"{name} must be a scalar with {RANGES[name].text} for interpolation_peak; "
                         f"got an array of shape {value.shape}")
    return check_scalar(name, value)


def _tau_range(tau_range) -> tuple[float, float]:
    lo_tau, hi_tau = RANGES["tau"].low, RANGES["tau"].high
    allowed = f"two numbers (lo, hi) with {lo_tau:g} <= lo < 1 < hi <= {hi_tau:g} (the float64 range of tau)"
    try:
        arr = as_real_array("tau_range", tau_range)
    except ValueError as exc:
        raise ValueError(f"tau_range must be {allowed}; got {tau_range!r}") from exc
    if arr.shape != (2,) or not lo_tau <= arr[0] < 1 < arr[1] <= hi_tau:  # NaN fails every comparison
        raise ValueError(f"tau_range must be {allowed}; got {tau_range!r}")
    return float(arr[0]), float(arr[1])


def interpolation_peak(alpha, kappa, rho, lam=0.0, which="icl", *, tau_range=(1e-3, 1e3)):
    """The ``tau`` maximising ``e_icl`` or ``e_idg`` (the double-descent peak); scalar parameters.

    Ridgeless: ``tau = 1`` exactly with value ``inf`` (THEORY.md §4; at finite ``d`` the peak sits at
    ``n = d(d+1)``, i.e. ``tau = 1 + 1/d``). ``lam > 0``: a dense log-grid scan (2001 points) followed
    by bounded Brent refinement in ``log tau`` of the highest interior local maximum in ``tau_range``;
    with no interior local maximum (strong ridge) ``Peak(None, None, False)``.

    Domain: scalar ``0 < alpha < inf``, ``0 < kappa <= inf``, ``rho >= 0``, ``lam >= 0``; ``which`` is
    ``'icl'`` or ``'idg'``; ``tau_range = (lo, hi)`` with ``1e-30 <= lo < 1 < hi <= 1e100``, all
    within the float64 range of the theory (``asymptotics.params.RANGES``). Anything else raises
    ``ValueError`` (``TypeError`` for a non-number) naming the argument and its range. A verdict is
    only drawn from a scan on which the float64 kernels are finite and converged (never a NaN scan
    read as "no peak").
    """
    if not isinstance(which, str) or which not in ("icl", "idg"):
        raise ValueError(f"which must be 'icl' or 'idg'; got {which!r}")
    alpha, kappa, rho, lam = (_peak_scalar(n, v) for n, v in
                              (("alpha", alpha), ("kappa", kappa), ("rho", rho), ("lam", lam)))
    lo, hi = _tau_range(tau_range)
    if lam == 0:
        return Peak(tau=1.0, value=float("inf"), interior=True)
    field = "e_" + which
    grid = np.geomspace(lo, hi, 2001)
    scan = _solve(grid, alpha, kappa, rho, lam)
    _finite_result("interpolation_peak", scan, fields=(field,))
    values = getattr(scan, field)
    # Interior local maxima of the scan; the error tends to 1 + rho as tau -> 0, so a peak can sit
    # below the boundary value and the global argmax would miss it.
    local = np.flatnonzero((values[1:-1] > values[:-2]) & (values[1:-1] >= values[2:])) + 1
    if local.size == 0:
        return Peak(tau=None, value=None, interior=False)
    i = int(local[np.argmax(values[local])])

    def minus_error(log_tau):
        r = _solve(np.exp(log_tau), alpha, kappa, rho, lam)
        _finite_result("interpolation_peak", r, fields=(field,))
        return -float(getattr(r, field))

    res = minimize_scalar(minus_error, bounds=(np.log(grid[i - 1]), np.log(grid[i + 1])),
                          method="bounded", options={"xatol": 1e-12})
    return Peak(tau=float(np.exp(res.x)), value=float(-res.fun), interior=True)
