"""Importing price series for collateral valuation: all or nothing, idempotent, audited.

Prices decide haircuts and margin calls, so an import either takes every row of every file or
none: files are read and checked first (``collateral.prices``), then the series are checked again
merged with what the store already holds (a file that fills last month's hole is fine, one that
leaves a three-week hole after the stored days is not), and only then is anything written, in
one transaction.  A day whose stored prices equal the file's is left alone, so re-importing an
export changes nothing; a changed price is updated and its old and new values go to the audit
log, because a revised close changes valuations already reported.

The valuation engine reads series back as NumPy arrays (:func:`price_series`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Connection, Engine, and_, bindparam, func, insert, select, update

from greenfin.collateral.prices import (
    DEFAULT_MAX_GAP_DAYS,
    PriceFile,
    PriceRow,
    SeriesPoint,
    check_series,
    duplicate_problems,
    points_of,
    read_price_file,
    series_code,
)
from greenfin.ingest.issues import ImportIssue, ImportRejected
from greenfin.service import audit
from greenfin.store.schema import prices

_VALUE_COLUMNS = ("open_yuan", "high_yuan", "low_yuan", "close_yuan", "volume")
#: The most problems carried by a rejection (the total is still counted).
MAX_REPORTED = 500


@dataclass
class SeriesCounts:
    """Days of one series that the import added, changed or found already stored as they are."""

    new: int = 0
    updated: int = 0
    unchanged: int = 0

    @property
    def rows(self) -> int:
        return self.new + self.updated + self.unchanged


@dataclass
class PriceImport:
    """What an accepted price import did."""

    files: list[dict[str, Any]]
    series: dict[str, SeriesCounts] = field(default_factory=dict)
    warnings: list[ImportIssue] = field(default_factory=list)

    @property
    def totals(self) -> SeriesCounts:
        return SeriesCounts(
            sum(c.new for c in self.series.values()),
            sum(c.updated for c in self.series.values()),
            sum(c.unchanged for c in self.series.values()),
        )


@dataclass(frozen=True, slots=True)
class StoredPrice:
    """One stored day of a series, for display."""

    day: dt.date
    open_yuan: Decimal | None
    high_yuan: Decimal | None
    low_yuan: Decimal | None
    close_yuan: Decimal
    volume: Decimal | None


def import_prices(
    engine: Engine,
    paths: Sequence[Path],
    *,
    actor: str | None,
    instrument: str | None = None,
    max_gap_days: int = DEFAULT_MAX_GAP_DAYS,
) -> PriceImport:
    """Import price files in one transaction; raise :class:`ImportRejected` with every located error.

    ``instrument`` names the series of a single-series file, or picks one series of an exchange
    file.  On rejection the store is exactly as it was.
    """
    if not paths:
        raise ValueError("no price files given")
    if max_gap_days < 1:
        raise ValueError("max_gap_days must be at least 1")
    who = audit.current_actor(actor)
    files = [read_price_file(Path(p), instrument=instrument) for p in paths]
    order = {f.name: i for i, f in enumerate(files)}
    errors = [issue for f in files for issue in f.errors]
    if not errors:  # a day repeated in two files of one import
        errors = duplicate_problems((f.name, f.date_column, row) for f in files for row in f.rows)
    if errors:
        _reject(errors, order)
    warnings = [issue for f in files for issue in f.warnings]
    with engine.begin() as connection:  # leaving by an exception rolls back
        stored = _stored_rows(connection, sorted({r.instrument for f in files for r in f.rows}))
        new_points = [p for f in files for p in points_of(f)]
        incoming = {(p.instrument, p.day) for p in new_points}
        old_points = [
            SeriesPoint(code, day, Decimal(str(values["close_yuan"])))
            for (code, day), values in stored.items()
            if (code, day) not in incoming
        ]
        gaps, jumps = check_series([*old_points, *new_points], max_gap_days)
        if gaps:
            _reject(gaps, order)
        warnings.extend(jumps)
        warnings.sort(key=lambda i: (order.get(i.file, 0), i.row or 0))
        result = PriceImport([], {}, warnings)
        for price_file in files:
            counts = _write(connection, who, price_file, stored)
            for code, count in counts.items():
                total = result.series.setdefault(code, SeriesCounts())
                total.new += count.new
                total.updated += count.updated
                total.unchanged += count.unchanged
            note = {
                "name": price_file.name, "sha256": price_file.sha256, "layout": price_file.layout,
                "kind": price_file.kind, "encoding": price_file.encoding,
                "rows_in_file": price_file.data_rows, "rows": len(price_file.rows),
                "skipped": price_file.skipped, "other_series": price_file.other_series,
                "warnings": sum(w.file == price_file.name for w in warnings),
            }  # fmt: skip
            result.files.append(note)
            audit.record(
                connection, actor=who, action="import", entity="prices",
                source_file=price_file.name, source_sha256=price_file.sha256,
                detail={**note, "max_gap_days": max_gap_days,
                        "series": {code: vars(c) for code, c in counts.items()}},
            )  # fmt: skip
    return result


def _reject(issues: list[ImportIssue], order: dict[str, int]) -> None:
    issues = sorted(issues, key=lambda i: (order.get(i.file, 0), i.row or 0))
    raise ImportRejected(issues[:MAX_REPORTED], len(issues))


def _stored_rows(connection: Connection, codes: list[str]) -> dict[tuple[str, dt.date], dict[str, Any]]:
    """The stored days of the series a file touches, keyed by (series, day)."""
    found: dict[tuple[str, dt.date], dict[str, Any]] = {}
    for start in range(0, len(codes), 500):
        query = select(prices).where(prices.c.instrument.in_(codes[start : start + 500]))
        for row in connection.execute(query):
            values = row._mapping
            found[(values["instrument"], values["day"])] = dict(values)
    return found


def _write(
    connection: Connection,
    who: str,
    price_file: PriceFile,
    stored: dict[tuple[str, dt.date], dict[str, Any]],
) -> dict[str, SeriesCounts]:
    """Insert the file's new days, update its changed ones with an audit record each."""
    counts: dict[str, SeriesCounts] = {}
    new: list[dict[str, Any]] = []
    changed: list[tuple[PriceRow, dict[str, Any]]] = []
    for row in price_file.rows:
        count = counts.setdefault(row.instrument, SeriesCounts())
        old = stored.get((row.instrument, row.day))
        values = row.values()
        if old is None:
            new.append(values)
            count.new += 1
        elif any(_differs(old[name], values[name]) for name in _VALUE_COLUMNS):
            changed.append((row, old))
            count.updated += 1
        else:
            count.unchanged += 1
    if new:
        connection.execute(insert(prices), new)
    if changed:
        statement = (
            update(prices)
            .where(and_(prices.c.instrument == bindparam("_code"), prices.c.day == bindparam("_day")))
            .values({name: bindparam(name) for name in _VALUE_COLUMNS})
        )
        params = []
        trail = []
        for row, old in changed:
            values = row.values()
            params.append(
                {"_code": row.instrument, "_day": row.day, **{n: values[n] for n in _VALUE_COLUMNS}}
            )
            changes = {
                name: {"old": old[name], "new": values[name]}
                for name in _VALUE_COLUMNS
                if _differs(old[name], values[name])
            }
            trail.append(
                {
                    "actor": who,
                    "action": "update",
                    "entity": "price",
                    "entity_id": f"{row.instrument} {row.day.isoformat()}",
                    "source_file": price_file.name,
                    "source_sha256": price_file.sha256,
                    "detail": audit.jsonable({"line": row.line, "changes": changes}),
                }
            )
        connection.execute(statement, params)
        audit.record_many(connection, trail)
    return counts


