"""The web pages on both backends: sign-in, every guarded page × role, CSRF, maker-checker through
the forms, the import's row-level errors, search and paging, both languages."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from greenfin.api.app import create_app
from greenfin.reference.factors import DEFAULT_POLICY
from greenfin.service.green_book import green_book
from greenfin.service.identification import label_book
from greenfin.service.importing import import_files
from greenfin.service.permissions import PERMISSIONS
from greenfin.service.users import add_user
from greenfin.store.schema import label_decisions, pending_actions
from greenfin.web import i18n
from greenfin.web.pages import TEMPLATES, router
from tests.conftest import DATA, apply_cea_pledge, guarded_routes, snapshot

ROLES = ("officer", "checker", "auditor")
PASSWORD = "correct-horse-battery"
TOKEN = re.compile(r'name="csrf_token" value="([^"]*)"')


@pytest.fixture
def app(engine: Engine, store_url: str) -> Iterator[FastAPI]:
    import_files(engine, [DATA / "small_book.csv"], actor="tester")
    label_book(engine, actor="tester")
    for role in ROLES:
        add_user(engine, role, PASSWORD, [role], actor="admin")
    add_user(engine, "both", PASSWORD, ["officer", "checker"], actor="admin")
    application = create_app(store_url, secret=b"w" * 32)
    yield application
    application.state.engine.dispose()


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, follow_redirects=False) as test_client:
        yield test_client


def token_in(html: str) -> str:
    found = TOKEN.search(html)
    assert found, "the page carries no csrf_token field"
    return found.group(1)


def sign_in(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Sign in through the form; return the session's CSRF token as the pages carry it."""
    form = client.get("/login")
    response = client.post(
        "/login", data={"username": username, "password": password, "csrf_token": token_in(form.text)}
    )
    assert response.status_code == 303, response.text
    return token_in(client.get("/loans").text)


def bad_book(folder: Path) -> Path:
    """The small book with a wrong GB 32100 check character in the second loan's credit code."""
    text = (DATA / "small_book.csv").read_text(encoding="utf-8")
    assert "9144030071526726XG" in text
    path = folder / "bad.csv"
    path.write_text(text.replace("9144030071526726XG", "9144030071526726XA"), encoding="utf-8")
    return path


# --- signing in ----------------------------------------------------------------------------------

PAGES = ("/", "/loans", "/loans/T-0002", "/approvals", "/import")


def test_pages_send_a_visitor_without_a_session_to_sign_in(client: TestClient) -> None:
    for path in PAGES:
        response = client.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/login"), path
    location = urlsplit(client.get("/loans?q=光伏").headers["location"])
    assert location.path == "/login" and parse_qs(location.query)["next"] == ["/loans?q=%E5%85%89%E4%BC%8F"]
    for path in ("/loans/T-0002/override", "/approvals/1/approve", "/import", "/logout"):
        response = client.post(path, data={"csrf_token": "x"})
        assert response.status_code == 303 and response.headers["location"].startswith("/login"), path
    assert client.get("/login").status_code == 200


def test_signing_in_goes_back_where_asked_but_never_off_the_site(client: TestClient) -> None:
    form = client.get("/login?next=/loans")
    assert 'name="next" value="/loans"' in form.text
    done = client.post(
        "/login",
        data={
            "username": "auditor",
            "password": PASSWORD,
            "csrf_token": token_in(form.text),
            "next": "/loans",
        },
    )
    assert done.status_code == 303 and done.headers["location"] == "/loans"
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        form = client.get("/login")
        done = client.post(
            "/login",
            data={
                "username": "auditor",
                "password": PASSWORD,
                "csrf_token": token_in(form.text),
                "next": target,
            },
        )
        assert done.headers["location"] == "/", target


