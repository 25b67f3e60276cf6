"""Importing loan-book files: all or nothing, idempotent, audited.

The import runs in one database transaction.  Rows are validated and written in chunks so that
a file of millions of rows streams in bounded memory; the first problem found stops the writing
but not the checking, so the user gets every problem of the file in one report, and the
transaction is rolled back: a rejected import leaves the store exactly as it was.

A row whose content equals what the store holds is left alone (a re-import changes nothing); a
changed row is updated and its old and new values are written to the audit log.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import islice
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Table, bindparam, insert, select, update
from sqlalchemy.types import JSON, Boolean, Date, Numeric

from greenfin.ingest.issues import ImportIssue, ImportRejected
from greenfin.ingest.readers import SourceFile, open_source
from greenfin.ingest.rows import BORROWER_FIELDS, LOAN_FIELDS, PROJECT_FIELDS, RowRecords, RowValidator
from greenfin.service import audit
from greenfin.store.schema import borrowers, import_batches, loans, projects

CHUNK_ROWS = 5_000
MAX_REPORTED_ISSUES = 500

Progress = Callable[[int, int, int], None]  # bytes read, bytes in all, rows read


@dataclass
class TableCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0


@dataclass
class ImportSummary:
    """What an accepted import did."""

    batch_id: int
    files: list[dict[str, Any]]
    rows: int
    loans: TableCounts = field(default_factory=TableCounts)
    borrowers: TableCounts = field(default_factory=TableCounts)
    projects: TableCounts = field(default_factory=TableCounts)
    ignored_columns: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Entity:
    """How one kind of record is keyed and stored."""

    name: str
    table: Table
    key: str
    fields: tuple[str, ...]

    @property
    def columns(self) -> tuple[str, ...]:
        """The stored columns of a record tuple: its fields and the content hash."""
        return (*self.fields, "row_hash")


_BORROWER = _Entity("borrower", borrowers, "credit_code", BORROWER_FIELDS)
_PROJECT = _Entity("project", projects, "project_id", PROJECT_FIELDS)
_LOAN = _Entity("loan", loans, "loan_id", LOAN_FIELDS)


class _Run:
    """The state of one import: what has been seen, what is wrong, what was written."""

    def __init__(self, connection: Connection, actor: str, batch_id: int) -> None:
        self.connection = connection
        self.actor = actor
        self.batch_id = batch_id
        self.issues: list[ImportIssue] = []
        self.issue_count = 0
        # key -> (row hash, file, line) of the first occurrence in this import
        self.seen: dict[str, dict[str, tuple[str, str, int]]] = {
            "borrower": {},
            "project": {},
            "loan": {},
        }
        self.counts = {"borrower": TableCounts(), "project": TableCounts(), "loan": TableCounts()}
        # A table empty when the import began holds only what this import wrote, and this import
        # never writes a key twice: lookups in it can be skipped (the first load of a book).
        self.empty_at_start = {
            entity.name: connection.execute(select(entity.table.c[entity.key]).limit(1)).first() is None
            for entity in (_BORROWER, _PROJECT, _LOAN)
        }

    def problem(self, issue: ImportIssue) -> None:
        self.issue_count += 1
        if len(self.issues) < MAX_REPORTED_ISSUES:
            self.issues.append(issue)

    def check_repeats(self, source: SourceFile, records: list[RowRecords]) -> list[RowRecords]:
        """Refuse a loan id seen before in this import; refuse conflicting borrower/project data."""
        accepted = []
        for rec in records:
            ok = True
            loan_id = rec.loan[0]
            first = self.seen["loan"].get(loan_id)
            if first is not None:
                ok = False
                self.problem(
                    ImportIssue(
                        source.name, rec.line, "贷款编号 (loan_id)", loan_id,
                        f"loan id {loan_id!r} already appears in {first[1]} row {first[2]}",
                        f"贷款编号 {loan_id!r} 与 {first[1]} 第 {first[2]} 行重复",
                    )
                )  # fmt: skip
            else:
                self.seen["loan"][loan_id] = (rec.loan[-1], source.name, rec.line)
            for entity, data in (("borrower", rec.borrower), ("project", rec.project)):
                if data is None:
                    continue
                key = data[0]
                earlier = self.seen[entity].get(key)
                if earlier is None:
                    self.seen[entity][key] = (data[-1], source.name, rec.line)
                elif earlier[0] != data[-1]:
                    ok = False
                    what_zh = "借款人" if entity == "borrower" else "项目"
                    self.problem(
                        ImportIssue(
                            source.name, rec.line, None, key,
                            f"{entity} {key} is described differently here than in {earlier[1]} row {earlier[2]}",
                            f"{what_zh} {key} 的信息与 {earlier[1]} 第 {earlier[2]} 行不一致",
                        )
                    )  # fmt: skip
            if ok:
                accepted.append(rec)
        return accepted

    def write(self, source: SourceFile, records: list[RowRecords]) -> None:
        """Write one chunk: first-seen borrowers and projects, then the loans."""
        borrower_rows = _first_seen(
            self.seen["borrower"], source.name, ((r.line, r.borrower) for r in records)
        )
        project_rows = _first_seen(self.seen["project"], source.name, ((r.line, r.project) for r in records))
        self._upsert(_BORROWER, borrower_rows, source)
        self._upsert(_PROJECT, project_rows, source)
        self._check_loan_owners(records, source)
        if self.issue_count == 0:
            self._upsert(_LOAN, [(r.line, r.loan) for r in records], source)

    def _check_loan_owners(self, records: list[RowRecords], source: SourceFile) -> None:
        if self.empty_at_start["loan"]:
            return
        ids = [r.loan[0] for r in records]
        owners = dict(
            self.connection.execute(
                select(loans.c.loan_id, loans.c.borrower_credit_code).where(loans.c.loan_id.in_(ids))
            ).all()
        )
        if not owners:
            return
        for rec in records:
            loan_id, borrower = rec.loan[0], rec.loan[1]
            owner = owners.get(loan_id)
            if owner is not None and owner != borrower:
                self.problem(
                    ImportIssue(
                        source.name, rec.line, "统一社会信用代码 (borrower_credit_code)", borrower,
                        f"loan {loan_id} is already held in the store for borrower {owner}",
                        f"贷款 {loan_id} 在库中属于借款人 {owner}，不能改属其他借款人",
                    )
                )  # fmt: skip

    def _upsert(self, entity: _Entity, rows: list[tuple[int, tuple[Any, ...]]], source: SourceFile) -> None:
        if not rows or self.issue_count:
            return
        key_column = entity.table.c[entity.key]
        stored: dict[str, str] = {}
        if not self.empty_at_start[entity.name]:
            keys = [row[0] for _l, row in rows]
            query = select(key_column, entity.table.c.row_hash).where(key_column.in_(keys))
            stored = dict(self.connection.execute(query).all())
        counts = self.counts[entity.name]
        new = [row for _line, row in rows if row[0] not in stored]
        changed = [(line, row) for line, row in rows if stored.get(row[0], row[-1]) != row[-1]]
        counts.unchanged += len(rows) - len(new) - len(changed)
        if new:
            _bulk_insert(
                self.connection,
                entity.table,
                (*entity.columns, "created_batch"),
                [(*row, self.batch_id) for row in new],
            )
            counts.inserted += len(new)
        if changed:
            self._update(entity, changed, source)
            counts.updated += len(changed)

    def _update(
        self, entity: _Entity, changed: list[tuple[int, tuple[Any, ...]]], source: SourceFile
    ) -> None:
        key_column = entity.table.c[entity.key]
        columns = [name for name in (*entity.columns, "updated_batch") if name != entity.key]
        old_rows = {
            row._mapping[entity.key]: row._mapping
            for row in self.connection.execute(
                select(entity.table).where(key_column.in_([r[0] for _l, r in changed]))
            )
        }
        statement = (
            update(entity.table)
            .where(key_column == bindparam("_key"))
            .values({name: bindparam(f"v_{name}") for name in columns})
        )
        params = []
        trail = []
        for line, row in changed:
            values = {**dict(zip(entity.columns, row, strict=True)), "updated_batch": self.batch_id}
            params.append({"_key": row[0], **{f"v_{name}": values[name] for name in columns}})
            old = old_rows[row[0]]
            changes = {
                name: {"old": old[name], "new": values[name]}
                for name in entity.fields
                if _differs(old[name], values[name])
            }
            trail.append(
                {
                    "actor": self.actor,
                    "action": "update",
                    "entity": entity.name,
                    "entity_id": row[0],
                    "batch_id": self.batch_id,
                    "source_file": source.name,
                    "source_sha256": source.sha256,
                    "detail": audit.jsonable({"line": line, "changes": changes}),
                }
            )
        self.connection.execute(statement, params)
        audit.record_many(self.connection, trail)


def _bulk_insert(
    connection: Connection, table: Table, columns: Sequence[str], rows: list[tuple[Any, ...]]
) -> None:
    """Insert many rows through the driver's own executemany.

    SQLAlchemy's per-row parameter processing costs more than SQLite's own insert; for the
    bulk path the few conversions the driver cannot do (dates, Decimals and booleans for SQLite,
    JSON for both) are done here, column by column, and the statement goes to the driver.
    """
    sqlite = connection.dialect.name == "sqlite"
    converters: list[tuple[int, Callable[[Any], Any]]] = []
    for index, name in enumerate(columns):
        kind = table.c[name].type
        if isinstance(kind, JSON):
            converters.append((index, _json_text))
        elif sqlite and isinstance(kind, Date):
            converters.append((index, dt.date.isoformat))
        elif sqlite and isinstance(kind, Numeric):
            converters.append((index, str))
        elif sqlite and isinstance(kind, Boolean):
            converters.append((index, int))
    if converters:
        converted = []
        for row in rows:
            values = list(row)
            for index, convert in converters:
                value = values[index]
                if value is not None:
                    values[index] = convert(value)
            converted.append(tuple(values))
        rows = converted
    mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))})"
    connection.exec_driver_sql(sql, rows)


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _differs(old: Any, new: Any) -> bool:
    """Whether a stored value and a new one differ (SQLite hands NUMERIC back as a float)."""
    if old is None or new is None:
        return old is not new
    if isinstance(new, Decimal) and isinstance(old, Decimal | float | int):
        return Decimal(str(old)) != new
    return bool(old != new)


def _first_seen(
    seen: dict[str, tuple[str, str, int]], file: str, rows: Iterable[tuple[int, tuple[Any, ...] | None]]
) -> list[tuple[int, tuple[Any, ...]]]:
    """Rows that are the first occurrence of their key in this import (others repeat them)."""
    result = []
    for line, row in rows:
        if row is None:
            continue
        first = seen.get(row[0])
        if first is not None and first[2] == line and first[1] == file:
            result.append((line, row))
    return result


def _chunks(rows: Iterator[tuple[int, list[Any]]], size: int) -> Iterator[list[tuple[int, list[Any]]]]:
    while chunk := list(islice(rows, size)):
        yield chunk


def import_files(
    engine: Engine,
    paths: Sequence[Path],
    *,
    actor: str | None = None,
    encoding: str | None = None,
    sheet: str | None = None,
    progress: Progress | None = None,
) -> ImportSummary:
    """Import loan-book files in one transaction; raise :class:`ImportRejected` on any problem."""
    who = audit.current_actor(actor)
    sources: list[SourceFile] = []
    issues: list[ImportIssue] = []
    for path in paths:
        try:
            sources.append(open_source(Path(path), encoding, sheet))
        except ImportRejected as rejected:
            issues.extend(rejected.issues)
    validators = [RowValidator(s.name, s.header) for s in sources]
    for validator in validators:
        issues.extend(validator.header_issues)
    if issues:
        raise ImportRejected(issues)

    total_bytes = sum(s.size for s in sources)
    done_bytes = 0
    started = audit.now()
    with engine.begin() as connection:
        batch_id = connection.execute(
            insert(import_batches).returning(import_batches.c.id),
            {"started_at": started, "finished_at": started, "actor": who, "files": [],
             "rows": 0, "inserted": 0, "updated": 0, "unchanged": 0},
        ).scalar_one()  # fmt: skip
        run = _Run(connection, who, batch_id)
        file_notes: list[dict[str, Any]] = []
        rows_read = 0
        for source, validator in zip(sources, validators, strict=True):
            file_rows = 0
            try:
                for chunk in _chunks(source.rows, CHUNK_ROWS):
                    records, problems = validator.validate_chunk(chunk)
                    for problem in problems:
                        run.problem(problem)
                    records = run.check_repeats(source, records)
                    if run.issue_count == 0:
                        run.write(source, records)
                    file_rows += len(chunk)
                    if progress:
                        progress(
                            done_bytes + source.position(),
                            total_bytes,
                            rows_read + file_rows,
                        )
            except ImportRejected as rejected:  # the file broke off mid-way (decoding, damage)
                for problem in rejected.issues:
                    run.problem(problem)
            if file_rows == 0 and run.issue_count == 0:
                run.problem(
                    ImportIssue(
                        source.name,
                        None,
                        None,
                        None,
                        "the file has a header but no rows",
                        "文件只有表头，没有数据行",
                    )
                )
            rows_read += file_rows
            done_bytes += source.size
            file_notes.append(
                {
                    "name": source.name,
                    "sha256": source.sha256,
                    "rows": file_rows,
                    "kind": source.kind,
                    "encoding": source.encoding,
                }
            )
        if run.issue_count:  # leaving the block by an exception rolls everything back
            raise ImportRejected(run.issues, run.issue_count)
        loan_counts = run.counts["loan"]
        connection.execute(
            update(import_batches).where(import_batches.c.id == batch_id).values(
                finished_at=audit.now(), files=file_notes, rows=rows_read,
                inserted=loan_counts.inserted, updated=loan_counts.updated, unchanged=loan_counts.unchanged,
            )
        )  # fmt: skip
        for note in file_notes:
            audit.record(
                connection, actor=who, action="import", entity="loan_book", batch_id=batch_id,
                source_file=note["name"], source_sha256=note["sha256"],
                detail={"rows_in_file": note["rows"], "batch_counts": {k: vars(c) for k, c in run.counts.items()}},
            )  # fmt: skip
    return ImportSummary(
        batch_id,
        file_notes,
        rows_read,
        run.counts["loan"],
        run.counts["borrower"],
        run.counts["project"],
        {s.name: v.ignored for s, v in zip(sources, validators, strict=True) if v.ignored},
    )
