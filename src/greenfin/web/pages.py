"""The pages: thin routes over the services, each naming the permission it needs.

Each guarded route depends on ``need(PERMISSION)`` exactly as the REST API does, so the rules live
in one place (``service/permissions.py``) and a page can do nothing the API would refuse.  The
routes use :class:`PageRoute`, which turns the API's answers into what a browser needs: "sign in
first" (401) becomes a redirect to ``/login``, and a refusal (403, missing permission or CSRF
token) becomes a page in the user's language instead of JSON.

Every form carries the session's CSRF token as ``csrf_token``; ``api.security.principal`` checks
it.  The sign-in form, made before there is a session, carries a token of its own, kept in a
short-lived cookie (double submit), so another site cannot sign a user in to an account of its
choosing.  Changes answer with a redirect (post/redirect/get), so reloading a page never repeats
an approval or an import.

The routes are plain ``def``: the services are synchronous and some are slow (an import, the
green book behind the dashboard), so FastAPI runs them in its thread pool instead of the event loop.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import logging
import mimetypes
import queue
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, Request, Response, UploadFile
from fastapi.responses import (
    FileResponse,
    HTMLResponse,
    PlainTextResponse,
    RedirectResponse,
    StreamingResponse,
)
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine, and_, func, or_, select

from greenfin.api.security import (
    COOKIE,
    Signer,
    client_address,
    current_session,
    need,
    principal,
    start_session,
)
from greenfin.benefits.indicators import BY_KEY as INDICATORS
from greenfin.benefits.registry import methodology
from greenfin.ingest.issues import ImportIssue, ImportRejected
from greenfin.model.problems import ValueProblem
from greenfin.reference.factors import DEFAULT_POLICY
from greenfin.service import approvals, identification
from greenfin.service import loans as loan_service
from greenfin.service.auth import LoginRefused, Principal, login, session_principal
from greenfin.service.benefits import loan_benefits
from greenfin.service.collateral import STATE_ZH
from greenfin.service.green_book import book_summary
from greenfin.service.importing import ImportSummary, import_files
from greenfin.service.uploads import upload_name
from greenfin.store.schema import (
    borrowers,
    cerf_batches,
    collateral_alerts,
    loans,
    pledge_loans,
    pledges,
    projects,
    revaluations,
)
from greenfin.web.i18n import LANG_COOKIE, LANGS, lang_of, pick, translate, translator

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
TEMPLATES = HERE / "templates"
LOGIN_CSRF_COOKIE = "greenfin_login_csrf"
STATUSES = ("green", "not_green", "needs_review", "none")
PAGE_SIZES = (20, 50, 100, 200)
#: No inline script or style, nothing from another origin: the pages need only their own files.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}

templates = Jinja2Templates(directory=str(TEMPLATES))
log = logging.getLogger("greenfin.web")


# --- formatting, shared by the templates ---------------------------------------------------------


def wan(fen: int | None) -> str:
    """Integer 分 as 万元 with thousands separators (1 万元 = 1,000,000 分), exact: no float."""
    if fen is None:
        return ""
    return f"{Decimal(fen) / 1_000_000:,.2f}"


def number(value: float | int | Decimal | None, digits: int = 2) -> str:
    """A figure with thousands separators; blank when there is none."""
    if value is None:
        return ""
    return f"{value:,.{digits}f}"


templates.env.filters["wan"] = wan
templates.env.filters["number"] = number


# --- the route class: 401 → sign-in page, 403 → a page, security headers --------------------------


def _local(target: str | None, fallback: str = "/") -> str:
    """``target`` if it is a path on this site, else ``fallback``: no open redirect."""
    if not target:
        return fallback
    parts = urlsplit(target)
    if (
        parts.scheme
        or parts.netloc
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
    ):
        return fallback
    return target


def _login_url(request: Request) -> str:
    if request.method == "GET":
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    else:
        here = _local(urlsplit(request.headers.get("referer", "")).path or "/")
    return "/login" if here == "/" else f"/login?next={quote(here, safe='/')}"


class PageRoute(APIRoute):
    """An API route that answers like a web page when the security checks say no."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                response = await handler(request)
            except HTTPException as exc:
                if exc.status_code == 401:
                    response = RedirectResponse(_login_url(request), status_code=303)
                elif exc.status_code == 403:
                    response = _refusal(request, str(exc.detail))
                else:
                    raise
            response.headers.update(SECURITY_HEADERS)
            return response

        return page_handler


router = APIRouter(route_class=PageRoute, include_in_schema=False)


# --- rendering ---------------------------------------------------------------------------------


