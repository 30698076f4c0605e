"""Symbolic derivation of the asymptotic theory (sympy): Stieltjes branch, effective ridge, errors, limits.

Every formula the numeric kernels use is re-derived here from its defining equation, and the paper's
closed form (Result 1 of Lu, Letey, Zavatone-Veth, Maiti, Pehlevan, PNAS 2025) is *proven* equal to the
ridgeless limit of the general-ridge formulas of THEORY.md section 4, by exact reduction modulo the
Marchenko-Pastur quadratic. Each builder runs once (``functools.lru_cache``); the numeric versions are
``lambdify``-ed once per (name, module) and the LaTeX strings come from the same expressions.

Symbols: ``tau = n/d^2``, ``alpha = l/d``, ``kappa = k/d``, ``rho`` (label noise), ``lambda`` (ridge),
``nu`` (effective ridge), ``q = (1+rho)/alpha``, ``b = q + nu``, ``z`` (spectral argument).
Regime: the proportional limit of THEORY.md section 4; z > 0 throughout (q > 0 since alpha < inf).

Entry points: :func:`stieltjes`, :func:`F2`, :func:`error_formulas`, :func:`nu_polynomial`,
:func:`nu_ridgeless`, :func:`ridgeless_closed_forms`, :func:`paper_result1`, :func:`prove_result1`,
:func:`limits`, :func:`large_tau_series`, :func:`formulas`, :func:`latex_formulas`, :func:`latex`,
:func:`numeric`, :func:`arguments`. This module imports sympy; ``import asymptotics`` does not.
"""
from __future__ import annotations

import functools

import sympy as sp

__all__ = ["SYMBOLS", "marchenko_pastur_equation", "stieltjes", "F2", "error_formulas", "fixed_point",
           "nu_polynomial", "nu_ridgeless", "ridgeless_closed_forms", "paper_result1",
           "prove_result1", "limits", "large_tau_series", "formulas", "FORMULA_NAMES",
           "latex_formulas", "latex", "numeric", "arguments"]

tau, alpha, kappa = sp.symbols("tau alpha kappa", positive=True)
rho, lam = sp.symbols("rho lambda", nonnegative=True)
nu, z, q, b, mu = sp.symbols("nu z q b mu", positive=True)
_m = sp.Symbol("m")  # unknown of the self-consistent equation; no sign assumed (both roots kept)
_Y = sp.Symbol("Y")  # stands for M_{kappa/tau}(q) in the Result 1 proof

SYMBOLS = dict(tau=tau, alpha=alpha, kappa=kappa, rho=rho, lam=lam, nu=nu, z=z, q=q, b=b, mu=mu)
_Q = (1 + rho) / alpha


def _quadratic(m, zz, kk):
    """(z/kappa) m^2 + (z + 1 - 1/kappa) m - 1: the MP polynomial (derived in :func:`marchenko_pastur_equation`)."""
    return zz / kk * m ** 2 + (zz + 1 - 1 / kk) * m - 1


@functools.lru_cache(maxsize=None)
def marchenko_pastur_equation() -> sp.Eq:
    """The MP quadratic for m(z) = lim (1/d) tr (R + z)^{-1}, R = (1/k) sum_j w_j w_j^T.

    Derived from the self-consistent equation m = 1/(z + 1/(1 + m/kappa)) (THEORY.md section 4) by
    clearing denominators; the result is checked to be kappa times (z/kappa) m^2 + a m - 1,
    a = z + 1 - 1/kappa, as stated in the paper.
    """
    self_consistent = _m - 1 / (z + 1 / (1 + _m / kappa))
    numerator = sp.expand(sp.numer(sp.together(self_consistent)))
    stated = _quadratic(_m, z, kappa)
    ratio = sp.cancel(numerator / stated)
    if ratio.free_symbols - {kappa}:
        raise AssertionError(f"self-consistent equation is not the MP quadratic (ratio {ratio})")
    return sp.Eq(sp.expand(stated), 0)


@functools.lru_cache(maxsize=None)
def stieltjes() -> sp.Expr:
    """m(z) = M_kappa(z) = 2/(a + sqrt(a^2 + 4z/kappa)), a = z + 1 - 1/kappa (paper; THEORY.md §4).

    The quadratic of :func:`marchenko_pastur_equation` is solved and the physical branch is SELECTED by the
    Stieltjes asymptotics z m(z) -> 1 as z -> inf (the other root tends to -kappa); the selected root
    is then shown identical to the paper's rationalised form, which is returned.
    """
    roots = sp.solve(marchenko_pastur_equation().lhs, _m)
    physical = [r for r in roots if sp.limit(z * r, z, sp.oo) == 1]
    if len(physical) != 1:
        raise AssertionError(f"branch selection failed: {roots}")
    a = z + 1 - 1 / kappa
    paper = 2 / (a + sp.sqrt(a ** 2 + 4 * z / kappa))
    if sp.simplify(physical[0] - paper) != 0:
        raise AssertionError("selected branch differs from the paper's form")
    return paper


@functools.lru_cache(maxsize=None)
def _implicit_derivatives(order: int = 3) -> tuple:
    """d^n m/dz^n as rational functions of (m, z, kappa), n = 1..order, by sympy.idiff."""
    return tuple(sp.factor(sp.idiff(marchenko_pastur_equation().lhs, _m, z, n)) for n in range(1, order + 1))


@functools.lru_cache(maxsize=None)
def F2() -> sp.Expr:
    """F2(z) = -m'(z) from implicit differentiation of the MP quadratic, branch substituted.

    Shown equal to minus the z-derivative of the explicit branch :func:`stieltjes`.
    """
    implicit = -_implicit_derivatives(1)[0]
    explicit = -sp.diff(stieltjes(), z)
    with_branch = implicit.subs(_m, stieltjes())
    if sp.simplify(with_branch - explicit) != 0:
        raise AssertionError("idiff derivative differs from the explicit derivative")
    return with_branch


