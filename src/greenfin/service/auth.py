"""Signing in: passwords with lockout, API tokens for machines.

Five wrong passwords in a row lock an account for fifteen minutes (the count and the lock are
stored, so they survive a restart and hold across processes).  Failed sign-ins are also counted
per client address and per user name (``login_failures``), which throttles guessing across many
accounts or at names that do not exist.  An API token is a random secret shown once; only its
SHA-256 is stored; it can be listed (never the secret) and revoked.  Logging out moves the user's
session epoch on, which ends every session cookie signed before.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Connection, Engine, delete, func, insert, or_, select, update

from greenfin.service import audit
from greenfin.service.permissions import permissions_of
from greenfin.service.users import verify_password
from greenfin.store.schema import api_tokens, login_failures, users

MAX_FAILURES = 5
LOCKOUT = dt.timedelta(minutes=15)
#: Failed sign-ins counted per client address and per user name (known or not) over this window.
#: The per-account lockout cannot stop one address trying many names, nor guesses at names that
#: do not exist (each of which also wrote an audit record); these limits can.
THROTTLE_WINDOW = dt.timedelta(minutes=15)
ADDRESS_FAILURES = 20
NAME_FAILURES = 10


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
    """A refused sign-in; ``status`` and ``headers`` are what HTTP answers with, so the API and the
    page cannot map it differently."""

    def __init__(self, message_zh: str, locked: bool = False) -> None:
        super().__init__(message_zh)
        self.locked = locked

    @property
    def status(self) -> int:
        return 423 if self.locked else 401

    @property
    def headers(self) -> dict[str, str]:
        return {}


class LoginThrottled(LoginRefused):
    """Too many failed sign-ins from this address, or for this name: try again after ``retry_after``
    seconds.  The password is not checked and nothing is kept (the attempt's reserved row is
    deleted, and no audit record is written: a flood of guesses must not become a flood of records)."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            f"登录失败次数过多，请 {retry_after} 秒后再试 / too many failed sign-ins, retry in {retry_after} s"
        )
        self.retry_after = retry_after

    @property
    def status(self) -> int:
        return 429

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class TokenProblem(ValueError):
    """A token that cannot be revoked as asked; ``status`` is the HTTP answer (404 unless said)."""

    status = 404


class TokenNotPermitted(TokenProblem):
    status = 403


class TokenNameInvalid(TokenProblem):
    """A token name that could not be used to revoke it (see :data:`TOKEN_NAME`)."""

    status = 422


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


def _principal(engine: Engine, username: str, via: str, epoch: int | None = None) -> Principal | None:
    with engine.connect() as connection:
        row = connection.execute(
            select(users.c.display_name, users.c.roles, users.c.active, users.c.session_epoch).where(
                users.c.username == username
            )
        ).first()
    if row is None or not row.active or (epoch is not None and row.session_epoch != epoch):
        return None
    return Principal(username, row.display_name, tuple(row.roles), via)


def _throttled(connection: Connection, address: str | None, username: str, moment: dt.datetime) -> int | None:
    """Seconds until another attempt is allowed, when this address or name has failed too often.

    The attempt being decided is already among the rows counted (:func:`_reserve_attempt` wrote
    and committed it first), so a count *above* the limit refuses: of any number of concurrent
    attempts, each sees every one that reserved before it counted, so at most ``limit`` of them
    ever see a count within the limit.
    """
    since = moment - THROTTLE_WINDOW
    checks = [(login_failures.c.username == username[:100], NAME_FAILURES)]
    if address is not None:
        checks.append((login_failures.c.address == address, ADDRESS_FAILURES))
    wait = 0
    for condition, limit in checks:
        count, oldest = connection.execute(
            select(func.count(), func.min(login_failures.c.at)).where(condition, login_failures.c.at > since)
        ).one()
        oldest = _aware(oldest)
        if count > limit and oldest is not None:
            wait = max(wait, math.ceil((oldest + THROTTLE_WINDOW - moment).total_seconds()), 1)
    return wait or None


def _reserve_attempt(engine: Engine, address: str | None, username: str, moment: dt.datetime) -> int:
    """Write this attempt to ``login_failures`` and commit it *before* anything is checked, so every
    concurrent attempt counts it.

    The row stays only if the password turns out wrong; every other outcome deletes it
    (:func:`_forget_attempt`).  Returns its id.
    """
    with engine.begin() as connection:
        attempt = connection.execute(
            insert(login_failures)
            .values(at=moment, address=address, username=username[:100])
            .returning(login_failures.c.id)
        ).scalar_one()
    return int(attempt)


def _forget_attempt(connection: Connection, attempt: int) -> None:
    """Delete a reserved attempt that was not a wrong password (throttled, locked, or right)."""
    connection.execute(delete(login_failures).where(login_failures.c.id == attempt))


