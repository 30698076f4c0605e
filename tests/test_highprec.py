"""float64 kernels vs the independent mpmath evaluation, and mpmath-only checks at the singular points.

Style of ``scipy.special._mptestutils``: log-spaced arguments over every order of magnitude, edges
(0, inf, near tau = 1) included, a seeded random subset of the Cartesian grid to bound the run time.
"""
import mpmath
import numpy as np
import pytest

from asymptotics import theory
from asymptotics.params import cartesian
from asymptotics.highprec import e_icl_hp, e_idg_hp, solve_hp, solve_hp_array

EPS = np.finfo(float).eps
INF = np.inf

AXES = dict(
    tau=[1e-3, 1e-2, 0.1, 0.5, 0.9, 1 - 1e-8, 1 + 1e-8, 1.1, 2.0, 10.0, 1e3, INF],
    alpha=[1e-3, 1e-1, 1.0, 10.0, 1e3],
    kappa=[1e-4, 1e-2, 0.5, 1.0, 2.0, 1e2, 1e4, INF],
    rho=[0.0, 1e-3, 0.5, 1e2],
    lam=[0.0, 1e-20, 1e-8, 1e-3, 1.0, 1e3],
)


@pytest.fixture(scope="module")
def grid_and_reference():
    full = cartesian(**AXES)
    n = full["tau"].size
    pick = np.random.default_rng(20240521).choice(n, size=900, replace=False)
    g = {k: v[pick] for k, v in full.items()}
    ref = solve_hp_array(**g, dps=25, fields=("e_icl", "e_idg", "nu", "q", "m_q", "m_b", "F2_b",
                                              "sigma2", "B5"))
    return g, ref


def _rel(got, want):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(want == got, 0.0, np.abs(got - want) / np.abs(want))


def test_float64_matches_mpmath_on_log_grid(grid_and_reference):
    g, ref = grid_and_reference
    r = theory.solve(**g)
    assert np.all(r.converged)
    assert np.sum(np.abs(g["tau"] - 1) < 1e-3) > 0  # the grid does probe tau = 1 -+ 1e-8
    # The kernels use positive-sum forms (spectrum.Isotropic.moments, theory._h) and form tau - 1 exactly, so
    # no region is excluded, the interpolation peak included: float64 rounding only. Measured max
    # 4 eps = 8.6e-16 over this grid; 1e-13 leaves room for other platforms' libm.
    for field in ("e_icl", "e_idg"):
        assert np.max(_rel(getattr(r, field), ref[field])) <= 1e-13, field
    err_nu = np.where(ref["nu"] == 0, np.abs(r.nu), _rel(r.nu, ref["nu"]))
    assert np.max(err_nu) <= 1e-13


@pytest.mark.parametrize("h", [1e-2, 1e-5, 1e-8, 1e-12, -1e-2, -1e-5, -1e-8, -1e-12])
def test_float64_near_interpolation_peak(h):
    # Ridgeless, tau = 1 + h: the errors blow up like 1/|h|, yet tau is exact in binary and
    # tau - T4 = (tau - 1) + nu G4 is formed without cancellation, so the result keeps full
    # relative accuracy (rounding only; the naive 1 - T4 form lost eps/|h|).
    args = (1 + h, 0.7, 1.5, 0.2)
    ref = solve_hp_array(*args, dps=30)
    r = theory.solve(*args)
    np.testing.assert_allclose(r.e_icl, ref["e_icl"], rtol=1e-12)
    np.testing.assert_allclose(r.e_idg, ref["e_idg"], rtol=1e-12)


def test_verified_digits_are_stable_under_more_precision():
    for args in [(0.5, 1.0, 1.0, 0.1, 0.0), (2.0, 0.01, 1e-6, 0.0, 1e-3), (1 + 1e-8, 1.0, 1.0, 0.1, 1e-20)]:
        lo, hi = solve_hp(*args, dps=30), solve_hp(*args, dps=80)
        for f in ("e_icl", "e_idg", "nu"):
            a, b = getattr(lo, f), getattr(hi, f)
            assert abs(a - b) <= mpmath.mpf(10) ** -30 * abs(b)  # 30 verified digits claimed


def test_root_solver_reports_convergence_and_residual():
    r = solve_hp(0.3, 2.0, 0.7, 0.4, 0.05, dps=40)
    assert r.converged and 0 < r.iterations < 60
    assert r.residual <= mpmath.mpf(10) ** -40  # residual at the working precision, below dps
    assert r.nu > r.lam  # bracket lower end: h(lam) < 0 (see _solve_nu)
    with mpmath.workdps(60):  # the defining equations, recomputed outside the solver
        k, b, m = r.kappa, r.b, r.m_b
        tol = mpmath.mpf(10) ** -38  # 40 verified digits, 2 lost to the O(10) terms summed here
        assert abs(b / k * m * m + (b + 1 - 1 / k) * m - 1) < tol
        assert abs(r.nu - r.lam - r.nu / r.tau * (1 - r.nu * m)) < tol * r.nu
    assert str(r).startswith("HighPrecResult(")


