"""REST API v1 writes on both backends: compare-and-set edits, atomic idempotency keys bound to the
body, the label in force in lists, literal search, and loan, borrower and project CRUD."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from greenfin.api.app import create_app
from greenfin.model.values import check_loan_consistency
from greenfin.service import approvals
from greenfin.service import loans as loan_service
from greenfin.service.identification import label_book
from greenfin.service.importing import import_files
from greenfin.service.users import add_user
from greenfin.store.schema import audit_log, borrowers, label_decisions, label_runs, loans, pending_actions
from tests.conftest import DATA, apply_cea_pledge

PASSWORD = "correct-horse-battery"
NEW_CODE = "91110108MA01ABCDEN"  # a valid credit code not in the small book
BORROWER = {"credit_code": NEW_CODE, "name": "北京某新能源有限公司", "industry_code": "D4416",
            "region_code": "110108", "revenue": "3亿元", "scope1": "1200 tCO2e"}  # fmt: skip
PROJECT = {"project_id": "P-NEW", "name": "屋顶光伏", "project_type": "光伏", "capacity": "10MW",
           "start_date": "2025-01-01", "completion_date": "2025-12-31", "parameters": "组件效率=21.5%"}  # fmt: skip
LOAN = {"loan_id": "N-0001", "borrower_credit_code": NEW_CODE, "project_id": "P-NEW", "purpose": "屋顶分布式光伏",
        "amount": "5000万元", "balance": "4800万元", "start_date": "2025-02-01", "maturity_date": "2030-01-31"}  # fmt: skip


@pytest.fixture
def client(engine: Engine, store_url: str) -> Iterator[TestClient]:
    import_files(engine, [DATA / "small_book.csv"], actor="tester")
    label_book(engine, actor="tester")
    for role in ("officer", "checker", "viewer"):
        add_user(engine, role, PASSWORD, [role], actor="admin")
    with TestClient(create_app(store_url, secret=b"k" * 32)) as test_client:
        yield test_client


def sign_in(client: TestClient, username: str) -> dict[str, str]:
    response = client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"X-CSRF-Token": response.json()["csrf_token"]}


def count(engine: Engine, table: Any, *where: Any) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


# --- 1. compare-and-set -------------------------------------------------------------------------


def test_two_edits_of_one_version_cannot_both_win(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """A second edit made on the same version commits between the first edit's check and its
    write: the first must be refused (412) and the second's values kept, on both backends."""
    import_files(engine, [DATA / "small_book.csv"], actor="tester")
    with engine.connect() as connection:
        version = connection.execute(select(loans.c.row_hash).where(loans.c.loan_id == "T-0001")).scalar_one()
    real = check_loan_consistency
    raced: list[str] = []
    started: list[bool] = []

    def check_then_race(*args: Any) -> None:
        real(*args)
        if not started:  # the competing edit, on its own connection, commits in the gap
            started.append(True)
            raced.append(
                loan_service.update_loan(engine, "T-0001", {"purpose": "后来者"}, expected=version, actor="b")
            )

    monkeypatch.setattr(loan_service, "check_loan_consistency", check_then_race)
    with pytest.raises(loan_service.StaleVersion):
        loan_service.update_loan(engine, "T-0001", {"purpose": "先到者"}, expected=version, actor="a")
    with engine.connect() as connection:
        row = connection.execute(select(loans).where(loans.c.loan_id == "T-0001")).mappings().one()
    assert row["purpose"] == "后来者" and row["row_hash"] == raced[0]
    assert count(engine, audit_log, audit_log.c.entity == "loan", audit_log.c.action == "update") == 1


# --- 2. idempotency -----------------------------------------------------------------------------


def test_a_replay_returns_the_first_response_without_doing_the_work_again(
    client: TestClient, engine: Engine
) -> None:
    headers = {**sign_in(client, "officer"), "Idempotency-Key": "create-1"}
    first = client.post("/api/v1/borrowers", json=BORROWER, headers=headers)
    again = client.post("/api/v1/borrowers", json=dict(reversed(BORROWER.items())), headers=headers)
    assert first.status_code == again.status_code == 201, again.text
    assert first.json() == again.json()
    assert count(engine, audit_log, audit_log.c.entity == "borrower", audit_log.c.action == "create") == 1
    runs = count(engine, label_runs)
    for _ in range(2):
        assert (
            client.post("/api/v1/labels/run", headers={**headers, "Idempotency-Key": "run-1"}).status_code
            == 200
        )
    assert count(engine, label_runs) == runs + 1


