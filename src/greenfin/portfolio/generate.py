"""A generated whole book, written as Parquet in chunks: the input of tests and ``bench/portfolio.py``.

Its make-up follows a large Chinese bank's book by count: mostly mortgages and car loans, a third
corporate and a few percent project finance and commercial real estate.  Purposes are drawn from
pools that repeat as a real book's do (a mortgage's purpose is one of a handful of phrases, a
corporate loan's a template with a place and a size), green projects carry their methodology's
inputs, and companies have reported emissions, revenue or neither in realistic shares, so every
PCAF option and score occurs.  Same seed, same book.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from numpy.typing import NDArray

from greenfin.portfolio.columns import INPUT_SCHEMA

CHUNK = 1_000_000
ROW_GROUP = 262_144  # several per chunk, so that every core has a share of a small book
_PLACES = (
    ("湖州", "330500"), ("衢州", "330800"), ("杭州", "330100"), ("通道", "431230"), ("酒泉", "620900"),
    ("张家口", "130700"), ("包头", "150200"), ("盐城", "320900"), ("赣州", "360700"), ("南宁", "450100"),
    ("成都", "510100"), ("西宁", "630100"), ("大理", "532900"), ("汕尾", "441500"), ("重庆", "500000"),
)  # fmt: skip

#: Profiles: name, share of rows, asset class, purposes, industries, methodology.
PROFILES: tuple[tuple[str, float, str, tuple[str, ...], tuple[str, ...], str | None], ...] = (
    ("mortgage", 0.44, "mortgage",
     ("个人住房按揭贷款", "个人住房公积金组合贷款", "二手房按揭贷款", "绿色建筑二星级住宅按揭贷款"), ("",), None),
    ("car", 0.24, "motor_vehicle_loan",
     ("个人汽车消费贷款", "新能源汽车消费贷款（纯电动）", "二手车消费贷款", "个人购车分期贷款"), ("",), None),
    ("company", 0.22, "business_loan",
     ("流动资金周转，采购原材料", "{p}商贸公司日常经营周转", "{p}钢铁产能扩建", "{p}食品加工厂扩建{n}万吨",
      "{p}纺织印染企业流动资金", "{p}物流仓储中心建设", "{p}工业园区余热回收利用改造", "{p}燃煤电厂扩建工程{n}MW",
      "{p}水泥熟料生产线技术改造", "{p}化工企业原料采购"),
     ("C3110", "C3011", "C2614", "F5191", "C1713", "G5431", "D4411", "C1391", "C3311", "B0610"), None),
    ("listed", 0.03, "business_loan_listed",
     ("{p}上市公司流动资金贷款", "{p}发电集团技术改造", "{p}钢铁集团并购贷款"), ("D4411", "C3110", "C2511"), None),
    ("wind_solar", 0.02, "project_finance",
     ("{p}{n}MW风电场项目建设", "{p}{n}MW集中式光伏电站建设及运营", "{p}屋顶分布式光伏{n}MW项目", "{p}农光互补光伏项目{n}MW"),
     ("D4415", "D4416"), "renewable-power"),
    ("building", 0.01, "project_finance",
     ("{p}既有公共建筑节能改造", "{p}绿色建筑二星级办公楼建设"), ("E4710", "K7010"), "green-building"),
    ("wastewater", 0.01, "project_finance",
     ("{p}污水处理厂提标改造（日处理{n}万吨）", "{p}城镇污水处理厂建设及运营"), ("N7721",), "wastewater"),
    ("real_estate", 0.03, "commercial_real_estate",
     ("{p}商业综合体经营性物业贷款", "{p}写字楼经营性物业贷款"), ("K7040",), None),
)  # fmt: skip


#: Emission intensity of the generated companies by profile, tCO2e per 万元 of revenue: made-up
#: round figures of the right order (a renewable project emits little), not reference data.
_INTENSITY = {"company": 0.8, "listed": 1.5, "wind_solar": 0.01, "building": 0.05, "wastewater": 0.2}


def _texts(
    templates: tuple[str, ...], industries: tuple[str, ...], sizes: int
) -> tuple[list[str], list[str]]:
    """Every text a profile's templates make with the places and ``sizes`` sizes, with the
    borrower industry that goes with its template (a steel works is in C31, not in D44)."""
    texts: dict[str, str] = {}
    for n_template, template in enumerate(templates):
        for place, _code in _PLACES:
            for n in range(10, 10 + 10 * sizes, 10):
                texts.setdefault(template.format(p=place, n=n), industries[n_template % len(industries)])
    return list(texts), list(texts.values())


@cache
def _pool(templates: tuple[str, ...], industries: tuple[str, ...]) -> tuple[list[str], list[str]]:
    return _texts(templates, industries, 40)


def _strings(values: list[str], codes: np.ndarray) -> pa.Array:
    return pa.DictionaryArray.from_arrays(pa.array(codes, pa.int32()), pa.array(values, pa.string())).cast(
        pa.string()
    )


def _fen(rng: np.random.Generator, low_yuan: float, high_yuan: float, size: int) -> NDArray[np.int64]:
    """Amounts in whole 分, log-uniform between the bounds (loan sizes spread over orders)."""
    amounts: NDArray[np.int64] = np.rint(
        np.exp(rng.uniform(np.log(low_yuan), np.log(high_yuan), size)) * 100
    ).astype(np.int64)
    return amounts


def _masked(values: np.ndarray, present: np.ndarray, type_: pa.DataType) -> pa.Array:
    return pa.array(values, type=type_, mask=~present)


def chunk(rows: int, start: int, seed: int) -> pa.RecordBatch:
    """``rows`` holdings numbered from ``start``; the chunk's content depends on (start, seed) only."""
    rng = np.random.default_rng([seed, start])
    shares = np.array([p[1] for p in PROFILES])
    profile = rng.choice(len(PROFILES), size=rows, p=shares / shares.sum())
    columns: dict[str, pa.Array] = {}
    ids = np.char.add("PF", np.char.zfill((np.arange(start, start + rows)).astype(str), 10))
    columns["loan_id"] = pa.array(ids, pa.string())
    classes = [p[2] for p in PROFILES]
    columns["asset_class"] = _strings(classes, profile)

    purpose_pool: list[str] = []
    industry_pool: list[str] = []
    purpose = np.zeros(rows, dtype=np.int64)
    for index, (_name, _share, _cls, templates, industries, _method) in enumerate(PROFILES):
        mine = np.flatnonzero(profile == index)
        texts, their_industries = _pool(templates, industries)
        purpose[mine] = len(purpose_pool) + rng.integers(0, len(texts), mine.size)
        purpose_pool += texts
        industry_pool += their_industries
    columns["purpose"] = _strings(purpose_pool, purpose)
    industry_codes = np.array(industry_pool, dtype=object)[purpose]
    columns["industry_code"] = pa.array(industry_codes, pa.string(), mask=industry_codes == "")
    base = dt.date(2019, 1, 1).toordinal() - dt.date(1970, 1, 1).toordinal()
    columns["approval_date"] = pa.array(
        rng.integers(base, base + 7 * 365, rows).astype(np.int32), pa.date32()
    )
    columns["region_code"] = _strings([code for _p, code in _PLACES], rng.integers(0, len(_PLACES), rows))
    columns["reporting_year"] = pa.nulls(rows, pa.int32())

    is_ = {name: profile == i for i, (name, *_rest) in enumerate(PROFILES)}
    corporate = is_["company"] | is_["listed"] | is_["wind_solar"] | is_["building"] | is_["wastewater"]
    balance = np.where(
        corporate | is_["real_estate"], _fen(rng, 1e6, 2e9, rows),
        np.where(is_["mortgage"], _fen(rng, 1e5, 5e6, rows), _fen(rng, 2e4, 4e5, rows)),
    )  # fmt: skip
    columns["balance_fen"] = pa.array(balance, pa.int64())

    draw = rng.random(rows)
    # a company's size follows the loan: equity + debt several times the balance, revenue about
    # that again, and its emissions what its industry would emit on that revenue, give or take
    project = is_["wind_solar"] | is_["building"] | is_["wastewater"]
    equity_debt = np.rint(balance * rng.uniform(1.5, 8.0, rows)).astype(np.int64)
    revenue = np.rint(equity_debt * rng.uniform(0.3, 2.0, rows)).astype(np.int64)
    intensity = np.array([_INTENSITY.get(p[0], 0.3) for p in PROFILES])[profile]  # tCO2e per 万元 revenue
    emissions = np.round(revenue / 1e6 * intensity * rng.lognormal(0.0, 0.5, rows), 2)
    reported = corporate & (draw < 0.35)
    columns["emissions_t"] = _masked(emissions, reported, pa.float64())
    quality = np.where(draw < 0.12, 0, np.where(draw < 0.33, 1, 2))
    columns["emissions_quality"] = _masked(
        np.array(["verified", "reported", "physical"], dtype=object)[quality], reported, pa.string()
    )
    columns["revenue_fen"] = _masked(revenue, corporate & (draw < 0.85), pa.int64())
    columns["total_assets_fen"] = _masked(equity_debt, corporate & (draw < 0.9), pa.int64())
    columns["evic_fen"] = _masked(
        np.rint(equity_debt * rng.uniform(1.0, 2.5, rows)).astype(np.int64), is_["listed"], pa.int64()
    )
    columns["equity_debt_fen"] = _masked(
        equity_debt, (corporate & ~is_["listed"]) & (draw < 0.95), pa.int64()
    )
    property_value = (balance * rng.uniform(1.3, 3.5, rows)).astype(np.int64)
    buildings = is_["mortgage"] | is_["real_estate"]
    columns["property_value_fen"] = _masked(property_value, buildings & (draw < 0.97), pa.int64())
    area = np.where(is_["real_estate"], rng.uniform(500, 3e4, rows), rng.uniform(45, 200, rows))
    columns["floor_area_m2"] = _masked(np.round(area, 1), buildings & (draw < 0.7), pa.float64())
    columns["building_type"] = _masked(
        np.where(is_["real_estate"], "commercial", "residential").astype(object), buildings, pa.string()
    )
    cars = is_["car"]
    columns["vehicle_value_fen"] = _masked(
        (balance * rng.uniform(1.1, 2.0, rows)).astype(np.int64), cars & (draw < 0.9), pa.int64()
    )
    fuel = np.array(["petrol", "bev", "phev"], dtype=object)[rng.choice(3, rows, p=[0.7, 0.2, 0.1])]
    columns["vehicle_fuel"] = _masked(fuel, cars & (draw < 0.8), pa.string())
    methods = [p[5] or "" for p in PROFILES]
    columns["methodology"] = _masked(np.array(methods, dtype=object)[profile], project, pa.string())
    columns["total_investment_fen"] = _masked(equity_debt, project & (draw < 0.9), pa.int64())
    _project_inputs(columns, rng, rows, is_)
    return pa.RecordBatch.from_arrays(
        [columns.get(f.name, pa.nulls(rows, f.type)) for f in INPUT_SCHEMA], schema=INPUT_SCHEMA
    )