def _F2_rational(m, zz):
    """-m'(z) as a rational function of m = m(z) (the idiff result), for exact reductions."""
    return -_implicit_derivatives(1)[0].subs({_m: m, z: zz}, simultaneous=True)


def _errors(nu_, m_q, m_b, F2_b, q_=q, tau_=tau, b_=None):
    """THEORY.md section 4 error formulas in terms of given values of nu, m(q), m(b), F2(b)."""
    b_ = q_ + nu_ if b_ is None else b_
    sigma2 = rho + q_ - q_ ** 2 * m_q
    T1 = 1 - b_ * m_b
    T2 = 1 - 2 * b_ * m_b + b_ ** 2 * F2_b
    T3 = m_b - nu_ * F2_b
    T4 = 1 - 2 * nu_ * m_b + nu_ ** 2 * F2_b
    B5 = q_ ** 2 * m_q + (nu_ ** 2 - q_ ** 2) * m_b - nu_ * b_ ** 2 * F2_b
    e_idg = tau_ * (sigma2 + B5) / (tau_ - T4)
    e_icl = 1 + rho - 2 * T1 + (1 + q_) * T2 + (1 + q_) * T3 * e_idg / tau_
    return dict(sigma2=sigma2, T1=T1, T2=T2, T3=T3, T4=T4, B5=B5, e_idg=e_idg, e_icl=e_icl)


@functools.lru_cache(maxsize=None)
def error_formulas(structural: bool = False) -> dict:
    """General-ridge errors of THEORY.md section 4 (derived here), as sympy expressions.

    ``structural=True``: in terms of the functions m(.) and F_2(.) at q and b = q + nu (for reading
    and LaTeX). Otherwise explicit in (tau, kappa, rho, q, nu) with the branch of :func:`stieltjes`
    and :func:`F2` substituted; put q = (1+rho)/alpha to get (tau, alpha, kappa, rho, nu). lambda
    enters only through nu (:func:`fixed_point`).
    """
    if structural:
        mf, ff = sp.Function("m"), sp.Function("F_2")
        return _errors(nu, mf(q), mf(b), ff(b), b_=b)
    m_z, f_z = stieltjes(), F2()
    return _errors(nu, m_z.subs(z, q), m_z.subs(z, q + nu), f_z.subs(z, q + nu))


@functools.lru_cache(maxsize=None)
def prove_positive_sum_forms() -> dict:
    """Prove the cancellation-free forms used by the float64 kernels (``asymptotics.spectrum.Isotropic.moments``).

    Each entry is the difference between THEORY.md's expression and the positive-sum form, reduced
    modulo the MP quadratic in m = m(b) (z = b = q + nu, F2 the idiff rational function of m,
    s = 2 b m/kappa + a); all must be exactly 0. ``m(q)`` cancels from ``sigma2 + B5`` identically.
    """
    m, mq = _m, sp.Symbol("m_q")
    bb = q + nu
    f2 = _F2_rational(m, bb)
    s = 2 * bb * m / kappa + bb + 1 - 1 / kappa  # = sqrt(a^2 + 4b/kappa) on the physical branch
    c = 1 / (1 + m / kappa)
    T1, P2 = m * c, f2 * c ** 2
    T2 = T1 * (2 * bb * (1 + 1 / kappa) + (1 - 1 / kappa) ** 2) / ((s + bb) * s)
    std = _errors(nu, mq, m, f2, b_=bb)
    eidg = sp.Symbol("e_IDG")
    claims = {
        "T1": (std["T1"], T1),
        "P2 = m - b F2": (m - bb * f2, P2),
        "T2": (std["T2"], T2),
        "T3": (std["T3"], P2 + q * f2),
        "T4": (std["T4"], T2 + 2 * q * P2 + q ** 2 * f2),
        "1 - T4 = nu G4": (1 - std["T4"], nu * (2 * P2 + (q + bb) * f2)),
        "sigma2 + B5": (std["sigma2"] + std["B5"], rho + q * T1 + nu * bb * P2),
        "e_icl numerator": (1 + rho - 2 * std["T1"] + (1 + q) * std["T2"] + (1 + q) * std["T3"] * eidg,
                            rho + bb ** 2 * f2 + q * T2 + (1 + q) * (P2 + q * f2) * eidg),
    }
    poly = sp.expand(_quadratic(m, bb, kappa))
    out = {}
    for name, (lhs, rhs) in claims.items():
        reduced = _reduce(sp.together(lhs - rhs), m, poly)
        out[name] = 0 if reduced.is_zero else reduced.as_expr()
    return out


def fixed_point() -> sp.Eq:
    """Effective-ridge equation nu = lambda + (nu/tau)(1 - nu m(q+nu)) (THEORY.md section 4)."""
    return sp.Eq(nu, lam + nu / tau * (1 - nu * sp.Function("m")(q + nu)))


@functools.lru_cache(maxsize=None)
def nu_polynomial(ridgeless: bool = False) -> sp.Poly:
    """Polynomial in nu whose roots contain the effective ridge (m eliminated; derived here).

    The fixed point is linear in m(b): m(b) = (lambda tau + nu (1 - tau))/nu^2. Substituting into the
    MP quadratic at z = b = q + nu and clearing denominators gives a QUARTIC in nu (leading coefficient
    -kappa tau). At lambda = 0 it factors as nu^2 times a QUADRATIC (``ridgeless=True`` returns the
    quadratic, leading coefficient -kappa tau): the double root nu = 0 is the tau > 1
    branch, and the quadratic's product of roots -q (1-tau)^2/(kappa tau) < 0 shows it has exactly one
    positive root, the tau < 1 branch.
    """
    m_fp = sp.solve(sp.Eq(nu, lam + nu / tau * (1 - nu * _m)), _m)
    if len(m_fp) != 1:
        raise AssertionError(f"fixed point not linear in m: {m_fp}")
    quartic = sp.Poly(sp.expand(sp.numer(sp.together(_quadratic(m_fp[0], q + nu, kappa)))), nu)
    if quartic.degree() != 4:
        raise AssertionError(f"expected a quartic, got degree {quartic.degree()}")
    if not ridgeless:
        return quartic
    at0 = sp.Poly(quartic.as_expr().subs(lam, 0), nu)
    quad, rest = sp.div(at0, sp.Poly(nu ** 2, nu))
    if not rest.is_zero or quad.degree() != 2:
        raise AssertionError("quartic at lambda = 0 is not nu^2 times a quadratic")
    return quad


