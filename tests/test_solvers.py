"""Ridge solvers against an independent dense reference on the explicit feature matrix."""
import numpy as np
import pytest

from simulate.sampler import pretraining_tasks, sample_contexts
from asymptotics import ConvergenceError
from simulate import fit as solve
from simulate.solvers import resolve_solver

D_SMALL = 6  # D = 42 parameters


def _data(n, d=D_SMALL, seed=0):
    rng = np.random.default_rng(seed)
    _, per = pretraining_tasks(d, 3, n, rng)
    c = sample_contexts(per, d, 0.25, rng)
    phi = (c.x_query[:, :, None] * c.h[:, None, :]).reshape(n, -1)
    return c.x_query, c.h, c.y_query, phi


def _reference(phi, y, lam, d):
    """numpy's own least squares / normal equations on the explicit n x D features."""
    n = len(y)
    if lam == 0:
        sol = np.linalg.lstsq(phi, y, rcond=None)[0]  # minimum-norm least squares
    else:
        sol = np.linalg.solve(phi.T @ phi + n / d * lam * np.eye(phi.shape[1]), phi.T @ y)
    return sol.reshape(d, d + 1)


@pytest.mark.parametrize("n", [20, 30, 60, 200])  # both sides of D = 42
@pytest.mark.parametrize("lam", [0.0, 0.1])
@pytest.mark.parametrize("solver", ["dual", "cg", "direct", "auto"])
def test_solvers_match_reference(n, lam, solver):
    X, H, y, phi = _data(n)
    d = X.shape[1]
    if solver == "cg" and lam == 0 and n <= d * (d + 1):
        with pytest.raises(ValueError, match="needs n > D"):
            solve(X, H, y, lam, solver=solver)
        return
    ref = _reference(phi, y, lam, d)
    sol = solve(X, H, y, lam, solver=solver)
    assert sol.converged and sol.gamma.shape == (d, d + 1)
    sv = np.linalg.svd(phi, compute_uv=False)
    sv = sv[sv > 1e-10 * sv[0]]
    cond_normal = (sv[0] ** 2 + n / d * lam) / (sv[-1] ** 2 + n / d * lam)
    if sol.solver == "cg":
        # relative solution error <= cond(normal equations) * relative residual
        tol = cond_normal * 1e-10
    else:
        # backward-stable factorisation of a system with condition <= cond_normal: rounding only
        tol = 1e3 * cond_normal * np.finfo(float).eps
    err = np.linalg.norm(sol.gamma - ref) / np.linalg.norm(ref)
    assert err <= tol, (sol, err, tol)


@pytest.mark.parametrize("n", [25, 150])  # below and above the interpolation threshold D = 42
def test_ridgeless_limit(n):
    # ridge solution -> minimum-norm solution linearly in lam (first-order perturbation)
    X, H, y, phi = _data(n, seed=3)
    g0 = solve(X, H, y, 0.0).gamma
    errs = [np.linalg.norm(solve(X, H, y, lam).gamma - g0) / np.linalg.norm(g0) for lam in (1e-4, 1e-6)]
    assert errs[1] < 1e-3
    assert 30 < errs[0] / errs[1] < 300  # O(lam) convergence: ratio 100 up to O(lam) corrections


def test_min_norm_lies_in_feature_span():
    # below threshold the ridgeless solution has no component orthogonal to the features
    X, H, y, phi = _data(25, seed=4)
    g = solve(X, H, y, 0.0).gamma.ravel()
    proj = phi.T @ np.linalg.lstsq(phi.T, g, rcond=None)[0]
    np.testing.assert_allclose(proj, g, atol=1e-10 * np.linalg.norm(g))  # cond(phi) < 100; rounding
    np.testing.assert_allclose(phi @ g, y, atol=1e-10 * np.linalg.norm(y))  # interpolates


def test_cg_reports_and_raises():
    X, H, y, _ = _data(300, seed=5)
    sol = solve(X, H, y, 0.0, solver="cg", cg_rtol=1e-12)
    assert sol.method == "pcg" and sol.iterations > 1 and sol.residual <= 1e-12
    with pytest.raises(ConvergenceError, match="did not converge"):
        solve(X, H, y, 0.0, solver="cg", cg_maxiter=2, cg_rtol=1e-12)


