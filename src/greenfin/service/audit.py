"""The audit trail: who changed what, when, from which file.

Every write of the loan book passes through a service command that calls :func:`record`, inside
the same transaction as the change, so an audit record exists exactly when the change does.

Records are hash-chained.  A plain SHA-256 chain only shows accidental damage: whoever can write
the database can edit a record and recompute every later hash.  So when a key is configured
(``GREENFIN_AUDIT_KEY``, else one derived from ``GREENFIN_SECRET_KEY``) each record's hash is an
HMAC-SHA256, which cannot be recomputed without the key; the database only ever sees the key's
short id.  Records written before (or on a store never given a key) keep their plain hashes and
are reported as checked without a key.  Once a store holds a keyed record it refuses to write
unkeyed ones, so a process started without the key cannot quietly weaken the chain.  Triggers
(migration 0007) refuse UPDATE and DELETE of ``audit_log`` besides.
"""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import hmac
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
    take turns and the chain never forks; ids are assigned here, in chain order.  With a key the
    records are keyed (HMAC); without one on a store already keyed, nothing is written (see
    :class:`AuditKeyMissing`).
    """
    if not rows:
        return
    stamp = now()
    last_id, last_hash, keyed_from = _head(connection)
    key = audit_key()
    if key is None and keyed_from is not None:
        raise AuditKeyMissing()
    scheme = key_scheme(key) if key is not None else None
    records = []
    for offset, row in enumerate(rows, start=1):
        record = {"at": stamp, "batch_id": None, "source_file": None, "source_sha256": None, "entity_id": None,
                  **row, "id": (last_id or 0) + offset, "prev_hash": last_hash, "hash_scheme": scheme}  # fmt: skip
        record["hash"] = last_hash = record_hash(record, key)
        records.append(record)
    connection.execute(insert(audit_log), records)
    head: dict[str, Any] = {"last_id": records[-1]["id"], "last_hash": last_hash}
    if key is not None and keyed_from is None:
        head["keyed_from"] = records[0]["id"]
    connection.execute(
        update(audit_chain)
        .where(audit_chain.c.id == 1)
        .values(**head, records=audit_chain.c.records + len(records))
    )


ENV_AUDIT_KEY = "GREENFIN_AUDIT_KEY"
ENV_SECRET_KEY = "GREENFIN_SECRET_KEY"
ENV_SECRET_KEY_EPHEMERAL = "GREENFIN_SECRET_KEY_EPHEMERAL"
KEYED = "hmac-sha256"


class AuditKeyMissing(RuntimeError):
    """The store's chain is keyed, and this process has no key: writing unkeyed records after keyed
    ones would let an editor of the database pass off recomputed plain hashes, so it is refused."""

    def __init__(self) -> None:
        super().__init__(
            f"审计链已启用密钥，但本进程未配置 {ENV_AUDIT_KEY}（或 {ENV_SECRET_KEY}），拒绝写入 / "
            f"the audit chain is keyed but no audit key is configured; set {ENV_AUDIT_KEY}"
        )


def audit_key() -> bytes | None:
    """The chain's HMAC key, or None when neither variable is set.

    Derived rather than used as given, so the audit key differs from the cookie-signing key even
    when both come from ``GREENFIN_SECRET_KEY``.  Read at each write: a test or an operator may
    set it after import.  A session key made up for one run (``greenfin serve`` with workers and
    no key sets ``GREENFIN_SECRET_KEY_EPHEMERAL=1``) is not used: records keyed with a key nobody
    kept could never be checked again.
    """
    configured = os.environ.get(ENV_AUDIT_KEY)
    if not configured and os.environ.get(ENV_SECRET_KEY_EPHEMERAL) != "1":
        configured = os.environ.get(ENV_SECRET_KEY)
    if not configured:
        return None
    return hmac.new(configured.encode(), b"greenfin audit chain v1", hashlib.sha256).digest()


def key_scheme(key: bytes) -> str:
    """The marker stored with a keyed record: the scheme and the key's id (never the key), so a
    verifier can tell a record made with another key from an edited one."""
    return f"{KEYED}:{hmac.new(key, b'key id', hashlib.sha256).hexdigest()[:8]}"


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


def record_hash(record: dict[str, Any], key: bytes | None = None) -> str:
    """The record's hash over its content (canonical JSON) and the previous record's hash.

    Plain SHA-256 when the record has no ``hash_scheme`` (records from before migration 0007, or
    written without a key); else HMAC-SHA256 with ``key`` over the scheme too, so the marker cannot
    be changed either.  A keyed record without a key cannot be hashed (ValueError).
    """
    content = {key_: record.get(key_) for key_ in _HASHED}
    content["at"] = _canonical_time(record["at"])
    text = json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)
    scheme = record.get("hash_scheme")
    if scheme is None:
        return hashlib.sha256(f"{record['prev_hash']}|{text}".encode()).hexdigest()
    if key is None:
        raise ValueError("keyed record without a key")
    return hmac.new(key, f"{scheme}|{record['prev_hash']}|{text}".encode(), hashlib.sha256).hexdigest()


def _head(connection: Connection) -> tuple[int | None, str, int | None]:
    query = select(audit_chain.c.last_id, audit_chain.c.last_hash, audit_chain.c.keyed_from).where(
        audit_chain.c.id == 1
    )
    if connection.dialect.name == "postgresql":
        query = query.with_for_update()
    row = connection.execute(query).first()
    if row is None:
        connection.execute(insert(audit_chain).values(id=1, last_id=None, last_hash=GENESIS, records=0))
        if connection.dialect.name == "postgresql":
            row = connection.execute(query).first()
        return (None, GENESIS, None) if row is None else (row.last_id, row.last_hash, row.keyed_from)
    return row.last_id, row.last_hash, row.keyed_from


def chain_existing(connection: Connection) -> None:
    """Hash the records already stored (a store created before the chain existed), in id order.

    Run by migration 0005, when ``audit_log`` has only the columns named here (the declared table
    has later ones too), and unkeyed: the key is not the migration's to know.
    """
    last_hash, last_id, count = GENESIS, None, 0
    columns = [audit_log.c[name] for name in _HASHED]
    for row in connection.execute(select(*columns).order_by(audit_log.c.id)).mappings().all():
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


@dataclass(frozen=True, slots=True)
class ChainReport:
    """What a verification found, and how far it could look.

    ``unkeyed`` are records whose plain hash was checked (anyone who can write the database could
    have recomputed it); ``unchecked`` are keyed records whose content could not be checked because
    no key was available (only their links were).
    """

    records: int
    problems: list[ChainProblem]
    keyed: bool
    unkeyed: list[int]
    unchecked: list[int]
    keyed_from: int | None

    @property
    def intact(self) -> bool:
        return not self.problems


def verify_chain(connection: Connection, key: bytes | None = None) -> tuple[int, list[ChainProblem]]:
    """Recompute every hash in id order; report edits, deletions, insertions and a cut-off end.

    The key defaults to the configured one (:func:`audit_key`); :func:`verify_report` says also
    which records could only be checked without it.
    """
    report = verify_report(connection, key)
    return report.records, report.problems


def verify_report(
    connection: Connection, key: bytes | None = None, *, keyed_after: int | None = None
) -> ChainReport:
    """The chain checked record by record, with the configured key unless ``key`` is given.

    A keyed record is checked with the key, or only for its link without one.  A plain record is
    checked with SHA-256, and is a problem where it stands after the chain's first keyed record
    (or after ``keyed_after``, an id the operator noted outside the database): a keyed chain
    rewritten with plain hashes is how an editor without the key would hide an edit.
    """
    key = key if key is not None else audit_key()
    scheme = key_scheme(key) if key is not None else None
    head = connection.execute(select(audit_chain).where(audit_chain.c.id == 1)).mappings().first()
    keyed_from = None if head is None else head["keyed_from"]
    problems: list[ChainProblem] = []
    unkeyed: list[int] = []
    unchecked: list[int] = []
    expected_prev, count, last_id, first_keyed = GENESIS, 0, None, None
    for row in connection.execute(select(audit_log).order_by(audit_log.c.id)).mappings():
        record = dict(row)
        count += 1
        rid = record["id"]
        if record["prev_hash"] != expected_prev:
            problems.append(ChainProblem(rid, "与前一条记录的哈希不衔接：其前有记录被删除、插入或改动"))
        marker = record["hash_scheme"]
        if marker is None:
            if (
                (keyed_from is not None and rid >= keyed_from)
                or (first_keyed is not None)
                or (keyed_after is not None and rid > keyed_after)
            ):
                problems.append(
                    ChainProblem(
                        rid, "启用密钥后出现未加密钥的记录：记录被改写 / unkeyed record in a keyed chain"
                    )
                )
            elif record_hash(record) != record["hash"]:
                problems.append(ChainProblem(rid, "记录内容与其哈希不符：记录被改动"))
            else:
                unkeyed.append(rid)
        else:
            first_keyed = rid if first_keyed is None else first_keyed
            if key is None:
                unchecked.append(rid)
            elif marker != scheme:
                problems.append(
                    ChainProblem(
                        rid,
                        f"记录由另一密钥（{marker}）签署，当前密钥（{scheme}）无法校验：密钥不符或记录被改动 / "
                        "keyed with another key",
                    )
                )
            elif record_hash(record, key) != record["hash"]:
                problems.append(ChainProblem(rid, "记录内容与其哈希不符：记录被改动"))
        expected_prev, last_id = record["hash"], rid
    if first_keyed != keyed_from:
        problems.append(
            ChainProblem(
                keyed_from,
                f"链首记载自记录 {keyed_from} 起加密钥，实际首条加密钥记录为 {first_keyed}：链首或记录被改动",
            )
        )
    if head is not None and (
        head["last_id"] != last_id or head["last_hash"] != expected_prev or head["records"] != count
    ):
        problems.append(
            ChainProblem(
                head["last_id"],
                f"链尾不符：应有 {head['records']} 条记录、末条 {head['last_id']}，实有 {count} 条、末条 {last_id}",
            )
        )
    return ChainReport(count, problems, key is not None, unkeyed, unchecked, keyed_from)