def _not_locked(moment: dt.datetime) -> ColumnElement[bool]:
    return or_(users.c.locked_until.is_(None), users.c.locked_until <= moment)


def _account(connection: Connection, username: str, moment: dt.datetime) -> bool | None:
    """Whether the account is active (None: no such user); raises :class:`LoginRefused` while it is
    locked, before its password is checked."""
    row = connection.execute(
        select(users.c.active, users.c.locked_until).where(users.c.username == username)
    ).first()
    if row is None:
        return None
    locked_until = _aware(row.locked_until)
    if locked_until is not None and locked_until > moment:
        raise LoginRefused(f"账户已锁定至 {locked_until:%Y-%m-%d %H:%M} UTC / account locked", locked=True)
    return bool(row.active)


def _count_wrong_password(
    connection: Connection, username: str, moment: dt.datetime, address: str | None
) -> LoginRefused:
    """Count a wrong password on the account, in SQL (``failed_logins + 1``), so that wrong
    passwords checked at the same time each count; the one that reaches MAX_FAILURES locks.

    Only wrong passwords are counted here, never attempts still being checked: counting those too
    locked an owner out whose double-click sent two right passwords after four typing mistakes.
    How many guesses can be checked at once is bounded before the check, by the throttle's rows
    (:func:`_reserve_attempt`, NAME_FAILURES per name)."""
    tries = int(
        connection.execute(
            update(users)
            .where(users.c.username == username)
            .values(failed_logins=users.c.failed_logins + 1)
            .returning(users.c.failed_logins)
        ).scalar_one()
    )
    lock = moment + LOCKOUT if tries >= MAX_FAILURES else None
    if lock is not None:  # never shortens a lock already set by a parallel wrong password
        connection.execute(
            update(users)
            .where(users.c.username == username, _not_locked(moment))
            .values(failed_logins=0, locked_until=lock)
        )
    audit.record(
        connection, actor=username, action="login_failed", entity="user", entity_id=username,
        detail={"failures": tries, "locked": lock is not None, **({"address": address} if address else {})},
    )  # fmt: skip
    return LoginRefused(
        "连续输入错误，账户已锁定 15 分钟 / account locked for 15 minutes" if lock else
        "用户名或密码错误 / wrong user name or password", locked=lock is not None,
    )  # fmt: skip


def login(
    engine: Engine,
    username: str,
    password: str,
    *,
    now: dt.datetime | None = None,
    address: str | None = None,
) -> Principal:
    """Check a password; count failures, lock after MAX_FAILURES, record both in the audit log.

    ``address`` is the client's (None from the command line): failures are counted per address and
    per name in the database, so every worker process throttles the same guesser
    (:class:`LoginThrottled`).

    Every attempt is counted *before* its password is checked, as a committed ``login_failures``
    row that the throttle counts (its own included): a burst of simultaneous guesses cannot all
    pass the checks before any is written, so at most NAME_FAILURES guesses at one name are ever
    checked in a window.  A right password deletes its row; a wrong one keeps it and adds one to
    the account's count, which locks at MAX_FAILURES.  Success clears the count only while the
    account is not locked, so a right password racing wrong ones never lifts a lock they set.
    """
    moment = now or audit.now()
    attempt = _reserve_attempt(engine, address, username, moment)
    try:
        with engine.connect() as connection:
            wait = _throttled(connection, address, username, moment)
        if wait is not None:
            raise LoginThrottled(wait)
        with engine.connect() as connection:
            active = _account(connection, username, moment)
    except LoginRefused:
        with engine.begin() as connection:
            _forget_attempt(connection, attempt)
        raise
    ok = bool(active) and verify_password(engine, username, password)
    refused: LoginRefused | None = None
    with engine.begin() as connection:  # the outcome is recorded before it is reported
        # Forget throttle rows older than the window.  Being a write, this also makes the
        # transaction take SQLite's write lock before audit.record reads the chain's head (the
        # driver begins a transaction only at the first write), so concurrent records never collide.
        connection.execute(delete(login_failures).where(login_failures.c.at <= moment - THROTTLE_WINDOW))
        if ok:
            _forget_attempt(connection, attempt)
            cleared = connection.execute(
                update(users)
                .where(users.c.username == username, _not_locked(moment))
                .values(failed_logins=0, locked_until=None)
            ).rowcount
            if cleared:
                audit.record(
                    connection, actor=username, action="login", entity="user", entity_id=username,
                    detail={"address": address} if address else {},
                )  # fmt: skip
            else:  # locked by a parallel wrong password meanwhile: the lock stands
                refused = LoginRefused("账户已锁定 / account locked", locked=True)
        elif active is not None:
            refused = _count_wrong_password(connection, username, moment, address)
        else:  # no such user: the same answer as a wrong password
            audit.record(
                connection, actor=username, action="login_failed", entity="user", entity_id=username,
                detail={"address": address} if address else {},
            )  # fmt: skip
            refused = LoginRefused("用户名或密码错误 / wrong user name or password")
    if refused is not None:
        raise refused
    principal = _principal(engine, username, "session")
    assert principal is not None
    return principal


