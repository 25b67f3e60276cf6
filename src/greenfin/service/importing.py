"""Importing loan-book files: all or nothing, idempotent, audited.

The import runs in one database transaction.  The checking half (``ingest.stage``: read,
validate, cross-check) streams chunks of validated records; this module writes them.  A big
import checks in a second process while this one writes (``ingest.worker``).  The first problem
found stops the writing but not the checking, so the user gets every problem of the files in one
report, and the transaction is rolled back: a rejected import leaves the store exactly as it was.

A row whose content equals what the store holds is left alone (a re-import changes nothing); a
changed row is updated and its old and new values are written to the audit log.

Loading a book into a SQLite store that holds no loans yet is a bulk load, done the way bulk
loads are done: the secondary indexes of the loans table are dropped and rebuilt once at the end,
and foreign keys are checked once for the whole load instead of row by row.  All of it happens inside the import's transaction, so a failure
leaves the store, schema included, as it was.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Table, bindparam, insert, select, update
from sqlalchemy.types import JSON, Date, Numeric

from greenfin.ingest.arrow_csv import ReaderDeclined
from greenfin.ingest.issues import ImportIssue, ImportRejected
from greenfin.ingest.rows import BORROWER_FIELDS, LOAN_FIELDS, PROJECT_FIELDS
from greenfin.ingest.stage import (
    MAX_REPORTED_ISSUES,
    Chunk,
    FileDone,
    ImportRequest,
    Located,
    Message,
    Opened,
    check_files,
    gc_paused,
)
from greenfin.ingest.worker import WORKER_MIN_BYTES, checked_in_worker
from greenfin.service import audit
from greenfin.store.schema import borrowers, import_batches, loans, projects

Progress = Callable[[int, int, int], None]  # bytes read, bytes in all, rows read
#: SQLite page cache for the import's connection (KiB): a million-loan book (about 400 MB) stays in
#: memory until the commit writes it once, instead of spilling pages to the log mid-way.
_IMPORT_CACHE_KIB = 1024 * 1024


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
    """The writing half of one import: what is wrong so far and what was written."""

    def __init__(self, connection: Connection, actor: str, batch_id: int, empty: dict[str, bool]) -> None:
        self.connection = connection
        self.actor = actor
        self.batch_id = batch_id
        self.issues: list[ImportIssue] = []
        self.issue_count = 0
        self.counts = {"borrower": TableCounts(), "project": TableCounts(), "loan": TableCounts()}
        # A table empty when the import began holds only what this import wrote, and this import
        # never writes a key twice: lookups in it can be skipped (the first load of a book).
        self.empty_at_start = empty
        self.bulk = empty.get("bulk", False)

    def problems(self, issues: list[ImportIssue], count: int) -> None:
        self.issue_count += count
        self.issues.extend(issues[: max(0, MAX_REPORTED_ISSUES - len(self.issues))])

    def write(self, file: str, sha256: str, chunk: Chunk) -> None:
        """Write one chunk: its new borrowers and projects, then its loans."""
        if self.issue_count:
            return
        self._upsert(_BORROWER, chunk.borrowers, file, sha256)
        self._upsert(_PROJECT, chunk.projects, file, sha256)
        self._check_loan_owners(chunk.loans, file)
        self._upsert(_LOAN, chunk.loans, file, sha256)

    def _check_loan_owners(self, rows: list[Located], file: str) -> None:
        if self.empty_at_start["loan"] or not rows:
            return
        owners = dict(
            self.connection.execute(
                select(loans.c.loan_id, loans.c.borrower_credit_code).where(
                    loans.c.loan_id.in_([loan[0] for _line, loan in rows])
                )
            ).all()
        )
        found = []
        for line, loan in rows:
            loan_id, borrower = loan[0], loan[1]
            owner = owners.get(loan_id)
            if owner is not None and owner != borrower:
                found.append(
                    ImportIssue(
                        file, line, "统一社会信用代码 (borrower_credit_code)", borrower,
                        f"loan {loan_id} is already held in the store for borrower {owner}",
                        f"贷款 {loan_id} 在库中属于借款人 {owner}，不能改属其他借款人",
                    )
                )  # fmt: skip
        self.problems(found, len(found))

    def _upsert(self, entity: _Entity, rows: list[Located], file: str, sha256: str) -> None:
        if not rows or self.issue_count:
            return
        counts = self.counts[entity.name]
        if self.empty_at_start[entity.name]:
            new = [(*row, self.batch_id) for _line, row in rows]
            changed: list[Located] = []
        else:
            key_column = entity.table.c[entity.key]
            query = select(key_column, entity.table.c.row_hash).where(
                key_column.in_([r[0] for _l, r in rows])
            )
            stored: dict[str, str] = dict(self.connection.execute(query).all())
            new = [(*row, self.batch_id) for _line, row in rows if row[0] not in stored]
            changed = [(line, row) for line, row in rows if stored.get(row[0], row[-1]) != row[-1]]
        counts.unchanged += len(rows) - len(new) - len(changed)
        if new:
            new.sort()  # in key order, each B-tree page is filled once
            _bulk_insert(self.connection, entity.table, (*entity.columns, "created_batch"), new)
            counts.inserted += len(new)
        if changed:
            self._update(entity, changed, file, sha256)
            counts.updated += len(changed)

    def _update(self, entity: _Entity, changed: list[Located], file: str, sha256: str) -> None:
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
            values = {
                name: _typed(entity.table, name, value)
                for name, value in zip(entity.columns, row, strict=True)
            }
            values["updated_batch"] = self.batch_id
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
                    "source_file": file,
                    "source_sha256": sha256,
                    "detail": audit.jsonable({"line": line, "changes": changes}),
                }
            )
        self.connection.execute(statement, params)
        audit.record_many(self.connection, trail)


def _typed(table: Table, name: str, value: Any) -> Any:
    """A stored value (ISO date, decimal or JSON text) as the column's Python type."""
    if value is None:
        return None
    kind = table.c[name].type
    if isinstance(kind, Date):
        return dt.date.fromisoformat(value)
    if isinstance(kind, Numeric) and not isinstance(value, int):
        return Decimal(value)
    if isinstance(kind, JSON):
        return json.loads(value)
    return value


