"""Trained attention models on the same in-context regression task (optional extra ``[transformer]``).

``train(d, tau, alpha, kappa, rho, arch=...)`` trains a network by gradient methods on exactly the
data model of :func:`simulate.run` and returns its test errors next to the training history. It
needs JAX, Equinox and Optax (``pip install 'icl-asymptotics[transformer]'``); ``import simulate``
loads none of them, ``import simulate.transformer`` does.

Data (THEORY.md sections 1 and 3). Sizes from :mod:`simulate._sizes` (``l = round(alpha d)``,
``k = round(kappa d)``, ``n = round(tau d^2)``); the random stream is
``simulate.stream(seed, replicate, {d, tau, alpha, kappa, rho, lam=0})``, the stream
:func:`simulate.run` uses at ``lam = 0``, and it is consumed in the same order: training tasks,
the task of each context, then the contexts. So at the same point and seed both architectures see
the same ``k`` tasks as :func:`simulate.run`, and ``arch='linear'`` at finite ``tau`` sees the
same contexts too (it draws them with :func:`simulate.sampler.sample_contexts`, whose statistic
``h`` is all linear attention reads). ``arch='softmax'`` needs the tokens themselves: after the
tasks it draws ``x_i ~ N(0, I/d)``, ``eps_i ~ N(0, rho)`` for the ``l + 1`` tokens of each of the
``n`` contexts from the same Generator. ``tau = inf`` means a fresh context every step: tokens
are drawn inside the compiled step by ``jax.random`` from a key taken from the same stream (after
the tasks), the task of each context uniform on the ``k`` tasks (a fresh ``N(0, I)`` task when
``kappa = inf``).

Models.

* ``arch='linear'``: the paper's linear attention. A context token is ``z_i = [x_i; y_i]``, the
  query ``z_q = [x_q; 0]``; keys ``K z_i``, queries ``Q z_q`` (``K, Q`` (d+1) x (d+1)) and values
  ``v y_i`` (the value reads the label, as in the paper's reduced parametrisation), so
  ``yhat = (v/l) sum_i y_i (K z_i)^T (Q z_q) = x_q^T Gamma h`` with
  ``Gamma = v Q[:, :d]^T K diag(1/d, .., 1/d, 1)``: exactly the ``Gamma`` of THEORY.md section 2,
  here a product of trained factors from a small random init. Test errors are exact
  (:func:`simulate.errors.test_errors` on that ``Gamma``). At finite ``tau`` it trains full-batch
  on the ``n`` contexts with L-BFGS (Optax, zoom line search) until the gradient norm is below
  ``gtol`` (the mean squared error in ``Gamma`` is a convex quadratic, the factorised loss has no
  spurious minima at this width, so for ``n > d(d+1)`` it converges to the unique least-squares =
  ridgeless ``Gamma*`` of :func:`simulate.run`); at ``tau = inf`` with AdamW on fresh batches.
* ``arch='softmax'``: a standard pre-norm Transformer. Input token ``[sqrt(d) x; y; 0]`` for the
  context, ``[sqrt(d) x_q; 0; 1]`` for the query (the last coordinate flags the query; no
  positions: the context is a set), a linear embedding to ``width``, ``n_layers`` blocks of
  ``x + MHA(LN(x))``, ``x + MLP(LN(x))`` (softmax attention over all ``l + 1`` tokens, ``heads``
  heads, GELU MLP of width ``mlp_ratio * width``), a final LayerNorm and a linear read-out of the
  query token. AdamW on batches of ``batch`` contexts (drawn with replacement from the ``n`` when
  ``tau`` is finite), linear warm-up then cosine decay. Test errors are Monte Carlo over
  ``n_test`` fresh contexts each (new tasks for ICL, the training tasks for IDG) with their
  standard errors.

Everything runs in float32 on CPU; each block of ``log_every`` steps is one jit-compiled
``lax.scan``. With the same arguments a run is bit-for-bit reproducible on the same machine and
JAX version (XLA CPU kernels are deterministic).
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import time
import zipfile
from dataclasses import dataclass, field, fields

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from asymptotics.params import check_int, check_scalar
from simulate._sizes import available_memory, check_d, context_length, sizes, task_count
from simulate.errors import test_errors
from simulate.io import atomic_path
from simulate.sampler import pretraining_tasks, sample_contexts
from simulate.seeding import stream
from simulate.stats import mean_sem

ARCHS = ("linear", "softmax", "pnas")


@dataclass(frozen=True)
class TrainOptions:
    """How a model is trained; ``None`` fields take the architecture's default (``DEFAULTS``).

    ``batch``: contexts per step (minibatch training). ``lr``: peak learning rate (AdamW).
    ``weight_decay``: AdamW's decoupled decay. ``warmup``: fraction of steps of linear warm-up.
    ``width``, ``heads``, ``mlp_ratio``: softmax model size. ``init_scale``: standard deviation of
    the linear model's initial factors times sqrt(fan-in). ``gtol``: linear full-batch stopping
    rule (gradient norm). ``log_every``: steps per logged loss (and per compiled block).
    ``n_test``: Monte Carlo test contexts (softmax). ``replicate``: index of the random stream.
    """

    batch: int | None = None
    lr: float | None = None
    weight_decay: float | None = None
    warmup: float | None = None
    width: int | None = None
    heads: int | None = None
    mlp_ratio: int | None = None
    init_scale: float | None = None
    gtol: float | None = None
    log_every: int | None = None
    n_test: int | None = None
    model_type: int | None = None
    residual: bool | None = None
    checkpoint: str | None = None
    replicate: int = 0


#: Per-architecture defaults; options outside an architecture's set are refused (it would ignore
#: them). For ``linear``, ``batch``, ``lr``, ``weight_decay``, ``warmup`` apply at ``tau = inf``
#: (AdamW) and ``gtol`` at finite ``tau`` (L-BFGS).
DEFAULTS = {
    "linear": {"batch": 256, "lr": 1e-2, "weight_decay": 0.0, "warmup": 0.02, "init_scale": 0.1,
               "gtol": 1e-6, "log_every": 50},
    "softmax": {"batch": 256, "lr": 1e-3, "weight_decay": 1e-4, "warmup": 0.05, "width": 64,
                "heads": 4, "mlp_ratio": 4, "log_every": 50, "n_test": 4096},
    # The paper's protocol: batch None means int(0.1 n); width None means d; log_every None means
    # 100 epochs of steps; checkpoint None means no checkpoint file.
    "pnas": {"model_type": 2, "residual": True, "batch": None, "lr": 1e-4, "weight_decay": 1e-4,
             "width": None, "log_every": None, "n_test": 32768, "checkpoint": None},
}
#: Default number of steps (L-BFGS iterations for the linear model at finite tau: an upper bound,
#: it stops at ``gtol``).
DEFAULT_STEPS = {"linear": 3000, "softmax": 3000}


@dataclass(frozen=True)
class TrainResult:
    """A trained model's test errors and training record (from :func:`train`).

    ``icl``, ``idg``: test errors on new tasks / on the pretraining tasks (new contexts);
    ``icl_sem``, ``idg_sem``: their Monte Carlo standard errors (0.0 where ``exact``);
    ``exact``: errors computed in closed form (linear model) rather than by Monte Carlo;
    ``history``: ``{"step": ..., "loss": ...}``, the training loss (mean over each logged block
    of steps; full-batch loss for the linear model at finite tau); ``config``: every argument and
    option in force plus the sizes ``l, k, n``; ``steps``: steps taken; ``converged``: whether the
    full-batch linear run met ``gtol`` (None where there is no stopping rule); ``grad_norm``: the
    final full-batch gradient norm (linear, finite tau); ``gamma``: the linear model's ``Gamma``
    (d x (d+1), float64) or None; ``seconds``: wall time of the training loop (compilation
    included); ``steps_per_second``.
    """

    icl: float
    idg: float
    icl_sem: float
    idg_sem: float
    exact: bool
    history: dict
    config: dict
    steps: int
    converged: bool | None
    grad_norm: float | None
    seconds: float
    steps_per_second: float
    gamma: np.ndarray | None = field(default=None, repr=False)
    resumed_at: int = 0

    def __repr__(self) -> str:
        c = self.config
        err = (f"e_icl = {self.icl:.5g}, e_idg = {self.idg:.5g} (exact)" if self.exact else
               f"e_icl = {self.icl:.5g} +- {self.icl_sem:.2g}, e_idg = {self.idg:.5g} +- "
               f"{self.idg_sem:.2g} (Monte Carlo, {c['n_test']} contexts each)")
        return (f"TrainResult(arch={c['arch']!r}, n_layers={c['n_layers']}, d={c['d']}, "
                f"tau={c['tau']:g}, alpha={c['alpha']:g}, kappa={c['kappa']:g}, rho={c['rho']:g}; "
                f"l={c['l']}, k={c['k']}, n={c['n']}; {self.steps} steps, "
                f"{self.steps_per_second:.3g} steps/s)\n  {err}; final training loss "
                f"{self.history['loss'][-1]:.5g}")


# ----------------------------------------------------------------------------- validation
def _applicable(arch: str, finite: bool) -> set:
    """The options that change something on the path ``arch`` runs (the others are refused)."""
    names = set(DEFAULTS[arch])
    if arch == "linear":  # L-BFGS at finite tau, AdamW at tau = inf
        names -= {"batch", "lr", "weight_decay", "warmup"} if finite else {"gtol"}
    return names


def train_memory(cfg: dict) -> float:
    """Estimated peak memory (bytes) of :func:`train` with the checked config ``cfg``: the training
    set (float64 draws and their float32 model input), a batch's activations and their gradients
    (about 12 arrays of ``batch (l+1) width`` and the ``batch (l+1)^2`` attention scores per layer),
    the Monte Carlo test chunk. An estimate used to refuse what cannot fit, not a bound."""
    d, l, n, arch = cfg["d"], cfg["l"], cfg["n"] or 0, cfg["arch"]
    t = l + 1
    if arch == "linear":
        return 8.0 * (8.0 * n * (d + 1) + 4.0 * (d + 1) ** 2) + 4.0 * cfg["batch"] * t * d * 4
    width = cfg["width"] or d
    layers = cfg["n_layers"] if arch == "softmax" else PNAS_MODEL_TYPES[cfg["model_type"]][1]
    heads = cfg.get("heads", 1)
    data = 8.0 * n * t * (d + 1) * 2 + 4.0 * n * t * (d + 2)
    acts = 4.0 * cfg["batch"] * layers * (12.0 * t * width * cfg.get("mlp_ratio", 1) + 3.0 * heads * t * t)
    test = 4.0 * 4096 * layers * (12.0 * t * width + 3.0 * heads * t * t)
    return data + acts + test


def check_train(d, tau, alpha, kappa, rho, arch="linear", n_layers=1, steps=None, seed=0,
                **options) -> dict:
    """Validate every argument of :func:`train` before any work; returns the full config.

    ``ValueError`` naming the argument for: an unknown ``arch``; ``n_layers < 1`` (or != 1 for
    ``linear`` and ``pnas``, whose depth is one attention layer / the ``model_type``); ``steps < 1``;
    ``seed < 0``; the parameter checks of :func:`simulate.run` (``d`` integer >= 2, ranges, sizes
    rounding to zero); ``tau = inf`` for ``pnas`` (its protocol needs a fixed training set); unknown
    options, options the path that runs would ignore (``linear``: ``batch, lr, weight_decay,
    warmup`` at finite tau, ``gtol`` at tau = inf), out-of-range option values; and a run whose
    estimated memory (:func:`train_memory`) exceeds the memory available.
    """
    if arch not in ARCHS:
        raise ValueError(f"arch must be one of {', '.join(map(repr, ARCHS))}; got {arch!r}")
    n_layers = check_int("n_layers", n_layers, 1)
    if arch in ("linear", "pnas") and n_layers != 1:
        why = "one attention layer reduces to Gamma" if arch == "linear" else "model_type sets the depth"
        raise ValueError(f"n_layers must be 1 for arch={arch!r} ({why}); got {n_layers}")
    seed = check_int("seed", seed, 0)
    d = check_d(d)
    tau = check_scalar("tau", tau)
    alpha, kappa, rho = check_scalar("alpha", alpha), check_scalar("kappa", kappa), check_scalar("rho", rho)
    finite = not math.isinf(tau)
    if not finite and arch == "pnas":
        raise ValueError("tau must be finite for arch='pnas': the paper's protocol trains on a fixed "
                         "set of n = tau d^2 contexts (use arch='linear' or 'softmax' for tau = inf)")
    if finite:
        l, k, n = sizes(d, tau, alpha, kappa)
    else:
        l, k, n = context_length(d, alpha), task_count(d, kappa), None
    known = {f.name for f in fields(TrainOptions)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValueError(f"unknown option(s) {unknown}; allowed: {', '.join(sorted(known))}")
    applicable = _applicable(arch, finite)
    ignored = sorted(name for name, v in options.items()
                     if v is not None and name != "replicate" and name not in applicable)
    if ignored:
        where = f"arch={arch!r}" + ("" if arch != "linear" else f" at {'finite' if finite else 'infinite'} tau")
        raise ValueError(f"option(s) {ignored} have no effect for {where}; "
                         f"its options are {', '.join(sorted(applicable))}, replicate")
    opts = {**{k_: v for k_, v in DEFAULTS[arch].items() if k_ in applicable},
            **{k_: v for k_, v in options.items() if v is not None}}
    if arch == "pnas":
        opts["model_type"] = check_int("model_type", opts["model_type"], 1)
        if opts["model_type"] not in PNAS_MODEL_TYPES:
            raise ValueError(f"model_type must be one of 1, 2, 3, 4 ({'; '.join(f'{t} = {v[0]}' for t, v in PNAS_MODEL_TYPES.items())}); "
                             f"got {opts['model_type']}")
        if not isinstance(opts["residual"], (bool, np.bool_)):
            raise ValueError(f"residual must be True or False; got {opts['residual']!r}")
        opts["residual"] = bool(opts["residual"])
        if opts["model_type"] == 1 and options.get("residual") is not None:
            raise ValueError("residual has no effect for model_type=1 (linear attention has no block)")
        opts["batch"] = max(1, int(0.1 * n)) if opts["batch"] is None else opts["batch"]
        opts["width"] = d if opts["width"] is None else opts["width"]
        if opts["checkpoint"] is not None:
            opts["checkpoint"] = os.fspath(opts["checkpoint"])
    for name in ("batch", "width", "heads", "mlp_ratio", "log_every"):
        if opts.get(name) is not None:
            opts[name] = check_int(name, opts[name], 1)
    if arch == "pnas" and opts["batch"] > n:
        raise ValueError(f"batch must be at most n = {n} (minibatches are drawn without replacement); "
                         f"got {opts['batch']}")
    if arch == "pnas":
        epoch = 1 + n // opts["batch"]  # the authors' steps per epoch
        steps = PNAS_EPOCHS * epoch if steps is None else check_int("steps", steps, 1)
        opts["log_every"] = min(100 * epoch, steps) if opts["log_every"] is None else opts["log_every"]
    else:
        steps = DEFAULT_STEPS[arch] if steps is None else check_int("steps", steps, 1)
    if "n_test" in opts:
        opts["n_test"] = check_int("n_test", opts["n_test"], 2)
    opts["replicate"] = check_int("replicate", opts.get("replicate", 0), 0)
    for name, lo, hi, zero_ok in (("lr", 0.0, math.inf, False), ("weight_decay", 0.0, math.inf, True),
                                  ("warmup", 0.0, 1.0, True), ("init_scale", 0.0, math.inf, False),
                                  ("gtol", 0.0, math.inf, False)):
        if name in opts:
            value = opts[name]
            ok = (not isinstance(value, bool) and isinstance(value, (int, float, np.floating, np.integer))
                  and (lo < value < hi or (zero_ok and value == 0)))
            if not ok:
                bound = f"{lo:g} {'<=' if zero_ok else '<'} {name} < {hi:g}"
                raise ValueError(f"{name} must be a number with {bound}; got {value!r}")
            opts[name] = float(value)
    if "heads" in opts and opts["width"] % opts["heads"]:
        raise ValueError(f"width must be a multiple of heads; got width={opts['width']}, heads={opts['heads']}")
    cfg = {"arch": arch, "n_layers": n_layers, "steps": steps, "seed": seed, "d": d, "tau": tau,
           "alpha": alpha, "kappa": kappa, "rho": rho, "l": l, "k": k, "n": n, **opts}
    need, free = train_memory({"batch": 0, "width": None, **cfg}), available_memory()
    if free is not None and need > free:
        raise ValueError(f"this run needs about {need / 2**30:.3g} GiB (d = {d}, l = {l}, n = {n} contexts, "
                         f"arch {arch!r}) but only {free / 2**30:.3g} GiB is available: use a smaller d or tau")
    return cfg


# ----------------------------------------------------------------------------- models
class LinearAttention(eqx.Module):
    """The paper's linear attention: keys ``K z_i``, queries ``Q z_q``, values ``v y_i`` (module docstring)."""

    K: jax.Array
    Q: jax.Array
    v: jax.Array

    def __init__(self, d: int, init_scale: float, key):
        kk, kq, kv = jax.random.split(key, 3)
        s = init_scale / math.sqrt(d + 1)
        self.K = s * jax.random.normal(kk, (d + 1, d + 1))
        self.Q = s * jax.random.normal(kq, (d + 1, d + 1))
        self.v = init_scale * jax.random.normal(kv, ())

    def gamma(self) -> jax.Array:
        """``Gamma = v Q[:, :d]^T K diag(1/d, .., 1/d, 1)`` (d x (d+1))."""
        d = self.K.shape[0] - 1
        scale = jnp.concatenate([jnp.full(d, 1.0 / d), jnp.ones(1)])
        return self.v * (self.Q[:, :d].T @ self.K) * scale

    def __call__(self, x_ctx, y_ctx, x_q):
        """Attention over explicit tokens of one context (x_ctx (l, d), y_ctx (l,), x_q (d,))."""
        z = jnp.concatenate([x_ctx, y_ctx[:, None]], axis=1)
        zq = jnp.concatenate([x_q, jnp.zeros(1)])
        scores = (z @ self.K.T) @ (self.Q @ zq)
        return self.v * jnp.mean(y_ctx * scores)

    def from_stats(self, h, x_q):
        """The same prediction from the context statistic ``h`` (n, d+1): ``x_q^T Gamma h``."""
        return jnp.einsum("nd,nd->n", x_q @ self.gamma(), h)


