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
    assert np.all(A.solve(**GOOD, rtol=np.float32(1e-6)).converged)  # a Python bool for scalar input
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


# ------------------------------------------------------------------ command line (items 5-7)
from icl_asymptotics import cli  # noqa: E402


def _refused(capsys, argv, needle):
    """Exit 2 with one line naming the problem (the policy of docs/cli.md)."""
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and needle in err, err
    return err


def _no_work(monkeypatch):
    """Make any theory evaluation or simulation fail the test: a refusal must come before work."""
    def forbidden(*a, **k):
        raise AssertionError("work started before the arguments were checked")
    for mod, name in ((simulate.core, "_replicate"), (A, "e_icl"), (A, "e_idg"), (A, "solve")):
        monkeypatch.setattr(mod, name, forbidden)
    import icl_asymptotics.figures as F
    for name in ("curve_figure", "phase_figure", "reproduce", "simulate_summary"):
        monkeypatch.setattr(F, name, forbidden)
    monkeypatch.setattr(simulate, "validate", forbidden)


@pytest.mark.parametrize("n", ["inf", "1e400", "2.5", "1e10", "-3", "x"])
def test_item5_power_law_size_must_be_an_integer(capsys, monkeypatch, n):
    # Before: inf / 1e400 an OverflowError traceback (exit 1), 2.5 silently N = 2, 1e10 a memory
    # traceback while parsing.
    _no_work(monkeypatch)
    _refused(capsys, ["theory", "--task-cov", f"power:0.9:{n}"], "N (the number of eigenvalues) must be an integer")
    _refused(capsys, ["theory", "--task-cov", f"power:0.9:{10 ** 10}"], "power_law n (the number of eigenvalues)")


@pytest.mark.parametrize("values", [np.array(["1", "2"]), np.array([1 + 1j, 2.0]), np.array([True, False]),
                                    np.array(["2020-01-01"], dtype="datetime64[D]")],
                         ids=["strings", "complex", "bools", "datetimes"])
def test_item5_npy_of_non_numbers_is_a_usage_error(tmp_path, capsys, monkeypatch, values):
    # Before: a TypeError traceback (exit 1).
    _no_work(monkeypatch)
    path = tmp_path / "cov.npy"
    np.save(path, values)
    for flag in ("--task-cov", "--test-cov"):
        _refused(capsys, ["theory", flag, str(path)], "a covariance file holds real numbers")


def test_item6_sizes_are_refused_up_front_with_the_estimate(capsys, monkeypatch):
    # Before: theory --tau log:0.1:10:100000000 allocated until MemoryError; --dpi 9000 tried 7.8 GB.
    _no_work(monkeypatch)
    _refused(capsys, ["theory", "--tau", "log:0.1:10:100000000"], "at most 1e+07")
    err = _refused(capsys, ["theory", "--tau", "log:0.1:10:100000", "--alpha", "log:0.1:10:100000"],
                   "the parameter grid has 1e+10 points, which need about")
    assert "GiB" in err and "available" in err
    err = _refused(capsys, ["curve", "--tau", "log:0.5:2:3", "-o", "x.png", "--dpi", "9000"],
                   "dpi must be an integer in [1, 2400]")
    assert "75600 x 41400 pixels" in err  # 8.4 x 4.6 inches at 9000 dpi
    _refused(capsys, ["phase", "--tau", "log:0.5:2:100000", "--kappa", "log:0.5:2:100000", "-o", "x.png"],
             "the phase mesh has 1e+10 points")