def test_a_wrong_password_is_refused_and_five_lock_the_account(client: TestClient) -> None:
    for attempt in range(5):
        form = client.get("/login")
        refused = client.post(
            "/login", data={"username": "checker", "password": "wrong-one", "csrf_token": token_in(form.text)}
        )
        assert refused.status_code == (423 if attempt == 4 else 401), attempt
        assert "greenfin_session" not in refused.cookies
        if attempt == 0:
            assert "用户名或密码错误" in refused.text
    assert "锁定" in refused.text
    form = client.get("/login")
    locked = client.post(
        "/login", data={"username": "checker", "password": PASSWORD, "csrf_token": token_in(form.text)}
    )
    assert locked.status_code == 423
    assert "锁定" in locked.text and "greenfin_session" not in locked.cookies


def test_the_sign_in_form_needs_its_own_token(client: TestClient) -> None:
    client.get("/login")
    refused = client.post("/login", data={"username": "officer", "password": PASSWORD})
    assert refused.status_code == 403 and "greenfin_session" not in refused.cookies
    refused = client.post(
        "/login", data={"username": "officer", "password": PASSWORD, "csrf_token": "forged"}
    )
    assert refused.status_code == 403


def test_signing_out_ends_the_session(client: TestClient) -> None:
    csrf = sign_in(client, "officer")
    assert client.post("/logout").status_code == 403  # no token: another site cannot sign you out
    done = client.post("/logout", data={"csrf_token": csrf})
    assert done.status_code == 303 and done.headers["location"] == "/login"
    assert client.get("/").status_code == 303


# --- every guarded page × every role --------------------------------------------------------------


#: A request each guarded page takes: path parameters and form fields (POST /import uploads the book).
SAMPLES: dict[str, tuple[dict[str, Any], dict[str, str] | None]] = {
    "/": ({}, None),
    "/loans": ({}, None),
    "/loans/{loan_id}": ({"loan_id": "T-0002"}, None),
    "/loans/{loan_id}/override": ({"loan_id": "T-0002"}, {"choice": "not_green", "reason": "复核"}),
    "/approvals": ({}, None),
    "/approvals/{action_id}/approve": ({"action_id": 999}, {"note": ""}),
    "/approvals/{action_id}/reject": ({"action_id": 999}, {"note": "x"}),
    "/import": ({}, None),
    "/import/stream": ({}, None),
}


@pytest.mark.parametrize("role", ROLES)
def test_every_page_allows_exactly_the_roles_holding_its_permission(client: TestClient, role: str) -> None:
    routes = guarded_routes(router)
    assert {route.path for route, _ in routes} == set(SAMPLES)  # every guarded page has a sample
    csrf = sign_in(client, role)
    for route, permission in routes:
        params, form = SAMPLES[route.path]
        url = route.path.format(**params)
        for method in sorted(route.methods or ()):
            if method == "POST" and route.path in ("/import", "/import/stream"):
                with (DATA / "small_book.csv").open("rb") as book:
                    response = client.post(
                        url, data={"csrf_token": csrf}, files={"files": ("small_book.csv", book, "text/csv")}
                    )
            elif method == "POST":
                response = client.post(url, data={**(form or {}), "csrf_token": csrf})
            else:
                response = client.get(url)
            allowed = permission in PERMISSIONS[role]
            if allowed:
                assert response.status_code not in (401, 403), (role, method, url, response.text[:300])
                assert not response.headers.get("location", "").startswith("/login"), (role, method, url)
            else:
                assert response.status_code == 403, (role, method, url, response.status_code)
                assert permission in response.text  # the page says which permission is missing


def test_a_refusal_is_a_page_with_security_headers(client: TestClient) -> None:
    sign_in(client, "auditor")
    refused = client.get("/import")
    assert refused.status_code == 403 and refused.headers["content-type"].startswith("text/html")
    assert "无权限" in refused.text and "IMPORT_LOAN" in refused.text
    page = client.get("/loans")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"


# --- CSRF ----------------------------------------------------------------------------------------