class _Block(eqx.Module):
    ln1: eqx.nn.LayerNorm
    attn: eqx.nn.MultiheadAttention
    ln2: eqx.nn.LayerNorm
    fc1: eqx.nn.Linear
    fc2: eqx.nn.Linear

    def __init__(self, width, heads, mlp_ratio, key):
        k1, k2, k3 = jax.random.split(key, 3)
        self.ln1 = eqx.nn.LayerNorm(width)
        self.attn = eqx.nn.MultiheadAttention(heads, width, key=k1)
        self.ln2 = eqx.nn.LayerNorm(width)
        self.fc1 = eqx.nn.Linear(width, mlp_ratio * width, key=k2)
        self.fc2 = eqx.nn.Linear(mlp_ratio * width, width, key=k3)

    def __call__(self, x):
        h = jax.vmap(self.ln1)(x)
        x = x + self.attn(h, h, h)
        h = jax.vmap(self.ln2)(x)
        return x + jax.vmap(self.fc2)(jax.nn.gelu(jax.vmap(self.fc1)(h)))


class SoftmaxTransformer(eqx.Module):
    """Pre-norm Transformer reading ``[sqrt(d) x; y; is_query]`` tokens, predicting the query label."""

    embed: eqx.nn.Linear
    blocks: list
    ln_f: eqx.nn.LayerNorm
    head: eqx.nn.Linear

    def __init__(self, d, width, heads, mlp_ratio, n_layers, key):
        keys = jax.random.split(key, n_layers + 2)
        self.embed = eqx.nn.Linear(d + 2, width, key=keys[0])
        self.blocks = [_Block(width, heads, mlp_ratio, k_) for k_ in keys[1:-1]]
        self.ln_f = eqx.nn.LayerNorm(width)
        self.head = eqx.nn.Linear(width, "scalar", key=keys[-1])

    def __call__(self, tokens):
        x = jax.vmap(self.embed)(tokens)
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x[-1]))


