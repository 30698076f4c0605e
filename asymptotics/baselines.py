"""Bayes-optimal baseline in closed form (THEORY.md §5).

For Gaussian tasks ``w ~ N(0, I_d)``, tokens ``x ~ N(0, I_d/d)``, ``l = alpha d`` context samples and
label noise ``rho``, the posterior mean is ridge regression ``(X^T X + rho I)^{-1} X^T y`` and its
error on the query is ``rho + (1/d) tr Sigma_post = rho (1 + g)``, ``g = lim (1/d) tr (X^T X + rho)^{-1}``.
``X^T X`` is ``alpha`` times a Marchenko–Pastur matrix of ratio ``1/alpha``, so
``g = M_alpha(rho/alpha)/alpha`` with the same transform as the task covariance (derived here; it is
the positive root of ``rho g^2 + (rho + alpha - 1) g - 1 = 0``). The noiseless limit ``rho -> 0`` is
handled on purpose: the error is ``max(0, 1 - alpha)`` (the unseen part of ``w``).
"""
from __future__ import annotations

import numpy as np

from asymptotics.params import check
from asymptotics.stieltjes import marchenko_pastur_m


def ridge_error(alpha, rho):
    """Bayes (ridge posterior-mean) ICL error for Gaussian tasks, ``d -> inf``; broadcasting."""
    alpha = check("alpha", alpha)
    rho = check("rho", rho)
    alpha, rho = np.broadcast_arrays(alpha, rho)
    shape = alpha.shape
    alpha, rho = alpha.ravel(), rho.ravel()
    out = np.maximum(0.0, 1.0 - alpha)
    pos = rho > 0
    a, r = alpha[pos], rho[pos]
    # rho/alpha can underflow to 0 (rho = 1e-224, alpha = 1e100; then alpha > 1 and m is within
    # O(z) of its finite value at z = 0): the smallest subnormal is as good an argument, and > 0.
    z = np.maximum(r / a, np.finfo(float).smallest_subnormal)
    out[pos] = r * (1.0 + marchenko_pastur_m(z, a) / a)
    return float(out[0]) if not shape else out.reshape(shape)
