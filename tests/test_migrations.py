"""The Alembic migrations build exactly the schema the code declares, on both backends."""

from __future__ import annotations

import pytest
from alembic import command
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


def test_0007_downgrades_and_upgrades_again(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """Down to 0006 drops the security tables, columns and triggers (the audit log takes updates
    again); up once more brings them all back, on both backends."""
    monkeypatch.delenv("GREENFIN_AUDIT_KEY", raising=False)  # unkeyed records: 0006 can hold them
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


def _downgrade_refused(engine: Engine, match: str) -> None:
    """The 0007 downgrade refuses, and leaves the store exactly as it was."""
    from greenfin.store.database import alembic_config

    with pytest.raises(Exception, match=match):
        command.downgrade(alembic_config(engine), "0006")
    assert is_current(engine)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []


def test_0007_downgrade_is_refused_over_keyed_records(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """0006's code would recompute keyed records as plain SHA-256 and call every one tampered."""
    from greenfin.service.audit import verify_report
    from greenfin.service.users import add_user

    monkeypatch.setenv("GREENFIN_AUDIT_KEY", "test-only-audit-key-" + "k" * 20)
    add_user(engine, "someone", "a-long-password", ["viewer"], actor="admin")
    _downgrade_refused(engine, "拒绝降级.*keyed")
    with engine.connect() as connection:
        report = verify_report(connection)
    assert report.intact and report.keyed_from == 1
    add_user(engine, "another", "a-long-password", ["viewer"], actor="admin")  # the store still works


def test_0007_downgrade_is_refused_over_long_entity_ids(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL cannot narrow entity_id back to 64 characters over a longer id."""
    from greenfin.service import audit

    monkeypatch.delenv("GREENFIN_AUDIT_KEY", raising=False)
    with engine.begin() as connection:
        audit.record(connection, actor="admin", action="create", entity="user", entity_id="u" * 100)
    _downgrade_refused(engine, "longer than 64")


def test_0007_downgrade_of_an_empty_store_works(engine: Engine) -> None:
    from greenfin.store.database import alembic_config

    command.downgrade(alembic_config(engine), "0006")
    assert "head_mac" not in {c["name"] for c in inspect(engine).get_columns("audit_chain")}
    assert "hash_scheme" not in {c["name"] for c in inspect(engine).get_columns("audit_log")}
    upgrade(engine)
    assert is_current(engine)
