"""The audit trail: who changed what, when, from which file.

Every write of the loan book passes through a service command that calls :func:`record`, inside
the same transaction as the change, so an audit record exists exactly when the change does.
"""

from __future__ import annotations

import datetime as dt
import getpass
import os
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, insert

from greenfin.store.schema import audit_log

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
    """Write several audit records at once (an import's updates)."""
    if not rows:
        return
    stamp = now()
    connection.execute(insert(audit_log), [{"at": stamp, **row} for row in rows])
