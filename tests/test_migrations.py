"""The Alembic migrations build exactly the schema the code declares, on both backends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect

from greenfin.store.database import is_current, upgrade
from greenfin.store.schema import metadata


def test_migrations_match_the_declared_schema(engine: Engine) -> None:
    assert is_current(engine)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []
    assert {"loans", "borrowers", "projects", "pledges", "prices", "audit_log", "import_batches"} <= set(
        inspect(engine).get_table_names()
    )


def test_upgrade_is_idempotent(engine: Engine) -> None:
    upgrade(engine)
    upgrade(engine)
    assert is_current(engine)


def test_0007_downgrades_and_upgrades_again(engine: Engine) -> None:
    """Down to 0006 drops the security tables, columns and triggers (the audit log takes updates
    again); up once more brings them all back, on both backends."""
    import pytest
    from alembic import command
    from sqlalchemy import text, update
    from sqlalchemy.exc import DBAPIError

    from greenfin.service.users import add_user
    from greenfin.store.database import alembic_config
    from greenfin.store.schema import audit_log

    add_user(engine, "someone", "a-long-password", ["viewer"], actor="admin")
    command.downgrade(alembic_config(engine), "0006")
    assert "login_failures" not in inspect(engine).get_table_names()
    assert "session_epoch" not in {c["name"] for c in inspect(engine).get_columns("users")}
    with engine.begin() as connection:  # no trigger left behind
        connection.execute(text("UPDATE audit_log SET actor = actor"))
        connection.execute(text("UPDATE users SET active = active"))
    upgrade(engine)
    assert is_current(engine)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
        connection.execute(update(audit_log).values(actor="x"))
