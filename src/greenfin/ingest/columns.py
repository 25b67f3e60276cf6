"""The loan-book columns: canonical names, the headers banks use for them, and their parsers.

This is the machine-readable form of ``docs/loan-book-schema.md``.  A header is matched after
folding width, case, spaces and underscores, with an optional unit in brackets:
``贷款金额（万元）`` → column ``amount`` in 万元.

A parser returns the value in the form the store keeps and the row digest covers: money as
integer 分, dates as ISO text, rates and quantities as canonical decimal text, technical
parameters as JSON text.  Plain text, ints and bools travel cheaply between processes and go to
either database driver unconverted, which is what lets a big import validate in one process while
another writes.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from greenfin.model import values as v
from greenfin.model.identifiers import parse_credit_code
from greenfin.model.problems import ValueProblem
from greenfin.model.units import (
    Dimension,
    Unit,
    UnknownUnitError,
    lookup_unit,
    units_of,
)
from greenfin.reference.industries import canonical_industry_code
from greenfin.reference.regions import region

Parser = Callable[[Any, Unit | None], Any]


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    """One column of the loan book."""

    name: str
    table: str  # borrower, project or loan
    label_zh: str
    aliases: tuple[str, ...]
    parse: Parser
    required: bool = False
    dimension: Dimension | None = None

    @property
    def label(self) -> str:
        return f"{self.label_zh} ({self.name})"


def _plain(func: Callable[[Any], Any]) -> Parser:
    return lambda value, _unit: func(value)


def _label(func: Callable[[Any], Any]) -> Parser:
    """An enum parser whose stored form is the label text (正常, 大型, verified)."""
    return lambda value, _unit: func(value).value


def money(value: Any, unit: Unit | None) -> int:
    return v.parse_money_fen(value, unit)


def _day(value: Any, _unit: Unit | None) -> str:
    return v.parse_date(value).isoformat()


def _rate(value: Any, _unit: Unit | None) -> str:
    return str(v.parse_rate_pct(value))


def _quantity(dimension: Dimension) -> Parser:
    def parse(value: Any, unit: Unit | None) -> str:
        number = v.parse_quantity(value, unit, dimension)
        if number < 0:
            raise ValueProblem(f"must not be negative, got {value!r}", f"不能为负，实为 {value!r}")
        return str(number)

    return parse


@dataclass(frozen=True, slots=True)
class TextParser:
    """Free text of at most ``max_length`` characters (the columnar reader checks it in bulk)."""

    max_length: int

    def __call__(self, value: Any, _unit: Unit | None) -> str:
        return v.parse_text(value, self.max_length)


def _text(max_length: int) -> Parser:
    return TextParser(max_length)


def _parameters(value: Any, _unit: Unit | None) -> str:
    """'组件效率=21.5%; 首年衰减=2%' → '{"组件效率": "21.5 %", ...}'; every value needs a unit."""
    result: dict[str, str] = {}
    for part in re.split(r"[;；\n]", v.parse_text(value, 4000)):
        if not part.strip():
            continue
        key, sep, raw = part.partition("=")
        if not sep:
            key, sep, raw = part.partition("：")
        if not sep or not key.strip() or not raw.strip():
            raise ValueProblem(
                f"technical parameter {part.strip()!r} is not written as name=value unit",
                f"技术参数 {part.strip()!r} 应写作 名称=数值 单位",
            )
        number, unit_text = v.split_number_unit(raw.strip())
        if unit_text is None:
            raise ValueProblem(
                f"technical parameter {key.strip()!r} has no unit",
                f"技术参数 {key.strip()!r} 未注明单位",
            )
        try:
            lookup_unit(unit_text)
        except UnknownUnitError as exc:
            raise ValueProblem(
                f"technical parameter {key.strip()!r} has an unknown unit {unit_text!r}",
                f"技术参数 {key.strip()!r} 的单位 {unit_text!r} 无法识别",
            ) from exc
        result[key.strip()] = f"{number} {unit_text}"
    return parameters_json(result)


def parameters_json(parameters: dict[str, str]) -> str:
    """The stored text of a project's parameters, in the order the user wrote them."""
    return json.dumps(parameters, ensure_ascii=False)


