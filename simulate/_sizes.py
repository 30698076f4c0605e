"""Finite-d sizes: the one place that turns (d, tau, alpha, kappa) into token, task and context counts,
and what a replicate of those sizes costs (memory, operations), checked before anything is allocated."""
from __future__ import annotations

import math
import numbers
import os
import warnings

import numpy as np

from asymptotics.params import check_alpha_test, check_scalar


def _round_half_up(x: float) -> int:
    return int(math.floor(x + 0.5))


#: Largest dimension accepted: far beyond any memory (the estimate refuses much smaller d), and
#: small enough that every size and estimate is a finite float.
MAX_D = 10 ** 9


def check_d(d) -> int:
    """Return ``d`` as an int after checking it is an integer with ``2 <= d <= MAX_D`` (integral
    floats and 0-d numpy arrays accepted); ``TypeError`` for a non-number."""
    if isinstance(d, np.ndarray) and d.ndim == 0 and d.dtype.kind in "iuf":
        d = d[()]
    if isinstance(d, (bool, np.bool_, np.timedelta64)) or not isinstance(d, numbers.Real):
        raise TypeError(f"d must be an integer >= 2; got {d!r} ({type(d).__name__})")
    if not math.isfinite(d) or d != int(d) or d < 2 or d > MAX_D:
        raise ValueError(f"d must be an integer >= 2 (and <= {MAX_D:.0e}); got {d!r}")
    return int(d)


def sizes(d, tau, alpha, kappa) -> tuple[int, int | None, int]:
    """Token, task and context counts ``(l, k, n)`` of a finite-d simulation.

    ``l = round(alpha d)`` context length, ``k = round(kappa d)`` training tasks (``None`` for
    ``kappa = inf``: a fresh task per context), ``n = round(tau d^2)`` pretraining contexts
    (THEORY.md section 3 scaling). Rounding is half-up. Raises ``ValueError`` for ``d`` not an
    integer >= 2, parameters outside their ranges (same messages as the theory), ``tau = inf``
    (infinitely many contexts) and sizes that round to zero.
    """
    d = check_d(d)
    tau = check_scalar("tau", tau)
    if math.isinf(tau):
        raise ValueError("tau = inf (infinitely many pretraining contexts) is not simulable; "
                         "use the asymptotic theory, or a finite tau")
    l = context_length(d, alpha)
    n = _round_half_up(tau * d * d)
    if n < 1:
        raise ValueError(f"tau*d^2 = {tau * d * d:g} rounds to n = 0 contexts; "
                         f"need tau >= {0.5 / d ** 2:g} at d = {d}")
    return l, task_count(d, kappa), n


def context_length(d, alpha, name: str = "alpha") -> int:
    """``l = round(alpha d)`` (half-up), refusing a context of zero tokens; ``name``: the argument the
    length per dimension came from (``alpha`` or ``alpha_test``), named in the messages."""
    d = check_d(d)
    alpha = check_scalar("alpha", alpha) if name == "alpha" else float(check_alpha_test(alpha))
    l = _round_half_up(alpha * d)
    if l < 1:
        raise ValueError(f"{name}*d = {alpha * d:g} rounds to l = 0 tokens; need {name} >= {0.5 / d:g} "
                         f"at d = {d}")
    return l


def task_count(d, kappa) -> int | None:
    """``k = round(kappa d)`` (half-up) training tasks, ``None`` for ``kappa = inf``; refuses k = 0."""
    d, kappa = check_d(d), check_scalar("kappa", kappa)
    if math.isinf(kappa):
        return None
    if not math.isfinite(kappa * d):
        raise ValueError(f"kappa*d = {kappa:g}*{d} overflows float64; use kappa = inf (a fresh task "
                         f"per context), which it approximates")
    k = _round_half_up(kappa * d)
    if k < 1:
        raise ValueError(f"kappa*d = {kappa * d:g} rounds to k = 0 tasks; need kappa >= {0.5 / d:g} at d = {d}")
    return k


#: Effective speed assumed for the time estimate (one core of a laptop-class CPU with BLAS).
FLOPS_PER_SECOND = 1e9
#: CG steps assumed for the time estimate (measured 20-200 with the Kronecker preconditioner).
CG_STEPS = 100


