"""Marchenko–Pastur Stieltjes transform of the task covariance, branch-safe and vectorised.

``R = (1/k) sum_j w_j w_j^T`` with ``w_j ~ N(0, I_d)`` and ``k/d -> kappa`` has a Marchenko–Pastur
spectrum of ratio ``1/kappa`` and mean eigenvalue 1. Its (negative-axis) Stieltjes transform
``m(z) = lim (1/d) tr (R + z)^{-1}``, ``z > 0``, is the root with ``m > 0`` of

    (z/kappa) m^2 + a m - 1 = 0,    a = z + 1 - 1/kappa

(paper, PNAS 2025, eq. for M_kappa; THEORY.md §4), i.e. ``m = 2/(a + s)``, ``s = sqrt(a^2 + 4z/kappa)``.
For ``a < 0`` the algebraically equal form ``kappa (s - a)/(2z)`` avoids cancellation; for
``kappa = inf`` (R = I) ``m = 1/(1+z)``. Implicit differentiation gives
``m'(z) = -(m^2/kappa + m)/s`` because ``2 z m/kappa + a = s``: no cancellation in either branch.
"""
from __future__ import annotations

import numpy as np


def _m_and_s(z, kappa):
    """Return ``m(z)``, ``s = sqrt(a^2 + 4z/kappa)`` and ``1/kappa`` (0 for kappa = inf)."""
    z = np.asarray(z, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        inv_k = 1.0 / np.asarray(kappa, dtype=np.float64)
        a = z + 1.0 - inv_k
        s = np.sqrt(a * a + 4.0 * z * inv_k)
        # kappa = inf has a = 1 + z > 0, so its 0/0 in the unused branch is discarded.
        m = np.where(a >= 0, 2.0 / (a + s), (s - a) / (2.0 * z * inv_k))
    return m, s, inv_k


def mp_stieltjes(z, kappa):
    """``m(z) = lim (1/d) tr (R + z)^{-1}`` for ``z > 0``, ``0 < kappa <= inf`` (broadcasting)."""
    m, _, _ = _m_and_s(z, kappa)
    return m[()] if m.ndim == 0 else m


def mp_stieltjes_deriv(z, kappa):
    """``m'(z) = -lim (1/d) tr (R + z)^{-2}`` (so ``F2 = -m'``), by implicit differentiation."""
    m, s, inv_k = _m_and_s(z, kappa)
    dm = -(m * m * inv_k + m) / s
    return dm[()] if dm.ndim == 0 else dm
