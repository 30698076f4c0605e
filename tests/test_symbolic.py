"""The sympy derivation: exact identities, limits, and the lambdified formulas vs the numeric kernels."""
import subprocess
import sys

import mpmath
import numpy as np
import pytest
import sympy as sp

from asymptotics import symbolic as S
from asymptotics import theory
from asymptotics.params import cartesian
from asymptotics.highprec import solve_hp
from asymptotics.ridgeless import e_icl_ridgeless
from asymptotics.stieltjes import marchenko_pastur_m, marchenko_pastur_dm

tau, alpha, kappa, rho, lam, nu, z, q = (S.SYMBOLS[k] for k in
                                         ("tau", "alpha", "kappa", "rho", "lam", "nu", "z", "q"))

# Moderate parameters: the lambdified radical expressions have no cancellation guards (a < 0 for
# kappa << 1) and are 0*inf at kappa = inf (that limit is checked symbolically in limits()), so
# they are compared with the kernels where plain evaluation is accurate.
MID = cartesian(tau=[0.2, 0.7, 1.6, 5.0], alpha=[0.3, 1.0, 4.0], kappa=[0.3, 1.0, 3.0, 1e3],
                rho=[0.0, 0.25], lam=[0.0, 0.01, 1.0])


def test_import_asymptotics_does_not_import_sympy():
    code = "import sys, asymptotics; sys.exit('sympy' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=".").returncode == 0


def test_mp_quadratic_is_the_paper_quadratic():
    a = z + 1 - 1 / kappa
    m = sp.Symbol("m")
    assert sp.expand(S.marchenko_pastur_equation().lhs - (z / kappa * m ** 2 + a * m - 1)) == 0


def test_selected_branch_is_positive_and_stieltjes_like():
    m = S.stieltjes()
    assert sp.limit(z * m, z, sp.oo) == 1
    f = sp.lambdify((z, kappa), m)
    zz, kk = np.meshgrid(np.logspace(-3, 3, 13), [0.1, 0.5, 1.0, 2.0, 50.0])
    assert np.all(f(zz, kk) > 0)


def test_stieltjes_and_F2_match_float_kernels():
    zz, kk = np.meshgrid(np.logspace(-2, 2, 9), [0.3, 1.0, 3.0, 1e3])
    np.testing.assert_allclose(S.numeric("m")(zz, kk), marchenko_pastur_m(zz, kk),
                               rtol=1e-13)  # both float64 of one formula; rounding only
    np.testing.assert_allclose(S.numeric("F2")(zz, kk), -marchenko_pastur_dm(zz, kk),
                               rtol=1e-12)  # explicit derivative vs implicit: a few ulps each


def test_F2_is_the_implicit_derivative():
    # F2() proves this by simplify when built; here an independent check at exact rational points
    implicit = S.formulas()["F2_implicit"].rhs.subs(sp.Symbol("m"), S.stieltjes())
    explicit = -sp.diff(S.stieltjes(), z)
    for zv, kv in [(sp.Rational(1, 3), sp.Rational(1, 2)), (sp.Integer(2), sp.Integer(5)),
                   (sp.Rational(7, 2), sp.Rational(9, 10))]:
        diff = (implicit - explicit).subs({z: zv, kappa: kv})
        assert abs(sp.N(diff, 60)) < 1e-55  # exact algebraic numbers evaluated to 60 digits


def test_result1_is_the_ridgeless_limit_of_the_general_formulas():
    # exact symbolic identities (each residual is sympy's exact zero)
    assert S.prove_result1() == {k: 0 for k in ("nu_substitution", "m_b_on_branch", "m_q_cancels",
                                                "tau_lt_1", "tau_gt_1")}


def test_nu_polynomials():
    quartic, quad = S.nu_polynomial(), S.nu_polynomial(ridgeless=True)
    assert quartic.degree() == 4 and quad.degree() == 2
    assert sp.expand(quartic.LC() + kappa * tau) == 0
    assert sp.expand(quartic.as_expr().subs(lam, 0) - nu ** 2 * quad.as_expr()) == 0
    # product of the quadratic's roots is negative for every tau != 1: one positive root
    assert sp.factor(quad.TC() / quad.LC()) == sp.factor(-q * (tau - 1) ** 2 / (kappa * tau))


