"""Command-line interface: ``icl-asymptotics`` (also ``python -m icl_asymptotics``).

The CLI only parses, calls the library, formats and draws: theory numbers come from
:func:`asymptotics.e_icl` / :func:`asymptotics.e_idg`, simulations from :func:`simulate.sweep`,
figures from :mod:`icl_asymptotics.plot` and :mod:`icl_asymptotics.figures`. Every file it writes is first
written to a temporary file in the target directory and moved into place with :func:`os.replace`
only when complete, so a failed run never leaves a partial file behind.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import signal
import sys
import threading
from dataclasses import dataclass

import numpy as np

from asymptotics.params import MEANINGS, PARAMS, cartesian, check, check_alpha_test
from simulate.io import atomic_path

DEFAULTS = {"tau": "2", "alpha": "2", "kappa": "1", "rho": "0.1", "lam": "0"}
FIGURE_SUFFIXES = (".png", ".pdf", ".svg")

SPEC_HELP = """\
parameter values (every model parameter accepts the same syntax):
  2.5                one value           inf           infinity (tau, kappa only)
  0.5,1,2            a comma list        0.1:4:40      40 linearly spaced values, ends included
  log:1e-2:1e2:50    50 log-spaced values from 1e-2 to 1e2, ends included
  items combine:     --tau log:0.1:0.9:20,log:1.1:10:20   (two ranges around the peak)
"""

EPILOG_PARAMS = "model parameters (scaling limit d -> inf):\n" + "".join(
    f"  --{p:<6} {MEANINGS[p]} [default {DEFAULTS[p]}]\n" for p in PARAMS) + "\n" + SPEC_HELP

BOUNDARY_HELP = """\
{title}: the contour where the relative generalisation gap
  g = (e_ICL - e_IDG) / e_ICL
equals {threshold}; at t = 0.5 the error on new tasks is twice the error on the
pretraining tasks. g = 0 means the model does as well on new tasks as on the tasks it was
trained on (in-context learning); g -> 1 means it is good only on its pretraining tasks
(memorisation). In the ridgeless limit tau -> inf then alpha -> inf, g = (1-kappa)/(1+rho-kappa)
for kappa < 1 and g = 0 for kappa >= 1, so the threshold-t contour tends to
kappa = 1 - rho t/(1-t): the non-analytic point kappa = 1 of THEORY.md section 4 as rho -> 0.
When kappa is an axis the asymptotic line kappa = 1 is drawn dashed.
"""
#: ``phase`` takes the threshold as an option; ``reproduce`` draws figure (d) at t = 1/2.
PHASE_BOUNDARY_HELP = BOUNDARY_HELP.format(title="memorisation / ICL boundary",
                                           threshold="--threshold t (default 0.5)")
REPRODUCE_BOUNDARY_HELP = BOUNDARY_HELP.format(
    title="memorisation / ICL boundary of figure (d)",
    threshold="t = 0.5 (fixed; the phase command draws\nother t)")


class CLIError(Exception):
    """A usage error found after parsing; reported as one line with exit status 2 (``main``)."""


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line on stderr (exit status 2), not usage + error."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


# ----------------------------------------------------------------------------- parameter specs
@dataclass(frozen=True)
class Spec:
    """A parsed parameter value: ``values`` in the order given; ``ranged`` if any item was a
    range (``a:b:N`` or ``log:a:b:N``); ``log`` if every range item was logarithmic."""

    name: str
    text: str
    values: np.ndarray
    ranged: bool
    log: bool


_INF_WORDS = ("inf", "infinity")


def _number(name: str, token: str) -> float:
    """``float(token)``, refusing a finite number too large for float64 (``1e400``): Python would
    read it as ``inf``, a valid value of ``tau`` and ``kappa`` that the user did not write."""
    try:
        v = float(token)
    except ValueError:
        raise ValueError(f"{name}: cannot read {token!r} as a number") from None
    if math.isinf(v) and token.strip().lower().lstrip("+-") not in _INF_WORDS:
        raise ValueError(f"{name}: {token!r} is beyond the float64 range (largest "
                         f"{sys.float_info.max:.4g}); write 'inf' for infinity")
    return v


def _count(name: str, token: str) -> int:
    try:
        n = int(token)
    except ValueError:
        raise ValueError(f"{name}: the number of points in a range must be an integer >= 2; "
                         f"got {token!r}") from None
    if not 2 <= n <= MAX_RANGE_POINTS:
        raise ValueError(f"{name}: the number of points in a range must be an integer >= 2 (and at "
                         f"most {MAX_RANGE_POINTS:.0e}: a grid larger than memory is refused); got {n}")
    return n


#: Most points of one range item ``a:b:N`` (80 MB of float64): checked before it is allocated.
MAX_RANGE_POINTS = 10 ** 7


def parse_spec(name: str, text: str) -> Spec:
    """Parse one parameter specification (see ``SPEC_HELP``) and validate its values.

    Raises ``ValueError`` naming the parameter for bad syntax or values outside the allowed range
    (ranges from :mod:`asymptotics.params`).
    """
    items = [t.strip() for t in str(text).split(",")]
    if not items or any(t == "" for t in items):
        raise ValueError(f"{name}: empty item in {text!r}")
    chunks, ranged, all_log = [], False, True
    for item in items:
        parts = item.split(":")
        if parts[0].lower() == "log":
            if len(parts) != 4:
                raise ValueError(f"{name}: a log range is log:START:STOP:N; got {item!r}")
            lo, hi = _number(name, parts[1]), _number(name, parts[2])
            n = _count(name, parts[3])
            if not (0 < lo < math.inf and 0 < hi < math.inf):
                raise ValueError(f"{name}: log-range ends must be finite and > 0; got {item!r}")
            chunks.append(np.geomspace(lo, hi, n))
            ranged = True
        elif len(parts) == 3:
            lo, hi = _number(name, parts[0]), _number(name, parts[1])
            n = _count(name, parts[2])
            if not (math.isfinite(lo) and math.isfinite(hi)):
                raise ValueError(f"{name}: range ends must be finite; got {item!r}")
            chunks.append(np.linspace(lo, hi, n))
            ranged, all_log = True, False
        elif len(parts) == 1:
            chunks.append(np.array([_number(name, item)]))
        else:
            raise ValueError(f"{name}: cannot parse {item!r}; expected a number, a comma list, "
                             f"START:STOP:N or log:START:STOP:N")
    values = check(name, np.concatenate(chunks))
    return Spec(name, str(text), values, ranged, ranged and all_log)


def _spec_type(name):
    def convert(text):
        try:
            return parse_spec(name, text)
        except ValueError as exc:
            msg = str(exc)
            raise argparse.ArgumentTypeError(msg[len(name) + 2:] if msg.startswith(f"{name}: ")
                                             else msg) from None
    convert.__name__ = name
    return convert


def _positive_int(name, low=1):
    def convert(text):
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be an integer >= {low}; "
                                             f"got {text!r}") from None
        if v < low:
            raise argparse.ArgumentTypeError(f"{name} must be an integer >= {low}; got {v}")
        return v
    return convert


def _ladder(text):
    """``--d 40,60,80`` / ``--extrapolate 40,60,80``: at least 2 distinct integer dimensions >= 2."""
    try:
        ds = [int(t) for t in str(text).split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"a d ladder is a comma list of integers >= 2; "
                                         f"got {text!r}") from None
    if any(v < 2 for v in ds) or len(set(ds)) < 2:
        raise argparse.ArgumentTypeError(f"a d ladder needs at least 2 distinct integers >= 2; got {text!r}")
    return tuple(sorted(set(ds)))


def _nonneg_int(text):
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"seed must be an integer >= 0; got {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"seed must be an integer >= 0; got {v}")
    return v


def _fraction(text):
    try:
        v = float(text)
    except ValueError:
        v = math.nan
    if not 0 < v < 1:
        raise argparse.ArgumentTypeError(f"threshold must satisfy 0 < threshold < 1; got {text!r}")
    return v


def _cache_dir(text):
    if os.path.exists(text) and not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"the cache must be a directory; {text!r} is a file")
    return text


ERRORS = ("icl", "idg")


def _errors_list(text):
    """``--errors``: a comma list of ``icl`` and ``idg`` in any order, each at most once; returned in
    the canonical order ``icl, idg``."""
    items = [t.strip() for t in text.split(",")]
    bad = [t for t in items if t not in ERRORS]
    if bad or not items or len(set(items)) != len(items):
        raise argparse.ArgumentTypeError(f"must be icl, idg, or both as a comma list (icl,idg or "
                                         f"idg,icl), each once; got {text!r}")
    return tuple(e for e in ERRORS if e in items)


#: Largest figure the package draws (inches) and the resolution bound of ``--dpi``: an RGBA raster
#: of ``(w dpi) x (h dpi)`` pixels is held in memory while a PNG is written.
FIGURE_INCHES = (8.4, 4.6)
MAX_DPI = 2400


def _dpi(text):
    dpi = _positive_int("dpi")(text)
    w, h = (round(v * dpi) for v in FIGURE_INCHES)
    if dpi > MAX_DPI:
        raise argparse.ArgumentTypeError(
            f"dpi must be an integer in [1, {MAX_DPI}]; {dpi} would render up to {w} x {h} pixels "
            f"(about {4.0 * w * h / 2**30:.3g} GiB of RGBA)")
    return dpi


def _max_z(text):
    try:
        return float(check("max-z", _number("max-z", text), low=0.0, low_ok=True,
                           allowed="0 <= max-z < inf"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("max-z: ")) from None


def _lr(text):
    """``--lr``: a finite learning rate > 0."""
    try:
        v = float(text)
    except ValueError:
        v = math.nan
    if not (math.isfinite(v) and v > 0):
        raise argparse.ArgumentTypeError(f"lr must be a number with 0 < lr < inf; got {text!r}")
    return v


def _figure_list(text):
    """``reproduce --only a,c``: a non-empty comma list of figures from a, b, c, d."""
    names = [t.strip() for t in text.split(",")]
    bad = sorted(set(names) - {"a", "b", "c", "d"})
    if bad or not text.strip():
        raise argparse.ArgumentTypeError(f"--only takes a comma list of figures from a,b,c,d; got {text!r}")
    return names


def _figure_path(text):
    if os.path.splitext(text)[1].lower() not in FIGURE_SUFFIXES:
        raise argparse.ArgumentTypeError(
            f"figure file must end in {', '.join(FIGURE_SUFFIXES)}; got {text!r}")
    return text


# ----------------------------------------------------------------------------- output helpers
def _emit(text: str, path: str | None) -> None:
    # /dev/stdout is stdout itself: reopening it would truncate a file behind `>>`.
    if path is None or path in ("-", "/dev/stdout"):
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)


def _wrote(args, *paths, stdout_busy: bool = False) -> None:
    """Name every file a command wrote, one line each: on stdout, as ``reproduce`` lists its
    figures, or, when stdout carries the command's table (``validate -o FIG``), on stderr as
    ``icl-asymptotics COMMAND: wrote PATH``. A table sent to stdout (no ``-o``, ``-o -``) is not
    named."""
    for path in paths:
        if path is None or path in ("-", "/dev/stdout"):
            continue
        if stdout_busy:
            sys.stderr.write(f"icl-asymptotics {args.command}: wrote {path}\n")
        else:
            sys.stdout.write(f"{path}\n")
            sys.stdout.flush()


def _json_value(v):
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        v = float(v)
        return v if math.isfinite(v) else ("nan" if math.isnan(v) else ("inf" if v > 0 else "-inf"))
    return v


def _text_value(v, table=False):
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        v = float(v)
        if not math.isfinite(v):
            return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
        return f"{v:.10g}" if table else repr(v)
    return "" if v is None else str(v)


def format_table(columns: dict, fmt: str) -> str:
    """Render equal-length columns as ``csv`` (full float64 precision, shortest round-trip repr),
    ``json`` (an array with one object per row; non-finite floats as the strings "inf", "-inf",
    "nan", since JSON has no such numbers) or ``table`` (aligned text, 10 significant digits)."""
    names = list(columns)
    n = len(next(iter(columns.values()))) if names else 0
    rows = [[columns[c][i] for c in names] for i in range(n)]
    if fmt == "json":
        objs = [json.dumps({c: _json_value(v) for c, v in zip(names, r)}, allow_nan=False)
                for r in rows]
        return "[\n" + ",\n".join(objs) + "\n]\n"
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(names)
        w.writerows([[_text_value(v) for v in r] for r in rows])
        return buf.getvalue()
    cells = [names] + [[_text_value(v, table=True) for v in r] for r in rows]
    widths = [max(len(r[j]) for r in cells) for j in range(len(names))]
    lines = ["  ".join(s.rjust(w) for s, w in zip(r, widths)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- grids
def _specs(args) -> dict[str, Spec]:
    return {p: getattr(args, p) for p in PARAMS}


#: Memory of one row of a theory table in the CLI, all columns and their text included (measured
#: 0.8-1.6 KiB with ``--details``; an upper estimate): a grid whose table cannot fit is refused.
BYTES_PER_ROW = 2048


def check_points(points: int, what: str) -> None:
    """Refuse (``CLIError``, before any work) ``points`` rows or mesh points whose table or arrays need
    more memory than is available (:data:`BYTES_PER_ROW` each; :func:`simulate.available_memory`)."""
    from simulate import available_memory

    need, free = points * float(BYTES_PER_ROW), available_memory()
    if free is not None and need > free:
        raise CLIError(f"{what} has {points:.4g} points, which need about {need / 2**30:.3g} GiB "
                       f"({BYTES_PER_ROW} bytes each) but only {free / 2**30:.3g} GiB is available; "
                       f"use fewer points")


def _grid(specs: dict[str, Spec]) -> dict[str, np.ndarray]:
    check_points(math.prod(specs[p].values.size for p in PARAMS), "the parameter grid")
    return cartesian(**{p: specs[p].values for p in PARAMS})


COV_HELP = """
structured tasks (docs/THEORY.md): --task-cov and --test-cov take
  identity             C = I (the default)
  power:P[:N]          eigenvalues i^-P, i = 1..N (N = 1000 for the theory; the simulation uses N = d),
                       scaled to mean 1
  two:F,HIGH[,LOW]     a fraction F of eigenvalues HIGH, the rest LOW (default 1)
  spiked:F,HEIGHT      a fraction F of directions raised to HEIGHT, the rest 1
  FILE.npy             a 1-D array of eigenvalues (--test-cov: the diagonal of C_te in C_tr's
                       eigenbasis) or a 2-D symmetric PSD matrix
