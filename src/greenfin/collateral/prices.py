"""Reading price files for environmental-rights collateral: exchange exports and price lists.

A pledged allowance is valued from a daily price series, so a wrong price is a wrong haircut and a
wrong margin call.  This module reads what users actually have, checks it, and says precisely what
is wrong and where; it never touches the store (``service.prices`` writes what it returns).

Three layouts are told apart by the header, Chinese or English:

* ``exchange``: the Shanghai Environment and Energy Exchange daily export, one row per day and
  subject (``date,subject,open,high,low,close,changeRate,…,totalVolume,totalAmount``); every
  subject is a series (CEA, COMCEA, CEA21, …).
* ``single``: one series without a subject column (``date,open,high,low,close,…,volume_t``), such
  as the composite-only export; the caller names the series.
* ``price_list``: a user's list of prices, such as local 排污权 auction results
  (``日期,品种,成交价,数量``); the price becomes the close.

Exchange quirks that are *not* errors, because the real exports contain them:

* A day without a trade on the order book is reported with high and low zero (and often the open
  equal to the previous close).  The close is the exchange's reference price and is kept; open,
  high and low are stored as missing.  Likewise a day with zero volume and a zero open.
* A row with volume but no prices at all (2025-10-13 in the composite series) cannot be valued;
  it is skipped with a warning.
* The composite series (``COMCEA``) publishes a close computed across subjects and block trades
  that can lie outside its own high/low; for :data:`COMPOSITE_SERIES` that is a warning.
* A move of more than 30 % in log terms from one close to the next is imported with a warning:
  it may be real (a new vintage listing) and an officer should look at it.

Prices are Decimal 元 per unit with at most four decimal places; finer is refused, not rounded.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from greenfin.ingest.issues import ImportIssue, ImportRejected
from greenfin.ingest.readers import open_source
from greenfin.model.problems import ValueProblem
from greenfin.model.units import Dimension, Unit, UnknownUnitError, lookup_unit, normalise_unit_text
from greenfin.model.values import canonical_decimal, parse_date, parse_decimal

#: The longest calendar gap allowed between two consecutive days of a series.  The exchange closes
#: for about ten calendar days at the Spring Festival; more than this means missing data.
DEFAULT_MAX_GAP_DAYS = 15
#: A daily move above this, as |ln(P_t / P_{t-1})|, is imported with a warning.
OUTLIER_LOG_RETURN = 0.3
#: Series whose close is computed across subjects and may lie outside the day's high/low.
COMPOSITE_SERIES = frozenset({"COMCEA"})
PRICE_PLACES = 4
VOLUME_PLACES = 2
#: ``prices`` columns are Numeric(14, 4): below 10^10 元.
MAX_PRICE = Decimal(10) ** 10
#: Volumes are Numeric(20, 2), but SQLite keeps them as REAL (15 significant digits): below 10^13
#: they come back exact to the hundredth.
MAX_VOLUME = Decimal(10) ** 13
MAX_CODE_LENGTH = 32

EXCHANGE = "exchange"
SINGLE = "single"
PRICE_LIST = "price_list"
LAYOUT_NAMES_ZH = {EXCHANGE: "交易所日行情", SINGLE: "单一品种日行情", PRICE_LIST: "价格清单"}

# Header aliases, compared after folding (NFKC, lower case, no spaces, underscores or hyphens,
# the unit in brackets split off).  Exact matches only: ``listingVolume`` must not pass for volume.
_ALIASES: dict[str, tuple[str, ...]] = {
    "date": ("date", "day", "tradedate", "日期", "交易日期", "成交日期", "拍卖日期", "竞价日期"),
    "series": (
        "subject", "instrument", "code", "symbol", "series", "品种", "交易品种", "代码",
        "品种代码", "产品代码", "标的", "交易标的", "交易产品",
    ),
    "open": ("open", "openprice", "开盘价", "开盘", "今开"),
    "high": ("high", "highprice", "最高价", "最高"),
    "low": ("low", "lowprice", "最低价", "最低"),
    "close": ("close", "closeprice", "closingprice", "收盘价", "收盘"),
    "price": (
        "price", "dealprice", "clearingprice", "价格", "成交价", "成交价格", "成交均价", "均价",
        "成交单价", "单价", "拍卖价格", "出清价格", "统一出清价",
    ),
    "volume": (
        "volume", "totalvolume", "volumet", "quantity", "vol", "成交量", "总成交量", "数量",
        "成交数量", "交易量",
    ),
}  # fmt: skip
_FIELD_OF = {alias: name for name, aliases in _ALIASES.items() for alias in aliases}
_PRICE_FIELDS = ("open", "high", "low", "close", "price")
_LABEL = {
    "date": "日期 date", "series": "品种 instrument", "open": "开盘价 open", "high": "最高价 high",
    "low": "最低价 low", "close": "收盘价 close", "price": "价格 price", "volume": "成交量 volume",
}  # fmt: skip
#: Units a price header may carry: 元 per tonne (of CO2e or of a pollutant).  Anything else (万元,
#: 美元) would be stored as the wrong number, so it is refused.
_PRICE_UNIT_TEXTS = ("元/吨", "元/t", "元/tCO2e", "元/tCO2", "元/吨二氧化碳当量", "元", "cny", "cny/t", "yuan", "rmb")  # fmt: skip
_PRICE_UNITS = frozenset(normalise_unit_text(u) for u in _PRICE_UNIT_TEXTS)
_UNIT_IN_BRACKETS = re.compile(r"^(?P<name>.*?)[(\[](?P<unit>[^)\]]*)[)\]]\s*$")


@dataclass(frozen=True, slots=True)
class PriceRow:
    """One day of one series, as it will be stored (元 per unit; open/high/low None if untraded)."""

    instrument: str
    day: dt.date
    open_yuan: Decimal | None
    high_yuan: Decimal | None
    low_yuan: Decimal | None
    close_yuan: Decimal
    volume: Decimal | None
    line: int  # where it came from, for locating problems and the audit trail

    def values(self) -> dict[str, Any]:
        """The stored columns of the row."""
        return {
            "instrument": self.instrument,
            "day": self.day,
            "open_yuan": self.open_yuan,
            "high_yuan": self.high_yuan,
            "low_yuan": self.low_yuan,
            "close_yuan": self.close_yuan,
            "volume": self.volume,
        }


@dataclass
class PriceFile:
    """What a price file holds and what is wrong with it.

    ``errors`` refuse the whole file; ``warnings`` are imported but shown to the officer.
    """

    name: str
    layout: str | None = None
    kind: str | None = None
    encoding: str | None = None
    sha256: str = ""
    date_column: str = "日期 date"  # the file's own header, for locating problems across days
    close_column: str = "收盘价 close"
    data_rows: int = 0
    skipped: int = 0  # rows without any price
    other_series: int = 0  # rows of series not asked for (``instrument=`` on a multi-series file)
    rows: list[PriceRow] = field(default_factory=list)
    errors: list[ImportIssue] = field(default_factory=list)
    warnings: list[ImportIssue] = field(default_factory=list)

    @property
    def series(self) -> dict[str, int]:
        """Rows per series code, in first-seen order."""
        counts: dict[str, int] = {}
        for row in self.rows:
            counts[row.instrument] = counts.get(row.instrument, 0) + 1
        return counts


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    """A close on a day, from a file row or (``file`` None) from the store: what series checks see."""

    instrument: str
    day: dt.date
    close: Decimal
    file: str | None = None
    line: int | None = None
    date_column: str | None = None
    close_column: str | None = None


@dataclass(frozen=True, slots=True)
class _Plan:
    """Which column holds which field, and the factor of the volume unit."""

    layout: str
    columns: dict[str, int]
    headers: dict[str, str]
    volume_factor: Decimal


def _fold_header(text: Any) -> tuple[str, str | None]:
    """A header as a lookup key and the unit written in brackets, if any."""
    folded = unicodedata.normalize("NFKC", str(text)).strip().lower()
    unit: str | None = None
    match = _UNIT_IN_BRACKETS.match(folded)
    if match:
        folded, unit = match["name"], match["unit"].strip() or None
    key = re.sub(r"[\s_\-.]", "", folded)
    return key, unit


def _plan(header: list[str], name: str, instrument: str | None) -> tuple[_Plan | None, list[ImportIssue]]:
    """Tell the layout from the header, and check the units written in it."""
    columns: dict[str, int] = {}
    headers: dict[str, str] = {}
    issues: list[ImportIssue] = []
    volume_factor = Decimal(1)
    for index, text in enumerate(header):
        key, unit = _fold_header(text)
        found = _FIELD_OF.get(key)
        if found is None or found in columns:
            continue
        columns[found], headers[found] = index, str(text)
        if unit is None:
            continue
        if found in _PRICE_FIELDS and normalise_unit_text(unit) not in _PRICE_UNITS:
            issues.append(
                ImportIssue(
                    name, 1, str(text), unit,
                    f"prices must be in 元 per unit (元/吨, 元/tCO2e); unit {unit!r} is not accepted",
                    f"价格单位应为 元/吨（元/tCO2e），不接受 {unit!r}",
                )
            )  # fmt: skip
        elif found == "volume":
            try:
                volume_factor = _volume_unit(unit).factor
            except UnknownUnitError:
                issues.append(
                    ImportIssue(
                        name, 1, str(text), unit,
                        f"unknown volume unit {unit!r}; expected t, tCO2e, 万吨 or 万tCO2e",
                        f"无法识别的数量单位 {unit!r}；应为 吨、tCO2e、万吨 或 万tCO2e",
                    )
                )  # fmt: skip
    if "date" not in columns or not ({"close", "price"} & columns.keys()):
        found_names = "、".join(_LABEL[f] for f in columns) or "—"
        issues.append(
            ImportIssue(
                name, 1, None, None,
                "unknown layout: a price file needs a date column and a close or price column "
                f"(exchange daily export, single-series daily export, or a price list); found: {found_names}",
                "无法识别的文件格式：价格文件须有“日期”列和“收盘价”或“价格”列（交易所日行情、单一品种日行情或价格清单）；"
                f"已识别的列：{found_names}",
            )
        )  # fmt: skip
        return None, issues
    if "close" in columns:
        layout = EXCHANGE if "series" in columns else SINGLE
    else:
        layout = PRICE_LIST
        for unused in ("open", "high", "low"):  # a price list has one price per row
            columns.pop(unused, None)
    if "series" not in columns and instrument is None:
        what = "single-series daily layout" if layout == SINGLE else "price list without an instrument column"
        what_zh = "单一品种日行情" if layout == SINGLE else "无品种列的价格清单"
        issues.append(
            ImportIssue(
                name, 1, None, None,
                f"this is a {what}: name its series with instrument= (--instrument CODE)",
                f"该文件为{what_zh}，须用 --instrument 指定品种代码",
            )
        )  # fmt: skip
    return _Plan(layout, columns, headers, volume_factor), issues


def _volume_unit(unit: str) -> Unit:
    """Allowances trade in tCO2e, pollutant rights in tonnes: either dimension is a volume."""
    try:
        return lookup_unit(unit, Dimension.CO2)
    except UnknownUnitError:
        return lookup_unit(unit, Dimension.MASS)


def series_code(value: Any) -> str:
    """A series code as stored: width-folded, trimmed, upper case ('cea21 ' → 'CEA21')."""
    code = unicodedata.normalize("NFKC", str(value)).strip().upper()
    if not code:
        raise ValueProblem("the instrument code is empty", "品种代码为空")
    if len(code) > MAX_CODE_LENGTH:
        raise ValueProblem(
            f"instrument code {code!r} is longer than {MAX_CODE_LENGTH} characters",
            f"品种代码 {code!r} 超过 {MAX_CODE_LENGTH} 个字符",
        )
    return code


def parse_price(value: Any) -> Decimal | None:
    """A price in 元, None for a blank cell; at most four decimals, below 10^10, may be zero or negative.

    Zero and sign are judged by the row (a zero high is how the exchange says "no trade").
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    number = parse_decimal(value)
    return _bounded(number, PRICE_PLACES, MAX_PRICE, "price", "价格", value)


