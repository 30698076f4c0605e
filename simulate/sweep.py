"""Simulation sweeps: a parameter grid -> one task per (point, replicate) -> a tidy table.

``sweep`` expands a grid, validates every point before any work, runs a per-(point, replicate)
``runner`` (default :func:`simulate.core.run_replicate`) serially, on local processes (joblib) or on a
Dask cluster, records a failing task instead of aborting, and keeps a resumable on-disk cache of
one small JSON file per finished task. Three steps, each its own function: :func:`plan` (grid ->
validated points -> tasks, cached results read), :func:`execute` (run what is missing on an engine),
:func:`collect` (tidy records + metadata). The runner draws from
:func:`simulate.seeding.stream` of (seed, the point, replicate), so the numbers never depend on grid
order, worker count, sharding or scheduling.

Cache: each entry is :func:`simulate.io.write_entry`'s ``{key, digest, content}``; it is used only if
its key, the SHA-256 digest of its content and :func:`check_result` (finite ``icl``, ``idg``) hold,
else a :class:`simulate.io.CacheWarning` names the file and the task runs again (a FIFO or other
non-regular file in place of an entry is skipped, never opened for reading or written).

Runner protocol: ``runner(d, **params, seed=seed, replicate=r, **options) -> dict`` with finite ``icl``
and ``idg`` (a non-finite one is recorded as a failed task; other keys optional; ``l, k, n, solver, seconds`` get their own columns, any further
scalar keys become extra columns). A runner may carry a ``validate(d, **params, **options)``
attribute raising ``ValueError``; it is called for every point before any task runs.

Determinism: every task runs with its BLAS thread count pinned (``blas_threads``, default 1,
through threadpoolctl in the process that runs it), so a result is bit-identical whichever engine,
worker count or process ran it (BLAS reductions round differently with different thread counts).

Worker lifetime: joblib's loky workers are kept for reuse between sweeps and exit after
:data:`WORKER_IDLE_TIMEOUT` seconds without work; if the sweeping process is killed (even SIGKILL,
which it cannot catch), each worker finishes the tasks already handed to it and exits that long
after (measured: the 4 child processes of a killed ``--jobs 2`` run, 30 s tasks, were gone 55 s
after the SIGKILL).

The engines (joblib, dask, tqdm, pandas) are imported only when asked for.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import math
import numbers
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from asymptotics import __version__
from asymptotics.params import PARAMS, cartesian, check, check_int
from simulate._sizes import check_d, check_memory, resources, sizes
from simulate.io import atomic_path, read_entry, write_entry
from simulate.options import Options, make_options
from simulate.seeding import CONVENTION
from simulate.stats import mean_sem

#: Seconds an idle joblib (loky) worker waits for a task before it exits (loky's default is 300).
WORKER_IDLE_TIMEOUT = 20

COLUMNS = ("d", "seed", "replicate", "icl", "idg", "l", "k", "n", "solver", "seconds", "error")
#: Arguments of :func:`simulate.core.run_replicate` that a sweep's ``options`` may carry besides the
#: :class:`simulate.Options` fields: the structured-task model and the token kernel (docs/THEORY.md
#: sections 8, 9); they key the cache (a kernel by its name).
MODEL_OPTIONS = ("task_cov", "test_cov", "alpha_test", "token_kernel", "query")

CACHE_FORMAT = 3  # 3: entries with a digest (simulate.io.write_entry); 2: streams keyed by point
# (simulate.seeding). Files of other formats have other names (the key hash) and are ignored.


def _jsonable(value):
    """Plain JSON value for ``value`` (numpy scalars, dtypes and types become Python / strings)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, (np.dtype, type)):
        try:
            return str(np.dtype(value))
        except TypeError:
            pass
    raise ValueError(f"cannot store {value!r} (type {type(value).__name__}) in a sweep table or cache")