--test-cov places a named law by rank against the task law: largest on largest (aligned), or
with the prefix anti: largest on smallest (e.g. --test-cov anti:power:0.9).
--alpha-test sets the test context length l_test = alpha_test d (default: alpha).
"""


def parse_cov(name: str, text: str):
    """A ``--task-cov``/``--test-cov`` value (see ``COV_HELP``) as what :func:`asymptotics.e_icl`
    takes: None, a named law, a test law placed by rank, or an array loaded from ``.npy``."""
    from asymptotics import spectrum as S

    text = text.strip()
    if text in ("identity", "iso", "I", ""):
        return None
    if text.startswith("anti:") or text.startswith("aligned:"):
        if name != "test-cov":
            raise CLIError(f"--{name}: the prefixes anti:/aligned: place a test law; they apply to --test-cov only")
        head, rest = text.split(":", 1)
        law = parse_cov("task-cov", rest)
        if law is None or not isinstance(law, S.TaskSpectrum):
            raise CLIError(f"--{name}: {head}: needs a named law after it (e.g. anti:power:0.9); got {rest!r}")
        return S.anti_aligned(law) if head == "anti" else S.aligned(law)
    if text.endswith(".npy"):
        try:
            arr = np.load(text, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise CLIError(f"--{name}: cannot read {text!r}: {exc}") from None
        if arr.dtype.kind not in "iuf":  # strings, complex, bools, dates: the one type check's rule
            raise CLIError(f"--{name}: {text!r} holds {arr.dtype} values; a covariance file holds real "
                           f"numbers (integer or float)")
        return arr
    kind, _, args = text.partition(":")
    try:
        tokens = args.replace(":", ",").split(",") if args else []
        if kind == "power" and len(tokens) == 2:
            n = tokens[1].strip()
            if not n.isdigit():  # int() would take 2.5 as 2, inf and 1e400 raise OverflowError
                raise ValueError(f"power:P:N: N (the number of eigenvalues) must be an integer "
                                 f"in [1, {S.ATOMS_MAX:.0e}]; got {n!r}")
            return S.power_law(_number(kind, tokens[0]), int(n))
        nums = [_number(kind, t) for t in tokens]
        if kind == "power" and len(nums) == 1:
            return S.power_law(nums[0])
        if kind == "two" and len(nums) in (2, 3):
            return S.two_level(*nums)
        if kind == "spiked" and len(nums) == 2:
            return S.spiked(*nums)
    except ValueError as exc:
        raise CLIError(f"--{name}: {exc}") from None
    raise CLIError(f"--{name}: expected identity, power:P[:N], two:F,HIGH[,LOW], spiked:F,HEIGHT, "
                   f"anti:LAW (test only) or a .npy file; got {text!r}")


KERNEL_HELP = """
correlated contexts (docs/THEORY.md section 9): --token-kernel takes
  iid                  independent tokens (the default)
  exp:XI               K_ij = exp(-|i-j|/XI)
  power:GAMMA          K_ij = (1 + |i-j|)^-GAMMA (the theory needs GAMMA > 1/2; > 2/3 with
                       --query correlated)
  FILE.npy             an (l+1) x (l+1) correlation matrix, query last (simulations then need
                       round(alpha d) = l)
