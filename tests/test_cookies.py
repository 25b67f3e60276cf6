"""The session cookie's flags, from both sign-ins (the page form and ``POST /api/v1/auth/login``).

The session is the whole of a signed-in browser's authority, so it must be out of reach of page
scripts (HttpOnly), not sent on another site's requests (SameSite), and never sent in clear once
the site is on TLS (Secure).  It cannot be Secure on plain http: the browser would not send it
back and nobody could sign in on a development server.  The app decides Secure from the request's
own scheme (``api.security.start_session``): https when served over TLS, or when uvicorn's proxy
middleware (on by default in ``greenfin serve``) took ``X-Forwarded-Proto: https`` from a trusted
proxy; ``GREENFIN_SECURE_COOKIES=1`` forces it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from greenfin.api.app import create_app
from greenfin.api.security import COOKIE
from greenfin.service.users import add_user
from greenfin.store.database import open_store

PASSWORD = "correct-horse-battery"
TOKEN = re.compile(r'name="csrf_token" value="([^"]*)"')


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FastAPI]:
    monkeypatch.delenv("GREENFIN_SECURE_COOKIES", raising=False)
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = open_store(url)
    add_user(engine, "officer", PASSWORD, ["officer"], actor="admin")
    engine.dispose()
    application = create_app(url, secret=b"c" * 32)
    yield application
    application.state.engine.dispose()


def page_login(client: TestClient) -> httpx.Response:
    form = client.get("/login")
    found = TOKEN.search(form.text)
    assert found, form.text[:300]
    # the form's own CSRF cookie is Secure behind a TLS proxy: sent back as a browser on https would
    for name, value in form.cookies.items():
        client.cookies.set(name, value)
    response = client.post(
        "/login", data={"username": "officer", "password": PASSWORD, "csrf_token": found[1]}
    )
    assert response.status_code == 303, response.text[:300]
    return response


def api_login(client: TestClient) -> httpx.Response:
    response = client.post("/api/v1/auth/login", json={"username": "officer", "password": PASSWORD})
    assert response.status_code == 200, response.text[:300]
    return response


LOGINS: dict[str, Callable[[TestClient], httpx.Response]] = {"page": page_login, "api": api_login}


def session_cookie(response: httpx.Response) -> dict[str, str | bool]:
    """The attributes of the Set-Cookie header that sets the session (names lower-cased)."""
    headers = [h for h in response.headers.get_list("set-cookie") if h.startswith(f"{COOKIE}=")]
    assert len(headers) == 1, response.headers.get_list("set-cookie")
    value, *attributes = (part.strip() for part in headers[0].split(";"))
    assert len(value) > len(COOKIE) + 20  # a signed session, not an empty or deleting cookie
    found: dict[str, str | bool] = {}
    for attribute in attributes:
        name, _, setting = attribute.partition("=")
        found[name.lower()] = setting or True
    return found


@pytest.mark.parametrize("login", LOGINS)
def test_on_plain_http_the_session_is_httponly_and_samesite_but_not_secure(app: FastAPI, login: str) -> None:
    """http://: HttpOnly and SameSite=Lax/Strict; Secure would make the browser drop the cookie."""
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as client:
        flags = session_cookie(LOGINS[login](client))
    assert flags.get("httponly") is True, flags
    assert str(flags.get("samesite", "")).lower() in ("lax", "strict"), flags
    assert "secure" not in flags, flags
    assert flags.get("path") == "/", flags


@pytest.mark.parametrize("login", LOGINS)
def test_over_tls_the_session_is_secure(app: FastAPI, login: str) -> None:
    """https:// (uvicorn with a certificate): Secure, and still HttpOnly and SameSite."""
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        flags = session_cookie(LOGINS[login](client))
    assert flags.get("secure") is True, flags
    assert flags.get("httponly") is True and str(flags.get("samesite", "")).lower() in ("lax", "strict")


@pytest.mark.parametrize("login", LOGINS)
def test_behind_a_tls_proxy_the_session_is_secure(app: FastAPI, login: str) -> None:
    """A TLS proxy in front of ``greenfin serve`` sends X-Forwarded-Proto: https; uvicorn's proxy
    middleware (what ``uvicorn.run`` installs for trusted proxies) makes that the request's
    scheme, and the cookie is Secure.  The same header from an untrusted peer changes nothing."""
    trusted = ProxyHeadersMiddleware(app, trusted_hosts="*")
    with TestClient(trusted, follow_redirects=False, headers={"X-Forwarded-Proto": "https"}) as client:
        flags = session_cookie(LOGINS[login](client))
    assert flags.get("secure") is True, flags
    untrusted = ProxyHeadersMiddleware(app, trusted_hosts="10.0.0.1")
    with TestClient(untrusted, follow_redirects=False, headers={"X-Forwarded-Proto": "https"}) as client:
        flags = session_cookie(LOGINS[login](client))
    assert "secure" not in flags, flags


@pytest.mark.parametrize("login", LOGINS)
def test_the_setting_forces_secure_cookies(app: FastAPI, login: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """GREENFIN_SECURE_COOKIES=1, for a proxy whose headers the server is not told to trust."""
    monkeypatch.setenv("GREENFIN_SECURE_COOKIES", "1")
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as client:
        flags = session_cookie(LOGINS[login](client))
    assert flags.get("secure") is True, flags
