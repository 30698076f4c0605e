"""The paper's Transformer experiments (PNAS Fig. 5 and Fig. 6), run as the paper ran them, resumable.

``run_experiment(name, cache_dir=..., out=...)`` trains every run of the named experiment
(:data:`EXPERIMENTS`) with :func:`simulate.transformer.train` (``arch='pnas'``: the authors' model
types and protocol), one run at a time, seed 0 of every point first. Each run checkpoints after
every block of steps into ``cache_dir`` (a killed run resumes there, bit-identical); a finished run
is stored as one JSON file there and the table ``out`` (:data:`COLUMNS`) is rewritten after every
run, so a stopped experiment keeps everything finished and resumes with the same command. Because
the learning rate is constant, a run with more steps resumes from the checkpoint of the same run
with fewer: the budget can be raised later without repeating work.

``simulate.transformer`` (and so JAX) is imported only when a run starts.
"""
from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import sys
import time
from pathlib import Path

from simulate.io import atomic_path

INF = math.inf
#: The recorded table's columns (docs/results/transformer_pnas_*.csv), in order.
COLUMNS = ("model_type", "residual", "d", "tau", "alpha", "kappa", "rho", "seed", "steps", "icl",
           "icl_sem", "idg", "idg_sem", "final_loss", "seconds")

#: The experiments. Fig. 5: test error against tau, a fresh task per context (kappa = inf), as the
#: authors' Fig. 5 runs (their d = 20 linear-attention peak is at tau ~ 1.25, one softmax layer's at
#: 1.4); with the attention residual, as their Fig. 5 code. Fig. 6: e_ICL and e_IDG against kappa
#: at tau = 10 for 2 x (softmax + MLP) without the residual, as their stored Fig. 6 runs.
EXPERIMENTS = {
    "fig5": {"d": 20, "alpha": 1.0, "rho": 0.01, "residual": True, "model_types": (1, 2),
             "axis": "tau", "values": (0.5, 0.8, 1.0, 1.2, 1.4, 1.6, 2.0, 3.0, 5.0), "kappa": INF,
             "seeds": (0, 1)},
    "fig6": {"d": 20, "alpha": 1.0, "rho": 0.01, "residual": False, "model_types": (3,),
             "axis": "kappa", "values": (0.1, 0.2, 0.3, 0.4, 0.6, 1.0, 2.0), "tau": 10.0,
             "seeds": (0, 1)},
}
#: The paper's epochs per run (``simulate.transformer.PNAS_EPOCHS``, repeated here so that the
#: estimate needs no JAX import; a test checks they agree).
PNAS_EPOCHS = 20_000
#: Seconds per (step x context in the batch), by model type, for the estimate printed before a
#: sweep starts (benchmarks/bench_transformer.py on this project's 2-core machine, busy; an
#: estimate, replaced by the measured rate as runs finish).
SECONDS_PER_CONTEXT_STEP = {1: 5e-6, 2: 1.4e-5, 3: 3.8e-5, 4: 5.5e-5}


def runs(name: str, *, model_types=None, seeds=None, values=None, d=None) -> list[dict]:
    """The runs of experiment ``name`` as ``train`` keyword dicts, seed by seed (every point of
    seed 0 first, so a partial experiment already spans the axis)."""
    if name not in EXPERIMENTS:
        raise ValueError(f"experiment must be one of {', '.join(EXPERIMENTS)}; got {name!r}")
    e = EXPERIMENTS[name]
    out = []
    for seed in (e["seeds"] if seeds is None else seeds):
        for mt in (e["model_types"] if model_types is None else model_types):
            for v in (e["values"] if values is None else values):
                point = {"d": e["d"] if d is None else int(d), "alpha": e["alpha"], "rho": e["rho"],
                         "tau": e.get("tau"), "kappa": e.get("kappa")}
                point[e["axis"]] = float(v)
                opts = {"model_type": mt}
                if mt != 1:
                    opts["residual"] = e["residual"]
                out.append({**point, "replicate": int(seed), **opts})
    return out


def _run_name(run: dict) -> str:
    """A readable, unique file stem of a run (its parameters and a digest of them)."""
    digest = hashlib.sha256(json.dumps(run, sort_keys=True).encode()).hexdigest()[:12]
    res = "" if "residual" not in run else ("-res" if run["residual"] else "-nores")
    return (f"type{run['model_type']}{res}-d{run['d']}-tau{run['tau']:g}-kappa{run['kappa']:g}-"
            f"seed{run['replicate']}-{digest}")


