"""The paper-style figure set, and the glue between simulation sweeps and :mod:`icl_asymptotics.plot`.

``build(name, quick=...)`` returns one matplotlib figure of the set
(a) double descent in tau, (b) alpha dependence, (c) kappa transition with baselines,
(d) phase diagram; ``reproduce(outdir, ...)`` writes them all plus a ``manifest.json``
(package version, parameters, seeds). Simulation points come from :func:`simulate.sweep.sweep`
(finite d, imported only when simulations are asked for) and dMMSE points from
:func:`simulate.baselines.dmmse_mc`.
"""
from __future__ import annotations

import json
import os

import numpy as np

from asymptotics.params import PARAMS
from simulate.io import atomic_path


# Figure parameters (chosen here, paper-style; rho = 0.1 throughout) and the two run sizes.
# Full size also extrapolates every simulated point to d = inf over the ladder (its largest d is
# the finite-d point drawn next to it; the same replicates).
SIZES = {
    "quick": {"d": 20, "n_seeds": 2, "n_theory": 120, "n_phase": 48, "n_contexts": 2000,
              "ladder": None},
    "full": {"d": 80, "n_seeds": 8, "n_theory": 400, "n_phase": 160, "n_contexts": 20000,
             "ladder": (40, 60, 80)},
}
FIGURES = {
    "a": {"file": "a_double_descent", "what": "double descent of e_ICL, e_IDG in tau",
          "params": {"alpha": 2.0, "kappa": 1.0, "rho": 0.1},
          "lams": [0.0, 1e-3, 1e-2, 1e-1], "tau": (0.1, 10.0),
          "sim_tau": {"quick": [0.3, 0.6, 2.0, 5.0],
                      "full": [0.2, 0.35, 0.5, 0.7, 1.5, 2.0, 3.0, 5.0]}},
    "b": {"file": "b_alpha_dependence", "what": "non-monotone dependence on alpha",
          "params": {"tau": 2.0, "rho": 0.1, "lam": 0.0},
          "kappas": [0.25, 1.0, 4.0], "alpha": (0.1, 20.0),
          # l = alpha d >= 20 tokens: shorter contexts are far from the l -> inf theory
          "sim_alpha": {"quick": [1.0, 2.0, 5.0, 10.0],
                        "full": [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0]}},
    "c": {"file": "c_kappa_transition", "what": "kappa transition with baselines",
          "params": {"tau": 10.0, "alpha": 2.0, "rho": 0.1, "lam": 0.0}, "kappa": (0.05, 50.0),
          # k = kappa d >= 5 tasks at the smallest kappa: fewer is far from the k -> inf theory
          "sim_kappa": {"quick": [0.25, 0.5, 1.0, 2.0, 5.0],
                        "full": [0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0]}},
    "d": {"file": "d_phase_diagram", "what": "phase diagram kappa x tau (relative gap)",
          "params": {"alpha": 4.0, "rho": 0.1, "lam": 0.0}, "kappa": (0.05, 20.0),
          "tau": (0.1, 30.0), "threshold": 0.5},
}


def _figure(draw, size=(7.6, 4.0), title=None):
    """A new figure of ``size`` with one axes drawn by ``draw(ax)`` in the house style.

    Built as a bare :class:`matplotlib.figure.Figure`, not through pyplot: no backend is chosen,
    nothing is registered with a GUI, and it works the same headless or in a notebook.
    """
    from matplotlib import rc_context
    from matplotlib.figure import Figure

    from icl_asymptotics import plot

    with rc_context(plot.STYLE):
        fig = Figure(figsize=size, layout="constrained")
        ax = fig.add_subplot()
        if title:
            ax.set_title(title)
        draw(ax)
    return fig


