"""Every route of the app × every role (and nobody signed in): allowed or refused, as the business
means it.

The expectations below are written by hand from what each role is for, not computed from
``service.permissions.PERMISSIONS``: a test that derives its answer from the grants it checks
passes on a wrong grant (an auditor given IMPORT_LOAN), this one fails.  What the roles are for:

* every signed-in role reads everything except the audit log and the user list;
* 绿色金融专员 ``officer`` makes: imports and edits loans, runs identification, confirms labels,
  proposes overrides, runs and submits CERF batches, proposes pledge registrations and releases,
  assesses benefits;
* 审批人 ``checker`` approves or rejects proposals and makes nothing;
* 风险经理 ``risk_manager`` revalues the collateral and assesses benefits;
* 审计 ``auditor`` reads, the audit log too, and changes nothing;
* 管理员 ``admin`` does everything and alone manages users;
* the collateral roles: ``collateral_officer`` proposes pledge registrations and releases,
  ``collateral_manager`` approves releases (not label overrides); ``viewer`` only reads.

A route missing from the table fails :func:`test_every_route_has_a_row`, so a new route cannot
ship without a decision on who may call it.  Each (route, role) call finds the store as seeded (a
new copy after any call that may have changed it), so an allowed change made by one role never
changes what another is answered.  The API runs on SQLite and PostgreSQL, the pages on SQLite.
Only the permission decision is under test: an allowed call may answer 404, 409, 422 or 428.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from starlette.routing import BaseRoute

from greenfin.api.app import create_app
from greenfin.api.security import COOKIE
from greenfin.service import approvals
from greenfin.service.auth import create_token
from greenfin.service.cerf import run_batch
from greenfin.service.identification import label_book
from greenfin.service.importing import import_files
from greenfin.service.reports import create_report
from greenfin.service.users import add_user
from greenfin.store.database import open_store
from tests.conftest import DATA, PG_URL, apply_cea_pledge

PASSWORD = "correct-horse-battery"
SECRET = b"m" * 32
TOKEN = re.compile(r'name="csrf_token" value="([^"]*)"')

ROLES = (
    "officer", "checker", "risk_manager", "auditor", "admin", "collateral_officer", "collateral_manager",
    "viewer",
)  # fmt: skip
EVERYONE = frozenset(ROLES)
MAKERS = frozenset({"officer", "admin"})
APPROVERS = frozenset({"checker", "admin"})  # of a label override, the seeded proposal
ASSESSORS = frozenset({"officer", "risk_manager", "admin"})
REVALUERS = frozenset({"risk_manager", "admin"})
PLEDGE_MAKERS = frozenset({"officer", "collateral_officer", "admin"})
PRICE_MAKERS = frozenset({"officer", "collateral_officer", "admin"})
REPORT_MAKERS = frozenset({"officer", "risk_manager", "admin"})  # an auditor reads reports, makes none
AUDITORS = frozenset({"auditor", "admin"})
ADMIN = frozenset({"admin"})

#: Routes anybody may call without signing in; they are left out of the matrix on purpose.
PUBLIC = frozenset(
    {
        ("GET", "/openapi.json"),
        ("GET", "/docs"),
        ("GET", "/docs/oauth2-redirect"),
        ("GET", "/redoc"),
        ("POST", "/api/v1/auth/login"),
        ("GET", "/login"),
        ("POST", "/login"),
        ("POST", "/logout"),  # needs a session, no permission: it goes to /login either way (test_web)
        ("GET", "/lang/{code}"),
        ("GET", "/static/{path:path}"),
    }
)


@dataclass(frozen=True)
class Row:
    """Who may call one route, and a request it takes: ``json`` for the API, ``form`` for pages,
    ``upload`` a (field name, file) to send as multipart, ``headers`` anything else;
    ``reads_only`` for a POST that changes nothing (a computation, a download); ``params`` for a
    path parameter that differs from the seeded id of that name."""

    allowed: frozenset[str]
    json: dict[str, Any] | None = None
    form: dict[str, Any] = field(default_factory=dict)
    upload: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    reads_only: bool = False
    params: dict[str, str] = field(default_factory=dict)  # path parameters other than the seeded ids
    session: bool = False  # an API route called with the session cookie (it refuses tokens)


TABLE: dict[tuple[str, str], Row] = {
    # --- REST API ------------------------------------------------------------------------------
    # one's own token, from a signed-in session only: a token cannot mint tokens (test_security_more)
    ("POST", "/api/v1/auth/tokens"): Row(EVERYONE, json={"name": "matrix"}, session=True),
    ("GET", "/api/v1/me"): Row(EVERYONE),
    ("GET", "/api/v1/loans"): Row(EVERYONE),
    ("GET", "/api/v1/loans/{loan_id}"): Row(EVERYONE),
    ("PATCH", "/api/v1/loans/{loan_id}"): Row(MAKERS, json={"purpose": "复核"}, headers={"If-Match": '"x"'}),
    ("GET", "/api/v1/loans/{loan_id}/label"): Row(EVERYONE),
    ("POST", "/api/v1/loans/{loan_id}/label/confirm"): Row(MAKERS, json={"reason": "核实"}),
    ("POST", "/api/v1/loans/{loan_id}/label/override"): Row(
        MAKERS, json={"reason": "复核", "not_green": True}
    ),
    ("GET", "/api/v1/approvals"): Row(EVERYONE),
    ("POST", "/api/v1/approvals/{action_id}/approve"): Row(APPROVERS, json={"note": "同意"}),
    ("POST", "/api/v1/approvals/{action_id}/reject"): Row(APPROVERS, json={"note": "退回"}),
    ("POST", "/api/v1/benefits/assess"): Row(
        ASSESSORS,
        json={"methodology": "renewable-power", "inputs": {"generation": "1000 MWh"}},
        reads_only=True,
    ),
    ("GET", "/api/v1/prices/{series}"): Row(EVERYONE),
    ("GET", "/api/v1/pledges"): Row(EVERYONE),
    ("GET", "/api/v1/audit/verify"): Row(AUDITORS),
    ("POST", "/api/v1/pledges/{pledge_id}/register"): Row(PLEDGE_MAKERS, json={"reference": "CEA-ZY-1"}),
    ("POST", "/api/v1/pledges/{pledge_id}/release"): Row(PLEDGE_MAKERS, json={"reason": "结清"}),
    ("POST", "/api/v1/cerf/batches"): Row(MAKERS, json={"quarter": "2024Q2"}),
    ("POST", "/api/v1/cerf/batches/{batch_id}/submit"): Row(MAKERS),
    ("GET", "/api/v1/borrowers"): Row(EVERYONE),
    ("GET", "/api/v1/projects"): Row(EVERYONE),
    ("POST", "/api/v1/loans/import"): Row(MAKERS, upload="file"),
    ("POST", "/api/v1/labels/run"): Row(MAKERS),
    ("POST", "/api/v1/collateral/revalue"): Row(REVALUERS, json={"day": "2025-06-30"}),
    ("GET", "/api/v1/reports/stats"): Row(EVERYONE),
    # one's own tokens: every signed-in user lists and revokes theirs (api/v1_tokens.py)
    ("GET", "/api/v1/auth/tokens"): Row(EVERYONE),
    ("DELETE", "/api/v1/auth/tokens/{name}"): Row(EVERYONE, params={"name": "matrix"}),
    # the book's records: officers make and edit them, everyone reads
    ("POST", "/api/v1/loans"): Row(MAKERS, json={}),
    ("DELETE", "/api/v1/loans/{loan_id}"): Row(MAKERS),
    ("GET", "/api/v1/borrowers/{credit_code}"): Row(EVERYONE),
    ("POST", "/api/v1/borrowers"): Row(MAKERS, json={}),
    ("PATCH", "/api/v1/borrowers/{credit_code}"): Row(
        MAKERS, json={"name": "某公司"}, headers={"If-Match": '"x"'}
    ),
    ("DELETE", "/api/v1/borrowers/{credit_code}"): Row(MAKERS),
    ("GET", "/api/v1/projects/{project_id}"): Row(EVERYONE),
    ("POST", "/api/v1/projects"): Row(MAKERS, json={}),
    ("PATCH", "/api/v1/projects/{project_id}"): Row(
        MAKERS, json={"name": "某项目"}, headers={"If-Match": '"x"'}
    ),
    ("DELETE", "/api/v1/projects/{project_id}"): Row(MAKERS),
    # collateral (api/v1_more.py): prices are data entry by the officers, pledges too
    ("POST", "/api/v1/prices/{series}/import"): Row(PRICE_MAKERS, upload="file"),
    ("GET", "/api/v1/prices"): Row(EVERYONE),
    ("POST", "/api/v1/pledges"): Row(PLEDGE_MAKERS, json={}),
    ("GET", "/api/v1/pledges/{pledge_id}"): Row(EVERYONE),
    ("GET", "/api/v1/pledges/{pledge_id}/valuations"): Row(EVERYONE),
    ("GET", "/api/v1/collateral/alerts"): Row(EVERYONE),
    # CERF batches and stored reports (api/v1_more.py): everyone reads; storing a report is a write
    ("GET", "/api/v1/cerf/batches"): Row(EVERYONE),
    ("GET", "/api/v1/cerf/batches/{batch_id}"): Row(EVERYONE),
    ("GET", "/api/v1/cerf/batches/{batch_id}/file"): Row(EVERYONE),
    ("GET", "/api/v1/reports"): Row(EVERYONE),
    ("POST", "/api/v1/reports"): Row(REPORT_MAKERS, json={"kind": "stats", "as_of": "2025-06-30"}),
    ("GET", "/api/v1/reports/{report_id}/file"): Row(EVERYONE),
    # --- pages (pages.py) ----------------------------------------------------------------------
    ("GET", "/"): Row(EVERYONE),
    ("GET", "/loans"): Row(EVERYONE),
    ("GET", "/loans/{loan_id}"): Row(EVERYONE),
    ("POST", "/loans/{loan_id}/override"): Row(MAKERS, form={"choice": "not_green", "reason": "复核"}),
    ("GET", "/approvals"): Row(EVERYONE),
    ("POST", "/approvals/{action_id}/approve"): Row(APPROVERS, form={"note": "同意"}),
    ("POST", "/approvals/{action_id}/reject"): Row(APPROVERS, form={"note": "退回"}),
    ("GET", "/import"): Row(MAKERS),
    ("POST", "/import"): Row(MAKERS, upload="files"),
    ("POST", "/import/stream"): Row(MAKERS, upload="files"),
    # --- pages (pages_more.py) -----------------------------------------------------------------
    ("GET", "/collateral"): Row(EVERYONE),
    ("POST", "/collateral/revalue"): Row(REVALUERS, form={"day": "2025-06-30"}),
    ("GET", "/cerf"): Row(EVERYONE),
    ("POST", "/cerf/run"): Row(MAKERS, form={"quarter": "2024Q2"}),
    ("POST", "/cerf/{batch_id}/submit"): Row(MAKERS),
    ("GET", "/cerf/{batch_id}/{name}"): Row(EVERYONE),
    ("GET", "/reports"): Row(EVERYONE),
    # a report made on the page is kept as a snapshot: a write, by those who make reports
    # every reader downloads a report; only REPORT_MAKERS keep its snapshot (tests/test_web_more.py)
    ("POST", "/reports/stats"): Row(EVERYONE, form={"date": "2025-06-30", "format": "xlsx"}),
    ("POST", "/reports/disclosure"): Row(EVERYONE, form={"year": "2025", "format": "html"}),
    ("GET", "/audit"): Row(AUDITORS),
    ("GET", "/admin/users"): Row(ADMIN),
    ("POST", "/admin/users"): Row(
        ADMIN, form={"username": "newcomer", "password": "long-enough-pw", "roles": ["viewer"]}
    ),
    ("GET", "/admin/users/{username}"): Row(ADMIN),
    ("POST", "/admin/users/{username}/roles"): Row(ADMIN, form={"roles": ["viewer", "auditor"]}),
    ("POST", "/admin/users/{username}/active"): Row(ADMIN, form={"active": "0"}),
    ("POST", "/admin/users/{username}/unlock"): Row(ADMIN),
    ("GET", "/review"): Row(EVERYONE),  # the identification review queue, read by all
    ("POST", "/review/{loan_id}/confirm"): Row(MAKERS, form={"reason": "核实"}),
}


def app_routes(routes: list[BaseRoute]) -> Iterator[tuple[str, str]]:
    """(method, path) of every route, through included routers; HEAD only where GET is not."""
    for route in routes:
        original = getattr(route, "original_router", None)
        if original is not None:
            yield from app_routes(original.routes)
            continue
        methods = set(getattr(route, "methods", None) or ())
        if "GET" in methods:
            methods.discard("HEAD")
        for method in sorted(methods):
            yield method, getattr(route, "path", "")


def test_every_route_has_a_row() -> None:
    """A route the table does not name fails here with its method and path, and so does a row
    for a route that is gone; the public routes are listed in PUBLIC and nowhere else."""
    app = create_app("sqlite://", secret=SECRET)
    try:
        found = set(app_routes(app.routes))
    finally:
        app.state.engine.dispose()
    assert ("POST", "/api/v1/benefits/assess") in found  # the hand-made route is enumerated too
    missing = sorted(found - PUBLIC - set(TABLE))
    assert not missing, f"routes without a row in TABLE: {missing}"
    gone = sorted(set(TABLE) - found)
    assert not gone, f"rows for routes the app no longer has: {gone}"
    assert not PUBLIC - found, f"public routes the app no longer has: {sorted(PUBLIC - found)}"
    assert not PUBLIC & set(TABLE)


# --- a seeded store, copied for every call --------------------------------------------------------


@dataclass
class Seed:
    """What every call starts from: the store (a SQLite file or a PostgreSQL template database),
    the ids its path parameters take, each role's API token and signed-in session.  ``dirty``
    says the PostgreSQL working copy may have been changed by the last call."""

    backend: str
    source: str
    ids: dict[str, str]
    tokens: dict[str, str]
    sessions: dict[str, tuple[str, str]]  # role -> (session cookie, CSRF token)
    dirty: bool = True
    app: FastAPI | None = None
    copies: int = 0


def _seed(url: str) -> tuple[dict[str, str], dict[str, str], dict[str, tuple[str, str]]]:
    engine = open_store(url)
    import_files(engine, [DATA / "small_book.csv"], actor="tester")
    label_book(engine, actor="tester")
    add_user(engine, "maker", PASSWORD, ["officer"], actor="admin")
    for role in ROLES:
        add_user(engine, role, PASSWORD, [role], actor="admin")
    tokens = {role: create_token(engine, role, "matrix") for role in ROLES}
    add_user(engine, "custodian", PASSWORD, ["collateral_officer"], actor="admin")
    apply_cea_pledge(engine, actor="custodian")
    batch = run_batch(engine, "2024Q2", actor="maker")
    report = create_report(engine, "stats", dt.date(2025, 6, 30), actor="maker")
    action = approvals.propose(
        engine, "label_override", "T-0002", {"reason": "实为自用", "not_green": True}, maker="maker"
    )
    engine.dispose()
    ids = {"loan_id": "T-0002", "action_id": str(action), "pledge_id": "P1", "batch_id": str(batch.batch_id),
           "series": "CEA", "name": "disclosure.xlsx", "username": "viewer", "credit_code": "9144030071526726XG", "project_id": "P-0002", "report_id": str(report.id)}  # fmt: skip
    sessions = {}
    app = create_app(url, secret=SECRET)
    with TestClient(app, follow_redirects=False) as client:
        for role in ROLES:
            client.cookies.clear()
            form = client.get("/login")
            found = TOKEN.search(form.text)
            assert found, "the sign-in page carries no csrf_token"
            signed = client.post(
                "/login", data={"username": role, "password": PASSWORD, "csrf_token": found[1]}
            )
            assert signed.status_code == 303, signed.text
            page = TOKEN.search(client.get("/loans").text)
            assert page, "a signed-in page carries no csrf_token"
            sessions[role] = (client.cookies[COOKIE], page[1])
    app.state.engine.dispose()
    return ids, tokens, sessions


def _admin_url(database: str) -> str:
    return PG_URL.rsplit("/", 1)[0] + "/" + database


@pytest.fixture(scope="module")
def sqlite_seed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seed]:
    path = tmp_path_factory.mktemp("matrix") / "seed.db"
    seed = Seed("sqlite", str(path), *_seed(f"sqlite:///{path}"))
    yield seed
    _close(seed)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def seed(request: pytest.FixtureRequest) -> Iterator[Seed]:
    """The API's seed on both backends (the pages run on SQLite: same checks, half the time)."""
    if request.param == "sqlite":
        yield request.getfixturevalue("sqlite_seed")
        return
    # The conftest's session database decides skip or failure; the template sits beside it.
    base: str = request.getfixturevalue("postgres_database").rsplit("/", 1)[1]
    template = f"{base}_matrix"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{template}"'))
    seed = Seed("postgres", template, *_seed(_admin_url(template)))
    try:
        yield seed
    finally:
        _close(seed)
        with admin.connect() as connection:
            for name in (f"{template}_call", template):
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _app(seed: Seed) -> FastAPI:
    """The app on the store as it was seeded: a new copy of the store (a file for SQLite, a
    database from the template for PostgreSQL) and a new app after every call that may have
    changed it; the same app otherwise (a refused call or a read changes nothing)."""
    if seed.app is not None and not seed.dirty:
        return seed.app
    _close(seed)
    seed.copies += 1
    if seed.backend == "sqlite":
        copy = Path(seed.source).with_name(f"copy-{seed.copies}.db")
        shutil.copyfile(seed.source, copy)
        url = f"sqlite:///{copy}"
    else:
        name = f"{seed.source}_call"
        admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{seed.source}"'))
        admin.dispose()
        url = _admin_url(name)
    seed.app = create_app(url, secret=SECRET)
    seed.dirty = False
    return seed.app


