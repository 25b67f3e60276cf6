"""security: login throttle, session epochs, keyed audit chain, append-only audit log

* ``login_failures``: failed sign-ins by client address and user name, so every worker process
  throttles the same guessing (an in-memory counter would be per process).
* ``users.session_epoch``: carried in the session cookie; logging out, a password change or a
  deactivation bumps it, so a copied cookie stops working before it expires.  The bump on a
  password or ``active`` change is a trigger: every path that changes them (service, admin page,
  a DBA's SQL) ends the user's sessions, not only the ones that remember to.
* ``audit_log.entity_id`` widened to 200 characters (user and token names are entity ids).
* ``audit_log.hash_scheme``, ``audit_chain.keyed_from`` and ``audit_chain.head_mac``: records (and
  the head row) are chained with HMAC-SHA256 from now on (when ``GREENFIN_AUDIT_KEY`` is set); the
  records written before keep their plain hashes.
* The downgrade refuses a store holding keyed records or entity ids over 64 characters: 0006's code
  would report keyed records as tampered, and PostgreSQL cannot narrow the column over long ids.
* Triggers refuse UPDATE and DELETE (and on PostgreSQL TRUNCATE) of ``audit_log``: the log is
  append-only for the application; only someone who can drop a trigger can edit it, and the keyed
  chain then shows the edit.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

REFUSED = "审计记录只可追加，不可修改或删除 / audit records are append-only"

SQLITE_UP = (
    f"""CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    BEGIN SELECT RAISE(ABORT, '{REFUSED}'); END""",
    f"""CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    BEGIN SELECT RAISE(ABORT, '{REFUSED}'); END""",
    """CREATE TRIGGER users_end_sessions AFTER UPDATE OF password_hash, active ON users
    FOR EACH ROW WHEN NEW.password_hash IS NOT OLD.password_hash OR NEW.active IS NOT OLD.active
    BEGIN UPDATE users SET session_epoch = session_epoch + 1 WHERE username = NEW.username; END""",
)
SQLITE_DOWN = (
    "DROP TRIGGER IF EXISTS users_end_sessions",
    "DROP TRIGGER IF EXISTS audit_log_no_delete",
    "DROP TRIGGER IF EXISTS audit_log_no_update",
)
POSTGRES_UP = (
    f"""CREATE OR REPLACE FUNCTION greenfin_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '{REFUSED} (%)', TG_OP USING ERRCODE = 'insufficient_privilege';
    END $$""",
    """CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION greenfin_audit_append_only()""",
    """CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION greenfin_audit_append_only()""",
    """CREATE OR REPLACE FUNCTION greenfin_users_end_sessions() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        NEW.session_epoch := OLD.session_epoch + 1;
        RETURN NEW;
    END $$""",
    """CREATE TRIGGER users_end_sessions BEFORE UPDATE ON users FOR EACH ROW
    WHEN (NEW.password_hash IS DISTINCT FROM OLD.password_hash OR NEW.active IS DISTINCT FROM OLD.active)
    EXECUTE FUNCTION greenfin_users_end_sessions()""",
)
POSTGRES_DOWN = (
    "DROP TRIGGER IF EXISTS users_end_sessions ON users",
    "DROP FUNCTION IF EXISTS greenfin_users_end_sessions()",
    "DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log",
    "DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log",
    "DROP FUNCTION IF EXISTS greenfin_audit_append_only()",
)


def _run(statements: tuple[str, ...]) -> None:
    for statement in statements:
        op.execute(statement)


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column(
                "session_epoch",
                sa.Integer(),
                server_default="0",
                nullable=False,
                comment="sessions signed with an older epoch are refused (logout, password change, deactivation)",
            )
        )
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(
            sa.Column(
                "hash_scheme",
                sa.String(length=24),
                nullable=True,
                comment="NULL: plain SHA-256; hmac-sha256:<key id>: keyed (migration 0007)",
            )
        )
        # a user name (100 characters) or a token's name is an entity id too: 64 made a failed
        # sign-in with a long name a server error on PostgreSQL (the API fuzz run found it)
        batch.alter_column("entity_id", existing_type=sa.String(length=64), type_=sa.String(length=200))
    with op.batch_alter_table("audit_chain") as batch:
        batch.add_column(
            sa.Column(
                "keyed_from",
                sa.Integer(),
                nullable=True,
                comment="id of the first keyed (HMAC) record; later ones must be keyed",
            )
        )
        batch.add_column(
            sa.Column(
                "head_mac",
                sa.String(length=96),
                nullable=True,
                comment="<key id>|HMAC of (last_id, last_hash, keyed_from, records); NULL: unkeyed chain",
            )
        )
    op.create_table(
        "login_failures",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "address",
            sa.String(length=64),
            nullable=True,
            comment="client address; NULL when unknown (command line)",
        ),
        sa.Column(
            "username", sa.String(length=100), nullable=False, comment="as typed: unknown names count too"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_failures")),
    )
    op.create_index("ix_login_failures_address", "login_failures", ["address", "at"], unique=False)
    op.create_index("ix_login_failures_username", "login_failures", ["username", "at"], unique=False)
    op.create_index("ix_login_failures_at", "login_failures", ["at"], unique=False)
    _run(POSTGRES_UP if op.get_bind().dialect.name == "postgresql" else SQLITE_UP)


class DowngradeRefused(RuntimeError):
    """0006 cannot hold what this store holds; raised before anything is changed."""


def _refuse_unsafe_downgrade() -> None:
    """Refuse, before changing anything, a downgrade that would break the store for 0006.

    Without ``hash_scheme`` 0006's verification recomputes keyed records as plain SHA-256 and
    reports every one of them tampered; and PostgreSQL cannot narrow ``entity_id`` back to 64
    characters over a longer id (SQLite would keep it silently, which is no better).
    """
    bind = op.get_bind()
    keyed = bind.execute(sa.text("SELECT COUNT(*) FROM audit_log WHERE hash_scheme IS NOT NULL")).scalar()
    long_ids = bind.execute(sa.text("SELECT COUNT(*) FROM audit_log WHERE LENGTH(entity_id) > 64")).scalar()
    reasons = []
    if keyed:
        reasons.append(
            f"{keyed} 条审计记录以密钥（HMAC）链接，0006 会把它们报为被改动 / "
            f"{keyed} audit records are keyed (HMAC), which 0006 would report as tampered"
        )
    if long_ids:
        reasons.append(
            f"{long_ids} 条审计记录的对象编号超过 64 个字符 / "
            f"{long_ids} audit records have entity ids longer than 64 characters"
        )
    if reasons:
        raise DowngradeRefused(
            "拒绝降级到 0006，数据库未作任何改动 / downgrade to 0006 refused, nothing was changed: "
            + "; ".join(reasons)
        )


def downgrade() -> None:
    _refuse_unsafe_downgrade()
    # the triggers go first: SQLite's batch mode rebuilds a table to drop a column
    _run(POSTGRES_DOWN if op.get_bind().dialect.name == "postgresql" else SQLITE_DOWN)
    op.drop_index("ix_login_failures_at", table_name="login_failures")
    op.drop_index("ix_login_failures_username", table_name="login_failures")
    op.drop_index("ix_login_failures_address", table_name="login_failures")
    op.drop_table("login_failures")
    with op.batch_alter_table("audit_chain") as batch:
        batch.drop_column("head_mac")
        batch.drop_column("keyed_from")
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_column("hash_scheme")
        batch.alter_column("entity_id", existing_type=sa.String(length=200), type_=sa.String(length=64))
    with op.batch_alter_table("users") as batch:
        batch.drop_column("session_epoch")