def write_figure_set(outdir, *, prefix: str, names, build, what: dict, title: str, command: str,
                     manifest: str, **build_kwargs) -> dict:
    """Build each named figure (``build(name, **build_kwargs) -> (fig, record)``), save it as
    ``{prefix}_{name}.png`` in ``outdir`` and write the set's manifest (``title``, the package
    version, the ``command`` that redoes it, one record per figure) as ``manifest``; returns it."""
    import json
    import os

    import asymptotics

    os.makedirs(outdir, exist_ok=True)
    records = []
    for name in names:
        fig, rec = build(name, **build_kwargs)
        rec["file"] = f"{prefix}_{name}.png"
        rec["what"] = what[name]
        save(fig, os.path.join(outdir, rec["file"]))
        records.append(rec)
    out = {"title": title, "version": asymptotics.__version__, "command": command, "figures": records}
    with atomic_path(os.path.join(outdir, manifest)) as tmp:
        with open(tmp, "w") as f:
            json.dump(out, f, indent=1)
    return out


def save(fig, path, dpi=150) -> str:
    """Save ``fig`` atomically (format from the suffix: png, pdf, svg)."""
    fmt = os.path.splitext(os.fspath(path))[1].lower().lstrip(".")
    if fmt not in ("png", "pdf", "svg"):
        raise ValueError(f"figure format must be png, pdf or svg; got {path!r}")
    with atomic_path(path) as tmp:
        # no creation date in PDF/SVG, so identical inputs give identical files
        fig.savefig(tmp, format=fmt, dpi=dpi, bbox_inches="tight",
                    metadata={"pdf": {"CreationDate": None}, "svg": {"Date": None}}.get(fmt))
    return os.fspath(path)


# ----------------------------------------------------------------------------- simulation glue
def simulate_summary(grid, *, d, n_seeds, seed=0, cache_dir=None, n_jobs=1, progress=True, options=None,
                     model=None):
    """Finite-d simulation on ``grid`` (dict of parameter -> value(s), Cartesian product) as
    columns: the parameters, ``d, n_seeds, n_ok, n_failed, seed``, ``icl_mean, icl_sem, idg_mean,
    idg_sem`` (standard error with ddof = 1) and the d -> inf theory ``e_icl, e_idg`` at the same
    points. Runs :func:`simulate.sweep` (``options``: a :class:`simulate.Options` or a dict of its
    fields); each (point, replicate) has its own random stream (:func:`simulate.stream`), so the
    numbers do not depend on ``n_jobs``. A failed replicate is counted in ``n_failed`` (the
    sweep records it instead of aborting); a point with ``n_ok = 0`` has NaN means. ``model``:
    structured-task keywords (``task_cov``, ``test_cov``, ``alpha_test``) for simulation and theory."""
    from asymptotics import e_icl
    from asymptotics.scans import idg_where_defined
    from simulate import sweep

    full = {p: np.atleast_1d(np.asarray(grid.get(p, 0.0 if p == "lam" else np.nan), float))
            for p in PARAMS}
    missing = [p for p in PARAMS if np.isnan(full[p]).any()]
    if missing:
        raise ValueError(f"simulation grid is missing parameter(s) {', '.join(missing)}")
    model = {k: v for k, v in (model or {}).items() if v is not None}
    if model:
        if options is not None and not isinstance(options, dict):
            options = options.as_dict()
        options = {**(options or {}), **model}
    res = sweep({p: full[p].tolist() for p in PARAMS}, d=d, n_seeds=n_seeds, seed=seed,
                cache_dir=cache_dir, n_jobs=n_jobs, progress=progress, options=options)
    rows = res.summary()
    cols = {p: np.array([float(r[p]) for r in rows]) for p in PARAMS}
    cols["d"] = np.array([int(r.get("d", d)) for r in rows])
    cols["n_seeds"] = np.full(len(rows), int(n_seeds))
    cols["n_ok"] = np.array([int(r["n_ok"]) for r in rows])
    cols["n_failed"] = np.array([int(r["n_failed"]) for r in rows])
    cols["seed"] = np.full(len(rows), int(seed))
    for e in ("icl", "idg"):
        cols[f"{e}_mean"] = np.array([float(r[f"{e}_mean"]) for r in rows])
        cols[f"{e}_sem"] = np.array([float(r[f"{e}_sem"]) for r in rows])
    args = [cols[p] for p in PARAMS]
    cols["e_icl"] = np.asarray(e_icl(*args, **model), float)
    cols["e_idg"] = idg_where_defined(*args, **model)
    return cols


