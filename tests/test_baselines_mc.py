"""simulate.baselines: ridge / Bayes and dMMSE Monte Carlo against independent references."""
import math

import numpy as np
import pytest
from scipy import integrate, special, stats

from simulate.baselines import (_contexts, _dmmse_estimate, _ridge_estimate, dmmse_mc,
                                dmmse_replicate, ridge_mc, ridge_replicate)
from simulate.sweep import sweep


def ridge_limit(alpha, rho):
    """d -> inf ridge error, derived here: e = rho (1 + g), g = lim (1/d) tr (X^T X + rho)^{-1}.

    Leave-one-out: g = 1 / (rho + alpha / (1 + g)), i.e. rho g^2 + (rho + alpha - 1) g - 1 = 0
    (Marchenko–Pastur with ratio d/l = 1/alpha); rho = 0 gives max(0, 1 - alpha).
    """
    if rho == 0:
        return max(0.0, 1.0 - alpha)
    b = rho + alpha - 1.0
    return rho * (1.0 + 2.0 / (b + math.sqrt(b * b + 4.0 * rho)))


def ridge_finite_d(d, l, rho, n, seed):
    """Finite-d reference: e = rho (1 + E (1/d) tr (X^T X + rho)^{-1}) from Wishart eigenvalues.

    w_hat - w = -rho (A + rho)^{-1} w + (A + rho)^{-1} X^T eps with A = X^T X, so
    E |w_hat - w|^2 = rho tr (A + rho)^{-1}: exact given X, only X is sampled (own generator).
    """
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, l, d)) / math.sqrt(d)
    ev = np.linalg.eigvalsh(z.transpose(0, 2, 1) @ z)
    vals = rho * (1.0 + np.mean(1.0 / (ev + rho), axis=1))
    return vals.mean(), vals.std(ddof=1) / math.sqrt(n)


@pytest.mark.parametrize("alpha, rho", [(0.5, 0.3), (2.0, 0.3), (1.0, 1.0)])
def test_ridge_matches_finite_d_expectation(alpha, rho):
    d = 10
    est = ridge_mc(d, alpha, rho, 20000, rng=1)
    ref, ref_sem = ridge_finite_d(d, round(alpha * d), rho, 20000, seed=2)
    # both unbiased for the same finite-d mean; 4 combined standard errors
    assert abs(est.mean - ref) < 4 * math.hypot(est.sem, ref_sem)
    assert est.n == 20000 and 0 < est.sem < 0.01


def test_ridge_closed_form_is_the_large_d_limit():
    # the derived closed form against the finite-d trace at d = 300 (concentrates; bias O(1/d))
    for alpha, rho in [(0.5, 0.3), (2.0, 0.3)]:
        ref, ref_sem = ridge_finite_d(300, round(alpha * 300), rho, 4, seed=3)
        assert abs(ref - ridge_limit(alpha, rho)) < 3 * ref_sem + 0.3 / 300  # 3 sem + O(1/d) bias
    try:
        from asymptotics.baselines import ridge_error
    except ImportError:
        ridge_error = None
    if ridge_error is not None:  # the package's closed form, once merged, against this derivation
        for alpha, rho in [(0.5, 0.3), (2.0, 0.3), (1.0, 1.0), (0.5, 0.0), (2.0, 0.0)]:
            assert float(ridge_error(alpha, rho)) == pytest.approx(ridge_limit(alpha, rho),
                                                                  rel=1e-12)  # both exact; rounding only


@pytest.mark.parametrize("alpha, rho", [(0.5, 0.25), (2.0, 0.5), (1.0, 0.1)])
def test_ridge_mc_near_closed_form(alpha, rho):
    d = 40
    est = ridge_mc(d, alpha, rho, 3000, rng=np.random.default_rng(4))
    # 3 standard errors + O(1/d) bias: measured d (e_d - e_inf) <= 0.19 for d = 20..80 at these points
    assert abs(est.mean - ridge_limit(alpha, rho)) < 3 * est.sem + 0.3 / d


def test_ridge_rho_zero_is_min_norm_least_squares():
    d = 20
    under = ridge_mc(d, 0.5, 0.0, 4000, rng=5)
    # w_hat projects w on the l-dimensional row space of X: E |P_perp w|^2 / d = 1 - l/d exactly
    assert abs(under.mean - (1 - 10 / d)) < 3 * under.sem
    for alpha in (1.0, 2.0):
        assert ridge_mc(d, alpha, 0.0, 200, rng=5).mean < 1e-10  # w recovered; rounding (cond ~ d^2 at l = d)


