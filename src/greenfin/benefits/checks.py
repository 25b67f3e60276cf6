"""Plausibility checks: the first questions a verifier asks of a project's inputs and disclosures.

Each check returns a :class:`Flag` with its reason in Chinese and English; none changes a figure.
The bounds are engineering bounds written by us, stated with their reasoning below, not official
limits: they catch slips (a 万 lost, raw coal for standard coal), not borderline cases.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

#: Highest credible annual capacity factor per technology.  Best wind sites reach about 0.5,
#: fixed or tracking PV in China's sunniest provinces about 0.25; hydro below 0.85 by water; thermal
#: technologies (biomass, geothermal, nuclear) below 0.95 with maintenance.  Above this, suspect
#: a unit or a gross figure.
MAX_CAPACITY_FACTOR = {
    "wind": 0.55,
    "solar": 0.30,
    "hydro": 0.85,
    "biomass": 0.95,
    "geothermal": 0.95,
    "nuclear": 0.95,
}
HOURS_PER_YEAR = 8760.0
#: tCO2 per tce of coal lies between 2.4 and 2.8 whatever the coal; below 1 the CO2 figure cannot
#: be fossil displacement.
CO2_PER_TCE_FLOOR = 1.0
#: 1 t raw coal = 0.7143 tce (GB/T 2589): raw coal written as standard coal is 1/0.7143 = 1.40 ×,
#: give or take the spread between the document's coal rate and the policy's (up to a quarter).
RAW_COAL_RATIO = (1.25, 1.75)
#: A ratio near 12/44 = 0.273 between a stated and a computed CO2 figure is carbon, not CO2.
CARBON_RATIO = (0.25, 0.30)
#: Within this relative difference a stated figure agrees with the computed one: disclosures round
#: to two or three figures (约25万), a few per cent at most.
AGREEMENT = 0.05


@dataclass(frozen=True, slots=True)
class Flag:
    code: str
    field: str
    message_zh: str
    message_en: str


def check_inputs(
    technology: str | None, capacity_mw: float | None, generation_mwh: float | None
) -> list[Flag]:
    """Flags on a power project's inputs: a capacity factor no plant of that kind reaches."""
    flags: list[Flag] = []
    if not capacity_mw or generation_mwh is None or capacity_mw <= 0:
        return flags
    hours = generation_mwh / capacity_mw
    limit = MAX_CAPACITY_FACTOR.get(technology or "", 1.0) * HOURS_PER_YEAR
    if hours > HOURS_PER_YEAR * 10:
        flags.append(
            Flag(
                "unit_slip",
                "generation",
                f"年发电量相当于 {hours:,.0f} 利用小时，超过全年 8760 小时的十倍以上：疑似单位错误（万千瓦时写作千瓦时等）",
                f"generation equals {hours:,.0f} full-load hours, over ten times a year's 8760: a unit slip",
            )
        )
    elif hours > limit:
        flags.append(
            Flag(
                "capacity_factor",
                "generation",
                f"年发电量相当于 {hours:,.0f} 利用小时（容量系数 {hours / HOURS_PER_YEAR:.0%}），"
                f"高于{technology or '该类'}项目可达的 {limit:,.0f} 小时",
                f"generation implies {hours:,.0f} h (capacity factor {hours / HOURS_PER_YEAR:.0%}), "
                f"above the {limit:,.0f} h a {technology or 'plant'} project can reach",
            )
        )
    return flags


def check_stated(
    stated: Mapping[str, float], computed: Mapping[str, float], coal_rate_gce_per_kwh: float | None
) -> list[Flag]:
    """Flags on disclosed figures against each other and against the computed ones."""
    flags: list[Flag] = []
    coal, co2 = stated.get("coal_saved"), stated.get("co2_reduced")
    if coal and co2 is not None and co2 < coal * CO2_PER_TCE_FLOOR:
        flags.append(
            Flag(
                "co2_below_coal",
                "co2_reduced",
                f"披露的二氧化碳减排量（{co2:,.0f} t）低于节约标准煤量（{coal:,.0f} tce）：替代化石能源时每吨标准煤约对应 2.4–2.8 吨二氧化碳",
                f"stated CO2 ({co2:,.0f} t) is below the coal saved ({coal:,.0f} tce); fossil displacement gives 2.4–2.8 t per tce",
            )
        )
    for key, value in stated.items():
        expected = computed.get(key)
        if not expected or value is None:
            continue
        ratio = value / expected
        if abs(ratio - 1) <= AGREEMENT:
            continue
        if 10_000 / 3 <= ratio <= 30_000 or 1 / 30_000 <= ratio <= 3 / 10_000:
            code, zh, en = (
                "wan_slip",
                "相差约一万倍：疑似“万”单位换算错误",
                "off by about 10^4: a 万 unit slip",
            )
        elif key == "coal_saved" and RAW_COAL_RATIO[0] <= ratio <= RAW_COAL_RATIO[1]:
            code, zh, en = (
                "raw_coal",
                f"约为按标准煤计算值的 {ratio:.2f} 倍（原煤折标系数 0.7143 的倒数为 1.40）：疑似以原煤量披露",
                f"{ratio:.2f} × the standard-coal figure (1/0.7143 = 1.40): raw coal reported as standard coal",
            )
        elif key == "co2_reduced" and CARBON_RATIO[0] <= ratio <= CARBON_RATIO[1]:
            code, zh, en = (
                "carbon_not_co2",
                "约为计算值的 12/44：疑似以碳（C）而非二氧化碳披露",
                "about 12/44 of the computed CO2: carbon reported as CO2",
            )
        else:
            implied = ""
            if key == "coal_saved" and coal_rate_gce_per_kwh:
                implied = f"；隐含供电煤耗 {coal_rate_gce_per_kwh * ratio:.1f} gce/kWh"
            code = "differs"
            zh = f"与按本政策计算值相差 {ratio - 1:+.1%}{implied}"
            en = f"differs from the computed figure by {ratio - 1:+.1%}"
        flags.append(Flag(code, key, f"披露值 {value:,.2f}：{zh}", f"stated {value:,.2f}: {en}"))
    return flags
