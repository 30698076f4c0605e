"""Marchenko–Pastur Stieltjes transform of the task covariance, branch-safe and overflow-free.

``R = (1/k) sum_j w_j w_j^T`` with ``w_j ~ N(0, I_d)`` and ``k/d -> kappa`` has a Marchenko–Pastur
spectrum of ratio ``1/kappa`` and mean eigenvalue 1. Its (negative-axis) Stieltjes transform
``m(z) = lim (1/d) tr (R + z)^{-1}``, ``z > 0``, is the root with ``m > 0`` of

    (z/kappa) m^2 + a m - 1 = 0,    a = z + 1 - 1/kappa

(paper, PNAS 2025, M_kappa; THEORY.md §4), i.e. ``m = 2/(a + s)``, ``s = sqrt(a^2 + 4z/kappa)``, or
the algebraically equal ``kappa (s - a)/(2z)`` when ``a < 0`` (no cancellation in either branch);
``kappa = inf`` (R = I) gives ``m = 1/(1+z)``.

Numerics (derived here). The quadratic is multiplied by ``p = min(kappa, 1)`` so that no coefficient
overflows for tiny or infinite kappa; with ``theta = p/kappa`` in ``[0, 1]``:
``(z theta) m^2 + A m - p = 0``, ``A = p a = p z + (p - theta)``, ``S = p s = hypot(A, 2 sqrt(z theta p))``.
The root is ``2p/(A + S)`` for ``A >= 0`` and ``(S - A)/(2 z theta)`` for ``A < 0``. Implicit
differentiation gives ``m'(z) = -m (p + theta m)/S`` (``S = 2 z theta m + A`` at the root), a ratio of
positive terms.
"""
from __future__ import annotations

import numpy as np

from asymptotics.params import check

_Z_RANGE = dict(low=0.0, low_ok=False, inf_ok=False, allowed="0 < z < inf")


def _m_and_s(z, kappa):
    """Unchecked kernel: ``m(z)``, ``S = p s``, ``p = min(kappa, 1)`` and ``theta = p/kappa``."""
    z = np.asarray(z, dtype=np.float64)
    kappa = np.asarray(kappa, dtype=np.float64)
    p = np.minimum(kappa, 1.0)
    theta = p / kappa  # 1/kappa for kappa >= 1 (0 at inf), 1 for kappa < 1
    A = p * z + (p - theta)  # p - theta first: exact at kappa = 1, where A = z is tiny at the edge
    zt = z * theta
    S = np.hypot(A, 2.0 * np.sqrt(zt * p))
    pos = A >= 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        m = np.where(pos, 2.0 * p, S - A) / np.where(pos, A + S, 2.0 * zt)
    return m, S, p, theta


def _out(x):
    return float(x) if np.ndim(x) == 0 else x


def marchenko_pastur_m(z, kappa):
    """``m(z) = lim (1/d) tr (R + z)^{-1}`` for ``0 < z < inf``, ``0 < kappa <= inf`` (broadcasting)."""
    m, _, _, _ = _m_and_s(check("z", z, **_Z_RANGE), check("kappa", kappa))
    return _out(m)


def marchenko_pastur_dm(z, kappa):
    """``m'(z) = -lim (1/d) tr (R + z)^{-2}`` (so THEORY.md's ``F2 = -m'``), same conventions."""
    m, S, p, theta = _m_and_s(check("z", z, **_Z_RANGE), check("kappa", kappa))
    return _out(-m * (p + theta * m) / S)
