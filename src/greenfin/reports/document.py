"""A small document model shared by every report and every output format.

A report is built once as sections of paragraphs, tables and marked places for the bank's own
text; the renderers (``render.py``) only lay it out.  That is how the HTML, XLSX, CSV and PDF of
one report can never disagree on a number.  A number is an :class:`Amount` that knows its unit
and the :class:`~greenfin.reports.stats.Figure` behind it, so each format can point at the loans.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from greenfin.reference.catalogues import CATALOGUE_VERSIONS, catalogue
from greenfin.reports.stats import DIMENSIONS, Figure, GreenLoan, Period, Stats

TO_FILL: Final = "由本行填写"


@dataclass(frozen=True, slots=True)
class Amount:
    """A number with its unit, and the key of the figure whose loans make it up (if any)."""

    value: Decimal | int | None
    unit: str
    places: int = 2
    figure: str | None = None

    def text(self) -> str:
        """Thousands separators and the unit, always; '—' where there is no value."""
        if self.value is None:
            return "—"
        return f"{self.value:,.{self.places}f} {self.unit}"


Part = str | Amount


@dataclass(frozen=True, slots=True)
class Text:
    """A paragraph; its numbers stay :class:`Amount` so that HTML can link them."""

    parts: tuple[Part, ...]

    def plain(self) -> str:
        return "".join(p if isinstance(p, str) else p.text() for p in self.parts)


@dataclass(frozen=True, slots=True)
class Placeholder:
    """A marked place for the narrative only the bank can write: 【由本行填写：…】."""

    prompt: str

    def plain(self) -> str:
        return f"【{TO_FILL}：{self.prompt}】"


@dataclass(frozen=True, slots=True)
class Table:
    """A table; ``name`` is its sheet or CSV name, ``figures`` the figure behind each row."""

    name: str
    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[Part, ...], ...]
    figures: tuple[str | None, ...]


Block = Text | Placeholder | Table


@dataclass(frozen=True, slots=True)
class Section:
    number: int
    title: str
    blocks: tuple[Block, ...]


@dataclass(frozen=True, slots=True)
class Document:
    """A report ready to render.  ``figures`` and ``loans`` back the links to loan lists."""

    kind: str  # stats or disclosure
    title: str
    subtitle: str
    as_of: dt.date
    sections: tuple[Section, ...]
    figures: Mapping[str, Figure]
    loans: tuple[GreenLoan, ...]

    def tables(self) -> list[Table]:
        return [b for s in self.sections for b in s.blocks if isinstance(b, Table)]


def text(*parts: Part) -> Text:
    return Text(tuple(parts))


def yuan(figure: Figure) -> Amount:
    return Amount(figure.balance_yuan, "元", 2, figure.key)


def count(figure: Figure) -> Amount:
    return Amount(figure.count, "笔", 0, figure.key)


def pct(value: Decimal | None) -> Amount:
    return Amount(value, "%", 2)


def growth(stats: Stats, figure: Figure, period: Period) -> Amount:
    return pct(stats.growth_pct(figure, period))


FIGURE_HEADER: Final = ("笔数（笔）", "余额（元）", "占比（%）", "环比增速（%）", "同比增速（%）")


def figure_row(stats: Stats, figure: Figure) -> tuple[Part, ...]:
    """A figure as a table row: count, balance, share, QoQ and YoY."""
    return (
        count(figure),
        yuan(figure),
        pct(stats.share_pct(figure)),
        growth(stats, figure, "quarter"),
        growth(stats, figure, "year"),
    )


def catalogue_title(version: str) -> str:
    """The catalogue's own title, for a reader who does not know greenfin's version codes."""
    return catalogue(version).title_zh if version in CATALOGUE_VERSIONS else version


def dimension_table(stats: Stats, dimension: str, *, name: str | None = None) -> Table:
    """One breakdown of the green balance; catalogue tables name the catalogue version."""
    rows = stats.tables[dimension]
    zh, en = DIMENSIONS[dimension]
    lead: tuple[str, ...] = (
        ("目录版本", "代码", "名称") if dimension.startswith("level") else ("代码", "名称")
    )
    body = []
    for f in rows:
        first: tuple[str, ...] = (
            (catalogue_title(f.group), f.code, f.name) if dimension.startswith("level") else (f.code, f.name)
        )
        body.append((*first, *figure_row(stats, f)))
    return Table(
        name or dimension,
        f"绿色贷款{zh} / green loans {en}",
        lead + FIGURE_HEADER,
        tuple(body),
        tuple(f.key for f in rows),
    )


def indicator_table(stats: Stats) -> Table:
    """The 评价方案's quantitative indicators, each with its numerator and denominator figures."""
    rows = []
    for i in stats.indicators:
        rows.append(
            (
                i.name_zh,
                pct(i.value_pct),
                yuan(i.numerator) if i.numerator else "—",
                yuan(i.denominator) if i.denominator else "—",
                i.note_zh,
            )
        )
    return Table(
        "indicators",
        "绿色金融评价方案定量指标 / quantitative indicators",
        ("指标", "数值（%）", "分子（元）", "分母（元）", "说明"),
        tuple(rows),
        tuple(i.numerator.key if i.numerator else None for i in stats.indicators),
    )


