"""Sign-in and account security, second part: guesses racing each other past the lockout and the
throttle, API token secrets kept out of the idempotency store, token names and who may make
tokens, unlocking a throttled name, and never losing the last admin."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, update

from greenfin.service import auth
from greenfin.service import users as user_service
from greenfin.service.auth import LoginRefused, LoginThrottled, TokenNameInvalid, create_token, login
from greenfin.service.users import PermissionDenied, UserProblem, add_user, set_active, set_roles, unlock
from greenfin.store.schema import api_tokens, audit_log, idempotency_keys, login_failures, users
from tests import test_security
from tests.test_security import api_sign_in

PASSWORD = "correct-horse-battery"


def user_row(engine: Engine, username: str) -> dict[str, Any]:
    with engine.connect() as connection:
        return dict(connection.execute(select(users).where(users.c.username == username)).mappings().one())


def audited(engine: Engine, action: str) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(audit_log).where(audit_log.c.action == action).order_by(audit_log.c.id)
        )
        return [dict(row) for row in rows.mappings()]


def in_parallel(count: int, work: Callable[[int], object]) -> list[BaseException | None]:
    """Run ``work(i)`` in ``count`` threads released together; each one's exception, or None."""
    start = threading.Barrier(count)
    outcomes: list[BaseException | None] = [None] * count

    def run(number: int) -> None:
        start.wait()
        try:
            work(number)
        except BaseException as exc:  # collected and checked by the caller
            outcomes[number] = exc

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


# --- 1. concurrent guesses cannot outrun the lockout or the throttle ----------------------------------