def _code_text(func: Callable[[str], Any], what_en: str, what_zh: str) -> Parser:
    """A code column: a spreadsheet number has lost its leading zeros or digits, so refuse it."""

    def parse(value: Any, _unit: Unit | None) -> Any:
        if not isinstance(value, str):
            raise ValueProblem(
                f"{what_en} is stored as a number ({value!r}), which loses leading zeros and digits; "
                "format the column as text",
                f"{what_zh}以数字格式保存（{value!r}），会丢失前导零或位数；请将该列设为文本格式",
            )
        return func(value)

    return parse


#: The credit-code column's parser (the columnar reader checks codes in bulk).
credit_code = _code_text(parse_credit_code, "the credit code", "统一社会信用代码")


def _region(value: Any, _unit: Unit | None) -> str:
    return region(str(value)).code


def _spec(
    name: str,
    table: str,
    label_zh: str,
    aliases: str,
    parse: Parser,
    *,
    required: bool = False,
    dimension: Dimension | None = None,
) -> ColumnSpec:
    return ColumnSpec(name, table, label_zh, tuple(aliases.split("|")), parse, required, dimension)


MONEY = Dimension.MONEY

COLUMNS: tuple[ColumnSpec, ...] = (
    # Loan.
    _spec("loan_id", "loan", "贷款编号", "贷款编号|借据号|借据编号|贷款账号|loan_no|loan_number", _text(64), required=True),
    _spec("purpose", "loan", "贷款用途", "贷款用途|用途|loan_purpose", _text(2000)),
    _spec("amount", "loan", "贷款金额", "贷款金额|合同金额|发放金额|loan_amount|contract_amount", money, required=True, dimension=MONEY),
    _spec("balance", "loan", "贷款余额", "贷款余额|余额|outstanding|outstanding_balance|loan_balance", money, required=True, dimension=MONEY),
    _spec("currency", "loan", "币种", "币种|货币|ccy", _plain(v.parse_currency)),
    _spec("rate_pct", "loan", "执行年利率", "执行年利率|执行利率|年利率|利率|rate|interest_rate", _rate),
    _spec("approval_date", "loan", "审批日期", "审批日期|批准日期|审批通过日期|approved_on", _day),
    _spec("start_date", "loan", "发放日期", "发放日期|放款日期|起始日期|起息日|贷款起始日|start|value_date|disbursement_date", _day, required=True),
    _spec("maturity_date", "loan", "到期日期", "到期日期|到期日|贷款到期日|maturity", _day, required=True),
    _spec("five_tier", "loan", "五级分类", "五级分类|贷款五级分类|风险分类|risk_class|loan_class", _label(v.parse_five_tier)),
    _spec("bank_green_flag", "loan", "是否绿色贷款", "是否绿色贷款|绿色贷款标识|绿色标识|green_flag|is_green", _plain(v.parse_bool)),
    _spec("bank_green_category", "loan", "绿色贷款分类", "绿色贷款分类|绿色贷款投向|绿色分类代码|green_category", _text(64)),
    # Borrower.
    _spec("borrower_credit_code", "borrower", "统一社会信用代码", "统一社会信用代码|借款人统一社会信用代码|信用代码|credit_code|uscc|unified_social_credit_code", credit_code, required=True),
    _spec("borrower_name", "borrower", "借款人名称", "借款人名称|借款人|客户名称|企业名称|borrower|name", _text(200), required=True),
    _spec("industry_code", "borrower", "行业代码", "行业代码|国民经济行业分类|国民经济行业代码|行业分类代码|所属行业代码|industry", _code_text(canonical_industry_code, "the industry code", "行业代码"), required=True),
    _spec("region_code", "borrower", "行政区划代码", "行政区划代码|地区代码|所在地区代码|注册地行政区划代码|region", _region, required=True),
    _spec("size_class", "borrower", "企业规模", "企业规模|规模|enterprise_size|size", _label(v.parse_size_class)),
    _spec("revenue", "borrower", "营业收入", "营业收入|年营业收入|revenue|turnover", money, dimension=MONEY),
    _spec("total_assets", "borrower", "资产总额", "资产总额|总资产|total_assets|assets", money, dimension=MONEY),
    _spec("equity", "borrower", "所有者权益", "所有者权益|净资产|股东权益|equity", money, dimension=MONEY),
    _spec("debt", "borrower", "负债总额", "负债总额|负债|total_debt|debt", money, dimension=MONEY),
    _spec("evic", "borrower", "企业价值EVIC", "企业价值evic|evic|企业价值", money, dimension=MONEY),
    _spec("scope1", "borrower", "范围一排放", "范围一排放|范围一排放量|直接排放|scope1|scope_1|scope1_emissions", _quantity(Dimension.CO2), dimension=Dimension.CO2),
    _spec("scope2", "borrower", "范围二排放", "范围二排放|范围二排放量|间接排放|scope2|scope_2|scope2_emissions", _quantity(Dimension.CO2), dimension=Dimension.CO2),
    _spec("emissions_quality", "borrower", "排放数据质量", "排放数据质量|排放数据来源|emissions_quality|emissions_data_quality", _label(v.parse_data_quality)),
    # Project.
    _spec("project_id", "project", "项目编号", "项目编号|项目代码|project_no", _text(64)),
    _spec("project_name", "project", "项目名称", "项目名称|project", _text(200)),
    _spec("project_description", "project", "项目描述", "项目描述|项目概况|项目简介|project_desc", _text(4000)),
    _spec("project_region_code", "project", "项目所在地代码", "项目所在地代码|项目地区代码|项目行政区划代码|project_region", _region),
    _spec("project_type", "project", "项目类型", "项目类型|project_kind", _text(100)),
    _spec("capacity", "project", "装机容量", "装机容量|设计规模|capacity|installed_capacity", _quantity(Dimension.POWER), dimension=Dimension.POWER),
    _spec("annual_generation", "project", "年发电量", "年发电量|年上网电量|年供电量|annual_generation|annual_output", _quantity(Dimension.ENERGY), dimension=Dimension.ENERGY),
    _spec("total_investment", "project", "项目总投资", "项目总投资|总投资|total_investment|project_investment", money, dimension=MONEY),
    _spec("project_start_date", "project", "项目开工日期", "项目开工日期|开工日期|project_start", _day),
    _spec("project_completion_date", "project", "项目投产日期", "项目投产日期|投产日期|竣工日期|project_completion|commissioning_date", _day),
    _spec("tech_params", "project", "技术参数", "技术参数|其他技术参数|technical_parameters|parameters", _parameters),
)  # fmt: skip

