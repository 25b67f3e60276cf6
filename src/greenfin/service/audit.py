"""The audit trail: who changed what, when, from which file.

Every write of the loan book passes through a service command that calls :func:`record`, inside
the same transaction as the change, so an audit record exists exactly when the change does.

Records are hash-chained.  A plain SHA-256 chain only shows accidental damage: whoever can write
the database can edit a record and recompute every later hash.  So when ``GREENFIN_AUDIT_KEY`` is
set each record's hash is an HMAC-SHA256, which cannot be recomputed without the key; the database
only ever sees the key's short id.  The variable may list several keys, comma-separated: the first
signs new records, and all of them verify (each record names its key's id), so a key can be
rotated without making older records unverifiable.  The session secret (``GREENFIN_SECRET_KEY``) is
never used: it is rotated routinely, and every record keyed with it would then fail for good.

The chain's head row (``audit_chain``) is keyed too (``head_mac``), so deleting the newest records
and rewriting the head to match is detected.  Restoring an *earlier* genuine head after deleting
the records written since cannot be told from the database alone: only a head the operator noted
outside it (``greenfin audit verify --head ID:HASH``, or ``--keyed-after ID``) shows that.

Records written before (or on a store never given a key) keep their plain hashes and are reported
as checked without a key.  Once a store holds a keyed record it refuses to write unkeyed ones, so a
process started without the key cannot quietly weaken the chain.  Triggers (migration 0007) refuse
UPDATE and DELETE of ``audit_log`` besides.
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
from typing import Any, NamedTuple

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
    records are keyed (HMAC) and so is the new head; without one on a store already keyed, nothing
    is written (see :class:`AuditKeyMissing`).  A head whose MAC fails (or a keyed chain's head
    with none) is not signed again: that would launder a truncation into a valid head, so it is
    marked :data:`HEAD_TAMPERED` instead, and every later verification reports it (writes go on:
    refusing them would stop every sign-in).
    """
    if not rows:
        return
    stamp = now()
    head = _head(connection)
    last_id, last_hash, keyed_from = head.last_id, head.last_hash, head.keyed_from
    keys = audit_keys()
    key = next(iter(keys.values()), None)
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
    values: dict[str, Any] = {"last_id": records[-1]["id"], "last_hash": last_hash}
    if key is not None and scheme is not None:
        if keyed_from is None and head.head_mac is None:
            values["keyed_from"] = keyed_from = records[0]["id"]
        # a head this process cannot vouch for is never signed afresh, which would launder an
        # edit: a wrong MAC, a MAC under a key not configured (an editor can write any key id),
        # or none on a chain already keyed
        checked = _head_mac_check(head, keys)
        if checked is not True and (head.head_mac is not None or head.keyed_from is not None):
            values["head_mac"] = HEAD_TAMPERED
        else:
            values["head_mac"] = sign_head(
                key, scheme, records[-1]["id"], last_hash, keyed_from, head.records + len(records)
            )
    connection.execute(
        update(audit_chain)
        .where(audit_chain.c.id == 1)
        .values(**values, records=audit_chain.c.records + len(records))
    )


ENV_AUDIT_KEY = "GREENFIN_AUDIT_KEY"
KEYED = "hmac-sha256"
#: ``audit_chain.head_mac`` once a write found the head's MAC wrong: never signed again.
HEAD_TAMPERED = "tampered"


class AuditKeyMissing(RuntimeError):
    """The store's chain is keyed, and this process has no key: writing unkeyed records after keyed
    ones would let an editor of the database pass off recomputed plain hashes, so it is refused."""

    def __init__(self) -> None:
        super().__init__(
            f"审计链已启用密钥，但本进程未配置 {ENV_AUDIT_KEY}，拒绝写入 / "
            f"the audit chain is keyed but no audit key is configured; set {ENV_AUDIT_KEY}"
        )


def audit_keys() -> dict[str, bytes]:
    """The configured HMAC keys by their scheme marker (:func:`key_scheme`), the signing key first.

    ``GREENFIN_AUDIT_KEY`` lists one or more secrets, comma-separated (so a secret cannot contain a
    comma): the first signs new records, the others only verify records they signed, which is how
    a key is rotated.  Derived rather than used as given, so the stored key id reveals nothing of
    the secret.  Read at each call: a test or an operator may set it after import.  Deliberately
    not ``GREENFIN_SECRET_KEY``: rotating the cookie secret must not break the audit chain.
    """
    keys: dict[str, bytes] = {}
    for secret in os.environ.get(ENV_AUDIT_KEY, "").split(","):
        if secret.strip():
            key = hmac.new(secret.strip().encode(), b"greenfin audit chain v1", hashlib.sha256).digest()
            keys.setdefault(key_scheme(key), key)
    return keys


def audit_key() -> bytes | None:
    """The key that signs new records (the first of ``GREENFIN_AUDIT_KEY``), or None: unkeyed."""
    return next(iter(audit_keys().values()), None)