def extrapolated_summary(grid, *, ladder, n_seeds, seed=0, order=1, cache_dir=None, n_jobs=1,
                         progress=True, options=None, with_raw=False, model=None):
    """:func:`simulate.validate` at every point of ``grid`` (dict of parameter -> value(s),
    Cartesian product) as columns: the parameters, ``ladder`` (text ``"40,60,80"``), ``n_seeds``,
    ``icl_mean, icl_sem, idg_mean, idg_sem`` (the ``d -> inf`` estimates and their standard
    errors, so the plot draws them like simulation points), ``icl_z, idg_z``, ``icl_chi2,
    idg_chi2``, ``dof`` and the theory ``e_icl, e_idg``. A point whose simulation failed has NaN
    estimates (counted in ``n_failed``, 0 or 1). ``with_raw``: also return the finite-d points at
    the ladder's largest d (columns as :func:`simulate_summary`; the same replicates, not a
    second simulation) as ``(extrapolated, raw)``."""
    from simulate import validate

    full = {p: np.atleast_1d(np.asarray(grid.get(p, 0.0 if p == "lam" else np.nan), float))
            for p in PARAMS}
    missing = [p for p in PARAMS if np.isnan(full[p]).any()]
    if missing:
        raise ValueError(f"simulation grid is missing parameter(s) {', '.join(missing)}")
    from asymptotics.params import cartesian

    flat = cartesian(**full)
    points = [{p: float(flat[p][i]) for p in PARAMS} for i in range(flat["tau"].size)]
    from simulate import sizes

    for p in points:  # all sizes checked before any simulation
        sizes(min(ladder), p["tau"], p["alpha"], p["kappa"])
    rows, raw = [], []
    bar = progress_bar(points, progress, "extrapolate")
    for p in bar:
        try:
            v = validate(**p, d=ladder, n_seeds=n_seeds, seed=seed, order=order, cache_dir=cache_dir,
                         n_jobs=n_jobs, progress=False, **dict(options or {}),
                         **{k: val for k, val in (model or {}).items() if val is not None})
        except RuntimeError:  # recorded as a failed point, the figure goes on
            rows.append({**p, "n_failed": 1})
            raw.append({**p, "d": max(ladder), "n_ok": 0, "n_failed": n_seeds})
            continue
        top = v.rows[-1]
        raw.append({**p, "d": top["d"], "n_ok": n_seeds, "n_failed": 0,
                    **{k: top[k] for k in ("icl_mean", "icl_sem", "idg_mean", "idg_sem")}})
        row = {**p, "n_failed": 0}
        for e in ("icl", "idg"):
            fit = getattr(v, e)
            row.update({f"{e}_mean": fit.estimate, f"{e}_sem": fit.se, f"{e}_z": fit.z,
                        f"{e}_chi2": fit.chi2, f"e_{e}": fit.theory})
        row["dof"] = v.icl.dof
        rows.append(row)
    names = [*PARAMS, "icl_mean", "icl_sem", "idg_mean", "idg_sem", "icl_z", "idg_z", "icl_chi2",
             "idg_chi2", "dof", "e_icl", "e_idg", "n_failed"]
    cols = {c: np.array([r.get(c, np.nan) for r in rows], float) for c in names}
    cols["ladder"] = np.array([",".join(map(str, sorted(set(ladder))))] * len(rows))
    cols["n_seeds"] = np.full(len(rows), int(n_seeds))
    if not with_raw:
        return cols
    raw_cols = {c: np.array([r.get(c, np.nan) for r in raw], float)
                for c in (*PARAMS, "icl_mean", "icl_sem", "idg_mean", "idg_sem")}
    for c in ("d", "n_ok", "n_failed"):
        raw_cols[c] = np.array([int(r[c]) for r in raw])
    raw_cols["n_seeds"] = np.full(len(raw), int(n_seeds))
    raw_cols["seed"] = np.full(len(raw), int(seed))
    raw_cols["e_icl"], raw_cols["e_idg"] = cols["e_icl"], cols["e_idg"]
    return cols, raw_cols


