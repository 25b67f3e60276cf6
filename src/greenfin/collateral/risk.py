"""Price risk of a pledged instrument: value at risk, expected shortfall, EWMA volatility, backtest.

Definitions (written out because VaR has several in use):

* Returns are daily log returns of the close, ``r_t = ln(P_t / P_{t-1})``.
* A loss is the fall in value as a fraction of today's value over the horizon, ``1 − exp(R)`` for
  a horizon log return ``R``: a haircut is a loss fraction, between 0 and 1.
* **Historical VaR** at confidence ``c`` is the ``⌈n·(1−c)⌉``-th smallest of the ``n`` daily log
  returns (the empirical quantile without interpolation, NumPy's ``inverted_cdf``), scaled to the
  horizon by √h (the square-root-of-time rule of the Basel market-risk framework), as a loss.
  **Historical ES** is the mean of the returns at or below that quantile, scaled the same way.
* **EWMA VaR** (RiskMetrics, J.P. Morgan/Reuters 1996): σ²_t = λ·σ²_{t−1} + (1−λ)·r²_{t−1}, λ = 0.94
  by default, seeded with the sample variance of the window; VaR = z_c·σ·√h, ES = σ·√h·φ(z_c)/(1−c),
  as losses.
* **Kupiec's proportion-of-failures test** (Kupiec 1995): with ``x`` exceedances in ``n`` trials at
  expected rate ``p``, LR = −2 ln[(1−p)^(n−x) p^x] + 2 ln[(1−x/n)^(n−x) (x/n)^x], χ² with one degree
  of freedom; its p-value is erfc(√(LR/2)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]


def log_returns(close: Array) -> Array:
    """Daily log returns of a close series (one fewer than the closes)."""
    close = np.asarray(close, dtype=np.float64)
    if close.size and (close <= 0).any():
        raise ValueError("prices must be positive to take log returns")
    return np.diff(np.log(close))


def as_loss(log_return: float | Array) -> float | Array:
    """A horizon log return as a loss fraction of today's value (positive for a fall)."""
    return -np.expm1(log_return)


def historical_var_es(returns: Array, confidence: float, horizon_days: float = 1.0) -> tuple[float, float]:
    """Historical VaR and ES over the horizon, as loss fractions (see the module docstring)."""
    returns = np.asarray(returns, dtype=np.float64)
    if returns.size == 0:
        raise ValueError("no returns to measure risk on")
    if not 0.5 < confidence < 1:
        raise ValueError("confidence must be between 0.5 and 1")
    rank = math.ceil(returns.size * (1 - confidence))  # 1-based rank of the quantile
    ordered = np.sort(returns)
    quantile = ordered[max(rank, 1) - 1]
    tail = ordered[: max(rank, 1)]
    scale = math.sqrt(horizon_days)
    return float(as_loss(quantile * scale)), float(as_loss(tail.mean() * scale))


def ewma_sigma(returns: Array, lam: float = 0.94) -> float:
    """Today's EWMA volatility of daily log returns (RiskMetrics recursion, seeded with the sample variance)."""
    returns = np.asarray(returns, dtype=np.float64)
    if returns.size < 2:
        raise ValueError("at least two returns are needed for a volatility")
    variance = float(returns.var())
    for value in returns:
        variance = lam * variance + (1 - lam) * float(value) ** 2
    return math.sqrt(variance)


def ewma_var_es(
    returns: Array, confidence: float, horizon_days: float = 1.0, lam: float = 0.94
) -> tuple[float, float]:
    """Parametric (normal) VaR and ES with EWMA volatility, as loss fractions."""
    sigma = ewma_sigma(returns, lam) * math.sqrt(horizon_days)
    normal = NormalDist()
    z = normal.inv_cdf(confidence)
    shortfall = sigma * math.exp(-z * z / 2) / math.sqrt(2 * math.pi) / (1 - confidence)
    return float(as_loss(-z * sigma)), float(as_loss(-shortfall))


@dataclass(frozen=True, slots=True)
class Kupiec:
    trials: int
    exceedances: int
    expected_rate: float
    statistic: float
    p_value: float

    @property
    def rate(self) -> float:
        return self.exceedances / self.trials if self.trials else 0.0

    @property
    def rejected_at_5pct(self) -> bool:
        return self.p_value < 0.05


def kupiec_pof(trials: int, exceedances: int, expected_rate: float) -> Kupiec:
    """Kupiec's proportion-of-failures likelihood-ratio test."""
    if trials <= 0 or not 0 <= exceedances <= trials:
        raise ValueError("need 0 <= exceedances <= trials and trials > 0")
    p, x, n = expected_rate, exceedances, trials

    def log_likelihood(rate: float) -> float:
        total = 0.0
        if n - x:
            total += (n - x) * math.log(1 - rate)
        if x:
            total += x * math.log(rate)
        return total

    statistic = max(0.0, -2 * (log_likelihood(p) - log_likelihood(x / n)))
    return Kupiec(n, x, p, statistic, math.erfc(math.sqrt(statistic / 2)))


@dataclass(frozen=True, slots=True)
class Backtest:
    kupiec: Kupiec
    horizon_days: int
    window: int
    confidence: float
    method: str


def backtest_haircut(
    close: Array,
    *,
    confidence: float,
    horizon_days: int,
    window: int,
    method: str = "historical",
    lam: float = 0.94,
) -> Backtest:
    """Does the haircut hold?  At each test day the haircut is measured on the past ``window``
    returns; an exceedance is a loss over the next ``horizon_days`` above it.  Test days step by
    the horizon, so the outcomes do not overlap."""
    returns = log_returns(close)
    trials = exceedances = 0
    for start in range(window, returns.size - horizon_days + 1, horizon_days):
        past = returns[start - window : start]
        if method == "ewma":
            haircut, _ = ewma_var_es(past, confidence, horizon_days, lam)
        else:
            haircut, _ = historical_var_es(past, confidence, horizon_days)
        realised = float(as_loss(returns[start : start + horizon_days].sum()))
        trials += 1
        exceedances += realised > haircut
    return Backtest(kupiec_pof(trials, exceedances, 1 - confidence), horizon_days, window, confidence, method)
