"""The exact finite-d optimum at tau = inf (``simulate.run(d, tau=inf, ...)``): population moments of
the context statistic, ``Gamma* = B (M + lam I)^{-1}`` (simulate.errors.population_gamma).

Checked three independent ways: the moments against Monte Carlo over explicit tokens; ``Gamma*``
against finite-tau ridgeless fits, which converge to it; the d -> inf extrapolation of ``Gamma*``'s
errors against the theory at tau = inf (simulate.validate).
"""
import numpy as np
import pytest

import asymptotics as A
import simulate
from simulate.errors import context_moments, population_gamma, test_errors

INF = float("inf")


@pytest.mark.parametrize("gaussian", [False, True])
def test_moments_match_monte_carlo(gaussian):
    # Every entry of E[h h^T] and E[w h^T] against its sample mean over n contexts of explicit tokens:
    # within 5 standard errors of that mean (42 + 30 entries: a false alarm has probability < 1e-4).
    d, l, rho, n = 5, 4, 0.1, 200_000
    rng = np.random.default_rng(11)
    W = rng.standard_normal((3, d))
    M, B = context_moments(l, rho, None if gaussian else W, np.ones(d) if gaussian else None)
    w = rng.standard_normal((n, d)) if gaussian else W[rng.integers(0, 3, n)]
    x = rng.standard_normal((n, l, d)) / np.sqrt(d)
    y = np.einsum("nld,nd->nl", x, w) + np.sqrt(rho) * rng.standard_normal((n, l))
    h = np.concatenate([(d / l) * np.einsum("nld,nl->nd", x, y), np.mean(y * y, 1)[:, None]], 1)
    for est, samples in ((M, h[:, :, None] * h[:, None, :]), (B, w[:, :, None] * h[:, None, :])):
        mean, se = samples.mean(0), samples.std(0, ddof=1) / np.sqrt(n)
        assert np.all(np.abs(mean - est) <= 5 * se + 1e-12)


def test_gamma_star_is_the_minimum_of_the_population_loss():
    # kappa = inf: the pretraining law is the ICL test law, so e_ICL(Gamma) is the population loss, a
    # convex quadratic minimised by Gamma*: every perturbation raises it (exactly, up to rounding).
    d, l, rho = 6, 6, 0.1
    g = population_gamma(l, rho, 0.0, None, np.ones(d))
    e0 = test_errors(g, np.zeros((1, d)), l, rho)[0]
    rng = np.random.default_rng(0)
    for _ in range(20):
        dg = 1e-3 * rng.standard_normal(g.shape)
        assert test_errors(g + dg, np.zeros((1, d)), l, rho)[0] > e0 - 1e-14
    assert simulate.run(d, INF, 1.0, INF, rho).icl[0] == pytest.approx(e0, rel=1e-14)


def test_finite_tau_fits_converge_to_the_population_optimum():
    # Ridgeless least squares on n contexts with p = d(d+1) features: the excess over the population
    # optimum e* is about e* p/(n - p - 1) (exact for Gaussian features; here h is not Gaussian, so a
    # margin of 100% of that excess is allowed) plus 3 standard errors over 16 seeds.
    d, rho, tau = 8, 0.1, 20.0
    e_star = simulate.run(d, INF, 1.0, INF, rho).icl[0]
    res = simulate.run(d, tau, 1.0, INF, rho, n_seeds=16, seed=1)
    p, n = d * (d + 1), round(tau * d * d)
    excess = e_star * p / (n - p - 1)
    assert e_star <= res.mean().icl + 3 * res.sem().icl
    assert abs(res.mean().icl - (e_star + excess)) <= excess + 3 * res.sem().icl


def test_population_optimum_extrapolates_to_the_theory():
    # d -> inf extrapolation (linear in 1/d) of Gamma*'s exact errors at tau = inf, kappa = 1:
    # within 3 standard errors of the theory (measured z = -0.1 for ICL, -1.6 for IDG at d = 20..80).
    v = simulate.validate(INF, 1.0, 1.0, 0.1, d=(20, 40, 60, 80), n_seeds=8, progress=False)
    assert abs(v.icl.z) < 3 and abs(v.idg.z) < 3
    assert v.icl.theory == pytest.approx(float(A.e_icl(INF, 1.0, 1.0, 0.1, 0.0)), rel=1e-12)


def test_tau_inf_refuses_options_that_do_not_apply():
    with pytest.raises(ValueError, match="population moments"):
        simulate.run(6, INF, 1.0, 1.0, 0.1, solver="dual")
