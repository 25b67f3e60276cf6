"""Green-loan statistics as of a date: balances and counts that keep the loans behind them.

The PBoC green-loan statistics and the 银行业金融机构绿色金融评价方案 (2021) both start from the
same few numbers: the green balance, split by catalogue category, industry, place, risk class and
carbon benefit, and a handful of ratios.  A supervisor who doubts a number asks "which loans?", so
every :class:`Figure` carries its loan ids, and its balance is the exact integer sum of those
loans' 分.  Nothing here touches the store: :func:`build_stats` is pure, which is what lets the
property tests show that statistics of a union are the sums of the statistics of its parts.

A loan counts at the date D when it was drawn on or before D and still has a balance.  Balances
are the ones in the loans handed in (the store keeps the latest import), so a bank runs the report
just after importing the period-end book.  Only CNY loans are summed in 元; loans in other
currencies are listed apart, never added to 元 totals (as in ``service/summary.py``).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Final, Literal, Protocol

from greenfin.model.values import FiveTier, fen_to_yuan
from greenfin.reference.catalogues import CATALOGUE_VERSIONS, catalogue
from greenfin.reference.industries import industry_table

SNAPSHOT_SCHEMA: Final = 1
CENT: Final = Decimal("0.01")

#: The tables of the statistics, in the order they are shown: key → (Chinese title, English title).
DIMENSIONS: Final[dict[str, tuple[str, str]]] = {
    "level1": ("按绿色金融支持项目目录一级分类", "by catalogue level 1"),
    "level2": ("按绿色金融支持项目目录二级分类", "by catalogue level 2"),
    "industry_section": ("按国民经济行业门类（GB/T 4754-2017）", "by industry section"),
    "industry_division": ("按国民经济行业大类（GB/T 4754-2017）", "by industry division"),
    "province": ("按借款人所在省份", "by province"),
    "five_tier": ("按五级分类", "by five-tier class"),
    "carbon_benefit": ("按碳减排效益", "by carbon benefit"),
}

CARBON_BENEFIT_ZH: Final = {
    "direct": "具有直接碳减排效益（√√）",
    "indirect": "具有间接碳减排效益（√）",
    "none": "目录未标注碳减排效益",
}
NON_PERFORMING: Final = (FiveTier.SUBSTANDARD.value, FiveTier.DOUBTFUL.value, FiveTier.LOSS.value)
UNFILLED: Final = "未填写"
Period = Literal["quarter", "year"]


class GreenLoan(Protocol):
    """What the reports read of a loan: ``service.green_book.GreenLoan`` has it all.

    A protocol rather than an import, so that this engine does not depend on the service layer
    (and through it on the store); tests can hand in any object of this shape.
    """

    @property
    def loan_id(self) -> str: ...
    @property
    def borrower_name(self) -> str: ...
    @property
    def industry_code(self) -> str: ...
    @property
    def province(self) -> str: ...
    @property
    def five_tier(self) -> str | None: ...
    @property
    def currency(self) -> str: ...
    @property
    def balance_fen(self) -> int: ...
    @property
    def start_date(self) -> dt.date: ...
    @property
    def status(self) -> str | None: ...
    @property
    def catalogue(self) -> str | None: ...
    @property
    def item_code(self) -> str | None: ...
    @property
    def item_name(self) -> str | None: ...
    @property
    def level1_code(self) -> str | None: ...
    @property
    def level1_name(self) -> str | None: ...
    @property
    def level2_code(self) -> str | None: ...
    @property
    def level2_name(self) -> str | None: ...
    @property
    def co2_reduced_t(self) -> float | None: ...
    @property
    def coal_saved_tce(self) -> float | None: ...
    @property
    def green(self) -> bool: ...
    @property
    def carbon_benefit(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Figure:
    """A count and a CNY balance, with the ids of exactly the loans that make them up.

    ``key`` is stable across reports (``level1/gbc-2021/3``), so snapshots of different dates can
    be compared figure by figure.  ``group`` names the catalogue version for catalogue tables.
    """

    key: str
    dimension: str
    code: str
    name: str
    loan_ids: tuple[str, ...]
    balance_fen: int
    group: str = ""

    @property
    def count(self) -> int:
        return len(self.loan_ids)

    @property
    def balance_yuan(self) -> Decimal:
        return fen_to_yuan(self.balance_fen)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The figures of an earlier report, as stored: what QoQ and YoY are computed against."""

    id: int
    as_of: dt.date
    figures: dict[str, tuple[int, int]]  # key → (count, balance 分)

    @classmethod
    def from_json(cls, snapshot_id: int, as_of: dt.date, data: Mapping[str, Any]) -> Snapshot:
        """Read a stored snapshot; balances were stored as 元 text and come back as exact 分."""
        figures = {
            str(key): (int(value["loans"]), int(Decimal(str(value["balance_yuan"])) * 100))
            for key, value in dict(data.get("figures", {})).items()
        }
        return cls(snapshot_id, as_of, figures)


