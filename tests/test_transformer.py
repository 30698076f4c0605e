"""Trained attention models (simulate.transformer; optional extra ``[transformer]``).

References: the exact ridgeless solution of ``simulate.run`` on the same data (linear attention,
n > d(d+1)); explicit-token linear attention against its ``Gamma`` form; the zero predictor, whose
test error is ``E y_q^2 = E|w|^2/d + rho = 1 + rho`` for ``w ~ N(0, I_d)``, ``x_q ~ N(0, I/d)``.
Quick configurations only (each compiles once; repeated configurations reuse the compiled code).
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

jax = pytest.importorskip("jax")
pytest.importorskip("equinox")
pytest.importorskip("optax")

import simulate  # noqa: E402
from simulate import transformer as T  # noqa: E402
from simulate.sampler import pretraining_tasks, sample_contexts  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EPS32 = float(np.finfo(np.float32).eps)
INF = float("inf")
SOFT = dict(arch="softmax", n_layers=1, steps=300, batch=64, width=32, heads=2, n_test=2048)


def test_import_simulate_loads_no_jax():
    code = "import sys, json, simulate; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         timeout=120, check=True).stdout
    loaded = {m.split(".")[0] for m in json.loads(out)}
    assert not loaded & {"jax", "jaxlib", "equinox", "optax"}


@pytest.mark.parametrize("d, tau, alpha, kappa, seed", [(4, 4.0, 2.0, 1.0, 0), (4, 4.0, 2.0, 2.0, 1)])
def test_linear_attention_reaches_the_ridgeless_solution(d, tau, alpha, kappa, seed):
    rho = 0.1
    res = T.train(d, tau, alpha, kappa, rho, arch="linear", seed=seed)
    assert res.converged and res.grad_norm < res.config["gtol"]
    l, k, n = simulate.sizes(d, tau, alpha, kappa)
    assert n > d * (d + 1)  # least squares has one solution: the ridgeless Gamma*
    # the same data as simulate.run: same stream, same draws in the same order
    rng = simulate.stream(seed, 0, {"d": d, "tau": tau, "alpha": alpha, "kappa": kappa, "rho": rho, "lam": 0.0})
    tasks, per_context = pretraining_tasks(d, k, n, rng)
    ctx = sample_contexts(per_context, l, rho, rng)
    exact = simulate.fit(ctx.x_query, ctx.h, ctx.y_query, 0.0).gamma
    features = np.einsum("ni,nj->nij", ctx.x_query, ctx.h).reshape(n, -1)
    # float32 training: least-squares perturbation theory gives relative error ~ cond(A) eps32 times
    # a modest constant (gradients summed over n float32 terms); measured 2-5, allowed 20
    tol = 20 * np.linalg.cond(features) * EPS32
    assert np.linalg.norm(res.gamma - exact) / np.linalg.norm(exact) <= tol
    sim = simulate.run(d, tau, alpha, kappa, rho, seed=seed)
    # errors are smooth in Gamma with |grad e| |Gamma*| / e = O(1) (measured <= 1): 2 x the Gamma tolerance
    assert res.icl == pytest.approx(sim.icl[0], rel=2 * tol)
    assert res.idg == pytest.approx(sim.idg[0], rel=2 * tol)
    # and they are the exact errors of the trained Gamma (same function, float64): rounding only
    assert (res.icl, res.idg) == pytest.approx(simulate.test_errors(res.gamma, tasks, l, rho), rel=1e-12)


def test_linear_attention_on_tokens_is_its_gamma_form():
    d, l, b = 5, 7, 16
    model = T.LinearAttention(d, 1.0, jax.random.key(0))
    W = jax.random.normal(jax.random.key(1), (b, d))
    x, y = T.draw_contexts(jax.random.key(2), W, l, 0.3)
    tokens = jax.vmap(model)(x[:, :-1], y[:, :-1], x[:, -1])
    stats = model.from_stats(T.context_stats(x, y), x[:, -1])
    scale = float(np.max(np.abs(tokens)))
    # float32, two summation orders over l + d terms: 64 eps32 relative to the largest prediction
    np.testing.assert_allclose(np.asarray(stats), np.asarray(tokens), rtol=0, atol=64 * EPS32 * scale)


@pytest.fixture(scope="module")
def softmax_run():
    return T.train(6, INF, 2.0, INF, 0.1, seed=0, **SOFT)


def test_softmax_loss_falls_and_beats_the_zero_predictor(softmax_run):
    res, rho = softmax_run, 0.1
    loss = res.history["loss"]
    # a logged loss is the mean of 50 steps x 64 contexts of squared errors with sd <= sqrt(2)(1+rho)
    # (Gaussian-like residuals): a block mean has sd <= 0.03, a difference of two <= 0.04; 3 sd
    assert loss[0] - loss[-1] > 3 * 0.04
    assert not res.exact and res.icl_sem > 0
    assert res.icl + 3 * res.icl_sem < 1 + rho  # zero predictor: E y_q^2 = 1 + rho; z = 3 one-sided
    assert res.idg == res.icl  # tau = kappa = inf: the pretraining tasks are fresh draws


def test_seeds_reproduce_bit_for_bit(softmax_run):
    again = T.train(6, INF, 2.0, INF, 0.1, seed=0, **SOFT)
    np.testing.assert_array_equal(again.history["loss"], softmax_run.history["loss"])
    assert (again.icl, again.idg) == (softmax_run.icl, softmax_run.idg)
    other = T.train(6, INF, 2.0, INF, 0.1, seed=1, **SOFT)
    assert other.icl != softmax_run.icl
    lin = [T.train(4, 4.0, 2.0, 1.0, 0.1, arch="linear", seed=0) for _ in range(2)]
    np.testing.assert_array_equal(lin[0].gamma, lin[1].gamma)


def test_finite_tau_softmax_runs():
    res = T.train(4, 2.0, 2.0, 0.5, 0.1, arch="softmax", n_layers=1, steps=40, batch=16, width=8,
                  heads=2, n_test=64, log_every=20, seed=0)
    assert res.config["n"] == 32 and res.config["k"] == 2 and list(res.history["step"]) == [20, 40]
    assert np.all(np.isfinite([res.icl, res.idg, res.icl_sem, res.idg_sem]))


@pytest.mark.parametrize("kwargs, match", [
    ({"arch": "mlp"}, "arch must be one of"),
    ({"steps": 0}, "steps must be"),
    ({"n_layers": 0}, "n_layers must be"),
    ({"arch": "linear", "n_layers": 2}, "n_layers must be 1"),
    ({"seed": -1}, "seed must be"),
    ({"d": 1}, "d must be an integer >= 2"),
    ({"tau": -1.0}, "tau"),
    ({"tau": float("nan")}, "tau"),
    ({"kappa": 0.0}, "kappa"),
    ({"alpha": INF}, "alpha"),
    ({"rho": -0.1}, "rho"),
    ({"kappa": 0.01}, "rounds to k = 0"),
    ({"nonsense": 1}, "unknown option"),
    ({"arch": "linear", "width": 8}, "no effect for arch='linear'"),
    ({"arch": "softmax", "gtol": 1e-3}, "no effect for arch='softmax'"),
    ({"arch": "softmax", "width": 30, "heads": 4}, "multiple of heads"),
    ({"lr": 0.0}, "lr must be"),
    ({"batch": 0}, "batch must be"),
])
def test_bad_input_is_a_value_error(kwargs, match):
    args = {"d": 4, "tau": 2.0, "alpha": 1.0, "kappa": 1.0, "rho": 0.1, **kwargs}
    with pytest.raises(ValueError, match=match):
        T.train(args.pop("d"), args.pop("tau"), args.pop("alpha"), args.pop("kappa"), args.pop("rho"), **args)


def test_cli_sweep_writes_table_and_figure_and_resumes_from_cache(tmp_path):
    from icl_asymptotics.cli import main
    from icl_asymptotics.transformer_figures import COLUMNS, read_csv

    argv = ["transformer", "--arch", "linear", "--kappa", "0.5,2", "--d", "4", "--seeds", "2",
            "--steps", "20", "--batch", "16", "--cache", str(tmp_path / "cache"), "--no-progress",
            "--csv", str(tmp_path / "t.csv"), "-o", str(tmp_path / "t.png")]
    assert main(argv) == 0
    rows = read_csv(tmp_path / "t.csv")
    assert len(rows) == 4 and list(rows[0]) == list(COLUMNS)
    assert sorted((r["kappa"], r["seed"]) for r in rows) == [(0.5, 0), (0.5, 1), (2.0, 0), (2.0, 1)]
    one = T.train(4, INF, 1.0, 0.5, 0.1, arch="linear", steps=20, batch=16, replicate=1)
    assert [r["icl"] for r in rows if (r["kappa"], r["seed"]) == (0.5, 1)] == [one.icl]
    assert one.exact and one.converged is None and np.all(np.isfinite(one.history["loss"]))
    first = (tmp_path / "t.csv").read_text()
    assert main(argv) == 0  # every run read from the cache: identical table, timings included
    assert (tmp_path / "t.csv").read_text() == first
    assert (tmp_path / "t.png").stat().st_size > 0
    assert main(["transformer", "--arch", "rnn", "-o", str(tmp_path / "x.png")]) == 2


def test_cli_shards_fill_one_cache_and_cached_only_reads_it(tmp_path):
    from icl_asymptotics.cli import main
    from icl_asymptotics.transformer_figures import read_csv

    base = ["transformer", "--arch", "linear", "--kappa", "0.5,2", "--d", "4", "--seeds", "2", "--steps",
            "20", "--batch", "16", "--cache", str(tmp_path / "c"), "--no-progress", "-o", str(tmp_path / "f.png")]
    assert main(base + ["--shard", "1/2"]) == 0 and not (tmp_path / "f.png").exists()
    assert main(base + ["--cached-only", "--csv", str(tmp_path / "half.csv")]) == 0
    half = read_csv(tmp_path / "half.csv")
    assert sorted(r["seed"] for r in half) == [1, 1]  # tasks 1 and 3: replicate 1 of each kappa
    assert main(base + ["--shard", "0/2"]) == 0
    assert main(base + ["--cached-only", "--csv", str(tmp_path / "all.csv")]) == 0
    assert len(read_csv(tmp_path / "all.csv")) == 4
    assert main(base + ["--shard", "2/2"]) == 2


def test_exact_rows_are_simulate_run():
    from icl_asymptotics.transformer_figures import exact_rows

    rows = exact_rows({"tau": [4.0, INF], "alpha": 2.0, "kappa": 1.0, "rho": 0.1}, d=4, n_seeds=2)
    sim = simulate.run(4, 4.0, 2.0, 1.0, 0.1, n_seeds=2)
    assert [r["icl"] for r in rows] == list(sim.icl) and [r["idg"] for r in rows] == list(sim.idg)
    assert {r["arch"] for r in rows} == {"exact"} and {r["tau"] for r in rows} == {4.0}  # tau = inf skipped