def _points(grid, d) -> list[dict]:
    """List of point dicts (model parameters as floats, ``d`` as int) from a grid and the ``d`` argument."""
    if isinstance(grid, dict):
        if d is not None and "d" in grid:
            raise ValueError("d is given both as a grid axis and as the d argument; give it once")
        axes = dict(grid) if d is None else {"d": d, **grid}
        if not axes:
            raise ValueError("grid is empty")
        for name in axes:
            if name not in PARAMS and name != "d":
                raise ValueError(f"unknown grid parameter {name!r}; allowed: d, {', '.join(PARAMS)}")
        flat = cartesian(**axes)
        n_points = len(next(iter(flat.values())))
        raw = [{name: flat[name][i] for name in axes} for i in range(n_points)]
    elif isinstance(grid, (list, tuple)):
        if not grid:
            raise ValueError("grid is an empty list of points")
        raw = []
        for i, point in enumerate(grid):
            if not isinstance(point, dict):
                raise ValueError(f"grid point {i} must be a dict of parameters; got {point!r}")
            if d is not None and "d" in point:
                raise ValueError(f"grid point {i} has d and the d argument is given too; give it once")
            raw.append(dict(point) if d is None else {**point, "d": d})
    else:
        raise ValueError(f"grid must be a dict of axes or a list of point dicts; got {type(grid).__name__}")
    points = []
    for i, point in enumerate(raw):
        unknown = sorted(set(point) - set(PARAMS) - {"d"})
        if unknown:
            raise ValueError(f"grid point {i}: unknown parameter(s) {unknown}; allowed: d, {', '.join(PARAMS)}")
        if "d" not in point:
            raise ValueError(f"grid point {i} has no d; give d as an argument or a grid axis")
        dd = point["d"]
        if isinstance(dd, np.generic):
            dd = dd.item()
        out = {"d": check_d(dd)}
        for name in PARAMS:
            if name in point:
                arr = check(name, point[name])
                if arr.ndim != 0:
                    raise ValueError(f"grid point {i}: {name} must be a scalar; got shape {arr.shape}")
                out[name] = float(arr)
        points.append(out)
    return points


def _runner_name(runner) -> str:
    module = getattr(runner, "__module__", None) or type(runner).__module__
    name = getattr(runner, "__qualname__", None) or type(runner).__qualname__
    return f"{module}.{name}"


def _task_key(runner_name: str, params: dict, seed: int, replicate: int, options: dict) -> dict:
    return {"format": CACHE_FORMAT, "version": __version__, "runner": runner_name,
            "params": params, "seed": seed, "replicate": replicate, "options": options}


def _key_hash(key: dict) -> str:
    text = json.dumps(key, sort_keys=True, separators=(",", ":"), allow_nan=True)
    return hashlib.sha256(text.encode()).hexdigest()


def check_result(result) -> None:
    """What a runner's result must be to count (and to be cached, or read back from the cache): a
    dict with finite real ``icl`` and ``idg``; ``TypeError``/``ValueError`` saying what is wrong."""
    if not isinstance(result, dict):
        raise TypeError(f"a result must be a dict with 'icl' and 'idg'; got {type(result).__name__}")
    for name in ("icl", "idg"):
        v = result.get(name)
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v):
            raise ValueError(f"{name} must be a finite number; got {v!r}")


def _read_cache(path: Path, key: dict):
    """Cached runner output for ``key`` at ``path`` (:func:`simulate.io.read_entry`: its key, its
    digest and :func:`check_result` must hold, else a warning naming the file and None)."""
    return read_entry(path, key, check_result)


_CONTROLLER = None


def _blas_limit(blas_threads):
    """Context pinning this process's BLAS to ``blas_threads`` threads (None: leave it alone). The
    threadpoolctl controller is built once per process (it scans the loaded libraries)."""
    global _CONTROLLER
    if blas_threads is None:
        return contextlib.nullcontext()
    if _CONTROLLER is None:
        from threadpoolctl import ThreadpoolController
        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=blas_threads, user_api="blas")


def _check_blas_threads(blas_threads):
    if blas_threads is None:
        return None
    if (isinstance(blas_threads, bool) or not isinstance(blas_threads, numbers.Integral)
            or blas_threads < 1):
        raise ValueError(f"blas_threads must be an integer >= 1 or None; got {blas_threads!r}")
    return int(blas_threads)


