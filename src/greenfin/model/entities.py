"""The domain: borrowers, projects, loans, pledges and prices, as validated pydantic models.

Field types are built from the parsers in :mod:`greenfin.model.values` and
:mod:`greenfin.model.identifiers`, so the model accepts exactly what the importer accepts.
Money is ``Decimal`` 元; quantities are in canonical units (MWh, MW, tCO2e); the unit is part
of the field name so that no reader has to guess it.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
)

from greenfin.model import values as v
from greenfin.model.identifiers import parse_credit_code
from greenfin.model.units import CANONICAL, Dimension, lookup_unit
from greenfin.reference.industries import canonical_industry_code
from greenfin.reference.regions import region

_YUAN = lookup_unit("元")


def _money(value: Any) -> Decimal:
    return v.fen_to_yuan(v.parse_money_fen(value, _YUAN))


def _quantity(dimension: Dimension) -> Any:
    def parse(value: Any) -> Decimal:
        return v.parse_quantity(value, lookup_unit(_canonical_symbol[dimension]), dimension)

    return BeforeValidator(parse)


_canonical_symbol = {
    Dimension.ENERGY: "MWh",
    Dimension.POWER: "MW",
    Dimension.CO2: "tCO2e",
    Dimension.MASS: "t",
}

CreditCode = Annotated[str, BeforeValidator(lambda x: parse_credit_code(str(x)))]
RegionCode = Annotated[str, BeforeValidator(lambda x: region(str(x)).code)]
IndustryCode = Annotated[str, BeforeValidator(lambda x: canonical_industry_code(str(x)))]
Yuan = Annotated[Decimal, BeforeValidator(_money)]
Day = Annotated[dt.date, BeforeValidator(v.parse_date)]
RatePct = Annotated[Decimal, BeforeValidator(v.parse_rate_pct)]
Currency = Annotated[str, BeforeValidator(v.parse_currency)]
MWh = Annotated[Decimal, _quantity(Dimension.ENERGY)]
MW = Annotated[Decimal, _quantity(Dimension.POWER)]
TCO2e = Annotated[Decimal, _quantity(Dimension.CO2)]
Tonnes = Annotated[Decimal, _quantity(Dimension.MASS)]


def _non_negative(value: Decimal | None) -> Decimal | None:
    if value is not None and value < 0:
        raise ValueError("must not be negative")
    return value


NonNegTCO2e = Annotated[TCO2e, AfterValidator(_non_negative)]
NonNegMW = Annotated[MW, AfterValidator(_non_negative)]
NonNegMWh = Annotated[MWh, AfterValidator(_non_negative)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class Borrower(_Model):
    """A borrowing enterprise, identified by its 统一社会信用代码."""

    credit_code: CreditCode = Field(description="统一社会信用代码 (GB 32100-2015)")
    name: Annotated[str, Field(min_length=1, max_length=200, description="借款人名称")]
    industry_code: IndustryCode = Field(description="国民经济行业分类 GB/T 4754-2017, e.g. D4415")
    region_code: RegionCode = Field(description="行政区划代码 GB/T 2260, six digits")
    size_class: Annotated[v.SizeClass | None, BeforeValidator(lambda x: x and v.parse_size_class(x))] = None
    revenue_yuan: Yuan | None = Field(None, description="营业收入, 元")
    total_assets_yuan: Yuan | None = Field(None, description="资产总额, 元")
    equity_yuan: Yuan | None = Field(None, description="所有者权益, 元 (PCAF attribution)")
    debt_yuan: Yuan | None = Field(None, description="负债, 元 (PCAF attribution)")
    evic_yuan: Yuan | None = Field(None, description="EVIC for listed companies, 元")
    scope1_tco2e: NonNegTCO2e | None = Field(None, description="reported scope 1 emissions, tCO2e/yr")
    scope2_tco2e: NonNegTCO2e | None = Field(None, description="reported scope 2 emissions, tCO2e/yr")
    emissions_quality: Annotated[
        v.DataQuality | None, BeforeValidator(lambda x: x and v.parse_data_quality(x))
    ] = Field(None, description="data-quality mark of the emissions figures")

    @property
    def province(self) -> str:
        return region(self.region_code).province.name_zh

    @property
    def grid_region(self) -> str:
        return region(self.region_code).grid_region


class Project(_Model):
    """A financed project with its technical parameters in canonical units."""

    project_id: Annotated[str, Field(min_length=1, max_length=64)]
    name: Annotated[str, Field(min_length=1, max_length=200)]
    description: str | None = Field(None, max_length=4000)
    region_code: RegionCode | None = None
    project_type: str | None = Field(None, max_length=100)
    capacity_mw: NonNegMW | None = Field(None, description="装机容量, MW")
    annual_generation_mwh: NonNegMWh | None = Field(None, description="年发电量/供电量, MWh")
    total_investment_yuan: Yuan | None = Field(None, description="项目总投资, 元")
    start_date: Day | None = None
    completion_date: Day | None = None
    parameters: dict[str, str] = Field(
        default_factory=dict,
        description="further technical parameters, each 'value unit'",
    )

    @model_validator(mode="after")
    def _dates_in_order(self) -> Project:
        v.check_order(self.start_date, self.completion_date, "start_date", "completion_date")
        return self


class GreenLabel(StrEnum):
    """The bank's own green flag, as exported; greenfin's identification is kept apart."""

    GREEN = "green"
    NOT_GREEN = "not_green"


class Loan(_Model):
    """A loan of the book; the borrower by credit code, the project by id."""

    loan_id: Annotated[str, Field(min_length=1, max_length=64, description="贷款编号/借据号")]
    borrower_credit_code: CreditCode
    project_id: str | None = Field(None, max_length=64)
    purpose: str | None = Field(None, max_length=2000, description="贷款用途")
    amount_yuan: Yuan = Field(description="合同金额, 元")
    balance_yuan: Yuan = Field(description="贷款余额, 元")
    currency: Currency = "CNY"
    rate_pct: RatePct | None = Field(None, description="执行年利率, %")
    approval_date: Day | None = None
    start_date: Day
    maturity_date: Day
    five_tier: Annotated[v.FiveTier | None, BeforeValidator(lambda x: x and v.parse_five_tier(x))] = None
    bank_green_flag: Annotated[
        bool | None,
        BeforeValidator(lambda x: None if x in (None, "") else v.parse_bool(x)),
    ] = None
    bank_green_category: str | None = Field(None, max_length=64, description="bank's own category code")

    @model_validator(mode="after")
    def _consistent(self) -> Loan:
        v.check_loan_consistency(
            self.amount_yuan,
            self.balance_yuan,
            self.approval_date,
            self.start_date,
            self.maturity_date,
        )
        return self


class PledgeState(StrEnum):
    """A pledge's life: 申请 → 已登记 → 预警 → 追加担保 / 部分解押 → 解押 or 处置."""

    APPLIED = "applied"  # 申请
    REGISTERED = "registered"  # 已登记
    WARNING = "warning"  # 预警
    TOPPED_UP = "topped_up"  # 追加担保
    PARTIALLY_RELEASED = "part_released"  # 部分解押
    RELEASED = "released"  # 解押
    ENFORCED = "enforced"  # 处置