@dataclass(frozen=True, slots=True)
class Indicator:
    """A quantitative indicator of the 绿色金融评价方案; ``value_pct`` is None where data lacks."""

    key: str
    name_zh: str
    name_en: str
    value_pct: Decimal | None
    numerator: Figure | None
    denominator: Figure | None
    note_zh: str


@dataclass(frozen=True, slots=True)
class Benefits:
    """Attributed annual benefits of the green loans that have an assessed project."""

    co2_t: Decimal
    coal_tce: Decimal
    figure: Figure  # the green loans with an assessed project, and their balance


@dataclass(frozen=True, slots=True)
class Stats:
    """The statistics as of ``as_of``; every number comes from a :class:`Figure` with its loans."""

    as_of: dt.date
    total: Figure  # green CNY loans
    all_loans: Figure  # every outstanding CNY loan: the denominator of the shares
    needs_review: Figure  # outstanding CNY loans the engine could not settle: not counted as green
    non_performing: Figure  # green loans classed 次级/可疑/损失
    tables: dict[str, tuple[Figure, ...]]
    indicators: tuple[Indicator, ...]
    benefits: Benefits
    foreign_currency_ids: tuple[str, ...]  # green loans in other currencies, not in the 元 figures
    loans: tuple[GreenLoan, ...]  # every outstanding CNY loan, in loan-id order
    previous_quarter: Snapshot | None = None
    previous_year: Snapshot | None = None
    _by_key: dict[str, Figure] = field(default_factory=dict, repr=False, compare=False)

    def figures(self) -> Iterator[Figure]:
        """Every figure: the totals first, then each table's rows."""
        yield self.total
        yield self.all_loans
        yield self.needs_review
        yield self.non_performing
        yield self.benefits.figure
        for rows in self.tables.values():
            yield from rows

    def figure(self, key: str) -> Figure:
        if not self._by_key:
            self._by_key.update({f.key: f for f in self.figures()})
        return self._by_key[key]

    def previous(self, period: Period) -> Snapshot | None:
        return self.previous_quarter if period == "quarter" else self.previous_year

    def growth_pct(self, figure: Figure, period: Period) -> Decimal | None:
        """环比 (quarter) or 同比 (year) growth of a figure's balance in %, None without a base."""
        snapshot = self.previous(period)
        if snapshot is None or figure.key not in snapshot.figures:
            return None
        _count, before = snapshot.figures[figure.key]
        return percent(figure.balance_fen - before, before)

    def share_pct(self, figure: Figure) -> Decimal | None:
        """A figure's share: of all loans for the book-level totals, else of the green total."""
        base = self.all_loans if figure.key in {"all_loans", "total", "needs_review"} else self.total
        return percent(figure.balance_fen, base.balance_fen)

    def snapshot_json(self) -> dict[str, Any]:
        """The figures as JSON can hold them exactly: 元 as text, never floats; loan ids left out.

        The ids are left out on purpose: a snapshot of a million-loan book would otherwise hold
        the book several times over, and comparisons need only counts and balances.
        """
        return {
            "schema": SNAPSHOT_SCHEMA,
            "as_of": self.as_of.isoformat(),
            "figures": {
                f.key: {
                    "dimension": f.dimension, "code": f.code, "name": f.name, "group": f.group,
                    "loans": f.count, "balance_yuan": str(f.balance_yuan),
                }
                for f in self.figures()
            },
            "indicators": {
                i.key: None if i.value_pct is None else str(i.value_pct) for i in self.indicators
            },
            "benefits": {
                "co2_t": str(self.benefits.co2_t), "coal_tce": str(self.benefits.coal_tce),
                "loans": self.benefits.figure.count,
            },
        }  # fmt: skip