--query independent (default) or correlated (the query is the next token of the sequence; theory
ridgeless, isotropic tasks, e_icl only: e_idg is reported as nan).
"""


def parse_kernel(text: str):
    """A ``--token-kernel`` value (see ``KERNEL_HELP``) as what :func:`asymptotics.e_icl` takes."""
    from asymptotics import kernel as K

    text = text.strip()
    try:
        if text in ("iid", "none", ""):
            return None
        if text.endswith(".npy"):
            try:
                return K.from_matrix(np.load(text, allow_pickle=False))
            except OSError as exc:
                raise CLIError(f"--token-kernel: cannot read {text!r}: {exc}") from None
        kind, _, arg = text.partition(":")
        if kind == "exp" and arg:
            return K.exponential(float(arg))
        if kind == "power" and arg:
            return K.power_law(float(arg))
    except ValueError as exc:
        raise CLIError(f"--token-kernel: {exc}") from None
    raise CLIError(f"--token-kernel: expected iid, exp:XI, power:GAMMA or a .npy file; got {text!r}")


def _model(args) -> dict:
    """The structured-task and token-kernel keywords from the parsed arguments (empty for the
    isotropic model with independent tokens)."""
    kernel = getattr(args, "token_kernel", None)
    model = {"task_cov": getattr(args, "task_cov", None), "test_cov": getattr(args, "test_cov", None),
             "alpha_test": getattr(args, "alpha_test", None), "token_kernel": kernel,
             "query": getattr(args, "query", None) if kernel is not None else None}
    return {k: v for k, v in model.items() if v is not None}


def theory_columns(grid: dict[str, np.ndarray], details: bool = False, model: dict | None = None
                   ) -> dict[str, np.ndarray]:
    """Theory errors on a flat grid: the grid columns plus ``e_icl``, ``e_idg`` (and, with
    ``details``, the fixed-point diagnostics of :func:`asymptotics.theory.solve`, and for structured
    tasks the split ``e_bias + e_align`` and the ``alignment`` ratio). ``model``: structured-task
    keywords of :func:`asymptotics.e_icl`."""
    import asymptotics as theory

    p = [grid[k] for k in PARAMS]
    out = dict(grid)
    model = model or {}
    if details:
        r = theory.solve(*p, **model)
        out["e_icl"], out["e_idg"] = np.asarray(r.e_icl), np.asarray(r.e_idg)
        if model.get("query") == "correlated":
            out["e_idg"] = np.full(np.shape(out["e_icl"]), np.nan)  # not derived (THEORY.md 9.3)
        extra = ("e_bias", "e_align", "alignment") if model else ()
        if "token_kernel" in model:
            extra += ("alpha_eff", "query_gain")
        for f in ("q", "nu", "sigma2", *extra, "converged", "residual"):
            out[f] = np.broadcast_to(np.asarray(getattr(r, f)), grid["tau"].shape)
        bad = ~np.asarray(out["converged"], bool)
        if bad.any():
            raise RuntimeError(f"the effective-ridge fixed point did not converge at "
                               f"{int(bad.sum())} of {bad.size} points")
    else:
        from asymptotics.scans import idg_where_defined

        out["e_icl"] = np.asarray(theory.e_icl(*p, **model))
        out["e_idg"] = idg_where_defined(*p, **model)
    return out


# ----------------------------------------------------------------------------- subcommands
def cmd_theory(args) -> int:
    cols = theory_columns(_grid(_specs(args)), details=args.details, model=_model(args))
    _emit(format_table(cols, args.format), args.output)
    _wrote(args, args.output)
    return 0


def cmd_simulate(args) -> int:
    from icl_asymptotics.figures import simulate_summary

    specs = _specs(args)
    summary = simulate_summary({p: specs[p].values for p in PARAMS}, d=args.d,
                               n_seeds=args.seeds, seed=args.seed, cache_dir=args.cache,
                               n_jobs=args.jobs, progress=not args.no_progress,
                               options=_sim_options(args), model=_model(args))
    _emit(format_table(summary, args.format), args.output)
    _wrote(args, args.output)
    failed = int(np.sum(summary["n_failed"]))
    empty = int(np.count_nonzero(np.asarray(summary["n_ok"]) == 0))
    if empty:
        sys.stderr.write(f"icl-asymptotics simulate: failed: every replicate failed at {empty} of "
                         f"{len(summary['n_ok'])} points (their means are nan; column n_failed; "
                         f"rerun with the library's simulate.sweep to see each error)\n")
        return 1
    if failed:
        sys.stderr.write(f"icl-asymptotics simulate: warning: {failed} of "
                         f"{args.seeds * len(summary['n_failed'])} replicates failed (column "
                         f"n_failed); the means rest on the others\n")
    return 0


def cmd_curve(args) -> int:
    specs = _specs(args)
    ranged = [p for p in PARAMS if specs[p].ranged]
    if len(ranged) != 1:
        raise CLIError("curve needs exactly one parameter given as a range (START:STOP:N or "
                       f"log:START:STOP:N) for the x axis; got {len(ranged)}"
                       + (f" ({', '.join(ranged)})" if ranged else ""))
    x = ranged[0]
    multi = [p for p in PARAMS if p != x and specs[p].values.size > 1]
    if len(multi) > 1:
        raise CLIError("curve draws one family of curves: at most one parameter besides the x "
                       f"axis may have several values; got {', '.join(multi)}")
    series = multi[0] if multi else None
    check_points(specs[x].values.size * (specs[series].values.size if series else 1), "the curves")
    fixed = {p: float(specs[p].values[0]) for p in PARAMS if p not in (x, series)}
    sim_x = None
    if args.extrapolate is not None and args.common_random_numbers:
        raise CLIError("--extrapolate fits the d ladder as independent measurements; "
                       "--common-random-numbers would correlate them")
    if args.extrapolate is not None and args.seeds < 2:
        raise CLIError(f"--extrapolate needs --seeds >= 2 (each mean needs a standard error); "
                       f"got {args.seeds}")
    if args.simulate or args.extrapolate is not None:
        sim_x = args.sim_x.values if args.sim_x is not None else _default_sim_x(specs[x])
        check(x, sim_x)
    from icl_asymptotics import figures

    fig = figures.curve_figure(
        x, np.sort(specs[x].values),
        series=(series, specs[series].values) if series else None,
        logx=specs[x].log, logy=args.logy, errors=args.errors,
        sim_x=sim_x, d=args.d, n_seeds=args.seeds, seed=args.seed, cache_dir=args.cache,
        n_jobs=args.jobs, progress=not args.no_progress, title=args.title,
        options=_sim_options(args), extrapolate=args.extrapolate, raw=args.simulate, model=_model(args),
        **fixed)
    figures.save(fig, args.output, dpi=args.dpi)
    _wrote(args, args.output)
    return 0


def _need_transformer_extra() -> None:
    """Refuse (one line, exit 2) a trained-model command when the optional extra is missing."""
    import importlib.util

    missing = [m for m in ("jax", "equinox", "optax") if importlib.util.find_spec(m) is None]
    if missing:
        raise CLIError(f"trained models need the optional extra (missing: {', '.join(missing)}): "
                       "pip install 'icl-asymptotics[transformer]'")


def cmd_pnas(args) -> int:
    from icl_asymptotics import figures, pnas_experiments as px

    _need_transformer_extra()
    e = px.EXPERIMENTS[args.experiment]
    mts = None if args.model_types is None else _int_list("model-types", args.model_types, 1, 4)
    seeds = None if args.seeds is None else _int_list("seeds", args.seeds, 0, None)
    values = None if args.values is None else _positive_float_list(e["axis"], "values", args.values)
    if args.draw_only:
        if not os.path.isfile(args.csv):
            raise CLIError(f"--draw-only draws the table {args.csv}, which does not exist")
        rows = px.read_table(args.csv)
    else:
        rows = px.run_experiment(args.experiment, cache_dir=args.cache, out=args.csv, steps=args.steps,
                                 model_types=mts, seeds=seeds, values=values, d=args.d)
    if args.output or args.markdown:
        if not rows:
            raise CLIError("no finished runs to draw")
        xs = sorted({r[e["axis"]] for r in rows})
        d = rows[0]["d"]
        print(f"exact same-d references: simulate.run at d = {d}, {args.ref_seeds} seeds per point", file=sys.stderr)
        refs = px.references(args.experiment, xs, d=d, n_seeds=args.ref_seeds)
        authors = px.read_authors(args.experiment)
        if args.markdown:
            print(px.markdown_table(args.experiment, rows, refs, authors, d=d))
        if args.output:
            figures.save(px.figure(args.experiment, rows, refs, authors, d=d), args.output, dpi=args.dpi)
            print(f"wrote {args.output}", file=sys.stderr)
    if args.loss_figure:
        hist = px.loss_histories(args.experiment, args.cache, model_types=mts, seeds=seeds, values=values, d=args.d)
        if not hist:
            raise CLIError(f"--loss-figure: no checkpoints of {args.experiment} runs in {args.cache}")
        figures.save(px.loss_figure(args.experiment, hist), args.loss_figure, dpi=args.dpi)
        print(f"wrote {args.loss_figure} (training loss of {len(hist)} runs)", file=sys.stderr)
    return 0


def _positive_float_list(what, name, text):
    try:
        vals = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise CLIError(f"--{name} is a comma-separated list of numbers ({what}); got {text!r}") from None
    bad = [v for v in vals if not (0 < v < float("inf"))]
    if bad:
        raise CLIError(f"--{name} ({what}) must be finite and > 0; got {bad}")
    return vals


def _int_list(name, text, lo, hi):
    try:
        vals = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise CLIError(f"--{name} is a comma-separated list of integers; got {text!r}") from None
    bad = [v for v in vals if v < lo or (hi is not None and v > hi)]
    if bad:
        rng = f"{lo}..{hi}" if hi is not None else f">= {lo}"
        raise CLIError(f"--{name} values must be in {rng}; got {bad}")
    return vals


def cmd_transformer(args) -> int:
    from icl_asymptotics import figures, transformer_figures as tf

    _need_transformer_extra()

    archs = [a.strip() for a in args.arch.split(",")]
    specs = {p: getattr(args, p) for p in ("tau", "alpha", "kappa", "rho")}
    multi = [p for p, s in specs.items() if s.values.size > 1]
    if len(multi) > 1:
        raise CLIError(f"transformer sweeps one parameter (the x axis); got several values for {', '.join(multi)}")
    x_name = multi[0] if multi else "kappa"
    if x_name not in ("kappa", "tau"):
        raise CLIError(f"the swept parameter must be kappa or tau; got {x_name}")
    options = {}
    for name in ("batch", "lr", "width"):
        if getattr(args, name) is not None:
            options[name] = getattr(args, name)
    if "linear" in archs and "softmax" not in archs:
        dropped = [f"--{n}" for n in ("width",) if n in options]
        dropped += ["--n-layers"] if args.n_layers is not None else []
        if dropped:
            raise CLIError(f"{', '.join(dropped)} {'apply' if len(dropped) > 1 else 'applies'} to the "
                           "softmax model only; arch linear is one "
                           "attention layer of fixed width")
    per_arch = {"linear": {k: v for k, v in options.items() if k in ("batch", "lr")},
                "softmax": dict(options)}
    rows = tf.sweep_rows({p: s.values for p, s in specs.items()}, archs=archs, d=args.d,
                         n_seeds=args.seeds, seed=args.seed, steps=args.steps,
                         n_layers=2 if args.n_layers is None else args.n_layers,
                         options=per_arch, cache_dir=args.cache, progress=not args.no_progress,
                         cached_only=args.cached_only, shard=_shard(args.shard))
    if args.shard:
        return 0  # a shard trains its share into the cache; an unsharded call draws the whole sweep
    if not rows:
        raise CLIError("no finished runs in the cache for this sweep")
    if args.cached_only:
        _report_cached_only(rows, archs, specs, args.seeds, args.cache)
    if args.exact:
        rows += tf.exact_rows({p: s.values for p, s in specs.items()}, d=args.d, n_seeds=args.seeds,
                              seed=args.seed)
    if args.csv:
        tf.write_csv(rows, args.csv)
    fig = tf.figure(rows, x_name, params={p: float(s.values[0]) for p, s in specs.items()}, title=args.title)
    figures.save(fig, args.output, dpi=args.dpi)
    return 0


def _report_cached_only(rows, archs, specs, n_seeds, cache) -> None:
    """``transformer --cached-only``: one line on stderr saying how many of the requested runs the
    cache held (and so are drawn) and which are missing."""
    grid = cartesian(**{p: s.values for p, s in specs.items()})
    points = [tuple(float(grid[p][i]) for p in specs) for i in range(grid["tau"].size)]
    have = {(r["arch"], *(float(r[p]) for p in specs), int(r["seed"])) for r in rows}
    missing = {}
    for arch in archs:
        for pt in points:
            n = sum((arch, *pt, r) not in have for r in range(n_seeds))
            if n:
                missing[(arch, pt)] = n
    total = len(archs) * len(points) * n_seeds
    line = f"icl-asymptotics transformer: --cached-only: drawing {len(rows)} of the {total} requested runs found in {cache}"
    if missing:
        shown = [f"{arch} " + " ".join(f"{p}={_text_value(v, True)}" for p, v in zip(specs, pt))
                 + f" ({n} of {n_seeds} seeds)" for (arch, pt), n in list(missing.items())[:3]]
        more = f" and {len(missing) - 3} more points" if len(missing) > 3 else ""
        line += (f"; {total - len(rows)} missing: {'; '.join(shown)}{more} (rerun without "
                 f"--cached-only to train them)")
    sys.stderr.write(line + "\n")


def _shard(text):
    if text is None:
        return None
    parts = text.split("/")
    try:
        k, n = (int(v) for v in parts)
    except ValueError:
        raise CLIError(f"--shard is K/N with integers 0 <= K < N; got {text!r}") from None
    if not 0 <= k < n:
        raise CLIError(f"--shard is K/N with integers 0 <= K < N; got {text!r}")
    return k, n


def _sim_options(args) -> dict:
    return {"common_random_numbers": bool(args.common_random_numbers)}


def _default_sim_x(spec: Spec, n: int = 6) -> np.ndarray:
    lo, hi = float(spec.values.min()), float(spec.values.max())
    return np.geomspace(lo, hi, n) if spec.log else np.linspace(lo, hi, n)


def cmd_phase(args) -> int:
    specs = _specs(args)
    ranged = [p for p in PARAMS if specs[p].ranged]
    if args.x or args.y:
        if not (args.x and args.y) or args.x == args.y:
            raise CLIError("phase: give both --x and --y (two different parameters) or neither")
        axes = [args.x, args.y]
        for a in axes:
            if specs[a].values.size < 2:
                raise CLIError(f"phase: axis {a} needs several values (give it as a range)")
    else:
        if len(ranged) != 2:
            raise CLIError("phase needs exactly two parameters given as ranges (the axes); got "
                           f"{len(ranged)}" + (f" ({', '.join(ranged)})" if ranged else ""))
        axes = ["kappa", next(p for p in ranged if p != "kappa")] if "kappa" in ranged else ranged
    xn, yn = axes
    check_points(specs[xn].values.size * specs[yn].values.size, "the phase mesh")
    others = [p for p in PARAMS if p not in axes and specs[p].values.size > 1]
    if others:
        raise CLIError(f"phase: parameters other than the axes take one value; got several for "
                       f"{', '.join(others)}")
    fixed = {p: float(specs[p].values[0]) for p in PARAMS if p not in axes}
    sim = {}
    if args.extrapolate is not None:
        if args.seeds < 2:
            raise CLIError(f"--extrapolate needs --seeds >= 2 (each mean needs a standard error); "
                           f"got {args.seeds}")
        for name, given, key in ((xn, args.sim_x, "sim_x"), (yn, args.sim_y, "sim_y")):
            sim[key] = given.values if given is not None else _default_sim_x(specs[name], 3)
            check(name, sim[key])
        sim.update(extrapolate=args.extrapolate, n_seeds=args.seeds, seed=args.seed,
                   cache_dir=args.cache, n_jobs=args.jobs, progress=not args.no_progress)
    from icl_asymptotics import figures

    fig = figures.phase_figure(xn, np.sort(specs[xn].values), yn, np.sort(specs[yn].values),
                               quantity=args.quantity, threshold=args.threshold,
                               logx=specs[xn].log, logy=specs[yn].log, title=args.title, **sim,
                               **fixed)
    figures.save(fig, args.output, dpi=args.dpi)
    _wrote(args, args.output)
    return 0


VALIDATE_COLUMNS = ("d", "n_seeds", "l", "k", "n", "icl_mean", "icl_sem", "idg_mean", "idg_sem")


def validate_columns(v) -> dict:
    """One validation as columns: the parameters, a row per ``d`` (means +- sem, sizes) and a last
    row ``d = inf`` holding the extrapolation (``*_mean`` = estimate, ``*_sem`` = its se) with the
    theory, ``z``, ``chi2`` and ``dof`` of each error (empty on the finite-d rows)."""
    rows = [dict(r) for r in v.rows]
    rows.append({"d": math.inf, "n_seeds": v.n_seeds, "l": None, "k": None, "n": None,
                 "icl_mean": v.icl.estimate, "icl_sem": v.icl.se,
                 "idg_mean": v.idg.estimate, "idg_sem": v.idg.se})
    cols = {p: [v.params[p]] * len(rows) for p in PARAMS}  # a self-describing file
    cols.update({c: [r.get(c) for r in rows] for c in VALIDATE_COLUMNS})
    for e, fit in (("icl", v.icl), ("idg", v.idg)):
        for f in ("theory", "z", "chi2", "dof"):
            cols[f"{e}_{f}"] = [None] * len(v.rows) + [getattr(fit, f)]
    return cols


def _pm(mean, sem) -> str:
    """``mean +- sem``: the sem to 2 significant digits, the mean to the same decimal place."""
    if mean is None or sem is None:
        return ""
    mean, sem = float(mean), float(sem)
    if not (math.isfinite(mean) and math.isfinite(sem) and sem > 0):
        return f"{_g(mean, 6)} +- {_g(sem, 2)}"
    places = min(max(0, 1 - math.floor(math.log10(sem))), 15)
    return f"{mean:.{places}f} +- {sem:.{places}f}"


def _g(v, digits) -> str:
    return "" if v is None else _text_value(float(f"{float(v):.{digits}g}"), table=True)


def _fit_text(order: int) -> str:
    return "e(d) = e_inf + c1/d" + (" + c2/d^2" if order == 2 else "")


def validate_table(v) -> str:
    """The ``--format table`` view of one validation, about 70 columns wide: the point and the fit
    on a header line, a row per ``d`` (sizes, mean +- sem of both errors), then the extrapolation
    ``d = inf`` (estimate +- se), the theory, ``z`` and ``chi2/dof``. csv/json carry every column
    at full precision (:func:`validate_columns`)."""
    params = ", ".join(f"{p} = {_text_value(v.params[p], table=True)}" for p in PARAMS)
    head = f"{params}; {v.n_seeds} seeds per d; fit {_fit_text(v.order)}\n"
    label = {"icl": "e_ICL mean +- sem", "idg": "e_IDG mean +- sem"}
    cols = {"d": [r["d"] for r in v.rows] + ["inf", "theory", "z", "chi2/dof"]}
    for c in ("l", "k", "n"):
        cols[c] = [r[c] for r in v.rows] + [""] * 4
    for e, fit in (("icl", v.icl), ("idg", v.idg)):
        cols[label[e]] = ([_pm(r[f"{e}_mean"], r[f"{e}_sem"]) for r in v.rows]
                          + [_pm(fit.estimate, fit.se), _g(fit.theory, 6), _g(fit.z, 3),
                             f"{_g(fit.chi2, 3)}/{fit.dof}"])
    return head + format_table(cols, "table")


def validate_grid_table(points, results, d, n_seeds, order, errors=None) -> str:
    """The ``--format table`` view of a grid of validations, about 80 columns wide: the ladder,
    the fit and the parameters that do not vary on a header line, then one row per point with the
    parameters that vary and, for both errors, the estimate at ``d = inf`` +- se, the theory and
    ``z`` (an ``error`` column for a failed point). csv/json add ``chi2``, ``dof`` and ``seconds``."""
    varying = [p for p in PARAMS if len({pt[p] for pt in points}) > 1]
    fixed = ", ".join(f"{p} = {_text_value(points[0][p], table=True)}" for p in PARAMS
                      if p not in varying)
    head = (f"d = {','.join(map(str, d))}; {n_seeds} seeds per d; fit {_fit_text(order)}"
            + (f"; {fixed}" if fixed else "") + "\n")
    cols = {p: [pt[p] for pt in points] for p in varying}
    for e in ("icl", "idg"):
        fits = [None if v is None else getattr(v, e) for v in results]
        cols[f"{e}_inf +- se"] = ["" if f is None else _pm(f.estimate, f.se) for f in fits]
        cols[f"{e}_theory"] = ["" if f is None else _g(f.theory, 6) for f in fits]
        cols[f"{e}_z"] = ["" if f is None else _g(f.z, 3) for f in fits]
    if errors is not None:
        cols["error"] = errors
    return head + format_table(cols, "table")


def _validation_grid(args) -> list[dict]:
    specs = _specs(args)
    grid = _grid(specs)
    return [{p: float(grid[p][i]) for p in PARAMS} for i in range(grid["tau"].size)]


def cmd_validate(args) -> int:
    import simulate

    points = _validation_grid(args)
    figure = args.output is not None and os.path.splitext(args.output)[1].lower() in FIGURE_SUFFIXES
    if args.seeds < 2:
        raise CLIError(f"--seeds must be an integer >= 2 (each mean needs a standard error); "
                       f"got {args.seeds}")
    if args.common_random_numbers:
        raise CLIError("validate fits the d ladder as independent measurements; "
                       "--common-random-numbers would correlate them")
    if len(args.d) < args.order + 1:
        raise CLIError(f"--order {args.order} needs at least {args.order + 1} distinct d in --d; "
                       f"got {len(args.d)}")
    kw = dict(d=args.d, n_seeds=args.seeds, seed=args.seed, order=args.order, cache_dir=args.cache,
              n_jobs=args.jobs, **_model(args))
    for p in points:  # every point and the ladder checked before any simulation
        if math.isfinite(p["tau"]):  # tau = inf: the exact population optimum at every d
            simulate.sizes(args.d[0], p["tau"], p["alpha"], p["kappa"])
    if len(points) == 1:
        v = simulate.validate(**points[0], progress=not args.no_progress, **kw)
        results, table = [v], validate_columns(v)
    else:
        results, rows = [], []
        from icl_asymptotics.figures import progress_bar

        for p in progress_bar(points, not args.no_progress, "validate"):
            try:
                v = simulate.validate(**p, progress=False, **kw)
            except RuntimeError as exc:  # a failed point is recorded, the grid goes on
                results.append(None)
                rows.append({**p, "d": ",".join(map(str, args.d)), "n_seeds": args.seeds,
                             "error": _one_line(exc)})
                continue
            results.append(v)
            rows.append({**v.summary(), "error": None})
        names = list(dict.fromkeys(k for r in rows for k in r))
        table = {c: [r.get(c) for r in rows] for c in names}
        if all(e is None for e in table["error"]):
            del table["error"]
    if args.format != "table":
        text = format_table(table, args.format)
    elif len(points) == 1:
        text = validate_table(results[0])
    else:
        text = validate_grid_table(points, results, args.d, args.seeds, args.order,
                                   errors=table.get("error"))

    if figure:
        from icl_asymptotics import figures

        fig = (figures.validate_figure(results[0], title=args.title) if len(points) == 1
               else figures.zscore_figure(points, results, title=args.title))
        figures.save(fig, args.output, dpi=args.dpi)
        _emit(text, None)
        _wrote(args, args.output, stdout_busy=True)
    else:
        _emit(text, args.output)
        _wrote(args, args.output)
    failed = sum(v is None for v in results)
    if failed:
        sys.stderr.write(f"icl-asymptotics validate: warning: {failed} of {len(points)} points "
                         f"failed (column error)\n")
    if args.max_z is not None:
        worst = max((abs(f.z) for v in results if v is not None for f in (v.icl, v.idg)),
                    default=math.nan)
        if failed or not worst <= args.max_z:
            raise RuntimeError(f"validation failed: largest |z| = {worst:.3g} > --max-z "
                               f"{args.max_z:g}" + (f"; {failed} point(s) failed" if failed else ""))
    return 0


def cache_dir() -> str:
    """The user cache folder of the package: ``$ICL_ASYMPTOTICS_CACHE_DIR`` if set, else the
    platform's user cache (``$XDG_CACHE_HOME`` or ``~/.cache`` on Linux, ``~/Library/Caches`` on
    macOS, ``%LOCALAPPDATA%`` on Windows) + ``icl-asymptotics``."""
    if os.environ.get("ICL_ASYMPTOTICS_CACHE_DIR"):
        return os.environ["ICL_ASYMPTOTICS_CACHE_DIR"]
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or os.path.expanduser("~\\AppData\\Local")
    elif sys.platform == "darwin":
        base = os.path.expanduser("~/Library/Caches")
    else:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return os.path.join(base, "icl-asymptotics")


def _latex_cache_path() -> str:
    """The LaTeX cache file, keyed by the package and sympy versions and a digest of the
    derivation's source (``asymptotics/symbolic.py``), so an edited derivation is never served
    stale; found without importing sympy."""
    import hashlib
    import importlib.util
    from importlib.metadata import version

    from asymptotics import __version__

    with open(importlib.util.find_spec("asymptotics.symbolic").origin, "rb") as fh:
        digest = hashlib.sha256(fh.read()).hexdigest()[:12]
    return os.path.join(cache_dir(), f"latex-{__version__}-sympy{version('sympy')}-{digest}.json")


def _latex_cache_key() -> dict:
    from importlib.metadata import version

    from asymptotics import __version__

    return {"cache": "latex", "version": __version__, "sympy": version("sympy")}


def _check_latex_table(table) -> None:
    if not (isinstance(table, dict) and table and all(isinstance(k, str) and isinstance(v, str)
                                                      for k, v in table.items())):
        raise TypeError("not a table of formula name -> LaTeX text")


def _read_latex_cache(path: str):
    """The cached table at ``path`` (name -> LaTeX), or None if absent or if the entry does not prove
    itself (:func:`simulate.io.read_entry`: key, digest, a table of strings; a warning names the file)."""
    from simulate.io import read_entry

    return read_entry(path, _latex_cache_key(), _check_latex_table)


def latex_table() -> dict:
    """name -> LaTeX of every derived formula (:func:`asymptotics.symbolic.latex_formulas`), read
    from ``cache_dir()/latex-<package version>-sympy<version>-<source digest>.json`` when present (without importing
    sympy: instant), else derived (20-30 s, ``LATEX_DERIVATION_SECONDS``) and written there atomically for the next call. A cache
    that cannot be read is rebuilt; one that cannot be written is skipped."""
    path = _latex_cache_path()
    table = _read_latex_cache(path)
    if table is not None:
        return table
    from asymptotics import symbolic

    table = symbolic.latex_formulas()
    try:
        from simulate.io import write_entry

        os.makedirs(os.path.dirname(path), exist_ok=True)
        write_entry(path, _latex_cache_key(), table)
    except (OSError, ValueError):
        pass
    return table


#: Wall time of the first ``latex`` call (the whole sympy derivation), measured on one core of the
#: 2-core development machine: 20 s idle, 29 s busy (docs/cli.md).
LATEX_DERIVATION_SECONDS = "20-30"


def cmd_latex(args) -> int:
    cached = _read_latex_cache(_latex_cache_path())
    if cached is not None:
        available = tuple(cached)
    else:
        from asymptotics import symbolic

        available = symbolic.FORMULA_NAMES
    names = list(available) if args.names == ["all"] else args.names
    unknown = [n for n in names if n not in available]
    if unknown:  # checked before the derivation, which takes 20-30 s when not cached
        raise CLIError(f"unknown formula(s) {', '.join(unknown)}; available: {', '.join(available)}")
    if cached is None:
        sys.stderr.write(f"icl-asymptotics latex: deriving the formulas with sympy (about "
                         f"{LATEX_DERIVATION_SECONDS} s, once); later calls read the cache "
                         f"{_latex_cache_path()}\n")
        sys.stderr.flush()
    table = cached if cached is not None else latex_table()
    _emit("".join(f"% {n}\n{table[n]}\n" for n in names), args.output)
    _wrote(args, args.output)
    return 0


def cmd_reproduce(args) -> int:
    from icl_asymptotics import figures

    if os.path.exists(args.outdir) and not os.path.isdir(args.outdir):
        raise CLIError(f"the output folder must be a directory; {args.outdir!r} is a file")
    os.makedirs(args.outdir, exist_ok=True)
    written = figures.reproduce(args.outdir, quick=args.quick, simulate=not args.no_simulate,
                                fmt=args.format, d=args.d, n_seeds=args.seeds, seed=args.seed,
                                cache_dir=args.cache, n_jobs=args.jobs,
                                progress=not args.no_progress,
                                only=args.only,
                                ladder=None if args.no_extrapolate else (args.extrapolate or "size"))
    for path in written:
        print(path)
    return 0


# ----------------------------------------------------------------------------- parser
def _add_params(p):
    g = p.add_argument_group("model parameters (see the parameter syntax below)")
    for name in PARAMS:
        g.add_argument(f"--{name}", type=_spec_type(name), default=parse_spec(name, DEFAULTS[name]),
                       metavar="SPEC", help=f"{MEANINGS[name]} [default {DEFAULTS[name]}]")


def _cov_type(name):
    def convert(text):
        try:
            return parse_cov(name, text)
        except CLIError as exc:
            raise argparse.ArgumentTypeError(str(exc).removeprefix(f"--{name}: ")) from None
    convert.__name__ = name
    return convert


def _kernel_type(text):
    try:
        return parse_kernel(text)
    except CLIError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--token-kernel: ")) from None


def _alpha_test(text):
    try:
        return float(check_alpha_test(float(text)))
    except ValueError as exc:  # a non-number, or outside alpha_test's range (asymptotics.params)
        raise argparse.ArgumentTypeError(str(exc).removeprefix("alpha_test ")) from None


def _add_tasks(p):
    g = p.add_argument_group("structured tasks (see below)")
    g.add_argument("--task-cov", type=_cov_type("task-cov"), metavar="COV",
                   help="covariance C_tr of the pretraining tasks [default identity]")
    g.add_argument("--test-cov", type=_cov_type("test-cov"), metavar="COV",
                   help="covariance C_te of the test tasks (ICL error) [default identity]")
    g.add_argument("--alpha-test", type=_alpha_test, metavar="X",
                   help="test context length per dimension, l_test = alpha_test d [default alpha]")
    g = p.add_argument_group("correlated contexts (see below)")
    g.add_argument("--token-kernel", type=_kernel_type, metavar="KERNEL",
                   help="correlations of the tokens across positions [default iid]")
    g.add_argument("--query", choices=("independent", "correlated"), default="independent",
                   help="the query independent of the context, or the next token of the sequence "
                        "[default independent]")


def _add_output(p):
    p.add_argument("--format", choices=("table", "csv", "json"), default="table",
                   help="output format: aligned table (10 digits), csv (full precision), "
                        "json (one object per row) [default table]")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="write to FILE (atomically) instead of stdout")


def _add_sim(p, d_default=40, seeds_default=4):
    g = p.add_argument_group("finite-d simulation")
    if isinstance(d_default, tuple):
        text = ",".join(map(str, d_default))
        g.add_argument("--d", type=_ladder, default=d_default, metavar="D1,D2,...",
                       help=f"the ladder of dimensions d (at least 2 distinct; l = round(alpha d), "
                            f"k = round(kappa d), n = round(tau d^2) at each) [default {text}]")
    else:
        g.add_argument("--d", type=_positive_int("d", 2), default=d_default,
                       help=f"dimension d of the simulated model (l = round(alpha d), "
                            f"k = round(kappa d), n = round(tau d^2)) [default {d_default}]")
    g.add_argument("--seeds", type=_positive_int("seeds"), default=seeds_default,
                   help=f"number of seeds (independent replicates) per grid point, the API's "
                        f"n_seeds [default {seeds_default}]")
    g.add_argument("--seed", type=_nonneg_int, default=0,
                   help="root seed; replicate r of point P draws from SeedSequence(seed, "
                        "spawn_key=(*point_key(P), r)), independent across points [default 0]")
    g.add_argument("--common-random-numbers", action="store_true",
                   help="replicate r of every point uses the same stream SeedSequence(seed, "
                        "spawn_key=(r,)): smoother curves and lower-variance differences between "
                        "points, but correlated points (never fit or combine them as independent)")
    g.add_argument("--cache", metavar="DIR", type=_cache_dir,
                   help="resumable on-disk cache of per-replicate results (JSON files)")
    g.add_argument("--jobs", type=_positive_int("jobs"), default=1,
                   help="parallel worker processes (results do not depend on it) [default 1]")
    g.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


def _add_figure(p):
    p.add_argument("-o", "--output", required=True, type=_figure_path, metavar="FIG",
                   help="figure file: .png, .pdf or .svg (written atomically)")
    p.add_argument("--dpi", type=_dpi, default=150, help="PNG resolution [150]")
    p.add_argument("--title", help="figure title")


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    parser = _Parser(
        prog="icl-asymptotics", formatter_class=fmt,
        description=(
            "Exact high-dimensional theory of in-context learning by linear attention\n"
            "(Lu, Letey, Zavatone-Veth, Maiti, Pehlevan, PNAS 2025, arXiv 2405.11751).\n\n"
            "e_ICL: test error on new tasks w ~ N(0, I); e_IDG: test error on the k pretraining\n"
            "tasks. Both are computed in the limit d -> inf at fixed ratios tau, alpha, kappa."),
        epilog=EPILOG_PARAMS + """
