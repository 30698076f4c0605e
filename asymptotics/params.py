"""The model's parameters: their names, allowed ranges, checks and grids (one place for each).

Every public entry point of every layer (theory, limits, high precision, simulation, CLI) validates
through these functions, so a bad value is refused with the same message everywhere:

- a wrong *type* is a ``TypeError`` naming the parameter: only real numbers are accepted (Python
  ``int``/``float``, ``numbers.Real`` scalars such as ``fractions.Fraction``, numpy integer and
  floating scalars and arrays, and lists of these). ``bool``, complex, strings, bytes-like objects,
  ``None``, ``Decimal``, dates and times, and object arrays are refused rather than coerced; a
  masked entry is refused;
- a wrong *value* is a ``ValueError`` naming the parameter, its allowed range and the first
  offending value (NaN always; a Python int too large for float64 too).

Two ranges per model parameter. :data:`DOMAIN` is where the theory is defined
(``0 < tau <= inf``, ...). :data:`RANGES` is the part of it the float64 kernels evaluate to a
finite, converged value at *every* combination of the other parameters (measured, and checked by
``tests/test_fuzz.py``: every corner of the box and 2e4 log-uniform points inside it give finite,
converged values of every field of ``solve``; the fuzz there covers the rest), and in which the errors
agree with the mpmath path to 64 eps relative (tests/test_edges.py, random points of the box). It is what
:func:`check` enforces by default, so the theory never returns NaN, and never ``inf`` except at the
ridgeless peak ``tau = 1``. Closed forms that are finite on the whole domain
(``optimal_attention_error``, ``e_alpha_inf_tau_inf``) check against :data:`DOMAIN` only
(``check(..., domain=True)``); so does the mpmath path (``asymptotics.highprec``).
"""
from __future__ import annotations

import itertools
import numbers
import reprlib
from typing import NamedTuple

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


class Range(NamedTuple):
    """Allowed values: ``low < x`` (``low <= x`` with ``low_ok``), finite ``x <= high``, and ``x = +inf``
    only with ``inf_ok``; ``text`` says it in words (quoted in every error message)."""

    low: float
    low_ok: bool
    high: float
    inf_ok: bool
    text: str


_INF = float("inf")

#: Where the theory is defined (THEORY.md section 4).
DOMAIN = {
    "tau": Range(0.0, False, _INF, True, "0 < tau <= inf"),
    "alpha": Range(0.0, False, _INF, False, "0 < alpha < inf"),
    "kappa": Range(0.0, False, _INF, True, "0 < kappa <= inf"),
    "rho": Range(0.0, True, _INF, False, "0 <= rho < inf"),
    "lam": Range(0.0, True, _INF, False, "0 <= lam < inf"),
}

#: Where the float64 kernels are finite, converged and accurate at every combination of the others
#: (module docstring). Accurate: ``e_icl``, ``e_idg`` within 64 eps relative of the mpmath path
#: (``asymptotics.highprec``) at random points of the box (tests/test_edges.py; measured <= 7e-16).
#: kappa >= 1e-150 keeps the spectral average ``P2 ~ kappa^2`` a normal float64 (below it ``P2``
#: underflowed and ``e_idg = 5.0e-253`` came out for 6.3e-228 at kappa = 5.6e-214, lam = 4.5e99). The errors alone stay finite in a wider box (tau, alpha >= 1e-50, rho <= 1e50 with
#: the same upper bounds; they fail from about tau, alpha ~ 1e-60, tau ~ 1e200, rho ~ 1e55,
#: lam ~ 1e150 at the worst corners); the narrower lower bounds keep the effective ridge
#: nu <= lam + (1+q)/tau below ~1e100, so that ``solve``'s intermediate ``B5 = ... - nu b^2 F2``,
#: formed as defined, does not overflow. The default of :func:`check`.
RANGES = {
    "tau": Range(1e-30, True, 1e100, True, "1e-30 <= tau <= 1e100 or tau = inf"),
    "alpha": Range(1e-30, True, 1e100, False, "1e-30 <= alpha <= 1e100"),
    "kappa": Range(1e-150, True, _INF, True, "1e-150 <= kappa <= inf"),
    "rho": Range(0.0, True, 1e30, False, "0 <= rho <= 1e30"),
    "lam": Range(0.0, True, 1e100, False, "0 <= lam <= 1e100"),
}
_FLOAT64_NOTE = (" (the float64 range of the theory: beyond it the float64 kernels overflow; "
                 "asymptotics.params.RANGES)")


_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 40


def _short(value) -> str:
    """A repr of at most about 40 characters (a huge array or string stays one line)."""
    return _REPR.repr(value)


