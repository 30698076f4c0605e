"""Figures for structured tasks (docs/THEORY.md section 8): what the pretrain-test alignment does.

``build(name, quick=...)`` returns ``(figure, record)`` for

* ``'alignment'``: e_ICL against the alignment ratio of :func:`asymptotics.solve` for several
  kappa. At fixed ``tr C_te`` the theory makes e_ICL an exact affine function of it
  (``e_ICL = e_bias + alignment * e_align(iso)``), so the curves are straight lines; simulation points
  for very different test covariances (aligned, isotropic, anti-aligned, random orderings, a
  rotation that is not diagonal in the task eigenbasis) must sit on them.
* ``'kappa'``: e_ICL against task diversity for aligned, isotropic and anti-aligned test tasks
  (e_IDG dashed): misalignment costs at every kappa, and for a steep spectrum more diversity can
  *raise* the anti-aligned error at small kappa (the follow-up's headline).
* ``'alpha_test'``: e_ICL against the test context length for several training lengths.

The task law is the follow-up's power law ``i^-p`` normalised at each ``d`` (``p = 0.9``), a family
in ``d``: the curves are the theory for the spectrum *at the simulated d* (``power_law(p, d)``), so
simulations sit on them up to the O(1/d) finite-size error of docs/THEORY.md section 6.
``reproduce(outdir)`` writes the three figures and a ``manifest_structured.json``.
"""
from __future__ import annotations


import numpy as np

from icl_asymptotics.figures import _figure, simulate_summary, write_figure_set

SIZES = {"quick": {"d": 16, "n_seeds": 2}, "full": {"d": 32, "n_seeds": 6}}
PARAMS = {"tau": 4.0, "alpha": 2.0, "rho": 0.1, "lam": 0.0}
P = 0.9
NAMES = ("alignment", "kappa", "alpha_test")
WHAT = {"alignment": "e_ICL against the alignment ratio: one straight line per kappa, whatever C_te",
        "kappa": "e_ICL against kappa for aligned, isotropic and anti-aligned test tasks",
        "alpha_test": "e_ICL against the test context length for several training lengths"}
#: Said on every figure: the simulated points are finite d, the curves d -> inf for that spectrum.
FINITE_D = "points: simulation at d = {d} ({n} seeds), above the curves by O(1/d)"