def parse_volume(value: Any, factor: Decimal = Decimal(1)) -> Decimal | None:
    """A traded quantity in the canonical unit (t or tCO2e), None for a blank cell; never negative."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    number = parse_decimal(value) * factor
    if number < 0:
        raise ValueProblem(f"volume must not be negative, got {value!r}", f"成交量不能为负，实为 {value!r}")
    return _bounded(number, VOLUME_PLACES, MAX_VOLUME, "volume", "成交量", value)


def _bounded(number: Decimal, places: int, limit: Decimal, en: str, zh: str, raw: Any) -> Decimal:
    exponent = number.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -places:
        raise ValueProblem(
            f"{en} {raw!r} has more than {places} decimal places",
            f"{zh} {raw!r} 超过 {places} 位小数",
        )
    if abs(number) >= limit:
        raise ValueProblem(f"{en} {raw!r} is too large (at most {limit:.0E})", f"{zh} {raw!r} 过大")
    return canonical_decimal(number)


class _RowReader:
    """Validation of the rows of one file under its plan."""

    def __init__(self, result: PriceFile, plan: _Plan, instrument: str | None) -> None:
        self.result = result
        self.plan = plan
        self.instrument = instrument

    def problem(self, line: int, field_name: str | None, value: Any, en: str, zh: str) -> ImportIssue:
        column = self.plan.headers.get(field_name) if field_name else None
        shown = None if value is None else str(value)
        return ImportIssue(self.result.name, line, column, shown, en, zh)

    def error(self, line: int, field_name: str | None, value: Any, en: str, zh: str) -> None:
        self.result.errors.append(self.problem(line, field_name, value, en, zh))

    def warn(self, line: int, field_name: str | None, value: Any, en: str, zh: str) -> None:
        self.result.warnings.append(self.problem(line, field_name, value, en, zh))

    def cell(self, cells: list[Any], field_name: str) -> Any:
        index = self.plan.columns.get(field_name)
        if index is None or index >= len(cells):
            return None
        value = cells[index]
        return value.strip() if isinstance(value, str) else value

    def read(self, line: int, cells: list[Any]) -> PriceRow | None:
        """One row as a :class:`PriceRow`, or None (skipped, or wrong: then it says why)."""
        errors_before = len(self.result.errors)
        code = self._series(line, cells)
        if code is None:
            return None
        day_text = self.cell(cells, "date")
        day: dt.date | None = None
        if day_text in (None, ""):
            self.error(line, "date", day_text, "the date is missing", "缺少日期")
        else:
            try:
                day = parse_date(day_text)
            except ValueProblem as problem:
                self.error(line, "date", day_text, problem.en, problem.zh)
        price_field = "close" if "close" in self.plan.columns else "price"
        values: dict[str, Decimal | None] = {}
        for name in ("open", "high", "low", price_field):
            raw = self.cell(cells, name)
            try:
                values[name] = parse_price(raw)
            except ValueProblem as problem:
                self.error(line, name, raw, problem.en, problem.zh)
                values[name] = None
        raw_volume = self.cell(cells, "volume")
        try:
            volume = parse_volume(raw_volume, self.plan.volume_factor)
        except ValueProblem as problem:
            self.error(line, "volume", raw_volume, problem.en, problem.zh)
            volume = None
        if len(self.result.errors) > errors_before or day is None:
            return None
        return self._bar(line, code, day, values, price_field, volume, cells)

    def _series(self, line: int, cells: list[Any]) -> str | None:
        """The row's series code; None when it is wrong or belongs to a series not asked for."""
        if "series" not in self.plan.columns:
            return self.instrument
        raw = self.cell(cells, "series")
        try:
            code = series_code("" if raw is None else raw)
        except ValueProblem as problem:
            self.error(line, "series", raw, problem.en, problem.zh)
            return None
        if self.instrument is not None and code != self.instrument:
            self.result.other_series += 1  # another subject of the exchange file: not asked for
            return None
        return code

    def _bar(
        self,
        line: int,
        code: str,
        day: dt.date,
        values: dict[str, Decimal | None],
        price_field: str,
        volume: Decimal | None,
        cells: list[Any],
    ) -> PriceRow | None:
        """Judge a row's prices together: untraded days, empty rows, signs and the high-low range."""
        close = values[price_field]
        opening, high, low = values["open"], values["high"], values["low"]
        if close is None and not any((opening, high, low)):
            self.result.skipped += 1
            self.warn(
                line, price_field, None,
                f"{code} {day}: no prices on this row (volume {volume}); it is skipped",
                f"{code} {day}：此行没有价格（成交量 {volume}），已跳过",
            )  # fmt: skip
            return None
        if close is None:
            self.error(
                line, price_field, None,
                f"{code} {day}: the close is missing while other prices are given",
                f"{code} {day}：缺少收盘价（其他价格已给出）",
            )  # fmt: skip
            return None
        wrong = False
        for name, value in ((price_field, close), ("open", opening), ("high", high), ("low", low)):
            if value is not None and value < 0:
                wrong = True
                self.error(
                    line, name, self.cell(cells, name),
                    f"{code} {day}: a price cannot be negative", f"{code} {day}：价格不能为负",
                )  # fmt: skip
        if close == 0:
            wrong = True
            self.error(
                line, price_field, self.cell(cells, price_field),
                f"{code} {day}: the close is zero; a series needs a positive close every day",
                f"{code} {day}：收盘价为零；每日收盘价须为正数",
            )  # fmt: skip
        if wrong:
            return None
        has_range = "high" in self.plan.columns and "low" in self.plan.columns
        untraded = (has_range and not high and not low) or (volume == 0 and 0 in (opening, high, low))
        if untraded:  # the close is the exchange's reference price; the rest says "no trade"
            return PriceRow(code, day, None, None, None, close, volume, line)
        for name, value in (("open", opening), ("high", high), ("low", low)):
            if value == 0:
                wrong = True
                self.error(
                    line, name, self.cell(cells, name),
                    f"{code} {day}: zero {name} price on a traded day (volume {volume})",
                    f"{code} {day}：有成交的交易日{_LABEL[name].split()[0]}为零（成交量 {volume}）",
                )  # fmt: skip
        if wrong:
            return None
        if high is not None and low is not None:
            if high < low:
                self.error(
                    line, "high", self.cell(cells, "high"),
                    f"{code} {day}: high {high} is below low {low}",
                    f"{code} {day}：最高价 {high} 低于最低价 {low}",
                )  # fmt: skip
                return None
            if not low <= close <= high:
                en = f"{code} {day}: close {close} lies outside the day's range {low}–{high}"
                zh = f"{code} {day}：收盘价 {close} 不在当日最低价 {low} 与最高价 {high} 之间"
                if code not in COMPOSITE_SERIES:
                    self.error(line, price_field, self.cell(cells, price_field), en, zh)
                    return None
                self.warn(
                    line, price_field, self.cell(cells, price_field),
                    en + " (a composite series: imported)", zh + "（综合价格序列，照常导入）",
                )  # fmt: skip
        return PriceRow(code, day, opening, high, low, close, volume, line)


