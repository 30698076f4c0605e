"""Plotting: what is drawn is the library's theory; boundary criterion; figure files."""
import subprocess
import sys

import numpy as np
import pytest

import asymptotics as A
from asymptotics import e_icl, e_idg
from icl_asymptotics import figures, plot

plt = pytest.importorskip("matplotlib.pyplot")


@pytest.fixture
def ax():
    fig, ax = plt.subplots()
    yield ax
    plt.close(fig)


def fake_sim(x_name="tau", xs=(0.5, 2.0), series=None, d=20, n_seeds=3):
    """Simulation-summary columns with made-up means (the plot only draws them)."""
    rows = [(x, s) for x in xs for s in (series[1] if series else [None])]
    cols = {x_name: np.array([r[0] for r in rows], float)}
    if series:
        cols[series[0]] = np.array([r[1] for r in rows], float)
    n = len(rows)
    cols.update(icl_mean=np.linspace(1.0, 2.0, n), icl_sem=np.full(n, 0.05),
                idg_mean=np.linspace(0.5, 1.0, n), idg_sem=np.full(n, 0.04),
                d=np.full(n, d), n_seeds=np.full(n, n_seeds))
    return cols


def test_import_asymptotics_does_not_import_matplotlib():
    code = "import sys, asymptotics, icl_asymptotics.cli; print('matplotlib' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "False", r.stderr


def test_learning_curves_draw_the_theory(ax):
    tau = np.geomspace(0.2, 5, 30)
    lams = [0.0, 0.1]
    out = plot.learning_curves("tau", tau, series=("lam", lams), ax=ax, logx=True, alpha=2.0,
                               kappa=1.0, rho=0.1)
    assert out is ax
    lines = [ln for ln in ax.get_lines() if len(ln.get_xdata()) == tau.size]
    assert len(lines) == 4  # one e_ICL and one e_IDG line per lambda
    expect = [e_icl(tau, 2.0, 1.0, 0.1, lams[0]),
              e_idg(tau, 2.0, 1.0, 0.1, lams[0]),
              e_icl(tau, 2.0, 1.0, 0.1, lams[1]),
              e_idg(tau, 2.0, 1.0, 0.1, lams[1])]
    for ln, e in zip(lines, expect):
        np.testing.assert_array_equal(ln.get_ydata(), e)  # same function, same inputs
    assert [ln.get_linestyle() for ln in lines] == ["-", "--", "-", "--"]
    assert ax.get_xscale() == "log" and ax.get_ylim()[0] == 0


def test_simulation_points_and_legend_state_d_and_seeds(ax):
    sim = fake_sim(series=("lam", [0.0, 0.1]))
    plot.learning_curves("tau", np.geomspace(0.2, 5, 20), series=("lam", [0.0, 0.1]), sim=sim,
                         ax=ax, alpha=2.0, kappa=1.0, rho=0.1)
    bars = ax.containers
    assert len(bars) == 4  # (ICL, IDG) x two lambdas
    y = np.sort(np.concatenate([b.lines[0].get_ydata() for b in bars]))
    np.testing.assert_array_equal(y, np.sort(np.r_[sim["icl_mean"], sim["idg_mean"]]))
    title = ax.get_legend().get_title().get_text()
    assert "d=20" in title and "3 seeds" in title


def test_missing_or_unknown_parameters_are_named(ax):
    with pytest.raises(ValueError, match="kappa"):
        plot.learning_curves("tau", [1.0, 2.0], ax=ax, alpha=1.0, rho=0.1, lam=0.0)
    with pytest.raises(ValueError, match="x_name"):
        plot.learning_curves("beta", [1.0, 2.0], ax=ax, alpha=1.0, kappa=1, rho=0.1, lam=0.0)
    with pytest.raises(ValueError, match="threshold"):
        plot.phase_diagram("kappa", [1, 2], "tau", [1, 2], threshold=1.0, ax=ax, alpha=1.0,
                           rho=0.1, lam=0.0)
    with pytest.raises(ValueError, match="quantity"):
        plot.phase_diagram("kappa", [1, 2], "tau", [1, 2], quantity="x", ax=ax, alpha=1.0,
                           rho=0.1, lam=0.0)


def test_phase_grid_relative_gap():
    kappa = np.array([0.3, 1.0, 3.0, np.inf])
    tau = np.array([0.5, 1.0, 4.0])
    g = A.error_mesh("kappa", kappa, "tau", tau, alpha=2.0, rho=0.1, lam=0.0)
    icl = e_icl(tau[:, None], 2.0, kappa[None, :], 0.1, 0.0)
    idg = e_idg(tau[:, None], 2.0, kappa[None, :], 0.1, 0.0)
    ok = np.isfinite(icl)
    np.testing.assert_array_equal(g["relgap"][ok], (icl[ok] - idg[ok]) / icl[ok])  # same arithmetic
    assert np.isnan(g["relgap"][1]).all()  # ridgeless tau = 1: inf/inf is reported as NaN
    # kappa = inf: training and test task laws coincide, so the gap vanishes
    np.testing.assert_allclose(g["relgap"][[0, 2], -1], 0.0, atol=1e-12)  # rounding only


