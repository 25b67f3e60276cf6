"""The factor library: every number a benefit is computed with, each with where it came from.

A factor is a row of a shipped CSV in ``reference/data/factors/`` (one schema for all of them:
kind, key, year, value, unit, published, valid period, source, confidence).  Results carry the
factor's id, so a past figure can be traced to the announcement it used and reproduced with the
factors of its day.  User-supplied factors (a CCER combined margin, a plant's own heat rate) are
the same type, with the user's source.

Which grid factor applies is a bank's choice, made once in a :class:`FactorPolicy` and recorded
with each result: provincial, regional or national; the latest year published before the
reporting year; and whether CO2 follows the grid factor or the coal-equivalent convention.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache
from typing import Literal

from greenfin.reference._files import read_reference_csv

FACTOR_FILES = ("grid_co2.csv", "power_coal.csv", "fuels.csv", "utilisation_hours.csv", "pcaf_averages.csv")
NATIONAL = "全国"

GridScope = Literal["provincial", "regional", "national"]
Convention = Literal["grid_factor", "coal_equivalent"]
Attribution = Literal["regulator", "pcaf"]


@dataclass(frozen=True, slots=True)
class Factor:
    """One sourced number."""

    id: str
    kind: str
    key: str
    year: int
    value: float
    unit: str
    published: str
    source: str
    confidence: str
    note: str = ""

    def as_dict(self) -> dict[str, str | int | float]:
        return {
            "id": self.id,
            "value": self.value,
            "unit": self.unit,
            "year": self.year,
            "key": self.key,
            "published": self.published,
            "source": self.source,
            "confidence": self.confidence,
        }


class FactorMissing(LookupError):
    """No factor of the kind asked for exists for that key and year."""


@cache
def factor_table() -> dict[str, Factor]:
    """All shipped factors by id; a duplicate id or a bad row stops the load."""
    table: dict[str, Factor] = {}
    for name in FACTOR_FILES:
        for line, row in enumerate(read_reference_csv(f"factors/{name}"), start=2):
            factor = Factor(
                id=row["id"],
                kind=row["kind"],
                key=row["key"],
                year=int(row["year"]),
                value=float(row["value"]),
                unit=row["unit"],
                published=row["published"],
                source=row["source"],
                confidence=row["confidence"],
                note=row["note"],
            )
            if factor.id in table:
                raise ValueError(f"factors/{name} line {line}: duplicate factor id {factor.id}")
            if factor.confidence not in {"H", "M", "L"} or not factor.source:
                raise ValueError(f"factors/{name} line {line}: a factor needs a source and H/M/L")
            table[factor.id] = factor
    return table


def factor(kind: str, key: str, year: int) -> Factor:
    """The factor of a kind for a key and year, exactly."""
    found = factor_table().get(f"{kind}:{key}:{year}")
    if found is None:
        raise FactorMissing(f"no {kind} factor for {key} {year}")
    return found


def latest(kind: str, key: str, before: int) -> Factor:
    """The factor of the latest year strictly before ``before`` (the year being reported).

    A year reported before any factor of the kind was published gets the earliest one: the
    result's trail shows the factor's year, and :func:`year_note` says so in words.
    """
    years = _years(kind, key)
    if not years:
        raise FactorMissing(f"no {kind} factor for {key}")
    earlier = [year for year in years if year < before]
    return factor(kind, key, max(earlier) if earlier else min(years))


@cache
def _years(kind: str, key: str) -> tuple[int, ...]:
    """The years a factor is shipped for: asked on every assessment, so indexed once."""
    return tuple(sorted(f.year for f in factor_table().values() if f.kind == kind and f.key == key))


def year_note(found: Factor, reporting_year: int) -> str:
    """Why a factor's year is not the year before the one reported, in a sentence; '' if it is."""
    if found.year >= reporting_year:
        return f"{found.kind} 无 {reporting_year} 年以前的数值，使用最早的 {found.year} 年数值"
    if found.year < reporting_year - 1:
        missing = (
            f"{found.year + 1}"
            if found.year + 1 == reporting_year - 1
            else f"{found.year + 1}–{reporting_year - 1}"
        )
        return f"{found.kind} 使用 {found.year} 年数值（{missing} 年数值未收录）"
    return ""


def user_factor(kind: str, key: str, year: int, value: float, unit: str, source: str) -> Factor:
    """A factor given by the user (a PDD's combined margin), kept apart by its ``user:`` id."""
    return Factor(f"user:{kind}:{key}:{year}", kind, key, year, value, unit, "", source, "L", "user-supplied")


@dataclass(frozen=True, slots=True)
class FactorPolicy:
    """A bank's choice of factors, recorded with every result computed under it."""

    name: str
    grid_scope: GridScope = "provincial"
    grid_kind: str = "grid_co2_average"
    convention: Convention = "grid_factor"
    attribution: Attribution = "regulator"
    #: The coal-equivalent convention's CO2 per tonne of standard coal (a factor id).
    co2_per_tce: str = "co2_per_tce:其他烟煤:2006"

    def grid_factor(
        self, province: str | None, grid_region: str | None, reporting_year: int
    ) -> tuple[Factor, str]:
        """The grid factor this policy picks, and a note when it had to fall back to a wider scope."""
        scopes: list[str] = []
        if self.grid_scope == "provincial" and province:
            scopes.append(province)
        if self.grid_scope in {"provincial", "regional"} and grid_region:
            scopes.append(grid_region)
        scopes.append(NATIONAL)
        wanted = {"provincial": province, "regional": grid_region, "national": NATIONAL}[self.grid_scope]
        for key in scopes:
            try:
                found = latest(self.grid_kind, key, reporting_year)
            except FactorMissing:
                continue
            note = "" if key == wanted else f"无{wanted or '所在地'}因子，改用{key}因子"
            dated = year_note(found, reporting_year)
            return found, "；".join(n for n in (note, dated) if n)
        raise FactorMissing(f"no {self.grid_kind} factor before {reporting_year}")

    def with_changes(self, **changes: str) -> FactorPolicy:
        return replace(self, **changes)  # type: ignore[arg-type]


#: The policies shipped; a bank picks one (or writes its own) and it is stored with each result.
POLICIES = {
    "provincial": FactorPolicy("provincial", grid_scope="provincial"),
    "regional": FactorPolicy("regional", grid_scope="regional"),
    "national": FactorPolicy("national", grid_scope="national"),
    "coal-equivalent": FactorPolicy("coal-equivalent", grid_scope="national", convention="coal_equivalent"),
    "pcaf": FactorPolicy("pcaf", grid_scope="provincial", attribution="pcaf"),
}
DEFAULT_POLICY = POLICIES["provincial"]
