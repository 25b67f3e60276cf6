"""Sessions, CSRF and the permission check every route makes.

A session is a signed cookie (HMAC-SHA256 over user name, expiry and the session's CSRF token),
HttpOnly and SameSite=Lax, Secure behind TLS.  The key comes from ``GREENFIN_SECRET_KEY``; without
it a random key is made per process (sessions then end with the process), so no secret is ever in
the repository.  A request that changes something with a session cookie must carry the session's
CSRF token (header ``X-CSRF-Token`` or form field ``csrf_token``); a request with an API token
(``Authorization: Bearer gft_…``) needs none, as no browser sends it by itself.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import HTTPException, Request, Response
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from greenfin.service.auth import Principal, session_principal, token_principal

COOKIE = "greenfin_session"
SESSION_SECONDS = 8 * 3600
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True, slots=True)
class Session:
    username: str
    expires: int
    csrf: str


class Signer:
    def __init__(self, key: bytes | None = None) -> None:
        configured = os.environ.get("GREENFIN_SECRET_KEY")
        self.key = key or (configured.encode() if configured else secrets.token_bytes(32))

    def _mac(self, payload: bytes) -> str:
        return hmac.new(self.key, payload, hashlib.sha256).hexdigest()

    def dump(self, session: Session) -> str:
        payload = base64.urlsafe_b64encode(f"{session.username}\n{session.expires}\n{session.csrf}".encode())
        return f"{payload.decode()}.{self._mac(payload)}"

    def load(self, value: str) -> Session | None:
        payload, _, mac = value.rpartition(".")
        if not payload or not hmac.compare_digest(self._mac(payload.encode()), mac):
            return None
        try:
            username, expires, csrf = base64.urlsafe_b64decode(payload.encode()).decode().split("\n")
            session = Session(username, int(expires), csrf)
        except (ValueError, UnicodeDecodeError):
            return None
        return session if session.expires > time.time() else None


def start_session(response: Response, request: Request, signer: Signer, username: str) -> Session:
    session = Session(username, int(time.time()) + SESSION_SECONDS, secrets.token_urlsafe(24))
    secure = request.url.scheme == "https" or os.environ.get("GREENFIN_SECURE_COOKIES") == "1"
    response.set_cookie(
        COOKIE, signer.dump(session), max_age=SESSION_SECONDS, httponly=True, samesite="lax", secure=secure
    )
    return session


def current_session(request: Request) -> Session | None:
    value = request.cookies.get(COOKIE)
    signer: Signer = request.app.state.signer
    return signer.load(value) if value else None


class PrincipalCache:
    """Who a token or session belongs to, remembered for a few seconds, looked up once at a time.

    Every request needs its caller; reading the user (and the token) from the store each time
    costs more than most routes' work and serialises a busy client on the database.  A revoked
    token or deactivated account therefore stops working within ``ttl`` seconds (and the time of
    one look-up).

    When an entry expires under load, every request in flight would miss at once and each read
    the store (a stampede: a worker under 100 concurrent requests stalled for up to 0.8 s every
    ``ttl`` seconds, its token look-up also writing the token's last use).  So one look-up per
    caller runs at a time: while an expired entry is being refreshed, other requests get the
    entry they had (for at most ``ttl`` more seconds), and a first look-up is awaited by all.
    """

    def __init__(self, ttl: float = 10.0) -> None:
        self.ttl = ttl
        self._seen: dict[str, tuple[float, Principal]] = {}
        self._pending: dict[str, asyncio.Future[Principal | None]] = {}

    def put(self, key: str, who: Principal) -> Principal:
        if len(self._seen) > 10_000:
            self._seen.clear()
        self._seen[key] = (time.monotonic() + self.ttl, who)
        return who

    async def resolve(self, key: str, load: Callable[[], Principal | None]) -> Principal | None:
        """The caller from the cache, else from ``load`` (run in a thread), once per key at a time."""
        hit = self._seen.get(key)
        now = time.monotonic()
        if hit is not None and hit[0] > now:
            return hit[1]
        pending = self._pending.get(key)
        if pending is None:
            pending = self._pending[key] = asyncio.ensure_future(self._load(key, load))
            pending.add_done_callback(lambda done: done.cancelled() or done.exception())  # seen, if unawaited
        if hit is not None and hit[0] + self.ttl > now:
            return hit[1]  # stale by less than ttl: served while the refresh runs
        return await asyncio.shield(pending)

    async def _load(self, key: str, load: Callable[[], Principal | None]) -> Principal | None:
        try:
            found = await run_in_threadpool(load)
            if found is None:
                self._seen.pop(key, None)
                return None
            return self.put(key, found)
        finally:
            self._pending.pop(key, None)


async def principal(request: Request) -> Principal:
    """The caller: an API token, else a session cookie (with its CSRF token on changes); else 401."""
    engine: Engine = request.app.state.engine
    cache: PrincipalCache = request.app.state.principals
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        token = header[7:].strip()
        key = "token:" + hashlib.sha256(token.encode()).hexdigest()
        found = await cache.resolve(key, lambda: token_principal(engine, token))
        if found is None:
            raise HTTPException(401, "API 令牌无效或已吊销 / invalid or revoked token")
        return found
    session = current_session(request)
    if session is None:
        raise HTTPException(401, "请先登录 / sign in first")
    if request.method in UNSAFE:
        sent = request.headers.get("x-csrf-token")
        if sent is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")
        ):
            sent = str((await request.form()).get("csrf_token") or "")
        if not sent or not hmac.compare_digest(sent, session.csrf):
            raise HTTPException(403, "CSRF 校验失败 / CSRF token missing or wrong")
    key = "user:" + session.username
    found = await cache.resolve(key, lambda: session_principal(engine, session.username))
    if found is None:
        raise HTTPException(401, "账户不存在或已停用 / account not active")
    return found


async def authorised(request: Request, permission: str) -> Principal:
    """The caller, when they hold ``permission``; 401 or 403 otherwise."""
    who = await principal(request)
    if permission not in who.permissions:
        raise HTTPException(403, f"无权限 {permission} / missing permission {permission}")
    return who


def need(permission: str) -> Callable[..., object]:
    """A dependency that lets the route run only for a principal holding ``permission``."""

    async def check(request: Request) -> Principal:
        # the caller is found here rather than through a nested dependency: every request pays
        # for FastAPI's resolution of each dependency level
        return await authorised(request, permission)

    check.permission = permission  # type: ignore[attr-defined]
    return check