def percent(numerator: int, denominator: int) -> Decimal | None:
    """numerator ÷ denominator in %, two places, half up; None when the base is zero."""
    if denominator == 0:
        return None
    return (Decimal(numerator) * 100 / Decimal(denominator)).quantize(CENT, rounding=ROUND_HALF_UP)


def outstanding(loan: GreenLoan, as_of: dt.date) -> bool:
    """On the book at ``as_of``: drawn by then and not repaid."""
    return loan.start_date <= as_of and loan.balance_fen > 0


class _Groups:
    """Loans gathered under figure keys, with the integer sum of their 分."""

    def __init__(self, dimension: str) -> None:
        self.dimension = dimension
        self.ids: dict[str, list[str]] = {}
        self.fen: dict[str, int] = {}
        self.meta: dict[str, tuple[str, str, str]] = {}  # key → (code, name, group)

    def add(self, loan: GreenLoan, code: str, name: str, group: str = "") -> None:
        key = f"{self.dimension}/{group}/{code}" if group else f"{self.dimension}/{code}"
        if key not in self.ids:
            self.ids[key] = []
            self.fen[key] = 0
            self.meta[key] = (code, name, group)
        self.ids[key].append(loan.loan_id)
        self.fen[key] += loan.balance_fen

    def figures(self) -> list[Figure]:
        return [
            Figure(key, self.dimension, *self.meta[key][:2], tuple(ids), self.fen[key], self.meta[key][2])
            for key, ids in self.ids.items()
        ]


def _single(key: str, dimension: str, name: str, loans: list[GreenLoan]) -> Figure:
    return Figure(
        key, dimension, key, name, tuple(x.loan_id for x in loans), sum(x.balance_fen for x in loans)
    )


