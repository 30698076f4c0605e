"""simulate.sweep: grids, validation, failures, cache and resume, engines, shards, outputs."""
import csv
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import asymptotics
from simulate import SweepResult, run_replicate, stream, sweep

CALLS = []          # (params..., replicate) of every fake_runner call in this process
STOP = {"at": None}  # fake_runner raises KeyboardInterrupt on this call number (simulated kill)


@pytest.fixture(autouse=True)
def _reset():
    CALLS.clear()
    STOP["at"] = None
    yield
    CALLS.clear()
    STOP["at"] = None


def fake_runner(d, tau, alpha, kappa, rho, lam=0.0, *, seed, replicate, shift=0.0):
    """Cheap stand-in for run_replicate: a known function of the point plus the replicate's stream."""
    CALLS.append((d, tau, alpha, kappa, rho, replicate))
    if STOP["at"] is not None and len(CALLS) == STOP["at"]:
        raise KeyboardInterrupt
    if rho == 0.5:
        raise RuntimeError("planted failure at rho = 0.5")
    u = stream(seed, replicate, dict(d=d, tau=tau, alpha=alpha, kappa=kappa, rho=rho)).random(2)
    return {"icl": tau + alpha * u[0] + shift, "idg": kappa + rho * u[1], "l": d, "k": 2 * d,
            "n": 3 * d, "solver": "fake", "seconds": 0.0, "extra": u[0] * u[1]}


GRID = {"tau": [0.5, 2.0], "alpha": 1.0, "kappa": [0.25, 1.0, 4.0], "rho": 0.1}


def fake_values(point, seed, replicate):
    key = {k: point[k] for k in ("d", "tau", "alpha", "kappa", "rho")}
    u = stream(seed, replicate, key).random(2)
    return point["tau"] + point["alpha"] * u[0], point["kappa"] + point["rho"] * u[1]


def test_grid_expansion_records_and_columns():
    res = sweep(GRID, d=[4, 6], n_seeds=2, seed=3, runner=fake_runner, progress=False)
    assert isinstance(res, SweepResult)
    assert len(res.points) == 12 and len(res.records) == 24
    # d placed first (slowest), then the grid axes in the order given; replicates innermost
    assert [(r["d"], r["tau"], r["kappa"], r["replicate"]) for r in res.records[:4]] == [
        (4, 0.5, 0.25, 0), (4, 0.5, 0.25, 1), (4, 0.5, 1.0, 0), (4, 0.5, 1.0, 1)]
    assert res.records[-1]["d"] == 6 and res.records[-1]["tau"] == 2.0
    for r in res.records:
        icl, idg = fake_values(r, 3, r["replicate"])
        assert (r["icl"], r["idg"]) == (icl, idg)  # same formula, same stream: identical bits
        assert (r["l"], r["k"], r["n"], r["solver"], r["error"]) == (r["d"], 2 * r["d"], 3 * r["d"], "fake", None)
    assert res.columns()[:5] == ["tau", "alpha", "kappa", "rho", "d"]
    assert res.columns()[-1] == "extra"
    listed = sweep([{k: v for k, v in r.items() if k in ("d", "tau", "alpha", "kappa", "rho")}
                    for r in res.records[::2]], n_seeds=2, seed=3, runner=fake_runner, progress=False)
    assert listed.records == res.records
    # d as a grid axis is the same as the argument
    assert sweep({"d": [4, 6], **GRID}, n_seeds=2, seed=3, runner=fake_runner,
                 progress=False).records == res.records


def test_results_do_not_depend_on_grid_order():
    grid = {"tau": [0.4, 1.5], "alpha": [0.5, 1.0], "kappa": 1.0, "rho": 0.2}
    fwd = sweep(grid, d=6, n_seeds=2, progress=False)
    rev = sweep({k: (v[::-1] if isinstance(v, list) else v) for k, v in grid.items()}, d=6,
                n_seeds=2, progress=False)
    key = lambda r: (r["tau"], r["alpha"], r["replicate"])  # noqa: E731
    assert {key(r): r["icl"] for r in fwd.records} == {key(r): r["icl"] for r in rev.records}
    direct = run_replicate(6, 1.5, 0.5, 1.0, 0.2, seed=0, replicate=1)
    assert {key(r): r["idg"] for r in fwd.records}[(1.5, 0.5, 1)] == direct["idg"]