def softmax_tokens(x, y):
    """Model input of contexts ``x`` (b, l+1, d) with labels ``y`` (b, l+1); the last token is the
    query (its label is replaced by 0 and its flag set)."""
    b, t, d = x.shape
    flag = jnp.zeros((b, t, 1)).at[:, -1, 0].set(1.0)
    labels = y.at[:, -1].set(0.0)[..., None]
    return jnp.concatenate([math.sqrt(d) * x, labels, flag], axis=-1)


def context_stats(x, y):
    """Linear attention's statistic ``h`` (b, d+1) of contexts ``x`` (b, l+1, d), ``y`` (b, l+1)
    (the last token is the query and is not summed)."""
    xc, yc = x[:, :-1], y[:, :-1]
    l, d = xc.shape[1], xc.shape[2]
    return jnp.concatenate([(d / l) * jnp.einsum("bld,bl->bd", xc, yc),
                            jnp.mean(yc * yc, axis=1, keepdims=True)], axis=1)


def draw_contexts(key, W, l: int, rho: float):
    """``(x, y)`` of ``len(W)`` contexts of ``l + 1`` tokens with task rows ``W`` (jax.random)."""
    b, d = W.shape
    kx, ke = jax.random.split(key)
    x = jax.random.normal(kx, (b, l + 1, d)) / math.sqrt(d)
    y = jnp.einsum("btd,bd->bt", x, W) + math.sqrt(rho) * jax.random.normal(ke, (b, l + 1))
    return x, y


