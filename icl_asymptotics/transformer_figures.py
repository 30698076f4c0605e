"""Trained attention models next to the theory: sweeps of :func:`simulate.transformer.train`, their
tidy table, and the figure (``icl-asymptotics transformer``; docs/transformer.md).

The sweep is :func:`simulate.sweep` with the runner :func:`simulate.transformer.train_replicate`
(one task per (architecture, point, replicate), resumable cache, progress bar); the theory curves
are :func:`asymptotics.e_icl` / :func:`asymptotics.e_idg` at ``lam = 0`` (ridgeless: what the
unregularised linear attention converges to). ``simulate.transformer`` (and so JAX) is imported
only when a sweep runs.
"""
from __future__ import annotations

import csv
import math

import numpy as np

from simulate.io import atomic_path

#: The recorded table's columns (docs/results/transformer_*.csv), in order.
COLUMNS = ("arch", "d", "tau", "alpha", "kappa", "rho", "seed", "icl", "idg", "steps", "n_layers",
           "icl_sem", "idg_sem", "final_loss", "converged", "l", "k", "n", "seconds", "entropy")
MARKERS = {"linear": "o", "softmax": "s", "exact": "x"}
COLORS = {"linear": "#1f77b4", "softmax": "#d62728", "exact": "0.35"}
LABELS = {"exact": "exact ridgeless $\\Gamma^*$ (simulate.run)"}


def sweep_rows(grid: dict, *, archs, d: int, n_seeds: int, seed: int = 0, steps=None, n_layers=None,
               options=None, cache_dir=None, progress=True, n_jobs=1, cached_only=False,
               shard=None) -> list[dict]:
    """Train every architecture in ``archs`` at every point of ``grid`` (``tau, alpha, kappa, rho``
    axes) for replicates ``0..n_seeds-1`` of entropy ``seed``; one row per run (``COLUMNS``; the
    ``seed`` column is the replicate index, ``entropy`` the stream's entropy).

    ``n_layers`` (softmax; linear is always 1) and ``options`` (a dict per architecture name, or one
    dict for all) are passed to :func:`simulate.transformer.train`. ``cached_only``: train nothing,
    return the runs already in ``cache_dir`` (a sweep stopped part-way). ``shard=(K, N)``: run
    only the tasks with index K mod N (:func:`simulate.sweep`; several processes, one cache). Raises ``ValueError`` for bad
    input before anything is trained, and ``RuntimeError`` if a run failed (the cache keeps the
    runs that finished).
    """
    import simulate
    from simulate.transformer import ARCHS, train_replicate

    archs = list(archs)
    for arch in archs:
        if arch not in ARCHS:
            raise ValueError(f"arch must be among {', '.join(ARCHS)}; got {arch!r}")
    rows = []
    for arch in archs:
        opts = dict((options or {}).get(arch, {}) if any(a in (options or {}) for a in ARCHS)
                    else (options or {}))
        opts["arch"] = arch
        if steps is not None:
            opts["steps"] = int(steps)
        if arch == "softmax" and n_layers is not None:
            opts["n_layers"] = int(n_layers)
        if cached_only:
            if cache_dir is None:
                raise ValueError("cached_only needs a cache_dir")
            plan = simulate.plan(grid, d=d, n_seeds=n_seeds, seed=seed, runner=train_replicate,
                                 cache_dir=cache_dir, options=opts)
            plan.tasks = [t for t in plan.tasks if t[0] in plan.results]
            plan.todo = []
            res = simulate.collect(plan, engine="cache", wall=0.0)
        else:
            res = simulate.sweep(grid, d=d, n_seeds=n_seeds, seed=seed, runner=train_replicate,
                                 cache_dir=cache_dir, progress=progress, n_jobs=n_jobs, options=opts,
                                 shard=shard)
        failed = res.errors
        if failed:
            raise RuntimeError(f"{len(failed)} {arch} run(s) failed, first: {failed[0]['error']}")
        for rec in res.records:
            row = {c: rec.get(c) for c in COLUMNS}
            row["seed"], row["entropy"] = rec["replicate"], seed
            rows.append(row)
    return rows


def exact_rows(grid: dict, *, d: int, n_seeds: int, seed: int = 0) -> list[dict]:
    """Reference rows (``arch = 'exact'``): :func:`simulate.run`'s exact ridgeless ``Gamma*`` on the
    same data as the trained models (same stream, replicates ``0..n_seeds-1``), at every point of
    ``grid`` with finite ``tau`` (``tau = inf`` has no finite training set to solve)."""
    import simulate
    from asymptotics.params import cartesian

    flat = cartesian(**{k: grid[k] for k in ("tau", "alpha", "kappa", "rho")})
    rows = []
    for i in range(len(flat["tau"])):
        p = {k: float(flat[k][i]) for k in flat}
        if math.isinf(p["tau"]):
            continue
        res = simulate.run(d, p["tau"], p["alpha"], p["kappa"], p["rho"], 0.0, n_seeds=n_seeds, seed=seed)
        for r in range(n_seeds):
            rows.append({"arch": "exact", "d": d, **p, "seed": r, "icl": float(res.icl[r]),
                         "idg": float(res.idg[r]), "l": res.l, "k": res.k, "n": res.n,
                         "seconds": res.records[r]["seconds"], "entropy": seed})
    return rows