def resources(d: int, l: int, k: int | None, n: int, solver: str, dtype: str = "float64") -> tuple[float, float]:
    """Estimated peak memory (bytes) and floating-point operations of one replicate.

    Memory, calibrated with ``tracemalloc`` at d = 12..40 (measured peak / estimate: dual 0.8, cg 0.5,
    direct 0.7-0.9; an upper estimate): the sampled
    contexts (``x``, ``h``, ``y``, each context's task: about 6 float64 arrays of ``n (d+1)``), the
    ``k`` tasks, and the solver's work space: ``dual`` the n x n kernel, its Cholesky factor and a
    product (3.5 n^2 entries), ``cg`` a few n x (d+1) arrays, ``direct`` the D x D Gram and its
    factorisation (3 D^2, D = d(d+1)) plus a 2048-context chunk of features. Operations: the kernel
    product and factorisation (``n^2 d + n^3/3``), CG_STEPS steps of ``4 n d^2``, or the Gram
    (``n D^2 + D^3/3``). An estimate, not a bound: it is used to refuse what cannot fit.
    """
    s = 4 if dtype == "float32" else 8
    if solver == "population":  # tau = inf: the k tasks and a few (d+1) x (d+1) moment matrices
        return 8.0 * ((k or 0) * d + 6.0 * (d + 1) ** 2), float(k or 1) * d * d + (d + 1) ** 3
    D = d * (d + 1)
    memory = 8.0 * (6.0 * n * (d + 1) + (k or 0) * d)
    if solver == "dual":
        n = float(n)  # products of floats overflow to inf (never an OverflowError as ** can)
        memory += 3.5 * s * n * n
        flops = n * n * (d + 1) * 2 + n * n * n / 3
    elif solver == "cg":
        memory += s * (3.0 * n * (d + 1) + 10.0 * (d + 1) ** 2)
        flops = CG_STEPS * 4.0 * n * d * (d + 1)
    else:
        D = float(D)
        memory += s * (3.0 * D * D + 2.0 * min(n, 2048) * D)
        flops = float(n) * D * D + D * D * D / 3
    return memory, flops


def available_memory() -> float | None:
    """Bytes of memory available to a new allocation (Linux ``MemAvailable``, else the physical
    memory from ``sysconf``); None where neither is known (then nothing is refused)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return float(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None


#: Replicates estimated above this many bytes are announced with a :class:`LargeSimulationWarning`.
WARN_BYTES = 2.0 ** 31


class LargeSimulationWarning(UserWarning):
    """A replicate that fits but is large (estimated memory above :data:`WARN_BYTES`)."""


def check_resources(d: int, l: int, k: int | None, n: int, solver: str, dtype: str = "float64") -> None:
    """Refuse (``ValueError``) a replicate whose estimated memory (:func:`resources`) exceeds what
    :func:`available_memory` reports, before anything is allocated, saying what it needs, how long
    it would take and what to change; announce one above :data:`WARN_BYTES` that fits with a
    :class:`LargeSimulationWarning` giving the same estimate."""
    memory, flops = resources(d, l, k, n, solver, dtype)
    hint = {"dual": "the dual solver stores an n x n kernel: use solver='cg' (needs lam > 0 or "
                    "n > d(d+1)) or fewer contexts (smaller tau or d)",
            "cg": "use a smaller d (memory grows like tau d^3)",
            "direct": "use solver='auto'"}[solver]
    if 8.0 * (k or 0) * d >= memory / 2:  # the k stored tasks dominate: kappa is the cause
        hint = (f"the k = {k:.3g} pretraining tasks alone need {8.0 * k * d / 2**30:.3g} GiB: use a "
                "smaller kappa, or kappa = inf (a fresh task per context, none stored)")
    check_memory(memory, flops, f"d = {d}", f"n = {n} contexts, l = {l}, solver {solver!r}, {dtype}",
                 hint, stacklevel=4)


def check_memory(memory: float, flops: float, what: str, sizes: str, hint: str, *, copies: int = 1,
                 warn: bool = True, stacklevel: int = 3) -> None:
    """The one refusal of work that cannot fit: ``ValueError`` when ``copies`` (parallel workers) times
    ``memory`` bytes per replicate exceed :func:`available_memory`, naming ``what`` (e.g. ``d = 470``),
    its ``sizes``, the estimate and ``hint`` (what to change); a :class:`LargeSimulationWarning`
    with the same estimate above :data:`WARN_BYTES` per replicate when it fits (and ``warn``)."""
    free = available_memory()
    total = memory * copies
    if free is None or total <= free:
        if warn and memory > WARN_BYTES:
            warnings.warn(f"{what} needs about {memory / 2**30:.3g} GiB per replicate ({sizes}) and about "
                          f"{flops / FLOPS_PER_SECOND:.3g} s at {FLOPS_PER_SECOND:.0e} flop/s",
                          LargeSimulationWarning, stacklevel=stacklevel)
        return
    workers = (f" x {copies} parallel workers = {total / 2**30:.3g} GiB" if copies > 1 else "")
    raise ValueError(
        f"{what} needs about {memory / 2**30:.3g} GiB per replicate{workers} ({sizes}) and about "
        f"{flops / FLOPS_PER_SECOND:.3g} s at {FLOPS_PER_SECOND:.0e} flop/s, but only "
        f"{free / 2**30:.3g} GiB is available: {hint}"
        f"{', or fewer parallel jobs' if copies > 1 else ''}, or run on a machine with more memory")
