"""Writing single loans by hand (the API's POST, PATCH and DELETE), and the label in force.

The loan's version is its ``row_hash`` (the import's content digest).  An edit names the version
it was made on, and the UPDATE itself compares it (compare-and-set): a check made before the write
would let two edits of one version both pass on a database that does not serialise them.  The new
version marks the row as edited, so re-importing the bank's file later compares unequal and
restores (and records) the file's values: the bank's system stays the source of truth.

A loan created here is checked by the importer's own row validator (``ingest.rows``), so the API
can never accept a loan that the same bank file would be refused for, nor store it in another form.
Every command checks the caller's permission names itself (the page, the API and a script get the
same answer) and writes its audit record in the transaction of the change.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    FromClause,
    Select,
    Table,
    and_,
    case,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from greenfin.ingest import vectorised
from greenfin.ingest.columns import BY_NAME
from greenfin.ingest.rows import LOAN_FIELDS, RowValidator, parse_cell
from greenfin.model.problems import ValueProblem
from greenfin.model.values import check_loan_consistency, parse_five_tier, parse_money_fen
from greenfin.service import audit
from greenfin.service.importing import _typed
from greenfin.store.paging import page_of
from greenfin.store.schema import (
    borrowers,
    cerf_batch_loans,
    label_decisions,
    loan_labels,
    loans,
    pending_actions,
    pledge_loans,
    pledges,
    projects,
)

EDITABLE = ("purpose", "five_tier", "balance")
#: The fields of a loan created by hand, named as the importer's columns (``ingest.columns``).
LOAN_INPUT = (
    "loan_id", "borrower_credit_code", "project_id", "purpose", "amount", "balance", "currency", "rate_pct",
    "approval_date", "start_date", "maturity_date", "five_tier", "bank_green_flag", "bank_green_category",
)  # fmt: skip
LABEL_STATUSES = ("green", "not_green", "needs_review")


class StaleVersion(Exception):
    """The row changed after the version the edit was made on."""


class NotFound(LookupError):
    """No row with that key."""


class LoanNotFound(NotFound):
    pass


class NotPermitted(PermissionError):
    """The caller lacks the permission (``service.permissions``) the command needs."""

    def __init__(self, permission: str) -> None:
        super().__init__(f"无权限 {permission} / missing permission {permission}")
        self.permission = permission


class AlreadyExists(Exception):
    """A create named a key the store already holds."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(f"{zh} / {en}")


class InUse(Exception):
    """A delete refused because other records still depend on the row; ``reasons`` says which."""

    def __init__(self, reasons: Sequence[tuple[str, str]]) -> None:
        zh = "；".join(r[0] for r in reasons)
        en = "; ".join(r[1] for r in reasons)
        super().__init__(f"不能删除：{zh} / cannot delete: {en}")
        self.reasons = list(reasons)


@dataclass(frozen=True)
class FieldProblem:
    field: str
    value: str | None
    message_zh: str
    message_en: str


class Invalid(ValueError):
    """Values refused, each problem located to its field."""

    def __init__(self, problems: Sequence[FieldProblem]) -> None:
        first = problems[0]
        super().__init__(f"{first.field}: {first.message_zh} / {first.message_en}")
        self.problems = list(problems)


def insert_new(
    connection: Connection, table: Table, key: str, values: Mapping[str, Any], taken: AlreadyExists
) -> None:
    """Insert a row whose key was found free; raise ``taken`` if another create took it meanwhile.

    The check before the insert is not enough: two creates of one key at once both find it free,
    and the second insert breaks the primary key (``IntegrityError``), which the API would answer
    with a 500.  Only a broken key is that conflict: the key is looked up again on a connection of
    its own (this transaction may be aborted, on PostgreSQL), and any other integrity error is
    passed on as it is.
    """
    try:
        connection.execute(insert(table).values(**values))
    except IntegrityError:
        column = table.c[key]
        engine = connection.engine
        with engine.connect() as other:
            found = other.execute(select(column).where(column == values[key])).first()
        if found is not None:
            raise taken from None
        raise