def _lang(request: Request) -> str:
    return lang_of(request.cookies.get(LANG_COOKIE))


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def _context(request: Request, who: Principal | None, **context: Any) -> dict[str, Any]:
    """What every template gets: the language and its labels, the user, the CSRF token, helpers."""
    lang = _lang(request)
    session = current_session(request)
    return {
        "lang": lang,
        "t": translator(lang),
        "pick": lambda message: pick(str(message), lang),
        "who": who,
        "can": who.permissions if who else frozenset(),
        "csrf": session.csrf if session else "",
        "path": request.url.path,
        "here": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        "status_key": _status_key,
        "paren": (lambda text: f" ({text})") if lang == "en" else (lambda text: f"（{text}）"),
        "colon": ": " if lang == "en" else "：",
        **context,
    }


def _render(
    request: Request, name: str, who: Principal | None, status_code: int = 200, **context: Any
) -> HTMLResponse:
    values = _context(request, who, **context)
    response: HTMLResponse = templates.TemplateResponse(request, name, values, status_code=status_code)
    return response


def _refusal(request: Request, detail: str) -> HTMLResponse:
    """The 403 page: the security check's own message, with the nav of whoever is signed in."""
    session = current_session(request)
    who = session_principal(_engine(request), session.username) if session else None
    return _render(request, "forbidden.html", who, 403, detail=detail)


def _status_key(status: str | None) -> str:
    return f"status_{status}" if status in STATUSES else "status_none"


# --- public: sign-in, language, static files -------------------------------------------------------


def _login_page(
    request: Request, *, status_code: int = 200, message: str = "", next_url: str = "/", username: str = ""
) -> HTMLResponse:
    token = secrets.token_urlsafe(24)
    response = _render(
        request, "login.html", None, status_code, message=message, next_url=next_url, username=username,
        login_csrf=token,
    )  # fmt: skip
    response.set_cookie(
        LOGIN_CSRF_COOKIE, token, max_age=3600, httponly=True, samesite="lax", path="/login",
        secure=request.url.scheme == "https",
    )  # fmt: skip
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next_url: str = Query("/", alias="next", max_length=500)) -> Response:
    """The sign-in form (public)."""
    return _login_page(request, next_url=_local(next_url))


@router.post("/login", response_class=HTMLResponse)
def login_submit(
    request: Request,
    username: Annotated[str, Form(max_length=100)] = "",
    password: Annotated[str, Form(max_length=200)] = "",
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    next_url: Annotated[str, Form(alias="next", max_length=500)] = "/",
) -> Response:
    """Check the password with the service (which counts failures and locks), then start a session."""
    lang = _lang(request)
    target = _local(next_url)
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not csrf_token or not hmac.compare_digest(expected, csrf_token):
        return _login_page(
            request,
            status_code=403,
            message=translate("login_csrf", lang),
            next_url=target,
            username=username,
        )
    try:
        who = login(_engine(request), username.strip(), password, address=client_address(request))
    except LoginRefused as exc:  # 401, 423 locked, or 429 throttled with its Retry-After
        message = pick(str(exc), lang)
        if exc.locked and "锁定" not in str(exc):  # the service's own message may say so already
            message += (". " if lang == "en" else "。") + translate("login_locked", lang)
        refused = _login_page(
            request, status_code=exc.status, message=message, next_url=target, username=username
        )
        refused.headers.update(exc.headers)
        return refused
    response = RedirectResponse(target, status_code=303)
    signer: Signer = request.app.state.signer
    start_session(response, request, signer, who.username)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(request: Request, who: Annotated[Principal, Depends(principal)]) -> Response:
    """End the session (a POST with the CSRF token, so another site cannot sign a user out), on the
    server too: deleting the cookie alone would leave a copy of it valid until it expires."""
    from greenfin.api.security import end_session

    end_session(request, who)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE)
    return response


@router.get("/lang/{code}")
def switch_language(
    request: Request, code: str, next_url: str | None = Query(None, alias="next", max_length=500)
) -> Response:
    """Remember the language in a cookie and go back to the page the user was on (public)."""
    if code not in LANGS:
        return PlainTextResponse("unknown language", status_code=404)
    back = next_url or urlsplit(request.headers.get("referer", "")).path or "/"
    target = _local(back)
    if target.startswith("/lang/"):
        target = "/"
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(LANG_COOKIE, code, max_age=365 * 24 * 3600, samesite="lax")
    return response


@router.get("/static/{path:path}")
def static_file(path: str) -> Response:
    """The pages' own CSS, scripts and the vendored ECharts (public; nothing comes from a CDN)."""
    found = (STATIC / path).resolve()
    if not found.is_relative_to(STATIC) or not found.is_file():
        return PlainTextResponse("not found", status_code=404)
    kind = mimetypes.guess_type(found.name)[0] or "application/octet-stream"
    if kind in ("text/javascript", "application/javascript"):
        kind = "text/javascript; charset=utf-8"
    elif kind.startswith("text/"):
        kind += "; charset=utf-8"
    return FileResponse(found, media_type=kind, headers={"Cache-Control": "public, max-age=3600"})


