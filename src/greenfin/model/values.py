"""Parsers for the values a bank's export holds: amounts with units, dates, rates, classes.

Each parser takes what a spreadsheet cell holds (text, number, date) and returns the canonical
value or raises :class:`ValueProblem` whose message says what was expected.  The same parsers back
the pydantic models (for the API and the library) and the bulk importer (for files of millions
of rows), so a value is judged the same way wherever it enters.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, TypeVar

from greenfin.model.problems import ValueProblem
from greenfin.model.units import (
    CANONICAL,
    Dimension,
    Unit,
    UnknownUnitError,
    lookup_unit,
    units_of,
)

FEN_PER_YUAN = 100


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip()


_PLAIN_NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?$")
_GROUPED = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def parse_decimal(value: Any) -> Decimal:
    """Read a number written as a bank writes it: '1,234.50', '１２３４', ' 12 ', 12.5."""
    if isinstance(value, bool):
        raise ValueProblem("expected a number, got a true/false value", "应为数字，实为布尔值")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        # repr gives the shortest text that round-trips, so 0.1 stays 0.1 and not 0.1000000000000000055.
        return Decimal(repr(value))
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, str) and _PLAIN_NUMBER.match(value):
        number = Decimal(value)  # the common case, plain digits, kept fast
    else:
        text = _fold(str(value)).replace(" ", "").replace("，", ",")
        if "," in text and not _GROUPED.match(text):  # '1.234,50' is not how amounts are written here
            raise ValueProblem(
                f"{value!r}: commas may only group thousands (1,234,567.89)",
                f"{value!r}：逗号只能用作千位分隔（如 1,234,567.89）",
            )
        text = text.replace(",", "")
        if not _NUMBER.match(text):
            raise ValueProblem(f"expected a number, got {value!r}", f"应为数字，实为 {value!r}")
        try:
            number = Decimal(text)
        except InvalidOperation as exc:  # pragma: no cover - the regex admits only valid text
            raise ValueProblem(f"expected a number, got {value!r}", f"应为数字，实为 {value!r}") from exc
    if not number.is_finite():
        raise ValueProblem("expected a finite number", "应为有限数值")
    return number


_AMOUNT_WITH_UNIT = re.compile(r"^(?P<num>[+-]?[\d,.\s]+(?:[eE][+-]?\d+)?)\s*(?P<unit>\D.*)?$")


def split_number_unit(value: Any) -> tuple[Decimal, str | None]:
    """Split '500万元' or '12.5 MW' into the number and the unit text (None when there is none)."""
    if not isinstance(value, str):
        return parse_decimal(value), None
    if _PLAIN_NUMBER.match(value):  # no unit written in the cell: the common case, kept fast
        return parse_decimal(value), None
    text = _fold(value)
    match = _AMOUNT_WITH_UNIT.match(text)
    if not match:
        raise ValueProblem(f"expected a number, got {value!r}", f"应为数字，实为 {value!r}")
    unit_text = (match.group("unit") or "").strip() or None
    return parse_decimal(match.group("num")), unit_text


def parse_quantity(value: Any, default_unit: Unit | None, dimension: Dimension) -> Decimal:
    """A quantity in the dimension's canonical unit, in one canonical spelling (see below).

    The store keeps quantities to six decimals of the canonical unit (1 kWh of 1 MWh, 1 g of a
    tonne) and below 10^17; finer or larger is refused rather than rounded on the way in.
    """
    quantity = canonical_decimal(_scaled(value, default_unit, dimension))
    exponent = quantity.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -QUANTITY_PLACES:
        raise ValueProblem(
            f"{value!r} is finer than {QUANTITY_PLACES} decimals of {CANONICAL[dimension]}",
            f"{value!r} 精度超过 {CANONICAL[dimension]} 的 {QUANTITY_PLACES} 位小数",
        )
    if abs(quantity) >= MAX_QUANTITY:
        raise ValueProblem(
            f"{value!r} exceeds the largest quantity kept (10^17 {CANONICAL[dimension]})",
            f"{value!r} 超过可记录的最大数量（10^17 {CANONICAL[dimension]}）",
        )
    return quantity


QUANTITY_PLACES = 6
MAX_QUANTITY = Decimal(10) ** 17


def _scaled(value: Any, default_unit: Unit | None, dimension: Dimension) -> Decimal:
    """A quantity in the dimension's canonical unit, from a cell and the column's unit, if any.

    The unit written in the cell wins over the column's; a value with no unit at all is refused,
    because a bare number in a money column is exactly how 万元 and 元 get mixed.
    """
    number, unit_text = split_number_unit(value)
    if unit_text is not None:
        try:
            unit = lookup_unit(unit_text, dimension)
        except UnknownUnitError as exc:
            expected = "/".join(units_of(dimension))
            raise ValueProblem(
                f"unknown unit {unit_text!r}; expected one of {expected}",
                f"无法识别的单位 {unit_text!r}；应为 {expected} 之一",
            ) from exc
    elif default_unit is not None:
        unit = default_unit
    else:
        expected = "/".join(units_of(dimension))
        raise ValueProblem(
            f"no unit given; write it in the column header or the cell ({expected})",
            f"未注明单位；请在列名或单元格中注明（{expected}）",
        )
    return number * unit.factor


def canonical_decimal(value: Decimal) -> Decimal:
    """One spelling per number (100.0 and 1E+2 become 100), so equal values hash equally."""
    normal = value.normalize()
    return normal.quantize(Decimal(1)) if normal.as_tuple().exponent > 0 else normal  # type: ignore[operator]


#: The largest amount kept: 10^15 元 (a thousand trillion), far above any loan, inside BIGINT.
MAX_FEN = 10**17


def _too_large(text: object) -> ValueProblem:
    return ValueProblem(
        f"amount {text} exceeds the largest amount kept (10^15 元)",
        f"金额 {text} 超过可记录的最大金额（10^15 元）",
    )


def yuan_to_fen(yuan: Decimal) -> int:
    """Exact conversion of 元 to integer 分; finer than 1 分 is refused rather than rounded."""
    if abs(yuan) * FEN_PER_YUAN > MAX_FEN:
        raise _too_large(yuan)
    fen = yuan * FEN_PER_YUAN
    if fen != fen.to_integral_value():
        raise ValueProblem(
            f"amount {yuan} 元 is finer than 1 分 (0.01 元)",
            f"金额 {yuan} 元 精度超过 1 分（0.01 元）",
        )
    return int(fen)


def _plain_to_fen(text: str, unit: Unit, fraction: str | None) -> int:
    digits = len(fraction) - 1 if fraction else 0  # the group includes the dot
    scaled = int(text.replace(".", "", 1)) * int(unit.factor * FEN_PER_YUAN)
    fen, rest = divmod(scaled, int(10**digits))
    if rest:
        yuan_to_fen(Decimal(text) * unit.factor)  # raises the finer-than-1-分 problem
    if fen < 0:
        raise ValueProblem(f"amount must not be negative, got {text!r}", f"金额不能为负，实为 {text!r}")
    if fen > MAX_FEN:
        raise _too_large(text)
    return fen


def fen_to_yuan(fen: int) -> Decimal:
    """Integer 分 back to Decimal 元 with two places."""
    return (Decimal(fen) / FEN_PER_YUAN).quantize(Decimal("0.01"))


def parse_money_fen(value: Any, default_unit: Unit | None, *, allow_negative: bool = False) -> int:
    """An amount of money in integer 分, from a cell and the column's unit."""
    if default_unit is not None and value.__class__ is str:
        match = _PLAIN_NUMBER.match(value)
        if match:  # exact integer arithmetic for '12345.67': most cells of a big file
            return _plain_to_fen(value, default_unit, match.group(1))
    yuan = _scaled(value, default_unit, Dimension.MONEY)
    if yuan < 0 and not allow_negative:
        raise ValueProblem(
            f"amount must not be negative, got {value!r}",
            f"金额不能为负，实为 {value!r}",
        )
    return yuan_to_fen(yuan)