def _code_key(code: str) -> tuple[tuple[int, int, str], ...]:
    """'3.10' after '3.2': numeric parts compare as numbers, anything else after them as text."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in code.split("."))


def _catalogue_order(version: str) -> dt.date:
    """Catalogue tables list the older catalogue first; an unknown version goes last."""
    return catalogue(version).in_force_from if version in CATALOGUE_VERSIONS else dt.date.max


def build_stats(
    loans: Iterable[GreenLoan],
    as_of: dt.date,
    *,
    previous_quarter: Snapshot | None = None,
    previous_year: Snapshot | None = None,
) -> Stats:
    """The statistics of ``loans`` (the whole book, green or not) as of ``as_of``.

    Non-green loans are needed for the denominator of 绿色金融业务总额占比; only loans whose label
    that counts is ``green`` enter the green figures.  Loans needing review are shown apart, so
    that the bank sees what the green total may still gain.
    """
    book = sorted((x for x in loans if outstanding(x, as_of)), key=lambda x: x.loan_id)
    cny = [x for x in book if x.currency == "CNY"]
    green = [x for x in cny if x.green]
    foreign = tuple(x.loan_id for x in book if x.currency != "CNY" and x.green)
    industries = industry_table()
    groups = {name: _Groups(name) for name in DIMENSIONS}
    for loan in green:
        if loan.catalogue and loan.level1_code:
            groups["level1"].add(loan, loan.level1_code, loan.level1_name or "—", loan.catalogue)
            level2 = loan.level2_code or loan.level1_code
            groups["level2"].add(loan, level2, loan.level2_name or "（目录未列名称）", loan.catalogue)
        else:  # a green label without an item (should not happen): kept visible, not dropped
            groups["level1"].add(loan, "?", "未标注目录条目", loan.catalogue or "?")
            groups["level2"].add(loan, "?", "未标注目录条目", loan.catalogue or "?")
        section = industries.sections.get(loan.industry_code[:1])
        groups["industry_section"].add(loan, loan.industry_code[:1], section.name_zh if section else "—")
        division = industries.divisions.get(loan.industry_code[1:3])
        groups["industry_division"].add(loan, loan.industry_code[:3], division.name_zh if division else "—")
        groups["province"].add(loan, loan.province, loan.province)
        tier = loan.five_tier or UNFILLED
        groups["five_tier"].add(loan, tier, tier)
        groups["carbon_benefit"].add(loan, loan.carbon_benefit, CARBON_BENEFIT_ZH[loan.carbon_benefit])
    tier_order = [t.value for t in FiveTier] + [UNFILLED]
    order: dict[str, Any] = {
        "level1": lambda f: (_catalogue_order(f.group), _code_key(f.code)),
        "level2": lambda f: (_catalogue_order(f.group), _code_key(f.code)),
        "industry_section": lambda f: f.code,
        "industry_division": lambda f: f.code,
        "province": lambda f: (-f.balance_fen, f.code),
        "five_tier": lambda f: tier_order.index(f.code) if f.code in tier_order else len(tier_order),
        "carbon_benefit": lambda f: list(CARBON_BENEFIT_ZH).index(f.code),
    }  # fmt: skip
    tables = {name: tuple(sorted(g.figures(), key=order[name])) for name, g in groups.items()}
    total = _single("total", "total", "绿色贷款余额合计", green)
    all_loans = _single("all_loans", "all_loans", "各项贷款余额合计（人民币）", cny)
    review = _single(
        "needs_review",
        "needs_review",
        "待复核贷款（未计入绿色）",
        [x for x in cny if x.status == "needs_review"],
    )
    npl = _single("non_performing", "non_performing", "绿色不良贷款（次级、可疑、损失）", [x for x in green if x.five_tier in NON_PERFORMING])  # fmt: skip
    with_benefits = [x for x in green if x.co2_reduced_t is not None]
    benefits = Benefits(
        Decimal(repr(math.fsum(x.co2_reduced_t or 0.0 for x in with_benefits))).quantize(CENT),
        Decimal(repr(math.fsum(x.coal_saved_tce or 0.0 for x in with_benefits))).quantize(CENT),
        _single("with_benefits", "with_benefits", "已测算环境效益的绿色贷款", with_benefits),
    )
    stats = Stats(
        as_of, total, all_loans, review, npl, tables, (), benefits, foreign, tuple(cny),
        previous_quarter, previous_year,
    )  # fmt: skip
    return _with_indicators(stats)


def _with_indicators(stats: Stats) -> Stats:
    """Add the 评价方案's quantitative indicators that the book's own data allows."""
    total, npl = stats.total, stats.non_performing
    indicators = (
        Indicator(
            "green_share", "绿色金融业务总额占比", "green balance / all loans",
            percent(total.balance_fen, stats.all_loans.balance_fen), total, stats.all_loans,
            "绿色贷款余额 ÷ 各项贷款余额（人民币）",
        ),
        Indicator(
            "market_share", "绿色金融业务总额份额占比", "share of the region's green balance", None, total, None,
            "需要所在地区全部金融机构的绿色贷款余额（人民银行统计数据），本系统未掌握，暂不计算",
        ),
        Indicator(
            "yoy", "绿色金融业务总额同比增速", "year-on-year growth", stats.growth_pct(total, "year"), total, None,
            _growth_note(stats.previous_year, "同比"),
        ),
        Indicator(
            "qoq", "绿色贷款余额环比增速", "quarter-on-quarter growth", stats.growth_pct(total, "quarter"), total,
            None, _growth_note(stats.previous_quarter, "环比"),
        ),
        Indicator(
            "risk_share", "绿色金融业务风险总额占比（绿色贷款不良率）", "green non-performing ratio",
            percent(npl.balance_fen, total.balance_fen), npl, total,
            "五级分类为次级、可疑、损失的绿色贷款余额 ÷ 绿色贷款余额",
        ),
    )  # fmt: skip
    return Stats(
        stats.as_of, stats.total, stats.all_loans, stats.needs_review, stats.non_performing, stats.tables,
        indicators, stats.benefits, stats.foreign_currency_ids, stats.loans, stats.previous_quarter,
        stats.previous_year,
    )  # fmt: skip


def _growth_note(snapshot: Snapshot | None, word: str) -> str:
    if snapshot is None:
        return f"无可比期报告快照，{word}增速以“—”表示"
    return f"与 {snapshot.as_of.isoformat()} 的报告快照（#{snapshot.id}）相比"


def shift_months(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` earlier or later; a month's last day maps to the other's last day.

    So 2025-09-30 → 2025-06-30 and 2025-12-31 → 2024-12-31: the quarter-end dates the statistics use.
    """
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    last = _last_day(year, month)
    if day.day == _last_day(day.year, day.month):
        return dt.date(year, month, last)
    return dt.date(year, month, min(day.day, last))


def _last_day(year: int, month: int) -> int:
    following = dt.date(year + month // 12, month % 12 + 1, 1)
    return (following - dt.timedelta(days=1)).day