def test_ridge_reproducible_and_seeded():
    a = ridge_mc(8, 1.0, 0.2, 500, rng=7)
    assert a == ridge_mc(8, 1.0, 0.2, 500, rng=np.random.default_rng(7))  # int seed = default_rng(seed)
    assert a != ridge_mc(8, 1.0, 0.2, 500, rng=8)


def test_ridge_estimator_is_the_posterior_mean():
    # for Gaussian w the posterior mean is orthogonal to any other estimator's difference:
    # E|w - w_other|^2 - E|w - w_hat|^2 = E|w_hat - w_other|^2; a wrong ridge (e.g. penalty 2 rho) fails this
    rng = np.random.default_rng(9)
    d, l, rho = 4, 8, 0.5
    w = rng.standard_normal((20000, d))
    x, y = _contexts(rng, w, l, rho)
    w_ridge = _ridge_estimate(x, y, rho)
    for other in (_ridge_estimate(x, y, 2 * rho), _dmmse_estimate(x, y, rng.standard_normal((16, d)), rho)):
        lhs = np.sum((w - other) ** 2, 1) - np.sum((w - w_ridge) ** 2, 1)
        rhs = np.sum((w_ridge - other) ** 2, 1)
        diff = lhs - rhs  # = 2 (w - w_ridge).(w_ridge - other): mean zero
        assert abs(diff.mean()) < 4 * diff.std(ddof=1) / math.sqrt(diff.size)  # 4 standard errors
        assert rhs.mean() > 10 * diff.std(ddof=1) / math.sqrt(diff.size)  # and the test has power


def test_dmmse_single_task_exact():
    # k = 1: w_hat = w_1 always, so e_ICL = rho + E|w - w_1|^2 / d = rho + 1 + |w_1|^2 / d, e_IDG = rho
    d, rho = 6, 0.3
    w1 = np.arange(1.0, d + 1)[None, :]
    res = dmmse_mc(d, 1.0, None, rho, 4000, rng=10, tasks=w1)
    assert abs(res.icl.mean - (rho + 1 + np.sum(w1 ** 2) / d)) < 4 * res.icl.sem  # 4 standard errors
    assert res.idg.mean == pytest.approx(rho, rel=1e-15) and (res.k, res.l) == (1, 6)  # rounding only


def test_dmmse_two_tasks_idg_matches_quadrature():
    # k = 2, truth w_t, other w_o, D = w_t - w_o: the log-odds against the wrong task is
    # L = (S + 2 sqrt(rho S) Z) / (2 rho), S = |X D|^2 = (|D|^2/d) chi2_l, Z ~ N(0, 1), and
    # |w - w_hat|^2 = sigmoid(-L)^2 |D|^2, so e_IDG = rho + (|D|^2/d) E[sigmoid(-L)^2] (derived here).
    d, alpha, rho = 8, 0.25, 1.0
    l = 2
    tasks = np.zeros((2, d))
    tasks[1, 0] = math.sqrt(d)  # |D|^2 / d = 1
    zs, zw = np.polynomial.hermite_e.hermegauss(80)

    def inner(s):
        big_l = (s + 2 * np.sqrt(rho * s) * zs) / (2 * rho)
        return np.dot(zw, special.expit(-big_l) ** 2) / math.sqrt(2 * math.pi) * stats.chi2.pdf(s, l)

    expected = rho + integrate.quad(inner, 0, np.inf, epsabs=1e-12)[0]
    res = dmmse_mc(d, alpha, None, rho, 40000, rng=11, tasks=tasks)
    assert res.idg.mean - rho > 0.05  # a regime where the posterior is genuinely uncertain
    assert abs(res.idg.mean - expected) < 4 * res.idg.sem  # exact finite-d law; 4 standard errors


def test_dmmse_idg_concentrates_on_the_true_task():
    # few tasks, long contexts: a wrong task j has log-weight ~ -l |w - w_j|^2/(2 d rho) ~ -l/rho = -160,
    # so w_hat = w to rounding and e_IDG = rho (corrections O(k e^-160))
    res = dmmse_mc(20, 2.0, 0.25, 0.25, 2000, rng=12)
    assert res.idg.mean == pytest.approx(0.25, rel=1e-12)  # exponentially small + rounding
    assert res.icl.mean > 1.5  # while new tasks are predicted badly (mean of 5 tasks is no guess)