_DATE_PATTERNS = (
    re.compile(r"^(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})$"),
    re.compile(r"^(?P<y>\d{4})/(?P<m>\d{1,2})/(?P<d>\d{1,2})$"),
    re.compile(r"^(?P<y>\d{4})\.(?P<m>\d{1,2})\.(?P<d>\d{1,2})$"),
    re.compile(r"^(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})$"),
    re.compile(r"^(?P<y>\d{4})年(?P<m>\d{1,2})月(?P<d>\d{1,2})日?$"),
)
_MIN_DATE = dt.date(1949, 10, 1)
_MAX_DATE = dt.date(2100, 12, 31)


def parse_date(value: Any) -> dt.date:
    """A calendar date from ISO text, 2024/3/5, 20240305, 2024年3月5日 or a spreadsheet date."""
    if isinstance(value, dt.datetime):
        day = value.date()
    elif isinstance(value, dt.date):
        day = value
    elif isinstance(value, str) and len(value) == 10 and value[4] == "-" and value[7] == "-":
        try:  # ISO dates are most of what arrives; the C parser reads them fastest
            day = dt.date.fromisoformat(value)
        except ValueError:
            return parse_date(value + " ")
    else:
        text = _fold(str(value))
        if " " in text or "T" in text:  # '2024-03-05 00:00:00' from a database export
            head, _, tail = text.replace("T", " ").partition(" ")
            if tail.strip("0:. ") == "":
                text = head
        for pattern in _DATE_PATTERNS:
            match = pattern.match(text)
            if match:
                break
        else:
            raise ValueProblem(
                f"expected a date such as 2024-03-05, got {value!r}",
                f"应为日期（如 2024-03-05），实为 {value!r}",
            )
        try:
            day = dt.date(int(match["y"]), int(match["m"]), int(match["d"]))
        except ValueError as exc:
            raise ValueProblem(f"{value!r} is not a real date", f"{value!r} 不是有效日期") from exc
    if not _MIN_DATE <= day <= _MAX_DATE:
        raise ValueProblem(
            f"date {day.isoformat()} is outside 1949-10-01..2100-12-31",
            f"日期 {day.isoformat()} 超出 1949-10-01 至 2100-12-31",
        )
    return day


