"""Users and roles: who may do what to stored data.

Passwords are hashed with argon2id (argon2-cffi's defaults, RFC 9106); a hash is never compared by
hand.  Commands that change collateral check the acting user's roles here.  The CLI names its
operator with ``--user`` (or ``GREENFIN_USER``); the web app and API will authenticate with the
password.
"""

from __future__ import annotations

from collections.abc import Iterable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, Engine, insert, select

from greenfin.service import audit
from greenfin.store.schema import users

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