def require(permissions: Iterable[str], needed: str) -> None:
    """Refuse unless ``needed`` is among the caller's permission names."""
    if needed not in permissions:
        raise NotPermitted(needed)


def parse_field(spec_name: str, field: str, raw: Any, problems: list[FieldProblem]) -> Any:
    """One input value through the importer's parser for that column; problems are collected."""
    try:
        return parse_cell(raw, BY_NAME[spec_name], None)
    except ValueProblem as exc:
        problems.append(FieldProblem(field, None if raw is None else str(raw), exc.zh, exc.en))
        return None


def digest(values: Sequence[Any]) -> str:
    """The content digest the importer stores for a row of stored values (``vectorised.digests``)."""
    return vectorised.digests([[value] for value in values])[0]


def stored(table: Any, names: Sequence[str], values: Sequence[Any]) -> dict[str, Any]:
    """Stored-form values (ISO dates, decimal text, JSON text) as the columns' Python types."""
    return {name: _typed(table, name, value) for name, value in zip(names, values, strict=True)}


# --- the label in force -------------------------------------------------------------------------


class LabelInForce(NamedTuple):
    """A book joined to the label that counts: the officer's latest decision, else the engine's."""

    joined: FromClause
    status: ColumnElement[Any]
    item_code: ColumnElement[Any]
    decided: ColumnElement[bool]
    engine_status: ColumnElement[Any]


def latest_run(connection: Connection) -> int | None:
    value = connection.execute(select(func.max(loan_labels.c.run_id))).scalar()
    return None if value is None else int(value)


def label_in_force(base: FromClause, run_id: int | None) -> LabelInForce:
    """``base`` (which holds ``loans``) joined to the label in force, for filtering in SQL.

    An approved override is a decision (``label_decisions``), so it counts here; a pending one is
    not yet.  The same rule as ``service.green_book``, done in SQL so that a page of a big book
    reads one page of rows.  The web pages and the API both build their loan lists on it.
    """
    label = loan_labels.alias("label")
    last = (
        select(label_decisions.c.loan_id, func.max(label_decisions.c.id).label("id"))
        .group_by(label_decisions.c.loan_id)
        .subquery("last_decision")
    )
    decision = label_decisions.alias("decision")
    joined = (
        base.outerjoin(label, and_(label.c.loan_id == loans.c.loan_id, label.c.run_id == (run_id or -1)))
        .outerjoin(last, last.c.loan_id == loans.c.loan_id)
        .outerjoin(decision, decision.c.id == last.c.id)
    )
    decided = decision.c.id.is_not(None)
    return LabelInForce(
        joined,
        case((decided, decision.c.status), else_=label.c.status),
        case((decided, decision.c.item_code), else_=label.c.item_code),
        decided,
        label.c.status,
    )


def like_any(text: str, *columns: Any) -> ColumnElement[bool]:
    """Columns containing ``text`` literally: ``%`` and ``_`` in it are escaped, not wildcards.

    A NUL character is dropped: no stored text holds one, and PostgreSQL refuses it in a query
    (a search for ``%00`` was a server error there)."""
    text = text.replace("\x00", "")
    return or_(*(column.contains(text, autoescape=True) for column in columns))


# --- the loan book, a page at a time -------------------------------------------------------------

#: The keys the loan book sorts by (``-key`` descending): a whitelist, so a query string never
#: names SQL.  The API's and the pages' lists share it, so they give the same loans in the same order.
LOAN_SORT_KEYS = ("loan_id", "borrower", "amount", "balance", "start_date", "maturity_date", "status", "item")
#: Other spellings of a sort key (the API's first version named the borrower's column).
LOAN_SORT_ALIASES = {"borrower_name": "borrower"}
#: The label filters: a label in force, or ``none`` for a loan not labelled yet.
STATUS_FILTERS = (*LABEL_STATUSES, "none")