def test_general_formulas_match_theory_solve():
    g = MID
    r = theory.solve(**g)
    assert np.all(r.converged)
    for name in ("sigma2", "T1", "T2", "T3", "T4", "B5", "e_idg", "e_icl"):
        got = S.numeric(name)(g["tau"], g["alpha"], g["kappa"], g["rho"], r.nu)
        # same formulas, independent float64 code paths; the peak-free grid keeps cond < 1e3
        np.testing.assert_allclose(got, getattr(r, name), rtol=1e-11, atol=1e-14, err_msg=name)
    # nu from theory.solve is a root of the quartic, scaled by its largest term
    quartic = S.numeric("nu_quartic")(g["tau"], g["alpha"], g["kappa"], g["rho"], g["lam"], r.nu)
    terms = sp.Poly(S.nu_polynomial().as_expr(), nu).terms()
    scale = sum(np.abs(sp.lambdify((tau, alpha, kappa, rho, lam, nu),
                                   (c.subs(q, (1 + rho) / alpha) * nu ** e[0]))(
        g["tau"], g["alpha"], g["kappa"], g["rho"], g["lam"], r.nu)) for e, c in terms)
    assert np.all(np.abs(quartic) <= 1e-12 * scale)  # float64 root: rounding relative to terms


def test_ridgeless_nu_matches_theory_solve():
    g = cartesian(tau=[0.05, 0.3, 0.9], alpha=[0.3, 1.0, 4.0], kappa=[0.3, 1.0, 3.0], rho=[0.0, 0.5])
    r = theory.solve(**g)
    np.testing.assert_allclose(S.numeric("nu_ridgeless")(g["tau"], g["alpha"], g["kappa"], g["rho"]),
                               r.nu, rtol=1e-12)  # closed-form root vs kernel; rounding only


def test_ridgeless_closed_forms_match_kernels():
    g = cartesian(tau=[0.1, 0.5, 0.95, 1.05, 2.0, 20.0], alpha=[0.3, 1.0, 4.0],
                  kappa=[0.3, 1.0, 3.0], rho=[0.0, 0.5])
    lo, hi = g["tau"] < 1, g["tau"] > 1
    args = lambda m: (g["tau"][m], g["alpha"][m], g["kappa"][m], g["rho"][m])  # noqa: E731
    r = theory.solve(**g)
    # closed forms vs fixed-point kernel; 1/|tau-1| <= 20 amplifies rounding near the peak
    np.testing.assert_allclose(S.numeric("ridgeless_e_icl_tau_lt_1")(*args(lo)), r.e_icl[lo], rtol=1e-11)
    np.testing.assert_allclose(S.numeric("ridgeless_e_idg_tau_lt_1")(*args(lo)), r.e_idg[lo], rtol=1e-11)
    np.testing.assert_allclose(S.numeric("ridgeless_e_icl_tau_gt_1")(*args(hi)), r.e_icl[hi], rtol=1e-11)
    np.testing.assert_allclose(S.numeric("ridgeless_e_idg_tau_gt_1")(*args(hi)), r.e_idg[hi], rtol=1e-11)
    np.testing.assert_allclose(S.numeric("result1_e_icl_tau_lt_1")(*args(lo)),
                               e_icl_ridgeless(*args(lo)), rtol=1e-11)  # same formula, two codes
    np.testing.assert_allclose(S.numeric("result1_e_icl_tau_gt_1")(*args(hi)),
                               e_icl_ridgeless(*args(hi)), rtol=1e-11)  # same formula, two codes


@pytest.mark.parametrize("t", [0.1, 0.5, 1 - 1e-6, 1 + 1e-6, 3.0, 100.0])
def test_result1_vs_fixed_point_at_high_precision(t):
    # paper closed form (lambdified to mpmath) vs the independent mpmath fixed-point solve
    name = "result1_e_icl_tau_lt_1" if t < 1 else "result1_e_icl_tau_gt_1"
    f = S.numeric(name, "mpmath")
    for a, k, rh in [(0.5, 0.4, 0.1), (2.0, 3.0, 0.0), (1.0, 1.0, 1.0)]:
        ref = solve_hp(t, a, k, rh, dps=40)
        with mpmath.workdps(60):
            closed = f(mpmath.mpf(t), mpmath.mpf(a), mpmath.mpf(k), mpmath.mpf(rh))
        assert abs(closed - ref.e_icl) <= mpmath.mpf(10) ** -38 * ref.e_icl  # 40 digits, margin 2


def test_limits_match_theory_md():
    lim = S.limits()
    assert sp.simplify(lim["m_kappa_inf"] - 1 / (1 + z)) == 0
    assert sp.simplify(lim["m_kappa_0"] - 1 / z) == 0
    assert sp.simplify(lim["e_tau_kappa_inf"] - (rho + q / (1 + q))) == 0
    assert lim["e_idg_tau_inf_alpha_inf"] == rho
    assert sp.simplify(lim["e_icl_tau_inf_alpha_inf_kappa_lt_1"] - (1 + rho - kappa)) == 0
    assert lim["e_icl_tau_inf_alpha_inf_kappa_gt_1"] == rho
    assert sp.simplify(lim["e_idg_alpha_inf"] - tau * rho / (tau - 1)) == 0
    assert sp.simplify(lim["nu_lam_0"] - lam * tau / (tau - 1)) == 0
    assert lim["nu_lam_0_tau_lt_1"] == 0


