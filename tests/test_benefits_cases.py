"""Worked examples from public documents: named projects with stated inputs and stated benefits.

Each case cites where its figures were published (the stored copy that was read is named too,
because several originals are news releases reprinted elsewhere).  A case passes when greenfin,
given the document's inputs, reproduces the document's figures within the rounding the document
used.  Where the document's implied factor is not the official one, the case says which factor the
document must have used, and checks that greenfin with the official factor flags the difference.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from greenfin.benefits.projects import assess_project
from greenfin.reference.factors import POLICIES, factor

NATIONAL = POLICIES["national"]
COAL_EQUIVALENT = POLICIES["coal-equivalent"]


@dataclass(frozen=True)
class Case:
    name: str
    source: str
    spec: dict[str, Any]
    #: indicator → (document's figure, half-width of its rounding), in tce / tCO2e / t
    expected: dict[str, tuple[float, float]]
    policy: str = "national"
    why: str = ""
    factors: dict[str, Any] = field(default_factory=dict)


def power(generation: str, year: int, **extra: Any) -> dict[str, Any]:
    return {
        "methodology": "renewable-power",
        "inputs": {"generation": generation},
        "reporting_year": year,
        **extra,
    }


def user(value: float, unit: str, source: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "source": source}


CASES = [
    Case(
        "三峡电站 2020 年发电量",
        "中国长江三峡集团 2021-01-06 发布，新闻联播《创世界纪录！三峡电站年生产电能1118亿千瓦时》"
        "（stored copy xinwenlianbo.tv/xinwen/147030.html）：1118亿千瓦时，替代标准煤约3439万吨",
        power("1118亿千瓦时", 2019, technology="hydro"),
        {"coal_saved": (3439e4, 0.5e4)},
        why="reproduced by the 2018 national supply coal rate, 307.6 gce/kWh, in the factor table",
    ),
    Case(
        "山东半岛南 3 号、4 号海上风电",
        "中新网 2022-07-05（王娇妮、潘晓芸）（stored copy 029car.cn/news/xincheshangshi/2022/0705/250124.html）："
        "年发电量16.21亿千瓦时，替代标煤48.63万吨，减排二氧化碳126.4万吨",
        power("16.21亿千瓦时", 2023, technology="wind", capacity="60.32万千瓦"),
        {"coal_saved": (48.63e4, 0.005e4), "co2_reduced": (126.4e4, 0.05e4)},
        policy="coal-equivalent",
        why="the document used a round 300 gce/kWh and 2.6 tCO2/tce (not the 2022 rate 300.7 or IPCC's 2.7725)",
        factors={
            "coal_rate": user(300, "gce/kWh", "document's round figure"),
            "co2_per_tce": user(2.6, "tCO2/tce", "document's implied factor"),
        },
    ),
    Case(
        "三峡阳江海上风电一期",
        "中国经济网 2020（stored copy m.thelucidrealm.com/ssrd/475723.html）：年上网电量8亿千瓦时，"
        "节约标准煤约25万吨，减排二氧化碳约65万吨",
        power("8亿千瓦时", 2017, technology="wind"),
        {"coal_saved": (25e4, 0.5e4), "co2_reduced": (65e4, 0.5e4)},
        policy="coal-equivalent",
        why="a 2020 release quoting design-stage figures: the 2016 rate 312 gce/kWh and 2.6 tCO2/tce",
        factors={"co2_per_tce": user(2.6, "tCO2/tce", "document's implied factor")},
    ),
    Case(
        "山东半岛南海上风电 U1 全部达产",
        "新闻 2021-10-31（stored copy yy8811.cn/news/show.php?itemid=71760）：年发电量45亿千瓦时，节约标煤140万吨",
        power("45亿千瓦时", 2021, technology="wind"),
        {"coal_saved": (140e4, 5e4)},
        why="the 2020 rate 305.5 gce/kWh gives 137.5万, within the document's 140万 (two figures)",
    ),
    Case(
        "国家电投/华能 2009 年全国风电",
        "人民日报海外版 2010-05-31《中国风电跃居世界第三》（stored copy destroybadbreath.com/jm/hgjj/201005/"
        "t20100531_1393307.htm）：发电量约516亿千瓦时，按每千瓦时350克标煤计算，节约标煤1806万吨",
        power("516亿千瓦时", 2010, technology="wind"),
        {"coal_saved": (1806e4, 0.5e4)},
        why="the document states its factor: 350 g (a generation, not supply, coal rate)",
        factors={"coal_rate": user(350, "gce/kWh", "document's stated factor")},
    ),
    Case(
        "龙源崇明北堡风电场二期",
        "崇明区发改委核准公告（stored copy yy8811.cn/bidding/show.php?itemid=78291）：年上网电量15619.30万千瓦时，"
        "节约标煤约4.71万吨，减排二氧化碳12.87万吨",
        power("15619.30万千瓦时", 2022, technology="wind", capacity="50 MW"),
        {"coal_saved": (4.71e4, 0.005e4), "co2_reduced": (12.87e4, 0.005e4)},
        policy="coal-equivalent",
        why="implied 301.6 gce/kWh (between the 2021 and 2022 rates) and 2.732 tCO2/tce",
        factors={
            "coal_rate": user(301.6, "gce/kWh", "document's implied factor"),
            "co2_per_tce": user(2.732, "tCO2/tce", "document's implied factor"),
        },
    ),
    Case(
        "中节能张北大样庄风电场 CDM",
        "CDM PDD v1.2, 2008-04-16, CECIC Wind Power (Zhangbei) (stored copy docslib.org/download/4093306/)："
        "49.5 MW，1,950 h，年上网 96,530 MWh，年减排约 103,796 tCO2e",
        power("96530 MWh", 2008, technology="wind", capacity="49.5 MW"),
        {"co2_reduced": (103_796, 5)},
        why="the PDD's North China combined margin, 1.0753 tCO2/MWh (4 decimals: ±5 t), is a user-supplied factor",
        factors={"grid": user(1.0753, "tCO2/MWh", "PDD combined margin, NCPG 2008")},
    ),
    Case(
        "大唐杭锦旗巴拉贡 10MWp 光伏 CDM",
        "F-CDM-SSC-PDD v01, 2013-04-10 (stored copy pt.scribd.com/document/232101628)：10 MWp，1,558 h，"
        "年净上网 15,580 MWh，年减排 14,023 tCO2e",
        power("15580 MWh", 2013, technology="solar", capacity="10 MW"),
        {"co2_reduced": (14_023, 1)},
        factors={"grid": user(0.9001, "tCO2/MWh", "PDD combined margin, North China grid 2013")},
    ),
    Case(
        "中国水电武威凉州 50MWp 光伏 CDM",
        "F-CDM-PDD v2.2, 2013-09-04 (stored copy scribd.com/document/519548196)：年发电 72,668 MWh，年减排 63,831 tCO2e",
        power("72668 MWh", 2013, technology="solar", capacity="50 MW"),
        {"co2_reduced": (63_831, 1)},
        factors={"grid": user(0.8784, "tCO2/MWh", "PDD combined margin, Northwest China grid 2013")},
    ),
    Case(
        "中煤九鑫焦炉煤气发电 20MW CDM",
        "CDM PDD v05, 2008-02-08 (stored copy via scribd 730834915)：年供电 68,796 MWh，十年减排 675,990 tCO2",
        power("68796 MWh", 2008, technology="biomass"),
        {"co2_reduced": (67_599, 1)},
        factors={"grid": user(0.9826, "tCO2/MWh", "PDD combined margin, North China grid 2008")},
    ),
    Case(
        "上海东海大桥海上风电场二期",
        "兴业银行融资新闻（stored copy schxtc.cn/news/show.php?itemid=28084）：102.2MW，年上网23846万kWh，"
        "节约标煤约7.7万吨，二氧化碳21万吨，节水7万吨",
        power("23846万千瓦时", 2013, technology="wind", capacity="102.2 MW"),
        {"coal_saved": (7.7e4, 0.05e4), "co2_reduced": (21e4, 0.5e4)},
        policy="coal-equivalent",
        why="implied 322.9 gce/kWh (below the 2012 rate 326 of the guideline) and 2.727 tCO2/tce",
        factors={
            "coal_rate": user(322.9, "gce/kWh", "document's implied factor"),
            "co2_per_tce": user(2.727, "tCO2/tce", "document's implied factor"),
        },
    ),
    Case(
        "工行浙江分行 华能云和风电（归属）",
        "《中国绿色金融发展报告(2018)》所引案例（stored copy tjsdzgyxh.com/tyxw/14985.html）：总投资3.4亿元，"
        "工行贷款2.3亿元，每年节约标准煤2.08万吨",
        {
            "methodology": "renewable-power",
            "technology": "wind",
            "capacity": "3.45万千瓦",
            "reporting_year": 2018,
            "inputs": {"generation": f"{2.08e4 / 307.6 * 1e3:.3f} MWh"},
            "loan_balance": "2.3亿元",
            "total_investment": "3.4亿元",
        },
        {"coal_saved": (2.08e4, 0.005e4)},
        why="generation back-solved from 2.08万 tce at the 2017 rate; checks the 2.3/3.4 share below",
        factors={"coal_rate": user(307.6, "gce/kWh", "rate used to back-solve generation")},
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_document_figures_are_reproduced(case: Case) -> None:
    spec = {**case.spec, "factors": case.factors} if case.factors else case.spec
    result = assess_project(spec, POLICIES[case.policy]).result
    for key, (figure, half_width) in case.expected.items():
        assert abs(result.indicators[key] - figure) <= half_width, (
            case.name,
            key,
            result.indicators[key],
            case.why,
        )


def test_three_gorges_uses_the_2018_rate_not_the_previous_year() -> None:
    """The '上年度' rule would take 2019's 306.4 for a 2020 figure: 3425.6万, outside 约3439万."""
    rate_2018 = factor("coal_rate", "全国", 2018)
    assert rate_2018.value == 307.6
    result = assess_project(power("1118亿千瓦时", 2020, technology="hydro"), NATIONAL).result
    assert result.factors["coal_rate"][0].year == 2019
    assert abs(result.indicators["coal_saved"] - 3439e4) > 0.5e4


