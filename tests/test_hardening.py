"""Issue 9: one test per class of defect found by the fuzz and fault campaign.

Inputs coerced instead of refused; extreme values giving NaN; sizes that cannot fit; output files
(symlinks, devices, FIFOs, permissions, ownership); exit codes; determinism across worker counts;
the ``latex`` command's cost; the high-precision path at extremes. The fuzz over the whole
parameter space is tests/test_fuzz.py.
"""
import datetime
import decimal
import json
import os
import stat
import threading
from fractions import Fraction

import numpy as np
import pytest

import asymptotics as A
import simulate
import simulate.core
from asymptotics import params as P
from asymptotics.highprec import solve_hp
from icl_asymptotics import cli
from simulate import _sizes
from simulate.io import atomic_path

GOOD = dict(tau=2.0, alpha=2.0, kappa=1.0, rho=0.1, lam=0.0)


# ----------------------------------------------------------------------------- coerced input
WRONG_TYPES = [("tau", "2"), ("kappa", True), ("lam", np.bool_(False)), ("rho", 0.1 + 0j),
               ("rho", np.array([0.1 + 0j, 0.2])), ("tau", np.datetime64("2020-01-01")),
               ("alpha", np.array(["1", "2"])), ("alpha", decimal.Decimal("2")), ("tau", None),
               ("kappa", np.array([1.0, 2.0], dtype=object)), ("tau", datetime.timedelta(days=1)),
               ("alpha", b"2"), ("rho", [0.1, "x"])]


@pytest.mark.parametrize("name,value", WRONG_TYPES, ids=[f"{n}={v!r}" for n, v in WRONG_TYPES])
def test_wrong_types_are_refused_not_coerced(name, value):
    # Before: e_icl('2', 2, 1, 0.1) = 1.1538, kappa=True ran as 1, complex lost its imaginary part
    # with a warning, datetime64 / Decimal / string arrays were converted.
    for func in (A.e_icl, A.solve, A.e_tau_inf if name != "tau" else A.e_kappa_inf):
        kwargs = {k: v for k, v in GOOD.items() if k in func.__code__.co_varnames}
        kwargs[name] = value
        with pytest.raises(TypeError, match=rf"^{name} must be a real number"):
            func(**kwargs)
    with pytest.raises(TypeError, match=rf"^{name} must be a real number"):
        simulate.run(10, **{**GOOD, name: value})


def test_real_numbers_of_every_kind_are_accepted():
    want = A.e_icl(2.0, 2.0, 1.0, 0.1)
    assert A.e_icl(2, np.int8(2), Fraction(1), np.float32(0.1)) == pytest.approx(want, rel=1e-7)
    assert A.e_icl(np.longdouble(2), [2.0], 1, 0.1)[0] == want  # float32 0.1 above: rel 1e-7


def test_integers_too_large_for_float64_are_a_value_error():
    # Before: OverflowError from numpy (int) or a silent inf (long double), which tau accepts.
    with pytest.raises(ValueError, match=r"^tau = 1000.* too large for float64"):
        A.e_icl(10 ** 400, 2, 1, 0.1)
    with pytest.raises(ValueError, match=r"^kappa has values too large for float64"):
        A.e_icl(2, 2, np.longdouble("1e400"), 0.1)


# ----------------------------------------------------------------------------- extremes
@pytest.mark.parametrize("args,name", [((2, 1e210, 1, 0.1, 0), "alpha"), ((2, 2, 1, 1e200, 0), "rho"),
                                       ((1e-200, 2, 1, 0.1, 0), "tau"), ((1e-160, 2, 1, 0.1, 0), "tau"),
                                       ((2, 2, 1, 0.1, 1e162), "lam"), ((2, 2, 1, 0.1, 1e160), "lam")])
def test_extremes_that_gave_nan_or_inf_are_refused_with_the_range(args, name):
    # Before: NaN (or inf) with solve(...).converged True. The refusal states the float64 range.
    for func in (A.e_icl, A.e_idg, A.solve):
        with pytest.raises(ValueError, match=rf"^{name} must satisfy {P.RANGES[name].text} \(the float64"):
            func(*args)
    # ... and the bound itself is evaluated: finite (test_fuzz.py checks every corner of the box).
    edge = list(args)
    i = P.PARAMS.index(name)
    edge[i] = P.RANGES[name].low if args[i] < 1 else P.RANGES[name].high
    assert np.isfinite(A.e_icl(*edge)) and np.isfinite(A.e_idg(*edge))


def test_closed_forms_keep_the_whole_domain():
    # optimal_attention_error and e_alpha_inf_tau_inf are finite on the whole domain: DOMAIN, not
    # RANGES, applies to them (the float64 bounds are the kernels').
    assert np.isfinite(A.optimal_attention_error(1e-310, 1e300))
    assert A.e_alpha_inf_tau_inf(1e-300, 1e300) == (1e300, 1e300)  # 1 + rho - kappa rounds to rho


