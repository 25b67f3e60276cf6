"""REST API v1, continued (api/v1_more.py), on both backends: prices, pledges and valuations, CERF
batches, stored reports.  Every route: a role holding its permission gets a 2xx, a role without it
403, no sign-in 401; the auditor is refused every write; creating POSTs replay an Idempotency-Key."""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from greenfin.api import v1_more
from greenfin.api.app import create_app
from greenfin.service import collateral, reports
from greenfin.service.cerf import run_batch
from greenfin.service.identification import label_book
from greenfin.service.importing import import_files
from greenfin.service.permissions import PERMISSIONS
from greenfin.service.users import add_user
from greenfin.store.schema import audit_log, pledges, report_snapshots
from tests.conftest import DATA, apply_cea_pledge, guarded_routes, snapshot

PASSWORD = "correct-horse-battery"
ROLES = ("officer", "checker", "risk_manager", "auditor", "admin", "viewer", "collateral_officer")
HEADER = "date,subject,open,high,low,close,totalVolume\n"
FIRST_DAY = dt.date(2025, 1, 1)
NEW_LOAN = (
    "贷款编号,借款人名称,统一社会信用代码,行业代码,行政区划代码,贷款金额（万元）,贷款余额（万元）,发放日期,到期日期\n"
    "N-1,某公司,91330100799655058B,C3011,330106,100,100,2025-01-01,2026-01-01\n"
)


def price_csv(days: int = 120, first: dt.date = FIRST_DAY) -> str:
    """CEA closes near 60 元 falling to 50 over the last 25 days, every calendar day."""
    closes = 60 * np.exp(np.random.default_rng(3).normal(0, 0.004, days))
    if days > 25:
        closes[-25:] = np.linspace(closes[-26], 50, 25)
    else:  # a continuation: after the fall
        closes = closes * 50 / 60
    lines = [
        f"{first + dt.timedelta(days=i)},CEA,{c:.2f},{c + 1:.2f},{c - 1:.2f},{c:.2f},500000"
        for i, c in enumerate(closes)
    ]
    return HEADER + "\n".join(lines) + "\n"


def count(engine: Engine, table: Any) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


@pytest.fixture
def makers(monkeypatch: pytest.MonkeyPatch) -> None:
    """The officer makes reports (CREATE_REPORT).  Until service/permissions.py grants it, it is
    granted here: the route's behaviour is what these tests check, the mapping is the lead's."""
    if "CREATE_REPORT" not in PERMISSIONS["officer"]:
        monkeypatch.setitem(PERMISSIONS, "officer", PERMISSIONS["officer"] | {"CREATE_REPORT"})
        monkeypatch.setitem(PERMISSIONS, "admin", PERMISSIONS["admin"] | {"CREATE_REPORT"})


@pytest.fixture
def client(engine: Engine, store_url: str, makers: None, tmp_path: Path) -> Iterator[TestClient]:
    """The small book, labelled; a registered CEA pledge P1 (600 t of holding H1's 1000 t) for
    T-0001; 120 days of CEA prices; a revaluation that finds P1 below the liquidation line; the
    2024Q2 CERF batch; a stored statistics report."""
    from greenfin.service.prices import import_prices

    import_files(engine, [DATA / "small_book.csv"], actor="tester")
    label_book(engine, actor="tester")
    for role in (*ROLES, "collateral_manager"):
        add_user(engine, role, PASSWORD, [role], actor="admin")
    add_user(engine, "norole", PASSWORD, [], actor="admin")  # an account whose roles were withdrawn
    apply_cea_pledge(engine, actor="collateral_officer")
    collateral.register_pledge(engine, "P1", "CEA-ZY-1", actor="collateral_officer")
    path = tmp_path / "cea.csv"
    path.write_text(price_csv(), encoding="utf-8")
    import_prices(engine, [path], actor="collateral_officer", instrument="CEA")
    collateral.revalue(engine, FIRST_DAY + dt.timedelta(days=119), actor="risk_manager")
    run_batch(engine, "2024Q2", actor="officer")
    reports.create_report(engine, "stats", dt.date(2026, 9, 30), actor="officer")
    with TestClient(create_app(store_url, secret=b"k" * 32)) as test_client:
        yield test_client


