"""More pages: collateral revaluation, the CERF batch, the regulatory reports, the audit log, users,
and the identification review queue.

The same rules as ``web/pages.py``, whose helpers these routes reuse: each route names the one
permission it needs with ``need(PERMISSION)`` (the API's check), every form carries the session's
CSRF token, a change answers with a redirect (post/redirect/get), and the pages carry their chart
data as JSON for a static script (no inline script under the Content-Security-Policy).

Downloads are written by the same service functions and renderers the CLI uses, into a private
temporary directory, read back and sent as an attachment; nothing stays on the server's disk.
"""

from __future__ import annotations

import datetime as dt
import io
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Form, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import Engine, func, select

from greenfin.api.security import need
from greenfin.model.problems import ValueProblem
from greenfin.reports.document import stats_document
from greenfin.reports.render import FontMissing, render
from greenfin.service import approvals, cerf
from greenfin.service.audit import verify_report
from greenfin.service.auth import Principal
from greenfin.service.cerf import (
    batch_history,
    quarter_days,
    run_batch,
)
from greenfin.service.collateral import LIVE, STATE_ZH, CollateralProblem, revalue
from greenfin.service.identification import (
    REVIEW_CONFIDENCE,
    REVIEW_KINDS,
    ExpectedLabel,
    LabelChanged,
    review_queue,
)
from greenfin.service.identification import decide as decide_label
from greenfin.service.reports import disclosure_report, stats_report
from greenfin.service.users import (
    ROLES,
    PermissionDenied,
    UserProblem,
    add_user,
    set_active,
    set_roles,
    unlock,
)
from greenfin.store.schema import (
    audit_log,
    cerf_batch_loans,
    cerf_batches,
    collateral_alerts,
    pending_actions,
    pledge_valuations,
    pledges,
    revaluations,
    users,
)
from greenfin.web.i18n import pick, translate
from greenfin.web.pages import PageRoute, _engine, _lang, _render

router = APIRouter(route_class=PageRoute, include_in_schema=False)

AUDIT_LIMIT = 200  # the audit page shows the latest records only
AUDIT_PAGE = 50
CHART_RUNS = 60  # revaluation runs drawn in the coverage chart
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MEDIA = {"xlsx": XLSX, "html": "text/html; charset=utf-8", "pdf": "application/pdf", "zip": "application/zip"}


def _download(data: bytes, name: str, kind: str) -> Response:
    """A file as an attachment (RFC 6266 file name, ASCII fallback), never cached."""
    headers = {
        "Content-Disposition": f'attachment; filename="{name.encode("ascii", "replace").decode()}"; '
        f"filename*=UTF-8''{quote(name)}",
        "Cache-Control": "no-store",
    }
    return Response(content=data, media_type=MEDIA[kind], headers=headers)


def _state_label(state: str) -> str:
    return next((zh for key, zh in STATE_ZH.items() if key.value == state), state)


# --- collateral ----------------------------------------------------------------------------------


