"""Figures for correlated contexts (docs/THEORY.md section 9): the effective context length and the
correlated query.

``build(name, quick=...)`` returns ``(figure, record)`` for

* ``'xi'``: e_ICL against the correlation length ``xi`` of ``exp:xi`` for an independent and a
  correlated query (theory; the query gain shaded between them) with finite-d simulation points.
* ``'collapse'``: e_ICL against the *effective* context length ``alpha_eff`` for several ``xi``
  (independent query, ``lam > 0``): every curve lies on the i.i.d. curve (dashed), the reduction
  of docs/THEORY.md 9.2; simulation points at their ``alpha_eff``.
* ``'extrapolated'``: e_ICL against ``xi`` with simulations extrapolated to ``d = inf``
  (:func:`simulate.validate`, ladder and fit in the record) for both queries.

``reproduce(outdir)`` writes the figures and ``manifest_kernel.json``.
"""
from __future__ import annotations


import numpy as np

from icl_asymptotics.figures import _figure, simulate_summary, write_figure_set

SIZES = {"quick": {"d": 16, "n_seeds": 2, "ladder": (12, 16, 24), "order": 1},
         "full": {"d": 48, "n_seeds": 8, "ladder": (16, 24, 32, 48, 64, 96), "order": 2}}
PARAMS = {"tau": 2.0, "alpha": 1.0, "kappa": 2.0, "rho": 0.1, "lam": 0.0}
NAMES = ("xi", "collapse", "extrapolated")
WHAT = {"xi": "e_ICL against the correlation length xi, independent and correlated query",
        "collapse": "e_ICL against alpha_eff for several xi: one curve, the i.i.d. one",
        "extrapolated": "e_ICL against xi with simulations extrapolated to d = inf"}
FINITE_D = "points: simulation at d = {d} ({n} seeds), above the curves by O(1/d)"