@functools.lru_cache(maxsize=None)
def nu_ridgeless() -> sp.Expr:
    """Ridgeless effective ridge for tau < 1: the positive root of :func:`nu_polynomial` (ridgeless).

    Derived: with Y = M_{kappa/tau}(q), nu = (1 - tau)/(tau Y) — substituting this into the quadratic
    gives (1-tau)^2 times the MP quadratic for Y at ratio kappa/tau (checked in
    :func:`prove_result1`), so the positive Y (the physical branch) gives the positive nu. For
    tau > 1 the ridgeless solution is nu = 0: the fixed point with lambda = 0 is
    nu (tau - 1 + nu m(b))/tau = 0 and nu m(b) >= 0.
    """
    quad = nu_polynomial(ridgeless=True)
    roots = sp.solve(quad.as_expr(), nu)
    # The quadratic has exactly one positive root for 0 < tau < 1; pick it by sign at a sample point.
    sample = {tau: sp.Rational(1, 3), kappa: sp.Rational(7, 5), q: sp.Rational(3, 2)}
    pos = [r for r in roots if r.subs(sample).evalf() > 0]
    if len(pos) != 1:
        raise AssertionError(f"expected one positive root, got {roots}")
    return pos[0]


def _M_ratio():
    """M_{kappa/tau}(q): the MP transform at ratio kappa/tau (paper Result 1's mu = q times this)."""
    return stieltjes().subs({z: q, kappa: kappa / tau}, simultaneous=True)


@functools.lru_cache(maxsize=None)
def paper_result1() -> dict:
    """Paper Result 1 (ridgeless e_ICL) as transcribed in THEORY.md section 4, x = q.

    ``tau<1`` is written in mu = x M_{kappa/tau}(x) (symbol ``mu``), ``tau>1`` in m = M_kappa(x) and
    m'(x) = -F2(x).
    """
    x, m_x, f_x = q, stieltjes().subs(z, q), F2().subs(z, q)
    lt = tau * (1 + x) / (1 - tau) * (1 - tau * (1 - mu) ** 2 - mu * (x - rho) / x) \
        - 2 * tau * (1 - mu) + 1 + rho
    gt = (1 + x) * (1 - 2 * x * m_x + x ** 2 * f_x) - 2 * (1 - x * m_x) + 1 + rho \
        + (1 + x) * m_x * (rho + x - x ** 2 * m_x) / (tau - 1)
    return {"e_icl_tau_lt_1": lt, "e_icl_tau_gt_1": gt}


def _reduce(expr, var, poly):
    """Canonical representative of the rational function ``expr`` of ``var`` modulo ``poly``."""
    n, d = sp.fraction(sp.together(expr))
    p = sp.Poly(poly, var)
    inv = sp.invert(sp.Poly(d, var), p)
    return sp.Poly([sp.factor(c) for c in sp.rem(sp.Poly(n, var) * inv, p).all_coeffs()], var)


@functools.lru_cache(maxsize=None)
def _ridgeless_in_Y() -> dict:
    """Ridgeless tau < 1 quantities with nu = (1-tau)/(tau Y), m(b) = tau Y, Y = M_{kappa/tau}(q)."""
    nu_Y = (1 - tau) / (tau * _Y)
    m_b = tau * _Y
    m_q = sp.Symbol("m_q")  # m(q) cancels from sigma2 + B5; kept abstract to show it
    errs = _errors(nu_Y, m_q, m_b, _F2_rational(m_b, q + nu_Y))
    return dict(nu=nu_Y, m_b=m_b, m_q=m_q, **errs)


@functools.lru_cache(maxsize=None)
def prove_result1() -> dict:
    """Prove that the ridgeless limit of the general formulas is paper Result 1 (derived here).

    Returns a dict of residuals, each an exact sympy 0 when the step holds:
      * ``nu_substitution``: the lambda = 0 nu-quadratic with nu = (1-tau)/(tau Y) is (1-tau)^2 times
        kappa/tau-scaled MP quadratic for Y at ratio kappa/tau (so Y = M_{kappa/tau}(q), and
        m(b) = (1-tau)/nu = tau Y, i.e. nu m(q+nu) = 1 - tau with mu = q m(b)/tau);
      * ``m_b_on_branch``: m(b) = tau Y satisfies the MP quadratic at (b, kappa) modulo Y's quadratic;
      * ``m_q_cancels``: e_ICL at tau < 1 does not depend on m(q);
      * ``tau_lt_1``: general e_ICL minus Result 1 (tau < 1) reduced modulo Y's quadratic;
      * ``tau_gt_1``: general e_ICL at nu = 0 minus Result 1 (tau > 1), simplified.
    """
    quad = nu_polynomial(ridgeless=True).as_expr()
    poly_Y = sp.numer(sp.together(_quadratic(_Y, q, kappa / tau)))
    R = _ridgeless_in_Y()
    sub = sp.numer(sp.together(quad.subs(nu, R["nu"])))
    nu_sub = sp.factor(sp.cancel(sub / poly_Y))
    res = {"nu_substitution": sp.simplify(nu_sub - (tau - 1) ** 2)}
    on_branch = sp.numer(sp.together(_quadratic(R["m_b"], q + R["nu"], kappa)))
    res["m_b_on_branch"] = _reduce(on_branch, _Y, poly_Y).as_expr()
    res["m_q_cancels"] = sp.diff(sp.together(R["e_icl"]), R["m_q"]).simplify()
    paper = paper_result1()
    lt = R["e_icl"] - paper["e_icl_tau_lt_1"].subs(mu, q * _Y)
    res["tau_lt_1"] = _reduce(lt, _Y, poly_Y).as_expr()
    gen = error_formulas()["e_icl"].subs(nu, 0)
    res["tau_gt_1"] = sp.simplify(gen - paper["e_icl_tau_gt_1"])
    return res