def parse_rate_pct(value: Any) -> Decimal:
    """An annual interest rate in percent: '3.45', '3.45%', 0.0345 from a percent-formatted cell."""
    if isinstance(value, float) and 0 < value < 0.5:
        value = Decimal(repr(value)) * 100  # Excel keeps 3.45% as 0.0345
    text = value if not isinstance(value, str) else _fold(value).rstrip("%％").strip()
    rate = parse_decimal(text)
    if not Decimal(0) <= rate <= Decimal(36):
        raise ValueProblem(
            f"annual rate {rate}% is outside 0-36%",
            f"年利率 {rate}% 超出 0–36% 的范围",
        )
    return rate.quantize(Decimal("0.0001"))


class FiveTier(StrEnum):
    """贷款五级分类 (loan risk classification), in the regulator's order."""

    NORMAL = "正常"
    SPECIAL_MENTION = "关注"
    SUBSTANDARD = "次级"
    DOUBTFUL = "可疑"
    LOSS = "损失"


_FIVE_TIER_ALIASES = {
    "正常": FiveTier.NORMAL, "正常类": FiveTier.NORMAL, "normal": FiveTier.NORMAL, "pass": FiveTier.NORMAL,
    "关注": FiveTier.SPECIAL_MENTION, "关注类": FiveTier.SPECIAL_MENTION,
    "special mention": FiveTier.SPECIAL_MENTION, "specialmention": FiveTier.SPECIAL_MENTION,
    "次级": FiveTier.SUBSTANDARD, "次级类": FiveTier.SUBSTANDARD, "substandard": FiveTier.SUBSTANDARD,
    "可疑": FiveTier.DOUBTFUL, "可疑类": FiveTier.DOUBTFUL, "doubtful": FiveTier.DOUBTFUL,
    "损失": FiveTier.LOSS, "损失类": FiveTier.LOSS, "loss": FiveTier.LOSS,
}  # fmt: skip


def parse_enum(value: Any, aliases: dict[str, Any], what_en: str, what_zh: str) -> Any:
    """Look a label up among its aliases, forgiving case, width and spaces."""
    key = _fold(str(value)).lower()
    if key in aliases:
        return aliases[key]
    choices = "、".join(dict.fromkeys(str(v) for v in aliases.values()))
    raise ValueProblem(
        f"{value!r} is not a {what_en}; expected one of {choices}",
        f"{value!r} 不是有效的{what_zh}；应为 {choices} 之一",
    )


def parse_five_tier(value: Any) -> FiveTier:
    """A five-tier loan class from its Chinese or English name."""
    result: FiveTier = parse_enum(value, _FIVE_TIER_ALIASES, "five-tier class", "五级分类")
    return result


class SizeClass(StrEnum):
    """企业规模 per the SME classification rules (工信部联企业〔2011〕300号)."""

    LARGE = "大型"
    MEDIUM = "中型"
    SMALL = "小型"
    MICRO = "微型"


_SIZE_ALIASES = {
    "大型": SizeClass.LARGE, "大": SizeClass.LARGE, "large": SizeClass.LARGE,
    "中型": SizeClass.MEDIUM, "中": SizeClass.MEDIUM, "medium": SizeClass.MEDIUM,
    "小型": SizeClass.SMALL, "小": SizeClass.SMALL, "small": SizeClass.SMALL,
    "微型": SizeClass.MICRO, "微": SizeClass.MICRO, "micro": SizeClass.MICRO,
}  # fmt: skip


