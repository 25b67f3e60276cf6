"""Borrowers entered or corrected by hand (the API's POST, PATCH and DELETE).

Each field goes through the importer's parser for that column (``ingest.columns``), so the API
accepts exactly what a loan-book file would, in the form the import stores; the stored content
digest (``row_hash``) is the import's too and is the row's version (ETag).  An edit names the
version it was made on and the UPDATE compares it (compare-and-set, as for loans).  The machinery
is shared with ``service.projects``: the two differ only in their fields and their rules.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, Table, delete, func, select, update

from greenfin.ingest.columns import BY_NAME
from greenfin.ingest.rows import BORROWER_FIELDS
from greenfin.model.identifiers import IdentifierError
from greenfin.model.problems import ValueProblem
from greenfin.reference.regions import region
from greenfin.service import audit
from greenfin.service.loans import (
    AlreadyExists,
    FieldProblem,
    InUse,
    Invalid,
    NotFound,
    StaleVersion,
    digest,
    insert_new,
    parse_field,
    require,
    stored,
)
from greenfin.store.schema import borrowers, holdings, loans


@dataclass(frozen=True)
class Entity:
    """How one kind of reference row is entered by hand."""

    name: str
    name_zh: str
    table: Table
    key: str
    #: (API field, importer column spec, stored column) for each field a caller may give
    fields: tuple[tuple[str, str, str], ...]
    #: fields needed on create besides those the importer's specs already require
    required: frozenset[str]
    #: the stored columns in the order the import digests them
    order: tuple[str, ...]
    derive: Callable[[dict[str, Any]], dict[str, Any]]
    rules: Callable[[dict[str, Any], list[FieldProblem]], None]
    dependents: Callable[[Connection, str], list[tuple[str, str]]]

    def column_of(self, field: str) -> str:
        return next(column for api, _spec, column in self.fields if api == field)


def _form(value: Any) -> Any:
    """A value read from the store in the form the import digests (dates and decimals as text)."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        return str(Decimal(str(value)))
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return value


def _parse(entity: Entity, given: Mapping[str, Any], *, creating: bool) -> dict[str, Any]:
    """The given fields parsed to stored form, keyed by stored column; every problem located."""
    known = {api for api, _s, _c in entity.fields}
    problems = [FieldProblem(f, None, "未知字段", "unknown field") for f in sorted(set(given) - known)]
    values: dict[str, Any] = {}
    for api, spec, column in entity.fields:
        if api not in given and not creating:
            continue
        raw = given.get(api)
        if raw is None and api in entity.required:
            problems.append(FieldProblem(api, None, f"{BY_NAME[spec].label_zh}为必填项，但为空",
                                         f"{BY_NAME[spec].label} is required but empty"))  # fmt: skip
            continue
        before = len(problems)
        value = parse_field(spec, api, raw, problems)
        if len(problems) == before:
            values[column] = value
    if problems:
        raise Invalid(problems)
    return values


def create(
    engine: Engine, entity: Entity, given: Mapping[str, Any], *, actor: str, permissions: Iterable[str]
) -> str:
    """Insert one row; return its version.  409 (:class:`AlreadyExists`) when the key is taken."""
    require(permissions, "IMPORT_LOAN")
    values = _parse(entity, given, creating=True)
    values.update(entity.derive(values))
    problems: list[FieldProblem] = []
    entity.rules(values, problems)
    if problems:
        raise Invalid(problems)
    row = [values.get(column) for column in entity.order]
    version = digest(row)
    key = values[entity.key]
    with engine.begin() as connection:
        column = entity.table.c[entity.key]
        exists = (f"{entity.name_zh} {key} 已存在", f"{entity.name} {key} already exists")
        if connection.execute(select(column).where(column == key)).first() is not None:
            raise AlreadyExists(*exists)
        typed = {**stored(entity.table, entity.order, row), "row_hash": version}
        # a create of the same key that committed since the check above is a 409 too, not a 500
        insert_new(connection, entity.table, entity.key, typed, AlreadyExists(*exists))
        audit.record(
            connection, actor=actor, action="create", entity=entity.name, entity_id=key,
            detail={"after": audit.jsonable(typed), "via": "api"},
        )  # fmt: skip
    return version


def read(engine: Engine, entity: Entity, key: str) -> dict[str, Any]:
    with engine.connect() as connection:
        row = (
            connection.execute(select(entity.table).where(entity.table.c[entity.key] == key))
            .mappings()
            .first()
        )
    if row is None:
        raise NotFound(key)
    return dict(row)