# ----------------------------------------------------------------------------- highprec
def test_highprec_extremes():
    # Before: lam = 1e100 at tau = inf returned e_idg = 0.366 "verified" (B5 cancelled to an exact
    # 0 at both working precisions); alpha = 1e300, kappa = tau = inf returned e_icl = 0 (it is
    # q/(1+q) = 1e-300, as e_idg). The guard digits now start at 20 + the decades spanned.
    r = solve_hp(np.inf, 2, 1, 0.1, lam=1e100, dps=20)
    # e_IDG(tau = inf) = rho + q T1 + nu b P2 -> rho + E[l] = 1.1 as lam -> inf, with O(1/lam)
    # corrections (1e-100); the float64 kernel agrees to rounding.
    assert float(r.e_idg) == pytest.approx(1.1, rel=1e-15)
    assert float(r.e_idg) == pytest.approx(A.e_idg(np.inf, 2, 1, 0.1, 1e100), rel=1e-14)
    r = solve_hp(np.inf, 1e300, np.inf, 0, dps=20)
    q = 1e-300  # (1 + rho)/alpha, exact in binary to 20 digits of the decimal value: rel 1e-16
    assert float(r.e_icl) == pytest.approx(q, rel=1e-15) and float(r.e_idg) == pytest.approx(q, rel=1e-15)
    with pytest.raises(TypeError, match="^lam must be a real number"):
        solve_hp(2, 2, 1, 0.1, lam=True)


# ----------------------------------------------------------------------------- sizes
def test_simulation_too_large_for_memory_is_refused_before_allocating(monkeypatch):
    # Before: numpy's raw MemoryError (74.5 GiB) at d = 100000. Now the estimate, the time and what
    # to change, before anything is allocated.
    with pytest.raises(ValueError, match=r"^d = 100000 needs about .* GiB per replicate .* s at .* "
                                         r"available: .*more memory"):
        simulate.run(100000, 2.0, 2.0, 1.0, 0.1)
    # Pretend only 1 MiB is free: a d = 30 dual solve (kernel 450^2 doubles x 3.5 = 5.7 MB) is
    # refused with the dual solver's advice, and runs when the estimate fits.
    monkeypatch.setattr(_sizes, "available_memory", lambda: 2.0 ** 20)
    with pytest.raises(ValueError, match=r"n x n kernel: use solver='cg'"):
        simulate.run(30, 0.5, 2.0, 1.0, 0.1)
    monkeypatch.setattr(_sizes, "available_memory", lambda: 2.0 ** 30)
    assert np.isfinite(simulate.run(30, 0.5, 2.0, 1.0, 0.1).icl).all()
    # A replicate that fits but is large is announced (before: d = 500 grew to 7.7 GB silently).
    monkeypatch.setattr(_sizes, "available_memory", lambda: 2.0 ** 50)
    monkeypatch.setattr(_sizes, "WARN_BYTES", 2.0 ** 20)
    with pytest.warns(_sizes.LargeSimulationWarning, match=r"d = 30 needs about .* GiB per replicate"):
        simulate.run(30, 0.5, 2.0, 1.0, 0.1)


def test_memory_estimate_bounds_the_measured_peak():
    import tracemalloc

    # The estimate is used to refuse; it must not be below the real peak (measured ratios 0.5-0.9).
    for d, tau, solver in ((24, 0.5, "dual"), (24, 2.0, "cg"), (8, 2.0, "direct")):
        l, k, n = simulate.sizes(d, tau, 2.0, 1.0)
        tracemalloc.start()
        simulate.run(d, tau, 2.0, 1.0, 0.1, 0.01, solver=solver)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        memory, flops = _sizes.resources(d, l, k, n, solver)
        assert 0.3 * memory <= peak <= memory, (solver, peak, memory)


@pytest.mark.parametrize("kwargs,exc,needle", [
    (dict(dtype="bogus"), ValueError, "dtype must be one of"),
    (dict(dtype="float64,float32"), ValueError, "dtype must be one of"),
    (dict(rho=1e300), ValueError, "rho must satisfy"),
    (dict(tau="2"), TypeError, "tau must be a real number"),
    (dict(seed="1"), TypeError, "seed must be an integer"),
    (dict(n_seeds=2.0), TypeError, "n_seeds must be an integer"),
])
def test_simulate_run_bad_input(kwargs, exc, needle):
    # Before: numpy's TypeError (dtype), LinAlgError (rho = 1e300), a run with tau = '2'.
    with pytest.raises(exc, match=needle):
        simulate.run(**{"d": 8, **GOOD, **kwargs})


# ----------------------------------------------------------------------------- output files
def _write(path, text):
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        f.write(text)