def key_scheme(key: bytes) -> str:
    """The marker stored with a keyed record: the scheme and the key's id (never the key), so a
    verifier can tell a record made with another key from an edited one."""
    return f"{KEYED}:{hmac.new(key, b'key id', hashlib.sha256).hexdigest()[:8]}"


def sign_head(key: bytes, scheme: str, last_id: int | None, last_hash: str, keyed_from: int | None,
             records: int) -> str:  # fmt: skip
    """The head row's MAC, stored as ``<scheme>|<hex>``: without it someone able to drop the
    triggers could delete the newest records and point the head at the record before them."""
    text = f"{scheme}|head|{last_id}|{last_hash}|{keyed_from}|{records}"
    return f"{scheme}|{hmac.new(key, text.encode(), hashlib.sha256).hexdigest()}"


class _Head(NamedTuple):
    last_id: int | None
    last_hash: str
    keyed_from: int | None
    records: int
    head_mac: str | None


def _head_mac_check(head: _Head, keys: dict[str, bytes]) -> bool | None:
    """Whether the head's MAC holds: None when it cannot be checked (no MAC, or not one of the
    configured keys); a head marked :data:`HEAD_TAMPERED` fails."""
    if head.head_mac is None:
        return None
    scheme = head.head_mac.partition("|")[0]
    key = keys.get(scheme)
    if key is None:
        return False if head.head_mac == HEAD_TAMPERED else None
    expected = sign_head(key, scheme, head.last_id, head.last_hash, head.keyed_from, head.records)
    return hmac.compare_digest(expected, head.head_mac)


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


