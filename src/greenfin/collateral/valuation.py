"""Valuing pledged environmental rights under a bank's valuation policy.

What a pledge is worth, and how safe the loan is, in four steps (DOMAIN.md §5):

1. **Reference price** of the series on the valuation day: the last close, the average of the last
   N closes, their volume-weighted average (VWAP of daily closes), or the lowest of the three.
2. **Haircut**: the loss the price can suffer while the bank sells, at the policy's confidence, as
   VaR or expected shortfall (historical, or EWMA-normal) of daily log returns over the
   **liquidation horizon**.  The horizon is the policy's, lengthened when the position is large
   against the market: a bank selling at most ``participation`` of the average daily volume needs
   ``⌈quantity ÷ (participation × ADV)⌉`` days.  Horizons scale by √h (:mod:`greenfin.collateral.risk`).
3. **Pledge rate** = min(1 − haircut, the policy's cap): the most a loan may be of the collateral's
   market value.  The lendable value is market value × pledge rate.
4. **Coverage** = market value ÷ outstanding (履约保障比例); below the warning line the pledge is in
   预警, below the liquidation line it is due for 处置.

:func:`value_pledges` is written once, over NumPy arrays or floats, so it revalues one pledge on a
form and a hundred thousand in a batch with the same arithmetic.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from statistics import NormalDist
from typing import Any, Literal

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray

Array = NDArray[np.float64]
Reference = Literal["last_close", "average", "vwap", "lowest"]
STATUS = ("normal", "warning", "liquidation")
#: Longest liquidation horizon considered, in trading days (a year): beyond it a position is
#: treated as unsellable and its haircut as a year's.
MAX_HORIZON_DAYS = 250


@dataclass(frozen=True, slots=True)
class ValuationPolicy:
    """A bank's valuation policy; stored versioned, and the version is recorded with each run.

    The shipped defaults are a conservative starting point, not a regulation: each bank sets
    its own (DOMAIN.md §5: "pledge rate and valuation method are bank policy").
    """

    name: str = "default"
    version: int = 1
    reference: Reference = "lowest"
    window_days: int = 20
    method: Literal["historical", "ewma"] = "historical"
    measure: Literal["var", "es"] = "es"
    confidence: float = 0.99
    horizon_days: int = 10
    lookback_days: int = 250
    ewma_lambda: float = 0.94
    participation: float = 0.10
    max_pledge_rate: float = 0.60
    warning_line: float = 1.40
    liquidation_line: float = 1.20
    min_history_days: int = 60

    def __post_init__(self) -> None:
        problems = []
        if self.reference not in ("last_close", "average", "vwap", "lowest"):
            problems.append(f"reference {self.reference!r}")
        if self.method not in ("historical", "ewma") or self.measure not in ("var", "es"):
            problems.append(f"method {self.method!r} / measure {self.measure!r}")
        if not 0.5 < self.confidence < 1:
            problems.append("confidence must lie between 0.5 and 1")
        if not 0 < self.max_pledge_rate <= 1 or not 0 < self.participation <= 1:
            problems.append("max_pledge_rate and participation must lie in (0, 1]")
        if not self.liquidation_line < self.warning_line:
            problems.append("the liquidation line must be below the warning line")
        if min(self.window_days, self.horizon_days, self.lookback_days, self.min_history_days) < 1:
            problems.append("day counts must be positive")
        if self.lookback_days < self.min_history_days:
            problems.append("lookback_days must be at least min_history_days")
        if problems:
            raise ValueError("invalid valuation policy: " + "; ".join(problems))

    def params(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("name")
        data.pop("version")
        return data

    @classmethod
    def from_params(cls, name: str, version: int, params: dict[str, Any]) -> ValuationPolicy:
        known = set(cls.__dataclass_fields__) - {"name", "version"}
        unknown = sorted(set(params) - known)
        if unknown:
            raise ValueError(f"unknown valuation policy parameters: {', '.join(unknown)}")
        return cls(name=name, version=version, **params)

    def with_params(self, **changes: Any) -> ValuationPolicy:
        return replace(self, **changes)


@dataclass(frozen=True, slots=True)
class SeriesRisk:
    """What a price series says on a day: reference price, 1-day log-return tail, daily volume."""

    day_index: int
    last_close: float
    reference: float
    tail_1d: float  # the policy's 1-day log-return quantile or shortfall (negative for a loss)
    adv: float  # average daily volume over the window


def _tail(returns: Array, policy: ValuationPolicy) -> float:
    if policy.method == "ewma":
        variance = float(returns.var())
        for value in returns:
            variance = policy.ewma_lambda * variance + (1 - policy.ewma_lambda) * float(value) ** 2
        sigma = math.sqrt(variance)
        z = NormalDist().inv_cdf(policy.confidence)
        if policy.measure == "var":
            return -z * sigma
        return -sigma * math.exp(-z * z / 2) / math.sqrt(2 * math.pi) / (1 - policy.confidence)
    rank = max(1, math.ceil(returns.size * (1 - policy.confidence)))
    ordered = np.sort(returns)
    return float(ordered[rank - 1] if policy.measure == "var" else ordered[:rank].mean())


def _reference(closes: Array, volumes: Array, policy: ValuationPolicy) -> float:
    window = closes[-policy.window_days :]
    traded = volumes[-policy.window_days :]
    last, average = float(window[-1]), float(window.mean())
    vwap = float((window * traded).sum() / traded.sum()) if traded.sum() > 0 else average
    return {"last_close": last, "average": average, "vwap": vwap, "lowest": min(last, average, vwap)}[
        policy.reference
    ]


def series_risk(closes: Array, volumes: Array, policy: ValuationPolicy) -> SeriesRisk:
    """The series' reference price and tail on its last day; too short a history is an error."""
    closes = np.asarray(closes, dtype=np.float64)
    volumes = np.asarray(volumes, dtype=np.float64)
    if closes.size < policy.min_history_days + 1:
        raise ValueError(
            f"price history too short: {closes.size} days, the policy needs {policy.min_history_days + 1}"
        )
    returns = np.diff(np.log(closes[-(policy.lookback_days + 1) :]))
    return SeriesRisk(
        closes.size - 1,
        float(closes[-1]),
        _reference(closes, volumes, policy),
        _tail(returns, policy),
        float(volumes[-policy.window_days :].mean()),
    )


