"""Exact asymptotic theory of in-context learning by linear attention (the pure-math layer).

Lu, Letey, Zavatone-Veth, Maiti, Pehlevan, "Asymptotic theory of in-context learning by linear
attention", PNAS 2025 (arXiv 2405.11751). ``e_icl``/``e_idg`` evaluate the d -> inf test errors for
any (tau, alpha, kappa, rho, lam) with numpy broadcasting; ``solve`` returns every intermediate.
This package does no I/O and imports neither :mod:`simulate` nor the application
(:mod:`icl_asymptotics`); the symbolic derivation (``asymptotics.symbolic``, sympy) and the mpmath
path (``asymptotics.highprec``) load only when imported themselves.
"""
from importlib import metadata as _metadata

from asymptotics.baselines import ridge_error
from asymptotics.limits import (Peak, e_alpha_inf_tau_inf, e_kappa_inf, e_tau_inf,
                                interpolation_peak, optimal_attention_error)
from asymptotics.params import PARAMS
from asymptotics.ridgeless import e_icl_ridgeless, e_idg_ridgeless_above
from asymptotics.scans import error_mesh, errors_along, relative_gap
from asymptotics.spectrum import ISOTROPIC, Isotropic, TaskSpectrum
from asymptotics.stieltjes import marchenko_pastur_dm, marchenko_pastur_m
from asymptotics.theory import ConvergenceError, TheoryResult, e_icl, e_idg, solve

try:
    __version__ = _metadata.version("icl-asymptotics")
except _metadata.PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "ConvergenceError", "ISOTROPIC", "Isotropic", "PARAMS", "Peak", "TaskSpectrum", "TheoryResult",
    "__version__", "e_alpha_inf_tau_inf", "e_icl", "e_icl_ridgeless", "e_idg", "e_idg_ridgeless_above",
    "e_kappa_inf", "e_tau_inf", "error_mesh", "errors_along", "interpolation_peak",
    "marchenko_pastur_dm", "marchenko_pastur_m", "optimal_attention_error", "relative_gap",
    "ridge_error", "solve",
]