def _run_task(runner, params: dict, seed: int, replicate: int, options: dict, cache_path, key,
              blas_threads=1):
    """Execute one task (in whatever process the engine chose) with ``blas_threads`` BLAS threads;
    returns ``(result, error)``.

    A successful result is normalised through JSON (so a fresh and a cached result are identical)
    and written atomically to ``cache_path``; an ``Exception`` becomes an error string and is not
    cached (a resumed sweep retries it). ``KeyboardInterrupt`` and other non-``Exception``s propagate.
    """
    d = params["d"]
    kwargs = {n: v for n, v in params.items() if n != "d"}
    try:
        with _blas_limit(blas_threads):
            out = runner(d, **kwargs, seed=seed, replicate=replicate, **options)
        if not isinstance(out, dict) or "icl" not in out or "idg" not in out:
            raise TypeError(f"runner must return a dict with 'icl' and 'idg'; got {type(out).__name__}")
        result = json.loads(json.dumps(_jsonable(out), allow_nan=True))
        check_result(result)  # a NaN error is a failure, never a number to average
    except Exception as exc:  # noqa: BLE001 -- recorded in the table, the sweep goes on
        return None, f"{type(exc).__name__}: {exc}"
    if cache_path is not None:
        write_entry(cache_path, key, result)
    return result, None


class _PlainProgress:
    """Fallback progress meter on stderr (about ten lines per sweep) when tqdm is not installed."""

    def __init__(self, total: int, initial: int, desc: str = "sweep"):
        self.total, self.n, self._next, self.desc = total, initial, 0, desc
        self._show()

    def _show(self):
        if self.n >= self._next or self.n == self.total:
            print(f"{self.desc}: {self.n}/{self.total} tasks done", file=sys.stderr, flush=True)
            self._next = self.n + max(1, self.total // 10)

    def update(self, k: int = 1):
        self.n += k
        self._show()

    def close(self):
        pass


class _NoProgress:
    def update(self, k: int = 1):
        pass

    def close(self):
        pass


def _progress(enabled: bool, total: int, initial: int, desc: str = "sweep"):
    if not enabled:
        return _NoProgress()
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return _PlainProgress(total, initial, desc)
    return tqdm(total=total, initial=initial, desc=desc, unit="task")


def _label(plan) -> str:
    """What a plan runs, as its progress bar names it: the runner (with its ``arch`` option, if
    any), the dimensions and the grid, e.g. ``run_replicate d=40: 6 points x 4 seeds``."""
    name = plan.runner_name.rsplit(".", 1)[-1]
    arch = plan.options.get("arch") if isinstance(plan.options, dict) else None
    ds = ",".join(str(d) for d in sorted({p["d"] for p in plan.points}))
    n = len({tuple(sorted((k, v) for k, v in p.items() if k != "d")) for p in plan.points})
    return (f"{name}{f' {arch}' if arch else ''} d={ds}: {n} point{'s' * (n != 1)} x "
            f"{plan.n_seeds} seed{'s' * (plan.n_seeds != 1)}")


@dataclass
class SweepResult:
    """Tidy results of :func:`sweep`.

    ``records``: one dict per (point, replicate) run (or read from the cache) by this call, in task
    order (point-major, replicate-minor), all with the columns of :meth:`columns` (a value the
    runner did not return is None); ``icl``/``idg`` are None and ``error`` holds
    ``"ExceptionType: message"`` for a failed task. ``points``: the grid
    points in order. ``metadata``: package version, seed entropy, n_seeds, runner, options, shard,
    cache counts, numpy and Python versions.
    """

    records: list
    points: list
    metadata: dict = field(default_factory=dict)

    def columns(self) -> list[str]:
        params = [p for p in PARAMS if any(p in r for r in self.records)]
        extra = sorted({k for r in self.records for k in r} - set(params) - set(COLUMNS))
        return params + list(COLUMNS) + extra

    def summary(self) -> list[dict]:
        """One row per point: parameters, ``d``, ``n_ok``, ``n_failed``, and for ``icl`` and ``idg``
        the mean and standard error (ddof = 1) over the successful replicates of this result.

        ``*_sem`` is NaN when ``n_ok < 2`` and both means are NaN when ``n_ok = 0`` (undefined, not
        an error: the row says how many replicates it rests on).
        """
        groups: dict[str, list] = {}
        for r in self.records:
            key = json.dumps({p: r[p] for p in ("d",) + PARAMS if p in r}, sort_keys=True)
            groups.setdefault(key, []).append(r)
        rows = []
        for point in self.points:
            key = json.dumps(point, sort_keys=True)
            if key not in groups:
                continue
            recs = groups.pop(key)
            ok = [r for r in recs if r["error"] is None]
            row = {**{p: point[p] for p in PARAMS if p in point}, "d": point["d"],
                   "n_ok": len(ok), "n_failed": len(recs) - len(ok)}
            for name in ("icl", "idg"):
                row[f"{name}_mean"], row[f"{name}_sem"] = mean_sem([r[name] for r in ok])
            rows.append(row)
        return rows

    @property
    def errors(self) -> list[dict]:
        """The records of failed tasks."""
        return [r for r in self.records if r["error"] is not None]

    def to_csv(self, path) -> Path:
        """Write the records to ``path`` (stdlib ``csv``; None -> empty cell; floats in round-trip
        ``repr``) and the metadata to the JSON sidecar ``<path>.meta.json``, each atomically
        (:func:`simulate.io.atomic_path`); returns the sidecar path."""
        import csv
        path = Path(path)
        cols = self.columns()
        with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=cols)
            writer.writeheader()
            for r in self.records:
                writer.writerow({c: ("" if r.get(c) is None else r.get(c)) for c in cols})
        meta_path = path.with_name(path.name + ".meta.json")
        with atomic_path(meta_path) as tmp, open(tmp, "w") as f:
            json.dump(self.metadata, f, indent=1, sort_keys=True)
        return meta_path

    def to_pandas(self, summary: bool = False):
        """The records (or :meth:`summary` rows) as a pandas DataFrame; metadata in ``.attrs``."""
        import pandas as pd
        if summary:
            df = pd.DataFrame(self.summary())
        else:
            df = pd.DataFrame(self.records, columns=self.columns())
        df.attrs.update(self.metadata)
        return df

    def __repr__(self) -> str:
        n_failed = len(self.errors)
        return (f"SweepResult({len(self.points)} points, {len(self.records)} tasks, {n_failed} failed; "
                f"seed={self.metadata.get('seed')}, runner={self.metadata.get('runner')})")