def _task_rows(key, tasks, b: int, d: int):
    if tasks is None:
        return jax.random.normal(key, (b, d))
    return tasks[jax.random.randint(key, (b,), 0, tasks.shape[0])]


# ----------------------------------------------------------------------------- the paper's models
#: The paper's model types (PNAS Fig. 5 / Fig. 6; docs/transformer.md): number of attention blocks
#: and whether each block has its linear Dense "MLP". Type 1 is linear attention on the raw tokens.
PNAS_MODEL_TYPES = {1: ("linear attention", 1, False), 2: ("1 x softmax attention", 1, False),
                    3: ("2 x (softmax attention + MLP)", 2, True), 4: ("3 x (softmax attention + MLP)", 3, True)}
#: Epochs of the paper's stored figure runs; each epoch is ``1 + P // batch`` AdamW steps.
PNAS_EPOCHS = 20_000
_LN_EPS = 1e-6  # flax.linen.LayerNorm's epsilon (the authors' models)
_MASKED = -1e30  # a causal-mask score: exp underflows to exactly 0 (the authors fill int32 min)


def _dense(key, fan_in: int, fan_out: int):
    """flax.linen.Dense's default initialisation: LeCun normal kernel (truncated normal of variance
    ``1/fan_in``), zero bias."""
    return jax.nn.initializers.lecun_normal()(key, (fan_in, fan_out), jnp.float32)


def _layer_norm(x, scale, bias):
    mean = jnp.mean(x, axis=-1, keepdims=True)
    var = jnp.mean(jnp.square(x - mean), axis=-1, keepdims=True)
    return (x - mean) * jax.lax.rsqrt(var + _LN_EPS) * scale + bias


def _linear(x, w, b=None):
    """``x @ w (+ b)`` for ``x`` (..., n) as one 2-D matrix product (XLA's CPU backend runs a 3-D
    product with a small batch dimension several times slower)."""
    y = (x.reshape(-1, x.shape[-1]) @ w).reshape(*x.shape[:-1], w.shape[-1])
    return y if b is None else y + b


class PNASBlock(eqx.Module):
    """One block of the paper's softmax models: single-head causal softmax attention (Q, K, V without
    bias, scores over ``sqrt(h)``), the attention residual (optional), LayerNorm, the linear Dense
    "MLP" (with bias; optional) with a skip from the LayerNorm output, LayerNorm."""

    wqkv: jax.Array
    ln1: tuple
    mlp: tuple | None
    ln2: tuple
    residual: bool = eqx.field(static=True)

    def __init__(self, h: int, mlp: bool, residual: bool, key):
        kq, kk, kv, km = jax.random.split(key, 4)
        # Q, K, V side by side: one product; each initialised as its own Dense (fan-in h).
        self.wqkv = jnp.concatenate([_dense(kq, h, h), _dense(kk, h, h), _dense(kv, h, h)], axis=1)
        ones, zeros = jnp.ones(h), jnp.zeros(h)
        self.ln1, self.ln2 = (ones, zeros), (ones, zeros)
        self.mlp = (_dense(km, h, h), zeros) if mlp else None
        self.residual = residual

    def __call__(self, x, last_only: bool = False):
        """``x`` (b, t, h) -> (b, t, h); ``last_only``: the last token's output only, (b, 1, h)
        (what a final block's read-out uses; every later operation is token-wise)."""
        h = x.shape[-1]
        wq, wk, wv = self.wqkv[:, :h], self.wqkv[:, h:2 * h], self.wqkv[:, 2 * h:]
        if last_only:  # the same products re-associated: O(t h) per context instead of O(t h^2)
            r = (x[:, -1] @ wq) @ wk.T  # K^T q = W_k (W_q^T x_q): scores s_j = x_j . r
            s = jnp.einsum("bth,bh->bt", x, r) / math.sqrt(h)
            a = (jnp.einsum("bt,bth->bh", jax.nn.softmax(s, axis=-1), x) @ wv)[:, None]
        else:
            qkv = _linear(x, self.wqkv)
            q, k, v = qkv[..., :h], qkv[..., h:2 * h], qkv[..., 2 * h:]
            s = (q @ jnp.swapaxes(k, 1, 2)) / math.sqrt(h)
            t = x.shape[1]  # causal: token i attends to tokens 0..i (the query, last, to all)
            s = jnp.where(jnp.tril(jnp.ones((t, t), dtype=bool)), s, _MASKED)
            a = jax.nn.softmax(s, axis=-1) @ v
        if self.residual:
            a = a + (x[:, -1:] if last_only else x)
        p = _layer_norm(a, *self.ln1)
        # The authors' block: with no MLP the skip adds the pre-LayerNorm sum to its LayerNorm.
        m = a if self.mlp is None else _linear(p, *self.mlp)
        return _layer_norm(m + p, *self.ln2)


