"""Importing loan-book files: all or nothing, idempotent, audited.

The import runs in one database transaction.  Rows are validated and written in chunks so that
a file of millions of rows streams in bounded memory; the first problem found stops the writing
but not the checking, so the user gets every problem of the file in one report, and the
transaction is rolled back: a rejected import leaves the store exactly as it was.

A row whose content equals what the store holds is left alone (a re-import changes nothing); a
changed row is updated and its old and new values are written to the audit log.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Table, bindparam, insert, select, update

from greenfin.ingest.issues import ImportIssue, ImportRejected
from greenfin.ingest.readers import SourceFile, open_source
from greenfin.ingest.rows import (
    BORROWER_FIELDS,
    LOAN_FIELDS,
    PROJECT_FIELDS,
    Record,
    RowRecords,
    RowValidator,
)
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


@dataclass(frozen=True, slots=True)
class _Entity:
    """How one kind of record is keyed and stored."""

    name: str
    table: Table
    key: str
    fields: tuple[str, ...]


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
        self.counts = {
            "borrower": TableCounts(),
            "project": TableCounts(),
            "loan": TableCounts(),
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
            loan_id = rec.loan["loan_id"]
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
                self.seen["loan"][loan_id] = (
                    rec.loan["row_hash"],
                    source.name,
                    rec.line,
                )
            for entity, data in (("borrower", rec.borrower), ("project", rec.project)):
                if data is None:
                    continue
                key = data["credit_code" if entity == "borrower" else "project_id"]
                earlier = self.seen[entity].get(key)
                if earlier is None:
                    self.seen[entity][key] = (data["row_hash"], source.name, rec.line)
                elif earlier[0] != data["row_hash"]:
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
            self.seen["borrower"],
            source.name,
            ((r.line, r.borrower) for r in records),
            "credit_code",
        )
        project_rows = _first_seen(self.seen["project"], source.name, ((r.line, r.project) for r in records if r.project), "project_id")  # fmt: skip
        self._upsert(_BORROWER, borrower_rows, source)
        self._upsert(_PROJECT, project_rows, source)
        self._check_loan_owners(records, source)
        if self.issue_count == 0:
            self._upsert(_LOAN, [(r.line, r.loan) for r in records], source)

    def _check_loan_owners(self, records: list[RowRecords], source: SourceFile) -> None:
        ids = [r.loan["loan_id"] for r in records]
        owners = dict(
            self.connection.execute(
                select(loans.c.loan_id, loans.c.borrower_credit_code).where(loans.c.loan_id.in_(ids))
            ).all()
        )
        for rec in records:
            owner = owners.get(rec.loan["loan_id"])
            if owner is not None and owner != rec.loan["borrower_credit_code"]:
                self.problem(
                    ImportIssue(
                        source.name, rec.line, "统一社会信用代码 (borrower_credit_code)",
                        rec.loan["borrower_credit_code"],
                        f"loan {rec.loan['loan_id']} is already held in the store for borrower {owner}",
                        f"贷款 {rec.loan['loan_id']} 在库中属于借款人 {owner}，不能改属其他借款人",
                    )
                )  # fmt: skip

    def _upsert(self, entity: _Entity, rows: list[tuple[int, Record]], source: SourceFile) -> None:
        if not rows or self.issue_count:
            return
        key_column = entity.table.c[entity.key]
        keys = [row[entity.key] for _line, row in rows]
        stored = dict(
            self.connection.execute(
                select(key_column, entity.table.c.row_hash).where(key_column.in_(keys))
            ).all()
        )
        counts = self.counts[entity.name]
        new = [row for _line, row in rows if row[entity.key] not in stored]
        changed = [
            (line, row)
            for line, row in rows
            if stored.get(row[entity.key], row["row_hash"]) != row["row_hash"]
        ]
        counts.unchanged += len(rows) - len(new) - len(changed)
        if new:
            batch = {"created_batch": self.batch_id, "updated_batch": None}
            self.connection.execute(insert(entity.table), [{**row, **batch} for row in new])
            counts.inserted += len(new)
        if changed:
            self._update(entity, changed, source)
            counts.updated += len(changed)

    def _update(self, entity: _Entity, changed: list[tuple[int, Record]], source: SourceFile) -> None:
        key_column = entity.table.c[entity.key]
        columns = [name for name in (*entity.fields, "row_hash", "updated_batch") if name != entity.key]
        old_rows = {
            row._mapping[entity.key]: row._mapping
            for row in self.connection.execute(
                select(entity.table).where(key_column.in_([r[entity.key] for _l, r in changed]))
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
            values = {**row, "updated_batch": self.batch_id}
            params.append(
                {
                    "_key": row[entity.key],
                    **{f"v_{name}": values[name] for name in columns},
                }
            )
            old = old_rows[row[entity.key]]
            changes = {
                name: {"old": old[name], "new": row[name]}
                for name in entity.fields
                if _differs(old[name], row[name])
            }
            trail.append(
                {
                    "actor": self.actor,
                    "action": "update",
                    "entity": entity.name,
                    "entity_id": row[entity.key],
                    "batch_id": self.batch_id,
                    "source_file": source.name,
                    "source_sha256": source.sha256,
                    "detail": audit.jsonable({"line": line, "changes": changes}),
                }
            )
        self.connection.execute(statement, params)
        audit.record_many(self.connection, trail)


def _differs(old: Any, new: Any) -> bool:
    if old is None or new is None:
        return old is not new
    try:
        return bool(old != new) and float(old) != float(new)
    except (TypeError, ValueError):
        return bool(old != new)


def _first_seen(
    seen: dict[str, tuple[str, str, int]],
    file: str,
    rows: Iterable[tuple[int, Record | None]],
    key: str,
) -> list[tuple[int, Record]]:
    """Rows that are the first occurrence of their key in this import (others repeat them)."""
    result = []
    for line, row in rows:
        if row is None:
            continue
        first = seen.get(row[key])
        if first is not None and first[1] == file and first[2] == line:
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
                    records = []
                    for line, cells in chunk:
                        rec, problems = validator.validate(line, cells)
                        if rec is not None:
                            records.append(rec)
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
                detail={"rows": note["rows"], **{k: vars(c) for k, c in run.counts.items()}},
            )  # fmt: skip
    return ImportSummary(
        batch_id,
        file_notes,
        rows_read,
        run.counts["loan"],
        run.counts["borrower"],
        run.counts["project"],
    )