def test_changes_without_the_csrf_token_are_refused(
    client: TestClient, engine: Engine, tmp_path: Path
) -> None:
    sign_in(client, "officer")
    override = {"choice": "not_green", "reason": "无令牌"}
    assert client.post("/loans/T-0002/override", data=override).status_code == 403
    assert client.post("/loans/T-0002/override", data={**override, "csrf_token": "wrong"}).status_code == 403
    with (DATA / "small_book.csv").open("rb") as book:
        upload = client.post("/import", files={"files": ("small_book.csv", book, "text/csv")})
    assert upload.status_code == 403
    with (DATA / "small_book.csv").open("rb") as book:
        streamed = client.post("/import/stream", files={"files": ("small_book.csv", book, "text/csv")})
    assert streamed.status_code == 403
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(pending_actions)).scalar() == 0
    csrf = sign_in(client, "officer")
    assert client.post("/loans/T-0002/override", data={**override, "csrf_token": csrf}).status_code == 303
    sign_in(client, "checker")
    assert client.post("/approvals/1/approve", data={"note": ""}).status_code == 403
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(label_decisions)).scalar() == 0


# --- dashboard -----------------------------------------------------------------------------------


def test_the_dashboard_shows_balances_counts_benefits_and_charts(client: TestClient, engine: Engine) -> None:
    sign_in(client, "auditor")
    page = client.get("/?year=2025")
    assert page.status_code == 200
    html = page.text
    assert 'id="chart-level1"' in html and 'id="chart-counts"' in html
    assert '<script src="/static/vendor/echarts/echarts.min.js"' in html
    assert not re.search(r'(src|href)="(https?:)?//', html)  # nothing from another site
    assert '2,000.00 <span class="unit">万元</span>' in html  # T-0002, the one green loan
    book = [loan for loan in green_book(engine, DEFAULT_POLICY, 2025) if loan.green]
    co2 = sum(loan.co2_reduced_t or 0.0 for loan in book)
    coal = sum(loan.coal_saved_tce or 0.0 for loan in book)
    assert f'{co2:,.2f} <span class="unit">tCO2e/年</span>' in html
    assert f'{coal:,.2f} <span class="unit">tce/年</span>' in html
    assert "绿色：1 笔" in html and "非绿色：2 笔" in html
    data = json.loads(
        html.split('<script type="application/json" id="chart-data">', 1)[1].split("</script>")[0]
    )
    assert data["level1"]["names"] == ["3 清洁能源产业"] and data["level1"]["values"] == [2000.0]
    assert {s["status"]: s["value"] for s in data["counts"]["slices"]} == {
        "green": 1, "not_green": 2, "needs_review": 0
    }  # fmt: skip
    assert "尚无押品重估" in html
    assert 'id="chart-benefits"' in html and 'id="chart-cerf"' in html and 'id="chart-alerts"' in html
    assert data["benefits"]["values"] == [round(co2, 2), round(coal, 2)]
    assert data["benefits"]["names"][0] == "减排二氧化碳当量 (tCO2e/年)"
    assert data["cerf"]["quarters"] == [] and data["cerf"]["labels"]["cerf_facility"] == "再贷款金额"
    assert data["alerts"]["days"] == [] and data["alerts"]["labels"]["kind_warning"] == "预警"
    # the alerts chart counts pledges, not loans: its axis and tooltip say so
    assert (
        data["alerts"]["labels"]["pledges_unit"] == "笔质押" and "loans_unit" not in data["alerts"]["labels"]
    )
    assert "a.labels.pledges_unit" in client.get("/static/dashboard.js").text
    assert client.get("/static/vendor/echarts/echarts.min.js").status_code == 200
    assert client.get("/static/dashboard.js").headers["content-type"].startswith("text/javascript")


# --- loans ---------------------------------------------------------------------------------------


def loan_ids(html: str) -> list[str]:
    return re.findall(r'<td><a href="/loans/([^"]+)">', html)