def test_output_through_a_symlink_writes_its_target(tmp_path):
    target = tmp_path / "real.csv"
    target.write_text("old")
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    _write(link, "new")
    assert link.is_symlink() and os.readlink(link) == str(target)  # before: replaced by a file
    assert target.read_text() == "new"
    dangling = tmp_path / "dangling.csv"
    dangling.symlink_to(tmp_path / "made.csv")
    _write(dangling, "x")
    assert dangling.is_symlink() and (tmp_path / "made.csv").read_text() == "x"


def test_output_keeps_mode_and_owner(tmp_path):
    f = tmp_path / "table.csv"
    f.write_text("old")
    os.chmod(f, 0o640)
    owner = None
    if os.geteuid() == 0:  # only root can give a file away; then the owner must survive too
        owner = (12345, 23456)
        os.chown(f, *owner)
    _write(f, "new")
    st = os.stat(f)
    assert stat.S_IMODE(st.st_mode) == 0o640  # before: reset to 0o644 (umask)
    if owner:
        assert (st.st_uid, st.st_gid) == owner
    new = tmp_path / "new.csv"
    _write(new, "x")
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(os.stat(new).st_mode) == 0o666 & ~mask


def test_output_to_a_fifo_writes_it_directly(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(open(fifo).read()))
    reader.start()
    _write(fifo, "through the pipe")
    reader.join(timeout=30)
    assert got == ["through the pipe"]
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)  # still a FIFO, not replaced by a file


def test_output_to_a_device_writes_it_directly(tmp_path):
    # A private character device equal to /dev/full (1, 7) and one equal to /dev/null (1, 3):
    # never the system's own, so a wrong implementation cannot damage the machine.
    full, null = tmp_path / "full", tmp_path / "null"
    try:
        os.mknod(full, 0o666 | stat.S_IFCHR, os.makedev(1, 7))
        os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except (PermissionError, OSError) as exc:
        pytest.skip(f"cannot create device nodes here: {exc}")
    _write(null, "discarded")
    assert stat.S_ISCHR(os.stat(null).st_mode)
    with pytest.raises(OSError):  # ENOSPC: the device's own answer (before: turned into a file)
        _write(full, "x" * 10000)
    assert stat.S_ISCHR(os.stat(full).st_mode)
    assert cli.main(["theory", "-o", str(full)]) == 1


def test_output_to_dev_stdout_behind_a_pipe_or_an_append(tmp_path):
    # Before: "-o /dev/stdout | cat" failed (a temporary file next to /proc/PID/fd/pipe:[N]).
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "icl_asymptotics", "theory", "--format", "csv", "-o", "/dev/stdout"]
    piped = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert piped.returncode == 0 and piped.stdout.startswith("tau,alpha")
    log = tmp_path / "log.txt"
    log.write_text("first\n")
    with open(log, "a") as fh:
        assert subprocess.run(cmd, stdout=fh, timeout=120).returncode == 0
    assert log.read_text() == "first\n" + piped.stdout  # appended, not truncated


def test_output_path_that_is_a_directory_or_in_a_missing_folder(tmp_path):
    with pytest.raises(ValueError, match="is a directory"):
        _write(tmp_path, "x")
    with pytest.raises(ValueError, match="output directory does not exist"):
        _write(tmp_path / "no" / "f.csv", "x")


# ----------------------------------------------------------------------------- exit codes
def _stub_failing_replicate(point, solver, options, seed, replicate):
    raise simulate.ConvergenceError("stub: did not converge")


def test_exit_codes_follow_the_policy(tmp_path, monkeypatch, capsys):
    # 2: the command line cannot be carried out as given.
    assert cli.main(["theory", "--tau", "1e400"]) == 2  # before: silently tau = inf, exit 0
    assert "beyond the float64 range" in capsys.readouterr().err
    assert cli.main(["theory", "--tau", "inf"]) == 0
    cache_file = tmp_path / "cache"
    cache_file.write_text("")
    for cmd in (["simulate", "--d", "4"], ["reproduce", str(tmp_path / "out"), "--quick"]):
        assert cli.main(cmd + ["--cache", str(cache_file)]) == 2
        assert "the cache must be a directory" in capsys.readouterr().err  # before: [Errno 17]
    assert cli.main(["theory", "-o", str(tmp_path / "missing" / "t.csv")]) == 2
    capsys.readouterr()
    # 1: a valid request that failed while running.
    if os.geteuid() != 0:  # root writes anywhere; the device test above covers OSError for root
        ro = tmp_path / "ro"
        ro.mkdir()
        os.chmod(ro, 0o500)
        assert cli.main(["theory", "-o", str(ro / "t.csv")]) == 1
    monkeypatch.setattr(simulate.core, "_replicate", _stub_failing_replicate)
    out = tmp_path / "sim.csv"
    rc = cli.main(["simulate", "--d", "4", "--seeds", "2", "--no-progress", "--format", "csv",
                   "-o", str(out)])
    err = capsys.readouterr().err
    assert rc == 1 and "every replicate failed at 1 of 1 points" in err  # before: exit 0
    assert out.exists()  # the table (n_failed = 2, nan means) is still written


