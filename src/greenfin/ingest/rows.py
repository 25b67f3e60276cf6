"""Turning the rows of a loan-book file into validated borrower, project and loan records.

The plan (which cell feeds which column, in which unit) is worked out once per file from its
header.  Rows are then validated a chunk at a time, column by column: each distinct text is
parsed once, and big columns from the columnar reader take the bulk routes of ``vectorised``.
Every problem in a row is collected, not just the first, so one pass over a file tells the
user everything that needs fixing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa

from greenfin.ingest import vectorised
from greenfin.ingest.columns import (
    BY_NAME,
    COLUMNS,
    ColumnSpec,
    HeaderMatch,
    TextParser,
    credit_code,
    match_header,
    money,
    parameters_json,
)
from greenfin.ingest.issues import ImportIssue
from greenfin.model.problems import ValueProblem
from greenfin.model.units import Unit
from greenfin.model.values import check_loan_consistency, check_order
from greenfin.reference.regions import region


class RowRecords(NamedTuple):
    """The validated content of one row, as tuples in the order of the ``*_FIELDS`` plus the hash."""

    line: int
    borrower: tuple[Any, ...]
    project: tuple[Any, ...] | None
    loan: tuple[Any, ...]


@dataclass
class ValidRows:
    """The valid rows of a chunk: their lines and stored records, in step."""

    lines: list[int]
    borrowers: list[tuple[Any, ...]]
    projects: list[tuple[Any, ...] | None]
    loans: list[tuple[Any, ...]]

    def records(self) -> list[RowRecords]:
        return list(map(RowRecords, self.lines, self.borrowers, self.projects, self.loans))


def _hashed_rows(columns: list[list[Any]]) -> list[tuple[Any, ...]]:
    """Rows of the columns, each with its content digest appended (the stored ``row_hash``)."""
    return list(zip(*columns, vectorised.digests(columns), strict=True))


BORROWER_FIELDS = (
    "credit_code", "name", "industry_code", "region_code", "province_code", "grid_region",
    "size_class", "revenue_fen", "total_assets_fen", "equity_fen", "debt_fen", "evic_fen",
    "scope1_tco2e", "scope2_tco2e", "emissions_quality",
)  # fmt: skip
PROJECT_FIELDS = (
    "project_id", "name", "description", "region_code", "project_type", "capacity_mw",
    "annual_generation_mwh", "total_investment_fen", "start_date", "completion_date", "parameters",
)  # fmt: skip
LOAN_FIELDS = (
    "loan_id", "borrower_credit_code", "project_id", "purpose", "amount_fen", "balance_fen",
    "currency", "rate_pct", "approval_date", "start_date", "maturity_date", "five_tier",
    "bank_green_flag", "bank_green_category",
)  # fmt: skip

_PROJECT_COLUMNS = [spec.name for spec in COLUMNS if spec.table == "project"]
_NO_PROJECT = (None,) * len(_PROJECT_COLUMNS)
_NO_PARAMETERS = parameters_json({})
_UNSEEN = object()
_MEMO_LIMIT = 50_000  # distinct texts remembered per column


def parse_cell(raw: Any, spec: ColumnSpec, unit: Unit | None) -> Any:
    """One cell's stored value; None for an empty optional cell; a problem otherwise."""
    if raw is None or (raw.__class__ is str and (not raw or raw.isspace())):
        if spec.required:
            raise ValueProblem(f"{spec.label} is required but empty", f"{spec.label_zh}为必填项，但为空")
        return None
    return spec.parse(raw, unit)


