"""The whole-book table: one row per holding, the columns the portfolio engine reads and writes.

A bank's book arrives from its data warehouse as Parquet or CSV, or is read from the greenfin
store, and every engine (DuckDB, Spark) reads the same named columns, so the columns are named
once here with their type, unit and meaning (the way OS-Climate ITR keeps its column names in
config classes rather than as strings scattered through the code).  Amounts are integer 分,
quantities are in the canonical unit named in the column, and a column absent from the input is
read as all-null.  Benefit inputs are ``input_<key>`` in the methodology's canonical unit
(``docs/portfolio.md`` lists them).
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from greenfin.benefits.registry import METHODOLOGIES
from greenfin.model.units import CANONICAL


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: pa.DataType
    unit: str
    zh: str
    en: str
    required: bool = False


INPUT: tuple[Column, ...] = (
    Column("loan_id", pa.string(), "", "贷款编号", "holding id", required=True),
    Column("asset_class", pa.string(), "", "PCAF 资产类别", "PCAF asset class", required=True),
    Column("balance_fen", pa.int64(), "分", "贷款余额", "outstanding amount", required=True),
    Column("purpose", pa.string(), "", "贷款用途/项目描述", "purpose and project text"),
    Column("industry_code", pa.string(), "", "借款人行业（GB/T 4754-2017）", "borrower industry"),
    Column("approval_date", pa.date32(), "", "审批日期（决定适用目录）", "approval date"),
    Column("region_code", pa.string(), "", "项目或借款人所在地（GB/T 2260）", "region code"),
    Column("reporting_year", pa.int32(), "", "报告年度", "reporting year"),
    Column("emissions_t", pa.float64(), "tCO2e", "借款人/资产报告排放（范围一+二）", "reported scope 1+2"),
    Column(
        "emissions_quality", pa.string(), "", "排放数据质量：verified/reported/physical", "emissions basis"
    ),
    Column("revenue_fen", pa.int64(), "分", "营业收入", "revenue"),
    Column("total_assets_fen", pa.int64(), "分", "总资产", "total assets"),
    Column("evic_fen", pa.int64(), "分", "企业价值（含现金，上市公司）", "EVIC"),
    Column("equity_debt_fen", pa.int64(), "分", "权益与债务合计（借款人或项目）", "total equity + debt"),
    Column("property_value_fen", pa.int64(), "分", "房产发放时价值", "property value at origination"),
    Column("floor_area_m2", pa.float64(), "m2", "建筑面积", "floor area"),
    Column("building_type", pa.string(), "", "建筑类型：residential/commercial", "building type"),
    Column("vehicle_value_fen", pa.int64(), "分", "车辆发放时价值", "vehicle value at origination"),
    Column("vehicle_fuel", pa.string(), "", "车辆能源类型：petrol/bev/phev", "vehicle fuel"),
    Column("methodology", pa.string(), "", "环境效益测算方法学", "benefit methodology id"),
    Column("total_investment_fen", pa.int64(), "分", "项目总投资", "project total investment"),
)


def _benefit_inputs() -> tuple[Column, ...]:
    seen: dict[str, Column] = {}
    for method in METHODOLOGIES.values():
        for spec in method.inputs:
            unit = CANONICAL[spec.dimension] if spec.dimension is not None else "per the methodology"
            seen.setdefault(
                spec.key,
                Column(f"input_{spec.key}", pa.float64(), unit, f"方法学输入 {spec.key}", spec.key),
            )
    return tuple(seen.values())


BENEFIT_INPUTS: tuple[Column, ...] = _benefit_inputs()
ALL_INPUT: tuple[Column, ...] = INPUT + BENEFIT_INPUTS
BY_NAME: dict[str, Column] = {c.name: c for c in ALL_INPUT}
INPUT_SCHEMA = pa.schema([pa.field(c.name, c.type, nullable=not c.required) for c in ALL_INPUT])

#: What identification adds to each row, joined on (purpose, industry, catalogue).
LABEL: tuple[Column, ...] = (
    Column("status", pa.string(), "", "识别结果：green/not_green/needs_review", "label status"),
    Column("item_code", pa.string(), "", "目录条目", "catalogue item"),
    Column("level1_code", pa.string(), "", "目录一级分类", "catalogue level 1"),
    Column("cerf_area", pa.string(), "", "碳减排支持工具领域", "CERF area"),
)

#: The benefit indicators every methodology reports, and the integer unit they are written in:
#: kilograms for masses (emissions to the kilogram, issue 8) and litres for water.
INDICATOR_UNITS: dict[str, tuple[str, float]] = {
    "co2_reduced": ("kg", 1000.0),
    "coal_saved": ("kg", 1000.0),
    "cod_reduced": ("kg", 1000.0),
    "nh3n_reduced": ("kg", 1000.0),
    "tn_reduced": ("kg", 1000.0),
    "tp_reduced": ("kg", 1000.0),
    "so2_reduced": ("kg", 1000.0),
    "nox_reduced": ("kg", 1000.0),
    "particulates_reduced": ("kg", 1000.0),
    "water_saved": ("L", 1000.0),
}

OUTPUT: tuple[Column, ...] = (
    *INPUT[:3],  # loan_id, asset_class, balance_fen
    *LABEL,
    Column("pcaf_factor", pa.float64(), "", "PCAF 归属系数", "attribution factor"),
    Column("pcaf_score", pa.int8(), "", "PCAF 数据质量评分 1–5", "data-quality score"),
    Column("pcaf_basis", pa.string(), "", "排放数据来源（报告/估算依据）", "emissions basis"),
    Column("financed_kg", pa.int64(), "kgCO2e", "融资排放", "financed emissions"),
    Column("benefit_share", pa.float64(), "", "环境效益归属比例（贷款余额÷项目总投资）", "benefit share"),
    *(
        Column(f"{key}_{unit}", pa.int64(), unit, f"归属本行的 {key}", f"attributed {key}")
        for key, (unit, _scale) in INDICATOR_UNITS.items()
    ),
)
OUTPUT_SCHEMA = pa.schema([pa.field(c.name, c.type) for c in OUTPUT])