def loan_query(run_id: int | None) -> tuple[Select[Any], LabelInForce]:
    """Every loan with its borrower's name and industry and the label in force, not yet filtered.

    The columns are the API's (``label_status``, ``label_item``, ``label_decided``,
    ``engine_status``); one loan is one row, so the page can be cut on the loan id's index.
    """
    force = label_in_force(loans.join(borrowers), run_id)
    query = select(
        loans, borrowers.c.name.label("borrower_name"), borrowers.c.industry_code,
        force.status.label("label_status"), force.item_code.label("label_item"),
        force.decided.label("label_decided"), force.engine_status.label("engine_status"),
    ).select_from(force.joined)  # fmt: skip
    return query, force


def loan_page(
    engine: Engine, *, q: str = "", status: str = "", sort: str = "loan_id", descending: bool = False,
    page: int = 1, size: int = 20,
) -> tuple[list[dict[str, Any]], int]:  # fmt: skip
    """A page of the loan book and how many loans match: the one list behind the API and the pages.

    ``q`` is found literally in the loan id, borrower name or purpose; ``status`` keeps one of
    :data:`STATUS_FILTERS` (empty: all); ``sort`` is one of :data:`LOAN_SORT_KEYS` or an alias.
    Ties go by loan id and loans without a value (an unlabelled loan's status) come last in both
    directions, so pages never overlap and both callers agree.  Sorted by loan id, the page is cut
    on that index before the joins (``store.paging.page_of``): a middle page of a million loans
    costs no more than the first; the total of an unfiltered book is counted without the joins.
    """
    key = LOAN_SORT_ALIASES.get(sort, sort)
    if key not in LOAN_SORT_KEYS:
        raise ValueProblem(f"unknown sort key {sort!r}", f"未知排序字段 {sort!r}")
    if status and status not in STATUS_FILTERS:
        raise ValueProblem(f"unknown label status {status!r}", f"未知识别结果 {status!r}")
    with engine.connect() as connection:
        query, force = loan_query(latest_run(connection))
        if q:
            query = query.where(like_any(q, loans.c.loan_id, borrowers.c.name, loans.c.purpose))
        if status == "none":
            query = query.where(force.status.is_(None))
        elif status:
            query = query.where(force.status == status)
        filtered = bool(q or status)
        counted = query.subquery() if filtered else loans  # no filter: every loan, without the joins
        total = int(connection.execute(select(func.count()).select_from(counted)).scalar_one())
        offset = (page - 1) * size
        if key == "loan_id":
            window = page_of(
                query, loans.c.loan_id, descending=descending, size=size, offset=offset, filtered=filtered
            )
        else:
            columns: dict[str, Any] = {
                "borrower": borrowers.c.name, "amount": loans.c.amount_fen, "balance": loans.c.balance_fen,
                "start_date": loans.c.start_date, "maturity_date": loans.c.maturity_date,
                "status": force.status, "item": force.item_code,
            }  # fmt: skip
            column = columns[key]
            order = column.desc() if descending else column.asc()
            window = query.order_by(order.nulls_last(), loans.c.loan_id).limit(size).offset(offset)
        return [dict(row) for row in connection.execute(window).mappings()], total


# --- commands -----------------------------------------------------------------------------------