def extrapolated_quantity(cols, quantity):
    """The phase-diagram ``quantity`` (``relgap``, ``gap``, ``e_icl``, ``e_idg``) from columns of
    :func:`extrapolated_summary`, as ``value`` and ``se`` columns added to a copy. For ``gap`` and
    ``relgap = 1 - e_IDG/e_ICL`` the se is first-order error propagation from the two estimates'
    se, treating them as independent: they come from the same trained models and are positively
    correlated, which makes the true se of a difference or ratio smaller, so this one is an upper
    bound to first order."""
    icl, idg = np.asarray(cols["icl_mean"], float), np.asarray(cols["idg_mean"], float)
    s_icl, s_idg = np.asarray(cols["icl_sem"], float), np.asarray(cols["idg_sem"], float)
    if quantity == "e_icl":
        value, se = icl, s_icl
    elif quantity == "e_idg":
        value, se = idg, s_idg
    elif quantity == "gap":
        value, se = icl - idg, np.hypot(s_icl, s_idg)
    elif quantity == "relgap":
        value = 1.0 - idg / icl
        se = np.abs(idg / icl) * np.hypot(s_idg / idg, s_icl / icl)
    else:
        raise ValueError(f"quantity must be one of relgap, gap, e_icl, e_idg; got {quantity!r}")
    return dict(cols, value=value, se=se)


def progress_bar(items, enabled, desc):
    """``items`` wrapped in a tqdm bar (one step per point) when ``enabled`` and tqdm is installed."""
    if not enabled:
        return items
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return items
    return tqdm(items, desc=desc, unit="point")


def dmmse_points(kappas, *, d, alpha, rho, n_contexts, seed=0):
    """dMMSE Monte Carlo at each finite kappa, as columns ``kappa, icl_mean, icl_sem, idg_mean,
    idg_sem, d, n_contexts``: replicate 0 of :func:`simulate.dmmse_replicate`, the same function (and
    so the same stream, keyed by the point) a sweep of that runner uses."""
    from simulate import dmmse_replicate

    out = {k: [] for k in ("kappa", "icl_mean", "icl_sem", "idg_mean", "idg_sem")}
    for kappa in kappas:
        r = dmmse_replicate(d, alpha, kappa, rho, seed=seed, replicate=0, n_contexts=n_contexts)
        out["kappa"].append(float(kappa))
        for e in ("icl", "idg"):
            out[f"{e}_mean"].append(r[e])
            out[f"{e}_sem"].append(r[f"{e}_sem"])
    cols = {k: np.array(v) for k, v in out.items()}
    cols["d"] = np.full(len(cols["kappa"]), int(d))
    cols["n_contexts"] = np.full(len(cols["kappa"]), int(n_contexts))
    return cols


# ----------------------------------------------------------------------------- CLI figures
def curve_figure(x_name, x, *, series=None, logx=False, logy=False, errors=("icl", "idg"),
                 sim_x=None, d=40, n_seeds=4, seed=0, cache_dir=None, n_jobs=1, progress=True,
                 title=None, options=None, extrapolate=None, raw=True, order=1, model=None, **params):
    """Learning-curve figure (``icl-asymptotics curve``): theory against ``x_name`` and, if
    ``sim_x`` is given, simulation points at those x values for every series value: finite-d
    points at ``d`` (if ``raw``) and/or, with ``extrapolate`` (a d ladder), the points
    extrapolated to ``d = inf`` (:func:`extrapolated_summary`)."""
    from icl_asymptotics import plot

    sim = extrap = None
    if sim_x is not None:
        grid = dict(params, **{x_name: list(sim_x)})
        if series is not None:
            grid[series[0]] = list(series[1])
        kw = dict(n_seeds=n_seeds, seed=seed, cache_dir=cache_dir, n_jobs=n_jobs, progress=progress,
                  options=options, model=model)
        if extrapolate is not None:
            extrap = extrapolated_summary(grid, ladder=tuple(extrapolate), order=order, **kw)
        if raw or extrapolate is None:
            sim = simulate_summary(grid, d=d, **kw)
    return _figure(lambda ax: plot.learning_curves(x_name, x, series=series, errors=errors, sim=sim,
                                                   extrap=extrap, ax=ax, logx=logx, logy=logy, model=model,
                                                   **params),
                   title=title)


