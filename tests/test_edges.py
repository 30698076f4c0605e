"""Issue 19: one test per numbered item (the edges a second fuzz/fault campaign found).

Each test names its item and what the code did before. Items 5-9 (command line, cache, signals) are
at the end; the fuzz over masked arrays, buffers, builders and scans is in tests/test_fuzz.py.
"""
import os
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest

import asymptotics as A
import simulate
import simulate.core
from asymptotics import scans
from asymptotics import spectrum as S
from simulate import _sizes
from simulate import baselines as B

GOOD = dict(tau=2.0, alpha=2.0, kappa=1.0, rho=0.1, lam=0.0)


# ------------------------------------------------------------------ 1. masked arrays
def test_item1_masked_entries_are_refused_not_computed():
    # Before: e_icl(2, 2, 1, masked [0.1, -1.0 (masked)], 0.01) = [1.1137, -3.6987] (the masked,
    # out-of-range rho computed); masked tau = -1 gave ConvergenceError.
    rho = np.ma.masked_array([0.1, -1.0], mask=[False, True])
    for func in (A.e_icl, A.e_idg, A.solve):
        with pytest.raises(ValueError, match=r"^rho has masked entries \(1 of 2\)"):
            func(2, 2, 1, rho, 0.01)
    with pytest.raises(ValueError, match=r"^tau has masked entries"):
        A.e_icl(np.ma.masked_array([2.0, -1.0], mask=[False, True]), 2, 1, 0.1)
    with pytest.raises(ValueError, match=r"^task_cov has masked entries"):
        A.e_icl(2, 2, 1, 0.1, task_cov=np.ma.masked_array([1.0, -5.0], mask=[False, True]))
    # A masked array with nothing masked is its data (exact: the same float64 values).
    clean = np.ma.masked_array([0.1, 1.0], mask=[False, False])
    np.testing.assert_array_equal(A.e_icl(2, 2, 1, clean, 0.01), A.e_icl(2, 2, 1, [0.1, 1.0], 0.01))


# ------------------------------------------------------------------ 2. buffers, np.ma.masked
@pytest.mark.parametrize("make", [lambda: bytearray(b"2.0"), lambda: memoryview(b"2.0"),
                                  lambda: memoryview(bytearray(b"12"))], ids=["bytearray", "memoryview",
                                                                              "memoryview(bytearray)"])
def test_item2_bytes_like_objects_are_a_type_error(make):
    # Before: bytearray(b'2.0') was read as its byte codes: 3 values at tau = 50, 46, 48.
    with pytest.raises(TypeError, match=r"^tau must be a real number .* not (bytearray|memoryview)"):
        A.e_icl(make(), 2, 1, 0.1, 0)
    for cov in ("task_cov", "test_cov"):
        with pytest.raises(TypeError, match=rf"^{cov} must be a real number"):
            A.e_icl(2, 2, 1, 0.1, **{cov: make()})


@pytest.mark.parametrize("name", ["tau", "rho", "lam"])
def test_item2_numpy_masked_constant_is_refused(name):
    # Before: np.ma.masked as rho or lam was taken as 0; as tau a TypeError about bitwise_or.
    with pytest.raises(ValueError, match=rf"^{name} has masked entries"):
        A.e_icl(**{**GOOD, name: np.ma.masked})


# ------------------------------------------------------------------ 3. one type check everywhere
def test_item3_error_mesh_axes_go_through_the_type_check():
    # Before: string axes computed, a datetime64 axis read as days since 1970, a scalar axis an
    # IndexError.
    fixed = dict(kappa=1.0, rho=0.1, lam=0.0)
    with pytest.raises(TypeError, match=r"^tau must be a real number"):
        scans.error_mesh("tau", ["1", "2"], "alpha", [1.0], **fixed)
    with pytest.raises(TypeError, match=r"^alpha must be a real number"):
        scans.error_mesh("tau", [1.0], "alpha", np.array(["2020-01-01"], dtype="datetime64[D]"), **fixed)
    with pytest.raises(ValueError, match=r"^the tau axis must be a non-empty 1-D array"):
        scans.error_mesh("tau", [[1.0, 2.0]], "alpha", [1.0], **fixed)
    mesh = scans.error_mesh("tau", 2.0, "alpha", [1.0, 2.0], **fixed)  # a scalar is a one-point axis
    assert mesh["e_icl"].shape == (2, 1)
    np.testing.assert_array_equal(mesh["e_icl"][:, 0], A.e_icl(2.0, [1.0, 2.0], 1.0, 0.1))  # same call