def test_loans_search_filter_sort_and_page(client: TestClient) -> None:
    sign_in(client, "checker")
    everything = client.get("/loans").text
    assert loan_ids(everything) == ["T-0001", "T-0002", "T-0003"]
    assert "贷款余额（万元）" in everything and "1,000.00" in everything and "800.50" in everything
    assert loan_ids(client.get("/loans", params={"q": "腾讯"}).text) == ["T-0002"]
    assert loan_ids(client.get("/loans", params={"q": "T-000"}).text) == ["T-0001", "T-0002", "T-0003"]
    assert loan_ids(client.get("/loans", params={"q": "100%_"}).text) == []  # LIKE wildcards are literal
    assert loan_ids(client.get("/loans", params={"status": "green"}).text) == ["T-0002"]
    assert loan_ids(client.get("/loans", params={"status": "not_green"}).text) == ["T-0001", "T-0003"]
    assert loan_ids(client.get("/loans", params={"status": "needs_review"}).text) == []
    assert loan_ids(client.get("/loans", params={"sort": "-loan_id"}).text) == ["T-0003", "T-0002", "T-0001"]
    second = client.get("/loans", params={"size": 1, "page": 2}).text
    assert loan_ids(second) == ["T-0002"] and "2 / 3" in second
    assert 'rel="prev"' in second and 'rel="next"' in second
    assert client.get("/loans", params={"size": 1000}).status_code == 422


def test_loans_sort_by_a_column_and_the_headers_keep_the_filters(client: TestClient) -> None:
    sign_in(client, "checker")
    # balances in tests/data/small_book.csv: T-0001 800.50, T-0002 2,000.00, T-0003 300.00 万元
    assert loan_ids(client.get("/loans", params={"sort": "balance"}).text) == ["T-0003", "T-0001", "T-0002"]
    assert loan_ids(client.get("/loans", params={"sort": "-balance"}).text) == ["T-0002", "T-0001", "T-0003"]
    by_status = loan_ids(client.get("/loans", params={"sort": "-status"}).text)
    assert by_status[-1] == "T-0002" and sorted(by_status[:2]) == ["T-0001", "T-0003"]  # not_green > green
    assert loan_ids(client.get("/loans", params={"sort": "-balance", "status": "not_green"}).text) == [
        "T-0001", "T-0003"
    ]  # fmt: skip
    dated = client.get("/loans", params={"sort": "start_date"}).text
    assert len(loan_ids(dated)) == 3 and 'aria-sort="ascending"' in dated
    unknown = client.get("/loans", params={"sort": "password_hash"})  # not a column: the default order
    assert unknown.status_code == 200 and loan_ids(unknown.text) == ["T-0001", "T-0002", "T-0003"]
    page = client.get(
        "/loans", params={"q": "T-000", "status": "not_green", "size": 1, "page": 2, "sort": "balance"}
    )
    html = page.text.replace("&amp;", "&")
    assert loan_ids(page.text) == ["T-0001"]
    # the balance header, sorted already, flips the direction; the others sort ascending; both keep
    # the search, the filter, the page size and the page
    assert 'href="/loans?q=T-000&status=not_green&size=1&sort=-balance&page=2"' in html
    assert 'href="/loans?q=T-000&status=not_green&size=1&sort=start_date&page=2"' in html
    assert "贷款余额（万元） ▲" in page.text


def test_a_loan_shows_the_evidence_the_benefits_and_their_factor_trail(client: TestClient) -> None:
    sign_in(client, "auditor")
    html = client.get("/loans/T-0002").text
    assert "3.2.2.2" in html and "太阳能利用设施建设和运营" in html
    assert '<span class="chip">屋顶分布式光伏</span>' in html  # a matched phrase
    assert 'id="criteria"' in html and "多晶硅电池光电转换效率不低于19%" in html
    assert "clean_energy" in html  # the CERF area
    assert "尚无人工认定" in html
    assert 'id="factor-trail"' in html and "grid_co2_average:广东:" in html
    assert "监管口径" in html  # the attribution rule
    assert "无质押" in html
    assert "override-form" not in html  # an auditor cannot propose
    assert "暂无效益测算" in client.get("/loans/T-0001").text
    missing = client.get("/loans/NOPE")
    assert missing.status_code == 404 and "NOPE" in missing.text


# --- maker-checker through the forms ---------------------------------------------------------------


