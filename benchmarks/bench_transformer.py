"""Training speed of simulate.transformer on this CPU, and the wall time of the recorded sweeps (JSON).

For each architecture at d = 20, alpha = 1 (l = 20), tau = inf: steps per second of the compiled
training loop (a warm-up call compiles; the timed calls reuse the compiled code; median of
``--repeats``), against the baseline measured in the same process: the same AdamW step run
eagerly (no jit, one Python dispatch per operation), median over a few steps. The recorded sweeps'
wall times are the sums of the per-run ``seconds`` column (compilation included) of
``docs/results/transformer_*.csv``.

    XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1" \\
        python benchmarks/bench_transformer.py          # one core, as the recorded sweeps ran
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import statistics
import time

import equinox as eqx
import jax
import numpy as np
import optax

from simulate import transformer as T

INF_ = float("inf")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = {
    "linear": dict(arch="linear", batch=256),
    "softmax": dict(arch="softmax", n_layers=2, width=64, batch=256),
    "softmax_batch128": dict(arch="softmax", n_layers=2, width=64, batch=128),
}


def compiled_steps_per_second(cfg: dict, steps: int, repeats: int) -> tuple[float, float]:
    """Median steps per wall second and per CPU second of this process (the latter is what a
    shared machine does not distort)."""
    kw = dict(cfg, steps=steps, log_every=steps)
    if cfg["arch"] == "softmax":
        kw["n_test"] = 64
    T.train(20, float("inf"), 1.0, 1.0, 0.1, seed=0, **kw)  # compiles
    rates, cpu_rates = [], []
    for r in range(repeats):
        c0 = time.process_time()
        res = T.train(20, float("inf"), 1.0, 1.0, 0.1, seed=r + 1, **kw)
        cpu_rates.append(steps / (time.process_time() - c0))
        rates.append(steps / res.seconds)
    return statistics.median(rates), statistics.median(cpu_rates)


def eager_steps_per_second(cfg: dict, steps: int) -> float:
    """The same AdamW step without jit (the baseline)."""
    full = T.check_train(20, float("inf"), 1.0, 1.0, 0.1, steps=1000, **{k: v for k, v in cfg.items()})
    spec = T._spec(full)
    key = jax.random.key(0)
    if cfg["arch"] == "linear":
        model = T.LinearAttention(20, full["init_scale"], key)
    else:
        model = T.SoftmaxTransformer(20, full["width"], full["heads"], full["mlp_ratio"], cfg["n_layers"], key)
    tasks = jax.random.normal(key, (20, 20))
    opt = T._adamw(spec)
    params, static = eqx.partition(model, eqx.is_inexact_array)
    state = opt.init(params)
    times = []
    with jax.disable_jit():
        for i in range(steps):
            t0 = time.perf_counter()
            batch = T._batch(spec, jax.random.key(i), tasks)
            loss, grads = jax.value_and_grad(lambda q: T._loss(spec, eqx.combine(q, static), batch))(params)
            updates, state = opt.update(grads, state, params)
            params = eqx.apply_updates(params, updates)
            jax.block_until_ready(params)
            times.append(time.perf_counter() - t0)
    return 1.0 / statistics.median(times[1:])


def sweep_walls() -> dict:
    out = {}
    for name in ("kappa", "tau"):
        path = os.path.join(ROOT, "docs", "results", f"transformer_{name}.csv")
        if not os.path.exists(path):
            continue
        with open(path) as f:
            rows = list(csv.DictReader(f))
        out[name] = {arch: {"runs": sum(r["arch"] == arch for r in rows),
                            "seconds": round(sum(float(r["seconds"]) for r in rows if r["arch"] == arch), 1)}
                     for arch in sorted({r["arch"] for r in rows})}
    return out


#: The paper's protocol at its two timed points (issue 16): one softmax layer at tau = 1.4 (n = 560
#: contexts, batch 56) and 2 x (softmax + MLP) without the residual at tau = 10 (n = 4000, batch 400).
PNAS = {"pnas_fig5_type2_d20": dict(tau=1.4, kappa=INF_, model_type=2, residual=True),
        "pnas_fig6_type3_d20": dict(tau=10.0, kappa=1.0, model_type=3, residual=False)}


def pnas_ms_per_step(cfg: dict, steps: int, repeats: int) -> dict:
    """Median wall and CPU milliseconds per compiled AdamW step of the paper's protocol (one block of
    ``steps`` steps per timed call, compiled by a warm-up call), and the eager baseline (the same
    step without jit, median over a few steps) measured in this process."""
    full = T.check_train(20, cfg["tau"], 1.0, cfg["kappa"], 0.01, arch="pnas", model_type=cfg["model_type"],
                         residual=cfg["residual"])
    spec = T._PNASSpec(full["batch"], full["lr"], full["weight_decay"])
    key = jax.random.key(0)
    model = T.PNASTransformer(20, 20, cfg["model_type"], cfg["residual"], key)
    n = full["n"]
    data = (jax.random.normal(key, (n, 21, 21)) / np.sqrt(20), jax.random.normal(key, (n,)))
    state = T._pnas_adamw(spec).init(eqx.filter(model, eqx.is_inexact_array))
    jax.block_until_ready(T._pnas_block(model, state, key, jax.numpy.int32(0), data, spec, steps))
    wall, cpu = [], []
    for r in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        jax.block_until_ready(T._pnas_block(model, state, key, jax.numpy.int32(steps * (r + 1)), data, spec, steps))
        wall.append((time.perf_counter() - t0) / steps * 1e3)
        cpu.append((time.process_time() - c0) / steps * 1e3)
    params, static = eqx.partition(model, eqx.is_inexact_array)
    opt, eager = T._pnas_adamw(spec), []
    with jax.disable_jit():
        for i in range(3):
            t0 = time.perf_counter()
            idx = jax.random.choice(jax.random.fold_in(key, i), n, (spec.batch,), replace=False)
            loss, grads = jax.value_and_grad(
                lambda q: jax.numpy.mean((data[1][idx] - eqx.combine(q, static)(data[0][idx])) ** 2))(params)
            updates, st = opt.update(grads, state, params)
            jax.block_until_ready(eqx.apply_updates(params, updates))
            eager.append((time.perf_counter() - t0) * 1e3)
    base = statistics.median(eager[1:])
    return {"n": n, "batch": full["batch"], "ms_per_step": round(statistics.median(wall), 3),
            "cpu_ms_per_step": round(statistics.median(cpu), 3), "eager_ms_per_step": round(base, 2),
            "speedup_vs_eager": round(base / statistics.median(wall), 1)}


def pnas_breakdown(cfg: dict, steps: int, repeats: int) -> dict:
    """Where one step of the paper's protocol goes: median CPU milliseconds per iteration of a compiled
    ``lax.scan`` over ``steps`` iterations of (a) the minibatch draw alone (``jax.random.choice``
    without replacement), (b) the forward pass on a batch, (c) forward and backward (the gradient);
    and XLA's own count of the floating-point operations of one whole AdamW step
    (``cost_analysis`` of the compiled step), so ``gflops_per_cpu_second`` says how far the step is
    from this core's arithmetic limit."""
    full = T.check_train(20, cfg["tau"], 1.0, cfg["kappa"], 0.01, arch="pnas", model_type=cfg["model_type"],
                         residual=cfg["residual"])
    spec = T._PNASSpec(full["batch"], full["lr"], full["weight_decay"])
    key, n, b = jax.random.key(0), full["n"], full["batch"]
    model = T.PNASTransformer(20, 20, cfg["model_type"], cfg["residual"], key)
    params, static = eqx.partition(model, eqx.is_inexact_array)
    tokens, targets = jax.random.normal(key, (n, 21, 21)) / np.sqrt(20), jax.random.normal(key, (n,))
    jnp = jax.numpy

    def loss(p, s):
        x = jax.lax.dynamic_slice_in_dim(tokens, (s * b) % (n - b + 1), b)
        return jnp.mean(jnp.square(targets[:b] - eqx.combine(p, static)(x)))

    def draw(_, s):
        return 0.0, jnp.sum(jax.random.choice(jax.random.fold_in(key, s), n, (b,), replace=False))

    def forward(_, s):
        return 0.0, loss(params, s)

    def gradient(_, s):
        g = jax.grad(loss)(params, s)
        return 0.0, sum(jnp.sum(leaf) for leaf in jax.tree_util.tree_leaves(g))

    out = {}
    for name, body in (("draw", draw), ("forward", forward), ("forward_backward", gradient)):
        run = jax.jit(lambda body=body: jax.lax.scan(body, 0.0, jnp.arange(steps))[1])
        jax.block_until_ready(run())
        cpu = []
        for _ in range(repeats):
            c0 = time.process_time()
            jax.block_until_ready(run())
            cpu.append((time.process_time() - c0) / steps * 1e3)
        out[name + "_cpu_ms"] = round(statistics.median(cpu), 3)
    opt = T._pnas_adamw(spec)
    state = opt.init(params)

    def one_step(p, st):
        value, g = jax.value_and_grad(loss)(p, 0)
        updates, st = opt.update(g, st, p)
        return optax.apply_updates(p, updates), st, value

    cost = jax.jit(one_step).lower(params, state).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    out["xla_flops_per_step"] = int(cost.get("flops", 0))
    return out


