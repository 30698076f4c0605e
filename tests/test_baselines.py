"""Bayes (ridge) error closed form against sampled spectra and its special cases."""
import numpy as np
import pytest

import asymptotics as A


@pytest.mark.parametrize("alpha,rho", [(0.5, 0.1), (1.0, 0.05), (2.0, 0.5), (4.0, 2.0)])
def test_ridge_error_matches_sampled_wishart(alpha, rho):
    rng = np.random.default_rng(7)
    d = 800
    X = rng.standard_normal((int(alpha * d), d)) / np.sqrt(d)
    ev = np.linalg.eigvalsh(X.T @ X)
    sampled = rho * (1 + np.mean(1 / (ev + rho)))
    # Linear statistic of a Wishart spectrum: O(1/d) bias and fluctuation, scaled by rho * 1/rho^2
    # resolvent norm at worst; 20/d covers alpha = 1, rho = 0.05 near the hard edge.
    assert A.ridge_error(alpha, rho) == pytest.approx(sampled, rel=20 / d)


def test_ridge_error_solves_its_quadratic():
    alpha, rho = np.meshgrid(np.geomspace(0.01, 100, 40), np.geomspace(1e-6, 1e3, 40))
    g = A.ridge_error(alpha, rho) / rho - 1
    # rho g^2 + (rho + alpha - 1) g - 1 = 0 (MP with ratio 1/alpha); relative to the largest term.
    # Recovering g = e/rho - 1 costs eps (1+g)/g relative when g is small (large rho): allow it.
    terms = np.stack([rho * g**2, np.abs(rho + alpha - 1) * g, np.ones_like(g)])
    tol = 8 * np.finfo(float).eps * (1 + (1 + g) / g)
    assert np.all(np.abs(rho * g**2 + (rho + alpha - 1) * g - 1) / terms.max(axis=0) < tol)


def test_noiseless_limit_is_unseen_fraction():
    alpha = np.array([0.2, 0.5, 0.9, 1.5, 3.0])
    np.testing.assert_array_equal(A.ridge_error(alpha, 0.0), np.maximum(0, 1 - alpha))
    # Continuity: for alpha != 1 the rho -> 0 correction is O(rho) (O(sqrt rho) only at alpha = 1).
    np.testing.assert_allclose(A.ridge_error(alpha, 1e-9), np.maximum(0, 1 - alpha), atol=1e-7)


def test_ridge_error_bounds():
    alpha, rho = np.meshgrid(np.geomspace(0.01, 100, 25), [0.0, 0.1, 1.0, 10.0])
    e = A.ridge_error(alpha, rho)
    assert np.all(e >= rho) and np.all(e <= 1 + rho)  # between the noise floor and predicting 0
    assert np.all(np.diff(e, axis=1) <= 0)  # more context never hurts the Bayes predictor ...
    assert np.all(np.diff(e[1:], axis=1) < 0)  # ... and strictly helps when rho > 0