def read_price_file(
    path: Path, *, instrument: str | None = None, encoding: str | None = None, sheet: str | None = None
) -> PriceFile:
    """Read and check a price file row by row, and find repeated days; no checks across days.

    ``instrument`` names the series of a file without a subject column, and picks one series out
    of a file with one.  The gaps and jumps of a series are judged by :func:`check_series`, on the
    file alone (:func:`parse_price_file`) or merged with what the store holds (the service).
    """
    result = PriceFile(Path(path).name)
    wanted: str | None = None
    if instrument is not None:
        try:
            wanted = series_code(instrument)
        except ValueProblem as problem:
            result.errors.append(ImportIssue(result.name, None, None, instrument, problem.en, problem.zh))
            return result
    try:
        source = open_source(Path(path), encoding, sheet)
    except ImportRejected as rejected:
        result.errors.extend(rejected.issues)
        return result
    result.kind, result.encoding, result.sha256 = source.kind, source.encoding, source.sha256
    try:
        plan, issues = _plan(source.header, result.name, wanted)
        result.errors.extend(issues)
        if plan is None or issues:
            return result
        result.layout = plan.layout
        result.date_column = plan.headers["date"]
        result.close_column = plan.headers.get("close") or plan.headers["price"]
        reader = _RowReader(result, plan, wanted)
        for line, cells in source.rows:
            result.data_rows += 1
            row = reader.read(line, cells)
            if row is not None:
                result.rows.append(row)
    except ImportRejected as rejected:  # a line that cannot be decoded or parsed as CSV
        result.errors.extend(rejected.issues)
        return result
    finally:
        source.close()
    if result.data_rows == 0:
        result.errors.append(
            ImportIssue(result.name, None, None, None, "the file has no data rows", "文件没有数据行")
        )
    elif not result.rows and not result.errors:
        what = f" of series {wanted}" if wanted else ""
        result.errors.append(
            ImportIssue(
                result.name, None, None, wanted,
                f"the file holds no prices{what}", f"文件中没有{wanted or ''}价格数据",
            )
        )  # fmt: skip
    result.errors.extend(duplicate_problems([(result.name, result.date_column, row) for row in result.rows]))
    return result