def test_attribution_follows_the_regulator_share() -> None:
    case = next(c for c in CASES if "云和" in c.name)
    result = assess_project({**case.spec, "factors": case.factors}, NATIONAL).result
    assert result.attribution is not None and result.attribution.method == "regulator"
    assert result.attribution.share == pytest.approx(2.3 / 3.4)
    assert result.attributed is not None
    assert result.attributed["coal_saved"] == pytest.approx(2.08e4 * 2.3 / 3.4, rel=1e-3)


# Documents whose own figures disagree: the verifier's checks must catch them.


def flags_of(spec: dict[str, Any], policy: str = "national") -> dict[str, str]:
    return {f.code: f.field for f in assess_project(spec, POLICIES[policy]).flags}


def test_stated_factor_that_does_not_give_the_stated_result_is_flagged() -> None:
    """华润太旗 300MW 风电（stored copy 14z7q.com/flfd/hyyw/20201224/39777.html）: 89万MWh at its stated
    326 g gives 29.0万 tce, but it states 27万."""
    spec = power("8.9亿千瓦时", 2020, technology="wind", capacity="300 MW", stated={"coal_saved": "27万tce"})
    spec["factors"] = {"coal_rate": user(326, "gce/kWh", "document's stated factor")}
    assert flags_of(spec) == {"differs": "coal_saved"}


