"""The checking half of an import: files in, validated records out, no database.

Reading, validating and cross-checking rows (a loan id twice, a borrower described two ways)
needs nothing from the store, so it is kept apart from writing.  A big import runs this half in a
second process (see ``worker``) while the first one writes; a small one runs both in one.

Each file is read by the columnar reader when it can be numbered line by line, else row by row;
``columnar=False`` forces the row reader (the import falls back to it when the columnar reader
declines a file part way).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import islice, repeat
from pathlib import Path
from typing import Any

from greenfin.ingest.arrow_csv import columnar_readable, read_batches
from greenfin.ingest.issues import ImportIssue, ImportRejected
from greenfin.ingest.readers import SourceFile, open_source
from greenfin.ingest.rows import RowValidator, ValidRows

CHUNK_ROWS = 5_000
MAX_REPORTED_ISSUES = 500

Located = tuple[int, tuple[Any, ...]]  # (line, stored record)


@dataclass(frozen=True)
class FileInfo:
    """What the audit trail keeps of an input file."""

    name: str
    sha256: str
    size: int
    kind: str
    encoding: str | None


@dataclass
class Opened:
    """Every file opened and its header understood: writing may begin."""

    files: list[FileInfo]
    ignored: dict[str, list[str]]


@dataclass
class Chunk:
    """Validated records of consecutive rows of one file, each record new to this import."""

    file: int
    rows: int
    position: int
    borrowers: list[Located] = field(default_factory=list)
    projects: list[Located] = field(default_factory=list)
    loans: list[Located] = field(default_factory=list)
    issues: list[ImportIssue] = field(default_factory=list)
    issue_count: int = 0


@dataclass
class FileDone:
    """The end of a file: the rows it held."""

    file: int
    rows: int


Message = Opened | Chunk | FileDone


@dataclass(frozen=True)
class ImportRequest:
    """What to import, as the checking half needs it (picklable, for the worker)."""

    paths: tuple[Path, ...]
    encoding: str | None = None
    sheet: str | None = None
    columnar: bool = True


class _Repeats:
    """What this import has seen: a loan id may come once, a borrower or project one way only."""

    def __init__(self) -> None:
        # loan id -> (file, line); borrower or project key -> (row hash, file, line): the first
        # occurrence in this import, which messages about a repeat point to.
        self.loans: dict[str, tuple[str, int]] = {}
        self.borrowers: dict[str, tuple[str, str, int]] = {}
        self.projects: dict[str, tuple[str, str, int]] = {}

    def sort(self, file: str, valid: ValidRows, chunk: Chunk, issues: list[ImportIssue]) -> None:
        """Put each acceptable record into the chunk, once; say what repeats or conflicts.

        Most chunks repeat nothing: that is established with set operations over the whole
        chunk.  A chunk where something does repeat is gone through row by row, which is also
        what says where.
        """
        if not self._sort_clean(file, valid, chunk):
            self._sort_rows(file, valid, chunk, issues)

    def _sort_clean(self, file: str, valid: ValidRows, chunk: Chunk) -> bool:
        ids = [loan[0] for loan in valid.loans]
        if len(set(ids)) != len(ids) or not self.loans.keys().isdisjoint(ids):
            return False
        firsts = []
        for seen, records in ((self.borrowers, valid.borrowers), (self.projects, valid.projects)):
            first: dict[str, int] = {}
            digests: dict[str, str] = {}
            for pos, record in enumerate(records):
                if record is None:
                    continue
                key, digest = record[0], record[-1]
                if key not in first:
                    first[key] = pos
                    digests[key] = digest
                    earlier = seen.get(key)
                    if earlier is not None and earlier[0] != digest:
                        return False
                elif digests[key] != digest:
                    return False
            firsts.append((seen, records, first))
        lines = valid.lines
        for seen, records, first in firsts:
            target = chunk.borrowers if seen is self.borrowers else chunk.projects
            for key, pos in first.items():
                if key not in seen:
                    record = records[pos]
                    assert record is not None
                    seen[key] = (record[-1], file, lines[pos])
                    target.append((lines[pos], record))
        self.loans.update(zip(ids, zip(repeat(file), lines), strict=False))
        chunk.loans.extend(zip(lines, valid.loans, strict=True))
        return True

    def _sort_rows(self, file: str, valid: ValidRows, chunk: Chunk, issues: list[ImportIssue]) -> None:
        seen_loans, seen_borrowers, seen_projects = self.loans, self.borrowers, self.projects
        for line, borrower, project, loan in zip(
            valid.lines, valid.borrowers, valid.projects, valid.loans, strict=True
        ):
            loan_id = loan[0]
            first = seen_loans.get(loan_id)
            if first is not None:
                issues.append(
                    ImportIssue(
                        file, line, "贷款编号 (loan_id)", loan_id,
                        f"loan id {loan_id!r} already appears in {first[0]} row {first[1]}",
                        f"贷款编号 {loan_id!r} 与 {first[0]} 第 {first[1]} 行重复",
                    )
                )  # fmt: skip
                continue
            seen_loans[loan_id] = (file, line)
            new: list[tuple[list[Located], tuple[Any, ...]]] = []
            ok = True
            for kind, seen, data, target in (
                ("borrower", seen_borrowers, borrower, chunk.borrowers),
                ("project", seen_projects, project, chunk.projects),
            ):
                if data is None:
                    continue
                earlier = seen.get(data[0])
                if earlier is None:
                    seen[data[0]] = (data[-1], file, line)
                    new.append((target, data))
                elif earlier[0] != data[-1]:
                    ok = False
                    what_zh = "借款人" if kind == "borrower" else "项目"
                    issues.append(
                        ImportIssue(
                            file, line, None, data[0],
                            f"{kind} {data[0]} is described differently here than in {earlier[1]} row {earlier[2]}",
                            f"{what_zh} {data[0]} 的信息与 {earlier[1]} 第 {earlier[2]} 行不一致",
                        )
                    )  # fmt: skip
            if ok:
                for target, data in new:
                    target.append((line, data))
                chunk.loans.append((line, loan))


@contextmanager
def gc_paused() -> Iterator[None]:
    """Hold off the cycle collector while an import builds millions of short-lived tuples.

    The records hold no reference cycles, so the collector would find nothing, yet its passes
    over the growing heap cost about a third of the checking time.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def open_sources(request: ImportRequest) -> tuple[list[SourceFile], list[RowValidator]]:
    """Open every file and read its header; raise :class:`ImportRejected` with every problem."""
    sources: list[SourceFile] = []
    issues: list[ImportIssue] = []
    for path in request.paths:
        try:
            sources.append(open_source(Path(path), request.encoding, request.sheet))
        except ImportRejected as rejected:
            issues.extend(rejected.issues)
    validators = [RowValidator(s.name, s.header) for s in sources]
    for validator in validators:
        issues.extend(validator.header_issues)
    if issues:
        for source in sources:
            source.close()
        raise ImportRejected(issues)
    return sources, validators