def duplicate_problems(rows: Iterable[tuple[str, str, PriceRow]]) -> list[ImportIssue]:
    """One error per repeated (series, day), naming the row it repeats (in any of the files).

    ``rows`` holds (file name, its date column header, row).
    """
    first: dict[tuple[str, dt.date], tuple[str, int]] = {}
    issues = []
    for file, column, row in rows:
        key = (row.instrument, row.day)
        seen = first.setdefault(key, (file, row.line))
        if seen != (file, row.line):
            where_en = f"row {seen[1]}" if seen[0] == file else f"{seen[0]} row {seen[1]}"
            where_zh = f"第 {seen[1]} 行" if seen[0] == file else f"{seen[0]} 第 {seen[1]} 行"
            issues.append(
                ImportIssue(
                    file, row.line, column, row.day.isoformat(),
                    f"{row.instrument} {row.day} appears twice: row {row.line} repeats {where_en}",
                    f"{row.instrument} {row.day} 重复：第 {row.line} 行与{where_zh}为同一品种同一日期",
                )
            )  # fmt: skip
    return issues


def check_series(
    points: Iterable[SeriesPoint], max_gap_days: int = DEFAULT_MAX_GAP_DAYS
) -> tuple[list[ImportIssue], list[ImportIssue]]:
    """Gaps (errors) and jumps (warnings) between consecutive days of each series.

    Points from the store (``file`` None) take part but are never blamed: only a gap or jump with
    a new point at one end is reported, at that point's row, so old data cannot block an import.
    The points must hold one close per (series, day).
    """
    if max_gap_days < 1:
        raise ValueError("max_gap_days must be at least 1")
    by_series: dict[str, list[SeriesPoint]] = {}
    for point in points:
        by_series.setdefault(point.instrument, []).append(point)
    errors: list[ImportIssue] = []
    warnings: list[ImportIssue] = []
    for code, series in by_series.items():
        series.sort(key=lambda p: p.day)
        for before, after in itertools.pairwise(series):
            if before.file is None and after.file is None:
                continue
            blamed = after if after.file is not None else before
            assert blamed.file is not None
            gap = (after.day - before.day).days
            if gap > max_gap_days:
                errors.append(
                    ImportIssue(
                        blamed.file, blamed.line, blamed.date_column, blamed.day.isoformat(),
                        f"{code}: {gap} calendar days between {_where(before)} and {_where(after)}; "
                        f"at most {max_gap_days} are allowed (missing data?)",
                        f"{code}：{_where_zh(before)}与{_where_zh(after)}相隔 {gap} 个自然日，"
                        f"超过允许的 {max_gap_days} 日（是否缺少数据？）",
                    )
                )  # fmt: skip
            move = math.log(after.close / before.close)
            if abs(move) > OUTLIER_LOG_RETURN:
                warnings.append(
                    ImportIssue(
                        blamed.file, blamed.line, blamed.close_column, str(blamed.close),
                        f"{code}: the close moves {math.expm1(move):+.1%} from {before.close} "
                        f"({_where(before)}) to {after.close} ({_where(after)}); please check",
                        f"{code}：收盘价由 {before.close}（{_where_zh(before)}）变为 {after.close}"
                        f"（{_where_zh(after)}），变动 {math.expm1(move):+.1%}，请核对",
                    )
                )  # fmt: skip
    return errors, warnings


