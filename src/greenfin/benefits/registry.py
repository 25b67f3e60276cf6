"""Every methodology by id: the one place that lists them."""

from __future__ import annotations

from greenfin.benefits import (
    buildings,
    efficiency,
    forestry,
    grid_storage,
    pollutants,
    renewable_power,
    transport,
    water,
)
from greenfin.benefits.methodology import Methodology

METHODOLOGIES: dict[str, Methodology] = {
    m.id: m
    for m in (
        renewable_power.METHODOLOGY,
        efficiency.METHODOLOGY,
        efficiency.FUEL_SWITCH,
        transport.METHODOLOGY,
        buildings.METHODOLOGY,
        pollutants.WASTEWATER,
        pollutants.FLUE_GAS,
        water.METHODOLOGY,
        forestry.METHODOLOGY,
        grid_storage.METHODOLOGY,
    )
}


def methodology(method_id: str) -> Methodology:
    try:
        return METHODOLOGIES[method_id]
    except KeyError:
        known = "、".join(METHODOLOGIES)
        raise KeyError(f"unknown methodology {method_id!r}; known: {known}") from None
