"""Use cases of the regulatory reports: statistics, the annual disclosure, operations data.

The engines in ``reports/`` compute; this module reads the green book and the store, and writes
what must be kept: a ``report_snapshots`` row for every report run (so the next quarter's report
has something to compare against, and a supervisor can see what was reported), and the bank's
own operations data, imported all or nothing with an audit record in the same transaction.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import tempfile
import zipfile
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Connection, Engine, func, insert, select, update

from greenfin.ingest.issues import ImportIssue, ImportRejected, file_issue
from greenfin.reference.factors import DEFAULT_POLICY, FactorPolicy
from greenfin.reports.disclosure import OPERATIONS_ITEMS, DataTrail, OperationsItem, build_disclosure
from greenfin.reports.document import Document, stats_document
from greenfin.reports.render import render
from greenfin.reports.stats import Snapshot, Stats, build_stats, shift_months
from greenfin.service.audit import current_actor, now, record
from greenfin.service.green_book import green_book
from greenfin.store.schema import (
    import_batches,
    label_decisions,
    label_runs,
    operations_data,
    pledges,
    report_snapshots,
)

OPERATIONS_HEADER: Final = ("year", "item", "value", "unit", "source")
#: operations_data.value is Numeric(20, 4): at most 4 decimals and 16 digits before the point.
VALUE_PLACES: Final = 4
VALUE_LIMIT: Final = Decimal(10) ** 16


def _snapshot_at(connection: Connection, day: dt.date) -> Snapshot | None:
    """The latest report stored for exactly ``day`` (a stats or a disclosure run: same figures)."""
    row = (
        connection.execute(
            select(report_snapshots)
            .where(report_snapshots.c.kind.in_(("stats", "disclosure")), report_snapshots.c.as_of == day)
            .order_by(report_snapshots.c.id.desc())
            .limit(1)
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
    return Snapshot.from_json(int(row["id"]), row["as_of"], row["figures"])


def _compute(engine: Engine, as_of: dt.date, policy: FactorPolicy) -> Stats:
    with engine.connect() as connection:
        quarter = _snapshot_at(connection, shift_months(as_of, -3))
        year = _snapshot_at(connection, shift_months(as_of, -12))
    book = green_book(engine, policy, as_of.year)
    return build_stats(book, as_of, previous_quarter=quarter, previous_year=year)


def _store(engine: Engine, kind: str, stats: Stats, actor: str) -> int:
    """Keep the report's figures, and say in the audit log who reported what."""
    with engine.begin() as connection:
        snapshot_id = int(
            connection.execute(
                insert(report_snapshots).returning(report_snapshots.c.id),
                {
                    "kind": kind,
                    "as_of": stats.as_of,
                    "figures": stats.snapshot_json(),
                    "actor": actor,
                    "at": now(),
                },
            ).scalar_one()
        )
        record(
            connection, actor=actor, action="report", entity="report_snapshots", entity_id=str(snapshot_id),
            detail={"kind": kind, "as_of": stats.as_of, "green_balance_yuan": stats.total.balance_yuan,
                    "green_loans": stats.total.count},
        )  # fmt: skip
    return snapshot_id


def stats_report(
    engine: Engine, as_of: dt.date, *, actor: str | None = None, policy: FactorPolicy = DEFAULT_POLICY,
    store: bool = True,
) -> Stats:  # fmt: skip
    """The green-loan statistics as of ``as_of``, compared with the reports a quarter and a year
    earlier, and kept as a snapshot for the reports that will compare with it.

    ``store=False`` only computes: a look at the figures (an API GET, an auditor) must not write a
    snapshot and an audit record, or a read would change what later reports compare against.
    """
    stats = _compute(engine, as_of, policy)
    if store:
        _store(engine, "stats", stats, current_actor(actor))
    return stats


def operations_for(engine: Engine, year: int) -> list[OperationsItem]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(operations_data).where(operations_data.c.year == year).order_by(operations_data.c.item)
        ).mappings()
        return [
            OperationsItem(r["item"], Decimal(str(r["value"])).normalize(), r["unit"], r["source"])
            for r in rows
        ]


def _trail(connection: Connection, policy: FactorPolicy) -> DataTrail:
    imports, last = connection.execute(select(func.count(), func.max(import_batches.c.finished_at))).one()
    run = connection.execute(select(func.max(label_runs.c.id))).scalar()
    decisions = connection.execute(select(func.count()).select_from(label_decisions)).scalar_one()
    return DataTrail(int(imports), last, None if run is None else int(run), int(decisions), policy.name)