def test_interpolation_peak_is_smooth_with_tiny_ridge():
    # lam = 1e-20 regularises the tau = 1 divergence on a scale |tau - 1| ~ sqrt(lam) ~ 1e-10:
    # finite at tau = 1, single maximum there, and the ridgeless values far from it.
    taus = [mpmath.mpf(1) + mpmath.mpf(k) * mpmath.mpf("5e-10") for k in range(-4, 5)]
    with mpmath.workdps(60):
        vals = [solve_hp(t, 1.0, 1.0, 0.1, 1e-20, dps=60).e_idg for t in taus]
    assert all(mpmath.isfinite(v) for v in vals)
    assert all(a < b for a, b in zip(vals[:4], vals[1:5]))
    assert all(a > b for a, b in zip(vals[4:], vals[5:]))
    for h in ("1e-4", "-1e-4"):
        t = mpmath.mpf(1) + mpmath.mpf(h)
        with_ridge = solve_hp(t, 1.0, 1.0, 0.1, 1e-20, dps=60).e_idg
        ridgeless = solve_hp(t, 1.0, 1.0, 0.1, 0, dps=60).e_idg
        # nu ~ lam/|tau-1| = 1e-16 shifts the error by O(nu/|tau-1|) = 1e-12 relative
        assert abs(with_ridge / ridgeless - 1) < 1e-10
    assert solve_hp(1, 1.0, 1.0, 0.1, 0).e_idg == mpmath.inf  # ridgeless peak: paper Result 1


@pytest.mark.parametrize("tau,alpha,rho,lam", [(0.5, 1.0, 0.1, 0.0), (2.0, 0.3, 0.5, 0.0),
                                               (3.0, 2.0, 0.2, 0.1), (0.2, 1e-2, 1.0, 10.0)])
def test_kappa_to_zero_matches_analytic_limit(tau, alpha, rho, lam):
    # kappa -> 0: R has k << d huge eigenvalues, m(z) -> 1/z (asymptotics.symbolic.limits), hence
    # T1 = T2 = B5 = 0, T3 = q/b^2, T4 = q^2/b^2, sigma2 = rho and nu solves
    # tau nu^2 + (tau q - lam tau - q) nu - lam tau q = 0 (derived by hand from THEORY.md section 4).
    kappa = 1e-10
    r = solve_hp(tau, alpha, kappa, rho, lam, dps=30)
    with mpmath.workdps(30):
        t, L, rh = mpmath.mpf(tau), mpmath.mpf(lam), mpmath.mpf(rho)
        q = (1 + rh) / alpha
        B = t * q - L * t - q
        nu = max(mpmath.mpf(0), (-B + mpmath.sqrt(B * B + 4 * t * L * t * q)) / (2 * t))
        b = q + nu
        e_idg = t * rh / (t - q ** 2 / b ** 2)
        e_icl = 1 + rh + (1 + q) * (q / b ** 2) * e_idg / t
    # first-order corrections in kappa: relative O(kappa (1 + 1/q)); measured <= 12 kappa
    assert abs(r.e_icl / e_icl - 1) < 1e3 * kappa
    assert abs(r.e_idg / e_idg - 1) < 1e3 * kappa
    assert abs(r.nu - nu) < 1e3 * kappa * (1 + nu)


def test_infinite_kappa_and_tau_are_limits_of_finite_values():
    # 1/kappa and 1/tau corrections are O(1e-40) here, far below the 30 digits compared
    a = solve_hp(0.4, 0.8, INF, 0.3, 0.2, dps=30)
    b = solve_hp(0.4, 0.8, 1e40, 0.3, 0.2, dps=30)
    c = solve_hp(INF, 0.8, 2.0, 0.3, 0.2, dps=30)
    d = solve_hp(1e40, 0.8, 2.0, 0.3, 0.2, dps=30)
    tol = mpmath.mpf(10) ** -30
    for x, y in ((a, b), (c, d)):
        for f in ("e_icl", "e_idg", "nu"):
            assert abs(getattr(x, f) - getattr(y, f)) <= tol * abs(getattr(x, f))
    with mpmath.workdps(30):  # tau, kappa -> inf ridgeless: rho + q/(1+q) (THEORY.md section 4)
        q = (1 + mpmath.mpf(0.3)) / mpmath.mpf(0.8)
        assert abs(e_icl_hp(INF, 0.8, INF, 0.3, dps=30) - (mpmath.mpf(0.3) + q / (1 + q))) < tol
        assert abs(e_idg_hp(INF, 0.8, INF, 0.3, dps=30) - (mpmath.mpf(0.3) + q / (1 + q))) < tol


def test_string_inputs_are_read_at_working_precision():
    # a tau closer to 1 than any double: honoured, and the error is ~1/|tau-1| larger than at 1+1e-8
    near = solve_hp("1.0000000000000000000001", 1.0, 1.0, 0.1, dps=40)
    assert near.e_idg > 1e20


@pytest.mark.parametrize("kw,match", [
    (dict(tau=-1.0), "tau"), (dict(alpha=np.inf), "alpha"), (dict(kappa=0.0), "kappa"),
    (dict(rho=-0.1), "rho"), (dict(lam=np.nan), "lam"), (dict(tau=[0.5, 2.0]), "tau"),
])
def test_bad_input_raises_naming_parameter(kw, match):
    args = dict(tau=0.5, alpha=1.0, kappa=1.0, rho=0.1, lam=0.0) | kw
    with pytest.raises(ValueError, match=match):
        solve_hp(**args)


def test_bad_precision_and_fields_raise():
    with pytest.raises(ValueError, match="dps"):
        solve_hp(0.5, 1.0, 1.0, 0.1, dps=2)
    with pytest.raises(ValueError, match="fields"):
        solve_hp_array(0.5, 1.0, 1.0, 0.1, fields=("converged",))
