"""Sign-in and session security: lockout under parallel guessing, the login throttle, server-side
logout, token revocation, and maker-checker decisions racing each other."""

from __future__ import annotations

import base64
import datetime as dt
import threading
import time
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, update

from greenfin.api.app import create_app
from greenfin.api.security import COOKIE, PrincipalCache, Signer
from greenfin.service import approvals, audit, auth
from greenfin.service.auth import LoginRefused, LoginThrottled, login
from greenfin.service.identification import label_book
from greenfin.service.importing import import_files
from greenfin.service.permissions import permissions_of
from greenfin.service.users import add_user, hash_password, set_active
from greenfin.store.database import open_store
from greenfin.store.schema import api_tokens, audit_log, login_failures, pending_actions, users
from tests.conftest import DATA

PASSWORD = "correct-horse-battery"


def audit_count(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(audit_log)).scalar_one())


def user_row(engine: Engine, username: str) -> dict[str, object]:
    with engine.connect() as connection:
        return dict(connection.execute(select(users).where(users.c.username == username)).mappings().one())


# --- 1. lockout: parallel wrong passwords each count ---------------------------------------------------


def test_parallel_wrong_passwords_lock_the_account(engine: Engine) -> None:
    add_user(engine, "victim", PASSWORD, ["viewer"], actor="admin")
    start = threading.Barrier(8)
    outcomes: list[BaseException | None] = []

    def guess() -> None:
        start.wait()
        try:
            login(engine, "victim", "wrong-guess")
            outcomes.append(None)
        except BaseException as exc:  # collected and checked below
            outcomes.append(exc)

    threads = [threading.Thread(target=guess) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(outcomes) == 8 and all(isinstance(o, LoginRefused) for o in outcomes), outcomes
    assert any(isinstance(o, LoginRefused) and o.locked for o in outcomes)
    assert user_row(engine, "victim")["locked_until"] is not None
    with pytest.raises(LoginRefused) as refused:  # even the right password, while locked
        login(engine, "victim", PASSWORD)
    assert refused.value.locked and refused.value.status == 423


# --- 2. login throttle per address and per name, shared through the store ------------------------------


def test_one_address_guessing_many_names_is_throttled(engine: Engine) -> None:
    add_user(engine, "real", PASSWORD, ["viewer"], actor="admin")
    for number in range(auth.ADDRESS_FAILURES):
        with pytest.raises(LoginRefused) as refused:
            login(engine, f"nobody-{number}", "guess", address="203.0.113.9")
        assert not isinstance(refused.value, LoginThrottled)
    written = audit_count(engine)
    for name, password in (("nobody-x", "guess"), ("real", PASSWORD)):  # a right password too
        with pytest.raises(LoginThrottled) as throttled:
            login(engine, name, password, address="203.0.113.9")
        assert throttled.value.status == 429
        assert 0 < throttled.value.retry_after <= auth.THROTTLE_WINDOW.total_seconds()
        assert throttled.value.headers == {"Retry-After": str(throttled.value.retry_after)}
    assert audit_count(engine) == written  # refused before anything is written
    assert login(engine, "real", PASSWORD, address="198.51.100.7").username == "real"


def test_one_unknown_name_from_many_addresses_is_throttled_in_every_process(store_url: str) -> None:
    first, second = open_store(store_url), open_store(store_url)  # two workers' engines
    try:
        for number in range(auth.NAME_FAILURES):
            with pytest.raises(LoginRefused):
                login(first, "ghost", "guess", address=f"192.0.2.{number}")
        with pytest.raises(LoginThrottled):
            login(second, "ghost", "guess", address="192.0.2.200")
        # the window passes: allowed again, and the old failures are pruned
        later = audit.now() + auth.THROTTLE_WINDOW + dt.timedelta(seconds=1)
        with pytest.raises(LoginRefused) as refused:
            login(second, "ghost", "guess", address="192.0.2.200", now=later)
        assert not isinstance(refused.value, LoginThrottled)
        with second.connect() as connection:
            assert connection.execute(select(func.count()).select_from(login_failures)).scalar_one() == 1
    finally:
        first.dispose()
        second.dispose()


# --- 3. a rejection never overwrites a concurrent approval ---------------------------------------------


def test_a_reject_racing_an_approval_is_refused(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    import_files(engine, [DATA / "small_book.csv"], actor="tester")
    label_book(engine, actor="tester")
    for name, roles in (("officer", ["officer"]), ("checker", ["checker"]), ("checker2", ["checker"])):
        add_user(engine, name, PASSWORD, roles, actor="admin")
    can = permissions_of(("checker",))
    action = approvals.propose(
        engine, "label_override", "T-0002", {"reason": "复核", "not_green": True}, maker="officer"
    )
    seen = approvals._load(engine, action, can)  # checker2 opens it while it is pending ...
    approvals.approve(engine, action, checker="checker", permissions=can, note="同意")  # ... checker approves
    monkeypatch.setattr(approvals, "_load", lambda *args: seen)
    with pytest.raises(approvals.ApprovalProblem) as refused:
        approvals.reject(engine, action, checker="checker2", permissions=can, note="退回")
    assert refused.value.status == 409
    with engine.connect() as connection:
        row = (
            connection.execute(select(pending_actions).where(pending_actions.c.id == action)).mappings().one()
        )
        rejects = connection.execute(select(func.count()).where(audit_log.c.action == "reject")).scalar_one()
    assert (row["status"], row["checker"], row["note"]) == ("approved", "checker", "同意") and rejects == 0


# --- 4. logging out ends the session on the server ----------------------------------------------------


@pytest.fixture
def app(engine: Engine, store_url: str) -> Iterator[FastAPI]:
    add_user(engine, "officer", PASSWORD, ["officer"], actor="admin")
    add_user(engine, "viewer", PASSWORD, ["viewer"], actor="admin")
    add_user(engine, "admin", PASSWORD, ["admin"], actor="admin")
    application = create_app(store_url, secret=b"s" * 32)
    yield application
    application.state.engine.dispose()


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, follow_redirects=False) as test_client:
        yield test_client


def api_sign_in(client: TestClient, username: str) -> dict[str, str]:
    response = client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"X-CSRF-Token": response.json()["csrf_token"]}


