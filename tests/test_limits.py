"""Limits and landmarks against independent evaluations: the mpmath path (``asymptotics.highprec``),
root finding on the defining equation, and the general float64 formulas evaluated near the limit.
Also: the limits never return NaN (they raise, naming the parameter), and the peak search refuses
bad arguments and NaN scans."""
import math

import numpy as np
import pytest
from scipy.optimize import brentq

import asymptotics as A
from asymptotics import params as P
from asymptotics.highprec import solve_hp

EPS = np.finfo(float).eps


@pytest.mark.parametrize("alpha,rho", [(0.5, 0.0), (1.0, 0.2), (4.0, 1.5)])
def test_optimal_attention_error_is_tau_kappa_inf(alpha, rho):
    icl, idg = A.e_tau_inf(alpha, np.inf, rho)
    # Same limit reached through the general formulas at tau = kappa = inf: rounding only.
    assert icl == pytest.approx(A.optimal_attention_error(alpha, rho), rel=1e-13)
    assert idg == pytest.approx(icl, rel=1e-13)
    # ... and approached at large but finite tau, kappa (corrections O(1/tau) + O(1/kappa)).
    assert A.e_icl(1e6, alpha, 1e6, rho) == pytest.approx(icl, rel=1e-4)


ALPHAS_WIDE = [1e-310, 1e-300, 1e-8, 0.5, 4.0, 1e8, 1e300]  # 1e-310: q overflowed before
RHOS_WIDE = [0.0, 0.2, 1e10]


@pytest.mark.parametrize("alpha", ALPHAS_WIDE)
def test_optimal_attention_error_matches_mpmath_over_the_whole_range(alpha):
    # The old rho + q/(1+q) gave NaN (inf/inf) once q = (1+rho)/alpha overflowed (alpha < ~1e-308).
    for rho in RHOS_WIDE:
        # alpha = 1e300, rho = 0 (value 1e-300) was skipped: the mpmath path returned 0 there until
        # its guard digits covered the decades spanned (issue 9).
        got = A.optimal_attention_error(alpha, rho)
        want = float(solve_hp(np.inf, alpha, np.inf, rho, dps=20).e_icl)  # general formulas, 20 digits
        # Four float64 operations, each rounding once (measured <= 0.6 ulp): 8 eps.
        assert got == pytest.approx(want, rel=8 * EPS), (alpha, rho)


def test_optimal_attention_is_above_bayes():
    alpha, rho = np.meshgrid(np.geomspace(0.05, 50, 30), [0.0, 0.01, 0.5, 4.0])
    assert np.all(A.optimal_attention_error(alpha, rho) > A.ridge_error(alpha, rho))


@pytest.mark.parametrize("kappa", [1e-3, 0.2, 0.6, 0.99, 1.01, 1.5, 3.0, 1e3, np.inf])
def test_alpha_then_tau_to_infinity_matches_mpmath(kappa):
    rho = 0.3
    icl_lim, idg_lim = A.e_alpha_inf_tau_inf(kappa, rho)
    for alpha in (1e8, 1e10):
        q = (1 + rho) / alpha
        r = solve_hp(np.inf, alpha, kappa, rho, dps=30)  # the general formulas at tau = inf, 30 digits
        # Corrections O(q) away from kappa = 1, coefficient measured <= 1.0 for kappa in
        # [1e-3, inf] (e.g. 1.0 q at kappa = 0.99 and 1.01): bound 2 q. The other candidate limit
        # (rho for kappa < 1, 1 + rho - kappa above) would be off by |1 - kappa| >= 0.01.
        assert abs(float(r.e_icl) - icl_lim) <= 2 * q, (alpha, float(r.e_icl), icl_lim)
        assert abs(float(r.e_idg) - idg_lim) <= 2 * q, (alpha, float(r.e_idg), idg_lim)


