"""What the commands say (issue 17, item 8): help that matches what a command accepts, the files
written named on success, the slow first ``latex`` announced, a ``validate`` table that fits a
terminal, progress bars that say what runs, and what an interrupted or ``--cached-only`` run kept."""
import re

import numpy as np
import pytest

import simulate
from icl_asymptotics import cli

COMMANDS = ("theory", "simulate", "curve", "phase", "validate", "transformer", "latex", "reproduce")


def run(argv, capsys):
    rc = cli.main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


def _help(command, capsys):
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args([command, "--help"])
    return capsys.readouterr().out


def _options(command) -> set:
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices[command]
    return {s for a in sub._actions for s in a.option_strings}


@pytest.mark.parametrize("command", COMMANDS)
def test_help_names_only_options_the_command_accepts(command, capsys):
    """Before: ``reproduce --help`` explained ``--threshold``, which ``reproduce`` refuses."""
    named = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", _help(command, capsys)))
    assert named - _options(command) == set()


def test_reproduce_refuses_threshold_and_its_help_says_the_boundary_is_fixed(capsys):
    assert cli.main(["reproduce", "x", "--threshold", "0.3"]) == 2
    capsys.readouterr()
    assert "t = 0.5" in _help("reproduce", capsys)


# ----------------------------------------------------------------------------- files written
def test_theory_output_file_is_named_on_stdout(capsys, tmp_path):
    path = tmp_path / "t.csv"
    rc, out, err = run(["theory", "--tau", "0.5,2", "--format", "csv", "-o", str(path)], capsys)
    assert rc == 0 and err == "" and out == f"{path}\n" and path.exists()
    rc, out, _ = run(["theory", "--tau", "2", "--format", "csv", "-o", "-"], capsys)
    assert rc == 0 and out.startswith("tau,")  # the table itself on stdout: no name added


@pytest.mark.parametrize("argv", [
    ["curve", "--tau", "log:0.1:10:9"],
    ["phase", "--kappa", "log:0.1:10:5", "--tau", "log:0.5:5:5"],
])
def test_figure_commands_name_the_file_written(argv, capsys, tmp_path):
    path = tmp_path / "f.png"
    rc, out, err = run(argv + ["-o", str(path)], capsys)
    assert rc == 0 and err == "" and out == f"{path}\n" and path.exists()


def test_validate_figure_named_on_stderr_when_the_table_is_on_stdout(capsys, tmp_path):
    fig = tmp_path / "v.png"
    rc, out, err = run(["validate", "--tau", "3", "--alpha", "1", "--kappa", "2", "--d", "6,8",
                        "--seeds", "2", "--no-progress", "-o", str(fig)], capsys)
    assert rc == 0 and fig.exists()
    assert err == f"icl-asymptotics validate: wrote {fig}\n" and str(fig) not in out


def test_latex_says_it_is_deriving_then_reads_the_cache(capsys, tmp_path, monkeypatch):
    """Before: 20-30 s of silence on an empty cache. The derivation is stubbed (its cost is not
    the point); the message names the cache file written."""
    from asymptotics import symbolic

    monkeypatch.setattr(symbolic, "latex_formulas",
                        lambda: {n: f"\\text{{{n}}}" for n in symbolic.FORMULA_NAMES})
    monkeypatch.setenv("ICL_ASYMPTOTICS_CACHE_DIR", str(tmp_path / "cache"))
    rc, out, err = run(["latex", "q"], capsys)
    assert rc == 0 and out.startswith("% q\n")
    assert "deriving the formulas with sympy" in err and err.count("\n") == 1
    assert err.rstrip().endswith(cli._latex_cache_path())
    rc, out, err = run(["latex", "q", "-o", str(tmp_path / "q.tex")], capsys)
    assert rc == 0 and err == "" and out == f"{tmp_path / 'q.tex'}\n"  # cached: no message


def test_latex_cache_is_keyed_by_the_derivation_source(monkeypatch, tmp_path):
    """An edited derivation (e.g. the sigma^2 fix) must not be served from an older cache."""
    monkeypatch.setenv("ICL_ASYMPTOTICS_CACHE_DIR", str(tmp_path))
    import hashlib
    import importlib.util

    src = open(importlib.util.find_spec("asymptotics.symbolic").origin, "rb").read()
    assert hashlib.sha256(src).hexdigest()[:12] in cli._latex_cache_path()


# ----------------------------------------------------------------------------- validate table
VPOINT = ["--alpha", "1", "--kappa", "2", "--rho", "0.25", "--d", "6,8,10", "--seeds", "3",
          "--no-progress"]