def as_real_array(name: str, value) -> np.ndarray:
    """``value`` as a float64 array, refusing anything that is not real numbers.

    ``TypeError`` naming ``name`` for bool, complex, strings, bytes-like objects (``bytes``,
    ``bytearray``, ``memoryview``: never read as their byte codes), None, Decimal, dates, times,
    object arrays and other non-real input; ``ValueError`` for an integer or long double too large
    for float64 (it would otherwise become ``inf``, a valid value of ``tau`` and ``kappa``) and for a
    masked array with a masked entry (``numpy.ma.masked`` included: a masked value is never computed
    as if it were valid; a masked array without masked entries is its data).
    """
    kind = type(value)
    if kind is float:
        return np.asarray(value)
    if isinstance(value, np.ma.MaskedArray):  # np.ma.masked too: a masked value has no number
        if np.ma.getmaskarray(value).any():
            raise ValueError(f"{name} has masked entries ({int(np.ma.count_masked(value))} of "
                             f"{value.size}); a masked value cannot be computed with: drop or fill "
                             "them (numpy.ma.filled) first")
        value = np.ma.getdata(value)
    if isinstance(value, np.ndarray):
        arr = value
    elif isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a real number, not a bool; got {value!r}")
    elif isinstance(value, numbers.Real) and not isinstance(value, np.generic):
        try:  # int, Fraction, other numbers.Real scalars: one exact conversion
            return np.asarray(float(value))
        except OverflowError:
            raise ValueError(f"{name} = {_short(value)} is too large for float64 "
                             f"(largest {np.finfo(float).max:.4g})") from None
    elif isinstance(value, (str, bytes, bytearray, memoryview, np.str_, np.bytes_)) or value is None:
        raise TypeError(f"{name} must be a real number or an array of real numbers, not "
                        f"{type(value).__name__}; got {_short(value)}")
    else:
        try:
            arr = np.asarray(value)
        except (TypeError, ValueError) as exc:  # ragged nesting and the like
            raise TypeError(f"{name} must be a real number or an array of real numbers; got "
                            f"{_short(value)} ({exc})") from None
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be a real number or an array of real numbers; got "
                        f"{_short(value)} (numpy dtype {arr.dtype})")
    if arr.dtype.kind == "f" and arr.dtype.itemsize > 8:
        with np.errstate(over="raise"):
            try:
                return arr.astype(np.float64)
            except FloatingPointError:
                raise ValueError(f"{name} has values too large for float64 "
                                 f"(largest {np.finfo(float).max:.4g}); got {_short(value)}") from None
    return arr.astype(np.float64, copy=False)


def check(name: str, value, *, low: float | None = None, low_ok: bool | None = None,
          high: float | None = None, inf_ok: bool | None = None, allowed: str | None = None,
          domain: bool = False) -> np.ndarray:
    """Return ``value`` as a float64 array after checking its type and that it lies in the range of ``name``.

    The range defaults to ``RANGES[name]`` (the float64 range of the theory), or ``DOMAIN[name]``
    with ``domain=True`` (for closed forms finite on the whole domain); keyword arguments override it
    (for quantities that are not model parameters; ``high`` defaults to no finite bound there).
    A wrong type is a ``TypeError`` (:func:`as_real_array`); a value outside the range a
    ``ValueError`` naming the parameter, the allowed range and the first offending value; NaN is
    always refused.
    """
    table = DOMAIN if domain else RANGES
    r = table.get(name) or Range(None, False, _INF, False, None)
    low = r.low if low is None else low
    low_ok = r.low_ok if low_ok is None else low_ok
    high = r.high if high is None else high
    inf_ok = r.inf_ok if inf_ok is None else inf_ok
    allowed = r.text if allowed is None else allowed
    if allowed is None:  # not a model parameter and no text given: say the bounds themselves
        allowed = ("" if low is None else f"{low:g} {'<=' if low_ok else '<'} ") + name + (
            f" <= {high:g}" if high < _INF else (" <= inf" if inf_ok else " < inf"))
    arr = as_real_array(name, value)
    if _all_in_range(arr, low, low_ok, high, inf_ok):
        return arr
    bad = np.isnan(arr) | (arr == -np.inf)
    if not inf_ok:
        bad |= np.isinf(arr)
    if low is not None:
        bad |= (arr < low) if low_ok else (arr <= low)
    if high < _INF:
        bad |= np.isfinite(arr) & (arr > high)
    first = float(arr[bad].flat[0]) if arr.ndim else float(arr)
    where = "" if arr.ndim == 0 else f" (at {int(np.count_nonzero(bad))} of {arr.size} entries)"
    # Inside the domain but beyond the float64 bounds: say why the bound is there.
    note = (_FLOAT64_NOTE if not domain and name in RANGES and allowed == RANGES[name].text
            and _all_in_range(np.asarray(first), *DOMAIN[name][:4]) else "")
    raise ValueError(f"{name} must satisfy {allowed}{note}; got {first!r}{where}")


