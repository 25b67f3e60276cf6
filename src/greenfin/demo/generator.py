"""A deterministic, realistic loan book of a fictional Zhejiang city commercial bank.

The book is written as a bank's core system would export it: Chinese headers, amounts in 万元,
one row per loan with its borrower and project.  Rows are produced one borrower at a time, so a
ten-million-loan book streams to disk in constant memory, and the same seed always gives the
same file.  All companies are fictional; their credit codes are valid under GB 32100-2015 so that
they pass the same validation as real ones.

Two loans come from the cases the platform is built around (DOMAIN.md §1): the 通道侗族自治县
wind-farm project loan, a CERF candidate, and the 重庆 printing-and-dyeing company's working-
capital loan secured by pledged carbon emission allowances.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from greenfin.model.identifiers import (
    CREDIT_CODE_CHARSET,
    credit_code_check_char,
    organisation_code_check_char,
)

AS_OF = dt.date(2026, 9, 30)

HEADERS = (
    "贷款编号", "借款人名称", "统一社会信用代码", "行业代码", "行政区划代码", "企业规模",
    "营业收入（万元）", "资产总额（万元）", "所有者权益（万元）", "负债总额（万元）",
    "范围一排放（tCO2e）", "范围二排放（tCO2e）", "排放数据质量",
    "贷款用途", "贷款金额（万元）", "贷款余额（万元）", "币种", "执行年利率（%）",
    "审批日期", "发放日期", "到期日期", "五级分类", "是否绿色贷款",
    "项目编号", "项目名称", "项目描述", "项目所在地代码", "项目类型", "装机容量（MW）",
    "年发电量（万千瓦时）", "项目总投资（万元）", "项目开工日期", "项目投产日期", "技术参数",
)  # fmt: skip

# Zhejiang places a city commercial bank lends in, weighted towards its home cities.
_HOME_PLACES = (
    ("330102", 4), ("330106", 4), ("330113", 3), ("330212", 3), ("330206", 2), ("330282", 2),
    ("330302", 2), ("330381", 2), ("330382", 2), ("330402", 2), ("330481", 3), ("330483", 3),
    ("330502", 6), ("330522", 5), ("330523", 4), ("330602", 3), ("330603", 6), ("330681", 3),
    ("330702", 2), ("330782", 3), ("330784", 2), ("330802", 3), ("330881", 1), ("330902", 1),
    ("331002", 2), ("331082", 2), ("331102", 1),
)  # fmt: skip
# Where green energy gets built: windy and sunny provinces (a Zhejiang bank follows its clients).
_ENERGY_PLACES = (
    ("150902", 2), ("620902", 2), ("650502", 1), ("632801", 1), ("361102", 2),
    ("350902", 2), ("340181", 1), ("320582", 1), ("330522", 3), ("330381", 2), ("330881", 2),
)  # fmt: skip

_WORDS = (
    "恒盛", "华立", "永兴", "新和", "宏达", "天成", "金桥", "东升", "瑞丰", "盛源", "嘉禾", "锦程",
    "博远", "长风", "安澜", "明德", "卓越", "信诚", "聚能", "蓝天", "青山", "绿洲", "远航", "同创",
    "汇通", "万象", "鼎力", "沃土", "清源", "晨光", "百川", "星辰", "正泰", "中科", "欣荣", "众诚",
)  # fmt: skip
_CITY = {
    "3301": "杭州", "3302": "宁波", "3303": "温州", "3304": "嘉兴", "3305": "湖州", "3306": "绍兴",
    "3307": "金华", "3308": "衢州", "3309": "舟山", "3310": "台州", "3311": "丽水", "1509": "乌兰察布",
    "6209": "酒泉", "6505": "哈密", "6328": "海西", "3611": "上饶", "3509": "宁德", "3401": "合肥",
    "3205": "苏州", "5001": "重庆", "4312": "怀化",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Profile:
    """A kind of borrower: industry, what it borrows for, and how green that is."""

    industry: str
    suffix: str
    weight: int
    green_share: float
    purposes: tuple[str, ...]
    green_purposes: tuple[str, ...] = ()
    project: str | None = None  # wind, solar, hydro, sewage, storage
    intensity: float = 0.0  # tCO2e per 万元 revenue, scope 1
    home: bool = True


PROFILES: tuple[Profile, ...] = (
    Profile("C1713", "印染有限公司", 9, 0.12,
            ("购买坯布、染料等原材料", "流动资金周转", "支付加工费及水电费"),
            ("印染废水处理及中水回用设施改造", "定型机废气余热回收节能改造"), intensity=0.9),
    Profile("C1810", "服饰有限公司", 6, 0.02, ("采购面料辅料", "流动资金周转", "支付员工工资及货款")),
    Profile("C2614", "化工有限公司", 4, 0.08, ("采购原料", "流动资金周转"),
            ("VOCs 废气治理设施建设", "化工园区危险废物焚烧处置"), intensity=2.1),
    Profile("C3441", "泵业有限公司", 4, 0.10, ("采购钢材铸件", "流动资金周转"),
            ("高效节能水泵生产线技术改造",), intensity=0.2),
    Profile("C3825", "光伏科技有限公司", 4, 0.75, ("采购硅片电池片",),
            ("高效单晶硅光伏组件生产线建设", "N型TOPCon电池片扩产项目"), intensity=0.3),
    Profile("C3670", "汽车部件有限公司", 5, 0.30, ("采购原材料", "流动资金周转"),
            ("新能源汽车驱动电机关键零部件生产", "动力电池壳体生产线建设"), intensity=0.25),
    Profile("C3011", "水泥有限公司", 2, 0.05, ("采购煤炭熟料", "流动资金周转"),
            ("水泥窑协同处置固体废物改造",), intensity=8.0),
    Profile("C3120", "钢铁有限公司", 1, 0.05, ("采购铁矿石废钢", "流动资金周转"),
            ("电炉短流程炼钢改造",), intensity=12.0),
    Profile("C4210", "再生资源有限公司", 2, 0.85, ("废钢回收流动资金",),
            ("废旧金属回收分拣加工中心建设", "再生资源回收利用基地建设")),
    Profile("D4411", "热电有限公司", 2, 0.05, ("采购电煤", "燃煤机组检修"),
            ("燃煤热电联产机组超低排放改造",), intensity=40.0),
    Profile("D4415", "风力发电有限公司", 1, 0.97, ("风机运维流动资金",),
            ("风电场项目建设", "分散式风电项目建设"), project="wind", home=False),
    Profile("D4416", "新能源有限公司", 3, 0.97, ("光伏电站运维流动资金",),
            ("分布式光伏发电项目建设", "农光互补光伏电站建设", "屋顶分布式光伏项目"), project="solar", home=False),
    Profile("D4413", "水电开发有限公司", 1, 0.90, ("水电站运维",),
            ("小水电站生态改造", "抽水蓄能电站建设"), project="hydro"),
    Profile("D4620", "水务有限公司", 2, 0.90, ("管网维修",),
            ("城镇污水处理厂提标改造", "污水处理及再生水利用项目"), project="sewage"),
    Profile("N7723", "环境科技有限公司", 2, 0.90, ("环保服务流动资金",),
            ("一般工业固体废物综合利用项目", "垃圾焚烧发电项目建设")),
    Profile("K7010", "置业有限公司", 5, 0.10, ("住宅项目开发建设", "商业综合体开发"),
            ("二星级绿色建筑住宅项目建设", "超低能耗建筑示范项目")),
    Profile("E4710", "建设有限公司", 5, 0.05, ("支付工程款", "采购建材")),
    Profile("F5165", "贸易有限公司", 8, 0.02, ("采购商品", "流动资金周转")),
    Profile("F5176", "物资贸易有限公司", 3, 0.05, ("采购钢材", "流动资金周转")),
    Profile("G5411", "公交有限公司", 1, 0.90, ("公交运营流动资金",),
            ("购置纯电动公交车", "公交充电站建设")),
    Profile("A0141", "农业开发有限公司", 3, 0.20, ("农资采购", "流动资金周转"),
            ("高标准农田节水灌溉改造", "茶园生态种植基地建设")),
    Profile("H6110", "酒店管理有限公司", 3, 0.02, ("装修改造", "流动资金周转")),
    Profile("I6510", "软件有限公司", 3, 0.02, ("研发投入", "流动资金周转")),
)  # fmt: skip
_PROFILE_WEIGHTS = [p.weight for p in PROFILES]


@dataclass(frozen=True, slots=True)
class DemoCase:
    """A loan whose story the demo tells end to end."""

    loan_id: str
    title_zh: str


TONGDAO_WIND = DemoCase("GF-2024-HN-0001", "通道侗族自治县风电场项目贷款（碳减排支持工具候选）")
CHONGQING_DYEING = DemoCase("GF-2025-CQ-0001", "重庆印染服饰企业碳排放权质押流动资金贷款")


def credit_code(region_code: str, serial: int) -> str:
    """A valid (fictional) 统一社会信用代码 for an enterprise registered in ``region_code``."""
    body = ["M", "A"]
    value = serial * 2_654_435_761 % (31**6)  # spreads serials over the code space
    for _ in range(6):
        value, digit = divmod(value, 31)
        body.append(CREDIT_CODE_CHARSET[digit])
    org = "".join(body)
    org += organisation_code_check_char(org)
    first17 = "91" + region_code + org
    return first17 + credit_code_check_char(first17)


def _wan(yuan: float) -> str:
    return f"{yuan / 10_000:.2f}"


def _lpr_1y(day: dt.date) -> float:
    """Approximate one-year LPR level by date (NIFC publications), for believable loan rates."""
    if day < dt.date(2022, 1, 20):
        return 3.85
    if day < dt.date(2023, 6, 20):
        return 3.70
    if day < dt.date(2024, 7, 22):
        return 3.45
    if day < dt.date(2025, 5, 20):
        return 3.10
    return 3.00


def _pick(rng: random.Random, weighted: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([p for p, _ in weighted], [w for _, w in weighted])[0]


def _five_tier(rng: random.Random) -> str:
    return rng.choices(("正常", "关注", "次级", "可疑", "损失"), (960, 25, 8, 5, 2))[0]


_PROJECT_KIND = {
    # name, hours a year, 元 of investment per MW, capacity range MW, parameter text
    "wind": ("风电场", 2200, 6_000_000, (20, 100), "轮毂高度=110 m;单机容量=5 MW"),
    "solar": (
        "光伏电站",
        1150,
        3_800_000,
        (2, 120),
        "组件转换效率=22.3 %;首年衰减=1.0 %",
    ),
    "hydro": ("水电站", 3500, 9_000_000, (5, 40), "设计水头=85 m"),
    "sewage": ("污水处理厂", 0, 0, (0, 0), ""),
}


def _project_fields(rng: random.Random, kind: str, loan_id: str, company: str, place: str,
                    purpose: str, start: dt.date) -> list[str]:  # fmt: skip
    label, hours, cost, (low, high), params = _PROJECT_KIND[kind]
    if kind == "sewage":
        investment = rng.uniform(8_000, 60_000) * 10_000
        params = f"设计处理规模={rng.choice((2, 3, 5, 8, 10))} 万m3;COD削减={rng.randint(800, 5000)} t"
        capacity = generation = ""
    else:
        mw = round(rng.uniform(low, high), 1)
        investment = mw * cost * rng.uniform(0.85, 1.15)
        capacity = f"{mw}"
        generation = f"{mw * hours * rng.uniform(0.9, 1.1) / 10:.1f}"  # MWh → 万千瓦时
    city = _CITY.get(place[:4], "")
    name = f"{city}{rng.choice(_WORDS)}{label}项目"
    return [
        "P" + loan_id, name, f"{company}{purpose}，位于{city}", place, label, capacity,
        generation, _wan(investment), (start - dt.timedelta(days=90)).isoformat(),
        (start + dt.timedelta(days=rng.randint(300, 700))).isoformat(), params.replace(";", "；"),
    ]  # fmt: skip


def _case_rows() -> list[list[str]]:
    wind_code = credit_code("431230", 900_001)
    dye_code = credit_code("500113", 900_002)
    wind = [
        TONGDAO_WIND.loan_id, "通道侗族自治县清风新能源有限公司", wind_code, "D4415", "431230", "中型",
        "9800.00", "82000.00", "24000.00", "58000.00", "", "", "",
        "用于通道侗族自治县大高山风电场项目建设，风力发电设施建设和运营", "50000.00", "48000.00",
        "CNY", "3.95", "2024-05-10", "2024-06-18", "2039-06-17", "正常", "是",
        "PGF-2024-HN-0001", "通道侗族自治县大高山风电场项目",
        "在通道侗族自治县山区建设 100 MW 陆上风电场，安装 20 台 5 MW 风电机组，所发电量全部上网（华中电网）",
        "431230", "风电场", "100", "21000.0", "70000.00", "2023-11-01", "2025-06-30",
        "单机容量=5 MW；轮毂高度=120 m",
    ]  # fmt: skip
    dyeing = [
        CHONGQING_DYEING.loan_id, "重庆锦绣印染服饰有限公司", dye_code, "C1713", "500113", "中型",
        "36000.00", "42000.00", "15000.00", "27000.00", "21800", "9600", "verified",
        "流动资金周转（环保工艺升级后采购坯布、染料），以碳排放权质押担保", "300.00", "300.00",
        "CNY", "3.35", "2025-03-12", "2025-03-20", "2026-03-19", "正常", "否",
    ] + [""] * 11  # fmt: skip
    return [wind, dyeing]


def generate_rows(loans: int, seed: int = 20261126) -> Iterator[list[str]]:
    """Yield ``loans`` rows (header excluded), the two DOMAIN cases first, deterministically."""
    rng = random.Random(seed)
    cases = _case_rows()
    yield from cases[:loans]
    produced = min(loans, len(cases))
    serial = 0
    while produced < loans:
        serial += 1
        profile = rng.choices(PROFILES, _PROFILE_WEIGHTS)[0]
        place = _pick(rng, _HOME_PLACES if profile.home or rng.random() < 0.3 else _ENERGY_PLACES)
        company = f"{_CITY.get(place[:4], '浙江')}{rng.choice(_WORDS)}{rng.choice(_WORDS)}{profile.suffix}"
        size = rng.choices(("大型", "中型", "小型", "微型"), (2, 18, 55, 25))[0]
        scale = {"大型": 200_000, "中型": 30_000, "小型": 5_000, "微型": 800}[size]
        revenue = scale * rng.uniform(0.5, 1.8) * 10_000
        assets = revenue * rng.uniform(0.8, 2.5)
        equity = assets * rng.uniform(0.25, 0.6)
        reported = profile.intensity > 0 and size in ("大型", "中型") and rng.random() < 0.6
        scope1 = f"{profile.intensity * revenue / 10_000 * rng.uniform(0.7, 1.3):.1f}" if reported else ""
        scope2 = f"{revenue / 10_000 * rng.uniform(0.05, 0.4):.1f}" if reported else ""
        quality = rng.choice(("verified", "reported")) if reported else ""
        borrower = [
            company, credit_code(place, serial), profile.industry, place, size, _wan(revenue),
            _wan(assets), _wan(equity), _wan(assets - equity), scope1, scope2, quality,
        ]  # fmt: skip
        for _ in range(min(rng.choices((1, 2, 3, 4), (55, 25, 12, 8))[0], loans - produced)):
            produced += 1
            loan_id = f"ZJ{AS_OF.year}{produced:08d}"
            green = rng.random() < profile.green_share and bool(profile.green_purposes)
            purpose = rng.choice(profile.green_purposes if green else profile.purposes)
            with_project = green and profile.project is not None
            tenor_days = (
                rng.choice((365, 365, 730, 1095)) if not with_project else rng.choice((3650, 4380, 5475))
            )
            start = AS_OF - dt.timedelta(days=rng.randint(1, min(tenor_days - 1, 2400)))
            approval = start - dt.timedelta(days=rng.randint(3, 40))
            maturity = start + dt.timedelta(days=tenor_days)
            project = (
                _project_fields(rng, profile.project, loan_id, company, place, purpose, start)
                if with_project and profile.project else [""] * 11
            )  # fmt: skip
            if with_project and project[7]:
                amount = float(project[7]) * 10_000 * rng.uniform(0.2, 0.5)
            else:
                amount = min(revenue * rng.uniform(0.03, 0.15), 3e8)
            amount = max(round(amount, -4), 100_000)
            elapsed = (AS_OF - start).days / tenor_days
            balance = (
                amount if tenor_days <= 1095 else amount * max(0.05, 1 - elapsed * rng.uniform(0.8, 1.0))
            )
            rate = _lpr_1y(start) + rng.uniform(-0.25, 1.6)
            yield [
                loan_id, *borrower[:1], *borrower[1:12], purpose, _wan(amount), _wan(balance),
                "CNY", f"{rate:.2f}", approval.isoformat(), start.isoformat(), maturity.isoformat(),
                _five_tier(rng), "是" if green else "否", *project,
            ]  # fmt: skip


def write_book(
    path: Path,
    loans: int,
    seed: int = 20261126,
    encoding: str = "utf-8-sig",
    progress: Callable[[int], object] | None = None,
) -> Path:
    """Write the demo book as CSV (UTF-8 with BOM, as Excel likes it, unless told otherwise)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADERS)
        for count, row in enumerate(generate_rows(loans, seed), 1):
            writer.writerow(row)
            if progress is not None and (count % 10_000 == 0 or count == loans):
                progress(count)
    return path
