"""Test errors of a trained ``Gamma = [G | g]`` at finite d and l: exact, and brute-force Monte Carlo.

Exact formula (THEORY.md section 3; derived here). With ``v = |w|^2/d + rho`` the context moments
given ``w`` are ``E h = w``, ``E h h^T = (1+1/l) w w^T + (d v/l) I``, ``E s = v``,
``E s h = (1+2/l) v w``, ``E s^2 = (1+2/l) v^2`` (``h`` here the first d entries, ``s`` the last;
they follow from ``E[(x.w)^k x]`` for Gaussian ``x``). The query ``x_q ~ N(0, I/d)`` is independent
of the context, so ``E (y_q - x_q^T (G h + g s))^2 = rho + (1/d) E |w - G h - g s|^2`` and::

    e(w) = rho + (1/d) [ |w|^2 - 2 w^T G w - 2 v w^T g + (1+1/l) |G w|^2 + (d v/l) ||G||_F^2
                         + 2 (1+2/l) v g^T G w + (1+2/l) v^2 |g|^2 ].

ICL: average over fresh tasks ``w ~ N(0, C)``, ``C = C_te`` the test covariance in the task basis
(diagonal or not; ``C = I`` by default). Odd terms vanish (``v w`` is odd in ``w``),
``E w^T G w = tr(G C)``, ``E |G w|^2 = tr(G C G^T)``, ``E v = tr C/d + rho`` and
``E v^2 = (E v)^2 + 2 tr(C^2)/d^2`` (``Var |w|^2 = 2 tr C^2`` for Gaussian ``w``; isotropic:
``(1+rho)^2 + 2/d``). With test contexts of length ``l`` (``l_test`` when it differs)::

    e_ICL = rho + (1/d) [ tr C - 2 tr(G C) + (1 + 1/l) tr(G C G^T) + (d/l) E v ||G||_F^2
                          + (1+2/l) E v^2 |g|^2 ].

With ``normalize_tasks`` (``w`` uniform on the sphere of radius sqrt(d), isotropic only)
``E w w^T = I`` still and ``v = 1 + rho`` exactly, so the ``2/d`` term drops. IDG: ``e(w)`` averaged exactly over the given
training tasks (O(k d^2)). Valid for any d >= 1, l >= 1, rho >= 0; no asymptotics.

Correlated context tokens (a token kernel ``K``, docs/THEORY.md section 9) with the query independent
of the context: with ``a = |w|^2/d``, ``tk2 = tr(K_c^2)/l`` at the context length used, the moments
become ``E h h^T = (1 + tk2/l) w w^T + (d/l)(tk2 a + rho) I``, ``E s h = (v + 2 (tk2 a + rho)/l) w``,
``E s^2 = v^2 + 2 (tk2 a^2 + 2 rho a + rho^2)/l`` (``y ~ N(0, a K_c + rho I)`` given ``w``; Isserlis,
and ``E[(g^T A g)(g^T B g)] = tr A tr B + 2 tr AB``; ``tk2 = 1`` gives the lines above), and the errors
follow as before (``tk2=`` of :func:`test_errors`). A query correlated with the context has no such
closed form here: :func:`kernel_monte_carlo_errors` estimates both errors with a standard error.
"""
from __future__ import annotations

import numpy as np

from asymptotics.params import check
from asymptotics.spectrum import ISOTROPIC
from simulate.sampler import sample_contexts_kernel, sample_contexts_tokens
from simulate.stats import mean_sem


def _check_inputs(Gamma, tasks, l, rho):
    Gamma = np.asarray(Gamma, dtype=np.float64)
    if Gamma.ndim != 2 or Gamma.shape[1] != Gamma.shape[0] + 1:
        raise ValueError(f"Gamma must have shape (d, d+1); got {Gamma.shape}")
    d = Gamma.shape[0]
    tasks = np.asarray(tasks, dtype=np.float64)
    if tasks.ndim != 2 or tasks.shape[1] != d or tasks.shape[0] < 1:
        raise ValueError(f"tasks must have shape (k, d) with k >= 1 and d = {d}; got {tasks.shape}")
    if isinstance(l, bool) or int(l) != l or l < 1:
        raise ValueError(f"l must be an integer >= 1; got {l!r}")
    rho = float(check("rho", rho))
    return Gamma, tasks, int(l), rho