def test_tau_inf_limits_match_highprec():
    lim = S.limits()
    mq_s, fq_s = sp.symbols("m_q F2_q", positive=True)
    for a, k, rh in [(0.5, 0.4, 0.1), (2.0, 3.0, 0.0), (0.1, 1.0, 1.0)]:
        ref = solve_hp(np.inf, a, k, rh, dps=30)
        for name, want in (("e_icl_tau_inf", ref.e_icl), ("e_idg_tau_inf", ref.e_idg)):
            f = sp.lambdify((q, rho, mq_s, fq_s), lim[name], "mpmath")
            with mpmath.workdps(40):
                got = f(ref.q, mpmath.mpf(rh), ref.m_q, ref.F2_b)  # b = q at nu = 0
            assert abs(got - want) < 1e-25 * want  # 30 digits each, margin 5
    # iterated alpha -> inf limit: highprec at alpha = 1e12 within O(q) = 1e-12 of the value
    for k in (0.3, 3.0):
        e = solve_hp(np.inf, 1e12, k, 0.2, dps=30).e_icl
        want = lim[f"e_icl_tau_inf_alpha_inf_kappa_{'lt' if k < 1 else 'gt'}_1"].subs(
            {kappa: k, rho: sp.Rational(1, 5)})
        assert abs(e - mpmath.mpf(str(sp.N(want, 30)))) < 1e-10  # O(q) = O(1e-12) correction
    # small-lambda effective ridge for tau > 1: nu / lam -> tau/(tau - 1)
    r = solve_hp(3.0, 1.0, 1.0, 0.1, 1e-30, dps=40)
    assert abs(r.nu / r.lam - mpmath.mpf(3) / 2) < 1e-25  # O(lam) correction


def test_large_tau_series_matches_highprec():
    # remainder after the 1/tau^2 term must scale like tau^-3 (ratio 1e-3 per decade of tau)
    args = (0.8, 1.5, 0.3, 0.2)  # alpha, kappa, rho, lam
    for name in ("e_icl", "e_idg"):
        coef = [S.numeric(f"large_tau_{name}_{k}", "mpmath") for k in range(3)]
        with mpmath.workdps(40):
            c = [f(*(mpmath.mpf(x) for x in args)) for f in coef]
            rem = []
            for t in (mpmath.mpf(10) ** 4, mpmath.mpf(10) ** 5):
                e = getattr(solve_hp(t, *args, dps=35), name)
                rem.append(e - c[0] - c[1] / t - c[2] / t ** 2)
            ratio = abs(rem[1] / rem[0])
        assert 0.5e-3 < ratio < 2e-3, (name, ratio)  # tau^-3 law; 1e-2 would mean e2 is wrong


def test_latex_export_is_sympy_latex_of_each_formula():
    table, exprs = S.latex_formulas(), S.formulas()
    assert set(table) == set(exprs) and len(table) > 40
    greek = {tau: r"\tau", alpha: r"\alpha", kappa: r"\kappa", rho: r"\rho", lam: r"\lambda",
             nu: r"\nu"}
    for name, expr in exprs.items():
        text = S.latex(name)
        assert text == sp.latex(expr) and text.strip()
        for sym, tex in greek.items():
            if sym in expr.free_symbols:
                assert tex in text, (name, tex)
    assert r"\nu = \lambda" in S.latex("fixed_point")
    with pytest.raises(ValueError, match="name"):
        S.latex("no_such_formula")
    with pytest.raises(ValueError, match="name"):
        S.numeric("no_such_formula")


def test_positive_sum_forms_used_by_float64_kernels_are_identities():
    # Exact symbolic identities modulo the MP quadratic (no tolerance): these are the forms that
    # asymptotics.theory evaluates to avoid cancellation.
    proofs = S.prove_positive_sum_forms()
    assert set(proofs) >= {"T1", "T2", "T3", "T4", "1 - T4 = nu G4", "sigma2 + B5", "e_icl numerator"}
    assert all(v == 0 for v in proofs.values()), proofs


def test_positive_sum_reduction_detects_a_wrong_identity():
    # The reduction is not vacuous: 1 - b m differs from m (it equals m/(1 + m/kappa)).
    m, bb = S._m, S.q + S.nu
    assert not S._reduce(sp.together((1 - bb * m) - m), m, sp.expand(S._quadratic(m, bb, S.kappa))).is_zero


def test_latex_writes_sigma2_as_sigma_squared():
    # sigma2 = rho + q - q^2 m(q) is a variance (THEORY.md section 4): sigma^2, not sigma indexed by 2
    # (before: \sigma_{2}). The other structural names (T1, ..., B5) are indices and stay so.
    assert S.latex("sigma2_structural").startswith(r"\sigma^{2} = ")
    assert r"\sigma_{2}" not in "".join(S.latex_formulas().values())
    assert S.latex("T1_structural").startswith("T_{1} = ")