def test_a_key_reused_with_another_body_is_refused(client: TestClient) -> None:
    headers = {**sign_in(client, "officer"), "Idempotency-Key": "k-1"}
    body = {"reason": "复核", "not_green": True}
    assert client.post("/api/v1/loans/T-0002/label/override", json=body, headers=headers).status_code == 202
    other = client.post(
        "/api/v1/loans/T-0002/label/override", json={**body, "reason": "另一个"}, headers=headers
    )
    assert other.status_code == 422 and "Idempotency-Key" in other.json()["detail"]
    elsewhere = client.post("/api/v1/loans/T-0001/label/override", json=body, headers=headers)
    assert elsewhere.status_code == 422


def test_concurrent_requests_with_one_key_do_the_work_once(
    client: TestClient, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = approvals.propose

    def slow(*args: Any, **kwargs: Any) -> int:
        time.sleep(0.5)
        return real(*args, **kwargs)

    monkeypatch.setattr(approvals, "propose", slow)
    headers = {**sign_in(client, "officer"), "Idempotency-Key": "same"}
    body = {"reason": "并发", "not_green": True}
    statuses: list[int] = []

    def send() -> None:
        statuses.append(
            client.post("/api/v1/loans/T-0002/label/override", json=body, headers=headers).status_code
        )

    threads = [threading.Thread(target=send) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses)[0] == 202 and set(statuses) <= {202, 409}, statuses
    assert count(engine, pending_actions) == 1
    replay = client.post("/api/v1/loans/T-0002/label/override", json=body, headers=headers)
    assert replay.status_code == 202 and count(engine, pending_actions) == 1


def test_a_failed_request_frees_its_key(
    client: TestClient, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = approvals.propose
    calls: list[int] = []

    def fail_once(*args: Any, **kwargs: Any) -> int:
        calls.append(1)
        if len(calls) == 1:
            raise approvals.ApprovalProblem("暂时失败 / transient")
        return real(*args, **kwargs)

    monkeypatch.setattr(approvals, "propose", fail_once)
    headers = {**sign_in(client, "officer"), "Idempotency-Key": "retry-me"}
    body = {"reason": "重试", "not_green": True}
    assert client.post("/api/v1/loans/T-0002/label/override", json=body, headers=headers).status_code == 422
    assert client.post("/api/v1/loans/T-0002/label/override", json=body, headers=headers).status_code == 202
    assert count(engine, pending_actions) == 1


# --- 3. the label in force, literal search -------------------------------------------------------


def test_lists_filter_on_the_label_in_force(client: TestClient) -> None:
    from greenfin.web.pages import loan_rows

    officer = sign_in(client, "officer")
    engine_status = client.get("/api/v1/loans/T-0002").json()["label_status"]
    target = "not_green" if engine_status != "not_green" else "green"
    body = {"reason": "复核改判", "not_green": True} if target == "not_green" else {"reason": "x"}
    action = client.post("/api/v1/loans/T-0002/label/override", json=body, headers=officer).json()["id"]
    pending = client.get("/api/v1/loans", params={"status": target}).json()["items"]
    assert "T-0002" not in {i["loan_id"] for i in pending}  # a pending override is not in force yet
    checker = sign_in(client, "checker")
    assert (
        client.post(f"/api/v1/approvals/{action}/approve", json={"note": ""}, headers=checker).status_code
        == 200
    )
    items = client.get("/api/v1/loans", params={"status": target}).json()["items"]
    row = next(i for i in items if i["loan_id"] == "T-0002")
    assert row["label_status"] == target and row["label_decided"] and row["engine_status"] == engine_status
    if engine_status:
        others = client.get("/api/v1/loans", params={"status": engine_status}).json()["items"]
        assert "T-0002" not in {i["loan_id"] for i in others}
    app_engine = client.app.state.engine  # type: ignore[attr-defined]
    for status in ("green", "not_green", "needs_review", "none"):
        api = {i["loan_id"] for i in client.get("/api/v1/loans", params={"status": status}).json()["items"]}
        page = {r["loan_id"] for r in loan_rows(app_engine, status=status, size=200)[0]}
        assert api == page, status  # the pages and the API agree


def test_search_takes_percent_and_underscore_literally(client: TestClient) -> None:
    sign_in(client, "viewer")
    for wildcard in ("%", "_", "T_0001"):
        assert client.get("/api/v1/loans", params={"q": wildcard}).json()["total"] == 0, wildcard
        assert client.get("/api/v1/borrowers", params={"q": wildcard}).json()["total"] == 0, wildcard
        assert client.get("/api/v1/projects", params={"q": wildcard}).json()["total"] == 0, wildcard
    officer = sign_in(client, "officer")
    created = client.post("/api/v1/borrowers", json={**BORROWER, "name": "甲_乙%丙公司"}, headers=officer)
    assert created.status_code == 201, created.text
    assert client.get("/api/v1/borrowers", params={"q": "_乙%"}).json()["total"] == 1
    assert client.get("/api/v1/loans", params={"q": "T-0001"}).json()["total"] == 1


# --- 4. CRUD ------------------------------------------------------------------------------------


def test_create_edit_and_delete_a_borrower_project_and_loan(client: TestClient, engine: Engine) -> None:
    officer = sign_in(client, "officer")
    borrower = client.post("/api/v1/borrowers", json=BORROWER, headers=officer)
    assert borrower.status_code == 201, borrower.text
    assert borrower.json()["revenue_yuan"] == "300000000.00" and borrower.json()["province_code"] == "11"
    assert client.post("/api/v1/borrowers", json=BORROWER, headers=officer).status_code == 409
    project = client.post("/api/v1/projects", json=PROJECT, headers=officer)
    assert project.status_code == 201, project.text
    assert project.json()["capacity_mw"] == "10" or float(project.json()["capacity_mw"]) == 10
    loan = client.post("/api/v1/loans", json=LOAN, headers=officer)
    assert loan.status_code == 201, loan.text
    assert loan.json()["amount_yuan"] == "50000000.00" and loan.headers["etag"]
    assert client.get("/api/v1/loans/N-0001").headers["etag"] == loan.headers["etag"]
    assert client.post("/api/v1/loans", json=LOAN, headers=officer).status_code == 409

    # PATCH with the ETag, like loans
    etag = client.get(f"/api/v1/borrowers/{NEW_CODE}").headers["etag"]
    assert (
        client.patch(f"/api/v1/borrowers/{NEW_CODE}", json={"name": "新名"}, headers=officer).status_code
        == 428
    )
    edited = client.patch(f"/api/v1/borrowers/{NEW_CODE}", json={"name": "新名", "region_code": "310101"},
                          headers={**officer, "If-Match": etag})  # fmt: skip
    assert edited.status_code == 200, edited.text
    assert (
        edited.json()["name"] == "新名"
        and edited.json()["province_code"] == "31"
        and edited.headers["etag"] != etag
    )
    stale = client.patch(
        f"/api/v1/borrowers/{NEW_CODE}", json={"name": "x"}, headers={**officer, "If-Match": etag}
    )
    assert stale.status_code == 412
    p_etag = client.get("/api/v1/projects/P-NEW").headers["etag"]
    bad_dates = client.patch("/api/v1/projects/P-NEW", json={"completion_date": "2024-01-01"},
                             headers={**officer, "If-Match": p_etag})  # fmt: skip
    assert (
        bad_dates.status_code == 422
        and bad_dates.json()["detail"]["problems"][0]["field"] == "completion_date"
    )

    # DELETE refuses while rows depend on it, bilingually
    for url in (f"/api/v1/borrowers/{NEW_CODE}", "/api/v1/projects/P-NEW"):
        refused = client.delete(url, headers=officer)
        assert (
            refused.status_code == 409
            and "贷款" in refused.json()["detail"]
            and "loan" in refused.json()["detail"]
        )
    assert client.delete("/api/v1/loans/N-0001", headers=sign_in(client, "viewer")).status_code == 403
    officer = sign_in(client, "officer")
    assert client.delete("/api/v1/loans/N-0001", headers=officer).json() == {"id": "N-0001", "deleted": True}
    assert client.delete("/api/v1/projects/P-NEW", headers=officer).status_code == 200
    assert client.delete(f"/api/v1/borrowers/{NEW_CODE}", headers=officer).status_code == 200
    assert client.get(f"/api/v1/borrowers/{NEW_CODE}").status_code == 404
    assert client.delete("/api/v1/loans/N-0001", headers=officer).status_code == 404
    trail = {(e, a) for e, a in _audit(engine) if e in ("loan", "borrower", "project")}
    assert {(e, a) for e in ("loan", "borrower", "project") for a in ("create", "delete")} <= trail
    assert ("borrower", "update") in trail


def _audit(engine: Engine) -> list[tuple[str, str]]:
    with engine.connect() as connection:
        return [
            (r.entity, r.action) for r in connection.execute(select(audit_log.c.entity, audit_log.c.action))
        ]


def test_a_new_loan_meets_the_importer_rules_with_located_errors(client: TestClient, engine: Engine) -> None:
    officer = sign_in(client, "officer")
    assert client.post("/api/v1/borrowers", json=BORROWER, headers=officer).status_code == 201
    cases = [
        ({"borrower_credit_code": "91330100799655058A"}, "borrower_credit_code"),  # bad check digit
        ({"borrower_credit_code": "91110108MA01ABCDE0"}, "borrower_credit_code"),  # no such borrower
        ({"project_id": "NOPE"}, "project_id"),
        ({"start_date": "2025-13-45"}, "start_date"),
        ({"amount": "5000 apples"}, "amount"),
        ({"five_tier": "很好"}, "five_tier"),
    ]
    for change, field in cases:
        refused = client.post("/api/v1/loans", json={**LOAN, "project_id": None, **change}, headers=officer)
        assert refused.status_code == 422, (change, refused.text)
        assert field in {p["field"] for p in refused.json()["detail"]["problems"]}, (change, refused.text)
    over = client.post(
        "/api/v1/loans", json={**LOAN, "project_id": None, "balance": "6000万元"}, headers=officer
    )
    assert over.status_code == 422 and "余额" in over.json()["detail"]["problems"][0]["message_zh"]
    assert count(engine, loans, loans.c.loan_id == "N-0001") == 0
    made = client.post("/api/v1/loans", json={**LOAN, "project_id": None}, headers=officer)
    assert made.status_code == 201, made.text
    # the importer stores the same content with the same digest: a re-import finds it unchanged
    with engine.connect() as connection:
        stored = connection.execute(select(loans.c.row_hash).where(loans.c.loan_id == "N-0001")).scalar_one()
    assert made.headers["etag"] == f'"{stored}"'


def test_a_loan_is_not_deleted_while_pledged_or_awaiting_approval(client: TestClient, engine: Engine) -> None:
    add_user(engine, "custodian", PASSWORD, ["collateral_officer"], actor="admin")
    apply_cea_pledge(engine, actor="custodian")
    officer = sign_in(client, "officer")
    pledged = client.delete("/api/v1/loans/T-0001", headers=officer)
    assert (
        pledged.status_code == 409
        and "质押" in pledged.json()["detail"]
        and "pledge" in pledged.json()["detail"]
    )
    assert client.post("/api/v1/loans/T-0003/label/override", json={"reason": "x", "not_green": True},
                       headers=officer).status_code == 202  # fmt: skip
    waiting = client.delete("/api/v1/loans/T-0003", headers=officer)
    assert waiting.status_code == 409 and "待审批" in waiting.json()["detail"]
    assert count(engine, loans) == 3


def test_lists_sort_on_whitelisted_fields(client: TestClient) -> None:
    sign_in(client, "viewer")
    amounts = [
        Decimal_(i["amount_yuan"])
        for i in client.get("/api/v1/loans", params={"sort": "-amount"}).json()["items"]
    ]
    assert amounts == sorted(amounts, reverse=True) and len(amounts) == 3
    ids = [
        i["loan_id"]
        for i in client.get("/api/v1/loans", params={"sort": "-loan_id", "size": 2}).json()["items"]
    ]
    assert ids == ["T-0003", "T-0002"]
    names = [i["name"] for i in client.get("/api/v1/borrowers", params={"sort": "-name"}).json()["items"]]
    assert names == sorted(names, reverse=True)
    assert client.get("/api/v1/loans", params={"sort": "row_hash"}).status_code == 422
    assert client.get("/api/v1/projects", params={"sort": "-project_id"}).status_code == 200
    assert client.get("/api/v1/borrowers", params={"industry": "I65"}).json()["total"] == 2
    assert client.get("/api/v1/borrowers", params={"region": "44"}).json()["total"] == 1


def Decimal_(text: str) -> Any:  # noqa: N802 - reads as the type it makes
    from decimal import Decimal

    return Decimal(text)


def test_borrower_fields_are_checked_like_the_importer(client: TestClient, engine: Engine) -> None:
    officer = sign_in(client, "officer")
    bad = client.post("/api/v1/borrowers", json={**BORROWER, "region_code": "999999", "revenue": "-5万元"},
                      headers=officer)  # fmt: skip
    assert bad.status_code == 422
    assert {p["field"] for p in bad.json()["detail"]["problems"]} == {"region_code", "revenue"}
    missing = client.post("/api/v1/borrowers", json={"credit_code": NEW_CODE}, headers=officer)
    assert {p["field"] for p in missing.json()["detail"]["problems"]} >= {
        "name",
        "industry_code",
        "region_code",
    }
    assert count(engine, borrowers) == 2


# --- 5. review fixes: races on create, confirming what was seen, one loan list --------------------


def test_two_creates_of_one_key_at_once_give_409_not_500(
    client: TestClient, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other create commits between this one's existence check and its insert: the insert
    breaks the key, which must be answered 409 like any taken key, on both backends."""
    from greenfin.service import borrowers as borrower_service

    officer = sign_in(client, "officer")
    real = loan_service.stored
    raced: list[str] = []

    def racing_borrower(*args: Any) -> Any:
        if not raced:  # the competing create, on its own connection, commits in the gap
            raced.append("rival")  # first, so that the rival's own call goes straight through
            borrower_service.create_borrower(engine, BORROWER, actor="b", permissions={"IMPORT_LOAN"})
        return real(*args)

    monkeypatch.setattr(borrower_service, "stored", racing_borrower)
    lost = client.post("/api/v1/borrowers", json=BORROWER, headers=officer)
    assert lost.status_code == 409 and "已存在 / borrower" in lost.json()["detail"], lost.text
    assert raced and count(engine, borrowers, borrowers.c.credit_code == NEW_CODE) == 1
    monkeypatch.undo()
    assert client.post("/api/v1/projects", json=PROJECT, headers=officer).status_code == 201

    raced.clear()

    def racing_loan(*args: Any) -> Any:
        if not raced:
            monkeypatch.setattr(loan_service, "stored", real)  # the rival goes through unhindered
            raced.append(loan_service.create_loan(engine, LOAN, actor="b", permissions={"IMPORT_LOAN"}))
        return real(*args)

    monkeypatch.setattr(loan_service, "stored", racing_loan)
    lost = client.post("/api/v1/loans", json=LOAN, headers=officer)
    assert lost.status_code == 409 and "贷款 N-0001 已存在" in lost.json()["detail"], lost.text
    assert raced and count(engine, loans, loans.c.loan_id == "N-0001") == 1
    assert count(engine, audit_log, audit_log.c.action == "create", audit_log.c.entity_id == "N-0001") == 1


def test_an_integrity_error_other_than_a_taken_key_is_not_called_a_conflict(engine: Engine) -> None:
    """Only a taken key becomes 409: another broken constraint (here a missing borrower) is passed on."""
    from sqlalchemy.exc import IntegrityError

    import_files(engine, [DATA / "small_book.csv"], actor="tester")
    with engine.connect() as connection:
        row = dict(connection.execute(select(loans).where(loans.c.loan_id == "T-0001")).mappings().one())
    row.update(loan_id="T-9999", borrower_credit_code="91110108MA01ABCDEN")
    with pytest.raises(IntegrityError), engine.begin() as connection:
        loan_service.insert_new(connection, loans, "loan_id", row, loan_service.AlreadyExists("x", "x"))


def test_a_confirmation_names_the_label_it_saw(client: TestClient, engine: Engine) -> None:
    """A confirmation carrying the run, status and item the officer saw is refused (409, both
    languages) once labelling has run again or the label changed, and nothing is decided."""
    officer = sign_in(client, "officer")
    seen = client.get("/api/v1/loans/T-0002/label").json()["engine"]
    assert seen["status"] == "green"
    expected = {
        "expected_run_id": seen["run_id"],
        "expected_status": "green",
        "expected_item_code": seen["item_code"],
    }
    label_book(engine, actor="tester")  # labelling runs again after the officer looked
    late = client.post(
        "/api/v1/loans/T-0002/label/confirm", json={"reason": "核实", **expected}, headers=officer
    )
    assert (
        late.status_code == 409 and "已更新" in late.json()["detail"] and "changed" in late.json()["detail"]
    )
    wrong_item = {**expected, "expected_run_id": None, "expected_item_code": "1.1.1.1"}
    changed = client.post(
        "/api/v1/loans/T-0002/label/confirm", json={"reason": "核实", **wrong_item}, headers=officer
    )
    assert changed.status_code == 409
    not_green = {"expected_status": "not_green", "expected_item_code": ""}
    assert (
        client.post(
            "/api/v1/loans/T-0002/label/confirm", json={"reason": "核实", **not_green}, headers=officer
        )
    ).status_code == 409
    assert count(engine, label_decisions) == 0
    now = client.get("/api/v1/loans/T-0002/label").json()["engine"]
    current = {**expected, "expected_run_id": now["run_id"]}
    done = client.post(
        "/api/v1/loans/T-0002/label/confirm", json={"reason": "核实", **current}, headers=officer
    )
    assert done.status_code == 200 and done.json()["item_code"] == seen["item_code"], done.text
    bad = client.post(
        "/api/v1/loans/T-0003/label/confirm", json={"reason": "x", "expected_status": "blue"}, headers=officer
    )
    assert bad.status_code == 422


def test_the_api_and_the_pages_list_the_same_loans_in_the_same_order(client: TestClient) -> None:
    """One list behind both: every sort key, both directions, across pages, with unlabelled loans
    (a status and an item of NULL) in the book; the API takes both spellings of the borrower key."""
    from greenfin.web.pages import SORT_KEYS, loan_rows

    officer = sign_in(client, "officer")
    assert client.post("/api/v1/borrowers", json=BORROWER, headers=officer).status_code == 201
    assert client.post("/api/v1/projects", json=PROJECT, headers=officer).status_code == 201
    for number in range(1, 4):  # created after the labelling: no label yet
        loan = {**LOAN, "loan_id": f"N-000{number}", "amount": f"{1000 * number}万元", "balance": "900万元"}
        assert client.post("/api/v1/loans", json=loan, headers=officer).status_code == 201
    app_engine = client.app.state.engine  # type: ignore[attr-defined]
    for key in (*SORT_KEYS, "maturity_date"):
        for descending in (False, True):
            sort = f"-{key}" if descending else key
            api: list[str] = []
            for page in (1, 2, 3):
                items = client.get("/api/v1/loans", params={"sort": sort, "size": 2, "page": page}).json()[
                    "items"
                ]
                api += [i["loan_id"] for i in items]
            pages = [
                r["loan_id"]
                for page in (1, 2, 3)
                for r in loan_service.loan_page(
                    app_engine, sort=key, descending=descending, page=page, size=2
                )[0]
            ]
            assert len(api) == 6 and api == pages, sort
            if key in SORT_KEYS:
                shown = [
                    r["loan_id"]
                    for page in (1, 2, 3)
                    for r in loan_rows(app_engine, sort=key, descending=descending, page=page, size=2)[0]
                ]
                assert shown == api, sort
    statuses = [
        i["label_status"] for i in client.get("/api/v1/loans", params={"sort": "status"}).json()["items"]
    ]
    assert statuses[-3:] == [None, None, None]  # unlabelled last, whichever way
    statuses = [
        i["label_status"] for i in client.get("/api/v1/loans", params={"sort": "-status"}).json()["items"]
    ]
    assert statuses[-3:] == [None, None, None]
    old = client.get("/api/v1/loans", params={"sort": "-borrower_name"}).json()["items"]
    new = client.get("/api/v1/loans", params={"sort": "-borrower"}).json()["items"]
    assert [i["loan_id"] for i in old] == [i["loan_id"] for i in new]
    html = client.get("/loans", params={"sort": "-borrower", "size": 50}).text
    assert re.findall(r'<td><a href="/loans/([^"]+)">', html) == [i["loan_id"] for i in new]


@pytest.mark.parametrize("path", ["/api/v1/projects/%00", "/api/v1/borrowers/%00", "/api/v1/loans/%00"])
def test_a_nul_character_in_a_path_is_a_client_error_on_both_databases(client: TestClient, path: str) -> None:
    """PostgreSQL refuses NUL in any text it is sent; the fuzz run found this as a 500 there."""
    answer = client.get(path, headers=sign_in(client, "viewer"))
    assert answer.status_code in (404, 422), answer.text