def test_an_override_waits_for_a_checker_then_shows_as_the_decision(
    client: TestClient, engine: Engine
) -> None:
    csrf = sign_in(client, "officer")
    form = {"choice": "not_green", "reason": "实为自用，不属对外供电", "csrf_token": csrf}
    proposed = client.post("/loans/T-0002/override", data=form)
    assert proposed.status_code == 303
    assert re.fullmatch(r"/loans/T-0002\?proposed=\d+", proposed.headers["location"])
    page = client.get(proposed.headers["location"]).text
    assert "已提交，待复核" in page and 'id="waiting"' in page and "实为自用" in page
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(label_decisions)).scalar() == 0
    action = int(proposed.headers["location"].rsplit("=", 1)[1])
    listing = client.get("/approvals").text
    assert f'id="approval-{action}"' in listing and "/approve" not in listing  # an officer has no buttons
    assert client.post(f"/approvals/{action}/approve", data={"csrf_token": csrf}).status_code == 403

    csrf = sign_in(client, "checker")
    assert f'action="/approvals/{action}/approve"' in client.get("/approvals").text
    done = client.post(f"/approvals/{action}/approve", data={"note": "同意", "csrf_token": csrf})
    assert done.status_code == 303 and done.headers["location"] == f"/approvals?done=approved&id={action}"
    after = client.get(done.headers["location"]).text
    assert "已批准" in after and f'id="approval-{action}"' not in after
    loan = client.get("/loans/T-0002").text
    decision = loan.split('id="officer-decision"', 1)[1]
    assert "非绿色" in decision and '<dd id="decision-actor">checker</dd>' in decision
    assert "实为自用" in decision and 'id="waiting"' not in loan
    again = client.post(f"/approvals/{action}/approve", data={"csrf_token": csrf})
    assert again.status_code == 409 and "已批准" in again.text


def test_a_proposal_needs_a_reason_and_a_change(client: TestClient) -> None:
    csrf = sign_in(client, "officer")
    refused = client.post(
        "/loans/T-0001/override", data={"choice": "not_green", "reason": " ", "csrf_token": csrf}
    )
    assert refused.status_code == 422 and "改判须写明理由" in refused.text
    refused = client.post(
        "/loans/T-0001/override", data={"choice": "item", "reason": "x", "csrf_token": csrf}
    )
    assert refused.status_code == 422 and "目录条目" in refused.text
    assert (
        client.post(
            "/loans/NOPE/override", data={"choice": "not_green", "reason": "x", "csrf_token": csrf}
        ).status_code
        == 404
    )


def test_the_maker_cannot_approve_their_own_proposal(client: TestClient, engine: Engine) -> None:
    csrf = sign_in(client, "both")  # holds OVERRIDE_LABEL and APPROVE_LABEL
    proposed = client.post(
        "/loans/T-0001/override",
        data={"choice": "item", "item_code": "3.2.2.2", "reason": "x", "csrf_token": csrf},
    )
    action = int(proposed.headers["location"].rsplit("=", 1)[1])
    refused = client.post(f"/approvals/{action}/approve", data={"csrf_token": csrf})
    assert refused.status_code == 409
    assert "复核人不能是提出人" in refused.text and f'id="approval-{action}"' in refused.text
    client.get("/lang/en")
    refused = client.post(f"/approvals/{action}/approve", data={"csrf_token": csrf})
    assert "the checker cannot be the maker" in refused.text
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(label_decisions)).scalar() == 0


def test_the_page_asks_for_the_permission_of_each_kind_of_proposal(
    client: TestClient, engine: Engine
) -> None:
    """A collateral manager (RELEASE_PLEDGE, not APPROVE_LABEL) decides releases, not labels: the
    same rule as the API, because both ask the service."""
    from greenfin.service import approvals, collateral

    add_user(engine, "vault", PASSWORD, ["collateral_manager"], actor="admin")
    apply_cea_pledge(engine, actor="officer")
    collateral.register_pledge(engine, "P1", "CEA-ZY-1", actor="officer")
    pledge = approvals.propose(engine, "pledge_release", "P1", {"reason": "贷款结清"}, maker="officer")
    label = approvals.propose(
        engine, "label_override", "T-0002", {"not_green": True, "reason": "自用"}, maker="officer"
    )
    csrf = sign_in(client, "vault")
    listing = client.get("/approvals").text
    assert f'action="/approvals/{pledge}/approve"' in listing
    assert f'action="/approvals/{label}/approve"' not in listing and f'id="approval-{label}"' in listing
    refused = client.post(f"/approvals/{label}/approve", data={"csrf_token": csrf})
    assert refused.status_code == 403 and "APPROVE_LABEL" in refused.text
    assert client.post("/approvals/999/approve", data={"csrf_token": csrf}).status_code == 404
    done = client.post(f"/approvals/{pledge}/approve", data={"note": "已核结清", "csrf_token": csrf})
    assert done.status_code == 303
    assert [row["id"] for row in approvals.pending(engine)] == [label]


