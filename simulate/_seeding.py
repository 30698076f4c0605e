"""Random streams: the one place that maps (seed, replicate) to a generator.

Replicate ``r`` of any grid point uses ``SeedSequence(seed, spawn_key=(r,))``, so a result depends only
on (parameters, seed, replicate) and never on grid order, worker count or scheduling.
"""
from __future__ import annotations

import numpy as np


def replicate_rng(seed: int, replicate: int) -> np.random.Generator:
    """Generator for replicate ``replicate`` of a run with entropy ``seed`` (both non-negative ints)."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(replicate,)))
