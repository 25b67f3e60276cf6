"""The per-batch computation of a whole-book run: attribution, financed emissions, benefits.

Each engine hands this module batches of the book (Arrow record batches, identification labels
already joined) and writes what it returns; DuckDB calls it in-process, Spark in its Python
workers through ``mapInArrow``.  It is elementwise: a row's result depends on that row and the
shipped factors only, never on which other rows share its batch, so any engine and any batch size
give the same figures, and integer outputs (分, kilograms, litres) sum identically everywhere.

The formulas are the engines' own (DESIGN.md principle 1): ``portfolio.pcaf`` for attribution
and financed emissions, ``benefits.assess.assess_columns`` for each methodology's benefits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from typing import TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from greenfin.benefits.assess import Place, assess_columns
from greenfin.benefits.registry import METHODOLOGIES
from greenfin.portfolio import estimates
from greenfin.portfolio.arrays import distinct_codes
from greenfin.portfolio.columns import INDICATOR_UNITS, OUTPUT_SCHEMA
from greenfin.portfolio.identify import LabelIndex
from greenfin.portfolio.pcaf import ASSET_CLASSES, attribution_factor
from greenfin.reference.factors import DEFAULT_POLICY, POLICIES, Factor
from greenfin.reference.regions import region

Floats = NDArray[np.float64]
T = TypeVar("T")

CLASSES: tuple[str, ...] = tuple(ASSET_CLASSES)
#: Which input column is the attribution factor's denominator, per asset class (pcaf.ASSET_CLASSES).
DENOMINATOR = {
    "EVIC": "evic_fen",
    "total equity + debt": "equity_debt_fen",
    "total project equity + debt": "equity_debt_fen",
    "property value at origination": "property_value_fen",
    "vehicle value at origination": "vehicle_value_fen",
}
CORPORATE = frozenset(
    c for c, d in ASSET_CLASSES.items() if d in {"EVIC", "total equity + debt", "total project equity + debt"}
)
BUILDINGS = frozenset({"commercial_real_estate", "mortgage"})
VEHICLES = frozenset({"motor_vehicle_loan"})
#: Reported emissions' score by their basis (PCAF Part A options 1a, 1b and 2a/2b); the store's
#: data-quality marks (model.values.DataQuality) read the same way, "estimated" as option 2b (the
#: borrower's own estimate from its activity), and "default" as no reported figure at all.
REPORTED_SCORE = {"verified": 1, "reported": 2, "": 2, "physical": 3, "estimated": 3, "default": 0}
FEN_PER_WAN = 1_000_000.0  # 1 万元 = 10,000 元 = 1,000,000 分


class PortfolioProblem(ValueError):
    """A holding the run cannot read, named by its id and column."""

    def __init__(self, loan_id: str, column: str, message: str) -> None:
        super().__init__(f"贷款 {loan_id} 的 {column} 列：{message}")
        self.loan_id = loan_id
        self.column = column
        self.detail = message

    def __reduce__(self) -> tuple[type[PortfolioProblem], tuple[str, str, str]]:
        """Rebuilt whole in the parent when a worker process raises it."""
        return (PortfolioProblem, (self.loan_id, self.column, self.detail))


@dataclass(frozen=True, slots=True)
class Settings:
    """What a run fixes for every row: small and picklable, so Spark ships it to its workers."""

    reporting_year: int
    policy: str = DEFAULT_POLICY.name


_ENCODED: dict[str, object] = {}  # the batch being computed, and its columns as read once
_NAN: dict[int, Floats] = {}


def _nothing(rows: int) -> Floats:
    """An all-NaN column, shared and read-only (most input columns are null in most rows)."""
    cached = _NAN.get(rows)
    if cached is None:
        _NAN.clear()  # one length at a time: a reused Spark worker sees a new tail length per task
        cached = _NAN[rows] = np.full(rows, np.nan)
        cached.flags.writeable = False
    return cached


def _same_batch(batch: pa.RecordBatch) -> None:
    """Forget the cached columns of the previous batch."""
    if _ENCODED.get("batch") is not batch:
        _ENCODED.clear()
        _ENCODED["batch"] = batch


def _floats(batch: pa.RecordBatch, name: str) -> Floats:
    """A column as float64 with NaN for null (read-only, read once per batch); absent: all NaN."""
    _same_batch(batch)
    key = f"floats:{name}"
    cached = _ENCODED.get(key)
    if cached is None:
        cached = _ENCODED[key] = _read_floats(batch, name)
        cached.flags.writeable = False
    return cached  # type: ignore[return-value]


def _read_floats(batch: pa.RecordBatch, name: str) -> Floats:
    index = batch.schema.get_field_index(name)
    if index < 0 or batch.column(index).null_count == batch.num_rows:
        return _nothing(batch.num_rows)
    column = batch.column(index)
    if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
        return np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64)  # nulls become NaN
    return np.asarray(pc.fill_null(column.cast(pa.float64()), np.nan).to_numpy(), dtype=np.float64)


def _per_distinct(
    batch: pa.RecordBatch, name: str, mapping: Callable[[str | None], T]
) -> tuple[list[T], NDArray[np.int64]]:
    """``mapping`` of each distinct value of a string column (nulls last), and each row's index into it."""
    _same_batch(batch)
    key = f"column:{name}"
    if key not in _ENCODED:
        index = batch.schema.get_field_index(name)
        if index < 0:
            _ENCODED[key] = ([], np.zeros(batch.num_rows, dtype=np.int64))
        else:
            _ENCODED[key] = distinct_codes(batch.column(index))
    found: tuple[list[str | None], NDArray[np.int64]] = _ENCODED[key]  # type: ignore[assignment]
    return [mapping(v) for v in found[0]] + [mapping(None)], found[1]