def test_alpha_then_tau_at_the_transition():
    # kappa = 1: the limit is continuous (1 + rho - kappa = rho) but approached like sqrt(q), not q
    # (measured 0.5 sqrt(q) at q = 1.3e-8 .. 1.3e-12): bound sqrt(q), and a 100x larger alpha must
    # shrink the gap by ~10 (sqrt), not ~100 (linear): between 5 and 20.
    rho = 0.3
    icl_lim, _ = A.e_alpha_inf_tau_inf(1.0, rho)
    gaps = []
    for alpha in (1e8, 1e10):
        q = (1 + rho) / alpha
        gap = float(solve_hp(np.inf, alpha, 1.0, rho, dps=30).e_icl) - icl_lim
        assert 0 < gap <= math.sqrt(q)
        gaps.append(gap)
    assert 5 < gaps[0] / gaps[1] < 20


def test_alpha_then_tau_never_nan():
    kappa = np.array([1e-300, 0.5, 1.0, 2.0, 1e300, np.inf])
    for rho in (0.0, 0.3, 1e300):
        icl, idg = A.e_alpha_inf_tau_inf(kappa, rho)
        assert np.all(np.isfinite(icl)) and np.all(idg == rho)
        assert icl[-1] == rho  # kappa = inf: infinite task diversity learns in context


def _sigma2_by_root_finding(alpha, kappa, rho):
    """rho + q - q^2 m(q) with m the root of the defining quadratic (z/kappa) m^2 + a m - 1 = 0 in
    (0, 1/z] (brentq; m = (1/d) tr (R + z)^{-1} <= 1/z), and the amplification q^2 m / sigma2."""
    q = (1 + rho) / alpha
    m = brentq(lambda x: (q / kappa) * x * x + (q + 1 - 1 / kappa) * x - 1, 0.0, 1.0 / q,
               xtol=1e-300, rtol=4 * EPS, maxiter=500)
    sigma2 = rho + q - q * q * m
    return sigma2, q * q * m / sigma2


@pytest.mark.parametrize("alpha,kappa", [(0.5, 0.3), (3.0, 2.0), (0.05, 0.01), (20.0, 50.0), (1.0, 1.0)])
def test_ridgeless_tau_inf_idg_is_sigma2(alpha, kappa):
    rho = 0.4
    want, amp = _sigma2_by_root_finding(alpha, kappa, rho)
    _, idg = A.e_tau_inf(alpha, kappa, rho)
    # The root carries 4 eps, amplified by q^2 m / sigma2 in the subtraction (<= 45 here); the
    # kernel's positive sum adds a few ulp: 8 eps (1 + amp).
    assert idg == pytest.approx(want, rel=8 * EPS * (1 + amp))
    tau = 1e8
    # tau sigma2/(tau - 1) -> sigma2 with relative correction 1/tau = 1e-8.
    assert A.e_idg(tau, alpha, kappa, rho) == pytest.approx(want, rel=2e-8)


def test_kappa_inf_limit_is_approached():
    icl, idg = A.e_kappa_inf(2.0, 1.0, 0.2, 0.01)
    assert icl == pytest.approx(idg, rel=1e-13)  # rounding only
    # R -> I with spectral spread O(1/sqrt(kappa)) entering at second order: O(1/kappa).
    assert A.e_icl(2.0, 1.0, 1e7, 0.2, 0.01) == pytest.approx(icl, rel=1e-6)
    # The mpmath path at kappa = inf: float64 rounding x conditioning (~1/|tau - 1| = 1) only.
    hp = solve_hp(2.0, 1.0, np.inf, 0.2, 0.01, dps=20)
    assert (icl, idg) == pytest.approx((float(hp.e_icl), float(hp.e_idg)), rel=1e-13)


def test_kappa_inf_ridgeless_peak_is_inf_by_design():
    assert A.e_kappa_inf(1.0, 2.0, 0.1) == (np.inf, np.inf)  # documented, not a failure


# (function, arguments, parameter to blame). Before: (nan, 1.1), (nan, nan), ... silently; these
# values lie beyond the float64 range of the theory (asymptotics.params.RANGES), where the kernels
# overflow at some combination of the other parameters.
FLOAT64_EDGES = [
    (A.e_tau_inf, (1e-300, 1.0, 0.1), "alpha"),
    (A.e_tau_inf, (1e300, 1.0, 0.1), "alpha"),
    (A.e_tau_inf, (2.0, 1.0, 0.1, 1e300), "lam"),
    (A.e_tau_inf, (2.0, 1.0, 1e300), "rho"),
    (A.e_kappa_inf, (1e-300, 2.0, 0.1), "tau"),
    (A.e_kappa_inf, (2.0, 1e-300, 0.1), "alpha"),
    (A.e_kappa_inf, (0.5, 1.0, 0.1, 1e300), "lam"),
]


