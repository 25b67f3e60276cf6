"""Sessions, CSRF and the permission check every route makes.

A session is a signed cookie (HMAC-SHA256 over user name, expiry and the session's CSRF token),
HttpOnly and SameSite=Lax, Secure behind TLS.  The key comes from ``GREENFIN_SECRET_KEY``; without
it a random key is made per process (sessions then end with the process), so no secret is ever in
the repository.  A request that changes something with a session cookie must carry the session's
CSRF token (header ``X-CSRF-Token`` or form field ``csrf_token``); a request with an API token
(``Authorization: Bearer gft_…``) needs none, as no browser sends it by itself.

The cookie also carries the user's session epoch.  Logging out (and a password change or a
deactivation, by a trigger) moves the epoch on in the store, so a copied cookie is refused from
then on rather than until it expires: at once in the process that logged out, and in the others
when their cached entry for the user ends (:class:`PrincipalCache`).
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

from greenfin.service.auth import Principal, logout, session_epoch, session_principal, token_principal

COOKIE = "greenfin_session"
SESSION_SECONDS = 8 * 3600
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True, slots=True)
class Session:
    username: str
    expires: int
    csrf: str
    epoch: int = 0  # the user's session epoch when it began; cookies from before it carry none


class Signer:
    def __init__(self, key: bytes | None = None) -> None:
        configured = os.environ.get("GREENFIN_SECRET_KEY")
        self.key = key or (configured.encode() if configured else secrets.token_bytes(32))

    def _mac(self, payload: bytes) -> str:
        return hmac.new(self.key, payload, hashlib.sha256).hexdigest()

    def dump(self, session: Session) -> str:
        fields = f"{session.username}\n{session.expires}\n{session.csrf}\n{session.epoch}"
        payload = base64.urlsafe_b64encode(fields.encode())
        return f"{payload.decode()}.{self._mac(payload)}"

    def load(self, value: str) -> Session | None:
        payload, _, mac = value.rpartition(".")
        if not payload or not hmac.compare_digest(self._mac(payload.encode()), mac):
            return None
        try:
            fields = base64.urlsafe_b64decode(payload.encode()).decode().split("\n")
            if len(fields) == 3:  # signed before epochs existed: epoch 0, ended by the first logout
                fields.append("0")
            username, expires, csrf, epoch = fields
            session = Session(username, int(expires), csrf, int(epoch))
        except (ValueError, UnicodeDecodeError):
            return None
        return session if session.expires > time.time() else None


def start_session(response: Response, request: Request, signer: Signer, username: str) -> Session:
    """Set the session cookie, with the user's current epoch read from the store (so the callers,
    which only know the name, need not)."""
    epoch = session_epoch(request.app.state.engine, username)
    session = Session(username, int(time.time()) + SESSION_SECONDS, secrets.token_urlsafe(24), epoch)
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
    token, an ended session or a deactivated account therefore stops working in other processes
    within two ``ttl`` (fresh for one, served stale while refreshed for at most one more) and the
    time of one look-up; in the process that revoked it, at once (:meth:`forget`).

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

    def forget(self, *keys: str, prefix: str | None = None) -> None:
        """Drop entries now (a logout, a revoked token): this process stops accepting them at once,
        not when their entry would have ended."""
        for key in keys:
            self._seen.pop(key, None)
        if prefix is not None:
            for key in [key for key in self._seen if key.startswith(prefix)]:
                self._seen.pop(key, None)

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
    key = f"user:{session.username}\n{session.epoch}"  # a new epoch is never served an old entry
    found = await cache.resolve(key, lambda: session_principal(engine, session.username, session.epoch))
    if found is None:
        raise HTTPException(401, "会话已结束或账户已停用 / session ended or account not active")
    return found


def client_address(request: Request) -> str | None:
    """The client's address for the login throttle: the connection's peer.

    A header such as X-Forwarded-For is not read: any client can send one.  Behind a reverse proxy
    run uvicorn with ``--proxy-headers`` and ``--forwarded-allow-ips`` so the peer is the client.
    """
    return request.client.host if request.client is not None else None


def end_session(request: Request, who: Principal) -> None:
    """Sign the user out on the server: the epoch moves on, and this process's cached sessions of
    theirs are dropped, so the cookie (and any copy of it) is refused from the next request."""
    if who.via != "session":  # an API token has no session to end
        return
    logout(request.app.state.engine, who.username)
    cache: PrincipalCache = request.app.state.principals
    cache.forget(prefix=f"user:{who.username}\n")


def forget_tokens(request: Request, token_hashes: list[str]) -> None:
    """Drop revoked tokens from this process's cache, so they stop working at once here."""
    cache: PrincipalCache = request.app.state.principals
    cache.forget(*("token:" + digest for digest in token_hashes))


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
