"""The audit trail: who changed what, when, from which file.

Every write of the loan book passes through a service command that calls :func:`record`, inside
the same transaction as the change, so an audit record exists exactly when the change does.
"""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import json
import os
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, insert, select, update

from greenfin.store.schema import audit_chain, audit_log

ENV_USER = "GREENFIN_USER"


def current_actor(explicit: str | None = None) -> str:
    """Who is acting: the explicit name, else ``GREENFIN_USER``, else the operating-system user."""
    if explicit:
        return explicit
    try:
        return os.environ.get(ENV_USER) or getpass.getuser()
    except (KeyError, OSError):  # no passwd entry in some containers
        return "unknown"


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def jsonable(value: Any) -> Any:
    """Values as JSON can hold them: Decimals and dates as text, never floats."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def record(
    connection: Connection,
    *,
    actor: str,
    action: str,
    entity: str,
    entity_id: str | None = None,
    detail: dict[str, Any] | None = None,
    batch_id: int | None = None,
    source_file: str | None = None,
    source_sha256: str | None = None,
) -> None:
    """Write one audit record in the caller's transaction."""
    record_many(
        connection,
        [
            {
                "actor": actor,
                "action": action,
                "entity": entity,
                "entity_id": entity_id,
                "detail": jsonable(detail or {}),
                "batch_id": batch_id,
                "source_file": source_file,
                "source_sha256": source_sha256,
            }
        ],
    )


def record_many(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """Write several audit records at once (an import's updates), each chained to the one before.

    The chain's head (table ``audit_chain``) is locked for the transaction, so concurrent writers
    take turns and the chain never forks; ids are assigned here, in chain order.
    """
    if not rows:
        return
    stamp = now()
    head = _head(connection)
    last_id, last_hash = head
    records = []
    for offset, row in enumerate(rows, start=1):
        record = {"at": stamp, "batch_id": None, "source_file": None, "source_sha256": None, "entity_id": None,
                  **row, "id": (last_id or 0) + offset, "prev_hash": last_hash}  # fmt: skip
        record["hash"] = last_hash = record_hash(record)
        records.append(record)
    connection.execute(insert(audit_log), records)
    connection.execute(
        update(audit_chain)
        .where(audit_chain.c.id == 1)
        .values(last_id=records[-1]["id"], last_hash=last_hash, records=audit_chain.c.records + len(records))
    )


GENESIS = "0" * 64
_HASHED = (
    "id",
    "at",
    "actor",
    "action",
    "entity",
    "entity_id",
    "batch_id",
    "source_file",
    "source_sha256",
    "detail",
)


def _canonical_time(value: dt.datetime) -> str:
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.isoformat(timespec="microseconds")


#: Audit entities whose changes leave the loan book (loans, borrowers, projects, labels and
#: decisions) as it was: sign-ins, tokens, prices, collateral, CERF batches, report snapshots and
#: proposals still waiting for a checker.  Everything else may change it.
OUTSIDE_THE_BOOK = ("user", "api_token", "price", "prices", "revaluation", "valuation_policy", "holding",
                    "pledge", "cerf_batch", "report_snapshots", "pledge_register", "pledge_release",
                    "cerf_submit")  # fmt: skip


def book_version(connection: Connection) -> int | None:
    """The id of the newest audit record that may have changed the loan book, or None.

    Summaries of the book are kept while this is unchanged; keying them on the whole chain's head
    would throw them away at every sign-in.  A proposal waits under its own kind (label_override …)
    and counts: it is rare, and its approval writes the change itself.
    """
    query = (
        select(audit_log.c.id)
        .where(audit_log.c.entity.not_in(OUTSIDE_THE_BOOK))
        .order_by(audit_log.c.id.desc())
        .limit(1)
    )
    found = connection.execute(query).scalar()
    return None if found is None else int(found)


def record_hash(record: dict[str, Any]) -> str:
    """SHA-256 over the record's content (canonical JSON) and the previous record's hash."""
    content = {key: record.get(key) for key in _HASHED}
    content["at"] = _canonical_time(record["at"])
    text = json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{record['prev_hash']}|{text}".encode()).hexdigest()


def _head(connection: Connection) -> tuple[int | None, str]:
    query = select(audit_chain.c.last_id, audit_chain.c.last_hash).where(audit_chain.c.id == 1)
    if connection.dialect.name == "postgresql":
        query = query.with_for_update()
    row = connection.execute(query).first()
    if row is None:
        connection.execute(insert(audit_chain).values(id=1, last_id=None, last_hash=GENESIS, records=0))
        if connection.dialect.name == "postgresql":
            row = connection.execute(query).first()
        return (None, GENESIS) if row is None else (row.last_id, row.last_hash)
    return row.last_id, row.last_hash


def chain_existing(connection: Connection) -> None:
    """Hash the records already stored (a store created before the chain existed), in id order."""
    last_hash, last_id, count = GENESIS, None, 0
    for row in connection.execute(select(audit_log).order_by(audit_log.c.id)).mappings().all():
        record = {**dict(row), "prev_hash": last_hash}
        last_hash = record_hash(record)
        connection.execute(
            update(audit_log)
            .where(audit_log.c.id == row["id"])
            .values(prev_hash=record["prev_hash"], hash=last_hash)
        )
        last_id, count = row["id"], count + 1
    connection.execute(insert(audit_chain).values(id=1, last_id=last_id, last_hash=last_hash, records=count))


@dataclass(frozen=True, slots=True)
class ChainProblem:
    record_id: int | None
    problem_zh: str


def verify_chain(connection: Connection) -> tuple[int, list[ChainProblem]]:
    """Recompute every hash in id order; report edits, deletions, insertions and a cut-off end."""
    problems: list[ChainProblem] = []
    expected_prev, count, last_id = GENESIS, 0, None
    for row in connection.execute(select(audit_log).order_by(audit_log.c.id)).mappings():
        record = dict(row)
        count += 1
        if record["prev_hash"] != expected_prev:
            problems.append(
                ChainProblem(record["id"], "与前一条记录的哈希不衔接：其前有记录被删除、插入或改动")
            )
        if record_hash(record) != record["hash"]:
            problems.append(ChainProblem(record["id"], "记录内容与其哈希不符：记录被改动"))
        expected_prev, last_id = record["hash"], record["id"]
    head = connection.execute(select(audit_chain).where(audit_chain.c.id == 1)).mappings().first()
    if head is not None and (
        head["last_id"] != last_id or head["last_hash"] != expected_prev or head["records"] != count
    ):
        problems.append(
            ChainProblem(
                head["last_id"],
                f"链尾不符：应有 {head['records']} 条记录、末条 {head['last_id']}，实有 {count} 条、末条 {last_id}",
            )
        )
    return count, problems
