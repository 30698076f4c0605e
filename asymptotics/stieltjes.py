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

Speed. ``hypot`` and the per-entry branch cost more than all the rest, so where every ``z`` lies in
``[2^-200, 2^200]`` and every ``kappa >= 2^-200`` (no square over- or underflows there) the kernel
uses ``S = sqrt(A^2 + E)``, ``E = 4 z theta p``, and one branch-free form of both roots,
``m = 2p/(A + S)`` with ``A + S`` from :func:`b_plus_sqrt` (``(A+ (S + A+) + E)/(S - A-)``,
every term >= 0). Elsewhere it falls back to the form above.
"""
from __future__ import annotations

import numpy as np

from asymptotics.params import check

_Z_RANGE = dict(low=0.0, low_ok=False, inf_ok=False, allowed="0 < z < inf")


#: Where z and kappa lie inside these bounds, the fast form of ``_m_and_s`` neither over- nor underflows.
_SAFE_LOW, _SAFE_HIGH = 2.0 ** -200, 2.0 ** 200


def _within(x, low, high=np.inf) -> bool:
    """Every entry of the (non-empty) array ``x`` lies in ``[low, high]``."""
    return x.size > 0 and bool(x.min() >= low) and (high == np.inf or bool(x.max() <= high))


def b_plus_sqrt(B, E):
    """``(B + D, D)`` with ``D = sqrt(B^2 + E)``, ``E >= 0``, without cancellation for either sign of
    ``B``: ``B + D = (B+ (D + B+) + E)/(D - B-)``, ``B+ = max(B, 0)``, ``B- = min(B, 0)`` (every term
    >= 0; for ``B >= 0`` it is ``B + D``, for ``B < 0`` it is ``E/(D - B)``). The one form behind the
    Marchenko–Pastur root here, the ridgeless effective ridge and the Newton start of
    :mod:`asymptotics.theory`. Needs ``B^2`` and ``E`` representable (callers check the range)."""
    D = B * B
    D += E
    np.sqrt(D, out=D)
    b_pos = np.maximum(B, 0.0)
    num = D + b_pos
    num *= b_pos
    num += E
    den = D - np.minimum(B, 0.0)
    num /= den
    return num, D


def _p_theta(kappa):
    """``p = min(kappa, 1)`` and ``theta = p/kappa`` (1/kappa for kappa >= 1, 0 at inf; 1 below)."""
    p = np.minimum(kappa, 1.0)
    return p, p / kappa


def _m_and_s(z, kappa, p_theta=None, safe=None):
    """Unchecked kernel: ``m(z)``, ``S = p s``, ``p = min(kappa, 1)`` and ``theta = p/kappa``
    (``p_theta``: those two, if the caller has them already; ``safe``: whether the caller knows z and
    kappa to lie in the range of the fast form)."""
    z = np.asarray(z, dtype=np.float64)
    kappa = np.asarray(kappa, dtype=np.float64)
    if z.ndim == 0 and kappa.ndim == 0:  # the in-place steps below need arrays
        return tuple(x[0] for x in _m_and_s(z.reshape(1), kappa.reshape(1)))
    p, theta = _p_theta(kappa) if p_theta is None else p_theta
    A = p * z
    A += p - theta  # p - theta first: exact at kappa = 1, where A = z is tiny at the edge
    if safe is None:
        safe = _within(z, _SAFE_LOW, _SAFE_HIGH) and _within(kappa, _SAFE_LOW)
    if safe:
        # m = 2p/(A + S), S = sqrt(A^2 + E): the cancellation-free b_plus_sqrt.
        E = z * theta
        E *= p
        E *= 4.0
        root, S = b_plus_sqrt(A, E)
        m = np.divide(2.0 * p, root, out=root)
        return m, S, p, theta
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
    m, _, _, _ = _m_and_s(check("z", z, **_Z_RANGE), check("kappa", kappa, domain=True))
    return _out(m)


def marchenko_pastur_dm(z, kappa):
    """``m'(z) = -lim (1/d) tr (R + z)^{-2}`` (so THEORY.md's ``F2 = -m'``), same conventions."""
    m, S, p, theta = _m_and_s(check("z", z, **_Z_RANGE), check("kappa", kappa, domain=True))
    return _out(-m * (p + theta * m) / S)