@functools.lru_cache(maxsize=None)
def ridgeless_closed_forms() -> dict:
    """Ridgeless (lambda -> 0+) closed forms DERIVED from the fixed point (THEORY.md §4; derived here).

    tau > 1: nu = 0, so e_IDG = tau sigma2/(tau - 1) and e_ICL = 1 + rho - 2 T1 + (1+q) T2
    + (1+q) m(q) e_IDG/tau with b = q. tau < 1: nu = (1-tau)/(tau Y), Y = M_{kappa/tau}(q); written
    in mu = q Y (paper notation), e_ICL reduces modulo Y's quadratic to a form LINEAR in mu, and
    e_IDG to the rational function below; both are explicit in (tau, q, kappa, rho) after mu is
    substituted (see :func:`formulas`).
    """
    gen = error_formulas()
    R = _ridgeless_in_Y()
    poly_Y = sp.numer(sp.together(_quadratic(_Y, q, kappa / tau)))
    e_icl_lt = _reduce(R["e_icl"], _Y, poly_Y).as_expr().subs(_Y, mu / q)
    e_idg_lt = sp.factor(sp.cancel(sp.together(R["e_idg"]).subs(_Y, mu / q)))
    return {
        "e_icl_tau_gt_1": gen["e_icl"].subs(nu, 0),
        "e_idg_tau_gt_1": gen["e_idg"].subs(nu, 0),
        "e_icl_tau_lt_1": sp.factor(e_icl_lt.coeff(mu, 0)) + sp.factor(e_icl_lt.coeff(mu, 1)) * mu,
        "e_idg_tau_lt_1": e_idg_lt,
        "nu_tau_lt_1": (1 - tau) * q / (tau * mu),
        "mu": q * _M_ratio(),
    }


def _small_q_moments(kappa_sub):
    """lim_{q->0+} of q m(q) and q^2 F2(q) (sympy.limit on the explicit branch) for a kappa value."""
    m_q, f_q = stieltjes().subs(z, q), F2().subs(z, q)
    return [sp.limit((e * f).subs(kappa, kappa_sub), q, 0, "+") for e, f in ((q, m_q), (q ** 2, f_q))]


@functools.lru_cache(maxsize=None)
def limits() -> dict:
    """Limits of THEORY.md section 4, computed with ``sympy.limit`` (derived here).

    The error formulas are first written with m(q), F2(q) as opaque positive symbols (and through
    X = q m(q), W = q^2 F2(q) for alpha -> inf), because ``sympy.limit`` on the fully explicit
    radical expressions is slow and, as observed with sympy 1.14, returns a wrong value for
    kappa < 1; only the limits of the MP transform itself are taken on the explicit branch.

    Keys: ``m_kappa_inf`` (1/(1+z)); ``m_kappa_0`` (1/z); ``e_idg_tau_inf``, ``e_icl_tau_inf``
    (ridgeless, in terms of symbols m_q = m(q), F2_q = F2(q)); ``e_tau_kappa_inf`` (both errors,
    rho + q/(1+q)); ``e_idg_tau_inf_alpha_inf`` (rho); ``e_icl_tau_inf_alpha_inf_kappa_lt_1``
    (1 + rho - kappa) and ``..._kappa_gt_1`` (rho): the non-analytic point at kappa = 1;
    ``e_idg_alpha_inf`` (ridgeless, finite tau > 1); ``nu_lam_0`` (leading small-lambda effective
    ridge for tau > 1 from the quartic: lambda tau/(tau-1)); ``nu_lam_0_tau_lt_1`` (quartic at
    lambda = 0 minus nu^2 times the ridgeless quadratic; 0 means the quartic's positive root tends
    to :func:`nu_ridgeless`). With the continuity of the errors in nu, the last two give
    lambda -> 0+ = ridgeless.
    """
    eps, s = sp.symbols("epsilon s", positive=True)
    m_z = stieltjes()
    out = {"m_kappa_inf": sp.limit(m_z.subs(kappa, 1 / eps), eps, 0, "+"),
           "m_kappa_0": sp.limit(m_z.subs(kappa, eps), eps, 0, "+")}
    mq_s, fq_s = sp.symbols("m_q F2_q", positive=True)
    gt = _errors(sp.Integer(0), mq_s, mq_s, fq_s)
    out["e_idg_tau_inf"] = sp.limit(gt["e_idg"], tau, sp.oo)
    out["e_icl_tau_inf"] = sp.expand(sp.limit(gt["e_icl"], tau, sp.oo))
    m_inf = out["m_kappa_inf"].subs(z, q)
    f_inf = -sp.diff(out["m_kappa_inf"], z).subs(z, q)
    both = [sp.factor(sp.simplify(out[k].subs({mq_s: m_inf, fq_s: f_inf})))
            for k in ("e_icl_tau_inf", "e_idg_tau_inf")]
    if sp.simplify(both[0] - both[1]) != 0:
        raise AssertionError("tau, kappa -> inf limits of e_ICL and e_IDG differ")
    out["e_tau_kappa_inf"] = both[0]
    X, W = sp.symbols("X W", positive=True)

    def small_q(expr, kappa_sub):
        x0, w0 = _small_q_moments(kappa_sub)
        e = sp.expand(expr.subs({fq_s: W / q ** 2, mq_s: X / q}, simultaneous=True))
        return sp.simplify(sp.limit(e, q, 0, "+").subs({X: x0, W: w0}))

    out["e_idg_tau_inf_alpha_inf"] = small_q(out["e_idg_tau_inf"], 1 + s)
    out["e_icl_tau_inf_alpha_inf_kappa_lt_1"] = sp.simplify(
        small_q(out["e_icl_tau_inf"], 1 / (1 + s)).subs(s, 1 / kappa - 1))
    out["e_icl_tau_inf_alpha_inf_kappa_gt_1"] = small_q(out["e_icl_tau_inf"], 1 + s)
    out["e_idg_alpha_inf"] = small_q(gt["e_idg"], 1 + s)
    c = sp.Symbol("c")
    lead = sp.expand(nu_polynomial().as_expr().subs(nu, c * lam))
    low = [co for co in sp.Poly(lead, lam).all_coeffs()[::-1] if co != 0]
    roots = [r for r in sp.solve(low[0], c) if r != 0]
    if len(roots) != 1:
        raise AssertionError(f"small-lambda expansion ambiguous: {roots}")
    out["nu_lam_0"] = lam * sp.factor(roots[0])
    out["nu_lam_0_tau_lt_1"] = sp.expand(nu_polynomial().as_expr().subs(lam, 0)
                                         - nu ** 2 * nu_polynomial(ridgeless=True).as_expr())
    return out