def _project_inputs(
    columns: dict[str, pa.Array], rng: np.random.Generator, rows: int, is_: dict[str, np.ndarray]
) -> None:
    """The methodology inputs of green projects, in canonical units (MWh, m2, kWh/m2, m3, mg/L)."""
    wind, building, water = is_["wind_solar"], is_["building"], is_["wastewater"]
    values: dict[str, tuple[np.ndarray, np.ndarray]] = {
        "input_generation": (np.round(rng.uniform(2e3, 8e5, rows), 3), wind),
        "input_area": (np.round(rng.uniform(5e3, 2e5, rows), 1), building),
        "input_baseline_kwh_per_m2": (np.round(rng.uniform(90, 160, rows), 1), building),
        "input_project_kwh_per_m2": (np.round(rng.uniform(50, 90, rows), 1), building),
        "input_volume": (np.round(rng.uniform(1e6, 4e7, rows), 0), water),
        "input_cod_in": (np.round(rng.uniform(200, 400, rows), 1), water),
        "input_cod_out": (np.round(rng.uniform(20, 50, rows), 1), water),
        "input_nh3n_in": (np.round(rng.uniform(20, 40, rows), 1), water),
        "input_nh3n_out": (np.round(rng.uniform(1, 5, rows), 1), water),
    }
    for name, (numbers, present) in values.items():
        columns[name] = _masked(numbers, present, pa.float64())


def write(path: Path, rows: int, seed: int = 20261126, progress: Callable[[int], None] | None = None) -> Path:
    """A book of ``rows`` holdings as one Parquet file, written a chunk at a time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    with pq.ParquetWriter(partial, INPUT_SCHEMA, compression="zstd") as writer:
        for start in range(0, rows, CHUNK):
            size = min(CHUNK, rows - start)
            writer.write_batch(chunk(size, start, seed), row_group_size=ROW_GROUP)
            if progress is not None:
                progress(size)
    partial.replace(path)
    return path
