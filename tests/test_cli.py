"""Command line: parsing, numbers against the library, exit codes, atomic output, figures."""
import csv
import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import asymptotics
from asymptotics import e_icl, e_idg
from icl_asymptotics import cli

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run(argv, capsys):
    rc = cli.main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


# ----------------------------------------------------------------------------- parameter syntax
@pytest.mark.parametrize("text, expected, ranged, log", [
    ("2.5", [2.5], False, False),
    ("0.5,1,inf", [0.5, 1.0, np.inf], False, False),
    ("0.1:0.5:5", [0.1, 0.2, 0.3, 0.4, 0.5], True, False),
    ("log:1e-2:1e2:5", [1e-2, 1e-1, 1.0, 10.0, 100.0], True, True),
    ("log:0.1:1:2,log:10:100:2", [0.1, 1.0, 10.0, 100.0], True, True),
    ("0.5,log:1:100:3", [0.5, 1.0, 10.0, 100.0], True, True),
    ("0.5:1:2,log:10:100:2", [0.5, 1.0, 10.0, 100.0], True, False),
])
def test_parse_spec(text, expected, ranged, log):
    s = cli.parse_spec("kappa", text)
    # linspace/geomspace endpoints are exact, interior points carry a few ulps of rounding
    np.testing.assert_allclose(s.values, expected, rtol=1e-14)
    assert (s.ranged, s.log) == (ranged, log)


@pytest.mark.parametrize("name, text, needle", [
    ("tau", "-1", "1e-30 <= tau"),
    ("alpha", "inf", "alpha"),
    ("rho", "0.1,nan", "rho"),
    ("tau", "1:2", "START:STOP:N"),
    ("tau", "1:2:1", "integer >= 2"),
    ("tau", "1:2:x", "integer >= 2"),
    ("tau", "log:0:1:5", "> 0"),
    ("tau", "log:1:10", "log:START:STOP:N"),
    ("lam", "abc", "cannot read"),
    ("lam", "0.1,,0.2", "empty item"),
    ("alpha", "0:1:3", "1e-30 <= alpha"),
])
def test_parse_spec_refuses(name, text, needle):
    with pytest.raises(ValueError, match=name) as exc:
        cli.parse_spec(name, text)
    assert needle in str(exc.value)


# ----------------------------------------------------------------------------- theory
def test_theory_json_matches_library(capsys):
    rc, out, err = run(["theory", "--tau", "0.5,2,inf", "--alpha", "log:0.5:8:3",
                        "--kappa", "0.5,inf", "--rho", "0.1", "--lam", "0,0.01",
                        "--format", "json"], capsys)
    assert rc == 0 and err == ""
    rows = json.loads(out)
    assert len(rows) == 3 * 3 * 2 * 2
    got = {(r["tau"], r["alpha"], r["kappa"], r["lam"]) for r in rows}
    inf = float("inf")
    assert len(got) == len(rows)
    for r in rows:
        p = [float(r[k]) for k in ("tau", "alpha", "kappa", "rho", "lam")]
        assert r["kappa"] in (0.5, "inf") and r["tau"] in (0.5, 2.0, "inf")
        # json carries repr(float), which round-trips float64 exactly
        assert float(r["e_icl"]) == float(e_icl(*p))
        assert float(r["e_idg"]) == float(e_idg(*p))
    assert any(float(r["kappa"]) == inf for r in rows)


def test_theory_csv_and_table(capsys, tmp_path):
    path = tmp_path / "t.csv"
    rc, out, _ = run(["theory", "--tau", "0.5,2", "--format", "csv", "-o", str(path)], capsys)
    assert rc == 0 and out == f"{path}\n"  # the file written is named
    lines = path.read_text().splitlines()
    assert lines[0] == "tau,alpha,kappa,rho,lam,e_icl,e_idg"
    vals = [float(v) for v in lines[2].split(",")]
    assert vals[-2] == e_icl(*vals[:5])  # repr round-trips exactly
    rc, out, _ = run(["theory", "--tau", "1", "--format", "table"], capsys)
    assert rc == 0
    assert out.splitlines()[0].split() == ["tau", "alpha", "kappa", "rho", "lam", "e_icl",
                                           "e_idg"]
    assert out.splitlines()[2].split()[-2:] == ["inf", "inf"]  # ridgeless peak, not nan


def test_theory_details_reports_fixed_point(capsys):
    rc, out, _ = run(["theory", "--tau", "0.5,4", "--lam", "0.01", "--format", "json",
                      "--details"], capsys)
    assert rc == 0
    rows = json.loads(out)
    for r in rows:
        assert r["converged"] is True and r["nu"] > 0
        assert r["q"] == pytest.approx((1 + r["rho"]) / r["alpha"], rel=1e-15)  # definition