def write_csv(rows: list[dict], path) -> None:
    """Write ``rows`` (``COLUMNS``) to ``path`` atomically."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(COLUMNS))
        w.writeheader()
        for row in rows:
            w.writerow({c: ("" if row.get(c) is None else row[c]) for c in COLUMNS})


def read_csv(path) -> list[dict]:
    """Rows of a table written by :func:`write_csv` (numbers as floats, ``arch`` as text)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    out = []
    for row in rows:
        r = {}
        for k, v in row.items():
            if k == "arch" or v in ("", None):
                r[k] = v if v != "" else None
            elif v in ("True", "False"):
                r[k] = v == "True"
            else:
                r[k] = float(v)
        out.append(r)
    return out


def summarize(rows: list[dict], x_name: str) -> dict:
    """``{arch: (x, icl_mean, icl_sem, idg_mean, idg_sem)}`` over seeds at each ``x_name`` value
    (sem over seeds with :func:`simulate.mean_sem`; 0 with one seed)."""
    from simulate.stats import mean_sem

    out = {}
    for arch in sorted({r["arch"] for r in rows}):
        xs = sorted({float(r[x_name]) for r in rows if r["arch"] == arch})
        cols = [[], [], [], [], []]
        for x in xs:
            sel = [r for r in rows if r["arch"] == arch and float(r[x_name]) == x]
            cols[0].append(x)
            for j, e in enumerate(("icl", "idg")):
                v = np.array([float(r[e]) for r in sel])
                m, s = mean_sem(v) if len(v) >= 2 else (float(v[0]), 0.0)
                cols[1 + 2 * j].append(m)
                cols[2 + 2 * j].append(s)
        out[arch] = tuple(np.array(c) for c in cols)
    return out


def figure(rows: list[dict], x_name: str, *, params: dict, title=None, n_theory: int = 300):
    """Errors of the trained models (mean +- sem over seeds) against ``x_name`` (``kappa`` or
    ``tau``), over the ridgeless linear-attention theory at the fixed ``params`` (the other three of
    ``tau, alpha, kappa, rho``). Returns a bare matplotlib ``Figure`` (no backend chosen)."""
    import asymptotics
    from matplotlib import rc_context
    from matplotlib.figure import Figure

    from icl_asymptotics import plot

    if x_name not in ("kappa", "tau"):
        raise ValueError(f"x_name must be 'kappa' or 'tau'; got {x_name!r}")
    data = summarize(rows, x_name)
    xs = np.concatenate([v[0] for v in data.values()])
    finite = xs[np.isfinite(xs)]
    lo, hi = float(finite.min()) / 1.6, float(finite.max()) * 1.6
    grid = np.geomspace(lo, hi, n_theory)
    if x_name == "tau":
        grid = grid[np.abs(grid - 1.0) > 1e-3]
    p = {k: float(params[k]) for k in ("tau", "alpha", "kappa", "rho") if k != x_name}
    args = {**p, x_name: grid}
    icl = np.asarray(asymptotics.e_icl(args["tau"], args["alpha"], args["kappa"], args["rho"], 0.0))
    idg = np.asarray(asymptotics.e_idg(args["tau"], args["alpha"], args["kappa"], args["rho"], 0.0))
    with rc_context(plot.STYLE):
        fig = Figure(figsize=(9.0, 4.4), layout="constrained")
        ax = fig.add_subplot()
        ax.plot(grid, icl, color="k", lw=1.6, label="theory $e_{ICL}$ (linear attention, $d\\to\\infty$)")
        ax.plot(grid, idg, color="k", lw=1.6, ls="--", label="theory $e_{IDG}$")
        ax.axhline(1.0 + p.get("rho", params.get("rho", 0.0)), color="0.6", lw=0.8, ls=":",
                   label="zero predictor $1+\\rho$")
        for arch, (x, mi, si, md, sd) in data.items():
            c, mk = COLORS.get(arch, "C2"), MARKERS.get(arch, "^")
            ax.errorbar(x, mi, yerr=si, color=c, marker=mk, ls="-", lw=0.8, ms=6, capsize=2,
                        label=f"{LABELS.get(arch, arch)}: $e_{{ICL}}$")
            ax.errorbar(x, md, yerr=sd, color=c, marker=mk, ls="--", lw=0.8, ms=6, mfc="white",
                        capsize=2, label=f"{LABELS.get(arch, arch)}: $e_{{IDG}}$")
        ax.set_xscale("log")
        from matplotlib.ticker import NullFormatter
        ticks = sorted(set(finite.tolist()))
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(f"$\\{x_name}$")
        ax.set_ylabel("test error")
        top = max(1.6 * (1.0 + p.get("rho", 0.0)),
                  1.1 * max(float(np.max(v[1])) for v in data.values()))
        if x_name == "tau":  # the interpolation peak: log scale
            ax.axvline(1.0, color="0.8", lw=0.8)
            ax.set_yscale("log")
            low = min(float(np.min(v[3])) for v in data.values())
            ax.set_ylim(0.7 * min(low, float(np.min(idg))), 2.0 * top)
        else:
            ax.set_ylim(0.0, top)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        sizes = sorted({int(r["d"]) for r in rows})
        ax.set_title(title or f"trained models at d = {','.join(map(str, sizes))} vs ridgeless theory "
                              f"({plot.param_text(p)})", fontsize=9)
    return fig


def default_params(rows: list[dict], x_name: str) -> dict:
    """The fixed parameters of a one-axis table (each must take one value)."""
    out = {}
    for k in ("tau", "alpha", "kappa", "rho"):
        if k == x_name:
            continue
        vals = {float(r[k]) for r in rows}
        if len(vals) != 1:
            raise ValueError(f"{k} takes {len(vals)} values in the table; a figure fixes all but {x_name}")
        out[k] = vals.pop()
    return out

