"""Grid-connected renewable power: wind, solar, hydro, biomass, geothermal (and nuclear).

Source: 绿色信贷项目节能减排量测算指引 (原银监会, 2013; the regulator's guideline), 新能源与可再生能源
利用发电项目: 项目年节能量 = 项目年对外供电量 × 上年度全国火电供电标准煤耗 (its worked example uses
326 gce/kWh).  CO2 follows the policy's convention: power supplied × grid CO2 factor (MEE/NBS
电力二氧化碳排放因子), or coal saved × CO2 per tonne of standard coal.  Power supplied is net of the
plant's own use (厂用电); biomass CO2 is biogenic and counted as zero at the stack.
"""

from __future__ import annotations

from collections.abc import Mapping

from greenfin.benefits.arith import Num, clip_low
from greenfin.benefits.methodology import Input, Methodology
from greenfin.model.units import Dimension
from greenfin.reference.factors import Convention

TECHNOLOGIES = {
    "wind": "风力发电",
    "solar": "太阳能光伏发电",
    "hydro": "水力发电",
    "biomass": "生物质发电",
    "geothermal": "地热发电",
    "nuclear": "核电",
}


def formula(x: Mapping[str, Num], f: Mapping[str, Num], convention: Convention) -> dict[str, Num]:
    supplied = clip_low(x["generation"] - x["own_use"])  # MWh
    coal = supplied * f["coal_rate"] / 1000.0  # MWh × gce/kWh = kg… ÷ 1000 → tce
    co2 = coal * f["co2_per_tce"] if convention == "coal_equivalent" else supplied * f["grid"]
    return {"coal_saved": coal, "co2_reduced": co2}


METHODOLOGY = Methodology(
    id="renewable-power",
    version="1.0",
    name_zh="并网可再生能源发电",
    name_en="grid-connected renewable power",
    inputs=(
        Input("generation", "年上网（供）电量", Dimension.ENERGY, "MWh"),
        Input(
            "own_use",
            "厂用电量（已从上网电量扣除时为 0）",
            Dimension.ENERGY,
            "MWh",
            required=False,
            default=0.0,
        ),
    ),
    factors=("coal_rate", "grid", "co2_per_tce"),
    outputs=("coal_saved", "co2_reduced"),
    formula=formula,
    source="绿色信贷项目节能减排量测算指引（2013）新能源与可再生能源利用发电项目；生态环境部、国家统计局电力二氧化碳排放因子",
)