def with_cookie(app: FastAPI, value: str) -> TestClient:
    """Another browser (an attacker's) holding a copy of the cookie."""
    other = TestClient(app, follow_redirects=False)
    other.cookies.set(COOKIE, value)
    return other


def test_a_copied_cookie_stops_working_after_logout(app: FastAPI, client: TestClient) -> None:
    headers = api_sign_in(client, "officer")
    copied = client.cookies[COOKIE]
    assert with_cookie(app, copied).get("/api/v1/me").status_code == 200
    done = client.post("/logout", data={"csrf_token": headers["X-CSRF-Token"]})
    assert done.status_code == 303
    assert with_cookie(app, copied).get("/api/v1/me").status_code == 401  # at once, in this process
    api_sign_in(client, "officer")  # a new session works
    assert client.get("/api/v1/me").status_code == 200


def test_a_logout_in_another_process_ends_the_session_within_the_cache_lifetime(
    app: FastAPI, client: TestClient, engine: Engine
) -> None:
    app.state.principals = PrincipalCache(ttl=0.2)
    api_sign_in(client, "officer")
    assert client.get("/api/v1/me").status_code == 200  # cached now
    auth.logout(engine, "officer")  # as another worker process would: this cache is not told
    time.sleep(2 * 0.2 + 0.1)  # an entry is fresh for ttl, then served at most ttl more while refreshed
    assert client.get("/api/v1/me").status_code == 401


def test_deactivation_and_a_password_change_end_sessions(
    app: FastAPI, client: TestClient, engine: Engine
) -> None:
    app.state.principals = PrincipalCache(ttl=0.0)
    api_sign_in(client, "officer")
    epoch = user_row(engine, "officer")["session_epoch"]
    set_active(engine, "officer", False, actor="admin")
    set_active(engine, "officer", True, actor="admin")  # reactivated: the old session stays ended
    assert user_row(engine, "officer")["session_epoch"] == epoch + 2  # type: ignore[operator]
    assert client.get("/api/v1/me").status_code == 401
    api_sign_in(client, "officer")
    with engine.begin() as connection:
        connection.execute(
            update(users)
            .where(users.c.username == "officer")
            .values(password_hash=hash_password("new-pw-1234"))
        )
    assert client.get("/api/v1/me").status_code == 401
    with engine.begin() as connection:  # a failed-login count is no reason to end sessions
        connection.execute(update(users).where(users.c.username == "viewer").values(failed_logins=3))
    assert user_row(engine, "viewer")["session_epoch"] == 0


