"""The audit log is append-only and hash-chained: editing, deleting or inserting a record is
refused by the database, and, done by someone who can drop the refusal, detected by the chain; with
a key, also when every later hash was recomputed."""

from __future__ import annotations

import pytest
from sqlalchemy import Connection, Engine, delete, func, insert, select, text, update
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from greenfin.cli import app
from greenfin.service import audit
from greenfin.service.audit import AuditKeyMissing, record_hash, verify_chain, verify_report
from greenfin.service.importing import import_files
from greenfin.service.users import add_user
from greenfin.store.schema import audit_chain, audit_log
from tests.conftest import DATA

KEY = "test-only-audit-key-" + "k" * 20


def drop_append_only_triggers(connection: Connection) -> None:
    """What a database administrator could do before editing the log: the triggers of migration
    0007 refuse UPDATE and DELETE otherwise (tested below)."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("DROP TRIGGER audit_log_append_only ON audit_log"))
    else:
        connection.execute(text("DROP TRIGGER audit_log_no_update"))
        connection.execute(text("DROP TRIGGER audit_log_no_delete"))


def audited(engine: Engine) -> Engine:
    import_files(engine, [DATA / "small_book.csv"], actor="tester")
    add_user(engine, "officer", "officer-password", ["collateral_officer"], actor="admin")
    add_user(engine, "manager", "manager-password", ["collateral_manager"], actor="admin")
    return engine


def said(output: str, *phrases: str) -> bool:
    """Whether the command's output has every phrase, wherever the console wrapped its lines."""
    return all(p in output.replace("\n", "") or p in output.replace("\n", " ") for p in phrases)


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
        drop_append_only_triggers(connection)
        first = connection.execute(select(func.min(audit_log.c.id))).scalar()
        connection.execute(update(audit_log).where(audit_log.c.id == first).values(actor="someone-else"))
    assert any("改动" in p for p in problems(engine))
    result = CliRunner().invoke(app, ["audit", "verify", "--db", store_url])
    assert result.exit_code == 1 and "校验失败" in result.output


def test_a_deleted_record_is_detected(engine: Engine) -> None:
    audited(engine)
    with engine.begin() as connection:
        drop_append_only_triggers(connection)
        middle = connection.execute(
            select(audit_log.c.id).order_by(audit_log.c.id).offset(1).limit(1)
        ).scalar()
        connection.execute(delete(audit_log).where(audit_log.c.id == middle))
    assert any("不衔接" in p for p in problems(engine))


def test_the_last_record_deleted_is_detected(engine: Engine) -> None:
    audited(engine)
    with engine.begin() as connection:
        drop_append_only_triggers(connection)
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


# --- append-only: the database refuses edits --------------------------------------------------------


def test_the_database_refuses_to_update_or_delete_audit_records(engine: Engine) -> None:
    audited(engine)
    before = problems(engine), _rows(engine)
    for change in (
        update(audit_log).where(audit_log.c.id == 1).values(actor="someone-else"),
        delete(audit_log).where(audit_log.c.id == 1),
        delete(audit_log),
    ):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
            connection.execute(change)
    if engine.dialect.name == "postgresql":
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
            connection.execute(text("TRUNCATE audit_log"))
    assert (problems(engine), _rows(engine)) == before == ([], before[1])
    add_user(engine, "risk", "risk-password-1", ["risk_manager"], actor="admin")  # appending still works
    assert problems(engine) == []


def _rows(engine: Engine) -> list[tuple[object, ...]]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(select(audit_log).order_by(audit_log.c.id))]


# --- keyed chain: recomputing the hashes without the key is detected ---------------------------------


def _recompute_plain(connection: Connection, *, strip_markers: bool) -> None:
    """What an editor of the database without the key can do after an edit: recompute every hash
    (plain SHA-256, the only one they can compute) and the head, optionally also erasing the
    records' keyed markers (the head's switch-over point is left: a test erases it too)."""
    last = audit.GENESIS
    rows = connection.execute(select(audit_log).order_by(audit_log.c.id)).mappings().all()
    for row in rows:
        record = {**dict(row), "prev_hash": last, "hash_scheme": None}
        last = record_hash(record)
        values = {"prev_hash": record["prev_hash"], "hash": last}
        if strip_markers:
            values["hash_scheme"] = None
        connection.execute(update(audit_log).where(audit_log.c.id == row["id"]).values(values))
    connection.execute(update(audit_chain).where(audit_chain.c.id == 1).values(last_hash=last))


