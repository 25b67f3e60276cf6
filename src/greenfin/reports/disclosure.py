"""The annual environmental-information disclosure of JR/T 0227-2021 金融机构环境信息披露指南.

The standard asks for eleven parts, in a fixed order.  Some can be filled from the bank's own data
(the green balance, its categories and risk classes, the attributed benefits, the bank's own
energy and resource use); the rest is governance, policy and strategy that only the bank can
write.  Those are left as clearly marked places, 【由本行填写：…】, each prompting for what the
standard asks, so that nothing invented by software passes for the bank's statement.  Where data
is missing on our side (financed emissions) the report says so rather than printing a zero.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from greenfin.reports.document import (
    Amount,
    Block,
    Document,
    Placeholder,
    Section,
    Table,
    count,
    dimension_table,
    pct,
    text,
    yuan,
)
from greenfin.reports.stats import Stats

#: The eleven parts of JR/T 0227-2021, in the standard's order.
SECTIONS: Final = (
    "年度概况",
    "环境相关治理结构",
    "环境相关政策制度",
    "环境相关产品与服务创新",
    "环境风险管理流程",
    "环境因素对金融机构的影响",
    "投融资活动的环境影响",
    "经营活动的环境影响",
    "数据梳理、校验及保护",
    "绿色金融创新及研究成果",
    "其他环境相关信息",
)

#: The bank's own operations that the disclosure reports (经营活动的环境影响): item → (name, units).
OPERATIONS_ITEMS: Final[dict[str, tuple[str, tuple[str, ...]]]] = {
    "electricity": ("外购电力", ("kWh", "MWh", "万kWh")),
    "natural_gas": ("天然气", ("m3", "万m3")),
    "water": ("水", ("t", "m3", "万t")),
    "paper": ("办公用纸", ("t", "kg")),
    "business_travel": ("公务差旅", ("km", "万km", "人次", "tCO2e")),
}


@dataclass(frozen=True, slots=True)
class OperationsItem:
    """One row of ``operations_data``: a yearly amount of the bank's own use, as entered."""

    item: str
    value: Decimal
    unit: str
    source: str | None


@dataclass(frozen=True, slots=True)
class DataTrail:
    """Where the report's data came from, for the 数据梳理、校验及保护 part."""

    imports: int
    last_import: dt.datetime | None
    label_run: int | None
    officer_decisions: int
    policy: str


def build_disclosure(
    year: int,
    stats: Stats,
    operations: Sequence[OperationsItem],
    *,
    pledges: Mapping[str, int],
    trail: DataTrail,
) -> Document:
    """The disclosure for ``year`` from the year-end statistics and the year's operations data."""
    parts: list[tuple[Block, ...]] = [
        _overview(year, stats),
        (
            Placeholder("董事会层面对环境相关事项的职责、审议事项与频次"),
            Placeholder("高级管理层层面的职责分工与绿色金融委员会等机构设置"),
            Placeholder("专业部门层面的绿色金融职能部门、人员配置与考核机制"),
        ),
        (
            Placeholder("本年度制定或修订的环境相关内部政策制度及其主要内容"),
            Placeholder("本行落实国家及地方环境政策、绿色金融标准的情况"),
            text(
                "绿色贷款的识别标准：2025-10-01 前审批的贷款适用《绿色债券支持项目目录（2021年版）》，"
                "此后审批的适用《绿色金融支持项目目录（2025年版）》。"
            ),
        ),
        _products(pledges),
        _risk(stats),
        (
            Placeholder("环境因素（气候变化、环境政策等）对本行带来的风险与机遇，及其对业务和财务的影响"),
            Placeholder("环境风险量化分析：情景分析或压力测试的方法、假设与结果"),
        ),
        _financing(stats),
        _operations(year, operations),
        _data(trail, stats),
        (
            Placeholder("本年度绿色金融产品、服务或工具的创新"),
            Placeholder("绿色金融研究成果、课题与对外合作"),
        ),
        (Placeholder("其他需要披露的环境相关信息，如绿色运营倡议、公益活动、获奖情况等"),),
    ]
    sections = tuple(
        Section(n, title, blocks) for n, (title, blocks) in enumerate(zip(SECTIONS, parts, strict=True), 1)
    )
    return Document(
        "disclosure",
        f"{year} 年度环境信息披露报告",
        "依据 JR/T 0227-2021《金融机构环境信息披露指南》/ Environmental information disclosure",
        stats.as_of,
        sections,
        {f.key: f for f in stats.figures()},
        stats.loans,
    )


def _overview(year: int, stats: Stats) -> tuple[Block, ...]:
    yoy = stats.growth_pct(stats.total, "year")
    return (
        Placeholder("本行基本情况与本年度绿色金融发展战略、目标及总体进展"),
        text(
            f"截至 {year} 年末，本行人民币绿色贷款余额 ", yuan(stats.total), "，共 ", count(stats.total),
            "，占各项贷款余额 ", yuan(stats.all_loans), " 的 ", pct(stats.share_pct(stats.total)),
            "；同比增速 ", pct(yoy),
            "。" if yoy is not None else "（无上年末报告快照，未计算）。",
        ),
        text(
            "绿色贷款对应项目本年度归属本行的环境效益：减排二氧化碳当量 ",
            Amount(stats.benefits.co2_t, "tCO2e", 2, stats.benefits.figure.key),
            "，节约标准煤 ", Amount(stats.benefits.coal_tce, "tce", 2, stats.benefits.figure.key), "。",
        ),
    )  # fmt: skip