def update_loan(
    engine: Engine,
    loan_id: str,
    changes: dict[str, Any],
    *,
    expected: str,
    actor: str,
    permissions: Iterable[str] | None = None,
) -> str:
    """Apply ``changes`` (purpose, five_tier, balance with its unit) if the loan is still at ``expected``.

    ``permissions`` None is a trusted caller (a script run by the operator); the API passes the
    caller's names and EDIT_LOAN is required.
    """
    if permissions is not None:
        require(permissions, "EDIT_LOAN")
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise ValueProblem(f"fields not editable: {unknown}", f"不可修改的字段：{unknown}")
    with engine.begin() as connection:
        row = connection.execute(select(loans).where(loans.c.loan_id == loan_id)).mappings().first()
        if row is None:
            raise LoanNotFound(loan_id)
        if row["row_hash"] != expected:
            raise StaleVersion(row["row_hash"])
        values: dict[str, Any] = {}
        if "purpose" in changes:
            text = str(changes["purpose"] or "").strip()
            if len(text) > 2000:
                raise ValueProblem("purpose longer than 2000 characters", "贷款用途超过 2000 字")
            values["purpose"] = text or None
        if "five_tier" in changes:
            values["five_tier"] = str(parse_five_tier(changes["five_tier"]))
        if "balance" in changes:
            values["balance_fen"] = parse_money_fen(str(changes["balance"]), None)
        check_loan_consistency(
            row["amount_fen"], values.get("balance_fen", row["balance_fen"]), row["approval_date"],
            row["start_date"], row["maturity_date"],
        )  # fmt: skip
        before = {k: row[k] for k in values}
        content = json.dumps(
            {**{k: str(v) for k, v in row.items()}, **{k: str(v) for k, v in values.items()}}, sort_keys=True
        )
        version = hashlib.blake2b(content.encode(), digest_size=16).hexdigest()
        # compare-and-set: the row is written only if it is still the version read above, so of
        # two edits made on one version exactly one wins, whatever the isolation level
        written = connection.execute(
            update(loans)
            .where(loans.c.loan_id == loan_id, loans.c.row_hash == expected)
            .values(**values, row_hash=version)
        ).rowcount
        if written != 1:
            raise StaleVersion(expected)  # leaving the block rolls the transaction back
        audit.record(
            connection, actor=actor, action="update", entity="loan", entity_id=loan_id,
            detail={"before": audit.jsonable({k: v for k, v in before.items()}),
                    "after": audit.jsonable(values), "version": version, "via": "api"},
        )  # fmt: skip
    return version


def _located(problems: list[FieldProblem], field: str, zh: str, en: str, value: Any = None) -> None:
    problems.append(FieldProblem(field, None if value is None else str(value), zh, en))


def create_loan(engine: Engine, fields: Mapping[str, Any], *, actor: str, permissions: Iterable[str]) -> str:
    """Create one loan of an existing borrower (and project); return its version (ETag).

    The values go through ``ingest.rows.RowValidator`` as a one-row file whose headers are the
    field names, with the borrower's and project's stored values filled in: the importer's
    parsers, units and cross-field rules, and its content digest, so a later import of the same
    loan from the bank's file finds it unchanged.
    """
    require(permissions, "IMPORT_LOAN")
    unknown = sorted(set(fields) - set(LOAN_INPUT))
    if unknown:
        raise Invalid([FieldProblem(u, None, "未知字段", "unknown field") for u in unknown])
    problems: list[FieldProblem] = []
    code = parse_field(
        "borrower_credit_code", "borrower_credit_code", fields.get("borrower_credit_code"), problems
    )
    with engine.begin() as connection:
        borrower = None
        if code is not None:
            borrower = (
                connection.execute(select(borrowers).where(borrowers.c.credit_code == code))
                .mappings()
                .first()
            )
            if borrower is None:
                _located(problems, "borrower_credit_code", f"借款人 {code} 不存在，请先创建借款人",
                         f"no borrower {code}; create the borrower first", code)  # fmt: skip
        project = None
        project_id = fields.get("project_id")
        if project_id not in (None, ""):
            project = connection.execute(
                select(projects.c.project_id, projects.c.name).where(projects.c.project_id == str(project_id))
            ).first()
            if project is None:
                _located(problems, "project_id", f"项目 {project_id} 不存在，请先创建项目",
                         f"no project {project_id}; create the project first", project_id)  # fmt: skip
        if problems:
            raise Invalid(problems)
        assert borrower is not None
        # only the fields given, as a file with just those columns: an absent currency is CNY
        header = [
            name
            for name in LOAN_INPUT
            if name not in ("borrower_credit_code", "project_id") and fields.get(name) is not None
        ]
        cells: list[Any] = [fields.get(name) for name in header]
        header += ["borrower_credit_code", "borrower_name", "industry_code", "region_code"]
        cells += [code, borrower["name"], borrower["industry_code"], borrower["region_code"]]
        if project is not None:
            header += ["project_id", "project_name"]
            cells += [project.project_id, project.name]
        validator = RowValidator("api", header)
        if validator.header_issues:  # the field names are the importer's own column names
            raise RuntimeError(
                f"loan fields no longer match the importer's columns: {validator.header_issues}"
            )
        record, issues = validator.validate(2, cells)
        if record is None:
            raise Invalid(
                [FieldProblem(_field_of(i.column), i.value, i.message_zh, i.message_en) for i in issues]
            )
        loan_id = record.loan[0]
        taken = connection.execute(select(loans.c.loan_id).where(loans.c.loan_id == loan_id)).first()
        exists = (f"贷款 {loan_id} 已存在", f"loan {loan_id} already exists")
        if taken is not None:
            raise AlreadyExists(*exists)
        names = (*LOAN_FIELDS, "row_hash")
        values = stored(loans, names, record.loan)
        insert_new(connection, loans, "loan_id", values, AlreadyExists(*exists))
        audit.record(
            connection, actor=actor, action="create", entity="loan", entity_id=loan_id,
            detail={"after": audit.jsonable(values), "via": "api"},
        )  # fmt: skip
    return str(values["row_hash"])