class PNASTransformer(eqx.Module):
    """The paper's models (``PNAS_MODEL_TYPES``) on tokens ``[x; y]`` (the query's ``y`` = 0):
    type 1 linear attention on the raw tokens (Q, K, V Dense with bias to width ``h``, scores
    ``q.k / sqrt(h)`` over all ``l + 1`` tokens, no mask, no normalisation); types 2-4 a Dense
    embedding to ``h`` then 1-3 :class:`PNASBlock`. A Dense read-out of the last (query) token."""

    embed: tuple | None
    blocks: list
    qkv: tuple | None
    out: tuple
    model_type: int = eqx.field(static=True)

    def __init__(self, d: int, h: int, model_type: int, residual: bool, key):
        _, n_blocks, mlp = PNAS_MODEL_TYPES[model_type]
        keys = jax.random.split(key, n_blocks + 2)
        self.model_type = model_type
        if model_type == 1:
            kq, kk, kv = jax.random.split(keys[0], 3)
            self.qkv = (jnp.concatenate([_dense(k_, d + 1, h) for k_ in (kq, kk, kv)], axis=1),
                        jnp.zeros(3 * h))
            self.embed, self.blocks = None, []
        else:
            self.qkv = None
            self.embed = (_dense(keys[0], d + 1, h), jnp.zeros(h))
            self.blocks = [PNASBlock(h, mlp, residual, k_) for k_ in keys[1:-1]]
        self.out = (_dense(keys[-1], h, 1), jnp.zeros(1))

    def __call__(self, tokens):
        """Predictions (b,) for token arrays (b, l+1, d+1)."""
        if self.model_type == 1:
            w, bias = self.qkv
            h = w.shape[1] // 3
            # The same products re-associated (O(t d) per context): q.k_j = z_j.(W_k q) + b_k.q,
            # sum_j s_j v_j = (sum_j s_j z_j) W_v + (sum_j s_j) b_v.
            wq, wk, wv, bq, bk, bv = w[:, :h], w[:, h:2 * h], w[:, 2 * h:], bias[:h], bias[h:2 * h], bias[2 * h:]
            q = tokens[:, -1] @ wq + bq
            s = (jnp.einsum("btd,bd->bt", tokens, q @ wk.T) + (q @ bk)[:, None]) / math.sqrt(h)
            y = jnp.einsum("bt,btd->bd", s, tokens) @ wv + jnp.sum(s, axis=1, keepdims=True) * bv
        else:
            x = _linear(tokens, *self.embed)
            for i, block in enumerate(self.blocks):
                x = block(x, last_only=i == len(self.blocks) - 1)
            y = x[:, -1]
        return (y @ self.out[0] + self.out[1])[:, 0]


def pnas_tokens(x, y):
    """The paper's input ``[x; y]`` (b, l+1, d+1) of contexts ``x`` (b, l+1, d), labels ``y`` (b, l+1);
    the query's (last) label is set to 0."""
    return jnp.concatenate([x, y.at[:, -1].set(0.0)[..., None]], axis=-1)


# ----------------------------------------------------------------------------- training
@dataclass(frozen=True)
class _Spec:
    """What a compiled training block depends on besides array shapes (hashable: the jit cache key,
    so runs with the same configuration, e.g. other seeds, reuse the compiled code)."""

    arch: str
    finite: bool
    d: int
    l: int
    rho: float
    batch: int
    lr: float
    weight_decay: float
    warmup: float
    steps: int
    gtol: float


def _spec(cfg) -> _Spec:
    return _Spec(cfg["arch"], cfg["n"] is not None, cfg["d"], cfg["l"], cfg["rho"], cfg.get("batch", 0),
                 cfg.get("lr", 0.0), cfg.get("weight_decay", 0.0), cfg.get("warmup", 0.0), cfg["steps"],
                 cfg.get("gtol", 0.0))


def _adamw(spec: _Spec):
    """AdamW with linear warm-up over ``warmup * steps`` steps, then cosine decay to 0."""
    warm = int(round(spec.warmup * spec.steps))
    if warm >= 1:
        schedule = optax.warmup_cosine_decay_schedule(0.0, spec.lr, warm, spec.steps, end_value=0.0)
    else:
        schedule = optax.cosine_decay_schedule(spec.lr, spec.steps)
    return optax.adamw(schedule, weight_decay=spec.weight_decay)


def _batch(spec: _Spec, key, data):
    """One training batch: rows of the training set drawn with replacement (finite tau), or fresh
    contexts of tasks drawn uniformly from ``data`` (the k tasks; None: fresh N(0, I) tasks)."""
    if spec.finite:
        idx = jax.random.randint(key, (spec.batch,), 0, data[-1].shape[0])
        return tuple(a[idx] for a in data)
    kw, kc = jax.random.split(key)
    x, y = draw_contexts(kc, _task_rows(kw, data, spec.batch, spec.d), spec.l, spec.rho)
    if spec.arch == "linear":
        return context_stats(x, y), x[:, -1], y[:, -1]
    return softmax_tokens(x, y), y[:, -1]


def _loss(spec: _Spec, model, batch):
    """Mean squared error of the query-label predictions."""
    if spec.arch == "linear":
        h, x_q, y_q = batch
        pred = model.from_stats(h, x_q)
    else:
        tokens, y_q = batch
        pred = jax.vmap(model)(tokens)
    return jnp.mean((y_q - pred) ** 2)


@eqx.filter_jit
def _adamw_block(model, state, key, data, spec: _Spec, length: int):
    """``length`` AdamW steps as one compiled ``lax.scan``; returns the mean batch loss too."""
    params, static = eqx.partition(model, eqx.is_inexact_array)
    opt = _adamw(spec)

    def step(carry, k_):
        p, s = carry
        loss, grads = jax.value_and_grad(
            lambda q: _loss(spec, eqx.combine(q, static), _batch(spec, k_, data)))(p)
        updates, s = opt.update(grads, s, p)
        return (optax.apply_updates(p, updates), s), loss

    (params, state), losses = jax.lax.scan(step, (params, state), jax.random.split(key, length))
    return eqx.combine(params, static), state, jnp.mean(losses)