def test_float32_solve():
    X, H, y, phi = _data(300, seed=6)
    n, d = X.shape
    g64 = solve(X, H, y, 0.01).gamma
    sv = np.linalg.svd(phi, compute_uv=False)
    cond = (sv[0] ** 2 + n / d * 0.01) / (sv[-1] ** 2 + n / d * 0.01)
    tols = {"cg": cond * 1e-4,  # cond x default float32 cg_rtol
            "dual": 1e3 * cond * np.finfo(np.float32).eps}  # backward-stable float32 factorisation
    for s, tol in tols.items():
        g32 = solve(X, H, y, 0.01, solver=s, dtype=np.float32).gamma
        assert g32.dtype == np.float64
        assert np.linalg.norm(g32 - g64) / np.linalg.norm(g64) < tol


def test_bad_solver_inputs():
    X, H, y, _ = _data(50)
    with pytest.raises(ValueError, match="solver must be one of"):
        solve(X, H, y, solver="lu")
    with pytest.raises(ValueError, match="lam must satisfy 0 <= lam <= 1e100"):
        solve(X, H, y, -1.0)
    with pytest.raises(ValueError, match="dtype"):
        solve(X, H, y, dtype=np.float16)
    with pytest.raises(ValueError, match="small-d reference"):
        resolve_solver("direct", 10, 200)
    assert resolve_solver("auto", 42, 6) == "dual" and resolve_solver("auto", 43, 6) == "cg"


def test_large_factorisations_run_single_threaded():
    # Guard against the OpenBLAS threaded-Cholesky segfault at n >~ 16000 (see solvers.py): inside
    # the guard every BLAS pool reports one thread; small systems are left alone.
    from threadpoolctl import threadpool_info, threadpool_limits

    from simulate.solvers import SINGLE_THREAD_FACTOR_N, _factor_guard

    def blas_threads():
        return {p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"}

    with threadpool_limits(limits=2, user_api="blas"):  # the test session itself runs 1 thread
        assert blas_threads() == {2}
        with _factor_guard(SINGLE_THREAD_FACTOR_N):
            assert blas_threads() == {1}
        with _factor_guard(SINGLE_THREAD_FACTOR_N - 1):
            assert blas_threads() == {2}  # small systems keep the caller's threads


@pytest.mark.slow
def test_dual_solve_beyond_the_openblas_threaded_cholesky_crash():
    # n = 16393 > 16000 contexts through the dual Cholesky path: crashed the process (SIGSEGV)
    # with 2 BLAS threads before the guard; ~45 s single-threaded.
    import simulate

    r = simulate.run(d=130, tau=0.97, alpha=1.0, kappa=2.0, rho=0.25)
    assert r.n == 16393 and r.solver == "dual" and np.isfinite(r.icl).all()


@pytest.mark.parametrize("n", [20, 42, 43, 100])  # below, at and above D = 42
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("solver", ["dual", "direct"])
def test_factorisations_report_the_backward_error_they_measured(n, dtype, solver):
    X, H, y, _ = _data(n)
    sol = solve(X, H, y, 0.0, solver=solver, dtype=dtype)
    # backward stable: measured <= 0.4 eps on these systems; 10 eps is the bound asserted
    assert sol.converged and 0 <= sol.residual <= 10 * np.finfo(dtype).eps


def test_a_solve_that_went_wrong_is_refused_with_its_residual(monkeypatch):
    import simulate.solvers as S

    X, H, y, _ = _data(20)
    good = S._pinv_solve

    def broken(M, r):  # fault injection: a factorisation returning a perturbed solution
        x, method, rank, kept = good(M, r)
        return x * (1 + 1e-6), method, rank, kept

    monkeypatch.setattr(S, "_pinv_solve", broken)
    sol = S.solve_dual(*(np.asarray(a) for a in (X, H, y)), 0.0)
    # a relative error of 1e-6 in the solution is a backward error far above BACKWARD_TOL eps
    assert not sol.converged and sol.residual > S.BACKWARD_TOL * np.finfo(float).eps
    with pytest.raises(ConvergenceError, match=r"solver 'dual' \(cholesky\) did not converge: measured residual"):
        solve(X, H, y, 0.0, solver="dual")