def rolling_series_risk(closes: Array, volumes: Array, policy: ValuationPolicy) -> dict[str, Array]:
    """``series_risk`` for every day with enough history, in arrays (for backtests, stress, benches).

    Day ``t`` of the result is computed from closes up to ``t`` only; days before
    ``min_history_days`` are NaN.  Historical tails use a sliding window; EWMA follows
    :func:`series_risk` day by day.
    """
    closes = np.asarray(closes, dtype=np.float64)
    volumes = np.asarray(volumes, dtype=np.float64)
    days = closes.size
    reference = np.full(days, np.nan)
    tail = np.full(days, np.nan)
    adv = np.full(days, np.nan)
    returns = np.diff(np.log(closes))
    window = policy.window_days
    kernel = np.ones(window)
    sums = np.convolve(closes, kernel)[:days]
    counts = np.minimum(np.arange(1, days + 1), window)
    average = sums / counts
    traded = np.convolve(volumes, kernel)[:days]
    value = np.convolve(closes * volumes, kernel)[:days]
    vwap = np.where(traded > 0, value / np.where(traded > 0, traded, 1), average)
    adv[:] = traded / counts
    reference[:] = {
        "last_close": closes,
        "average": average,
        "vwap": vwap,
        "lowest": np.minimum(np.minimum(closes, average), vwap),
    }[policy.reference]
    first = policy.min_history_days
    if policy.method == "historical":
        lookback = policy.lookback_days
        for t in range(first, min(lookback, days - 1) + 1):  # growing window until it is full
            tail[t] = _tail(returns[:t], policy)
        if days - 1 > lookback:
            windows = sliding_window_view(returns, lookback)  # windows[i] = returns[i : i+lookback]
            rank = max(1, math.ceil(lookback * (1 - policy.confidence)))
            part = np.partition(windows, rank - 1, axis=1)[:, :rank]
            values = part.max(axis=1) if policy.measure == "var" else part.mean(axis=1)
            tail[lookback + 1 :] = values[1:]  # window i ends at return i+lookback-1 = day i+lookback
    else:
        for t in range(first, days):
            tail[t] = _tail(returns[max(0, t - policy.lookback_days) : t], policy)
    reference[:first] = np.nan
    adv[:first] = np.nan
    return {"reference": reference, "tail": tail, "adv": adv, "close": closes}


def liquidation_days(quantity: float | Array, adv: float | Array, policy: ValuationPolicy) -> float | Array:
    """Days to sell the position at the policy's share of volume, never below its horizon."""
    capacity = np.asarray(adv, dtype=np.float64) * policy.participation
    with np.errstate(divide="ignore", invalid="ignore"):
        needed = np.where(
            capacity > 0, np.ceil(np.asarray(quantity) / np.where(capacity > 0, capacity, 1)), np.inf
        )
    days = np.clip(np.maximum(needed, policy.horizon_days), policy.horizon_days, MAX_HORIZON_DAYS)
    return float(days) if np.ndim(days) == 0 else days


