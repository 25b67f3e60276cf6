"""The application: the REST API under /api/v1, the pages, OpenAPI docs at /docs.

``create_app`` takes a store URL so tests and ``greenfin serve`` build the same app.  Unexpected
errors become a 500 with no internals in the body (they go to the log), and every response says
so: a test fuzzes the whole OpenAPI spec and requires zero of them.
"""

from __future__ import annotations

import gc
import importlib
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.telemetry import TelemetryConfig
from sqlalchemy import Engine
from sqlalchemy.exc import DataError

from greenfin.api import assessment, v1, v1_more
from greenfin.api.security import PrincipalCache, Signer
from greenfin.store.database import open_store

log = logging.getLogger("greenfin.api")
#: No tracing, metrics or log export through FastAPI (a deployment that wants them wraps the app).
TELEMETRY_OFF: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}
#: The page routers, included when the web package is installed.
PAGE_MODULES = ("greenfin.web.pages", "greenfin.web.pages_more")


def create_app(url: str | None = None, *, secret: bytes | None = None) -> FastAPI:
    app = FastAPI(
        lifespan=_lifespan,
        title="greenfin API",
        version="1",
        description="绿色金融：贷款台账、绿色识别、环境效益、环境权益押品 / green finance API",
        # FastAPI's OpenTelemetry hooks ask on every request whether a provider is configured,
        # about 25 µs of the assessment route's budget; greenfin installs none
        telemetry=TELEMETRY_OFF,
    )
    app.state.engine = open_store(url)
    app.state.signer = Signer(secret)
    app.state.principals = PrincipalCache()
    app.include_router(v1_more.router)  # first: its GET /pledges (paged, filtered) replaces v1's
    app.include_router(v1.router)
    app.include_router(importlib.import_module("greenfin.api.v1_tokens").router)
    for name in PAGE_MODULES:
        try:
            pages = importlib.import_module(name)
        except ImportError:  # pragma: no cover - an API-only install has no pages
            continue
        app.include_router(pages.router)
    assessment.install(app)  # matched before every other route (api/assessment.py says why)

    @app.exception_handler(DataError)
    async def refused_by_the_database(request: Request, exc: DataError) -> JSONResponse:
        """A value the database will not hold, although it passed the request's own checks: a NUL
        character in any text (PostgreSQL refuses it anywhere, in a path, a search or a body),
        a number out of the column's range.  The request's data is at fault, so 422, not 500."""
        log.info("value refused by the database on %s %s: %s", request.method, request.url.path, exc.orig)
        return JSONResponse(
            {
                "detail": "数据库不接受请求中的某个值（例如含 NUL 字符）/ a value in the request cannot be stored or searched (e.g. a NUL character)"
            },
            status_code=422,
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "服务器内部错误 / internal error"}, status_code=500)

    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Compute the dashboard's summary in the background at start, so the first visitor need not
    wait for a grouping of the whole book.

    The objects alive at start (modules, the app, reference tables) are moved out of the garbage
    collector's reach: they live as long as the process, and a full collection walking them all
    stalls every request in flight (the tail of the assessment latency under load).
    """
    gc.collect()
    gc.freeze()
    threading.Thread(target=_warm, args=(app.state.engine,), daemon=True).start()
    yield


def _warm(engine: Engine) -> None:
    import datetime as dt

    from greenfin.reference.factors import DEFAULT_POLICY
    from greenfin.service.green_book import book_summary

    try:
        book_summary(engine, DEFAULT_POLICY, dt.date.today().year)
    except Exception:  # an empty or migrating store: the page computes it when asked
        log.debug("dashboard warm-up skipped", exc_info=True)