# ----------------------------------------------------------------------------- simulate
def test_simulate_summary_matches_direct_runs(capsys, tmp_path):
    import simulate

    rc, out, err = run(["simulate", "--tau", "0.5,2", "--alpha", "1", "--kappa", "2", "--d", "8",
                        "--seeds", "3", "--seed", "7", "--format", "json", "--no-progress",
                        "--cache", str(tmp_path / "cache")], capsys)
    assert rc == 0, err
    rows = json.loads(out)
    assert [r["tau"] for r in rows] == [0.5, 2.0]
    for r in rows:
        direct = simulate.run(8, r["tau"], 1.0, 2.0, 0.1, 0.0, n_seeds=3, seed=7)
        assert (r["d"], r["n_seeds"], r["n_ok"], r["n_failed"], r["seed"]) == (8, 3, 3, 0, 7)
        # the same replicates (same seed streams); only the order of summation may differ
        assert r["icl_mean"] == pytest.approx(direct.mean().icl, rel=1e-14)
        assert r["idg_sem"] == pytest.approx(direct.sem().idg, rel=1e-12)
        assert r["e_icl"] == e_icl(r["tau"], 1.0, 2.0, 0.1)  # theory alongside


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize("argv, needle", [
    (["theory", "--tau", "-1"], "tau"),
    (["theory", "--kappa", "0"], "kappa"),
    (["theory", "--alpha", "log:1:10"], "log:START:STOP:N"),
    (["theory", "--format", "xml"], "format"),
    (["thoery"], "invalid choice"),
    (["curve", "--tau", "log:0.1:10:5"], "--output"),
    (["curve", "--tau", "2", "-o", "x.png"], "exactly one parameter given as a range"),
    (["curve", "--tau", "log:0.1:10:5", "--alpha", "1,2", "--kappa", "1,2", "-o", "x.png"],
     "at most one parameter"),
    (["curve", "--tau", "log:0.1:10:5", "-o", "x.txt"], ".png"),
    (["phase", "--tau", "log:0.1:10:5", "-o", "x.png"], "exactly two parameters"),
    (["phase", "--tau", "log:0.1:10:5", "--kappa", "log:0.1:10:5", "--threshold", "1.5",
      "-o", "x.png"], "threshold"),
    (["theory", "-o", "/nonexistent-dir/x.csv"], "output directory does not exist"),
    (["simulate", "--d", "1"], "d must be an integer >= 2"),
    (["simulate", "--d", "10", "--alpha", "0.01"], "alpha"),  # l rounds to 0: simulator refuses
    (["reproduce", "out", "--only", "a,z"], "--only"),
    (["validate", "--d", "40"], "at least 2 distinct"),
    (["validate", "--d", "40,40"], "at least 2 distinct"),
    (["validate", "--d", "1,40"], "integers >= 2"),
    (["validate", "--seeds", "1"], "--seeds must be an integer >= 2"),
    (["validate", "--d", "40,60", "--order", "2"], "--order 2 needs at least 3"),
    (["validate", "--common-random-numbers"], "independent"),
    (["curve", "--tau", "log:0.1:10:5", "--extrapolate", "40", "-o", "x.png"], "at least 2 distinct"),
])
def test_bad_arguments_exit_2_with_one_line(argv, needle, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, out, err = run(argv, capsys)
    assert rc == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("icl-asymptotics")
    assert needle in err
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_help_teaches(capsys):
    rc, out, _ = run(["--help"], capsys)
    assert rc == 0
    for needle in ("tau = n/d^2", "alpha = l/d", "kappa = k/d", "log:1e-2:1e2:50", "examples"):
        assert needle in out
    rc, out, _ = run(["phase", "--help"], capsys)
    assert rc == 0 and "(e_ICL - e_IDG) / e_ICL" in out and "--threshold" in out


def test_module_entry_point():
    r = subprocess.run([sys.executable, "-m", "icl_asymptotics", "--version"], capture_output=True,
                       text=True, timeout=60,
                       cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert r.returncode == 0 and r.stdout.strip() == f"icl-asymptotics {asymptotics.__version__}"


# ----------------------------------------------------------------------------- figures
def _is_png(path):
    data = path.read_bytes()
    return data[:8] == PNG_MAGIC and len(data) > 10_000


def test_curve_and_phase_write_png(capsys, tmp_path):
    fig = tmp_path / "curve.png"
    rc, _, err = run(["curve", "--tau", "log:0.1:10:41", "--lam", "0,0.01", "-o", str(fig)],
                     capsys)
    assert rc == 0, err
    assert _is_png(fig)
    fig = tmp_path / "phase.png"
    rc, _, err = run(["phase", "--kappa", "log:0.1:10:12", "--tau", "log:0.2:20:13",
                      "-o", str(fig)], capsys)
    assert rc == 0, err
    assert _is_png(fig)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curve.png", "phase.png"]  # no temps


def test_curve_simulate_plots_the_simulated_points(capsys, tmp_path, monkeypatch):
    """``curve --simulate`` writes the figure, and the points it draws are simulation means: the
    columns handed to the plot equal :func:`simulate.run` called here at the same points."""
    import simulate
    from icl_asymptotics import plot

    handed = []
    original = plot.learning_curves

    def spy(*args, **kwargs):
        handed.append(kwargs.get("sim"))
        return original(*args, **kwargs)

    monkeypatch.setattr(plot, "learning_curves", spy)
    fig = tmp_path / "sim.png"
    rc, out, err = run(["curve", "--tau", "log:0.3:5:20", "--simulate", "--sim-x", "0.5,2", "--d", "8",
                        "--seeds", "2", "--no-progress", "-o", str(fig)], capsys)
    assert rc == 0, err
    assert _is_png(fig)
    assert len(handed) == 1 and handed[0] is not None  # simulation columns reached the plot
    sim = handed[0]
    assert list(sim["tau"]) == [0.5, 2.0] and list(sim["d"]) == [8, 8]
    for i, tau in enumerate(sim["tau"]):
        # CLI defaults alpha = 2, kappa = 1, rho = 0.1, lam = 0, seed = 0
        direct = simulate.run(d=8, tau=float(tau), alpha=2.0, kappa=1.0, rho=0.1, n_seeds=2, seed=0)
        # the same replicates (same streams); only the order of summation may differ
        assert sim["icl_mean"][i] == pytest.approx(direct.mean().icl, rel=1e-14)
        assert sim["idg_mean"][i] == pytest.approx(direct.mean().idg, rel=1e-14)
        assert sim["icl_sem"][i] == pytest.approx(direct.sem().icl, rel=1e-12)  # sqrt of a sum; rounding


def test_simulate_csv_matches_direct_runs(capsys):
    import simulate

    rc, out, err = run(["simulate", "--tau", "0.5,2", "--d", "8", "--seeds", "2", "--format", "csv",
                        "--no-progress"], capsys)
    assert rc == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [float(r["tau"]) for r in rows] == [0.5, 2.0]
    for r in rows:
        direct = simulate.run(d=8, tau=float(r["tau"]), alpha=2.0, kappa=1.0, rho=0.1, n_seeds=2, seed=0)
        # csv carries repr(float) (exact round trip); only the order of summation may differ
        assert float(r["icl_mean"]) == pytest.approx(direct.mean().icl, rel=1e-14)
        assert float(r["idg_mean"]) == pytest.approx(direct.mean().idg, rel=1e-14)
        assert (int(r["d"]), int(r["n_seeds"]), int(r["n_ok"])) == (8, 2, 2)


def test_failed_write_leaves_nothing(capsys, tmp_path, monkeypatch):
    """A run that dies while writing the figure leaves neither a partial file nor a temp file,
    and does not clobber an existing file."""
    import matplotlib.figure

    def broken_savefig(self, fname, **kw):
        with open(fname, "wb") as fh:
            fh.write(PNG_MAGIC)  # half a file, then the failure
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", broken_savefig)
    target = tmp_path / "c.png"
    rc, _, err = run(["curve", "--tau", "log:0.1:10:9", "-o", str(target)], capsys)
    assert rc == 1 and "disk full" in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []
    target.write_bytes(b"old")
    rc, _, _ = run(["curve", "--tau", "log:0.1:10:9", "-o", str(target)], capsys)
    assert rc == 1
    assert list(tmp_path.iterdir()) == [target] and target.read_bytes() == b"old"


def test_reproduce_quick_theory_only(capsys, tmp_path):
    rc, out, err = run(["reproduce", str(tmp_path / "figs"), "--quick", "--no-simulate"], capsys)
    assert rc == 0, err
    names = sorted(p.name for p in (tmp_path / "figs").iterdir())
    assert names == ["a_double_descent.png", "b_alpha_dependence.png", "c_kappa_transition.png",
                     "d_phase_diagram.png", "manifest.json"]
    for n in names[:-1]:
        assert _is_png(tmp_path / "figs" / n)
    manifest = json.loads((tmp_path / "figs" / "manifest.json").read_text())
    assert manifest["version"] == asymptotics.__version__ and manifest["simulate"] is False
    assert out.split() == [str(tmp_path / "figs" / n) for n in names]


def test_latex_prints_the_symbolic_export(capsys, tmp_path, monkeypatch):
    from asymptotics import symbolic

    monkeypatch.setenv("ICL_ASYMPTOTICS_CACHE_DIR", str(tmp_path / "cache"))  # not the user's cache
    out = tmp_path / "f.tex"
    assert cli.main(["latex", "limit_e_tau_kappa_inf", "result1_e_icl_tau_gt_1", "-o", str(out)]) == 0
    capsys.readouterr()  # the file written and the derivation's notice
    text = out.read_text()
    # Exactly the strings the symbolic module exports, each after a '% name' comment line.
    for name in ("limit_e_tau_kappa_inf", "result1_e_icl_tau_gt_1"):
        assert f"% {name}\n{symbolic.latex(name)}\n" in text
    assert cli.main(["latex", "no_such_formula"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no_such_formula" in err and "e_icl" in err


# ----------------------------------------------------------------------------- validate
VPOINT = ["--tau", "3", "--alpha", "1", "--kappa", "2", "--rho", "0.25"]


def test_validate_csv_is_the_library_validation(capsys, tmp_path):
    """One point: a row per d and the d = inf row, all equal to simulate.validate called here."""
    import simulate

    rc, out, err = run(["validate", *VPOINT, "--d", "8,12,16", "--seeds", "3", "--seed", "5",
                        "--format", "csv", "--no-progress"], capsys)
    assert rc == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    v = simulate.validate(3.0, 1.0, 2.0, 0.25, 0.0, d=(8, 12, 16), n_seeds=3, seed=5)
    assert [r["d"] for r in rows] == ["8", "12", "16", "inf"]
    for r, want in zip(rows, v.rows):  # repr round trip: exact
        assert float(r["icl_mean"]) == want["icl_mean"] and float(r["idg_sem"]) == want["idg_sem"]
        assert int(r["n"]) == want["n"] and r["icl_z"] == ""
    last = rows[-1]
    for e in ("icl", "idg"):
        fit = getattr(v, e)
        assert float(last[f"{e}_mean"]) == fit.estimate and float(last[f"{e}_sem"]) == fit.se
        assert float(last[f"{e}_theory"]) == getattr(asymptotics, f"e_{e}")(3.0, 1.0, 2.0, 0.25, 0.0)
        assert float(last[f"{e}_z"]) == fit.z and int(last[f"{e}_dof"]) == 1


def test_validate_grid_figure_and_max_z(capsys, tmp_path):
    """A grid gives one z-score row per point (and a figure); --max-z turns |z| into an exit status."""
    fig = tmp_path / "z.png"
    argv = ["validate", "--tau", "0.5,3", "--alpha", "1", "--kappa", "2", "--rho", "0.25",
            "--d", "8,12", "--seeds", "2", "--format", "json", "--no-progress", "--cache",
            str(tmp_path / "cache")]
    rc, out, err = run(argv + ["-o", str(fig)], capsys)
    assert rc == 0, err
    assert _is_png(fig)
    rows = json.loads(out)
    assert [r["tau"] for r in rows] == [0.5, 3.0]
    assert all(isinstance(r["icl_z"], float) and r["d"] == "8,12" for r in rows)
    worst = max(abs(r[f"{e}_z"]) for r in rows for e in ("icl", "idg"))
    rc, _, err = run(argv + ["--max-z", str(worst * 1.01)], capsys)  # cached now: instant
    assert rc == 0, err
    rc, _, err = run(argv + ["--max-z", str(worst * 0.99)], capsys)
    assert rc == 1 and "largest |z|" in err and err.count("\n") == 1


def test_validate_single_point_figure(capsys, tmp_path):
    fig = tmp_path / "v.svg"
    rc, out, err = run(["validate", *VPOINT, "--d", "8,12,16", "--seeds", "2", "--order", "2",
                        "--no-progress", "-o", str(fig)], capsys)
    assert rc == 0, err
    assert fig.read_text().lstrip().startswith("<?xml") and "inf" in out  # table on stdout


def test_curve_extrapolate_plots_the_validation_estimates(capsys, tmp_path, monkeypatch):
    """``curve --extrapolate`` hands the plot the d -> inf estimates +- se of simulate.validate."""
    import simulate
    from icl_asymptotics import plot

    handed = []
    original = plot.learning_curves

    def spy(*args, **kwargs):
        handed.append((kwargs.get("sim"), kwargs.get("extrap")))
        return original(*args, **kwargs)

    monkeypatch.setattr(plot, "learning_curves", spy)
    fig = tmp_path / "x.png"
    rc, _, err = run(["curve", "--tau", "log:0.3:5:20", "--sim-x", "0.5,2", "--extrapolate", "8,12",
                      "--seeds", "2", "--no-progress", "-o", str(fig)], capsys)
    assert rc == 0, err
    assert _is_png(fig)
    (sim, extrap), = handed
    assert sim is None  # without --simulate only the extrapolated points are drawn
    for i, tau in enumerate(extrap["tau"]):
        v = simulate.validate(float(tau), 2.0, 1.0, 0.1, 0.0, d=(8, 12), n_seeds=2, seed=0)
        assert extrap["icl_mean"][i] == v.icl.estimate and extrap["idg_sem"][i] == v.idg.se  # same call
        assert extrap["icl_z"][i] == v.icl.z


def test_phase_extrapolate_overlays_the_validation_quantity(capsys, tmp_path, monkeypatch):
    """``phase --extrapolate`` overlays the relative gap of the d -> inf estimates of
    simulate.validate at the sim-x x sim-y points."""
    import simulate
    from icl_asymptotics import plot

    handed = []
    original = plot.phase_diagram

    def spy(*args, **kwargs):
        handed.append(kwargs.get("points"))
        return original(*args, **kwargs)

    monkeypatch.setattr(plot, "phase_diagram", spy)
    fig = tmp_path / "p.png"
    rc, _, err = run(["phase", "--kappa", "log:0.1:10:12", "--tau", "log:0.5:20:13", "--extrapolate",
                      "8,12", "--sim-x", "2", "--sim-y", "3", "--seeds", "2", "--no-progress",
                      "-o", str(fig)], capsys)
    assert rc == 0, err
    assert _is_png(fig)
    pts, = handed
    v = simulate.validate(3.0, 2.0, 2.0, 0.1, 0.0, d=(8, 12), n_seeds=2, seed=0)
    assert list(pts["kappa"]) == [2.0] and list(pts["tau"]) == [3.0]
    # the same numbers, one division: rounding only
    assert pts["value"][0] == pytest.approx(1 - v.idg.estimate / v.icl.estimate, rel=1e-14)
    assert np.isfinite(pts["se"][0]) and pts["se"][0] > 0


@pytest.mark.parametrize("argv, match", [
    (["transformer", "--lr", "nan", "-o", "{tmp}/x.png"], "lr must be a number"),
    (["transformer", "--arch", "linear", "--width", "64", "-o", "{tmp}/x.png"], "--width applies to the softmax model only"),
    (["transformer", "--arch", "linear", "--n-layers", "2", "-o", "{tmp}/x.png"], "--n-layers applies to the softmax model only"),
    (["pnas", "fig5", "--cache", "README.md", "--csv", "{tmp}/x.csv"], "the cache must be a directory"),
    (["pnas", "fig5", "--cache", "{tmp}/c", "--csv", "{tmp}/x.csv", "--model-types", "0"], "--model-types values must be in 1..4"),
    (["pnas", "fig7", "--cache", "{tmp}/c", "--csv", "{tmp}/x.csv"], "invalid choice"),
    (["pnas", "fig6", "--cache", "{tmp}/c", "--csv", "{tmp}/x.csv", "--values", "0.5,0"], "--values (kappa) must be finite and > 0; got [0.0]"),
    (["pnas", "fig5", "--cache", "{tmp}/c", "--csv", "{tmp}/x.csv", "--values", "1,inf"], "--values (tau) must be finite and > 0; got [inf]"),
    (["pnas", "fig5", "--cache", "{tmp}/c", "--csv", "{tmp}/x.csv", "--values", "1;2"], "--values is a comma-separated list of numbers (tau)"),
])
def test_trained_model_commands_refuse_bad_arguments_up_front(argv, match, capsys, tmp_path):
    pytest.importorskip("jax")
    assert cli.main([a.format(tmp=tmp_path) for a in argv]) == 2
    assert match in capsys.readouterr().err


def test_trained_model_commands_name_the_missing_extra(monkeypatch, capsys, tmp_path):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "equinox" else real(name, *a))
    for argv in (["transformer", "-o", "{tmp}/x.png"], ["pnas", "fig5", "--cache", "{tmp}/c", "--csv", "{tmp}/x.csv"]):
        assert cli.main([a.format(tmp=tmp_path) for a in argv]) == 2
        err = capsys.readouterr().err
        assert "pip install 'icl-asymptotics[transformer]'" in err and "Traceback" not in err
