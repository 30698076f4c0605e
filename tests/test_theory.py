"""General-ridge theory: closed forms vs the fixed-point solve, singular points, broadcasting."""
import itertools

import numpy as np
import pytest
from scipy.optimize import brentq

import asymptotics as A
from asymptotics import marchenko_pastur_m
from asymptotics.highprec import solve_hp_array
from asymptotics.params import cartesian

TAUS = [0.05, 0.3, 0.7, 0.95, 1.05, 1.5, 4.0, 60.0]
ALPHAS = [0.1, 0.8, 1.0, 3.0, 30.0]
KAPPAS = [1e-3, 0.2, 1.0, 2.5, 1e3, np.inf]
RHOS = [0.0, 0.25, 2.0]


def grid(*axes):
    return [np.array(v) for v in zip(*itertools.product(*axes))]


def test_fixed_point_equals_paper_result_1():
    tau, alpha, kappa, rho = grid(TAUS, ALPHAS, KAPPAS, RHOS)
    closed = A.e_icl_ridgeless(tau, alpha, kappa, rho)
    solved = A.e_icl(tau, alpha, kappa, rho, 0.0)
    # Two algebraically equal float64 evaluations; conditioning ~ 1/|tau-1| <= 20 here -> 1e-12 is
    # rounding with margin (measured max 1.6e-13).
    np.testing.assert_allclose(solved, closed, rtol=1e-12)


def test_tiny_ridge_is_continuous_with_ridgeless():
    tau, alpha, kappa, rho = grid(TAUS, ALPHAS, KAPPAS, RHOS)
    ridgeless = A.solve(tau, alpha, kappa, rho, 0.0)
    tiny = A.solve(tau, alpha, kappa, rho, 1e-13)
    assert tiny.converged.all()
    # A genuine first-order effect: lam |de/dlam|/e, with de/dlam ~ e/(tau-1)^2 up to ~1e4 next to
    # the peak (tau = 0.95, 1.05, small alpha; measured 2e-9 relative there).
    np.testing.assert_allclose(tiny.e_icl, ridgeless.e_icl, rtol=1e-8)
    np.testing.assert_allclose(tiny.e_idg, ridgeless.e_idg, rtol=1e-8)


def test_ridgeless_idg_closed_form_above_threshold():
    tau, alpha, kappa, rho = grid([1.05, 2.0, 50.0], ALPHAS, KAPPAS, RHOS)
    np.testing.assert_allclose(A.e_idg(tau, alpha, kappa, rho), A.e_idg_ridgeless_above(tau, alpha, kappa, rho),
                               rtol=5e-13)
    # The closed form computes sigma2 = rho + x - x^2 m, which cancels when x m ~ 1 (kappa = 1e-3,
    # rho = 0): measured 1.2e-13 there, where solve() uses the positive sum rho + x m/(1 + m/kappa).


def _nu_reference(tau, alpha, kappa, rho, lam):
    """Independent scalar root of nu = lam + (nu/tau)(1 - nu m(q+nu)) by Brent's method."""
    q = (1 + rho) / alpha
    f = lambda nu: nu - lam - (nu / tau) * (1 - nu * float(marchenko_pastur_m(q + nu, kappa)))
    if lam == 0 and tau >= 1:
        return 0.0
    lo = 1e-300 if lam == 0 else 0.0
    return brentq(f, lo, lam + (1 + q) / tau, xtol=1e-300, rtol=4 * np.finfo(float).eps, maxiter=500)


@pytest.mark.parametrize("lam", [0.0, 1e-6, 0.1, 10.0])
def test_effective_ridge_matches_scalar_brent(lam):
    tau, alpha, kappa, rho = grid(TAUS, [0.3, 2.0], [1e-2, 0.7, 5.0, np.inf], [0.0, 0.5])
    r = A.solve(tau, alpha, kappa, rho, lam)
    assert r.converged.all()
    assert r.residual.max() < 1e-12  # solver reports a rounding-level relative residual
    ref = np.array([_nu_reference(*p, lam) for p in zip(tau, alpha, kappa, rho)])
    # Both are roots to ~4 ulp; the root's condition number |h/(nu h')| is <= ~1/|1 - 1/tau| <= 20.
    np.testing.assert_allclose(r.nu, ref, rtol=1e-12, atol=1e-300)


def test_kappa_inf_matches_mpmath():
    # kappa = inf (R = I): the independent 20-digit evaluation (asymptotics.highprec; its own
    # transform m = 1/(1+z), root finder and error formulas) instead of a re-typed quadratic.
    g = cartesian(tau=[0.2, 0.9, 1.3, 8.0], alpha=[0.5, 2.0], kappa=[np.inf], rho=[0.0, 1.0],
                  lam=[0.0, 0.01, 3.0])
    ref = solve_hp_array(**g, dps=20, fields=("nu", "e_icl", "e_idg"))
    r = A.solve(**g)
    # float64 rounding x conditioning ~1/|tau - 1| <= 10 on this grid (measured <= 1.7 ulp): 1e-13.
    # nu = 0 exactly at lam = 0, tau >= 1 on both sides.
    np.testing.assert_allclose(r.nu, ref["nu"], rtol=1e-13, atol=0)
    np.testing.assert_allclose(r.e_icl, ref["e_icl"], rtol=1e-13)
    np.testing.assert_allclose(r.e_idg, ref["e_idg"], rtol=1e-13)
    # kappa = inf: training law = test law; two algebraic routes, so rounding only.
    np.testing.assert_allclose(r.e_icl, r.e_idg, rtol=1e-13)


