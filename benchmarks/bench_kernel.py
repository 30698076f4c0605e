"""Cost of the theory with a token kernel (docs/THEORY.md section 9): the kernel's statistics once
(O(l) sums and one O(l log l) convolution at finite l; closed forms for the l -> inf limit of
exp:xi), then per point the same work as the i.i.d. theory. Prints JSON with ratios against the
same-process baseline (the i.i.d. e_icl on the same grid).

    python benchmarks/bench_kernel.py > benchmarks/results/bench_kernel_YYYY-MM-DD.json
"""
from __future__ import annotations

import json
import platform
import time

import numpy as np

import asymptotics as A
from asymptotics import kernel as K


def best(f, repeat=5):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return min(times)


def main():
    n = 100_000
    rng = np.random.default_rng(0)
    tau = 10 ** rng.uniform(-1, 1, n)
    alpha = 10 ** rng.uniform(-1, 1, n)
    kappa = 10 ** rng.uniform(-1, 1, n)
    out = {"points": n, "python": platform.python_version(), "version": A.__version__}
    for lam in (0.0, 0.01):
        base = best(lambda: A.e_icl(tau, alpha, kappa, 0.1, lam))
        row = {"iid_seconds": base}
        for name, kern, query in (("exp_independent", K.exponential(5.0), "independent"),
                                  ("power_independent", K.power_law(0.9), "independent"),
                                  ("exp_correlated", K.exponential(5.0), "correlated")):
            if query == "correlated" and lam > 0:
                continue
            kern.theory_stats(query)  # statistics once (cached on the kernel)
            t = best(lambda: A.e_icl(tau, alpha, kappa, 0.1, lam, token_kernel=kern, query=query))
            row[name + "_seconds"] = t
            row[name + "_ratio"] = t / base
        out[f"lam={lam}"] = row
    stats = {}
    for l in (10**3, 10**4, 10**5, 10**6):
        kern = K.exponential(5.0)
        stats[str(l)] = best(lambda: kern.stats(l), repeat=3)
    out["exp_stats_seconds_by_l"] = stats
    out["power_limit_seconds_first_call"] = best(lambda: K.power_law(0.9).limit, repeat=1)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