def test_a_checker_can_reject(client: TestClient) -> None:
    csrf = sign_in(client, "officer")
    proposed = client.post(
        "/loans/T-0001/override", data={"choice": "not_green", "reason": "x", "csrf_token": csrf}
    )
    action = int(proposed.headers["location"].rsplit("=", 1)[1])
    csrf = sign_in(client, "checker")
    done = client.post(f"/approvals/{action}/reject", data={"note": "依据不足", "csrf_token": csrf})
    assert done.headers["location"] == f"/approvals?done=rejected&id={action}"
    assert "已退回" in client.get(done.headers["location"]).text
    assert "尚无人工认定" in client.get("/loans/T-0001").text


# --- import --------------------------------------------------------------------------------------


def upload(client: TestClient, csrf: str, *paths: Path) -> httpx.Response:
    handles = [path.open("rb") for path in paths]
    try:
        files = [
            ("files", (path.name, handle, "text/csv")) for path, handle in zip(paths, handles, strict=True)
        ]
        response: httpx.Response = client.post("/import", data={"csrf_token": csrf}, files=files)
        return response
    finally:
        for handle in handles:
            handle.close()


def test_an_import_shows_its_counts(client: TestClient) -> None:
    csrf = sign_in(client, "officer")
    page = client.get("/import").text
    assert 'enctype="multipart/form-data"' in page
    done = upload(client, csrf, DATA / "small_book.csv")
    assert done.status_code == 200
    counts = done.text.split('id="import-counts"', 1)[1]
    assert "导入完成" in done.text and "small_book.csv" in done.text
    assert re.search(
        r"<td>贷款</td><td class=\"num\">0</td><td class=\"num\">0</td><td class=\"num\">3</td>", counts
    )


def test_a_rejected_import_lists_every_problem_by_row_and_changes_nothing(
    client: TestClient, engine: Engine, tmp_path: Path
) -> None:
    csrf = sign_in(client, "officer")
    before = snapshot(engine)
    rejected = upload(client, csrf, bad_book(tmp_path))
    assert rejected.status_code == 422
    assert "导入被拒绝，未做任何修改" in rejected.text
    rows = re.findall(
        r"<tr><td>(.*?)</td><td class=\"num\">(.*?)</td><td>(.*?)</td><td class=\"clip\">(.*?)</td><td>(.*?)</td></tr>",
        rejected.text,
    )
    assert ("bad.csv", "3", "统一社会信用代码", "9144030071526726XA") in [r[:4] for r in rows]
    assert any("GB 32100-2015" in r[4] for r in rows)
    assert snapshot(engine) == before
    empty = client.post(
        "/import", data={"csrf_token": csrf}, files={"files": ("", b"", "application/octet-stream")}
    )
    assert empty.status_code == 422


def stream(client: TestClient, csrf: str, path: Path) -> tuple[int, list[dict[str, Any]]]:
    """POST /import/stream as the page's script does; the JSON lines it answers."""
    with path.open("rb") as handle:
        response = client.post(
            "/import/stream", data={"csrf_token": csrf}, files={"files": (path.name, handle, "text/csv")}
        )
    assert response.headers["content-type"].startswith("application/x-ndjson")
    return response.status_code, [json.loads(line) for line in response.text.splitlines()]