def test_concurrent_wrong_passwords_are_each_counted_and_lock_the_account(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_user(engine, "victim", PASSWORD, ["viewer"], actor="admin")
    checked: list[str] = []
    real = user_service.verify_password

    def slow_verify(engine_: Engine, username: str, password: str) -> bool:
        checked.append(password)
        time.sleep(0.05)  # argon2 is slow: the window in which the others used to slip through
        return real(engine_, username, password)

    monkeypatch.setattr(auth, "verify_password", slow_verify)
    # fewer than NAME_FAILURES, so the per-name throttle leaves it to the account's own count
    outcomes = in_parallel(
        auth.NAME_FAILURES - 1, lambda n: login(engine, "victim", f"guess-{n}", address=f"198.51.100.{n}")
    )
    assert all(isinstance(o, LoginRefused) for o in outcomes), outcomes
    # the throttle's rows, written before the check, bound the guesses checked at once; each
    # wrong one is counted on the account, so the burst ends locked however it interleaved
    assert 0 < len(checked) <= auth.NAME_FAILURES, len(checked)
    assert user_row(engine, "victim")["locked_until"] is not None
    records = audited(engine, "login_failed")  # one per password checked
    assert len(records) == len(checked)
    assert max(r["detail"]["failures"] for r in records) >= auth.MAX_FAILURES
    with pytest.raises(LoginRefused) as refused:
        login(engine, "victim", PASSWORD)
    assert refused.value.locked


def test_concurrent_guesses_at_one_name_stop_at_the_throttle(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = auth._throttled

    def slow_throttled(*args: Any) -> int | None:
        found = real(*args)
        time.sleep(0.05)  # widen the window between the check and the failure being counted
        return found

    monkeypatch.setattr(auth, "_throttled", slow_throttled)
    outcomes = in_parallel(30, lambda n: login(engine, "ghost", "guess", address=f"192.0.2.{n}"))
    assert all(isinstance(o, LoginRefused) for o in outcomes), outcomes
    throttled = [o for o in outcomes if isinstance(o, LoginThrottled)]
    with engine.connect() as connection:
        kept = connection.execute(select(func.count()).select_from(login_failures)).scalar_one()
    assert kept <= auth.NAME_FAILURES and len(throttled) >= 30 - auth.NAME_FAILURES
    assert len(audited(engine, "login_failed")) == kept


def test_a_right_password_racing_wrong_ones_does_not_lift_their_lock(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_user(engine, "victim", PASSWORD, ["viewer"], actor="admin")
    with engine.begin() as connection:  # two wrong passwords short of the lock
        connection.execute(
            update(users).where(users.c.username == "victim").values(failed_logins=auth.MAX_FAILURES - 2)
        )
    entered, release = threading.Event(), threading.Event()
    real = user_service.verify_password

    def held_verify(engine_: Engine, username: str, password: str) -> bool:
        if password == PASSWORD:  # the owner's sign-in is checked while the guesses go on
            entered.set()
            release.wait(10)
        return real(engine_, username, password)

    monkeypatch.setattr(auth, "verify_password", held_verify)
    outcome: list[BaseException | None] = []

    def owner() -> None:
        try:
            login(engine, "victim", PASSWORD)
            outcome.append(None)
        except BaseException as exc:  # checked below
            outcome.append(exc)

    thread = threading.Thread(target=owner)
    thread.start()
    try:
        assert entered.wait(10)
        for _ in range(2):
            with pytest.raises(LoginRefused):
                login(engine, "victim", "wrong-guess")
        assert user_row(engine, "victim")["locked_until"] is not None
    finally:
        release.set()
        thread.join()
    assert len(outcome) == 1 and isinstance(outcome[0], LoginRefused) and outcome[0].locked, outcome
    assert user_row(engine, "victim")["locked_until"] is not None  # the lock stands
    assert audited(engine, "login") == []


def test_right_passwords_sent_at_once_after_mistakes_sign_in_and_do_not_lock(engine: Engine) -> None:
    """A double-click (or two tabs) after MAX_FAILURES - 1 typing mistakes: both right passwords
    are let in, and the account is not locked by attempts that were never wrong."""
    add_user(engine, "owner", PASSWORD, ["viewer"], actor="admin")
    for _ in range(auth.MAX_FAILURES - 1):
        with pytest.raises(LoginRefused):
            login(engine, "owner", "typo")
    outcomes = in_parallel(3, lambda _n: login(engine, "owner", PASSWORD))
    assert all(not isinstance(o, BaseException) for o in outcomes), outcomes
    row = user_row(engine, "owner")
    assert row["locked_until"] is None and row["failed_logins"] == 0
    assert login(engine, "owner", PASSWORD).username == "owner"


def test_a_right_password_keeps_no_throttle_row(engine: Engine) -> None:
    add_user(engine, "owner", PASSWORD, ["viewer"], actor="admin")
    assert login(engine, "owner", PASSWORD, address="203.0.113.1").username == "owner"
    with pytest.raises(LoginRefused):
        login(engine, "owner", "wrong-guess", address="203.0.113.1")
    with engine.connect() as connection:
        rows = connection.execute(select(login_failures.c.username)).scalars().all()
    assert rows == ["owner"]  # only the wrong one is counted
    assert user_row(engine, "owner")["failed_logins"] == 1


# --- HTTP fixtures -----------------------------------------------------------------------------------


# the app (officer, viewer, admin) and its client are test_security's own fixtures
app = test_security.app
client = test_security.client


def token_count(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(api_tokens)).scalar_one())


# --- 2. a token's secret is never stored for idempotent replays -----------------------------------------


def test_an_idempotent_token_request_stores_no_secret_and_a_replay_is_409(
    client: TestClient, engine: Engine
) -> None:
    headers = {**api_sign_in(client, "officer"), "Idempotency-Key": "tok-1"}
    made = client.post("/api/v1/auth/tokens", json={"name": "ci"}, headers=headers)
    assert made.status_code == 200, made.text
    secret = made.json()["token"]
    assert secret.startswith("gft_")
    with engine.connect() as connection:
        stored = connection.execute(select(idempotency_keys)).mappings().all()
    assert len(stored) == 1 and stored[0]["status_code"] == 200
    assert secret not in repr(stored) and "gft_" not in repr(stored)
    again = client.post("/api/v1/auth/tokens", json={"name": "ci"}, headers=headers)
    assert again.status_code == 409 and "gft_" not in again.text
    assert "只显示一次" in again.json()["detail"] and "shown once" in again.json()["detail"]
    assert token_count(engine) == 1


# --- 3. token names that can be revoked; tokens cannot make tokens --------------------------------------


@pytest.mark.parametrize("name", ["a/b", " ci", "ci ", "..", "", "a\nb", "x" * 101])
def test_a_token_name_that_could_not_be_revoked_is_refused(
    client: TestClient, engine: Engine, name: str
) -> None:
    headers = api_sign_in(client, "officer")
    refused = client.post("/api/v1/auth/tokens", json={"name": name}, headers=headers)
    assert refused.status_code == 422, refused.text
    assert refused.json()["detail"][0]["loc"] == ["body", "name"]
    assert token_count(engine) == 0


def test_the_service_refuses_a_bad_token_name_too(engine: Engine) -> None:
    add_user(engine, "officer", PASSWORD, ["officer"], actor="admin")
    with pytest.raises(TokenNameInvalid) as refused:
        create_token(engine, "officer", "a/b")
    assert (
        refused.value.status == 422
        and "令牌名称" in str(refused.value)
        and "token name" in str(refused.value)
    )
    assert token_count(engine) == 0


def test_a_chinese_token_name_is_made_and_revoked_by_name(client: TestClient) -> None:
    headers = api_sign_in(client, "officer")
    made = client.post("/api/v1/auth/tokens", json={"name": "批处理 任务-1"}, headers=headers)
    assert made.status_code == 200, made.text
    refused = client.post("/api/v1/auth/tokens", json={"name": "a/b"}, headers=headers)
    assert "令牌名称" in refused.text and "token name" in refused.text  # bilingual
    revoked = client.delete(f"/api/v1/auth/tokens/{quote('批处理 任务-1')}", headers=headers)
    assert revoked.status_code == 200 and revoked.json()["revoked"] == 1


def test_an_api_token_cannot_make_another(client: TestClient, engine: Engine) -> None:
    token = create_token(engine, "officer", "ci")
    made = client.post(
        "/api/v1/auth/tokens", json={"name": "child"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert made.status_code == 403 and "会话" in made.json()["detail"] and "session" in made.json()["detail"]
    assert token_count(engine) == 1


# --- 4. unlocking lets a throttled name back in ---------------------------------------------------------


def test_unlock_clears_the_names_throttle(engine: Engine) -> None:
    add_user(engine, "admin", PASSWORD, ["admin"], actor="admin")
    add_user(engine, "officer", PASSWORD, ["officer"], actor="admin")
    for round_ in range(auth.NAME_FAILURES // auth.MAX_FAILURES):
        for number in range(auth.MAX_FAILURES):
            with pytest.raises(LoginRefused) as refused:
                login(engine, "officer", "wrong-guess", address=f"192.0.2.{round_ * 10 + number}")
        assert refused.value.locked
        unlock(engine, "officer", actor="admin")
    assert login(engine, "officer", PASSWORD, address="198.51.100.1").username == "officer"
    record = audited(engine, "unlock")[-1]
    assert record["actor"] == "admin" and record["detail"]["login_failures_cleared"] >= 1
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(login_failures)).scalar_one() == 0


# --- 5. the last active admin stays ---------------------------------------------------------------------


@pytest.fixture
def two_admins(engine: Engine) -> Engine:
    add_user(engine, "a1", PASSWORD, ["admin"], actor="setup")
    add_user(engine, "a2", PASSWORD, ["admin"], actor="setup")
    return engine


def active_admins(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        rows = connection.execute(select(users.c.username, users.c.roles, users.c.active)).all()
    return sorted(row.username for row in rows if row.active and "admin" in row.roles)


def meet_in_target(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both changes read their target before either writes (a lock that serialises them makes one
    wait before it gets here: the other then stops waiting after two seconds)."""
    both = threading.Barrier(2)
    real = user_service._target

    def met(connection: Any, username: str) -> Any:
        with contextlib.suppress(threading.BrokenBarrierError):
            both.wait(timeout=2)
        return real(connection, username)

    monkeypatch.setattr(user_service, "_target", met)


@pytest.mark.parametrize(
    "second",
    [
        lambda engine: set_roles(engine, "a1", ["viewer"], actor="a2"),
        lambda engine: set_active(engine, "a1", False, actor="a2"),
    ],
    ids=["demote", "deactivate"],
)
def test_two_admins_removing_each_other_at_once_leave_one(
    two_admins: Engine, monkeypatch: pytest.MonkeyPatch, second: Callable[[Engine], None]
) -> None:
    engine = two_admins
    meet_in_target(monkeypatch)
    changes: list[Callable[[], object]] = [
        lambda: set_roles(engine, "a2", ["viewer"], actor="a1"),
        lambda: second(engine),
    ]
    outcomes = in_parallel(2, lambda n: changes[n]())
    assert active_admins(engine) in (["a1"], ["a2"]), outcomes
    assert sum(o is None for o in outcomes) == 1, outcomes
    refused = next(o for o in outcomes if o is not None)
    assert isinstance(refused, (UserProblem, PermissionDenied)), outcomes
    if isinstance(refused, UserProblem):
        assert "最后一位有效管理员" in str(refused) and "last active admin" in str(refused)


def test_an_admin_still_removes_another_while_one_remains(two_admins: Engine) -> None:
    engine = two_admins
    add_user(engine, "a3", PASSWORD, ["admin"], actor="setup")
    set_active(engine, "a3", False, actor="a1")
    assert set_roles(engine, "a2", ["viewer"], actor="a1") == ["viewer"]
    assert active_admins(engine) == ["a1"]
    assert [r["entity_id"] for r in audited(engine, "update_roles")] == ["a2"]
    assert [r["entity_id"] for r in audited(engine, "deactivate")] == ["a3"]


def test_the_check_refuses_a_change_leaving_no_active_admin(two_admins: Engine) -> None:
    """The guard itself, as a change that passed the permission check just before a parallel one
    committed would meet it."""
    engine = two_admins
    set_roles(engine, "a1", ["viewer"], actor="a2")
    with pytest.raises(UserProblem) as refused, engine.begin() as connection:
        connection.execute(update(users).where(users.c.username == "a2").values(active=False))
        user_service._keep_an_admin(connection, "a2")
    assert "最后一位有效管理员" in str(refused.value) and "last active admin" in str(refused.value)
    assert active_admins(engine) == ["a2"]  # rolled back