def _close(seed: Seed) -> None:
    if seed.app is not None:
        seed.app.state.engine.dispose()
        seed.app = None


def _call(client: TestClient, seed: Seed, method: str, path: str, row: Row, role: str | None) -> Any:
    """The route's sample request, as ``role`` (None: nobody signed in): an API token for the API,
    the session cookie with its CSRF token for pages, so that CSRF is never what refuses."""
    url = path.format(**{**seed.ids, **row.params})
    is_api = path.startswith("/api/")
    headers = dict(row.headers)
    form = dict(row.form)
    if role is not None and is_api and not row.session:
        headers["Authorization"] = f"Bearer {seed.tokens[role]}"
    elif role is not None and is_api:
        cookie, csrf = seed.sessions[role]
        client.cookies.set(COOKIE, cookie)
        headers["X-CSRF-Token"] = csrf
    elif role is not None:
        cookie, csrf = seed.sessions[role]
        client.cookies.set(COOKIE, cookie)
        form["csrf_token"] = csrf
    kwargs: dict[str, Any] = {"headers": headers}
    if row.upload:
        kwargs["files"] = {row.upload: ("small_book.csv", (DATA / "small_book.csv").read_bytes(), "text/csv")}
        kwargs["data"] = form
    elif row.json is not None:
        kwargs["json"] = row.json
    elif method != "GET" and not is_api:
        kwargs["data"] = form
    return client.request(method, url, **kwargs)