def phase_figure(x_name, x, y_name, y, *, quantity="relgap", threshold=0.5, logx=True,
                 logy=True, title=None, extrapolate=None, sim_x=None, sim_y=None, n_seeds=4, seed=0,
                 order=1, cache_dir=None, n_jobs=1, progress=True, **params):
    """Phase-diagram figure (``icl-asymptotics phase``); with ``extrapolate`` (a d ladder) the
    ``quantity`` extrapolated to d -> inf at the points ``sim_x x sim_y`` is overlaid."""
    from icl_asymptotics import plot

    points = None
    if extrapolate is not None:
        grid = dict(params, **{x_name: list(sim_x), y_name: list(sim_y)})
        cols = extrapolated_summary(grid, ladder=tuple(extrapolate), n_seeds=n_seeds, seed=seed,
                                    order=order, cache_dir=cache_dir, n_jobs=n_jobs, progress=progress)
        points = extrapolated_quantity(cols, quantity)
    return _figure(lambda ax: plot.phase_diagram(x_name, x, y_name, y, quantity=quantity,
                                                 threshold=threshold, ax=ax, logx=logx, logy=logy,
                                                 points=points, **params),
                   size=(6.4, 4.6), title=title)


def validate_figure(validation, *, title=None):
    """Validation figure of one :class:`simulate.Validation` (``icl-asymptotics validate -o``)."""
    from icl_asymptotics import plot

    return _figure(lambda ax: plot.extrapolation(validation.rows, {"icl": validation.icl,
                                                                   "idg": validation.idg},
                                                 ax=ax, params=validation.params),
                   size=(8.4, 4.0), title=title)


def zscore_figure(points, validations, *, title=None):
    """z-scores of a grid of validations (None for a failed point: drawn as NaN, no bar)."""
    from icl_asymptotics import plot

    varying = [k for k in points[0] if len({p[k] for p in points}) > 1]
    labels = [", ".join(f"{k}={p[k]:g}" for k in varying) for p in points]
    if title is None:
        title = plot.param_text({k: v for k, v in points[0].items() if k not in varying})
    z = {e: [np.nan if v is None else getattr(v, e).z for v in validations] for e in ("icl", "idg")}
    return _figure(lambda ax: plot.z_scores(labels, z["icl"], z["idg"], ax=ax),
                   size=(max(6.0, 0.45 * len(points) + 3.0), 4.2), title=title)