def test_dmmse_icl_approaches_ridge_as_kappa_grows():
    d, alpha, rho, n = 4, 2.0, 0.5, 6000
    ridge = ridge_mc(d, alpha, rho, n, rng=13)
    gaps, sems = [], []
    for kappa in (1.0, 4.0, 16.0, 64.0):
        icl = dmmse_mc(d, alpha, kappa, rho, n, rng=14).icl
        gaps.append(icl.mean - ridge.mean)
        sems.append(math.hypot(icl.sem, ridge.sem))
    for i in range(3):
        assert gaps[i] - gaps[i + 1] > 3 * math.hypot(sems[i], sems[i + 1])  # strictly decreasing
    # ridge is Bayes-optimal for Gaussian tasks (gap >= 0); at k = 256 the gap measured with paired
    # contexts is 0.040 +- 0.001 (it decays roughly like k^-0.8): allow 0.06 + 3 sem
    assert -3 * sems[-1] < gaps[-1] < 0.06 + 3 * sems[-1]


def test_dmmse_tiny_rho_is_stable_and_equals_hard_argmin():
    d = 20
    zero = dmmse_mc(d, 1.0, 0.5, 0.0, 300, rng=15)
    for rho in (1e-300, 1e-200):
        tiny = dmmse_mc(d, 1.0, 0.5, rho, 300, rng=15)
        assert np.isfinite([tiny.icl.mean, tiny.icl.sem, tiny.idg.mean]).all()
        # same stream; noise of size sqrt(rho) cannot move the argmin; softmax weights are exactly 0/1
        assert tiny.icl.mean == pytest.approx(zero.icl.mean, rel=1e-12)  # rounding only
        assert tiny.idg.mean == pytest.approx(rho, rel=1e-9)  # w_hat = w: only rho remains
    # the naive softmax this guards against: every weight underflows and normalising gives NaN
    resid = np.array([3.0, 4.0])
    with np.errstate(all="ignore"):
        naive = np.exp(-resid / 2e-300)
        assert np.isnan(naive / naive.sum()).all()


def test_dmmse_reproducible_and_validated():
    a = dmmse_mc(6, 1.0, 0.5, 0.2, 300, rng=16)
    assert a == dmmse_mc(6, 1.0, 0.5, 0.2, 300, rng=np.random.default_rng(16))
    assert a.icl != dmmse_mc(6, 1.0, 0.5, 0.2, 300, rng=17).icl
    with pytest.raises(ValueError, match="rho must satisfy"):
        dmmse_mc(6, 1.0, 0.5, -0.1, 300, rng=1)
    with pytest.raises(ValueError, match="kappa = inf"):
        dmmse_mc(6, 1.0, np.inf, 0.1, 300, rng=1)
    with pytest.raises(ValueError, match="either kappa or tasks"):
        dmmse_mc(6, 1.0, 0.5, 0.1, 300, rng=1, tasks=np.ones((3, 6)))
    with pytest.raises(ValueError, match="tasks must have shape"):
        dmmse_mc(6, 1.0, None, 0.1, 300, rng=1, tasks=np.ones((3, 5)))
    with pytest.raises(ValueError, match="n_contexts must be an integer >= 2"):
        ridge_mc(6, 1.0, 0.1, 1, rng=1)
    with pytest.raises(ValueError, match="rng must be"):
        ridge_mc(6, 1.0, 0.1, 10, rng=None)
    with pytest.raises(ValueError, match="rounds to l = 0"):
        ridge_mc(6, 0.01, 0.1, 10, rng=1)


def test_baselines_as_sweep_runners():
    grid = {"tau": 2.0, "alpha": [0.5, 2.0], "kappa": 0.5, "rho": 0.25}
    res = sweep(grid, d=6, n_seeds=2, seed=3, runner=dmmse_replicate, options={"n_contexts": 200},
                progress=False)
    assert len(res.records) == 4 and not res.errors
    rec = res.records[1]
    direct = dmmse_mc(6, 0.5, 0.5, 0.25, 200, rng=np.random.default_rng(np.random.SeedSequence(3, spawn_key=(1,))))
    assert (rec["icl"], rec["idg"], rec["icl_sem"], rec["k"]) == (direct.icl.mean, direct.idg.mean,
                                                                  direct.icl.sem, 3)
    ridge = sweep(grid, d=6, runner=ridge_replicate, options={"n_contexts": 200}, progress=False)
    assert all(r["icl"] == r["idg"] and r["solver"] == "ridge-mc" for r in ridge.records)
    with pytest.raises(ValueError, match="kappa = inf"):  # refused up front by the runner's validate
        sweep({**grid, "kappa": [0.5, np.inf]}, d=6, runner=dmmse_replicate, progress=False)
