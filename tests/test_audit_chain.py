"""The audit log is hash-chained: editing, deleting or inserting a record is detected."""

from __future__ import annotations

from sqlalchemy import Engine, delete, func, insert, select, update
from typer.testing import CliRunner

from greenfin.cli import app
from greenfin.service.audit import verify_chain
from greenfin.service.importing import import_files
from greenfin.service.users import add_user
from greenfin.store.schema import audit_chain, audit_log
from tests.conftest import DATA


def audited(engine: Engine) -> Engine:
    import_files(engine, [DATA / "small_book.csv"], actor="tester")
    add_user(engine, "officer", "officer-password", ["collateral_officer"], actor="admin")
    add_user(engine, "manager", "manager-password", ["collateral_manager"], actor="admin")
    return engine


def problems(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return [p.problem_zh for p in verify_chain(connection)[1]]


def test_an_untouched_chain_verifies(engine: Engine, store_url: str) -> None:
    audited(engine)
    with engine.connect() as connection:
        count, found = verify_chain(connection)
        head = connection.execute(select(audit_chain)).mappings().one()
        last = connection.execute(select(func.max(audit_log.c.id))).scalar()
    assert count >= 3 and found == [] and head["last_id"] == last and head["records"] == count
    result = CliRunner().invoke(app, ["audit", "verify", "--db", store_url])
    assert result.exit_code == 0 and "完整" in result.output


def test_an_edited_record_is_detected(engine: Engine, store_url: str) -> None:
    audited(engine)
    with engine.begin() as connection:
        first = connection.execute(select(func.min(audit_log.c.id))).scalar()
        connection.execute(update(audit_log).where(audit_log.c.id == first).values(actor="someone-else"))
    assert any("改动" in p for p in problems(engine))
    result = CliRunner().invoke(app, ["audit", "verify", "--db", store_url])
    assert result.exit_code == 1 and "校验失败" in result.output


def test_a_deleted_record_is_detected(engine: Engine) -> None:
    audited(engine)
    with engine.begin() as connection:
        middle = connection.execute(
            select(audit_log.c.id).order_by(audit_log.c.id).offset(1).limit(1)
        ).scalar()
        connection.execute(delete(audit_log).where(audit_log.c.id == middle))
    assert any("不衔接" in p for p in problems(engine))


def test_the_last_record_deleted_is_detected(engine: Engine) -> None:
    audited(engine)
    with engine.begin() as connection:
        last = connection.execute(select(func.max(audit_log.c.id))).scalar()
        connection.execute(delete(audit_log).where(audit_log.c.id == last))
    assert any("链尾" in p for p in problems(engine))


def test_a_forged_record_is_detected(engine: Engine) -> None:
    audited(engine)
    with engine.begin() as connection:
        row = dict(
            connection.execute(select(audit_log).order_by(audit_log.c.id.desc()).limit(1)).mappings().one()
        )
        connection.execute(
            insert(audit_log).values({**row, "id": row["id"] + 1, "prev_hash": row["hash"], "hash": "f" * 64})
        )
    assert problems(engine)


def test_writes_keep_extending_the_chain(engine: Engine) -> None:
    audited(engine)
    add_user(engine, "risk", "risk-password-1", ["risk_manager"], actor="admin")
    assert problems(engine) == []


def test_records_written_before_the_chain_existed_are_chained_by_the_migration(tmp_path: object) -> None:
    """A store at revision 0004 with audit records: upgrading to 0005 chains them in id order."""
    import datetime as dt

    from alembic import command
    from sqlalchemy import create_engine, text

    from greenfin.store.database import alembic_config, upgrade

    engine = create_engine(f"sqlite:///{tmp_path}/old.db")
    command.upgrade(alembic_config(engine), "0004")
    with engine.begin() as connection:
        for number in range(3):
            connection.execute(
                text(
                    "INSERT INTO audit_log (at, actor, action, entity, detail) VALUES (:at, 'old', 'create', 'x', :d)"
                ),
                {"at": dt.datetime(2026, 1, 1, 9, number, tzinfo=dt.UTC), "d": f'{{"n": {number}}}'},
            )
    upgrade(engine)
    assert problems(engine) == []
    add_user(engine, "later", "later-password", ["viewer"], actor="admin")
    assert problems(engine) == []