class RowValidator:
    """Validates the rows of one file against the plan derived from its header."""

    def __init__(self, file: str, header: list[Any]) -> None:
        self.file = file
        self.plan: list[tuple[int, HeaderMatch]] = []
        self.header_issues: list[ImportIssue] = []
        self.ignored: list[str] = []  # headers that are no loan-book column: reported, not read
        seen: dict[str, str] = {}
        for index, raw in enumerate(header):
            text = "" if raw is None else str(raw)
            if not text.strip():
                continue
            try:
                found = match_header(text)
            except ValueProblem as exc:
                self.header_issues.append(ImportIssue(file, 1, text, text, exc.en, exc.zh))
                continue
            if found is None:
                self.ignored.append(text)
                continue
            name = found.spec.name
            if name in seen:
                self.header_issues.append(
                    ImportIssue(
                        file, 1, text, text,
                        f"column {text!r} repeats {seen[name]!r}: both mean {found.spec.label}",
                        f"列 {text!r} 与 {seen[name]!r} 重复：二者都表示{found.spec.label_zh}",
                    )
                )  # fmt: skip
                continue
            seen[name] = text
            self.plan.append((index, found))
        for spec in COLUMNS:
            if spec.required and spec.name not in seen:
                self.header_issues.append(
                    ImportIssue(
                        file, 1, spec.label_zh, None,
                        f"required column {spec.label} is missing",
                        f"缺少必填列：{spec.label_zh}（{spec.name}）",
                    )
                )  # fmt: skip
        self.width = max((i for i, _m in self.plan), default=-1) + 1
        self._project_date_headers = (
            self.header_of("project_start_date"),
            self.header_of("project_completion_date"),
        )
        self.has_project_columns = any(m.spec.table == "project" for _, m in self.plan)
        self._memos: dict[str, dict[str, Any]] = {}

    def validate(self, line: int, cells: list[Any]) -> tuple[RowRecords | None, list[ImportIssue]]:
        """Validate one row; return its records, or None and the problems found."""
        valid, issues = self.validate_chunk([(line, cells)])
        records = valid.records()
        return (records[0] if records else None), issues

    def validate_chunk(self, chunk: list[tuple[int, list[Any]]]) -> tuple[ValidRows, list[ImportIssue]]:
        """Validate a chunk of rows as read by a row reader (cells may be text, numbers, dates)."""
        width = self.width
        rows = [  # every row exactly as wide as the plan: short rows padded, cells beyond it dropped
            cells[:width] if len(cells) >= width else [*cells, *[None] * (width - len(cells))]
            for _l, cells in chunk
        ]
        columns: list[Sequence[Any]] = list(zip(*rows, strict=True)) if rows else []
        return self.validate_columns([line for line, _cells in chunk], columns)

    def validate_columns(
        self, lines: list[int], columns: Sequence[Sequence[Any] | pa.Array]
    ) -> tuple[ValidRows, list[ImportIssue]]:
        """Validate rows given column by column (Python cells, or Arrow text from the CSV reader).

        Working down a column lets each distinct value be parsed once: a borrower's credit code,
        industry and region repeat on each of its loans, and dates, classes and currencies repeat
        across the book.  The rules that tie a row's fields together are screened for the whole
        chunk at once; each row the screen flags is then judged by the same rule functions the
        models use, which also say what is wrong.  Digests are computed a column at a time.
        """
        count = len(lines)
        issues: list[ImportIssue] = []
        bad: set[int] = set()
        parsed: dict[str, list[Any]] = {}
        for index, found in self.plan:
            parsed[found.spec.name] = self._parse_column(columns[index], found, lines, issues, bad)
        absent: list[Any] = [None] * count

        def values(name: str) -> list[Any]:
            return parsed.get(name) or absent

        ok = np.ones(count, dtype=bool)
        ok[list(bad)] = False
        loan_ids = values("loan_id")
        present = np.zeros(count, dtype=bool)
        for name in _PROJECT_COLUMNS:
            if name in parsed:
                present |= vectorised.given(parsed[name])
        project_ids = [
            (given or loan) if here else None
            for given, loan, here in zip(values("project_id"), loan_ids, present.tolist(), strict=True)
        ]
        for pos in np.flatnonzero(ok & self._screen(values, present)).tolist():
            try:
                self._row_rules(values, pos, present[pos])
            except ValueProblem as exc:
                ok[pos] = False
                issues.append(ImportIssue(self.file, lines[pos], None, None, exc.en, exc.zh))
        keep = np.flatnonzero(ok)
        whole = len(keep) == count

        def kept(column: list[Any]) -> list[Any]:
            if whole:
                return column
            return vectorised.take(column, keep)

        region_codes = kept(values("region_code"))
        places = {code: region(code) for code in set(region_codes) if code is not None}
        borrower_columns = [
            kept(values("borrower_credit_code")), kept(values("borrower_name")), kept(values("industry_code")),
            region_codes, [code and code[:2] for code in region_codes],
            [code and places[code].grid_region for code in region_codes],
            *(kept(values(name)) for name in ("size_class", "revenue", "total_assets", "equity", "debt",
                                               "evic", "scope1", "scope2", "emissions_quality")),
        ]  # fmt: skip
        currencies = parsed.get("currency") or ["CNY"] * count
        loan_columns = [
            kept(loan_ids), borrower_columns[0], kept(project_ids),
            *(kept(values(name)) for name in ("purpose", "amount", "balance")), kept(currencies),
            *(kept(values(name)) for name in ("rate_pct", "approval_date", "start_date", "maturity_date",
                                               "five_tier", "bank_green_flag", "bank_green_category")),
        ]  # fmt: skip
        with_project = np.flatnonzero(present[keep])
        project_rows: list[Any] = [None] * len(keep)
        if len(with_project):
            project_columns = [
                vectorised.take(kept(column), with_project)
                for column in (project_ids, *(values(name) for name in _PROJECT_COLUMNS[1:]))
            ]
            project_columns[-1] = [p or _NO_PARAMETERS for p in project_columns[-1]]
            for pos, record in zip(with_project.tolist(), _hashed_rows(project_columns), strict=True):
                project_rows[pos] = record
        valid = ValidRows(
            kept(lines), _hashed_rows(borrower_columns), project_rows, _hashed_rows(loan_columns)
        )
        issues.sort(key=lambda issue: issue.row or 0)
        return valid, issues

    def _screen(self, values: Callable[[str], list[Any]], present: np.ndarray) -> np.ndarray:
        """Rows that may break a rule tying fields together (the rules themselves then decide)."""
        screen: np.ndarray = present & ~vectorised.given(values("project_name"))
        screen |= present & vectorised.before(values("project_completion_date"), values("project_start_date"))
        screen |= vectorised.before(values("amount"), values("balance"))
        screen |= ~vectorised.before(values("start_date"), values("maturity_date"), missing=True)
        screen |= vectorised.before(values("start_date"), values("approval_date"))
        return screen

    def _row_rules(self, values: Callable[[str], list[Any]], pos: int, has_project: bool) -> None:
        if has_project:
            project_values = tuple(values(name)[pos] for name in _PROJECT_COLUMNS[1:])
            self._project("", project_values)
        check_loan_consistency(
            values("amount")[pos],
            values("balance")[pos],
            values("approval_date")[pos],
            values("start_date")[pos],
            values("maturity_date")[pos],
        )

    def _parse_column(
        self,
        cells: Sequence[Any] | pa.Array,
        found: HeaderMatch,
        lines: list[int],
        issues: list[ImportIssue],
        bad: set[int],
    ) -> list[Any]:
        spec, unit = found.spec, found.unit
        remembered = self._memos.setdefault(spec.name, {})

        def parse(raw: Any) -> Any:
            # Dates, classes, regions and rates repeat across the whole file, not only a chunk:
            # remember what a text parsed to (stored values are immutable).
            if raw.__class__ is not str:
                return parse_cell(raw, spec, unit)
            value = remembered.get(raw, _UNSEEN)
            if value is _UNSEEN:
                value = parse_cell(raw, spec, unit)
                if len(remembered) < _MEMO_LIMIT:
                    remembered[raw] = value
            return value

        if isinstance(cells, pa.Array):
            if spec.parse is money and unit is not None:
                fast = vectorised.money_fen(cells, unit, parse)
            elif isinstance(spec.parse, TextParser):
                fast = vectorised.text_cells(cells, spec.parse.max_length, parse)
            elif spec.parse is credit_code:
                fast = vectorised.credit_codes(cells, parse)
            else:
                fast = vectorised.by_distinct(cells, parse)
            if fast is not None:
                return fast
            cells = cells.to_pylist()  # some cell is wrong: find which, cell by cell
        # Spreadsheet cells may mix types that compare equal (1, 1.0, True): key those by type too.
        typed = not set(map(type, cells)) <= {str}
        keys: Sequence[Any] = [(cell.__class__, cell) for cell in cells] if typed else cells
        memo: dict[Any, Any] = {}
        failed: dict[Any, ValueProblem] = {}
        for key in set(keys):
            try:
                memo[key] = parse(key[1] if typed else key)
            except ValueProblem as exc:
                memo[key] = None
                failed[key] = exc
        if failed:
            for pos, key in enumerate(keys):
                problem = failed.get(key)
                if problem is None:
                    continue
                bad.add(pos)
                raw = key[1] if typed else key
                value = "" if raw is None else str(raw)
                issues.append(ImportIssue(self.file, lines[pos], found.header, value, problem.en, problem.zh))
        return list(map(memo.__getitem__, keys))

    def header_of(self, name: str) -> str:
        """The header text the user wrote for a column, for messages about cross-field rules."""
        for _index, found in self.plan:
            if found.spec.name == name:
                return found.header
        return BY_NAME[name].label_zh

    def _project(self, project_id: str, values: tuple[Any, ...]) -> None:
        """The rules of a project's own fields: a name, and dates in order."""
        name, _desc, _region, _type, _cap, _gen, _inv, start, completion, _parameters = values
        if not name:
            raise ValueProblem(
                f"project fields are given but {self.header_of('project_name')} is empty",
                f"填写了项目信息，但{self.header_of('project_name')}为空",
            )
        check_order(start, completion, *self._project_date_headers)