def _numbers(batch: pa.RecordBatch, name: str, mapping: Callable[[str | None], float]) -> Floats:
    """A numeric mapping of a string column, computed once per distinct value."""
    values, codes = _per_distinct(batch, name, mapping)
    return np.asarray(values, dtype=np.float64)[codes]


@dataclass(frozen=True, slots=True)
class Found:
    """The factor each row selects: its value (NaN where none), and its id as a code into ``ids``."""

    values: Floats
    codes: NDArray[np.int32]
    ids: list[str]


def _factors(
    batch: pa.RecordBatch, name: str, mapping: Callable[[str | None], Factor | None], scale: float = 1.0
) -> Found:
    """The factor each row's value of a column selects (an absent column: the mapping of None)."""
    found, codes = _per_distinct(batch, name, mapping)
    values = np.array([np.nan if f is None else f.value * scale for f in found], dtype=np.float64)
    return Found(values[codes], codes.astype(np.int32), [f.id if f is not None else "" for f in found])


def _either(condition: NDArray[np.bool_], yes: Found, no: Found) -> Found:
    """Per row, the factor of ``yes`` where the condition holds, else that of ``no``."""
    return Found(
        np.where(condition, yes.values, no.values),
        np.where(condition, yes.codes + len(no.ids), no.codes).astype(np.int32),
        no.ids + yes.ids,
    )


def _blank(batch: pa.RecordBatch, name: str) -> NDArray[np.bool_]:
    """Where a text column says nothing: null, empty or spaces (everywhere, when it is absent);
    Parquet keeps '' where CSV gives null, and the two must read the same."""
    values, codes = _per_distinct(batch, name, lambda v: not (v or "").strip())
    return np.asarray(values, dtype=bool)[codes]


def _refuse(batch: pa.RecordBatch, column: str, bad: NDArray[np.bool_], expected: str) -> None:
    """A located problem for the first row where ``bad`` holds."""
    rows = np.flatnonzero(bad)
    if rows.size:
        row = int(rows[0])
        index = batch.schema.get_field_index(column)
        value = batch.column(index)[row].as_py() if index >= 0 else None
        raise PortfolioProblem(_loan_id(batch, row), column, f"{value!r} {expected}")


def _known_fuel(average: estimates.Averages, fuel: str | None) -> Factor | None:
    """A vehicle of known fuel (score 4); "unknown" written out is the average vehicle, score 5."""
    key = (fuel or "").strip().lower()
    return None if key in ("", "unknown", estimates.FALLBACK) else average.by_key.get(key)


@dataclass(frozen=True, slots=True)
class Financed:
    """Per holding: attribution factor, emissions used (tCO2e), financed emissions (tCO2e),
    PCAF score (0 where missing) and the basis (how reported, or the average's factor id)."""

    factor: Floats
    emissions_t: Floats
    financed_t: Floats
    score: NDArray[np.int8]
    basis: pa.Array