def sign_in(client: TestClient, username: str) -> dict[str, str]:
    client.cookies.clear()
    response = client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"X-CSRF-Token": response.json()["csrf_token"]}


def _first(client: TestClient, url: str) -> int:
    found: int = client.get(url).json()["items"][0]["batch_id" if "cerf" in url else "report_id"]
    return found


def _price_upload(_client: TestClient) -> dict[str, Any]:
    later = price_csv(10, FIRST_DAY + dt.timedelta(days=120))
    return {"files": {"file": ("cea.csv", later.encode(), "text/csv")}}


def _new_pledge(_client: TestClient) -> dict[str, Any]:
    body = {"pledge_id": "P2", "holding_id": "H1", "loan_ids": ["T-0001"], "quantity": "100",
            "pledged_on": "2025-03-02"}  # fmt: skip
    return {"json": body}


#: Each route of v1_more: method, URL (given the client), permission, the allowed role, request.
ROUTES: list[tuple[str, str, Any, str, str, Any]] = [
    ("POST", "/api/v1/prices/{series}/import", lambda c: "/api/v1/prices/CEA/import", "IMPORT_PRICE",
     "collateral_officer", _price_upload),
    ("GET", "/api/v1/prices", lambda c: "/api/v1/prices", "READ_PRICE", "viewer", None),
    ("GET", "/api/v1/pledges", lambda c: "/api/v1/pledges?state=registered", "READ_PLEDGE", "viewer", None),
    ("POST", "/api/v1/pledges", lambda c: "/api/v1/pledges", "REGISTER_PLEDGE", "officer", _new_pledge),
    ("GET", "/api/v1/pledges/{pledge_id}", lambda c: "/api/v1/pledges/P1", "READ_PLEDGE", "viewer", None),
    ("GET", "/api/v1/pledges/{pledge_id}/valuations", lambda c: "/api/v1/pledges/P1/valuations", "READ_PLEDGE",
     "viewer", None),
    ("GET", "/api/v1/collateral/alerts", lambda c: "/api/v1/collateral/alerts", "READ_PLEDGE", "auditor", None),
    ("GET", "/api/v1/cerf/batches", lambda c: "/api/v1/cerf/batches", "READ_CERF", "viewer", None),
    ("GET", "/api/v1/cerf/batches/{batch_id}", lambda c: f"/api/v1/cerf/batches/{_first(c, '/api/v1/cerf/batches')}",
     "READ_CERF", "viewer", None),
    ("GET", "/api/v1/cerf/batches/{batch_id}/file",
     lambda c: f"/api/v1/cerf/batches/{_first(c, '/api/v1/cerf/batches')}/file", "READ_CERF", "auditor", None),
    ("GET", "/api/v1/reports", lambda c: "/api/v1/reports", "READ_REPORT", "auditor", None),
    ("POST", "/api/v1/reports", lambda c: "/api/v1/reports", "CREATE_REPORT", "officer",
     lambda c: {"json": {"kind": "stats", "as_of": "2026-06-30"}}),
    ("GET", "/api/v1/reports/{report_id}/file", lambda c: f"/api/v1/reports/{_first(c, '/api/v1/reports')}/file",
     "READ_REPORT", "viewer", None),
]  # fmt: skip


def test_every_route_of_the_module_is_in_the_table_with_its_permission() -> None:
    found = {
        (sorted(route.methods)[0], route.path, permission)
        for route, permission in guarded_routes(v1_more.router)
    }
    assert found == {(method, path, permission) for method, path, _url, permission, _role, _req in ROUTES}


@pytest.mark.parametrize(("method", "path", "url", "permission", "role", "request_of"), ROUTES,
                         ids=[f"{m} {p}" for m, p, *_ in ROUTES])  # fmt: skip
def test_a_route_answers_its_role_refuses_others_and_strangers(
    client: TestClient, method: str, path: str, url: Any, permission: str, role: str, request_of: Any
) -> None:
    assert permission in PERMISSIONS[role]
    sign_in(client, "viewer")
    target = url(client)
    extra = request_of(client) if request_of else {}
    client.cookies.clear()
    assert client.request(method, target, **extra).status_code == 401
    # refused: the auditor on every write (read-only), an account without roles on every read
    refused = "auditor" if method != "GET" else "norole"
    assert permission not in PERMISSIONS.get(refused, frozenset())
    headers = sign_in(client, refused)
    response = client.request(method, target, headers=headers, **extra)
    assert response.status_code == 403 and permission in response.json()["detail"], response.text
    headers = sign_in(client, role)
    response = client.request(method, target, headers=headers, **extra)
    assert 200 <= response.status_code < 300, (role, method, target, response.status_code, response.text)


