"""The green book: every loan with the label that counts, its catalogue place, and its benefits.

CERF batches and the regulatory reports all start from the same question: which loans are green,
under which item, and what do they achieve.  The label that counts is the officer's latest
decision where there is one, else the engine's latest run (docs/identification.md).  Benefits are
the renewable-power projects' (service/benefits.py), attributed to the loan; other loans carry
none until their project data is assessed.  Money stays in integer 分.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, case, func, select

from greenfin.benefits.renewable_power import METHODOLOGY as RENEWABLE
from greenfin.reference.catalogues import catalogue, successors
from greenfin.reference.factors import FactorPolicy
from greenfin.reference.regions import region
from greenfin.service import audit
from greenfin.service.benefits import RENEWABLE_ROW, renewable_columns
from greenfin.store.schema import borrowers, label_decisions, loan_labels, loans, projects


@dataclass(slots=True)
class GreenLoan:
    loan_id: str
    borrower_name: str
    credit_code: str
    industry_code: str
    region_code: str
    province: str
    five_tier: str | None
    currency: str
    amount_fen: int
    balance_fen: int
    rate_pct: Decimal | None
    approval_date: dt.date | None
    start_date: dt.date
    maturity_date: dt.date
    purpose: str | None
    project_id: str | None
    project_name: str | None
    status: str | None  # green / not_green / needs_review / None (never labelled)
    decided_by: str  # "officer" or "engine" or ""
    catalogue: str | None
    item_code: str | None
    item_name: str | None
    level1_code: str | None
    level1_name: str | None
    level2_code: str | None
    level2_name: str | None
    ghg_mark: str  # √√ direct carbon benefit, √ indirect, "" none marked
    cerf_area: str | None
    co2_reduced_t: float | None  # attributed to the loan, a year
    coal_saved_tce: float | None
    benefit_method: str | None

    @property
    def green(self) -> bool:
        return self.status == "green"

    @property
    def carbon_benefit(self) -> str:
        """直接碳减排效益 (√√) / 间接碳减排效益 (√) / 无: the statistics' split (DOMAIN.md §7)."""
        return {"√√": "direct", "√": "indirect"}.get(self.ghg_mark, "none")


def _latest_labels(engine: Engine) -> dict[str, dict[str, Any]]:
    with engine.connect() as connection:
        last = connection.execute(select(func.max(loan_labels.c.run_id))).scalar()
        labels: dict[str, dict[str, Any]] = {}
        if last is not None:
            for row in connection.execute(select(loan_labels).where(loan_labels.c.run_id == last)).mappings():
                labels[row["loan_id"]] = {
                    "status": row["status"], "catalogue": row["catalogue"], "item_code": row["item_code"],
                    "cerf_area": row["cerf_area"], "by": "engine",
                }  # fmt: skip
        decided = connection.execute(select(label_decisions).order_by(label_decisions.c.id)).mappings()
        for row in decided:  # later decisions overwrite earlier ones
            labels[row["loan_id"]] = {
                "status": row["status"], "catalogue": row["catalogue"], "item_code": row["item_code"],
                "cerf_area": labels.get(row["loan_id"], {}).get("cerf_area") if row["action"] == "confirm" else None,
                "by": "officer",
            }  # fmt: skip
    return labels