def _minibatch_train(model, data, cfg, key):
    """AdamW on batches (:func:`_batch`), ``log_every`` steps per compiled block."""
    spec = _spec(cfg)
    state = _adamw(spec).init(eqx.filter(model, eqx.is_inexact_array))
    hist_step, hist_loss, done = [], [], 0
    while done < cfg["steps"]:
        m = min(cfg["log_every"], cfg["steps"] - done)
        key, sub = jax.random.split(key)
        model, state, loss = _adamw_block(model, state, sub, data, spec, m)
        done += m
        hist_step.append(done)
        hist_loss.append(float(loss))
    return model, hist_step, hist_loss


@eqx.filter_jit
def _lbfgs_block(model, state, done, data, spec: _Spec, length: int):
    """``length`` full-batch L-BFGS iterations; once the gradient norm is below ``gtol`` the
    parameters stop changing (``done``)."""
    params, static = eqx.partition(model, eqx.is_inexact_array)
    f = lambda p: _loss(spec, eqx.combine(p, static), data)  # noqa: E731
    opt = optax.lbfgs()
    value_and_grad = optax.value_and_grad_from_state(f)

    def step(carry, _):
        p, s, stopped = carry
        value, grad = value_and_grad(p, state=s)
        gnorm = optax.tree_utils.tree_norm(grad)
        updates, s_new = opt.update(grad, s, p, value=value, grad=grad, value_fn=f)
        stop = stopped | (gnorm < spec.gtol)
        keep = lambda old, new: jnp.where(stop, old, new)  # noqa: E731
        p = jax.tree_util.tree_map(keep, p, optax.apply_updates(p, updates))
        s = jax.tree_util.tree_map(keep, s, s_new)
        return (p, s, stop), (value, stop)

    (params, state, done), (values, stops) = jax.lax.scan(step, (params, state, done), None, length=length)
    return eqx.combine(params, static), state, done, values, stops


def _lbfgs_train(model, data, cfg):
    """Full-batch L-BFGS until the gradient norm is below ``gtol`` or ``steps`` iterations."""
    spec = _spec(cfg)
    state = optax.lbfgs().init(eqx.filter(model, eqx.is_inexact_array))
    hist_step, hist_loss, taken, done = [], [], 0, jnp.asarray(False)
    while taken < cfg["steps"]:
        m = min(cfg["log_every"], cfg["steps"] - taken)
        model, state, done, values, stops = _lbfgs_block(model, state, done, data, spec, m)
        active = int(np.sum(~np.asarray(stops)))  # iterations that changed the parameters
        taken += active
        if active:
            hist_step.append(taken)
            hist_loss.append(float(np.asarray(values)[active - 1]))
        if bool(done):
            break
    params, static = eqx.partition(model, eqx.is_inexact_array)
    final_loss, grad = jax.value_and_grad(lambda p: _loss(spec, eqx.combine(p, static), data))(params)
    hist_step.append(taken)
    hist_loss.append(float(final_loss))
    return model, hist_step, hist_loss, taken, float(optax.tree_utils.tree_norm(grad))


# ----------------------------------------------------------------------------- the paper's protocol
@dataclass(frozen=True)
class _PNASSpec:
    """What a compiled block of the paper's protocol depends on besides shapes (the jit cache key)."""

    batch: int
    lr: float
    weight_decay: float


def _pnas_adamw(spec: _PNASSpec):
    """optax.adamw at a constant learning rate (the authors' ``optax.adamw(learning_rate=1e-4)``:
    b1 0.9, b2 0.999, eps 1e-8, decoupled weight decay on every parameter)."""
    return optax.adamw(spec.lr, weight_decay=spec.weight_decay)


@eqx.filter_jit
def _pnas_block(model, state, key, start, data, spec: _PNASSpec, length: int):
    """Steps ``start .. start + length - 1`` of AdamW as one compiled ``lax.scan``. Step ``s`` draws
    its minibatch (``batch`` distinct contexts of the fixed training set, without replacement) with
    ``fold_in(key, s)``, so a run resumed from any block boundary replays the same steps."""
    params, static = eqx.partition(model, eqx.is_inexact_array)
    opt = _pnas_adamw(spec)
    tokens, targets = data

    def step(carry, s):
        p, st = carry
        idx = jax.random.choice(jax.random.fold_in(key, s), targets.shape[0], (spec.batch,), replace=False)

        def loss(q):
            return jnp.mean(jnp.square(targets[idx] - eqx.combine(q, static)(tokens[idx])))

        value, grads = jax.value_and_grad(loss)(p)
        updates, st = opt.update(grads, st, p)
        return (optax.apply_updates(p, updates), st), value

    (params, state), losses = jax.lax.scan(step, (params, state), start + jnp.arange(length))
    return eqx.combine(params, static), state, jnp.mean(losses)


@eqx.filter_jit
def _pnas_sq_errors(model, tokens, targets):
    return jnp.square(targets - model(tokens))


def _pnas_train_loss(model, data, chunk: int = 8192) -> float:
    """Mean squared error on the whole training set (float64 accumulation)."""
    tokens, targets = data
    total = 0.0
    for i in range(0, targets.shape[0], chunk):
        total += float(np.sum(np.asarray(_pnas_sq_errors(model, tokens[i:i + chunk], targets[i:i + chunk]),
                                         dtype=np.float64)))
    return total / targets.shape[0]


def _pnas_mc_error(model, key, tasks, cfg, chunk: int = 4096):
    """Monte Carlo test error over ``n_test`` fresh contexts (tasks: rows of ``tasks``, or N(0, I))."""
    out, left = [], cfg["n_test"]
    while left > 0:
        b = min(chunk, left)
        key, kw, kc = jax.random.split(key, 3)
        x, y = draw_contexts(kc, _task_rows(kw, tasks, b, cfg["d"]), cfg["l"], cfg["rho"])
        out.append(np.asarray(_pnas_sq_errors(model, pnas_tokens(x, y), y[:, -1]), dtype=np.float64))
        left -= b
    return mean_sem(np.concatenate(out))


#: Settings that do not change a pnas trajectory: a checkpoint of the same run with fewer steps is
#: a prefix of it (constant learning rate; step s draws with fold_in(key, s)), so it resumes.
_NOT_IN_DIGEST = ("checkpoint", "steps", "n_test")


def _config_digest(cfg: dict) -> str:
    """What a checkpoint must match to be resumed: every setting that changes the trajectory."""
    keep = {k_: v for k_, v in cfg.items() if k_ not in _NOT_IN_DIGEST}
    return hashlib.sha256(json.dumps(keep, sort_keys=True, default=str).encode()).hexdigest()


