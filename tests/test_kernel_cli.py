"""The CLI's correlated-context options (--token-kernel, --query) and parse_kernel."""
import numpy as np
import pytest

import asymptotics as A
import simulate
from asymptotics import kernel as K
from icl_asymptotics.cli import CLIError, main, parse_kernel


def _rows(out):
    lines = out.strip().splitlines()
    header = lines[0].split(",")
    return [dict(zip(header, ln.split(","))) for ln in lines[1:]]


def test_parse_kernel_grammar(tmp_path):
    assert parse_kernel("iid") is None
    e = parse_kernel("exp:5")
    assert isinstance(e, K.Exponential) and e.xi == 5.0
    assert isinstance(parse_kernel("power:0.9"), K.PowerLaw)
    path = tmp_path / "k.npy"
    np.save(path, K.exponential(2.0).matrix(6))
    m = parse_kernel(str(path))
    assert isinstance(m, K.MatrixKernel) and m.l == 6
    np.save(path, np.array([[1.0, 2.0], [2.0, 1.0]]))
    for bad, match in (("exp", "expected"), ("exp:x", "could not convert"), ("gauss:1", "expected"),
                       ("exp:-1", "xi"), (str(path), "positive semi-definite")):
        with pytest.raises(CLIError, match=match):
            parse_kernel(bad)


@pytest.mark.parametrize("query", ["independent", "correlated"])
def test_theory_command_matches_the_api(capsys, query):
    rc = main(["theory", "--tau", "0.5,2", "--kappa", "1", "--alpha", "2", "--rho", "0.1",
               "--token-kernel", "exp:4", "--query", query, "--details", "--format", "csv"])
    assert rc == 0
    for r in _rows(capsys.readouterr().out):
        s = A.solve(float(r["tau"]), 2.0, 1.0, 0.1, token_kernel=K.exponential(4.0), query=query)
        for f in ("e_icl", "alpha_eff", "query_gain"):
            assert float(r[f]) == pytest.approx(float(getattr(s, f)), rel=1e-15, abs=0)  # csv round trip
        if query == "correlated":
            assert r["e_idg"] == "nan"  # not derived: shown as nan, not refused
        else:
            assert float(r["e_idg"]) == pytest.approx(float(s.e_idg), rel=1e-15)


def test_refusals_are_one_line_errors(capsys):
    assert main(["theory", "--tau", "2", "--kappa", "1", "--alpha", "1", "--rho", "0.1", "--lam", "0.1",
                 "--token-kernel", "exp:2", "--query", "correlated"]) != 0
    assert "lam > 0" in capsys.readouterr().err
    assert main(["theory", "--tau", "2", "--kappa", "1", "--alpha", "1", "--rho", "0.1",
                 "--token-kernel", "power:0.4"]) != 0
    assert "proportional regime" in capsys.readouterr().err


def test_simulate_command_matches_simulate_run(capsys):
    rc = main(["simulate", "--tau", "2", "--kappa", "1", "--alpha", "1", "--rho", "0.1", "--d", "10",
               "--seeds", "2", "--token-kernel", "exp:2", "--query", "correlated", "--no-progress",
               "--format", "csv"])
    assert rc == 0
    (r,) = _rows(capsys.readouterr().out)
    ref = simulate.run(10, 2.0, 1.0, 1.0, 0.1, n_seeds=2, token_kernel=K.exponential(2.0), query="correlated")
    assert float(r["icl_mean"]) == pytest.approx(ref.mean().icl, rel=1e-14)  # same replicates; summation order
    assert float(r["idg_mean"]) == pytest.approx(ref.mean().idg, rel=1e-14)


def test_kernel_figures_draw_the_theory(tmp_path):
    # theory only (simulate=False): the collapse figure's kernel curves lie on the i.i.d. curve drawn
    # with them (1e-10: the two code paths of the alpha_eff reduction, as in test_kernel.py)
    from icl_asymptotics import kernel_figures as F
    man = F.reproduce(tmp_path, simulate=False)
    assert [r["file"] for r in man["figures"]] == [f"kernel_{n}.png" for n in F.NAMES]
    assert all((tmp_path / r["file"]).stat().st_size > 0 for r in man["figures"])
    assert (tmp_path / "manifest_kernel.json").exists()
    fig, _ = F.build("collapse", simulate=False)
    ax = fig.axes[0]
    p = F.PARAMS
    for line in ax.get_lines()[1:]:
        x, y = line.get_data()
        assert np.max(np.abs(y / A.e_icl(p["tau"], x, p["kappa"], p["rho"], 0.01) - 1)) < 1e-10
    with pytest.raises(ValueError, match="kernel figure name"):
        F.build("nope")