def green_book(engine: Engine, policy: FactorPolicy, reporting_year: int) -> Iterator[GreenLoan]:
    """Every loan, in loan-id order, with its label, catalogue place and attributed benefits."""
    labels = _latest_labels(engine)
    query = (
        select(
            loans, borrowers.c.name.label("borrower_name"), borrowers.c.industry_code, borrowers.c.region_code,
            projects.c.name.label("project_name"), projects.c.project_type, projects.c.region_code.label("project_region"),
            projects.c.annual_generation_mwh, projects.c.total_investment_fen,
        )
        .select_from(loans.join(borrowers).outerjoin(projects))
        .order_by(loans.c.loan_id)
    )  # fmt: skip
    with engine.connect() as connection:
        rows = [dict(r) for r in connection.execute(query).mappings()]
    benefits = _benefits(rows, policy, reporting_year)
    for row in rows:
        label: dict[str, Any] = labels.get(row["loan_id"], {})
        item_code = label.get("item_code")
        version = label.get("catalogue")
        place = _place_names(str(version), str(item_code)) if item_code and version else {}
        co2, coal = benefits.get(row["loan_id"], (None, None))
        yield GreenLoan(
            loan_id=row["loan_id"], borrower_name=row["borrower_name"], credit_code=row["borrower_credit_code"],
            industry_code=row["industry_code"], region_code=row["region_code"],
            province=region(row["region_code"]).province.short_zh, five_tier=row["five_tier"],
            currency=row["currency"], amount_fen=row["amount_fen"], balance_fen=row["balance_fen"],
            rate_pct=row["rate_pct"], approval_date=row["approval_date"], start_date=row["start_date"],
            maturity_date=row["maturity_date"], purpose=row["purpose"], project_id=row["project_id"],
            project_name=row["project_name"], status=label.get("status"), decided_by=str(label.get("by", "")),
            catalogue=str(version) if version else None, item_code=str(item_code) if item_code else None,
            item_name=place.get("item_name"), level1_code=place.get("level1_code"), level1_name=place.get("level1_name"),
            level2_code=place.get("level2_code"), level2_name=place.get("level2_name"), ghg_mark=place.get("ghg", ""),
            cerf_area=str(label["cerf_area"]) if label.get("cerf_area") else None,
            co2_reduced_t=co2, coal_saved_tce=coal, benefit_method=RENEWABLE.id if co2 is not None else None,
        )  # fmt: skip


def _place_names(version: str, code: str) -> dict[str, str]:
    book = catalogue(version)
    item = book.item(code)
    level1 = book.level1_of(code)
    level2_code = ".".join(code.split(".")[:2])
    level2 = book.item(level2_code)
    return {
        "item_name": item.name_zh,
        "level1_code": level1.code,
        "level1_name": level1.name_zh,
        "level2_code": level2_code,
        "level2_name": level2.name_zh,
        "ghg": item.ghg_mark or _mark_through_crosswalk(version, code),
    }


def _mark_through_crosswalk(version: str, code: str) -> str:
    """The 2021 catalogue carries no 温室气体减排贡献 mark: take the strongest mark of the 2025 items
    it corresponds to (reference/catalogues crosswalk, our own reading, confidence M)."""
    if version != "gbc-2021":
        return ""
    book = catalogue("gfc-2025")
    marks = {book.item(link.code_2025).ghg_mark for link in successors(code)}
    return "√√" if "√√" in marks else "√" if "√" in marks else ""


def _benefits(rows: list[dict[str, Any]], policy: FactorPolicy, year: int) -> dict[str, tuple[float, float]]:
    """Attributed CO2 and coal for the loans on renewable-power projects with a stated generation."""
    chosen, result = renewable_columns(rows, policy, year)
    return {
        str(row["loan_id"]): (
            float(result["attributed_co2_reduced"][i]),
            float(result["attributed_coal_saved"][i]),
        )
        for i, row in enumerate(chosen)
    }


@dataclass(slots=True)
class BookSummary:
    """The green book at a glance, counted in the database (a dashboard on a million loans)."""

    counts: dict[str | None, int]  # status that counts → loans (None: never labelled)
    green_by_level1: dict[tuple[str, str, str], int]  # (catalogue, level-1 code, name) → 分, CNY only
    green_fen: int
    foreign_green: int
    co2_t: float
    coal_tce: float
    benefit_loans: int


