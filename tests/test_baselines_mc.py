"""simulate.baselines: ridge / Bayes and dMMSE Monte Carlo against independent references."""
import math

import numpy as np
import pytest
from scipy import integrate, special, stats

from asymptotics import ridge_error
from simulate.baselines import (_contexts, _dmmse_estimate, _ridge_estimate, dmmse_mc,
                                dmmse_replicate, ridge_mc, ridge_replicate)
from simulate.sweep import sweep

#: Family-wise false-alarm rate of the Monte Carlo assertions of one test (all its parameters).
FAMILY_RATE = 0.003


def familywise_z(m, df=None):
    """Per-assertion two-sided threshold for ``m`` simultaneous assertions of one test, family-wise
    false-alarm rate ``FAMILY_RATE`` by Bonferroni: the normal quantile for standard errors from
    thousands of contexts, Student t with ``df`` degrees of freedom for a standard error estimated
    from few replicates."""
    p = FAMILY_RATE / (2 * m)
    return float(stats.norm.isf(p) if df is None else stats.t.isf(p, df))


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


FINITE_D_POINTS = [(0.5, 0.3), (2.0, 0.3), (1.0, 1.0)]


@pytest.mark.parametrize("alpha, rho", FINITE_D_POINTS)
def test_ridge_matches_finite_d_expectation(alpha, rho):
    d = 10
    est = ridge_mc(d, alpha, rho, 20000, rng=1)
    ref, ref_sem = ridge_finite_d(d, round(alpha * d), rho, 20000, seed=2)
    # both unbiased for the same finite-d mean: z combined standard errors, z = 3.29 from the
    # family of 3 two-sided assertions (one per point) at family-wise rate 0.3%
    z = familywise_z(len(FINITE_D_POINTS))
    assert abs(est.mean - ref) < z * math.hypot(est.sem, ref_sem)
    assert est.n == 20000 and 0 < est.sem < 0.01


def test_ridge_closed_form_is_the_large_d_limit():
    # the derived closed form against the finite-d trace at d = 300 (concentrates; bias O(1/d));
    # the sem comes from 16 matrices, so Student t with 15 dof: z = 3.87 for 2 two-sided
    # assertions at family-wise rate 0.3%
    n = 16
    z = familywise_z(2, df=n - 1)
    for alpha, rho in [(0.5, 0.3), (2.0, 0.3)]:
        ref, ref_sem = ridge_finite_d(300, round(alpha * 300), rho, n, seed=3)
        assert abs(ref - ridge_limit(alpha, rho)) < z * ref_sem + 0.3 / 300  # z sem + O(1/d) bias
    # the package's closed form (asymptotics.ridge_error) against this derivation
    for alpha, rho in [(0.5, 0.3), (2.0, 0.3), (1.0, 1.0), (0.5, 0.0), (2.0, 0.0)]:
        assert float(ridge_error(alpha, rho)) == pytest.approx(ridge_limit(alpha, rho),
                                                              rel=1e-12)  # both exact; rounding only


NEAR_POINTS = [(0.5, 0.25), (2.0, 0.5), (1.0, 0.1)]


@pytest.mark.parametrize("alpha, rho", NEAR_POINTS)
def test_ridge_mc_near_closed_form(alpha, rho):
    d = 40
    est = ridge_mc(d, alpha, rho, 3000, rng=np.random.default_rng(4))
    # z standard errors (z = 3.29: 3 two-sided assertions, family-wise rate 0.3%) + O(1/d) bias:
    # measured d (e_d - e_inf) <= 0.19 for d = 20..80 at these points
    z = familywise_z(len(NEAR_POINTS))
    assert abs(est.mean - ridge_limit(alpha, rho)) < z * est.sem + 0.3 / d


def test_ridge_rho_zero_is_min_norm_least_squares():
    d = 20
    under = ridge_mc(d, 0.5, 0.0, 4000, rng=5)
    # w_hat projects w on the l-dimensional row space of X: E |P_perp w|^2 / d = 1 - l/d exactly;
    # one two-sided Monte Carlo assertion at rate 0.3%: z = 2.97 standard errors
    assert abs(under.mean - (1 - 10 / d)) < familywise_z(1) * under.sem
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
    z = familywise_z(2)  # 2 two-sided assertions (one per other estimator), family-wise rate 0.3%: 3.17
    for other in (_ridge_estimate(x, y, 2 * rho), _dmmse_estimate(x, y, rng.standard_normal((16, d)), rho)):
        lhs = np.sum((w - other) ** 2, 1) - np.sum((w - w_ridge) ** 2, 1)
        rhs = np.sum((w_ridge - other) ** 2, 1)
        diff = lhs - rhs  # = 2 (w - w_ridge).(w_ridge - other): mean zero
        assert abs(diff.mean()) < z * diff.std(ddof=1) / math.sqrt(diff.size)  # z standard errors
        assert rhs.mean() > 10 * diff.std(ddof=1) / math.sqrt(diff.size)  # and the test has power