def _asset_classes(batch: pa.RecordBatch) -> NDArray[np.int64]:
    known, codes = _per_distinct(batch, "asset_class", lambda v: CLASSES.index(v) if v in CLASSES else -1)
    classes = np.asarray(known, dtype=np.int64)[codes]
    _refuse(batch, "asset_class", classes < 0, f"不是 PCAF 资产类别；应为 {'/'.join(CLASSES)}")
    return classes


def _loan_id(batch: pa.RecordBatch, row: int) -> str:
    return str(batch.column(batch.schema.get_field_index("loan_id"))[row].as_py())


def financed_emissions(batch: pa.RecordBatch, reporting_year: int) -> Financed:
    """Attribution factor, emissions and score of every holding, by the best option its data allow.

    The options, best first (PCAF Part A, 2nd ed., 2022, ch. 5; docs/portfolio.md §2):
    reported emissions (score 1 verified, 2 unverified, 3 physical-activity based); then for
    companies and projects option 3a, factor × revenue × the sector's tCO2e per 万元 revenue (4),
    or 3b, the outstanding amount × the sector's tCO2e per 万元 assets (5; Annex Table 10.1-2);
    for buildings option 2b, floor area × the building type's kgCO2e/m² (4), or option 3, the
    average per building (5) (Tables 5-14, 5-15); for vehicles option 3a, the fuel's average per
    vehicle (4), or 3b, the average vehicle's (5) (Table 5-16).  Option 3c (asset turnover) has no
    Chinese sector data shipped.  A holding with none of these, or without the denominator its
    asset class needs, is missing: counted, never guessed, except that a vehicle whose value at
    origination is unknown is attributed 100 %, as PCAF says (§5.6).  An outstanding amount above
    its denominator is a data error (a feed's EVIC of 1 where it has none): that holding is missing
    too, and its factor is kept in the output so the error can be found.
    """
    rows = batch.num_rows
    classes = _asset_classes(batch)
    balance = _floats(batch, "balance_fen")
    denominator = _nothing(rows)
    for code, name in enumerate(CLASSES):
        mine = classes == code
        if mine.any():
            denominator = np.where(mine, _floats(batch, DENOMINATOR[ASSET_CLASSES[name]]), denominator)
    factor = attribution_factor(balance, denominator)
    vehicles = np.isin(classes, [CLASSES.index(c) for c in VEHICLES])
    factor = np.where(vehicles & np.isnan(denominator), 1.0, factor)
    usable = np.where(factor <= 1.0, factor, np.nan)  # above 1: the denominator is wrong (an EVIC of 1)

    emissions = _floats(batch, "emissions_t")
    quality = _numbers(
        batch, "emissions_quality", lambda v: REPORTED_SCORE.get((v or "").strip().lower(), -1)
    )
    _refuse(
        batch,
        "emissions_quality",
        np.isfinite(emissions) & (quality < 0),
        f"应为 {'/'.join(k for k in REPORTED_SCORE if k)}",
    )
    for column in ("emissions_t", "revenue_fen", "total_assets_fen", "floor_area_m2", "evic_fen", "equity_debt_fen",
                   "property_value_fen", "vehicle_value_fen", "total_investment_fen"):  # fmt: skip
        _refuse(batch, column, _floats(batch, column) < 0, "不能为负数")
    reported = np.isfinite(emissions) & (quality > 0)
    chosen = np.where(reported, emissions, np.nan)
    financed = usable * chosen
    score = np.where(reported & np.isfinite(financed), quality, 0).astype(np.int8)
    bases = ["", "reported:verified", "reported", "reported:physical"]
    basis = score.astype(np.int32)  # an index into ``bases``: the reported scores 1-3 name themselves

    def offer(
        among: NDArray[np.bool_], estimate: Floats, attributed: Floats, grade: int, found: Found
    ) -> None:
        nonlocal chosen, financed, score, basis
        take = among & (score == 0) & np.isfinite(attributed)
        if take.any():
            chosen = np.where(take, estimate, chosen)
            financed = np.where(take, attributed, financed)
            score = np.where(take, np.int8(grade), score)
            basis = np.where(take, found.codes + len(bases), basis)
            bases.extend(found.ids)

    corporate = np.isin(classes, [CLASSES.index(c) for c in CORPORATE])
    if corporate.any():
        revenue = estimates.averages(estimates.REVENUE, reporting_year)
        assets = estimates.averages(estimates.ASSETS, reporting_year)
        per_revenue = _factors(batch, "industry_code", revenue.for_industry)
        per_assets = _factors(batch, "industry_code", assets.for_industry)
        by_revenue = _floats(batch, "revenue_fen") / FEN_PER_WAN * per_revenue.values
        offer(corporate, by_revenue, usable * by_revenue, 4, per_revenue)
        # 3b needs no denominator, but one below the outstanding amount says the data are wrong
        sound = ~(factor > 1.0)
        offer(corporate & sound, _nothing(rows), balance / FEN_PER_WAN * per_assets.values, 5, per_assets)
    buildings = np.isin(classes, [CLASSES.index(c) for c in BUILDINGS])
    if buildings.any():
        area = estimates.averages(estimates.AREA, reporting_year)
        unit = estimates.averages(estimates.DWELLING, reporting_year)
        # a building of no stated type is what its asset class says: a home, or commercial property
        commercial = (classes == CLASSES.index("commercial_real_estate")) & _blank(batch, "building_type")
        per_m2 = _either(
            commercial,
            _factors(
                batch, "building_type", lambda v: area.for_key((v or "").strip() or "commercial"), 0.001
            ),
            _factors(
                batch, "building_type", lambda v: area.for_key((v or "").strip() or "residential"), 0.001
            ),
        )
        per_unit = _either(
            commercial,
            _factors(batch, "building_type", lambda v: unit.for_key((v or "").strip() or "commercial")),
            _factors(batch, "building_type", lambda v: unit.for_key((v or "").strip() or "residential")),
        )
        by_area = _floats(batch, "floor_area_m2") * per_m2.values
        offer(buildings, by_area, usable * by_area, 4, per_m2)
        offer(buildings, per_unit.values, usable * per_unit.values, 5, per_unit)
    if vehicles.any():
        average = estimates.averages(estimates.VEHICLE, reporting_year)
        per_fuel = _factors(batch, "vehicle_fuel", lambda v: _known_fuel(average, v))
        unknown = _factors(batch, "", lambda _v: average.by_key.get("unknown"))
        offer(vehicles, per_fuel.values, usable * per_fuel.values, 4, per_fuel)
        offer(vehicles, unknown.values, usable * unknown.values, 5, unknown)
    names = pa.array(bases, pa.string())
    labelled = pa.DictionaryArray.from_arrays(pa.array(basis, pa.int32(), mask=score == 0), names)
    return Financed(factor, chosen, financed, score, labelled.cast(pa.string()))