def _differs(old: Any, new: Any) -> bool:
    """Whether a stored value and a new one differ (SQLite keeps NUMERIC as REAL)."""
    if old is None or new is None:
        return old is not new
    return Decimal(str(old)) != Decimal(str(new))


def price_series(
    engine: Engine, instrument: str, until: dt.date | None = None
) -> tuple[NDArray[np.datetime64], NDArray[np.float64], NDArray[np.float64]]:
    """A series as arrays in day order: days (datetime64[D]), closes and volumes (NaN if unknown).

    Floats, because the valuation engine computes returns and quantiles; the stored Decimals stay
    the record.  ``until`` keeps the days up to and including it (a valuation as of that day).
    """
    query = (
        select(prices.c.day, prices.c.close_yuan, prices.c.volume)
        .where(prices.c.instrument == series_code(instrument))
        .order_by(prices.c.day)
    )
    if until is not None:
        query = query.where(prices.c.day <= until)
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    days = np.array([row.day for row in rows], dtype="datetime64[D]")
    closes = np.array([float(row.close_yuan) for row in rows], dtype=np.float64)
    volumes = np.array(
        [np.nan if row.volume is None else float(row.volume) for row in rows], dtype=np.float64
    )
    return days, closes, volumes


def series_codes(engine: Engine) -> list[str]:
    """The codes of every stored price series, sorted."""
    with engine.connect() as connection:
        return list(
            connection.execute(select(prices.c.instrument).distinct().order_by(prices.c.instrument)).scalars()
        )


def recent_prices(engine: Engine, instrument: str, last: int = 20) -> list[StoredPrice]:
    """The last ``last`` stored days of a series, oldest first (for ``greenfin prices show``)."""
    query = (
        select(prices)
        .where(prices.c.instrument == series_code(instrument))
        .order_by(prices.c.day.desc())
        .limit(max(last, 0))
    )
    with engine.connect() as connection:
        rows = connection.execute(query).all()

    def decimal(value: Any) -> Decimal | None:
        return None if value is None else Decimal(str(value))

    found = []
    for row in reversed(rows):
        opening, high, low = decimal(row.open_yuan), decimal(row.high_yuan), decimal(row.low_yuan)
        found.append(
            StoredPrice(row.day, opening, high, low, Decimal(str(row.close_yuan)), decimal(row.volume))
        )
    return found


@dataclass(frozen=True, slots=True)
class SeriesSummary:
    """A stored series at a glance: its span, its number of days, its latest close."""

    code: str
    first_day: dt.date
    last_day: dt.date
    days: int
    last_close_yuan: Decimal


def series_summaries(engine: Engine) -> list[SeriesSummary]:
    """Every stored series with its first and latest day and the latest close, by code.

    Two grouped queries rather than one per series: a store may hold dozens of exchange series.
    """
    spans = (
        select(
            prices.c.instrument, func.min(prices.c.day).label("first_day"), func.max(prices.c.day).label("last_day"),
            func.count().label("days"),
        )
        .group_by(prices.c.instrument)
        .subquery()
    )  # fmt: skip
    query = (
        select(spans, prices.c.close_yuan)
        .select_from(spans.join(prices, and_(prices.c.instrument == spans.c.instrument, prices.c.day == spans.c.last_day)))
        .order_by(spans.c.instrument)
    )  # fmt: skip
    with engine.connect() as connection:
        return [
            SeriesSummary(r.instrument, r.first_day, r.last_day, int(r.days), Decimal(str(r.close_yuan)))
            for r in connection.execute(query)
        ]