def error_given_tasks(Gamma, W, l: int, rho: float, tk2: float | None = None) -> np.ndarray:
    """``e(w)`` for each row ``w`` of ``W`` (exact average over contexts and queries; module docstring;
    ``tk2``: a token kernel's ``tr(K_c^2)/l``, None for independent tokens)."""
    d = Gamma.shape[0]
    G, g = Gamma[:, :d], Gamma[:, d]
    GW = W @ G.T
    ww = np.einsum("ij,ij->i", W, W)
    v = ww / d + rho
    if tk2 is not None:
        a = ww / d
        vk = tk2 * a + rho
        terms = (ww - 2.0 * np.einsum("ij,ij->i", W, GW) - 2.0 * v * (W @ g)
                 + (1.0 + tk2 / l) * np.einsum("ij,ij->i", GW, GW) + (d / l) * vk * np.sum(G * G)
                 + 2.0 * (v + 2.0 * vk / l) * (GW @ g)
                 + (v * v + 2.0 * (tk2 * a * a + 2.0 * rho * a + rho * rho) / l) * (g @ g))
        return rho + terms / d
    terms = (ww - 2.0 * np.einsum("ij,ij->i", W, GW) - 2.0 * v * (W @ g)
             + (1.0 + 1.0 / l) * np.einsum("ij,ij->i", GW, GW) + (d / l) * v * np.sum(G * G)
             + 2.0 * (1.0 + 2.0 / l) * v * (GW @ g) + (1.0 + 2.0 / l) * v * v * (g @ g))
    return rho + terms / d


def _test_moments(C, d: int, rho: float, normalize_tasks: bool):
    """``(tr C, E v, E v^2)`` for test tasks ``w ~ N(0, C)`` (1-D: a diagonal; 2-D: a matrix), with
    ``v = |w|^2/d + rho``: ``E |w|^2 = tr C``, ``Var |w|^2 = 2 tr C^2`` (Gaussian ``w``)."""
    if C is None:
        ev, ev2 = ISOTROPIC.v_moments(d, rho, normalize=normalize_tasks)
        return float(d), ev, ev2
    if normalize_tasks:
        raise ValueError("normalize_tasks (|w| = sqrt(d)) is defined for the isotropic test law only")
    tr = float(np.trace(C)) if C.ndim == 2 else float(np.sum(C))
    trc2 = float(np.sum(C * C))
    ev = tr / d + rho
    return tr, ev, ev * ev + 2.0 * trc2 / (d * d)


def _check_test_cov(test_cov, d: int):
    if test_cov is None:
        return None
    C = np.asarray(test_cov, dtype=np.float64)
    if C.shape not in ((d,), (d, d)) or not np.all(np.isfinite(C)):
        raise ValueError(f"test_cov must be finite, of shape ({d},) or ({d}, {d}); got shape {C.shape}")
    return C


def test_errors(Gamma, tasks, l: int, rho: float, normalize_tasks: bool = False, *, test_cov=None,
                l_test: int | None = None, tk2: float | None = None) -> tuple[float, float]:
    """Exact ``(e_ICL, e_IDG)`` of ``Gamma`` (d x (d+1)) at context length ``l`` and noise ``rho``.

    ``e_ICL`` averages over fresh tasks ``w ~ N(0, C_te)`` in closed form: ``test_cov`` is ``C_te``
    in the task basis (None: ``I``, or uniform on the sphere ``|w| = sqrt(d)`` with
    ``normalize_tasks``; a 1-D diagonal; or a full symmetric matrix, e.g. rotated against the task
    covariance); ``e_IDG`` averages exactly over the rows of ``tasks`` (the k training tasks). Test
    contexts have length ``l_test`` (default ``l``). ``tk2``: ``tr(K_c^2)/l`` of a token kernel at
    the test context length, the query independent of the context (None: independent tokens).
    Formulas and derivation: module docstring.
    """
    Gamma, tasks, l, rho = _check_inputs(Gamma, tasks, l, rho)
    d = Gamma.shape[0]
    lt = l if l_test is None else _check_inputs(Gamma, tasks, l_test, rho)[2]
    G, g = Gamma[:, :d], Gamma[:, d]
    C = _check_test_cov(test_cov, d)
    tr, ev, ev2 = _test_moments(C, d, rho, normalize_tasks)
    if C is None or C.ndim == 1:
        c = np.ones(d) if C is None else C
        tr_gc, tr_gcg = np.dot(np.diagonal(G), c), np.sum(G * G * c)
    else:
        tr_gc, tr_gcg = np.sum(G * C.T), np.sum((G @ C) * G)
    if tk2 is None:
        e_icl = (rho + (tr - 2.0 * tr_gc + (1.0 + 1.0 / lt) * tr_gcg
                        + (d / lt) * ev * np.sum(G * G) + (1.0 + 2.0 / lt) * ev2 * (g @ g)) / d)
    else:
        ea, ea2 = ev - rho, ev2 - 2.0 * rho * ev + rho * rho  # E a, E a^2 of a = |w|^2/d = v - rho
        e_icl = (rho + (tr - 2.0 * tr_gc + (1.0 + tk2 / lt) * tr_gcg + (d / lt) * (tk2 * ea + rho) * np.sum(G * G)
                        + (ev2 + 2.0 * (tk2 * ea2 + 2.0 * rho * ea + rho * rho) / lt) * (g @ g)) / d)
    e_idg = float(np.mean(error_given_tasks(Gamma, tasks, lt, rho, tk2)))
    return float(e_icl), e_idg