@cache
def place_of(code: str | None) -> Place:
    """The factors' place of a region code; an unreadable code falls back to national factors."""
    try:
        found = region(code or "")
    except ValueError:
        return Place(None, None)
    return Place(found.province.short_zh, found.grid_region or None)


def benefits(batch: pa.RecordBatch, settings: Settings) -> tuple[Floats, dict[str, Floats]]:
    """Each holding's benefit share and attributed indicators (NaN where not assessed).

    Rows are grouped by methodology and each group goes through ``assess_columns``, the same
    formula a single project's assessment uses; attribution is the policy's (the regulator's
    balance ÷ total investment by default).  A row whose required inputs are missing, or whose
    project investment is unknown, gets no figure rather than a zero.
    """
    rows = batch.num_rows
    share = np.full(rows, np.nan)
    attributed = {key: np.full(rows, np.nan) for key in INDICATOR_UNITS}
    names, codes = _per_distinct(batch, "methodology", lambda v: v)
    if all(name is None for name in names):
        return share, attributed
    policy = POLICIES[settings.policy]
    places, place_codes = _per_distinct(batch, "region_code", place_of)
    stated = _floats(batch, "reporting_year")
    years = np.where(np.isfinite(stated), stated, settings.reporting_year).astype(np.int64)
    balance = _floats(batch, "balance_fen") / 100.0
    investment = _floats(batch, "total_investment_fen") / 100.0
    equity_debt = _floats(batch, "equity_debt_fen") / 100.0
    equity_debt = np.where(equity_debt > 0, equity_debt, np.nan)  # none, rather than a zero that wins
    for position, name in enumerate(names):
        if name is None:
            continue
        method = METHODOLOGIES.get(name)
        mine = np.flatnonzero(codes == position)
        if mine.size == 0:  # in the row group's dictionary, not in this batch
            continue
        if method is None:
            raise PortfolioProblem(
                _loan_id(batch, int(mine[0])),
                "methodology",
                f"未知方法学 {name!r}；可用：{'/'.join(METHODOLOGIES)}",
            )
        inputs = {}
        for spec in method.inputs:
            column = _floats(batch, f"input_{spec.key}")[mine]
            inputs[spec.key] = (
                column if spec.required else np.where(np.isnan(column), spec.default or 0.0, column)
            )
        result = assess_columns(
            method, inputs, places, place_codes[mine], years[mine], policy,
            balance_yuan=balance[mine], investment_yuan=investment[mine], equity_debt_yuan=equity_debt[mine],
        )  # fmt: skip
        used = investment[mine]  # the denominator assess_columns divides by (PCAF: equity + debt where given)
        if policy.attribution == "pcaf":
            used = np.where(np.isnan(equity_debt[mine]), used, equity_debt[mine])
        known = np.isfinite(used) & (used > 0)
        share[mine] = np.where(known, result["share"], np.nan)
        for key in method.outputs:
            attributed[key][mine] = np.where(known, result[f"attributed_{key}"], np.nan)
    return share, attributed


