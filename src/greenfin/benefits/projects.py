"""A project as a user writes it (JSON, or a CSV row), read into an assessment.

The schema is documented in docs/methodology/README.md.  Every quantity carries its unit
("21000万千瓦时", "100 MW", "48000万元"); a bare number for a quantity is refused, because a bare
number is how 万 gets lost.  A problem names the field (and, from a CSV, the row) it is in.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from greenfin.benefits import checks
from greenfin.benefits.assess import Place, Result, assess
from greenfin.benefits.indicators import BY_KEY
from greenfin.benefits.methodology import Methodology
from greenfin.benefits.registry import methodology
from greenfin.benefits.renewable_power import TECHNOLOGIES
from greenfin.model.problems import ValueProblem
from greenfin.model.units import Dimension
from greenfin.model.values import parse_money_fen, parse_quantity
from greenfin.reference.factors import (
    NATIONAL,
    Factor,
    FactorMissing,
    FactorPolicy,
    latest,
    user_factor,
    year_note,
)
from greenfin.reference.regions import region

#: Fields of the project file besides the methodology's own inputs.
FIELDS = (
    "id", "name", "methodology", "technology", "region_code", "reporting_year", "capacity",
    "loan_balance", "total_investment", "equity_debt", "inputs", "stated", "factors",
)  # fmt: skip
STATED_UNITS = {"coal_saved": Dimension.COAL, "co2_reduced": Dimension.CO2, "water_saved": Dimension.MASS}


class ProjectProblem(ValueError):
    """A project file that cannot be assessed, with the field (and row) where the problem is."""

    def __init__(self, field: str, message_zh: str, row: int | None = None) -> None:
        where = f"第 {row} 行 " if row is not None else ""
        super().__init__(f"{where}字段 {field}：{message_zh}")
        self.field = field
        self.row = row


@dataclass(slots=True)
class Assessment:
    """What ``greenfin benefits`` prints: the project, its result and the flags raised."""

    project_id: str
    name: str
    result: Result
    flags: list[checks.Flag]
    stated: dict[str, float]

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.project_id,
            "name": self.name,
            **self.result.as_dict(),
            "stated": self.stated,
            "flags": [
                {"code": f.code, "field": f.field, "message_zh": f.message_zh, "message_en": f.message_en}
                for f in self.flags
            ],
        }


def _quantity(field: str, value: Any, dimension: Dimension) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ProjectProblem(field, f'数值 {value} 缺少单位（例如 "{value} {_example_unit(dimension)}"）')
    try:
        return float(parse_quantity(str(value), None, dimension))
    except ValueProblem as exc:
        raise ProjectProblem(field, exc.zh) from exc


def _example_unit(dimension: Dimension) -> str:
    from greenfin.model.units import CANONICAL

    return CANONICAL[dimension]


def _number(field: str, value: Any) -> float:
    try:
        return float(Decimal(str(value).strip()))
    except Exception as exc:
        raise ProjectProblem(field, f"应为数字，实为 {value!r}") from exc


def _money_yuan(field: str, value: Any) -> float | None:
    if value in (None, ""):
        return None
    if isinstance(value, int | float):
        raise ProjectProblem(field, f'金额 {value} 缺少单位（例如 "{value}万元"）')
    try:
        return parse_money_fen(str(value), None) / 100.0
    except ValueProblem as exc:
        raise ProjectProblem(field, exc.zh) from exc


def read_inputs(method: Methodology, raw: Mapping[str, Any]) -> dict[str, float]:
    values: dict[str, float] = {}
    known = {spec.key for spec in method.inputs}
    for key, value in raw.items():
        if key not in known:
            names = "、".join(sorted(known))
            raise ProjectProblem(f"inputs.{key}", f"方法学 {method.id} 没有此输入；可用输入：{names}")
        if value in (None, ""):
            continue
        spec = method.input(key)
        field = f"inputs.{key}"
        values[key] = (
            _number(field, value) if spec.dimension is None else _quantity(field, value, spec.dimension)
        )
        if values[key] < 0:
            raise ProjectProblem(field, "不能为负数")
    return values


def _place(code: Any) -> Place:
    if code in (None, ""):
        return Place(None, None)
    try:
        found = region(str(code))
    except ValueError as exc:
        raise ProjectProblem("region_code", str(exc)) from exc
    return Place(found.province.short_zh, found.grid_region or None)


def _estimate_generation(
    technology: str | None, capacity_mw: float | None, reporting_year: int
) -> tuple[float, str, Factor] | None:
    """Generation from capacity × the national average utilisation hours of the technology."""
    if not technology or not capacity_mw:
        return None
    try:
        hours = latest("utilisation_hours", f"{technology}:{NATIONAL}", reporting_year)
    except FactorMissing:
        return None
    note = f"装机容量 {capacity_mw:g} MW × {hours.year} 年全国{TECHNOLOGIES[technology]}平均利用小时 {hours.value:g} h"
    dated = year_note(hours, reporting_year)
    return capacity_mw * hours.value, f"{note}（{dated}）" if dated else note, hours


def assess_project(
    spec: Mapping[str, Any], policy: FactorPolicy, *, row: int | None = None, today: dt.date | None = None
) -> Assessment:
    """Assess one project as written in a project file; problems name their field (and row)."""
    try:
        return _assess_project(spec, policy, today or dt.date.today())
    except ProjectProblem as exc:
        if row is None:
            raise
        raise ProjectProblem(exc.field, str(exc).split("：", 1)[1], row) from exc


def _assess_project(spec: Mapping[str, Any], policy: FactorPolicy, today: dt.date) -> Assessment:
    unknown = sorted(set(spec) - set(FIELDS))
    if unknown:
        raise ProjectProblem(unknown[0], f"未知字段；可用字段：{'、'.join(FIELDS)}")
    for section in ("inputs", "stated", "factors"):
        if spec.get(section) not in (None, "") and not isinstance(spec[section], Mapping):
            raise ProjectProblem(section, f"应为对象（{{名称: 值}}）；CSV 中请用 {section}.<名称> 列")
    try:
        method = methodology(str(spec.get("methodology") or ""))
    except KeyError as exc:
        raise ProjectProblem("methodology", str(exc.args[0])) from exc
    technology = spec.get("technology") or None
    if technology is not None and technology not in TECHNOLOGIES:
        raise ProjectProblem("technology", f"应为 {'/'.join(TECHNOLOGIES)} 之一，实为 {technology!r}")
    year = int(_number("reporting_year", spec.get("reporting_year") or today.year))
    capacity = (
        None
        if spec.get("capacity") in (None, "")
        else _quantity("capacity", spec["capacity"], Dimension.POWER)
    )
    inputs = read_inputs(method, spec.get("inputs") or {})
    estimated: dict[str, str] = {}
    extra: dict[str, list[Factor]] = {}
    if method.id == "renewable-power" and "generation" not in inputs:
        estimate = _estimate_generation(technology, capacity, year)
        if estimate is None:
            raise ProjectProblem(
                "inputs.generation",
                "缺少年上网电量；或同时提供 capacity（装机容量）与 technology（技术类型），按全国平均利用小时估算",
            )
        inputs["generation"], estimated["generation"], hours = estimate
        extra["utilisation_hours"] = [hours]
    overrides = _user_factors(method, spec.get("factors") or {})
    place = _place(spec.get("region_code"))
    balance = _money_yuan("loan_balance", spec.get("loan_balance"))
    investment = _money_yuan("total_investment", spec.get("total_investment"))
    equity_debt = _money_yuan("equity_debt", spec.get("equity_debt"))
    try:
        result = assess(
            method,
            inputs,
            place,
            year,
            policy,
            balance_yuan=balance,
            investment_yuan=investment,
            equity_debt_yuan=equity_debt,
            estimated=estimated,
            extra_factors=extra,
            overrides=overrides,
        )
    except ValueError as exc:
        raise ProjectProblem("inputs", str(exc)) from exc
    stated = {key: _stated(key, value) for key, value in (spec.get("stated") or {}).items()}
    coal_rate = result.factors["coal_rate"][0].value if "coal_rate" in result.factors else None
    flags = [
        *checks.check_inputs(technology, capacity, inputs.get("generation")),
        *checks.check_stated(stated, result.indicators, coal_rate),
    ]
    return Assessment(str(spec.get("id") or ""), str(spec.get("name") or ""), result, flags, stated)


def _stated(key: str, value: Any) -> float:
    """A disclosed figure; CO2 may be written in plain tonnes (减排二氧化碳21万吨)."""
    if key not in BY_KEY:
        raise ProjectProblem(f"stated.{key}", f"未知指标；可用指标：{'、'.join(BY_KEY)}")
    dimension = STATED_UNITS.get(key, Dimension.MASS)
    try:
        return _quantity(f"stated.{key}", value, dimension)
    except ProjectProblem:
        if dimension is not Dimension.CO2:
            raise
        return _quantity(f"stated.{key}", value, Dimension.MASS)


def _user_factors(method: Methodology, raw: Mapping[str, Any]) -> dict[str, Factor]:
    """A project may bring its own factor (a PDD's combined margin); it is recorded as user-supplied."""
    given = {}
    for name, entry in raw.items():
        field = f"factors.{name}"
        if name not in method.factors:
            raise ProjectProblem(
                field, f"方法学 {method.id} 不使用此因子；可替换的因子：{'、'.join(method.factors)}"
            )
        if not isinstance(entry, Mapping) or "value" not in entry or not entry.get("source"):
            raise ProjectProblem(field, "用户因子需写明 value、unit 与 source（出处）")
        value = _number(field, entry["value"])
        given[name] = user_factor(name, "project", 0, value, str(entry.get("unit", "")), str(entry["source"]))
    return given
