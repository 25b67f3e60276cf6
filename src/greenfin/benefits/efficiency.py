"""Energy-efficiency retrofits: a plant's energy use before and after, carrier by carrier.

Source: 绿色信贷项目节能减排量测算指引 (2013), 节能改造项目: 节能量 = 改造前能耗 − 改造后能耗 (same
output), each carrier converted to standard coal by GB/T 2589-2020; CO2 per carrier as in
:mod:`greenfin.benefits.carriers`.
"""

from __future__ import annotations

from collections.abc import Mapping

from greenfin.benefits.arith import Num
from greenfin.benefits.carriers import CARRIERS, carrier_factors, saving
from greenfin.benefits.methodology import Input, Methodology
from greenfin.reference.factors import Convention

INPUTS = tuple(
    Input(f"{side}_{c.key}", f"{label}{c.name_zh}", c.dimension, c.unit, required=False, default=0.0)
    for side, label in (("baseline", "基准（改造前）年耗"), ("project", "项目（改造后）年耗"))
    for c in CARRIERS
)


def _sides(x: Mapping[str, Num]) -> tuple[dict[str, Num], dict[str, Num]]:
    return (
        {c.key: x[f"baseline_{c.key}"] for c in CARRIERS},
        {c.key: x[f"project_{c.key}"] for c in CARRIERS},
    )


def formula(x: Mapping[str, Num], f: Mapping[str, Num], convention: Convention) -> dict[str, Num]:
    baseline, project = _sides(x)
    return saving(baseline, project, f, convention)


def _carrier_methodology(method_id: str, name_zh: str, name_en: str, source: str) -> Methodology:
    return Methodology(
        id=method_id,
        version="1.0",
        name_zh=name_zh,
        name_en=name_en,
        inputs=INPUTS,
        factors=(*carrier_factors(), "co2_per_tce"),
        outputs=("coal_saved", "co2_reduced"),
        formula=formula,
        source=source,
    )


METHODOLOGY = _carrier_methodology(
    "energy-efficiency",
    "节能技术改造",
    "energy-efficiency retrofit",
    "绿色信贷项目节能减排量测算指引（2013）节能改造类项目；GB/T 2589-2020 综合能耗计算通则 附录A",
)
#: Fuel switching (煤改气, 煤改电) and heat pumps replacing boilers: the same carrier comparison,
#: where the baseline burns one fuel and the project uses another (or electricity).
FUEL_SWITCH = _carrier_methodology(
    "fuel-switching",
    "燃料替代与热泵",
    "fuel switching and heat pumps",
    "绿色信贷项目节能减排量测算指引（2013）燃料替代类项目；GB/T 2589-2020 附录A；温室气体排放核算指南缺省值",
)
