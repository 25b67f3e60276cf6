"""The pages of ``web/pages_more.py`` on both backends: collateral revaluation, the CERF batch, the
reports, the audit log and users: who may see and do what, CSRF on every form, what each form
changes, and the downloads."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, Table, func, select, update

from greenfin.api.app import create_app
from greenfin.service import audit, collateral
from greenfin.service.identification import label_book
from greenfin.service.importing import import_files
from greenfin.service.users import add_user
from greenfin.store.schema import (
    audit_log,
    cerf_batches,
    label_decisions,
    loan_labels,
    pending_actions,
    report_snapshots,
    revaluations,
    users,
)
from greenfin.web import i18n
from tests.conftest import DATA, apply_cea_pledge, cjk_font_or_skip
from tests.test_audit_chain import drop_append_only_triggers
from tests.test_collateral import add_prices as store_prices
from tests.test_web import client, token_in
from tests.test_web import sign_in as web_sign_in

__all__ = ["client"]  # a fixture used by name

ROLES = ("officer", "checker", "risk_manager", "auditor", "admin")
PASSWORD = "correct-horse-battery"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
HOLDER = "91330100799655058B"  # T-0001's borrower in tests/data/small_book.csv


def add_prices(engine: Engine) -> list[dt.date]:
    """120 days of CEA closes around 60 元, falling to 50 over the last 25 days."""
    rng = np.random.default_rng(3)
    closes = 60 * np.exp(rng.normal(0, 0.004, 120))
    closes[-25:] = np.linspace(closes[-26], 50, 25)
    return store_prices(engine, closes)


def pledge_book(engine: Engine) -> list[dt.date]:
    """A registered pledge of 200,000 t CEA for T-0001 (800.50 万元), and the prices to value it."""
    apply_cea_pledge(engine, actor="admin", held=300_000, pledged=200_000)
    collateral.register_pledge(engine, "P1", "登记 P1", actor="admin")
    return add_prices(engine)


@pytest.fixture
def app(engine: Engine, store_url: str) -> Iterator[FastAPI]:
    import_files(engine, [DATA / "small_book.csv"], actor="tester")
    label_book(engine, actor="tester")
    for role in ROLES:
        add_user(engine, role, PASSWORD, [role], actor="tester")
    add_user(engine, "nobody", PASSWORD, [], actor="tester")  # signed in, but no permission at all
    application = create_app(store_url, secret=b"m" * 32)
    yield application
    application.state.engine.dispose()


def sign_in(client: TestClient, username: str) -> str:
    """Sign in afresh through the form; return the session's CSRF token (a refusal page carries
    it too, in its sign-out form, so users without a permission sign in the same way)."""
    client.cookies.clear()
    return web_sign_in(client, username, PASSWORD)


def user_states(engine: Engine) -> list[tuple[str, list[str], bool, int]]:
    with engine.connect() as connection:
        return [
            (r.username, list(r.roles), bool(r.active), r.failed_logins)
            for r in connection.execute(select(users).order_by(users.c.username))
        ]


def count(engine: Engine, table: Table) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


# --- who may see each page ----------------------------------------------------------------------

PAGES = (
    ("/collateral", "READ_PLEDGE", "risk_manager", "nobody", "环境权益押品"),
    ("/cerf", "READ_CERF", "officer", "nobody", "碳减排支持工具批次"),
    ("/reports", "READ_REPORT", "auditor", "nobody", "监管报表"),
    ("/audit", "READ_AUDIT", "auditor", "officer", "审计日志"),
    ("/admin/users", "MANAGE_USER", "admin", "auditor", "用户管理"),
    ("/admin/users/officer", "MANAGE_USER", "admin", "officer", "用户 officer"),
    ("/review", "READ_LABEL", "checker", "nobody", "识别复核队列"),
)


@pytest.mark.parametrize(("path", "permission", "allowed", "refused", "title"), PAGES)
def test_each_page_renders_for_a_permitted_role_and_refuses_others(
    client: TestClient, path: str, permission: str, allowed: str, refused: str, title: str
) -> None:
    assert client.get(path).headers["location"].startswith("/login")  # no session: sign in first
    sign_in(client, allowed)
    page = client.get(path)
    assert page.status_code == 200, page.text[:500]
    assert f"<h1>{title}</h1>" in page.text
    if path != "/admin/users/officer":  # a user's own page is linked from the list, not the navigation
        assert f'href="{path}"' in page.text  # the navigation links the page for this role
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert not re.search(r"<script>(?!\s*$)", page.text)  # no inline script
    sign_in(client, refused)
    denied = client.get(path)
    assert denied.status_code == 403 and permission in denied.text
    assert f'href="{path}"' not in denied.text  # nor in the navigation of a role without it


def test_the_navigation_shows_only_the_pages_a_role_may_use(client: TestClient) -> None:
    sign_in(client, "officer")
    html = client.get("/").text
    for path in ("/collateral", "/cerf", "/reports"):
        assert f'href="{path}"' in html
    assert 'href="/audit"' not in html and 'href="/admin/users"' not in html
    sign_in(client, "admin")
    html = client.get("/").text
    assert 'href="/audit"' in html and 'href="/admin/users"' in html


def test_english_labels(client: TestClient) -> None:
    sign_in(client, "admin")
    client.get("/lang/en?next=/")
    assert "<h1>Environmental-rights collateral</h1>" in client.get("/collateral").text
    assert "<h1>Audit log</h1>" in client.get("/audit").text
    assert ">intact" in client.get("/audit").text
    for key in ("cstatus_normal", "cstatus_warning", "cstatus_liquidation", "cerf_ran", "cerf_unchanged",
                "cerf_proposed", "submit_pending", "submit_approved", "submit_rejected", "no_batch", "batch_stale"):  # fmt: skip
        assert key in i18n.MESSAGES  # the keys the templates build at run time


# --- CSRF ----------------------------------------------------------------------------------------

FORMS: tuple[tuple[str, str, dict[str, str]], ...] = (
    ("/collateral/revalue", "risk_manager", {"day": "2025-04-30"}),
    ("/cerf/run", "officer", {"quarter": "2024Q2"}),
    ("/cerf/1/submit", "officer", {}),
    ("/reports/stats", "auditor", {"date": "2025-03-31", "format": "xlsx"}),
    ("/reports/disclosure", "auditor", {"year": "2024", "format": "html"}),
    ("/admin/users", "admin", {"username": "eve", "password": "long-enough-1", "roles": "viewer"}),
    ("/admin/users/officer/roles", "admin", {"roles": "viewer"}),
    ("/admin/users/officer/active", "admin", {"active": "0"}),
    ("/admin/users/officer/unlock", "admin", {}),
    ("/review/T-0002/confirm", "officer", {"reason": "核实无误"}),
)


TABLES = (revaluations, cerf_batches, pending_actions, report_snapshots, users, label_decisions, audit_log)


def test_every_form_without_the_csrf_token_is_refused_and_changes_nothing(
    client: TestClient, engine: Engine
) -> None:
    pledge_book(engine)
    before = {t.name: count(engine, t) for t in TABLES}
    accounts = user_states(engine)
    for path, role, form in FORMS:
        sign_in(client, role)
        assert client.post(path, data=form).status_code == 403, path
        assert client.post(path, data={**form, "csrf_token": "wrong"}).status_code == 403, path
    after = {t.name: count(engine, t) for t in TABLES}
    assert {k: v for k, v in after.items() if k != "audit_log"} == {
        k: v for k, v in before.items() if k != "audit_log"
    }
    assert after["audit_log"] == before["audit_log"] + len(FORMS)  # one sign-in each, nothing else
    assert user_states(engine) == accounts


# --- collateral ----------------------------------------------------------------------------------


def test_revalue_stores_a_run_and_the_page_shows_status_alerts_and_chart(
    client: TestClient, engine: Engine
) -> None:
    days = pledge_book(engine)
    csrf = sign_in(client, "officer")
    assert (
        client.post("/collateral/revalue", data={"day": days[-1].isoformat(), "csrf_token": csrf}).status_code
        == 403
    )
    csrf = sign_in(client, "risk_manager")
    page = client.get("/collateral")
    assert "尚无押品重估" in page.text and 'id="revalue-form"' in page.text
    assert 'id="pledge-P1"' in page.text and "未估值" in page.text

    done = client.post("/collateral/revalue", data={"day": days[80].isoformat(), "csrf_token": csrf})
    assert done.status_code == 303 and done.headers["location"].startswith("/collateral?run=")
    html = client.get(done.headers["location"]).text
    assert count(engine, revaluations) == 1
    assert f"重估日 {days[80].isoformat()}" in html and "default v1" in html
    row = re.search(r'<tr id="pledge-P1".*?</tr>', html, re.S)
    assert row and "正常" in row.group(0) and " %" in row.group(0)

    client.post("/collateral/revalue", data={"day": days[-1].isoformat(), "csrf_token": csrf})
    html = client.get("/collateral").text
    row = re.search(r'<tr id="pledge-P1".*?</tr>', html, re.S)
    assert row and ("预警" in row.group(0) or "低于平仓线" in row.group(0))
    assert 'id="alerts"' in html and "覆盖率" in html
    carried = re.search(r'<script type="application/json" id="collateral-data">(.*?)</script>', html, re.S)
    assert carried is not None
    data = json.loads(carried.group(1))
    assert len(data["days"]) == 2 and data["pledges"] == [1, 1]
    assert (
        data["warnings"][0] + data["liquidations"][0] == 0
        and data["warnings"][1] + data["liquidations"][1] == 1
    )
    assert data["coverage"][0] > data["coverage"][1] > 0
    assert '<script src="/static/collateral.js"' in html
    assert client.get("/static/collateral.js").headers["content-type"].startswith("text/javascript")

    refused = client.post("/collateral/revalue", data={"day": "31/12/2025", "csrf_token": csrf})
    assert refused.status_code == 422 and "YYYY-MM-DD" in refused.text
    assert count(engine, revaluations) == 2


# --- CERF ----------------------------------------------------------------------------------------


def eligible_book(folder: Path) -> Path:
    """The small book with T-0002 at the 5Y+ LPR (3.95 %), so that it qualifies for the CERF."""
    text = (DATA / "small_book.csv").read_text(encoding="utf-8")
    assert "3.10%" in text
    path = folder / "eligible.csv"
    path.write_text(text.replace("3.10%", "3.95%"), encoding="utf-8")
    return path


def test_run_batch_shows_eligible_and_excluded_then_submit_proposes(
    client: TestClient, engine: Engine, tmp_path: Path
) -> None:
    import_files(engine, [eligible_book(tmp_path)], actor="tester")
    csrf = sign_in(client, "checker")
    assert client.post("/cerf/run", data={"quarter": "2024Q2", "csrf_token": csrf}).status_code == 403
    csrf = sign_in(client, "officer")
    page = client.get("/cerf?quarter=2024q2")
    assert page.status_code == 200 and 'id="no-batch"' in page.text and 'id="run-form"' in page.text

    ran = client.post("/cerf/run", data={"quarter": "2024Q2", "csrf_token": csrf})
    assert ran.status_code == 303 and ran.headers["location"] == "/cerf?quarter=2024Q2&done=ran"
    html = client.get(ran.headers["location"]).text
    assert count(engine, cerf_batches) == 1
    eligible = re.search(r'<table id="eligible".*?</table>', html, re.S)
    assert eligible and "T-0002" in eligible.group(0)
    assert "1,200.00" in eligible.group(0)  # 60 % of 2,000 万元
    assert "2,421.65" in eligible.group(0)  # tCO2e a year attributed to the bank
    again = client.post("/cerf/run", data={"quarter": "2024Q2", "csrf_token": csrf})
    assert again.headers["location"].endswith("done=unchanged") and count(engine, cerf_batches) == 1

    client.post("/cerf/run", data={"quarter": "2024Q1", "csrf_token": csrf})
    html = client.get("/cerf?quarter=2024Q1").text
    excluded = re.search(r'<table id="excluded".*?</table>', html, re.S)
    assert excluded and "T-0001" in excluded.group(0) and "不是已认定的绿色贷款" in excluded.group(0)
    assert "本批次没有合格贷款" in html

    with engine.connect() as connection:
        batch_id = connection.execute(
            select(cerf_batches.c.id).where(cerf_batches.c.quarter == "2024Q2")
        ).scalar_one()
    sign_in(client, "checker")
    assert (
        client.post(
            f"/cerf/{batch_id}/submit", data={"csrf_token": token_in(client.get("/cerf").text)}
        ).status_code
        == 403
    )
    csrf = sign_in(client, "officer")
    submitted = client.post(f"/cerf/{batch_id}/submit", data={"csrf_token": csrf})
    assert submitted.status_code == 303 and submitted.headers["location"].endswith("done=proposed")
    with engine.connect() as connection:
        proposal = connection.execute(select(pending_actions)).mappings().one()
    assert (proposal["kind"], proposal["entity_id"], proposal["maker"], proposal["status"]) == (
        "cerf_submit", str(batch_id), "officer", "pending",
    )  # fmt: skip
    html = client.get("/cerf?quarter=2024Q2").text
    assert 'id="submissions"' in html and 'id="submit-form"' not in html  # no second proposal offered
    assert client.post("/cerf/999/submit", data={"csrf_token": csrf}).status_code == 422

    sign_in(client, "auditor")  # reading is enough to download
    for name in ("disclosure", "verification"):
        download = client.get(f"/cerf/{batch_id}/{name}.xlsx")
        assert download.status_code == 200, download.text[:300]
        assert download.headers["content-type"] == XLSX
        assert download.content[:2] == b"PK" and len(download.content) > 1000
        assert "attachment" in download.headers["content-disposition"]
    assert client.get(f"/cerf/{batch_id}/other.xlsx").status_code == 404
    assert client.get("/cerf/999/disclosure.xlsx").status_code == 404
    import_files(engine, [DATA / "small_book.csv"], actor="tester")  # the book changed since the batch
    stale = client.get(f"/cerf/{batch_id}/disclosure.xlsx")
    assert stale.status_code == 409 and "重新生成批次" in stale.text
    assert client.get("/cerf?quarter=2024Q5").status_code == 422


# --- reports -------------------------------------------------------------------------------------


def test_reports_download_in_every_format(client: TestClient, engine: Engine) -> None:
    csrf = sign_in(client, "auditor")
    assert 'id="stats-form"' in client.get("/reports").text
    expected = {"xlsx": XLSX, "csv": "application/zip", "html": "text/html"}
    for fmt, kind in expected.items():
        response = client.post(
            "/reports/stats", data={"date": "2025-03-31", "format": fmt, "csrf_token": csrf}
        )
        assert response.status_code == 200, (fmt, response.text[:300])
        assert response.headers["content-type"].startswith(kind) and response.content, fmt
        assert "attachment" in response.headers["content-disposition"]
    archive = client.post("/reports/stats", data={"date": "2025-03-31", "format": "csv", "csrf_token": csrf})
    with zipfile.ZipFile(io.BytesIO(archive.content)) as opened:
        names = opened.namelist()
        assert names and all(n.endswith(".csv") for n in names)
    assert count(engine, report_snapshots) == 0  # the auditor reads: nothing is kept or written
    officer_csrf = sign_in(client, "officer")
    kept = client.post(
        "/reports/stats", data={"date": "2025-03-31", "format": "html", "csrf_token": officer_csrf}
    )
    assert kept.status_code == 200 and count(engine, report_snapshots) == 1  # one who makes reports keeps it
    csrf = sign_in(client, "auditor")
    expected = {"html": "text/html", "xlsx": XLSX}
    for fmt, kind in expected.items():
        response = client.post(
            "/reports/disclosure", data={"year": "2024", "format": fmt, "csrf_token": csrf}
        )
        assert response.status_code == 200, (fmt, response.text[:300])
        assert response.headers["content-type"].startswith(kind) and response.content, fmt
    bad = client.post("/reports/stats", data={"date": "2025-13-01", "format": "xlsx", "csrf_token": csrf})
    assert bad.status_code == 422 and "YYYY-MM-DD" in bad.text
    bad = client.post("/reports/disclosure", data={"year": "2024", "format": "doc", "csrf_token": csrf})
    assert bad.status_code == 422


def test_the_disclosure_downloads_as_pdf(client: TestClient) -> None:
    cjk_font_or_skip()
    csrf = sign_in(client, "auditor")
    response = client.post("/reports/disclosure", data={"year": "2024", "format": "pdf", "csrf_token": csrf})
    assert response.status_code == 200, response.text[:300]
    assert response.headers["content-type"].startswith("application/pdf")
    assert response.content.startswith(b"%PDF")


# --- audit ---------------------------------------------------------------------------------------


def test_the_audit_page_shows_records_pages_and_a_broken_chain(client: TestClient, engine: Engine) -> None:
    sign_in(client, "auditor")
    html = client.get("/audit").text
    assert 'id="chain-ok"' in html and "完整" in html
    rows = re.findall(r"<tr><td>(\d+)</td>", html)
    total = count(engine, audit_log)
    assert len(rows) == min(total, 50) and int(rows[0]) == total  # newest first
    assert "import" in html and "tester" in html
    with engine.begin() as connection:
        drop_append_only_triggers(connection)  # as an administrator could, before editing the log
        first = connection.execute(select(func.min(audit_log.c.id))).scalar_one()
        connection.execute(update(audit_log).where(audit_log.c.id == first).values(actor="someone-else"))
    html = client.get("/audit").text
    assert 'id="chain-broken"' in html and "记录被改动" in html and 'id="chain-ok"' not in html
    assert client.get("/audit?page=5").status_code == 422  # only the latest 200 records


def test_the_audit_page_pages_through_the_latest_200(client: TestClient, engine: Engine) -> None:
    with engine.begin() as connection:
        for i in range(220):
            audit.record(connection, actor="tester", action="note", entity="test", entity_id=str(i))
    sign_in(client, "auditor")
    first = client.get("/audit").text
    assert "页 1 / 4" in first and 'href="/audit?page=2"' in first
    last = client.get("/audit?page=4").text
    assert len(re.findall(r"<tr><td>(\d+)</td>", last)) == 50 and 'href="/audit?page=5"' not in last


# --- users ---------------------------------------------------------------------------------------


def test_an_admin_adds_a_user_who_can_then_sign_in(client: TestClient, engine: Engine) -> None:
    csrf = sign_in(client, "admin")
    html = client.get("/admin/users").text
    assert 'id="user-officer"' in html and "risk_manager" in html and 'value="collateral_officer"' in html
    form = {
        "username": "zhang",
        "display_name": "张三",
        "password": "long-enough-1",
        "roles": ["officer", "viewer"],
    }
    done = client.post("/admin/users", data={**form, "csrf_token": csrf})
    assert done.status_code == 303 and done.headers["location"] == "/admin/users?added=zhang"
    html = client.get(done.headers["location"]).text
    row = re.search(r'<tr id="user-zhang">.*?</tr>', html, re.S)
    assert row and "张三" in row.group(0) and "officer, viewer" in row.group(0) and "是" in row.group(0)
    with engine.connect() as connection:
        stored = connection.execute(select(users).where(users.c.username == "zhang")).mappings().one()
    assert stored["roles"] == ["officer", "viewer"] and stored["password_hash"].startswith("$argon2id$")
    again = client.post("/admin/users", data={**form, "csrf_token": csrf})
    assert again.status_code == 422 and "已存在" in again.text
    short = client.post(
        "/admin/users", data={**form, "username": "li", "password": "short", "csrf_token": csrf}
    )
    assert short.status_code == 422 and "至少 8 个字符" in short.text
    none = client.post(
        "/admin/users", data={"username": "wang", "password": "long-enough-1", "csrf_token": csrf}
    )
    assert none.status_code == 422 and "至少选择一个角色" in none.text
    assert count(engine, users) == len(ROLES) + 2
    client.cookies.clear()
    login = client.get("/login")
    signed = client.post(
        "/login", data={"username": "zhang", "password": "long-enough-1", "csrf_token": token_in(login.text)}
    )
    assert signed.status_code == 303


def audited(engine: Engine, action: str, entity_id: str) -> list[dict[str, object]]:
    with engine.connect() as connection:
        return [
            dict(r)
            for r in connection.execute(
                select(audit_log.c.actor, audit_log.c.detail).where(
                    audit_log.c.action == action, audit_log.c.entity_id == entity_id
                )
            ).mappings()
        ]


def test_an_admin_edits_roles_deactivates_reactivates_and_unlocks(client: TestClient, engine: Engine) -> None:
    csrf = sign_in(client, "admin")
    listing = client.get("/admin/users").text
    assert 'href="/admin/users/officer"' in listing and 'action="/admin/users/officer/active"' in listing
    assert 'action="/admin/users/admin/active"' not in listing  # no button to deactivate oneself
    page = client.get("/admin/users/officer").text
    assert 'id="roles-form"' in page and 'value="officer" checked' in page
    done = client.post(
        "/admin/users/officer/roles", data={"roles": ["officer", "viewer"], "csrf_token": csrf}
    )
    assert done.status_code == 303 and done.headers["location"] == "/admin/users?done=roles&user=officer"
    assert "已修改角色：officer" in client.get(done.headers["location"]).text
    assert audited(engine, "update_roles", "officer") == [
        {"actor": "admin", "detail": {"before": ["officer"], "after": ["officer", "viewer"]}}
    ]
    none = client.post("/admin/users/officer/roles", data={"csrf_token": csrf})
    assert none.status_code == 422 and "至少选择一个角色" in none.text
    bad = client.post("/admin/users/officer/roles", data={"roles": "root", "csrf_token": csrf})
    assert bad.status_code == 422 and "未知角色" in bad.text
    missing = client.post("/admin/users/ghost/roles", data={"roles": "viewer", "csrf_token": csrf})
    assert missing.status_code == 404
    # an admin keeps their own admin role and account
    own = client.post("/admin/users/admin/roles", data={"roles": "viewer", "csrf_token": csrf})
    assert own.status_code == 422 and "不能移除自己的管理员角色" in own.text
    self_off = client.post("/admin/users/admin/active", data={"active": "0", "csrf_token": csrf})
    assert self_off.status_code == 422 and "不能停用自己的账户" in self_off.text
    assert user_states(engine)[0] == ("admin", ["admin"], True, 0)
    # deactivated: cannot sign in; reactivated: can again
    off = client.post("/admin/users/checker/active", data={"active": "0", "csrf_token": csrf})
    assert off.status_code == 303 and "done=deactivated" in off.headers["location"]
    assert audited(engine, "deactivate", "checker")[0]["actor"] == "admin"
    client.cookies.clear()
    login = client.get("/login")
    refused = client.post(
        "/login", data={"username": "checker", "password": PASSWORD, "csrf_token": token_in(login.text)}
    )
    assert refused.status_code == 401
    csrf = sign_in(client, "admin")
    on = client.post("/admin/users/checker/active", data={"active": "1", "csrf_token": csrf})
    assert on.status_code == 303 and "done=reactivated" in on.headers["location"]
    assert audited(engine, "reactivate", "checker")[0]["actor"] == "admin"
    # five wrong passwords lock an account; the admin unlocks it before the 15 minutes are up
    client.cookies.clear()
    for _ in range(5):
        login = client.get("/login")
        client.post(
            "/login",
            data={"username": "auditor", "password": "wrong-one", "csrf_token": token_in(login.text)},
        )
    login = client.get("/login")
    locked = client.post(
        "/login", data={"username": "auditor", "password": PASSWORD, "csrf_token": token_in(login.text)}
    )
    assert locked.status_code == 423
    csrf = sign_in(client, "admin")
    row = re.search(r'<tr id="user-auditor">.*?</tr>', client.get("/admin/users").text, re.S)
    assert row and "锁定至" in row.group(0) and 'action="/admin/users/auditor/unlock"' in row.group(0)
    unlocked = client.post("/admin/users/auditor/unlock", data={"csrf_token": csrf})
    assert unlocked.status_code == 303 and "done=unlocked" in unlocked.headers["location"]
    assert audited(engine, "unlock", "auditor")[0]["actor"] == "admin"
    client.cookies.clear()
    sign_in(client, "auditor")  # signs in again at once
    # nobody but a user manager may do any of it
    csrf = sign_in(client, "auditor")
    for path, form in (("/admin/users/checker/roles", {"roles": "admin"}), ("/admin/users/checker/active", {"active": "0"}),
                       ("/admin/users/auditor/unlock", {})):  # fmt: skip
        denied = client.post(path, data={**form, "csrf_token": csrf})
        assert denied.status_code == 403 and "MANAGE_USER" in denied.text, path
    assert ("checker", ["checker"], True, 1) in user_states(engine)  # 1: the refused sign-in while off


def test_the_service_refuses_user_changes_by_a_non_admin(engine: Engine) -> None:
    from greenfin.service.users import PermissionDenied, set_active, set_roles, unlock

    add_user(engine, "boss", PASSWORD, ["admin"], actor="tester")
    add_user(engine, "clerk", PASSWORD, ["officer"], actor="tester")
    with pytest.raises(PermissionDenied):
        set_roles(engine, "clerk", ["admin"], actor="clerk")
    with pytest.raises(PermissionDenied):
        set_active(engine, "boss", False, actor="clerk")
    with pytest.raises(PermissionDenied):
        unlock(engine, "boss", actor="clerk")
    assert set_roles(engine, "clerk", ["viewer", "officer"], actor="boss") == ["officer", "viewer"]


# --- identification review queue ------------------------------------------------------------------


def test_the_review_queue_shows_undecided_labels_with_evidence_and_confirms(
    client: TestClient, engine: Engine
) -> None:
    # T-0001 made ambiguous by hand: a label that needs review is overridden, never confirmed as is
    with engine.begin() as connection:
        connection.execute(
            update(loan_labels)
            .where(loan_labels.c.loan_id == "T-0001")
            .values(status="needs_review", confidence=0.5)
        )
    csrf = sign_in(client, "officer")
    html = client.get("/review").text
    assert 'href="/review"' in html  # in the navigation
    assert re.findall(r'<tr id="review-([^"]+)">', html) == ["T-0001", "T-0002"]  # needs review first
    assert "待人工认定 2 笔" in html and "2,000.00" in html
    t2 = re.search(r'<tr id="review-T-0002">.*?</tr>', html, re.S)
    assert t2 and "绿色待确认" in t2.group(0) and "3.2.2.2" in t2.group(0)
    assert '<span class="chip">屋顶分布式光伏</span>' in t2.group(0)  # the evidence: matched phrases
    assert 'action="/review/T-0002/confirm"' in t2.group(0)
    assert 'href="/loans/T-0002#override-form"' in t2.group(0)
    t1 = re.search(r'<tr id="review-T-0001">.*?</tr>', html, re.S)
    assert t1 and "/confirm" not in t1.group(0) and "#override-form" in t1.group(0)
    only = client.get("/review", params={"kind": "unconfirmed_green"}).text
    assert re.findall(r'<tr id="review-([^"]+)">', only) == ["T-0002"]
    refused = client.post("/review/T-0001/confirm", data={"reason": "看过了", "csrf_token": csrf})
    assert refused.status_code == 422 and "需人工复核的结果不能直接确认" in refused.text
    blank = client.post("/review/T-0002/confirm", data={"reason": " ", "csrf_token": csrf})
    assert blank.status_code == 422 and "必须填写理由" in blank.text
    done = client.post(
        "/review/T-0002/confirm",
        data={"reason": "屋顶光伏，材料齐全", "kind": "", "page": "1", "csrf_token": csrf},
    )
    assert done.status_code == 303 and done.headers["location"] == "/review?kind=&page=1&confirmed=T-0002"
    after = client.get(done.headers["location"]).text
    assert "已确认系统识别结果：T-0002" in after and re.findall(r'<tr id="review-([^"]+)">', after) == [
        "T-0001"
    ]
    with engine.connect() as connection:
        decision = connection.execute(select(label_decisions)).mappings().one()
    assert (
        decision["loan_id"] == "T-0002" and decision["action"] == "confirm" and decision["actor"] == "officer"
    )
    assert audited(engine, "label_confirm", "T-0002")[0]["actor"] == "officer"
    # a checker sees the queue but has no confirm button and may not confirm
    csrf = sign_in(client, "checker")
    html = client.get("/review").text
    assert "T-0001" in html and "/confirm" not in html and "#override-form" not in html
    denied = client.post("/review/T-0001/confirm", data={"reason": "x", "csrf_token": csrf})
    assert denied.status_code == 403 and "CONFIRM_LABEL" in denied.text
    client.get("/lang/en")
    english = client.get("/review").text
    assert "<h1>Identification review queue</h1>" in english and "Needs review" in english


def test_the_review_confirm_posts_the_label_it_showed_and_a_changed_one_is_refused(
    client: TestClient, engine: Engine
) -> None:
    """The form carries the run, status and item it showed; when labelling ran again (or the
    label changed) after the page loaded, Confirm is refused (409) and nothing is decided."""
    csrf = sign_in(client, "officer")
    row = re.search(r'<tr id="review-T-0002">.*?</tr>', client.get("/review").text, re.S)
    assert row
    shown = dict(
        re.findall(r'<input type="hidden" name="(run_id|status|item_code)" value="([^"]*)">', row.group(0))
    )
    assert shown["status"] == "green" and shown["item_code"] == "3.2.2.2" and int(shown["run_id"]) >= 1
    label_book(engine, actor="tester")  # labelling runs again while the page is open
    late = client.post("/review/T-0002/confirm", data={"reason": "核实无误", "csrf_token": csrf, **shown})
    assert late.status_code == 409 and "系统识别结果已更新" in late.text and 'id="refused"' in late.text
    assert count(engine, label_decisions) == 0
    row = re.search(r'<tr id="review-T-0002">.*?</tr>', late.text, re.S)  # the page shows the new label
    assert row
    fresh = dict(
        re.findall(r'<input type="hidden" name="(run_id|status|item_code)" value="([^"]*)">', row.group(0))
    )
    assert int(fresh["run_id"]) > int(shown["run_id"])
    with engine.begin() as connection:  # same run, another item: refused too
        connection.execute(
            update(loan_labels)
            .where(loan_labels.c.loan_id == "T-0002", loan_labels.c.run_id == int(fresh["run_id"]))
            .values(item_code="3.2.2.1")
        )
    client.get("/lang/en")
    changed = client.post("/review/T-0002/confirm", data={"reason": "ok", "csrf_token": csrf, **fresh})
    assert changed.status_code == 409 and "reload it and check" in changed.text
    fresh["item_code"] = "3.2.2.1"
    done = client.post("/review/T-0002/confirm", data={"reason": "ok", "csrf_token": csrf, **fresh})
    assert done.status_code == 303
    with engine.connect() as connection:
        decision = connection.execute(select(label_decisions)).mappings().one()
    assert decision["item_code"] == "3.2.2.1" and decision["run_id"] == int(fresh["run_id"])
