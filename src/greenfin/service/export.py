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

from greenfin.model.values import fen_to_yuan
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
            sheet.append([_plain(safe_cell(value)) for value in row])
        book.save(path)
        return path
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([safe_cell(h) for h in header])
        for row in rows:
            writer.writerow([_plain(safe_cell(value)) for value in row])
    return path


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return "；".join(f"{k}={v}" for k, v in value.items())
    return value


#: Export columns: (header in the loan-book schema, table column), amounts in 元.
EXPORT_COLUMNS: tuple[tuple[str, Any], ...] = (
    ("贷款编号", loans.c.loan_id),
    ("借款人名称", borrowers.c.name),
    ("统一社会信用代码", borrowers.c.credit_code),
    ("行业代码", borrowers.c.industry_code),
    ("行政区划代码", borrowers.c.region_code),
    ("企业规模", borrowers.c.size_class),
    ("贷款用途", loans.c.purpose),
    ("贷款金额（元）", loans.c.amount_fen),
    ("贷款余额（元）", loans.c.balance_fen),
    ("币种", loans.c.currency),
    ("执行年利率（%）", loans.c.rate_pct),
    ("审批日期", loans.c.approval_date),
    ("发放日期", loans.c.start_date),
    ("到期日期", loans.c.maturity_date),
    ("五级分类", loans.c.five_tier),
    ("是否绿色贷款", loans.c.bank_green_flag),
    ("项目编号", projects.c.project_id),
    ("项目名称", projects.c.name),
    ("装机容量（MW）", projects.c.capacity_mw),
    ("年发电量（MWh）", projects.c.annual_generation_mwh),
    ("项目总投资（元）", projects.c.total_investment_fen),
)


def export_loans(engine: Engine, path: Path) -> int:
    """Export the loan book in the import schema; returns the number of loans written."""
    query = (
        select(*(column for _h, column in EXPORT_COLUMNS))
        .select_from(loans.join(borrowers).outerjoin(projects))
        .order_by(loans.c.loan_id)
    )
    money = {i for i, (h, _c) in enumerate(EXPORT_COLUMNS) if "（元）" in h}
    flag = next(i for i, (h, _c) in enumerate(EXPORT_COLUMNS) if h == "是否绿色贷款")
    count = 0

    def rows() -> Iterable[list[Any]]:
        nonlocal count
        with engine.connect() as connection:
            for row in connection.execution_options(stream_results=True).execute(query):
                values = list(row)
                for i in money:
                    if values[i] is not None:
                        values[i] = fen_to_yuan(int(values[i]))
                if values[flag] is not None:
                    values[flag] = "是" if values[flag] else "否"
                count += 1
                yield values

    write_table(path, [h for h, _c in EXPORT_COLUMNS], rows())
    return count
