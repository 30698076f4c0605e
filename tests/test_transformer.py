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
    ({"arch": "softmax", "lr": 0.0}, "lr must be"),
    ({"arch": "softmax", "batch": 0}, "batch must be"),
    # options the path that runs would ignore (the linear model: L-BFGS at finite tau, AdamW at inf)
    ({"arch": "linear", "lr": 1e-3}, "no effect for arch='linear' at finite tau"),
    ({"arch": "linear", "batch": 8}, "no effect for arch='linear' at finite tau"),
    ({"arch": "linear", "tau": INF, "gtol": 1e-3}, "no effect for arch='linear' at infinite tau"),
    # the paper's models and protocol
    ({"arch": "pnas", "tau": INF}, "tau must be finite for arch='pnas'"),
    ({"arch": "pnas", "model_type": 5}, "model_type must be one of 1, 2, 3, 4"),
    ({"arch": "pnas", "model_type": 1, "residual": False}, "residual has no effect for model_type=1"),
    ({"arch": "pnas", "residual": "yes"}, "residual must be True or False"),
    ({"arch": "pnas", "batch": 10 ** 6}, "batch must be at most n"),
    ({"arch": "pnas", "n_layers": 2}, "n_layers must be 1 for arch='pnas'"),
    ({"arch": "pnas", "heads": 2}, "no effect for arch='pnas'"),
    # memory: refused before anything is allocated
    ({"arch": "softmax", "d": 200, "tau": 50.0}, "GiB"),
    ({"arch": "pnas", "d": 400, "tau": 50.0}, "GiB"),
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


# ----------------------------------------------------------------------------- the paper's models
def _literal_forward(model, tok):
    """The authors' models written out literally (full attention matrices, causal mask with -inf,
    every token through every layer, the read-out of the last token), in float64: the reference for
    the re-associated fast forward of :class:`simulate.transformer.PNASTransformer`."""
    import jax.numpy as jnp

    def ln(x, sc, bi):
        m = x.mean(-1, keepdims=True)
        return (x - m) / jnp.sqrt(((x - m) ** 2).mean(-1, keepdims=True) + 1e-6) * sc + bi

    t = tok.shape[1]
    if model.model_type == 1:
        w, bias = model.qkv
        h = w.shape[1] // 3
        q, k, v = (tok @ w[:, i * h:(i + 1) * h] + bias[i * h:(i + 1) * h] for i in range(3))
        y = ((q @ jnp.swapaxes(k, 1, 2)) / np.sqrt(h) @ v)[:, -1]
    else:
        x = tok @ model.embed[0] + model.embed[1]
        for blk in model.blocks:
            h = x.shape[-1]
            q, k, v = (x @ blk.wqkv[:, i * h:(i + 1) * h] for i in range(3))
            s = jnp.where(jnp.tril(jnp.ones((t, t), bool)), (q @ jnp.swapaxes(k, 1, 2)) / np.sqrt(h), -jnp.inf)
            a = jax.nn.softmax(s, -1) @ v + (x if blk.residual else 0.0)
            p = ln(a, *blk.ln1)
            x = ln((a if blk.mlp is None else p @ blk.mlp[0] + blk.mlp[1]) + p, *blk.ln2)
        y = x[:, -1]
    return (y @ model.out[0] + model.out[1])[:, 0]


@pytest.mark.parametrize("model_type, residual", [(1, True), (2, True), (2, False), (3, True), (3, False),
                                                  (4, False)])
def test_pnas_fast_forward_is_the_literal_model(model_type, residual):
    # Same function, products re-associated: in float64 they agree to rounding (tolerance 1e-12,
    # about 1e4 x float64 eps for outputs of order 1 after a few layers).
    with jax.enable_x64(True):
        key = jax.random.key(model_type)
        model = T.PNASTransformer(5, 5, model_type, residual, key)
        model = jax.tree_util.tree_map(lambda a: a.astype(np.float64), model)
        tok = jax.random.normal(jax.random.key(7), (4, 7, 6), dtype=np.float64)
        np.testing.assert_allclose(np.asarray(model(tok)), np.asarray(_literal_forward(model, tok)),
                                   rtol=0, atol=1e-12)


