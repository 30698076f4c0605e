"""Finite-d Monte Carlo simulation of linear-attention ICL (trains Gamma* exactly).

``run`` trains and evaluates Gamma* at one parameter point over seeds; ``sweep`` runs grids x seeds
with a resumable cache and optional joblib/Dask parallelism; ``ridge_mc``/``dmmse_mc`` are the
finite-d Bayes baselines. Replicate ``r`` of any point uses ``SeedSequence(seed, spawn_key=(r,))``.
"""
from simulate._sizes import sizes
from simulate.baselines import dmmse_mc, ridge_mc
from simulate.core import SimResult, run, run_replicate
from simulate.sweep import SweepResult, sweep

__all__ = ["run", "run_replicate", "SimResult", "sizes", "sweep", "SweepResult", "ridge_mc", "dmmse_mc"]