# ----------------------------------------------------------------------------- the figure set
def build(name, *, quick=True, simulate=True, d=None, n_seeds=None, seed=0, cache_dir=None,
          n_jobs=1, progress=False, ladder="size"):
    """One figure of the set (``name`` in ``FIGURES``: 'a', 'b', 'c', 'd') at quick or full
    size. ``ladder``: the d ladder over which every simulated point is also extrapolated to
    d = inf (``"size"``: the size's default, none for quick; None: no extrapolation); ``d`` is
    then the ladder's largest d. Returns ``(figure, record)`` where ``record`` lists what was
    computed (for the manifest)."""
    if name not in FIGURES:
        raise ValueError(f"figure name must be one of {', '.join(FIGURES)}; got {name!r}")
    size = "quick" if quick else "full"
    spec, z = FIGURES[name], SIZES[size]
    if isinstance(ladder, str) and ladder == "size":
        ladder = z["ladder"]
        if ladder is not None and d is not None:  # the size's ladder shape (d/2, 3d/4, d) at this d
            ladder = tuple(int(round(d * v / ladder[-1])) for v in ladder)
    if ladder is not None:
        ladder = tuple(sorted(set(int(v) for v in ladder)))
        if len(ladder) < 2:
            raise ValueError(f"ladder needs at least 2 distinct d; got {ladder}")
        d = ladder[-1]
    d = z["d"] if d is None else d
    n_seeds = z["n_seeds"] if n_seeds is None else n_seeds
    sim_kw = dict(d=d, n_seeds=n_seeds, seed=seed, cache_dir=cache_dir, n_jobs=n_jobs,
                  progress=progress)
    from icl_asymptotics import plot

    def simulated(grid):
        """Finite-d columns at d, and (with a ladder) the extrapolated ones, for ``grid``."""
        if ladder is None:
            return {"sim": simulate_summary(grid, **sim_kw)}
        ext, raw = extrapolated_summary(grid, ladder=ladder, with_raw=True,
                                        **{k: v for k, v in sim_kw.items() if k != "d"})
        return {"sim": raw, "extrap": ext}

    p = spec["params"]
    record = {"figure": name, "what": spec["what"], "size": size, "params": p}
    if name == "a":
        tau = np.geomspace(*spec["tau"], 2 * z["n_theory"] + 1)  # odd count puts tau = 1 on it
        kw = dict(p)
        if simulate:
            kw.update(simulated(dict(p, tau=spec["sim_tau"][size], lam=spec["lams"])))
            record["sim_tau"] = spec["sim_tau"][size]
        fn, args = plot.double_descent, (tau, spec["lams"])
        record["lams"] = spec["lams"]
    elif name == "b":
        alpha = np.geomspace(*spec["alpha"], z["n_theory"])
        kw = dict(p)
        if simulate:
            kw.update(simulated(dict(p, alpha=spec["sim_alpha"][size], kappa=spec["kappas"])))
            record["sim_alpha"] = spec["sim_alpha"][size]
        fn, args = plot.alpha_dependence, (alpha, spec["kappas"])
        record["kappas"] = spec["kappas"]
    elif name == "c":
        kappa = np.geomspace(*spec["kappa"], z["n_theory"])
        kw = dict(p)
        if simulate:
            ks = spec["sim_kappa"][size]
            kw.update(simulated(dict(p, kappa=ks)))
            kw["dmmse"] = dmmse_points(ks, d=d, alpha=p["alpha"], rho=p["rho"],
                                       n_contexts=z["n_contexts"], seed=seed)
            record.update(sim_kappa=ks, dmmse_contexts=z["n_contexts"])
        fn, args = plot.kappa_transition, (kappa,)
    else:
        kappa = np.geomspace(*spec["kappa"], z["n_phase"])
        tau = np.geomspace(*spec["tau"], z["n_phase"] + 1)
        kw = dict(p, threshold=spec["threshold"])
        fn, args = plot.phase_diagram, ("kappa", kappa, "tau", tau)
        record["threshold"] = spec["threshold"]
    if "sim" in kw:
        record.update(d=int(d), n_seeds=int(n_seeds), seed=int(seed))
    if "extrap" in kw:
        ext = kw["extrap"]
        record["extrapolation"] = {
            "ladder": list(ladder), "model": "e_inf + c1/d, weighted least squares (simulate.validate)",
            "points": [{**{p: float(ext[p][i]) for p in PARAMS},
                        **{f"{e}_{f}": float(ext[f"{e}_{g}"][i]) for e in ("icl", "idg")
                           for f, g in (("estimate", "mean"), ("se", "sem"), ("z", "z"))}}
                       for i in range(len(ext["tau"]))]}
    fig = _figure(lambda ax: fn(*args, ax=ax, **kw), size=(6.4, 4.6) if name == "d" else (7.6, 4.0))
    return fig, record


def reproduce(outdir, *, quick=True, simulate=True, fmt="png", d=None, n_seeds=None, seed=0,
              cache_dir=None, n_jobs=1, progress=True, only=None, ladder="size"):
    """Write the figure set into ``outdir`` (each file atomically) and ``manifest.json``.
    Returns the list of paths written."""
    from icl_asymptotics import __version__

    if not os.path.isdir(outdir):
        raise ValueError(f"output directory does not exist: {outdir}")
    names = list(FIGURES) if only is None else list(only)
    written, records = [], []
    for name in names:
        fig, record = build(name, quick=quick, simulate=simulate, d=d, n_seeds=n_seeds,
                            seed=seed, cache_dir=cache_dir, n_jobs=n_jobs, progress=progress,
                            ladder=ladder)
        path = os.path.join(outdir, f"{FIGURES[name]['file']}.{fmt}")
        save(fig, path)
        record["file"] = os.path.basename(path)
        records.append(record)
        written.append(path)
    from simulate.seeding import CONVENTION

    manifest = {"package": "icl-asymptotics", "version": __version__,
                "size": "quick" if quick else "full", "simulate": bool(simulate), "seeding": CONVENTION,
                "figures": records}
    path = os.path.join(outdir, "manifest.json")
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(manifest, fh, indent=1)
            fh.write("\n")
    written.append(path)
    return written