@dataclass
class Plan:
    """What a sweep will do: validated ``points``, the ``tasks`` this call owns (index, point index,
    replicate, cache key, cache path), the ``results`` already read from the cache, and the ``todo``
    tasks that remain; ``options`` are what every runner call receives."""

    points: list
    tasks: list
    results: dict
    todo: list
    runner: object
    runner_name: str
    seed: int
    n_seeds: int
    options: dict
    options_json: dict
    shard: tuple | None


def _check_engine(n_jobs, scheduler, shard):
    if not isinstance(n_jobs, numbers.Integral) or isinstance(n_jobs, bool) or n_jobs == 0 or n_jobs < -1:
        raise ValueError(f"n_jobs must be a positive integer or -1; got {n_jobs!r}")
    if scheduler is not None:
        if n_jobs != 1:
            raise ValueError("give either scheduler (Dask) or n_jobs > 1 (joblib), not both")
        if not isinstance(scheduler, str):
            from distributed import Client
            if not isinstance(scheduler, Client):
                raise ValueError(f"scheduler must be a distributed.Client or an address string; "
                                 f"got {scheduler!r}")
    if shard is None:
        return None
    if (not isinstance(shard, (tuple, list)) or len(shard) != 2
            or not all(isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in shard)
            or not (shard[1] >= 1 and 0 <= shard[0] < shard[1])):
        raise ValueError(f"shard must be a pair (K, N) of integers with N >= 1 and 0 <= K < N; got {shard!r}")
    return int(shard[0]), int(shard[1])


