"""Bayes (ridge) error closed form against sampled spectra, quadrature over the Marchenko–Pastur law
and its special cases."""
import math

import numpy as np
import pytest
from scipy import integrate

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


def _ridge_error_by_quadrature(alpha, rho):
    """rho (1 + g), g = E_mu[1/(lambda + rho)], by numerical integration over the Marchenko–Pastur
    law of X^T X (written from the law, not from the code's closed form): X^T X = alpha W with W of
    ratio y = 1/alpha, i.e. an atom (1 - alpha)_+ at 0 and the density sqrt((b-x)(x-a))/(2 pi y x)
    on [a, b] = [(1 - sqrt y)^2, (1 + sqrt y)^2]. With x = a + (b-a) sin^2(u/2) the square-root
    edges become smooth and u = 0 (the lower edge, where the integrand peaks for small rho) is
    resolved without cancellation. Returns the value and quad's error estimate (absolute)."""
    y = 1.0 / alpha
    a, w = (1.0 - math.sqrt(y)) ** 2, 4.0 * math.sqrt(y)

    def integrand(u):
        s, c = math.sin(u / 2), math.cos(u / 2)
        x = a + w * s * s
        return (w * s * c) ** 2 / (x * (alpha * x + rho)) / (2 * math.pi * y)

    peak = 2 * math.asin(min(1.0, math.sqrt(rho / (alpha * w))))  # where alpha x ~ rho
    val, err = integrate.quad(integrand, 0.0, math.pi, epsabs=0.0, epsrel=1e-13, limit=400,
                              points=[peak] if 0 < peak < math.pi else None)
    return rho + max(0.0, 1.0 - alpha) + rho * val, rho * err


@pytest.mark.parametrize("alpha", [0.01, 0.5, 0.99, 1.0, 1.01, 2.0, 100.0])
def test_ridge_error_matches_marchenko_pastur_quadrature(alpha):
    for rho in (1e-6, 1e-3, 0.1, 1.0, 10.0, 1e3):
        want, err = _ridge_error_by_quadrature(alpha, rho)
        # quad's own error estimate (measured up to 82 ulp at alpha = 1.01, rho = 1e-6, where its
        # actual error is 19 ulp: a 30-digit mpmath quadrature puts the closed form within 1.1 ulp)
        # doubled, plus a few ulps of rounding in the closed form.
        assert abs(A.ridge_error(alpha, rho) - want) <= 2 * err + 8 * np.finfo(float).eps * want, (alpha, rho)


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
