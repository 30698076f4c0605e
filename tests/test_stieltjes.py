"""Marchenko–Pastur transform against sampled spectra, finite differences and kappa = inf."""
import mpmath
import numpy as np
import pytest

from asymptotics import marchenko_pastur_dm, marchenko_pastur_m

D = 2000  # dimension of the sampled task covariance


@pytest.fixture(scope="module")
def spectra():
    """Eigenvalues of R = (1/k) W W^T at d = 2000 for kappa below, at and above 1 (seeded)."""
    rng = np.random.default_rng(20261123)
    d = D
    out = {}
    for kappa in (0.25, 1.0, 4.0):
        k = int(kappa * d)
        W = rng.standard_normal((d, k))
        out[kappa] = np.linalg.eigvalsh(W @ W.T / k)
    return out


@pytest.mark.parametrize("kappa", [0.25, 1.0, 4.0])
@pytest.mark.parametrize("z", [0.05, 0.5, 3.0])
def test_transform_matches_sampled_spectrum(spectra, kappa, z):
    ev = spectra[kappa]
    # Linear spectral statistics fluctuate by O(1/d) and carry an O(1/d) bias; 1/d = 5e-4. The
    # resolvent norm 1/z scales both (z = 0.05 at kappa = 1 sits near the hard edge at 0).
    tol = 10.0 / (D * min(z, 1.0) ** 2)
    assert marchenko_pastur_m(z, kappa) == pytest.approx(np.mean(1 / (ev + z)), rel=tol)
    assert -marchenko_pastur_dm(z, kappa) == pytest.approx(np.mean(1 / (ev + z) ** 2), rel=3 * tol)


def _positive_root_by_bisection(z, kappa, steps=200):
    """The root m > 0 of the defining quadratic (z/kappa) m^2 + a m - 1 = 0, a = z + 1 - 1/kappa,
    by bisection at the current mpmath precision: no branch formula, just the sign change on
    [0, 1/z] (f(0) = -1, f(1/z) = 1/z > 0; m = (1/d) tr (R + z)^{-1} <= 1/z). The root is unique
    there (the product of the two roots is -kappa/z < 0). 200 halvings reach 2^-200 of 1/z, and
    m >= 1e-6/z on the grid below, so the root is known far below float64 rounding."""
    z, kappa = mpmath.mpf(z), mpmath.mpf(kappa)
    a = z + 1 - 1 / kappa
    lo, hi = mpmath.mpf(0), 1 / z
    for _ in range(steps):
        mid = (lo + hi) / 2
        if (z / kappa) * mid * mid + a * mid - 1 > 0:
            hi = mid
        else:
            lo = mid
    return (lo + hi) / 2


def test_quadratic_and_both_branches():
    z = np.geomspace(1e-6, 1e6, 61)[:, None]
    kappa = np.array([1e-300, 1e-6, 1e-2, 0.5, 1.0, 1.0 + 1e-9, 2.0, 1e3, 1e9, 1e300])[None, :]
    m = marchenko_pastur_m(z, kappa)
    assert np.all(m > 0)
    # The root at 60 digits (the float inputs taken exactly), found by bisection rather than by the
    # branch formulas the kernel uses: float64 m must be within a few ulps everywhere, edges
    # (kappa = 1, tiny/huge kappa) included (measured <= 2.1 ulp).
    with mpmath.workdps(60):
        ref = np.array([[float(_positive_root_by_bisection(zz, kk)) for kk in kappa[0]] for zz in z[:, 0]])
    np.testing.assert_allclose(m, ref, rtol=8 * np.finfo(float).eps)  # a few ulps of rounding


@pytest.mark.parametrize("kappa", [1e-3, 0.3, 1.0, 7.0, np.inf])
def test_derivative_matches_finite_difference(kappa):
    z = np.geomspace(1e-3, 1e3, 25)
    h = 1e-5 * z
    fd = (marchenko_pastur_m(z + h, kappa) - marchenko_pastur_m(z - h, kappa)) / (2 * h)
    # Central difference: truncation O(h^2 m'''/m') = O(1e-10), rounding O(eps m/h) ~ 1e-11 relative.
    np.testing.assert_allclose(marchenko_pastur_dm(z, kappa), fd, rtol=1e-8)


def test_kappa_inf_is_identity_covariance():
    z = np.geomspace(1e-4, 1e4, 17)
    np.testing.assert_allclose(marchenko_pastur_m(z, np.inf), 1 / (1 + z), rtol=1e-15)  # same expression
    np.testing.assert_allclose(marchenko_pastur_dm(z, np.inf), -1 / (1 + z) ** 2, rtol=4e-16)
    # Large kappa approaches the identity with an O(1/kappa) correction.
    np.testing.assert_allclose(marchenko_pastur_m(z, 1e12), 1 / (1 + z), rtol=1e-10)


def test_small_kappa_has_the_rank_deficient_limit():
    # kappa -> 0: a fraction 1 - kappa of eigenvalues is 0 and the rest sit near 1/kappa, so
    # m(z) -> (1 - kappa)/z + kappa/(z + 1/kappa); the difference is O(kappa^2) relative.
    z, kappa = 0.7, 1e-5
    approx = (1 - kappa) / z + kappa / (z + 1 / kappa)
    assert marchenko_pastur_m(z, kappa) == pytest.approx(approx, rel=1e-8)