def session_epoch(engine: Engine, username: str) -> int:
    """The user's current session epoch, which a new session cookie carries."""
    with engine.connect() as connection:
        found = connection.execute(select(users.c.session_epoch).where(users.c.username == username)).scalar()
    return int(found or 0)


def logout(engine: Engine, username: str) -> int:
    """End every session of the user on the server: the epoch moves on, so each cookie signed with
    the old one (a copy included) is refused, not only the one the browser deletes.  Returns the
    new epoch."""
    with engine.begin() as connection:
        epoch = connection.execute(
            update(users)
            .where(users.c.username == username)
            .values(session_epoch=users.c.session_epoch + 1)
            .returning(users.c.session_epoch)
        ).scalar()
        audit.record(
            connection, actor=username, action="logout", entity="user", entity_id=username,
            detail={"session_epoch": epoch},
        )  # fmt: skip
    return int(epoch or 0)


def session_principal(engine: Engine, username: str, epoch: int | None = None) -> Principal | None:
    """The session's user, unless inactive or (with ``epoch``) signed out since the cookie was made."""
    return _principal(engine, username, "session", epoch)


#: A token's name: letters, digits, ``_ . -``, CJK ideographs and inner spaces, 1 to 100 characters,
#: starting with a letter, digit, ``_`` or ideograph and not ending in a space.  It is a path segment
#: of ``DELETE /api/v1/auth/tokens/{name}``: a ``/`` (or a name of dots) could never be revoked there.
TOKEN_NAME = re.compile(
    r"[A-Za-z0-9_\u4e00-\u9fff](?:[A-Za-z0-9_.\- \u4e00-\u9fff]{0,98}[A-Za-z0-9_.\-\u4e00-\u9fff])?"
)


def check_token_name(name: str) -> str:
    """``name`` when it is a valid token name (:data:`TOKEN_NAME`), else :class:`TokenProblem` (422)."""
    if TOKEN_NAME.fullmatch(name) is None:
        raise TokenNameInvalid(
            "令牌名称只能含字母、数字、汉字、_ . - 和中间的空格，1 至 100 个字符，须以字母、数字、_ 或汉字开头 / "
            "a token name has 1 to 100 letters, digits, CJK characters, _ . - or inner spaces, and starts "
            "with a letter, digit, _ or CJK character"
        )
    return name


def create_token(engine: Engine, username: str, name: str) -> str:
    """A new API token for a user; the token itself is returned once and never stored.  The name is
    checked (:func:`check_token_name`) so that the token can be revoked by it."""
    check_token_name(name)
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


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """One API token as its owner may see it: never the secret, nor its hash."""

    name: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked: bool


def list_tokens(engine: Engine, username: str) -> list[TokenInfo]:
    """The user's tokens, oldest first, revoked ones included (the owner sees what was ended)."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(
                api_tokens.c.name, api_tokens.c.created_at, api_tokens.c.last_used_at, api_tokens.c.revoked
            )
            .where(api_tokens.c.username == username)
            .order_by(api_tokens.c.created_at, api_tokens.c.name)
        ).all()
    return [
        TokenInfo(
            row.name, _aware(row.created_at) or row.created_at, _aware(row.last_used_at), bool(row.revoked)
        )
        for row in rows
    ]


def revoke_token(engine: Engine, actor: str, username: str, name: str) -> list[str]:
    """Revoke ``username``'s live tokens called ``name``, as their owner or a MANAGE_USER admin.

    The actor's right is read from the store here, not taken from the caller, so no route can
    revoke for someone it should not.  Returns the revoked tokens' hashes, for the caller to drop
    from its principal cache (other processes stop accepting them when their cache entry ends).
    """
    with engine.begin() as connection:
        if actor != username:
            row = connection.execute(
                select(users.c.roles, users.c.active).where(users.c.username == actor)
            ).first()
            if row is None or not row.active or "MANAGE_USER" not in permissions_of(tuple(row.roles)):
                raise TokenNotPermitted("无权限 MANAGE_USER / missing permission MANAGE_USER")
        live = (api_tokens.c.username == username, api_tokens.c.name == name, api_tokens.c.revoked.is_(False))
        hashes = [str(h) for h in connection.execute(select(api_tokens.c.token_hash).where(*live)).scalars()]
        if not hashes:
            raise TokenProblem(f"没有名为 {name} 的有效令牌 / no live token named {name}")
        connection.execute(update(api_tokens).where(api_tokens.c.token_hash.in_(hashes)).values(revoked=True))
        audit.record(
            connection, actor=actor, action="revoke", entity="api_token", entity_id=name,
            detail={"username": username, "tokens": len(hashes)},
        )  # fmt: skip
    return hashes
