"""The green-finance catalogues a loan is labelled against, and the CERF areas they feed.

A green label is only defensible if it names the catalogue in force on the approval date, the
item, and the text that item sets; so the catalogues ship as data, each row with its official
source and a confidence mark (``H`` official text or faithful reprint, ``M`` repaired extraction
or our own reading, ``L`` unconfirmed), and are checked when first used.  A broken file then
fails the first lookup instead of silently mislabelling a loan book.

- ``gfc-2025``: 绿色金融支持项目目录（2025年版）, three levels, in force from 2025-10-01, with one row
  per (level-3 item × GB/T 4754-2017 class) carrying the item's conditions (条件/标准).
- ``gbc-2021``: 绿色债券支持项目目录（2021年版）(银发〔2021〕96号), four levels, in force from 2021-07-01.
  Some of its names are not available to us; those items carry an empty name and ``L``.
- The 碳减排支持工具 (CERF) areas, a 2021→2025 crosswalk and an item→CERF-area map, both our
  own reading of the texts and marked so.

``docs/catalogues.md`` says where every file comes from and what is missing.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from importlib import resources
from typing import Final, Literal

from greenfin.model.problems import ValueProblem
from greenfin.reference.industries import industry_table

GBC_2021: Final = "gbc-2021"
GFC_2025: Final = "gfc-2025"
#: Catalogue versions greenfin ships, oldest first.
CATALOGUE_VERSIONS: Final = (GBC_2021, GFC_2025)
GBC_2021_IN_FORCE: Final = date(2021, 7, 1)
GFC_2025_IN_FORCE: Final = date(2025, 10, 1)

Confidence = Literal["H", "M", "L"]
GhgMark = Literal["", "√", "√√"]
Relation = Literal["same", "narrower", "broader", "partial"]

_CONFIDENCE: Final[Mapping[str, Confidence]] = {"H": "H", "M": "M", "L": "L"}
_GHG: Final[Mapping[str, GhgMark]] = {"": "", "√": "√", "√√": "√√"}
_RELATION: Final[Mapping[str, Relation]] = {
    "same": "same",
    "narrower": "narrower",
    "broader": "broader",
    "partial": "partial",
}
_CODE = re.compile(r"^[1-9][0-9]*(\.[1-9][0-9]*)*$")
_INDUSTRY_CLASS = re.compile(r"^[0-9]{4}$")

_ITEM_FIELDS: Final = (
    "catalogue",
    "code",
    "level",
    "parent_code",
    "name_zh",
    "name_en",
    "description_zh",
    "ghg_mark",
    "source",
    "confidence",
    "note",
)
_INDUSTRY_FIELDS: Final = (
    "code",
    "row",
    "industry_code",
    "industry_name",
    "conditions_zh",
    "remarks_zh",
    "ghg_mark",
    "source",
    "confidence",
    "note",
)
_CERF_AREA_FIELDS: Final = (
    "id",
    "parent_id",
    "name_zh",
    "name_en",
    "in_force_from",
    "description",
    "source",
    "confidence",
)
_CROSSWALK_FIELDS: Final = (
    "code_2021",
    "name_2021",
    "code_2025",
    "name_2025",
    "relation",
    "basis",
    "confidence",
    "source",
)
_CERF_MAP_FIELDS: Final = ("catalogue", "code", "name_zh", "cerf_area", "basis", "confidence", "source")


class CatalogueError(ValueProblem):
    """A catalogue version, item code or date for which greenfin has no catalogue item."""


@dataclass(frozen=True, slots=True)
class CatalogueItem:
    """One item of a catalogue; ``description_zh`` is its 条件/标准 (说明/条件 in 2021) text.

    For 2025 leaves the description joins the conditions of the item's industry rows, each
    prefixed with the GB/T 4754 classes it applies to; the rows themselves are in
    :meth:`Catalogue.industries`.  ``ghg_mark`` is the catalogue's 温室气体减排贡献 mark (√ low-carbon
    enabling, √√ direct reduction); for an item it is the strongest mark of its rows.
    """

    catalogue: str
    code: str
    level: int
    parent_code: str | None
    name_zh: str
    name_en: str
    description_zh: str
    ghg_mark: GhgMark
    source: str
    confidence: Confidence
    note: str


@dataclass(frozen=True, slots=True)
class IndustryRow:
    """One (2025 level-3 item × GB/T 4754-2017 class) row with the conditions it sets.

    ``industry_code`` is ``None`` where the catalogue gives no single class ('-'), e.g. for
    "其他形式贸易" rows; ``industry_name`` then describes the activity.  The catalogue notes that
    these classes describe the activity, not the borrower's registered industry.
    """

    code: str
    row: int
    industry_code: str | None
    industry_name: str
    conditions_zh: str
    remarks_zh: str
    ghg_mark: GhgMark
    source: str
    confidence: Confidence
    note: str


@dataclass(frozen=True, slots=True)
class CerfArea:
    """A CERF (碳减排支持工具) support area, or a sub-item of one when ``parent_id`` is set."""

    id: str
    parent_id: str | None
    name_zh: str
    name_en: str
    in_force_from: date
    description: str
    source: str
    confidence: Confidence


@dataclass(frozen=True, slots=True)
class CerfLink:
    """Our reading that a catalogue leaf falls under a CERF area, with why and how sure."""

    catalogue: str
    code: str
    area: CerfArea
    top_area: CerfArea
    basis: str
    confidence: Confidence
    source: str


@dataclass(frozen=True, slots=True)
class CrosswalkLink:
    """A 2021 leaf and a 2025 leaf that cover the same activity, in whole or in part.

    ``relation`` compares the 2021 item's activity scope with the 2025 item's: ``narrower`` means
    the 2021 item covers less.  It says nothing about the technical criteria, which often
    changed: a loan relabelled under 2025 must meet the 2025 item's conditions.
    """

    code_2021: str
    code_2025: str
    relation: Relation
    basis: str
    confidence: Confidence
    source: str


@dataclass(frozen=True, slots=True)
class _Spec:
    version: str
    file: str
    title_zh: str
    in_force_from: date
    depth: int
    counts: tuple[int, ...] | None
    industries_file: str | None


_SPECS: Final[Mapping[str, _Spec]] = {
    GBC_2021: _Spec(
        GBC_2021,
        "green_bond_2021.csv",
        "绿色债券支持项目目录（2021年版）",
        GBC_2021_IN_FORCE,
        4,
        None,
        None,
    ),
    GFC_2025: _Spec(
        GFC_2025,
        "green_finance_2025.csv",
        "绿色金融支持项目目录（2025年版）",
        GFC_2025_IN_FORCE,
        3,
        (9, 38, 271),
        "green_finance_2025_industries.csv",
    ),
}

#: Level-1 count of the 2021 catalogue, from the notice itself; lower levels are incomplete.
_GBC_2021_LEVEL1 = 6


@dataclass(frozen=True, slots=True)
class Catalogue:
    """A loaded, checked catalogue version with its tree and (2025) industry rows."""

    version: str
    title_zh: str
    in_force_from: date
    depth: int
    items: tuple[CatalogueItem, ...]
    industry_rows: tuple[IndustryRow, ...] = ()
    _by_code: dict[str, CatalogueItem] = field(init=False, repr=False, compare=False)
    _children: dict[str | None, tuple[CatalogueItem, ...]] = field(init=False, repr=False, compare=False)
    _rows: dict[str, tuple[IndustryRow, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        children: dict[str | None, list[CatalogueItem]] = {}
        for item in self.items:
            children.setdefault(item.parent_code, []).append(item)
        rows: dict[str, list[IndustryRow]] = {}
        for row in self.industry_rows:
            rows.setdefault(row.code, []).append(row)
        object.__setattr__(self, "_by_code", {item.code: item for item in self.items})
        object.__setattr__(self, "_children", {k: tuple(v) for k, v in children.items()})
        object.__setattr__(self, "_rows", {k: tuple(v) for k, v in rows.items()})

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    def item(self, code: str) -> CatalogueItem:
        """The item with this code; a clear error names the catalogue when there is none."""
        try:
            return self._by_code[code.strip()]
        except KeyError:
            raise CatalogueError(
                f"{code!r} is not an item of {self.version} ({self.title_zh})",
                f"{code!r} 不是《{self.title_zh}》中的条目",
            ) from None

    def children(self, code: str | None = None) -> tuple[CatalogueItem, ...]:
        """Direct children of an item, in catalogue order; the level-1 items for ``None``."""
        if code is not None:
            code = self.item(code).code
        return self._children.get(code, ())

    def ancestors(self, code: str) -> tuple[CatalogueItem, ...]:
        """The item's parents from level 1 down, without the item itself."""
        chain: list[CatalogueItem] = []
        parent = self.item(code).parent_code
        while parent is not None:
            item = self._by_code[parent]
            chain.append(item)
            parent = item.parent_code
        return tuple(reversed(chain))

    def level1_of(self, code: str) -> CatalogueItem:
        """The level-1 area (e.g. 能源绿色低碳转型) that statistics group an item under."""
        item = self.item(code)
        return item if item.parent_code is None else self.ancestors(code)[0]

    def leaves(self) -> tuple[CatalogueItem, ...]:
        """The items a loan is labelled with: those at the catalogue's deepest level."""
        return tuple(item for item in self.items if item.level == self.depth)

    def industries(self, code: str) -> tuple[IndustryRow, ...]:
        """The GB/T 4754 rows of a 2025 leaf (empty for 2021, which has none)."""
        return self._rows.get(self.item(code).code, ())

    def items_for_industry(self, industry_code: str) -> tuple[CatalogueItem, ...]:
        """Leaves with a row for this GB/T 4754 class ('4415' or 'D4415'), a first hint only.

        The catalogue warns that its classes describe activities, not the borrower's registered
        industry, so this narrows the search; the conditions decide.
        """
        digits = industry_code.strip().upper().lstrip("ABCDEFGHIJKLMNOPQRST")
        codes = dict.fromkeys(row.code for row in self.industry_rows if row.industry_code == digits)
        return tuple(self._by_code[code] for code in codes)