@pytest.mark.parametrize("kwargs, match", [
    (dict(grid={**GRID, "rho": [0.1, -1.0]}), "rho must satisfy 0 <= rho"),
    (dict(grid={**GRID, "tau": [0.5, 0.0]}), "tau must satisfy 1e-30 <= tau"),
    (dict(grid={**GRID, "gamma": 1.0}), "unknown grid parameter 'gamma'"),
    (dict(grid=[{"tau": 1.0, "alpha": 1.0, "kappa": 1.0, "rho": 0.1, "d": 1.5}], d=None), "d must be an integer"),
    (dict(grid=GRID, d=None), "has no d"),
    (dict(grid={**GRID, "d": 4}), "d is given both"),
    (dict(grid=[dict(tau=1.0, alpha=1.0, kappa=1.0, rho=0.1)] * 2), "same point"),
    (dict(grid=GRID, n_seeds=0), "n_seeds must be an integer >= 1"),
    (dict(grid=GRID, seed=-1), "seed must be an integer >= 0"),
    (dict(grid=GRID, shard=(3, 3)), "shard must be a pair"),
    (dict(grid=GRID, n_jobs=0), "n_jobs"),
    (dict(grid=GRID, options={"rho": 1.0}), "options may not contain"),
    (dict(grid=GRID, scheduler=object()), "scheduler must be"),
])
def test_bad_input_refused_before_any_work(kwargs, match):
    kwargs = {"d": 4, "runner": fake_runner, "progress": False, **kwargs}
    with pytest.raises(ValueError, match=match):
        sweep(**kwargs)
    assert CALLS == []


@pytest.mark.parametrize("grid, options, match", [
    ({**GRID, "tau": [0.5, math.inf]}, {"solver": "dual"}, "population moments"),  # tau = inf: no solver
    ({**GRID, "kappa": 0.01}, None, "rounds to k = 0"),
    ({k: v for k, v in GRID.items() if k != "rho"}, None, "needs parameter"),
    (GRID, {"solver": "magic"}, "solver must be one of"),
])
def test_default_runner_validation_up_front(grid, options, match):
    with pytest.raises(ValueError, match=match):
        sweep(grid, d=8, options=options, progress=False)


def test_failing_task_is_recorded_not_fatal():
    res = sweep({**GRID, "rho": [0.1, 0.5]}, d=4, n_seeds=2, runner=fake_runner, progress=False)
    bad = [r for r in res.records if r["rho"] == 0.5]
    assert len(bad) == 12 and len(res.errors) == 12
    assert all(r["error"] == "RuntimeError: planted failure at rho = 0.5" and r["icl"] is None for r in bad)
    assert all(r["error"] is None and r["icl"] is not None for r in res.records if r["rho"] == 0.1)
    rows = res.summary()
    assert [(row["n_ok"], row["n_failed"]) for row in rows] == [(2, 0), (0, 2)] * 6
    assert math.isnan(rows[1]["icl_mean"]) and math.isnan(rows[1]["icl_sem"])
    assert res.metadata["n_failed"] == 12


def test_summary_mean_and_sem():
    res = sweep(GRID, d=4, n_seeds=5, seed=11, runner=fake_runner, progress=False)
    rows = res.summary()
    assert len(rows) == 6
    for row in rows:
        vals = np.array([fake_values(row, 11, r) for r in range(5)])
        np.testing.assert_allclose([row["icl_mean"], row["idg_mean"]], vals.mean(0),
                                   rtol=1e-15)  # same sums; rounding only
        np.testing.assert_allclose([row["icl_sem"], row["idg_sem"]], vals.std(0, ddof=1) / math.sqrt(5),
                                   rtol=1e-13)  # same formula; rounding only
        assert row["n_ok"] == 5
    one = sweep(GRID, d=4, n_seeds=1, runner=fake_runner, progress=False).summary()
    assert math.isnan(one[0]["icl_sem"]) and not math.isnan(one[0]["icl_mean"])


