"""Pollutant removal: wastewater treatment (COD, NH3-N, TN, TP) and flue-gas treatment (SO2, NOx, dust).

Source: 绿色信贷项目节能减排量测算指引 (2013), 污水处理 and 烟气治理 projects: 削减量 = 年处理量 ×
(处理前浓度 − 处理后浓度).  Volumes are in m³ (flue gas in Nm³) and concentrations in mg/L
(flue gas is given in mg/Nm³ and converted at the edge), so one formula serves both:
m³ × mg/L = g, ÷ 10⁶ → t.  A concentration that rises counts as no removal, not negative.
"""

from __future__ import annotations

from collections.abc import Mapping

from greenfin.benefits.arith import Num, clip_low
from greenfin.benefits.methodology import Input, Methodology
from greenfin.model.units import Dimension
from greenfin.reference.factors import Convention

WATER = {"cod": ("cod_reduced", "化学需氧量COD"), "nh3n": ("nh3n_reduced", "氨氮"),
         "tn": ("tn_reduced", "总氮"), "tp": ("tp_reduced", "总磷")}  # fmt: skip
GAS = {"so2": ("so2_reduced", "二氧化硫"), "nox": ("nox_reduced", "氮氧化物"),
       "pm": ("particulates_reduced", "颗粒物")}  # fmt: skip


def _removed(volume: Num, x: Mapping[str, Num], pollutants: dict[str, tuple[str, str]]) -> dict[str, Num]:
    return {
        out: clip_low(volume * (x[f"{p}_in"] - x[f"{p}_out"]) / 1e6) for p, (out, _name) in pollutants.items()
    }


def _concentrations(pollutants: dict[str, tuple[str, str]], where: str) -> tuple[Input, ...]:
    return tuple(
        Input(
            f"{p}_{side}",
            f"{where}{label}{name}浓度",
            Dimension.CONCENTRATION,
            "mg/L",
            required=False,
            default=0.0,
        )
        for p, (_out, name) in pollutants.items()
        for side, label in (("in", "处理前"), ("out", "处理后"))
    )


def wastewater(x: Mapping[str, Num], f: Mapping[str, Num], convention: Convention) -> dict[str, Num]:
    return _removed(x["volume"], x, WATER)


def flue_gas(x: Mapping[str, Num], f: Mapping[str, Num], convention: Convention) -> dict[str, Num]:
    return _removed(x["volume"], x, GAS)


WASTEWATER = Methodology(
    id="wastewater",
    version="1.0",
    name_zh="污水处理",
    name_en="wastewater treatment",
    inputs=(Input("volume", "年污水处理量", Dimension.VOLUME, "m3"), *_concentrations(WATER, "")),
    factors=(),
    outputs=tuple(out for out, _ in WATER.values()),
    formula=wastewater,
    source="绿色信贷项目节能减排量测算指引（2013）污水处理项目",
)
FLUE_GAS = Methodology(
    id="flue-gas",
    version="1.0",
    name_zh="烟气治理（脱硫、脱硝、除尘）",
    name_en="flue-gas treatment",
    inputs=(Input("volume", "年处理烟气量（标态）", Dimension.VOLUME, "Nm3"), *_concentrations(GAS, "烟气")),
    factors=(),
    outputs=tuple(out for out, _ in GAS.values()),
    formula=flue_gas,
    source="绿色信贷项目节能减排量测算指引（2013）大气污染治理项目",
)
