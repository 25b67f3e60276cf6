"""REST API v1 on both backends: sign-in and lockout, CSRF, tokens, every route × every role,
maker-checker, idempotency, ETags."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from greenfin.api.app import create_app
from greenfin.service.identification import label_book
from greenfin.service.importing import import_files
from greenfin.service.permissions import PERMISSIONS
from greenfin.service.users import add_user
from greenfin.store.schema import label_decisions, pending_actions
from tests.conftest import DATA, apply_cea_pledge, guarded_routes

ROLES = ("officer", "checker", "risk_manager", "auditor", "admin", "viewer", "collateral_manager")
PASSWORD = "correct-horse-battery"


@pytest.fixture
def client(engine: Engine, store_url: str) -> Iterator[TestClient]:
    import_files(engine, [DATA / "small_book.csv"], actor="tester")
    label_book(engine, actor="tester")
    for role in ROLES:
        add_user(engine, role, PASSWORD, [role], actor="admin")
    add_user(engine, "officer2", PASSWORD, ["officer", "checker"], actor="admin")
    with TestClient(create_app(store_url, secret=b"k" * 32)) as test_client:
        yield test_client


def sign_in(client: TestClient, username: str) -> dict[str, str]:
    response = client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"X-CSRF-Token": response.json()["csrf_token"]}


def test_sign_in_lockout_and_sign_in_required(client: TestClient) -> None:
    assert client.get("/api/v1/loans").status_code == 401
    for _ in range(5):
        assert client.post(
            "/api/v1/auth/login", json={"username": "viewer", "password": "wrong"}
        ).status_code in (401, 423)
    locked = client.post("/api/v1/auth/login", json={"username": "viewer", "password": PASSWORD})
    assert locked.status_code == 423 and "锁定" in locked.json()["detail"]


def test_changes_with_a_session_need_the_csrf_token(client: TestClient) -> None:
    headers = sign_in(client, "officer")
    body = {"reason": "核实无误"}
    assert client.post("/api/v1/loans/T-0002/label/confirm", json=body).status_code == 403
    assert client.post("/api/v1/loans/T-0002/label/confirm", json=body, headers=headers).status_code == 200


def test_an_api_token_works_without_a_session(client: TestClient) -> None:
    headers = sign_in(client, "officer")
    token = client.post("/api/v1/auth/tokens", json={"name": "batch job"}, headers=headers).json()["token"]
    client.cookies.clear()
    bearer = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/me", headers=bearer).json()["username"] == "officer"
    assert client.get("/api/v1/me", headers={"Authorization": "Bearer gft_wrong"}).status_code == 401


#: A request each route can take, by its path template.
SAMPLES: dict[str, tuple[dict[str, Any], dict[str, Any] | None]] = {
    "/api/v1/loans": ({}, None),
    "/api/v1/loans/{loan_id}": ({"loan_id": "T-0002"}, None),
    "/api/v1/loans/{loan_id}/label": ({"loan_id": "T-0002"}, None),
    "/api/v1/loans/{loan_id}/label/confirm": ({"loan_id": "T-0002"}, {"reason": "核实"}),
    "/api/v1/loans/{loan_id}/label/override": ({"loan_id": "T-0002"}, {"reason": "复核", "not_green": True}),
    "/api/v1/approvals": ({}, None),
    "/api/v1/approvals/{action_id}/approve": ({"action_id": 999}, {"note": ""}),
    "/api/v1/approvals/{action_id}/reject": ({"action_id": 999}, {"note": "x"}),
    "/api/v1/benefits/assess": ({}, {"methodology": "renewable-power", "inputs": {"generation": "1000 MWh"}}),
    "/api/v1/prices/{series}": ({"series": "CEA"}, None),
    "/api/v1/pledges": ({}, None),
    "/api/v1/audit/verify": ({}, None),
    "/api/v1/pledges/{pledge_id}/register": ({"pledge_id": "NOPE"}, {"reference": "R-1"}),
    "/api/v1/pledges/{pledge_id}/release": ({"pledge_id": "NOPE"}, {"reason": "结清"}),
    "/api/v1/cerf/batches": ({}, {"quarter": "2024Q1"}),
    "/api/v1/cerf/batches/{batch_id}/submit": ({"batch_id": 999}, None),
    "/api/v1/borrowers": ({}, None),
    "/api/v1/projects": ({}, None),
    "/api/v1/loans/import": ({}, None),
    "/api/v1/labels/run": ({}, None),
    "/api/v1/collateral/revalue": ({}, {"day": "2025-06-30"}),
    "/api/v1/reports/stats": ({}, None),
    "/api/v1/borrowers/{credit_code}": ({"credit_code": "NOPE"}, None),
    "/api/v1/projects/{project_id}": ({"project_id": "NOPE"}, None),
}
#: Where one path has several methods and a method needs its own sample (keyed "METHOD path").
METHOD_SAMPLES: dict[str, tuple[dict[str, Any], dict[str, Any] | None]] = {
    "DELETE /api/v1/loans/{loan_id}": ({"loan_id": "NOPE"}, None),
    "POST /api/v1/loans": ({}, {"loan_id": "X"}),
    "POST /api/v1/borrowers": ({}, {"credit_code": "X"}),
    "POST /api/v1/projects": ({}, {"project_id": "X"}),
}


def _generic(route: Any) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """A sample for a route with none of its own: unknown ids (the guard answers before the route
    looks them up), no body."""
    params = {p.name: 999 if p.field_info.annotation is int else "NOPE" for p in route.dependant.path_params}
    return params, None


@pytest.mark.parametrize("role", ROLES)
def test_every_route_allows_exactly_the_roles_holding_its_permission(client: TestClient, role: str) -> None:
    routes = [
        (route, needed)
        for route, needed in guarded_routes(client.app.router)
        if route.path.startswith("/api/")
    ]
    assert set(SAMPLES) <= {route.path for route, _ in routes}  # no sample outlives its route
    headers = sign_in(client, role)
    for route, permission in routes:
        method = sorted(route.methods)[0]
        params, body = (
            METHOD_SAMPLES.get(f"{method} {route.path}") or SAMPLES.get(route.path) or _generic(route)
        )
        url = route.path.format(**params)
        response = client.request(method, url, json=body, headers=headers)
        allowed = permission in PERMISSIONS[role]
        if allowed:
            assert response.status_code not in (401, 403), (role, method, url, response.text)
        else:
            assert response.status_code == 403, (role, method, url, response.status_code)


def test_an_override_waits_for_a_second_person(client: TestClient, engine: Engine) -> None:
    officer = sign_in(client, "officer")
    proposed = client.post(
        "/api/v1/loans/T-0002/label/override",
        json={"reason": "实为屋顶光伏自用", "not_green": True},
        headers=officer,
    )
    assert proposed.status_code == 202 and proposed.json()["status"] == "pending"
    action = proposed.json()["id"]
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(label_decisions)).scalar() == 0
    assert (
        client.post(f"/api/v1/approvals/{action}/approve", json={"note": ""}, headers=officer).status_code
        == 403
    )
    checker = sign_in(client, "checker")
    assert (
        client.post(f"/api/v1/approvals/{action}/approve", json={"note": "同意"}, headers=checker).status_code
        == 200
    )
    label = client.get("/api/v1/loans/T-0002/label").json()
    assert label["decision"]["status"] == "not_green" and label["decision"]["actor"] == "checker"
    again = client.post(f"/api/v1/approvals/{action}/approve", json={"note": ""}, headers=checker)
    assert again.status_code == 409


def test_the_checker_is_never_the_maker(client: TestClient) -> None:
    both = sign_in(client, "officer2")  # holds OVERRIDE_LABEL and APPROVE_LABEL
    action = client.post(
        "/api/v1/loans/T-0002/label/override", json={"reason": "x", "not_green": True}, headers=both
    ).json()["id"]
    refused = client.post(f"/api/v1/approvals/{action}/approve", json={"note": ""}, headers=both)
    assert refused.status_code == 409 and "提出人" in refused.json()["detail"]


def test_an_idempotency_key_replays_instead_of_repeating(client: TestClient, engine: Engine) -> None:
    headers = {**sign_in(client, "officer"), "Idempotency-Key": "req-42"}
    body = {"reason": "重复提交", "not_green": True}
    first = client.post("/api/v1/loans/T-0002/label/override", json=body, headers=headers)
    second = client.post("/api/v1/loans/T-0002/label/override", json=body, headers=headers)
    assert first.json() == second.json()
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(pending_actions)).scalar() == 1


def test_loans_are_paged_filtered_and_carry_an_etag(client: TestClient) -> None:
    sign_in(client, "viewer")
    page = client.get("/api/v1/loans", params={"size": 2, "page": 1}).json()
    assert len(page["items"]) == 2 and page["total"] >= 3
    green = client.get("/api/v1/loans", params={"status": "green"}).json()
    assert all(item["label_status"] == "green" for item in green["items"])
    one = client.get("/api/v1/loans/T-0001")
    assert one.status_code == 200 and one.headers["etag"].startswith('"')
    assert client.get("/api/v1/loans/NOPE").status_code == 404
    assert client.get("/api/v1/loans", params={"size": 1000}).status_code == 422


def test_benefits_assess_returns_the_trail(client: TestClient) -> None:
    headers = sign_in(client, "officer")
    spec = {"methodology": "renewable-power", "region_code": "431230", "reporting_year": 2025,
            "inputs": {"generation": "21000万千瓦时"}}  # fmt: skip
    result = client.post("/api/v1/benefits/assess", json=spec, headers=headers).json()
    assert result["indicators"]["co2_reduced"] == pytest.approx(210_000 * 0.49)
    bad = client.post("/api/v1/benefits/assess", json={"methodology": "x"}, headers=headers)
    assert bad.status_code == 422


def test_the_assessment_route_checks_like_a_fastapi_route(client: TestClient) -> None:
    """api/assessment.py answers outside FastAPI's dependency machinery: same result as the
    engine, same guards, located 422s in FastAPI's shape, described in the OpenAPI schema."""
    from greenfin.benefits.projects import assess_project
    from greenfin.reference.factors import POLICIES

    spec = {"methodology": "renewable-power", "region_code": "431230", "reporting_year": 2025,
            "inputs": {"generation": "21000万千瓦时"}}  # fmt: skip
    assert client.post("/api/v1/benefits/assess", json=spec).status_code == 401
    headers = sign_in(client, "officer")
    answer = client.post("/api/v1/benefits/assess", params={"policy": "national"}, json=spec, headers=headers)
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    assert answer.json() == json.loads(json.dumps(assess_project(spec, POLICIES["national"]).as_dict()))
    as_json = {**headers, "Content-Type": "application/json"}
    for params, body, sent, where, kind in (
        ({"policy": "nowhere"}, json.dumps(spec), as_json, ["query", "policy"], "enum"),
        ({}, "{not json", as_json, ["body"], "json_invalid"),
        ({}, "[" * 100_000 + "]" * 100_000, as_json, ["body"], "json_invalid"),  # beyond the parser's depth
        ({}, json.dumps([1, 2]), as_json, ["body"], "dict_type"),
        ({}, "", as_json, ["body"], "missing"),
        ({}, json.dumps(spec), {**headers, "Content-Type": "text/plain"}, ["body"], "content_type"),
    ):
        bad = client.post("/api/v1/benefits/assess", params=params, content=body, headers=sent)
        assert bad.status_code == 422, bad.text
        assert bad.json()["detail"][0]["loc"] == where and bad.json()["detail"][0]["type"] == kind, bad.text
    # a form post with the session's CSRF token in the form: the caller check reads the form, and
    # the body is still there for the route to refuse (it was a 500: a stream reads only once)
    csrf = headers["X-CSRF-Token"]
    form = client.post("/api/v1/benefits/assess", data={"csrf_token": csrf})
    assert form.status_code == 422 and form.json()["detail"][0]["type"] == "content_type", form.text
    operation = client.get("/openapi.json").json()["paths"]["/api/v1/benefits/assess"]["post"]
    assert operation["parameters"][0]["schema"]["enum"] == list(POLICIES)
    assert operation["requestBody"]["content"]["application/json"]["schema"]["type"] == "object"


