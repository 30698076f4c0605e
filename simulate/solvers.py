"""Exact ridge training of Gamma on n contexts (THEORY.md sections 3 and 7).

``Gamma* = argmin_Gamma sum_mu (y_mu - x_mu^T Gamma h_mu)^2 + lam' ||Gamma||_F^2`` with
``lam' = (n/d) lam``; ``lam = 0`` means the minimum-norm least-squares solution (the ``lam -> 0+``
limit). ``Gamma`` is d x (d+1) and the feature of context ``mu`` is ``x_mu h_mu^T``, so there are
``D = d(d+1)`` parameters.

Solvers (all return the same ``Gamma`` up to their stated accuracy):

* ``dual``: ``Gamma = X^T diag(a) H`` with ``(K + lam' I) a = y`` and the n x n kernel
  ``K = (X X^T) o (H H^T)`` (Hadamard product). Cost O(n^2 d + n^3). Suited to ``n <= D``.
* ``cg``: preconditioned conjugate gradients on the normal equations in matrix form,
  ``G -> X^T diag(rowsum((X G) o H)) H + lam' G``, O(n d^2) per step, preconditioned by the exact
  inverse of ``(X^T X) (x) (H^T H)/n + lam' I`` (two d-sized eigendecompositions). Suited to ``n > D``;
  refused for ``lam = 0`` with ``n <= D`` (singular normal equations).
* ``direct``: forms the D x D Gram matrix (reference for small d only).
* ``auto``: ``dual`` if ``n <= D`` else ``cg``.

Every solver measures and reports how well it solved (:class:`Solution`: ``converged``,
``residual``); :func:`fit`, the entry point, raises :class:`asymptotics.ConvergenceError` with the
measured residual instead of returning an unconverged ``Gamma``.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla

from asymptotics import ConvergenceError
from asymptotics.params import check
from simulate.options import SOLVERS, Options, make_options

DIRECT_MAX_D = 100  # Gram of d = 100 is 10100^2 doubles = 0.8 GB
# OpenBLAS's multithreaded Cholesky (potrf) segfaults for n >~ 16000 with 2 threads (OpenBLAS
# 0.3.30/0.3.31 as bundled with scipy 1.17/numpy 2.4; reproduced with plain numpy.linalg.cholesky,
# n = 16000..20480; fine single-threaded up to n = 24000 at least). Factorisations from this size
# on run with one BLAS thread (threadpoolctl); the cost is at most a factor of the thread count.
SINGLE_THREAD_FACTOR_N = 8192


def _factor_guard(m: int):
    if m < SINGLE_THREAD_FACTOR_N:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


@dataclass(frozen=True)
class Solution:
    """A trained ``Gamma`` (d x (d+1)) with how it was obtained.

    ``method`` names the factorisation (``cholesky``, ``eigh``, ``pcg``); ``rank`` is the numerical
    rank kept by an ``eigh`` solve (else ``None``); ``iterations`` counts CG steps (0 for
    factorisations). ``residual`` is measured after the solve on the system actually solved:

    * ``cg``: the relative residual ``||b - A Gamma||_F / ||b||_F`` of the normal equations,
      recomputed from scratch; ``converged`` iff it is ``<= cg_rtol``.
    * ``dual`` and ``direct`` (a symmetric system ``M x = r``, the kernel or the Gram matrix): the
      normwise backward error ``||P (r - M x)|| / (||M||_1 ||x|| + ||r||)``, ``P`` the projector on
      the eigenvectors an ``eigh`` solve kept (identity for Cholesky), so that the least-squares part
      of a rank-deficient system is not counted; ``converged`` iff it is ``<= BACKWARD_TOL`` times
      the dtype's epsilon (a backward-stable factorisation gives a few epsilons; measured in
      tests/test_solvers.py).
    """

    gamma: np.ndarray
    solver: str
    method: str
    converged: bool
    residual: float
    iterations: int
    rank: int | None = None


#: Accepted backward error of a factorisation, in units of the solve dtype's epsilon. Cholesky and
#: eigh are backward stable: O(m eps) in the worst case; measured below 0.4 eps for kernels and Grams
#: of size up to 1600, float64 and float32, both sides of the interpolation threshold
#: (tests/test_solvers.py). 1000 eps flags only a solve that went genuinely wrong.
BACKWARD_TOL = 1000


def _backward_error(M, x, r, keep_vectors=None) -> float:
    resid = r - M @ x
    if keep_vectors is not None:
        resid = keep_vectors.T @ resid
    anorm = float(np.abs(M).sum(axis=0).max())
    denom = anorm * float(np.linalg.norm(x)) + float(np.linalg.norm(r))
    return float(np.linalg.norm(resid)) / denom if denom > 0 else 0.0


def _refuse_singular_cg(n: int, d: int, lam: float) -> None:
    if lam == 0 and n <= d * (d + 1):
        raise ValueError(f"solver='cg' with lam = 0 needs n > D = d(d+1) = {d * (d + 1)} contexts "
                         f"(singular normal equations at n = {n}); use 'dual' or 'auto' for the "
                         "minimum-norm solution")


def resolve_solver(solver: str, n: int, d: int, lam: float = 0.0) -> str:
    """Solver actually used for ``solver`` at ``n`` contexts, dimension ``d`` and ridge ``lam``;
    raises ``ValueError`` for an unknown name or a combination that cannot work."""
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {SOLVERS}; got {solver!r}")
    if solver == "auto":
        return "dual" if n <= d * (d + 1) else "cg"
    if solver == "cg":
        _refuse_singular_cg(n, d, lam)
    if solver == "direct" and d > DIRECT_MAX_D:
        raise ValueError(f"solver='direct' is a small-d reference (d <= {DIRECT_MAX_D}); at d = {d} the "
                         f"Gram needs {8 * (d * (d + 1)) ** 2 / 1e9:.1f} GB; use 'auto'")
    return solver


def _pinv_solve(K: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, str, int | None, float]:
    """Solve the symmetric PSD system ``K a = b`` (``b`` a vector), minimum-norm if singular.

    Cholesky is used when the LAPACK condition estimate shows no eigenvalue below the pseudo-inverse
    cut ``size * eps * max eigenvalue`` (then pinv and inverse coincide); otherwise ``eigh`` with
    that rank cut (NumPy's ``pinv`` convention). Returns ``(a, method, rank, kept)``, ``kept`` the
    eigenvectors kept by ``eigh`` (None for Cholesky).
    """
    with _factor_guard(K.shape[0]):
        return _pinv_solve_unguarded(K, b)


def _pinv_solve_unguarded(K, b):
    m = K.shape[0]
    eps = np.finfo(K.dtype).eps
    cut = m * eps
    try:
        c, low = sla.cho_factor(K, lower=True, check_finite=False)
        anorm = np.abs(K).sum(axis=0).max()
        pocon = sla.get_lapack_funcs("pocon", (c,))
        rcond, info = pocon(c, anorm, uplo="L")
        if info == 0 and rcond > 10 * cut:
            return sla.cho_solve((c, low), b, check_finite=False), "cholesky", None, None
    except np.linalg.LinAlgError:
        pass
    evals, evecs = np.linalg.eigh(K)
    top = evals[-1]
    keep = evals > cut * top
    kept = evecs[:, keep]
    return kept @ ((kept.T @ b) / evals[keep]), "eigh", int(keep.sum()), kept


def solve_dual(X: np.ndarray, H: np.ndarray, y: np.ndarray, lam_prime: float) -> Solution:
    """Dual (kernel) solve; exact up to the factorisation (see :func:`_pinv_solve`)."""
    K = X @ X.T
    K *= H @ H.T
    if lam_prime > 0:
        K[np.diag_indices_from(K)] += lam_prime
    a, method, rank, kept = _pinv_solve(K, y)
    gamma = X.T @ (a[:, None] * H)
    err = _backward_error(K, a, y, kept)
    return Solution(gamma, "dual", method, bool(err <= BACKWARD_TOL * np.finfo(K.dtype).eps), err, 0, rank)


def _normal_op(X, H, lam_prime):
    def apply(G):
        r = np.einsum("ij,ij->i", X @ G, H)
        out = X.T @ (r[:, None] * H)
        if lam_prime > 0:
            out += lam_prime * G
        return out
    return apply


def solve_cg(X: np.ndarray, H: np.ndarray, y: np.ndarray, lam_prime: float, *,
             rtol: float = 1e-10, maxiter: int = 2000) -> Solution:
    """Preconditioned CG on the normal equations, matrix form; ``converged`` is False (and
    ``residual`` the measured one) when ``||b - A G||_F <= rtol ||b||_F`` is not reached in
    ``maxiter`` steps.

    The preconditioner is the Kronecker approximation of the Gram,
    ``sum_mu (x x^T) (x) (h h^T) ~ (X^T X) (x) (H^T H)/n`` (exact in expectation because the query
    is independent of its context), plus ``lam'``; its inverse is applied exactly in the joint
    eigenbasis. The convergence test uses the true residual, recomputed when the recursive one
    passes, so rounding drift cannot fake convergence.
    """
    n, d = X.shape
    _refuse_singular_cg(n, d, lam_prime)
    A = _normal_op(X, H, lam_prime)
    a_x, U = np.linalg.eigh(X.T @ X)
    a_h, V = np.linalg.eigh(H.T @ H)
    denom = np.outer(a_x, a_h) / n + lam_prime

    def precond(R):
        return U @ (((U.T @ R) @ V) / denom) @ V.T

    b = X.T @ (y[:, None] * H)
    bnorm = np.linalg.norm(b)
    G = np.zeros_like(b)
    R = b.copy()
    Z = precond(R)
    P = Z.copy()
    rz = np.vdot(R, Z)
    resid = 1.0
    for it in range(1, maxiter + 1):
        AP = A(P)
        step = rz / np.vdot(P, AP)
        G += step * P
        R -= step * AP
        if np.linalg.norm(R) <= rtol * bnorm:
            R = b - A(G)
            resid = float(np.linalg.norm(R) / bnorm)
            if resid <= rtol:
                return Solution(G, "cg", "pcg", True, resid, it)
        Z = precond(R)
        rz_new = np.vdot(R, Z)
        P *= rz_new / rz
        P += Z
        rz = rz_new
    resid = float(np.linalg.norm(b - A(G)) / bnorm)
    return Solution(G, "cg", "pcg", bool(resid <= rtol), resid, maxiter)


def solve_direct(X: np.ndarray, H: np.ndarray, y: np.ndarray, lam_prime: float, *,
                 chunk: int = 2048) -> Solution:
    """Reference solve through the D x D Gram ``sum_mu vec(x h^T) vec(x h^T)^T`` (O(n D^2) time,
    O(D^2) memory); minimum-norm via ``eigh`` with a rank cut when singular (``lam = 0``, ``n < D``)."""
    n, d = X.shape
    resolve_solver("direct", n, d)
    D = d * (d + 1)
    gram = np.zeros((D, D), dtype=X.dtype)
    rhs = np.zeros(D, dtype=X.dtype)
    for s in range(0, n, chunk):
        phi = (X[s:s + chunk, :, None] * H[s:s + chunk, None, :]).reshape(-1, D)
        gram += phi.T @ phi
        rhs += phi.T @ y[s:s + chunk]
    if lam_prime > 0:
        gram[np.diag_indices_from(gram)] += lam_prime
    vec, method, rank, kept = _pinv_solve(gram, rhs)
    err = _backward_error(gram, vec, rhs, kept)
    return Solution(vec.reshape(d, d + 1), "direct", method, bool(err <= BACKWARD_TOL * np.finfo(gram.dtype).eps),
                    err, 0, rank)


def fit(X: np.ndarray, H: np.ndarray, y: np.ndarray, lam: float = 0.0, options: Options | None = None,
        **option_kwargs) -> Solution:
    """Train ``Gamma*`` on queries ``X`` (n, d), context vectors ``H`` (n, d+1) and labels ``y`` (n,).

    ``lam`` is the ridge in the paper's scaling (THEORY.md section 3): the penalty is
    ``(n/d) lam ||Gamma||_F^2``. ``options`` (a :class:`simulate.Options`, or its fields as keywords:
    ``solver``, ``dtype``, ``cg_rtol``, ``cg_maxiter``) choose the solver and the precision of the
    solve; ``Gamma`` is returned as float64. Raises :class:`asymptotics.ConvergenceError` with the
    measured residual when the solve did not converge (see :class:`Solution`).
    """
    opts = make_options(options, **option_kwargs)
    lam = float(check("lam", lam))
    X, H, y = (np.asarray(a, dtype=opts.dtype) for a in (X, H, y))
    n, d = X.shape
    if H.shape != (n, d + 1) or y.shape != (n,):
        raise ValueError(f"shapes must be X (n, d), H (n, d+1), y (n,); got {X.shape}, {H.shape}, {y.shape}")
    method = resolve_solver(opts.solver, n, d, lam)
    lam_prime = n / d * lam
    if method == "cg":
        rtol, maxiter = opts.cg
        sol = solve_cg(X, H, y, lam_prime, rtol=rtol, maxiter=maxiter)
    elif method == "dual":
        sol = solve_dual(X, H, y, lam_prime)
    else:
        sol = solve_direct(X, H, y, lam_prime)
    if not sol.converged:
        hint = ("raise cg_maxiter, loosen cg_rtol, or use solver='dual'" if method == "cg"
                else "the system is too ill-conditioned for this dtype; use float64 or a ridge lam > 0")
        raise ConvergenceError(f"solver {method!r} ({sol.method}) did not converge: measured residual "
                               f"{sol.residual:.3g} after {sol.iterations} iteration(s) (n = {n}, "
                               f"D = {d * (d + 1)}, lam' = {lam_prime:g}, dtype {opts.dtype}); {hint}")
    if sol.gamma.dtype != np.float64:
        sol = Solution(sol.gamma.astype(np.float64), sol.solver, sol.method, sol.converged,
                       sol.residual, sol.iterations, sol.rank)
    return sol