def test_pnas_protocol_defaults_are_the_papers():
    # n = round(tau d^2) = 280 contexts, batch int(0.1 n) = 28, 1 + n // batch = 11 steps per epoch,
    # 20,000 epochs; lr = weight decay = 1e-4; width h = d; blocks of 100 epochs between checkpoints.
    cfg = T.check_train(20, 0.7, 1.0, INF, 0.01, arch="pnas")
    assert (cfg["n"], cfg["batch"], cfg["steps"], cfg["lr"], cfg["weight_decay"], cfg["width"],
            cfg["log_every"], cfg["model_type"], cfg["residual"]) == (280, 28, 220_000, 1e-4, 1e-4, 20,
                                                                      1100, 2, True)


@pytest.mark.parametrize("model_type", [1, 2, 3, 4])
def test_pnas_each_model_type_trains(model_type):
    res = T.train(4, 2.0, 1.0, 1.0, 0.01, arch="pnas", model_type=model_type, steps=60, log_every=30,
                  n_test=256, seed=0)
    assert list(res.history["step"]) == [30, 60] and res.config["batch"] == 3
    assert np.all(np.isfinite([res.icl, res.idg, res.icl_sem, res.idg_sem, *res.history["loss"]]))
    assert res.icl_sem > 0 and res.history["seconds"][-1] > 0


def test_pnas_killed_run_resumes_bit_identical(tmp_path):
    kw = dict(arch="pnas", model_type=3, residual=False, steps=90, log_every=30, n_test=256, seed=3)
    ref = T.train(4, 2.0, 1.0, 1.0, 0.01, **kw)
    ck = str(tmp_path / "run.npz")

    def kill_after_two_blocks(done, total, loss):
        if done == 60:
            raise KeyboardInterrupt  # as Ctrl-C or a killed process between two blocks

    with pytest.raises(KeyboardInterrupt):
        T.train(4, 2.0, 1.0, 1.0, 0.01, checkpoint=ck, progress=kill_after_two_blocks, **kw)
    res = T.train(4, 2.0, 1.0, 1.0, 0.01, checkpoint=ck, **kw)
    assert res.resumed_at == 60
    assert (res.icl, res.idg, res.icl_sem) == (ref.icl, ref.idg, ref.icl_sem)
    assert list(res.history["loss"]) == list(ref.history["loss"])
    # a larger budget resumes from the same checkpoint (constant learning rate); a smaller is refused
    more = T.train(4, 2.0, 1.0, 1.0, 0.01, checkpoint=ck, **{**kw, "steps": 120})
    assert more.resumed_at == 90 and list(more.history["loss"][:3]) == list(ref.history["loss"])
    with pytest.raises(ValueError, match="past the 90 steps"):
        T.train(4, 2.0, 1.0, 1.0, 0.01, checkpoint=ck, **kw)
    with pytest.raises(ValueError, match="another configuration"):
        T.train(4, 2.0, 1.0, 1.0, 0.01, checkpoint=ck, **{**kw, "model_type": 2})


def test_linear_attention_at_tau_inf_reaches_its_exact_finite_d_optimum():
    # kappa = tau = inf: pretraining and test laws coincide, so e_ICL(Gamma) is the population loss
    # and simulate.run(tau=inf)'s Gamma* (population moments) minimises it: trained >= optimum
    # exactly (up to float64 rounding, 1e-12). AdamW's stated tolerance at the default budget
    # (simulate.transformer.DEFAULTS): within 1% of the optimum (measured 0.04-0.2% at d = 6..20).
    d, rho = 6, 0.1
    opt = simulate.run(d, INF, 1.0, INF, rho).icl[0]
    res = T.train(d, INF, 1.0, INF, rho, arch="linear", seed=0)
    assert opt - 1e-12 <= res.icl <= opt * 1.01