def _products(pledges: Mapping[str, int]) -> tuple[Block, ...]:
    blocks: list[Block] = [Placeholder("本年度推出的绿色信贷、绿色债券、绿色租赁等环境相关产品与服务")]
    if pledges:
        blocks.append(
            Table(
                "pledges",
                "本年度新办理的环境权益质押 / environmental-rights pledges",
                ("质押物品种", "笔数（笔）"),
                tuple((name, Amount(n, "笔", 0)) for name, n in sorted(pledges.items())),
                (None,) * len(pledges),
            )
        )
    else:
        blocks.append(text("本年度系统内无新办理的环境权益质押记录。"))
    return tuple(blocks)


def _risk(stats: Stats) -> tuple[Block, ...]:
    npl = next(i for i in stats.indicators if i.key == "risk_share")
    return (
        Placeholder("环境风险的识别、评估、监测与控制流程，及其融入全面风险管理的方式"),
        text(
            "绿色贷款五级分类情况如下；次级、可疑、损失类绿色贷款余额 ", yuan(stats.non_performing),
            "，绿色贷款不良率 ", pct(npl.value_pct), "。",
        ),
        dimension_table(stats, "five_tier"),
    )  # fmt: skip


def _financing(stats: Stats) -> tuple[Block, ...]:
    b = stats.benefits
    return (
        text("绿色贷款余额按目录分类如下（各项数字对应的贷款见附表）。"),
        dimension_table(stats, "level1"),
        dimension_table(stats, "carbon_benefit"),
        Table(
            "benefits",
            "投融资活动的环境效益（归属本行，年） / attributed annual benefits",
            ("项目", "数值"),
            (
                ("减排二氧化碳当量", Amount(b.co2_t, "tCO2e", 2, b.figure.key)),
                ("节约标准煤", Amount(b.coal_tce, "tce", 2, b.figure.key)),
                ("已测算环境效益的绿色贷款", count(b.figure)),
            ),
            (b.figure.key,) * 3,
        ),
        text(
            "环境效益目前覆盖有年发电量数据的可再生能源发电项目，按项目所在地电网排放因子与供电煤耗测算，"
            "并按本行贷款余额占项目总投资的比例归属本行；其他绿色项目的效益尚未测算，未计入。"
        ),
        text(
            "投融资活动碳排放（融资排放）：本系统尚未测算（借款人排放数据与归因方法尚未接入），本年度暂不披露该数值。"
        ),
        Placeholder("如已另行测算投融资活动碳排放，请填写方法、范围与结果"),
    )


def _operations(year: int, operations: Sequence[OperationsItem]) -> tuple[Block, ...]:
    entered = {o.item: o for o in operations}
    rows: list[tuple[str, Amount | str, str]] = []
    for item, (name, _units) in OPERATIONS_ITEMS.items():
        found = entered.get(item)
        if found is None:
            rows.append((name, "未录入", f"【由本行填写：{year} 年度{name}消耗量】"))
        else:
            places = max(0, -int(found.value.normalize().as_tuple().exponent))
            rows.append((name, Amount(found.value, found.unit, places), found.source or ""))
    for item, found in sorted(entered.items()):
        if item not in OPERATIONS_ITEMS:
            places = max(0, -int(found.value.normalize().as_tuple().exponent))
            rows.append((item, Amount(found.value, found.unit, places), found.source or ""))
    return (
        text(f"本行 {year} 年度自身经营活动的资源消耗（按录入数据列示，单位如录入）："),
        Table(
            "operations",
            f"{year} 年度经营活动资源消耗 / own operations",
            ("项目", "数值", "数据来源"),
            tuple(rows),
            (None,) * len(rows),
        ),
        Placeholder("经营活动产生的温室气体排放及其核算方法；节能减排、绿色办公措施及成效"),
    )


def _data(trail: DataTrail, stats: Stats) -> tuple[Block, ...]:
    last = trail.last_import.date().isoformat() if trail.last_import else "—"
    run = f"#{trail.label_run}" if trail.label_run is not None else "（尚未运行）"
    return (
        text(
            f"本报告数据取自 greenfin 贷款台账：共 {trail.imports:,} 次导入（最近一次 {last}），"
            "每次导入留存源文件 SHA-256 与审计日志，导入全部成功或全部不生效；"
            f"绿色识别采用识别引擎运行 {run} 的结果及 {trail.officer_decisions:,} 条人工复核结论；"
            f"环境效益采用因子政策 “{trail.policy}”。统计时点 {stats.as_of.isoformat()}。"
        ),
        Placeholder("数据质量管理、校验流程与数据安全保护措施"),
    )
