"""PCAF score-4 and score-5 estimates: sector, building and vehicle averages, each with its source.

When a holding has no reported emissions, PCAF Part A (2nd ed., 2022) lets the bank estimate them
from an average for what it knows of the borrower or asset, and marks the estimate with a worse
data-quality score (docs/portfolio.md §2 gives the options and their scores).  The averages are
shipped factor rows (``reference/data/factors/pcaf_averages.csv``) with year, source and
confidence like every other factor, and each estimate names the factor it used.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache

from greenfin.reference.factors import Factor, factor_table
from greenfin.reference.industries import canonical_industry_code

REVENUE = "pcaf_revenue_intensity"  # tCO2e per 万元 of revenue, by GB/T 4754 section or division
ASSETS = "pcaf_asset_intensity"  # tCO2e per 万元 of assets
AREA = "pcaf_building_area"  # kgCO2e per m2 of floor area and year
DWELLING = "pcaf_building_unit"  # tCO2e per building (dwelling) and year
VEHICLE = "pcaf_vehicle"  # tCO2e per vehicle and year
FALLBACK = "*"


@dataclass(frozen=True, slots=True)
class Averages:
    """The latest factor of one kind per key, for a reporting year."""

    kind: str
    by_key: dict[str, Factor] = field(default_factory=dict)

    def for_industry(self, industry: str | None) -> Factor | None:
        """The division's factor (``D44``), else its section's (``D``), else the all-sector one.

        A code written without its section letter (``3011``) is read as the standard places it
        (``C3011``); an unreadable code gets the all-sector factor."""
        code = _canonical(industry)
        for key in (code[:3], code[:1], FALLBACK):
            if key and key in self.by_key:
                return self.by_key[key]
        return None

    def for_key(self, key: str | None) -> Factor | None:
        """The factor of a building type or vehicle fuel, else the kind's fallback row."""
        return self.by_key.get((key or "").strip().lower()) or self.by_key.get(FALLBACK)


def _latest(rows: Iterable[Factor], reporting_year: int) -> dict[str, Factor]:
    """Per key, the latest row before the reporting year, else the earliest there is (as
    ``reference.factors.latest`` chooses)."""
    by_key: dict[str, list[Factor]] = {}
    for row in rows:
        by_key.setdefault(row.key, []).append(row)
    chosen = {}
    for key, found in by_key.items():
        earlier = [f for f in found if f.year < reporting_year]
        chosen[key] = max(earlier, key=lambda f: f.year) if earlier else min(found, key=lambda f: f.year)
    return chosen


@cache
def _canonical(industry: str | None) -> str:
    text = (industry or "").strip().upper()
    try:
        return canonical_industry_code(text) if text else ""
    except ValueError:
        return text


@cache
def averages(kind: str, reporting_year: int) -> Averages:
    return Averages(kind, _latest((f for f in factor_table().values() if f.kind == kind), reporting_year))