def test_cache_resume_recomputes_exactly_the_missing(tmp_path):
    full = sweep(GRID, d=4, n_seeds=3, runner=fake_runner, cache_dir=tmp_path, progress=False)
    assert len(CALLS) == 18 and len(list(tmp_path.glob("*.json"))) == 18
    # find which files belong to which task, delete three of them
    deleted = []
    for f in sorted(tmp_path.glob("*.json"))[:3]:
        p = json.loads(f.read_text())["key"]
        deleted.append((p["params"]["tau"], p["params"]["kappa"], p["replicate"]))
        f.unlink()
    CALLS.clear()
    again = sweep(GRID, d=4, n_seeds=3, runner=fake_runner, cache_dir=tmp_path, progress=False)
    assert sorted((c[1], c[3], c[5]) for c in CALLS) == sorted(deleted)
    assert again.records == full.records
    assert again.metadata["n_cached"] == 15 and again.metadata["n_computed"] == 3
    CALLS.clear()
    sweep(GRID, d=4, n_seeds=3, runner=fake_runner, cache_dir=tmp_path, progress=False)
    assert CALLS == []
    # another seed or other options are other tasks
    sweep(GRID, d=4, n_seeds=3, seed=1, runner=fake_runner, cache_dir=tmp_path, progress=False)
    sweep(GRID, d=4, n_seeds=3, runner=fake_runner, cache_dir=tmp_path, progress=False,
          options={"shift": 1.0})
    assert len(CALLS) == 36


def test_killed_sweep_resumes_without_loss_or_rework(tmp_path):
    reference = sweep(GRID, d=4, n_seeds=2, runner=fake_runner, progress=False).records
    CALLS.clear()
    STOP["at"] = 5
    with pytest.raises(KeyboardInterrupt):
        sweep(GRID, d=4, n_seeds=2, runner=fake_runner, cache_dir=tmp_path, progress=False)
    done = list(tmp_path.glob("*.json"))
    # finished tasks saved, no temporary-file debris (temporaries are hidden dot-files)
    assert len(done) == 4 and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    first_four = [c[:5] + (c[5],) for c in CALLS[:4]]
    CALLS.clear()
    STOP["at"] = None
    resumed = sweep(GRID, d=4, n_seeds=2, runner=fake_runner, cache_dir=tmp_path, progress=False)
    assert len(CALLS) == 12 - 4 and not set(CALLS) & set(first_four)
    assert resumed.records == reference


def test_failed_tasks_are_not_cached(tmp_path):
    sweep({**GRID, "rho": [0.1, 0.5]}, d=4, runner=fake_runner, cache_dir=tmp_path, progress=False)
    assert len(list(tmp_path.glob("*.json"))) == 6
    CALLS.clear()
    sweep({**GRID, "rho": [0.1, 0.5]}, d=4, runner=fake_runner, cache_dir=tmp_path, progress=False)
    assert len(CALLS) == 6 and all(c[4] == 0.5 for c in CALLS)  # only the failures are retried


def test_corrupt_or_foreign_cache_file_is_recomputed(tmp_path):
    sweep(GRID, d=4, runner=fake_runner, cache_dir=tmp_path, progress=False)
    files = sorted(tmp_path.glob("*.json"))
    files[0].write_text("{not json")
    payload = json.loads(files[1].read_text())
    payload["key"]["seed"] = 99
    files[1].write_text(json.dumps(payload))
    CALLS.clear()
    res = sweep(GRID, d=4, runner=fake_runner, cache_dir=tmp_path, progress=False)
    assert len(CALLS) == 2 and res.metadata["n_cached"] == 4


def test_shards_union_is_the_whole_sweep(tmp_path):
    direct = sweep(GRID, d=4, n_seeds=3, runner=fake_runner, progress=False)
    CALLS.clear()
    seen = []
    for k in range(4):
        part = sweep(GRID, d=4, n_seeds=3, runner=fake_runner, cache_dir=tmp_path, progress=False,
                     shard=(k, 4))
        seen += [(r["tau"], r["kappa"], r["replicate"]) for r in part.records]
        assert part.metadata["shard"] == [k, 4]
    assert len(seen) == len(set(seen)) == 18 and len(CALLS) == 18  # disjoint and complete
    CALLS.clear()
    whole = sweep(GRID, d=4, n_seeds=3, runner=fake_runner, cache_dir=tmp_path, progress=False)
    assert CALLS == [] and whole.records == direct.records


