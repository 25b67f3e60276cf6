"""Clean transport: new-energy buses, taxis and trucks, and rail transit, replacing fuel vehicles.

Source: 绿色信贷项目节能减排量测算指引 (2013), 绿色交通项目: the baseline is the fuel the replaced
service would burn over the same distance (vehicle-km for fleets, passenger-km for rail transit),
the project is the electricity it uses instead.  Fuel volume → mass by the density of the fuel
standard (GB 19147-2016 车用柴油, GB 17930-2016 车用汽油), then standard coal and CO2 per carrier.
"""

from __future__ import annotations

from collections.abc import Mapping

from greenfin.benefits.arith import Num
from greenfin.benefits.carriers import CARRIERS, saving
from greenfin.benefits.methodology import Input, Methodology
from greenfin.model.units import Dimension
from greenfin.reference.factors import Convention

_USED = tuple(c for c in CARRIERS if c.key in {"electricity", "diesel", "gasoline"})


def formula(x: Mapping[str, Num], f: Mapping[str, Num], convention: Convention) -> dict[str, Num]:
    hundreds_km = x["distance"] / 100_000.0  # m → units of 100 km
    baseline = {
        "electricity": 0.0,
        "diesel": hundreds_km * x["baseline_diesel_l_per_100km"] / 1000.0 * f["density:diesel"],
        "gasoline": hundreds_km * x["baseline_gasoline_l_per_100km"] / 1000.0 * f["density:gasoline"],
    }
    project = {
        "electricity": hundreds_km * x["project_kwh_per_100km"] / 1000.0,  # kWh → MWh
        "diesel": 0.0,
        "gasoline": 0.0,
    }
    return saving(baseline, project, f, convention, _USED)


METHODOLOGY = Methodology(
    id="clean-transport",
    version="1.0",
    name_zh="清洁交通（新能源车辆替代燃油车辆、城市轨道交通）",
    name_en="clean transport",
    inputs=(
        Input("distance", "年行驶里程合计（车公里或人公里）", Dimension.LENGTH, "m"),
        Input(
            "baseline_diesel_l_per_100km",
            "被替代车辆柴油百公里油耗（L/100km）",
            None,
            "L/100km",
            required=False,
            default=0.0,
        ),
        Input(
            "baseline_gasoline_l_per_100km",
            "被替代车辆汽油百公里油耗（L/100km）",
            None,
            "L/100km",
            required=False,
            default=0.0,
        ),
        Input("project_kwh_per_100km", "项目车辆百公里电耗（kWh/100km）", None, "kWh/100km"),
    ),
    factors=(
        "coef:electricity",
        "co2:electricity",
        "coef:diesel",
        "co2:diesel",
        "coef:gasoline",
        "co2:gasoline",
        "density:diesel",
        "density:gasoline",
        "co2_per_tce",
    ),
    outputs=("coal_saved", "co2_reduced"),
    formula=formula,
    source="绿色信贷项目节能减排量测算指引（2013）绿色交通项目；GB 19147-2016、GB 17930-2016 燃油密度",
)
