"""Theory along one parameter and on a two-parameter mesh, with the generalisation gap.

What figures and tables ask of the theory, in one place: :func:`errors_along` (a learning curve),
:func:`error_mesh` (a phase diagram) and :func:`relative_gap`, the memorisation/ICL order parameter
``(e_ICL - e_IDG)/e_ICL`` (0: the model does as well on new tasks as on its pretraining tasks;
-> 1: good only on its pretraining tasks). In the ridgeless limit ``tau -> inf`` then
``alpha -> inf`` it is ``(1 - kappa)/(1 + rho - kappa)`` for ``kappa < 1`` and 0 for ``kappa >= 1``
(from :func:`asymptotics.limits.e_alpha_inf_tau_inf`).
"""
from __future__ import annotations

import numpy as np

from asymptotics.params import PARAMS, as_real_array, check_name
from asymptotics.theory import e_icl, e_idg


def fixed_params(params: dict, names) -> dict:
    """The values of ``names`` from ``params``; ``ValueError`` for a missing or unknown name."""
    missing = [p for p in names if p not in params]
    if missing:
        raise ValueError(f"missing model parameter(s) {', '.join(missing)}: give a value for each "
                         "of tau, alpha, kappa, rho, lam not on an axis")
    unknown = sorted(set(params) - set(PARAMS))
    if unknown:
        raise ValueError(f"unknown parameter(s) {', '.join(unknown)}; expected {PARAMS}")
    return {p: params[p] for p in names}


def relative_gap(icl, idg):
    """``(e_icl - e_idg)/e_icl``, NaN where either error is infinite (ridgeless ``tau = 1``)."""
    icl, idg = np.asarray(icl, float), np.asarray(idg, float)
    finite = np.isfinite(icl) & np.isfinite(idg)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(finite, (icl - np.where(finite, idg, 0.0)) / np.where(finite, icl, 1.0), np.nan)
    return float(out) if out.ndim == 0 else out


def idg_where_defined(*args, **model):
    """:func:`asymptotics.e_idg`, or NaN of the broadcast shape where it is not derived (a query
    correlated with the context, docs/THEORY.md section 9.3): tables and figures show no value
    there instead of failing."""
    if model.get("query") == "correlated" and model.get("token_kernel") is not None:
        return np.full(np.broadcast(*[np.asarray(a) for a in args]).shape, np.nan)
    return np.asarray(e_idg(*args, **model), float)


def errors_along(x_name: str, x, *, model: dict | None = None, **params) -> dict[str, np.ndarray]:
    """``{'icl': e_ICL(x), 'idg': e_IDG(x)}`` along parameter ``x_name`` at fixed ``params``;
    ``model``: structured-task keywords of :func:`asymptotics.e_icl` (``task_cov``, ``test_cov``,
    ``alpha_test``)."""
    check_name(x_name, "x_name")
    full = dict(fixed_params(params, [p for p in PARAMS if p != x_name]), **{x_name: x})
    args = [full[p] for p in PARAMS]
    model = model or {}
    return {"icl": np.asarray(e_icl(*args, **model), float), "idg": idg_where_defined(*args, **model)}


def _axis(name: str, values) -> np.ndarray:
    """A mesh axis: real numbers through the one type check, a scalar as a one-point axis; ``ValueError``
    naming ``name`` for more than one dimension or no point."""
    arr = np.atleast_1d(as_real_array(name, values))
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"the {name} axis must be a non-empty 1-D array; got shape {arr.shape}")
    return arr


def error_mesh(x_name: str, x, y_name: str, y, *, model: dict | None = None, **params) -> dict[str, np.ndarray]:
    """Theory on the mesh ``y`` (rows) x ``x`` (columns): ``e_icl``, ``e_idg``, ``gap`` (their
    difference) and ``relgap`` (:func:`relative_gap`); NaN gaps where an error is infinite."""
    check_name(x_name, "x_name")
    check_name(y_name, "y_name")
    if x_name == y_name:
        raise ValueError("the two axes of a phase diagram must be different parameters")
    fixed = fixed_params(params, [p for p in PARAMS if p not in (x_name, y_name)])
    full = dict(fixed, **{x_name: _axis(x_name, x)[None, :], y_name: _axis(y_name, y)[:, None]})
    args = [full[p] for p in PARAMS]
    icl = np.asarray(e_icl(*args, **(model or {})), float)
    idg = idg_where_defined(*args, **(model or {}))
    finite = np.isfinite(icl) & np.isfinite(idg)
    gap = np.where(finite, icl - np.where(finite, idg, 0.0), np.nan)
    return {"e_icl": icl, "e_idg": idg, "gap": gap, "relgap": relative_gap(icl, idg)}