def _rotated(lam, angle=np.pi / 3):
    """The aligned test law rotated, in planes pairing direction i with d-1-i, by ``angle``: a
    ``C_te`` that does not commute with ``C_tr`` (same trace)."""
    d = lam.size
    C = np.diag(lam)
    Q = np.eye(d)
    c, s = np.cos(angle), np.sin(angle)
    for i in range(d // 2):
        j = d - 1 - i
        Q[[i, i, j, j], [i, j, i, j]] = c, -s, s, c
    return Q @ C @ Q.T


def test_covariances(d, seed=0):
    """The named test covariances of the alignment figure, at dimension ``d`` (all of trace ``d``)."""
    from asymptotics.spectrum import power_law

    lam = power_law(P, d).values
    rng = np.random.default_rng(seed)
    return {"aligned": lam.copy(), "isotropic": np.ones(d), "anti-aligned": lam[::-1].copy(),
            "random order 1": rng.permutation(lam), "random order 2": rng.permutation(lam),
            "rotated (non-diagonal)": _rotated(lam)}


def _sim(grid, model, z, seed, cache_dir, n_jobs, progress):
    return simulate_summary(dict(PARAMS, **grid), d=z["d"], n_seeds=z["n_seeds"], seed=seed,
                            cache_dir=cache_dir, n_jobs=n_jobs, progress=progress, model=model)


def build(name, *, quick=True, simulate=True, seed=0, cache_dir=None, n_jobs=1, progress=False):
    import asymptotics as A
    from asymptotics.spectrum import anti_aligned, power_law

    from icl_asymptotics import plot

    if name not in NAMES:
        raise ValueError(f"structured figure name must be one of {NAMES}; got {name!r}")
    size = "quick" if quick else "full"
    z = SIZES[size]
    d = z["d"]
    task = power_law(P, d)
    lam = task.values
    record = {"figure": name, "size": size, "d": d, "n_seeds": z["n_seeds"], "params": PARAMS,
              "task_cov": f"power_law({P}, {d})", "seed": seed}
    sim_kw = dict(z=z, seed=seed, cache_dir=cache_dir, n_jobs=n_jobs, progress=progress)

    if name == "alignment":
        kappas = [0.5, 2.0, 8.0]
        covs = test_covariances(d)
        record["kappas"], record["test_covs"] = kappas, list(covs)

        def draw(ax):
            colors = plot._colors(len(kappas), "viridis")
            for kappa, c in zip(kappas, colors):
                ends = [A.solve(**PARAMS, kappa=kappa, task_cov=lam, test_cov=a) for a in (lam, lam[::-1])]
                lo, hi = float(ends[0].alignment), float(ends[1].alignment)
                xs = np.linspace(lo - 0.1 * (hi - lo), hi + 0.1 * (hi - lo), 2)
                slope = (float(ends[1].e_icl) - float(ends[0].e_icl)) / (hi - lo)
                ax.plot(xs, float(ends[0].e_icl) + slope * (xs - lo), "-", color=c, lw=1.6,
                        label=fr"theory, $\kappa = {kappa:g}$")
                if simulate:
                    for i, (label, cov) in enumerate(covs.items()):
                        th = A.solve(**PARAMS, kappa=kappa, task_cov=lam, test_cov=cov)
                        s = _sim({"kappa": [kappa]}, {"task_cov": lam, "test_cov": cov}, **sim_kw)
                        ax.errorbar(float(th.alignment), s["icl_mean"][0], yerr=s["icl_sem"][0],
                                    fmt="os^v<>"[i], color=c, ms=5, capsize=2, mfc="white" if i % 2 else c,
                                    label=label if kappa == kappas[0] else None)
            ax.set_xlabel("alignment ratio  $e_{align}(C_{te}) / e_{align}(I)$")
            ax.set_ylabel(r"$e_{\mathrm{ICL}}$")
            ax.legend(fontsize=7, ncol=2)
            ax.set_title(f"power-law tasks $i^{{-{P}}}$ at d = {d}, tau = {PARAMS['tau']:g}, "
                         f"alpha = {PARAMS['alpha']:g}; " + FINITE_D.format(d=d, n=z["n_seeds"]), fontsize=8)
        return _figure(draw, size=(7.0, 4.4)), record

    if name == "kappa":
        kappa = np.geomspace(0.05, 20, 120)
        sim_kappa = [0.5, 1.0, 4.0]  # k = kappa d >= 8 tasks at the quick size
        tests = {"aligned": lam.copy(), "isotropic": None, "anti-aligned": lam[::-1].copy()}
        record["sim_kappa"] = sim_kappa

        def draw(ax):
            colors = plot._colors(3, "plasma")
            for (label, cov), c in zip(tests.items(), colors):
                ax.plot(kappa, A.e_icl(**PARAMS, kappa=kappa, task_cov=lam, test_cov=cov), "-", color=c,
                        lw=1.6, label=f"$e_{{ICL}}$, {label} test")
                if simulate:
                    s = _sim({"kappa": sim_kappa}, {"task_cov": lam, "test_cov": cov}, **sim_kw)
                    ax.errorbar(s["kappa"], s["icl_mean"], yerr=s["icl_sem"], fmt="o", color=c, ms=4, capsize=2)
            ax.plot(kappa, A.e_idg(**PARAMS, kappa=kappa, task_cov=lam), "--", color="0.3", lw=1.4,
                    label="$e_{IDG}$")
            ax.set_xscale("log")
            ax.set_xlabel(plot.AXIS_LABEL["kappa"])
            ax.set_ylabel("test error")
            ax.legend(fontsize=8)
            ax.set_title(f"power-law tasks $i^{{-{P}}}$, tau = {PARAMS['tau']:g}, alpha = {PARAMS['alpha']:g}; "
                         + FINITE_D.format(d=d, n=z["n_seeds"]), fontsize=8)
        return _figure(draw), record

    alpha_test = np.geomspace(0.1, 30, 120)
    alphas = [0.5, 2.0, 8.0]
    sim_at = [0.5, 2.0, 8.0]
    record["alphas"], record["sim_alpha_test"] = alphas, sim_at
    kappa = 1.0

    def draw(ax):
        colors = plot._colors(len(alphas), "viridis")
        base = dict(PARAMS, kappa=kappa)
        for a, c in zip(alphas, colors):
            kw = dict(base, alpha=a)
            ax.plot(alpha_test, A.e_icl(**kw, task_cov=lam, alpha_test=alpha_test), "-", color=c, lw=1.6,
                    label=fr"trained at $\alpha = {a:g}$")
            ax.axvline(a, color=c, lw=0.6, ls=":")
            if simulate:
                for at in sim_at:
                    s = simulate_summary(dict(kw, kappa=[kappa]), d=z["d"], n_seeds=z["n_seeds"], seed=seed,
                                         cache_dir=cache_dir, n_jobs=n_jobs, progress=progress,
                                         model={"task_cov": lam, "alpha_test": at})
                    ax.errorbar([at], s["icl_mean"], yerr=s["icl_sem"], fmt="o", color=c, ms=4, capsize=2)
        ax.set_xscale("log")
        ax.set_xlabel(r"test context length $\alpha_{test} = \ell_{test}/d$")
        ax.set_ylabel(r"$e_{\mathrm{ICL}}$ (isotropic test tasks)")
        ax.legend(fontsize=8)
        ax.set_title(f"power-law tasks $i^{{-{P}}}$, kappa = {kappa:g}, tau = {PARAMS['tau']:g}; "
                     + FINITE_D.format(d=d, n=z["n_seeds"]), fontsize=8)
    return _figure(draw), record


def reproduce(outdir, *, quick=True, simulate=True, seed=0, cache_dir=None, n_jobs=1, progress=False,
              only=None):
    """Write the structured figures (PNG) and ``manifest_structured.json`` into ``outdir``."""
    return write_figure_set(
        outdir, prefix="structured", names=NAMES if only is None else only, build=build, what=WHAT,
        title="Structured tasks (docs/THEORY.md section 8)", manifest="manifest_structured.json",
        command="python -c \"from icl_asymptotics import structured_figures as S; "
                f"S.reproduce('docs/figures', quick={quick}, cache_dir='cache/sfig')\"",
        quick=quick, simulate=simulate, seed=seed, cache_dir=cache_dir, n_jobs=n_jobs, progress=progress)