def parse_size_class(value: Any) -> SizeClass:
    """An enterprise size class from its Chinese or English name."""
    result: SizeClass = parse_enum(value, _SIZE_ALIASES, "size class", "企业规模")
    return result


class DataQuality(StrEnum):
    """Where an emissions figure comes from, best first (maps onto PCAF scores 1-5)."""

    VERIFIED = "verified"
    REPORTED = "reported"
    ESTIMATED = "estimated"
    DEFAULT = "default"


_QUALITY_ALIASES = {
    "verified": DataQuality.VERIFIED, "核查": DataQuality.VERIFIED, "已核查": DataQuality.VERIFIED,
    "reported": DataQuality.REPORTED, "报告": DataQuality.REPORTED, "自报": DataQuality.REPORTED,
    "estimated": DataQuality.ESTIMATED, "估算": DataQuality.ESTIMATED,
    "default": DataQuality.DEFAULT, "缺省": DataQuality.DEFAULT, "默认": DataQuality.DEFAULT,
}  # fmt: skip


def parse_data_quality(value: Any) -> DataQuality:
    """An emissions data-quality mark from its Chinese or English name."""
    result: DataQuality = parse_enum(value, _QUALITY_ALIASES, "data-quality mark", "数据质量标识")
    return result


_YES = {"是", "y", "yes", "true", "1", "绿色", "green"}
_NO = {"否", "n", "no", "false", "0", "非绿色", "not green"}


def parse_bool(value: Any) -> bool:
    """是/否, yes/no, true/false, 1/0."""
    key = _fold(str(value)).lower()
    if key in _YES:
        return True
    if key in _NO:
        return False
    raise ValueProblem(f"expected yes/no (是/否), got {value!r}", f"应为 是/否，实为 {value!r}")


_CURRENCY = re.compile(r"^[A-Z]{3}$")
_CURRENCY_ALIASES = {
    "人民币": "CNY",
    "RMB": "CNY",
    "美元": "USD",
    "欧元": "EUR",
    "港元": "HKD",
    "港币": "HKD",
    "日元": "JPY",
}


def parse_currency(value: Any) -> str:
    """An ISO 4217 currency code, accepting 人民币/美元/... as well."""
    text = _fold(str(value)).upper()
    text = _CURRENCY_ALIASES.get(text, text)
    if not _CURRENCY.match(text):
        raise ValueProblem(
            f"expected an ISO 4217 currency code such as CNY, got {value!r}",
            f"应为币种代码（如 CNY），实为 {value!r}",
        )
    return text


def parse_text(value: Any, max_length: int = 2000) -> str:
    """Free text, trimmed; refused when longer than the store keeps.

    A leading apostrophe before ``= + - @`` is the mark greenfin's exports put on text that a
    spreadsheet might take for a formula; it is removed so that an export re-imports unchanged.
    """
    text = unicodedata.normalize("NFC", str(value)).strip()
    if text[:1] == "'" and text[1:2] in ("=", "+", "-", "@"):
        text = text[1:]
    if len(text) > max_length:
        raise ValueProblem(
            f"text is {len(text)} characters, at most {max_length} are kept",
            f"文本长 {len(text)} 字，最多 {max_length} 字",
        )
    return text


#: A day as the model holds it (a date) or as the importer stores it (ISO text, which sorts the
#: same way for the years 1949-2100 that :func:`parse_date` admits); ``str`` spells both as ISO.
DayLike = TypeVar("DayLike", dt.date, str)


def check_order(earlier: DayLike | None, later: DayLike | None, earlier_name: str, later_name: str) -> None:
    """Refuse a pair of dates in the wrong order (either may be missing)."""
    if earlier is not None and later is not None and later < earlier:
        raise ValueProblem(
            f"{later_name} {later} is before {earlier_name} {earlier}",
            f"{later_name} {later} 早于 {earlier_name} {earlier}",
        )


def check_loan_consistency(
    amount: Decimal | int,
    balance: Decimal | int,
    approval: DayLike | None,
    start: DayLike,
    maturity: DayLike,
) -> None:
    """The rules that tie a loan's fields together, in one place for the model and the importer."""
    if balance > amount:
        raise ValueProblem(
            "outstanding balance exceeds the loan amount",
            "贷款余额大于合同金额",
        )
    if maturity <= start:
        raise ValueProblem(
            f"maturity date {maturity} is not after start date {start}",
            f"到期日 {maturity} 不晚于起始日 {start}",
        )
    check_order(approval, start, "approval_date", "start_date")