@pytest.mark.parametrize("l", [3, 6, 9])
def test_estimators_match_explicit_bayes_rules(l):
    # the error curves are flat to first order around the Bayes rule (a 10% wrong penalty or
    # temperature moves them by ~1e-3), so pin the estimators themselves on random contexts
    rng = np.random.default_rng(20)
    d, rho, k = 6, 0.7, 5
    tasks = rng.standard_normal((k, d))
    x, y = _contexts(rng, rng.standard_normal((4, d)), l, rho)
    got_ridge = _ridge_estimate(x, y, rho)
    got_zero = _ridge_estimate(x, y, 0.0)
    got_dmmse = _dmmse_estimate(x, y, tasks, rho)
    for i in range(4):
        want = np.linalg.solve(x[i].T @ x[i] + rho * np.eye(d), x[i].T @ y[i])  # primal formula
        np.testing.assert_allclose(got_ridge[i], want, rtol=1e-10, atol=1e-12)  # two solves; rounding
        np.testing.assert_allclose(got_zero[i], np.linalg.pinv(x[i]) @ y[i],
                                   rtol=1e-8, atol=1e-10)  # vs SVD pinv; cond(X)^2 ~ 1e3 rounding
        loglik = [stats.norm.logpdf(y[i], x[i] @ t, math.sqrt(rho)).sum() for t in tasks]
        np.testing.assert_allclose(got_dmmse[i], special.softmax(loglik) @ tasks,
                                   rtol=1e-12, atol=1e-13)  # same posterior; rounding only


def test_dmmse_single_task_exact():
    # k = 1: w_hat = w_1 always, so e_ICL = rho + E|w - w_1|^2 / d = rho + 1 + |w_1|^2 / d, e_IDG = rho
    d, rho = 6, 0.3
    w1 = np.arange(1.0, d + 1)[None, :]
    res = dmmse_mc(d, 1.0, None, rho, 4000, rng=10, tasks=w1)
    # one two-sided Monte Carlo assertion at rate 0.3%: z = 2.97 standard errors
    assert abs(res.icl.mean - (rho + 1 + np.sum(w1 ** 2) / d)) < familywise_z(1) * res.icl.sem
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

    # a check of the sampled law of contexts and of the whole MC path (the rule itself is pinned above)
    expected = rho + integrate.quad(inner, 0, np.inf, epsabs=1e-12)[0]
    res = dmmse_mc(d, alpha, None, rho, 40000, rng=11, tasks=tasks)
    assert res.idg.mean - rho > 0.05  # a regime where the posterior is genuinely uncertain
    # exact finite-d law; one two-sided Monte Carlo assertion at rate 0.3%: z = 2.97 standard errors
    assert abs(res.idg.mean - expected) < familywise_z(1) * res.idg.sem


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
    # 4 Monte Carlo assertions (3 steps + the last gap), family-wise rate 0.3%: z = 3.37
    z = familywise_z(4)
    for i in range(3):
        # strictly decreasing: each step significant at z (measured 8.6 to 54 combined sem)
        assert gaps[i] - gaps[i + 1] > z * math.hypot(sems[i], sems[i + 1])
    # ridge is Bayes-optimal for Gaussian tasks (gap >= 0); at k = 256 the gap measured with paired
    # contexts is 0.040 +- 0.001 (it decays roughly like k^-0.8): allow 0.06 + z sem
    assert -z * sems[-1] < gaps[-1] < 0.06 + z * sems[-1]


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
    # the sweep runs the runner itself: each record equals the runner called directly with the same
    # point, seed and replicate (whatever stream convention simulate.seeding uses)
    rec = next(r for r in res.records if r["alpha"] == 0.5 and r["replicate"] == 1)
    direct = dmmse_replicate(6, tau=2.0, alpha=0.5, kappa=0.5, rho=0.25, seed=3, replicate=1,
                             n_contexts=200)
    assert (rec["icl"], rec["idg"], rec["icl_sem"], rec["k"]) == (direct["icl"], direct["idg"],
                                                                  direct["icl_sem"], 3)
    other = next(r for r in res.records if r["alpha"] == 0.5 and r["replicate"] == 0)
    assert other["icl"] != rec["icl"]  # replicates draw different streams
    ridge = sweep(grid, d=6, runner=ridge_replicate, options={"n_contexts": 200}, progress=False)
    assert all(r["icl"] == r["idg"] and r["solver"] == "ridge-mc" for r in ridge.records)
    with pytest.raises(ValueError, match="kappa = inf"):  # refused up front by the runner's validate
        sweep({**grid, "kappa": [0.5, np.inf]}, d=6, runner=dmmse_replicate, progress=False)
