"""Afforestation and carbon sinks: area × annual sequestration per hectare.

The sequestration rate is the project's own (from a CCER-14-001 造林碳汇 calculation or the forestry
survey in its feasibility study): no national default rate is shipped, because stand growth varies
by species, age and site by an order of magnitude.  The rate is therefore a required input.
"""

from __future__ import annotations

from collections.abc import Mapping

from greenfin.benefits.arith import Num
from greenfin.benefits.methodology import Input, Methodology
from greenfin.model.units import Dimension
from greenfin.reference.factors import Convention


def formula(x: Mapping[str, Num], f: Mapping[str, Num], convention: Convention) -> dict[str, Num]:
    return {"co2_reduced": x["area"] / 10_000.0 * x["sequestration_t_per_ha"]}


METHODOLOGY = Methodology(
    id="carbon-sink",
    version="1.0",
    name_zh="造林与碳汇",
    name_en="afforestation and carbon sinks",
    inputs=(
        Input("area", "造林（营林）面积", Dimension.AREA, "m2"),
        Input("sequestration_t_per_ha", "年均单位面积固碳量（tCO2e/公顷·年）", None, "tCO2e/ha"),
    ),
    factors=(),
    outputs=("co2_reduced",),
    formula=formula,
    source="温室气体自愿减排项目方法学 造林碳汇（CCER-14-001-V01，2023）",
)