def test_boundary_criterion_limit():
    """docs/cli.md: for tau -> inf and alpha -> inf (ridgeless) the relative gap is
    (1-kappa)/(1+rho-kappa) below kappa = 1 and 0 above, so the threshold-t contour sits at
    kappa = 1 - rho t/(1-t) (0.9 for rho = 0.1, t = 0.5)."""
    rho, alpha = 0.1, 1e5
    kappa = np.array([0.5, 0.85, 0.95, 2.0])
    g = A.error_mesh("kappa", kappa, "tau", np.array([np.inf]), alpha=alpha, rho=rho,
                        lam=0.0)["relgap"][0]
    limit = np.where(kappa < 1, (1 - kappa) / (1 + rho - kappa), 0.0)
    # corrections are O(q) = O((1+rho)/alpha) ~ 1e-5, magnified near kappa = 1 by the
    # square-root edge of the Marchenko-Pastur law: 1e-2 is generous there
    np.testing.assert_allclose(g, limit, atol=1e-2)
    assert g[1] > 0.5 > g[2]


def test_phase_diagram_draws_boundary_and_kappa_line(ax):
    kappa, tau = np.geomspace(0.05, 20, 25), np.geomspace(0.1, 30, 24)
    out = plot.phase_diagram("kappa", kappa, "tau", tau, ax=ax, alpha=4.0, rho=0.1, lam=0.0)
    assert out is ax
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("relative gap" in t for t in labels)
    assert any(r"\kappa=1" in t for t in labels)
    assert any(r"\tau=1" in t for t in labels)  # ridgeless: interpolation peak line
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"


def test_kappa_transition_baselines(ax):
    from asymptotics.baselines import ridge_error

    dmmse = {"kappa": np.array([0.1, 1.0]), "icl_mean": np.array([1.0, 0.6]),
             "icl_sem": np.array([0.01, 0.01]), "idg_mean": np.array([0.2, 0.4]),
             "idg_sem": np.array([0.01, 0.01]), "d": np.array([20, 20]),
             "n_contexts": np.array([500, 500])}
    plot.kappa_transition(np.geomspace(0.05, 50, 40), tau=10.0, alpha=2.0, rho=0.1, ax=ax,
                          dmmse=dmmse)
    levels = {float(ln.get_ydata()[0]) for ln in ax.get_lines()
              if len(set(np.asarray(ln.get_ydata(), float))) == 1}
    assert float(ridge_error(2.0, 0.1)) in levels
    q = (1 + 0.1) / 2.0
    # rho + q/(1+q): THEORY.md section 4, tau, kappa -> inf; the plot takes the theory there
    assert any(abs(v - (0.1 + q / (1 + q))) < 1e-12 for v in levels)  # rounding only
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("dMMSE" in t and "d=20" in t for t in labels)


def test_double_descent_and_alpha_figures(ax):
    plot.double_descent(np.geomspace(0.1, 10, 41), [0.0, 0.01], alpha=2.0, kappa=1.0, rho=0.1,
                        ax=ax)
    assert any(np.all(np.asarray(ln.get_xdata()) == 1.0) for ln in ax.get_lines())  # peak line
    _, ax2 = plt.subplots()
    plot.alpha_dependence(np.geomspace(0.1, 20, 60), [0.25, 4.0], tau=2.0, rho=0.1, ax=ax2)
    marks = [ln for ln in ax2.get_lines() if ln.get_marker() == "v" and len(ln.get_xdata()) == 1]
    assert len(marks) >= 1  # small kappa: e_ICL has an interior minimum in alpha
    plt.close(ax2.figure)


@pytest.mark.parametrize("suffix, magic", [(".png", b"\x89PNG"), (".pdf", b"%PDF"),
                                           (".svg", b"<?xml")])
def test_save_formats(tmp_path, suffix, magic):
    fig, _ = figures.build("d", quick=True, simulate=False)
    path = tmp_path / f"phase{suffix}"
    figures.save(fig, path)
    assert path.read_bytes()[:len(magic)] == magic
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_save_refuses_unknown_format(tmp_path):
    fig, _ = plt.subplots()
    with pytest.raises(ValueError, match="png, pdf or svg"):
        figures.save(fig, tmp_path / "x.jpg")
    assert list(tmp_path.iterdir()) == []