def build(name, *, quick=True, simulate=True, seed=0, cache_dir=None, n_jobs=1, progress=False):
    import asymptotics as A
    from asymptotics.kernel import exponential

    from icl_asymptotics import plot

    if name not in NAMES:
        raise ValueError(f"kernel figure name must be one of {NAMES}; got {name!r}")
    size = "quick" if quick else "full"
    z = SIZES[size]
    record = {"figure": name, "size": size, "params": PARAMS, "seed": seed}
    sim = dict(seed=seed, cache_dir=cache_dir, n_jobs=n_jobs, progress=progress)
    xs = np.geomspace(0.2, 20, 80)

    def theory_vs_xi():
        ind = np.array([A.e_icl(**PARAMS, token_kernel=exponential(x)) for x in xs])
        cor = np.array([A.e_icl(**PARAMS, token_kernel=exponential(x), query="correlated") for x in xs])
        return ind, cor

    if name in ("xi", "extrapolated"):
        sim_xi = [1.0, 3.0] if name == "extrapolated" or quick else [1.0, 3.0, 10.0]
        record["sim_xi"] = sim_xi
        if name == "xi":
            record.update(d=z["d"], n_seeds=z["n_seeds"])
        else:
            record.update(ladder=list(z["ladder"]), n_seeds=z["n_seeds"], order=z["order"])

        def draw(ax):
            from icl_asymptotics.figures import extrapolated_summary

            ind, cor = theory_vs_xi()
            c = plot._colors(2, "viridis")
            ax.plot(xs, ind, "-", color=c[0], label="theory, independent query")
            ax.plot(xs, cor, "-", color=c[1], label="theory, correlated query")
            ax.fill_between(xs, cor, ind, color=c[1], alpha=0.15, label="query gain")
            ax.axhline(A.e_icl(**PARAMS), color="k", ls=":", lw=1, label="i.i.d. tokens")
            if simulate:
                for query, color, mark in (("independent", c[0], "o"), ("correlated", c[1], "s")):
                    for i, x in enumerate(sim_xi):
                        model = {"token_kernel": exponential(x), "query": query}
                        if name == "xi":
                            s = simulate_summary({k: [v] for k, v in PARAMS.items()}, d=z["d"],
                                                 n_seeds=z["n_seeds"], model=model, **sim)
                        else:
                            s = extrapolated_summary({k: [v] for k, v in PARAMS.items()}, ladder=z["ladder"],
                                                     n_seeds=z["n_seeds"], order=z["order"], model=model,
                                                     progress=progress, seed=seed, cache_dir=cache_dir,
                                                     n_jobs=n_jobs)
                        ax.errorbar(x, s["icl_mean"][0], yerr=s["icl_sem"][0], fmt=mark, color=color, ms=5,
                                    capsize=2, label=(f"simulation, {query}" if name == "xi" else
                                                      f"d -> inf extrapolation, {query}") if i == 0 else None)
            ax.set_xscale("log")
            ax.set_xlabel(r"correlation length $\xi$  ($K_{ij} = e^{-|i-j|/\xi}$)")
            ax.set_ylabel(r"$e_{\mathrm{ICL}}$")
            ax.legend(fontsize=7)
            p = ", ".join(f"{k} = {v:g}" for k, v in PARAMS.items())
            tail = (FINITE_D.format(d=z["d"], n=z["n_seeds"]) if name == "xi" else
                    f"points: fit e_inf + c/d{' + c2/d^2' if z['order'] == 2 else ''} over d = "
                    f"{','.join(map(str, z['ladder']))} ({z['n_seeds']} seeds)")
            ax.set_title(f"{p}; {tail}", fontsize=8)
        return _figure(draw), record

    # collapse
    xis = [1.0, 3.0, 10.0]
    lam = 0.01
    pc = dict(PARAMS, lam=lam)
    alphas = np.geomspace(0.1, 20, 80)
    sim_alpha = [1.0, 3.0]
    record.update(xis=xis, lam=lam, d=z["d"], n_seeds=z["n_seeds"], sim_alpha=sim_alpha)

    def draw(ax):
        colors = plot._colors(len(xis), "viridis")
        grid = np.geomspace(0.01, 20, 200)
        ax.plot(grid, A.e_icl(pc["tau"], grid, pc["kappa"], pc["rho"], lam), "k--", lw=2.5, alpha=0.5,
                label="i.i.d. tokens, e_ICL(alpha)")
        for x, c in zip(xis, colors):
            r = A.solve(pc["tau"], alphas, pc["kappa"], pc["rho"], lam, token_kernel=exponential(x))
            ax.plot(r.alpha_eff, r.e_icl, "-", color=c, lw=1.2, label=fr"exp:$\xi = {x:g}$ at $\alpha_{{eff}}$")
            if simulate:
                for a in sim_alpha:
                    s = simulate_summary({**{k: [v] for k, v in pc.items()}, "alpha": [a]}, d=z["d"],
                                         n_seeds=z["n_seeds"], model={"token_kernel": exponential(x)}, **sim)
                    ae = float(A.solve(pc["tau"], a, pc["kappa"], pc["rho"], lam,
                                       token_kernel=exponential(x)).alpha_eff)
                    ax.errorbar(ae, s["icl_mean"][0], yerr=s["icl_sem"][0], fmt="o", color=c, ms=5, capsize=2)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(r"effective context length $\alpha_{eff} = \alpha (1+\rho)/(\mathrm{tk2}+\rho)$")
        ax.set_ylabel(r"$e_{\mathrm{ICL}}$ (independent query)")
        ax.legend(fontsize=7)
        ax.set_title(f"tau = {pc['tau']:g}, kappa = {pc['kappa']:g}, rho = {pc['rho']:g}, lam = {lam:g}; "
                     + FINITE_D.format(d=z["d"], n=z["n_seeds"]), fontsize=8)
    return _figure(draw), record


def reproduce(outdir, *, quick=True, simulate=True, seed=0, cache_dir=None, n_jobs=1, progress=False,
              only=None):
    """Write the kernel figures (PNG) and ``manifest_kernel.json`` into ``outdir``."""
    return write_figure_set(
        outdir, prefix="kernel", names=NAMES if only is None else only, build=build, what=WHAT,
        title="Correlated contexts (docs/THEORY.md section 9)", manifest="manifest_kernel.json",
        command="python -c \"from icl_asymptotics import kernel_figures as F; "
                f"F.reproduce('docs/figures', quick={quick}, cache_dir='cache/kfig')\"",
        quick=quick, simulate=simulate, seed=seed, cache_dir=cache_dir, n_jobs=n_jobs, progress=progress)
