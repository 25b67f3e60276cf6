"""Green buildings: energy saved per square metre against a baseline building.

Source: 绿色信贷项目节能减排量测算指引 (2013), 建筑节能项目: 节能量 = 建筑面积 × (基准单位面积能耗 − 项目
单位面积能耗), energy in electricity terms (kWh/m²·a, the unit of GB/T 51161-2016 民用建筑能耗标准's
constraint values); saved power is converted like renewable power.
"""

from __future__ import annotations

from collections.abc import Mapping

from greenfin.benefits.arith import Num
from greenfin.benefits.methodology import Input, Methodology
from greenfin.benefits.renewable_power import formula as power_formula
from greenfin.model.units import Dimension
from greenfin.reference.factors import Convention


def formula(x: Mapping[str, Num], f: Mapping[str, Num], convention: Convention) -> dict[str, Num]:
    saved = x["area"] * (x["baseline_kwh_per_m2"] - x["project_kwh_per_m2"]) / 1000.0  # MWh
    return power_formula({"generation": saved, "own_use": 0.0}, f, convention)


METHODOLOGY = Methodology(
    id="green-building",
    version="1.0",
    name_zh="绿色建筑节能",
    name_en="green building energy saving",
    inputs=(
        Input("area", "建筑面积", Dimension.AREA, "m2"),
        Input("baseline_kwh_per_m2", "基准建筑单位面积年能耗（kWh/m²·a）", None, "kWh/m2"),
        Input("project_kwh_per_m2", "项目建筑单位面积年能耗（kWh/m²·a）", None, "kWh/m2"),
    ),
    factors=("coal_rate", "grid", "co2_per_tce"),
    outputs=("coal_saved", "co2_reduced"),
    formula=formula,
    source="绿色信贷项目节能减排量测算指引（2013）建筑节能类项目；GB/T 51161-2016 民用建筑能耗标准",
)
