"""Parameter validation: the one place that says which values each parameter may take.

Every public entry point (theory, high precision, simulation, CLI) calls these functions, so a bad
value is refused with the same message everywhere.
"""
from __future__ import annotations

import numpy as np

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


def check_params(tau, alpha, kappa, rho, lam=0.0):
    """Validate and broadcast the five model parameters; returns five float64 arrays of one shape."""
    arrays = [check(n, v) for n, v in
              zip(("tau", "alpha", "kappa", "rho", "lam"), (tau, alpha, kappa, rho, lam))]
    try:
        return tuple(np.broadcast_arrays(*arrays))
    except ValueError as exc:
        shapes = ", ".join(f"{n}{a.shape}" for n, a in
                           zip(("tau", "alpha", "kappa", "rho", "lam"), arrays))
        raise ValueError(f"parameters cannot be broadcast together: {shapes}") from exc