# --- dashboard ---------------------------------------------------------------------------------


@dataclass
class Dashboard:
    """The figures of the dashboard, computed from the green book (the label that counts)."""

    year: int
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATUSES, 0))
    green_by_level1: dict[str, int] = field(default_factory=dict)  # "3 清洁能源产业" → 分 (CNY)
    green_fen: int = 0
    foreign_green: int = 0
    co2_t: float = 0.0
    coal_tce: float = 0.0
    benefit_loans: int = 0
    revaluation: dict[str, Any] | None = None
    alerts: list[dict[str, Any]] = field(default_factory=list)
    pending: int = 0


def dashboard_figures(engine: Engine, year: int, *, alerts: bool = True, pending: bool = True) -> Dashboard:
    """Balances, counts and benefits of the green book; alerts of the latest revaluation.

    Balances add up CNY loans only (as ``service/summary`` does): loans in other currencies are
    counted apart, never added to 元.  Benefits are those of the loans whose label counts as green.
    """
    figures = Dashboard(year)
    summary = book_summary(engine, DEFAULT_POLICY, year)
    for status, count in summary.counts.items():
        figures.counts[status if status in STATUSES else "none"] += count
    for (_version, code, name), fen in summary.green_by_level1.items():
        level1 = f"{code} {name}" if code != "—" else "—"
        figures.green_by_level1[level1] = figures.green_by_level1.get(level1, 0) + fen
    figures.green_by_level1 = dict(sorted(figures.green_by_level1.items()))
    figures.green_fen, figures.foreign_green = summary.green_fen, summary.foreign_green
    figures.co2_t, figures.coal_tce, figures.benefit_loans = (
        summary.co2_t,
        summary.coal_tce,
        summary.benefit_loans,
    )
    with engine.connect() as connection:
        if alerts:
            latest = connection.execute(
                select(revaluations).order_by(revaluations.c.id.desc()).limit(1)
            ).mappings().first()  # fmt: skip
            if latest is not None:
                figures.revaluation = dict(latest)
                rows = connection.execute(
                    select(collateral_alerts, pledges.c.loan_id)
                    .select_from(collateral_alerts.join(pledges))
                    .where(collateral_alerts.c.run_id == latest["id"])
                    .order_by(collateral_alerts.c.id)
                ).mappings()
                figures.alerts = [dict(r) for r in rows]
    if pending:
        figures.pending = len(approvals.pending(engine))
    return figures


@router.get("/", response_class=HTMLResponse)
def dashboard(
    request: Request,
    who: Annotated[Principal, Depends(need("READ_LOAN"))],
    year: int | None = Query(None, ge=2000, le=2100),
) -> Response:
    """The book at a glance: green balance by level 1, label counts, benefits, alerts, approvals."""
    lang = _lang(request)
    chosen = year or dt.date.today().year
    figures = dashboard_figures(
        _engine(request),
        chosen,
        alerts="READ_PLEDGE" in who.permissions,
        pending="READ_APPROVAL" in who.permissions,
    )
    charts = {
        "level1": {
            "title": translate("green_balance_by_level1", lang),
            "unit": translate("wan_yuan", lang),
            "names": list(figures.green_by_level1),
            "values": [round(fen / 1_000_000, 2) for fen in figures.green_by_level1.values()],
            "empty": translate("no_green_loans", lang),
        },
        "counts": {
            "title": translate("label_counts", lang),
            "unit": translate("loans_unit", lang),
            "slices": [
                {"name": translate(_status_key(status), lang), "value": count, "status": status}
                for status, count in figures.counts.items()
                if count or status != "none"
            ],
        },
    }
    charts["benefits"] = {
        "names": [
            f"{translate('co2_reduced', lang)} (tCO2e/{translate('per_year', lang)})",
            f"{translate('coal_saved', lang)} (tce/{translate('per_year', lang)})",
        ],
        "values": [round(figures.co2_t, 2), round(figures.coal_tce, 2)],
        "unit": translate("tonnes_a_year", lang),
        "empty": translate("no_benefits_yet", lang),
    }
    engine = _engine(request)
    if "READ_CERF" in who.permissions:
        charts["cerf"] = {**cerf_by_quarter(engine), "labels": {
            key: translate(key, lang) for key in ("cerf_principal", "cerf_facility", "cerf_co2", "wan_yuan")
        }, "co2_unit": "tCO2e/" + translate("per_year", lang), "empty": translate("no_cerf_batches", lang)}  # fmt: skip
    if "READ_PLEDGE" in who.permissions:
        charts["alerts"] = {**alerts_by_run(engine), "labels": {
            key: translate(key, lang) for key in ("kind_warning", "kind_liquidation", "pledges_unit")
        }, "empty": translate("no_revaluation", lang)}  # fmt: skip
    return _render(request, "dashboard.html", who, figures=figures, charts=charts, policy=DEFAULT_POLICY.name)