def edit(
    engine: Engine,
    entity: Entity,
    key: str,
    given: Mapping[str, Any],
    *,
    expected: str,
    actor: str,
    permissions: Iterable[str],
) -> str:
    """Change some fields if the row is still at version ``expected``; return the new version."""
    require(permissions, "EDIT_LOAN")
    if entity.key in {entity.column_of(f) for f in given if f in {a for a, _s, _c in entity.fields}}:
        raise Invalid([FieldProblem(entity.key, None, "编号不可修改", "the key cannot be changed")])
    values = _parse(entity, given, creating=False)
    with engine.begin() as connection:
        table = entity.table
        row = connection.execute(select(table).where(table.c[entity.key] == key)).mappings().first()
        if row is None:
            raise NotFound(key)
        if row["row_hash"] != expected:
            raise StaleVersion(row["row_hash"])
        merged = {column: _form(row[column]) for column in entity.order}
        merged.update(values)
        merged.update(entity.derive(merged))
        problems: list[FieldProblem] = []
        entity.rules(merged, problems)
        if problems:
            raise Invalid(problems)
        version = digest([merged[column] for column in entity.order])
        changed = {c: merged[c] for c in entity.order if merged[c] != _form(row[c])}
        if not changed:
            return expected
        typed = stored(table, list(changed), list(changed.values()))
        written = connection.execute(
            update(table)
            .where(table.c[entity.key] == key, table.c.row_hash == expected)
            .values(**typed, row_hash=version)
        ).rowcount
        if written != 1:  # changed between the read and the write: compare-and-set refused it
            raise StaleVersion(expected)
        audit.record(
            connection, actor=actor, action="update", entity=entity.name, entity_id=key,
            detail={"before": audit.jsonable({c: row[c] for c in changed}), "after": audit.jsonable(typed),
                    "version": version, "via": "api"},
        )  # fmt: skip
    return version


def remove(engine: Engine, entity: Entity, key: str, *, actor: str, permissions: Iterable[str]) -> None:
    """Delete a row entered by mistake; refuse (:class:`InUse`) while other rows refer to it."""
    require(permissions, "EDIT_LOAN")
    with engine.begin() as connection:
        table = entity.table
        row = connection.execute(select(table).where(table.c[entity.key] == key)).mappings().first()
        if row is None:
            raise NotFound(key)
        reasons = entity.dependents(connection, key)
        if reasons:
            raise InUse(reasons)
        gone = connection.execute(
            delete(table).where(table.c[entity.key] == key, table.c.row_hash == row["row_hash"])
        )
        if gone.rowcount != 1:
            raise StaleVersion(row["row_hash"])
        audit.record(
            connection, actor=actor, action="delete", entity=entity.name, entity_id=key,
            detail={"before": audit.jsonable(dict(row)), "via": "api"},
        )  # fmt: skip


# --- borrowers ----------------------------------------------------------------------------------


def _borrower_places(values: dict[str, Any]) -> dict[str, Any]:
    code = values.get("region_code")
    if code is None:
        return {}
    try:
        place = region(code)
    except (IdentifierError, ValueProblem):  # refused by the field's own parser already
        return {}
    return {"province_code": code[:2], "grid_region": place.grid_region}


def _no_rules(_values: dict[str, Any], _problems: list[FieldProblem]) -> None:
    return None


def _borrower_dependents(connection: Connection, key: str) -> list[tuple[str, str]]:
    reasons = []
    count = connection.execute(
        select(func.count()).select_from(loans).where(loans.c.borrower_credit_code == key)
    ).scalar_one()
    if count:
        reasons.append((f"有 {count} 笔贷款属于该借款人", f"{count} loan(s) belong to it"))
    held = connection.execute(
        select(func.count()).select_from(holdings).where(holdings.c.holder_credit_code == key)
    ).scalar_one()
    if held:
        reasons.append((f"有 {held} 个环境权益持仓属于该借款人", f"{held} holding(s) belong to it"))
    return reasons


BORROWER = Entity(
    name="borrower",
    name_zh="借款人",
    table=borrowers,
    key="credit_code",
    fields=(
        ("credit_code", "borrower_credit_code", "credit_code"),
        ("name", "borrower_name", "name"),
        ("industry_code", "industry_code", "industry_code"),
        ("region_code", "region_code", "region_code"),
        ("size_class", "size_class", "size_class"),
        ("revenue", "revenue", "revenue_fen"),
        ("total_assets", "total_assets", "total_assets_fen"),
        ("equity", "equity", "equity_fen"),
        ("debt", "debt", "debt_fen"),
        ("evic", "evic", "evic_fen"),
        ("scope1", "scope1", "scope1_tco2e"),
        ("scope2", "scope2", "scope2_tco2e"),
        ("emissions_quality", "emissions_quality", "emissions_quality"),
    ),
    required=frozenset(),
    order=BORROWER_FIELDS,
    derive=_borrower_places,
    rules=_no_rules,
    dependents=_borrower_dependents,
)


def create_borrower(
    engine: Engine, given: Mapping[str, Any], *, actor: str, permissions: Iterable[str]
) -> str:
    return create(engine, BORROWER, given, actor=actor, permissions=permissions)


def edit_borrower(
    engine: Engine,
    key: str,
    given: Mapping[str, Any],
    *,
    expected: str,
    actor: str,
    permissions: Iterable[str],
) -> str:
    return edit(engine, BORROWER, key, given, expected=expected, actor=actor, permissions=permissions)


def delete_borrower(engine: Engine, key: str, *, actor: str, permissions: Iterable[str]) -> None:
    remove(engine, BORROWER, key, actor=actor, permissions=permissions)
