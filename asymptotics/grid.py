"""Cartesian parameter grids, shared by the CLI, the plotting layer and simulation sweeps."""
from __future__ import annotations

import itertools

import numpy as np


def cartesian(**axes) -> dict[str, np.ndarray]:
    """Expand named 1-D axes into the flat Cartesian product (first axis varies slowest).

    >>> g = cartesian(tau=[0.5, 2.0], kappa=[1.0, np.inf])
    >>> g["tau"].tolist(), g["kappa"].tolist()
    ([0.5, 0.5, 2.0, 2.0], [1.0, inf, 1.0, inf])
    """
    names = list(axes)
    values = [np.atleast_1d(np.asarray(axes[n], dtype=np.float64)).ravel() for n in names]
    for n, v in zip(names, values):
        if v.size == 0:
            raise ValueError(f"grid axis {n} is empty")
    rows = list(itertools.product(*values))
    return {n: np.array([r[i] for r in rows], dtype=np.float64) for i, n in enumerate(names)}
