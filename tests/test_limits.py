"""Limits and landmarks against the general formulas evaluated near the limit."""
import numpy as np
import pytest

import asymptotics as A


@pytest.mark.parametrize("alpha,rho", [(0.5, 0.0), (1.0, 0.2), (4.0, 1.5)])
def test_optimal_attention_error_is_tau_kappa_inf(alpha, rho):
    q = (1 + rho) / alpha
    assert A.optimal_attention_error(alpha, rho) == pytest.approx(rho + q / (1 + q), rel=1e-15)
    icl, idg = A.e_tau_inf(alpha, np.inf, rho)
    # Same limit reached through the general formulas at tau = kappa = inf: rounding only.
    assert icl == pytest.approx(A.optimal_attention_error(alpha, rho), rel=1e-13)
    assert idg == pytest.approx(icl, rel=1e-13)
    # ... and approached at large but finite tau, kappa (corrections O(1/tau) + O(1/kappa)).
    assert A.e_icl(1e6, alpha, 1e6, rho) == pytest.approx(icl, rel=1e-4)


def test_optimal_attention_is_above_bayes():
    alpha, rho = np.meshgrid(np.geomspace(0.05, 50, 30), [0.0, 0.01, 0.5, 4.0])
    assert np.all(A.optimal_attention_error(alpha, rho) > A.ridge_error(alpha, rho))


@pytest.mark.parametrize("kappa", [0.2, 0.6, 1.5, 3.0])
def test_alpha_then_tau_to_infinity(kappa):
    rho = 0.3
    icl_lim, idg_lim = A.e_alpha_inf_tau_inf(kappa, rho)
    assert idg_lim == rho
    assert icl_lim == pytest.approx(1 + rho - kappa if kappa < 1 else rho, rel=1e-15)
    # General formulas at tau = inf, alpha = 1e6: corrections O(q) = O(1/alpha) (O(sqrt q) would
    # only appear at kappa = 1, excluded here).
    icl, idg = A.e_tau_inf(1e6, kappa, rho)
    assert icl == pytest.approx(icl_lim, abs=1e-4)
    assert idg == pytest.approx(idg_lim, abs=1e-4)


def test_ridgeless_tau_inf_idg_is_sigma2():
    r = A.solve(np.inf, [0.5, 3.0], [0.3, 2.0], 0.4)
    np.testing.assert_allclose(r.e_idg, r.sigma2, rtol=1e-15)  # B5 = 0 exactly at nu = 0; rounding
    tau = 1e8
    # tau sigma2/(tau - 1) -> sigma2 with relative correction 1/tau.
    np.testing.assert_allclose(A.e_idg(tau, [0.5, 3.0], [0.3, 2.0], 0.4), r.sigma2, rtol=2e-8)


def test_kappa_inf_limit_is_approached():
    icl, idg = A.e_kappa_inf(2.0, 1.0, 0.2, 0.01)
    assert icl == pytest.approx(idg, rel=1e-13)  # rounding only
    # R -> I with spectral spread O(1/sqrt(kappa)) entering at second order: O(1/kappa).
    assert A.e_icl(2.0, 1.0, 1e7, 0.2, 0.01) == pytest.approx(icl, rel=1e-6)


def test_peak_ridgeless_and_ridge():
    p = A.interpolation_peak(1.0, 1.0, 0.1)
    assert p.tau == 1.0 and p.value == np.inf and p.interior
    p = A.interpolation_peak(1.0, 2.0, 0.1, lam=1e-3)
    assert p.interior and abs(p.tau - 1) < 0.05  # a small ridge keeps the peak next to tau = 1
    # The reported point is a local maximum: both neighbours are lower.
    for t in (p.tau * (1 - 1e-4), p.tau * (1 + 1e-4)):
        assert A.e_icl(t, 1.0, 2.0, 0.1, 1e-3) < p.value
    assert p.value == pytest.approx(A.e_icl(p.tau, 1.0, 2.0, 0.1, 1e-3), rel=1e-14)


def test_peak_disappears_under_strong_ridge():
    p = A.interpolation_peak(4.0, 4.0, 0.0, lam=50.0, which="idg")
    assert not p.interior and p.tau is None and p.value is None
    # The fact behind it: the error decreases monotonically over the whole searched range.
    values = A.e_idg(np.geomspace(1e-3, 1e3, 400), 4.0, 4.0, 0.0, 50.0)
    assert np.all(np.diff(values) < 0)


def test_peak_below_the_small_tau_value_is_still_found():
    # lam = 0.3: the peak (e ~ 1.32 at tau ~ 0.75) exceeds 1 + rho; lam = 1 for ICL leaves a local
    # maximum near tau ~ 0.3 (1.13, against 1.10 at tau = 1e-3). Both are interior maxima.
    for lam in (0.3, 1.0):
        p = A.interpolation_peak(1.0, 2.0, 0.1, lam=lam)
        assert p.interior
        for t in (p.tau * 0.99, p.tau * 1.01):
            assert A.e_icl(t, 1.0, 2.0, 0.1, lam) < p.value


def test_peak_rejects_bad_arguments():
    with pytest.raises(ValueError, match="which"):
        A.interpolation_peak(1.0, 1.0, 0.1, which="gap")
    with pytest.raises(ValueError, match="kappa"):
        A.interpolation_peak(1.0, -1.0, 0.1)