def test_exit_code_table_in_docs_matches_the_code():
    text = open(os.path.join(os.path.dirname(__file__), "..", "docs", "cli.md")).read()
    table = text.split("## Exit status")[1]
    rows = {line.split("|")[1].strip(): line for line in table.splitlines() if line.startswith("| ")}
    assert {"0", "1", "2", "130"} <= set(rows)
    assert {cli.EXIT_OK, cli.EXIT_FAILED, cli.EXIT_USAGE, cli.EXIT_INTERRUPTED} == {0, 1, 2, 130}
    # Before: the docs said 2 for an unwritable path, the code 1.
    assert "unwritable" in rows["1"] and "unwritable" not in rows["2"]
    assert "every replicate" in rows["1"] and "1e400" in rows["2"]


@pytest.mark.parametrize("text,want", [("icl,idg", ("icl", "idg")), ("idg,icl", ("icl", "idg")),
                                       ("idg", ("idg",)), (" icl ", ("icl",))])
def test_curve_errors_any_order(text, want):
    args = cli.build_parser().parse_args(["curve", "--tau", "log:0.5:2:3", "-o", "x.png", "--errors", text])
    assert args.errors == want


def test_curve_errors_refused_and_help_is_readable(capsys):
    for bad in ("icl,icl", "gap", "icl,", ""):
        assert cli.main(["curve", "--tau", "log:0.5:2:3", "-o", "x.png", "--errors", bad]) == 2
    capsys.readouterr()
    assert cli.main(["curve", "--help"]) == 0
    assert "{icl,idg,icl,idg}" not in capsys.readouterr().out  # before: the choices repeated


# ----------------------------------------------------------------------------- determinism
def test_sweep_results_do_not_depend_on_n_jobs():
    # Before: 14 of 24 tasks differed (up to 7e-14 relative) between n_jobs = 1 and 2, because the
    # BLAS thread count differed between the main process and loky workers. Pinned per task now.
    grid = dict(tau=[0.5, 2.0], alpha=[1.0, 2.0], kappa=[0.5, np.inf], rho=[0.1])
    one = simulate.sweep(grid, d=16, n_seeds=3, n_jobs=1, progress=False)
    two = simulate.sweep(grid, d=16, n_seeds=3, n_jobs=2, progress=False)
    assert len(one.records) == 24 and one.metadata["blas_threads"] == 1
    assert [(r["icl"], r["idg"]) for r in one.records] == [(r["icl"], r["idg"]) for r in two.records]


def test_blas_threads_checked():
    with pytest.raises(ValueError, match="blas_threads must be an integer >= 1 or None"):
        simulate.sweep(dict(tau=[2.0], alpha=[2.0], kappa=[1.0], rho=[0.1]), d=4, blas_threads=0)


# ----------------------------------------------------------------------------- latex
def test_latex_checks_names_first_and_caches_on_disk(tmp_path, monkeypatch, capsys):
    from asymptotics import symbolic

    calls = []

    def derive():
        calls.append(1)
        return {name: f"\\text{{{name}}}" for name in symbolic.FORMULA_NAMES}

    monkeypatch.setattr(symbolic, "latex_formulas", derive)
    monkeypatch.setenv("ICL_ASYMPTOTICS_CACHE_DIR", str(tmp_path))
    # An unknown name is refused before any derivation (before: 15-25 s, then the refusal).
    assert cli.main(["latex", "no_such_formula"]) == 2
    assert calls == [] and "unknown formula(s) no_such_formula" in capsys.readouterr().err
    name = symbolic.FORMULA_NAMES[0]
    assert cli.main(["latex", name]) == 0 and calls == [1]
    first = capsys.readouterr().out
    cached = list(tmp_path.glob("latex-*.json"))
    assert len(cached) == 1 and A.__version__ in cached[0].name
    assert cli.main(["latex", name]) == 0 and calls == [1]  # second call: read from disk
    assert capsys.readouterr().out == first
    cached[0].write_text("{broken")  # a damaged cache is rebuilt, not trusted
    with pytest.warns(UserWarning, match="cannot be read"):
        assert cli.main(["latex", name]) == 0 and calls == [1, 1]
    assert json.loads(cached[0].read_text())["content"][name] == f"\\text{{{name}}}"


def test_formula_names_are_the_derived_ones():
    from asymptotics import symbolic

    # formulas() raises if they differ; this runs the derivation (shared with test_symbolic.py).
    assert tuple(symbolic.formulas()) == symbolic.FORMULA_NAMES