def disclosure_report(
    engine: Engine, year: int, *, actor: str | None = None, policy: FactorPolicy = DEFAULT_POLICY,
    store: bool = True,
) -> Document:  # fmt: skip
    """The JR/T 0227-2021 disclosure for ``year``: the year-end statistics (kept as a snapshot of
    kind 'disclosure' unless ``store`` is false, as for a read-only caller), the year's operations
    data and the data trail."""
    stats = _compute(engine, dt.date(year, 12, 31), policy)
    document = _disclosure_document(engine, year, stats, policy)
    if store:
        _store(engine, "disclosure", stats, current_actor(actor))
    return document


def _disclosure_document(engine: Engine, year: int, stats: Stats, policy: FactorPolicy) -> Document:
    """The disclosure built around ``stats``: shared by a new report and a stored one's file."""
    with engine.connect() as connection:
        pledged = connection.execute(
            select(pledges.c.instrument, func.count())
            .where(pledges.c.pledged_on.between(dt.date(year, 1, 1), dt.date(year, 12, 31)))
            .group_by(pledges.c.instrument)
        ).all()
        trail = _trail(connection, policy)
    return build_disclosure(
        year, stats, operations_for(engine, year), pledges={str(k): int(n) for k, n in pledged}, trail=trail
    )


# --- stored reports: listed, created, and their files ---------------------------------------------

REPORT_KINDS: Final = ("stats", "disclosure")
#: The formats each kind of report is rendered in (the CLI's and the pages' choices).
REPORT_FORMATS: Final = {"stats": ("xlsx", "csv", "html"), "disclosure": ("html", "xlsx", "pdf")}
MEDIA_TYPES: Final = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "html": "text/html; charset=utf-8",
    "pdf": "application/pdf",
    "csv": "application/zip",  # one CSV per table, sent as one ZIP
}


class ReportNotFound(LookupError):
    """No stored report has this id."""


class ReportStale(ValueError):
    """The book changed since the report was stored, so its file would not say what was reported."""


@dataclass(frozen=True, slots=True)
class StoredReport:
    """One stored report run (a ``report_snapshots`` row) with its headline figures."""

    id: int
    kind: str
    as_of: dt.date
    actor: str
    at: dt.datetime
    green_loans: int
    green_balance_fen: int


def _stored_report(row: Any) -> StoredReport:
    total = dict(dict(row["figures"]).get("figures", {})).get("total", {})
    balance = Decimal(str(total.get("balance_yuan", "0")))
    return StoredReport(
        int(row["id"]), row["kind"], row["as_of"], row["actor"], row["at"], int(total.get("loans", 0)),
        int(balance * 100),
    )  # fmt: skip


def list_reports(
    engine: Engine, *, kind: str | None = None, offset: int = 0, limit: int = 50
) -> tuple[list[StoredReport], int]:
    """The stored reports, newest first, one page of them, and how many there are."""
    query = select(report_snapshots)
    if kind is not None:
        query = query.where(report_snapshots.c.kind == kind)
    with engine.connect() as connection:
        total = connection.execute(select(func.count()).select_from(query.subquery())).scalar_one()
        rows = connection.execute(
            query.order_by(report_snapshots.c.id.desc()).limit(limit).offset(offset)
        ).mappings()
        return [_stored_report(r) for r in rows], int(total)


def get_report(engine: Engine, report_id: int) -> StoredReport:
    with engine.connect() as connection:
        row = connection.execute(
            select(report_snapshots).where(report_snapshots.c.id == report_id)
        ).mappings().first()  # fmt: skip
    if row is None:
        raise ReportNotFound(f"报表 {report_id} 不存在 / no such report")
    return _stored_report(row)


def create_report(
    engine: Engine, kind: str, as_of: dt.date, *, actor: str | None = None, policy: FactorPolicy = DEFAULT_POLICY
) -> StoredReport:  # fmt: skip
    """Compute a report and keep it (snapshot and audit record), as the CLI and the pages do.

    A disclosure is of a year: its figures are the year-end statistics, so ``as_of`` is moved to
    31 December of its year.
    """
    if kind not in REPORT_KINDS:
        raise ValueError(f"报表类型应为 {'、'.join(REPORT_KINDS)} / kind must be one of {REPORT_KINDS}")
    day = dt.date(as_of.year, 12, 31) if kind == "disclosure" else as_of
    snapshot_id = _store(engine, kind, _compute(engine, day, policy), current_actor(actor))
    return get_report(engine, snapshot_id)


