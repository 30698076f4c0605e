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

from asymptotics.stieltjes import _SAFE_HIGH, _SAFE_LOW, _m_and_s, _p_theta, _within, b_plus_sqrt


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

    def error_moments(self, b, q, kappa):
        """``(m, F2, T1, P2, T2, T3)`` of :class:`Moments`: all the errors need (equal to ``moments``)."""
        return tuple(self.moments(b, q, kappa)[:6])

    def ridgeless_moments(self, tau, q, kappa):
        """``(nu, *error_moments(q + nu, q, kappa))`` with ``nu = ridgeless_nu(tau, q, kappa)``: the
        ridgeless path of the errors in one call, so that a subclass can share work between the two."""
        nu = self.ridgeless_nu(tau, q, kappa)
        return (nu, *self.error_moments(q + nu, q, kappa))

    def T1(self, z, kappa):
        """``E[l/(l+z)] = 1 - z m(z)`` as a positive sum (gives ``sigma2 = rho + q T1(q)``)."""
        raise NotImplementedError

    def ridgeless_nu(self, tau, q, kappa):
        """Ridgeless effective ridge: for ``tau < 1`` the root of ``nu m(q + nu) = 1 - tau``; 0 for
        ``tau >= 1`` (``tau = inf`` included)."""
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
        m, F2, T1, P2, T2, T3 = self.error_moments(b, q, kappa)
        return Moments(m, F2, T1, P2, T2, T3, T2 + 2.0 * q * P2 + q * q * F2, 2.0 * P2 + (q + b) * F2)

    def error_moments(self, b, q, kappa):
        b, q, kappa = (np.asarray(a, dtype=np.float64) for a in (b, q, kappa))
        if b.ndim == q.ndim == kappa.ndim == 0:  # the in-place steps need arrays
            moments = self._error_moments(b.reshape(1), q.reshape(1), kappa.reshape(1), None)
            return tuple(x[0] for x in moments)
        return self._error_moments(b, q, kappa, None)

    def T1(self, z, kappa):
        m, _, p, theta = _m_and_s(z, kappa)
        return m * p / (p + theta * m)

    def ridgeless_nu(self, tau, q, kappa):
        """Closed form ``nu = (1 - tau) x``, ``x`` the positive root of ``(p tau) x^2 - Bp x - q theta = 0``,
        ``Bp = p q + (p - tau theta)``: the quadratic ``tau nu^2 - B nu - C = 0``,
        ``B = (1-tau)(q+1) - (1-tau) tau/kappa``, ``C = q (1-tau)^2/kappa`` (``m`` eliminated with its
        quadratic; derived in :mod:`asymptotics.symbolic`) multiplied by ``p = min(kappa, 1)``
        (``theta = p/kappa``), so tiny and infinite kappa need no special case. With
        ``E = 4 p tau q theta``, ``D = sqrt(Bp^2 + E)``, ``Bp+ = max(Bp, 0)``, ``Bp- = min(Bp, 0)``:
        ``x = (Bp+ (D + Bp+) + E)/(2 p tau (D - Bp-))``, every term >= 0 for either sign of ``Bp``.
        ``tau`` is capped at 1 inside, so ``tau >= 1`` gives ``(1 - 1) x = 0`` with no branch. Where a
        square could over- or underflow (see :mod:`asymptotics.stieltjes`) the roots
        ``(1-tau)(Bp + D)/(2 p tau)`` and ``2 (1-tau) q theta/(D - Bp)`` are taken per sign with ``hypot``."""
        tau, q, kappa = (np.asarray(a, dtype=np.float64) for a in (tau, q, kappa))
        if tau.ndim == q.ndim == kappa.ndim == 0:  # the in-place steps below need arrays
            return self._ridgeless_nu(tau.reshape(1), q.reshape(1), kappa.reshape(1), None)[0]
        return self._ridgeless_nu(tau, q, kappa, None)

    def ridgeless_moments(self, tau, q, kappa):
        if np.ndim(tau) == np.ndim(q) == np.ndim(kappa) == 0:
            return super().ridgeless_moments(tau, q, kappa)
        p_theta = _p_theta(kappa)  # shared by the two halves, as are the range checks
        q_ok, kappa_ok = _within(q, _SAFE_LOW, _SAFE_HIGH), _within(kappa, _SAFE_LOW)
        nu = self._ridgeless_nu(tau, q, kappa, p_theta, q_ok and kappa_ok and _within(tau, _SAFE_LOW))
        b = q + nu
        # b >= q, so with q in range only b <= 2^200 is left to check.
        b_ok = bool(b.max() <= _SAFE_HIGH) if q_ok else _within(b, _SAFE_LOW, _SAFE_HIGH)
        return (nu, *self._error_moments(b, q, kappa, p_theta, kappa_ok and b_ok))

    # The two kernels below work in place on fresh temporaries (they run once per chunk of points, or
    # per Newton step); p_theta = _p_theta(kappa) when the caller has it already.

    def _error_moments(self, b, q, kappa, p_theta, safe=None):
        m, S, p, theta = _m_and_s(b, kappa, p_theta, safe)
        pm = theta * m
        pm += p  # p (1 + m/kappa)
        c = p / pm
        F2 = m * pm
        F2 /= S
        T1 = m * c
        P2 = F2 * c
        P2 *= c
        # T2 = T1 (2 b p (p + theta) + (p - theta)^2)/(S (S + p b)), reusing pm's buffer
        T2 = b * p
        den = T2 + S
        den *= S
        T2 *= 2.0
        T2 *= np.add(p, theta, out=pm)
        np.subtract(p, theta, out=pm)
        pm *= pm
        T2 += pm
        T2 *= T1
        T2 /= den
        T3 = q * F2
        T3 += P2
        return m, F2, T1, P2, T2, T3

    def _ridgeless_nu(self, tau, q, kappa, p_theta, safe=None):
        tau_c = np.minimum(tau, 1.0)
        t = 1.0 - tau_c
        p, theta = _p_theta(kappa) if p_theta is None else p_theta
        Bp = tau_c * theta
        np.subtract(p, Bp, out=Bp)  # p - tau theta first: exact when kappa ~ tau
        Bp += p * q
        if safe is None:
            safe = _within(q, _SAFE_LOW, _SAFE_HIGH) and _within(kappa, _SAFE_LOW) and _within(tau, _SAFE_LOW)
        if safe:
            # nu = t (Bp + D)/(2 p tau), D = sqrt(Bp^2 + E), E = 4 p tau q theta: b_plus_sqrt.
            den = p * tau_c
            E = q * theta
            E *= den
            E *= 4.0
            nu, _ = b_plus_sqrt(Bp, E)
            den *= 2.0
            nu /= den
            nu *= t
            return nu
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            Bp = t * Bp
            Cp = q * t * t * theta
            D = np.hypot(Bp, 2.0 * t * np.sqrt(p * tau * q * theta))
            pos = Bp >= 0
            nu = np.where(pos, Bp + D, 2.0 * Cp) / np.where(pos, 2.0 * p * tau, D - Bp)
        return np.where(tau < 1, nu, 0.0)

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