def plan(grid, *, d=None, n_seeds: int = 1, seed: int = 0, runner=None, cache_dir=None,
         options=None, shard=None, n_jobs: int = 1) -> Plan:
    """Validate everything and lay out the tasks (:func:`sweep`'s first step; no task runs here).

    The default runner gets one :class:`simulate.Options` built (and so validated) once from
    ``options``; a custom runner gets ``options`` as keyword arguments. ``n_jobs``: the local
    workers that will run the tasks (as in :func:`sweep`): the default runner's memory estimate of
    the largest replicate to compute, times the workers that can hold one at once, must fit in the
    available memory (:func:`simulate._sizes.check_memory`).
    """
    n_seeds = check_int("n_seeds", n_seeds, 1)
    seed = check_int("seed", seed, 0)
    default_runner = runner is None
    if runner is None:
        from simulate.core import describe, run_replicate as runner
        if isinstance(options, Options):
            opts, model = make_options(options), {}
        else:
            rest = dict(options or {})
            # The structured-task arguments of run_replicate travel with the options; they enter the
            # cache key by name (a named law) or digest (an array), see simulate.core.describe.
            model = {k: v for k in MODEL_OPTIONS if (v := rest.pop(k, None)) is not None}
            opts = make_options(**rest)
        call_options, options_json = {"options": opts, **model}, opts.as_dict()
        for k, v in model.items():
            options_json[k] = float(v) if k == "alpha_test" else v if k == "query" else describe(v)
    else:
        if not callable(runner):
            raise ValueError(f"runner must be callable; got {runner!r}")
        if isinstance(options, Options):
            raise ValueError("a simulate.Options object is for the default runner; give a custom "
                             "runner its options as a dict")
        call_options = dict(options or {})
        clash = sorted(set(call_options) & (set(PARAMS) | {"d", "seed", "replicate"}))
        if clash:
            raise ValueError(f"options may not contain {clash}; those are grid parameters or set by the sweep")
        options_json = _jsonable(call_options)
    validate = getattr(runner, "validate", None)

    points = _points(grid, d)
    seen, estimates = {}, {}
    for i, point in enumerate(points):
        j = seen.setdefault(json.dumps(point, sort_keys=True), i)
        if j != i:
            raise ValueError(f"grid points {j} and {i} are the same point {point}; use n_seeds for replicates")
        try:
            if default_runner:
                checked, solver = validate(**point, **call_options)[:2]
                estimates[i] = (resources(checked.d, checked.l, checked.k, checked.n, solver, opts.dtype),
                                checked, solver)
            elif validate is not None:
                validate(**point, **call_options)
            elif all(p in point for p in ("tau", "alpha", "kappa")):
                sizes(point["d"], point["tau"], point["alpha"], point["kappa"])
        except ValueError as exc:
            raise ValueError(f"grid point {i} {point}: {exc}") from exc

    name = _runner_name(runner)
    cache = None
    if cache_dir is not None:
        cache = Path(cache_dir)
        if cache.exists() and not cache.is_dir():
            raise ValueError(f"the cache must be a directory; {cache} is a file")
        cache.mkdir(parents=True, exist_ok=True)
    tasks = []  # (index, point index, replicate, key, cache path)
    for p, point in enumerate(points):
        for r in range(n_seeds):
            index = p * n_seeds + r
            if shard is not None and index % shard[1] != shard[0]:
                continue
            key = _task_key(name, point, seed, r, options_json)
            path = None if cache is None else str(cache / f"{_key_hash(key)}.json")
            tasks.append((index, p, r, key, path))
    results, todo = {}, []
    for task in tasks:
        cached = None if task[4] is None else _read_cache(Path(task[4]), task[3])
        if cached is not None:
            results[task[0]] = (cached, None)
        else:
            todo.append(task)
    workers = min((os.cpu_count() or 1) if n_jobs == -1 else n_jobs, len(todo))
    if default_runner and workers > 1:
        (memory, flops), pt, solver = max((estimates[t[1]] for t in todo), key=lambda e: e[0][0])
        check_memory(memory, flops, f"d = {pt.d}", f"n = {pt.n} contexts, l = {pt.l}, solver {solver!r}, "
                     f"{opts.dtype}", "use fewer parallel jobs (n_jobs) or a smaller d", copies=workers,
                     warn=False)  # run_replicate.validate announced a large replicate already
    return Plan(points, tasks, results, todo, runner, name, seed, n_seeds, call_options, options_json, shard)