examples (they write into out/: mkdir -p out first):
  icl-asymptotics theory --tau 0.5,2 --kappa inf
  icl-asymptotics theory --tau log:0.1:10:50 --lam 0,0.01 --format csv -o out/curve.csv
  icl-asymptotics simulate --tau 0.5,2 --d 40 --seeds 4 --cache cache/ --format csv
  icl-asymptotics curve --tau log:0.1:10:200 --lam 0,0.01,0.1 -o out/double_descent.png
  icl-asymptotics curve --kappa log:0.05:50:100 --tau 10 --simulate --d 40 -o out/kappa.pdf
  icl-asymptotics phase --kappa log:0.05:20:60 --tau log:0.1:20:60 -o out/phase.png
  icl-asymptotics validate --tau 0.5 --kappa 2 --d 40,60,80 --seeds 8 -o out/validate.png
  icl-asymptotics reproduce out/figures --quick

Run 'icl-asymptotics COMMAND --help' for the options of each command.""")
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("theory", formatter_class=fmt, epilog=SPEC_HELP + COV_HELP + KERNEL_HELP,
                       help="theory errors e_ICL, e_IDG on a parameter grid",
                       description="Asymptotic e_ICL and e_IDG (THEORY.md section 4) on the "
                                   "Cartesian grid of the given parameter values.")
    _add_params(p)
    _add_tasks(p)
    _add_output(p)
    p.add_argument("--details", action="store_true",
                   help="also print q, the effective ridge nu, sigma2 and the fixed-point "
                        "converged flag and residual")
    p.set_defaults(func=cmd_theory)

    p = sub.add_parser("simulate", formatter_class=fmt, epilog=SPEC_HELP + COV_HELP + KERNEL_HELP,
                       help="finite-d simulation on a parameter grid (mean +- sem per point)",
                       description="Train linear attention exactly at finite d on every grid "
                                   "point (several seeds) and print one row per point: mean and "
                                   "standard error of the test errors, next to the d -> inf "
                                   "theory.")
    _add_params(p)
    _add_tasks(p)
    _add_sim(p)
    _add_output(p)
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("curve", formatter_class=fmt, epilog=SPEC_HELP + COV_HELP + KERNEL_HELP + """
the x axis is the one parameter given as a range (log-spaced ranges give a log axis); one
other parameter may be a list: one pair of curves (e_ICL solid, e_IDG dashed) per value.
""", help="learning-curve figure against one parameter",
                       description="Learning curves e_ICL and e_IDG against one parameter, "
                                   "optionally with simulation points (mean +- sem).")
    _add_params(p)
    _add_tasks(p)
    _add_figure(p)
    p.add_argument("--errors", type=_errors_list, default=ERRORS, metavar="{icl,idg}[,...]",
                   help="which errors to draw: icl, idg, or both in either order [default icl,idg]")
    p.add_argument("--logy", action="store_true", help="logarithmic y axis")
    p.add_argument("--simulate", action="store_true",
                   help="add finite-d simulation points (mean +- sem over --seeds)")
    p.add_argument("--sim-x", type=_spec_type("sim-x"), metavar="SPEC",
                   help="x values of the simulation points [default 6 points spanning the range]")
    p.add_argument("--extrapolate", type=_ladder, metavar="D1,D2,...",
                   help="add points extrapolated to d = inf (diamonds, estimate +- se): simulate "
                        "each sim-x point at every d of this ladder and fit e_inf + c1/d "
                        "(icl-asymptotics validate); with --simulate the finite-d points at --d "
                        "are drawn too")
    _add_sim(p, d_default=40, seeds_default=4)
    p.set_defaults(func=cmd_curve)

    p = sub.add_parser("phase", formatter_class=fmt, epilog=SPEC_HELP + "\n" + PHASE_BOUNDARY_HELP,
                       help="phase diagram over two parameters with the memorisation/ICL "
                            "boundary",
                       description="Heat map of e_ICL, e_IDG, their gap or relative gap over two "
                                   "parameters (the two given as ranges), with the "
                                   "memorisation/ICL boundary as a contour.")
    _add_params(p)
    _add_figure(p)
    p.add_argument("--quantity", choices=("relgap", "gap", "e_icl", "e_idg"), default="relgap",
                   help="colour: relgap = (e_ICL - e_IDG)/e_ICL, gap = e_ICL - e_IDG, or an error "
                        "[default relgap]")
    p.add_argument("--threshold", type=_fraction, default=0.5,
                   help="relative gap on the boundary contour [default 0.5]")
    p.add_argument("--x", choices=PARAMS, help="horizontal axis [default kappa if ranged]")
    p.add_argument("--y", choices=PARAMS, help="vertical axis")
    g = p.add_argument_group("simulation points extrapolated to d = inf (optional)")
    g.add_argument("--extrapolate", type=_ladder, metavar="D1,D2,...",
                   help="overlay the quantity simulated at every d of this ladder and extrapolated "
                        "to d = inf (circles in the same colour scale, labelled value +- se)")
    g.add_argument("--sim-x", type=_spec_type("sim-x"), metavar="SPEC",
                   help="x values of the points [default 3 spanning the axis]")
    g.add_argument("--sim-y", type=_spec_type("sim-y"), metavar="SPEC",
                   help="y values of the points [default 3 spanning the axis]")
    g.add_argument("--seeds", type=_positive_int("seeds"), default=4,
                   help="replicates per d [default 4]")
    g.add_argument("--seed", type=_nonneg_int, default=0, help="root seed [default 0]")
    g.add_argument("--cache", metavar="DIR", type=_cache_dir, help="resumable cache folder")
    g.add_argument("--jobs", type=_positive_int("jobs"), default=1, help="worker processes [1]")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_phase)

    p = sub.add_parser("validate", formatter_class=fmt, epilog=SPEC_HELP + COV_HELP + KERNEL_HELP + """