def collateral_view(engine: Engine) -> dict[str, Any]:
    """The latest revaluation run, live pledges with their latest valuation, the run history, alerts."""
    with engine.connect() as connection:
        latest = connection.execute(
            select(revaluations).order_by(revaluations.c.id.desc()).limit(1)
        ).mappings().first()  # fmt: skip
        run_id = latest["id"] if latest is not None else -1
        live = connection.execute(
            select(
                pledges.c.pledge_id, pledges.c.loan_id, pledges.c.instrument, pledges.c.quantity, pledges.c.unit,
                pledges.c.state, pledge_valuations.c.coverage, pledge_valuations.c.status,
                pledge_valuations.c.reference_price_yuan, pledge_valuations.c.price_day,
                pledge_valuations.c.collateral_value_fen, pledge_valuations.c.outstanding_fen,
            )
            .select_from(
                pledges.outerjoin(
                    pledge_valuations,
                    (pledge_valuations.c.pledge_id == pledges.c.pledge_id) & (pledge_valuations.c.run_id == run_id),
                )
            )
            .where(pledges.c.state.in_([s.value for s in LIVE]))
            .order_by(pledges.c.pledge_id)
        ).mappings().all()  # fmt: skip
        runs = list(
            connection.execute(
                select(revaluations).order_by(revaluations.c.id.desc()).limit(CHART_RUNS)
            ).mappings()
        )[::-1]
        totals = {
            row.run_id: (int(row.value or 0), int(row.owed or 0))
            for row in connection.execute(
                select(
                    pledge_valuations.c.run_id,
                    func.sum(pledge_valuations.c.collateral_value_fen).label("value"),
                    func.sum(pledge_valuations.c.outstanding_fen).label("owed"),
                )
                .where(pledge_valuations.c.run_id.in_([r["id"] for r in runs] or [-1]))
                .group_by(pledge_valuations.c.run_id)
            )
        }
        alerts = connection.execute(
            select(collateral_alerts, pledges.c.loan_id)
            .select_from(collateral_alerts.join(pledges))
            .where(collateral_alerts.c.run_id == run_id)
            .order_by(collateral_alerts.c.id)
        ).mappings().all()  # fmt: skip
    rows = []
    for row in live:
        item = dict(row)
        item["state_zh"] = _state_label(item["state"])
        item["coverage_pct"] = None if item["coverage"] is None else float(item["coverage"]) * 100
        rows.append(item)
    chart = {
        "days": [f"{r['day'].isoformat()} #{r['id']}" for r in runs],
        "pledges": [r["pledges"] for r in runs],
        "warnings": [r["warnings"] for r in runs],
        "liquidations": [r["liquidations"] for r in runs],
        "coverage": [
            round(totals[r["id"]][0] / totals[r["id"]][1] * 100, 2)
            if r["id"] in totals and totals[r["id"]][1] > 0
            else None
            for r in runs
        ],
    }
    return {
        "latest": dict(latest) if latest else None,
        "rows": rows,
        "chart": chart,
        "alerts": [dict(a) for a in alerts],
    }


def _collateral_page(
    request: Request, who: Principal, *, status_code: int = 200, error: str = "", ran: int | None = None,
    day: str = "",
) -> Response:  # fmt: skip
    lang = _lang(request)
    view = collateral_view(_engine(request))
    chart = {
        **view["chart"],
        "labels": {
            key: translate(key, lang)
            for key in (
                "coverage_total",
                "pledges_valued",
                "kind_warning",
                "kind_liquidation",
                "pledges_unit",
            )
        },
        "empty": translate("no_revaluation", lang),
    }
    return _render(
        request, "collateral.html", who, status_code, view=view, chart=chart, error=error, ran=ran,
        day=day or dt.date.today().isoformat(),
    )  # fmt: skip


@router.get("/collateral", response_class=HTMLResponse)
def collateral_page(
    request: Request,
    who: Annotated[Principal, Depends(need("READ_PLEDGE"))],
    ran: int | None = Query(None, alias="run", ge=1),
) -> Response:
    """Live pledges with coverage and status of the latest revaluation, the run history, alerts."""
    return _collateral_page(request, who, ran=ran)