def test_a_keyed_chain_verifies_with_its_key(
    engine: Engine, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GREENFIN_AUDIT_KEY", KEY)
    audited(engine)
    with engine.connect() as connection:
        report = verify_report(connection)
        markers = set(connection.execute(select(audit_log.c.hash_scheme)).scalars())
        keyed_from = connection.execute(select(audit_chain.c.keyed_from)).scalar()
    assert report.intact and report.keyed and report.unkeyed == [] and report.unchecked == []
    assert keyed_from == 1 and len(markers) == 1 and next(iter(markers)).startswith("hmac-sha256:")
    assert KEY not in str(markers)
    result = CliRunner().invoke(app, ["audit", "verify", "--db", store_url])
    assert (
        result.exit_code == 0
        and "完整" in result.output
        and f"{report.records} of {report.records}" in result.output
    )
    # another key is no key: the records are reported, not passed
    monkeypatch.setenv("GREENFIN_AUDIT_KEY", "another-key-" + "x" * 20)
    assert any("另一密钥" in p for p in problems(engine))


@pytest.mark.parametrize("strip_markers", [False, True])
def test_an_edit_with_every_plain_hash_recomputed_fails_with_the_key(
    engine: Engine, store_url: str, monkeypatch: pytest.MonkeyPatch, strip_markers: bool
) -> None:
    monkeypatch.setenv("GREENFIN_AUDIT_KEY", KEY)
    audited(engine)
    with engine.begin() as connection:
        drop_append_only_triggers(connection)
        connection.execute(update(audit_log).where(audit_log.c.id == 2).values(actor="someone-else"))
        _recompute_plain(connection, strip_markers=strip_markers)
    with engine.connect() as connection:  # an unkeyed check, as the plain chain was, sees nothing
        plain = [row for row in connection.execute(select(audit_log)).mappings()]
        assert all(record_hash({**row, "hash_scheme": None}) == row["hash"] for row in plain)
    found = problems(engine)
    assert found, "an edited, re-hashed chain passed with the key"
    result = CliRunner().invoke(app, ["audit", "verify", "--db", store_url])
    assert result.exit_code == 1 and "校验失败" in result.output


def test_stripping_every_marker_is_caught_by_an_id_noted_outside_the_database(
    engine: Engine, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Erasing the markers and the switch-over point too makes the store look never keyed; the
    operator's note of where keying began (``--keyed-after``), or of the head (``--head``), still
    catches it."""
    monkeypatch.setenv("GREENFIN_AUDIT_KEY", KEY)
    audited(engine)
    noted_id, noted_hash = _noted_head(store_url)
    with engine.begin() as connection:
        drop_append_only_triggers(connection)
        connection.execute(update(audit_log).where(audit_log.c.id == 2).values(actor="someone-else"))
        _recompute_plain(connection, strip_markers=True)
        connection.execute(update(audit_chain).values(keyed_from=None))
    with engine.connect() as connection:  # the keyed head still tells
        assert any("链首签名不符" in p.problem_zh for p in verify_report(connection).problems)
    with engine.begin() as connection:  # so the head's MAC goes too: a store never keyed, it seems
        connection.execute(update(audit_chain).values(head_mac=None))
    with engine.connect() as connection:
        report = verify_report(connection)
        assert report.intact and len(report.unkeyed) == report.records  # all said: unkeyed only
        assert not verify_report(connection, keyed_after=0).intact
        assert not verify_report(connection, head=(noted_id, noted_hash)).intact
    result = CliRunner().invoke(app, ["audit", "verify", "--db", store_url])
    assert result.exit_code == 0 and "只能按无密钥" in result.output and "unkeyed only" in result.output
    assert said(result.output, "尚无加密钥的记录") and said(result.output, "--keyed-after")  # the warning
    result = CliRunner().invoke(app, ["audit", "verify", "--db", store_url, "--keyed-after", "0"])
    assert result.exit_code == 1 and said(result.output, "unkeyed record in a keyed chain")
    result = CliRunner().invoke(
        app, ["audit", "verify", "--db", store_url, "--head", f"{noted_id}:{noted_hash}"]
    )
    assert result.exit_code == 1 and said(result.output, "库外记下")


def test_old_unkeyed_records_keep_verifying_and_are_named(
    engine: Engine, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GREENFIN_AUDIT_KEY", raising=False)
    monkeypatch.delenv("GREENFIN_SECRET_KEY", raising=False)
    audited(engine)  # a store written before it had a key
    with engine.connect() as connection:
        old = verify_report(connection).records
    monkeypatch.setenv("GREENFIN_AUDIT_KEY", KEY)
    add_user(engine, "risk", "risk-password-1", ["risk_manager"], actor="admin")
    with engine.connect() as connection:
        report = verify_report(connection)
    assert report.intact and report.unkeyed == list(range(1, old + 1)) and report.keyed_from == old + 1
    result = CliRunner().invoke(app, ["audit", "verify", "--db", store_url])
    assert result.exit_code == 0 and f"1-{old}" in result.output and "unkeyed only" in result.output
    # without the key: the keyed records are named as checked for their links only, never passed silently
    monkeypatch.delenv("GREENFIN_AUDIT_KEY")
    with engine.connect() as connection:
        report = verify_report(connection)
    assert report.intact and not report.keyed and report.unchecked == [old + 1]
    result = CliRunner().invoke(app, ["audit", "verify", "--db", store_url])
    assert said(result.output, "未配置审计密钥") and said(result.output, "no audit key")


def test_a_keyed_store_refuses_unkeyed_writes(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GREENFIN_AUDIT_KEY", KEY)
    audited(engine)
    monkeypatch.delenv("GREENFIN_AUDIT_KEY")
    monkeypatch.setenv("GREENFIN_SECRET_KEY", "a-session-secret-" + "s" * 20)  # never an audit key
    with pytest.raises(AuditKeyMissing, match="GREENFIN_AUDIT_KEY"):
        add_user(engine, "risk", "risk-password-1", ["risk_manager"], actor="admin")
    monkeypatch.setenv("GREENFIN_AUDIT_KEY", "another-key-" + "x" * 20)
    add_user(engine, "risk", "risk-password-1", ["risk_manager"], actor="admin")
    monkeypatch.setenv("GREENFIN_AUDIT_KEY", KEY)
    assert any("另一密钥" in p for p in problems(engine))  # a key mix-up is reported as such


def test_the_session_secret_never_keys_the_chain(
    engine: Engine, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cookie secret is rotated routinely; records keyed with it would fail for good after, so
    without ``GREENFIN_AUDIT_KEY`` records are plain, and ``verify`` says what that means."""
    monkeypatch.delenv("GREENFIN_AUDIT_KEY", raising=False)
    monkeypatch.setenv("GREENFIN_SECRET_KEY", KEY)
    assert audit.audit_key() is None and audit.audit_keys() == {}
    audited(engine)
    monkeypatch.setenv("GREENFIN_SECRET_KEY", "rotated-" + KEY)  # routine: nothing breaks
    with engine.connect() as connection:
        report = verify_report(connection)
        head = connection.execute(select(audit_chain)).mappings().one()
    assert report.intact and report.keyed_from is None and head["head_mac"] is None
    assert len(report.unkeyed) == report.records and not report.keyed
    result = CliRunner().invoke(app, ["audit", "verify", "--db", store_url])
    assert (
        result.exit_code == 0
        and said(result.output, "审计链未加密钥")
        and said(result.output, "the audit chain is unkeyed")
    )


def test_keys_rotate_and_every_listed_key_verifies(
    engine: Engine, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``GREENFIN_AUDIT_KEY=new,old``: the first signs, every one verifies what it signed."""
    old, new = KEY, "the-next-audit-key-" + "n" * 20
    monkeypatch.setenv("GREENFIN_AUDIT_KEY", old)
    audited(engine)
    with engine.connect() as connection:
        before = verify_report(connection).records
    monkeypatch.setenv("GREENFIN_AUDIT_KEY", f" {new} , {old} ")
    add_user(engine, "risk", "risk-password-1", ["risk_manager"], actor="admin")
    with engine.connect() as connection:
        report = verify_report(connection)
        markers = [m for (m,) in connection.execute(select(audit_log.c.hash_scheme).order_by(audit_log.c.id))]
    assert report.intact and report.keyed_from == 1 and report.unchecked == [] and report.head_checked
    assert len(set(markers[:before])) == 1 and len(set(markers[before:])) == 1 and markers[0] != markers[-1]
    result = CliRunner().invoke(app, ["audit", "verify", "--db", store_url])
    assert result.exit_code == 0 and f"{report.records} of {report.records}" in result.output
    monkeypatch.setenv("GREENFIN_AUDIT_KEY", new)  # the old key dropped: its records cannot be checked
    assert any("另一密钥" in p for p in problems(engine))


# --- the head: truncating the newest records ---------------------------------------------------------


def _noted_head(store_url: str) -> tuple[int, str]:
    """The head as ``greenfin audit verify`` prints it, for the operator to note."""
    result = CliRunner().invoke(app, ["audit", "verify", "--db", store_url])
    assert result.exit_code == 0, result.output
    line = next(line for line in result.output.splitlines() if "current head:" in line)
    number, _, digest = line.rsplit(" ", 1)[1].partition(":")
    return int(number), digest


def _truncate(connection: Connection, keep: int) -> None:
    """Delete the records after ``keep`` and point the head at it, as an editor without the key can."""
    drop_append_only_triggers(connection)
    connection.execute(delete(audit_log).where(audit_log.c.id > keep))
    last = connection.execute(select(audit_log.c.hash).where(audit_log.c.id == keep)).scalar_one()
    connection.execute(update(audit_chain).values(last_id=keep, last_hash=last, records=keep))


@pytest.mark.parametrize("head_mac", ["kept", "erased", "unknown key"])
def test_the_newest_records_deleted_and_the_head_rewritten_are_detected(
    engine: Engine, store_url: str, monkeypatch: pytest.MonkeyPatch, head_mac: str
) -> None:
    monkeypatch.setenv("GREENFIN_AUDIT_KEY", KEY)
    audited(engine)
    noted_id, noted_hash = _noted_head(store_url)
    assert len(noted_hash) == 64
    with engine.begin() as connection:
        _truncate(connection, noted_id - 1)
        if head_mac == "erased":
            connection.execute(update(audit_chain).values(head_mac=None))
        elif head_mac == "unknown key":  # a MAC naming a key id this store's keys do not have
            connection.execute(update(audit_chain).values(head_mac="hmac-sha256:00000000|x"))
    found = problems(engine)
    assert found, "the rewritten head verified"
    result = CliRunner().invoke(app, ["audit", "verify", "--db", store_url])
    assert result.exit_code == 1 and "校验失败" in result.output
    # the next write does not sign the rewritten head as if it were genuine
    add_user(engine, "risk", "risk-password-1", ["risk_manager"], actor="admin")
    assert problems(engine), "a later write laundered the truncation"
    with engine.connect() as connection:
        assert connection.execute(select(audit_chain.c.head_mac)).scalar() == audit.HEAD_TAMPERED


def test_an_earlier_genuine_head_restored_is_found_only_against_a_noted_head(
    engine: Engine, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The limit, documented: delete the newest records and put back the head row as it was (from
    a backup) and the database is consistent again; only a head noted outside it shows the cut."""
    monkeypatch.setenv("GREENFIN_AUDIT_KEY", KEY)
    audited(engine)
    with engine.connect() as connection:
        earlier = dict(connection.execute(select(audit_chain)).mappings().one())
    add_user(engine, "risk", "risk-password-1", ["risk_manager"], actor="admin")
    noted_id, noted_hash = _noted_head(store_url)
    with engine.begin() as connection:
        drop_append_only_triggers(connection)
        connection.execute(delete(audit_log).where(audit_log.c.id > earlier["last_id"]))
        connection.execute(update(audit_chain).values(earlier))
    assert problems(engine) == []
    for noted in (f"{noted_id}:{noted_hash}", f"{noted_id}:{noted_hash[:16]}"):
        result = CliRunner().invoke(app, ["audit", "verify", "--db", store_url, "--head", noted])
        assert result.exit_code == 1 and said(result.output, "the newest records were deleted")
    result = CliRunner().invoke(
        app, ["audit", "verify", "--db", store_url, "--head", f"{earlier['last_id']}:{earlier['last_hash']}"]
    )
    assert result.exit_code == 0
    result = CliRunner().invoke(app, ["audit", "verify", "--db", store_url, "--head", "12:abc"])
    assert result.exit_code == 2 and "--head" in result.output


def test_the_api_and_the_page_say_whether_and_from_where_the_chain_is_keyed(
    engine: Engine, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fastapi.testclient import TestClient

    from greenfin.api.app import create_app
    from tests.test_web import sign_in as web_sign_in

    monkeypatch.delenv("GREENFIN_AUDIT_KEY", raising=False)
    audited(engine)
    add_user(engine, "auditor", "auditor-password", ["auditor"], actor="admin")
    with TestClient(create_app(store_url, secret=b"a" * 32), follow_redirects=False) as client:
        login = client.post(
            "/api/v1/auth/login", json={"username": "auditor", "password": "auditor-password"}
        )
        assert login.status_code == 200, login.text
        body = client.get("/api/v1/audit/verify").json()
        assert body["intact"] and body["keyed_from"] is None and not body["key_configured"]
        assert "未加密钥" in body["status"] and body["head_id"] == body["records"]
        monkeypatch.setenv("GREENFIN_AUDIT_KEY", KEY)
        first_keyed = body["records"] + 1
        add_user(engine, "risk", "risk-password-1", ["risk_manager"], actor="admin")
        add_user(engine, "risk2", "risk-password-2", ["risk_manager"], actor="admin")
        body = client.get("/api/v1/audit/verify").json()
        assert body["intact"] and body["keyed_from"] == first_keyed and body["key_configured"]
        assert f"record {first_keyed}" in body["status"]
        with engine.begin() as connection:  # the newest records cut, the head rewritten
            _truncate(connection, first_keyed)
        body = client.get("/api/v1/audit/verify").json()
        assert not body["intact"] and any("链首签名不符" in p for p in body["problems"])
        client.cookies.clear()
        web_sign_in(client, "auditor", "auditor-password")
        html = client.get("/audit").text
        assert 'id="chain-broken"' in html and "链首签名不符" in html