def _row(run: dict, res) -> dict:
    c = res.config
    return {"model_type": c["model_type"], "residual": c["residual"] if c["model_type"] != 1 else "",
            "d": c["d"], "tau": c["tau"], "alpha": c["alpha"], "kappa": c["kappa"], "rho": c["rho"],
            "seed": run["replicate"], "steps": res.steps, "icl": res.icl, "icl_sem": res.icl_sem,
            "idg": res.idg, "idg_sem": res.idg_sem, "final_loss": float(res.history["loss"][-1]),
            "seconds": float(res.history["seconds"][-1])}


def _row_key(run: dict) -> dict:
    """A run's identifying table columns (for matching it against rows already in a table)."""
    return {"model_type": run["model_type"], "residual": run.get("residual", "") if run["model_type"] != 1 else "",
            "d": run["d"], "tau": run["tau"], "alpha": run["alpha"], "kappa": run["kappa"], "rho": run["rho"],
            "seed": run["replicate"]}


def _budget(run: dict, steps: int | None) -> int:
    """The steps a run trains for: ``steps``, or the paper's 20,000 epochs of ``1 + P // batch``."""
    from simulate import sizes

    if steps is not None:
        return int(steps)
    n = sizes(run["d"], run["tau"], run["alpha"], run["kappa"])[2]
    return PNAS_EPOCHS * (1 + n // max(1, int(0.1 * n)))


def write_table(rows: list[dict], path) -> None:
    """The table (:data:`COLUMNS`), sorted by model type, axis values and seed, written atomically."""
    rows = sorted(rows, key=lambda r: (int(r["model_type"]), float(r["kappa"]), float(r["tau"]),
                                       int(r["seed"]), int(r["steps"])))
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS)
        w.writeheader()
        for r in rows:
            w.writerow({k: (repr(float(r[k])) if isinstance(r[k], float) else r[k]) for k in COLUMNS})


def read_table(path) -> list[dict]:
    """Rows of a table written by :func:`write_table`, numbers as numbers."""
    out = []
    with open(path, newline="") as fh:
        for r in csv.DictReader(fh):
            row = {}
            for k, v in r.items():
                if k in ("model_type", "d", "seed", "steps"):
                    row[k] = int(v)
                elif k == "residual":
                    row[k] = None if v == "" else v == "True"
                else:
                    row[k] = float(v)
            out.append(row)
    return out


def _fmt_seconds(s: float) -> str:
    s = int(round(s))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def estimate_seconds(run: dict, steps: int | None, done: int = 0) -> float:
    """Rough wall time of one run (:data:`SECONDS_PER_CONTEXT_STEP`; the paper's batch and budget),
    less the ``done`` steps a checkpoint already holds."""
    from simulate import sizes

    batch = max(1, int(0.1 * sizes(run["d"], run["tau"], run["alpha"], run["kappa"])[2]))
    return max(_budget(run, steps) - done, 0) * batch * SECONDS_PER_CONTEXT_STEP[run["model_type"]] * (run["d"] / 20) ** 2


def checkpoint_steps(path) -> int:
    """Steps done in the checkpoint at ``path`` (0 if there is none or it cannot be read; training
    itself then says why)."""
    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as z:
            return int(z["done"])
    except (OSError, KeyError, ValueError, EOFError):
        return 0


def _key(row: dict) -> tuple:
    """What identifies a run in the table: its parameters, seed and budget."""
    return tuple(("" if row[k] in (None, "") else str(bool(row[k]))) if k == "residual" else float(row[k])
                 for k in ("model_type", "residual", "d", "tau", "alpha", "kappa", "rho", "seed", "steps"))