def test_item7_arguments_checked_before_any_work(tmp_path, capsys, monkeypatch):
    # Before: validate --max-z nan / -1 ran everything and exited 1; reproduce --only "" started the
    # full reproduction; curve --sim-x inf said "sim-x must satisfy None"; phase --cache FILE
    # --extrapolate printed progress before the error; simulate / validate -o MISSING/x and
    # latex all -o MISSING/x.tex computed first and refused after.
    _no_work(monkeypatch)
    for z in ("nan", "-1", "inf"):
        _refused(capsys, ["validate", "--max-z", z], "max-z must satisfy 0 <= max-z < inf")
    _refused(capsys, ["reproduce", str(tmp_path / "out"), "--only", ""], "--only takes a comma list")
    _refused(capsys, ["reproduce", str(tmp_path / "out"), "--only", "a,e"], "--only takes a comma list")
    err = _refused(capsys, ["curve", "--tau", "log:0.5:2:3", "-o", "x.png", "--simulate", "--sim-x", "inf"],
                   "sim-x must satisfy sim-x < inf; got inf")
    assert "None" not in err
    cache_file = tmp_path / "cache"
    cache_file.write_text("")
    _refused(capsys, ["phase", "--tau", "log:0.5:2:3", "--kappa", "log:0.5:2:3", "-o", str(tmp_path / "p.png"),
                      "--cache", str(cache_file), "--extrapolate", "10,20"], "the cache must be a directory")
    missing = tmp_path / "MISSING"
    for argv in (["simulate", "--d", "4", "-o", str(missing / "x")], ["validate", "-o", str(missing / "x")],
                 ["theory", "-o", str(missing / "x")], ["latex", "all", "-o", str(missing / "x.tex")],
                 ["curve", "--tau", "log:0.5:2:3", "-o", str(missing / "x.png")]):
        _refused(capsys, argv, "output directory does not exist")
    _refused(capsys, ["theory", "-o", str(tmp_path / ("a" * 252 + ".csv"))], "file system allows at most")
    assert not missing.exists() and not (tmp_path / "out").exists()


@pytest.mark.parametrize("length", [242, 250, 255])
def test_item7_output_names_up_to_name_max_are_written_atomically(tmp_path, length):
    # Before: names of 242-255 characters failed: the temporary name (.NAME.XXXXXXXX.tmp.csv) was
    # longer than NAME_MAX (255).
    from simulate.io import atomic_path

    path = tmp_path / ("a" * (length - 4) + ".csv")
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        assert len(os.path.basename(tmp)) <= 255 and os.path.dirname(tmp) == str(tmp_path)  # same folder
        f.write("x")
    assert path.read_text() == "x" and os.listdir(tmp_path) == [path.name]  # no temporary left
    assert cli.main(["theory", "--tau", "2", "--format", "csv", "-o", str(path)]) == 0
    assert path.read_text().startswith("tau,alpha")


# ------------------------------------------------------------------ 8. cache entries prove themselves
def _cache_files(folder):
    return sorted(p for p in folder.iterdir() if p.suffix == ".json")


def _tamper(path, edit):
    payload = __import__("json").loads(path.read_text())
    edit(payload)
    path.write_text(__import__("json").dumps(payload))


def _summary(res):
    return [(r["icl_mean"], r["n_ok"], r["n_failed"]) for r in res.summary()]


@pytest.mark.parametrize("case", ["icl edited", "icl NaN", "result empty", "result garbage",
                                  "key edited", "truncated"])
def test_item8_a_wrong_cache_entry_is_recomputed_with_a_warning(tmp_path, case):
    # Before: icl edited to 123.456 gave icl_mean 62.39 instead of 1.80 (exit 0); icl = NaN a NaN
    # mean with n_ok = 2; result = {} NaN means with n_failed = 0; result = "garbage" an
    # AttributeError traceback.
    import json

    grid = dict(tau=2.0, alpha=2.0, kappa=1.0, rho=0.1)
    ref = simulate.sweep(grid, d=6, n_seeds=2, cache_dir=tmp_path, progress=False)
    victim = _cache_files(tmp_path)[0]
    edits = {
        "icl edited": lambda p: p["content"].update(icl=123.456),
        "icl NaN": lambda p: p["content"].update(icl=float("nan")),
        "result empty": lambda p: p.update(content={}),
        "result garbage": lambda p: p.update(content="garbage"),
        "key edited": lambda p: p["key"].update(seed=5),
    }
    if case == "truncated":
        victim.write_text(victim.read_text()[:40])
    else:
        _tamper(victim, edits[case])
    with pytest.warns(simulate.io.CacheWarning, match=rf"cache entry {victim}"):
        again = simulate.sweep(grid, d=6, n_seeds=2, cache_dir=tmp_path, progress=False)
    assert _summary(again) == _summary(ref)  # the same replicates, recomputed bit for bit
    assert again.metadata["n_computed"] == 1
    assert json.loads(victim.read_text())["content"]["icl"] == json.loads(
        _cache_files(tmp_path)[0].read_text())["content"]["icl"]  # rewritten


