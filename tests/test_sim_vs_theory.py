"""Finite-d simulation against the asymptotic theory (THEORY.md sections 4 and 6).

Finite-size margins were measured (sim branch, seed 1, d = 40, 60, 80, 100 with 24, 16, 10, 6
replicates): at every point below the simulated error sits above the theory and
``e_sim(d) - e_theory`` fits ``c/d``. ``C`` in ``POINTS`` is the fitted ``c`` plus 3 of its
standard errors, so ``C/d`` bounds the bias at the simulated d. The default test then requires
``-z sem <= e_sim - e_theory <= C/d + z sem`` with an independent seed, ``z`` chosen for a
family-wise false-alarm rate of 0.3% over all its bounds (``Z_D50`` below).
Measured ``c`` (+- se), ICL / IDG: tau=0.5,kappa=2: 5.19(37) / 4.90(37); tau=3,kappa=2: 2.93(12) /
2.09(11); tau=3,kappa=0.5: 4.28(12) / 1.23(13); tau=3,kappa=inf: 2.47(8) / 2.32(8);
tau=1,kappa=2,lam=0.1: 2.50(32) / 1.78(34); tau=0.5,kappa=inf,lam=0.1: 2.54(25) / 2.08(25);
all alpha=1, rho=0.25.
"""
import math

import numpy as np
import pytest
from scipy import stats

import asymptotics
import simulate

INF = math.inf
# (tau, alpha, kappa, rho, lam): (C_icl, C_idg)
POINTS = {
    "tau<1": ((0.5, 1.0, 2.0, 0.25, 0.0), (6.3, 6.0)),
    "tau>1": ((3.0, 1.0, 2.0, 0.25, 0.0), (3.3, 2.4)),
    "kappa small": ((3.0, 1.0, 0.5, 0.25, 0.0), (4.7, 1.6)),
    "kappa inf": ((3.0, 1.0, INF, 0.25, 0.0), (2.7, 2.6)),
    "lam>0 at tau=1": ((1.0, 1.0, 2.0, 0.25, 0.1), (3.5, 2.8)),
    "lam>0 tau<1 kappa inf": ((0.5, 1.0, INF, 0.25, 0.1), (3.3, 2.8)),
}


N_SEEDS_D50 = 8
FAMILY_RATE = 0.003
# The d = 50 test is one family: every point x (ICL, IDG) x (lower, upper bound) = 24 one-sided
# bounds. Bonferroni at family-wise false-alarm rate 0.3% gives each bound 0.003/24; the sem comes
# from 8 replicates, so (mean - expectation)/sem is Student t with 7 degrees of freedom, not
# normal: z = t_7.isf(1.25e-4) = 6.81 (the normal quantile, 3.66, would understate the family-wise
# rate about 30-fold). Both bounds also carry margin beyond z sem: the bias is positive (lower) and
# C/d is the fitted c plus 3 se (upper).
Z_D50 = float(stats.t.isf(FAMILY_RATE / (2 * 2 * len(POINTS)), df=N_SEEDS_D50 - 1))


def _theory(p):
    return float(asymptotics.e_icl(*p)), float(asymptotics.e_idg(*p))


@pytest.mark.parametrize("name", list(POINTS))
def test_sim_matches_theory_at_d50(name):
    p, (c_icl, c_idg) = POINTS[name]
    d = 50
    res = simulate.run(d, *p, n_seeds=N_SEEDS_D50, seed=20250)
    m, s = res.mean(), res.sem()
    for got, sem, want, c in ((m.icl, s.icl, _theory(p)[0], c_icl), (m.idg, s.idg, _theory(p)[1], c_idg)):
        # lower: z sem (bias is positive at all measured points); upper: z sem + measured c/d bias;
        # z = Z_D50 = 6.81 (family-wise rate 0.3% over 24 bounds, t with 7 dof)
        assert -Z_D50 * sem <= got - want <= c / d + Z_D50 * sem, (name, got, sem, want)