def _bulk_insert(
    connection: Connection, table: Table, columns: Sequence[str], rows: list[tuple[Any, ...]]
) -> None:
    """Insert many rows through the driver's own executemany.

    The records are already in the form both drivers take (text, integers, booleans: see
    ``ingest.columns``), so SQLAlchemy's per-row parameter processing, which costs more than
    SQLite's own insert, is skipped.
    """
    mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))})"
    connection.exec_driver_sql(sql, rows)


def _differs(old: Any, new: Any) -> bool:
    """Whether a stored value and a new one differ (SQLite hands NUMERIC back as a float)."""
    if old is None or new is None:
        return old is not new
    if isinstance(new, Decimal) and isinstance(old, Decimal | float | int):
        return Decimal(str(old)) != new
    return bool(old != new)


def import_files(
    engine: Engine,
    paths: Sequence[Path],
    *,
    actor: str | None = None,
    encoding: str | None = None,
    sheet: str | None = None,
    progress: Progress | None = None,
    worker: bool | None = None,
) -> ImportSummary:
    """Import loan-book files in one transaction; raise :class:`ImportRejected` on any problem.

    ``worker`` chooses whether the checking runs in a second process; by default it does for
    inputs of 16 MiB and more.
    """
    request = ImportRequest(tuple(Path(p) for p in paths), encoding, sheet)
    if worker is None:
        worker = sum(p.stat().st_size for p in request.paths if p.is_file()) >= WORKER_MIN_BYTES
    who = audit.current_actor(actor)
    try:
        return _import(engine, request, who, progress, worker)
    except ReaderDeclined:  # a file the columnar reader cannot number: read every file row by row
        plain = ImportRequest(request.paths, encoding, sheet, columnar=False)
        return _import(engine, plain, who, progress, worker)


def _import(
    engine: Engine, request: ImportRequest, who: str, progress: Progress | None, worker: bool
) -> ImportSummary:
    messages: Iterator[Message] = checked_in_worker(request) if worker else check_files(request)
    try:
        opened = next(messages)
        assert isinstance(opened, Opened)
        with (
            gc_paused(),
            engine.connect() as connection,
            _bulk_load(connection) as empty,
            connection.begin(),
        ):
            run, notes = _write_all(connection, who, opened, messages, empty, progress)
            if run.issue_count:  # leaving the block by an exception rolls everything back
                raise ImportRejected(run.issues, run.issue_count)
            if run.bulk:
                _finish_bulk_load(connection)
    finally:
        close = getattr(messages, "close", None)
        if close is not None:
            close()
    return ImportSummary(
        run.batch_id,
        notes,
        sum(note["rows"] for note in notes),
        run.counts["loan"],
        run.counts["borrower"],
        run.counts["project"],
        opened.ignored,
    )


