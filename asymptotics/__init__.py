"""Exact asymptotic theory of in-context learning by linear attention.

Lu, Letey, Zavatone-Veth, Maiti, Pehlevan, "Asymptotic theory of in-context learning by linear
attention", PNAS 2025 (arXiv 2405.11751). ``e_icl``/``e_idg`` evaluate the d -> inf test errors for
any (tau, alpha, kappa, rho, lam) with numpy broadcasting; ``solve`` returns every intermediate.
The symbolic derivation (``asymptotics.symbolic``), the mpmath path (``asymptotics.highprec``),
plotting (``asymptotics.plot``) and the CLI are imported only on demand.
"""
from asymptotics.baselines import ridge_error
from asymptotics.limits import (Peak, e_alpha_inf_tau_inf, e_kappa_inf, e_tau_inf,
                                interpolation_peak, optimal_attention_error)
from asymptotics.ridgeless import e_icl_ridgeless, e_idg_ridgeless_above
from asymptotics.stieltjes import mp_stieltjes, mp_stieltjes_deriv
from asymptotics.theory import ConvergenceError, TheoryResult, e_icl, e_idg, solve

__version__ = "0.1.0"

__all__ = [
    "ConvergenceError", "Peak", "TheoryResult", "e_alpha_inf_tau_inf", "e_icl", "e_icl_ridgeless",
    "e_idg", "e_idg_ridgeless_above", "e_kappa_inf", "e_tau_inf", "interpolation_peak",
    "mp_stieltjes", "mp_stieltjes_deriv", "optimal_attention_error", "ridge_error", "solve",
]