def test_item8_a_fifo_in_place_of_an_entry_does_not_hang(tmp_path):
    # Before: a FIFO in place of an entry hung the run (open for reading blocks without a writer).
    grid = dict(tau=2.0, alpha=2.0, kappa=1.0, rho=0.1)
    ref = simulate.sweep(grid, d=6, n_seeds=1, cache_dir=tmp_path, progress=False)
    victim = _cache_files(tmp_path)[0]
    victim.unlink()
    os.mkfifo(victim)
    with pytest.warns(simulate.io.CacheWarning, match="is not a regular file; skipped"):
        again = simulate.sweep(grid, d=6, n_seeds=1, cache_dir=tmp_path, progress=False)
    assert _summary(again) == _summary(ref)
    assert victim.is_fifo()  # left alone: nothing written into it either


def test_item8_a_runner_nan_is_a_failure_not_a_number(tmp_path):
    def nan_runner(d, tau, alpha, kappa, rho, lam=0.0, *, seed, replicate):
        return {"icl": float("nan") if replicate == 0 else 1.0, "idg": 1.0}

    res = simulate.sweep(dict(tau=2.0, alpha=2.0, kappa=1.0, rho=0.1), d=6, n_seeds=2, runner=nan_runner,
                         cache_dir=tmp_path, progress=False)
    assert res.metadata["n_failed"] == 1 and "icl must be a finite number" in res.errors[0]["error"]
    assert len(_cache_files(tmp_path)) == 1  # the failure is not cached


@pytest.mark.parametrize("damage", ["tampered", "truncated"])
def test_item8_latex_cache_entries_prove_themselves(tmp_path, monkeypatch, capsys, damage):
    # Before: a tampered entry was printed as is; a truncated one made `latex m` say "unknown formula".
    import json

    from asymptotics import symbolic

    monkeypatch.setattr(symbolic, "latex_formulas",
                        lambda: {n: f"\\text{{{n}}}" for n in symbolic.FORMULA_NAMES})
    monkeypatch.setenv("ICL_ASYMPTOTICS_CACHE_DIR", str(tmp_path))
    name = symbolic.FORMULA_NAMES[-1]
    assert cli.main(["latex", name]) == 0
    first = capsys.readouterr().out
    (path,) = tmp_path.glob("latex-*.json")
    payload = json.loads(path.read_text())
    if damage == "tampered":
        payload["content"][name] = "\\text{wrong}"
    else:
        payload["content"] = {k: v for k, v in payload["content"].items() if k != name}
    path.write_text(json.dumps(payload))
    with pytest.warns(simulate.io.CacheWarning, match=rf"cache entry {path} does not match its digest"):
        assert cli.main(["latex", name]) == 0
    assert capsys.readouterr().out == first


# ------------------------------------------------------------------ 12. validate with power laws
@pytest.mark.parametrize("p", [1.0, 1.2])
def test_item12_validate_refuses_power_laws_without_a_limit(capsys, monkeypatch, p):
    # Before: validate with power_law(p >= 1) reported z ~ -3: the simulated law at d (d atoms) has
    # no d -> inf limit, while the theory used 1000 atoms.
    monkeypatch.setattr(simulate.core, "_replicate", lambda *a, **k: pytest.fail("simulated"))
    for kw in ({"task_cov": S.power_law(p)}, {"test_cov": S.aligned(S.power_law(p))}):
        with pytest.raises(ValueError, match=r"p >= 1 has no d -> inf limit"):
            simulate.validate(**GOOD, d=(10, 12), n_seeds=2, **kw)
    _refused(capsys, ["validate", "--task-cov", f"power:{p}", "--d", "10,12", "--seeds", "2"],
             "has no d -> inf limit")


# ------------------------------------------------------------------ 9. signals
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _program(script: str, **popen):
    """``script`` in a fresh interpreter with this checkout first on the path (the program as run)."""
    env = {**os.environ, "PYTHONPATH": ROOT, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **popen)