def _write_all(
    connection: Connection,
    who: str,
    opened: Opened,
    messages: Iterator[Message],
    empty: dict[str, bool],
    progress: Progress | None,
) -> tuple[_Run, list[dict[str, Any]]]:
    started = audit.now()
    batch_id = connection.execute(
        insert(import_batches).returning(import_batches.c.id),
        {"started_at": started, "finished_at": started, "actor": who, "files": [],
         "rows": 0, "inserted": 0, "updated": 0, "unchanged": 0},
    ).scalar_one()  # fmt: skip
    run = _Run(connection, who, batch_id, empty)
    if run.bulk:  # after the first insert, so inside the transaction the driver has begun
        for index in loans.indexes:
            index.drop(connection)
    files = opened.files
    total_bytes = sum(f.size for f in files)
    done_bytes = [sum(f.size for f in files[:i]) for i in range(len(files))]
    rows_read = 0
    notes: list[dict[str, Any]] = []
    for message in messages:
        if isinstance(message, Chunk):
            info = files[message.file]
            run.problems(message.issues, message.issue_count)
            run.write(info.name, info.sha256, message)
            rows_read += message.rows
            if progress:
                progress(done_bytes[message.file] + message.position, total_bytes, rows_read)
        elif isinstance(message, FileDone):
            info = files[message.file]
            notes.append(
                {"name": info.name, "sha256": info.sha256, "rows": message.rows,
                 "kind": info.kind, "encoding": info.encoding}
            )  # fmt: skip
    if run.issue_count:
        return run, notes
    loan_counts = run.counts["loan"]
    connection.execute(
        update(import_batches).where(import_batches.c.id == batch_id).values(
            finished_at=audit.now(), files=notes, rows=rows_read,
            inserted=loan_counts.inserted, updated=loan_counts.updated, unchanged=loan_counts.unchanged,
        )
    )  # fmt: skip
    for note in notes:
        audit.record(
            connection, actor=who, action="import", entity="loan_book", batch_id=batch_id,
            source_file=note["name"], source_sha256=note["sha256"],
            detail={"rows_in_file": note["rows"], "batch_counts": {k: vars(c) for k, c in run.counts.items()}},
        )  # fmt: skip
    return run, notes


def _finish_bulk_load(connection: Connection) -> None:
    """Rebuild the loans indexes and check the loans' references to borrowers and projects.

    Borrowers and projects refer only to this import's batch, written first; the loans are the
    rows whose references a load could get wrong, so they are the ones checked.
    """
    for index in loans.indexes:
        index.create(connection)
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check(loans)").first()
    if broken is not None:
        raise RuntimeError(f"bulk load left a dangling reference in loans: {tuple(broken)}")


class _bulk_load:  # noqa: N801 - used as a context manager, named like one
    """Which tables are empty; on SQLite with no loans yet, set up a bulk load.

    Foreign-key enforcement can only be switched outside a transaction, so it is switched here,
    before the import's transaction begins, and always switched back, as is the page cache.
    """

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.sqlite = connection.dialect.name == "sqlite"
        self.cache: int | None = None
        self.empty: dict[str, bool] = {}

    def __enter__(self) -> dict[str, bool]:
        connection = self.connection
        for entity in (_BORROWER, _PROJECT, _LOAN):
            query = select(entity.table.c[entity.key]).limit(1)
            self.empty[entity.name] = connection.execute(query).first() is None
        connection.commit()
        if self.sqlite:
            self.cache = connection.exec_driver_sql("PRAGMA cache_size").scalar_one()
            connection.exec_driver_sql(f"PRAGMA cache_size=-{_IMPORT_CACHE_KIB}")
            if self.empty["loan"]:
                self.empty["bulk"] = True
                connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        return self.empty

    def __exit__(self, *exc: object) -> None:
        if self.sqlite:
            if self.connection.in_transaction():
                self.connection.rollback()
            self.connection.exec_driver_sql("PRAGMA foreign_keys=ON")
            self.connection.exec_driver_sql(f"PRAGMA cache_size={self.cache}")
            self.connection.commit()