def totals_table(stats: Stats) -> Table:
    rows = (stats.total, stats.all_loans, stats.needs_review, stats.non_performing)
    return Table(
        "totals",
        "合计 / totals",
        ("项目", *FIGURE_HEADER),
        tuple((f.name, *figure_row(stats, f)) for f in rows),
        tuple(f.key for f in rows),
    )


def benefits_table(stats: Stats) -> Table:
    b = stats.benefits
    return Table(
        "benefits",
        "绿色贷款环境效益（归属本行，年） / attributed annual benefits",
        ("项目", "数值"),
        (
            ("年减排二氧化碳当量", Amount(b.co2_t, "tCO2e", 2, b.figure.key)),
            ("年节约标准煤", Amount(b.coal_tce, "tce", 2, b.figure.key)),
            ("已测算效益的绿色贷款", count(b.figure)),
            ("其贷款余额", yuan(b.figure)),
        ),
        (b.figure.key,) * 4,
    )


def _comparison_note(stats: Stats) -> Text:
    parts: list[str] = []
    for period, word in (("quarter", "环比"), ("year", "同比")):
        snapshot = stats.previous(period)  # type: ignore[arg-type]
        parts.append(
            f"{word}基期：{snapshot.as_of.isoformat()} 报告快照 #{snapshot.id}"
            if snapshot
            else f"{word}基期：无报告快照（“—”）"
        )
    return text("；".join(parts) + "。")


def stats_document(stats: Stats) -> Document:
    """The green-loan statistics as a document: totals, indicators, every breakdown, benefits."""
    day = stats.as_of.isoformat()
    overview: list[Block] = [
        text(
            f"截至 {day}，本行人民币绿色贷款余额 ", yuan(stats.total), "，共 ", count(stats.total),
            "；各项贷款余额 ", yuan(stats.all_loans), "，绿色贷款占比 ",
            pct(stats.share_pct(stats.total)), "。",
        ),
        _comparison_note(stats),
        text(
            "绿色贷款以识别结果为准：有人工复核结论的以复核结论为准，否则以最近一次识别引擎运行结果为准；"
            "2025-10-01 前审批的贷款按《绿色债券支持项目目录（2021年版）》，此后按《绿色金融支持项目目录（2025年版）》分类。"
        ),
        totals_table(stats),
    ]  # fmt: skip
    if stats.foreign_currency_ids:
        overview.append(
            text(
                f"另有外币绿色贷款 {len(stats.foreign_currency_ids):,} 笔未计入人民币合计："
                + "、".join(stats.foreign_currency_ids)
            )
        )
    sections = [
        Section(1, "总体情况", tuple(overview)),
        Section(2, "绿色金融评价方案定量指标", (indicator_table(stats),)),
    ]
    for number, dimension in enumerate(DIMENSIONS, 3):
        sections.append(Section(number, DIMENSIONS[dimension][0], (dimension_table(stats, dimension),)))
    sections.append(
        Section(
            len(sections) + 1,
            "环境效益",
            (
                text(
                    "可再生能源发电项目按项目年发电量与所在地电网因子测算，按本行贷款余额占项目总投资的比例归属本行；"
                    "其他项目尚无测算。"
                ),
                benefits_table(stats),
            ),
        )
    )
    return Document(
        "stats",
        f"绿色贷款统计（截至 {day}）",
        "Green-loan statistics",
        stats.as_of,
        tuple(sections),
        {f.key: f for f in stats.figures()},
        stats.loans,
    )
