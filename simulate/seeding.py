"""Random streams: the one function that gives every (point, replicate) its generator.

Replicate ``r`` of the parameter point ``P`` under entropy ``seed`` draws from::

    numpy.random.SeedSequence(seed, spawn_key=(*point_key(P), r))

where :func:`point_key` is four 32-bit words of the SHA-256 of ``P``'s canonical text (names sorted,
floats in round-trip ``repr``). So a result depends only on (seed, the point's parameters,
replicate): never on grid order, worker count, sharding or scheduling, and distinct points draw
independent streams. ``P`` holds exactly the parameters the computation depends on (the simulator
keys on ``d, tau, alpha, kappa, rho, lam``; the ridge baseline on ``d, alpha, rho``).

Common random numbers, on request (``common=True``): every point uses
``SeedSequence(seed, spawn_key=(r,))``, so replicate ``r`` of neighbouring points starts from the
same stream. Why one would: differences between points (a curve's shape, a derivative, the effect of
the ridge at fixed data) then have much smaller variance, and a curve drawn from few seeds looks
smooth. Why it is not the default: the points' errors are then correlated, so treating them as
independent (a fit across d, error bars on a difference, a chi-square) is wrong. With common
streams, points with different sizes (``n``, ``k``, ``l``) still consume their streams differently,
so the sharing is only partial.
"""
from __future__ import annotations

import hashlib
from collections.abc import Mapping

import numpy as np

from asymptotics.params import check_int

#: The convention in words, recorded in sweep metadata and figure manifests.
CONVENTION = ("replicate r of point P uses SeedSequence(seed, spawn_key=(*point_key(P), r)); "
              "with common random numbers SeedSequence(seed, spawn_key=(r,))")


def _canonical(value) -> str:
    if isinstance(value, (bool, np.bool_)):
        return repr(bool(value))
    if isinstance(value, (int, np.integer)):
        return repr(int(value))
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    if isinstance(value, str):
        return repr(value)
    raise ValueError(f"a point's parameters must be numbers or strings to key a stream; got {value!r}")


def point_key(point: Mapping) -> tuple[int, int, int, int]:
    """Four 32-bit words identifying the parameter point ``point`` (a mapping name -> value).

    Integral floats and ints differ (``d=40`` vs ``d=40.0``), so callers pass ``d`` as an int and
    model parameters as floats, as :func:`simulate.run` and :func:`simulate.sweep` do.
    """
    if not isinstance(point, Mapping) or not point:
        raise ValueError(f"point must be a non-empty mapping of parameter names to values; got {point!r}")
    text = ";".join(f"{name}={_canonical(point[name])}" for name in sorted(point))
    digest = hashlib.sha256(text.encode()).digest()
    return tuple(int.from_bytes(digest[4 * i:4 * i + 4], "little") for i in range(4))


def stream(seed: int, replicate: int, point: Mapping | None = None, *,
           common: bool = False) -> np.random.Generator:
    """The generator of replicate ``replicate`` of ``point`` under entropy ``seed`` (module docstring).

    ``point`` is required unless ``common`` (common random numbers across points) is asked for.
    """
    seed = check_int("seed", seed, 0)
    replicate = check_int("replicate", replicate, 0)
    if common:
        key = (replicate,)
    elif point is None:
        raise ValueError("stream needs the point's parameters (or common=True for common random "
                         "numbers across points)")
    else:
        key = (*point_key(point), replicate)
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))
