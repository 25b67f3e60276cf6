"""Simulated price series for the demo's pledges: seeded, documented, and not real data.

greenfin ships no third-party price file.  The demo writes one CSV in the exchange's daily layout
(``date,subject,open,high,low,close,totalVolume``) and imports it like a user's export, so the
whole import path runs.  To load real data instead, export the exchange's daily data and run
``greenfin prices import`` (docs/prices.md).

Each series is a geometric Brownian motion on weekdays, ``ln P_t = ln P_{t−1} + μ − σ²/2 + σ·ε_t``,
with ε_t standard normal from ``random.Random(seed)``, scaled so that the price on
``ANCHOR_DAY`` is the series' anchor price; volume is lognormal around its level.

| series | what | first day | μ / day | σ / day | anchor price (元) | volume level |
|---|---|---|---|---|---|---|
| CEA | 全国碳排放权配额 | 2021-07-16 | 0 | 0.015 | 62 | 500,000 t |
| CCER | 国家核证自愿减排量 | 2024-01-22 | 0 | 0.015 | 75 | 50,000 t |
| CQEA | 重庆碳排放权（试点） | 2021-01-04 | 0 | 0.025 | 40 | 20,000 t |
| PWQ-COD-ZJ | 浙江化学需氧量排污权 | 2022-01-04 | 0 | 0.008 | 20,000 | 50 t |
| YNQ-ZJ | 浙江用能权 | 2022-01-04 | 0 | 0.010 | 400 | 5,000 tce |

The 重庆 series then falls 20 % over the demo's last 20 trading days (a drift, written in, not
drawn), so that the 重庆 printing-and-dyeing pledge is above its warning line at the first
revaluation (``ANCHOR_DAY``) and below it at the second (``DEMO_DAY``).
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import random
from dataclasses import dataclass
from pathlib import Path

DEMO_DAY = dt.date(2026, 11, 20)
ANCHOR_DAY = dt.date(2026, 10, 23)
FALL_DAYS = 20
FALL = 0.20


@dataclass(frozen=True, slots=True)
class SimulatedSeries:
    code: str
    name_zh: str
    first_day: dt.date
    sigma: float
    anchor_price: float
    volume: float
    fall: float = 0.0


SERIES = (
    SimulatedSeries("CEA", "全国碳排放权配额", dt.date(2021, 7, 16), 0.015, 62.0, 500_000),
    SimulatedSeries("CCER", "国家核证自愿减排量", dt.date(2024, 1, 22), 0.015, 75.0, 50_000),
    SimulatedSeries("CQEA", "重庆碳排放权", dt.date(2021, 1, 4), 0.025, 40.0, 20_000, fall=FALL),
    SimulatedSeries("PWQ-COD-ZJ", "浙江化学需氧量排污权", dt.date(2022, 1, 4), 0.008, 20_000.0, 50),
    SimulatedSeries("YNQ-ZJ", "浙江用能权", dt.date(2022, 1, 4), 0.010, 400.0, 5_000),
)


def _weekdays(first: dt.date, last: dt.date) -> list[dt.date]:
    days, day = [], first
    while day <= last:
        if day.weekday() < 5:
            days.append(day)
        day += dt.timedelta(days=1)
    return days


def simulate(series: SimulatedSeries, seed: int) -> list[tuple[dt.date, float, float]]:
    """(day, close, volume) from the first day to DEMO_DAY."""
    rng = random.Random(f"{seed}:{series.code}")
    days = _weekdays(series.first_day, DEMO_DAY)
    level, logs = 0.0, []
    for _ in days:
        level += -(series.sigma**2) / 2 + series.sigma * rng.gauss(0.0, 1.0)
        logs.append(level)
    if series.fall:
        for back in range(FALL_DAYS):  # the last FALL_DAYS days lose `fall` in equal log steps
            logs[-1 - back] += math.log(1 - series.fall) * (FALL_DAYS - back) / FALL_DAYS
    anchor = max(i for i, day in enumerate(days) if day <= ANCHOR_DAY)
    shift = math.log(series.anchor_price) - logs[anchor]
    return [
        (day, round(math.exp(value + shift), 2), round(series.volume * math.exp(0.5 * rng.gauss(0.0, 1.0))))
        for day, value in zip(days, logs, strict=True)
    ]


def write_prices(path: Path, seed: int) -> Path:
    """The demo's price file, in the exchange's daily layout."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["date", "subject", "open", "high", "low", "close", "totalVolume"])
        for series in SERIES:
            previous = None
            for day, close, volume in simulate(series, seed):
                opened = previous if previous is not None else close
                writer.writerow(
                    [
                        day.isoformat(),
                        series.code,
                        opened,
                        max(opened, close),
                        min(opened, close),
                        close,
                        volume,
                    ]
                )
                previous = close
    return path