test_errors.__test__ = False  # not a pytest test despite the name


def context_moments(l: int, rho: float, tasks=None, task_cov=None) -> tuple[np.ndarray, np.ndarray]:
    """Population moments ``(M, B) = (E[h h^T], E[w h^T])`` of a context's statistic ``h`` (d+1)
    with ``l`` tokens: exact, from the moments in the module docstring, averaged uniformly over the
    rows of ``tasks`` (the k training tasks), or over ``w ~ N(0, C)`` when ``tasks`` is None
    (``task_cov``: ``C``'s eigenvalues in the task basis; None: ``I``; its dimension from
    ``task_cov``). ``M = [[(1+1/l) E ww^T + (d/l) E v I, (1+2/l) E v w], [.., (1+2/l) E v^2]]``,
    ``B = [E ww^T, E v w]``; for Gaussian ``w`` the odd moments ``E v w`` vanish."""
    if tasks is not None:
        W = np.asarray(tasks, dtype=np.float64)
        k, d = W.shape
        v = np.einsum("ij,ij->i", W, W) / d + rho
        wwt, vw, ev, ev2 = W.T @ W / k, W.T @ v / k, float(np.mean(v)), float(np.mean(v * v))
    else:
        c = np.asarray(task_cov, dtype=np.float64)
        d = c.shape[0]
        wwt, vw = np.diag(c), np.zeros(d)
        ev = float(np.sum(c)) / d + rho
        ev2 = ev * ev + 2.0 * float(np.sum(c * c)) / d ** 2
    M = np.empty((d + 1, d + 1))
    M[:d, :d] = (1.0 + 1.0 / l) * wwt + (d / l) * ev * np.eye(d)
    M[:d, d] = M[d, :d] = (1.0 + 2.0 / l) * vw
    M[d, d] = (1.0 + 2.0 / l) * ev2
    return M, np.concatenate([wwt, vw[:, None]], axis=1)


def population_gamma(l: int, rho: float, lam: float, tasks=None, task_cov=None) -> np.ndarray:
    """The exact finite-d optimum at ``tau = inf`` (infinitely many pretraining contexts): ``Gamma*``
    minimising the population loss ``E (y_q - x_q^T Gamma h)^2 + (lam/d) ||Gamma||_F^2`` (the ridge
    of :func:`simulate.run` per context) over contexts of the given task law
    (:func:`context_moments`). Since ``E (y_q - x_q^T Gamma h)^2 = rho + E |w - Gamma h|^2 / d``,
    ``Gamma* = B (M + lam I)^{-1}``, solved by Cholesky (``M`` is positive definite for
    ``rho > 0`` or ``l`` finite and a nonzero task law)."""
    M, B = context_moments(l, rho, tasks, task_cov)
    A = M + lam * np.eye(M.shape[0])
    from scipy.linalg import cho_factor, cho_solve
    return cho_solve(cho_factor(A), B.T).T