def _label_that_counts() -> tuple[Any, Any, Any, Any]:
    """SQL for the label that counts: the latest officer decision, else the latest engine run."""
    latest = select(func.max(loan_labels.c.run_id)).scalar_subquery()
    engine_label = (
        select(loan_labels.c.loan_id, loan_labels.c.status, loan_labels.c.item_code, loan_labels.c.catalogue)
        .where(loan_labels.c.run_id == latest)
        .subquery("engine_label")
    )
    last_decision = (
        select(label_decisions.c.loan_id, func.max(label_decisions.c.id).label("id"))
        .group_by(label_decisions.c.loan_id)
        .subquery("last_decision")
    )
    decision = (
        select(label_decisions.c.loan_id, label_decisions.c.status, label_decisions.c.item_code, label_decisions.c.catalogue)
        .join(last_decision, label_decisions.c.id == last_decision.c.id)
        .subquery("decision")
    )  # fmt: skip
    joined = loans.outerjoin(engine_label, engine_label.c.loan_id == loans.c.loan_id).outerjoin(
        decision, decision.c.loan_id == loans.c.loan_id
    )
    status = func.coalesce(decision.c.status, engine_label.c.status)
    decided = decision.c.status.is_not(None)
    item = case((decided, decision.c.item_code), else_=engine_label.c.item_code)
    version = case((decided, decision.c.catalogue), else_=engine_label.c.catalogue)
    return joined, status, item, version


#: Summaries by (store, policy, year), with the book's version they were computed at: every change
#: to the book writes an audit record, so an unchanged version means an unchanged summary.
_SUMMARIES: dict[tuple[str, str, int], tuple[int | None, BookSummary]] = {}


def book_summary(engine: Engine, policy: FactorPolicy, reporting_year: int) -> BookSummary:
    """Counts, CNY green balances by level 1 and attributed benefits; reused while nothing changed."""
    with engine.connect() as connection:
        version = audit.book_version(connection)
    key = (engine.url.render_as_string(hide_password=False), policy.name, reporting_year)
    cached = _SUMMARIES.get(key)
    if cached is not None and cached[0] == version and version is not None:
        return cached[1]
    summary = _book_summary(engine, policy, reporting_year)
    _SUMMARIES[key] = (version, summary)
    return summary


def _book_summary(engine: Engine, policy: FactorPolicy, reporting_year: int) -> BookSummary:
    """Counts, CNY green balances by level 1 and attributed benefits, grouped in SQL."""
    joined, status, item, version = _label_that_counts()
    query = (
        select(status, version, item, loans.c.currency, func.count(), func.sum(loans.c.balance_fen))
        .select_from(joined)
        .group_by(status, version, item, loans.c.currency)
    )
    counts: dict[str | None, int] = {}
    by_level1: dict[tuple[str, str, str], int] = {}
    green_fen = foreign = 0
    with engine.connect() as connection:
        for row_status, row_version, row_item, currency, count, balance in connection.execute(query):
            counts[row_status] = counts.get(row_status, 0) + int(count)
            if row_status != "green":
                continue
            if currency != "CNY":
                foreign += int(count)
                continue
            if row_item and row_version:
                level1 = catalogue(str(row_version)).level1_of(str(row_item))
                key = (str(row_version), level1.code, level1.name_zh)
            else:
                key = ("", "—", "—")
            by_level1[key] = by_level1.get(key, 0) + int(balance or 0)
            green_fen += int(balance or 0)
        rows = [
            dict(r)
            for r in connection.execute(
                select(*RENEWABLE_ROW)
                .select_from(joined.join(borrowers).join(projects))
                .where(status == "green", projects.c.annual_generation_mwh.is_not(None))
            ).mappings()
        ]  # fmt: skip
    benefits = _benefits(rows, policy, reporting_year)
    return BookSummary(
        counts=counts,
        green_by_level1=dict(sorted(by_level1.items())),
        green_fen=green_fen,
        foreign_green=foreign,
        co2_t=sum(co2 for co2, _ in benefits.values()),
        coal_tce=sum(coal for _, coal in benefits.values()),
        benefit_loans=len(benefits),
    )