def _head(connection: Connection) -> _Head:
    query = select(
        audit_chain.c.last_id,
        audit_chain.c.last_hash,
        audit_chain.c.keyed_from,
        audit_chain.c.records,
        audit_chain.c.head_mac,
    ).where(audit_chain.c.id == 1)
    if connection.dialect.name == "postgresql":
        query = query.with_for_update()
    row = connection.execute(query).first()
    if row is None:
        connection.execute(insert(audit_chain).values(id=1, last_id=None, last_hash=GENESIS, records=0))
        if connection.dialect.name == "postgresql":
            row = connection.execute(query).first()
        if row is None:
            return _Head(None, GENESIS, None, 0, None)
    return _Head(row.last_id, row.last_hash, row.keyed_from, int(row.records), row.head_mac)


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
    no key was available (only their links were).  ``head_id`` and ``head_hash`` are the newest
    record's, for the operator to note outside the database: a truncation back to an earlier
    genuine head is found only against such a note.
    """

    records: int
    problems: list[ChainProblem]
    keyed: bool
    unkeyed: list[int]
    unchecked: list[int]
    keyed_from: int | None
    head_id: int | None = None
    head_hash: str | None = None
    head_checked: bool = False

    @property
    def intact(self) -> bool:
        return not self.problems

    @property
    def status(self) -> str:
        """Whether and from where the chain is keyed, and what that means, as ``中文 / English``."""
        if self.keyed_from is None:
            if self.keyed:
                return (
                    "已配置审计密钥，但链中尚无加密钥的记录：若此前已在密钥下写入记录，说明整条链被改写，"
                    "请用 --keyed-after 核对 / a key is configured but no record is keyed yet: if records "
                    "were written under the key before, the whole chain was rewritten (check with --keyed-after)"
                )
            return (
                f"审计链未加密钥（未设置 {ENV_AUDIT_KEY}）：哈希链只能发现意外损坏，能写数据库的人可改动记录"
                f"并重算全部哈希而不被发现 / the audit chain is unkeyed ({ENV_AUDIT_KEY} not set): it shows "
                f"accidental damage only; whoever can write the database can edit records and recompute "
                f"every hash undetected"
            )
        if not self.keyed:
            return (
                f"审计链自记录 {self.keyed_from} 起加密钥，但未配置审计密钥（{ENV_AUDIT_KEY}）：加密钥的记录"
                f"只检查了链接，未检查内容 / the chain is keyed from record {self.keyed_from}, but no audit key "
                f"is configured ({ENV_AUDIT_KEY}): keyed records were checked for their links only"
            )
        return (
            f"审计链自记录 {self.keyed_from} 起加密钥（HMAC-SHA256），以密钥校验 / the chain is keyed "
            f"(HMAC-SHA256) from record {self.keyed_from} and was checked with the key"
        )


def verify_chain(connection: Connection, key: bytes | None = None) -> tuple[int, list[ChainProblem]]:
    """Recompute every hash in id order; report edits, deletions, insertions and a cut-off end.

    The keys default to the configured ones (:func:`audit_keys`); :func:`verify_report` says also
    which records could only be checked without them.
    """
    report = verify_report(connection, key)
    return report.records, report.problems


def verify_report(
    connection: Connection,
    key: bytes | None = None,
    *,
    keyed_after: int | None = None,
    head: tuple[int, str] | None = None,
) -> ChainReport:
    """The chain checked record by record, with the configured keys unless ``key`` is given.

    A keyed record is checked with the key its marker names, or only for its link without one.  A
    plain record is checked with SHA-256, and is a problem where it stands after the chain's first
    keyed record (or after ``keyed_after``, an id the operator noted outside the database): a keyed
    chain rewritten with plain hashes is how an editor without the key would hide an edit.  The
    head row's MAC is checked too.  ``head`` is a (record id, hash) the operator noted earlier:
    that record must still be there with that hash (a prefix of 16 or more characters will do),
    which is the only way to catch the newest records deleted and an earlier genuine head restored.
    """
    keys = {key_scheme(key): key} if key is not None else audit_keys()
    row = connection.execute(select(audit_chain).where(audit_chain.c.id == 1)).mappings().first()
    keyed_from = None if row is None else row["keyed_from"]
    problems: list[ChainProblem] = []
    unkeyed: list[int] = []
    unchecked: list[int] = []
    expected_prev, count, last_id, first_keyed = GENESIS, 0, None, None
    noted_found = False
    for found in connection.execute(select(audit_log).order_by(audit_log.c.id)).mappings():
        record = dict(found)
        count += 1
        rid = record["id"]
        if record["prev_hash"] != expected_prev:
            problems.append(ChainProblem(rid, "与前一条记录的哈希不衔接：其前有记录被删除、插入或改动"))
        if head is not None and rid == head[0]:
            noted_found = True
            if not _same_hash(record["hash"], head[1]):
                problems.append(
                    ChainProblem(
                        rid, "记录哈希与库外记下的不符：记录被改写 / hash differs from the noted head"
                    )
                )
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
            record_key = keys.get(marker)
            if not keys:
                unchecked.append(rid)
            elif record_key is None:
                problems.append(
                    ChainProblem(
                        rid,
                        f"记录由另一密钥（{marker}）签署，当前密钥（{'、'.join(keys)}）无法校验：密钥不符或记录被改动 / "
                        "keyed with another key",
                    )
                )
            elif record_hash(record, record_key) != record["hash"]:
                problems.append(ChainProblem(rid, "记录内容与其哈希不符：记录被改动"))
        expected_prev, last_id = record["hash"], rid
    if head is not None and not noted_found:
        problems.append(
            ChainProblem(
                head[0],
                f"库外记下的链尾记录 {head[0]} 已不存在：最新的记录被删除 / the noted head record is gone: "
                "the newest records were deleted",
            )
        )
    if first_keyed != keyed_from:
        problems.append(
            ChainProblem(
                keyed_from,
                f"链首记载自记录 {keyed_from} 起加密钥，实际首条加密钥记录为 {first_keyed}：链首或记录被改动",
            )
        )
    head_checked = False
    if row is not None:
        if row["last_id"] != last_id or row["last_hash"] != expected_prev or row["records"] != count:
            problems.append(
                ChainProblem(
                    row["last_id"],
                    f"链尾不符：应有 {row['records']} 条记录、末条 {row['last_id']}，实有 {count} 条、末条 {last_id}",
                )
            )
        problem = _head_problem(row, keys, first_keyed)
        if problem is not None:
            problems.append(ChainProblem(None, problem))
        head_checked = row["head_mac"] is not None and bool(keys) and problem is None
    return ChainReport(
        count, problems, bool(keys), unkeyed, unchecked, keyed_from,
        last_id, None if last_id is None else expected_prev, head_checked,
    )  # fmt: skip


def _same_hash(stored: str | None, noted: str) -> bool:
    noted = noted.strip().lower()
    return stored is not None and len(noted) >= 16 and stored.startswith(noted)


def _head_problem(row: Any, keys: dict[str, bytes], first_keyed: int | None) -> str | None:
    """What is wrong with the head row's MAC, if anything can be told with these keys."""
    mac = row["head_mac"]
    if mac is None:
        if row["keyed_from"] is not None or first_keyed is not None:
            return (
                "链首缺少密钥签名：链首被改写 / the head of a keyed chain has no MAC: the head was rewritten"
            )
        return None
    if mac == HEAD_TAMPERED:
        return (
            "此前写入时已发现链首签名不符（最新记录可能被删除后链首被改写）/ an earlier write found the "
            "head's MAC wrong (the newest records may have been deleted and the head rewritten)"
        )
    head = _Head(row["last_id"], row["last_hash"], row["keyed_from"], int(row["records"]), mac)
    ok = _head_mac_check(head, keys)
    if ok is False:
        return (
            "链首签名不符：链首被改写（最新的记录可能被删除）/ the head's MAC fails: the head was rewritten"
        )
    if ok is None and keys:
        return f"链首由另一密钥（{mac.partition('|')[0]}）签署 / the head is keyed with another key"
    return None
