"""Benefits of the stored book: one loan's project on demand, and the whole book in columns.

The loan book stores a project's type, capacity, annual generation, region and total investment
(docs/loan-book-schema.md §3).  That is enough for the renewable-power methodology; projects of
other kinds need the methodology's own inputs and are assessed from a project file
(``greenfin benefits``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Engine, select

from greenfin.benefits.assess import Place, assess_columns
from greenfin.benefits.projects import Assessment, assess_project
from greenfin.benefits.renewable_power import METHODOLOGY as RENEWABLE
from greenfin.reference.factors import FactorPolicy
from greenfin.reference.regions import region
from greenfin.store.schema import borrowers, loans, projects

#: Words of a project's type or name that say which renewable technology it is.
TECHNOLOGY_WORDS = (
    ("风电", "wind"), ("风力", "wind"), ("光伏", "solar"), ("太阳能", "solar"), ("水电", "hydro"),
    ("水力", "hydro"), ("生物质", "biomass"), ("地热", "geothermal"),
)  # fmt: skip


def technology_of(*texts: str | None) -> str | None:
    """The renewable technology a project's type (or, failing that, its name) names."""
    for text in texts:
        for word, technology in TECHNOLOGY_WORDS:
            if text and word in text:
                return technology
    return None


@cache
def _place(code: str) -> Place:
    found = region(code)
    return Place(found.province.short_zh, found.grid_region or None)


def loan_benefits(
    engine: Engine, loan_id: str, policy: FactorPolicy, reporting_year: int
) -> Assessment | None:
    """The benefits of a loan's renewable-power project, attributed to its balance; None if not one."""
    query = (
        select(loans.c.balance_fen, borrowers.c.region_code.label("borrower_region"), projects)
        .select_from(loans.join(borrowers).join(projects))
        .where(loans.c.loan_id == loan_id)
    )
    with engine.connect() as connection:
        row = connection.execute(query).mappings().first()
    if row is None:
        return None
    technology = technology_of(row["project_type"], row["name"])
    if technology is None:
        return None
    spec: dict[str, object] = {
        "id": row["project_id"],
        "name": row["name"],
        "methodology": RENEWABLE.id,
        "technology": technology,
        "region_code": row["region_code"] or row["borrower_region"],
        "reporting_year": reporting_year,
        "loan_balance": f"{row['balance_fen'] / 100:.2f}元",
    }
    if row["capacity_mw"] is not None:
        spec["capacity"] = f"{row['capacity_mw']} MW"
    if row["annual_generation_mwh"] is not None:
        spec["inputs"] = {"generation": f"{row['annual_generation_mwh']} MWh"}
    if row["total_investment_fen"] is not None:
        spec["total_investment"] = f"{row['total_investment_fen'] / 100:.2f}元"
    return assess_project(spec, policy)


@dataclass(frozen=True, slots=True)
class BookBenefits:
    """The book's renewable-power benefits: per project summed, and attributed to the bank."""

    projects: int
    coal_saved: float
    co2_reduced: float
    attributed_coal_saved: float
    attributed_co2_reduced: float
    policy: str
    reporting_year: int


def renewable_columns(
    rows: Iterable[Mapping[str, Any]], policy: FactorPolicy, reporting_year: int
) -> tuple[list[Mapping[str, Any]], dict[str, NDArray[np.float64]]]:
    """The rows on renewable-power projects with a stated generation, assessed in one columnar pass.

    A row carries ``balance_fen``, ``region_code`` (the borrower's), ``project_region``,
    ``project_type``, ``project_name``, ``annual_generation_mwh`` and ``total_investment_fen``;
    the result's arrays follow the chosen rows in order.
    """
    chosen = [
        row for row in rows
        if row["annual_generation_mwh"] is not None and technology_of(row["project_type"], row["project_name"])
    ]  # fmt: skip
    places: dict[Place, int] = {}
    index = [
        places.setdefault(_place(row["project_region"] or row["region_code"]), len(places)) for row in chosen
    ]
    result = assess_columns(
        RENEWABLE,
        {"generation": np.array([float(row["annual_generation_mwh"]) for row in chosen], dtype=np.float64)},
        list(places),
        np.array(index, dtype=np.int64),
        np.full(len(chosen), reporting_year, dtype=np.int64),
        policy,
        balance_yuan=np.array([row["balance_fen"] / 100 for row in chosen], dtype=np.float64),
        investment_yuan=np.array(
            [(row["total_investment_fen"] or 0) / 100 for row in chosen], dtype=np.float64
        ),
    )
    return chosen, result


#: The columns :func:`renewable_columns` reads, as a query selects them.
RENEWABLE_ROW = (
    loans.c.loan_id, loans.c.balance_fen, borrowers.c.region_code, projects.c.name.label("project_name"),
    projects.c.project_type, projects.c.region_code.label("project_region"), projects.c.annual_generation_mwh,
    projects.c.total_investment_fen,
)  # fmt: skip


def book_benefits(engine: Engine, policy: FactorPolicy, reporting_year: int) -> BookBenefits:
    """All loans on renewable-power projects with a stated generation, in one columnar pass."""
    query = (
        select(*RENEWABLE_ROW)
        .select_from(loans.join(borrowers).join(projects))
        .where(projects.c.annual_generation_mwh.is_not(None))
    )
    with engine.connect() as connection:
        rows = [dict(row) for row in connection.execute(query).mappings()]
    chosen, result = renewable_columns(rows, policy, reporting_year)
    if not chosen:
        return BookBenefits(0, 0.0, 0.0, 0.0, 0.0, policy.name, reporting_year)
    return BookBenefits(
        len(chosen),
        float(result["coal_saved"].sum()),
        float(result["co2_reduced"].sum()),
        float(result["attributed_coal_saved"].sum()),
        float(result["attributed_co2_reduced"].sum()),
        policy.name,
        reporting_year,
    )