def test_a_cookie_signed_before_epochs_existed_counts_as_epoch_0() -> None:
    signer = Signer(b"x" * 32)
    payload = base64.urlsafe_b64encode(f"officer\n{int(time.time()) + 60}\ncsrf".encode())
    loaded = signer.load(f"{payload.decode()}.{signer._mac(payload)}")
    assert loaded is not None and (loaded.username, loaded.epoch) == ("officer", 0)


# --- 6. API tokens: listed without secrets, revoked at once --------------------------------------------


def new_token(client: TestClient, username: str, name: str) -> str:
    headers = api_sign_in(client, username)
    response = client.post("/api/v1/auth/tokens", json={"name": name}, headers=headers)
    assert response.status_code == 200, response.text
    client.cookies.clear()
    token: str = response.json()["token"]
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_tokens_are_listed_without_secrets_and_revoked_at_once(client: TestClient, engine: Engine) -> None:
    token = new_token(client, "officer", "ci")
    listed = client.get("/api/v1/auth/tokens", headers=bearer(token))
    assert listed.status_code == 200
    assert [t["name"] for t in listed.json()] == ["ci"] and listed.json()[0]["revoked"] is False
    with engine.connect() as connection:
        digest = connection.execute(select(api_tokens.c.token_hash)).scalar_one()
    assert token not in listed.text and digest not in listed.text and "gft_" not in listed.text
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 200  # cached
    revoked = client.delete("/api/v1/auth/tokens/ci", headers=bearer(token))
    assert revoked.status_code == 200 and revoked.json() == {
        "name": "ci",
        "username": "officer",
        "revoked": 1,
    }
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 401
    other = new_token(client, "officer", "other")
    assert client.delete("/api/v1/auth/tokens/ci", headers=bearer(other)).status_code == 404
    assert client.get("/api/v1/auth/tokens", headers=bearer(other)).json()[0]["revoked"] is True
    with engine.connect() as connection:
        record = connection.execute(select(audit_log).where(audit_log.c.action == "revoke")).mappings().one()
    assert (record["actor"], record["entity"], record["entity_id"]) == ("officer", "api_token", "ci")


def test_only_the_owner_or_an_admin_revokes_a_token(client: TestClient) -> None:
    token = new_token(client, "officer", "ci")
    viewer = new_token(client, "viewer", "mine")
    admin = new_token(client, "admin", "admin")
    refused = client.delete("/api/v1/auth/tokens/ci?username=officer", headers=bearer(viewer))
    assert refused.status_code == 403
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 200
    assert client.delete("/api/v1/auth/tokens/ci?username=officer", headers=bearer(admin)).status_code == 200
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 401


def test_a_session_must_send_its_csrf_token_to_revoke(client: TestClient) -> None:
    token = new_token(client, "officer", "ci")
    headers = api_sign_in(client, "officer")
    assert client.delete("/api/v1/auth/tokens/ci").status_code == 403
    assert client.delete("/api/v1/auth/tokens/ci", headers=headers).status_code == 200
    client.cookies.clear()
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 401


def test_a_token_revoked_by_another_process_stops_within_the_cache_lifetime(
    app: FastAPI, client: TestClient, engine: Engine
) -> None:
    app.state.principals = PrincipalCache(ttl=0.2)
    token = new_token(client, "officer", "ci")
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 200
    auth.revoke_token(engine, "officer", "officer", "ci")
    time.sleep(2 * 0.2 + 0.1)
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 401


# --- 2, at the HTTP edge (needs the call-site changes in api/v1.py and web/pages.py) -------------------


def test_the_api_and_the_page_answer_429_with_retry_after(client: TestClient) -> None:
    for number in range(auth.ADDRESS_FAILURES):
        response = client.post(
            "/api/v1/auth/login", json={"username": f"nobody-{number}", "password": "guess"}
        )
        assert response.status_code == 401
    throttled = client.post("/api/v1/auth/login", json={"username": "officer", "password": PASSWORD})
    assert throttled.status_code == 429 and int(throttled.headers["Retry-After"]) > 0
    form = client.get("/login")
    token = form.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    page = client.post("/login", data={"username": "officer", "password": PASSWORD, "csrf_token": token})
    assert page.status_code == 429 and int(page.headers["Retry-After"]) > 0