def _save_checkpoint(path, model, state, done: int, history: dict, digest: str) -> None:
    """Parameters, optimiser state, steps done and the history, written atomically (``np.savez``)."""
    leaves = jax.tree_util.tree_leaves((eqx.filter(model, eqx.is_inexact_array), state))
    arrays = {f"leaf{i}": np.asarray(a) for i, a in enumerate(leaves)}
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, done=np.int64(done), digest=np.array(digest), n_leaves=np.int64(len(leaves)),
                 hist_step=np.asarray(history["step"], dtype=np.int64),
                 hist_loss=np.asarray(history["loss"], dtype=np.float64),
                 hist_batch_loss=np.asarray(history["batch_loss"], dtype=np.float64),
                 hist_seconds=np.asarray(history["seconds"], dtype=np.float64), **arrays)


def _load_checkpoint(path, model, state, digest: str):
    """``(model, state, done, history)`` from a checkpoint of the same configuration, or None (no
    file). A checkpoint of another configuration or an unreadable one raises ``ValueError`` naming
    the file (nothing is overwritten silently)."""
    if not os.path.exists(path):
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            if str(z["digest"]) != digest:
                raise ValueError(f"checkpoint {path} belongs to another configuration; remove it or "
                                 "choose another checkpoint path")
            saved = [z[f"leaf{i}"] for i in range(int(z["n_leaves"]))]
            done = int(z["done"])
            history = {name: [v.item() for v in z["hist_" + name]]
                       for name in ("step", "loss", "batch_loss", "seconds")}
    except (OSError, KeyError, zipfile.BadZipFile, EOFError) as exc:
        raise ValueError(f"checkpoint {path} is unreadable ({exc}); remove it to start afresh") from exc
    params, static = eqx.partition(model, eqx.is_inexact_array)
    leaves, treedef = jax.tree_util.tree_flatten((params, state))
    if len(saved) != len(leaves) or any(a.shape != np.shape(b) for a, b in zip(saved, leaves)):
        raise ValueError(f"checkpoint {path} does not match the model's parameter shapes")
    params, state = jax.tree_util.tree_unflatten(
        treedef, [jnp.asarray(a, dtype=jnp.asarray(b).dtype) for a, b in zip(saved, leaves)])
    return eqx.combine(params, static), state, done, history


def _pnas_train(model, data, cfg, key, progress=None):
    """The paper's protocol: AdamW steps on minibatches of the fixed training set, blocks of
    ``log_every`` steps, the whole-set training loss after each block, a checkpoint after each block
    when ``cfg['checkpoint']`` names a file (resumed from if present)."""
    spec = _PNASSpec(cfg["batch"], cfg["lr"], cfg["weight_decay"])
    state = _pnas_adamw(spec).init(eqx.filter(model, eqx.is_inexact_array))
    history = {"step": [], "loss": [], "batch_loss": [], "seconds": []}
    done, path, digest = 0, cfg.get("checkpoint"), _config_digest(cfg)
    if path is not None:
        loaded = _load_checkpoint(path, model, state, digest)
        if loaded is not None:
            model, state, done, history = loaded
            if done > cfg["steps"]:
                raise ValueError(f"checkpoint {path} is at step {done}, past the {cfg['steps']} steps "
                                 "asked for; ask for at least as many steps or use another checkpoint")
    resumed_at = done
    before, t0 = (history["seconds"][-1] if history["seconds"] else 0.0), time.perf_counter()
    while done < cfg["steps"]:
        m = min(cfg["log_every"], cfg["steps"] - done)
        model, state, batch_loss = _pnas_block(model, state, key, jnp.int32(done), data, spec, m)
        done += m
        history["seconds"].append(before + time.perf_counter() - t0)
        history["step"].append(done)
        history["batch_loss"].append(float(batch_loss))
        history["loss"].append(_pnas_train_loss(model, data))
        if path is not None:
            _save_checkpoint(path, model, state, done, history, digest)
        if progress is not None:
            progress(done, cfg["steps"], history["loss"][-1])
    return model, history, resumed_at