LARGEST = 2.0**62  # far above any real figure in kg, 分 or litres, and summable in DECIMAL(38,0)


def _integers(batch: pa.RecordBatch, column: str, values: Floats, scale: float = 1.0) -> pa.Array:
    """Rounded to whole units (half to even), null where not finite: exact to sum on any engine."""
    scaled = values * scale
    finite = np.isfinite(scaled)
    if not finite.any():
        return pa.nulls(len(values), pa.int64())
    huge = np.flatnonzero(finite & (np.abs(scaled) >= LARGEST))
    if huge.size:
        row = int(huge[0])
        raise PortfolioProblem(
            _loan_id(batch, row), column, f"结果 {scaled[row]:.3g} 超出可记录范围，请检查输入数据"
        )
    return pa.array(np.rint(np.where(finite, scaled, 0.0)).astype(np.int64), mask=~finite)


def _column(batch: pa.RecordBatch, name: str, type_: pa.DataType) -> pa.Array:
    index = batch.schema.get_field_index(name)
    if index < 0:
        return pa.nulls(batch.num_rows, type_)
    return batch.column(index).cast(type_)


def compute(batch: pa.RecordBatch, settings: Settings, labels: LabelIndex) -> pa.RecordBatch:
    """One batch of the book to one batch of results (``columns.OUTPUT_SCHEMA``)."""
    _check_required(batch)
    label = labels.attach(batch)
    financed = financed_emissions(batch, settings.reporting_year)
    share, attributed = benefits(batch, settings)
    factor = pa.array(financed.factor, mask=~np.isfinite(financed.factor))
    score = pa.array(financed.score, mask=financed.score == 0)
    arrays = [
        _column(batch, "loan_id", pa.string()),
        _column(batch, "asset_class", pa.string()),
        _column(batch, "balance_fen", pa.int64()),
        *label.values(),
        factor,
        score,
        financed.basis,
        _integers(batch, "financed_kg", financed.financed_t, 1000.0),
        pa.array(share, mask=~np.isfinite(share)),
        *(
            _integers(batch, f"{key}_{unit}", attributed[key], scale)
            for key, (unit, scale) in INDICATOR_UNITS.items()
        ),
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=OUTPUT_SCHEMA)


def _check_required(batch: pa.RecordBatch) -> None:
    """Every holding has an id, an asset class and a balance that is not negative."""
    for name in ("loan_id", "asset_class", "balance_fen"):
        index = batch.schema.get_field_index(name)
        if index < 0:
            raise PortfolioProblem("（全部）", name, "缺少必需列")
        column = batch.column(index)
        if column.null_count:
            row = int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])
            raise PortfolioProblem(
                _loan_id(batch, row) if name != "loan_id" else f"第 {row + 1} 行", name, "为空"
            )
    _refuse(batch, "balance_fen", _floats(batch, "balance_fen") < 0, "余额不能为负")


def compute_all(
    batches: Iterator[pa.RecordBatch], settings: Settings, labels: LabelIndex
) -> Iterator[pa.RecordBatch]:
    """:func:`compute` over a stream: the shape Spark's ``mapInArrow`` calls."""
    for batch in batches:
        yield compute(batch, settings, labels)


__all__: Sequence[str] = ("PortfolioProblem", "Settings", "compute", "compute_all", "financed_emissions")