def coverage_status(
    quantity: float | Array,
    outstanding_yuan: float | Array,
    reference: float | Array,
    policy: ValuationPolicy,
) -> tuple[Any, Any, Any]:
    """Market value, coverage (market value ÷ outstanding; infinite with nothing outstanding) and
    status (0 normal, 1 below the warning line, 2 below the liquidation line)."""
    market = np.asarray(quantity) * np.asarray(reference)
    outstanding = np.asarray(outstanding_yuan, dtype=np.float64)
    # market × (1 ÷ outstanding): one division per pledge, not per pledge-day
    inverse = 1.0 / np.where(outstanding > 0, outstanding, np.inf)
    coverage = market * inverse
    if not np.all(outstanding > 0):  # nothing outstanding: covered without limit
        coverage = np.where(outstanding > 0, coverage, np.inf)
    status = (coverage < policy.warning_line).astype(np.int8) + (coverage < policy.liquidation_line)
    return market, coverage, status


def value_pledges(
    quantity: float | Array,
    outstanding_yuan: float | Array,
    reference: float | Array,
    tail_1d: float | Array,
    adv: float | Array,
    policy: ValuationPolicy,
) -> dict[str, Any]:
    """Market value, haircut, pledge rate, lendable value, coverage and status, elementwise."""
    days = liquidation_days(quantity, adv, policy)
    haircut = -np.expm1(np.asarray(tail_1d) * np.sqrt(days))
    haircut = np.clip(haircut, 0.0, 1.0)
    pledge_rate = np.minimum(1.0 - haircut, policy.max_pledge_rate)
    market, coverage, status = coverage_status(quantity, outstanding_yuan, reference, policy)
    return {
        "liquidation_days": days,
        "haircut": haircut,
        "pledge_rate": pledge_rate,
        "market_value": market,
        "lendable_value": market * pledge_rate,
        "coverage": coverage,
        "status": status,
    }


def value_history(
    series: dict[str, dict[str, Array]],
    series_of: NDArray[np.int64],
    codes: list[str],
    quantity: Array,
    outstanding_yuan: Array,
    policy: ValuationPolicy,
    *,
    chunk: int = 2048,
) -> dict[str, Array]:
    """Revalue a book of pledges on every day of their series: the daily job, replayed.

    ``series[code]`` is :func:`rolling_series_risk` of that code; ``series_of[i]`` indexes
    ``codes`` for pledge ``i``.  Returns per pledge the lowest coverage, the number of days below
    each line and the number of alerts (days the status changed for the worse; the status before
    the first day with enough history is normal), and per day the number of pledges in warning and
    below the liquidation line.  Coverage and status are :func:`coverage_status`, the daily job's
    own rule; pledges are grouped by series and taken in chunks, so memory stays at chunk × days.
    """
    days = next(iter(series.values()))["reference"].size
    pledges = quantity.size
    lowest = np.full(pledges, np.inf)
    warning_days = np.zeros(pledges, dtype=np.int64)
    liquidation_days_ = np.zeros(pledges, dtype=np.int64)
    alerts = np.zeros(pledges, dtype=np.int64)
    per_day_warning = np.zeros(days, dtype=np.int64)
    per_day_liquidation = np.zeros(days, dtype=np.int64)
    for index, code in enumerate(codes):
        risk = series[code]
        valid = np.isfinite(risk["reference"]) & np.isfinite(risk["tail"])
        reference = risk["reference"][valid]
        members = np.flatnonzero(series_of == index)
        for start in range(0, members.size, chunk):
            rows = members[start : start + chunk]
            _market, coverage, status = coverage_status(
                quantity[rows, None], outstanding_yuan[rows, None], reference[None, :], policy
            )
            lowest[rows] = coverage.min(axis=1, initial=np.inf)
            below = status == 2
            liquidation_days_[rows] = np.count_nonzero(below, axis=1)
            warning_days[rows] = (
                status.sum(axis=1, dtype=np.int64) - 2 * liquidation_days_[rows]
            )  # status 1 + 2
            alerts[rows] = np.count_nonzero(np.diff(status, axis=1, prepend=0) > 0, axis=1)
            day_liquidation = np.count_nonzero(below, axis=0)
            per_day_liquidation[valid] += day_liquidation
            per_day_warning[valid] += status.sum(axis=0, dtype=np.int64) - 2 * day_liquidation
    return {
        "lowest_coverage": lowest,
        "warning_days": warning_days,
        "liquidation_days": liquidation_days_,
        "alerts": alerts,
        "per_day_warning": per_day_warning,
        "per_day_liquidation": per_day_liquidation,
    }