one point: a row per d (mean +- sem), then the row d = inf: the weighted least-squares fit
e(d) = e_inf + c1/d (+ c2/d^2 with --order 2) extrapolated to 1/d = 0 (mean = estimate, sem = its
standard error), with the theory, z = (estimate - theory)/se, and the fit's chi2 on dof degrees of
freedom. Several parameter values: a grid, one row of estimates and z-scores per point.
-o FIG (.png/.pdf/.svg): the figure (one point: mean +- sem against 1/d, the fitted line, the
intercept with its error bar and the theory at 1/d = 0; a grid: the z-scores), table on stdout.
z: with sems from n seeds, z has slightly heavier tails than a normal (|z| <= 1 about 65% of the
time at 3 rungs x 8 seeds, against 68% for a normal); see simulate.validate.
""", help="simulate a ladder of d, extrapolate to d = inf, compare with the theory (z-scores)",
                       description="Validation against finite-d simulation: simulate every point "
                                   "at each d of --d (--seeds replicates each), extrapolate e_ICL "
                                   "and e_IDG to d = inf by weighted least squares in 1/d, and "
                                   "compare with the asymptotic theory.")
    _add_params(p)
    _add_tasks(p)
    p.add_argument("--format", choices=("table", "csv", "json"), default="table",
                   help="table format: aligned table (10 digits), csv (full precision), "
                        "json [default table]")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="a figure (.png, .pdf, .svg; the table then goes to stdout) or a table "
                        "file (written atomically) [default: table on stdout]")
    p.add_argument("--dpi", type=_dpi, default=150, help="PNG resolution [150]")
    p.add_argument("--title", help="figure title")
    p.add_argument("--order", type=int, choices=(1, 2), default=1,
                   help="highest power of 1/d in the fit (2 needs >= 3 distinct d; use near the "
                        "ridgeless peak tau = 1) [default 1]")
    p.add_argument("--max-z", type=_max_z, metavar="Z",
                   help="exit with status 1 if any |z| exceeds Z (for scripts and CI)")
    _add_sim(p, d_default=(40, 60, 80), seeds_default=8)
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("transformer", formatter_class=fmt, epilog=SPEC_HELP + """
needs the optional extra: pip install 'icl-asymptotics[transformer]' (JAX, Equinox, Optax; CPU).
One of --kappa / --tau may be a list (the x axis). Each finished run is cached (--cache), so a
killed sweep resumes where it stopped. Details and the recorded runs: docs/transformer.md.
""", help="train linear attention / a softmax Transformer by gradient methods; figure vs theory",
                       description="Train the paper's linear attention (arch linear, exact test "
                                   "errors) and/or a pre-norm softmax Transformer (arch softmax, "
                                   "Monte Carlo test errors) at finite d on the same data model, "
                                   "for several seeds, and draw their e_ICL, e_IDG over the "
                                   "ridgeless d -> inf theory.")
    p.add_argument("--arch", default="softmax", help="comma list from linear,softmax [default softmax]")
    p.add_argument("--tau", type=_spec_type("tau"), default=parse_spec("tau", "inf"),
                   help="pretraining contexts per d^2; inf = a fresh batch every step [default inf]")
    p.add_argument("--alpha", type=_spec_type("alpha"), default=parse_spec("alpha", "1"),
                   help="context length per dimension [default 1]")
    p.add_argument("--kappa", type=_spec_type("kappa"), default=parse_spec("kappa", "1"),
                   help="training tasks per dimension [default 1]")
    p.add_argument("--rho", type=_spec_type("rho"), default=parse_spec("rho", "0.1"),
                   help="label noise variance [default 0.1]")
    _add_figure(p)
    p.add_argument("--csv", metavar="FILE", help="also write the table of runs (one row per run) to FILE")
    g = p.add_argument_group("training")
    g.add_argument("--d", type=_positive_int("d", 2), default=20, help="dimension d [default 20]")
    g.add_argument("--seeds", type=_positive_int("seeds"), default=2, help="replicates per point [default 2]")
    g.add_argument("--seed", type=_nonneg_int, default=0, help="root seed (stream entropy) [default 0]")
    g.add_argument("--steps", type=_positive_int("steps"),
                   help="optimiser steps [default 3000; for linear at finite tau the most L-BFGS "
                        "iterations, stopping at its gradient tolerance]")
    g.add_argument("--n-layers", type=_positive_int("n-layers"),
                   help="softmax Transformer blocks [default 2]")
    g.add_argument("--width", type=_positive_int("width"), help="softmax model width [default 64]")
    g.add_argument("--batch", type=_positive_int("batch"), help="contexts per step [default 256]")
    g.add_argument("--lr", type=_lr, help="peak AdamW learning rate [default 1e-3 softmax, 1e-2 linear]")
    g.add_argument("--cache", metavar="DIR", type=_cache_dir,
                   help="resumable cache folder (one JSON file per finished run)")
    g.add_argument("--exact", action="store_true",
                   help="add simulate.run's exact ridgeless Gamma* on the same data (arch 'exact' "
                        "rows; finite tau only)")
    g.add_argument("--shard", metavar="K/N",
                   help="train only runs K, K+N, K+2N, ... of the sweep into --cache (parallel "
                        "processes or array jobs); writes no table or figure")
    g.add_argument("--cached-only", action="store_true",
                   help="train nothing: table and figure from the runs already in --cache")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_transformer)

    p = sub.add_parser("pnas", formatter_class=fmt, epilog="""
