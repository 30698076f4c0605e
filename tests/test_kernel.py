"""Correlated contexts (docs/THEORY.md section 9): the token kernel object, the theory's reduction to
the effective context length, the correlated query, the exact sampler and the exact test errors.

References: dense matrix algebra for the finite-l statistics; closed forms and zeta sums for the
l -> inf limits (with the truncation bound derived next to each assertion); the PNAS theory at
``alpha_eff`` evaluated by the isotropic closed-form path (the kernel goes through the structured
path: a different code path); the token-level reference sampler and Monte Carlo for the simulator.
The authors' ridgeless formula (their theory_base/theory.py, not committed here) was compared with
``solve(..., query='correlated')`` on 432 points (xi 0.5..10, tau 0.3..4, alpha, kappa, rho): 8e-15
(docs/THEORY.md section 9.5). Simulation against the theory: test_kernel_sim.py."""
import numpy as np
import pytest
from scipy.stats import norm

import asymptotics as A
from asymptotics import kernel as K
from simulate.errors import test_errors
from simulate.sampler import kernel_factor, sample_contexts_kernel, sample_contexts_kernel_tokens
from simulate.stats import mean_sem

TAU = np.array([0.2, 0.7, 0.99, 1.01, 2.0, 10.0, np.inf])
KAPPA = np.array([[0.2], [0.9], [1.0], [3.0], [np.inf]])


