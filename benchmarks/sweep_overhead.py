"""Sweep overhead: the same tasks through sweep() (serial, with and without cache, cache hits) vs a
plain loop over run_replicate, measured in the same run. Prints JSON."""
import json
import tempfile
import time

from asymptotics.params import cartesian
from simulate import run_replicate, sweep

GRID = {"tau": [0.5, 1.5, 3.0], "alpha": [0.5, 1.0], "kappa": [0.5, 2.0], "rho": 0.1}
D, N_SEEDS = 12, 3


def main():
    flat = cartesian(**GRID)
    t0 = time.perf_counter()
    for i in range(len(flat["tau"])):
        for r in range(N_SEEDS):
            run_replicate(D, *(float(flat[n][i]) for n in ("tau", "alpha", "kappa", "rho")), seed=0,
                          replicate=r)
    loop = time.perf_counter() - t0
    out = {"d": D, "tasks": len(flat["tau"]) * N_SEEDS, "loop_seconds": loop}
    t0 = time.perf_counter()
    sweep(GRID, d=D, n_seeds=N_SEEDS, progress=False)
    out["sweep_seconds"] = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as cache:
        t0 = time.perf_counter()
        sweep(GRID, d=D, n_seeds=N_SEEDS, progress=False, cache_dir=cache)
        out["sweep_cache_write_seconds"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        sweep(GRID, d=D, n_seeds=N_SEEDS, progress=False, cache_dir=cache)
        out["sweep_cache_hit_seconds"] = time.perf_counter() - t0
    out["ratio_sweep_to_loop"] = out["sweep_seconds"] / loop
    out["ratio_cache_write_to_loop"] = out["sweep_cache_write_seconds"] / loop
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