def test_raw_coal_reported_as_standard_coal_is_flagged() -> None:
    """玉门昌马风电特许权项目（stored copy eastwp.net/bidding/show.php?itemid=4244）: 4.76亿kWh and
    '年节约原煤25万吨'; read as standard coal it is 1.6 × the computed figure."""
    spec = power(
        "4.76亿千瓦时", 2013, technology="wind", capacity="20万千瓦", stated={"coal_saved": "25万吨标准煤"}
    )
    assert flags_of(spec) == {"raw_coal": "coal_saved"}


def test_carbon_reported_as_co2_is_flagged() -> None:
    """密云纯电动公交（stored copy xinchanggroup.cn/news/show-3156.html）: 4510 t diesel avoided and
    '减少3630吨碳排放': 0.80 t per t diesel is carbon, not CO2 (about 3.1 t)."""
    spec = {
        "methodology": "energy-efficiency",
        "reporting_year": 2017,
        "inputs": {"baseline_diesel": "4510 t"},
        "stated": {"co2_reduced": "3630 t"},
    }
    assert flags_of(spec, "national") == {"carbon_not_co2": "co2_reduced"}


def test_changsha_diesel_bus_factor() -> None:
    """长沙市交通运输局 2017-05-25（stored copy buckeyewhitetailquest.com/…/63388.shtml）: a diesel bus,
    35 L/100 km, emits about 92.05 kg CO2 per 100 km.  greenfin's diesel (GB 19147 density midpoint,
    guideline NCV and carbon content) gives 89.7 kg: the document used about 2.63 kg/L, i.e. a
    density near 0.85 t/m³; the two agree within 3 %."""
    spec = {
        "methodology": "clean-transport",
        "reporting_year": 2017,
        "inputs": {"distance": "100 km", "baseline_diesel_l_per_100km": 35, "project_kwh_per_100km": 0},
    }
    co2_kg = assess_project(spec, NATIONAL).result.indicators["co2_reduced"] * 1000
    assert co2_kg == pytest.approx(92.05, rel=0.03)
    assert abs(co2_kg - 92.05) > 1  # not the document's figure: its density differs


def test_heuristic_per_kwh_figures_are_flagged() -> None:
    """日照生活垃圾焚烧发电（stored copy m.zulacollective.com/news/201305/20/65604.html）: 5000万kWh,
    '节约标煤2万吨' = 400 g/kWh, the popular 0.4 kgce/kWh rule of thumb, not a supply coal rate."""
    spec = power("5000万千瓦时", 2013, technology="biomass", stated={"coal_saved": "2万tce"})
    assert flags_of(spec) == {"differs": "coal_saved"}


def test_a_wan_slip_is_flagged() -> None:
    spec = power("16.21亿千瓦时", 2023, technology="wind", stated={"coal_saved": "48.63tce"})
    assert flags_of(spec) == {"wan_slip": "coal_saved"}


def test_co2_below_coal_is_flagged() -> None:
    spec = power(
        "8亿千瓦时", 2020, technology="wind", stated={"coal_saved": "25万tce", "co2_reduced": "20万t"}
    )
    assert "co2_below_coal" in flags_of(spec)


def test_capacity_factor_above_the_technology_is_flagged() -> None:
    spec = power("200000 MWh", 2023, technology="solar", capacity="20 MW")
    assert flags_of(spec) == {"capacity_factor": "generation"}
    assert flags_of(power("200000 MWh", 2023, technology="wind", capacity="60 MW")) == {}