def _fit_inf(ds, means, sems, order=1):
    """Weighted least squares ``e(d) = e_inf + c_1/d + ... + c_order/d^order``;
    returns ``(e_inf, se(e_inf), [c_1, ..., c_order])``."""
    ds, means, sems = (np.asarray(v, dtype=float) for v in (ds, means, sems))
    A = np.stack([ds ** -j for j in range(order + 1)], axis=1) / sems[:, None]
    coef, *_ = np.linalg.lstsq(A, means / sems, rcond=None)
    return coef[0], math.sqrt(np.linalg.inv(A.T @ A)[0, 0]), list(coef[1:])


SLOW_POINTS = {  # double descent (tau 0.5, 3; peak regularised by lam), kappa transition, lam > 0
    "tau=0.5 kappa=2": (0.5, 1.0, 2.0, 0.25, 0.0),
    "tau=3 kappa=2": (3.0, 1.0, 2.0, 0.25, 0.0),
    "tau=3 kappa=0.5": (3.0, 1.0, 0.5, 0.25, 0.0),
    "tau=3 kappa=1": (3.0, 1.0, 1.0, 0.25, 0.0),
    "tau=3 kappa=inf": (3.0, 1.0, INF, 0.25, 0.0),
    "tau=1 kappa=2 lam=0.1": (1.0, 1.0, 2.0, 0.25, 0.1),
    "tau=0.5 kappa=inf lam=0.1": (0.5, 1.0, INF, 0.25, 0.1),
}
SEEDS = {40: 24, 60: 16, 80: 10, 100: 6}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SLOW_POINTS))
def test_extrapolated_sim_matches_theory(name):
    p = SLOW_POINTS[name]
    rows = [simulate.run(d, *p, n_seeds=n, seed=2) for d, n in SEEDS.items()]
    for key, want in zip(("icl", "idg"), _theory(p)):
        e_inf, se, _ = _fit_inf([r.d for r in rows], [getattr(r.mean(), key) for r in rows],
                                [getattr(r.sem(), key) for r in rows])
        # 3% of the theory: the project's criterion; measured deviations <= 1.2% with fit se 0.3-1%
        assert abs(e_inf - want) <= 0.03 * want, (name, key, e_inf, se, want)


NEAR_PEAK = (1.5, 1.0, 2.0, 0.25, 0.0)
# d = 40..160, replicates chosen for the smallest se of the 3-term e_inf per unit time (per-replicate
# spread ~ 1/d, cost ~ d^4): predicted se 1.15% of the theory
NEAR_PEAK_SEEDS = {40: 256, 60: 64, 80: 20, 100: 6, 160: 10}


@pytest.mark.slow
def test_extrapolated_sim_matches_theory_near_peak():
    """tau = 1.5 (ridgeless, half-way to the peak): finite-d excess is 16% at d = 40, 4% at d = 160.

    The 1/d expansion of a ridgeless error near the peak runs in 1/(d |tau - 1|) (the finite-d peak
    sits at n = d(d+1), tau_d = 1 + 1/d), so the 1/d^2 term is not negligible at d = 40 and a 1/d-only
    fit over d = 40..100 can be pulled low; fit e_inf + c1/d + c2/d^2 over d = 40..160 instead.
    Measured with seed 7 (96/64/40/24/16/10 replicates at d = 40/60/80/100/130/160): e_inf - theory
    = +0.3 +- 1.1% (ICL), +0.1 +- 1.1% (IDG), c2 = 145 +- 129 / 101 +- 120 (chi2 2.8 and 2.6 on 3 dof).
    """
    rows = [simulate.run(d, *NEAR_PEAK, n_seeds=n, seed=2) for d, n in NEAR_PEAK_SEEDS.items()]
    for key, want in zip(("icl", "idg"), _theory(NEAR_PEAK)):
        e_inf, se, _ = _fit_inf([r.d for r in rows], [getattr(r.mean(), key) for r in rows],
                                [getattr(r.sem(), key) for r in rows], order=2)
        # 3% of the theory, the project's criterion (as above); the 3-term fit's se is ~1.2% here
        # by design, so this is a ~2.5 se check, not a widened tolerance
        assert abs(e_inf - want) <= 0.03 * want, (key, e_inf, se, want)