def _all_in_range(arr: np.ndarray, low, low_ok: bool, high: float, inf_ok: bool) -> bool:
    """Fast path of ``check``: one or two reductions instead of a mask per condition (NaN propagates
    through min/max and fails every comparison, so it always takes the slow path)."""
    if arr.size == 0:
        return True
    lo = float(arr) if arr.ndim == 0 else arr.min()
    if not (lo > -np.inf and (low is None or (lo >= low if low_ok else lo > low))):
        return False
    hi = float(arr) if arr.ndim == 0 else arr.max()
    if hi < np.inf:
        return bool(hi <= high)
    if not (inf_ok and hi == np.inf):  # NaN fails here too
        return False
    return high == _INF or bool(np.all((arr <= high) | (arr == np.inf)))


def check_broadcast(*, domain: bool = False, **named) -> tuple:
    """Validate each named parameter (:func:`check`; ``domain`` as there) and broadcast them; float64
    arrays of one shape, in the order given. A shape mismatch is a ``ValueError`` naming every
    parameter's shape."""
    arrays = {name: check(name, value, domain=domain) for name, value in named.items()}
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
    if not isinstance(name, str) or name not in PARAMS:
        raise ValueError(f"{role} must be one of {', '.join(PARAMS)}; got {name!r}")


def broadcast_params(tau, alpha, kappa, rho, lam=0.0):
    """The five parameters as float64 arrays of one shape, type-checked but not range-checked (the
    first half of :func:`check_params`, for callers that check the values chunk by chunk with
    :func:`in_range`); ``None`` where they are not real numbers or cannot be broadcast (then
    :func:`check_params` raises)."""
    try:
        arrays = [as_real_array(n, v) for n, v in zip(PARAMS, (tau, alpha, kappa, rho, lam))]
        return tuple(np.broadcast_arrays(*arrays))
    except (TypeError, ValueError):
        return None


def in_range(name: str, arr: np.ndarray) -> bool:
    """Whether :func:`check` accepts the float64 array ``arr`` for the model parameter ``name``."""
    return _all_in_range(arr, *RANGES[name][:4])


def check_alpha_test(value) -> np.ndarray:
    """The test context length per dimension ``alpha_test``: ``alpha``'s range under its own name."""
    r = RANGES["alpha"]
    return check("alpha_test", value, low=r.low, low_ok=r.low_ok, high=r.high, inf_ok=r.inf_ok,
                 allowed=r.text.replace("alpha", "alpha_test"))


def check_scalar(name: str, value) -> float:
    """``check`` for a single value: returns a Python float, refuses arrays with more than one entry."""
    arr = check(name, value)
    if arr.ndim != 0:
        raise ValueError(f"{name} must be a scalar here; got an array of shape {arr.shape}")
    return float(arr)


def as_real_scalar(name: str, value) -> float:
    """One real number as a Python float, through :func:`as_real_array` (the same ``TypeError`` for
    non-real input); ``ValueError`` naming ``name`` for an array with more than one entry or NaN. For
    the arguments that are not model parameters (a builder's exponent, a tolerance); the caller checks
    the range."""
    arr = as_real_array(name, value)
    if arr.ndim != 0:
        raise ValueError(f"{name} must be a single real number; got an array of shape {arr.shape}")
    if np.isnan(arr):
        raise ValueError(f"{name} must be a real number, not NaN")
    return float(arr)


def check_int(name: str, value, low: int) -> int:
    """Return ``value`` as an int after checking it is an integer (not bool; ``TypeError``) ``>= low``
    (``ValueError``). A 0-d numpy array of integer dtype is its integer."""
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iu":
        value = value[()]
    # numpy registers timedelta64 as an integer type: refused with bool.
    if isinstance(value, (bool, np.bool_, np.timedelta64)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= {low}; got {_short(value)} "
                        f"({type(value).__name__})")
    if value < low:
        raise ValueError(f"{name} must be an integer >= {low}; got {value!r}")
    return int(value)


def cartesian(**axes) -> dict[str, np.ndarray]:
    """Expand named 1-D axes into the flat Cartesian product (first axis varies slowest); each axis
    type-checked by :func:`as_real_array` (values are range-checked by the caller).

    >>> g = cartesian(tau=[0.5, 2.0], kappa=[1.0, np.inf])
    >>> g["tau"].tolist(), g["kappa"].tolist()
    ([0.5, 0.5, 2.0, 2.0], [1.0, inf, 1.0, inf])
    """
    names = list(axes)
    values = [np.atleast_1d(as_real_array(n, axes[n])).ravel() for n in names]
    for n, v in zip(names, values):
        if v.size == 0:
            raise ValueError(f"grid axis {n} is empty")
    rows = list(itertools.product(*values))
    return {n: np.array([r[i] for r in rows], dtype=np.float64) for i, n in enumerate(names)}