def test_a_streamed_import_sends_progress_then_the_counts(client: TestClient) -> None:
    csrf = sign_in(client, "officer")
    page = client.get("/import").text
    assert 'data-stream="/import/stream"' in page and '<script src="/static/import.js" defer>' in page
    status, lines = stream(client, csrf, DATA / "small_book.csv")
    assert status == 200
    kinds = [line["event"] for line in lines]
    assert kinds[0] == "start" and kinds[-1] == "done" and "progress" in kinds
    assert lines[0]["files"] == ["small_book.csv"] and lines[0]["total"] > 0
    last_progress = [line for line in lines if line["event"] == "progress"][-1]
    assert last_progress["rows"] == 3 and last_progress["bytes"] <= last_progress["total"]
    done = lines[-1]
    assert done["rows"] == 3 and 'id="import-counts"' in done["html"] and "导入完成" in done["html"]
    assert client.get("/static/import.js").headers["content-type"].startswith("text/javascript")


def test_a_streamed_import_ends_with_the_error_table_and_changes_nothing(
    client: TestClient, engine: Engine, tmp_path: Path
) -> None:
    csrf = sign_in(client, "officer")
    client.get("/lang/en")
    before = snapshot(engine)
    status, lines = stream(client, csrf, bad_book(tmp_path))
    assert status == 200 and lines[-1]["event"] == "rejected" and lines[-1]["problems"] >= 1
    html = lines[-1]["html"]
    assert 'id="issues"' in html and "<td>bad.csv</td>" in html and "9144030071526726XA" in html
    assert "Import rejected" in html  # the user's language
    assert snapshot(engine) == before
    empty = client.post(
        "/import/stream", data={"csrf_token": csrf}, files={"files": ("", b"", "application/octet-stream")}
    )
    assert empty.status_code == 422
    sign_in(client, "auditor")
    with (DATA / "small_book.csv").open("rb") as book:
        refused = client.post(
            "/import/stream", data={"csrf_token": token_in(client.get("/").text)},
            files={"files": ("small_book.csv", book, "text/csv")},
        )  # fmt: skip
    assert refused.status_code == 403 and "IMPORT_LOAN" in refused.text


# --- languages, static files -----------------------------------------------------------------------


def test_english_by_switch_and_chinese_by_default(client: TestClient) -> None:
    sign_in(client, "auditor")
    assert "<h1>仪表盘</h1>" in client.get("/").text
    switched = client.get("/lang/en?next=/loans")
    assert switched.status_code == 303 and switched.headers["location"] == "/loans"
    english = client.get("/").text
    assert '<html lang="en">' in english and "<h1>Dashboard</h1>" in english
    assert "Green loan balance by catalogue level 1" in english
    assert "<h1>Loan book</h1>" in client.get("/loans").text
    assert client.get("/lang/zh?next=https://evil.example/").headers["location"] == "/"
    assert "<h1>仪表盘</h1>" in client.get("/").text
    assert client.get("/lang/fr").status_code == 404


def test_every_label_the_templates_use_exists_in_both_languages() -> None:
    for key, (zh, en) in i18n.MESSAGES.items():
        assert zh.strip() and en.strip(), key
    used = set()
    for template in TEMPLATES.glob("*.html"):
        used |= set(re.findall(r"\bt\('([a-z0-9_]+)'\)", template.read_text(encoding="utf-8")))
    dynamic = {f"status_{s}" for s in ("green", "not_green", "needs_review", "none")}
    dynamic |= {f"kind_{k}" for k in ("warning", "liquidation", "recovered", "label_override")}
    dynamic |= {f"outcome_{o}" for o in ("passed", "failed", "unknown")} | {
        "action_confirm",
        "action_override",
    }
    dynamic |= {"approved", "rejected", "table_loans", "table_borrowers", "table_projects"}
    assert not (used | dynamic) - set(i18n.MESSAGES)
    assert i18n.pick("中文 / English", "en") == "English" and i18n.pick("只有中文", "en") == "只有中文"


def test_static_files_are_served_from_the_package_only(client: TestClient) -> None:
    assert client.get("/static/app.css").headers["content-type"].startswith("text/css")
    assert client.get("/static/%2e%2e/pages.py").status_code == 404
    assert client.get("/static/..%2fpages.py").status_code == 404
    assert client.get("/static/vendor/echarts/nothing.js").status_code == 404


