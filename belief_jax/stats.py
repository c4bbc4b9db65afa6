"""Statistics over seeds and tasks, shared by the runner's CSV rows and the experiments."""
from __future__ import annotations

import math
from typing import Any

import numpy as np


def mean_se(values: Any, axis: int | None = None) -> tuple[Any, Any]:
    """Mean and standard error of the mean along `axis` (all values if None); the s.e. is
    NaN where there is a single value."""
    values = np.asarray(values, np.float64)
    n = values.size if axis is None else values.shape[axis]
    se = values.std(axis=axis, ddof=1) / math.sqrt(n) if n > 1 else np.full_like(
        values.mean(axis=axis), math.nan)
    return values.mean(axis=axis), se


def finite_mean_se(values: Any) -> tuple[float, float]:
    """`mean_se` of the finite values only (NaN, NaN if there are none)."""
    values = np.asarray(values, np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return math.nan, math.nan
    mean, se = mean_se(values)
    return float(mean), float(se)
