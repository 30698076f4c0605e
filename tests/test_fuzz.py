"""Property-based fuzz of every public entry point over the whole parameter space (hypothesis).

Each argument is drawn from a mixture: valid values spread log-uniformly over the float64 range of
the theory (``asymptotics.params.RANGES``) with its special values (``0``, ``1``, ``inf``), any float
at all (NaN, +-inf, subnormals, +-1.8e308), integers far beyond float64, wrong types (bool,
complex, strings, bytes and the other bytes-like objects, None, Decimal, dates, timedeltas, object
and string arrays, dicts, masked values) and arrays mixing all of these. The contract asserted for
every call:

- the call returns finite numbers (``inf`` only at the documented ridgeless peak ``tau = 1``,
  ``lam = 0``), never NaN; or
- it raises ``ValueError`` or ``TypeError`` whose message names one of the function's parameters;
- anything else (``ConvergenceError``, ``OverflowError``, ``ZeroDivisionError``, ``LinAlgError``,
  ``MemoryError``, a numpy warning turned error, ...) fails the test.

Masked arrays whose masked entries hide out-of-range values must be refused (never computed as
if valid), with the builders of task laws (``asymptotics.spectrum``) and the scans
(``errors_along``, ``error_mesh``) under the same contract.

Counts of calls, refusals, evaluations and NaN are kept in ``COUNTS``; ``python tests/test_fuzz.py``
runs the whole campaign and prints them as JSON (quoted in the closing note of issue 9).
"""
import dataclasses
import datetime
import decimal
import json
import os
import re
import sys
from collections import Counter
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import asymptotics as A
import simulate
import simulate.core
from asymptotics import params as P