def test_interpolation_peak_is_infinite_and_only_at_tau_one():
    r = A.solve(1.0, [0.5, 2.0], [0.5, np.inf], [0.0, 0.3])
    assert np.all(np.isinf(r.e_icl)) and np.all(np.isinf(r.e_idg))
    assert np.all(np.isfinite(A.e_icl(1.0, 1.0, 1.0, 0.1, lam=1e-9)))
    for side in (1 - 1e-6, 1 + 1e-6):
        assert 1e4 < A.e_idg(side, 1.0, 1.0, 0.1) < np.inf  # diverges like 1/|tau - 1|


def test_tau_inf_is_the_large_tau_limit():
    args = (2.0, 0.6, 0.3)
    for lam in (0.0, 0.5):
        inf_icl, inf_idg = A.e_tau_inf(*args, lam)
        tau = 1e7
        # Corrections are O(1/tau) with O(1) coefficients.
        assert A.e_icl(tau, *args, lam) == pytest.approx(inf_icl, rel=1e-5)
        assert A.e_idg(tau, *args, lam) == pytest.approx(inf_idg, rel=1e-5)


def test_huge_ridge_gives_the_null_predictor():
    # lam -> inf: Gamma -> 0, so both errors -> E y^2 = 1 + rho with O(1/lam) corrections.
    rho = np.array([0.0, 0.5, 3.0])
    for f in (A.e_icl, A.e_idg):
        np.testing.assert_allclose(f(2.0, 1.0, 0.5, rho, 1e5), 1 + rho, rtol=1e-4)
        assert np.all(np.abs(f(2.0, 1.0, 0.5, rho, 1e5) - 1 - rho) < np.abs(f(2.0, 1.0, 0.5, rho, 1e4) - 1 - rho))


def test_broadcasting_and_scalar_types():
    assert isinstance(A.e_icl(0.5, 1.0, 1.0, 0.1), float)
    out = A.e_icl(np.array([0.5, 2.0])[:, None, None], [1.0, 2.0, 3.0], np.array([0.5, np.inf])[:, None], 0.1,
                  [0.0, 0.0, 0.1])
    assert out.shape == (2, 2, 3)
    # Each entry equals the scalar evaluation (same code path per point; exact).
    assert out[1, 0, 2] == A.e_icl(2.0, 3.0, 0.5, 0.1, 0.1)
    r = A.solve([[0.5], [2.0]], 1.0, 1.0, 0.1, [0.0, 0.2])
    assert r.e_idg.shape == r.nu.shape == r.converged.shape == (2, 2)
    assert "TheoryResult" in repr(r) and "TheoryResult" in repr(A.solve(0.5, 1, 1, 0.1))


def test_unconverged_points_raise_not_return():
    r = A.solve([0.5, 2.0], 1.0, 1.0, 0.1, 0.3, maxiter=1)
    assert not r.converged.all()
    assert np.isnan(r.e_icl[~r.converged]).all()  # flagged, never a number
    assert np.isnan(r.e_idg[~r.converged]).all()
    assert np.isfinite(r.e_icl[r.converged]).all()  # the converged point keeps its value


def test_public_errors_raise_on_unconverged_points(monkeypatch):
    monkeypatch.setattr(A.theory, "MAXITER", 1)  # starve the Newton solve of the public API
    with pytest.raises(A.ConvergenceError, match="residual") as info:
        A.e_icl([0.5, 2.0], 1.0, 1.0, 0.1, 0.3)
    assert "'tau'" in str(info.value)  # the message names the offending point
    assert isinstance(info.value, RuntimeError)
    with pytest.raises(A.ConvergenceError):
        A.e_idg(0.5, 1.0, 1.0, 0.1, 0.3)


def test_ridgeless_effective_ridge_matches_mpmath_at_extremes():
    # Ridgeless tau < 1: the solver's closed-form root (the fixed point with m eliminated) against
    # the mpmath path's own safeguarded Newton root of the defining equation, where the closed form
    # is most delicate: tau -> 0 and -> 1, kappa and alpha over 8-10 decades.
    g = cartesian(tau=[1e-6, 1e-2, 0.3, 0.9, 1 - 1e-9], alpha=[0.01, 1.0, 100.0],
                  kappa=[1e-8, 1e-2, 1.0, 1e2, 1e8], rho=[0.1], lam=[0.0])
    ref = solve_hp_array(**g, dps=20, fields=("nu", "e_icl", "e_idg"))
    r = A.solve(**g)
    assert np.all(ref["nu"] > 0)
    # float64 rounding only (measured <= 3.2 ulp; the tau - 1 conditioning is absorbed by the
    # positive-sum forms, tests/test_highprec.py): 1e-13.
    for field in ("nu", "e_icl", "e_idg"):
        np.testing.assert_allclose(getattr(r, field), ref[field], rtol=1e-13, err_msg=field)