def execute(plan: Plan, *, n_jobs: int = 1, scheduler=None, progress: bool = True,
            blas_threads: int | None = 1) -> float:
    """Run the plan's missing tasks on the chosen engine, each with ``blas_threads`` BLAS threads,
    filling ``plan.results``; returns the wall time in seconds (:func:`sweep`'s second step)."""
    blas_threads = _check_blas_threads(blas_threads)
    t0 = time.perf_counter()
    bar = _progress(progress, len(plan.tasks), len(plan.results), _label(plan))
    try:
        for index, out in _execute(plan.todo, plan.runner, plan.points, plan.seed, plan.options,
                                   n_jobs, scheduler, blas_threads):
            plan.results[index] = out
            bar.update(1)
    finally:
        bar.close()
    return time.perf_counter() - t0


def collect(plan: Plan, *, engine: str, wall: float, blas_threads: int | None = 1) -> SweepResult:
    """Tidy records (point-major, replicate-minor) and metadata from a finished plan (step three)."""
    records = []
    for index, p, r, key, path in plan.tasks:
        result, error = plan.results[index]
        point = plan.points[p]
        rec = {**{k: v for k, v in point.items() if k != "d"}, "d": point["d"],
               "seed": plan.seed, "replicate": r}
        for col in COLUMNS[3:-1]:
            rec[col] = None if result is None else result.get(col)
        rec["error"] = error
        if result is not None:
            rec.update({k: v for k, v in result.items() if k not in rec})
        records.append(rec)
    extra = sorted({k for rec in records for k in rec} - set(PARAMS) - set(COLUMNS))
    for rec in records:
        for k in extra:
            rec.setdefault(k, None)
    n_cached = len(plan.tasks) - len(plan.todo)
    metadata = {"package": "icl-asymptotics", "version": __version__, "seed": plan.seed,
                "n_seeds": plan.n_seeds, "runner": plan.runner_name, "options": plan.options_json,
                "shard": None if plan.shard is None else list(plan.shard),
                "n_tasks": len(plan.tasks), "n_cached": n_cached, "n_computed": len(plan.todo),
                "n_failed": sum(1 for rec in records if rec["error"] is not None),
                "engine": engine, "blas_threads": blas_threads, "wall_seconds": wall, "numpy": np.__version__,
                "python": sys.version.split()[0], "seeding": CONVENTION}
    return SweepResult(records=records, points=plan.points, metadata=metadata)