@functools.lru_cache(maxsize=None)
def large_tau_series() -> dict:
    """Large-tau expansion e = e0 + e1/tau + e2/tau^2 + O(tau^-3) at fixed lambda (derived here).

    Expanding nu = lambda + n1/tau + n2/tau^2 in the fixed point gives n1 = lambda (1 - lambda m0),
    n2 = T4(lambda) n1; m(q + nu) is Taylor-expanded about z0 = q + lambda, with m0 = m(z0) and
    m', m'', m''' at z0 from implicit differentiation of the MP quadratic (rational in m0). The
    expansion is truncated polynomial arithmetic in 1/tau (``sympy.series`` on the full expression
    is far slower). Keys ``e_icl_k``/``e_idg_k`` (k = 0, 1, 2), ``nu_1``, ``nu_2``: expressions in
    (q, kappa, rho, lambda) and the symbols ``m_0`` = m(q + lambda), ``m_q`` = m(q), which
    :func:`numeric` substitutes. Ridgeless (lambda = 0, tau > 1) it is the exact geometric series
    of tau/(tau - 1).
    """
    eps = sp.Symbol("epsilon", positive=True)
    m0, m_q = sp.Symbol("m_0", positive=True), sp.Symbol("m_q", positive=True)
    n1, n2 = sp.symbols("n1 n2")
    d1, d2, d3 = sp.symbols("d1 d2 d3")  # m', m'', m''' at z0, substituted at the end

    def trunc(expr):
        p = sp.Poly(sp.expand(expr), eps)
        return sum(p.coeff_monomial(eps ** k) * eps ** k for k in range(3))

    delta = n1 * eps + n2 * eps ** 2
    m_ser = trunc(m0 + d1 * delta + d2 * delta ** 2 / 2)
    f_ser = trunc(-(d1 + d2 * delta + d3 * delta ** 2 / 2))
    nu_ser = lam + delta
    fp = trunc(delta - eps * nu_ser * (1 - nu_ser * m_ser))
    s1 = sp.solve(fp.coeff(eps, 1), n1)[0]
    s2 = sp.solve(sp.expand(fp.subs(n1, s1)).coeff(eps, 2), n2)[0]
    sol = {n1: s1, n2: s2}
    nu_s, mb_s, fb_s = (trunc(e.subs(sol)) for e in (nu_ser, m_ser, f_ser))
    b_s = q + nu_s
    sigma2 = rho + q - q ** 2 * m_q
    T1 = trunc(1 - b_s * mb_s)
    T2 = trunc(1 - 2 * b_s * mb_s + b_s ** 2 * fb_s)
    T3 = trunc(mb_s - nu_s * fb_s)
    T4 = trunc(1 - 2 * nu_s * mb_s + nu_s ** 2 * fb_s)
    B5 = trunc(q ** 2 * m_q + (nu_s ** 2 - q ** 2) * mb_s - nu_s * b_s ** 2 * fb_s)
    # e_IDG = (sigma2 + B5)/(1 - T4/tau): geometric series to second order in 1/tau
    e_idg = trunc((sigma2 + B5) * (1 + eps * T4 + eps ** 2 * T4 ** 2))
    e_icl = trunc(1 + rho - 2 * T1 + (1 + q) * T2 + (1 + q) * T3 * eps * e_idg)
    back = {d: der.subs({_m: m0, z: q + lam}, simultaneous=True)
            for d, der in zip((d1, d2, d3), _implicit_derivatives(3))}
    out = {"nu_1": sp.factor(s1.subs(back)), "nu_2": sp.factor(s2.subs(back))}
    for name, ser in (("e_icl", e_icl), ("e_idg", e_idg)):
        for k in range(3):
            out[f"{name}_{k}"] = sp.together(ser.coeff(eps, k).subs(back))
    return out


