"""run / run_replicate: reproducibility, options, result object."""
import numpy as np
import pytest

import simulate
from simulate import Options, run_replicate

POINT = dict(d=12, tau=1.5, alpha=1.0, kappa=0.5, rho=0.25)


def test_run_is_its_replicates():
    res = simulate.run(**POINT, n_seeds=3, seed=5)
    for r in range(3):
        rec = run_replicate(**POINT, lam=0.0, seed=5, replicate=r)
        assert rec["icl"] == res.icl[r] and rec["idg"] == res.idg[r]  # same stream: identical bits
    again = simulate.run(**POINT, n_seeds=3, seed=5)
    np.testing.assert_array_equal(again.icl, res.icl)
    assert len(set(res.icl)) == 3  # replicates differ
    assert simulate.run(**POINT, seed=6).icl[0] != res.icl[0]
    assert (res.l, res.k, res.n, res.solver) == (12, 6, 216, "cg")
    assert set(res.timings) == {"sample", "solve", "errors"}


def test_result_helpers_and_repr():
    res = simulate.run(**POINT, n_seeds=4)
    m, s = res.mean(), res.sem()
    assert m.icl == pytest.approx(np.mean(res.icl), rel=1e-15)  # rounding only
    assert s.idg == pytest.approx(np.std(res.idg, ddof=1) / 2, rel=1e-15)  # rounding only
    text = repr(res)
    assert "d=12" in text and "n=216" in text and "+-" in text
    with pytest.raises(ValueError, match="n_seeds >= 2"):
        simulate.run(**POINT).sem()


def test_solvers_agree_through_run():
    # same seed -> same data; every solver must give the same errors
    base = run_replicate(**POINT, seed=1, replicate=0, solver="direct")
    for solver in ("cg", "auto"):
        rec = run_replicate(**POINT, seed=1, replicate=0, solver=solver)
        # cg rtol 1e-10 times cond of the normal equations (1.2e3 for this data, n/D = 1.4) ~ 1e-7
        assert rec["icl"] == pytest.approx(base["icl"], rel=1e-6)
        assert rec["idg"] == pytest.approx(base["idg"], rel=1e-6)
    low = dict(POINT, tau=0.5)
    base = run_replicate(**low, lam=0.0, seed=1, replicate=0, solver="direct")
    rec = run_replicate(**low, lam=0.0, seed=1, replicate=0)
    assert rec["solver"] == "dual"
    assert rec["icl"] == pytest.approx(base["icl"], rel=1e-9)  # factorisations; cond 170 here


def test_float32_and_normalized_tasks():
    r64 = run_replicate(**POINT, lam=0.1, seed=2, replicate=0)
    r32 = run_replicate(**POINT, lam=0.1, seed=2, replicate=0, dtype=np.float32)
    # float32 cg (rtol 1e-4, cond 125): measured deviation 9e-5 here; 1e-3 leaves a 10x margin
    assert r32["icl"] == pytest.approx(r64["icl"], rel=1e-3)
    rn = run_replicate(**POINT, seed=2, replicate=0, normalize_tasks=True)
    assert np.isfinite(rn["icl"]) and rn["icl"] != run_replicate(**POINT, seed=2, replicate=0)["icl"]


def test_kappa_inf_record():
    rec = run_replicate(8, 2.0, 1.0, np.inf, 0.1, seed=0, replicate=0)
    assert rec["k"] is None and rec["n"] == 128 and rec["solver"] == "cg"
    assert rec["solver_iterations"] > 0 and rec["solver_residual"] <= 1e-10


@pytest.mark.parametrize("kwargs, match", [
    (dict(d=1), "d must be an integer >= 2"),
    (dict(alpha=0.01), "rounds to l = 0 tokens"),
    (dict(kappa=0.01), "rounds to k = 0 tasks"),
    (dict(rho=-1.0), "rho must satisfy 0 <= rho <= 1e30"),
    (dict(lam=-0.5), "lam must satisfy 0 <= lam <= 1e100"),
    (dict(solver="lu"), "solver must be one of"),
    (dict(tau=0.5, solver="cg"), "needs n > D"),
    (dict(n_seeds=0), "n_seeds must be an integer >= 1"),
    (dict(seed=-1), "seed must be an integer >= 0"),
    (dict(dtype=np.int32), "dtype must be one of"),
    (dict(dtype="bogus"), "dtype must be one of"),
    (dict(cg_rtol=0.0), "cg_rtol must be a number with 0 < cg_rtol < 1"),
    (dict(solver="dual", cg_rtol=0.5), "cg_rtol applies only to solver 'cg' or 'auto'"),
    (dict(solver="direct", cg_maxiter=5), "cg_maxiter applies only to solver 'cg' or 'auto'"),
    (dict(normalize_tasks=1), "normalize_tasks must be True or False"),
    (dict(common_random_numbers="yes"), "common_random_numbers must be True or False"),
])
def test_bad_input_refused(kwargs, match):
    args = dict(POINT, **kwargs)
    with pytest.raises(ValueError, match=match):
        simulate.run(**args)


def test_unknown_option_refused():
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['precision'\]"):
        run_replicate(**POINT, seed=0, replicate=0, precision=32)


def test_options_object_is_validated_once_and_frozen():
    opts = Options(solver="cg", dtype=np.float32, cg_rtol=1e-5)
    assert opts.dtype == "float32" and opts.cg == (1e-5, 2000)
    assert Options().cg == (1e-10, 2000) and Options(dtype="float32").cg == (1e-4, 2000)
    with pytest.raises(Exception):  # dataclasses.FrozenInstanceError
        opts.solver = "dual"
    with pytest.raises(ValueError, match="cg_rtol applies only"):
        opts.replace(solver="dual")
    res = simulate.run(**POINT, options=opts)
    assert res.options is opts and res.records[0]["solver_method"] == "pcg"
    # keywords and the object are the same run
    same = simulate.run(**POINT, solver="cg", dtype="float32", cg_rtol=1e-5)
    assert same.icl[0] == res.icl[0] and same.options == opts
    with pytest.raises(ValueError, match="options must be a simulate.Options"):
        simulate.run(**POINT, options={"solver": "cg"})
