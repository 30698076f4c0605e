"""The paper's ridgeless closed form (Lu et al., PNAS 2025, Result 1), written independently.

This module deliberately does not call the fixed-point solver in ``asymptotics.theory``: it is the
check on it. With ``x = q = (1+rho)/alpha``, ``m = M_kappa(x)`` and ``mu = x M_{kappa/tau}(x)``:

- ``tau < 1``: ``e_ICL = tau (1+x)/(1-tau) [1 - tau (1-mu)^2 - mu (x-rho)/x] - 2 tau (1-mu) + 1 + rho``
- ``tau > 1``: ``e_ICL = (1+x)[1 - 2 x m - x^2 m'(x)] - 2 (1 - x m) + 1 + rho + (1+x) m (rho + x - x^2 m)/(tau-1)``
- ``tau = 1``: ``+inf`` (the interpolation peak of the double descent).

For IDG the ridgeless ``tau > 1`` branch follows from THEORY.md §4 with ``nu = 0``
(``T4 = 1, B5 = 0``): ``e_IDG = tau sigma2/(tau - 1)``, ``sigma2 = rho + x - x^2 m``.
"""
from __future__ import annotations

import numpy as np

from asymptotics.params import check_params
from asymptotics.stieltjes import marchenko_pastur_m, marchenko_pastur_dm


def e_icl_ridgeless(tau, alpha, kappa, rho):
    """Ridgeless asymptotic ICL error, paper Result 1 (finite ``tau``; broadcasting)."""
    tau, alpha, kappa, rho, _ = check_params(tau, alpha, kappa, rho, 0.0)
    if np.any(np.isinf(tau)):
        raise ValueError("tau must be finite in the Result 1 closed form; use asymptotics.limits.e_tau_inf")
    x = (1.0 + rho) / alpha
    out = np.full(tau.shape, np.inf)
    lo, hi = tau < 1, tau > 1
    t, xl, rl = tau[lo], x[lo], rho[lo]
    with np.errstate(over="ignore"):  # kappa/tau beyond float64 is inf: M_inf, the exact limit
        mu = xl * marchenko_pastur_m(xl, kappa[lo] / t)
    out[lo] = (t * (1 + xl) / (1 - t) * (1 - t * (1 - mu) ** 2 - mu * (xl - rl) / xl)
               - 2 * t * (1 - mu) + 1 + rl)
    t, xh, rh, kh = tau[hi], x[hi], rho[hi], kappa[hi]
    m = marchenko_pastur_m(xh, kh)
    dm = marchenko_pastur_dm(xh, kh)
    out[hi] = ((1 + xh) * (1 - 2 * xh * m - xh * xh * dm) - 2 * (1 - xh * m) + 1 + rh
               + (1 + xh) * m * (rh + xh - xh * xh * m) / (t - 1))
    return float(out) if out.ndim == 0 else out


def e_idg_ridgeless_above(tau, alpha, kappa, rho):
    """Ridgeless asymptotic IDG error for ``tau > 1``: ``tau sigma2/(tau-1)`` (THEORY.md §4, nu = 0)."""
    tau, alpha, kappa, rho, _ = check_params(tau, alpha, kappa, rho, 0.0)
    if np.any(tau <= 1) or np.any(np.isinf(tau)):
        raise ValueError("tau must satisfy 1 < tau < inf for the ridgeless IDG closed form")
    x = (1.0 + rho) / alpha
    out = tau * (rho + x - x * x * marchenko_pastur_m(x, kappa)) / (tau - 1)
    return float(out) if out.ndim == 0 else out
