"""Units: one table that turns what a bank writes (万元, 万千瓦时, kW) into greenfin's canonical units.

Inside greenfin every quantity is held in one canonical unit per dimension (元, MWh, MW, tCO2e,
tce, t, m3).  Conversion happens once, at the edge, through :data:`UNITS`.  A unit that is not
in the table is an error, never a guess: silently reading 万元 as 元 is the classic
spreadsheet mistake that overstates a loan book ten-thousand-fold.

Factors are exact decimal powers of ten or exact SI ratios, so conversions are done in
``Decimal`` and never lose a 分.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum


class Dimension(StrEnum):
    """Physical or monetary dimension of a quantity."""

    MONEY = "money"
    ENERGY = "energy"
    POWER = "power"
    CO2 = "co2"
    COAL = "coal"
    MASS = "mass"
    VOLUME = "volume"
    AREA = "area"
    LENGTH = "length"
    RATIO = "ratio"
    HEAT = "heat"
    CONCENTRATION = "concentration"


#: Canonical unit of each dimension, the one stored and computed with.
CANONICAL: dict[Dimension, str] = {
    Dimension.MONEY: "元",
    Dimension.ENERGY: "MWh",
    Dimension.POWER: "MW",
    Dimension.CO2: "tCO2e",
    Dimension.COAL: "tce",
    Dimension.MASS: "t",
    Dimension.VOLUME: "m3",
    Dimension.AREA: "m2",
    Dimension.LENGTH: "m",
    Dimension.RATIO: "%",
    Dimension.HEAT: "GJ",
    Dimension.CONCENTRATION: "mg/L",
}


@dataclass(frozen=True, slots=True)
class Unit:
    """A unit: its dimension and how many canonical units one of it is."""

    symbol: str
    dimension: Dimension
    factor: Decimal


def _units(dimension: Dimension, factor: str, *aliases: str) -> list[tuple[str, Unit]]:
    unit = Unit(aliases[0], dimension, Decimal(factor))
    return [(alias, unit) for alias in aliases]


_TABLE: list[tuple[str, Unit]] = [
    # Money. "元" here means one unit of the row's currency (see docs/loan-book-schema.md).
    *_units(Dimension.MONEY, "1", "元", "cny", "rmb", "yuan", "人民币元"),
    *_units(Dimension.MONEY, "1000", "千元", "千元人民币", "thousand cny", "k cny", "kcny"),
    *_units(
        Dimension.MONEY,
        "10000",
        "万元",
        "万元人民币",
        "10k cny",
        "ten thousand cny",
        "wan yuan",
    ),
    *_units(Dimension.MONEY, "1000000", "百万元", "million cny", "mn cny", "m cny"),
    *_units(
        Dimension.MONEY,
        "100000000",
        "亿元",
        "亿元人民币",
        "100m cny",
        "hundred million cny",
    ),
    # Energy (electricity and heat as delivered energy).
    *_units(Dimension.ENERGY, "0.001", "kWh", "千瓦时", "度"),
    *_units(Dimension.ENERGY, "1", "MWh", "兆瓦时"),
    *_units(Dimension.ENERGY, "1000", "GWh", "吉瓦时"),
    *_units(Dimension.ENERGY, "10", "万千瓦时", "万kwh", "万度"),
    *_units(Dimension.ENERGY, "100000", "亿千瓦时", "亿kwh", "亿度"),
    # Power (installed capacity).
    *_units(Dimension.POWER, "0.001", "kW", "千瓦", "kwp"),
    *_units(Dimension.POWER, "1", "MW", "兆瓦", "mwp"),
    *_units(Dimension.POWER, "1000", "GW", "吉瓦", "gwp"),
    *_units(Dimension.POWER, "10", "万千瓦", "万kw"),
    # Greenhouse gas, as CO2 equivalent.
    *_units(Dimension.CO2, "0.001", "kgCO2e", "kgco2", "千克二氧化碳当量", "千克二氧化碳"),
    *_units(Dimension.CO2, "1", "tCO2e", "tco2", "吨二氧化碳当量", "吨二氧化碳", "tco2eq"),
    *_units(Dimension.CO2, "10000", "万tCO2e", "万tco2", "万吨二氧化碳当量", "万吨二氧化碳"),
    *_units(Dimension.CO2, "1000000", "MtCO2e", "mtco2", "百万吨二氧化碳当量"),
    # Standard coal equivalent (GB/T 2589: 1 kgce = 29.3076 MJ).
    *_units(Dimension.COAL, "0.001", "kgce", "千克标准煤", "千克标煤"),
    *_units(Dimension.COAL, "1", "tce", "吨标准煤", "吨标煤"),
    *_units(Dimension.COAL, "10000", "万tce", "万吨标准煤", "万吨标煤"),
    # Plain mass, for pollutants (COD, NH3-N, SO2, NOx) and water.
    *_units(Dimension.MASS, "0.001", "kg", "千克", "公斤"),
    *_units(Dimension.MASS, "1", "t", "吨"),
    *_units(Dimension.MASS, "10000", "万t", "万吨"),
    *_units(Dimension.VOLUME, "1", "m3", "立方米", "m³", "方"),
    *_units(Dimension.VOLUME, "10000", "万m3", "万立方米", "万m³", "万方"),
    *_units(Dimension.VOLUME, "100000000", "亿m3", "亿立方米", "亿m³", "亿方"),
    *_units(Dimension.VOLUME, "0.001", "L", "升", "l"),
    # Normal cubic metres of flue gas or natural gas: volume at 0 °C and 101.325 kPa.
    *_units(Dimension.VOLUME, "1", "Nm3", "nm3", "标准立方米", "标立方米", "nm³"),
    *_units(Dimension.VOLUME, "10000", "万Nm3", "万nm3", "万标准立方米", "万标立方米", "万nm³"),
    *_units(Dimension.AREA, "1", "m2", "平方米", "m²"),
    *_units(Dimension.AREA, "10000", "万m2", "万平方米", "万m²", "ha", "公顷", "hm2", "hm²"),
    *_units(Dimension.AREA, "1000000", "km2", "平方公里", "平方千米", "km²"),
    *_units(Dimension.LENGTH, "1", "m", "米"),
    *_units(Dimension.LENGTH, "1000", "km", "千米", "公里"),
    *_units(Dimension.RATIO, "1", "%", "percent", "pct", "百分比"),
    # Heat (steam, hot water) and fuel energy.
    *_units(Dimension.HEAT, "0.001", "MJ", "兆焦"),
    *_units(Dimension.HEAT, "1", "GJ", "吉焦"),
    *_units(Dimension.HEAT, "1000", "TJ", "太焦"),
    *_units(Dimension.HEAT, "10000", "万GJ", "万吉焦"),
    # Concentrations in water (mg/L) and in flue gas (mg/m3 = 0.001 mg/L).
    *_units(Dimension.CONCENTRATION, "1", "mg/L", "mg/l", "毫克/升", "g/m3", "g/m³"),
    *_units(Dimension.CONCENTRATION, "0.001", "mg/m3", "mg/m³", "mg/nm3", "mg/nm³", "毫克/立方米"),
]


def normalise_unit_text(text: str) -> str:
    """Fold full-width characters, case and spaces, so that 'ＭＷ', 'mw' and ' MW ' agree."""
    folded = unicodedata.normalize("NFKC", text).strip().lower()
    return folded.replace(" ", "").replace("₂", "2").replace("²", "2").replace("³", "3")


UNITS: dict[str, Unit] = {normalise_unit_text(alias): unit for alias, unit in _TABLE}
#: The aliases exactly as the table spells them: most cells do, and skip the folding.
_AS_WRITTEN: dict[str, Unit] = {alias: unit for alias, unit in _TABLE}


class UnknownUnitError(ValueError):
    """Raised for a unit that is not in the table, or not of the expected dimension."""


def lookup_unit(text: str, dimension: Dimension | None = None) -> Unit:
    """Find a unit by any of its aliases; check its dimension when one is expected."""
    unit = _AS_WRITTEN.get(text) or UNITS.get(normalise_unit_text(text))
    if unit is None:
        raise UnknownUnitError(f"unknown unit {text!r}")
    if dimension is not None and unit.dimension is not dimension:
        raise UnknownUnitError(f"unit {text!r} measures {unit.dimension.value}, expected {dimension.value}")
    return unit


def units_of(dimension: Dimension) -> list[str]:
    """The primary symbols of a dimension, for error messages that say what was expected."""
    seen: dict[str, None] = {}
    for _alias, unit in _TABLE:
        if unit.dimension is dimension:
            seen.setdefault(unit.symbol, None)
    return list(seen)


def to_canonical(value: Decimal, unit: Unit) -> Decimal:
    """Convert a value in ``unit`` to the dimension's canonical unit, exactly."""
    return value * unit.factor


def from_canonical(value: Decimal, unit: Unit) -> Decimal:
    """Convert a canonical value back into ``unit`` (for display and export)."""
    return value / unit.factor