class Instrument(StrEnum):
    """Environmental rights that can be pledged."""

    CEA = "CEA"  # 全国碳排放权配额
    CCER = "CCER"  # 国家核证自愿减排量
    PILOT_ALLOWANCE = "PILOT"  # 地方试点碳配额
    DISCHARGE_RIGHT = "DISCHARGE"  # 排污权
    ENERGY_USE_RIGHT = "ENERGY_USE"  # 用能权


PLEDGE_DIMENSIONS = (Dimension.CO2, Dimension.MASS, Dimension.COAL)


class Pledge(_Model):
    """Environmental rights pledged as collateral for a loan, registered with a registry."""

    pledge_id: Annotated[str, Field(min_length=1, max_length=64)]
    loan_id: Annotated[str, Field(min_length=1, max_length=64)]
    instrument: Instrument
    quantity: Annotated[Decimal, Field(gt=0)]
    unit: Annotated[
        str,
        Field(description="tCO2e for allowances and credits, t for pollutants, tce"),
    ]
    vintage: int | None = Field(None, ge=2013, le=2100)
    registry_reference: Annotated[str, Field(min_length=1, max_length=100, description="登记编号")]
    state: PledgeState = PledgeState.REGISTERED
    pledged_on: Day
    holding_id: Annotated[
        str | None, Field(max_length=64, description="the registry holding it draws on")
    ] = None
    price_series: Annotated[str | None, Field(max_length=32, description="price series that values it")] = (
        None
    )

    @model_validator(mode="before")
    @classmethod
    def _canonical_quantity(cls, data: Any) -> Any:
        """Hold the quantity in the canonical unit of its dimension (万吨 → t, 万tCO2e → tCO2e)."""
        if isinstance(data, dict) and data.get("unit") is not None and data.get("quantity") is not None:
            unit = lookup_unit(str(data["unit"]))
            if unit.dimension not in PLEDGE_DIMENSIONS:
                raise ValueError(
                    f"unit {data['unit']!r} is not a tonnage of allowances, pollutants or energy"
                )
            quantity = v.canonical_decimal(v.parse_decimal(data["quantity"]) * unit.factor)
            data = {**data, "quantity": quantity, "unit": CANONICAL[unit.dimension]}
        return data


class Price(_Model):
    """A daily price bar of a tradable instrument, 元 per unit."""

    instrument: Annotated[str, Field(min_length=1, max_length=32)]
    day: Day
    open_yuan: Annotated[Decimal, Field(ge=0)] | None = None
    high_yuan: Annotated[Decimal, Field(ge=0)] | None = None
    low_yuan: Annotated[Decimal, Field(ge=0)] | None = None
    close_yuan: Annotated[Decimal, Field(ge=0)]
    volume: Annotated[Decimal, Field(ge=0)] | None = None

    @model_validator(mode="after")
    def _bar_shape(self) -> Price:
        if self.high_yuan is not None and self.low_yuan is not None:
            if self.low_yuan > self.high_yuan:
                raise ValueError("low is above high")
            if not self.low_yuan <= self.close_yuan <= self.high_yuan:
                raise ValueError("close lies outside the low-high range")
        return self
