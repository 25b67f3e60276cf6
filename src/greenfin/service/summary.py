"""The loan-book summary: counts and balances by industry, region and five-tier class.

Balances are summed in SQL over integer 分, so the totals are exact on SQLite and PostgreSQL and
reconcile to the 分 with the bank's own ledger.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, case, func, select

from greenfin.model.values import FiveTier, fen_to_yuan
from greenfin.reference.industries import industry_table
from greenfin.reference.regions import place_names, provinces
from greenfin.store.schema import borrowers, loans, pledges, projects


@dataclass(frozen=True, slots=True)
class SummaryLine:
    """One line of a breakdown: a label, a loan count and a balance in 元."""

    key: str
    label: str
    loans: int
    balance_yuan: Decimal
    green_balance_yuan: Decimal


@dataclass(frozen=True, slots=True)
class BookSummary:
    """The book in CNY; loans in other currencies are counted apart, never added to 元 totals."""

    loans: int
    foreign_currency_loans: int
    borrowers: int
    projects: int
    pledges: int
    balance_yuan: Decimal
    green_balance_yuan: Decimal
    by_industry: list[SummaryLine]
    by_region: list[SummaryLine]
    by_five_tier: list[SummaryLine]


def _count(engine: Engine, column: object) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(column)).scalar_one())  # type: ignore[arg-type]


def summarise(engine: Engine) -> BookSummary:
    """Summarise the whole book as it stands in the store."""
    green = func.sum(case((loans.c.bank_green_flag.is_(True), loans.c.balance_fen), else_=0))
    sections = industry_table().sections
    names = place_names()
    province_table = provinces()

    def breakdown(key_expr: object, label_of: dict[str, str] | None = None) -> list[SummaryLine]:
        query = (
            select(key_expr, func.count(), func.sum(loans.c.balance_fen), green)  # type: ignore[call-overload]
            .select_from(loans.join(borrowers))
            .where(loans.c.currency == "CNY")
            .group_by(key_expr)
            .order_by(func.sum(loans.c.balance_fen).desc())
        )
        with engine.connect() as connection:
            rows = connection.execute(query).all()
        return [
            SummaryLine(
                str(key),
                (label_of or {}).get(str(key), str(key) if key is not None else "未填写"),
                int(count),
                fen_to_yuan(int(balance or 0)),
                fen_to_yuan(int(green_balance or 0)),
            )
            for key, count, balance, green_balance in rows
        ]

    section_labels = {code: f"{code} {item.name_zh}" for code, item in sections.items()}
    prefecture = func.substr(borrowers.c.region_code, 1, 4)
    region_labels = {}
    for code4 in {c[:4] for c in names}:
        province = province_table.get(code4[:2])
        region_labels[code4] = names.get(code4 + "00") or (province.name_zh if province else code4)
    tier_order = {tier.value: i for i, tier in enumerate(FiveTier)}
    by_tier = breakdown(loans.c.five_tier)
    by_tier.sort(key=lambda line: tier_order.get(line.key, 99))

    with engine.connect() as connection:
        total = connection.execute(
            select(func.count(), func.sum(loans.c.balance_fen), green)
            .select_from(loans)
            .where(loans.c.currency == "CNY")
        ).one()
        foreign = connection.execute(
            select(func.count()).select_from(loans).where(loans.c.currency != "CNY")
        ).scalar_one()
    return BookSummary(
        loans=int(total[0]),
        foreign_currency_loans=int(foreign),
        borrowers=_count(engine, borrowers),
        projects=_count(engine, projects),
        pledges=_count(engine, pledges),
        balance_yuan=fen_to_yuan(int(total[1] or 0)),
        green_balance_yuan=fen_to_yuan(int(total[2] or 0)),
        by_industry=breakdown(func.substr(borrowers.c.industry_code, 1, 1), section_labels),
        by_region=breakdown(prefecture, region_labels),
        by_five_tier=by_tier,
    )


@dataclass(frozen=True, slots=True)
class LoanDetail:
    """One loan as an officer reads it: borrower, place, project and pledges."""

    loan: dict[str, Any]
    borrower_name: str
    region_code: str
    project: dict[str, Any] | None
    pledges: list[dict[str, Any]]


def loan_details(engine: Engine, loan_ids: Sequence[str]) -> list[LoanDetail]:
    """The loans asked for, in the order asked, with what hangs on them."""
    query = (
        select(
            loans, borrowers.c.name.label("borrower_name"), borrowers.c.region_code.label("borrower_region")
        )
        .select_from(loans.join(borrowers))
        .where(loans.c.loan_id.in_(list(loan_ids)))
    )
    with engine.connect() as connection:
        found = {row["loan_id"]: dict(row) for row in connection.execute(query).mappings()}
        project_ids = [row["project_id"] for row in found.values() if row["project_id"]]
        project_rows = {
            row["project_id"]: dict(row)
            for row in connection.execute(
                select(projects).where(projects.c.project_id.in_(project_ids))
            ).mappings()
        }
        pledge_rows = [
            dict(row)
            for row in connection.execute(
                select(pledges).where(pledges.c.loan_id.in_(list(loan_ids)))
            ).mappings()
        ]
    details = []
    for loan_id in loan_ids:
        row = found.get(loan_id)
        if row is None:
            continue
        details.append(
            LoanDetail(
                loan=row,
                borrower_name=row.pop("borrower_name"),
                region_code=row.pop("borrower_region"),
                project=project_rows.get(row["project_id"]) if row["project_id"] else None,
                pledges=[p for p in pledge_rows if p["loan_id"] == loan_id],
            )
        )
    return details
