"""The regulator's benefit indicators, with their labels and units.

The green-credit statistics ask for seven (DOMAIN.md §4): standard coal saved, CO2e reduced, COD,
ammonia nitrogen, SO2 and NOx removed, water saved.  The reporting data model seen in public code
carries four more (particulates, VOCs, total nitrogen, total phosphorus); they are kept where a
methodology yields them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Indicator:
    key: str
    name_zh: str
    name_en: str
    unit: str


INDICATORS: tuple[Indicator, ...] = (
    Indicator("coal_saved", "节约标准煤", "standard coal saved", "tce"),
    Indicator("co2_reduced", "减排二氧化碳当量", "CO2e reduced", "tCO2e"),
    Indicator("cod_reduced", "减排化学需氧量", "COD reduced", "t"),
    Indicator("nh3n_reduced", "减排氨氮", "ammonia nitrogen reduced", "t"),
    Indicator("so2_reduced", "减排二氧化硫", "SO2 reduced", "t"),
    Indicator("nox_reduced", "减排氮氧化物", "NOx reduced", "t"),
    Indicator("water_saved", "节约水量", "water saved", "t"),
    Indicator("particulates_reduced", "减排颗粒物", "particulates reduced", "t"),
    Indicator("tn_reduced", "减排总氮", "total nitrogen reduced", "t"),
    Indicator("tp_reduced", "减排总磷", "total phosphorus reduced", "t"),
)
BY_KEY = {indicator.key: indicator for indicator in INDICATORS}
#: The seven the regulator's statistics ask for, in its order.
REGULATOR_SEVEN = (
    "coal_saved",
    "co2_reduced",
    "cod_reduced",
    "nh3n_reduced",
    "so2_reduced",
    "nox_reduced",
    "water_saved",
)
