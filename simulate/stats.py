"""Summary statistics of replicates: the one place for the mean and its standard error."""
from __future__ import annotations

import math

import numpy as np


def mean_sem(values) -> tuple[float, float]:
    """Mean and standard error of the mean ``std(ddof=1)/sqrt(n)`` of finite ``values``.

    ``n = 0`` gives ``(nan, nan)`` and ``n = 1`` gives ``(value, nan)``: undefined, not an error, so
    a table row can say how many replicates it rests on.
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size == 0:
        return math.nan, math.nan
    mean = float(v.mean())
    return mean, (float(v.std(ddof=1) / math.sqrt(v.size)) if v.size >= 2 else math.nan)
