"""GB/T 4754-2017 国民经济行业分类: which division belongs to which section, and their names.

Bank systems write industry codes as 'D4415', '4415' or 'd4415'.  Knowing the division → section
map lets greenfin accept the digits alone, refuse a letter that contradicts the digits
('C4415'), and group a loan book by section for the summary.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from greenfin.model.identifiers import IdentifierError, parse_industry_code
from greenfin.reference._files import read_reference_csv


@dataclass(frozen=True, slots=True)
class IndustryClass:
    """A section (门类) or division (大类) of GB/T 4754-2017."""

    code: str
    section: str
    name_zh: str
    name_en: str


@dataclass(frozen=True, slots=True)
class IndustryTable:
    sections: dict[str, IndustryClass]
    divisions: dict[str, IndustryClass]


@cache
def industry_table() -> IndustryTable:
    """The shipped table, loaded once and checked for consistency."""
    sections: dict[str, IndustryClass] = {}
    divisions: dict[str, IndustryClass] = {}
    for row in read_reference_csv("gbt4754_2017_divisions.csv"):
        item = IndustryClass(row["code"], row["section"], row["name_zh"], row["name_en"])
        (sections if row["level"] == "section" else divisions)[row["code"]] = item
    orphans = [d.code for d in divisions.values() if d.section not in sections]
    if orphans:
        raise RuntimeError(f"GB/T 4754 divisions without a section: {orphans}")
    return IndustryTable(sections, divisions)


def canonical_industry_code(text: str) -> str:
    """Validate a GB/T 4754-2017 code and return it as section letter + digits, e.g. 'D4415'."""
    section, digits = parse_industry_code(text)
    table = industry_table()
    division = table.divisions.get(digits[:2])
    if division is None:
        raise IdentifierError(
            f"{digits[:2]} is not a GB/T 4754-2017 division",
            f"{digits[:2]} 不是 GB/T 4754-2017 的行业大类",
        )
    if section and section != division.section:
        raise IdentifierError(
            f"division {digits[:2]} belongs to section {division.section}, not {section}",
            f"行业大类 {digits[:2]} 属于门类 {division.section}，而非 {section}",
        )
    return division.section + digits


def section_of(code: str) -> IndustryClass:
    """The section (门类) of a canonical industry code."""
    return industry_table().sections[code[0]]


def division_of(code: str) -> IndustryClass:
    """The division (大类) of a canonical industry code."""
    return industry_table().divisions[code[1:3]]