def _comparable(figures: Any) -> str:
    """A stored report's own figures (not its comparisons, which follow later snapshots), as text."""
    data = json.loads(json.dumps(figures, default=str))
    return json.dumps({k: data.get(k) for k in ("as_of", "figures", "benefits")}, sort_keys=True)


def report_file(
    engine: Engine, report_id: int, fmt: str, *, policy: FactorPolicy = DEFAULT_POLICY
) -> tuple[bytes, str]:
    """The file of a stored report, rendered on request: its bytes and its file name.

    Only the figures are stored, so the report is computed again from the book and rendered only
    when its figures equal the stored ones (:class:`ReportStale` otherwise): the file then says
    exactly what was reported.  CSV is one file per table, so it comes as a ZIP.  A PDF needs a CJK
    font (:class:`~greenfin.reports.render.FontMissing`).
    """
    with engine.connect() as connection:
        row = connection.execute(
            select(report_snapshots).where(report_snapshots.c.id == report_id)
        ).mappings().first()  # fmt: skip
    if row is None:
        raise ReportNotFound(f"报表 {report_id} 不存在 / no such report")
    kind = str(row["kind"])
    if fmt not in REPORT_FORMATS.get(kind, ()):
        allowed = "、".join(REPORT_FORMATS.get(kind, ()))
        raise ValueError(f"{kind} 报表的格式应为 {allowed} / format must be one of {allowed}")
    stats = _compute(engine, row["as_of"], policy)
    if _comparable(stats.snapshot_json()) != _comparable(row["figures"]):
        raise ReportStale(
            f"报表 {report_id} 生成后台账已变化，请重新生成 / the book changed since report {report_id}; create it again"
        )
    document = (
        stats_document(stats) if kind == "stats" else _disclosure_document(engine, row["as_of"].year, stats, policy)
    )  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="greenfin-report-") as folder:
        paths = render(document, fmt, Path(folder))
        if fmt != "csv":
            return paths[0].read_bytes(), f"{paths[0].stem}_r{report_id}{paths[0].suffix}"
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in paths:
                archive.write(path, path.name)
        stem = paths[0].parent.name if paths else f"{kind}_{row['as_of'].isoformat()}"
        return buffer.getvalue(), f"{stem}_r{report_id}.zip"


@dataclass(frozen=True, slots=True)
class OperationsImport:
    rows: int
    inserted: int
    updated: int
    unchanged: int


def _issue(name: str, row: int, column: str, value: str, en: str, zh: str) -> ImportIssue:
    return ImportIssue(name, row, column, value, en, zh)