def train(d, tau, alpha, kappa, rho, *, arch: str = "linear", n_layers: int = 1, steps: int | None = None,
          seed: int = 0, progress=None, **options) -> TrainResult:
    """Train ``arch`` on the pretraining data of the point ``(d, tau, alpha, kappa, rho)`` and test it.

    Data, models, optimisers and errors: module docstring. ``arch='linear'`` (the paper's linear
    attention; exact errors), ``'softmax'`` (pre-norm Transformer; Monte Carlo errors with
    standard errors) or ``'pnas'`` (the paper's model types 1-4 and training protocol; Monte Carlo
    errors). ``n_layers``: Transformer blocks (``softmax`` only). ``steps``: optimiser steps
    (default ``DEFAULT_STEPS``; for ``pnas`` the paper's 20,000 epochs of ``1 + n // batch``
    steps; for the linear model at finite ``tau``, the most L-BFGS iterations, stopping at
    ``gtol``). ``seed``: entropy of the random stream; ``progress``: for ``pnas``, a callable
    ``progress(steps_done, steps_total, training_loss)`` called after every block of ``log_every``
    steps; ``options``: the fields of :class:`TrainOptions` (``replicate`` selects the stream's
    replicate, as in :func:`simulate.run_replicate`; ``checkpoint``, for ``pnas``, a file written
    after every block and resumed from when it exists: a killed run resumes there and ends
    bit-identical to one never interrupted). Bad input raises ``ValueError`` before any work.
    """
    cfg = check_train(d, tau, alpha, kappa, rho, arch=arch, n_layers=n_layers, steps=steps, seed=seed,
                      **options)
    d, l, k, n, rho = cfg["d"], cfg["l"], cfg["k"], cfg["n"], cfg["rho"]
    finite = n is not None
    point = {"d": d, "tau": cfg["tau"], "alpha": cfg["alpha"], "kappa": cfg["kappa"], "rho": rho, "lam": 0.0}
    rng = stream(seed, cfg["replicate"], point)
    t0 = time.perf_counter()
    if finite:  # the same draws, in the same order, as simulate.run: tasks, then the task per context
        tasks, per_context = pretraining_tasks(d, k, n, rng)
    else:
        tasks = None if k is None else pretraining_tasks(d, k, 1, rng)[0]
    f32 = lambda a: jnp.asarray(a, dtype=jnp.float32)  # noqa: E731
    converged = gnorm = None
    if arch == "linear" and finite:
        ctx = sample_contexts(per_context, l, rho, rng)  # simulate.run's contexts at this seed
        model = LinearAttention(d, cfg["init_scale"], jax.random.key(int(rng.integers(0, 2 ** 32))))
        model, hs, hl, taken, gnorm = _lbfgs_train(model, (f32(ctx.h), f32(ctx.x_query), f32(ctx.y_query)), cfg)
        converged = gnorm < cfg["gtol"]
    else:
        if finite:  # softmax, pnas: explicit tokens, same Generator, after the tasks
            x = rng.standard_normal((n, l + 1, d)) / math.sqrt(d)
            y = np.einsum("btd,bd->bt", x, per_context) + math.sqrt(rho) * rng.standard_normal((n, l + 1))
            tokens = pnas_tokens if arch == "pnas" else softmax_tokens
            data = (tokens(f32(x), f32(y)), f32(y[:, -1]))
            del x, y
        else:
            data = None if tasks is None else f32(tasks)
        kinit, ktrain, ktest = jax.random.split(jax.random.key(int(rng.integers(0, 2 ** 32))), 3)
        resumed_at = 0
        if arch == "pnas":
            model = PNASTransformer(d, cfg["width"], cfg["model_type"], cfg["residual"], kinit)
            model, hist, resumed_at = _pnas_train(model, data, cfg, ktrain, progress)
            hs, hl = hist["step"], hist["loss"]
        elif arch == "linear":
            model = LinearAttention(d, cfg["init_scale"], kinit)
        else:
            model = SoftmaxTransformer(d, cfg["width"], cfg["heads"], cfg["mlp_ratio"], n_layers, kinit)
        if arch != "pnas":
            model, hs, hl = _minibatch_train(model, data, cfg, ktrain)
        taken = cfg["steps"]
    seconds = time.perf_counter() - t0
    history = {"step": np.array(hs), "loss": np.array(hl)}
    if arch == "pnas":
        history["batch_loss"] = np.array(hist["batch_loss"])
        history["seconds"] = np.array(hist["seconds"])  # cumulative training wall time, resumed runs included
        kicl, kidg = jax.random.split(ktest)
        icl, icl_sem = _pnas_mc_error(model, kicl, None, cfg)
        idg, idg_sem = _pnas_mc_error(model, kidg, f32(tasks), cfg)
        return TrainResult(icl, idg, icl_sem, idg_sem, False, history, cfg, taken, None, None, seconds,
                           (taken - resumed_at) / seconds, None, resumed_at)
    if arch == "linear":
        gamma = np.asarray(model.gamma(), dtype=np.float64)
        if tasks is None:  # tau = kappa = inf: the pretraining tasks are fresh N(0, I) draws, IDG = ICL
            icl, _ = test_errors(gamma, np.zeros((1, d)), l, rho)
            idg = icl
        else:
            icl, idg = test_errors(gamma, tasks, l, rho)
        return TrainResult(icl, idg, 0.0, 0.0, True, history, cfg, taken, converged, gnorm, seconds,
                           taken / seconds, gamma)
    kicl, kidg = jax.random.split(ktest)
    icl, icl_sem = _mc_error(model, kicl, None, cfg)
    if tasks is None:  # tau = kappa = inf: the pretraining tasks are fresh draws, so IDG is ICL
        idg, idg_sem = icl, icl_sem
    else:
        idg, idg_sem = _mc_error(model, kidg, f32(tasks), cfg)
    return TrainResult(icl, idg, icl_sem, idg_sem, False, history, cfg, taken, None, None, seconds,
                       taken / seconds, None)


@eqx.filter_jit
def _sq_errors(model, key, tasks, b: int, d: int, l: int, rho: float):
    kw, kc = jax.random.split(key)
    x, y = draw_contexts(kc, _task_rows(kw, tasks, b, d), l, rho)
    return (y[:, -1] - jax.vmap(model)(softmax_tokens(x, y))) ** 2


def _mc_error(model, key, tasks, cfg, chunk: int = 1024):
    """Monte Carlo test error over ``n_test`` fresh contexts (tasks: rows of ``tasks``, or N(0, I))."""
    out, left = [], cfg["n_test"]
    while left > 0:
        b = min(chunk, left)
        key, sub = jax.random.split(key)
        out.append(np.asarray(_sq_errors(model, sub, tasks, b, cfg["d"], cfg["l"], cfg["rho"]), dtype=np.float64))
        left -= b
    return mean_sem(np.concatenate(out))


# ----------------------------------------------------------------------------- sweep runner
def train_replicate(d, tau, alpha, kappa, rho, *, seed: int, replicate: int, arch: str = "linear",
                    n_layers: int = 1, steps: int | None = None, **options) -> dict:
    """:func:`train` as a :func:`simulate.sweep` runner: replicate ``replicate`` of the point, a flat
    dict with ``icl, idg`` and the columns ``arch, n_layers, steps, icl_sem, idg_sem, exact,
    final_loss, converged, l, k, n, seconds, steps_per_second``."""
    res = train(d, tau, alpha, kappa, rho, arch=arch, n_layers=n_layers, steps=steps, seed=seed,
                replicate=replicate, **options)
    c = res.config
    return {"icl": float(res.icl), "idg": float(res.idg), "icl_sem": float(res.icl_sem),
            "idg_sem": float(res.idg_sem), "arch": arch, "n_layers": c["n_layers"], "steps": res.steps,
            "exact": res.exact, "final_loss": float(res.history["loss"][-1]),
            "converged": res.converged, "l": c["l"], "k": c["k"], "n": c["n"],
            "seconds": res.seconds, "steps_per_second": res.steps_per_second}


def _validate_train_replicate(d, tau=None, alpha=None, kappa=None, rho=None, arch="linear", n_layers=1,
                              steps=None, **options):
    missing = [p for p, v in (("tau", tau), ("alpha", alpha), ("kappa", kappa), ("rho", rho)) if v is None]
    if missing:
        raise ValueError(f"the transformer runner needs parameter(s) {missing} at every grid point")
    check_train(d, tau, alpha, kappa, rho, arch=arch, n_layers=n_layers, steps=steps, **options)


train_replicate.validate = _validate_train_replicate

__all__ = ["ARCHS", "DEFAULTS", "DEFAULT_STEPS", "LinearAttention", "PNAS_EPOCHS", "PNAS_MODEL_TYPES",
           "PNASBlock", "PNASTransformer", "SoftmaxTransformer", "TrainOptions", "pnas_tokens", "train_memory",
           "TrainResult", "check_train", "context_stats", "draw_contexts", "softmax_tokens", "train",
           "train_replicate"]