def test_joblib_processes_give_identical_results():
    grid = {"tau": [0.5, 1.5], "alpha": 1.0, "kappa": [0.5, 2.0], "rho": 0.1}
    serial = sweep(grid, d=6, n_seeds=2, seed=7, progress=False)
    par = sweep(grid, d=6, n_seeds=2, seed=7, n_jobs=2, progress=False)
    assert [(r["icl"], r["idg"]) for r in par.records] == [(r["icl"], r["idg"]) for r in serial.records]
    assert par.metadata["engine"] == "joblib"


@pytest.mark.parametrize("processes", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_dask_gives_identical_results(tmp_path, processes):
    distributed = pytest.importorskip("distributed")
    grid = {"tau": [0.5, 1.5], "alpha": 1.0, "kappa": [0.5, 2.0], "rho": 0.1}
    serial = sweep(grid, d=6, n_seeds=2, seed=7, progress=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=processes,
                                  dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            via_client = sweep(grid, d=6, n_seeds=2, seed=7, scheduler=client, progress=False,
                               cache_dir=tmp_path)
        via_address = sweep(grid, d=6, n_seeds=2, seed=7, scheduler=cluster.scheduler_address,
                            progress=False)
    want = [(r["icl"], r["idg"]) for r in serial.records]
    assert [(r["icl"], r["idg"]) for r in via_client.records] == want
    assert [(r["icl"], r["idg"]) for r in via_address.records] == want
    assert len(list(tmp_path.glob("*.json"))) == 8  # workers wrote the cache


def test_csv_sidecar_and_pandas(tmp_path):
    res = sweep({**GRID, "rho": [0.1, 0.5]}, d=4, n_seeds=2, seed=5, runner=fake_runner,
                progress=False)
    meta_path = res.to_csv(tmp_path / "out.csv")
    with open(tmp_path / "out.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == res.columns() and len(rows) == len(res.records)
    for row, rec in zip(rows, res.records):
        for col in ("tau", "kappa", "rho", "icl", "idg", "extra"):
            want = rec[col]
            assert (row[col] == "") if want is None else float(row[col]) == want  # repr round-trips
        assert int(row["replicate"]) == rec["replicate"] and row["error"] == (rec["error"] or "")
    meta = json.loads(Path(meta_path).read_text())
    assert meta_path.name == "out.csv.meta.json"
    assert meta["seed"] == 5 and meta["version"] == asymptotics.__version__ and meta["runner"].endswith("fake_runner")
    pd = pytest.importorskip("pandas")
    df = res.to_pandas()
    assert isinstance(df, pd.DataFrame) and list(df.columns) == res.columns() and len(df) == 24
    assert df.attrs["seed"] == 5
    assert len(res.to_pandas(summary=True)) == 12


def test_core_imports_no_engine():
    code = ("import sys, simulate.sweep; "
            "print([m for m in ('joblib', 'dask', 'distributed', 'pandas', 'tqdm') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.stdout.strip() == "[]"


def test_plain_progress_without_tqdm(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    sweep(GRID, d=4, runner=fake_runner, progress=True)
    err = capsys.readouterr().err
    label = "fake_runner d=4: 6 points x 1 seed"  # what runs (the runner, d, the grid)
    assert f"{label}: 0/6 tasks done" in err and f"{label}: 6/6 tasks done" in err


def test_streams_are_keyed_by_point_unless_common_random_numbers_asked():
    # Two points that differ only in the ridge have the same sizes, so with common random numbers
    # they train on identical data and their errors differ only through lam (a relative change of
    # 1e-3 in lam moves the error by far less than 1e-3); with independent streams (the default)
    # they differ by the seed-to-seed spread (several percent at d = 8).
    base = dict(d=8, tau=1.5, alpha=1.0, kappa=1.0, rho=0.1)
    grid = {"tau": 1.5, "alpha": 1.0, "kappa": 1.0, "rho": 0.1, "lam": [0.1, 0.1001]}
    for common in (True, False):
        res = sweep(grid, d=8, n_seeds=1, seed=3, options={"common_random_numbers": common},
                    progress=False)
        a, b = (r["icl"] for r in res.records)
        assert (abs(a - b) / a < 1e-3) == common
        # the sweep's task is exactly the direct call with the same options
        direct = run_replicate(**base, lam=0.1001, seed=3, replicate=0, common_random_numbers=common)
        assert res.records[1]["icl"] == direct["icl"]
    assert "point_key" in res.metadata["seeding"]
