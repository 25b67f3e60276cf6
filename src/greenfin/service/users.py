"""Users and roles: who may do what to stored data.

Passwords are hashed with argon2id (argon2-cffi's defaults, RFC 9106); a hash is never compared by
hand.  Commands that change collateral check the acting user's roles here.  The CLI names its
operator with ``--user`` (or ``GREENFIN_USER``); the web app and API will authenticate with the
password.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, Engine, delete, insert, select, update

from greenfin.service import audit
from greenfin.store.schema import login_failures, users

#: Roles and what they allow, in Chinese for messages.
ROLES = {
    "admin": "管理员（管理用户，全部权限）",
    "officer": "绿色金融专员（导入、识别、提出改判、测算、发起批次）",
    "checker": "审批人（复核改判、质押登记与解押）",
    "auditor": "审计（只读，可查审计日志）",
    "collateral_officer": "押品专员（登记持有量、申请和登记质押、追加担保）",
    "collateral_manager": "押品管理岗（解押、部分解押、处置）",
    "risk_manager": "风险管理岗（估值政策、重估、压力测试）",
    "viewer": "只读",
}
_HASHER = PasswordHasher()


class PermissionDenied(PermissionError):
    """The acting user lacks the role a command needs; nothing was changed."""

    def __init__(self, actor: str, needed: Iterable[str], action_zh: str) -> None:
        roles = "、".join(f"{r}（{ROLES[r]}）" for r in needed)
        super().__init__(f"用户 {actor} 无权{action_zh}：需要角色 {roles}")
        self.actor = actor


def hash_password(password: str) -> str:
    if len(password) < 8:
        raise ValueError("密码至少 8 个字符 / password must be at least 8 characters")
    return _HASHER.hash(password)


def verify_password(engine: Engine, username: str, password: str) -> bool:
    with engine.connect() as connection:
        row = connection.execute(
            select(users.c.password_hash, users.c.active).where(users.c.username == username)
        ).first()
    if row is None or not row.active:
        return False
    try:
        return _HASHER.verify(row.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def add_user(
    engine: Engine, username: str, password: str, roles: Iterable[str], *, display_name: str | None = None,
    actor: str | None = None,
) -> None:  # fmt: skip
    """Create a user; unknown roles and an existing name are refused."""
    wanted = sorted(set(roles))
    unknown = [r for r in wanted if r not in ROLES]
    if unknown:
        raise ValueError(f"未知角色 {unknown}；可用角色：{'、'.join(ROLES)}")
    hashed = hash_password(password)
    with engine.begin() as connection:
        if connection.execute(select(users.c.username).where(users.c.username == username)).first():
            raise ValueError(f"用户 {username} 已存在 / user exists")
        connection.execute(
            insert(users).values(
                username=username, display_name=display_name or username, password_hash=hashed,
                roles=wanted, active=True, created_at=audit.now(),
            )
        )  # fmt: skip
        audit.record(
            connection, actor=audit.current_actor(actor), action="create", entity="user", entity_id=username,
            detail={"roles": wanted},
        )  # fmt: skip


def require(connection: Connection, actor: str, needed: Iterable[str], action_zh: str) -> None:
    """Raise :class:`PermissionDenied` unless ``actor`` is an active user with one of ``needed``."""
    allowed = set(needed) | {"admin"}
    row = connection.execute(select(users.c.roles, users.c.active).where(users.c.username == actor)).first()
    if row is None or not row.active or allowed.isdisjoint(row.roles):
        raise PermissionDenied(actor, sorted(set(needed)), action_zh)


class UserProblem(ValueError):
    """A user change that cannot be made (unknown user or role, or an admin locking themself out)."""


def _manager(connection: Connection, actor: str | None, action_zh: str) -> str:
    """The acting user's name, checked to hold MANAGE_USER: the service refuses whoever the caller is.

    The page checks the permission too; checking here as well keeps the CLI or any other caller
    from changing accounts without it.
    """
    from greenfin.service.permissions import permissions_of  # permissions imports nothing of ours

    who = audit.current_actor(actor)
    row = connection.execute(select(users.c.roles, users.c.active).where(users.c.username == who)).first()
    if row is None or not row.active or "MANAGE_USER" not in permissions_of(row.roles):
        raise PermissionDenied(who, ["admin"], action_zh)
    return who


def _target(connection: Connection, username: str) -> Any:
    row = connection.execute(
        select(users.c.roles, users.c.active, users.c.failed_logins, users.c.locked_until).where(
            users.c.username == username
        )
    ).first()
    if row is None:
        raise UserProblem(f"用户 {username} 不存在 / no user {username}")
    return row


def _lock_active_users(connection: Connection) -> None:
    """Lock every active user's row (``FOR UPDATE``, in name order) before an admin change.

    On PostgreSQL two concurrent changes (two admins demoting or deactivating each other) then run
    one after the other, and the second reads what the first committed.  SQLite ignores
    ``FOR UPDATE``; there the UPDATE that follows takes the database's single write lock, and
    :func:`_keep_an_admin` reads after it, inside that transaction, for the same effect.
    """
    connection.execute(
        select(users.c.username).where(users.c.active.is_(True)).order_by(users.c.username).with_for_update()
    ).all()


def _keep_an_admin(connection: Connection, username: str) -> None:
    """Refuse (the caller's transaction rolls back) a change that left no active admin.

    Called after the UPDATE, in its transaction: the count sees the change and any other one
    committed before, so two admins removing each other cannot both succeed.
    """
    remaining = [
        row.username
        for row in connection.execute(
            select(users.c.username, users.c.roles).where(
                users.c.active.is_(True), users.c.username != username
            )
        )
        if "admin" in row.roles
    ]
    if not remaining:
        raise UserProblem(
            f"{username} 是最后一位有效管理员，不能移除其管理员角色或停用 / {username} is the last "
            "active admin: cannot remove the admin role or deactivate"
        )


def set_roles(engine: Engine, username: str, roles: Iterable[str], *, actor: str | None = None) -> list[str]:
    """Replace a user's roles (at least one, all known); an admin cannot drop their own admin role,
    and no change may leave no active admin (checked in the change's own transaction, so two
    admins demoting each other at once cannot both succeed): nobody could manage users then."""
    wanted = sorted(set(roles))
    unknown = [r for r in wanted if r not in ROLES]
    if unknown:
        raise UserProblem(f"未知角色 {unknown} / unknown roles {unknown}")
    if not wanted:
        raise UserProblem("请至少选择一个角色 / choose at least one role")
    with engine.begin() as connection:
        who = _manager(connection, actor, "修改用户角色")
        _lock_active_users(connection)
        old = sorted(_target(connection, username).roles)
        if username == who and "admin" in old and "admin" not in wanted:
            raise UserProblem("不能移除自己的管理员角色 / you cannot remove your own admin role")
        if old == wanted:
            return wanted
        connection.execute(update(users).where(users.c.username == username).values(roles=wanted))
        if "admin" in old and "admin" not in wanted:
            _keep_an_admin(connection, username)
        audit.record(
            connection, actor=who, action="update_roles", entity="user", entity_id=username,
            detail={"before": old, "after": wanted},
        )  # fmt: skip
    return wanted


def set_active(engine: Engine, username: str, active: bool, *, actor: str | None = None) -> None:
    """Deactivate (sign-in and sessions refused) or reactivate a user; never one's own account.

    Nothing is deleted: the audit log names users, so an account that leaves is deactivated.  The
    last active admin cannot be deactivated (see :func:`set_roles`).
    """
    with engine.begin() as connection:
        who = _manager(connection, actor, "停用或启用用户")
        _lock_active_users(connection)
        row = _target(connection, username)
        if username == who and not active:
            raise UserProblem("不能停用自己的账户 / you cannot deactivate your own account")
        if bool(row.active) == active:
            return
        connection.execute(update(users).where(users.c.username == username).values(active=active))
        if not active and "admin" in row.roles:
            _keep_an_admin(connection, username)
        audit.record(
            connection, actor=who, action="reactivate" if active else "deactivate", entity="user",
            entity_id=username, detail={"active": active},
        )  # fmt: skip


def unlock(engine: Engine, username: str, *, actor: str | None = None) -> None:
    """Lift a lockout after wrong passwords (and reset the count) before its 15 minutes are up.

    The name's throttle rows (``login_failures``) go too: otherwise a user unlocked after ten
    failures would still be refused by the per-name throttle until its window passed.
    """
    with engine.begin() as connection:
        who = _manager(connection, actor, "解锁用户")
        row = _target(connection, username)
        # the throttle rows first, then the user: the order a sign-in takes them in, so the two
        # never wait on each other (a deadlock on PostgreSQL otherwise)
        throttled = connection.execute(
            delete(login_failures).where(login_failures.c.username == username[:100])
        ).rowcount
        connection.execute(
            update(users).where(users.c.username == username).values(failed_logins=0, locked_until=None)
        )
        audit.record(
            connection, actor=who, action="unlock", entity="user", entity_id=username,
            detail={"failed_logins": row.failed_logins, "locked_until": None if row.locked_until is None
                    else row.locked_until.isoformat(), "login_failures_cleared": throttled},
        )  # fmt: skip
