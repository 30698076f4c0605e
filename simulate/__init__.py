"""Finite-d simulation of linear-attention ICL (trains Gamma* exactly): the middle layer.

``run`` trains and evaluates Gamma* at one parameter point over seeds (``run_replicate``: one
replicate); ``Options`` holds how it runs (solver, tolerances, dtype, task normalisation, seeding
mode), validated once; ``sweep`` runs grids x seeds with a resumable cache and optional joblib/Dask
parallelism (``plan`` / ``execute`` / ``collect`` are its three steps); ``fit`` is the ridge solve on
its own; ``ridge_mc``/``dmmse_mc`` (and their sweep runners ``ridge_replicate``/``dmmse_replicate``)
are the finite-d Bayes baselines; ``validate`` simulates a ladder of d and extrapolates to d = inf
against the theory (``extrapolate``: the weighted 1/d fit alone). Every random draw comes from
``stream(seed, replicate, point)`` (:mod:`simulate.seeding`). This package uses only the public API
of :mod:`asymptotics` and never imports the application layer, matplotlib or sympy.
"""
from asymptotics import ConvergenceError
from simulate._sizes import available_memory, sizes
from simulate.baselines import DMMSEErrors, Estimate, dmmse_mc, dmmse_replicate, ridge_mc, ridge_replicate
from simulate.core import SimResult, run, run_replicate
from simulate.errors import monte_carlo_errors, test_errors
from simulate.options import Options
from simulate.seeding import point_key, stream
from simulate.solvers import Solution, fit
from simulate.stats import mean_sem
from simulate.sweep import SweepResult, collect, execute, plan, sweep
from simulate.validate import Extrapolation, Validation, extrapolate, validate

test_errors.__test__ = False  # not a pytest test despite the name

__all__ = [
    "ConvergenceError", "DMMSEErrors", "Estimate", "Extrapolation", "Options", "SimResult",
    "Solution", "SweepResult", "Validation", "available_memory", "collect", "dmmse_mc",
    "dmmse_replicate", "execute", "extrapolate", "fit", "mean_sem", "monte_carlo_errors", "plan",
    "point_key", "ridge_mc", "ridge_replicate", "run", "run_replicate", "sizes", "stream", "sweep",
    "test_errors", "validate",
]
