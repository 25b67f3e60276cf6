"""The stored loan book as a portfolio input, and a whole-book run on the engine chosen.

The store keeps borrowers, projects and loans apart (docs/loan-book-schema.md); the portfolio
engine reads one row per holding (portfolio/columns.py).  This writes the one from the other as
Parquet, a chunk at a time: a loan on a project is project finance (attributed by the project's
total investment, PCAF's total project equity + debt), a loan to a company with an EVIC is a
listed company's loan, and any other is a business loan (equity + debt).  A renewable-power
project with a stated generation carries its benefit input, as ``service.benefits`` reads it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Engine, select

from greenfin.benefits.renewable_power import METHODOLOGY as RENEWABLE
from greenfin.portfolio import plan
from greenfin.portfolio.columns import INPUT_SCHEMA
from greenfin.portfolio.kernel import Settings
from greenfin.service.benefits import technology_of
from greenfin.store.schema import borrowers, loans, projects

CHUNK = 100_000


def _holding(row: Any) -> dict[str, Any]:
    on_project = row.project_id is not None
    emissions = (
        None if row.scope1_tco2e is None and row.scope2_tco2e is None
        else float((row.scope1_tco2e or 0) + (row.scope2_tco2e or 0))
    )  # fmt: skip
    equity_debt = (
        row.total_investment_fen if on_project
        else (row.equity_fen or 0) + (row.debt_fen or 0) if row.equity_fen is not None or row.debt_fen is not None
        else None
    )  # fmt: skip
    renewable = (
        on_project
        and row.annual_generation_mwh is not None
        and technology_of(row.project_type, row.project_name)
    )
    return {
        "loan_id": row.loan_id,
        "asset_class": "project_finance"
        if on_project
        else "business_loan_listed"
        if row.evic_fen
        else "business_loan",
        "balance_fen": row.balance_fen,
        "purpose": row.purpose,
        "industry_code": row.industry_code,
        "approval_date": row.approval_date,
        "region_code": row.project_region or row.region_code,
        "emissions_t": emissions,
        "emissions_quality": row.emissions_quality,
        "revenue_fen": row.revenue_fen,
        "total_assets_fen": row.total_assets_fen,
        "evic_fen": row.evic_fen,
        "equity_debt_fen": equity_debt,
        "methodology": RENEWABLE.id if renewable else None,
        "input_generation": float(row.annual_generation_mwh) if renewable else None,
        "total_investment_fen": row.total_investment_fen if on_project else None,
    }


def _chunks(engine: Engine) -> Iterator[list[dict[str, Any]]]:
    query = (
        select(
            loans.c.loan_id, loans.c.balance_fen, loans.c.purpose, loans.c.approval_date, loans.c.project_id,
            borrowers.c.industry_code, borrowers.c.region_code, borrowers.c.revenue_fen, borrowers.c.total_assets_fen,
            borrowers.c.equity_fen, borrowers.c.debt_fen, borrowers.c.evic_fen, borrowers.c.scope1_tco2e,
            borrowers.c.scope2_tco2e, borrowers.c.emissions_quality, projects.c.name.label("project_name"),
            projects.c.project_type, projects.c.region_code.label("project_region"), projects.c.annual_generation_mwh,
            projects.c.total_investment_fen,
        )
        .select_from(loans.join(borrowers).outerjoin(projects))
        .order_by(loans.c.loan_id)
    )  # fmt: skip
    with engine.connect() as connection:
        result = connection.execution_options(yield_per=CHUNK).execute(query)
        for part in result.partitions():
            yield [_holding(row) for row in part]


def export_book(engine: Engine, path: Path) -> int:
    """The stored book as a portfolio Parquet file at ``path``; returns the number of holdings."""
    rows = 0
    with pq.ParquetWriter(path, INPUT_SCHEMA) as writer:
        for chunk in _chunks(engine):
            writer.write_table(pa.Table.from_pylist(chunk, schema=INPUT_SCHEMA))
            rows += len(chunk)
    return rows


def run_stored_book(
    store: Engine,
    engine: plan.Engine,
    output: Path,
    settings: Settings,
    progress: plan.Progress | None = None,
) -> plan.Outcome:
    """Export the stored book to a file of this run's own beside the output, run the plan on it,
    and remove it: the output folder holds only the results."""
    output.mkdir(parents=True, exist_ok=True)
    source = output / f".book-{uuid.uuid4().hex[:12]}.parquet"
    try:
        export_book(store, source)
        return plan.run(engine, source, output, settings, progress)
    finally:
        source.unlink(missing_ok=True)


def default_year(today: dt.date | None = None) -> int:
    """The year reported by default: the last complete one."""
    return (today or dt.date.today()).year - 1