def test_validate_one_point_table_fits_100_columns(capsys):
    """Before: 213 characters wide. The numbers shown are simulate.validate's, rounded for display
    (csv/json keep every digit)."""
    rc, out, err = run(["validate", "--tau", "3", *VPOINT], capsys)
    assert rc == 0, err
    assert max(map(len, out.splitlines())) <= 100
    v = simulate.validate(3.0, 1.0, 2.0, 0.25, 0.0, d=(6, 8, 10), n_seeds=3, seed=0)
    rows = {line.split()[0]: line for line in out.splitlines()[3:]}
    assert set(rows) == {"6", "8", "10", "inf", "theory", "z", "chi2/dof"}
    assert cli._pm(v.icl.estimate, v.icl.se) in rows["inf"]
    assert f"{v.idg.theory:.6g}" in rows["theory"] and f"{v.icl.z:.3g}" in rows["z"]
    assert rows["chi2/dof"].split()[-1] == f"{v.idg.chi2:.3g}/{v.idg.dof}"


def test_validate_grid_table_fits_100_columns(capsys):
    rc, out, err = run(["validate", "--tau", "3,4", *VPOINT], capsys)  # 2 points: cheap at d <= 10
    assert rc == 0, err
    assert max(map(len, out.splitlines())) <= 100  # before: 215
    head, names = out.splitlines()[:2]
    assert "alpha = 1" in head and "d = 6,8,10" in head  # what does not vary
    assert names.split() == ["tau", "icl_inf", "+-", "se", "icl_theory", "icl_z", "idg_inf", "+-",
                             "se", "idg_theory", "idg_z"]


@pytest.mark.parametrize("mean, sem, text", [
    (2.771813928, 0.2592774512, "2.77 +- 0.26"),  # the sem to 2 digits, the mean to its place
    (1.689072875, 0.03071973654, "1.689 +- 0.031"),
    (1234.5, 87.0, "1234 +- 87"),  # round half to even, as format() does
    (0.5, 0.0, "0.5 +- 0"),
])
def test_mean_sem_display(mean, sem, text):
    assert cli._pm(mean, sem) == text


# ----------------------------------------------------------------------------- progress, Ctrl-C
def test_sweep_progress_bar_says_what_runs(capsys):
    """Before: every bar read ``sweep:``."""
    simulate.sweep({"tau": [0.5, 2.0], "alpha": 2.0, "kappa": 1.0, "rho": 0.1}, d=[6, 8], n_seeds=2,
                   progress=True)
    err = capsys.readouterr().err
    assert "run_replicate d=6,8: 2 points x 2 seeds" in err


@pytest.mark.parametrize("extra, needles", [
    (["--cache", "CACHE"], ["kept in the cache CACHE", "rerun the same command"]),
    ([], ["without --cache DIR nothing computed was kept"]),
])
def test_interrupt_says_what_is_kept_and_how_to_resume(extra, needles, capsys, tmp_path,
                                                       monkeypatch):
    from icl_asymptotics import figures

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(figures, "simulate_summary", interrupted)
    extra = [str(tmp_path / "c") if e == "CACHE" else e for e in extra]
    rc, out, err = run(["simulate", "--d", "6", *extra], capsys)
    assert rc == 130 and err.count("\n") == 1 and err.startswith("icl-asymptotics simulate: interrupted; ")
    for needle in needles:
        assert needle.replace("CACHE", str(tmp_path / "c")) in err


def test_transformer_cached_only_says_what_is_drawn_and_missing(capsys, tmp_path, monkeypatch):
    """Before: ``--cached-only`` drew whatever the cache held without a word. The sweep is stubbed
    to return 3 of the 2 x 2 requested runs (the training itself is tests/test_transformer.py's)."""
    from icl_asymptotics import transformer_figures as tf

    def cached(grid, **kw):
        assert kw["cached_only"]
        return [{"arch": "linear", "d": 8, "tau": np.inf, "alpha": 1.0, "kappa": k, "rho": 0.1,
                 "seed": s, "icl": 1.0, "idg": 0.5} for k, s in ((0.5, 0), (0.5, 1), (2.0, 0))]

    monkeypatch.setattr(tf, "sweep_rows", cached)
    rc, out, err = run(["transformer", "--arch", "linear", "--kappa", "0.5,2", "--d", "8",
                        "--cache", str(tmp_path), "--cached-only", "-o", str(tmp_path / "t.png")],
                       capsys)
    assert rc == 0, err
    assert f"drawing 3 of the 4 requested runs found in {tmp_path}" in err
    assert "1 missing: linear tau=inf alpha=1 kappa=2 rho=0.1 (1 of 2 seeds)" in err