def test_the_auditor_is_refused_every_write_of_the_api() -> None:
    """Read-only: no route that changes something needs a permission the auditor holds."""
    from greenfin.api.app import create_app as build

    writes = [
        (route.path, permission)
        for route, permission in guarded_routes(build("sqlite://").router)
        if route.path.startswith("/api/") and not {"GET", "HEAD"} >= set(route.methods)
        and route.path not in ("/api/v1/benefits/assess",)  # a computation: it stores nothing
        and not route.path.endswith(("/approve", "/reject"))  # decided by the approver's own permission
    ]  # fmt: skip
    assert writes
    assert [(path, p) for path, p in writes if p in PERMISSIONS["auditor"]] == []


def test_a_price_import_is_all_or_nothing_located_and_replayed(client: TestClient, engine: Engine) -> None:
    headers = sign_in(client, "collateral_officer")
    bad = price_csv(10, FIRST_DAY + dt.timedelta(days=120)).replace(",500000\n", ",abc\n", 3)
    before = snapshot(engine)
    refused = client.post(
        "/api/v1/prices/CEA/import", files={"file": ("bad.csv", bad.encode(), "text/csv")}, headers=headers
    )
    assert refused.status_code == 422, refused.text
    issues = refused.json()["detail"]["issues"]
    assert refused.json()["detail"]["total"] == 3 and issues[0]["row"] == 2 and issues[0]["message_zh"]
    assert snapshot(engine) == before  # nothing half-imported
    assert client.post(
        "/api/v1/prices/CEA/import", files={"file": ("p.pdf", b"x", "application/pdf")}, headers=headers
    ).status_code == 422  # fmt: skip
    long_name = client.post(
        "/api/v1/prices/CEA/import",
        files={"file": ("价" * 120 + ".csv", bad.encode(), "text/csv")},
        headers=headers,
    )
    assert long_name.status_code == 422  # located in a name the file system takes, its start kept
    shown = long_name.json()["detail"]["issues"][0]["file"]
    assert shown.startswith("价价") and shown.endswith(".csv") and len(shown.encode()) <= 200
    good = price_csv(10, FIRST_DAY + dt.timedelta(days=120)).encode()
    sent = {
        "files": {"file": ("cea.csv", good, "text/csv")},
        "headers": {**headers, "Idempotency-Key": "k-1"},
    }
    first = client.post("/api/v1/prices/CEA/import", **sent)  # type: ignore[arg-type]
    assert first.status_code == 201, first.text
    assert first.json()["series"] == [{"series": "CEA", "new": 10, "updated": 0, "unchanged": 0}]
    records = count(engine, audit_log)
    again = client.post("/api/v1/prices/CEA/import", **sent)  # type: ignore[arg-type]
    assert again.status_code == 201 and again.json() == first.json()
    assert count(engine, audit_log) == records  # replayed, not imported again
    listed = client.get("/api/v1/prices", headers=headers).json()
    assert [s["series"] for s in listed] == ["CEA"]
    assert listed[0]["last_day"] == str(FIRST_DAY + dt.timedelta(days=129)) and listed[0]["days"] == 130
    assert listed[0]["last_close_yuan"] == str(
        client.get("/api/v1/prices/CEA?last=1").json()[0]["close_yuan"]
    )


