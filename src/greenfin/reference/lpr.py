"""The loan prime rate (LPR) history, for CERF's rule that a supported loan is priced near it."""

from __future__ import annotations

import bisect
import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from functools import cache

from greenfin.reference._files import read_reference_csv

#: A loan longer than this many years is priced off the over-5-year LPR; others off the 1-year.
FIVE_YEARS = 5


@dataclass(frozen=True, slots=True)
class LprQuote:
    published: dt.date
    tenor: str  # "1Y" or "5Y+"
    rate_pct: Decimal
    source: str


@cache
def _table() -> tuple[list[dt.date], list[dict[str, str]]]:
    rows = sorted(read_reference_csv("lpr.csv"), key=lambda r: r["publish_date"])
    return [dt.date.fromisoformat(r["publish_date"]) for r in rows], rows


def tenor_of(start: dt.date, maturity: dt.date) -> str:
    """The same-tenor LPR of a loan: over five years → 5Y+, else 1Y (the market's pricing convention)."""
    years = (maturity - start).days / 365.25
    return "5Y+" if years > FIVE_YEARS else "1Y"


def lpr_on(day: dt.date, tenor: str) -> LprQuote | None:
    """The LPR of a tenor in force on a day (the latest publication on or before it); None before 2019-08-20."""
    days, rows = _table()
    at = bisect.bisect_right(days, day) - 1
    if at < 0:
        return None
    row = rows[at]
    rate = row["lpr_5y_plus_pct"] if tenor == "5Y+" else row["lpr_1y_pct"]
    return LprQuote(days[at], tenor, Decimal(rate), row["source"])
