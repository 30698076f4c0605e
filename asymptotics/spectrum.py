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

from asymptotics.params import as_real_array, as_real_scalar, check_int
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
    ``T1``, ``ridgeless_nu``, ``test_sums``) and the finite-d side (``eigenvalues``, ``sample``).
    The test law is separate (:class:`Tasks`; the default isotropic one's ``v`` moments are
    :meth:`Isotropic.v_moments`). ``mean`` is ``tr C/d`` (it enters ``q = (tr C/d + rho)/alpha``);
    ``closed_form_ridgeless`` says whether ``ridgeless_nu`` has a closed form (else the theory finds
    the ridgeless effective ridge with the same Newton iteration as for ``lam > 0``)."""

    name = "abstract"
    mean = 1.0
    closed_form_ridgeless = True

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

    def structured_moments(self, b, q, kappa, nu, weights):
        """``(moments(b, q, kappa), Sa, Sb, converged)``: the moments and the test sums of
        :meth:`test_sums` in one pass."""
        Sa, Sb, ok = self.test_sums(b, q, kappa, nu, weights)
        return self.moments(b, q, kappa), Sa, Sb, ok

    def test_sums(self, b, q, kappa, nu, weights):
        """Test-side spectral sums at ``b = q + nu`` for test weights per atom (``weights``: an
        ``(atoms, j)`` array of ``w_i a_i``, ``a_i`` the test covariance's diagonal in the task
        eigenbasis): ``(Sa, Sb, converged)`` with ``Sa[:, j] = (1/d) tr C_te (R+q)(R+b)^{-2}`` and
        ``Sb[:, j] = b^2 (1/d) tr C_te (R+b)^{-2}`` in the deterministic-equivalent sense (docs/THEORY.md,
        structured tasks), each a point-by-column array."""
        raise NotImplementedError

    def eigenvalues(self, d: int) -> np.ndarray:
        """The ``d`` eigenvalues of ``C`` at finite ``d`` (tasks are drawn in ``C``'s eigenbasis)."""
        raise NotImplementedError

    def sample(self, k: int, d: int, rng: np.random.Generator, *, normalize: bool = False) -> np.ndarray:
        """``k`` task vectors (rows) at dimension ``d``; ``normalize``: rescaled to ``|w| = sqrt(d)``."""
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

    def test_sums(self, b, q, kappa, nu, weights):
        # One atom (lambda = 1): (1/d) tr C_te f(R) -> (tr C_te/d) E f(l); (R+q)(R+b)^-2 -> T3.
        mo = self.moments(b, q, kappa)
        total = np.sum(weights, axis=0)
        return mo.T3[..., None] * total, (b * b * mo.F2)[..., None] * total, np.ones(np.shape(b), bool)

    def eigenvalues(self, d: int) -> np.ndarray:
        return np.ones(d)

    def sample(self, k, d, rng, *, normalize=False):
        w = rng.standard_normal((k, d))
        if normalize:
            w *= np.sqrt(d) / np.linalg.norm(w, axis=1, keepdims=True)
        return w

    def v_moments(self, d, rho, *, normalize=False):
        """``(E v, E v^2)`` for ``v = |w|^2/d + rho``, ``w ~ N(0, I_d)`` (or on the sphere with
        ``normalize``): the default test law's moments in :func:`simulate.errors.test_errors`."""
        # |w|^2 ~ chi2_d: Var(|w|^2/d) = 2/d; on the sphere |w|^2 = d exactly.
        ev = 1.0 + rho
        return ev, ev * ev + (0.0 if normalize else 2.0 / d)


#: The default task law ``w ~ N(0, I_d)``.
ISOTROPIC = Isotropic()


# ---------------------------------------------------------------------------------------------------
# Structured task laws (THEORY.md section 8; docs/THEORY.md, "Structured tasks")
# ---------------------------------------------------------------------------------------------------

#: Newton iterations allowed for the scalar root ``x = c/z`` of one Stieltjes evaluation.
ROOT_MAXITER = 200

_EPS = np.finfo(float).eps

#: Supported scale of a covariance: its mean eigenvalue ``tr C/d`` (like ``rho``, it enters
#: ``q = (tr C/d + rho)/alpha``; outside this the float64 kernels could over- or underflow).
SCALE_RANGE = (1e-30, 1e30)
#: Most eigenvalues of a :func:`power_law` (the theory costs O(number of atoms) per point and step).
ATOMS_MAX = 10**7
#: Largest eigenvalue (or matrix entry, in size) of a covariance accepted: far above any mean in
#: ``SCALE_RANGE`` a PSD matrix can have, and small enough that no sum over it overflows.
ENTRY_MAX = 1e100


def _real(name: str, value) -> np.ndarray:
    """``value`` as a float64 array through the one type check (:func:`asymptotics.params.as_real_array`:
    ``TypeError`` naming ``name`` for anything not real numbers, ragged lists included)."""
    return np.asarray(as_real_array(name, value), dtype=np.float64)


def _as_eigenvalues(name: str, values) -> np.ndarray:
    """A 1-D, finite, non-negative, not-all-zero float64 array, or ``ValueError`` naming ``name``."""
    if isinstance(values, (str, bytes)):
        raise ValueError(f"{name} must be real eigenvalues (a 1-D array), a symmetric PSD matrix or a "
                         f"named law (asymptotics.spectrum); got {values!r}")
    arr = _real(name, values)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array of eigenvalues; got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite (no NaN or inf)")
    if arr.min() < 0:
        raise ValueError(f"{name} must be positive semi-definite: eigenvalues >= 0; got min {arr.min():.3g}")
    if arr.max() == 0:
        raise ValueError(f"{name} must not be all zero")
    if arr.max() > ENTRY_MAX:
        raise ValueError(f"{name} has an eigenvalue {arr.max():.3g} above {ENTRY_MAX:g} (the float64 range "
                         "of the theory; rescale it)")
    scale = float(np.sum(arr / arr.size))  # no overflow
    if not SCALE_RANGE[0] <= scale <= SCALE_RANGE[1]:
        raise ValueError(f"{name} must have its mean eigenvalue tr C/d in [{SCALE_RANGE[0]:g}, "
                         f"{SCALE_RANGE[1]:g}] (the float64 range of the theory); got {scale:.3g}")
    return arr


def _as_matrix(name: str, value) -> tuple[np.ndarray, np.ndarray]:
    """Eigen-decomposition ``(eigenvalues descending, eigenvectors as columns)`` of a symmetric PSD
    matrix, or ``ValueError`` naming ``name`` (non-square, non-symmetric, NaN/inf, not PSD, zero)."""
    M = _real(name, value)
    if M.ndim != 2 or M.shape[0] != M.shape[1] or M.shape[0] == 0:
        raise ValueError(f"{name} as a matrix must be square; got shape {M.shape}")
    if not np.all(np.isfinite(M)):
        raise ValueError(f"{name} must be finite (no NaN or inf)")
    if np.max(np.abs(M)) > ENTRY_MAX:
        raise ValueError(f"{name} has an entry {float(np.max(np.abs(M))):.3g} above {ENTRY_MAX:g} in size (the "
                         "float64 range of the theory; rescale it)")
    scale = max(float(np.max(np.abs(M))), np.finfo(float).tiny)
    if np.max(np.abs(M - M.T)) > 1e-10 * scale:
        raise ValueError(f"{name} must be symmetric (max |M - M^T| = {np.max(np.abs(M - M.T)):.3g})")
    vals, vecs = np.linalg.eigh(0.5 * M + 0.5 * M.T)
    if vals.min() < -1e-10 * scale * M.shape[0]:
        raise ValueError(f"{name} must be positive semi-definite; smallest eigenvalue {vals.min():.3g}")
    vals = np.maximum(vals, 0.0)[::-1]
    return _as_eigenvalues(name, vals), vecs[:, ::-1]


class Spectrum(TaskSpectrum):
    """Task law ``w ~ N(0, C)`` whose eigenvalue distribution is the given atoms (equal weights unless
    ``weights`` is given): the theory treats it as the limiting spectral law of ``C``; the simulator
    draws tasks in ``C``'s eigenbasis with ``eigenvalues(d)``.

    Stieltjes transform of ``R = (1/k) sum_j w_j w_j^T`` (THEORY.md section 8; exact, no sampling):
    ``m(z) = sum_i w_i / (c lam_i + z)`` with ``c`` the root in ``(0, 1]`` of
    ``c - 1 + (1 - z m)/kappa = 0``. Here it is solved for ``x = c/z`` (well conditioned for every
    ``z`` and ``kappa``; ``c`` itself cancels for ``kappa < 1``, small ``z``):
    ``F(x) = z x - 1 + (1/kappa) sum_i w_i x lam_i u_i = 0``, ``u_i = 1/(x lam_i + 1)``, increasing and
    concave in ``x``, so Newton from ``x0 = max(0, 1 - 1/kappa)/z`` (where ``F <= 0``) increases
    monotonically to the root. Every average is then a sum of positive terms (derived in
    docs/THEORY.md): with ``S0 = sum w u``, ``Au = sum w u^2``, ``Bz = sum w lam u^2``,
    ``Qz = sum w lam^2 u^2``, ``T1 = x sum w lam u``, ``den = z + Bz/kappa``:
    ``m = S0/z``, ``F2 = (z Au + S0 Bz/kappa)/(z^2 den)``, ``P2 = x Bz/den``,
    ``T2 = (x^2 z Qz + T1 Bz/kappa)/den`` and ``c' = dc/dz = P2/kappa``.

    The cost per parameter point is O(number of distinct eigenvalues) per Newton step.
    """

    name = "spectrum"
    closed_form_ridgeless = False

    def __init__(self, eigenvalues, weights=None, *, name: str = "eigenvalues", label: str | None = None,
                 basis=None):
        values = _as_eigenvalues(name, eigenvalues)
        if weights is None:
            w = np.full(values.size, 1.0 / values.size)
        else:
            wname = "weights" if name == "eigenvalues" else f"{name} weights"
            w = _as_eigenvalues(wname, weights)
            if w.size != values.size:
                raise ValueError(f"{wname} must have one entry per eigenvalue ({values.size}); got {w.size}")
            w = w / w.sum()
        self.values, self.weights = values, w
        self.equal_weights = weights is None
        self.basis = basis  # eigenvectors (columns) when built from a matrix: rotates a matrix test_cov
        self.label = label or f"spectrum({values.size} eigenvalues)"
        atoms, inverse = np.unique(values, return_inverse=True)
        self.atoms, self.atom_weights = atoms, np.bincount(inverse, weights=w, minlength=atoms.size)
        self._inverse = inverse
        self.mean = float(np.dot(w, values))

    def __repr__(self) -> str:
        return f"Spectrum<{self.label}>"

    # --- finite d -----------------------------------------------------------------------------
    def eigenvalues(self, d: int) -> np.ndarray:
        """The given eigenvalues (in their order) when ``d`` is their number and weights are equal;
        otherwise the law's ``d`` midpoint quantiles, descending (the same law as ``d -> inf``)."""
        if self.equal_weights and d == self.values.size:
            return self.values.copy()
        order = np.argsort(-self.values, kind="stable")
        cum = np.cumsum(self.weights[order])
        u = (np.arange(d) + 0.5) / d
        return self.values[order][np.minimum(np.searchsorted(cum, u, side="right"), self.values.size - 1)]

    def sample(self, k, d, rng, *, normalize=False):
        if normalize:
            raise ValueError("normalize_tasks (|w| = sqrt(d)) is defined for the isotropic task law only")
        return rng.standard_normal((k, d)) * np.sqrt(self.eigenvalues(d))

    # --- theory -------------------------------------------------------------------------------
    def _root(self, z, ikappa):
        """``x = c/z`` at each point (1-D arrays ``z > 0``, ``ikappa = 1/kappa``), and whether Newton
        converged (relative step <= 8 eps, or ``F >= 0`` reached from the left)."""
        lam, w = self.atoms, self.atom_weights
        wl = w * lam
        x = np.maximum(1.0 - ikappa, 0.0) / z
        ok = np.zeros(z.shape, bool)
        idx = np.arange(z.size)
        xa, za, ka = x, z, ikappa
        for _ in range(ROOT_MAXITER):
            u = xa[:, None] * lam
            u += 1.0
            np.reciprocal(u, out=u)
            s1 = u @ wl                   # sum w lam u
            u *= u
            s2 = u @ wl                   # sum w lam u^2 = dF/dx part
            F = za * xa - 1.0 + ka * xa * s1
            step = F / (za + ka * s2)
            x_new = xa - step
            done = (np.abs(step) <= 8 * _EPS * np.abs(x_new)) | (F >= 0)
            x_new = np.where(F >= 0, xa, x_new)
            if done.any():
                x[idx[done]] = x_new[done]
                ok[idx[done]] = True
                keep = ~done
                idx, x_new, za, ka = idx[keep], x_new[keep], za[keep], ka[keep]
            xa = x_new
            if idx.size == 0:
                break
        x[idx] = xa
        return x, ok

    def _sums(self, z, kappa, test_weights=None, q=None, nu=None):
        """Every sum at ``z`` (flat arrays), in row blocks so that a block times the atoms stays small."""
        z = np.asarray(z, dtype=np.float64)
        shape = np.broadcast(z, kappa).shape
        z = np.broadcast_to(z, shape).ravel()
        ikappa = 1.0 / np.broadcast_to(np.asarray(kappa, dtype=np.float64), shape).ravel()
        n_atoms = self.atoms.size
        block = max(1, (1 << 18) // n_atoms)
        keys = ("m", "F2", "T1", "P2", "T2", "x", "ok")
        out = {k: np.empty(z.size, dtype=bool if k == "ok" else np.float64) for k in keys}
        if test_weights is not None:
            q = np.broadcast_to(q, shape).ravel()
            nu = np.broadcast_to(nu, shape).ravel()
            out["Sa"] = np.empty((z.size, test_weights.shape[1]))
            out["Sb"] = np.empty((z.size, test_weights.shape[1]))
        lam, w = self.atoms, self.atom_weights
        W = np.stack([w, w * lam, w * lam * lam], axis=1)
        for i in range(0, z.size, block):
            sl = slice(i, i + block)
            zz, kk = z[sl], ikappa[sl]
            x, ok = self._root(zz, kk)
            u = x[:, None] * lam
            u += 1.0
            np.reciprocal(u, out=u)
            S0, s1 = (u @ W[:, :2]).T
            u2 = u * u
            Au, Bz, Qz = (u2 @ W).T
            T1 = x * s1
            den = zz + Bz * kk
            m = S0 / zz
            F2 = (zz * Au + S0 * Bz * kk) / (zz * zz * den)
            P2 = x * Bz / den
            T2 = (x * x * zz * Qz + T1 * Bz * kk) / den
            for k, v in zip(keys, (m, F2, T1, P2, T2, x, ok)):
                out[k][sl] = v
            if test_weights is not None:
                cp = P2 * kk  # c' = P2/kappa
                # (R+q)(R+b)^-2 ~ F1 (q + (c - nu c') C) F1 and (R+b)^-2 ~ F1 (1 + c' C) F1, F1 = (cC + z)^-1
                # = u/z on each atom: Sa = sum wa u^2 (q + lam (x z - nu c'))/z^2, Sb = sum wa u^2 (1 + c' lam).
                coef = (x * zz - nu[sl] * cp)[:, None] * lam
                out["Sa"][sl] = ((u2 * (coef + q[sl][:, None])) @ test_weights) / (zz * zz)[:, None]
                out["Sb"][sl] = (u2 + u2 * (cp[:, None] * lam)) @ test_weights
        return {k: v.reshape(shape + v.shape[1:]) for k, v in out.items()}

    def transform(self, z, kappa):
        s = self._sums(z, kappa)
        return s["m"], s["F2"]

    def T1(self, z, kappa):
        return self._sums(z, kappa)["T1"]

    @staticmethod
    def _moments(s, b, q) -> Moments:
        """:class:`Moments` from the sums of :meth:`_sums` (``T3``, ``T4``, ``G4`` as positive sums)."""
        m, F2, T1, P2, T2 = s["m"], s["F2"], s["T1"], s["P2"], s["T2"]
        T3 = P2 + q * F2
        return Moments(m, F2, T1, P2, T2, T3, T2 + 2.0 * q * P2 + q * q * F2, 2.0 * P2 + (q + b) * F2)

    def moments(self, b, q, kappa) -> Moments:
        return self._moments(self._sums(b, kappa), b, q)

    def error_moments(self, b, q, kappa):
        return tuple(self.moments(b, q, kappa)[:6])

    def root_converged(self, z, kappa):
        """Whether the scalar root behind ``m(z)`` converged at each point."""
        return self._sums(z, kappa)["ok"]

    def ridgeless_nu(self, tau, q, kappa):
        raise NotImplementedError("no closed form: asymptotics.theory solves it by Newton")

    def test_sums(self, b, q, kappa, nu, weights):
        s = self._sums(b, kappa, weights, q, nu)
        return s["Sa"], s["Sb"], s["ok"]

    def structured_moments(self, b, q, kappa, nu, weights):
        s = self._sums(b, kappa, weights, q, nu)
        return self._moments(s, b, q), s["Sa"], s["Sb"], s["ok"]


class PowerLaw(Spectrum):
    """Power-law task spectrum ``lam_i = s i^-p``, ``i = 1..n``, with ``s`` chosen so that ``tr C/d = 1``
    (the follow-up paper's convention). The theory uses the ``n`` atoms; the simulator at dimension
    ``d`` uses the same formula with ``n = d``, so a comparison at finite ``d`` pairs a simulation with
    ``power_law(p, d)``."""

    def __init__(self, p: float, n: int = 1000):
        p = as_real_scalar("power_law p", p)
        if not (np.isfinite(p) and p >= 0):
            raise ValueError(f"power_law p (the exponent) must be finite and >= 0; got {p!r}")
        n = check_int("power_law n", n, 1)
        if n > ATOMS_MAX:
            raise ValueError(f"power_law n (the number of eigenvalues) must be an integer in [1, "
                             f"{ATOMS_MAX:.0e}] (each theory evaluation costs O(n) per point); got {n}")
        self.p, self.n = p, n
        super().__init__(self._at(self.n), label=f"power:{p:g} (n={self.n})")

    def _at(self, d):
        lam = np.arange(1, d + 1, dtype=np.float64) ** -self.p
        return lam * (d / lam.sum())

    def eigenvalues(self, d: int) -> np.ndarray:
        return self._at(d)


def power_law(p: float, n: int = 1000) -> PowerLaw:
    """Eigenvalues ``lam_i ~ i^-p``, ``i = 1..n``, mean 1 (:class:`PowerLaw`)."""
    return PowerLaw(p, n)


def two_level(fraction: float, high: float, low: float = 1.0) -> Spectrum:
    """A fraction ``fraction`` of eigenvalues equal to ``high``, the rest ``low`` (exact weights; the
    simulator at ``d`` puts ``round(fraction d)`` eigenvalues at ``high``). Scale as given."""
    f, high, low = _two_level_args("two_level", fraction=fraction, high=high, low=low)
    return Spectrum([high, low], [f, 1 - f], name="two_level high, low", label=f"two:{f:g},{high:g},{low:g}")


def _two_level_args(builder: str, **named) -> tuple:
    """The fraction and the eigenvalue levels of a two-level law as floats, each checked under the
    builder's own name (``0 < fraction < 1``; levels finite, ``>= 0``, at most ``ENTRY_MAX``)."""
    out = []
    for key, value in named.items():
        x = as_real_scalar(f"{builder} {key}", value)
        if key == "fraction" and not 0 < x < 1:
            raise ValueError(f"{builder} fraction must satisfy 0 < fraction < 1; got {x!r}")
        if key != "fraction" and not 0 <= x <= ENTRY_MAX:
            raise ValueError(f"{builder} {key} (an eigenvalue) must satisfy 0 <= {key} <= "
                             f"{ENTRY_MAX:g}; got {x!r}")
        out.append(x)
    return tuple(out)


def spiked(fraction: float, height: float) -> Spectrum:
    """Isotropic with a fraction ``fraction`` of directions raised to ``height`` (a two-level law with
    ``low = 1``)."""
    fraction, height = _two_level_args("spiked", fraction=fraction, height=height)
    return Spectrum([height, 1.0], [fraction, 1 - fraction], name="spiked height",
                    label=f"spiked:{fraction:g},{height:g}")
    return s


def from_matrix(C, *, name: str = "C") -> Spectrum:
    """The law of a symmetric PSD matrix ``C`` (its eigenvalues, descending; its eigenvectors kept to
    rotate a matrix ``test_cov`` into ``C``'s eigenbasis). Scale kept as given."""
    vals, vecs = _as_matrix(name, C)
    return Spectrum(vals, name=name, label=f"matrix({vals.size}x{vals.size})", basis=vecs)


def from_samples(W, *, name: str = "W") -> Spectrum:
    """The law of the sample covariance ``W^T W / k`` of ``k`` task vectors (rows of ``W``)."""
    W = _real(name, W)
    if W.ndim != 2 or W.shape[0] < 1:
        raise ValueError(f"{name} samples must be a (k, d) array; got shape {W.shape}")
    return from_matrix(W.T @ W / W.shape[0], name=name)


def isotropic() -> Isotropic:
    """``C = I`` (:data:`ISOTROPIC`)."""
    return ISOTROPIC


# ---------------------------------------------------------------------------------------------------
# The test covariance, expressed in the task covariance's eigenbasis
# ---------------------------------------------------------------------------------------------------

class TestLaw:
    """A test-task covariance ``C_te`` given by its own spectral law, placed in ``C_tr``'s eigenbasis
    by rank: ``order='aligned'`` puts the largest test eigenvalues on the largest task eigenvalues,
    ``'anti'`` on the smallest. Defined at every ``d`` (so a simulation ladder can use it)."""

    __test__ = False  # not a pytest class despite the name

    def __init__(self, spectrum: TaskSpectrum, order: str = "aligned"):
        if order not in ("aligned", "anti"):
            raise ValueError(f"test_cov order must be 'aligned' or 'anti'; got {order!r}")
        if not isinstance(spectrum, TaskSpectrum):
            spectrum = Spectrum(spectrum, name="spectrum (the test covariance's eigenvalues)")
        self.spectrum, self.order = spectrum, order
        self.label = ("" if order == "aligned" else "anti:") + getattr(spectrum, "label", spectrum.name)

    def __repr__(self) -> str:
        return f"TestLaw<{self.label}>"


def aligned(spectrum) -> TestLaw:
    """Test covariance with ``spectrum``'s law, largest eigenvalues on the task law's largest."""
    return TestLaw(spectrum, "aligned")


def anti_aligned(spectrum) -> TestLaw:
    """Test covariance with ``spectrum``'s law, largest eigenvalues on the task law's smallest."""
    return TestLaw(spectrum, "anti")


def _law(spectrum: TaskSpectrum):
    """(values, weights) of a law; the isotropic law is one atom at 1."""
    if isinstance(spectrum, Spectrum):
        return spectrum.values, spectrum.weights
    return np.ones(1), np.ones(1)


def _rank_average(train_vals, train_w, test_vals, test_w, anti: bool) -> np.ndarray:
    """Average of the test law's quantile function over each task atom's quantile interval (both laws
    in descending order; the test law ascending for ``anti``): exact for step functions."""
    o_tr = np.argsort(-train_vals, kind="stable")
    o_te = np.argsort(test_vals if anti else -test_vals, kind="stable")
    edges_te = np.concatenate([[0.0], np.cumsum(test_w[o_te])])
    edges_te[-1] = 1.0
    integral = np.concatenate([[0.0], np.cumsum(test_w[o_te] * test_vals[o_te])])  # at edges_te
    edges_tr = np.concatenate([[0.0], np.cumsum(train_w[o_tr])])
    edges_tr[-1] = 1.0
    at = np.interp(edges_tr, edges_te, integral)  # the integral is piecewise linear in u
    avg = np.empty(train_vals.size)
    avg[o_tr] = np.diff(at) / train_w[o_tr]
    return avg


class Tasks:
    """The resolved pair: task law ``spectrum`` and the test covariance, with what the theory needs
    (``test_weights``: per atom of ``spectrum``, the columns ``w_i a_i`` and ``w_i``; ``test_trace``
    = ``tr C_te/d``) and what the simulator needs at each ``d`` (:meth:`task_eigenvalues`,
    :meth:`test_matrix`)."""

    def __init__(self, spectrum: TaskSpectrum, test=None):
        self.spectrum, self.test = spectrum, test
        vals, w = _law(spectrum)
        if test is None:
            a = np.ones(vals.size)
        elif isinstance(test, TestLaw):
            tv, tw = _law(test.spectrum)
            a = _rank_average(vals, w, tv, tw, test.order == "anti")
        else:  # explicit diagonal (1-D) or matrix (2-D) in the task eigenbasis, one entry per eigenvalue
            diag = np.diagonal(test) if test.ndim == 2 else test
            if isinstance(spectrum, Spectrum) and spectrum.equal_weights and diag.size == vals.size:
                a = diag
            elif not isinstance(spectrum, Spectrum):
                a = np.full(1, diag.mean())  # C_tr = I: every basis is an eigenbasis; only tr C_te/d matters
            else:
                raise ValueError(f"test_cov has {diag.size} entries but task_cov has {vals.size} equally "
                                 "weighted eigenvalues; give both at the same size")
        if isinstance(spectrum, Spectrum):
            inv, n = spectrum._inverse, spectrum.atoms.size
            self.test_weights = np.stack([np.bincount(inv, weights=w * a, minlength=n),
                                          spectrum.atom_weights], axis=1)
        else:
            self.test_weights = np.array([[float(np.dot(w, a)), 1.0]])
        self.test_trace = float(np.dot(w, a))
        if not self.test_trace > 0:
            raise ValueError("test_cov must not be all zero")

    @property
    def structured(self) -> bool:
        return self.test is not None or self.spectrum is not ISOTROPIC

    def task_eigenvalues(self, d: int) -> np.ndarray:
        return self.spectrum.eigenvalues(d)

    def test_matrix(self, d: int) -> np.ndarray:
        """``C_te`` at dimension ``d`` in the task eigenbasis: a 1-D diagonal, or a 2-D matrix."""
        if self.test is None:
            return np.ones(d)
        if isinstance(self.test, TestLaw):
            lam = self.spectrum.eigenvalues(d)
            t = np.sort(self.test.spectrum.eigenvalues(d))
            if self.test.order == "aligned":
                t = t[::-1]
            out = np.empty(d)
            out[np.argsort(-lam, kind="stable")] = t
            return out
        if self.test.shape[0] != d:
            raise ValueError(f"test_cov is given at dimension {self.test.shape[0]}, not at d = {d}")
        return self.test.copy()


def resolve(task_cov=None, test_cov=None) -> Tasks:
    """The task law and test covariance from the public arguments (docs/THEORY.md, structured tasks).

    ``task_cov``: None (identity), a :class:`TaskSpectrum` (e.g. :func:`power_law`), a 1-D array of
    eigenvalues of ``C_tr``, or a 2-D symmetric PSD matrix (its eigenbasis is used). ``test_cov``:
    None (identity), a :class:`TestLaw` or :class:`TaskSpectrum` (placed by rank; see
    :func:`aligned`/:func:`anti_aligned`), a 1-D array (the diagonal of ``C_te`` in ``C_tr``'s
    eigenbasis, paired with ``task_cov``'s eigenvalues in the order given), or a 2-D symmetric PSD
    matrix (rotated into ``C_tr``'s eigenbasis; only its diagonal there enters the theory, the full
    matrix enters the simulator). Scale is kept as given. Bad input: ``ValueError`` naming the argument.
    """
    if task_cov is None:
        spectrum = ISOTROPIC
    elif isinstance(task_cov, TaskSpectrum):
        spectrum = task_cov
    else:
        arr = _real("task_cov", task_cov) if not isinstance(task_cov, (str, bytes)) else None
        if arr is not None and arr.ndim == 2:
            spectrum = from_matrix(arr, name="task_cov")
        else:
            spectrum = Spectrum(task_cov, name="task_cov")
    test = None
    if test_cov is not None:
        if isinstance(test_cov, TestLaw):
            test = test_cov
        elif isinstance(test_cov, TaskSpectrum):
            test = TestLaw(test_cov)
        else:
            arr = _real("test_cov", test_cov) if not isinstance(test_cov, (str, bytes)) else None
            if arr is not None and arr.ndim == 2:
                _as_matrix("test_cov", arr)  # checks symmetric PSD, finite, non-zero
                M = arr
                basis = getattr(spectrum, "basis", None)
                if basis is not None and M.shape != basis.shape:
                    raise ValueError(f"test_cov is a {M.shape[0]}x{M.shape[1]} matrix but task_cov is "
                                     f"{basis.shape[0]}x{basis.shape[1]}; give both at the same size")
                test = M if basis is None else basis.T @ M @ basis
                test = 0.5 * test + 0.5 * test.T
            else:
                test = _as_eigenvalues("test_cov", test_cov)
    return Tasks(spectrum, test)