def _decode(path: Path, data: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise file_issue(
        path.name, "the file is neither UTF-8 nor GB18030 text", "文件不是 UTF-8 或 GB18030 编码的文本"
    )


def parse_operations(path: Path, data: bytes) -> list[dict[str, Any]]:
    """Validate every row of an operations CSV; all problems at once, each with its row number."""
    name = path.name
    reader = csv.reader(io.StringIO(_decode(path, data), newline=""))
    header = [h.strip().lower() for h in next(reader, [])]
    if tuple(header[: len(OPERATIONS_HEADER)]) != OPERATIONS_HEADER:
        raise file_issue(
            name,
            f"the header must be {','.join(OPERATIONS_HEADER)}; found {','.join(header) or 'nothing'}",
            f"表头应为 {','.join(OPERATIONS_HEADER)}，实为 {','.join(header) or '空'}",
        )
    issues: list[ImportIssue] = []
    records: list[dict[str, Any]] = []
    seen: dict[tuple[int, str], int] = {}
    for cells in reader:
        row = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        cells = [c.strip() for c in cells] + [""] * (len(OPERATIONS_HEADER) - len(cells))
        year_text, item, value_text, unit, source = cells[:5]
        found = len(issues)
        year = 0
        if not (year_text.isdigit() and 1990 <= int(year_text) <= 2100):
            issues.append(_issue(name, row, "year", year_text, "year must be a year between 1990 and 2100",
                                 "年份应为 1990 至 2100 之间的年份"))  # fmt: skip
        else:
            year = int(year_text)
        spec = OPERATIONS_ITEMS.get(item)
        if spec is None:
            issues.append(_issue(name, row, "item", item, f"unknown item; use one of {', '.join(OPERATIONS_ITEMS)}",
                                 f"未知项目，应为 {'、'.join(OPERATIONS_ITEMS)} 之一"))  # fmt: skip
        value = _value(value_text)
        if value is None:
            issues.append(_issue(name, row, "value", value_text,
                                 f"value must be a number ≥ 0 below 10^16 with at most {VALUE_PLACES} decimals",
                                 f"数值应为不小于 0、小于 10^16、最多 {VALUE_PLACES} 位小数的数字"))  # fmt: skip
        units = {u.lower(): u for u in spec[1]} if spec else {}
        if spec is not None and unit.lower() not in units:
            issues.append(_issue(name, row, "unit", unit, f"unit of {item} must be one of {', '.join(spec[1])}",
                                 f"{spec[0]}的单位应为 {'、'.join(spec[1])} 之一"))  # fmt: skip
        if len(source) > 1000:
            issues.append(_issue(name, row, "source", source[:40], "source is longer than 1000 characters",
                                 "数据来源超过 1000 个字符"))  # fmt: skip
        if len(issues) > found:
            continue
        key = (year, item)
        if key in seen:
            issues.append(_issue(name, row, "item", item, f"{year} {item} already given on row {seen[key]}",
                                 f"{year} 年 {item} 已在第 {seen[key]} 行给出"))  # fmt: skip
            continue
        seen[key] = row
        records.append({"year": year, "item": item, "value": value, "unit": units[unit.lower()],
                        "source": source or None, "row": row})  # fmt: skip
    if issues:
        raise ImportRejected(issues)
    if not records:
        raise file_issue(name, "the file has no data rows", "文件没有数据行")
    return records


def _value(text: str) -> Decimal | None:
    try:
        value = Decimal(text.replace(",", ""))
    except InvalidOperation:
        return None
    if not value.is_finite() or value < 0 or value >= VALUE_LIMIT:
        return None
    if value != value.quantize(Decimal(1).scaleb(-VALUE_PLACES)):  # finer than 4 decimals
        return None
    return value.normalize() if value == value.to_integral_value() else value


def import_operations(engine: Engine, path_csv: Path, *, actor: str | None = None) -> OperationsImport:
    """Import the bank's operations data (year,item,value,unit,source), all or nothing, audited.

    A row for a year and item already stored replaces it, and the audit log keeps the old and new
    values; an identical row changes nothing.
    """
    who = current_actor(actor)
    try:
        data = path_csv.read_bytes()
    except OSError as exc:
        raise file_issue(path_csv.name, f"cannot read the file: {exc}", f"无法读取文件：{exc}") from None
    records = parse_operations(path_csv, data)
    digest = hashlib.sha256(data).hexdigest()
    inserted = updated = unchanged = 0
    stamp = now()
    with engine.begin() as connection:
        for rec in records:
            key = (operations_data.c.year == rec["year"]) & (operations_data.c.item == rec["item"])
            old = connection.execute(select(operations_data).where(key)).mappings().first()
            values = {
                "value": rec["value"],
                "unit": rec["unit"],
                "source": rec["source"],
                "actor": who,
                "at": stamp,
            }
            if old is None:
                connection.execute(
                    insert(operations_data), {"year": rec["year"], "item": rec["item"], **values}
                )
                inserted += 1
                continue
            diff = _diff(old, rec)
            if not diff:
                unchanged += 1
                continue
            connection.execute(update(operations_data).where(key).values(**values))
            record(
                connection, actor=who, action="update", entity="operations_data",
                entity_id=f"{rec['year']}/{rec['item']}", detail={"row": rec["row"], "changes": diff},
                source_file=path_csv.name, source_sha256=digest,
            )  # fmt: skip
            updated += 1
        record(
            connection, actor=who, action="import", entity="operations_data", entity_id=None,
            detail={"rows_in_file": len(records), "inserted": inserted, "updated": updated, "unchanged": unchanged},
            source_file=path_csv.name, source_sha256=digest,
        )  # fmt: skip
    return OperationsImport(len(records), inserted, updated, unchanged)


def _diff(old: Any, new: dict[str, Any]) -> dict[str, dict[str, Any]]:
    changes: dict[str, dict[str, Any]] = {}
    if Decimal(str(old["value"])) != new["value"]:
        changes["value"] = {"old": str(Decimal(str(old["value"])).normalize()), "new": str(new["value"])}
    for field in ("unit", "source"):
        if old[field] != new[field]:
            changes[field] = {"old": old[field], "new": new[field]}
    return changes
