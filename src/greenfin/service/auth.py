"""Signing in: passwords with lockout, API tokens for machines.

Five wrong passwords in a row lock an account for fifteen minutes (the count and the lock are
stored, so they survive a restart and hold across processes).  An API token is a random secret
shown once; only its SHA-256 is stored.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import Engine, insert, select, update

from greenfin.service import audit
from greenfin.service.permissions import permissions_of
from greenfin.service.users import verify_password
from greenfin.store.schema import api_tokens, users

MAX_FAILURES = 5
LOCKOUT = dt.timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is acting, and what they may do."""

    username: str
    display_name: str
    roles: tuple[str, ...]
    via: str  # "session" or "token"

    @property
    def permissions(self) -> frozenset[str]:
        return permissions_of(self.roles)


class LoginRefused(Exception):
    def __init__(self, message_zh: str, locked: bool = False) -> None:
        super().__init__(message_zh)
        self.locked = locked


def _principal(engine: Engine, username: str, via: str) -> Principal | None:
    with engine.connect() as connection:
        row = connection.execute(
            select(users.c.display_name, users.c.roles, users.c.active).where(users.c.username == username)
        ).first()
    if row is None or not row.active:
        return None
    return Principal(username, row.display_name, tuple(row.roles), via)


def login(engine: Engine, username: str, password: str, *, now: dt.datetime | None = None) -> Principal:
    """Check a password; count failures, lock after MAX_FAILURES, record both in the audit log."""
    moment = now or audit.now()
    with engine.begin() as connection:
        row = connection.execute(
            select(users.c.failed_logins, users.c.locked_until, users.c.active).where(
                users.c.username == username
            )
        ).first()
        locked_until = row.locked_until if row is not None else None
        if locked_until is not None and locked_until.tzinfo is None:
            locked_until = locked_until.replace(tzinfo=dt.UTC)
        if locked_until is not None and locked_until > moment:
            raise LoginRefused(
                f"账户已锁定至 {locked_until:%Y-%m-%d %H:%M} UTC / account locked", locked=True
            )
    ok = row is not None and row.active and verify_password(engine, username, password)
    refused: LoginRefused | None = None
    with engine.begin() as connection:  # the failure is recorded before it is reported
        if row is None:
            audit.record(
                connection,
                actor=username,
                action="login_failed",
                entity="user",
                entity_id=username,
                detail={},
            )
            refused = LoginRefused("用户名或密码错误 / wrong user name or password")
        elif not ok:
            failures = row.failed_logins + 1
            lock = moment + LOCKOUT if failures >= MAX_FAILURES else None
            connection.execute(
                update(users).where(users.c.username == username).values(
                    failed_logins=0 if lock else failures, locked_until=lock
                )
            )  # fmt: skip
            audit.record(
                connection, actor=username, action="login_failed", entity="user", entity_id=username,
                detail={"failures": failures, "locked": lock is not None},
            )  # fmt: skip
            refused = LoginRefused(
                "连续输入错误，账户已锁定 15 分钟 / account locked for 15 minutes" if lock else
                "用户名或密码错误 / wrong user name or password", locked=lock is not None,
            )  # fmt: skip
        else:
            connection.execute(
                update(users).where(users.c.username == username).values(failed_logins=0, locked_until=None)
            )
            audit.record(
                connection, actor=username, action="login", entity="user", entity_id=username, detail={}
            )
    if refused is not None:
        raise refused
    principal = _principal(engine, username, "session")
    assert principal is not None
    return principal


def session_principal(engine: Engine, username: str) -> Principal | None:
    return _principal(engine, username, "session")


def create_token(engine: Engine, username: str, name: str) -> str:
    """A new API token for a user; the token itself is returned once and never stored."""
    token = "gft_" + secrets.token_urlsafe(32)
    with engine.begin() as connection:
        connection.execute(
            insert(api_tokens).values(
                token_hash=hashlib.sha256(token.encode()).hexdigest(), username=username, name=name,
                created_at=audit.now(), last_used_at=None, revoked=False,
            )
        )  # fmt: skip
        audit.record(
            connection, actor=username, action="create", entity="api_token", entity_id=name, detail={}
        )
    return token


#: A token's last use is written at most this often: a busy client must not turn every read into a write.
LAST_USED_EVERY = dt.timedelta(minutes=1)


def token_principal(engine: Engine, token: str) -> Principal | None:
    digest = hashlib.sha256(token.encode()).hexdigest()
    with engine.connect() as connection:
        row = connection.execute(
            select(api_tokens.c.username, api_tokens.c.revoked, api_tokens.c.last_used_at).where(
                api_tokens.c.token_hash == digest
            )
        ).first()
    if row is None or row.revoked:
        return None
    moment = audit.now()
    last = row.last_used_at
    if last is not None and last.tzinfo is None:
        last = last.replace(tzinfo=dt.UTC)
    if last is None or moment - last > LAST_USED_EVERY:
        with engine.begin() as connection:
            connection.execute(
                update(api_tokens).where(api_tokens.c.token_hash == digest).values(last_used_at=moment)
            )
    return _principal(engine, row.username, "token")
