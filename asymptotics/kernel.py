"""Token kernels: correlations across the positions of a context (docs/THEORY.md section 9).

A context's ``l + 1`` inputs (the ``l`` context tokens, then the query) are jointly Gaussian with
covariance ``K (x) I/d`` across (position, coordinate): ``K`` is an ``(l+1) x (l+1)`` correlation
matrix (symmetric, positive semi-definite, unit diagonal), the query last. ``K_c`` is the context
block, ``k`` the query column without its diagonal entry. The d -> inf theory sees ``K`` only through

- ``tk2 = tr(K_c^2)/l`` (the independent query: the effective context length, docs/THEORY.md 9.2),
- ``k0 = |k|^2`` and ``k1 = k^T K_c k`` (the correlated query, 9.3),

their ``l -> inf`` limits for a kernel family, or the values of one given matrix. A
:class:`TokenKernel` answers both, the way :class:`asymptotics.spectrum.TaskSpectrum` answers for
the task law: ``stats(l)`` at a finite ``l`` (``O(l)``, and one ``O(l log l)`` FFT convolution for ``k1``), ``limit``
as ``l -> inf`` (closed forms, checked against ``stats`` at large ``l`` in tests/test_kernel.py),
``matrix(l)`` for the simulator. ``tk2 >= 1`` always (Cauchy–Schwarz on the eigenvalues of ``K_c``,
whose mean is 1), with equality only for ``K_c = I``.

Named kernels (stationary: ``K_ij = c(|i - j|)``, so the query is the next token of the sequence):

- :func:`iid`: ``c(t) = [t = 0]``, the PNAS model (``tk2 = 1``, ``k0 = k1 = 0``);
- :func:`exponential`: ``c(t) = exp(-t/xi)`` (an AR(1) sequence; ``phi = exp(-1/xi)``:
  ``tk2 = coth(1/xi)``, ``k0 = phi^2/(1 - phi^2)``, ``k1 = phi^2 (1 + phi^2)/(1 - phi^2)^2``);
- :func:`power_law`: ``c(t) = (1 + t)^-gamma`` (positive definite by Pólya's criterion: convex,
  decreasing to 0). ``tk2 = 2 zeta(2 gamma) - 1``, ``k0 = zeta(2 gamma) - 1`` are finite only for
  ``gamma > 1/2``; ``k1`` only for ``gamma > 2/3`` (the double sum behaves like
  ``sum i^-g j^-g |i - j|^-g``). Outside, the statistics grow with ``l``: the context is no longer
  worth a number of tokens proportional to ``l`` and the proportional regime of the theory is left;
  :attr:`TokenKernel.limit` refuses with a ``ValueError`` saying so;
- :func:`from_matrix`: one given matrix (checked), its own finite-``l`` statistics (it has no
  ``l -> inf`` limit; the theory uses its statistics at its size, the convention of the authors).

The query's place: :meth:`TokenKernel.matrix` returns the kernel with the query correlated to the context
(``query='correlated'``) or with its column replaced by ``e_{l+1}`` (``'independent'``).
"""
from __future__ import annotations

import hashlib
from functools import cached_property
from typing import NamedTuple

import numpy as np
from scipy.special import zeta

from asymptotics.params import as_real_array

#: The two placements of the query (docs/THEORY.md section 9).
QUERIES = ("independent", "correlated")

#: Kernel statistics above this are refused: the theory's q = (tk2 + rho)/alpha would leave the
#: range it is checked on, and a kernel this correlated is far outside the proportional regime.
STAT_MAX = 1e6


class KernelStats(NamedTuple):
    """The statistics of a kernel at context length ``l`` (``inf`` for the ``l -> inf`` limit):
    ``tk2 = tr(K_c^2)/l``, ``k0 = |k|^2``, ``k1 = k^T K_c k``."""

    l: float
    tk2: float
    k0: float
    k1: float


def check_query(query) -> str:
    """``'independent'`` or ``'correlated'``; else ``ValueError``."""
    if not isinstance(query, str) or query not in QUERIES:
        raise ValueError(f"query must be one of {QUERIES}; got {query!r}")
    return query


def _check_l(l) -> int:
    if isinstance(l, bool) or not isinstance(l, (int, np.integer)) or l < 1:
        raise ValueError(f"l (the context length) must be an integer >= 1; got {l!r}")
    return int(l)


