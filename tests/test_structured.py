"""Structured tasks (docs/THEORY.md, "Structured tasks"): task covariance C_tr, test covariance C_te,
test context length alpha_test. Checked four independent ways: the isotropic reduction (to the PNAS
theory, 1e-12), the follow-up's ridgeless formulas transcribed from THEORY.md section 8 and solved by
a different root finder (brentq, 1e-12), an mpmath re-evaluation of the scalar root (1e-13), and the
random-matrix fact behind it (the Stieltjes transform against eigenvalues of sampled R). Finite-d
simulation against the theory: tests/test_structured_sim.py (slow) and the recorded table in
docs/verification.md."""
import mpmath as mp
import numpy as np
import pytest
from scipy.optimize import brentq

import asymptotics as A
from asymptotics.spectrum import (ISOTROPIC, Spectrum, aligned, anti_aligned, from_matrix, power_law,
                                  resolve, spiked, two_level)
from simulate.errors import monte_carlo_errors, test_errors

TAU = np.array([0.2, 0.7, 0.99, 1.01, 2.0, 10.0, np.inf])
KAPPA = np.array([[0.2], [0.9], [1.0], [3.0], [np.inf]])


def rel(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    both_inf = np.isinf(a) & np.isinf(b) & (a == b)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.abs(a / b - 1)
    return float(np.max(np.where(both_inf, 0.0, r)))


# --- 1. isotropic reduction --------------------------------------------------------------------------

@pytest.mark.parametrize("lam", [0.0, 1e-3, 0.3])
@pytest.mark.parametrize("task_cov", [np.ones(5), Spectrum([1.0, 1.0], [0.3, 0.7]), np.eye(4)])
def test_identity_covariance_reproduces_isotropic_theory(lam, task_cov):
    # Same model, different code path (scalar root + Newton instead of closed forms): the tolerance is
    # the root's conditioning at kappa = 1, z -> 0 (relative error ~ eps/c, c ~ sqrt(z)), well below 1e-10.
    for f in (A.e_icl, A.e_idg):
        iso = f(TAU, 1.5, KAPPA, 0.2, lam)
        for kw in ({"task_cov": task_cov}, {"task_cov": task_cov, "test_cov": np.ones(5) if np.ndim(task_cov) == 1
                   and np.size(task_cov) == 5 else None}, {"alpha_test": 1.5}, {"test_cov": np.eye(3)}):
            assert rel(f(TAU, 1.5, KAPPA, 0.2, lam, **kw), iso) < 1e-10, kw


def test_solve_fields_split_e_icl_and_agree_with_isotropic():
    r = A.solve(TAU, 2.0, KAPPA, 0.1, 0.01)
    assert rel(r.e_bias + r.e_align, r.e_icl) < 1e-13  # two roundings of one formula
    assert rel(r.alignment, 1.0) < 1e-14  # isotropic test: e_align over itself (peak: Sa/Sa)
    s = A.solve(TAU, 2.0, KAPPA, 0.1, 0.01, task_cov=np.ones(3), test_cov=np.ones(3))
    for name in ("nu", "m_b", "F2_b", "T1", "T2", "T3", "T4", "sigma2", "e_icl", "e_idg", "e_bias", "e_align"):
        assert rel(getattr(s, name), getattr(r, name)) < 1e-10, name


def test_scalar_multiple_of_identity_is_a_rescaled_problem():
    # C_tr = C_te = s I is the isotropic model with w -> sqrt(s) w: labels scale by sqrt(s), so
    # e(s; rho, lam) = s e(1; rho/s, lam') -- with the ridge fixed point nu/s... checked here through the
    # ridgeless errors, where lam plays no role: e_ICL(s I, rho) = s e_ICL(I, rho/s).
    s = 2.5
    for tau in (0.4, 3.0):
        got = A.e_icl(tau, 2.0, 0.7, 0.3, task_cov=np.full(4, s), test_cov=np.full(4, s))
        assert abs(got / (s * A.e_icl(tau, 2.0, 0.7, 0.3 / s)) - 1) < 1e-12
        got = A.e_idg(tau, 2.0, 0.7, 0.3, task_cov=np.full(4, s))
        assert abs(got / (s * A.e_idg(tau, 2.0, 0.7, 0.3 / s)) - 1) < 1e-12


# --- 2. the follow-up's ridgeless formulas, transcribed and solved by brentq -------------------------

def section8(tau, alpha, kappa, rho, lam_i, a_i, alpha_te):
    """THEORY.md section 8 verbatim (their c-root by brentq, their E, e_bias, K_i)."""
    def stieltjes(z):
        f = lambda c: c - 1 + (1 - z * np.mean(1 / (c * lam_i + z))) / kappa  # noqa: E731
        c = 1.0 if np.isinf(kappa) else brentq(f, -z / lam_i.max() * (1 - 1e-12), 1, xtol=1e-300, rtol=1e-15)
        m = np.mean(1 / (c * lam_i + z))
        a_, b_ = np.mean((c * lam_i + z) ** -2), np.mean(lam_i * (c * lam_i + z) ** -2)
        return m, (a_ + m * b_ / kappa) / (1 + z * b_ / kappa), c
    q = (lam_i.mean() + rho) / alpha
    q_te = (a_i.mean() + rho) / alpha_te
    nu = 0.0 if tau > 1 else brentq(lambda v: v * stieltjes(q + v)[0] - (1 - tau), 1e-14, 1e6,
                                    xtol=1e-300, rtol=1e-15)
    b = q + nu
    m, m2, c = stieltjes(b)
    cp = (m - b * m2) / kappa
    E = (rho + b - b * b * m - nu * (1 - 2 * b * m + b * b * m2)) / (tau - (1 - 2 * nu * m + nu * nu * m2))
    e_bias = rho + q_te * (1 + (E - 2 * b) * m - (nu * E - b * b) * m2)
    K = E / (c * lam_i + b) + (b * b - nu * E) * (1 + cp * lam_i) / (c * lam_i + b) ** 2
    return e_bias + np.mean(a_i * K), tau * E


@pytest.mark.parametrize("order", ["aligned", "anti", "random"])
def test_ridgeless_structured_theory_matches_section8_transcription(order):
    lam_i = power_law(0.9, 60).values
    a = {"aligned": lam_i, "anti": lam_i[::-1], "random": np.random.default_rng(1).permutation(lam_i)}[order]
    for tau in (0.3, 0.95, 1.2, 4.0):
        for kappa in (0.3, 1.0, 2.5, np.inf):
            ref_icl, ref_idg = section8(tau, 1.5, kappa, 0.2, lam_i, a, 1.5)
            # cancellation in the transcription (1 - 2bm + b^2 m2 etc.) costs it ~1e-14; ours is positive sums
            assert abs(A.e_icl(tau, 1.5, kappa, 0.2, task_cov=lam_i, test_cov=a) / ref_icl - 1) < 1e-12
            assert abs(A.e_idg(tau, 1.5, kappa, 0.2, task_cov=lam_i) / ref_idg - 1) < 1e-12


def test_alpha_test_enters_only_through_q_te_in_the_transcription():
    lam_i = two_level(0.3, 4.0).eigenvalues(10)
    for tau in (0.5, 3.0):
        ref, _ = section8(tau, 1.0, 0.8, 0.1, lam_i, np.ones(10), 2.5)
        assert abs(A.e_icl(tau, 1.0, 0.8, 0.1, task_cov=lam_i, alpha_test=2.5) / ref - 1) < 1e-12


# --- 3. mpmath re-evaluation of the scalar root and the moments -------------------------------------

def test_structured_moments_against_mpmath():
    mp.mp.dps = 60  # the reference forms 1 - z m etc. cancel up to 1e10 at z = 1e5: 60 digits leave 40
    spec = Spectrum([0.0, 0.5, 1.0, 7.0], [0.1, 0.2, 0.3, 0.4])
    lam, w = [mp.mpf(x) for x in spec.atoms], [mp.mpf(x) for x in spec.atom_weights]
    Wt = sum(w)
    for z in (1e-6, 0.03, 1.0, 40.0, 1e5):
        for kappa in (0.05, 0.5, 1.0, 4.0):
            zz, kk = mp.mpf(z), mp.mpf(kappa)
            # total weight Wt (1 up to the float rounding of the given weights) where THEORY.md writes 1
            F = lambda c: c - 1 + (Wt - zz * sum(wi / (c * li + zz) for wi, li in zip(w, lam))) / kk  # noqa
            c = mp.findroot(F, (mp.mpf(0), mp.mpf(1)), solver="anderson", tol=mp.mpf(10) ** -110)
            m = sum(wi / (c * li + zz) for wi, li in zip(w, lam))
            Aa = sum(wi / (c * li + zz) ** 2 for wi, li in zip(w, lam))
            B = sum(wi * li / (c * li + zz) ** 2 for wi, li in zip(w, lam))
            F2 = (Aa + m * B / kk) / (1 + zz * B / kk)
            T1, P2 = Wt - zz * m, m - zz * F2
            T2 = Wt - 2 * zz * m + zz ** 2 * F2
            mo = spec.moments(z, 0.5 * z, kappa)
            for got, ref in ((mo.m, m), (mo.F2, F2), (mo.T1, T1), (mo.P2, P2), (mo.T2, T2)):
                # float64 positive sums + a Newton root: a few ulps times the root's conditioning
                assert abs(float(got) / float(ref) - 1) < 1e-13, (z, kappa)


# --- 4. random-matrix check of the Stieltjes transform ----------------------------------------------

def test_stieltjes_transform_matches_sampled_task_covariance():
    # m(z) = lim (1/d) tr (R + z)^-1 for R = (1/k) sum w_j w_j^T, w_j ~ N(0, C): at d = 800 the sample
    # value fluctuates by O(1/d) around a limit shifted by O(1/d); 2% covers both with margin
    # (measured gaps below 0.5%).
    rng = np.random.default_rng(0)
    spec = power_law(0.6, 800)
    lam = spec.eigenvalues(800)
    for kappa in (0.5, 2.0):
        k = int(kappa * 800)
        W = rng.standard_normal((k, 800)) * np.sqrt(lam)
        ev = np.linalg.eigvalsh(W.T @ W / k)
        for z in (0.1, 1.0):
            m_sample = np.mean(1 / (ev + z))
            assert abs(spec.transform(z, kappa)[0] / m_sample - 1) < 0.02


def test_kappa_inf_is_the_task_covariance_itself():
    spec = Spectrum([0.2, 1.0, 3.0], [0.5, 0.25, 0.25])
    z = np.array([0.01, 1.0, 100.0])
    m, F2 = spec.transform(z, np.inf)
    ref_m = sum(w / (l + z) for l, w in zip(spec.atoms, spec.atom_weights))
    ref_F2 = sum(w / (l + z) ** 2 for l, w in zip(spec.atoms, spec.atom_weights))
    assert rel(m, ref_m) < 1e-15 and rel(F2, ref_F2) < 1e-15


# --- 5. structure of the answer ----------------------------------------------------------------------

def test_only_the_diagonal_of_C_te_in_the_task_eigenbasis_enters_the_theory():
    rng = np.random.default_rng(2)
    d = 8
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    lam = power_law(0.7, d).values
    C_tr = Q @ np.diag(lam) @ Q.T
    B = rng.standard_normal((d, d))
    C_te = B @ B.T / d
    diag = np.diagonal(Q.T @ C_te @ Q)
    a = A.e_icl(0.6, 1.0, 0.9, 0.1, 0.01, task_cov=C_tr, test_cov=C_te)
    b = A.e_icl(0.6, 1.0, 0.9, 0.1, 0.01, task_cov=lam, test_cov=diag)
    assert abs(a / b - 1) < 1e-12  # eigh rounding of C_tr only


def test_e_align_is_linear_in_the_test_covariance_and_e_bias_sees_only_its_trace():
    lam = power_law(0.9, 30).values
    a1, a2 = lam[::-1], np.linspace(0.1, 2.0, 30)
    r1, r2, r12 = (A.solve(1.5, 1.0, 0.7, 0.1, 0.02, task_cov=lam, test_cov=a) for a in (a1, a2, a1 + a2))
    assert abs((r1.e_align + r2.e_align) / r12.e_align - 1) < 1e-13
    same_trace = A.solve(1.5, 1.0, 0.7, 0.1, 0.02, task_cov=lam, test_cov=np.full(30, a1.mean()))
    assert abs(same_trace.e_bias / r1.e_bias - 1) < 1e-13
    assert same_trace.alignment == pytest.approx(1.0, abs=1e-13)


def test_misalignment_costs_and_more_task_diversity_can_hurt():
    # The follow-up's headline: anti-aligned test tasks have larger ICL error; and for them, raising
    # kappa can raise e_ICL (pretraining learns the dominant task directions better, which the test
    # does not use). Both are facts of the formula checked above; recorded here so they stay true.
    tc = power_law(1.2, 200)
    kw = dict(task_cov=tc, alpha_test=None)
    al = A.e_icl(4.0, 2.0, 0.5, 0.1, **kw, test_cov=aligned(tc))
    an = A.e_icl(4.0, 2.0, 0.5, 0.1, **kw, test_cov=anti_aligned(tc))
    assert an > al
    r = A.solve(4.0, 2.0, 0.5, 0.1, **kw, test_cov=anti_aligned(tc))
    assert r.alignment > 1 > A.solve(4.0, 2.0, 0.5, 0.1, **kw, test_cov=aligned(tc)).alignment
    kappas = np.geomspace(0.05, 20, 60)
    e = A.e_icl(np.inf, 2.0, kappas, 0.1, task_cov=tc, test_cov=anti_aligned(tc))
    assert np.any(np.diff(e) > 0)


def test_ridgeless_limit_is_continuous_for_structured_tasks():
    lam = spiked(0.1, 6.0)
    for tau in (0.5, 2.0):
        e0 = A.e_icl(tau, 1.0, 0.8, 0.1, 0.0, task_cov=lam)
        e1 = A.e_icl(tau, 1.0, 0.8, 0.1, 1e-9, task_cov=lam)
        assert abs(e1 / e0 - 1) < 1e-6  # O(lam) correction


def test_vectorised_and_scalar_calls_agree():
    tc = power_law(0.9, 50)
    tau = np.geomspace(0.1, 10, 9)
    vec = A.e_icl(tau, 1.0, 0.7, 0.1, 0.01, task_cov=tc, test_cov=anti_aligned(tc), alpha_test=2.0)
    for t, v in zip(tau, vec):
        # equal up to the BLAS blocking of the atom sums (a few ulps), unlike the isotropic path's bitwise
        assert A.e_icl(t, 1.0, 0.7, 0.1, 0.01, task_cov=tc, test_cov=anti_aligned(tc), alpha_test=2.0) == \
            pytest.approx(v, rel=1e-14)


def test_peak_and_tau_inf_for_structured_tasks():
    tc = two_level(0.2, 5.0)
    assert A.e_icl(1.0, 1.0, 0.5, 0.1, task_cov=tc) == np.inf
    assert A.e_idg(1.0, 1.0, 0.5, 0.1, task_cov=tc) == np.inf
    far = A.e_icl(1e12, 1.0, 0.5, 0.1, 0.01, task_cov=tc, test_cov=aligned(tc))
    assert abs(A.e_icl(np.inf, 1.0, 0.5, 0.1, 0.01, task_cov=tc, test_cov=aligned(tc)) / far - 1) < 1e-9


# --- 6. bad input -----------------------------------------------------------------------------------

@pytest.mark.parametrize("arg,value,match", [
    ("task_cov", [[1.0, 2.0], [0.0, 1.0]], "task_cov must be symmetric"),
    ("task_cov", [[1.0, 2.0], [2.0, 1.0]], "task_cov must be positive semi-definite"),
    ("task_cov", [1.0, np.nan], "task_cov must be finite"),
    ("task_cov", [1.0, np.inf], "task_cov must be finite"),
    ("task_cov", [0.0, 0.0], "task_cov must not be all zero"),
    ("task_cov", [1.0, -0.5], "task_cov must be positive semi-definite"),
    ("task_cov", [], "task_cov must be a non-empty"),
    ("task_cov", "power", "task_cov must be real"),
    ("test_cov", [1.0, 2.0], "test_cov has 2 entries but task_cov has 3"),
    ("test_cov", [0.0, 0.0, 0.0], "test_cov must not be all zero"),
    ("test_cov", [[1.0, 0.5], [0.5, -1.0]], "test_cov must be positive semi-definite"),
    ("alpha_test", 0.0, "alpha_test must satisfy 1e-30 <= alpha_test <= 1e100"),
    ("alpha_test", -1.0, "alpha_test must satisfy"),
    ("alpha_test", np.inf, "alpha_test must satisfy"),
])
def test_bad_covariances_are_refused_naming_the_argument(arg, value, match):
    kw = {"task_cov": [1.0, 2.0, 3.0]}
    kw[arg] = value
    for f in (A.e_icl, A.solve):
        with pytest.raises(ValueError, match=match):
            f(2.0, 1.0, 1.0, 0.1, **kw)


# --- 7. the simulator's exact test error under C_te and l_test --------------------------------------

@pytest.mark.parametrize("rotated", [False, True])
def test_exact_structured_test_error_matches_brute_force_monte_carlo(rotated):
    rng = np.random.default_rng(5)
    d, l, l_te, rho = 6, 5, 9, 0.3
    Gamma = 0.3 * rng.standard_normal((d, d + 1)) + np.hstack([0.5 * np.eye(d), np.zeros((d, 1))])
    tasks = two_level(0.5, 3.0).sample(4, d, rng)
    C = np.diag(np.linspace(0.2, 2.5, d))
    if rotated:
        Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
        C = Q @ C @ Q.T
    icl, idg = test_errors(Gamma, tasks, l, rho, test_cov=C, l_test=l_te)
    mc = monte_carlo_errors(Gamma, tasks, l, rho, 200_000, rng, test_cov=C, l_test=l_te)
    # a derivation error shows as a gap of O(1/d) of the error (~10%); the MC standard error is ~0.3%
    assert abs(mc["icl"] - icl) < 4 * mc["icl_sem"]
    assert abs(mc["idg"] - idg) < 4 * mc["idg_sem"]


def test_simulator_refuses_mismatched_covariances():
    import simulate
    with pytest.raises(ValueError, match="task_cov is given at dimension 5"):
        simulate.run(8, 2.0, 1.0, 1.0, 0.1, task_cov=np.ones(5))
    with pytest.raises(ValueError, match="normalize_tasks"):
        simulate.run(8, 2.0, 1.0, 1.0, 0.1, task_cov=power_law(0.5), normalize_tasks=True)
    with pytest.raises(ValueError, match="alpha_test"):
        simulate.run(8, 2.0, 1.0, 1.0, 0.1, alpha_test=0.0)


def test_structured_simulation_is_reproducible_and_keyed_by_the_task_law():
    import simulate
    a = simulate.run(10, 2.0, 1.0, 1.0, 0.1, n_seeds=2, seed=3, task_cov=power_law(0.5))
    b = simulate.run(10, 2.0, 1.0, 1.0, 0.1, n_seeds=2, seed=3, task_cov=power_law(0.5))
    c = simulate.run(10, 2.0, 1.0, 1.0, 0.1, n_seeds=2, seed=3, task_cov=power_law(0.6))
    assert np.array_equal(a.icl, b.icl) and not np.array_equal(a.icl, c.icl)
    iso = simulate.run(10, 2.0, 1.0, 1.0, 0.1, n_seeds=2, seed=3)
    same = simulate.run(10, 2.0, 1.0, 1.0, 0.1, n_seeds=2, seed=3, task_cov=None, test_cov=None)
    assert np.array_equal(iso.icl, same.icl)  # the default streams did not move


def test_resolve_rank_pairing_is_exact_for_step_laws():
    t = resolve(two_level(0.25, 3.0), anti_aligned(two_level(0.25, 3.0)))
    # task atoms ascending (1 with weight .75, 3 with .25); anti: the test's 3s sit on task 1s
    assert np.allclose(t.test_weights[:, 0], [0.5 * 1 + 0.25 * 3, 0.25 * 1])
    assert t.test_trace == pytest.approx(1.5)
    assert two_level(0.25, 3.0).eigenvalues(8).tolist() == [3, 3, 1, 1, 1, 1, 1, 1]
    assert t.test_matrix(8).tolist() == [1, 1, 1, 1, 1, 1, 3, 3]  # test 3s on the task's 1s
    assert resolve(two_level(0.25, 3.0), aligned(two_level(0.25, 3.0))).test_matrix(8).tolist() == \
        [3, 3, 1, 1, 1, 1, 1, 1]
    assert resolve().spectrum is ISOTROPIC and not resolve().structured
    assert from_matrix(np.diag([3.0, 1.0])).values.tolist() == [3.0, 1.0]


def test_sympy_redoes_the_structured_algebra():
    from asymptotics.symbolic import prove_structured_identities

    for name, diff in prove_structured_identities().items():
        assert diff == 0, name