def test_pnas_experiment_table_figure_and_cli(tmp_path, capsys):
    from icl_asymptotics import pnas_experiments as px
    from icl_asymptotics.cli import main

    out, cache = tmp_path / "fig6.csv", tmp_path / "cache"
    rows = px.run_experiment("fig6", cache_dir=cache, out=out, steps=22, values=(0.5, 1.0), seeds=(0, 1), d=4,
                             n_test=64, log=open(os.devnull, "w"))
    table = px.read_table(out)
    assert len(rows) == len(table) == 4 and set(table[0]) == set(px.COLUMNS)
    assert {(r["model_type"], r["residual"], r["tau"], r["kappa"]) for r in table} == {
        (3, False, 10.0, 0.5), (3, False, 10.0, 1.0)}
    again = px.run_experiment("fig6", cache_dir=cache, out=out, steps=22, values=(0.5, 1.0), seeds=(0, 1),
                              d=4, log=open(os.devnull, "w"))  # everything cached: nothing retrained
    assert again == rows
    assert main(["pnas", "fig6", "--cache", str(cache), "--csv", str(out), "--draw-only", "--ref-seeds", "2", "--markdown",
                 "-o", str(tmp_path / "f.png"), "--loss-figure", str(tmp_path / "loss.png"), "--d", "4"]) == 0
    assert (tmp_path / "f.png").stat().st_size > 0 and (tmp_path / "loss.png").stat().st_size > 0
    # --values trains only the named axis values (here a third kappa, one seed), beside the table's rows
    assert main(["pnas", "fig6", "--cache", str(cache), "--csv", str(out), "--steps", "22", "--values", "2",
                 "--seeds", "0", "--d", "4"]) == 0
    assert sorted((r["kappa"], r["seed"]) for r in px.read_table(out)) == [
        (0.5, 0), (0.5, 1), (1.0, 0), (1.0, 1), (2.0, 0)]
    out.write_bytes(b"".join(line for line in open(out, "rb") if b",2.0,0.01,0," not in line))  # back to 4 runs
    assert len(px.read_table(out)) == 4
    hist = px.loss_histories("fig6", cache, values=(0.5, 1.0), d=4)  # one history per run, to its last step
    assert len(hist) == 4 and all(h["step"][-1] == 22 and np.isfinite(h["loss"]).all() for h in hist)
    results = tmp_path / "results"
    results.mkdir()
    (results / "transformer_pnas_fig6.csv").write_bytes(out.read_bytes())
    made = px.write_figures(tmp_path / "figs", results_dir=results, cache_dir=cache, names=("fig6", "fig6_loss"),
                            ref_seeds=2)
    manifest = json.loads((tmp_path / "figs" / "manifest_pnas.json").read_text())
    assert manifest == json.loads(json.dumps(made))
    assert [r["file"] for r in manifest["figures"]] == ["transformer_pnas_fig6.png", "transformer_pnas_fig6_loss.png"]
    assert all((tmp_path / "figs" / r["file"]).stat().st_size > 0 for r in manifest["figures"])
    assert [(r["kappa"], r["seeds"], r["steps"]) for r in manifest["figures"]] == [([0.5, 1.0], 2, [22])] * 2
    table_md = capsys.readouterr().out
    assert "| kappa | type 3 ICL | IDG | (ICL - IDG)/ICL | seeds | steps | exact Gamma* ICL | exact Gamma* IDG |" in table_md
    assert table_md.count("| 22 |") == 2  # one row per kappa, 2 seeds each, the budget


def test_pnas_experiment_keeps_other_budgets_and_counts_checkpoint_progress(tmp_path):
    from icl_asymptotics import pnas_experiments as px

    assert px.PNAS_EPOCHS == T.PNAS_EPOCHS  # the JAX-free copy used by the estimate
    out, cache, null = tmp_path / "fig6.csv", tmp_path / "cache", open(os.devnull, "w")
    kw = dict(cache_dir=cache, out=out, values=(1.0,), seeds=(0,), d=4, n_test=64, log=null)
    short = px.run_experiment("fig6", steps=1100, **kw)  # 100 epochs at d = 4: a whole block, so 2,200 resumes it
    run = px.runs("fig6", values=(1.0,), seeds=(0,), d=4)[0]
    ckpt = cache / f"{px._run_name(run)}.npz"
    assert px.checkpoint_steps(ckpt) == 1100 and px.checkpoint_steps(tmp_path / "none.npz") == 0
    # the estimate of the longer run counts only the steps still to train
    assert px.estimate_seconds(run, 2200, 1100) == pytest.approx(px.estimate_seconds(run, 2200) / 2)
    longer = px.run_experiment("fig6", steps=2200, **kw)  # resumes from step 1,100
    table = px.read_table(out)
    assert sorted(r["steps"] for r in table) == [1100, 2200]  # the shorter budget's row is kept
    assert [r["icl"] for r in table if r["steps"] == 1100] == [short[0]["icl"]]
    assert [r["icl"] for r in table if r["steps"] == 2200] == [longer[0]["icl"]]
    summ = px.summarize(table, "kappa")
    assert list(summ) == [(3, 2200), (3, 1100)]  # one entry per budget, never averaged together, largest first
    assert summ[3, 1100]["icl"][0] == short[0]["icl"] and summ[3, 2200]["icl"][0] == longer[0]["icl"]
    px.run_experiment("fig6", steps=2200, **kw)  # all finished: the table is unchanged
    assert px.read_table(out) == table