def test_cerf_submission_and_pledge_release_wait_for_a_checker(client: TestClient, engine: Engine) -> None:
    add_user(engine, "custodian", PASSWORD, ["collateral_officer"], actor="admin")
    apply_cea_pledge(engine, actor="custodian")
    officer = sign_in(client, "officer")
    register = client.post(
        "/api/v1/pledges/P1/register", json={"reference": "CEA-ZY-1"}, headers=officer
    ).json()
    batch = client.post("/api/v1/cerf/batches", json={"quarter": "2024Q2"}, headers=officer).json()
    submit = client.post(f"/api/v1/cerf/batches/{batch['batch_id']}/submit", headers=officer).json()
    assert register["status"] == submit["status"] == "pending"
    checker = sign_in(client, "checker")
    for action in (register["id"], submit["id"]):
        assert (
            client.post(
                f"/api/v1/approvals/{action}/approve", json={"note": "同意"}, headers=checker
            ).status_code
            == 200
        )
    release = client.post(
        "/api/v1/pledges/P1/release", json={"reason": "结清"}, headers=sign_in(client, "officer")
    ).json()
    assert client.post(f"/api/v1/approvals/{release['id']}/approve", json={"note": ""},
                       headers=sign_in(client, "auditor")).status_code == 403  # fmt: skip
    checker = sign_in(client, "checker")
    assert (
        client.post(
            f"/api/v1/approvals/{release['id']}/approve", json={"note": ""}, headers=checker
        ).status_code
        == 200
    )
    from greenfin.service.approvals import submitted
    from greenfin.store.schema import pledges

    with engine.connect() as connection:
        assert (
            connection.execute(select(pledges.c.state).where(pledges.c.pledge_id == "P1")).scalar_one()
            == "released"
        )
    assert submitted(engine, batch["batch_id"])