def test_a_pledge_is_applied_for_read_with_its_valuation_and_filtered(
    client: TestClient, engine: Engine
) -> None:
    headers = sign_in(client, "officer")
    body = _new_pledge(client)["json"]
    created = client.post("/api/v1/pledges", json=body, headers={**headers, "Idempotency-Key": "p-2"})
    assert created.status_code == 201, created.text
    assert created.json()["state"] == "applied" and created.json()["state_zh"] == "申请"
    assert created.json()["loan_ids"] == ["T-0001"] and created.json()["latest_valuation"] is None
    with engine.connect() as connection:
        assert connection.execute(
            select(func.count()).select_from(audit_log).where(audit_log.c.entity == "pledge",
                                                              audit_log.c.entity_id == "P2")
        ).scalar_one() == 1  # fmt: skip
    replay = client.post("/api/v1/pledges", json=body, headers={**headers, "Idempotency-Key": "p-2"})
    assert replay.status_code == 201 and replay.json() == created.json()
    assert client.post("/api/v1/pledges", json=body, headers=headers).status_code == 409  # id taken
    other = client.post(
        "/api/v1/pledges", json={**body, "quantity": "5"}, headers={**headers, "Idempotency-Key": "p-2"}
    )
    assert other.status_code == 422  # the key was used for another body
    too_much = {**body, "pledge_id": "P3", "quantity": "301"}  # 1000 held, 700 pledged
    for _attempt in range(2):  # a refused request leaves its key free: the retry is refused again, for itself
        answer = client.post("/api/v1/pledges", json=too_much, headers={**headers, "Idempotency-Key": "p-3"})
        assert answer.status_code == 409 and "可质押余额" in answer.json()["detail"], answer.text
    unknown = client.post(
        "/api/v1/pledges", json={**body, "pledge_id": "P4", "loan_ids": ["NOPE"]}, headers=headers
    )
    assert unknown.status_code == 422 and "NOPE" in unknown.json()["detail"]
    assert client.post("/api/v1/pledges", json={**body, "quantity": "0"}, headers=headers).status_code == 422
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(pledges)).scalar_one() == 2

    one = client.get("/api/v1/pledges/P1").json()
    valuation = one["latest_valuation"]
    assert one["state"] == "warning" and valuation["status"] == "liquidation"
    assert 0 < float(valuation["haircut"]) < 1 and float(valuation["coverage"]) < 0.01
    assert valuation["outstanding_yuan"] == "8005000.00" and valuation["day"] == str(
        FIRST_DAY + dt.timedelta(119)
    )
    assert client.get("/api/v1/pledges/NOPE").status_code == 404
    history = client.get("/api/v1/pledges/P1/valuations", params={"size": 1}).json()
    assert history["total"] == 1 and history["items"][0] == valuation
    assert client.get("/api/v1/pledges/NOPE/valuations").status_code == 404

    def ids(**params: Any) -> list[str]:
        return [p["pledge_id"] for p in client.get("/api/v1/pledges", params=params).json()["items"]]

    assert ids() == ["P1", "P2"] and ids(state="applied") == ["P2"] and ids(instrument="CCER") == []
    assert ids(loan_id="T-0001", size=1, page=2) == ["P2"] and ids(loan_id="T-0002") == []
    assert client.get("/api/v1/pledges", params={"state": "lost"}).status_code == 422
    alerts = client.get("/api/v1/collateral/alerts").json()
    assert alerts["total"] == 1 and alerts["items"][0]["pledge_id"] == "P1"
    assert alerts["items"][0]["kind"] == "liquidation" and alerts["items"][0]["loan_id"] == "T-0001"
    assert client.get("/api/v1/collateral/alerts", params={"kind": "recovered"}).json()["total"] == 0


def test_cerf_batches_are_listed_shown_and_downloaded(client: TestClient, engine: Engine) -> None:
    sign_in(client, "viewer")
    page = client.get("/api/v1/cerf/batches", params={"quarter": "2024Q2"}).json()
    assert page["total"] == 1 and page["items"][0]["quarter"] == "2024Q2"
    assert client.get("/api/v1/cerf/batches", params={"quarter": "2024Q3"}).json()["total"] == 0
    batch = page["items"][0]
    shown = client.get(f"/api/v1/cerf/batches/{batch['batch_id']}").json()
    eligible = [loan for loan in shown["loans"] if loan["eligible"]]
    assert shown["eligible_loans"] == len(eligible) == shown["decided_loans"] - shown["excluded_loans"]
    assert sum(float(loan["facility_yuan"]) for loan in eligible) == pytest.approx(
        float(shown["facility_yuan"])
    )
    assert all(loan["reasons"] for loan in shown["loans"] if not loan["eligible"])
    assert client.get("/api/v1/cerf/batches/99999").status_code == 404
    file = client.get(f"/api/v1/cerf/batches/{batch['batch_id']}/file")
    assert file.status_code == 200 and file.content[:2] == b"PK"  # an XLSX is a ZIP
    assert file.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert file.headers["content-disposition"].startswith(
        'attachment; filename="cerf_2024Q2_r1_disclosure.xlsx"'
    )
    csv = client.get(f"/api/v1/cerf/batches/{batch['batch_id']}/file", params={"which": "verification",
                                                                              "format": "csv"})  # fmt: skip
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert "贷款编号" in csv.content.decode("utf-8-sig")
    assert client.get("/api/v1/cerf/batches/99999/file").status_code == 404