API_ROUTES = [route for route in TABLE if route[1].startswith("/api/")]
PAGE_ROUTES = [route for route in TABLE if not route[1].startswith("/api/")]
ROLE_IDS = [*ROLES, "nobody"]


@pytest.mark.parametrize("role", [*ROLES, None], ids=ROLE_IDS)
@pytest.mark.parametrize("route", API_ROUTES, ids=[f"{m} {p}" for m, p in API_ROUTES])
def test_api_route_allows_exactly_the_roles_meant(
    seed: Seed, route: tuple[str, str], role: str | None
) -> None:
    """Allowed: anything but 401/403 (nor a 500).  Refused: 403.  Nobody signed in: 401."""
    _check(seed, route, role)


@pytest.mark.parametrize("role", [*ROLES, None], ids=ROLE_IDS)
@pytest.mark.parametrize("route", PAGE_ROUTES, ids=[f"{m} {p}" for m, p in PAGE_ROUTES])
def test_page_allows_exactly_the_roles_meant(
    sqlite_seed: Seed, route: tuple[str, str], role: str | None
) -> None:
    """Allowed: anything but 401/403 and not a trip to the sign-in page.  Refused: the 403 refusal
    page.  Nobody signed in: a 303 to /login (the page's answer to the API's 401)."""
    _check(sqlite_seed, route, role)


def _check(seed: Seed, route: tuple[str, str], role: str | None) -> None:
    method, path = route
    row = TABLE[route]
    client = TestClient(_app(seed), follow_redirects=False, raise_server_exceptions=False)  # no lifespan
    try:
        response = _call(client, seed, method, path, row, role)
    finally:
        client.close()
    if role is not None and method != "GET" and not row.reads_only and response.status_code not in (401, 403):
        seed.dirty = True  # the next call starts from a new copy
    location = response.headers.get("location", "")
    detail = (role, method, path, response.status_code, response.text[:300])
    if role is None and path.startswith("/api/"):
        assert response.status_code == 401, detail
    elif role is None:
        assert response.status_code == 303 and location.startswith("/login"), detail
    elif role in row.allowed:
        assert response.status_code not in (401, 403), detail
        assert not location.startswith("/login"), detail
        assert response.status_code < 500, detail
    else:
        assert response.status_code == 403, detail
        assert "无权限" in response.text or "permission" in response.text, detail
