"""Water saving: a baseline's annual water use against the project's (1 m³ of water = 1 t).

Source: 绿色信贷项目节能减排量测算指引 (2013), 节水项目: 节水量 = 基准年用水量 − 项目年用水量; reclaimed
water that replaces fresh water counts as saved.
"""

from __future__ import annotations

from collections.abc import Mapping

from greenfin.benefits.arith import Num, clip_low
from greenfin.benefits.methodology import Input, Methodology
from greenfin.model.units import Dimension
from greenfin.reference.factors import Convention


def formula(x: Mapping[str, Num], f: Mapping[str, Num], convention: Convention) -> dict[str, Num]:
    return {"water_saved": clip_low(x["baseline_water"] - x["project_water"] + x["reclaimed_water"])}


METHODOLOGY = Methodology(
    id="water-saving",
    version="1.0",
    name_zh="节水及非常规水源利用",
    name_en="water saving",
    inputs=(
        Input("baseline_water", "基准年新鲜水用量", Dimension.VOLUME, "m3", required=False, default=0.0),
        Input("project_water", "项目年新鲜水用量", Dimension.VOLUME, "m3", required=False, default=0.0),
        Input(
            "reclaimed_water",
            "年再生水（中水）替代新鲜水量",
            Dimension.VOLUME,
            "m3",
            required=False,
            default=0.0,
        ),
    ),
    factors=(),
    outputs=("water_saved",),
    formula=formula,
    source="绿色信贷项目节能减排量测算指引（2013）节水项目",
)