needs the optional extra: pip install 'icl-asymptotics[transformer]' (JAX, Equinox, Optax; CPU).
fig5: test error against tau (model types 1, 2, or any of 1-4 with --model-types; kappa = inf;
with the attention residual);
fig6: e_ICL and e_IDG against kappa (model type 3 without the residual; tau = 10); d = 20,
alpha = 1, rho = 0.01, 2 seeds, the paper's 20,000 epochs (220,000 AdamW steps) per run.
Every run checkpoints into --cache after each block of steps; finished runs are kept there and
in --csv, so a killed experiment resumes with the same command (raising --steps later resumes
too). Full budget on 2 cores: hours (fig5 about 1.5-3 h, fig6 about 10 h); the estimate is
printed before training starts. Details and the recorded runs: docs/transformer.md.
""", help="the paper's Transformer experiments (Fig. 5, Fig. 6) as it ran them; resumable",
                       description="Train the paper's model types (1 linear attention, 2 one softmax "
                                   "layer, 3/4 two/three softmax + MLP blocks) with its protocol "
                                   "(AdamW lr 1e-4, weight decay 1e-4, batch 0.1 P of a fixed "
                                   "set of P = tau d^2 contexts) and draw them next to the exact "
                                   "same-d references, the theory and the authors' stored runs.")
    p.add_argument("experiment", choices=("fig5", "fig6"), help="which figure's runs")
    p.add_argument("--cache", required=True, metavar="DIR", type=_cache_dir,
                   help="checkpoints and finished runs (resume from here)")
    p.add_argument("--csv", required=True, metavar="FILE", help="the table of runs, rewritten after every run")
    p.add_argument("-o", "--output", type=_figure_path, metavar="FIG", help="also draw the figure (.png, .pdf, .svg)")
    p.add_argument("--dpi", type=_positive_int("dpi"), default=150, help="PNG resolution [150]")
    p.add_argument("--steps", type=_positive_int("steps"),
                   help="AdamW steps per run [default: the paper's 20,000 epochs of 1 + P // batch steps]")
    p.add_argument("--model-types", metavar="LIST",
                   help="model types to train, any of 1-4 [default: fig5 1,2; fig6 3], e.g. 3")
    p.add_argument("--seeds", metavar="LIST", help="replicate indices [default 0,1]")
    p.add_argument("--values", metavar="LIST",
                   help="the axis values to train (fig5: tau, fig6: kappa) [default: fig5 "
                        "0.5,0.8,1,1.2,1.4,1.6,2,3,5; fig6 0.1,0.2,0.3,0.4,0.6,1,2]")
    p.add_argument("--d", type=_positive_int("d", 2), help="dimension [default 20]")
    p.add_argument("--ref-seeds", type=_positive_int("ref-seeds"), default=8,
                   help="seeds of the exact same-d Gamma* references in the figure [default 8]")
    p.add_argument("--draw-only", action="store_true", help="train nothing: draw the figure from --csv")
    p.add_argument("--loss-figure", type=_figure_path, metavar="FIG",
                   help="also draw every run's training loss against steps, from the histories of "
                        "the checkpoints in --cache (where training has levelled off)")
    p.add_argument("--markdown", action="store_true",
                   help="print the results as Markdown tables (mean +- sem over seeds, the exact "
                        "same-d references, the authors' stored means)")
    p.set_defaults(func=cmd_pnas)

    p = sub.add_parser("latex", formatter_class=fmt,
                       help="LaTeX of the derived formulas (sympy), to paste into papers",
                       description="Print the LaTeX of derived results (asymptotics.symbolic): the MP "
                                   "transform, the fixed point, the error formulas, the ridgeless closed "
                                   "forms, the paper's Result 1, limits and the large-tau expansion. "
                                   f"The first call runs the whole derivation (about "
                                   f"{LATEX_DERIVATION_SECONDS} s, said on stderr) and caches "
                                   "the result in the user cache folder ($ICL_ASYMPTOTICS_CACHE_DIR, "
                                   "else e.g. ~/.cache/icl-asymptotics), keyed by the package and sympy "
                                   "versions and the derivation's source; later calls are instant.")
    p.add_argument("names", nargs="+", metavar="NAME",
                   help="formula names (e.g. e_icl_structural, result1_e_icl_tau_gt_1, "
                        "limit_e_tau_kappa_inf), or 'all'; an unknown name lists the available ones")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    p.set_defaults(func=cmd_latex)

    p = sub.add_parser("reproduce", formatter_class=fmt,
                       help="regenerate the paper-style figure set into a folder",
                       description="Regenerate the figure set: (a) double descent in tau for "
                                   "several lambda, (b) non-monotone alpha dependence, (c) kappa "
                                   "transition with ridge/Bayes and dMMSE baselines, (d) phase "
                                   "diagram. --quick: CI size (small d, few seeds, coarse grids). "
                                   "Full size (the shipped gallery): d = 80, 8 seeds, every "
                                   "simulated point also extrapolated to d = inf over d = 40, 60, 80.",
                       epilog=REPRODUCE_BOUNDARY_HELP)
    p.add_argument("outdir", help="output folder (created if missing)")
    p.add_argument("--quick", action="store_true",
                   help="CI-sized run (d = 20, 2 seeds, coarse grids; about 20 s)")
    p.add_argument("--no-simulate", action="store_true", help="theory curves only")
    p.add_argument("--format", choices=("png", "pdf", "svg"), default="png",
                   help="figure format [default png]")
    p.add_argument("--only", metavar="LIST", type=_figure_list,
                   help="comma list of figures to make, from a,b,c,d")
    g = p.add_argument_group("finite-d simulation (defaults depend on --quick)")
    g.add_argument("--d", type=_positive_int("d", 2), help="dimension d [quick 20, full 80]")
    g.add_argument("--seeds", type=_positive_int("seeds"), help="replicates [quick 2, full 8]")
    g.add_argument("--extrapolate", type=_ladder, metavar="D1,D2,...",
                   help="also draw every simulated point extrapolated to d = inf over this ladder "
                        "(its largest d replaces --d) [quick: none; full: 40,60,80, or d/2,3d/4,d "
                        "with --d]")
    g.add_argument("--no-extrapolate", action="store_true",
                   help="finite-d points only, also at full size")
    g.add_argument("--seed", type=_nonneg_int, default=0, help="root seed [default 0]")
    g.add_argument("--cache", metavar="DIR", type=_cache_dir, help="resumable cache folder")
    g.add_argument("--jobs", type=_positive_int("jobs"), default=1, help="worker processes [1]")
    g.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_reproduce)
    return parser


def _version() -> str:
    from icl_asymptotics import __version__

    return f"icl-asymptotics {__version__}"


#: Exit statuses (docs/cli.md, "Exit status"): one policy for every command.
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 2, 130, 143


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread like Ctrl-C, so that the same clean-up runs (worker
    processes shut down, temporary files removed) before the exit status 143."""