#: Quarters and revaluation runs the dashboard's charts draw.
CHART_QUARTERS = 8
CHART_ALERT_RUNS = 12


def cerf_by_quarter(engine: Engine) -> dict[str, list[Any]]:
    """The stored CERF batches of the latest quarters, each quarter's latest revision: eligible
    principal and facility (万元) and the CO2e they reduce (tCO2e a year)."""
    latest = (
        select(cerf_batches.c.quarter, func.max(cerf_batches.c.revision).label("revision"))
        .group_by(cerf_batches.c.quarter)
        .subquery("latest")
    )
    query = (
        select(cerf_batches)
        .join(latest, and_(latest.c.quarter == cerf_batches.c.quarter, latest.c.revision == cerf_batches.c.revision))
        .order_by(cerf_batches.c.quarter.desc())
        .limit(CHART_QUARTERS)
    )  # fmt: skip
    with engine.connect() as connection:
        rows = list(connection.execute(query).mappings())[::-1]
    return {
        "quarters": [f"{r['quarter']} r{r['revision']}" for r in rows],
        "loans": [r["loans"] for r in rows],
        "principal": [round(r["principal_fen"] / 1_000_000, 2) for r in rows],
        "facility": [round(r["facility_fen"] / 1_000_000, 2) for r in rows],
        "co2": [float(r["co2_reduced_t"]) for r in rows],
    }


def alerts_by_run(engine: Engine) -> dict[str, list[Any]]:
    """The pledges in warning and below the liquidation line at each of the latest revaluations."""
    with engine.connect() as connection:
        rows = list(
            connection.execute(
                select(revaluations.c.id, revaluations.c.day, revaluations.c.warnings, revaluations.c.liquidations)
                .order_by(revaluations.c.id.desc())
                .limit(CHART_ALERT_RUNS)
            ).mappings()
        )[::-1]  # fmt: skip
    return {
        "days": [f"{r['day'].isoformat()} #{r['id']}" for r in rows],
        "warnings": [r["warnings"] for r in rows],
        "liquidations": [r["liquidations"] for r in rows],
    }


# --- loans -------------------------------------------------------------------------------------


#: The columns the loan book's page sorts by (``sort=balance``, ``sort=-balance``), each a key of
#: ``loan_service.LOAN_SORT_KEYS``: the API sorts the same way.  Sorting by loan id pages on its index.
SORT_KEYS = ("loan_id", "borrower", "amount", "balance", "start_date", "status", "item")


def loan_rows(
    engine: Engine, *, q: str = "", status: str = "", descending: bool = False, page: int = 1, size: int = 20,
    sort: str = "loan_id",
) -> tuple[list[dict[str, Any]], int]:  # fmt: skip
    """A page of the book with the label that counts (the officer's latest decision, else the engine's).

    The list is the API's own (``loan_service.loan_page``), so a page and ``GET /api/v1/loans``
    never disagree; each row also carries the names the templates use (``status``, ``item_code``,
    ``decided``).  An unknown ``status`` or ``sort`` is ignored, as a hand-edited URL should be.
    """
    rows, total = loan_service.loan_page(
        engine, q=q, status=status if status in STATUSES else "", descending=descending, page=page, size=size,
        sort=sort if sort in SORT_KEYS else "loan_id",
    )  # fmt: skip
    for row in rows:
        row.update(
            status=row["label_status"], item_code=row["label_item"], decided=bool(row["label_decided"])
        )
    return rows, total


