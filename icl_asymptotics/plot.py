"""Figures of the asymptotic theory, with optional simulation points and baselines.

Every function draws on an optional matplotlib ``ax`` (a new figure if omitted) and returns it.
Theory values are asked of the math layer (:func:`asymptotics.errors_along`,
:func:`asymptotics.error_mesh`, which also owns the relative gap); simulation and Monte Carlo data are
passed in as columns (a dict of 1-D arrays or a pandas DataFrame, e.g. from
:func:`icl_asymptotics.figures.simulate_summary`). Nothing here computes physics, runs a simulation,
writes a file or chooses a matplotlib backend (importing it leaves ``matplotlib.get_backend()``
as it was; the figure builders in :mod:`icl_asymptotics.figures` need no backend at all).
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.legend_handler import HandlerTuple
from matplotlib.lines import Line2D

from asymptotics import error_mesh, errors_along, optimal_attention_error, ridge_error
from asymptotics.params import PARAMS, check_name
from asymptotics.scans import fixed_params

SYMBOL = {"tau": r"\tau", "alpha": r"\alpha", "kappa": r"\kappa", "rho": r"\rho",
          "lam": r"\lambda"}
AXIS_LABEL = {"tau": r"$\tau = n/d^2$", "alpha": r"$\alpha = \ell/d$",
              "kappa": r"$\kappa = k/d$", "rho": r"noise $\rho$", "lam": r"ridge $\lambda$"}
ERROR_LABEL = {"icl": r"$e_{\mathrm{ICL}}$", "idg": r"$e_{\mathrm{IDG}}$"}
LINESTYLE = {"icl": "-", "idg": "--"}
MARKER = {"icl": "o", "idg": "s"}
EXTRAP_MARKER = {"icl": "D", "idg": "D"}  # extrapolated d -> inf points (ICL filled, IDG open)
QUANTITY_LABEL = {
    "relgap": r"$(e_{\mathrm{ICL}} - e_{\mathrm{IDG}})\,/\,e_{\mathrm{ICL}}$",
    "gap": r"$e_{\mathrm{ICL}} - e_{\mathrm{IDG}}$",
    "e_icl": r"$e_{\mathrm{ICL}}$", "e_idg": r"$e_{\mathrm{IDG}}$",
}
STYLE = {"font.size": 10, "axes.labelsize": 11, "axes.titlesize": 10, "legend.fontsize": 8,
         "legend.title_fontsize": 8, "xtick.labelsize": 9, "ytick.labelsize": 9,
         "legend.framealpha": 0.85, "figure.dpi": 100, "savefig.bbox": "tight"}


def _fmt(v: float) -> str:
    if np.isinf(v):
        return r"\infty"
    return f"{v:.4g}".replace("e-0", "e-").replace("e+0", "e")


def param_text(params: dict) -> str:
    """Math-text summary such as ``$\\alpha=2$, $\\rho=0.1$`` of the fixed parameters."""
    parts = []
    for p in PARAMS:
        if p in params:
            v = float(params[p])
            note = r"\ (\mathrm{ridgeless})" if p == "lam" and v == 0 else ""
            parts.append(f"${SYMBOL[p]}={_fmt(v)}{note}$")
    return ", ".join(parts)


def _series_label(name: str, v: float) -> str:
    if name == "lam" and v == 0:
        return r"$\lambda=0$ (ridgeless)"
    return f"${SYMBOL[name]}={_fmt(float(v))}$"


def _axes(ax):
    if ax is None:
        _, ax = plt.subplots(figsize=(7.6, 4.0), layout="constrained")
    return ax


def _colors(n: int, cmap: str):
    if n == 1:
        return ["k"]
    return [plt.get_cmap(cmap)(t) for t in np.linspace(0.0, 0.85, n)]


def _column(data, name):
    return np.asarray(data[name], dtype=float)


def sim_label(data) -> str:
    """Legend text stating the dimension(s) and number of seeds of simulation data."""
    ds = sorted({int(v) for v in _column(data, "d")})
    ns = sorted({int(v) for v in _column(data, "n_seeds")})
    dtxt = ", ".join(map(str, ds))
    ntxt = "-".join(map(str, (ns[0], ns[-1]) if len(ns) > 1 else ns))
    return f"simulation: $d={dtxt}$, {ntxt} seeds\n(mean $\\pm$ s.e.m.)"


def extrap_label(data) -> str:
    """Legend text for points extrapolated to d -> inf: the d ladder and seeds per rung."""
    ladders = sorted({str(v) for v in np.asarray(data["ladder"]).ravel()})
    ns = sorted({int(v) for v in _column(data, "n_seeds")})
    ntxt = "-".join(map(str, (ns[0], ns[-1]) if len(ns) > 1 else ns))
    return (f"extrapolated to $d\\to\\infty$ from\n$d={'; '.join(ladders)}$, {ntxt} seeds each\n"
            f"(weighted fit in $1/d$; estimate $\\pm$ s.e.)")


def _legend_title(sim, extrap):
    parts = [sim_label(sim)] if sim is not None else []
    if extrap is not None:
        parts.append(extrap_label(extrap))
    return "\n".join(parts) if parts else None


def _set_ylim(ax, values, logy):
    """Linear scale: start at 0 (errors are >= 0) and keep a divergence (the ridgeless peak)
    from squashing the rest of the plot."""
    v = np.concatenate([np.ravel(a) for a in values])
    v = v[np.isfinite(v)]
    if logy or v.size == 0:
        return
    ax.set_ylim(0, min(1.05 * v.max(), 3 * np.percentile(v, 90)))


def learning_curves(x_name, x, *, series=None, errors=("icl", "idg"), sim=None, extrap=None, ax=None,
                    logx=False, logy=False, cmap="viridis", legend=True, model=None, **params):
    """Theory curves of e_ICL (solid) and e_IDG (dashed) against ``x_name``.

    ``series=(name, values)`` draws one pair per value (colours); ``params`` fixes every other
    parameter. ``sim``: simulation columns with ``x_name`` (and the series parameter),
    ``icl_mean, icl_sem, idg_mean, idg_sem, d, n_seeds`` - drawn as mean +- sem error bars in the
    colour of their curve (filled circles ICL, open squares IDG). ``extrap``: the same columns
    for points extrapolated to d -> inf (``*_mean`` the estimate, ``*_sem`` its se, ``ladder``,
    ``n_seeds``; :func:`icl_asymptotics.figures.extrapolated_summary`), drawn as diamonds. Theory:
    THEORY.md section 4 (d -> inf); simulations are finite d. ``model``: structured-task keywords of
    :func:`asymptotics.e_icl` (``task_cov``, ``test_cov``, ``alpha_test``).
    """
    check_name(x_name, "x_name")
    for e in errors:
        if e not in ERROR_LABEL:
            raise ValueError(f"errors must be drawn from ('icl', 'idg'); got {e!r}")
    ax = _axes(ax)
    x = np.asarray(x, float)
    s_name, s_values = (series[0], np.atleast_1d(np.asarray(series[1], float))) if series \
        else (None, np.array([np.nan]))
    if s_name is not None:
        check_name(s_name, "series name")
        if s_name == x_name:
            raise ValueError("the series parameter must differ from the x-axis parameter")
    fixed = fixed_params(params, [p for p in PARAMS if p not in (x_name, s_name)])
    colors = _colors(len(s_values), cmap)
    drawn = []
    for v, c in zip(s_values, colors):
        pv = dict(fixed) if s_name is None else dict(fixed, **{s_name: v})
        th = errors_along(x_name, x, model=model, **pv)
        for e in errors:
            ax.plot(x, th[e], LINESTYLE[e], color=c, lw=1.6)
            drawn.append(th[e])
        if sim is not None:  # faded next to extrapolated points: those are what meets the theory
            _sim_points(ax, sim, x_name, s_name, v, errors, c,
                        **({} if extrap is None else {"alpha": 0.45, "ms": 3.5}))
        if extrap is not None:
            _sim_points(ax, extrap, x_name, s_name, v, errors, c, marker=EXTRAP_MARKER, ms=5.5)
    ax.set_xscale("log" if logx else "linear")
    ax.set_yscale("log" if logy else "linear")
    _set_ylim(ax, drawn + [_column(data, f"{e}_mean") + _column(data, f"{e}_sem")
                           for data in (sim, extrap) if data is not None for e in errors], logy)
    ax.set_xlabel(AXIS_LABEL[x_name])
    ax.set_ylabel("test error")
    if not ax.get_title():
        ax.set_title(param_text(fixed))
    if legend:
        _legends(ax, s_name, s_values, colors, errors, sim, extrap=extrap)
    return ax


def _sim_points(ax, sim, x_name, s_name, v, errors, color, marker=MARKER, ms=4.5, alpha=1.0):
    xs = _column(sim, x_name)
    keep = np.ones(xs.shape, bool) if s_name is None else np.isclose(_column(sim, s_name), v,
                                                                   rtol=1e-12, atol=0)
    order = np.argsort(xs[keep])
    for e in errors:
        ax.errorbar(xs[keep][order], _column(sim, f"{e}_mean")[keep][order],
                    yerr=_column(sim, f"{e}_sem")[keep][order], fmt=marker[e], ms=ms,
                    color=color, mfc=color if e == "icl" else "white", mew=1.1, capsize=2,
                    elinewidth=1, ls="none", zorder=3, alpha=alpha)


def _legends(ax, s_name, s_values, colors, errors, sim, extra=(), extrap=None):
    """One legend outside the axes, on the right, so it never hides a curve: the series values
    (colours), then what each line style and marker means; titled with the simulation's d and
    number of seeds (and the d ladder of extrapolated points)."""
    style = []
    for e in errors:
        line = Line2D([], [], color="k", ls=LINESTYLE[e])
        handles, words = [line], ["theory"]
        if sim is not None:
            handles.append(Line2D([], [], color="k", marker=MARKER[e], ls="none",
                                  mfc="k" if e == "icl" else "white"))
            words.append("simulation")
        if extrap is not None:
            handles.append(Line2D([], [], color="k", marker=EXTRAP_MARKER[e], ls="none",
                                  mfc="k" if e == "icl" else "white"))
            words.append(r"$d\to\infty$")
        style.append((tuple(handles) if len(handles) > 1 else line,
                      f"{ERROR_LABEL[e]} " + ", ".join(words)))
    style += [(h, h.get_label()) for h in extra]
    series = []
    if s_name is not None:
        series = [(Line2D([], [], color=c, lw=2), _series_label(s_name, v))
                  for v, c in zip(s_values, colors)]
    entries = series + style
    ax.legend([h for h, _ in entries], [t for _, t in entries], loc="upper left",
              bbox_to_anchor=(1.02, 1.0), borderaxespad=0,
              title=_legend_title(sim, extrap),
              handler_map={tuple: HandlerTuple(ndivide=None, pad=0.4)})


def double_descent(tau, lams, *, alpha, kappa, rho, sim=None, extrap=None, ax=None, logy=True):
    """Figure (a): e_ICL, e_IDG against tau (log axis) for several ridge strengths, with the
    interpolation peak at tau = 1 marked (ridgeless divergence, paper Result 1)."""
    ax = learning_curves("tau", tau, series=("lam", lams), sim=sim, extrap=extrap, ax=ax, logx=True,
                         logy=logy,
                         alpha=alpha, kappa=kappa, rho=rho, legend=False)
    ax.axvline(1.0, color="0.5", lw=0.8, ls=":", zorder=0)
    peak = Line2D([], [], color="0.5", ls=":", label=r"interpolation peak $\tau=1$")
    colors = _colors(len(np.atleast_1d(lams)), "viridis")
    _legends(ax, "lam", np.atleast_1d(lams), colors, ("icl", "idg"), sim, extra=[peak], extrap=extrap)
    return ax


def alpha_dependence(alpha, kappas, *, tau, rho, lam=0.0, sim=None, extrap=None, ax=None):
    """Figure (b): e_ICL, e_IDG against context length alpha (log axis) for several task
    diversities kappa; interior minima of e_ICL are marked (for small kappa longer contexts
    eventually hurt: the model memorises the pretraining tasks)."""
    alpha = np.asarray(alpha, float)
    ax = learning_curves("alpha", alpha, series=("kappa", kappas), sim=sim, extrap=extrap, ax=ax, logx=True,
                         tau=tau, rho=rho, lam=lam, legend=False)
    kappas = np.atleast_1d(np.asarray(kappas, float))
    colors = _colors(len(kappas), "viridis")
    for k, c in zip(kappas, colors):
        e = errors_along("alpha", alpha, tau=tau, kappa=k, rho=rho, lam=lam)["icl"]
        i = int(np.nanargmin(e))
        if 0 < i < len(e) - 1:
            ax.plot(alpha[i], e[i], marker="v", ms=8, color=c, mec="k", zorder=4)
    mark = Line2D([], [], marker="v", color="0.5", mec="k", ls="none",
                  label=r"minimum of $e_{\mathrm{ICL}}$ over $\alpha$")
    _legends(ax, "kappa", kappas, colors, ("icl", "idg"), sim, extra=[mark], extrap=extrap)
    return ax


def kappa_transition(kappa, *, tau, alpha, rho, lam=0.0, sim=None, extrap=None, dmmse=None, ax=None,
                     tau_limit=True):
    """Figure (c): e_ICL and e_IDG against task diversity kappa (log axis) at large tau, with
    baselines: the ridge/Bayes error for Gaussian tasks (:func:`asymptotics.baselines.ridge_error`),
    the level rho + q/(1+q) that linear attention reaches as tau, kappa -> inf
    (:func:`asymptotics.limits.optimal_attention_error`), and optionally dMMSE Monte Carlo points
    (``dmmse`` columns ``kappa, icl_mean, icl_sem, idg_mean, idg_sem, d, n_contexts``).
    ``tau_limit`` adds the tau -> inf theory (thin grey) that the finite-tau curves approach."""
    ax = learning_curves("kappa", kappa, sim=sim, extrap=extrap, ax=ax, logx=True, tau=tau, alpha=alpha,
                         rho=rho, lam=lam, legend=False)
    extra = []
    if tau_limit and np.isfinite(tau):
        th = errors_along("kappa", kappa, tau=np.inf, alpha=alpha, rho=rho, lam=lam)
        for e in ("icl", "idg"):
            ax.plot(kappa, th[e], LINESTYLE[e], color="0.6", lw=1.0, zorder=1)
        extra.append(Line2D([], [], color="0.6", lw=1.0, label=r"theory at $\tau=\infty$"))
    r = float(ridge_error(alpha, rho))
    ax.axhline(r, color="tab:blue", lw=1.2, ls="-.")
    extra.append(Line2D([], [], color="tab:blue", ls="-.",
                        label=f"ridge / Bayes, Gaussian prior ({r:.3f})"))
    o = float(optimal_attention_error(alpha, rho))
    ax.axhline(o, color="tab:green", lw=1.2, ls=":")
    extra.append(Line2D([], [], color="tab:green", ls=":",
                        label=rf"$\rho + q/(1+q)$, $\tau,\kappa\to\infty$ ({o:.3f})"))
    ax.axvline(1.0, color="0.6", lw=0.8, ls=(0, (1, 3)), zorder=0)
    if dmmse is not None:
        xs = _column(dmmse, "kappa")
        for e, mfc in (("icl", "tab:red"), ("idg", "white")):
            ax.errorbar(xs, _column(dmmse, f"{e}_mean"), yerr=_column(dmmse, f"{e}_sem"),
                        fmt="^" if e == "icl" else "v", color="tab:red", mfc=mfc, ms=5,
                        capsize=2, ls="none", zorder=3)
        top = np.nanmax(_column(dmmse, "icl_mean") + _column(dmmse, "icl_sem"))
        if np.isfinite(top) and top > ax.get_ylim()[1]:
            ax.set_ylim(0, 1.05 * top)
        d = sorted({int(v) for v in _column(dmmse, "d")})
        nc = sorted({int(v) for v in _column(dmmse, "n_contexts")})
        for e in ("icl", "idg"):
            extra.append(Line2D([], [], color="tab:red", marker="^" if e == "icl" else "v",
                                mfc="tab:red" if e == "icl" else "white", ls="none",
                                label=f"dMMSE {ERROR_LABEL[e]}, MC $d={d[0]}$, "
                                      f"{nc[0]} contexts"))
    _legends(ax, None, [], [], ("icl", "idg"), sim, extra=extra, extrap=extrap)
    return ax


def _edges(v, log):
    v = np.asarray(v, float)
    t = np.log(v) if log else v
    mid = 0.5 * (t[1:] + t[:-1])
    e = np.concatenate([[2 * t[0] - mid[0]], mid, [2 * t[-1] - mid[-1]]])
    return np.exp(e) if log else e


def phase_diagram(x_name, x, y_name, y, *, quantity="relgap", threshold=0.5, ax=None,
                  logx=True, logy=True, cmap=None, points=None, **params):
    """Figure (d): heat map of ``quantity`` over two parameters, with the memorisation/ICL
    boundary: the contour relgap = ``threshold`` (solid white), and the asymptotic line kappa = 1
    (dashed) when kappa is an axis. Criterion and its tau, alpha -> inf limit: docs/cli.md.

    ``points``: simulated values of ``quantity`` to overlay (columns ``x_name``, ``y_name``,
    ``value``, ``se``, ``ladder``, ``n_seeds``; e.g. extrapolated to d -> inf by
    :func:`icl_asymptotics.figures.extrapolated_quantity`): circles filled with the same colour
    scale, labelled ``value +- se``; a point agrees with the map when its fill matches the
    background."""
    if quantity not in QUANTITY_LABEL:
        raise ValueError(f"quantity must be one of {', '.join(QUANTITY_LABEL)}; got {quantity!r}")
    if not 0 < threshold < 1:
        raise ValueError(f"threshold must satisfy 0 < threshold < 1; got {threshold!r}")
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.size < 2 or y.size < 2:
        raise ValueError("phase diagram axes need at least 2 values each")
    ax = _axes(ax)
    g = error_mesh(x_name, x, y_name, y, **params)
    z = np.ma.masked_invalid(g[quantity])
    if quantity in ("e_icl", "e_idg"):
        norm, cmap = LogNorm(vmin=z.min(), vmax=z.max()), cmap or "magma"
    elif quantity == "relgap":
        norm, cmap = plt.Normalize(0, 1), cmap or "viridis"
    else:
        norm, cmap = plt.Normalize(0, float(z.max())), cmap or "viridis"
    mesh = ax.pcolormesh(_edges(x, logx), _edges(y, logy), z, norm=norm, cmap=cmap,
                         shading="flat", rasterized=True)
    ax.figure.colorbar(mesh, ax=ax, label=QUANTITY_LABEL[quantity])
    handles = []
    rg = np.ma.masked_invalid(g["relgap"])
    if rg.min() < threshold < rg.max():
        ax.contour(x, y, rg, levels=[threshold], colors="white", linewidths=2.2)
        ax.contour(x, y, rg, levels=[threshold], colors="k", linewidths=0.8)
        handles.append(Line2D([], [], color="k", lw=2,
                              label=f"boundary: relative gap $= {threshold:g}$"))
    for name, line in ((x_name, ax.axvline), (y_name, ax.axhline)):
        if name == "kappa":
            line(1.0, color="w", ls="--", lw=1.2)
            handles.append(Line2D([], [], color="0.4", ls="--",
                                  label=r"$\kappa=1$ ($\tau,\alpha\to\infty$, $\rho\to 0$)"))
        if name == "tau" and float(params.get("lam", 0.0)) == 0.0:
            line(1.0, color="w", ls=":", lw=1.0)
            handles.append(Line2D([], [], color="0.4", ls=":",
                                  label=r"interpolation peak $\tau=1$"))
    ax.set_xscale("log" if logx else "linear")
    ax.set_yscale("log" if logy else "linear")
    ax.set_xlim(_edges(x, logx)[[0, -1]])
    ax.set_ylim(_edges(y, logy)[[0, -1]])
    ax.set_xlabel(AXIS_LABEL[x_name])
    ax.set_ylabel(AXIS_LABEL[y_name])
    if not ax.get_title():
        ax.set_title(param_text({p: v for p, v in params.items() if p not in (x_name, y_name)}))
    if points is not None:
        px, py = _column(points, x_name), _column(points, y_name)
        val, se = _column(points, "value"), _column(points, "se")
        ok = np.isfinite(val)
        ax.scatter(px[ok], py[ok], c=val[ok], cmap=mesh.cmap, norm=mesh.norm, s=70,
                   edgecolors="k", linewidths=1.2, zorder=5)
        ax.scatter(px[~ok], py[~ok], marker="x", color="r", s=50, zorder=5)
        for xi, yi, v, e in zip(px[ok], py[ok], val[ok], se[ok]):
            ax.annotate(f"{v:.2g}$\\pm${e:.1g}", (xi, yi), xytext=(6, 5), textcoords="offset points",
                        fontsize=7, color="k", zorder=6,
                        bbox={"boxstyle": "round,pad=0.15", "fc": "w", "ec": "none", "alpha": 0.75})
        handles.append(Line2D([], [], marker="o", color="0.6", mec="k", ls="none",
                              label=extrap_label(points).replace("\n", " ", 1)))
    if handles:
        ax.legend(handles=handles, loc="upper right", facecolor="0.92")
    return ax


def extrapolation(table, fits, *, errors=("icl", "idg"), ax=None, params=None, legend=True):
    """Validation figure: finite-d means +- sem against ``1/d``, the weighted least-squares fit
    (line, with its 1-se band), its intercept at ``1/d = 0`` with error bar (diamond) and the
    theory there (star).

    ``table``: columns ``d, icl_mean, icl_sem, idg_mean, idg_sem`` (one row per d, e.g.
    :attr:`simulate.Validation.rows` as a DataFrame or list of dicts); ``fits``: ``{"icl": fit,
    "idg": fit}`` with ``estimate, se, theory, z`` and ``predict(x) -> (value, se)`` (a
    :class:`simulate.Extrapolation`); ``params`` (optional) titles the axes.
    """
    ax = _axes(ax)
    if isinstance(table, list):
        table = {k: [r[k] for r in table] for k in table[0]}
    x = 1.0 / _column(table, "d")
    grid = np.linspace(0.0, 1.08 * x.max(), 200)
    colors = {"icl": "tab:blue", "idg": "tab:orange"}
    handles = []
    for e in errors:
        if e not in ERROR_LABEL:
            raise ValueError(f"errors must be drawn from ('icl', 'idg'); got {e!r}")
        fit, c = fits[e], colors[e]
        value, band = fit.predict(grid)
        ax.plot(grid, value, LINESTYLE[e], color=c, lw=1.3)
        ax.fill_between(grid, value - band, value + band, color=c, alpha=0.15, lw=0)
        ax.errorbar(x, _column(table, f"{e}_mean"), yerr=_column(table, f"{e}_sem"), fmt=MARKER[e],
                    ms=5, color=c, mfc=c if e == "icl" else "white", capsize=2, ls="none", zorder=3)
        ax.errorbar([0.0], [fit.estimate], yerr=[fit.se], fmt="D", ms=6, color=c, mec="k",
                    capsize=3, zorder=4, clip_on=False)
        ax.plot([0.0], [fit.theory], marker="*", ms=13, color="k", mfc="gold", ls="none",
                zorder=5, clip_on=False)
        handles.append(Line2D([], [], color=c, ls=LINESTYLE[e], marker=MARKER[e],
                              mfc=c if e == "icl" else "white",
                              label=f"{ERROR_LABEL[e]}: $d\\to\\infty$ {fit.estimate:.4g} $\\pm$ "
                                    f"{fit.se:.2g}, theory {fit.theory:.4g}, $z={fit.z:+.2f}$"))
    handles += [Line2D([], [], marker="D", color="0.4", mec="k", ls="none",
                       label=r"fit intercept at $1/d=0$ ($\pm$ s.e.)"),
                Line2D([], [], marker="*", ms=11, color="k", mfc="gold", ls="none",
                       label=r"theory ($d\to\infty$)")]
    ax.set_xlim(-0.04 * x.max(), 1.1 * x.max())
    ax.set_xlabel(r"$1/d$")
    ax.set_ylabel("test error")
    if params is not None and not ax.get_title():
        ax.set_title(param_text(params))
    if legend:
        ds = ", ".join(str(int(v)) for v in _column(table, "d"))
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0,
                  title=f"simulation $d={ds}$ (mean $\\pm$ s.e.m.)\nweighted fit in $1/d$")
    return ax


def z_scores(labels, z_icl, z_idg, *, ax=None):
    """z-scores ``(estimate - theory)/se`` of a grid of validations, one pair of bars per point,
    with the bands ``|z| <= 1`` and ``|z| <= 2`` shaded (a normal puts 68% and 95% of points inside)."""
    ax = _axes(ax)
    z_icl, z_idg = np.asarray(z_icl, float), np.asarray(z_idg, float)
    pos = np.arange(len(labels))
    ax.axhspan(-2, 2, color="0.93", zorder=0)
    ax.axhspan(-1, 1, color="0.85", zorder=0)
    ax.axhline(0, color="0.4", lw=0.8)
    ax.bar(pos - 0.2, z_icl, 0.4, color="tab:blue", label=ERROR_LABEL["icl"])
    ax.bar(pos + 0.2, z_idg, 0.4, color="tab:orange", label=ERROR_LABEL["idg"])
    ax.set_xticks(pos, labels, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel(r"$z = (\hat e_\infty - e_{\mathrm{theory}})/\mathrm{s.e.}$")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
    return ax
