"""Energy carriers: what a baseline and a project consume, and what a unit of each is worth.

Efficiency retrofits, fuel switching and heat pumps all compare a baseline's consumption with
the project's, carrier by carrier (绿色信贷项目节能减排量测算指引: 节能量 = Σ (基准能耗 − 项目能耗) × 折标系数).
Standard coal follows GB/T 2589-2020 (electricity at the year's thermal supply coal rate, the
regulator's convention for saved power); CO2 follows each fuel's net calorific value × carbon
content × oxidation rate × 44/12 (national GHG accounting guidelines), electricity the grid factor.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from greenfin.benefits.arith import Num
from greenfin.model.units import Dimension
from greenfin.reference.factors import Convention


@dataclass(frozen=True, slots=True)
class Carrier:
    key: str
    name_zh: str
    dimension: Dimension
    unit: str


CARRIERS: tuple[Carrier, ...] = (
    Carrier("electricity", "电力", Dimension.ENERGY, "MWh"),
    Carrier("raw_coal", "原煤", Dimension.MASS, "t"),
    Carrier("coke", "焦炭", Dimension.MASS, "t"),
    Carrier("fuel_oil", "燃料油", Dimension.MASS, "t"),
    Carrier("gasoline", "汽油", Dimension.MASS, "t"),
    Carrier("diesel", "柴油", Dimension.MASS, "t"),
    Carrier("lpg", "液化石油气", Dimension.MASS, "t"),
    Carrier("natural_gas", "天然气", Dimension.VOLUME, "m3"),
    Carrier("heat", "热力", Dimension.HEAT, "GJ"),
)
FUELS = tuple(c for c in CARRIERS if c.key != "electricity")


def carrier_factors(carriers: tuple[Carrier, ...] = CARRIERS) -> tuple[str, ...]:
    return tuple(name for c in carriers for name in (f"coef:{c.key}", f"co2:{c.key}"))


def saving(
    baseline: Mapping[str, Num],
    project: Mapping[str, Num],
    f: Mapping[str, Num],
    convention: Convention,
    carriers: tuple[Carrier, ...] = CARRIERS,
) -> dict[str, Num]:
    """Standard coal and CO2 saved when ``project`` replaces ``baseline``, summed over carriers.

    A carrier that grows (the heat pump's electricity) counts negative: the saving is net.
    """
    coal: Num = 0.0
    co2: Num = 0.0
    for carrier in carriers:
        saved = baseline[carrier.key] - project[carrier.key]
        coal = coal + saved * f[f"coef:{carrier.key}"]
        co2 = co2 + saved * f[f"co2:{carrier.key}"]
    if convention == "coal_equivalent":
        co2 = coal * f["co2_per_tce"]
    return {"coal_saved": coal, "co2_reduced": co2}