def sample_test_tasks(n: int, test_cov, d: int, rng: np.random.Generator, *, normalize: bool = False) -> np.ndarray:
    """``n`` test tasks ``w ~ N(0, C_te)`` (rows); ``test_cov`` as in :func:`test_errors`."""
    C = _check_test_cov(test_cov, d)
    if C is None:
        return ISOTROPIC.sample(n, d, rng, normalize=normalize)
    g = rng.standard_normal((n, d))
    if C.ndim == 1:
        return g * np.sqrt(C)
    vals, vecs = np.linalg.eigh(C)
    return g @ (vecs * np.sqrt(np.maximum(vals, 0.0))).T


def monte_carlo_errors(Gamma, tasks, l: int, rho: float, n_test: int, rng: np.random.Generator, *,
                       normalize_tasks: bool = False, chunk: int = 4096, test_cov=None,
                       l_test: int | None = None) -> dict[str, float]:
    """Brute-force Monte Carlo test errors: ``n_test`` test contexts each for ICL and IDG, every
    token drawn explicitly (:func:`simulate.sampler.sample_contexts_tokens`), squared error of
    ``x_q^T Gamma h`` against ``y_q`` averaged. ICL tasks from ``N(0, test_cov)`` (None: ``I``),
    contexts of length ``l_test`` (default ``l``). Returns ``icl``, ``icl_sem``, ``idg``,
    ``idg_sem`` (standard errors with ddof = 1). A reference for :func:`test_errors`, not a
    replacement."""
    Gamma, tasks, l, rho = _check_inputs(Gamma, tasks, l, rho)
    if isinstance(n_test, bool) or int(n_test) != n_test or n_test < 2:
        raise ValueError(f"n_test must be an integer >= 2; got {n_test!r}")
    d = Gamma.shape[0]
    lt = l if l_test is None else _check_inputs(Gamma, tasks, l_test, rho)[2]
    out = {}
    for name in ("icl", "idg"):
        sq = np.empty(int(n_test))
        for s in range(0, int(n_test), chunk):
            m = min(chunk, int(n_test) - s)
            if name == "icl":
                W = sample_test_tasks(m, test_cov, d, rng, normalize=normalize_tasks)
            else:
                W = tasks[rng.integers(0, len(tasks), size=m)]
            c = sample_contexts_tokens(W, lt, rho, rng, chunk=chunk)
            pred = np.einsum("ij,ij->i", c.x_query @ Gamma, c.h)
            sq[s:s + m] = (c.y_query - pred) ** 2
        out[name], out[name + "_sem"] = mean_sem(sq)
    return out


def kernel_monte_carlo_errors(Gamma, tasks, factor, rho: float, n_test: int, rng: np.random.Generator,
                              *, chunk: int = 8192) -> dict[str, float]:
    """Monte Carlo ``e_ICL`` (fresh ``w ~ N(0, I)``) and ``e_IDG`` (``w`` uniform on ``tasks``) of
    ``Gamma`` on ``n_test`` contexts each, drawn exactly by
    :func:`simulate.sampler.sample_contexts_kernel` with the prepared kernel ``factor`` (a query
    correlated with the context, where no closed form is derived here). The query's label noise is
    averaged exactly: each context contributes ``(x_q.w - x_q^T Gamma h)^2 + rho``. Returns ``icl``,
    ``icl_sem``, ``idg``, ``idg_sem`` (:func:`simulate.stats.mean_sem` over the contexts)."""
    Gamma, tasks, _, rho = _check_inputs(Gamma, tasks, factor.l, rho)
    if isinstance(n_test, bool) or int(n_test) != n_test or n_test < 2:
        raise ValueError(f"n_test must be an integer >= 2; got {n_test!r}")
    d = Gamma.shape[0]
    out = {}
    for name in ("icl", "idg"):
        sq = np.empty(int(n_test))
        for s in range(0, int(n_test), chunk):
            m = min(chunk, int(n_test) - s)
            W = rng.standard_normal((m, d)) if name == "icl" else tasks[rng.integers(0, len(tasks), size=m)]
            c = sample_contexts_kernel(W, factor, rho, rng)
            pred = np.einsum("ij,ij->i", c.x_query @ Gamma, c.h)
            sq[s:s + m] = (np.einsum("ij,ij->i", c.x_query, W) - pred) ** 2 + rho
        out[name], out[name + "_sem"] = mean_sem(sq)
    return out