def pnas_walls() -> dict:
    """Wall time of the recorded runs of the paper's experiments (sum of the ``seconds`` column:
    training time, resumed runs summed over their sittings)."""
    out = {}
    for name in ("fig5", "fig6"):
        path = os.path.join(ROOT, "docs", "results", f"transformer_pnas_{name}.csv")
        if os.path.exists(path):
            with open(path) as f:
                rows = list(csv.DictReader(f))
            out[name] = {"runs": len(rows), "hours": round(sum(float(r["seconds"]) for r in rows) / 3600, 2)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=100, help="steps per timed call [100]")
    ap.add_argument("--repeats", type=int, default=3, help="timed calls per architecture [3]")
    ap.add_argument("--eager-steps", type=int, default=4, help="eager baseline steps [4]")
    ap.add_argument("--pnas-steps", type=int, default=200, help="steps per timed block of the paper's protocol [200]")
    ap.add_argument("--pnas-only", action="store_true", help="time only the paper's protocol")
    args = ap.parse_args()
    results = {}
    for name, cfg in ({} if args.pnas_only else CONFIGS).items():
        fast, fast_cpu = compiled_steps_per_second(cfg, args.steps, args.repeats)
        base = eager_steps_per_second(cfg, args.eager_steps)
        results[name] = {**{k: v for k, v in cfg.items()}, "d": 20, "l": 20,
                         "steps_per_second": round(fast, 2), "steps_per_cpu_second": round(fast_cpu, 2),
                         "eager_steps_per_second": round(base, 3),
                         "speedup_vs_eager": round(fast / base, 1)}
    for name, cfg in PNAS.items():
        r = pnas_ms_per_step(cfg, args.pnas_steps, args.repeats)
        results[name] = {**cfg, "kappa": repr(cfg["kappa"]) if cfg["kappa"] == INF_ else cfg["kappa"], **r}  # JSON has no inf
        results[name + "_ms_per_step"] = r["ms_per_step"]
        br = pnas_breakdown(cfg, args.pnas_steps, args.repeats)
        br["gflops_per_cpu_second"] = round(br["xla_flops_per_step"] / (r["cpu_ms_per_step"] * 1e6), 2)
        results[name]["breakdown"] = br
    print(json.dumps({"benchmark": "transformer_training", "jax": jax.__version__,
                      "xla_flags": os.environ.get("XLA_FLAGS", ""), "machine": platform.machine(),
                      "cpu_count": os.cpu_count(),
                      "load_average_1min_at_end": round(os.getloadavg()[0], 2), "steps": args.steps, "repeats": args.repeats,
                      "results": results, "recorded_sweeps": sweep_walls(),
                      "recorded_pnas_runs": pnas_walls()}, indent=1))


if __name__ == "__main__":
    main()
