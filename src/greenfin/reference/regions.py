"""GB/T 2260 行政区划: province and regional power grid of a six-digit region code.

The grid region picks the emission factor (MEE/NBS 电力二氧化碳排放因子) for a project's
electricity, so each province carries the grid region of the announcement it was taken from.
Only provinces are complete; prefecture and county names are shipped for the places greenfin's
demo and tests use, and a code whose province is known is accepted even if its name is not.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from greenfin.model.identifiers import IdentifierError, parse_region_code
from greenfin.reference._files import read_reference_csv


@dataclass(frozen=True, slots=True)
class Province:
    """A provincial-level division with its grid region (empty where no MEE factor applies)."""

    code: str
    name_zh: str
    short_zh: str
    name_en: str
    grid_region: str


@dataclass(frozen=True, slots=True)
class Region:
    """What a region code tells: its province, grid region and, when known, its own name."""

    code: str
    province: Province
    name_zh: str | None
    prefecture_zh: str | None

    @property
    def grid_region(self) -> str:
        return self.province.grid_region


@cache
def provinces() -> dict[str, Province]:
    """Provinces keyed by their two-digit prefix."""
    table = {}
    for row in read_reference_csv("gbt2260_provinces.csv"):
        province = Province(
            row["code"],
            row["name_zh"],
            row["short_zh"],
            row["name_en"],
            row["grid_region"],
        )
        table[row["code"][:2]] = province
    return table


@cache
def place_names() -> dict[str, str]:
    """Known prefecture and county names keyed by six-digit code."""
    return {row["code"]: row["name_zh"] for row in read_reference_csv("gbt2260_places.csv")}


@cache
def region(text: str) -> Region:
    """Validate a region code against the province list and describe it."""
    code = parse_region_code(text)
    province = provinces().get(code[:2])
    if province is None:
        raise IdentifierError(
            f"{code[:2]} is not a GB/T 2260 province code",
            f"{code[:2]} 不是 GB/T 2260 的省级代码",
        )
    names = place_names()
    prefecture = names.get(code[:4] + "00") if code[2:4] != "00" else None
    return Region(code, province, names.get(code), prefecture)