def run_experiment(name: str, *, cache_dir, out, steps: int | None = None, model_types=None, seeds=None,
                   values=None, d=None, n_test: int | None = None, log=None) -> list[dict]:
    """Train every run of experiment ``name`` not yet finished in ``cache_dir``; returns all rows.

    ``steps``: the budget of every run (default the paper's 20,000 epochs). ``model_types``,
    ``seeds``, ``values`` (the axis), ``d``: a subset or another size. The table ``out`` is
    rewritten after every finished run; the rows it already holds for other runs or other budgets
    are kept. Progress lines (steps, training loss, ETA) go to ``log`` (default: the current
    ``sys.stderr``). ``KeyboardInterrupt`` is re-raised after saying what is kept.
    """
    from simulate.transformer import train

    log = sys.stderr if log is None else log

    todo = runs(name, model_types=model_types, seeds=seeds, values=values, d=d)
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    results, pending = [], []
    for run in todo:
        tag = f"{_run_name(run)}-steps{steps if steps is not None else 'paper'}"
        path = cache / f"{tag}.json"
        if path.exists():
            results.append(json.loads(path.read_text())["row"])
        else:
            pending.append((run, path))
    mine = {_key(r) for r in results} | {_key({**_row_key(run), "steps": _budget(run, steps)})
                                          for run, _ in pending}
    others = [r for r in read_table(out) if _key(r) not in mine] if os.path.isfile(out) else []
    if results:
        write_table(others + results, out)
    started = {id(run): checkpoint_steps(cache / f"{_run_name(run)}.npz") for run, _ in pending}
    total = sum(estimate_seconds(run, steps, started[id(run)]) for run, _ in pending)
    resumed = sum(v > 0 for v in started.values())
    print(f"{name}: {len(todo)} runs, {len(results)} finished in {cache}, {len(pending)} to train"
          + (f", {resumed} of them from a checkpoint" if resumed else "") + " "
          f"(estimated {_fmt_seconds(total)} on 2 busy cores at "
          f"{'the paper' + chr(39) + 's budget' if steps is None else f'{steps:,} steps per run'})", file=log, flush=True)
    current = None
    try:
        for i, (run, path) in enumerate(pending, 1):
            current = run
            label = (f"[{i}/{len(pending)}] type {run['model_type']} tau={run['tau']:g} "
                     f"kappa={run['kappa']:g} seed {run['replicate']}")
            origin, last = [], [0.0]  # (time, steps) of the first block: the rate excludes compiling

            def progress(done, total_steps, loss, label=label, origin=origin, last=last):
                now = time.perf_counter()
                if not origin:
                    origin.extend((now, done))
                if (now - last[0] < 30 and done < total_steps) or done == origin[1] and done < total_steps:
                    return
                last[0] = now
                rate = (done - origin[1]) / max(now - origin[0], 1e-9)
                eta = _fmt_seconds((total_steps - done) / rate) if rate > 0 else "?"
                print(f"{label}: step {done:,}/{total_steps:,}, training loss {loss:.4g}, ETA {eta}",
                      file=log, flush=True)

            kw = {k: v for k, v in run.items() if k not in ("d", "tau", "alpha", "kappa", "rho")}
            res = train(run["d"], run["tau"], run["alpha"], run["kappa"], run["rho"], arch="pnas",
                        steps=steps, checkpoint=str(cache / f"{_run_name(run)}.npz"), progress=progress,
                        n_test=n_test, **kw)
            row = _row(run, res)
            with atomic_path(path) as tmp, open(tmp, "w") as fh:
                json.dump({"run": run, "row": row}, fh)
            results.append(row)
            write_table(others + results, out)
            print(f"{label}: done, e_icl = {row['icl']:.4g} +- {row['icl_sem']:.2g}, e_idg = "
                  f"{row['idg']:.4g}; wrote {out}", file=log, flush=True)
    except KeyboardInterrupt:
        where = "" if current is None else f"; the run in progress resumes from its checkpoint in {cache}"
        print(f"\ninterrupted: {len(results)} finished runs are kept in {cache} and {out}{where}; "
              "rerun the same command to resume", file=log, flush=True)
        raise
    return results


def read_authors(name: str, path=None) -> dict:
    """The authors' stored runs (docs/results/authors_pnas_{name}.csv, extracted from their
    repositories with source path and commit per row) as ``{(model_type, residual, d): {x: [icl...]}}``
    for fig5 (x = tau) or ``{(d,): {kappa: ([icl...], [idg...])}}`` for fig6.

    Fig. 5 rows whose tau label the authors' own history contradicts (``label_check`` of
    docs/results/authors_provenance.py: ``contradicted``, ``sitting contradicted``; the first
    sitting of ``job_linear20``, whose files were renamed twice) are left out."""
    path = Path(path) if path is not None else Path(__file__).resolve().parents[1] / "docs" / "results" / f"authors_pnas_{name}.csv"
    out: dict = {}
    with open(path, newline="") as fh:
        for r in csv.DictReader(fh):
            if r.get("label_check", "").endswith("contradicted"):
                continue
            if name == "fig5":
                key = (int(r["model_type"]), r["residual"], int(r["d"]))
                out.setdefault(key, {}).setdefault(float(r["tau"]), []).append(float(r["icl"]))
            else:
                icl, idg = out.setdefault((int(r["d"]),), {}).setdefault(float(r["kappa"]), ([], []))
                icl.append(float(r["icl"]))
                idg.append(float(r["idg"]))
    return out


