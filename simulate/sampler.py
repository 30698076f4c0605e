"""Samplers of pretraining data: task vectors and contexts reduced to (h, x_query, y_query).

Model (THEORY.md sections 1-2): tokens ``x_i ~ N(0, I_d/d)``, labels ``y_i = <x_i, w> + eps_i`` with
``eps_i ~ N(0, rho)``, ``i = 1..l``; a query ``(x_q, y_q)`` drawn the same way. Linear attention sees
the context only through ``h = [(d/l) sum_i y_i x_i ; (1/l) sum_i y_i^2]`` in R^{d+1} (the last entry
is ``s``), and predicts ``y_q`` by ``x_q^T Gamma h``.

Two samplers with the same law:

* :func:`sample_contexts` draws ``h`` in O(d) per context without forming the tokens (THEORY.md
  section 7; exact in distribution, derivation in its docstring);
* :func:`sample_contexts_tokens` forms the l x d token matrix of every context (reference).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from asymptotics.spectrum import ISOTROPIC, TaskSpectrum


class Contexts(NamedTuple):
    """``n`` contexts: ``h`` (n, d+1) with ``s = h[:, -1]``, ``x_query`` (n, d), ``y_query`` (n,)."""

    h: np.ndarray
    x_query: np.ndarray
    y_query: np.ndarray


def sample_tasks(k: int, d: int, rng: np.random.Generator, *, normalize: bool = False,
                 spectrum: TaskSpectrum = ISOTROPIC) -> np.ndarray:
    """``k`` task vectors (rows) from the task law ``spectrum`` (default ``w ~ N(0, I_d)``); with
    ``normalize`` rescaled to ``|w| = sqrt(d)``, i.e. uniform on that sphere (the authors' scripts)."""
    return spectrum.sample(k, d, rng, normalize=normalize)


def pretraining_tasks(d: int, k: int | None, n: int, rng: np.random.Generator, *,
                      normalize: bool = False,
                      spectrum: TaskSpectrum = ISOTROPIC) -> tuple[np.ndarray, np.ndarray]:
    """Training tasks and the task of each of the ``n`` contexts.

    Returns ``(tasks, per_context)``: ``k`` tasks and, for each context, a task drawn uniformly from
    them (THEORY.md section 3). ``k = None`` (``kappa = inf``) gives every context its own fresh
    task, so ``tasks`` and ``per_context`` are the same ``n`` x ``d`` array.
    """
    if k is None:
        tasks = spectrum.sample(n, d, rng, normalize=normalize)
        return tasks, tasks
    tasks = spectrum.sample(k, d, rng, normalize=normalize)
    return tasks, tasks[rng.integers(0, k, size=n)]


def _query(W: np.ndarray, rho: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    n, d = W.shape
    x_q = rng.standard_normal((n, d)) / np.sqrt(d)
    y_q = np.einsum("ij,ij->i", x_q, W) + np.sqrt(rho) * rng.standard_normal(n)
    return x_q, y_q


def sample_contexts(W: np.ndarray, l: int, rho: float, rng: np.random.Generator) -> Contexts:
    """Contexts for the task vectors ``W`` (n, d) (one row per context), O(d) work per context.

    Exact in distribution (THEORY.md section 7; derived here). With ``u = w/|w|`` and the token
    matrix ``X`` (l x d), ``c = X u`` and ``eps`` are independent with i.i.d. ``N(0, 1/d)`` and
    ``N(0, rho)`` entries, and ``y = |w| c + eps``. The Gram matrix of ``[c, eps]`` is
    ``Wishart_2(l, diag(1/d, rho))``; by Bartlett's decomposition ``|c|^2 = A/d``,
    ``c.eps = sqrt(rho/d) sqrt(A) B``, ``|eps|^2 = rho (B^2 + C)`` with ``A ~ chi2(l)``,
    ``B ~ N(0, 1)``, ``C ~ chi2(l-1)`` independent. The part of ``X`` orthogonal to ``u`` is
    independent of ``(c, eps)``, so ``P_perp X^T y ~ N(0, (|y|^2/d) P_perp)`` given ``y``, while
    ``u^T X^T y = |w| |c|^2 + c.eps``. Then ``h_{1:d} = (d/l) X^T y`` and ``s = |y|^2/l``.
    Rows of ``W`` must be non-zero (true almost surely for the task laws used here).
    """
    W = np.asarray(W, dtype=np.float64)
    n, d = W.shape
    r = np.linalg.norm(W, axis=1)
    a = rng.chisquare(l, n)
    b = rng.standard_normal(n)
    c = rng.gamma(0.5 * (l - 1), 2.0, n)  # chi2(l-1); shape 0 (l = 1) gives exactly 0
    cc = a / d
    ce = np.sqrt(rho / d) * np.sqrt(a) * b
    yy = r * r * cc + 2.0 * r * ce + rho * (b * b + c)
    along = (r * cc + ce) / r  # coefficient of w in X^T y
    h = rng.standard_normal((n, d + 1))  # one allocation; the last column is overwritten by s
    z = h[:, :d]
    z -= W * (np.einsum("ij,ij->i", z, W) / (r * r))[:, None]
    z *= np.sqrt(yy / d)[:, None]
    z += along[:, None] * W
    z *= d / l
    h[:, d] = yy / l
    x_q, y_q = _query(W, rho, rng)
    return Contexts(h, x_q, y_q)


def sample_contexts_tokens(W: np.ndarray, l: int, rho: float, rng: np.random.Generator, *,
                           chunk: int = 4096) -> Contexts:
    """Contexts for the task vectors ``W`` (n, d), forming every token explicitly (reference sampler;
    O(l d) work and memory per context, processed ``chunk`` contexts at a time)."""
    W = np.asarray(W, dtype=np.float64)
    n, d = W.shape
    h = np.empty((n, d + 1))
    for start in range(0, n, chunk):
        Wc = W[start:start + chunk]
        X = rng.standard_normal((len(Wc), l, d)) / np.sqrt(d)
        y = np.einsum("cid,cd->ci", X, Wc) + np.sqrt(rho) * rng.standard_normal((len(Wc), l))
        h[start:start + chunk, :d] = (d / l) * np.einsum("cid,ci->cd", X, y)
        h[start:start + chunk, d] = np.einsum("ci,ci->c", y, y) / l
    x_q, y_q = _query(W, rho, rng)
    return Contexts(h, x_q, y_q)


class KernelFactor(NamedTuple):
    """A token kernel prepared once per run for :func:`sample_contexts_kernel` (from
    :func:`kernel_factor`): ``F`` (l x l) with ``F F^T = K_c``; for a correlated query ``r`` with
    ``F r = k`` and ``s_q = 1 - |r|^2`` (the query's variance not explained by the context), else
    ``r = None``."""

    l: int
    F: np.ndarray
    r: np.ndarray | None
    s_q: float


def kernel_factor(K: np.ndarray, query: str) -> KernelFactor:
    """Factor the ``(l+1) x (l+1)`` kernel ``K`` (query last; checked by
    :func:`asymptotics.kernel.from_matrix` or built by a named kernel) once: Cholesky of ``K_c``
    (an eigen-factor when ``K_c`` is singular), and for ``query='correlated'`` the regression of
    the query on the context, ``r = F^-1 k`` (least squares), ``s_q = max(0, 1 - |r|^2)``."""
    K = np.asarray(K, dtype=np.float64)
    l = K.shape[0] - 1
    Kc = K[:l, :l]
    try:
        F = np.linalg.cholesky(Kc)
    except np.linalg.LinAlgError:
        vals, vecs = np.linalg.eigh(Kc)
        F = vecs * np.sqrt(np.maximum(vals, 0.0))
    if query != "correlated":
        return KernelFactor(l, F, None, 1.0)
    r = np.linalg.lstsq(F, K[:l, l], rcond=None)[0]
    return KernelFactor(l, F, r, max(0.0, 1.0 - float(r @ r)))


def sample_contexts_kernel(W: np.ndarray, factor: KernelFactor, rho: float,
                           rng: np.random.Generator) -> Contexts:
    """Contexts whose tokens are correlated across positions by a kernel (docs/THEORY.md section 9),
    exact in distribution, ``O(l^2 + d)`` work per context (no l x d token matrix).

    Derivation. Write the tokens as ``X = F Z/sqrt(d)`` (``Z`` l x d i.i.d. ``N(0, 1)``, ``F F^T =
    K_c``) and the query as ``x_q = (Z^T r + sqrt(s_q) zeta)/sqrt(d)`` (``zeta ~ N(0, I_d)``
    independent); then ``[X; x_q^T]`` has covariance ``K (x) I/d``. With ``u = w/|w|``, ``c = Z u``
    (``N(0, I_l)``) and ``Z_perp = Z (I - u u^T)`` are independent, ``y = |w| F c/sqrt(d) + eps``, and
    with ``a = F^T y``: ``X^T y = (u (c.a) + Z_perp^T a)/sqrt(d)``, ``Z^T r = u (c.r) + Z_perp^T r``.
    Given ``(c, eps)``, ``(Z_perp^T a, Z_perp^T r)`` are ``P_perp`` times a Gaussian pair with
    covariance ``[[|a|^2, a.r], [a.r, |r|^2]] (x) I_d``: two standard normal d-vectors per context.
    ``h = (d/l) X^T y``, ``s = |y|^2/l``; ``y_q = x_q.w + eps_q``. An independent query
    (``factor.r is None``) is drawn as in :func:`sample_contexts`. Reference:
    :func:`sample_contexts_kernel_tokens`.
    """
    W = np.asarray(W, dtype=np.float64)
    n, d = W.shape
    l, F, r = factor.l, factor.F, factor.r
    norm = np.linalg.norm(W, axis=1)
    c = rng.standard_normal((n, l))
    y = (c @ F.T) * (norm / np.sqrt(d))[:, None]
    y += np.sqrt(rho) * rng.standard_normal((n, l))
    a = y @ F
    ca = np.einsum("ij,ij->i", c, a)
    aa = np.einsum("ij,ij->i", a, a)
    yy = np.einsum("ij,ij->i", y, y)
    U = W / norm[:, None]
    g1 = rng.standard_normal((n, d))
    h = np.empty((n, d + 1))
    z = h[:, :d]
    z[:] = g1
    z -= U * np.einsum("ij,ij->i", z, U)[:, None]
    z *= np.sqrt(aa)[:, None]
    z += ca[:, None] * U
    z *= np.sqrt(d) / l  # (d/l) (1/sqrt(d))
    h[:, d] = yy / l
    if r is None:
        x_q, y_q = _query(W, rho, rng)
        return Contexts(h, x_q, y_q)
    cr, ar, rr = c @ r, a @ r, float(r @ r)
    with np.errstate(invalid="ignore", divide="ignore"):
        b1 = np.where(aa > 0, ar / np.sqrt(aa), 0.0)
    b2 = np.sqrt(np.maximum(rr - b1 * b1, 0.0))
    g2 = rng.standard_normal((n, d))
    v = b1[:, None] * g1 + b2[:, None] * g2
    v -= U * np.einsum("ij,ij->i", v, U)[:, None]
    v += cr[:, None] * U
    v += np.sqrt(factor.s_q) * rng.standard_normal((n, d))
    x_q = v / np.sqrt(d)
    y_q = np.einsum("ij,ij->i", x_q, W) + np.sqrt(rho) * rng.standard_normal(n)
    return Contexts(h, x_q, y_q)


def sample_contexts_kernel_tokens(W: np.ndarray, K: np.ndarray, rho: float, rng: np.random.Generator) -> Contexts:
    """Reference for :func:`sample_contexts_kernel`: every token formed, ``[X; x_q^T] = L [Z; zeta^T]
    /sqrt(d)`` with ``L L^T = K`` (an eigen-factor of the whole ``(l+1) x (l+1)`` kernel; pass the
    kernel with a zeroed query column for an independent query). O(l^2 d) per context."""
    W = np.asarray(W, dtype=np.float64)
    n, d = W.shape
    l = K.shape[0] - 1
    vals, vecs = np.linalg.eigh(np.asarray(K, dtype=np.float64))
    L = vecs * np.sqrt(np.maximum(vals, 0.0))
    T = np.einsum("ab,nbd->nad", L, rng.standard_normal((n, l + 1, d))) / np.sqrt(d)
    X, x_q = T[:, :l], T[:, l]
    y = np.einsum("nid,nd->ni", X, W) + np.sqrt(rho) * rng.standard_normal((n, l))
    h = np.empty((n, d + 1))
    h[:, :d] = (d / l) * np.einsum("nid,ni->nd", X, y)
    h[:, d] = np.einsum("ni,ni->n", y, y) / l
    y_q = np.einsum("ij,ij->i", x_q, W) + np.sqrt(rho) * rng.standard_normal(n)
    return Contexts(h, x_q, y_q)