def _field_of(column: str | None) -> str:
    """The API field an importer issue is about (its column header is the field name)."""
    if column is None:
        return "body"
    return column


def delete_loan(engine: Engine, loan_id: str, *, actor: str, permissions: Iterable[str]) -> None:
    """Delete a loan entered by mistake; refuse while anything still depends on it.

    Pledges, a label in force under review, pending proposals and CERF batches would all lose
    their subject, and each is a process someone is still working on or has reported: the user
    settles them first.  The loan's label history goes with it; the audit record keeps the row.
    """
    require(permissions, "EDIT_LOAN")
    with engine.begin() as connection:
        row = connection.execute(select(loans).where(loans.c.loan_id == loan_id)).mappings().first()
        if row is None:
            raise LoanNotFound(loan_id)
        reasons: list[tuple[str, str]] = []
        linked = select(pledge_loans.c.pledge_id).where(pledge_loans.c.loan_id == loan_id)
        pledged = connection.execute(
            select(func.count()).select_from(pledges).where(or_(pledges.c.loan_id == loan_id, pledges.c.pledge_id.in_(linked)))
        ).scalar_one()  # fmt: skip
        if pledged:
            reasons.append((f"有 {pledged} 笔环境权益质押", f"{pledged} pledge(s) secure it"))
        force = label_in_force(loans, latest_run(connection))
        status = connection.execute(
            select(force.status).select_from(force.joined).where(loans.c.loan_id == loan_id)
        ).scalar()
        if status == "needs_review":
            reasons.append(("识别结果待人工复核", "its label is under review"))
        waiting = connection.execute(
            select(func.count())
            .select_from(pending_actions)
            .where(pending_actions.c.entity_id == loan_id, pending_actions.c.status == "pending")
        ).scalar_one()
        if waiting:
            reasons.append((f"有 {waiting} 项待审批的操作", f"{waiting} proposal(s) await approval"))
        reported = connection.execute(
            select(func.count()).select_from(cerf_batch_loans).where(cerf_batch_loans.c.loan_id == loan_id)
        ).scalar_one()
        if reported:
            reasons.append(("已列入碳减排支持工具批次", "it is in a CERF batch"))
        if reasons:
            raise InUse(reasons)
        labels = connection.execute(delete(loan_labels).where(loan_labels.c.loan_id == loan_id)).rowcount
        decisions = connection.execute(
            delete(label_decisions).where(label_decisions.c.loan_id == loan_id)
        ).rowcount
        gone = connection.execute(
            delete(loans).where(loans.c.loan_id == loan_id, loans.c.row_hash == row["row_hash"])
        )
        if gone.rowcount != 1:  # edited meanwhile: the user decides again on what it is now
            raise StaleVersion(row["row_hash"])
        audit.record(
            connection, actor=actor, action="delete", entity="loan", entity_id=loan_id,
            detail={"before": audit.jsonable(dict(row)), "labels_removed": labels,
                    "decisions_removed": decisions, "via": "api"},
        )  # fmt: skip
