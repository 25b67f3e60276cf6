"""Writing tables out to CSV and XLSX without ever writing a formula.

A loan purpose such as ``=HYPERLINK(...)`` or ``@SUM(...)`` typed by a borrower must not become a
live formula when a colleague opens the export in Excel (CSV/formula injection, OWASP).  Every
text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is written with
a leading apostrophe, which spreadsheet programs show as text; the importer removes that
apostrophe again, so an export re-imports unchanged.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from greenfin.ingest.columns import COLUMNS
from greenfin.model.units import CANONICAL, Dimension
from greenfin.model.values import canonical_decimal, fen_to_yuan
from greenfin.store.schema import borrowers, loans, projects

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """A cell value that no spreadsheet will evaluate."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def write_table(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Path:
    """Write rows to ``path`` as CSV (UTF-8 with BOM, for Excel) or XLSX, by its suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".xlsx":
        from openpyxl import Workbook

        book = Workbook(write_only=True)
        sheet = book.create_sheet()
        sheet.append([safe_cell(h) for h in header])
        for row in rows:
            sheet.append([_cell(safe_cell(value)) for value in row])
        book.save(path)
        return path
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([safe_cell(h) for h in header])
        for row in rows:
            writer.writerow([_plain(safe_cell(value)) for value in row])
    return path


def _cell(value: Any) -> Any:
    """XLSX cells: numbers stay numbers (Excel holds them as floats), the rest as text."""
    if isinstance(value, Decimal):
        # A float holds 15 significant digits: up to 10^11 元 with its 分 that is exact.
        return float(value) if abs(value) < 10**11 else format(value, "f")
    return _plain(value)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return "；".join(f"{k}={v}" for k, v in value.items())
    return value


def _export_columns() -> list[tuple[str, Any, str]]:
    """(header, table column, kind) for every loan-book column, in the import schema's order.

    Every column the importer reads is exported, in a unit the importer reads back, so an
    export re-imports with nothing changed and nothing lost.
    """
    stored = {
        "loan_id": loans.c.loan_id, "purpose": loans.c.purpose, "amount": loans.c.amount_fen,
        "balance": loans.c.balance_fen, "currency": loans.c.currency, "rate_pct": loans.c.rate_pct,
        "approval_date": loans.c.approval_date, "start_date": loans.c.start_date,
        "maturity_date": loans.c.maturity_date, "five_tier": loans.c.five_tier,
        "bank_green_flag": loans.c.bank_green_flag, "bank_green_category": loans.c.bank_green_category,
        "borrower_credit_code": borrowers.c.credit_code, "borrower_name": borrowers.c.name,
        "industry_code": borrowers.c.industry_code, "region_code": borrowers.c.region_code,
        "size_class": borrowers.c.size_class, "revenue": borrowers.c.revenue_fen,
        "total_assets": borrowers.c.total_assets_fen, "equity": borrowers.c.equity_fen,
        "debt": borrowers.c.debt_fen, "evic": borrowers.c.evic_fen, "scope1": borrowers.c.scope1_tco2e,
        "scope2": borrowers.c.scope2_tco2e, "emissions_quality": borrowers.c.emissions_quality,
        "project_id": projects.c.project_id, "project_name": projects.c.name,
        "project_description": projects.c.description, "project_region_code": projects.c.region_code,
        "project_type": projects.c.project_type, "capacity": projects.c.capacity_mw,
        "annual_generation": projects.c.annual_generation_mwh,
        "total_investment": projects.c.total_investment_fen, "project_start_date": projects.c.start_date,
        "project_completion_date": projects.c.completion_date, "tech_params": projects.c.parameters,
    }  # fmt: skip
    result = []
    for spec in COLUMNS:
        if spec.dimension is Dimension.MONEY:
            result.append((f"{spec.label_zh}（元）", stored[spec.name], "fen"))
        elif spec.dimension is not None:
            result.append((f"{spec.label_zh}（{CANONICAL[spec.dimension]}）", stored[spec.name], "quantity"))
        elif spec.name == "rate_pct":
            result.append((f"{spec.label_zh}（%）", stored[spec.name], "rate"))
        elif spec.name == "bank_green_flag":
            result.append((spec.label_zh, stored[spec.name], "flag"))
        else:
            result.append((spec.label_zh, stored[spec.name], "plain"))
    return result


EXPORT_COLUMNS = _export_columns()


def export_loans(engine: Engine, path: Path) -> int:
    """Export the loan book in the import schema; returns the number of loans written."""
    query = (
        select(*(column for _h, column, _k in EXPORT_COLUMNS))
        .select_from(loans.join(borrowers).outerjoin(projects))
        .order_by(loans.c.loan_id)
    )
    kinds = [kind for _h, _c, kind in EXPORT_COLUMNS]
    count = 0

    def rows() -> Iterable[list[Any]]:
        nonlocal count
        with engine.connect() as connection:
            for row in connection.execution_options(stream_results=True).execute(query):
                values = list(row)
                for i, kind in enumerate(kinds):
                    value = values[i]
                    if value is None or kind == "plain":
                        continue
                    if kind == "fen":
                        values[i] = fen_to_yuan(int(value))
                    elif kind == "quantity":
                        values[i] = canonical_decimal(Decimal(str(value)))
                    elif kind == "rate":  # '3.45%' as text: a bare 0.25 in a sheet reads as 25 %
                        values[i] = f"{canonical_decimal(Decimal(str(value))):f}%"
                    else:
                        values[i] = "是" if value else "否"
                count += 1
                yield values

    write_table(path, [h for h, _c, _k in EXPORT_COLUMNS], rows())
    return count