COUNTS = Counter()
# A longer or fresh campaign: ICL_FUZZ_EXAMPLES=5000 ICL_FUZZ_RANDOM=1 python tests/test_fuzz.py
EXAMPLES = int(os.environ.get("ICL_FUZZ_EXAMPLES", 300))
RANDOM = bool(os.environ.get("ICL_FUZZ_RANDOM"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=not RANDOM, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def _valid(name):
    r = P.RANGES[name]
    lo = -300.0 if r.low == 0 else np.log10(r.low)
    hi = 300.0 if r.high == np.inf else np.log10(r.high)
    logs = st.floats(lo, hi).map(lambda e: float(min(max(10.0 ** e, r.low), r.high)))
    special = [r.low] if r.low_ok else []
    special += [np.inf] if r.inf_ok else []
    special += [1.0, r.high] if r.high < np.inf else [1.0]
    return st.one_of(logs, st.sampled_from(special))


WRONG_TYPES = st.sampled_from([
    True, False, np.bool_(True), 1 + 0j, np.complex128(2.0), "2", b"2", np.str_("2"), None,
    decimal.Decimal("2"), np.datetime64("2020-01-01"), np.timedelta64(1, "D"),
    datetime.date(2020, 1, 1), np.array(["2"]), np.array([1.0, 2.0], dtype=object), [1.0, "x"],
    {"a": 1}, np.array([True, False]), np.array([1 + 1j]), [[1.0], [1.0, 2.0]],
    bytearray(b"2"), memoryview(b"2.0"), np.ma.masked,
])
ANY_FLOAT = st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True)
HUGE_INT = st.integers(min_value=-(10 ** 400), max_value=10 ** 400)


BAD = st.one_of(ANY_FLOAT, HUGE_INT, WRONG_TYPES)


@st.composite
def arguments(draw, names):
    """Arguments for ``names``: all valid scalars (2 in 6), valid arrays of one length for some of
    them (1 in 6), one argument replaced by any float, a huge integer or a wrong type (2 in 6), or
    an array with one such float among valid entries (1 in 6)."""
    kw = {n: draw(_valid(n)) for n in names}
    mode = draw(st.sampled_from(["valid", "valid", "arrays", "bad", "bad", "bad entry"]))
    if mode == "valid":
        return kw
    chosen = draw(st.lists(st.sampled_from(names), min_size=1, max_size=len(names), unique=True))
    if mode == "arrays":
        size = draw(st.integers(1, 6))
        for n in chosen:
            kw[n] = np.array(draw(st.lists(_valid(n), min_size=size, max_size=size)))
    elif mode == "bad":
        kw[chosen[0]] = draw(BAD)
    else:
        n = chosen[0]
        entries = draw(st.lists(_valid(n), min_size=1, max_size=5))
        entries.insert(draw(st.integers(0, len(entries))), draw(ANY_FLOAT))
        kw[n] = np.array(entries)
    return kw


def _names_a_parameter(msg: str, names) -> bool:
    return any(re.search(rf"\b{re.escape(n)}\b", msg) for n in names)


def _at_peak(kwargs) -> np.ndarray:
    """Where the ridgeless peak ``tau = 1, lam = 0`` is hit (inf there is the documented answer)."""
    tau = np.asarray(kwargs.get("tau", np.nan), dtype=float)
    lam = np.asarray(kwargs.get("lam", 0.0), dtype=float)
    return (tau == 1) & (lam == 0)


def contract(func, kwargs, values_of, *, peak_ok=True):
    """Call ``func(**kwargs)`` and assert the contract of the module docstring; count the outcome."""
    COUNTS["calls"] += 1
    COUNTS[f"calls {func.__name__}"] += 1
    try:
        with np.errstate(over="raise", divide="raise", invalid="raise"):  # no numpy FP error either
            out = func(**kwargs)
    except (ValueError, TypeError) as exc:
        COUNTS["refused"] += 1
        assert _names_a_parameter(str(exc), kwargs), f"{type(exc).__name__} names no parameter: {exc}"
        return
    COUNTS["evaluated"] += 1
    COUNTS[f"evaluated {func.__name__}"] += 1
    for v in values_of(out):
        v = np.asarray(v, dtype=float)
        nan = np.isnan(v)
        COUNTS["nan"] += int(np.count_nonzero(nan))
        assert not nan.any(), (func.__name__, kwargs, v)
        inf = np.isinf(v)
        if inf.any():
            at_peak = np.broadcast_to(_at_peak(kwargs), v.shape)[inf]
            assert peak_ok and np.all(at_peak), (func.__name__, kwargs, v)


def _theory_values(r):
    assert np.all(r.converged)
    return [r.e_icl, r.e_idg, r.nu]


FIVE = arguments(P.PARAMS)


@SETTINGS
@given(FIVE)
def test_fuzz_e_icl_e_idg_solve(kw):
    contract(A.e_icl, kw, lambda v: [v])
    contract(A.e_idg, kw, lambda v: [v])
    contract(A.solve, kw, _theory_values)


@SETTINGS
@given(arguments(("alpha", "kappa", "rho", "lam")), arguments(("tau", "alpha", "rho", "lam")))
def test_fuzz_tau_and_kappa_limits(kw_tau, kw_kappa):
    contract(A.e_tau_inf, kw_tau, lambda v: list(v), peak_ok=False)
    contract(A.e_kappa_inf, kw_kappa, lambda v: list(v))


@SETTINGS
@given(arguments(("alpha", "rho")), arguments(("kappa", "rho")), arguments(("alpha", "rho")))
def test_fuzz_closed_form_limits_and_bayes(kw_opt, kw_alpha, kw_ridge):
    contract(A.optimal_attention_error, kw_opt, lambda v: [v], peak_ok=False)
    contract(A.e_alpha_inf_tau_inf, kw_alpha, lambda v: list(v), peak_ok=False)
    contract(A.ridge_error, kw_ridge, lambda v: [v], peak_ok=False)


@SETTINGS
@given(arguments(("tau", "alpha", "kappa", "rho")))
def test_fuzz_ridgeless_closed_forms(kw):
    contract(A.e_icl_ridgeless, kw, lambda v: [v])
    contract(A.e_idg_ridgeless_above, kw, lambda v: [v], peak_ok=False)


@settings(SETTINGS, max_examples=EXAMPLES // 6)  # a 2001-point scan and a Brent search per call
@given(arguments(("alpha", "kappa", "rho", "lam")), st.sampled_from(["icl", "idg"]))
def test_fuzz_interpolation_peak(kw, which):
    def interpolation_peak(**k):
        return A.interpolation_peak(**k, which=which)

    contract(interpolation_peak, kw,
             lambda p: [] if p.tau is None else [p.tau] + ([] if p.value == np.inf else [p.value]))


def _stub_replicate(point, solver, options, seed, replicate, law=None, kern=None):
    return {"icl": 1.0, "idg": 1.0, "seconds_sample": 0.0, "seconds_solve": 0.0, "seconds_errors": 0.0}


SIM_EXTRA = st.fixed_dictionaries({
    "d": st.one_of(st.integers(2, 60), st.integers(2, 60), st.integers(-3, 10 ** 7), ANY_FLOAT, WRONG_TYPES),
    "n_seeds": st.one_of(st.integers(1, 3), st.integers(1, 3), st.integers(-1, 3), WRONG_TYPES, ANY_FLOAT),
    "seed": st.one_of(st.integers(0, 2 ** 70), st.integers(0, 2 ** 70), st.integers(-1, 3), WRONG_TYPES,
                      ANY_FLOAT),
    "dtype": st.one_of(st.sampled_from(["float64", "float32", "bogus", "int32", "f8", "", "float64,float32"]),
                       WRONG_TYPES),
    "solver": st.one_of(st.sampled_from(["auto", "dual", "cg", "direct", "lu"]), WRONG_TYPES),
})


@SETTINGS
@given(FIVE, SIM_EXTRA)
def test_fuzz_simulate_run_input_checking(kw, extra):
    # The whole of run()'s validation (sizes, ranges, options, solver, memory estimate) runs; the
    # replicates themselves are stubbed, so no simulation is ever started.
    def one(v):  # run() takes scalars: a one-entry array becomes its entry, longer ones stay
        return v[0] if isinstance(v, np.ndarray) and v.ndim == 1 and v.size == 1 else v

    scalar = {k: one(v) for k, v in kw.items()}
    with mock.patch.object(simulate.core, "_replicate", _stub_replicate):
        contract(simulate.run, {**scalar, **extra}, lambda r: [r.icl, r.idg], peak_ok=False)


def test_float64_range_corners_and_interior_are_finite():
    # Why RANGES is what it is: at every corner of the box (each parameter at its bounds, a decade
    # inside them, 1, and its special values 0 / inf / 1 -+ 1e-12 for tau; kappa from 5e-324 to
    # 1.7e308) and at 20000 log-uniform points inside it, solve converges and every field is finite
    # (the errors are inf only at the ridgeless peak).
    import itertools

    vals, inner = {}, []
    rng = np.random.default_rng(9)
    for n in P.PARAMS:
        r = P.RANGES[n]
        lo = r.low if r.low > 0 else 5e-324
        hi = r.high if r.high < np.inf else 1.7e308
        v = {lo, hi, lo * 10, hi / 10, 1.0, float(np.sqrt(lo) * np.sqrt(hi))}
        v |= {0.0} if r.low_ok and r.low == 0 else set()
        v |= {np.inf} if r.inf_ok else set()
        v |= {1 - 1e-12, 1 + 1e-12} if n == "tau" else set()
        vals[n] = sorted(v)
        inner.append(10.0 ** rng.uniform(np.log10(lo), np.log10(hi), 20000))
    grid = np.array(list(itertools.product(*(vals[n] for n in P.PARAMS)))).T
    pts = np.concatenate([grid, np.array(inner)], axis=1)
    r = A.solve(*pts)
    assert np.all(r.converged)
    peak = (pts[0] == 1) & (pts[4] == 0)
    for f in dataclasses.fields(r):
        if f.name in ("tau", "kappa", "converged", "iterations"):  # inf inputs echoed; flags
            continue
        v = getattr(r, f.name)
        ok = np.isfinite(v) | (peak & f.name.startswith("e_"))
        assert ok.all(), (f.name, pts[:, ~ok][:, :5])
    assert np.all(r.e_icl[peak] == np.inf) and np.all(r.e_idg[peak] == np.inf)

if __name__ == "__main__":
    for test in (test_fuzz_e_icl_e_idg_solve, test_fuzz_tau_and_kappa_limits,
                 test_fuzz_closed_form_limits_and_bayes, test_fuzz_ridgeless_closed_forms,
                 test_fuzz_interpolation_peak, test_fuzz_simulate_run_input_checking):
        test()
    json.dump(dict(COUNTS, examples_per_test=EXAMPLES, hypothesis_derandomized=not RANDOM), sys.stdout,
              indent=1)
    print()


# --- structured tasks: task_cov, test_cov, alpha_test ------------------------------------------------
def _cov_values():
    floats = st.one_of(st.floats(0.0, 1e3), st.floats(allow_nan=True, allow_infinity=True),
                       st.sampled_from([0.0, -1.0, 1e-300, 1e300]))
    return st.lists(floats, min_size=0, max_size=6)


@st.composite
def covariances(draw, name):
    from asymptotics import spectrum as S
    kind = draw(st.sampled_from(["none", "power", "two", "array", "matrix", "bad matrix", "wrong type"]))
    if kind == "none":
        return None
    if kind == "power":
        return S.power_law(draw(st.floats(0.0, 3.0)), draw(st.integers(1, 40)))
    if kind == "two":
        law = S.two_level(draw(st.floats(0.01, 0.99)), draw(st.floats(1e-3, 1e3)), draw(st.floats(1e-3, 1e3)))
        return S.anti_aligned(law) if name == "test_cov" and draw(st.booleans()) else law
    if kind == "array":
        return np.array(draw(_cov_values()), dtype=float)
    if kind == "matrix":
        n = draw(st.integers(1, 4))
        B = np.array(draw(st.lists(st.floats(-3, 3), min_size=n * n, max_size=n * n))).reshape(n, n)
        return B @ B.T
    if kind == "bad matrix":
        n = draw(st.integers(1, 4))
        return np.array(draw(st.lists(st.floats(allow_nan=True), min_size=n * n, max_size=n * n))).reshape(n, n)
    return draw(WRONG_TYPES)


@settings(SETTINGS, max_examples=EXAMPLES // 2)  # a scalar root per point: slower than the isotropic path
@given(FIVE, covariances("task_cov"), covariances("test_cov"),
       st.one_of(st.none(), _valid("alpha"), st.floats(allow_nan=True), WRONG_TYPES))
def test_fuzz_structured_tasks(kw, task_cov, test_cov, alpha_test):
    extra = {"task_cov": task_cov, "test_cov": test_cov, "alpha_test": alpha_test}
    contract(A.solve, {**kw, **extra},
             lambda r: [r.e_icl, r.e_idg, r.e_bias, r.e_align, r.nu] if np.all(r.converged) else [np.nan])


# --- masked arrays, buffers, every public builder, the scans (issue 19) ----------------------------
@st.composite
def masked_arguments(draw, names):
    """Valid arguments with one of them a masked array whose masked entry is any float (an
    out-of-range value hidden by the mask must be refused, never computed)."""
    kw = {n: draw(_valid(n)) for n in names}
    n = draw(st.sampled_from(names))
    entries = draw(st.lists(_valid(n), min_size=1, max_size=4))
    at = draw(st.integers(0, len(entries)))
    entries.insert(at, draw(ANY_FLOAT))
    mask = [i == at for i in range(len(entries))]
    kw[n] = np.ma.masked_array(entries, mask=mask)
    return kw, n


@SETTINGS
@given(masked_arguments(P.PARAMS))
def test_fuzz_masked_entries_are_refused(drawn):
    kw, masked = drawn
    for func in (A.e_icl, A.e_idg, A.solve):
        with pytest.raises(ValueError, match=rf"^{masked} has masked entries"):
            func(**kw)


@SETTINGS
@given(st.fixed_dictionaries({n: _valid(n) for n in P.PARAMS}), st.sampled_from(P.PARAMS),
       st.sampled_from(range(4)))
def test_fuzz_bytes_like_are_refused(kw, name, which):
    # Made here: hypothesis cannot hold a writable memoryview (unhashable).
    buffer = [bytearray(b"2.0"), memoryview(b"2.0"), memoryview(bytearray(b"12")), b"2"][which]
    for func in (A.e_icl, A.e_idg, A.solve):
        with pytest.raises(TypeError, match=rf"^{name} must be a real number"):
            func(**{**kw, name: buffer})


def _law_values(law):
    from asymptotics import spectrum as S
    spectrum = law.spectrum if isinstance(law, S.TestLaw) else law
    assert isinstance(spectrum, S.TaskSpectrum)
    return [spectrum.values, spectrum.weights, spectrum.mean]


BUILDER_ARG = st.one_of(st.floats(-1.0, 1e3), st.integers(-3, 10 ** 8), BAD)


@SETTINGS
@given(st.data())
def test_fuzz_every_public_builder(data):
    from asymptotics import spectrum as S
    builders = {
        S.power_law: ("p", "n"), S.two_level: ("fraction", "high", "low"), S.spiked: ("fraction", "height"),
        S.Spectrum: ("eigenvalues", "weights"), S.from_matrix: ("C",), S.from_samples: ("W",),
    }
    for builder, names in builders.items():
        kw = {n: data.draw(BUILDER_ARG if n not in ("eigenvalues", "weights", "C", "W") else
                           st.one_of(BAD, st.lists(st.floats(0, 10), min_size=1, max_size=4).map(np.array),
                                     st.just(np.eye(3)), st.just(np.ones((2, 3)))), label=n) for n in names}
        contract(builder, kw, _law_values)
    for placed in (S.aligned, S.anti_aligned):
        contract(placed, {"spectrum": data.draw(st.one_of(BAD, st.just(S.two_level(0.5, 2.0))))},
                 lambda law: [law.spectrum.values])


def _along(x_name):
    from asymptotics import scans

    def errors_along(**kw):
        return scans.errors_along(x_name, kw.pop(x_name), **kw)
    return errors_along


def _mesh(x_name, y_name):
    from asymptotics import scans

    def error_mesh(**kw):
        x, y = kw.pop(x_name), kw.pop(y_name)
        out = scans.error_mesh(x_name, x, y_name, y, **kw)
        # inf is the documented value at the ridgeless peak tau = 1, lam = 0 of the mesh (rows y,
        # columns x): masked here, as contract() does for the other functions.
        at = {x_name: np.atleast_1d(np.asarray(x, float))[None, :],
              y_name: np.atleast_1d(np.asarray(y, float))[:, None], **kw}
        peak = (np.asarray(at["tau"], float) == 1) & (np.asarray(at["lam"], float) == 0)
        return {k: np.where(peak, 0.0, v) for k, v in out.items() if k in ("e_icl", "e_idg")}
    return error_mesh


@SETTINGS
@given(FIVE, st.permutations(P.PARAMS),
       st.one_of(st.none(), st.sampled_from([__import__("fractions").Fraction(3, 2), np.float32(2.0)])))
def test_fuzz_mesh_functions(kw, order, exact):
    x, y = order[0], order[1]
    if exact is not None and x not in ("rho", "lam"):
        kw = {**kw, x: exact}  # accepted wherever e_icl accepts it
    contract(_along(x), kw, lambda out: [out["icl"], out["idg"]])
    contract(_mesh(x, y), kw, lambda out: list(out.values()))