def _on_sigterm(signum, frame):
    raise _Terminated()


def _release_workers() -> None:
    """Shut down the reusable loky worker processes of a parallel sweep, if any, now (inside
    ``main``'s handlers) rather than in an ``atexit`` hook, where a Ctrl-C would only print
    "Exception ignored in atexit" and leave the exit status 0."""
    executor = getattr(sys.modules.get("joblib.externals.loky.reusable_executor"), "_executor", None)
    if executor is not None:
        executor.shutdown(wait=True)


def _exit_late(signum, frame):
    """Ctrl-C or SIGTERM after ``main`` finished (interpreter shutdown): everything is written and
    the workers are gone; exit with the signal's status at once instead of a traceback."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(EXIT_TERMINATED if signum == signal.SIGTERM else EXIT_INTERRUPTED)


def main(argv=None) -> int:
    """Entry point of ``icl-asymptotics``; returns the exit status:

    - 0: done;
    - 2 (usage): the command line cannot be carried out as given: bad syntax, a value outside its
      range, an unknown name, an output folder that does not exist, a cache path that is a file,
      a simulation too large for the memory available (every ``ValueError``); nothing is written;
    - 1 (failed): a valid request that failed while running: a fixed point or solver that did not
      converge, ``simulate`` with every replicate of some point failed, an output file that cannot
      be written (permission, read-only or full disk: every ``OSError``), memory exhausted;
    - 130: interrupted (Ctrl-C);
    - 143: terminated (SIGTERM), after the same clean-up as Ctrl-C.

    Every error is one line on stderr, ``icl-asymptotics COMMAND: error: ...`` (2) or
    ``... failed: ...`` (1). Run as the program (``argv`` None), SIGTERM is handled like Ctrl-C and a
    Ctrl-C or SIGTERM during the interpreter's shutdown exits with 130 / 143 at once; called with an
    ``argv`` list (from Python), no signal handler is changed."""
    program = argv is None
    if program and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_sigterm)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    prog = f"icl-asymptotics {args.command}"
    try:
        try:
            _check_outputs(args)
            return args.func(args)
        finally:
            _release_workers()
    except (CLIError, ValueError) as exc:
        sys.stderr.write(f"{prog}: error: {_one_line(exc)}\n")
        return EXIT_USAGE
    except (RuntimeError, OSError, ArithmeticError, MemoryError) as exc:
        sys.stderr.write(f"{prog}: failed: {_one_line(exc) or type(exc).__name__}\n")
        return EXIT_FAILED
    except _Terminated:
        sys.stderr.write(f"{prog}: terminated\n")
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        sys.stderr.write(f"{prog}: interrupted; {_interrupted_note(args)}\n")
        return EXIT_INTERRUPTED
    finally:
        if program and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, _exit_late)
            signal.signal(signal.SIGTERM, _exit_late)


def _check_outputs(args) -> None:
    """Every output path, before any work: its folder exists, it is not a directory, its name fits
    the file system (``ValueError``, exit 2), and its folder is writable (``PermissionError``, exit 1);
    ``simulate.io.resolve_output`` is the one check, the same that writes it later."""
    from simulate.io import resolve_output

    for attr in ("output", "csv"):
        path = getattr(args, attr, None)
        if not isinstance(path, str) or path in ("-", "/dev/stdout"):
            continue
        target, atomic = resolve_output(path)
        folder = os.path.dirname(target)
        if atomic and not os.access(folder, os.W_OK | os.X_OK):
            raise PermissionError(f"cannot write {path!r}: the folder {folder} is not writable")


def _interrupted_note(args) -> str:
    """What an interrupted command kept, and how to resume: output files are written whole or not
    at all; simulations and training runs finished before Ctrl-C live on only in ``--cache``."""
    simulating = {"curve": lambda: args.simulate or args.extrapolate is not None,
                  "phase": lambda: args.extrapolate is not None,
                  "reproduce": lambda: not args.no_simulate}.get(args.command, lambda: True)
    done = f"the figures finished so far are in {args.outdir}; " if args.command == "reproduce" else ""
    if not hasattr(args, "cache") or not simulating():  # theory only: nothing to keep
        return done or "no output file was written"
    if args.cache:
        return (f"{done}the runs finished so far are kept in the cache {args.cache}; rerun the "
                f"same command to resume from them")
    return f"{done}without --cache DIR nothing computed was kept; add it to make a rerun resume"


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


if __name__ == "__main__":
    sys.exit(main())