#: The names of :func:`formulas`, in order, known without deriving anything (the CLI checks the
#: names it is given against them before a 15-25 s derivation; :func:`formulas` checks them).
FORMULA_NAMES = (
    "q", "marchenko_pastur_self_consistent", "marchenko_pastur_quadratic", "m", "F2", "F2_implicit",
    "fixed_point", "nu_quartic", "nu_quadratic_ridgeless", "nu_ridgeless_tau_lt_1", "mu",
    "sigma2_structural", "T1_structural", "T2_structural", "T3_structural", "T4_structural",
    "B5_structural", "e_idg_structural", "e_icl_structural", "sigma2", "T1", "T2", "T3", "T4", "B5",
    "e_idg", "e_icl", "ridgeless_e_icl_tau_gt_1", "ridgeless_e_idg_tau_gt_1",
    "ridgeless_e_icl_tau_lt_1", "ridgeless_e_idg_tau_lt_1", "ridgeless_nu_tau_lt_1", "ridgeless_mu",
    "result1_e_icl_tau_lt_1", "result1_e_icl_tau_gt_1", "limit_m_kappa_inf", "limit_m_kappa_0",
    "limit_e_idg_tau_inf", "limit_e_icl_tau_inf", "limit_e_tau_kappa_inf",
    "limit_e_idg_tau_inf_alpha_inf", "limit_e_icl_tau_inf_alpha_inf_kappa_lt_1",
    "limit_e_icl_tau_inf_alpha_inf_kappa_gt_1", "limit_e_idg_alpha_inf", "limit_nu_lam_0",
    "limit_nu_lam_0_tau_lt_1", "large_tau_nu_1", "large_tau_nu_2", "large_tau_e_icl_0",
    "large_tau_e_icl_1", "large_tau_e_icl_2", "large_tau_e_idg_0", "large_tau_e_idg_1",
    "large_tau_e_idg_2",
)


@functools.lru_cache(maxsize=None)
def formulas() -> dict:
    """Every exported result, name -> sympy expression or equation (the source of LaTeX and numerics)."""
    gen = error_formulas()
    struct = error_formulas(structural=True)
    closed = ridgeless_closed_forms()
    paper = paper_result1()
    lim = limits()
    ser = large_tau_series()
    M = sp.Function("M")
    out = {
        "q": sp.Eq(q, _Q),
        "marchenko_pastur_self_consistent": sp.Eq(_m, 1 / (z + 1 / (1 + _m / kappa))),
        "marchenko_pastur_quadratic": marchenko_pastur_equation(),
        "m": sp.Eq(M(z), stieltjes()),
        "F2": sp.Eq(sp.Function("F_2")(z), F2()),
        "F2_implicit": sp.Eq(sp.Function("F_2")(z), -_implicit_derivatives(1)[0]),
        "fixed_point": fixed_point(),
        "nu_quartic": sp.Eq(nu_polynomial().as_expr(), 0),
        "nu_quadratic_ridgeless": sp.Eq(nu_polynomial(ridgeless=True).as_expr(), 0),
        "nu_ridgeless_tau_lt_1": sp.Eq(nu, nu_ridgeless()),
        "mu": sp.Eq(mu, q * M(q)),
    }
    for k, v in struct.items():  # sigma2 is sigma squared (the effective noise), not an index
        out[f"{k}_structural"] = sp.Eq(sp.Symbol("sigma^2" if k == "sigma2" else k), v)
    for k in ("sigma2", "T1", "T2", "T3", "T4", "B5", "e_idg", "e_icl"):
        out[k] = gen[k]
    for k, v in closed.items():
        out[f"ridgeless_{k}"] = v
    for k, v in paper.items():
        out[f"result1_{k}"] = v
    for k, v in lim.items():
        out[f"limit_{k}"] = v
    for k, v in ser.items():
        out[f"large_tau_{k}"] = v
    if tuple(out) != FORMULA_NAMES:
        raise AssertionError(f"FORMULA_NAMES is out of date: the derivation gives {tuple(out)}")
    return out


@functools.lru_cache(maxsize=None)
def latex_formulas() -> dict:
    """name -> LaTeX string (``sympy.latex`` of :func:`formulas`; symbols render as \\tau, \\nu, ...)."""
    return {k: sp.latex(v) for k, v in formulas().items()}


def latex(name: str) -> str:
    """LaTeX of one result; ``ValueError`` listing the available names if unknown."""
    table = latex_formulas()
    if name not in table:
        raise ValueError(f"name must be one of {sorted(table)}; got {name!r}")
    return table[name]


# name -> (expression builder, argument names). q is expressed through alpha and rho, mu and m0
# through the explicit MP branch, so every numeric function takes model parameters only.
_NUMERIC = {
    "m": (lambda: stieltjes(), ("z", "kappa")),
    "F2": (lambda: F2(), ("z", "kappa")),
    **{k: ((lambda k=k: error_formulas()[k]), ("tau", "alpha", "kappa", "rho", "nu"))
       for k in ("sigma2", "T1", "T2", "T3", "T4", "B5", "e_idg", "e_icl")},
    "nu_ridgeless": (lambda: nu_ridgeless(), ("tau", "alpha", "kappa", "rho")),
    "nu_quartic": (lambda: nu_polynomial().as_expr(), ("tau", "alpha", "kappa", "rho", "lam", "nu")),
    **{f"ridgeless_{k}": ((lambda k=k: ridgeless_closed_forms()[k]),
                          ("tau", "alpha", "kappa", "rho"))
       for k in ("e_icl_tau_gt_1", "e_idg_tau_gt_1", "e_icl_tau_lt_1", "e_idg_tau_lt_1")},
    **{f"result1_{k}": ((lambda k=k: paper_result1()[k]), ("tau", "alpha", "kappa", "rho"))
       for k in ("e_icl_tau_lt_1", "e_icl_tau_gt_1")},
    **{f"large_tau_{k}": ((lambda k=k: large_tau_series()[k]), ("alpha", "kappa", "rho", "lam"))
       for k in ("e_icl_0", "e_icl_1", "e_icl_2", "e_idg_0", "e_idg_1", "e_idg_2", "nu_1", "nu_2")},
}