def test_imports_take_turns_a_full_queue_is_refused_and_a_waiting_one_is_told(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One import runs at a time per process: a second waits and its first line after the start
    says "queued, 1 ahead"; beyond the queue a request is refused at once (503, Retry-After)."""
    import threading

    from greenfin.web import pages

    monkeypatch.setattr(pages, "IMPORTS", pages.ImportQueue(waiting=1))
    running, release = threading.Event(), threading.Event()
    real = pages.import_files

    def held(*args: Any, **kwargs: Any) -> Any:
        running.set()
        assert release.wait(60)
        return real(*args, **kwargs)

    monkeypatch.setattr(pages, "import_files", held)
    csrf = sign_in(client, "officer")
    answers: dict[str, list[dict[str, Any]]] = {}

    def post(name: str) -> None:
        answers[name] = stream(client, csrf, DATA / "small_book.csv")[1]

    first = threading.Thread(target=post, args=("first",))
    first.start()
    assert running.wait(30)
    second = threading.Thread(target=post, args=("second",))
    second.start()
    for _ in range(300):  # until the second has taken its place in the queue
        if pages.IMPORTS._pending == 2:
            break
        threading.Event().wait(0.05)
    assert pages.IMPORTS._pending == 2
    with (DATA / "small_book.csv").open("rb") as book:
        refused = client.post(
            "/import/stream", data={"csrf_token": csrf}, files={"files": ("small_book.csv", book, "text/csv")}
        )
    assert refused.status_code == 503 and refused.headers["retry-after"] == str(pages.IMPORT_RETRY_AFTER)
    assert json.loads(refused.text)["message"].startswith("导入繁忙")
    with (DATA / "small_book.csv").open("rb") as book:
        plain = client.post(
            "/import", data={"csrf_token": csrf}, files={"files": ("small_book.csv", book, "text/csv")}
        )
    assert plain.status_code == 503 and "导入繁忙" in plain.text and plain.headers["retry-after"]
    release.set()
    first.join(60)
    second.join(60)
    assert [line["event"] for line in answers["first"]][-1] == "done"
    assert "queued" not in [line["event"] for line in answers["first"]]
    kinds = [line["event"] for line in answers["second"]]
    assert kinds[:2] == ["start", "queued"] and kinds[-1] == "done"
    assert answers["second"][1]["ahead"] == 1
    assert answers["second"][1]["message"] == "导入排队中：前面还有 1 个导入，轮到时自动开始"
    assert pages.IMPORTS._pending == 0
    with (DATA / "small_book.csv").open("rb") as book:  # the queue is free again: the plain form works
        again = client.post(
            "/import", data={"csrf_token": csrf}, files={"files": ("small_book.csv", book, "text/csv")}
        )
    assert again.status_code == 200 and "导入完成" in again.text


def test_an_unexpected_import_error_sends_a_fixed_message_and_logs_the_details(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A database error's text names SQL and values: it goes to the log, never to the browser."""
    from sqlalchemy.exc import OperationalError

    from greenfin.web import pages

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise OperationalError(
            "INSERT INTO loans (loan_id) VALUES (?)", ("SECRET-1",), Exception("disk I/O error")
        )

    monkeypatch.setattr(pages, "import_files", broken)
    csrf = sign_in(client, "officer")
    with caplog.at_level("ERROR", logger="greenfin.web"):
        status, lines = stream(client, csrf, DATA / "small_book.csv")
    assert status == 200 and lines[-1] == {"event": "error", "message": i18n.translate("import_error", "zh")}
    assert not any(
        word in json.dumps(lines, ensure_ascii=False) for word in ("INSERT", "SECRET-1", "disk I/O")
    )
    assert any("SECRET-1" in (record.exc_text or "") or record.exc_info for record in caplog.records)
    client.get("/lang/en")
    assert stream(client, csrf, DATA / "small_book.csv")[1][-1]["message"].startswith("The import failed")