def _convolve(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Full linear convolution by real FFTs (numpy only; O(n log n))."""
    n = a.size + b.size - 1
    size = 1 << (n - 1).bit_length()
    return np.fft.irfft(np.fft.rfft(a, size) * np.fft.rfft(b, size), size)[:n]


class TokenKernel:
    """Interface of a token kernel (module docstring). Subclasses give ``matrix(l)``, ``stats(l)``
    and ``limit``; ``name`` is short and stable (it keys the simulator's streams and caches)."""

    name = "abstract"

    def matrix(self, l: int, query: str = "correlated") -> np.ndarray:
        """The ``(l+1) x (l+1)`` kernel, query last; ``query='independent'`` zeroes the query's
        correlations with the context."""
        raise NotImplementedError

    def stats(self, l: int) -> KernelStats:
        """Statistics at context length ``l``."""
        raise NotImplementedError

    @property
    def limit(self) -> KernelStats:
        """Statistics as ``l -> inf`` (``ValueError`` if they grow without bound)."""
        raise NotImplementedError

    def theory_stats(self, query: str = "independent") -> KernelStats:
        """What the d -> inf theory uses: the ``l -> inf`` limit of a family (its own values for one
        matrix), with the statistics the query needs finite (``ValueError`` saying why otherwise)."""
        raise NotImplementedError

    @property
    def is_iid(self) -> bool:
        return False

    def __repr__(self) -> str:
        return f"TokenKernel({self.name})"


class Stationary(TokenKernel):
    """``K_ij = c(|i - j|)`` with ``c(0) = 1`` (positions 1..l, the query at l+1)."""

    def corr(self, t: np.ndarray) -> np.ndarray:
        """``c(t)`` for integer lags ``t >= 0``."""
        raise NotImplementedError

    def matrix(self, l, query="correlated"):
        l = _check_l(l)
        query = check_query(query)
        t = np.arange(l + 1)
        K = self.corr(np.abs(t[:, None] - t[None, :]))
        if query == "independent":
            K[:l, l] = K[l, :l] = 0.0
        return K

    def stats(self, l):
        l = _check_l(l)
        c = self.corr(np.arange(l + 1))
        c2 = c[1:] * c[1:]
        # tr K_c^2 = sum_{i,j<=l} c(|i-j|)^2 = l + 2 sum_{t=1}^{l-1} (l - t) c(t)^2
        tk2 = 1.0 + 2.0 * float(np.dot(l - np.arange(1, l), c2[:l - 1])) / l
        k = c[l:0:-1]  # k_i = c(l + 1 - i), i = 1..l
        k0 = float(np.dot(k, k))
        # K_c k as one convolution of the lags -(l-1)..(l-1) with k (O(l log l))
        lags = np.concatenate([c[l - 1:0:-1], c[:l]])
        Kk = _convolve(lags, k)[l - 1:2 * l - 1] if l > 1 else k.copy()
        k1 = float(np.dot(k, Kk))
        return KernelStats(l, tk2, k0, k1)

    def theory_stats(self, query="independent"):
        query = check_query(query)
        s = self.limit
        if query == "correlated" and not np.isfinite(s.k1):
            raise ValueError(f"token kernel {self.name}: k1 = k^T K_c k grows without bound with l, so the "
                             f"correlated query leaves the proportional regime ({self._k1_reason})")
        return s

    _k1_reason = ""


class Iid(Stationary):
    """Independent tokens, ``K = I`` (the PNAS model)."""

    name = "iid"

    def corr(self, t):
        return (np.asarray(t) == 0).astype(float)

    @property
    def is_iid(self) -> bool:
        return True

    @property
    def limit(self):
        return KernelStats(np.inf, 1.0, 0.0, 0.0)


class Exponential(Stationary):
    """``c(t) = exp(-t/xi)``, ``xi > 0`` (an AR(1) sequence with coefficient ``exp(-1/xi)``)."""

    def __init__(self, xi):
        xi = float(as_real_array("xi", xi))
        if not (0 < xi < np.inf):
            raise ValueError(f"xi (the correlation length of exp:xi) must satisfy 0 < xi < inf; got {xi!r}")
        self.xi = xi
        self.name = f"exp:{xi!r}"
        phi2 = np.exp(-2.0 / xi)
        if 1.0 / np.tanh(1.0 / xi) > STAT_MAX:
            raise ValueError(f"xi = {xi!r} gives tk2 = coth(1/xi) > {STAT_MAX:g}; the kernel is too correlated "
                             f"for the theory's range (xi <= {0.5 * STAT_MAX:g} roughly)")
        self._phi2 = phi2

    def corr(self, t):
        return np.exp(-np.asarray(t, dtype=float) / self.xi)

    @cached_property
    def limit(self):
        p2 = self._phi2
        om = -np.expm1(-2.0 / self.xi)  # 1 - phi^2 without cancellation at large xi
        return KernelStats(np.inf, float(1.0 / np.tanh(1.0 / self.xi)), float(p2 / om),
                           float(p2 * (1.0 + p2) / (om * om)))


class PowerLaw(Stationary):
    """``c(t) = (1 + t)^-gamma``, ``gamma > 0``."""

    _RICHARDSON_N = 1 << 18

    def __init__(self, gamma):
        gamma = float(as_real_array("gamma", gamma))
        if not (0 < gamma < np.inf):
            raise ValueError(f"gamma (the exponent of power:gamma) must satisfy 0 < gamma < inf; got {gamma!r}")
        self.gamma = gamma
        self.name = f"power:{gamma!r}"
        self._k1_reason = f"the power law needs gamma > 2/3 for a finite k1; got gamma = {gamma!r}"

    def corr(self, t):
        return (1.0 + np.asarray(t, dtype=float)) ** -self.gamma

    @cached_property
    def limit(self):
        g = self.gamma
        if g <= 0.5:
            raise ValueError(f"token kernel {self.name}: tr(K_c^2)/l grows with l (like l^(1 - 2 gamma), "
                             f"log l at gamma = 1/2) for gamma <= 1/2, so a context is not worth a number of "
                             f"tokens proportional to l: outside the proportional regime of the theory; "
                             f"use gamma > 1/2")
        z = float(zeta(2.0 * g, 2.0))  # sum_{t >= 1} (1 + t)^(-2 gamma)
        tk2 = 1.0 + 2.0 * z
        if tk2 > STAT_MAX:
            raise ValueError(f"token kernel {self.name}: tk2 = {tk2:.3g} > {STAT_MAX:g} (gamma too close to 1/2)")
        k1 = np.inf
        if g > 2.0 / 3.0:
            # k1(N) = k1 - C N^-p + o(N^-p), p = 3 gamma - 2: Richardson over N and N/2.
            n = self._RICHARDSON_N
            a, b = self.stats(n).k1, self.stats(n // 2).k1
            r = 2.0 ** (3.0 * g - 2.0)
            k1 = float((r * a - b) / (r - 1.0))
        return KernelStats(np.inf, tk2, z, k1)


class MatrixKernel(TokenKernel):
    """One given ``(l+1) x (l+1)`` kernel (checked by :func:`from_matrix`)."""

    def __init__(self, K: np.ndarray):
        self.K = K
        self.l = K.shape[0] - 1
        digest = hashlib.sha256(np.ascontiguousarray(K).tobytes()).hexdigest()[:16]
        self.name = f"matrix({K.shape[0]}x{K.shape[0]})#{digest}"
        Kc, k = K[:-1, :-1], K[:-1, -1]
        self._stats = KernelStats(self.l, float(np.sum(Kc * Kc)) / self.l, float(k @ k), float(k @ Kc @ k))
        if self._stats.tk2 > STAT_MAX:
            raise ValueError(f"token_kernel has tk2 = tr(K_c^2)/l = {self._stats.tk2:.3g} > {STAT_MAX:g}")

    def _size(self, l):
        l = _check_l(l)
        if l != self.l:
            raise ValueError(f"token_kernel is a {self.l + 1} x {self.l + 1} matrix (context length "
                             f"{self.l}); it is used at context length l = {l}, which needs "
                             f"{l + 1} x {l + 1}")
        return l

    def matrix(self, l, query="correlated"):
        self._size(l)
        K = self.K.copy()
        if check_query(query) == "independent":
            K[:-1, -1] = K[-1, :-1] = 0.0
        return K

    def stats(self, l):
        self._size(l)
        return self._stats

    @property
    def limit(self):
        raise ValueError(f"token kernel {self.name} is one matrix; it has no l -> inf limit "
                         "(the theory uses its statistics at its own size)")

    def theory_stats(self, query="independent"):
        check_query(query)
        return self._stats


def iid() -> Iid:
    """Independent tokens, ``K = I``."""
    return Iid()


def exponential(xi) -> Exponential:
    """``K_ij = exp(-|i - j|/xi)``."""
    return Exponential(xi)


def power_law(gamma) -> PowerLaw:
    """``K_ij = (1 + |i - j|)^-gamma``."""
    return PowerLaw(gamma)


def from_matrix(K) -> MatrixKernel:
    """A given kernel ``K`` ((l+1) x (l+1), query last): finite, symmetric, unit diagonal, positive
    semi-definite (smallest eigenvalue >= -1e-12 (l+1)), ``l >= 1``; each refused with a
    ``ValueError`` naming the defect."""
    K = as_real_array("token_kernel", K).astype(np.float64)
    if K.ndim != 2 or K.shape[0] != K.shape[1] or K.shape[0] < 2:
        raise ValueError(f"token_kernel must be a square (l+1) x (l+1) matrix with l >= 1; got shape {K.shape}")
    if not np.all(np.isfinite(K)):
        raise ValueError("token_kernel must be finite (no NaN or inf entries)")
    asym = float(np.max(np.abs(K - K.T)))
    if asym > 1e-12:
        raise ValueError(f"token_kernel must be symmetric; max |K - K^T| = {asym:.3g}")
    diag = float(np.max(np.abs(np.diagonal(K) - 1.0)))
    if diag > 1e-12:
        raise ValueError(f"token_kernel must have a unit diagonal (a correlation matrix: every token has "
                         f"covariance I/d); max |K_ii - 1| = {diag:.3g}")
    K = 0.5 * (K + K.T)
    np.fill_diagonal(K, 1.0)
    low = float(np.linalg.eigvalsh(K)[0])
    if low < -1e-12 * K.shape[0]:
        raise ValueError(f"token_kernel must be positive semi-definite; its smallest eigenvalue is {low:.3g}")
    return MatrixKernel(K)


def resolve_kernel(token_kernel) -> TokenKernel | None:
    """``None`` (independent tokens, the default path everywhere), a :class:`TokenKernel`, or a
    matrix (through :func:`from_matrix`). ``iid()`` is returned as given (it equals ``None`` in every
    result; the default path is kept for ``None`` only)."""
    if token_kernel is None or isinstance(token_kernel, TokenKernel):
        return token_kernel
    return from_matrix(token_kernel)