@pytest.mark.parametrize("kind", ["pledge_register", "pledge_release"])
def test_whoever_may_approve_a_pledge_change_may_carry_it_out(kind: str) -> None:
    """An approval runs the change as the checker, and the collateral service asks for roles of
    its own: every role holding the kind's approving permission must be among them, or an allowed
    approval would fail halfway (it did for a collateral manager approving a registration)."""
    from greenfin.service import collateral
    from greenfin.service.permissions import APPROVER

    carries_out = {"pledge_register": collateral.OFFICER, "pledge_release": collateral.MANAGER}[kind]
    approvers = {role for role, held in PERMISSIONS.items() if APPROVER[kind] in held} - {"admin"}
    assert approvers and approvers <= set(carries_out)


def test_a_loan_edit_needs_the_current_version(client: TestClient, engine: Engine) -> None:
    headers = sign_in(client, "officer")
    etag = client.get("/api/v1/loans/T-0001").headers["etag"]
    assert (
        client.patch("/api/v1/loans/T-0001", json={"five_tier": "关注"}, headers=headers).status_code == 428
    )
    edited = client.patch("/api/v1/loans/T-0001", json={"five_tier": "关注", "balance": "700万元"},
                          headers={**headers, "If-Match": etag})  # fmt: skip
    assert edited.status_code == 200, edited.text
    assert edited.json()["five_tier"] == "关注" and edited.json()["balance_yuan"] == "7000000.00"
    assert edited.headers["etag"] != etag
    stale = client.patch("/api/v1/loans/T-0001", json={"purpose": "x"}, headers={**headers, "If-Match": etag})
    assert stale.status_code == 412
    current = edited.headers["etag"]
    too_much = client.patch(
        "/api/v1/loans/T-0001", json={"balance": "9亿元"}, headers={**headers, "If-Match": current}
    )
    assert too_much.status_code == 422 and "余额" in too_much.json()["detail"]
    viewer = sign_in(client, "viewer")
    assert (
        client.patch(
            "/api/v1/loans/T-0001", json={"purpose": "x"}, headers={**viewer, "If-Match": current}
        ).status_code
        == 403
    )