def test_extrapolated_points_and_legend_state_the_ladder(ax):
    sim = fake_sim(d=80, n_seeds=8)
    ext = dict(fake_sim(d=80, n_seeds=8), ladder=np.array(["40,60,80"] * 2))
    ext["icl_mean"] = ext["icl_mean"] - 0.1
    plot.learning_curves("tau", np.geomspace(0.2, 5, 20), sim=sim, extrap=ext, ax=ax, alpha=2.0,
                         kappa=1.0, rho=0.1, lam=0.0)
    bars = ax.containers
    assert len(bars) == 4  # (ICL, IDG) x (finite d, extrapolated)
    markers = [b.lines[0].get_marker() for b in bars]
    assert markers == ["o", "s", "D", "D"]
    np.testing.assert_array_equal(bars[2].lines[0].get_ydata(), ext["icl_mean"])  # drawn as given
    title = ax.get_legend().get_title().get_text()
    assert "d=80" in title and "40,60,80" in title and "8 seeds each" in title


def test_extrapolation_figure_draws_the_fit(ax):
    import simulate

    ds = np.array([40, 60, 80])
    rows = [{"d": d, "icl_mean": 1.3 + 3 / d, "icl_sem": 0.01, "idg_mean": 1.1 + 2 / d,
             "idg_sem": 0.01} for d in ds]
    fits = {e: simulate.extrapolate(ds, [r[f"{e}_mean"] for r in rows], [0.01] * 3, theory=t)
            for e, t in (("icl", 1.3), ("idg", 1.1))}
    plot.extrapolation(rows, fits, ax=ax, params={"tau": 2.0})
    diamonds = [b for b in ax.containers if b.lines[0].get_marker() == "D"]
    assert [b.lines[0].get_xdata()[0] for b in diamonds] == [0.0, 0.0]  # intercepts at 1/d = 0
    np.testing.assert_allclose([b.lines[0].get_ydata()[0] for b in diamonds], [1.3, 1.1], rtol=1e-12)
    assert "z=" in ax.get_legend().get_texts()[0].get_text().replace(" ", "")


def test_full_size_build_extrapolates_over_the_ladder(monkeypatch):
    """build() at full size asks simulate.validate for every simulated point over the ladder and
    records it in the manifest; the finite-d points are the ladder's top rung (no second run)."""
    import simulate

    calls, original = [], simulate.validate

    def fake_validate(tau, alpha, kappa, rho, lam, *, d, n_seeds, **kw):
        calls.append((tau, alpha, kappa, d, n_seeds))
        return original(tau, alpha, kappa, rho, lam, d=d, n_seeds=n_seeds, seed=0)

    monkeypatch.setattr(simulate, "validate", fake_validate)
    fig, record = figures.build("c", quick=False, n_seeds=2, ladder=(6, 8))
    ks = figures.FIGURES["c"]["sim_kappa"]["full"]
    assert [c[2] for c in calls] == ks and all(c[3] == (6, 8) for c in calls)
    ext = record["extrapolation"]
    assert ext["ladder"] == [6, 8] and len(ext["points"]) == len(ks)
    assert record["d"] == 8 and all(np.isfinite(p["icl_z"]) for p in ext["points"])


def test_extrapolated_quantity_propagates_independent_errors():
    """relgap = 1 - idg/icl and gap = icl - idg from the d -> inf estimates; se by first-order
    propagation with independent errors, written out here from the partial derivatives."""
    cols = {"icl_mean": np.array([1.2, 0.8]), "icl_sem": np.array([0.03, 0.02]),
            "idg_mean": np.array([0.7, 0.75]), "idg_sem": np.array([0.02, 0.01])}
    a, sa, b, sb = cols["icl_mean"], cols["icl_sem"], cols["idg_mean"], cols["idg_sem"]
    rel = figures.extrapolated_quantity(cols, "relgap")
    np.testing.assert_allclose(rel["value"], 1 - b / a, rtol=1e-15)  # same arithmetic
    # d(1 - b/a)/da = b/a^2, d/db = -1/a; two algebraically equal forms: rounding only
    np.testing.assert_allclose(rel["se"], np.hypot(b / a ** 2 * sa, sb / a), rtol=1e-13)
    gap = figures.extrapolated_quantity(cols, "gap")
    np.testing.assert_allclose(gap["se"], np.sqrt(sa ** 2 + sb ** 2), rtol=1e-15)
    assert figures.extrapolated_quantity(cols, "e_idg")["se"] is cols["idg_sem"]
    with pytest.raises(ValueError, match="quantity"):
        figures.extrapolated_quantity(cols, "nope")
