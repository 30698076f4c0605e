"""Property tests (hypothesis) of facts that hold for every parameter value."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import asymptotics as A


def logs(lo, hi):
    return st.floats(lo, hi).map(lambda e: float(10.0**e))


taus = logs(-2, 3).filter(lambda t: abs(t - 1) > 1e-3)
alphas = logs(-2, 2)
kappas = st.one_of(logs(-3, 3), st.just(np.inf))
rhos = st.one_of(st.just(0.0), logs(-3, 1))
lams = st.one_of(st.just(0.0), logs(-8, 2))
SETTINGS = settings(max_examples=300, deadline=None, derandomize=True)


@SETTINGS
@given(taus, alphas, kappas, rhos, lams)
def test_errors_are_finite_and_above_the_noise_floor(tau, alpha, kappa, rho, lam):
    r = A.solve(tau, alpha, kappa, rho, lam)
    assert r.converged
    assert np.isfinite(r.e_icl) and np.isfinite(r.e_idg)
    # Every predictor of y = <x, w> + eps pays at least the label noise; 1e-12 absorbs rounding.
    assert r.e_icl >= rho * (1 - 1e-12) and r.e_idg >= rho * (1 - 1e-12)
    assert r.nu >= lam  # the effective ridge only adds to the explicit one


@SETTINGS
@given(taus, alphas, rhos, lams)
def test_infinite_task_diversity_closes_the_gap(tau, alpha, rho, lam):
    r = A.solve(tau, alpha, np.inf, rho, lam)
    # Same quantity by two algebraic routes; rounding grows with the error size near the peak.
    assert abs(r.e_icl - r.e_idg) <= 1e-11 * max(1.0, r.e_icl)


@SETTINGS
@given(taus, alphas, kappas, rhos)
def test_huge_ridge_predicts_zero(tau, alpha, kappa, rho):
    # lam -> inf drives Gamma to 0, whose error is E y^2 = 1 + rho; the gap is O(1/lam) times the
    # scale of the feature covariance (largest task eigenvalue ~ 1/kappa, q, 1/tau): 1e-4 has room.
    scale = (1 + 1 / tau + (1 + rho) / alpha) * (1 + 1 / kappa)
    for f in (A.e_icl, A.e_idg):
        assert abs(f(tau, alpha, kappa, rho, 1e6) - (1 + rho)) <= 1e-4 * (1 + rho) * scale