@pytest.mark.parametrize("call,exc,needle", [
    (lambda: S.power_law("0.9"), TypeError, r"^power_law p must be a real number"),
    (lambda: S.power_law(True), TypeError, r"^power_law p must be a real number"),
    (lambda: S.power_law(Decimal("0.9")), TypeError, r"^power_law p must be a real number"),
    (lambda: S.power_law(0.9, 2.5), TypeError, r"^power_law n must be an integer"),
    (lambda: S.power_law(0.9, 10 ** 10), ValueError, r"^power_law n \(the number of eigenvalues\)"),
    (lambda: S.two_level("0.5", 4), TypeError, r"^two_level fraction must be a real number"),
    (lambda: S.two_level(0.5, 4, True), TypeError, r"^two_level low must be a real number"),
    (lambda: S.two_level(0.5, "4"), TypeError, r"^two_level high must be a real number"),
    (lambda: S.two_level(0.5, -4), ValueError, r"^two_level high \(an eigenvalue\) must satisfy"),
    (lambda: S.spiked(0.5, b"4"), TypeError, r"^spiked height must be a real number"),
    (lambda: S.spiked(1.5, 4), ValueError, r"^spiked fraction must satisfy 0 < fraction < 1"),
    (lambda: S.Spectrum([1.0, -1.0]), ValueError, r"^eigenvalues must be positive semi-definite"),
    (lambda: S.Spectrum([1.0, 2.0], [1.0]), ValueError, r"^weights must have one entry per eigenvalue"),
    (lambda: S.from_matrix("x"), TypeError, r"^C must be a real number"),
    (lambda: S.from_samples(["a"]), TypeError, r"^W must be a real number"),
])
def test_item3_builders_refuse_non_numbers_naming_their_own_parameter(call, exc, needle):
    # Before: power_law('0.9'), power_law(True), power_law(Decimal), two_level('0.5', 4),
    # two_level(0.5, 4, True) were accepted; two_level(0.5, '4') named task_cov.
    with pytest.raises(exc, match=needle):
        call()


def test_item3_exact_and_numpy_scalars_are_accepted_consistently():
    # Before: errors_along(..., Fraction(2)) was refused though e_icl accepts it;
    # solve(rtol=np.float32(1e-6)) was refused as out of range; simulate.run(d=np.array(10)) refused.
    along = scans.errors_along("tau", Fraction(2), alpha=2.0, kappa=1.0, rho=0.1, lam=0.0)
    assert float(along["icl"]) == A.e_icl(2.0, 2.0, 1.0, 0.1)  # Fraction(2) is exactly 2.0
    assert A.solve(**GOOD, rtol=np.float32(1e-6)).converged.all()
    assert S.power_law(Fraction(1, 2)).p == 0.5 and S.power_law(np.float32(0.5), np.int64(10)).n == 10
    with pytest.raises(TypeError, match=r"^rtol must be a real number"):
        A.solve(**GOOD, rtol="1e-6")
    ref = simulate.run(10, **GOOD)
    got = simulate.run(np.array(10), **GOOD)
    assert got.d == 10 and got.icl.tolist() == ref.icl.tolist()  # the same computation
    with pytest.raises(ValueError, match=r"^d must be an integer >= 2"):
        simulate.run(np.array(10.5), **GOOD)


def test_item3_options_dtype_none_is_refused():
    # Before: Options(dtype=None) silently became float64 (numpy reads None as the default dtype).
    with pytest.raises(ValueError, match=r"^dtype must be one of \('float64', 'float32'\); got None"):
        simulate.Options(dtype=None)


# ------------------------------------------------------------------ 10. memory guards
def test_item10_monte_carlo_baselines_refused_up_front_with_the_estimate():
    # Before: numpy's "Unable to allocate 59.6 GiB" from inside ridge_mc.
    with pytest.raises(ValueError, match=r"^ridge_mc at d = 2000 needs about .* GiB per replicate "
                                         r"\(l = 4000000 tokens.* available: use a smaller alpha or d"):
        B.ridge_mc(2000, 2000, 0.1, 2, 0)
    with pytest.raises(ValueError, match=r"^dmmse_mc at d = 2000 needs about .* GiB"):
        B.dmmse_mc(2000, 2000, 2.0, 0.1, 2, 0)
    assert np.isfinite(B.ridge_mc(20, 2.0, 0.1, 8, 0).mean)  # a small run is untouched


def test_item10_the_memory_guard_counts_parallel_workers(monkeypatch):
    # Before: plan(..., d=470, n_seeds=2) was accepted at 14 GiB a replicate with 22 GiB free: the
    # per-replicate check ignored that n_jobs workers hold one replicate each at once.
    l, k, n = simulate.sizes(30, 0.5, 2.0, 1.0)
    one = _sizes.resources(30, l, k, n, "dual")[0]
    monkeypatch.setattr(_sizes, "available_memory", lambda: 1.5 * one)  # one fits, two do not
    grid = dict(tau=0.5, alpha=2.0, kappa=1.0, rho=0.1)
    simulate.plan(grid, d=30, n_seeds=2)  # serial: fits
    with pytest.raises(ValueError, match=r"^d = 30 needs about .* per replicate x 2 parallel workers"):
        simulate.plan(grid, d=30, n_seeds=2, n_jobs=2)
    with pytest.raises(ValueError, match=r"x 2 parallel workers .*fewer parallel jobs"):
        simulate.sweep(grid, d=30, n_seeds=2, n_jobs=2,
                       progress=False)
    simulate.plan(grid, d=30, n_seeds=1, n_jobs=2)  # one task: one worker holds it


# ------------------------------------------------------------------ 11. the cause named
def test_item11_alpha_test_and_kappa_are_named_when_they_are_the_cause():
    # Before: run(..., alpha_test=1e-5) blamed alpha; run(8, 2, 2, 1e300, 0.1) said "use a smaller d".
    with pytest.raises(ValueError, match=r"^alpha_test\*d = 8e-05 rounds to l = 0 tokens; need alpha_test >="):
        simulate.run(8, 2.0, 2.0, 2.0, 0.1, alpha_test=1e-5)
    with pytest.raises(ValueError, match=r"pretraining tasks alone need .* use a smaller kappa, or kappa = inf"):
        simulate.run(8, 2, 2, 1e300, 0.1)