def summarize(rows: list[dict], axis: str, steps=None) -> dict:
    """``{(model_type, budget): {"x", "icl", "icl_sem", "idg", "idg_sem", "n", "steps"}}``: mean over
    seeds and the standard error of that mean (:func:`simulate.stats.mean_sem`; the Monte Carlo
    error of a seed is much smaller than the spread between seeds) per axis value, one entry per
    model type and training budget present (the largest budget first), or only the budget ``steps``.
    Runs of different budgets are never averaged together."""
    import numpy as np

    from simulate.stats import mean_sem

    out = {}
    for mt in sorted({r["model_type"] for r in rows}):
        budgets = sorted({r["steps"] for r in rows if r["model_type"] == mt}, reverse=True)
        for budget in budgets if steps is None else [steps]:
            mine = [r for r in rows if r["model_type"] == mt and r["steps"] == budget]
            if not mine:
                continue
            xs = sorted({r[axis] for r in mine})
            cols = {"x": np.array(xs), "steps": budget}
            for q in ("icl", "idg"):
                vals = [[r[q] for r in mine if r[axis] == x] for x in xs]
                ms = [mean_sem(v) if len(v) > 1 else (v[0], float("nan")) for v in vals]
                cols[q], cols[q + "_sem"] = np.array([m for m, _ in ms]), np.array([e for _, e in ms])
            cols["n"] = np.array([len([r for r in mine if r[axis] == x]) for x in xs])
            out[mt, budget] = cols
    return out


def references(name: str, xs, *, d: int = 20, n_seeds: int = 8) -> dict:
    """Exact same-d references on the experiment's data model: ``simulate.run``'s ridgeless
    ``Gamma*`` (finite tau: trained exactly on n = tau d^2 sampled contexts; mean over ``n_seeds``)
    and the ``tau = inf`` optimum from population moments; and the d -> inf theory."""
    import numpy as np

    import asymptotics as A
    import simulate

    e = EXPERIMENTS[name]
    out = {"x": np.asarray(xs, dtype=float), "icl": [], "idg": [], "icl_sem": [], "idg_sem": []}
    for x in out["x"]:
        p = {"tau": e.get("tau"), "kappa": e.get("kappa")}
        p[e["axis"]] = float(x)
        r = simulate.run(d, p["tau"], e["alpha"], p["kappa"], e["rho"], 0.0, n_seeds=n_seeds, seed=0)
        (mi, md), (si, sd) = r.mean(), r.sem()
        for q, v in (("icl", mi), ("idg", md), ("icl_sem", si), ("idg_sem", sd)):
            out[q].append(v)
    for q in ("icl", "idg", "icl_sem", "idg_sem"):
        out[q] = np.array(out[q])
    fine = np.geomspace(min(xs), max(xs), 400)
    p = {"tau": e.get("tau"), "kappa": e.get("kappa")}
    p[e["axis"]] = fine
    out["theory_x"] = fine
    out["theory_icl"] = A.e_icl(p["tau"], e["alpha"], p["kappa"], e["rho"], 0.0)
    out["theory_idg"] = A.e_idg(p["tau"], e["alpha"], p["kappa"], e["rho"], 0.0)
    if name == "fig5":
        out["population_icl"] = simulate.run(d, INF, e["alpha"], INF, e["rho"]).mean().icl
    return out


