"""Projects entered or corrected by hand (the API's POST, PATCH and DELETE).

The machinery, and why it parses with the importer's column parsers, is ``service.borrowers``'s.
A project's own rules are the importer's: it needs a name, and its dates in order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Connection, Engine, func, select

from greenfin.ingest.columns import parameters_json
from greenfin.ingest.rows import PROJECT_FIELDS
from greenfin.model.problems import ValueProblem
from greenfin.model.values import check_order
from greenfin.service.borrowers import Entity, create, edit, remove
from greenfin.service.loans import FieldProblem
from greenfin.store.schema import loans, projects


def _defaults(values: dict[str, Any]) -> dict[str, Any]:
    """A project without technical parameters stores an empty set of them, as the import does."""
    return {} if values.get("parameters") else {"parameters": parameters_json({})}


def _rules(values: dict[str, Any], problems: list[FieldProblem]) -> None:
    try:
        check_order(values.get("start_date"), values.get("completion_date"), "项目开工日期", "项目投产日期")
    except ValueProblem as exc:
        problems.append(FieldProblem("completion_date", values.get("completion_date"), exc.zh, exc.en))


def _dependents(connection: Connection, key: str) -> list[tuple[str, str]]:
    count = connection.execute(
        select(func.count()).select_from(loans).where(loans.c.project_id == key)
    ).scalar_one()
    return [(f"有 {count} 笔贷款投向该项目", f"{count} loan(s) finance it")] if count else []


PROJECT = Entity(
    name="project",
    name_zh="项目",
    table=projects,
    key="project_id",
    fields=(
        ("project_id", "project_id", "project_id"),
        ("name", "project_name", "name"),
        ("description", "project_description", "description"),
        ("region_code", "project_region_code", "region_code"),
        ("project_type", "project_type", "project_type"),
        ("capacity", "capacity", "capacity_mw"),
        ("annual_generation", "annual_generation", "annual_generation_mwh"),
        ("total_investment", "total_investment", "total_investment_fen"),
        ("start_date", "project_start_date", "start_date"),
        ("completion_date", "project_completion_date", "completion_date"),
        ("parameters", "tech_params", "parameters"),
    ),
    required=frozenset({"project_id", "name"}),
    order=PROJECT_FIELDS,
    derive=_defaults,
    rules=_rules,
    dependents=_dependents,
)


def create_project(
    engine: Engine, given: Mapping[str, Any], *, actor: str, permissions: Iterable[str]
) -> str:
    return create(engine, PROJECT, given, actor=actor, permissions=permissions)


def edit_project(
    engine: Engine,
    key: str,
    given: Mapping[str, Any],
    *,
    expected: str,
    actor: str,
    permissions: Iterable[str],
) -> str:
    return edit(engine, PROJECT, key, given, expected=expected, actor=actor, permissions=permissions)


def delete_project(engine: Engine, key: str, *, actor: str, permissions: Iterable[str]) -> None:
    remove(engine, PROJECT, key, actor=actor, permissions=permissions)
