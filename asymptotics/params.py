"""The model's parameters: their names, allowed ranges, checks and grids (one place for each).

Every public entry point of every layer (theory, high precision, simulation, CLI) validates through
these functions, so a bad value is refused with the same message everywhere.
"""
from __future__ import annotations

import itertools
import numbers

import numpy as np

#: The five model parameters of the scaling limit, in their canonical order.
PARAMS = ("tau", "alpha", "kappa", "rho", "lam")

#: What each parameter means (used by the CLI's help and the docs).
MEANINGS = {
    "tau": "pretraining contexts per parameter, tau = n/d^2 (tau = 1 is the interpolation peak)",
    "alpha": "context length per dimension, alpha = l/d",
    "kappa": "task diversity, kappa = k/d (k distinct pretraining tasks; inf = a fresh task "
             "per context)",
    "rho": "label-noise variance rho >= 0",
    "lam": "ridge strength lambda >= 0 (0 = ridgeless, the lambda -> 0+ limit)",
}

# name -> (lower bound, lower bound allowed?, +inf allowed?, human-readable range)
RANGES = {
    "tau": (0.0, False, True, "0 < tau <= inf"),
    "alpha": (0.0, False, False, "0 < alpha < inf"),
    "kappa": (0.0, False, True, "0 < kappa <= inf"),
    "rho": (0.0, True, False, "0 <= rho < inf"),
    "lam": (0.0, True, False, "0 <= lam < inf"),
}


def check(name: str, value, *, low: float | None = None, low_ok: bool | None = None,
          inf_ok: bool | None = None, allowed: str | None = None) -> np.ndarray:
    """Return ``value`` as a float64 array after checking it lies in the range of ``name``.

    The range defaults to ``RANGES[name]``; keyword arguments override it (for parameters that are
    not one of the five model parameters). Raises ``ValueError`` naming the parameter, the allowed
    range and the first offending value; NaN is always refused.
    """
    d_low, d_low_ok, d_inf_ok, d_allowed = RANGES.get(name, (None, None, None, None))
    low = d_low if low is None else low
    low_ok = d_low_ok if low_ok is None else low_ok
    inf_ok = d_inf_ok if inf_ok is None else inf_ok
    allowed = d_allowed if allowed is None else allowed
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a real number or array of real numbers "
                         f"({allowed}); got {value!r}") from exc
    if _all_in_range(arr, low, low_ok, inf_ok):
        return arr
    bad = np.isnan(arr)
    if not inf_ok:
        bad |= np.isinf(arr)
    if low is not None:
        bad |= (arr < low) if low_ok else (arr <= low)
    bad |= arr == -np.inf
    if np.any(bad):
        first = float(arr[bad].flat[0]) if arr.ndim else float(arr)
        where = "" if arr.ndim == 0 else f" (at {int(np.count_nonzero(bad))} of {arr.size} entries)"
        raise ValueError(f"{name} must satisfy {allowed}; got {first!r}{where}")
    return arr


def _all_in_range(arr: np.ndarray, low, low_ok: bool, inf_ok: bool) -> bool:
    """Fast path of ``check``: one or two reductions instead of a mask per condition (NaN propagates
    through min/max and fails every comparison, so it always takes the slow path)."""
    if arr.size == 0:
        return True
    lo = float(arr) if arr.ndim == 0 else arr.min()
    if not (lo > -np.inf and (low is None or (lo >= low if low_ok else lo > low))):
        return False
    return bool(inf_ok or (float(arr) if arr.ndim == 0 else arr.max()) < np.inf)


def check_broadcast(**named) -> tuple:
    """Validate each named parameter (:func:`check`) and broadcast them; float64 arrays of one shape,
    in the order given. A shape mismatch is a ``ValueError`` naming every parameter's shape."""
    arrays = {name: check(name, value) for name, value in named.items()}
    try:
        return tuple(np.broadcast_arrays(*arrays.values()))
    except ValueError as exc:
        shapes = ", ".join(f"{n}{a.shape}" for n, a in arrays.items())
        raise ValueError(f"parameters cannot be broadcast together: {shapes}") from exc


def check_params(tau, alpha, kappa, rho, lam=0.0):
    """Validate and broadcast the five model parameters; returns five float64 arrays of one shape."""
    return check_broadcast(tau=tau, alpha=alpha, kappa=kappa, rho=rho, lam=lam)


def check_name(name: str, role: str) -> None:
    """Refuse ``name`` unless it is one of the five model parameters (``role`` names the argument)."""
    if name not in PARAMS:
        raise ValueError(f"{role} must be one of {', '.join(PARAMS)}; got {name!r}")


def broadcast_params(tau, alpha, kappa, rho, lam=0.0):
    """The five parameters as float64 arrays of one shape, not range-checked (the first half of
    :func:`check_params`, for callers that check the values chunk by chunk with :func:`in_range`);
    ``None`` where they cannot be converted or broadcast (then :func:`check_params` raises)."""
    try:
        arrays = [np.asarray(v, dtype=np.float64) for v in (tau, alpha, kappa, rho, lam)]
        return tuple(np.broadcast_arrays(*arrays))
    except (TypeError, ValueError):
        return None


def in_range(name: str, arr: np.ndarray) -> bool:
    """Whether :func:`check` accepts the float64 array ``arr`` for the model parameter ``name``."""
    low, low_ok, inf_ok, _ = RANGES[name]
    return _all_in_range(arr, low, low_ok, inf_ok)


def check_scalar(name: str, value) -> float:
    """``check`` for a single value: returns a Python float, refuses arrays with more than one entry."""
    arr = check(name, value)
    if arr.ndim != 0:
        raise ValueError(f"{name} must be a scalar here; got an array of shape {arr.shape}")
    return float(arr)


def check_int(name: str, value, low: int) -> int:
    """Return ``value`` as an int after checking it is an integer (not bool) ``>= low``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}; got {value!r}")
    return int(value)


def cartesian(**axes) -> dict[str, np.ndarray]:
    """Expand named 1-D axes into the flat Cartesian product (first axis varies slowest).

    >>> g = cartesian(tau=[0.5, 2.0], kappa=[1.0, np.inf])
    >>> g["tau"].tolist(), g["kappa"].tolist()
    ([0.5, 0.5, 2.0, 2.0], [1.0, inf, 1.0, inf])
    """
    names = list(axes)
    values = [np.atleast_1d(np.asarray(axes[n], dtype=np.float64)).ravel() for n in names]
    for n, v in zip(names, values):
        if v.size == 0:
            raise ValueError(f"grid axis {n} is empty")
    rows = list(itertools.product(*values))
    return {n: np.array([r[i] for r in rows], dtype=np.float64) for i, n in enumerate(names)}