def arguments(name: str) -> tuple:
    """Argument names, in order, of ``numeric(name)``."""
    if name not in _NUMERIC:
        raise ValueError(f"name must be one of {sorted(_NUMERIC)}; got {name!r}")
    return _NUMERIC[name][1]


@functools.lru_cache(maxsize=None)
def numeric(name: str, module: str = "numpy"):
    """Lambdified version of a result (generated once per (name, module); see :func:`arguments`).

    ``module="numpy"`` broadcasts float arrays (no cancellation guards: for kappa << 1 prefer the
    float64 kernels); ``module="mpmath"`` evaluates at the current ``mpmath.mp`` precision.
    """
    args = arguments(name)
    builder = _NUMERIC[name][0]
    if module not in ("numpy", "mpmath"):
        raise ValueError(f"module must be 'numpy' or 'mpmath'; got {module!r}")
    expr = builder()
    syms = [SYMBOLS[a] for a in args]
    subs = {mu: q * _M_ratio(), sp.Symbol("m_0", positive=True): stieltjes().subs(z, q + lam),
            sp.Symbol("m_q", positive=True): stieltjes().subs(z, q)}
    expr = expr.subs(subs, simultaneous=True)
    if "z" not in args:
        expr = expr.subs(q, _Q)
    return sp.lambdify(syms, expr, modules=module)


# --------------------------------------------------------------------------- structured tasks
def prove_structured_identities() -> dict:
    """The algebra behind the structured-task theory (docs/THEORY.md section 8), redone by sympy.

    Returns ``{name: simplified difference}``; every value is 0 when the identity holds:

    * ``mp_reduction``: one atom ``lam = 1`` turns the scalar root ``c - 1 + (1 - z m)/kappa = 0``,
      ``m = 1/(c + z)``, into the Marchenko–Pastur quadratic (isotropic reduction);
    * ``numerator``: ``q T1(q) + nu^2 E[l^2/((l+q)(l+b)^2)] = q T1(b) + nu b P2(b)`` per eigenvalue
      ``l`` of ``R`` (the standard ridge risk numerator equals the positive sum the code uses);
    * ``idg_at_alpha``: ``rho + b^2 P2 + q T2 + E T4 = tau E`` when ``E (tau - T4) = rho + q T1 + nu b P2``
      (the structured ``e_IDG(alpha_te)`` reduces to ``tau E`` at ``alpha_te = alpha``);
    * ``idg_kernel``: ``(l+q')(l+q)/(l+b)^2 = [l^2 + q l + q'(l+q)]/(l+b)^2`` (its variance term);
    * ``align_kernel``: ``E (R+q)(R+b)^-2 + b^2 (R+b)^-2`` on the deterministic equivalents equals the
      authors' ``E F1 + (b^2 - nu E) F1 (1 + c' C) F1`` (per eigenvalue of ``C``);
    * ``moments_m_zA``, ``moments_T1``: ``m - z A = c B`` and ``T1 - z c B = c^2 Q`` for a two-atom law
      (the positive-sum forms of :class:`asymptotics.spectrum.Spectrum`), and ``x``-form ``P2``, ``T2``.
    """
    z_, c_, kap, lq, nu_, l_, E_, tau_, rho_, qp = sp.symbols("z c kappa q nu l E tau rho qp", positive=True)
    b_ = lq + nu_
    out = {}
    # isotropic reduction
    m_ = sp.Symbol("m", positive=True)
    c_of_m = 1 / m_ - z_
    mp_quad = (z_ / kap) * m_ ** 2 + (z_ + 1 - 1 / kap) * m_ - 1
    out["mp_reduction"] = sp.simplify((c_of_m - 1 + (1 - z_ * m_) / kap) * (-kap * m_) - kap * mp_quad)
    # per-eigenvalue identities (l: eigenvalue of R)
    lhs = lq * l_ / (l_ + lq) + nu_ ** 2 * l_ ** 2 / ((l_ + lq) * (l_ + b_) ** 2)
    rhs = lq * l_ / (l_ + b_) + nu_ * b_ * l_ / (l_ + b_) ** 2
    out["numerator"] = sp.simplify(lhs - rhs)
    P2, T2, T4 = l_ / (l_ + b_) ** 2, l_ ** 2 / (l_ + b_) ** 2, (l_ + lq) ** 2 / (l_ + b_) ** 2
    T1b = l_ / (l_ + b_)
    # with E (tau - T4) = rho + q T1 + nu b P2 (per eigenvalue, as a linear identity in E):
    out["idg_at_alpha"] = sp.simplify((rho_ + b_ ** 2 * P2 + lq * T2 + E_ * T4)
                                      - (tau_ * E_ - (E_ * (tau_ - T4) - (rho_ + lq * T1b + nu_ * b_ * P2))))
    out["idg_kernel"] = sp.simplify((l_ + qp) * (l_ + lq) / (l_ + b_) ** 2
                                    - (T2 + lq * P2 + qp * (l_ + lq) / (l_ + b_) ** 2))
    lam_, cp = sp.symbols("lambda cprime", positive=True)
    F1 = 1 / (c_ * lam_ + b_)
    ours = (E_ * (lq + lam_ * (c_ - nu_ * cp)) + b_ ** 2 * (1 + cp * lam_)) * F1 ** 2
    theirs = E_ * F1 + (b_ ** 2 - nu_ * E_) * F1 * (1 + cp * lam_) * F1
    out["align_kernel"] = sp.simplify(ours - theirs)
    # two-atom positive-sum forms
    w1, w2, l1, l2 = sp.symbols("w1 w2 l1 l2", positive=True)
    D1, D2 = c_ * l1 + z_, c_ * l2 + z_
    m2 = w1 / D1 + w2 / D2
    A2 = w1 / D1 ** 2 + w2 / D2 ** 2
    B2 = w1 * l1 / D1 ** 2 + w2 * l2 / D2 ** 2
    Q2 = w1 * l1 ** 2 / D1 ** 2 + w2 * l2 ** 2 / D2 ** 2
    T1_2 = (w1 + w2) - z_ * m2
    out["moments_m_zA"] = sp.simplify(m2 - z_ * A2 - c_ * B2)
    out["moments_T1"] = sp.simplify(T1_2 - z_ * c_ * B2 - c_ ** 2 * Q2)
    F2_2 = (A2 + m2 * B2 / kap) / (1 + z_ * B2 / kap)
    x_ = c_ / z_
    u1, u2 = 1 / (x_ * l1 + 1), 1 / (x_ * l2 + 1)
    Bz = w1 * l1 * u1 ** 2 + w2 * l2 * u2 ** 2
    Qz = w1 * l1 ** 2 * u1 ** 2 + w2 * l2 ** 2 * u2 ** 2
    den = z_ + Bz / kap
    out["moments_P2"] = sp.simplify((m2 - z_ * F2_2) - x_ * Bz / den)
    out["moments_T2"] = sp.simplify((T1_2 - z_ * (m2 - z_ * F2_2)) - (x_ ** 2 * z_ * Qz + T1_2 * Bz / kap) / den)
    return out