@router.get("/loans", response_class=HTMLResponse)
def loan_list(
    request: Request,
    who: Annotated[Principal, Depends(need("READ_LOAN"))],
    q: str = Query("", max_length=100),
    status: str = Query("", max_length=20),
    sort: str = Query("loan_id", max_length=20),
    page: int = Query(1, ge=1, le=1_000_000),
    size: int = Query(20, ge=1, le=200),
) -> Response:
    """The loan book: search, filter by the label that counts, sort by a column (its header is a
    link that keeps the search, the filter and the page size), pages."""
    q = q.strip()
    status = status if status in STATUSES else ""
    descending = sort.startswith("-")
    key = sort.removeprefix("-")
    if key not in SORT_KEYS:
        key, descending = "loan_id", False
    rows, total = loan_rows(
        _engine(request), q=q, status=status, descending=descending, page=page, size=size, sort=key
    )
    pages = max(1, -(-total // size))
    chosen = f"-{key}" if descending else key
    keep = {"q": q, "status": status, "sort": chosen, "size": size}
    filters = {"q": q, "status": status, "size": size}
    return _render(
        request, "loans.html", who, rows=rows, total=total, page=page, pages=pages, size=size, q=q,
        status=status, descending=descending, statuses=STATUSES, sizes=PAGE_SIZES, keep=keep, sort_key=key,
        sort=chosen, sort_keys=SORT_KEYS, filters=filters,
    )  # fmt: skip


def _loan(engine: Engine, loan_id: str) -> dict[str, Any] | None:
    query = (
        select(
            loans, borrowers.c.name.label("borrower_name"), borrowers.c.industry_code, borrowers.c.region_code,
            projects.c.name.label("project_name"), projects.c.project_type, projects.c.capacity_mw,
            projects.c.annual_generation_mwh,
        )
        .select_from(loans.join(borrowers).outerjoin(projects))
        .where(loans.c.loan_id == loan_id)
    )  # fmt: skip
    with engine.connect() as connection:
        row = connection.execute(query).mappings().first()
    return None if row is None else dict(row)


def _pledges_of(engine: Engine, loan_id: str) -> list[dict[str, Any]]:
    linked = select(pledge_loans.c.pledge_id).where(pledge_loans.c.loan_id == loan_id)
    query = (
        select(pledges)
        .where(or_(pledges.c.loan_id == loan_id, pledges.c.pledge_id.in_(linked)))
        .order_by(pledges.c.pledge_id)
    )
    with engine.connect() as connection:
        rows = [dict(r) for r in connection.execute(query).mappings()]
    for row in rows:
        state = row["state"]
        row["state_zh"] = next((zh for key, zh in STATE_ZH.items() if key.value == state), state)
    return rows


def _evidence(engine_label: dict[str, Any] | None) -> dict[str, Any] | None:
    if engine_label is None:
        return None
    evidence = engine_label.get("evidence")
    if isinstance(evidence, str):  # a JSON column read back as text on some drivers
        evidence = json.loads(evidence)
    return evidence if isinstance(evidence, dict) else None


def _benefits_view(engine: Engine, loan_id: str, year: int, lang: str) -> tuple[dict[str, Any] | None, str]:
    """The loan's renewable-power benefits with their factor trail, or why there are none."""
    try:
        assessment = loan_benefits(engine, loan_id, DEFAULT_POLICY, year)
    except (ValueError, LookupError) as exc:
        return None, pick(getattr(exc, "zh", None) or str(exc), lang)
    if assessment is None:
        return None, ""
    result = assessment.result
    method = methodology(result.methodology)
    units = {spec.key: (spec.name_zh, spec.unit) for spec in method.inputs}
    indicators = [
        {
            "key": key,
            "name": (INDICATORS[key].name_en if lang == "en" else INDICATORS[key].name_zh) if key in INDICATORS else key,
            "unit": INDICATORS[key].unit if key in INDICATORS else "",
            "total": value,
            "attributed": (result.attributed or {}).get(key),
        }
        for key, value in result.indicators.items()
    ]  # fmt: skip
    view = {
        "methodology": f"{method.name_en if lang == 'en' else method.name_zh} ({method.id} v{method.version})",
        "policy": result.policy,
        "year": result.reporting_year,
        "indicators": indicators,
        "attribution": result.attribution,
        "inputs": [(units.get(k, (k, ""))[0], v, units.get(k, (k, ""))[1]) for k, v in result.inputs.items()],
        "factors": [(name, factor) for name, rows in result.factors.items() for factor in rows],
        "notes": result.notes,
        "flags": [flag.message_en if lang == "en" else flag.message_zh for flag in assessment.flags],
    }
    return view, ""


def _loan_page(
    request: Request, who: Principal, loan_id: str, *, status_code: int = 200, error: str = "",
    proposed: int | None = None, form: dict[str, str] | None = None,
) -> Response:  # fmt: skip
    engine = _engine(request)
    lang = _lang(request)
    loan = _loan(engine, loan_id)
    if loan is None:
        return _render(
            request, "not_found.html", who, 404, what=f"{translate('loan_not_found', lang)}: {loan_id}"
        )
    can = who.permissions
    label: dict[str, Any] = {"engine": None, "decision": None}
    if "READ_LABEL" in can:
        label = identification.loan_label(engine, loan_id)
    year = dt.date.today().year
    benefits, benefits_problem = (
        _benefits_view(engine, loan_id, year, lang) if "READ_BENEFIT" in can else (None, "")
    )
    waiting = (
        [a for a in approvals.pending(engine) if a["entity_id"] == loan_id and a["kind"] == "label_override"]
        if "READ_APPROVAL" in can
        else []
    )
    return _render(
        request, "loan.html", who, status_code, loan=loan, engine_label=label["engine"],
        evidence=_evidence(label["engine"]), decision=label["decision"], benefits=benefits,
        benefits_problem=benefits_problem, pledges=_pledges_of(engine, loan_id) if "READ_PLEDGE" in can else [],
        waiting=waiting, error=error, proposed=proposed, form=form or {},
    )  # fmt: skip


@router.get("/loans/{loan_id}", response_class=HTMLResponse)
def loan_page(
    request: Request,
    loan_id: str,
    who: Annotated[Principal, Depends(need("READ_LOAN"))],
    proposed: int | None = Query(None, ge=1),
) -> Response:
    """One loan: its data, the engine's label with its evidence beside the officer's decision,
    benefits with their factor trail, pledges, and the form to propose an override."""
    return _loan_page(request, who, loan_id, proposed=proposed)


@router.post("/loans/{loan_id}/override", response_class=HTMLResponse)
def propose_override(
    request: Request,
    loan_id: str,
    who: Annotated[Principal, Depends(need("OVERRIDE_LABEL"))],
    choice: Annotated[str, Form(max_length=20)] = "item",
    item_code: Annotated[str, Form(max_length=16)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Propose an override; it takes effect only when a checker approves it (maker-checker)."""
    not_green = choice == "not_green"
    payload = {"reason": reason.strip(), "item_code": None if not_green else (item_code.strip() or None),
               "not_green": not_green}  # fmt: skip
    try:
        action_id = approvals.propose(
            _engine(request), "label_override", loan_id, payload, maker=who.username
        )
    except approvals.ApprovalProblem as exc:
        form = {"choice": choice, "item_code": item_code, "reason": reason}
        return _loan_page(
            request, who, loan_id, status_code=422, error=pick(str(exc), _lang(request)), form=form
        )
    return RedirectResponse(f"/loans/{quote(loan_id)}?proposed={action_id}", status_code=303)


# --- approvals ---------------------------------------------------------------------------------


def _approvals_page(
    request: Request, who: Principal, *, status_code: int = 200, error: str = "", done: str = "",
    action_id: int | None = None,
) -> Response:  # fmt: skip
    waiting = approvals.pending(_engine(request))
    return _render(
        request,
        "approvals.html",
        who,
        status_code,
        waiting=waiting,
        decidable=approvals.decidable_kinds(who.permissions),
        error=error,
        done=done,
        action_id=action_id,
    )


@router.get("/approvals", response_class=HTMLResponse)
def approval_list(
    request: Request,
    who: Annotated[Principal, Depends(need("READ_APPROVAL"))],
    done: str = Query("", pattern="^(|approved|rejected)$"),
    action_id: int | None = Query(None, alias="id", ge=1),
) -> Response:
    """Proposals waiting for a checker; approve/reject buttons on those the user may decide."""
    return _approvals_page(request, who, done=done, action_id=action_id)


def _decide(request: Request, who: Principal, action_id: int, note: str, approve: bool) -> Response:
    """Approve or reject through the service, which checks the kind's permission and the maker."""
    lang = _lang(request)
    decide = approvals.approve if approve else approvals.reject
    try:
        decide(
            _engine(request), action_id, checker=who.username, permissions=who.permissions, note=note.strip()
        )
    except approvals.ApprovalProblem as exc:  # missing (404), not theirs (403), or the maker (409)
        return _approvals_page(
            request, who, status_code=exc.status, error=pick(str(exc), lang), action_id=action_id
        )
    except ValueProblem as exc:  # the change itself was refused (the proposal waits again)
        message = exc.en if lang == "en" else exc.zh
        return _approvals_page(request, who, status_code=422, error=message, action_id=action_id)
    outcome = "approved" if approve else "rejected"
    return RedirectResponse(f"/approvals?done={outcome}&id={action_id}", status_code=303)


@router.post("/approvals/{action_id}/approve", response_class=HTMLResponse)
def approve_action(
    request: Request,
    action_id: int,
    who: Annotated[Principal, Depends(need("READ_APPROVAL"))],
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Approve: the service carries out the change, and refuses it when the checker is the maker."""
    return _decide(request, who, action_id, note, True)


@router.post("/approvals/{action_id}/reject", response_class=HTMLResponse)
def reject_action(
    request: Request,
    action_id: int,
    who: Annotated[Principal, Depends(need("READ_APPROVAL"))],
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Reject: nothing changes but the proposal's status."""
    return _decide(request, who, action_id, note, False)


# --- import ------------------------------------------------------------------------------------


def _safe_name(name: str | None, index: int, taken: set[str]) -> str:
    """The upload's own file name (the error table shows it), stripped of any directory part."""
    base = upload_name(name, f"upload-{index}")
    if base in taken:
        base = f"{index}-{base}"
    taken.add(base)
    return base


def _import_page(
    request: Request, who: Principal, *, status_code: int = 200, summary: ImportSummary | None = None,
    issues: Iterable[ImportIssue] = (), total: int = 0, error: str = "",
) -> Response:  # fmt: skip
    return _render(
        request,
        "import.html",
        who,
        status_code,
        summary=summary,
        issues=list(issues),
        total=total,
        error=error,
    )


@router.get("/import", response_class=HTMLResponse)
def import_form(request: Request, who: Annotated[Principal, Depends(need("IMPORT_LOAN"))]) -> Response:
    """The upload form."""
    return _import_page(request, who)


def _save_uploads(chosen: list[UploadFile]) -> tuple[Path, list[Path]]:
    """The uploads written to a new private temporary directory under their own names.

    The importer reads paths (and sniffs CSV versus XLSX by content) and its problems name the
    file, so each upload keeps its own (cleaned) name.  The caller owns the directory and removes
    it; if writing fails half-way it is removed here.
    """
    folder = Path(tempfile.mkdtemp(prefix="greenfin-upload-"))
    try:
        paths: list[Path] = []
        taken: set[str] = set()
        for index, upload in enumerate(chosen, 1):
            path = folder / _safe_name(upload.filename, index, taken)
            with path.open("wb") as out:
                shutil.copyfileobj(upload.file, out)
            paths.append(path)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return folder, paths


class ImportsBusy(Exception):
    """Every place in the import queue is taken: the request is refused (503 with Retry-After)."""


class ImportQueue:
    """The imports of this process: one at a time, and at most ``waiting`` more waiting their turn.

    One at a time, because an import holds one write transaction over the book (all or nothing):
    on SQLite a second one waits for the write lock anyway, on PostgreSQL it competes for the same
    rows, and each holds its upload and its parsed rows in memory.  A thread per request, as
    before, let a burst of big uploads pile up threads, memory and locks.

    Waiting, not refused at once, because of what a bank officer expects at the counter: the file
    (often tens of megabytes) is already uploaded, and "busy, try again" would make them upload it
    again and guess when; "导入排队中 / queued, N ahead", then the usual progress, tells them it will
    run by itself.  The queue is short (a few imports of a branch at month end), so a burst beyond
    it is refused with 503 and ``Retry-After`` rather than held for a long time: nothing is
    changed, and the officer learns at once that they should come back.
    """

    def __init__(self, waiting: int) -> None:
        self.waiting = waiting
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="greenfin-import")
        self._lock = threading.Lock()
        self._pending = 0  # running and waiting

    def submit(self, job: Callable[[], Any], queued: Callable[[int], None] | None = None) -> Future[Any]:
        """Run ``job`` in its turn; ``queued(ahead)`` is called first when others are ahead of it.

        Raises :class:`ImportsBusy` when one runs and ``waiting`` more already wait.
        """
        with self._lock:
            if self._pending > self.waiting:
                raise ImportsBusy
            ahead = self._pending
            self._pending += 1
        try:
            if ahead and queued is not None:
                queued(ahead)
            future = self._executor.submit(job)
        except BaseException:
            self._finished()
            raise
        future.add_done_callback(lambda _done: self._finished())
        return future

    def _finished(self) -> None:
        with self._lock:
            self._pending -= 1


#: Imports that may wait while one runs, per worker process; and how long a refused one is told
#: to wait before trying again (a small book imports in seconds, a big one in a minute or two).
IMPORT_WAITING = 3
IMPORT_RETRY_AFTER = 60
IMPORTS = ImportQueue(IMPORT_WAITING)


@router.post("/import", response_class=HTMLResponse)
def import_upload(
    request: Request,
    who: Annotated[Principal, Depends(need("IMPORT_LOAN"))],
    files: Annotated[list[UploadFile], File()],
) -> Response:
    """Import the uploaded files in one transaction; on any problem show every located problem.

    The import takes its turn in :data:`IMPORTS` (the page comes back when it is done), as the
    streamed one does; when the queue is full the page says so (503, ``Retry-After``).
    """
    lang = _lang(request)
    chosen = [upload for upload in files if upload.filename]
    if not chosen:
        return _import_page(request, who, status_code=422, error=translate("no_file", lang))
    folder, paths = _save_uploads(chosen)
    try:
        engine = _engine(request)
        try:
            turn = IMPORTS.submit(lambda: import_files(engine, paths, actor=who.username))
        except ImportsBusy:
            busy = _import_page(request, who, status_code=503, error=translate("import_busy", lang))
            busy.headers["Retry-After"] = str(IMPORT_RETRY_AFTER)
            return busy
        try:
            summary: ImportSummary = turn.result()
        except ImportRejected as exc:
            return _import_page(request, who, status_code=422, issues=exc.issues, total=exc.total)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return _import_page(request, who, summary=summary)


#: The least time between two progress lines of a streamed import, and the longest silence (a
#: line saying the import is still working, e.g. while indexes are rebuilt and the commit runs).
PROGRESS_EVERY = 0.2
HEARTBEAT = 5.0


def _ndjson(event: dict[str, Any]) -> bytes:
    return (json.dumps(event, ensure_ascii=False, default=str) + "\n").encode()


def _run_import(
    engine: Engine, folder: Path, paths: list[Path], actor: str, events: queue.Queue[dict[str, Any] | None]
) -> None:
    """The import, in its own thread: progress lines into ``events``, then the outcome, then None.

    It runs to its end even when the browser goes away, so an upload is imported whole or not at
    all (the service's one transaction), never cut off half-way; it removes the uploads itself.
    """
    last = 0.0

    def progress(done: int, total: int, rows: int) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= PROGRESS_EVERY or done >= total:
            last = now
            events.put({"event": "progress", "bytes": done, "total": total, "rows": rows})

    try:
        summary = import_files(engine, paths, actor=actor, progress=progress)
        events.put({"event": "done", "summary": summary})
    except ImportRejected as exc:
        events.put({"event": "rejected", "issues": exc.issues, "total": exc.total})
    except Exception:  # the transaction has rolled back; its text (SQL, values) stays in the log
        log.exception("import of %s by %s failed", [path.name for path in paths], actor)
        events.put({"event": "error", "message_key": "import_error"})
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        events.put(None)


def _import_lines(
    request: Request, who: Principal, events: queue.Queue[dict[str, Any] | None]
) -> Iterator[bytes]:
    """The streamed import's JSON lines: progress as it comes, then the outcome with its HTML (the
    same partial template as the plain form's page, so both say the same in the same language)."""
    lang = _lang(request)
    while True:
        try:
            event = events.get(timeout=HEARTBEAT)
        except queue.Empty:
            yield _ndjson({"event": "working"})
            continue
        if event is None:
            return
        kind = event["event"]
        if kind in ("start", "progress"):
            yield _ndjson(event)
            continue
        if kind == "queued":
            message = translate("import_queued", lang).format(ahead=event["ahead"])
            yield _ndjson({"event": "queued", "ahead": event["ahead"], "message": message})
            continue
        if kind == "error":  # a fixed message: an unexpected error's own text is for the log only
            yield _ndjson({"event": "error", "message": translate(event["message_key"], lang)})
            continue
        summary = event.get("summary")
        issues = list(event.get("issues", ()))
        html = templates.get_template("_import_result.html").render(
            _context(request, who, summary=summary, issues=issues, total=event.get("total", 0))
        )
        if summary is not None:
            yield _ndjson({"event": "done", "batch_id": summary.batch_id, "rows": summary.rows, "html": html})
        else:
            yield _ndjson({"event": "rejected", "problems": event["total"], "html": html})


@router.post("/import/stream")
def import_stream(
    request: Request,
    who: Annotated[Principal, Depends(need("IMPORT_LOAN"))],
    files: Annotated[list[UploadFile], File()],
) -> Response:
    """The import for the page's script: JSON lines (``application/x-ndjson``) of progress, then the
    outcome with the counts or the row-level error table as HTML.

    The upload has arrived when this runs (the browser shows its own upload progress); the files
    are written to a private temporary directory and the import takes its turn in :data:`IMPORTS`
    (a line ``queued`` says how many are ahead), its progress callback feeding this response, so
    nothing is shared between workers.  A full queue is refused: 503 with ``Retry-After``.  The
    plain ``POST /import`` stays for browsers without JavaScript.
    """
    lang = _lang(request)
    chosen = [upload for upload in files if upload.filename]
    if not chosen:
        message = {"event": "error", "message": translate("no_file", lang)}
        return Response(_ndjson(message), status_code=422, media_type="application/x-ndjson")
    folder, paths = _save_uploads(chosen)
    events: queue.Queue[dict[str, Any] | None] = queue.Queue()
    size = sum(path.stat().st_size for path in paths)
    events.put({"event": "start", "files": [path.name for path in paths], "total": size})
    engine = _engine(request)
    try:
        IMPORTS.submit(
            lambda: _run_import(engine, folder, paths, who.username, events),
            lambda ahead: events.put({"event": "queued", "ahead": ahead}),
        )
    except ImportsBusy:
        shutil.rmtree(folder, ignore_errors=True)
        busy = {"event": "error", "message": translate("import_busy", lang)}
        return Response(
            _ndjson(busy), status_code=503, media_type="application/x-ndjson",
            headers={"Retry-After": str(IMPORT_RETRY_AFTER)},
        )  # fmt: skip
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return StreamingResponse(
        _import_lines(request, who, events),
        media_type="application/x-ndjson",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