def _where(point: SeriesPoint) -> str:
    return f"{point.day} (stored)" if point.file is None else f"{point.day} (row {point.line})"


def _where_zh(point: SeriesPoint) -> str:
    return f"{point.day}（库中已有）" if point.file is None else f"{point.day}（第 {point.line} 行）"


def points_of(price_file: PriceFile) -> list[SeriesPoint]:
    """The series points of a file's rows."""
    name, date_column, close_column = price_file.name, price_file.date_column, price_file.close_column
    return [
        SeriesPoint(r.instrument, r.day, r.close_yuan, name, r.line, date_column, close_column)
        for r in price_file.rows
    ]


def parse_price_file(
    path: Path,
    *,
    instrument: str | None = None,
    max_gap_days: int = DEFAULT_MAX_GAP_DAYS,
    encoding: str | None = None,
    sheet: str | None = None,
) -> PriceFile:
    """Read a price file and check it completely on its own: rows, repeats, gaps and jumps.

    Nothing is imported when ``errors`` is not empty.  Errors and warnings come in file order.
    """
    result = read_price_file(path, instrument=instrument, encoding=encoding, sheet=sheet)
    if not result.errors:
        gaps, jumps = check_series(points_of(result), max_gap_days)
        result.errors.extend(gaps)
        result.warnings.extend(jumps)
    result.errors.sort(key=_order)
    result.warnings.sort(key=_order)
    return result


def _order(issue: ImportIssue) -> tuple[int, int]:
    return (0 if issue.row is None else 1, issue.row or 0)