def _sigint_state(d, tau, *, seed, replicate):
    """A sweep runner reporting whether SIGINT is ignored in the process that runs it."""
    with open(f"/proc/{os.getpid()}/status") as f:
        ignored = next(int(line.split()[1], 16) for line in f if line.startswith("SigIgn"))
    return {"icl": 1.0, "idg": 1.0, "worker": os.getpid(), "ignores_sigint": bool(ignored >> (signal.SIGINT - 1) & 1)}


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads /proc")
def test_item9_parallel_workers_never_take_ctrl_c():
    # Before: Ctrl-C while the workers started printed their KeyboardInterrupt tracebacks (3 of 8
    # tries). Now they are started with SIGINT held and ignore it: only the sweeping process stops.
    res = simulate.sweep({"tau": [1.0, 2.0, 3.0, 4.0]}, d=4, runner=_sigint_state, n_jobs=2, progress=False)
    assert res.metadata["n_failed"] == 0
    assert all(r["worker"] != os.getpid() and r["ignores_sigint"] for r in res.records)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # this process: unchanged
    assert signal.pthread_sigmask(signal.SIG_BLOCK, set()) == set()  # nothing left blocked here


def test_item9_ctrl_c_during_shutdown_is_status_130():
    # Before: a Ctrl-C while the interpreter shut down gave "Exception ignored in atexit" and exit 0.
    # An atexit hook registered before the CLI's own runs last: it interrupts the shutdown.
    p = _program("import atexit, os, signal, sys\n"
                 "atexit.register(lambda: os.kill(os.getpid(), signal.SIGINT))\n"
                 "from icl_asymptotics import cli\n"
                 "sys.argv = ['icl-asymptotics', 'theory', '--tau', '2']\n"
                 "sys.exit(cli.main())\n")
    out, err = p.communicate(timeout=300)
    assert p.returncode == 130, err
    assert "Exception ignored" not in err and "Traceback" not in err
    assert out.startswith("tau") or "tau" in out.splitlines()[0]  # the table was written first


def test_item9_sigterm_is_status_143_after_clean_up(tmp_path):
    # Before: SIGTERM ended the run with -15 and a "leaked semlock objects" warning from loky. Sent
    # as soon as the progress bar shows, i.e. while the two workers start.
    out_file = tmp_path / "sim.csv"
    p = _program("import sys\nfrom icl_asymptotics import cli\n"
                 f"sys.argv = ['icl-asymptotics', 'simulate', '--d', '30', '--seeds', '40', '--jobs', '2', "
                 f"'--tau', '0.5,1.5', '-o', {str(out_file)!r}]\n"
                 "sys.exit(cli.main())\n", start_new_session=True)
    first = p.stderr.read(1)  # the progress bar's first character: the sweep has begun
    assert first, "no progress output"
    os.kill(p.pid, signal.SIGTERM)
    try:
        _, err = p.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        raise
    assert p.returncode == 143, err
    assert "terminated" in err.splitlines()[-1]
    assert "leaked" not in err and "Traceback" not in err
    assert not out_file.exists() and os.listdir(tmp_path) == []  # no partial or temporary file