def check_files(request: ImportRequest) -> Iterator[Message]:
    """Read, validate and cross-check the files of an import, chunk by chunk."""
    sources, validators = open_sources(request)
    try:
        with gc_paused():
            yield Opened(
                [FileInfo(s.name, s.sha256, s.size, s.kind, s.encoding) for s in sources],
                {s.name: v.ignored for s, v in zip(sources, validators, strict=True) if v.ignored},
            )
            repeats = _Repeats()
            reported = 0
            for index, (source, validator) in enumerate(zip(sources, validators, strict=True)):
                file_rows = file_issues = 0
                for chunk, records, issues in _validated(index, source, validator, request.columnar):
                    repeats.sort(source.name, records, chunk, issues)
                    file_rows += chunk.rows
                    file_issues += len(issues)
                    chunk.issue_count = len(issues)
                    chunk.issues = sorted(issues, key=lambda issue: issue.row or 0)[
                        : max(0, MAX_REPORTED_ISSUES - reported)
                    ]
                    reported += len(chunk.issues)
                    yield chunk
                if file_rows == 0 and file_issues == 0:
                    yield Chunk(
                        index, 0, source.size,
                        issues=[ImportIssue(source.name, None, None, None,
                                            "the file has a header but no rows", "文件只有表头，没有数据行")],
                        issue_count=1,
                    )  # fmt: skip
                yield FileDone(index, file_rows)
    finally:
        for source in sources:
            source.close()


def _validated(
    index: int, source: SourceFile, validator: RowValidator, columnar: bool
) -> Iterator[tuple[Chunk, ValidRows, list[ImportIssue]]]:
    """Validated records of one file with the chunk they will travel in."""
    if columnar and columnar_readable(source):
        for batch in read_batches(source):
            records, issues = validator.validate_columns(batch.lines, batch.columns)
            yield Chunk(index, len(batch.lines), batch.position), records, issues
        return
    try:
        while chunk := list(islice(source.rows, CHUNK_ROWS)):
            records, issues = validator.validate_chunk(chunk)
            yield Chunk(index, len(chunk), source.position()), records, issues
    except ImportRejected as rejected:  # the file broke off mid-way (decoding, damage)
        yield Chunk(index, 0, source.size), ValidRows([], [], [], []), list(rejected.issues)
