"""Finite-d sizes: the one place that turns (d, tau, alpha, kappa) into token, task and context counts."""
from __future__ import annotations

import math
import numbers

from asymptotics.params import check_scalar


def _round_half_up(x: float) -> int:
    return int(math.floor(x + 0.5))


def check_d(d) -> int:
    """Return ``d`` as an int after checking it is an integer >= 2 (integral floats accepted)."""
    if isinstance(d, bool) or not isinstance(d, numbers.Real):
        raise ValueError(f"d must be an integer >= 2; got {d!r}")
    if not math.isfinite(d) or d != int(d) or d < 2:
        raise ValueError(f"d must be an integer >= 2; got {d!r}")
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


def context_length(d, alpha) -> int:
    """``l = round(alpha d)`` (half-up), refusing a context of zero tokens."""
    d, alpha = check_d(d), check_scalar("alpha", alpha)
    l = _round_half_up(alpha * d)
    if l < 1:
        raise ValueError(f"alpha*d = {alpha * d:g} rounds to l = 0 tokens; need alpha >= {0.5 / d:g} at d = {d}")
    return l


def task_count(d, kappa) -> int | None:
    """``k = round(kappa d)`` (half-up) training tasks, ``None`` for ``kappa = inf``; refuses k = 0."""
    d, kappa = check_d(d), check_scalar("kappa", kappa)
    if math.isinf(kappa):
        return None
    k = _round_half_up(kappa * d)
    if k < 1:
        raise ValueError(f"kappa*d = {kappa * d:g} rounds to k = 0 tasks; need kappa >= {0.5 / d:g} at d = {d}")
    return k