def test_item9_exit_code_table_has_sigterm():
    text = open(os.path.join(ROOT, "docs", "cli.md")).read().split("## Exit status")[1]
    rows = {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| ")}
    assert "143" in rows and "SIGTERM" in rows["143"] and cli.EXIT_TERMINATED == 143


# ------------------------------------------------------------------ 4. accuracy against highprec
from asymptotics import highprec as HP  # noqa: E402
from asymptotics import params as P  # noqa: E402

EPS = np.finfo(float).eps
# Both float64 errors are sums of positive terms (no cancellation) over ~30 roundings of <= 1/2 ulp
# each, one root of a well-conditioned equation and one division: 64 eps covers that with a
# factor 2 to spare (measured at most 3 eps over 900 random points).
RTOL_HP = 64 * EPS


def _random_point(rng, table):
    pt = []
    for n in P.PARAMS:
        r = table[n]
        if n in ("rho", "lam") and rng.random() < 0.2:
            pt.append(0.0)
            continue
        if r.inf_ok and rng.random() < 0.1:
            pt.append(np.inf)
            continue
        lo = r.low if r.low > 0 else 1e-300
        hi = r.high if r.high < np.inf else 1e300
        if n == "kappa" and table is P.RANGES:
            hi = 1.0 / lo  # as many decades above 1 as below
        pt.append(float(10 ** rng.uniform(np.log10(lo), np.log10(hi))))
    return pt


def test_item4_quoted_points_accurate_or_refused():
    # Before: e_idg(1.73e-23, 8.56e35, 1.07e-262, 0, 1.13e47) was off by 1.4e-4 (tau * numer
    # underflowed to a subnormal), and e_idg(1.149e65, 1.13e39, 5.62e-214, 9.02e-299, 4.47e99)
    # returned 4.97e-253 for 6.32e-228 (P2 ~ kappa^2 underflowed): kappa below 1e-150 is now outside
    # the float64 range, and the first point is computed without the subnormal.
    pt = (1.73e-23, 8.56e35, 1e-150, 0.0, 1.13e47)
    want = float(HP.solve_hp(*pt, dps=20).e_idg)
    assert float(A.e_idg(*pt)) == pytest.approx(want, rel=RTOL_HP, abs=0)
    for kappa in (1.07e-262, 5.62e-214):
        with pytest.raises(ValueError, match=r"^kappa must satisfy 1e-150 <= kappa <= inf"):
            A.e_idg(1.149e65, 1.13e39, kappa, 9.02e-299, 4.47e99)
    # The mpmath path keeps the whole domain: there it gives the number the float64 path lost.
    hp = HP.solve_hp(1.149e65, 1.130e39, 5.62e-214, 9.02e-299, 4.47e99, dps=20)
    assert float(hp.e_idg) == pytest.approx(6.3108473796e-228, rel=1e-10)  # the value quoted in issue 19


def test_item4_fuzz_float64_against_highprec_over_the_range():
    # Random points of the whole float64 range (RANGES), every parameter log-uniform, with 0 and inf.
    rng = np.random.default_rng(19)
    worst = 0.0
    for _ in range(40):
        pt = _random_point(rng, P.RANGES)
        hp = HP.solve_hp(*pt, dps=20)
        r = A.solve(*pt)
        for name in ("e_icl", "e_idg"):
            got, want = float(getattr(r, name)), float(getattr(hp, name))
            err = abs(got - want) / want
            worst = max(worst, err)
            assert err <= RTOL_HP, (name, pt, got, want)
    assert worst > 0  # the comparison is not vacuous (both paths round differently somewhere)


@pytest.mark.parametrize("pt", [
    (1e-300, 2.0, 1.0, 0.1, 0.0), (1e-300, 1.0, 1.0, 0.1, 1.0), (1e-300, 1e-300, 1e-300, 0.0, 1e-300),
    (2.0, 2.0, 1.0, 0.1, 1e-300), (1.1202533975465507e-24, 7.820825941252728e-22, np.inf, 1.578e-110, 7.527e-194),
    (6.152668832387719e-28, 1.1638651193734878e-25, 9.088e43, 1.225e-11, 5.221e95),
    (4.3417946005089884e36, 3.955348460306881e22, 5.176e-101, 0.0, 3.619e-203),
    (1.73e-23, 8.56e35, 1.07e-262, 0.0, 1.13e47), (0.99999999, 0.1, 2.0, 100.0, 1e-20),
])
def test_item4_highprec_converges_across_its_domain(pt):
    # Before: "root did not converge" at tau = 1e-300 and at 5 of 200 random valid points (Newton
    # on g crept over hundreds of decades; 1 - nu m cancelled to 1e-300).
    r = HP.solve_hp(*pt, dps=20)
    assert r.converged and r.residual <= 1e-18  # dps = 20 verified digits
    assert 0 < r.e_idg < np.inf and 0 < r.e_icl < np.inf


def test_item4_highprec_converges_at_random_points_of_the_domain():
    # DOMAIN: every parameter log-uniform over 1e-300 .. 1e300 (0 and inf included). Measured: 0 of
    # 200 such points fail (before: 5 of 200 valid points and tau = 1e-300 raised).
    rng = np.random.default_rng(1919)
    for _ in range(12):
        pt = _random_point(rng, P.DOMAIN)
        r = HP.solve_hp(*pt, dps=15)
        assert r.converged, pt