BY_NAME = {spec.name: spec for spec in COLUMNS}


def fold_header(text: str) -> str:
    """Fold a header for matching: width, case, spaces, underscores, hyphens."""
    folded = unicodedata.normalize("NFKC", text).strip().lower()
    return re.sub(r"[\s_\-]+", "", folded)


_ALIASES: dict[str, ColumnSpec] = {}
for _spec_item in COLUMNS:
    for _alias in (_spec_item.name, *_spec_item.aliases):
        _ALIASES.setdefault(fold_header(_alias), _spec_item)

_HEADER = re.compile(r"^(?P<name>.*?)\s*(?:[(\[](?P<unit>[^()\[\]]*)[)\]])?\s*$")


@dataclass(frozen=True, slots=True)
class HeaderMatch:
    """A header recognised as a column, with the unit it declares (if any)."""

    spec: ColumnSpec
    unit: Unit | None
    header: str


def match_header(header: str) -> HeaderMatch | None:
    """Recognise a header, or None when it is not a loan-book column (it is then ignored).

    Raises :class:`ValueProblem` when the column is known but its declared unit is not, or
    does not fit the column (a power unit on an amount).
    """
    normalised = unicodedata.normalize("NFKC", header).strip()
    match = _HEADER.match(normalised)
    assert match is not None  # the pattern matches any text
    name, unit_text = match.group("name"), match.group("unit")
    spec = _ALIASES.get(fold_header(name))
    if spec is None:
        spec = _ALIASES.get(fold_header(normalised))
        unit_text = None
    if spec is None:
        return None
    unit = None
    if unit_text and unit_text.strip():
        if spec.dimension is None:
            unit = None  # a remark in brackets on a non-quantity column, e.g. 日期(YYYY-MM-DD)
        else:
            try:
                unit = lookup_unit(unit_text, spec.dimension)
            except UnknownUnitError as exc:
                expected = "/".join(units_of(spec.dimension))
                raise ValueProblem(
                    f"unknown unit {unit_text!r} in header {header!r}; expected one of {expected}",
                    f"列名 {header!r} 中的单位 {unit_text!r} 无法识别；应为 {expected} 之一",
                ) from exc
    return HeaderMatch(spec, unit, header)