def rel(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    both_inf = np.isinf(a) & np.isinf(b) & (a == b)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.abs(a / b - 1)
    return float(np.max(np.where(both_inf, 0.0, r)))


# --- 1. the kernel object ----------------------------------------------------------------------------

@pytest.mark.parametrize("kern", [K.iid(), K.exponential(0.7), K.exponential(4.0), K.power_law(0.8),
                                  K.power_law(2.0)])
@pytest.mark.parametrize("l", [1, 2, 7, 40])
def test_finite_l_statistics_equal_dense_algebra(kern, l):
    M = kern.matrix(l)
    Kc, k = M[:l, :l], M[:l, l]
    s = kern.stats(l)
    # O(l) sums and one FFT convolution vs dense products: rounding of sums of <= l^2 positive terms
    assert abs(s.tk2 - np.sum(Kc * Kc) / l) <= 1e-13 * s.tk2
    assert abs(s.k0 - k @ k) <= 1e-13 * max(s.k0, 1e-300)
    assert abs(s.k1 - k @ Kc @ k) <= 1e-12 * max(s.k1, 1e-300)
    assert np.allclose(np.diagonal(M), 1.0) and np.array_equal(M, M.T)
    assert np.linalg.eigvalsh(M)[0] > -1e-12  # positive (semi-)definite by construction
    Mi = kern.matrix(l, "independent")
    assert np.array_equal(Mi[:l, :l], Kc) and not np.any(Mi[:l, l]) and Mi[l, l] == 1.0


def test_exponential_limits_closed_forms():
    for xi in (0.3, 1.0, 5.0, 20.0):
        lim, phi2 = K.exponential(xi).limit, np.exp(-2 / xi)
        L = 20000
        s = K.exponential(xi).stats(L)
        # tk2(l) = tk2 - (2/l) sum_t t phi^2t - 2 sum_{t >= l} phi^2t (l - t)/l: the deficit is at most
        # 2 phi^2/(l (1 - phi^2)^2); k0, k1 converge like phi^(2l) (negligible at l = 20000).
        bound = 2 * phi2 / (L * (1 - phi2) ** 2)
        assert 0 <= lim.tk2 - s.tk2 <= bound * (1 + 1e-9) + 1e-15 * lim.tk2
        assert rel(lim.k0, s.k0) < 1e-13 and rel(lim.k1, s.k1) < 1e-12
        assert rel(lim.tk2, 1 / np.tanh(1 / xi)) < 1e-15


def test_power_law_limits_and_refusals():
    g = 1.5
    lim = K.power_law(g).limit
    L = 1 << 16
    s = K.power_law(g).stats(L)
    # the zeta tails: sum_{t > L} (1+t)^-2g <= L^(1-2g)/(2g-1); tk2 has twice that plus a (1/L) sum t c^2
    # part bounded by zeta(2g - 1)/L; k1's double-sum tail is O(L^(2 - 3g)) (Richardson removes its
    # leading term; 1e-6 is ~300x the remaining L^(2-3g) of 2^-40).
    assert 0 <= lim.k0 - s.k0 <= L ** (1 - 2 * g) / (2 * g - 1)
    assert 0 <= lim.tk2 - s.tk2 <= 2 * L ** (1 - 2 * g) / (2 * g - 1) + 2 * 1.65 / L
    assert rel(lim.k1, s.k1) < 1e-6
    with pytest.raises(ValueError, match="grows with l.*proportional regime"):
        K.power_law(0.5).limit
    with pytest.raises(ValueError, match="proportional regime"):
        A.e_icl(2.0, 1.0, 1.0, 0.1, token_kernel=K.power_law(0.4))
    with pytest.raises(ValueError, match="gamma > 2/3"):
        A.e_icl(2.0, 1.0, 1.0, 0.1, token_kernel=K.power_law(0.6), query="correlated")
    assert np.isfinite(A.e_icl(2.0, 1.0, 1.0, 0.1, token_kernel=K.power_law(0.6)))  # tk2 finite: allowed


@pytest.mark.parametrize("bad, match", [
    (np.array([[1.0, 0.5], [0.4, 1.0]]), "symmetric"),
    (np.array([[1.0, 0.5], [0.5, 2.0]]), "unit diagonal"),
    (np.array([[1.0, 0.9, -0.9], [0.9, 1.0, 0.9], [-0.9, 0.9, 1.0]]), "positive semi-definite"),
    (np.ones((2, 3)), "square"),
    (np.ones((1, 1)), "square"),
    (np.array([[1.0, np.nan], [np.nan, 1.0]]), "finite"),
])
def test_bad_matrices_refused(bad, match):
    with pytest.raises(ValueError, match=match):
        K.from_matrix(bad)
    with pytest.raises(ValueError, match=match):
        A.e_icl(2.0, 1.0, 1.0, 0.1, token_kernel=bad)


def test_matrix_used_at_wrong_size_refused():
    import simulate
    M = K.exponential(2.0).matrix(10)
    with pytest.raises(ValueError, match="11 x 11.*l = 12"):
        simulate.run(12, 2.0, 1.0, 1.0, 0.1, token_kernel=M)
    assert simulate.run(10, 2.0, 1.0, 1.0, 0.1, token_kernel=M).n_seeds == 1  # right size: runs
    with pytest.raises(ValueError, match="xi"):
        K.exponential(0.0)
    with pytest.raises(ValueError, match="query must be one of"):
        A.e_icl(2.0, 1.0, 1.0, 0.1, token_kernel=K.exponential(1.0), query="next")


# --- 2. theory -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("lam", [0.0, 1e-3, 0.3])
def test_iid_kernel_is_todays_theory(lam):
    # K = I: the same numbers as without a kernel (to 1e-12; in fact the same code path, bitwise)
    for query in ("independent", "correlated"):
        for f in (A.e_icl, A.e_idg):
            if (query == "correlated" and (lam > 0 or f is A.e_idg)):
                continue
            for kern in (K.iid(), np.eye(9)):
                assert rel(f(TAU, 1.5, KAPPA, 0.2, lam, token_kernel=kern, query=query),
                           f(TAU, 1.5, KAPPA, 0.2, lam)) <= 1e-12
    r = A.solve(TAU, 1.5, KAPPA, 0.2, lam, token_kernel=K.iid())
    assert np.array_equal(r.alpha_eff, np.broadcast_to(1.5, r.alpha_eff.shape)) and not np.any(r.query_gain)


@pytest.mark.parametrize("lam", [0.0, 1e-3, 0.3])
@pytest.mark.parametrize("kern", [K.exponential(1.0), K.exponential(7.5), K.power_law(0.9)])
def test_independent_query_is_iid_theory_at_alpha_eff(lam, kern):
    # docs/THEORY.md 9.2: the theory depends on alpha only through q = (tk2 + rho)/alpha, so the kernel
    # (structured code path) equals the isotropic closed forms at alpha_eff = alpha (1+rho)/(tk2+rho).
    # 1e-10: the two paths' root finders (scalar root + Newton vs closed form) at kappa = 1, as in
    # test_structured.py; plus two roundings in alpha_eff.
    alpha, rho = 1.5, 0.2
    a_eff = alpha * (1 + rho) / (kern.limit.tk2 + rho)
    for f in (A.e_icl, A.e_idg):
        assert rel(f(TAU, alpha, KAPPA, rho, lam, token_kernel=kern), f(TAU, a_eff, KAPPA, rho, lam)) < 1e-10
    r = A.solve(TAU, alpha, KAPPA, rho, lam, token_kernel=kern)  # the structured code path
    assert rel(r.alpha_eff, a_eff) < 4e-16 * 4 and not np.any(r.query_gain)
    assert rel(r.e_icl, A.e_icl(TAU, a_eff, KAPPA, rho, lam)) < 1e-10
    assert rel(r.e_idg, A.e_idg(TAU, a_eff, KAPPA, rho, lam)) < 1e-10


@pytest.mark.parametrize("lam", [0.0, 0.05])
def test_independent_query_with_task_covariances(lam):
    # With C_tr of trace t per dimension, q = (tk2 t + rho)/alpha (docs/THEORY.md 9.2): alpha_eff =
    # alpha (t + rho)/(tk2 t + rho), the same for e_ICL when tr C_te = tr C_tr, and alpha_test maps the
    # same way (q_te, q' with tk2). 1e-10 as above.
    kern, alpha, rho = K.exponential(3.0), 1.2, 0.3
    tk2 = kern.limit.tk2
    tc = np.array([3.0, 3.0, 1, 1, 1, 1, 1, 1])  # t = tr C/d = 1.5
    te = np.full(8, 1.5)
    t = 1.5
    a_eff = alpha * (t + rho) / (tk2 * t + rho)
    at, at_eff = 2.5, 2.5 * (t + rho) / (tk2 * t + rho)
    for f, kw in ((A.e_icl, dict(test_cov=te)), (A.e_idg, {})):
        got = f(TAU, alpha, KAPPA, rho, lam, task_cov=tc, token_kernel=kern, alpha_test=at, **kw)
        want = f(TAU, a_eff, KAPPA, rho, lam, task_cov=tc, alpha_test=at_eff, **kw)
        assert rel(got, want) < 1e-10
    r = A.solve(TAU, alpha, KAPPA, rho, lam, task_cov=tc, token_kernel=kern)
    assert rel(r.alpha_eff, a_eff) < 1e-15 * 8


def test_correlated_query_gain():
    kern = K.exponential(3.0)
    r = A.solve(TAU, 1.0, KAPPA, 0.1, token_kernel=kern, query="correlated")
    ind = A.solve(TAU, 1.0, KAPPA, 0.1, token_kernel=kern)
    # lean path (e_icl) and solve (structured path) agree: 1e-10 as in the alpha_eff test
    assert rel(A.e_icl(TAU, 1.0, KAPPA, 0.1, token_kernel=kern, query="correlated"), r.e_icl) < 1e-10
    finite = np.isfinite(ind.e_icl)
    # e_icl = independent-query error + gain, and the gain lowers the error at every point here
    assert rel(r.e_icl[finite] - r.query_gain[finite], ind.e_icl[finite]) < 1e-14
    assert np.all(r.query_gain[finite] < 0)
    assert np.array_equal(r.e_idg, ind.e_idg)  # pretraining is the same model: e_idg reported as is
    # k = 0 with tk2 > 1 (a matrix kernel whose query column is zero): the gain is exactly 0
    M = kern.matrix(30, "independent")
    z = A.solve(TAU, 1.0, KAPPA, 0.1, token_kernel=M, query="correlated")
    assert not np.any(z.query_gain)
    assert rel(z.e_icl, A.e_icl(TAU, 1.0, KAPPA, 0.1, token_kernel=M)) <= 1e-15
    # the gain grows in magnitude with the correlation length (k0, k1 grow)
    g = [float(A.solve(2.0, 2.0, 2.0, 0.1, token_kernel=K.exponential(x), query="correlated").query_gain)
         for x in (0.5, 1, 2, 5, 10)]
    assert all(a > b for a, b in zip(g, g[1:]))


@pytest.mark.parametrize("kw, match", [
    (dict(lam=0.1), "lam > 0"),
    (dict(task_cov=np.ones(3)), "task_cov"),
    (dict(alpha_test=2.0), "alpha_test"),
])
def test_correlated_query_refused_where_not_derived(kw, match):
    lam = kw.pop("lam", 0.0)
    with pytest.raises(ValueError, match=match):
        A.e_icl(2.0, 1.0, 1.0, 0.1, lam, token_kernel=K.exponential(2.0), query="correlated", **kw)
    with pytest.raises(ValueError, match="e_idg"):
        A.e_idg(2.0, 1.0, 1.0, 0.1, token_kernel=K.exponential(2.0), query="correlated")


# --- 3. the sampler and the exact test errors -----------------------------------------------------------

def _stats(c, W, d):
    xw = np.einsum("ij,ij->i", c.x_query, W)
    xh = np.einsum("ij,ij->i", c.x_query, c.h[:, :d])
    hw = np.einsum("ij,ij->i", c.h[:, :d], W) / d
    return [c.h[:, d], xw * xh, xh * xh, xh * c.h[:, d], hw, np.einsum("ij,ij->i", c.h[:, :d], c.h[:, :d]) / d,
            c.y_query * xh, c.y_query ** 2]


@pytest.mark.parametrize("query", ["independent", "correlated"])
def test_fast_sampler_has_the_token_law(query):
    # Two independent samples (fast, tokens) of 8 statistics mixing h, s, x_q, y_q and w: the differences
    # are within z = 3.42 of their se (Bonferroni over 16 two-sided comparisons in this test's two runs,
    # family-wise 0.1%; normal: 2e5 draws each).
    rng = np.random.default_rng(7)
    d, l, rho, n = 5, 4, 0.2, 200_000
    M = K.exponential(5.0).matrix(l, query)
    W = rng.standard_normal((n, d))
    fast = _stats(sample_contexts_kernel(W, kernel_factor(M, query), rho, rng), W, d)
    tok = _stats(sample_contexts_kernel_tokens(W, M, rho, rng), W, d)
    z = norm.isf(0.001 / (2 * 16))
    for a, b in zip(fast, tok):
        (ma, sa), (mb, sb) = mean_sem(a), mean_sem(b)
        assert abs(ma - mb) <= z * np.hypot(sa, sb)


def test_exact_error_with_kernel_matches_monte_carlo():
    # The closed form of simulate.errors (independent query, tk2 at l) against 4e5 token-level
    # contexts for a random Gamma: one two-sided comparison per error, z = 3.29 (0.1% each... family 0.2%).
    rng = np.random.default_rng(3)
    d, l, rho = 6, 5, 0.3
    kern = K.exponential(2.0)
    G = rng.standard_normal((d, d + 1)) / np.sqrt(d)
    tasks = rng.standard_normal((3, d))
    icl, idg = test_errors(G, tasks, l, rho, tk2=kern.stats(l).tk2)
    M = kern.matrix(l, "independent")
    for exact, W in ((icl, rng.standard_normal((400_000, d))), (idg, tasks[rng.integers(0, 3, 400_000)])):
        c = sample_contexts_kernel_tokens(W, M, rho, rng)
        sq = (c.y_query - np.einsum("ij,ij->i", c.x_query @ G, c.h)) ** 2
        m, s = mean_sem(sq)
        assert abs(m - exact) <= 3.29 * s
    # tk2 = 1 is the i.i.d. formula (same algebra, other branch): rounding only
    a, b = test_errors(G, tasks, l, rho), test_errors(G, tasks, l, rho, tk2=1.0)
    assert rel(a, b) < 1e-13


def test_symbolic_identities():
    from asymptotics.symbolic import prove_kernel_identities
    for name, diff in prove_kernel_identities().items():
        assert diff == 0, name  # exact (sympy simplification)


def test_streams_and_cache_keyed_by_kernel(tmp_path):
    import simulate
    from simulate.core import check_point
    a = simulate.run_replicate(8, 2.0, 1.0, 1.0, 0.1, seed=3, replicate=1, token_kernel=K.exponential(2.0))
    b = simulate.run_replicate(8, 2.0, 1.0, 1.0, 0.1, seed=3, replicate=1, token_kernel=K.exponential(2.0))
    assert a["icl"] == b["icl"] and a["idg"] == b["idg"]  # reproducible: the same stream
    p, *_ = check_point(8, 2.0, 1.0, 1.0, 0.1, token_kernel=K.exponential(2.0), query="correlated")
    assert p.key()["token_kernel"] == "exp:2.0" and p.key()["query"] == "correlated"
    iid, *_ = check_point(8, 2.0, 1.0, 1.0, 0.1, token_kernel=K.iid())
    assert "token_kernel" not in iid.key()  # K = I is the i.i.d. path: today's streams unchanged
    assert simulate.run_replicate(8, 2.0, 1.0, 1.0, 0.1, seed=3, replicate=1, token_kernel=K.iid())["icl"] == \
        simulate.run_replicate(8, 2.0, 1.0, 1.0, 0.1, seed=3, replicate=1)["icl"]
    grid = {"tau": [2.0], "alpha": [1.0], "kappa": [1.0], "rho": [0.1]}
    r2 = simulate.sweep(grid, d=8, n_seeds=2, cache_dir=tmp_path, progress=False, options={"token_kernel": K.exponential(2.0)})
    r3 = simulate.sweep(grid, d=8, n_seeds=2, cache_dir=tmp_path, progress=False, options={"token_kernel": K.exponential(3.0)})
    assert r3.metadata["n_computed"] == 2  # another kernel: not served from the first one's cache
    again = simulate.sweep(grid, d=8, n_seeds=2, cache_dir=tmp_path, progress=False, options={"token_kernel": K.exponential(2.0)})
    assert again.metadata["n_computed"] == 0 and [x["icl"] for x in again.records] == [x["icl"] for x in r2.records]