def _mp_theory(tau, alpha, kappa, rho, lam):
    """60-digit evaluation of THEORY.md §4 exactly as printed (no rewriting), root by bisection."""
    import mpmath as mp

    with mp.workdps(60):
        tau, alpha, rho, lam = (mp.mpf(x) for x in (tau, alpha, rho, lam))
        k = mp.mpf(kappa)

        def M(z):
            a = z + 1 - 1 / k
            return 2 / (a + mp.sqrt(a * a + 4 * z / k))

        def F2(z):
            a, m = z + 1 - 1 / k, M(z)
            return (m * m / k + m) / (2 * z * m / k + a)

        q = (1 + rho) / alpha
        if lam == 0 and tau >= 1:
            nu = mp.mpf(0)
        else:
            h = lambda x: x - (x / tau) * (1 - x * M(q + x)) - lam
            lo, hi = (lam if lam > 0 else mp.mpf(10) ** -50), lam + (1 + q) / tau
            for _ in range(230):
                mid = (lo + hi) / 2
                lo, hi = (lo, mid) if h(mid) > 0 else (mid, hi)
            nu = (lo + hi) / 2
        b = q + nu
        mb, Fb, mq = M(b), F2(b), M(q)
        sigma2 = rho + q - q * q * mq
        T1, T2 = 1 - b * mb, 1 - 2 * b * mb + b * b * Fb
        T3, T4 = mb - nu * Fb, 1 - 2 * nu * mb + nu * nu * Fb
        B5 = q * q * mq + (nu * nu - q * q) * mb - nu * b * b * Fb
        idg = tau * (sigma2 + B5) / (tau - T4)
        return float(1 + rho - 2 * T1 + (1 + q) * T2 + (1 + q) * T3 * idg / tau), float(idg)


@pytest.mark.parametrize("point", [
    (0.5, 1e-6, 2.0, 0.0, 0.0), (2.0, 1e-6, 2.0, 0.0, 0.0), (2.0, 1e6, 2.0, 0.0, 0.0),
    (0.5, 1e6, 0.5, 0.0, 0.0), (0.999, 1.0, 1.0, 0.1, 0.0), (0.5, 1.0, 1e-8, 0.1, 0.0),
    (2.0, 1.0, 1e-8, 0.1, 0.0), (2.0, 1.0, 1.0, 0.1, 1e6), (0.5, 1.0, 3.0, 0.1, 1e3),
    (1.0, 1.0, 1.0, 0.1, 1e-10), (2.0, 1e4, 0.3, 0.0, 1e-3), (0.3, 100.0, 1e3, 0.0, 0.0),
])
def test_float64_errors_match_60_digit_evaluation_at_extremes(point):
    # Regions where the printed formulas cancel (tiny/huge alpha, tiny kappa, huge lam, next to the
    # peak); the float64 rewrite must keep a few ulps (measured <= 4.4e-16 with tau = 0.999 included;
    # the tau - 1 conditioning there is 1e3 but tau = 0.999 is a float input, so no loss arises).
    ref = _mp_theory(*point)
    r = A.solve(*point)
    np.testing.assert_allclose([float(r.e_icl), float(r.e_idg)], ref, rtol=4e-15)  # ~20 ulp margin


@pytest.mark.parametrize("model", [
    {}, {"lam": 0.01},
    {"task_cov": "power", "test_cov": "anti"},  # the structured path: e_bias, e_align, alignment
])
def test_solve_scalar_input_gives_python_scalars_like_e_icl(model):
    """Before: every field of solve(...) was a 0-d array for scalar input, while e_icl returns a
    float. Now each field is a float (converged a bool, iterations an int); arrays stay arrays."""
    from asymptotics.spectrum import anti_aligned, power_law

    if model.get("task_cov"):
        law = power_law(0.9)
        model = {"task_cov": law, "test_cov": anti_aligned(law)}
    r = A.solve(2.0, 2.0, 1.0, 0.1, **model)
    for name, value in r.as_dict().items():
        want = {"converged": bool, "iterations": int}.get(name, float)
        assert type(value) is want, (name, type(value))
    assert r.e_icl == A.e_icl(2.0, 2.0, 1.0, 0.1, **model)  # same formulas: equal bitwise
    assert type(A.e_icl(2.0, 2.0, 1.0, 0.1, **model)) is float
    arr = A.solve(np.array([0.5, 2.0]), 2.0, 1.0, 0.1, **model)
    assert all(np.shape(v) == (2,) for k, v in arr.as_dict().items() if k != "iterations")
