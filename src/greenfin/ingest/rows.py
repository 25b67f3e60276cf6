"""Turning one row of a loan-book file into validated borrower, project and loan records.

The plan (which cell feeds which column, in which unit) is worked out once per file from its
header; each row then costs one parser call per cell.  Every problem in a row is collected, not
just the first, so one pass over a file tells the user everything that needs fixing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, NamedTuple

from greenfin.ingest.columns import BY_NAME, COLUMNS, HeaderMatch, match_header
from greenfin.ingest.issues import ImportIssue
from greenfin.model.problems import ValueProblem
from greenfin.model.values import check_loan_consistency, check_order
from greenfin.reference.regions import region


class RowRecords(NamedTuple):
    """The validated content of one row, as tuples in the order of the ``*_FIELDS`` plus the hash."""

    line: int
    borrower: tuple[Any, ...]
    project: tuple[Any, ...] | None
    loan: tuple[Any, ...]


def content_hash(values: tuple[Any, ...]) -> str:
    """A digest of a record's content.

    Quantities arrive as canonical Decimals (see ``values.canonical_decimal``), money as integer
    分, dates as dates and labels as text, so the ``repr`` of the values is one text per content.
    """
    return hashlib.blake2b(repr(values).encode(), digest_size=16).hexdigest()


def hashed(values: tuple[Any, ...]) -> tuple[Any, ...]:
    """The record with its content hash appended (the stored ``row_hash`` column)."""
    return (*values, content_hash(values))


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

    def validate(self, line: int, cells: list[Any]) -> tuple[RowRecords | None, list[ImportIssue]]:
        """Validate one row; return its records, or None and the problems found."""
        records, issues = self.validate_chunk([(line, cells)])
        return (records[0] if records else None), issues

    def validate_chunk(
        self, chunk: list[tuple[int, list[Any]]]
    ) -> tuple[list[RowRecords], list[ImportIssue]]:
        """Validate a chunk of rows column by column.

        Working down a column lets each distinct value be parsed once per chunk: a borrower's
        credit code, industry and region repeat on each of its loans, and dates, classes and
        currencies repeat across the book.  The parsers are the same as for a single value, so
        a value is judged the same way however it arrives.
        """
        count = len(chunk)
        lines = [line for line, _cells in chunk]
        width = self.width
        rows = [
            cells if len(cells) >= width else [*cells, *[None] * (width - len(cells))] for _l, cells in chunk
        ]
        columns = list(zip(*rows, strict=True)) if rows else []
        issues: list[ImportIssue] = []
        bad: set[int] = set()
        parsed: dict[str, list[Any]] = {}
        for index, found in self.plan:
            parsed[found.spec.name] = self._parse_column(columns[index], found, lines, issues, bad)
        absent = [None] * count
        column = parsed.get

        def values(name: str) -> list[Any]:
            return column(name) or absent

        places = {code: region(code) for code in set(values("region_code")) if code is not None}
        region_codes = values("region_code")
        borrowers = zip(
            values("borrower_credit_code"), values("borrower_name"), values("industry_code"), region_codes,
            [code and code[:2] for code in region_codes],
            [code and places[code].grid_region for code in region_codes],
            values("size_class"), values("revenue"), values("total_assets"), values("equity"), values("debt"),
            values("evic"), values("scope1"), values("scope2"), values("emissions_quality"),
            strict=True,
        )  # fmt: skip
        loan_ids = values("loan_id")
        project_ids = values("project_id")
        project_present = (
            [t != _NO_PROJECT for t in zip(*(values(n) for n in _PROJECT_COLUMNS), strict=True)]
            if self.has_project_columns
            else absent
        )
        projects = zip(
            values("project_name"), values("project_description"), values("project_region_code"),
            values("project_type"), values("capacity"), values("annual_generation"), values("total_investment"),
            values("project_start_date"), values("project_completion_date"), values("tech_params"),
            strict=True,
        )  # fmt: skip
        currencies = column("currency") or ["CNY"] * count
        loans = zip(
            values("purpose"), values("amount"), values("balance"), currencies, values("rate_pct"),
            values("approval_date"), values("start_date"), values("maturity_date"), values("five_tier"),
            values("bank_green_flag"), values("bank_green_category"),
            strict=True,
        )  # fmt: skip
        records = []
        borrower_memo: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        for pos, (line, borrower, project_values, loan_values) in enumerate(
            zip(lines, borrowers, projects, loans, strict=True)
        ):
            if pos in bad:
                continue
            try:
                project = None
                project_id = None
                if project_present[pos]:
                    project_id = project_ids[pos] or loan_ids[pos]
                    project = self._project(project_id, project_values)
                check_loan_consistency(
                    loan_values[1], loan_values[2], loan_values[5], loan_values[6], loan_values[7]
                )
            except ValueProblem as exc:
                issues.append(ImportIssue(self.file, line, None, None, exc.en, exc.zh))
                continue
            loan = hashed((loan_ids[pos], borrower[0], project_id, *loan_values))
            borrower_record = borrower_memo.get(borrower)
            if borrower_record is None:  # a borrower's loans repeat its data: hash it once
                borrower_record = borrower_memo[borrower] = hashed(borrower)
            records.append(RowRecords(line, borrower_record, project, loan))
        issues.sort(key=lambda issue: issue.row or 0)
        return records, issues

    def _parse_column(
        self,
        cells: tuple[Any, ...],
        found: HeaderMatch,
        lines: list[int],
        issues: list[ImportIssue],
        bad: set[int],
    ) -> list[Any]:
        spec, unit = found.spec, found.unit
        # Spreadsheet cells may mix types that compare equal (1, 1.0, True): key those by type too.
        typed = not set(map(type, cells)) <= {str}
        keys: Sequence[Any] = [(cell.__class__, cell) for cell in cells] if typed else cells
        memo: dict[Any, Any] = {}
        failed: dict[Any, ValueProblem | None] = {}  # None: a required value left empty
        for key in set(keys):
            raw = key[1] if typed else key
            if raw is None or (raw.__class__ is str and (not raw or raw.isspace())):
                memo[key] = None
                if spec.required:
                    failed[key] = None
                continue
            try:
                memo[key] = spec.parse(raw, unit)
            except ValueProblem as exc:
                memo[key] = None
                failed[key] = exc
        if failed:
            for pos, key in enumerate(keys):
                if key not in failed:
                    continue
                bad.add(pos)
                problem = failed[key]
                raw = key[1] if typed else key
                if problem is None:
                    issues.append(
                        ImportIssue(
                            self.file, lines[pos], found.header, "",
                            f"{spec.label} is required but empty", f"{spec.label_zh}为必填项，但为空",
                        )
                    )  # fmt: skip
                else:
                    issues.append(
                        ImportIssue(self.file, lines[pos], found.header, str(raw), problem.en, problem.zh)
                    )
        return list(map(memo.__getitem__, keys))

    def header_of(self, name: str) -> str:
        """The header text the user wrote for a column, for messages about cross-field rules."""
        for _index, found in self.plan:
            if found.spec.name == name:
                return found.header
        return BY_NAME[name].label_zh

    def _project(self, project_id: str, values: tuple[Any, ...]) -> tuple[Any, ...]:
        name, _desc, _region, _type, _cap, _gen, _inv, start, completion, parameters = values
        if not name:
            raise ValueProblem(
                f"project fields are given but {self.header_of('project_name')} is empty",
                f"填写了项目信息，但{self.header_of('project_name')}为空",
            )
        check_order(start, completion, *self._project_date_headers)
        return hashed((project_id, *values[:-1], parameters or {}))