@router.post("/collateral/revalue", response_class=HTMLResponse)
def collateral_revalue(
    request: Request,
    who: Annotated[Principal, Depends(need("REVALUE_PLEDGE"))],
    day: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """重估: value every live pledge on ``day`` (service.collateral.revalue), then show the run."""
    lang = _lang(request)
    try:
        chosen = dt.date.fromisoformat(day.strip())
    except ValueError:
        return _collateral_page(request, who, status_code=422, error=translate("bad_date", lang), day=day)
    try:
        result = revalue(_engine(request), chosen, actor=who.username)
    except (CollateralProblem, PermissionDenied, ValueError) as exc:
        return _collateral_page(request, who, status_code=422, error=pick(str(exc), lang), day=day)
    return RedirectResponse(f"/collateral?run={result.run_id}", status_code=303)


# --- CERF ----------------------------------------------------------------------------------------


def _this_quarter() -> str:
    today = dt.date.today()
    return f"{today.year}Q{(today.month + 2) // 3}"


def _quarter(text: str) -> str | None:
    """The quarter as the service labels it ('2026Q3'), or None when it is not one."""
    try:
        first, _last = quarter_days(text)
    except ValueError:
        return None
    return f"{first.year}Q{(first.month + 2) // 3}"


def cerf_view(engine: Engine, quarter: str) -> dict[str, Any]:
    """The quarter's stored revisions, the latest one's loans (eligible and excluded), its proposals."""
    history = batch_history(engine, quarter)
    latest = history[-1] if history else None
    eligible: list[dict[str, Any]] = []
    excluded: list[dict[str, Any]] = []
    proposals: list[dict[str, Any]] = []
    if latest is not None:
        with engine.connect() as connection:
            for row in connection.execute(
                select(cerf_batch_loans).where(cerf_batch_loans.c.batch_id == latest["id"]).order_by(cerf_batch_loans.c.loan_id)
            ).mappings():  # fmt: skip
                item = dict(row)
                reasons = item["reasons"]
                item["reasons"] = [str(r) for r in reasons] if isinstance(reasons, list) else [str(reasons)]
                (eligible if item["eligible"] else excluded).append(item)
            proposals = [
                dict(r)
                for r in connection.execute(
                    select(pending_actions)
                    .where(
                        pending_actions.c.kind == "cerf_submit",
                        pending_actions.c.entity_id == str(latest["id"]),
                    )
                    .order_by(pending_actions.c.id)
                ).mappings()
            ]
    return {
        "history": history,
        "latest": latest,
        "eligible": eligible,
        "excluded": excluded,
        "proposals": proposals,
    }


def _cerf_page(
    request: Request, who: Principal, quarter: str, *, status_code: int = 200, error: str = "",
    notice: str = "",
) -> Response:  # fmt: skip
    view = cerf_view(_engine(request), quarter)
    return _render(
        request, "cerf.html", who, status_code, quarter=quarter, view=view, error=error, notice=notice
    )


@router.get("/cerf", response_class=HTMLResponse)
def cerf_page(
    request: Request,
    who: Annotated[Principal, Depends(need("READ_CERF"))],
    quarter: str = Query("", max_length=10),
    done: str = Query("", pattern="^(|ran|unchanged|proposed)$"),
) -> Response:
    """The quarter's CERF batch: eligible loans with facility and CO2e, excluded loans with reasons."""
    lang = _lang(request)
    chosen = _quarter(quarter) if quarter else _this_quarter()
    if chosen is None:
        return _cerf_page(
            request, who, _this_quarter(), status_code=422, error=translate("bad_quarter", lang)
        )
    return _cerf_page(request, who, chosen, notice=f"cerf_{done}" if done else "")


@router.post("/cerf/run", response_class=HTMLResponse)
def cerf_run(
    request: Request,
    who: Annotated[Principal, Depends(need("RUN_CERF"))],
    quarter: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """生成批次: decide every loan disbursed in the quarter; a new revision only when something changed."""
    lang = _lang(request)
    chosen = _quarter(quarter)
    if chosen is None:
        return _cerf_page(
            request, who, _this_quarter(), status_code=422, error=translate("bad_quarter", lang)
        )
    try:
        batch = run_batch(_engine(request), chosen, actor=who.username)
    except (ValueError, LookupError) as exc:
        return _cerf_page(request, who, chosen, status_code=422, error=pick(str(exc), lang))
    done = "ran" if batch.changed else "unchanged"
    return RedirectResponse(f"/cerf?quarter={batch.quarter}&done={done}", status_code=303)


@router.post("/cerf/{batch_id}/submit", response_class=HTMLResponse)
def cerf_submit(
    request: Request, batch_id: int, who: Annotated[Principal, Depends(need("SUBMIT_CERF"))]
) -> Response:
    """提交复核: propose the revision's submission; a checker approves it (maker-checker)."""
    engine = _engine(request)
    lang = _lang(request)
    with engine.connect() as connection:
        quarter = connection.execute(
            select(cerf_batches.c.quarter).where(cerf_batches.c.id == batch_id)
        ).scalar()
    try:
        approvals.propose(engine, "cerf_submit", str(batch_id), {}, maker=who.username)
    except approvals.ApprovalProblem as exc:
        return _cerf_page(
            request, who, quarter or _this_quarter(), status_code=422, error=pick(str(exc), lang)
        )
    return RedirectResponse(f"/cerf?quarter={quarter}&done=proposed", status_code=303)


@router.get("/cerf/{batch_id}/{name}")
def cerf_file(
    request: Request,
    batch_id: int,
    name: str,
    who: Annotated[Principal, Depends(need("READ_CERF"))],
) -> Response:
    """The disclosure list (``disclosure.xlsx``) or the verifier's package (``verification.xlsx``)
    of a stored revision, written on request."""
    lang = _lang(request)
    if name not in ("disclosure.xlsx", "verification.xlsx"):
        return _render(request, "not_found.html", who, 404, what=name)
    engine = _engine(request)
    try:
        data, file_name = cerf.batch_file(engine, batch_id, name.removesuffix(".xlsx"))
    except (cerf.BatchNotFound, cerf.BatchStale) as exc:
        with engine.connect() as connection:
            quarter = connection.execute(
                select(cerf_batches.c.quarter).where(cerf_batches.c.id == batch_id)
            ).scalar()  # fmt: skip
        status = 404 if isinstance(exc, cerf.BatchNotFound) else 409
        why = "no_batch" if status == 404 else "batch_stale"
        return _cerf_page(
            request, who, quarter or _this_quarter(), status_code=status, error=translate(why, lang)
        )
    return _download(data, file_name, "xlsx")


# --- reports -------------------------------------------------------------------------------------


def _reports_page(request: Request, who: Principal, *, status_code: int = 200, error: str = "") -> Response:
    today = dt.date.today()
    return _render(
        request,
        "reports.html",
        who,
        status_code,
        error=error,
        today=today.isoformat(),
        last_year=today.year - 1,
    )


@router.get("/reports", response_class=HTMLResponse)
def reports_page(request: Request, who: Annotated[Principal, Depends(need("READ_REPORT"))]) -> Response:
    """The forms for the statistics report and the annual disclosure."""
    return _reports_page(request, who)


@router.post("/reports/stats")
def reports_stats(
    request: Request,
    who: Annotated[Principal, Depends(need("READ_REPORT"))],
    as_of: Annotated[str, Form(alias="date", max_length=10)] = "",
    fmt: Annotated[str, Form(alias="format", max_length=8)] = "xlsx",
) -> Response:
    """The green-loan statistics as of a date (kept as a snapshot), as XLSX, CSV (a ZIP) or HTML."""
    lang = _lang(request)
    try:
        day = dt.date.fromisoformat(as_of.strip())
    except ValueError:
        return _reports_page(request, who, status_code=422, error=translate("bad_date", lang))
    if fmt not in ("xlsx", "csv", "html"):
        return _reports_page(request, who, status_code=422, error=translate("bad_format", lang))
    # kept as a snapshot (a write, audited) only for those who may make reports; a read-only
    # caller such as the auditor downloads the same figures without changing anything
    keep = "CREATE_REPORT" in who.permissions
    stats = stats_report(_engine(request), day, actor=who.username, store=keep)
    with tempfile.TemporaryDirectory(prefix="greenfin-report-") as folder:
        paths = render(stats_document(stats), fmt, Path(folder))
        if fmt == "csv":
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
                for path in paths:
                    archive.write(path, path.name)
            stem = paths[0].parent.name if paths else f"stats_{day.isoformat()}"
            return _download(buffer.getvalue(), f"{stem}.zip", "zip")
        return _download(paths[0].read_bytes(), paths[0].name, fmt)


@router.post("/reports/disclosure")
def reports_disclosure(
    request: Request,
    who: Annotated[Principal, Depends(need("READ_REPORT"))],
    year: Annotated[int, Form(ge=2000, le=2100)],
    fmt: Annotated[str, Form(alias="format", max_length=8)] = "html",
) -> Response:
    """The annual environmental disclosure (JR/T 0227-2021) as HTML, XLSX or PDF."""
    lang = _lang(request)
    if fmt not in ("html", "xlsx", "pdf"):
        return _reports_page(request, who, status_code=422, error=translate("bad_format", lang))
    keep = "CREATE_REPORT" in who.permissions  # as for the statistics above
    document = disclosure_report(_engine(request), year, actor=who.username, store=keep)
    with tempfile.TemporaryDirectory(prefix="greenfin-report-") as folder:
        try:
            paths = render(document, fmt, Path(folder))
        except FontMissing as exc:
            return _reports_page(request, who, status_code=422, error=pick(str(exc), lang))
        return _download(paths[0].read_bytes(), paths[0].name, fmt)


# --- audit ---------------------------------------------------------------------------------------


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    who: Annotated[Principal, Depends(need("READ_AUDIT"))],
    page: int = Query(1, ge=1, le=AUDIT_LIMIT // AUDIT_PAGE),
) -> Response:
    """The latest audit records, newest first, in pages; and the hash chain's verification."""
    with _engine(request).connect() as connection:
        total = int(connection.execute(select(func.count()).select_from(audit_log)).scalar_one())
        shown = min(total, AUDIT_LIMIT)
        offset = (page - 1) * AUDIT_PAGE
        size = max(0, min(AUDIT_PAGE, shown - offset))
        rows = [
            dict(r)
            for r in connection.execute(
                select(audit_log.c.id, audit_log.c.at, audit_log.c.actor, audit_log.c.action, audit_log.c.entity,
                       audit_log.c.entity_id)
                .order_by(audit_log.c.id.desc()).limit(size).offset(offset)
            ).mappings()
        ]  # fmt: skip
        report = verify_report(connection)  # the head's MAC too, and whether the chain is keyed
    pages = max(1, -(-shown // AUDIT_PAGE))
    return _render(
        request, "audit.html", who, rows=rows, total=total, shown=shown, page=page, pages=pages,
        chain_count=report.records, problems=report.problems, chain_keyed_from=report.keyed_from,
        chain_key_configured=report.keyed, chain_status=pick(report.status, _lang(request)),
        chain_head=None if report.head_id is None else f"{report.head_id}:{report.head_hash}",
    )  # fmt: skip


# --- users ---------------------------------------------------------------------------------------

USER_DONE = ("roles", "deactivated", "reactivated", "unlocked")


def _locked(until: dt.datetime | None) -> dt.datetime | None:
    """When a lockout ends, if it has not ended yet (SQLite gives the time back without its zone)."""
    if until is None:
        return None
    if until.tzinfo is None:
        until = until.replace(tzinfo=dt.UTC)
    return until if until > dt.datetime.now(dt.UTC) else None


def _user_rows(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        rows = [
            dict(r)
            for r in connection.execute(
                select(users.c.username, users.c.display_name, users.c.roles, users.c.active, users.c.created_at,
                       users.c.failed_logins, users.c.locked_until)
                .order_by(users.c.username)
            ).mappings()
        ]  # fmt: skip
    for row in rows:
        row["locked"] = _locked(row["locked_until"])
    return rows


def _users_page(
    request: Request, who: Principal, *, status_code: int = 200, error: str = "", added: str = "",
    form: dict[str, Any] | None = None, done: str = "", user: str = "",
) -> Response:  # fmt: skip
    return _render(
        request, "users.html", who, status_code, rows=_user_rows(_engine(request)), roles=ROLES, error=error,
        added=added, form=form or {"roles": []}, done=done, user=user,
    )  # fmt: skip


@router.get("/admin/users", response_class=HTMLResponse)
def users_page(
    request: Request,
    who: Annotated[Principal, Depends(need("MANAGE_USER"))],
    added: str = Query("", max_length=100),
    done: str = Query("", pattern="^(|roles|deactivated|reactivated|unlocked)$"),
    user: str = Query("", max_length=100),
) -> Response:
    """The users with their roles, whether they are active or locked out; the form to add one."""
    return _users_page(request, who, added=added, done=done, user=user)


@router.post("/admin/users", response_class=HTMLResponse)
def users_add(
    request: Request,
    who: Annotated[Principal, Depends(need("MANAGE_USER"))],
    username: Annotated[str, Form(max_length=100)] = "",
    display_name: Annotated[str, Form(max_length=100)] = "",
    password: Annotated[str, Form(max_length=200)] = "",
    roles: Annotated[list[str] | None, Form()] = None,
) -> Response:
    """Add a user (service.users.add_user: argon2id hash, known roles only, audit record)."""
    lang = _lang(request)
    chosen = [r for r in (roles or []) if r]
    name = username.strip()
    form = {"username": name, "display_name": display_name.strip(), "roles": chosen}
    problem = ""
    if not name:
        problem = translate("username_required", lang)
    elif not chosen:
        problem = translate("roles_required", lang)
    elif len(password) < 8:
        problem = translate("password_short", lang)
    if problem:
        return _users_page(request, who, status_code=422, error=problem, form=form)
    try:
        add_user(
            _engine(request),
            name,
            password,
            chosen,
            display_name=display_name.strip() or None,
            actor=who.username,
        )
    except ValueError as exc:
        return _users_page(request, who, status_code=422, error=pick(str(exc), lang), form=form)
    return RedirectResponse(f"/admin/users?added={quote(name)}", status_code=303)


def _user_page(
    request: Request, who: Principal, username: str, *, status_code: int = 200, error: str = "",
    chosen: list[str] | None = None,
) -> Response:  # fmt: skip
    found = next((row for row in _user_rows(_engine(request)) if row["username"] == username), None)
    if found is None:
        return _render(
            request, "not_found.html", who, 404, what=f"{translate('username', _lang(request))}: {username}"
        )
    return _render(
        request, "user.html", who, status_code, user=found, roles=ROLES, error=error,
        chosen=found["roles"] if chosen is None else chosen,
    )  # fmt: skip


@router.get("/admin/users/{username}", response_class=HTMLResponse)
def user_page(
    request: Request, username: str, who: Annotated[Principal, Depends(need("MANAGE_USER"))]
) -> Response:
    """One user: the form to change their roles, and the deactivate/reactivate and unlock buttons."""
    return _user_page(request, who, username)


def _user_change(request: Request, who: Principal, username: str, change: Callable[[], object], done: str,
                 chosen: list[str] | None = None) -> Response:  # fmt: skip
    """Run one change through ``service.users`` (which checks MANAGE_USER again and writes the
    audit record), then back to the list; a refusal shows the user's page with the reason."""
    try:
        change()
    except PermissionDenied as exc:
        return _user_page(request, who, username, status_code=403, error=pick(str(exc), _lang(request)))
    except UserProblem as exc:
        status = 404 if "不存在" in str(exc) else 422
        return _user_page(
            request, who, username, status_code=status, error=pick(str(exc), _lang(request)), chosen=chosen
        )
    return RedirectResponse(f"/admin/users?done={done}&user={quote(username)}", status_code=303)


@router.post("/admin/users/{username}/roles", response_class=HTMLResponse)
def user_roles(
    request: Request,
    username: str,
    who: Annotated[Principal, Depends(need("MANAGE_USER"))],
    roles: Annotated[list[str] | None, Form()] = None,
) -> Response:
    """Replace the user's roles (at least one; an admin keeps their own admin role)."""
    chosen = [r for r in (roles or []) if r]
    return _user_change(
        request, who, username,
        lambda: set_roles(_engine(request), username, chosen, actor=who.username), "roles", chosen,
    )  # fmt: skip


@router.post("/admin/users/{username}/active", response_class=HTMLResponse)
def user_active(
    request: Request,
    username: str,
    who: Annotated[Principal, Depends(need("MANAGE_USER"))],
    active: Annotated[str, Form(pattern="^[01]$")] = "0",
) -> Response:
    """停用 / 启用: a deactivated user cannot sign in, and their session stops working (within the
    few seconds ``api.security.PrincipalCache`` remembers a caller); nobody deactivates themself."""
    on = active == "1"
    return _user_change(
        request, who, username, lambda: set_active(_engine(request), username, on, actor=who.username),
        "reactivated" if on else "deactivated",
    )  # fmt: skip


@router.post("/admin/users/{username}/unlock", response_class=HTMLResponse)
def user_unlock(
    request: Request, username: str, who: Annotated[Principal, Depends(need("MANAGE_USER"))]
) -> Response:
    """解锁: lift the lockout that five wrong passwords set, before its 15 minutes are up."""
    return _user_change(
        request, who, username, lambda: unlock(_engine(request), username, actor=who.username), "unlocked"
    )


# --- identification review queue ------------------------------------------------------------------

REVIEW_PAGE = 20


def _review_page(
    request: Request, who: Principal, *, kind: str = "", page: int = 1, status_code: int = 200,
    error: str = "", confirmed: str = "",
) -> Response:  # fmt: skip
    rows, total = review_queue(_engine(request), kind=kind, page=page, size=REVIEW_PAGE)
    for row in rows:
        evidence = row["evidence"] if isinstance(row["evidence"], dict) else {}
        row["item"] = evidence.get("item")
        row["reasons"] = [str(r) for r in evidence.get("reasons") or []]
        row["candidates"] = [c for c in evidence.get("candidates") or [] if isinstance(c, dict)]
        row["confidence_pct"] = float(row["confidence"]) * 100
    pages = max(1, -(-total // REVIEW_PAGE))
    keep = {"kind": kind, "page": page}
    return _render(
        request, "review.html", who, status_code, rows=rows, total=total, page=page, pages=pages, kind=kind,
        kinds=REVIEW_KINDS, keep=keep, error=error, confirmed=confirmed,
        threshold=float(REVIEW_CONFIDENCE) * 100,
    )  # fmt: skip


@router.get("/review", response_class=HTMLResponse)
def review_page(
    request: Request,
    who: Annotated[Principal, Depends(need("READ_LABEL"))],
    kind: str = Query("", max_length=20),
    page: int = Query(1, ge=1, le=1_000_000),
    confirmed: str = Query("", max_length=64),
) -> Response:
    """识别复核队列: the loans whose engine label waits for a person (``review_queue``), with the
    evidence, a Confirm button and a link to the override form (which goes to maker-checker)."""
    return _review_page(
        request, who, kind=kind if kind in REVIEW_KINDS else "", page=page, confirmed=confirmed
    )


@router.post("/review/{loan_id}/confirm", response_class=HTMLResponse)
def review_confirm(
    request: Request,
    loan_id: str,
    who: Annotated[Principal, Depends(need("CONFIRM_LABEL"))],
    reason: Annotated[str, Form(max_length=2000)] = "",
    kind: Annotated[str, Form(max_length=20)] = "",
    page: Annotated[int, Form(ge=1, le=1_000_000)] = 1,
    run_id: Annotated[int | None, Form(ge=1)] = None,
    status: Annotated[str | None, Form(max_length=20)] = None,
    item_code: Annotated[str | None, Form(max_length=16)] = None,
) -> Response:
    """确认: the engine's label as it is becomes the officer's decision (the same
    ``identification.decide`` as ``POST /api/v1/loans/{id}/label/confirm``, audited); the loan
    leaves the queue.  A label that needs review cannot be confirmed: it is overridden instead.

    The form posts the run, status and item it showed (hidden fields), so a label that changed
    after the page loaded (labelling ran again) is refused (409) instead of confirmed unseen."""
    lang = _lang(request)
    chosen = kind if kind in REVIEW_KINDS else ""
    shown = ExpectedLabel(run_id=run_id, status=status, item_code=item_code)
    try:
        decide_label(
            _engine(request), loan_id, action="confirm", reason=reason, actor=who.username, expected=shown
        )
    except LabelChanged as exc:
        message = f"{loan_id}: {exc.en if lang == 'en' else exc.zh}"
        return _review_page(request, who, kind=chosen, page=page, status_code=409, error=message)
    except ValueProblem as exc:
        message = f"{loan_id}: {exc.en if lang == 'en' else exc.zh}"
        return _review_page(request, who, kind=chosen, page=page, status_code=422, error=message)
    query = urlencode({"kind": chosen, "page": page, "confirmed": loan_id})
    return RedirectResponse(f"/review?{query}", status_code=303)