@pytest.mark.parametrize("func,args,name", FLOAT64_EDGES)
def test_limits_refuse_values_beyond_the_float64_range(func, args, name):
    with pytest.raises(ValueError, match=rf"^{name} must satisfy .*float64 range") as info:
        func(*args)
    assert P.RANGES[name].text in str(info.value)


def test_limits_in_arrays_name_the_first_bad_point():
    with pytest.raises(ValueError, match=r"alpha must satisfy .*got 1e-300 \(at 1 of 3 entries\)"):
        A.e_tau_inf([1.0, 1e-300, 2.0], 1.0, 0.1)


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


@pytest.mark.parametrize("kwargs,needle", [
    ({"which": "gap"}, "which must be 'icl' or 'idg'"),
    ({"which": ["icl"]}, "which must be 'icl' or 'idg'"),
    ({"kappa": -1.0}, "kappa must satisfy 1e-150 <= kappa <= inf"),
    ({"alpha": np.nan}, "alpha must satisfy 1e-30 <= alpha <= 1e100"),
    ({"lam": np.nan}, "lam must satisfy 0 <= lam <= 1e100"),
    ({"lam": [0.01, 0.1]}, "lam must be a scalar with 0 <= lam <= 1e100"),
    ({"rho": np.array([0.1])}, "rho must be a scalar with 0 <= rho <= 1e30"),
    ({"tau_range": (np.nan, 10.0)}, "tau_range must be two numbers (lo, hi) with 1e-30 <= lo < 1 < hi <= 1e+100"),
    ({"tau_range": (0.1, np.nan)}, "tau_range must be two numbers"),
    ({"tau_range": (0.1, 2.0, 3.0)}, "tau_range must be two numbers"),
    ({"tau_range": (2.0, 10.0)}, "tau_range must be two numbers"),
    ({"tau_range": (0.1, np.inf)}, "tau_range must be two numbers"),
])
def test_peak_rejects_bad_arguments(kwargs, needle):
    # Before: a bare unpacking error for a 3-tuple, a TypeError for a string, no range in the
    # message for arrays.
    args = dict(alpha=1.0, kappa=1.0, rho=0.1, lam=0.01)
    with pytest.raises(ValueError) as info:
        A.interpolation_peak(**{**args, **kwargs})
    assert needle in str(info.value)


@pytest.mark.parametrize("alpha,rho,lam,name", [(1e-300, 0.1, 0.01, "alpha"), (2.0, 1e300, 0.01, "rho"),
                                                (2.0, 0.1, 1e300, "lam")])
def test_peak_never_reads_a_nan_scan_as_no_peak(alpha, rho, lam, name):
    # Before: every scanned value was NaN, no local maximum was found and Peak(None, None, False)
    # ("monotone, no peak") came back. A verdict may only come from a scan of finite values.
    try:
        p = A.interpolation_peak(alpha, 1.0, rho, lam)
    except ValueError as exc:
        assert name in str(exc) and "float64" in str(exc), str(exc)
    else:
        with np.errstate(all="ignore"):
            scan = A.solve(np.geomspace(1e-3, 1e3, 2001), alpha, 1.0, rho, lam).e_icl
        assert np.all(np.isfinite(scan)), p


def test_peak_scan_reaching_below_the_float64_range_raises():
    # tau_range down to 1e-300: beyond the float64 range of tau (the kernels overflow below ~1e-150).
    with pytest.raises(ValueError, match=r"tau_range must be .* 1e-30 <= lo"):
        A.interpolation_peak(2.0, 1.0, 0.1, 0.01, tau_range=(1e-300, 10.0))
    with pytest.raises(TypeError, match=r"tau_range must be a real number"):
        A.interpolation_peak(2.0, 1.0, 0.1, 0.01, tau_range="ab")