def figure(name: str, rows: list[dict], refs: dict, authors: dict | None = None, *, d: int = 20):
    """Fig. 5 (ICL error against tau per model type) or Fig. 6 (ICL and IDG against kappa), the
    trained runs (mean +- sem over seeds) next to the exact same-d references, the d -> inf
    linear-attention theory and the authors' stored means."""
    import numpy as np
    from matplotlib.figure import Figure

    from simulate.transformer import PNAS_MODEL_TYPES

    e = EXPERIMENTS[name]
    axis = e["axis"]
    summ = summarize(rows, axis)
    fig = Figure(figsize=(7.5, 4.8), layout="constrained")
    ax = fig.add_subplot()
    colors = {1: "#1f77b4", 2: "#d62728", 3: "#2ca02c", 4: "#9467bd"}
    qs = ("icl",) if name == "fig5" else ("icl", "idg")
    largest = {mt: max(b for m, b in summ if m == mt) for mt, _ in summ}
    for (mt, budget), s in summ.items():
        short = budget < largest[mt]  # a shorter budget: open markers, fainter
        for q in qs:
            ax.errorbar(s["x"], s[q], yerr=np.nan_to_num(s[q + "_sem"]), fmt="o-" if q == "icl" else "s--",
                        color=colors[mt], ms=4, capsize=2, alpha=0.45 if short else 1.0,
                        mfc="none" if short else colors[mt],
                        label=f"type {mt} ({PNAS_MODEL_TYPES[mt][0]}) {q.upper()}, {s['steps']:,} steps")
    for q in qs:
        ax.plot(refs["theory_x"], refs["theory_" + q], "-" if q == "icl" else "--", color="k", lw=1,
                label=f"linear attention, d -> inf theory ({q.upper()})")
        ax.errorbar(refs["x"], refs[q], yerr=refs[q + "_sem"], fmt="x" if q == "icl" else "+", color="0.35",
                    label=f"exact ridgeless Gamma* at d = {d} ({q.upper()})")
    if "population_icl" in refs:
        ax.axhline(refs["population_icl"], color="0.35", ls=":", lw=1,
                   label=f"exact Gamma* at d = {d}, tau = inf (population)")
    if authors:
        for key, by_x in sorted(authors.items()):
            if name == "fig5":
                mt, res, dd = key
                if dd != d or mt not in largest or (mt != 1 and (res == "true") != e["residual"]):
                    continue  # another size, a model not trained here, or the other residual setting
                xs = sorted(by_x)
                ax.plot(xs, [np.mean(by_x[x]) for x in xs], ":", color=colors[mt], alpha=0.7,
                        label=f"authors' stored type {mt} (residual {res})")
            else:
                if key[0] != d:
                    continue
                xs = sorted(by_x)
                for j, q in enumerate(qs):
                    ax.plot(xs, [np.mean(by_x[x][j]) for x in xs], ":", color="0.5",
                            label=f"authors' stored type 3 {q.upper()} (no residual)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    lo, hi = min(min(s["x"]) for s in summ.values()), max(max(s["x"]) for s in summ.values())
    ax.set_xlim(lo / 1.15, hi * 1.15)  # the trained runs' range (the authors' stored sweep is wider)
    ax.set_xlabel(axis)
    ax.set_ylabel("test error")
    ax.set_title(f"PNAS {name}: trained models at d = {d}, alpha = {e['alpha']:g}, rho = {e['rho']:g}"
                 + (", kappa = inf" if name == "fig5" else f", tau = {e['tau']:g}"))
    ax.legend(fontsize=6.5)
    return fig


def loss_histories(name: str, cache_dir, *, model_types=None, seeds=None, values=None, d=None) -> list[dict]:
    """The whole-set training loss after every block of each run of experiment ``name`` that has a
    checkpoint in ``cache_dir`` (the history a checkpoint carries, resumed sittings included):
    ``[{"run": run, "step": array, "loss": array}]``."""
    import numpy as np

    out = []
    for run in runs(name, model_types=model_types, seeds=seeds, values=values, d=d):
        path = Path(cache_dir) / f"{_run_name(run)}.npz"
        if path.exists():
            with np.load(path, allow_pickle=False) as z:
                out.append({"run": run, "step": z["hist_step"].copy(), "loss": z["hist_loss"].copy()})
    return out


def loss_figure(name: str, histories: list[dict]):
    """Each run's whole-set training loss against AdamW steps (one panel per model type, one colour
    per axis value, a line style per seed): where training has and has not levelled off."""
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    from simulate.transformer import PNAS_MODEL_TYPES

    if not histories:
        raise ValueError("no checkpoints to draw: train some runs first")
    axis = EXPERIMENTS[name]["axis"]
    mts = sorted({h["run"]["model_type"] for h in histories})
    xs = sorted({h["run"][axis] for h in histories})
    cmap, first_seed = colormaps["viridis"], min(h["run"]["replicate"] for h in histories)
    fig = Figure(figsize=(6.5 * len(mts), 4.5), layout="constrained")
    for j, mt in enumerate(mts):
        ax = fig.add_subplot(1, len(mts), j + 1)
        for h in (h for h in histories if h["run"]["model_type"] == mt):
            x, seed = h["run"][axis], h["run"]["replicate"]
            ax.plot(h["step"], h["loss"], ("-", "--", ":", "-.")[seed % 4],
                    color=cmap(xs.index(x) / max(len(xs) - 1, 1)), lw=1,
                    label=f"{axis} = {x:g}" if seed == first_seed else None)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("AdamW steps")
        ax.set_ylabel("training loss (whole training set)")
        ax.set_title(f"PNAS {name}: type {mt} ({PNAS_MODEL_TYPES[mt][0]}); seeds: line styles", fontsize=9)
        ax.legend(fontsize=7, ncol=2)
        ax.grid(True, which="major", alpha=0.3)
    return fig


def markdown_table(name: str, rows: list[dict], refs: dict | None = None, authors: dict | None = None,
                   d: int = 20) -> str:
    """The experiment's results as a Markdown table (mean +- sem over seeds per axis value, the
    number of seeds, the budget), with the exact same-d references and the authors' stored means
    (``refs`` from :func:`references`, ``authors`` from :func:`read_authors`) where given."""
    import numpy as np

    e = EXPERIMENTS[name]
    axis = e["axis"]
    lines = []
    for (mt, _), s in summarize(rows, axis).items():
        head = f"| {axis} | type {mt} ICL | " + ("IDG | (ICL - IDG)/ICL | " if name == "fig6" else "") + "seeds | steps |"
        cols = ["exact Gamma* ICL"] + (["exact Gamma* IDG"] if name == "fig6" else []) if refs else []
        auth = ["authors ICL (runs)"] + (["authors IDG"] if name == "fig6" else []) if authors else []
        head += "".join(f" {c} |" for c in cols + auth)
        lines += [head, "|" + "---|" * (head.count("|") - 1)]
        for j, x in enumerate(s["x"]):
            fmt = lambda m, se: f"{m:.3g} +- {se:.2g}" if np.isfinite(se) else f"{m:.3g}"  # noqa: E731
            cells = [f"{x:g}", fmt(s["icl"][j], s["icl_sem"][j])]
            if name == "fig6":  # the relative gap: where e_ICL meets e_IDG (memorisation -> ICL)
                cells += [fmt(s["idg"][j], s["idg_sem"][j]), f"{(s['icl'][j] - s['idg'][j]) / s['icl'][j]:.2f}"]
            cells += [str(s["n"][j]), f"{s['steps']:,}"]
            if refs:
                k = int(np.argmin(np.abs(refs["x"] - x)))
                cells.append(fmt(refs["icl"][k], refs["icl_sem"][k]))
                if name == "fig6":
                    cells.append(fmt(refs["idg"][k], refs["idg_sem"][k]))
            if authors:
                key = next((kk for kk in authors if (kk[0] == mt and kk[2] == d and (mt == 1 or str(kk[1]) == str(e["residual"]).lower()))
                            or (name == "fig6" and kk == (d,))), None)
                by_x = authors.get(key, {})
                near = [xx for xx in by_x if abs(xx - x) < 1e-9]
                if near and name == "fig5":
                    v = by_x[near[0]]
                    cells.append(f"{np.mean(v):.3g} ({len(v)})")
                elif near:
                    icl, idg = by_x[near[0]]
                    cells += [f"{np.mean(icl):.3g} ({len(icl)})", f"{np.mean(idg):.3g}"]
                else:
                    cells += ["-"] * (1 if name == "fig5" else 2)
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


#: What each figure of the recorded set shows (the manifest's ``what``).
FIGURES = {
    "fig5": "the paper's Fig. 5: trained linear attention (type 1) and one softmax layer (type 2) against tau, "
            "next to the exact same-d Gamma*, the theory and the authors' stored runs",
    "fig5_loss": "training loss against steps of every Fig. 5 run (from its checkpoint history)",
    "fig6": "the paper's Fig. 6: e_ICL and e_IDG of 2 x (softmax + MLP) without the attention residual against "
            "kappa at tau = 10, each training budget apart, next to the exact same-d Gamma*, the theory and the "
            "authors' stored runs",
    "fig6_loss": "training loss against steps of every Fig. 6 run (from its checkpoint history; runs still "
                 "training end where their checkpoint is)",
}


def write_figures(outdir, *, results_dir, cache_dir, names=tuple(FIGURES), ref_seeds: int = 8) -> dict:
    """Draw the recorded set (``transformer_pnas_{name}.png`` for ``names`` of :data:`FIGURES`) from
    the tables ``results_dir/transformer_pnas_fig{5,6}.csv`` and the checkpoints in ``cache_dir``,
    and write ``manifest_pnas.json`` (parameters, budgets and the command of each figure) beside
    them. Trains nothing."""
    from icl_asymptotics.figures import write_figure_set

    def build(name):
        exp = name.split("_")[0]
        e, table = EXPERIMENTS[exp], Path(results_dir) / f"transformer_pnas_{exp}.csv"
        rows = read_table(table)
        d, xs = rows[0]["d"], sorted({r[e["axis"]] for r in rows})
        rec = {"figure": f"transformer_pnas_{name}", "d": d, "alpha": e["alpha"], "rho": e["rho"],
               "model_types": sorted({r["model_type"] for r in rows}), "residual": e["residual"],
               e["axis"]: xs, **{k: ("inf" if math.isinf(e[k]) else e[k]) for k in ("tau", "kappa") if k in e},
               # the most seeds at any point (distinct seeds: model types share them)
               "seeds": max(len({r["seed"] for r in rows if r[e["axis"]] == x and r["steps"] == b})
                            for x in xs for b in {r["steps"] for r in rows}),
               "steps": sorted({r["steps"] for r in rows}), "results": os.fspath(table)}
        if name.endswith("_loss"):
            # the runs of the table: its model types, seeds and axis values (those of other
            # experiments' checkpoints sharing the cache are left out)
            hist = loss_histories(exp, cache_dir, d=d, model_types=rec["model_types"], values=xs,
                                  seeds=sorted({r["seed"] for r in rows}))
            rec["checkpoints"] = os.fspath(cache_dir)
            rec["steps"] = sorted({int(h["step"][-1]) for h in hist})
            return loss_figure(exp, hist), rec
        return figure(exp, rows, references(exp, xs, d=d, n_seeds=ref_seeds), read_authors(exp), d=d), rec

    command = (f"python -m icl_asymptotics.pnas_experiments figures --results {os.fspath(results_dir)} "
               f"--cache {os.fspath(cache_dir)} --out {os.fspath(outdir)}")
    return write_figure_set(outdir, prefix="transformer_pnas", names=names, build=build, what=FIGURES,
                            title="The paper's Transformer experiments (docs/transformer.md)", command=command,
                            manifest="manifest_pnas.json")


def main(argv=None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m icl_asymptotics.pnas_experiments",
                                description="Train the paper's Fig. 5 / Fig. 6 Transformer runs (resumable), "
                                            "or ('figures') draw the recorded set and its manifest.")
    p.add_argument("name", choices=sorted(EXPERIMENTS) + ["figures"])
    p.add_argument("--cache", required=True, help="checkpoints and finished runs (resume from here)")
    p.add_argument("--out", required=True, help="the CSV table, rewritten after every run (figures: the folder)")
    p.add_argument("--results", default="docs/results",
                   help="figures: the folder of the tables transformer_pnas_fig{5,6}.csv [docs/results]")
    p.add_argument("--steps", type=int, default=None, help="steps per run (default: the paper's 20,000 epochs)")
    p.add_argument("--model-types", default=None, help="comma-separated subset, e.g. 1,2")
    p.add_argument("--seeds", default=None, help="comma-separated replicate indices")
    p.add_argument("--values", default=None, help="comma-separated axis values (fig5: tau, fig6: kappa)")
    a = p.parse_args(argv)
    mts = None if a.model_types is None else tuple(int(v) for v in a.model_types.split(","))
    seeds = None if a.seeds is None else tuple(int(v) for v in a.seeds.split(","))
    if a.name == "figures":
        done = write_figures(a.out, results_dir=a.results, cache_dir=a.cache)
        print(f"wrote {', '.join(r['file'] for r in done['figures'])} and manifest_pnas.json in {a.out}")
        return 0
    try:
        values = None if a.values is None else tuple(float(v) for v in a.values.split(","))
        run_experiment(a.name, cache_dir=a.cache, out=a.out, steps=a.steps, model_types=mts, seeds=seeds,
                       values=values)
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
    raise SystemExit(main())