def sweep(grid, *, d=None, n_seeds: int = 1, seed: int = 0, runner=None, cache_dir=None,
          n_jobs: int = 1, scheduler=None, progress: bool = True, options=None,
          shard: tuple[int, int] | None = None, blas_threads: int | None = 1) -> SweepResult:
    """Run ``runner`` for every (grid point, replicate) and collect a tidy :class:`SweepResult`.

    Parameters
    ----------
    grid
        dict of axis -> scalar or list (Cartesian product via :func:`asymptotics.params.cartesian`,
        first axis slowest) or a list of point dicts. Names: ``tau, alpha, kappa, rho, lam`` and ``d``.
    d
        dimension (int or list of ints, a grid axis placed first), unless ``d`` is in the grid.
    n_seeds, seed
        replicates ``0..n_seeds-1`` of every point, streams from entropy ``seed``
        (:func:`simulate.seeding.stream`: independent per point unless
        ``options={'common_random_numbers': True}``).
    runner
        per-task function (module docstring); default :func:`simulate.core.run_replicate`.
    cache_dir
        directory for the resumable cache (created if needed). Each finished task is one
        JSON file named by the SHA-256 of (cache format, package version, runner qualified name,
        point, seed, replicate, options), written atomically; a rerun reads finished tasks and runs
        only the missing ones. Failed tasks are not cached. Clear the cache after changing a
        runner's code without changing its name or the package version.
    n_jobs
        local worker processes (joblib, loky backend) when > 1 (-1: all cores).
    scheduler
        a ``distributed.Client`` or a scheduler address string: run on that Dask cluster
        (the cache directory must then be visible to the workers). Excludes ``n_jobs > 1``.
    progress
        show a tqdm bar (a plain stderr counter if tqdm is not installed).
    options
        for the default runner a :class:`simulate.Options` or a dict of its fields
        (validated once, here); for a custom runner a dict of keyword options. Part of the cache key.
    shard
        ``(K, N)``: run only tasks whose index (point-major, replicate-minor) is ``K mod N``,
        e.g. one SLURM array job each; with a shared ``cache_dir`` a final unsharded call then
        assembles the whole sweep without computing anything.
    blas_threads : BLAS threads of every task, pinned with threadpoolctl in whichever process runs
        it (default 1: bit-identical results for every engine and ``n_jobs``, and no
        oversubscription with ``n_jobs`` workers); None leaves the BLAS default (then results may
        differ in the last bits between engines).

    Notes
    -----
    Every point is validated before any task runs (``ValueError`` naming the parameter); the
    default runner's check is the simulator's own (sizes, ranges, options, solver).
    """
    shard = _check_engine(n_jobs, scheduler, shard)
    blas_threads = _check_blas_threads(blas_threads)
    the_plan = plan(grid, d=d, n_seeds=n_seeds, seed=seed, runner=runner, cache_dir=cache_dir,
                    options=options, shard=shard, n_jobs=1 if scheduler is not None else n_jobs)
    wall = execute(the_plan, n_jobs=n_jobs, scheduler=scheduler, progress=progress,
                   blas_threads=blas_threads)
    engine = "dask" if scheduler is not None else ("joblib" if n_jobs != 1 else "serial")
    return collect(the_plan, engine=engine, wall=wall, blas_threads=blas_threads)


def _execute(todo, runner, points, seed, options, n_jobs, scheduler, blas_threads=1):
    """Yield ``(task index, (result, error))`` as tasks finish, on the requested engine."""
    args = [(index, (runner, points[p], seed, r, options, path, key, blas_threads))
            for index, p, r, key, path in todo]
    if not args:
        return
    if scheduler is not None:
        yield from _execute_dask(args, scheduler)
    elif n_jobs != 1:
        import joblib
        indices = [index for index, _ in args]
        config = getattr(joblib, "parallel_config", joblib.parallel_backend)  # joblib < 1.3
        with config("loky", idle_worker_timeout=WORKER_IDLE_TIMEOUT, initializer=_worker_ignores_interrupts):
            parallel = joblib.Parallel(n_jobs=n_jobs, return_as="generator")
            with _interrupts_held():  # the workers are started (and inherit the block) in this call
                results = parallel(joblib.delayed(_run_task)(*a) for _, a in args)
            yield from zip(indices, results)
    else:
        for index, a in args:
            yield index, _run_task(*a)


@contextlib.contextmanager
def _interrupts_held():
    """Hold Ctrl-C (SIGINT) in this thread while worker processes are started: they inherit the
    blocked signal, so a Ctrl-C while they import cannot print their tracebacks; a Ctrl-C meanwhile
    stays pending and interrupts this process as soon as the block is lifted (POSIX; elsewhere a
    no-op)."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _worker_ignores_interrupts():
    """Initializer of every loky worker: Ctrl-C is for the sweeping process, which stops the sweep
    (the workers finish or are shut down by it; :data:`WORKER_IDLE_TIMEOUT` otherwise). Ignored,
    then unblocked (:func:`_interrupts_held`): one pending from the worker's start is discarded."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _execute_dask(args, scheduler):
    from distributed import Client, as_completed
    own = isinstance(scheduler, str)
    client = Client(scheduler) if own else scheduler
    try:
        futures = {client.submit(_run_task, *a, pure=False): index for index, a in args}
        for future in as_completed(futures):
            yield futures[future], future.result()
    finally:
        if own:
            client.close()
