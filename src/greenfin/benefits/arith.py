"""The arithmetic every methodology is written in, for one project or a column of a million.

A formula receives numbers that are either Python floats (one project on a form) or NumPy arrays
(a book in columns) and uses only operators and the helpers here, so the same code serves both
scales (DESIGN.md principle 1).  A conditional is :func:`where`, never an ``if`` on a value.
"""

from __future__ import annotations

from typing import TypeAlias

import numpy as np
from numpy.typing import NDArray

Num: TypeAlias = float | NDArray[np.float64]


def where(condition: bool | NDArray[np.bool_], yes: Num, no: Num) -> Num:
    """``yes`` where the condition holds, else ``no``, elementwise for arrays."""
    if isinstance(condition, np.ndarray) or isinstance(yes, np.ndarray) or isinstance(no, np.ndarray):
        return np.where(condition, yes, no).astype(np.float64)
    return yes if condition else no


def clip_low(value: Num, low: float = 0.0) -> Num:
    """``value`` but never below ``low`` (a removal cannot be negative)."""
    if isinstance(value, np.ndarray):
        return np.maximum(value, low)
    return max(value, low)
