"""Limits and landmarks of the asymptotic errors (THEORY.md §4, "Limits to reproduce").

Each function is either a thin evaluation of the general formulas at a limiting parameter value that
``asymptotics.theory`` supports exactly (``tau = inf``, ``kappa = inf``), or a closed form that the
tests check against the general formulas evaluated close to the limit.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar

from asymptotics.params import check
from asymptotics.theory import solve


def _scalar_or_array(a):
    return float(a) if np.ndim(a) == 0 else a


def e_tau_inf(alpha, kappa, rho, lam=0.0):
    """``tau -> inf`` (infinite pretraining data): returns ``(e_icl, e_idg)``.

    Ridgeless, ``e_IDG -> sigma2 = rho + q - q^2 m(q)``.
    """
    r = solve(np.inf, alpha, kappa, rho, lam)
    return _scalar_or_array(r.e_icl), _scalar_or_array(r.e_idg)


def e_kappa_inf(tau, alpha, rho, lam=0.0):
    """``kappa -> inf`` (infinite task diversity, ``R = I``): returns ``(e_icl, e_idg)``, equal."""
    r = solve(tau, alpha, np.inf, rho, lam)
    return _scalar_or_array(r.e_icl), _scalar_or_array(r.e_idg)


def optimal_attention_error(alpha, rho):
    """``tau, kappa -> inf`` (ridgeless): ``rho + q/(1+q)``, ``q = (1+rho)/alpha``.

    The best error linear attention reaches; it is above the Bayes error ``baselines.ridge_error``.
    """
    alpha, rho = np.broadcast_arrays(check("alpha", alpha), check("rho", rho))
    q = (1.0 + rho) / alpha
    return _scalar_or_array(rho + q / (1.0 + q))


def e_alpha_inf_tau_inf(kappa, rho):
    """Ridgeless ``tau -> inf`` then ``alpha -> inf``: returns ``(e_icl, e_idg)``.

    ``e_IDG -> rho`` for every kappa; ``e_ICL -> 1 + rho - kappa`` for ``kappa < 1`` (rank-deficient
    task covariance: memorisation) and ``-> rho`` for ``kappa >= 1`` (in-context learning); the
    non-analytic point at ``kappa = 1`` is the memorisation-to-ICL transition.
    """
    kappa, rho = np.broadcast_arrays(check("kappa", kappa), check("rho", rho))
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


def interpolation_peak(alpha, kappa, rho, lam=0.0, which="icl", *, tau_range=(1e-3, 1e3)):
    """The ``tau`` maximising ``e_icl`` or ``e_idg`` (the double-descent peak); scalar parameters.

    Ridgeless: ``tau = 1`` exactly with value ``inf`` (THEORY.md §4; at finite ``d`` the peak sits at
    ``n = d(d+1)``, i.e. ``tau = 1 + 1/d``). ``lam > 0``: a dense log-grid scan followed by bounded
    Brent refinement in ``log tau`` of the highest interior local maximum in ``tau_range``; with no
    interior local maximum (strong ridge) ``Peak(None, None, False)``.
    """
    if which not in ("icl", "idg"):
        raise ValueError(f"which must be 'icl' or 'idg'; got {which!r}")
    for name, v in (("alpha", alpha), ("kappa", kappa), ("rho", rho), ("lam", lam)):
        if np.ndim(v) != 0:
            raise ValueError(f"{name} must be a scalar for interpolation_peak")
    lo, hi = tau_range
    if not 0 < lo < 1 < hi < np.inf:
        raise ValueError(f"tau_range must satisfy 0 < lo < 1 < hi < inf; got {tau_range!r}")
    solve(1.0, alpha, kappa, rho, lam)  # validates the parameters
    if lam == 0:
        return Peak(tau=1.0, value=float("inf"), interior=True)
    field = "e_" + which
    grid = np.geomspace(lo, hi, 2001)
    values = getattr(solve(grid, alpha, kappa, rho, lam), field)
    # Interior local maxima of the scan; the error tends to 1 + rho as tau -> 0, so a peak can sit
    # below the boundary value and the global argmax would miss it.
    local = np.flatnonzero((values[1:-1] > values[:-2]) & (values[1:-1] >= values[2:])) + 1
    if local.size == 0:
        return Peak(tau=None, value=None, interior=False)
    i = int(local[np.argmax(values[local])])
    res = minimize_scalar(lambda lt: -float(getattr(solve(np.exp(lt), alpha, kappa, rho, lam), field)),
                          bounds=(np.log(grid[i - 1]), np.log(grid[i + 1])), method="bounded",
                          options={"xatol": 1e-12})
    return Peak(tau=float(np.exp(res.x)), value=float(-res.fun), interior=True)
