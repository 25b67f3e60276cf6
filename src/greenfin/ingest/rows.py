"""Turning one row of a loan-book file into validated borrower, project and loan records.

The plan (which cell feeds which column, in which unit) is worked out once per file from its
header; each row then costs one parser call per cell.  Every problem in a row is collected, not
just the first, so one pass over a file tells the user everything that needs fixing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from greenfin.ingest.columns import BY_NAME, COLUMNS, HeaderMatch, match_header
from greenfin.ingest.issues import ImportIssue
from greenfin.model.problems import ValueProblem
from greenfin.model.values import check_loan_consistency, check_order
from greenfin.reference.regions import region

Record = dict[str, Any]


@dataclass(frozen=True, slots=True)
class RowRecords:
    """The validated content of one row."""

    line: int
    borrower: Record
    project: Record | None
    loan: Record


def content_hash(record: Record, fields: tuple[str, ...]) -> str:
    """A digest of a record's content.

    Quantities arrive as canonical Decimals (see ``values.canonical_decimal``), money as integer
    分 and dates as dates, so the ``repr`` of the values is one text per content.
    """
    text = repr([record[name] for name in fields])
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


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


class RowValidator:
    """Validates the rows of one file against the plan derived from its header."""

    def __init__(self, file: str, header: list[Any]) -> None:
        self.file = file
        self.plan: list[tuple[int, HeaderMatch]] = []
        self.header_issues: list[ImportIssue] = []
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
        self._steps = [(i, m.spec.name, m.spec.parse, m.unit, m) for i, m in self.plan]
        self.has_project_columns = any(m.spec.table == "project" for _, m in self.plan)

    def validate(self, line: int, cells: list[Any]) -> tuple[RowRecords | None, list[ImportIssue]]:
        """Validate one row; return its records, or None and the problems found."""
        values: dict[str, Any] = {}
        issues: list[ImportIssue] = []
        width = len(cells)
        for index, name, parse, unit, found in self._steps:
            raw = cells[index] if index < width else None
            if not raw or (raw.__class__ is str and raw.isspace()):
                if found.spec.required:
                    spec = found.spec
                    issues.append(
                        ImportIssue(
                            self.file, line, found.header, "",
                            f"{spec.label} is required but empty", f"{spec.label_zh}为必填项，但为空",
                        )
                    )  # fmt: skip
                continue
            try:
                values[name] = parse(raw, unit)
            except ValueProblem as exc:
                issues.append(ImportIssue(self.file, line, found.header, str(raw), exc.en, exc.zh))
        if issues:
            return None, issues
        try:
            records = self._records(line, values)
        except ValueProblem as exc:
            return None, [ImportIssue(self.file, line, None, None, exc.en, exc.zh)]
        return records, []

    def header_of(self, name: str) -> str:
        """The header text the user wrote for a column, for messages about cross-field rules."""
        for _index, found in self.plan:
            if found.spec.name == name:
                return found.header
        return BY_NAME[name].label_zh

    def _records(self, line: int, values: dict[str, Any]) -> RowRecords:
        place = region(values["region_code"])
        borrower: Record = {
            "credit_code": values["borrower_credit_code"],
            "name": values["borrower_name"],
            "industry_code": values["industry_code"],
            "region_code": values["region_code"],
            "province_code": place.code[:2],
            "grid_region": place.grid_region,
            "size_class": _enum_value(values.get("size_class")),
            "revenue_fen": values.get("revenue"),
            "total_assets_fen": values.get("total_assets"),
            "equity_fen": values.get("equity"),
            "debt_fen": values.get("debt"),
            "evic_fen": values.get("evic"),
            "scope1_tco2e": values.get("scope1"),
            "scope2_tco2e": values.get("scope2"),
            "emissions_quality": _enum_value(values.get("emissions_quality")),
        }
        borrower["row_hash"] = content_hash(borrower, BORROWER_FIELDS)

        project: Record | None = None
        project_id = values.get("project_id")
        if self.has_project_columns and any(name in values for name in _PROJECT_COLUMNS):
            project_id = project_id or values["loan_id"]
            name = values.get("project_name")
            if not name:
                raise ValueProblem(
                    f"project fields are given but {self.header_of('project_name')} is empty",
                    f"填写了项目信息，但{self.header_of('project_name')}为空",
                )
            check_order(
                values.get("project_start_date"), values.get("project_completion_date"),
                self.header_of("project_start_date"), self.header_of("project_completion_date"),
            )  # fmt: skip
            project = {
                "project_id": project_id,
                "name": name,
                "description": values.get("project_description"),
                "region_code": values.get("project_region_code"),
                "project_type": values.get("project_type"),
                "capacity_mw": values.get("capacity"),
                "annual_generation_mwh": values.get("annual_generation"),
                "total_investment_fen": values.get("total_investment"),
                "start_date": values.get("project_start_date"),
                "completion_date": values.get("project_completion_date"),
                "parameters": values.get("tech_params") or {},
            }
            project["row_hash"] = content_hash(project, PROJECT_FIELDS)

        check_loan_consistency(
            values["amount"], values["balance"], values.get("approval_date"),
            values["start_date"], values["maturity_date"],
        )  # fmt: skip
        loan: Record = {
            "loan_id": values["loan_id"],
            "borrower_credit_code": borrower["credit_code"],
            "project_id": project_id if project is not None else None,
            "purpose": values.get("purpose"),
            "amount_fen": values["amount"],
            "balance_fen": values["balance"],
            "currency": values.get("currency", "CNY"),
            "rate_pct": values.get("rate_pct"),
            "approval_date": values.get("approval_date"),
            "start_date": values["start_date"],
            "maturity_date": values["maturity_date"],
            "five_tier": _enum_value(values.get("five_tier")),
            "bank_green_flag": values.get("bank_green_flag"),
            "bank_green_category": values.get("bank_green_category"),
        }
        loan["row_hash"] = content_hash(loan, LOAN_FIELDS)
        return RowRecords(line, borrower, project, loan)


def _enum_value(value: Any) -> Any:
    return getattr(value, "value", value)