# --------------------------------------------------------------------------- correlated contexts
def prove_kernel_identities() -> dict:
    """The algebra behind correlated contexts (docs/THEORY.md section 9), redone by sympy.

    Returns ``{name: simplified difference}``; every value is 0 when the identity holds:

    * ``alpha_eff``: ``(t + rho)/alpha_eff = (tk2 t + rho)/alpha`` for ``alpha_eff = alpha (t + rho)/
      (tk2 t + rho)`` (the noise scale ``q`` of the i.i.d. model at ``alpha_eff``);
    * ``alpha_eff_iid``: ``alpha_eff = alpha`` at ``tk2 = 1`` (``K = I``);
    * ``feature_moment``: ``(d/l)^2 E[X^T y y^T X] = (1 + tk2/l) w w^T + (d/l)(tk2 a + rho) I`` in the
      coordinates of a two-eigenvalue ``K_c`` (``l = 2``), from the Wishart-type fourth moment
      ``E[g g^T u u^T g g^T] = |u|^2 I + 2 u u^T`` — the coefficient of ``w w^T`` and of ``I``;
    * ``exp_tk2``, ``exp_k0``, ``exp_k1``: the exponential kernel's ``l -> inf`` sums
      (``sum_t phi^2t``, ``1 + 2 sum``, ``sum_{i,j >= 1} phi^(i + j + |i - j|)``) against the closed
      forms of :class:`asymptotics.kernel.Exponential`;
    * ``gain_vanishes``: :func:`asymptotics.theory.query_gain_formula` at ``k0 = k1 = 0`` (the shipped
      expression, evaluated on symbols) — the query gain vanishes for a query uncorrelated with
      the context, whatever ``tau, alpha, rho, q, nu, b, m, F2``.
    """
    from asymptotics.theory import query_gain_formula

    a_, r_, t_, tk2, al, l_ = sp.symbols("alpha rho t tk2 a l", positive=True)
    out = {}
    a_eff = a_ * (t_ + r_) / (tk2 * t_ + r_)
    out["alpha_eff"] = sp.simplify((t_ + r_) / a_eff - (tk2 * t_ + r_) / a_)
    out["alpha_eff_iid"] = sp.simplify(a_eff.subs(tk2, 1) - a_)
    # feature moment with K_c = diag(e1, e2) in its eigenbasis (l = 2, e1 + e2 = 2): sum over pairs
    e1 = sp.Symbol("e1", positive=True)
    ev = (e1, 2 - e1)
    trA, trA2 = sum(ev), sum(e ** 2 for e in ev)
    ww = sum(ev[i] * ev[j] for i in range(2) for j in range(2) if i != j) + sum(2 * e ** 2 for e in ev)
    iso = sum(e ** 2 for e in ev)
    lval, tk2_val = 2, trA2 / 2
    out["feature_moment_ww"] = sp.simplify(ww / lval ** 2 - (1 + tk2_val / lval))
    out["feature_moment_I"] = sp.simplify(iso / lval ** 2 - tk2_val / lval) + sp.simplify(trA - lval)
    phi = sp.Symbol("phi", positive=True)
    i = sp.Symbol("i", integer=True, positive=True)

    def converged(expr):  # the branch |phi| < 1 of a geometric-type series
        expr = sp.simplify(expr)
        return expr.args[0][0] if isinstance(expr, sp.Piecewise) else expr

    geo = converged(sp.summation(phi ** (2 * i), (i, 1, sp.oo)))
    xi = sp.Symbol("xi", positive=True)
    out["exp_k0"] = sp.simplify(geo - phi ** 2 / (1 - phi ** 2))
    out["exp_tk2"] = sp.simplify((1 + 2 * geo).subs(phi, sp.exp(-1 / xi)) - sp.coth(1 / xi).rewrite(sp.exp))
    # sum_{i,j>=1} phi^(i+j+|i-j|) = sum_i [ i phi^(2i) + sum_{j>i} phi^(2j) ]
    k1 = converged(sp.summation(i * phi ** (2 * i) + phi ** (2 * i + 2) / (1 - phi ** 2), (i, 1, sp.oo)))
    out["exp_k1"] = converged(k1 - phi ** 2 * (1 + phi ** 2) / (1 - phi ** 2) ** 2)
    names = sp.symbols("inv alpha rho q nu b m F2")
    out["gain_vanishes"] = sp.simplify(query_gain_formula(*names, 0, 0))
    return out