def _read(name: str, fields: tuple[str, ...]) -> list[dict[str, str]]:
    """All rows of a shipped catalogue CSV, refusing a file whose header has changed."""
    text = (
        resources.files("greenfin.reference").joinpath("data", "catalogues", name).read_text(encoding="utf-8")
    )
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if tuple(reader.fieldnames or ()) != fields:
        raise RuntimeError(f"{name}: header {reader.fieldnames} is not {list(fields)}")
    return list(reader)


class _Problems:
    """Collects every problem in a file so that one run reports them all."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.found: list[str] = []

    def add(self, where: str, what: str) -> None:
        self.found.append(f"{where}: {what}")

    def raise_any(self) -> None:
        if self.found:
            shown = "\n  ".join(self.found[:40])
            more = f"\n  … and {len(self.found) - 40} more" if len(self.found) > 40 else ""
            raise RuntimeError(f"{self.name} failed its checks:\n  {shown}{more}")


def _confidence(value: str, where: str, problems: _Problems) -> Confidence:
    found = _CONFIDENCE.get(value)
    if found is None:
        problems.add(where, f"confidence {value!r} is not H, M or L")
        return "L"
    return found


def _ghg(value: str, where: str, problems: _Problems) -> GhgMark:
    found = _GHG.get(value)
    if found is None:
        problems.add(where, f"greenhouse-gas mark {value!r} is not '', '√' or '√√'")
        return ""
    return found


def _load_items(spec: _Spec) -> tuple[CatalogueItem, ...]:
    problems = _Problems(spec.file)
    items: list[CatalogueItem] = []
    seen: set[str] = set()
    for n, row in enumerate(_read(spec.file, _ITEM_FIELDS), start=2):
        code = row["code"]
        where = f"line {n} ({code})"
        if row["catalogue"] != spec.version:
            problems.add(where, f"catalogue {row['catalogue']!r} is not {spec.version}")
        if not _CODE.match(code):
            problems.add(where, "code is not dotted numbers")
        if code in seen:
            problems.add(where, "code appears twice")
        seen.add(code)
        depth = code.count(".") + 1
        level = int(row["level"]) if row["level"].isdigit() else 0
        if level != depth or not 1 <= level <= spec.depth:
            problems.add(where, f"level {row['level']!r} does not match the code's depth {depth}")
        parent = row["parent_code"] or None
        expected_parent = code.rpartition(".")[0] or None
        if parent != expected_parent:
            problems.add(where, f"parent {parent!r} is not the code's prefix {expected_parent!r}")
        elif parent is not None and parent not in seen:
            problems.add(where, f"parent {parent!r} does not come before it")
        confidence = _confidence(row["confidence"], where, problems)
        if not row["source"].strip():
            problems.add(where, "no source")
        if not row["name_zh"] and confidence != "L":
            problems.add(where, "an item without a name must be marked L")
        if row["name_zh"] and not row["name_en"]:
            problems.add(where, "no English name")
        if "〔解析器附加" in row["description_zh"]:
            problems.add(where, "parser addition left in the description")
        items.append(
            CatalogueItem(
                catalogue=spec.version,
                code=code,
                level=level,
                parent_code=parent,
                name_zh=row["name_zh"],
                name_en=row["name_en"],
                description_zh=row["description_zh"],
                ghg_mark=_ghg(row["ghg_mark"], where, problems),
                source=row["source"],
                confidence=confidence,
                note=row["note"],
            )
        )
    counts = tuple(sum(1 for item in items if item.level == lv) for lv in range(1, spec.depth + 1))
    if spec.counts is not None and counts != spec.counts:
        problems.add("file", f"items per level are {counts}, the catalogue has {spec.counts}")
    if spec.version == GBC_2021 and counts[0] != _GBC_2021_LEVEL1:
        problems.add("file", f"{counts[0]} level-1 items, the catalogue has {_GBC_2021_LEVEL1}")
    problems.raise_any()
    return tuple(items)


def _load_industry_rows(name: str, items: Iterable[CatalogueItem], depth: int) -> tuple[IndustryRow, ...]:
    problems = _Problems(name)
    leaves = {item.code for item in items if item.level == depth}
    divisions = industry_table().divisions
    rows: list[IndustryRow] = []
    last: dict[str, int] = {}
    for n, row in enumerate(_read(name, _INDUSTRY_FIELDS), start=2):
        code = row["code"]
        where = f"line {n} ({code} row {row['row']})"
        if code not in leaves:
            problems.add(where, "not a level-3 item of the catalogue")
        seq = int(row["row"]) if row["row"].isdigit() else 0
        if seq != last.get(code, 0) + 1:
            problems.add(where, "rows of an item must be numbered 1, 2, 3 … in order")
        last[code] = seq
        industry = row["industry_code"] or None
        if industry is not None:
            if not _INDUSTRY_CLASS.match(industry):
                problems.add(where, f"industry code {industry!r} is not a 4-digit GB/T 4754 class")
            elif industry[:2] not in divisions:
                problems.add(where, f"{industry[:2]} is not a GB/T 4754-2017 division")
        if not row["industry_name"]:
            problems.add(where, "no industry name or activity")
        if not row["conditions_zh"]:
            problems.add(where, "no conditions (条件/标准)")
        if not row["source"].strip():
            problems.add(where, "no source")
        if "〔解析器附加" in row["conditions_zh"] + row["remarks_zh"]:
            problems.add(where, "parser addition left in the text")
        rows.append(
            IndustryRow(
                code=code,
                row=seq,
                industry_code=industry,
                industry_name=row["industry_name"],
                conditions_zh=row["conditions_zh"],
                remarks_zh=row["remarks_zh"],
                ghg_mark=_ghg(row["ghg_mark"], where, problems),
                source=row["source"],
                confidence=_confidence(row["confidence"], where, problems),
                note=row["note"],
            )
        )
    missing = sorted(leaves - set(last), key=_code_key)
    if missing:
        problems.add("file", f"leaves without industry rows: {missing}")
    problems.raise_any()
    return tuple(rows)


def _code_key(code: str) -> tuple[int, ...]:
    return tuple(int(part) for part in code.split("."))


def _as_date(when: date) -> date:
    return when.date() if isinstance(when, datetime) else when


@cache
def catalogue(version: str) -> Catalogue:
    """A catalogue version, loaded and checked on first use."""
    spec = _SPECS.get(version)
    if spec is None:
        raise CatalogueError(
            f"unknown catalogue version {version!r}; greenfin has {', '.join(CATALOGUE_VERSIONS)}",
            f"未知的目录版本 {version!r}；可用版本为 {', '.join(CATALOGUE_VERSIONS)}",
        )
    items = _load_items(spec)
    rows = _load_industry_rows(spec.industries_file, items, spec.depth) if spec.industries_file else ()
    return Catalogue(spec.version, spec.title_zh, spec.in_force_from, spec.depth, items, rows)


def catalogue_for_date(approval_date: date) -> Catalogue:
    """The catalogue a loan or bond approved on this date is labelled against.

    Items approved before 2025-10-01 keep the 2021 standard (the 2025 notice, item 三).  Before
    2021-07-01 the 2015 catalogue applied, which greenfin does not ship: that is an error rather
    than a silent label under the wrong standard.
    """
    when = _as_date(approval_date)
    if when >= GFC_2025_IN_FORCE:
        return catalogue(GFC_2025)
    if when >= GBC_2021_IN_FORCE:
        return catalogue(GBC_2021)
    raise CatalogueError(
        f"{when.isoformat()} is before {GBC_2021_IN_FORCE.isoformat()}; the catalogue then in force "
        "(绿色债券支持项目目录（2015年版）) is not shipped with greenfin",
        f"{when.isoformat()} 早于 {GBC_2021_IN_FORCE.isoformat()}，当时适用的《绿色债券支持项目目录（2015年版）》"
        "未随 greenfin 提供",
    )


@cache
def _cerf_areas() -> dict[str, CerfArea]:
    problems = _Problems("cerf_areas.csv")
    areas: dict[str, CerfArea] = {}
    for n, row in enumerate(_read("cerf_areas.csv", _CERF_AREA_FIELDS), start=2):
        where = f"line {n} ({row['id']})"
        if row["id"] in areas:
            problems.add(where, "id appears twice")
        parent = row["parent_id"] or None
        if parent is not None and (parent not in areas or areas[parent].parent_id is not None):
            problems.add(where, f"parent {parent!r} is not a top-level area listed before it")
        try:
            in_force = date.fromisoformat(row["in_force_from"])
        except ValueError:
            problems.add(where, f"in_force_from {row['in_force_from']!r} is not a date")
            in_force = date.max
        if not row["source"].strip():
            problems.add(where, "no source")
        areas[row["id"]] = CerfArea(
            id=row["id"],
            parent_id=parent,
            name_zh=row["name_zh"],
            name_en=row["name_en"],
            in_force_from=in_force,
            description=row["description"],
            source=row["source"],
            confidence=_confidence(row["confidence"], where, problems),
        )
    problems.raise_any()
    return areas


def cerf_areas(on: date | None = None) -> tuple[CerfArea, ...]:
    """CERF areas and their sub-items; with ``on``, only those in force on that date."""
    areas = tuple(_cerf_areas().values())
    if on is None:
        return areas
    when = _as_date(on)
    return tuple(area for area in areas if area.in_force_from <= when)


def cerf_area(area_id: str) -> CerfArea:
    """One CERF area or sub-item by id, e.g. 'clean_energy' or 'clean_energy.wind'."""
    try:
        return _cerf_areas()[area_id]
    except KeyError:
        raise CatalogueError(
            f"{area_id!r} is not a CERF area", f"{area_id!r} 不是碳减排支持工具支持领域"
        ) from None


@cache
def _cerf_links() -> dict[tuple[str, str], CerfLink]:
    problems = _Problems("cerf_map.csv")
    areas = _cerf_areas()
    links: dict[tuple[str, str], CerfLink] = {}
    for n, row in enumerate(_read("cerf_map.csv", _CERF_MAP_FIELDS), start=2):
        version, code = row["catalogue"], row["code"]
        where = f"line {n} ({version} {code})"
        if version not in _SPECS:
            problems.add(where, f"unknown catalogue {version!r}")
            continue
        book = catalogue(version)
        if code not in book or book.item(code).level != book.depth:
            problems.add(where, "not a leaf of the catalogue")
            continue
        if book.item(code).name_zh != row["name_zh"]:
            problems.add(where, f"name {row['name_zh']!r} is not the item's {book.item(code).name_zh!r}")
        area = areas.get(row["cerf_area"])
        if area is None:
            problems.add(where, f"unknown CERF area {row['cerf_area']!r}")
            continue
        if (version, code) in links:
            problems.add(where, "item mapped twice")
        if not row["source"].strip():
            problems.add(where, "no source")
        top = areas[area.parent_id] if area.parent_id else area
        links[(version, code)] = CerfLink(
            catalogue=version,
            code=code,
            area=area,
            top_area=top,
            basis=row["basis"],
            confidence=_confidence(row["confidence"], where, problems),
            source=row["source"],
        )
    problems.raise_any()
    return links


def cerf_link(version: str, code: str) -> CerfLink | None:
    """How, and how surely, a leaf is mapped to a CERF area; ``None`` when it is not mapped."""
    catalogue(version).item(code)
    return _cerf_links().get((version, code.strip()))


def cerf_area_of(version: str, code: str) -> CerfArea | None:
    """The top-level CERF area (e.g. 清洁能源) of a leaf, or ``None`` when it has none.

    ``None`` means "not mapped", not "ineligible": the map is deliberately conservative because
    the PBoC's own list of sub-fields was not available.
    """
    link = cerf_link(version, code)
    return None if link is None else link.top_area


@cache
def crosswalk() -> tuple[CrosswalkLink, ...]:
    """2021→2025 correspondences we could justify from the item texts; many leaves have none."""
    problems = _Problems("crosswalk_2021_2025.csv")
    old, new = catalogue(GBC_2021), catalogue(GFC_2025)
    links: list[CrosswalkLink] = []
    seen: set[tuple[str, str]] = set()
    for n, row in enumerate(_read("crosswalk_2021_2025.csv", _CROSSWALK_FIELDS), start=2):
        pair = (row["code_2021"], row["code_2025"])
        where = f"line {n} ({pair[0]} → {pair[1]})"
        for book, code, name in ((old, pair[0], row["name_2021"]), (new, pair[1], row["name_2025"])):
            if code not in book or book.item(code).level != book.depth:
                problems.add(where, f"{code} is not a leaf of {book.version}")
            elif book.item(code).name_zh != name:
                problems.add(where, f"name {name!r} is not the {book.version} item's name")
        relation = _RELATION.get(row["relation"])
        if relation is None:
            problems.add(where, f"relation {row['relation']!r} is not one of {sorted(_RELATION)}")
            relation = "partial"
        if pair in seen:
            problems.add(where, "pair listed twice")
        seen.add(pair)
        if not row["source"].strip() or not row["basis"].strip():
            problems.add(where, "no source or basis")
        links.append(
            CrosswalkLink(
                code_2021=pair[0],
                code_2025=pair[1],
                relation=relation,
                basis=row["basis"],
                confidence=_confidence(row["confidence"], where, problems),
                source=row["source"],
            )
        )
    problems.raise_any()
    return tuple(links)


def successors(code_2021: str) -> tuple[CrosswalkLink, ...]:
    """The 2025 leaves a 2021 leaf corresponds to, for relabelling a book after 2025-10-01."""
    code = catalogue(GBC_2021).item(code_2021).code
    return tuple(link for link in crosswalk() if link.code_2021 == code)


def predecessors(code_2025: str) -> tuple[CrosswalkLink, ...]:
    """The 2021 leaves that correspond to a 2025 leaf, for comparing statistics across years."""
    code = catalogue(GFC_2025).item(code_2025).code
    return tuple(link for link in crosswalk() if link.code_2025 == code)