def test_import_label_and_list_through_the_api(client: TestClient, engine: Engine) -> None:
    headers = sign_in(client, "officer")
    bad = "贷款编号,借款人名称,统一社会信用代码,行业代码,行政区划代码,贷款金额（万元）,贷款余额（万元）,发放日期,到期日期\n"
    bad += "N-1,某公司,91330100799655058A,C3011,330106,100,100,2025-01-01,2026-01-01\n"
    refused = client.post(
        "/api/v1/loans/import", files={"file": ("bad.csv", bad.encode(), "text/csv")}, headers=headers
    )
    assert refused.status_code == 422
    issue = refused.json()["detail"]["issues"][0]
    assert issue["row"] == 2 and "统一社会信用代码" in issue["column"]
    good = bad.replace("91330100799655058A", "91330100799655058B")
    accepted = client.post(
        "/api/v1/loans/import", files={"file": ("good.csv", good.encode(), "text/csv")}, headers=headers
    )
    assert accepted.status_code == 200, accepted.text
    run = client.post("/api/v1/labels/run", headers=headers).json()
    assert run["loans"] == client.get("/api/v1/loans").json()["total"]
    assert client.get("/api/v1/borrowers", params={"q": "某公司"}).json()["total"] == 1
    assert client.get("/api/v1/projects").json()["total"] >= 1
    figures = client.get("/api/v1/reports/stats", params={"as_of": "2026-09-30"}).json()["figures"]
    assert any(f["key"] == "total" for f in figures)