def test_reports_are_made_once_per_key_listed_and_downloaded(
    client: TestClient, engine: Engine, tmp_path: Path
) -> None:
    headers = sign_in(client, "officer")
    snapshots, records = count(engine, report_snapshots), count(engine, audit_log)
    sent = {
        "json": {"kind": "disclosure", "as_of": "2025-05-01"},
        "headers": {**headers, "Idempotency-Key": "r"},
    }
    made = client.post("/api/v1/reports", **sent)  # type: ignore[arg-type]
    assert made.status_code == 201, made.text
    assert made.json()["kind"] == "disclosure" and made.json()["as_of"] == "2025-12-31"
    assert made.json()["formats"] == ["html", "xlsx", "pdf"]
    assert client.post("/api/v1/reports", **sent).json() == made.json()  # type: ignore[arg-type]
    assert (count(engine, report_snapshots), count(engine, audit_log)) == (snapshots + 1, records + 1)
    assert (
        client.post(
            "/api/v1/reports", json={"kind": "stats", "as_of": "1999-12-31"}, headers=headers
        ).status_code
        == 422
    )
    listed = client.get("/api/v1/reports").json()
    assert listed["total"] == 2 and [r["kind"] for r in listed["items"]] == ["disclosure", "stats"]
    assert client.get("/api/v1/reports", params={"kind": "stats"}).json()["total"] == 1
    stats_id = listed["items"][1]["report_id"]
    assert listed["items"][1]["green_loans"] > 0 and float(listed["items"][1]["green_balance_yuan"]) > 0
    xlsx = client.get(f"/api/v1/reports/{stats_id}/file")
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    assert xlsx.headers["content-type"] == reports.MEDIA_TYPES["xlsx"]
    assert f"stats_2026-09-30_r{stats_id}.xlsx" in xlsx.headers["content-disposition"]
    zipped = client.get(f"/api/v1/reports/{stats_id}/file", params={"format": "csv"})
    assert zipped.headers["content-type"] == "application/zip"
    assert all(name.endswith(".csv") for name in zipfile.ZipFile(io.BytesIO(zipped.content)).namelist())
    page = client.get(f"/api/v1/reports/{made.json()['report_id']}/file", params={"format": "html"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert client.get(f"/api/v1/reports/{stats_id}/file", params={"format": "pdf"}).status_code == 422
    assert client.get("/api/v1/reports/99999/file").status_code == 404
    # the book changes: the stored figures can no longer be rendered as they were reported
    book = tmp_path / "more.csv"
    book.write_text(NEW_LOAN, encoding="utf-8")
    import_files(engine, [book], actor="officer")
    stale = client.get(f"/api/v1/reports/{stats_id}/file")
    assert stale.status_code == 409 and "重新生成" in stale.json()["detail"], stale.text


def test_the_statistics_can_be_computed_without_storing_anything(engine: Engine) -> None:
    """GET /reports/stats reads: with ``store=False`` no snapshot and no audit record is written."""
    import_files(engine, [DATA / "small_book.csv"], actor="tester")
    label_book(engine, actor="tester")
    before = (count(engine, report_snapshots), count(engine, audit_log))
    looked = reports.stats_report(engine, dt.date(2026, 9, 30), actor="auditor", store=False)
    assert (count(engine, report_snapshots), count(engine, audit_log)) == before
    kept = reports.stats_report(engine, dt.date(2026, 9, 30), actor="officer")
    assert (count(engine, report_snapshots), count(engine, audit_log)) == (before[0] + 1, before[1] + 1)
    assert looked.snapshot_json() == kept.snapshot_json()
