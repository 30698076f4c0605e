"""The CLI's structured-task options (--task-cov, --test-cov, --alpha-test) and parse_cov."""
import numpy as np
import pytest

import asymptotics as A
from asymptotics.spectrum import PowerLaw, Spectrum, TestLaw
from icl_asymptotics.cli import CLIError, main, parse_cov


def test_parse_cov_grammar(tmp_path):
    assert parse_cov("task-cov", "identity") is None
    p = parse_cov("task-cov", "power:0.9")
    assert isinstance(p, PowerLaw) and p.p == 0.9 and p.n == 1000
    assert parse_cov("task-cov", "power:0.5:64").n == 64
    two = parse_cov("task-cov", "two:0.25,3")
    assert isinstance(two, Spectrum) and two.mean == pytest.approx(1.5)
    assert parse_cov("task-cov", "spiked:0.1,5").mean == pytest.approx(1.4)
    anti = parse_cov("test-cov", "anti:power:0.9")
    assert isinstance(anti, TestLaw) and anti.order == "anti"
    path = tmp_path / "c.npy"
    np.save(path, np.array([1.0, 2.0, 3.0]))
    assert parse_cov("task-cov", str(path)).tolist() == [1.0, 2.0, 3.0]
    for bad in ("power", "power:x", "gauss:1", "anti:power:0.9"):
        with pytest.raises(CLIError, match="--task-cov"):
            parse_cov("task-cov", bad)


def test_theory_command_matches_the_api(capsys):
    rc = main(["theory", "--tau", "0.5,2", "--kappa", "1", "--alpha", "2", "--rho", "0.1",
               "--task-cov", "power:0.9:100", "--test-cov", "anti:power:0.9:100", "--alpha-test", "3",
               "--format", "csv"])
    assert rc == 0
    lines = capsys.readouterr().out.strip().splitlines()
    header = lines[0].split(",")
    rows = [dict(zip(header, ln.split(","))) for ln in lines[1:]]
    from asymptotics.spectrum import anti_aligned, power_law
    t = power_law(0.9, 100)
    for r in rows:
        ref = A.e_icl(float(r["tau"]), 2.0, 1.0, 0.1, task_cov=t, test_cov=anti_aligned(t), alpha_test=3.0)
        assert float(r["e_icl"]) == pytest.approx(ref, rel=1e-15)


def test_bad_cov_arguments_exit_2(capsys):
    assert main(["theory", "--tau", "2", "--task-cov", "power:x"]) == 2
    assert "--task-cov" in capsys.readouterr().err
    assert main(["theory", "--tau", "2", "--alpha-test", "0"]) == 2
    assert "--alpha-test" in capsys.readouterr().err
    assert main(["theory", "--tau", "2", "--task-cov", "anti:power:0.9"]) == 2
    assert "apply to --test-cov only" in capsys.readouterr().err


def test_simulate_command_with_structured_tasks(capsys):
    rc = main(["simulate", "--tau", "2", "--alpha", "1", "--kappa", "1", "--rho", "0.1", "--d", "8",
               "--seeds", "2", "--task-cov", "two:0.25,3", "--test-cov", "anti:two:0.25,3", "--format", "csv",
               "--no-progress"])
    assert rc == 0
    out = capsys.readouterr().out
    header, row = out.strip().splitlines()[:2]
    r = dict(zip(header.split(","), row.split(",")))
    from asymptotics.spectrum import anti_aligned, two_level
    ref = A.e_icl(2.0, 1.0, 1.0, 0.1, task_cov=two_level(0.25, 3), test_cov=anti_aligned(two_level(0.25, 3)))
    assert float(r["e_icl"]) == pytest.approx(ref, rel=1e-15)
    assert float(r["icl_mean"]) > 0
