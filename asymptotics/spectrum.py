"""The task law, seen through one spectral object: the single place every layer asks about it.

Pretraining tasks are ``w_j ~ N(0, C)``, ``j = 1..k``; the theory needs the (negative-axis)
Stieltjes transform ``m(z) = lim (1/d) tr (R + z)^{-1}`` of ``R = (1/k) sum_j w_j w_j^T`` and the
spectral averages built from it (THEORY.md section 4); the simulator needs task draws and the moments
of ``v = |w|^2/d + rho`` for its exact test errors (THEORY.md section 3). A :class:`TaskSpectrum`
answers both, so a new task law (a covariance ``C``; THEORY.md section 8) is a new subclass, not an
edit in every module that uses it. :data:`ISOTROPIC` (``C = I``, Marchenko–Pastur) is the default
everywhere.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from asymptotics.stieltjes import _m_and_s


class Moments(NamedTuple):
    """Spectral averages at ``b = q + nu`` (``l`` an eigenvalue of ``R``, ``E`` the spectral mean).

    ``m = E[1/(l+b)]``, ``F2 = E[1/(l+b)^2] = -m'(b)``, ``T1 = E[l/(l+b)]``, ``P2 = E[l/(l+b)^2]``,
    ``T2 = E[l^2/(l+b)^2]``, ``T3 = E[(l+q)/(l+b)^2]``, ``T4 = E[(l+q)^2/(l+b)^2]``,
    ``G4 = (1 - T4)/nu = E[(2l + q + b)/(l+b)^2]``; every one a sum of positive terms.
    """

    m: np.ndarray
    F2: np.ndarray
    T1: np.ndarray
    P2: np.ndarray
    T2: np.ndarray
    T3: np.ndarray
    T4: np.ndarray
    G4: np.ndarray


class TaskSpectrum:
    """Interface of a task law. Subclasses implement the theory side (``transform``, ``moments``,
    ``T1``, ``ridgeless_nu``) and the finite-d side (``eigenvalues``, ``sample``, ``v_moments``)."""

    name = "abstract"

    def transform(self, z, kappa):
        """``(m(z), F2(z) = -m'(z))`` for ``z > 0``, ``0 < kappa <= inf`` (unchecked, broadcasting)."""
        raise NotImplementedError

    def moments(self, b, q, kappa) -> Moments:
        """The spectral averages of :class:`Moments` at ``b`` (unchecked, broadcasting)."""
        raise NotImplementedError

    def T1(self, z, kappa):
        """``E[l/(l+z)] = 1 - z m(z)`` as a positive sum (gives ``sigma2 = rho + q T1(q)``)."""
        raise NotImplementedError

    def ridgeless_nu(self, tau, q, kappa):
        """Ridgeless effective ridge for ``tau < 1``: the root of ``nu m(q + nu) = 1 - tau``."""
        raise NotImplementedError

    def eigenvalues(self, d: int) -> np.ndarray:
        """The ``d`` eigenvalues of ``C`` at finite ``d`` (tasks are drawn in ``C``'s eigenbasis)."""
        raise NotImplementedError

    def sample(self, k: int, d: int, rng: np.random.Generator, *, normalize: bool = False) -> np.ndarray:
        """``k`` task vectors (rows) at dimension ``d``; ``normalize``: rescaled to ``|w| = sqrt(d)``."""
        raise NotImplementedError

    def v_moments(self, d: int, rho: float, *, normalize: bool = False) -> tuple[float, float]:
        """``(E v, E v^2)`` for ``v = |w|^2/d + rho`` under the task law at dimension ``d``."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Isotropic(TaskSpectrum):
    """``C = I``: ``R`` has a Marchenko–Pastur spectrum of ratio ``1/kappa`` and mean 1 (the PNAS
    paper's setting). Theory side from the overflow-free kernel of :mod:`asymptotics.stieltjes`;
    every average in positive-sum form (derived here from the MP quadratic; equal to THEORY.md's
    ``1 - b m``, ``1 - 2bm + b^2 F2``, ``m - nu F2``, ``1 - 2 nu m + nu^2 F2``, which cancel when
    ``b`` or ``nu`` is large):
    ``T1 = m/(1 + m/kappa)``, ``P2 = F2/(1 + m/kappa)^2``, ``T2 = T1 (s-b)/s`` with
    ``s - b = (2b(1+1/kappa) + (1-1/kappa)^2)/(s+b)``, ``T3 = P2 + q F2``,
    ``T4 = T2 + 2q P2 + q^2 F2``, ``G4 = 2 P2 + (q + b) F2``.
    """

    name = "isotropic"

    def transform(self, z, kappa):
        m, S, p, theta = _m_and_s(z, kappa)
        return m, m * (p + theta * m) / S

    def moments(self, b, q, kappa) -> Moments:
        m, S, p, theta = _m_and_s(b, kappa)
        pm = p + theta * m  # p (1 + m/kappa)
        c = p / pm
        F2 = m * pm / S
        T1 = m * c
        P2 = F2 * c * c
        T2 = T1 * (2.0 * b * p * (p + theta) + (p - theta) ** 2) / (S * (S + p * b))
        return Moments(m, F2, T1, P2, T2, P2 + q * F2, T2 + 2.0 * q * P2 + q * q * F2,
                       2.0 * P2 + (q + b) * F2)

    def T1(self, z, kappa):
        m, _, p, theta = _m_and_s(z, kappa)
        return m * p / (p + theta * m)

    def ridgeless_nu(self, tau, q, kappa):
        """Closed form: the positive root of ``tau nu^2 - B nu - C = 0``,
        ``B = (1-tau)(q+1) - (1-tau) tau/kappa``, ``C = q (1-tau)^2/kappa`` (``m`` eliminated with its
        quadratic; derived in :mod:`asymptotics.symbolic`). Multiplied by ``p = min(kappa, 1)``
        (``theta = p/kappa``) so tiny and infinite kappa need no special case; the root is
        ``(Bp + D)/(2 p tau)`` or ``2 Cp/(D - Bp)`` (no cancellation). Entries with ``tau >= 1`` are
        meaningless and discarded by the caller."""
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            t = 1.0 - tau
            p = np.minimum(kappa, 1.0)
            theta = p / kappa
            Bp = t * (p * q + (p - tau * theta))  # p - tau theta first: exact when kappa ~ tau
            Cp = q * t * t * theta
            D = np.hypot(Bp, 2.0 * t * np.sqrt(p * tau * q * theta))
            pos = Bp >= 0
            return np.where(pos, Bp + D, 2.0 * Cp) / np.where(pos, 2.0 * p * tau, D - Bp)

    def eigenvalues(self, d: int) -> np.ndarray:
        return np.ones(d)

    def sample(self, k, d, rng, *, normalize=False):
        w = rng.standard_normal((k, d))
        if normalize:
            w *= np.sqrt(d) / np.linalg.norm(w, axis=1, keepdims=True)
        return w

    def v_moments(self, d, rho, *, normalize=False):
        # |w|^2 ~ chi2_d: Var(|w|^2/d) = 2/d; on the sphere |w|^2 = d exactly.
        ev = 1.0 + rho
        return ev, ev * ev + (0.0 if normalize else 2.0 / d)


#: The default task law ``w ~ N(0, I_d)``.
ISOTROPIC = Isotropic()
