"""REST API v1: thin routes over the services, each naming the permission it needs.

Schemas are versioned with the path (``/api/v1``) and every field has a description.  Lists are
paged (``page``, ``size`` ≤ 200).  A loan carries an ETag (its stored content digest).  Creating
POSTs accept an ``Idempotency-Key``: the same key from the same user replays the first response.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from decimal import Decimal
from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import (
    APIRouter,
    Depends,
    File,
    Header,
    HTTPException,
    Path,
    Query,
    Request,
    Response,
    UploadFile,
)
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine, func, insert, select
from starlette.concurrency import run_in_threadpool

from greenfin.api.security import need, principal, start_session
from greenfin.ingest.issues import ImportRejected
from greenfin.model.problems import ValueProblem
from greenfin.service import approvals, audit, identification
from greenfin.service.audit import verify_chain
from greenfin.service.auth import LoginRefused, Principal, create_token, login
from greenfin.service.cerf import run_batch
from greenfin.service.collateral import CollateralProblem, revalue
from greenfin.service.identification import label_book
from greenfin.service.importing import import_files
from greenfin.service.loans import LoanNotFound, StaleVersion, update_loan
from greenfin.service.reports import stats_report
from greenfin.service.users import PermissionDenied
from greenfin.store.paging import page_of
from greenfin.store.schema import borrowers, idempotency_keys, loan_labels, loans, pledges, prices, projects

router = APIRouter(prefix="/api/v1")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginIn(Strict):
    username: str = Field(min_length=1, max_length=100, description="用户名 / user name")
    password: str = Field(min_length=1, max_length=200, description="密码 / password")


class LoginOut(BaseModel):
    username: str = Field(description="用户名 / user name")
    roles: list[str] = Field(description="角色 / roles")
    permissions: list[str] = Field(description="权限（ACTION_ENTITY）/ permissions")
    csrf_token: str = Field(
        description="会话的 CSRF 令牌：修改类请求放入 X-CSRF-Token 头 / send as X-CSRF-Token"
    )


class TokenIn(Strict):
    name: str = Field(min_length=1, max_length=100, description="令牌用途 / what the token is for")


class TokenOut(BaseModel):
    token: str = Field(description="API 令牌，只显示这一次 / the token, shown once")


class LoanOut(BaseModel):
    loan_id: str = Field(description="贷款编号 / loan id")
    borrower_name: str = Field(description="借款人名称 / borrower")
    industry_code: str = Field(description="行业代码 GB/T 4754 / industry code")
    purpose: str | None = Field(description="贷款用途 / purpose")
    amount_yuan: Decimal = Field(description="贷款金额（元）/ amount, CNY")
    balance_yuan: Decimal = Field(description="贷款余额（元）/ outstanding, CNY")
    currency: str = Field(description="币种 / currency")
    start_date: dt.date = Field(description="发放日期 / start date")
    maturity_date: dt.date = Field(description="到期日期 / maturity")
    five_tier: str | None = Field(description="五级分类 / five-tier class")
    label_status: str | None = Field(description="最近一次识别结果 / latest engine label")
    label_item: str | None = Field(description="目录条目 / catalogue item")


class LoanPage(BaseModel):
    items: list[LoanOut] = Field(description="本页贷款 / loans on this page")
    total: int = Field(description="符合条件的贷款总数 / matching loans")
    page: int = Field(description="页码，从 1 开始 / page, from 1")
    size: int = Field(description="每页条数 / page size")


class DecisionIn(Strict):
    reason: str = Field(min_length=1, max_length=2000, description="理由 / reason")


class OverrideIn(Strict):
    reason: str = Field(min_length=1, max_length=2000, description="改判理由 / reason")
    item_code: str | None = Field(None, max_length=16, description="改为此目录条目 / the item to use")
    not_green: bool = Field(False, description="改为非绿色 / not green")


class PendingOut(BaseModel):
    id: int = Field(description="待复核编号 / proposal id")
    kind: str = Field(description="操作类型 / kind")
    entity_id: str = Field(description="对象 / entity")
    payload: dict[str, Any] = Field(description="提议内容 / what is proposed")
    maker: str = Field(description="提出人 / maker")
    status: str = Field(description="pending / approved / rejected")


class NoteIn(Strict):
    note: str = Field("", max_length=2000, description="复核意见 / note")


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def _idempotent(request: Request, who: Principal, key: str | None) -> dict[str, Any] | None:
    if not key:
        return None
    with _engine(request).connect() as connection:
        row = connection.execute(
            select(idempotency_keys.c.response, idempotency_keys.c.request).where(
                idempotency_keys.c.key == key, idempotency_keys.c.username == who.username
            )
        ).first()
    if row is None:
        return None
    if row.request != f"{request.method} {request.url.path}":
        raise HTTPException(422, "Idempotency-Key 已用于另一个请求 / key used for another request")
    return dict(row.response)


def _remember(request: Request, who: Principal, key: str | None, status: int, body: dict[str, Any]) -> None:
    if not key:
        return
    with _engine(request).begin() as connection:
        connection.execute(
            insert(idempotency_keys).values(
                key=key, username=who.username, request=f"{request.method} {request.url.path}", status_code=status,
                response=audit.jsonable(body), created_at=audit.now(),
            )
        )  # fmt: skip


IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=100)]
ActionId = Annotated[int, Path(ge=1, le=2**31 - 1, description="待复核编号 / proposal id")]
LoanId = Annotated[str, Path(min_length=1, max_length=64, description="贷款编号 / loan id")]


@router.post("/auth/login", response_model=LoginOut, tags=["auth"])
def api_login(body: LoginIn, request: Request, response: Response) -> LoginOut:
    """登录：成功后设置会话 Cookie；连续 5 次失败锁定 15 分钟 / sign in."""
    try:
        who = login(_engine(request), body.username, body.password)
    except LoginRefused as exc:
        raise HTTPException(423 if exc.locked else 401, str(exc)) from None
    session = start_session(response, request, request.app.state.signer, who.username)
    return LoginOut(
        username=who.username,
        roles=list(who.roles),
        permissions=sorted(who.permissions),
        csrf_token=session.csrf,
    )


@router.post("/auth/tokens", response_model=TokenOut, tags=["auth"])
def api_token(body: TokenIn, request: Request, who: Annotated[Principal, Depends(principal)]) -> TokenOut:
    """为当前用户生成 API 令牌（只显示一次）/ create an API token."""
    return TokenOut(token=create_token(_engine(request), who.username, body.name))


@router.get("/me", response_model=LoginOut, tags=["auth"])
def me(request: Request, who: Annotated[Principal, Depends(principal)]) -> LoginOut:
    """当前用户、角色与权限 / who am I."""
    return LoginOut(
        username=who.username, roles=list(who.roles), permissions=sorted(who.permissions), csrf_token=""
    )


def _latest_run(connection: Any) -> int | None:
    value = connection.execute(select(func.max(loan_labels.c.run_id))).scalar()
    return None if value is None else int(value)


def _loan_query(run_id: int | None) -> Any:
    label = loan_labels.alias("label")
    join = loans.join(borrowers)
    if run_id is not None:
        join = join.outerjoin(label, (label.c.loan_id == loans.c.loan_id) & (label.c.run_id == run_id))
    columns: list[Any] = [loans, borrowers.c.name.label("borrower_name"), borrowers.c.industry_code]
    if run_id is not None:
        columns += [label.c.status.label("label_status"), label.c.item_code.label("label_item")]
    return select(*columns).select_from(join), (label if run_id is not None else None)


def _yuan(fen: int) -> Decimal:
    return (Decimal(fen) / 100).quantize(Decimal("0.01"))


def _loan_out(row: Any) -> LoanOut:
    return LoanOut(
        loan_id=row["loan_id"], borrower_name=row["borrower_name"], industry_code=row["industry_code"],
        purpose=row["purpose"], amount_yuan=_yuan(row["amount_fen"]), balance_yuan=_yuan(row["balance_fen"]),
        currency=row["currency"], start_date=row["start_date"], maturity_date=row["maturity_date"],
        five_tier=row["five_tier"], label_status=row.get("label_status"), label_item=row.get("label_item"),
    )  # fmt: skip


@router.get("/loans", response_model=LoanPage, tags=["loans"])
def list_loans(
    request: Request,
    who: Annotated[Principal, Depends(need("READ_LOAN"))],
    page: int = Query(1, ge=1, le=1_000_000, description="页码 / page"),
    size: int = Query(50, ge=1, le=200, description="每页条数 / page size"),
    q: str | None = Query(None, max_length=100, description="贷款编号、借款人或用途包含 / search"),
    status: str | None = Query(
        None, pattern="^(green|not_green|needs_review)$", description="识别结果 / label"
    ),
) -> LoanPage:
    """贷款台账：分页、检索、按识别结果筛选 / the loan book, paged."""
    with _engine(request).connect() as connection:
        run_id = _latest_run(connection)
        query, label = _loan_query(run_id)
        if q:
            pattern = f"%{q}%"
            query = query.where(
                loans.c.loan_id.like(pattern) | borrowers.c.name.like(pattern) | loans.c.purpose.like(pattern)
            )
        if status:
            if label is None:
                return LoanPage(items=[], total=0, page=page, size=size)
            query = query.where(label.c.status == status)
        if q or status:
            total = connection.execute(select(func.count()).select_from(query.subquery())).scalar() or 0
        else:  # no filter: every loan, counted without the joins
            total = connection.execute(select(func.count()).select_from(loans)).scalar() or 0
        window = page_of(
            query, loans.c.loan_id, descending=False, size=size, offset=(page - 1) * size,
            filtered=bool(q or status),
        )  # fmt: skip
        rows = connection.execute(window).mappings()
        return LoanPage(items=[_loan_out(dict(r)) for r in rows], total=int(total), page=page, size=size)


@router.get("/loans/{loan_id}", response_model=LoanOut, tags=["loans"])
def get_loan(
    loan_id: LoanId,
    request: Request,
    response: Response,
    who: Annotated[Principal, Depends(need("READ_LOAN"))],
) -> LoanOut:
    """一笔贷款（ETag 为其内容摘要）/ one loan, with its ETag."""
    with _engine(request).connect() as connection:
        query, _label = _loan_query(_latest_run(connection))
        row = connection.execute(query.where(loans.c.loan_id == loan_id)).mappings().first()
    if row is None:
        raise HTTPException(404, f"贷款 {loan_id} 不存在 / no such loan")
    response.headers["ETag"] = f'"{row["row_hash"]}"'
    return _loan_out(dict(row))


class LoanPatch(Strict):
    purpose: str | None = Field(None, max_length=2000, description="贷款用途 / purpose")
    five_tier: str | None = Field(
        None, max_length=8, description="五级分类：正常/关注/次级/可疑/损失 / five-tier class"
    )
    balance: str | None = Field(
        None, max_length=40, description="贷款余额，带单位，如 4800万元 / balance with unit"
    )


@router.patch("/loans/{loan_id}", response_model=LoanOut, tags=["loans"])
def patch_loan(
    loan_id: LoanId, body: LoanPatch, request: Request, response: Response,
    who: Annotated[Principal, Depends(need("EDIT_LOAN"))],
    if_match: Annotated[str | None, Header(alias="If-Match", max_length=100)] = None,
) -> LoanOut:  # fmt: skip
    """修改一笔贷款（须带 If-Match：读取时的 ETag；他人已改动则 412）/ edit a loan, optimistic locking."""
    if not if_match:
        raise HTTPException(428, "须带 If-Match 头（读取时的 ETag）/ If-Match required")
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    if not changes:
        raise HTTPException(422, "没有要修改的字段 / nothing to change")
    try:
        version = update_loan(
            _engine(request), loan_id, changes, expected=if_match.strip('"'), actor=who.username
        )
    except LoanNotFound:
        raise HTTPException(404, f"贷款 {loan_id} 不存在 / no such loan") from None
    except StaleVersion:
        raise HTTPException(412, "贷款已被他人修改，请重新读取 / the loan changed; read it again") from None
    except ValueProblem as exc:
        raise HTTPException(422, exc.zh) from None
    response.headers["ETag"] = f'"{version}"'
    return get_loan(loan_id, request, Response(), who)


@router.get("/loans/{loan_id}/label", tags=["labels"])
def get_label(
    loan_id: LoanId, request: Request, who: Annotated[Principal, Depends(need("READ_LABEL"))]
) -> dict[str, Any]:
    """识别结果与官员决定并列 / the engine's label and the officer's decision."""
    found = identification.loan_label(_engine(request), loan_id)
    if found["engine"] is None and found["decision"] is None:
        raise HTTPException(404, f"贷款 {loan_id} 无识别结果 / not labelled")
    return audit.jsonable(found)  # type: ignore[no-any-return]


@router.post("/loans/{loan_id}/label/confirm", tags=["labels"])
def confirm_label(
    loan_id: LoanId,
    body: DecisionIn,
    request: Request,
    who: Annotated[Principal, Depends(need("CONFIRM_LABEL"))],
) -> dict[str, Any]:
    """确认引擎的识别结果 / confirm the engine's label."""
    try:
        result = identification.decide(
            _engine(request), loan_id, action="confirm", reason=body.reason, actor=who.username
        )
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    return audit.jsonable(result)  # type: ignore[no-any-return]


@router.post("/loans/{loan_id}/label/override", status_code=202, response_model=PendingOut, tags=["labels"])
def override_label(
    loan_id: LoanId, body: OverrideIn, request: Request, who: Annotated[Principal, Depends(need("OVERRIDE_LABEL"))],
    idempotency_key: IdempotencyKey = None,
) -> PendingOut:  # fmt: skip
    """提出改判：待另一位审批人复核后生效（maker-checker）/ propose an override for approval."""
    return _propose(request, who, "label_override", loan_id, body.model_dump(), idempotency_key)


@router.get("/approvals", response_model=list[PendingOut], tags=["approvals"])
def list_approvals(
    request: Request, who: Annotated[Principal, Depends(need("READ_APPROVAL"))]
) -> list[PendingOut]:
    """待复核的操作 / proposals waiting for a checker."""
    return [
        PendingOut(**{k: row[k] for k in PendingOut.model_fields})
        for row in approvals.pending(_engine(request))
    ]


def _decide(action_id: int, request: Request, who: Principal, body: NoteIn, approve: bool) -> dict[str, Any]:
    decide = approvals.approve if approve else approvals.reject
    try:
        decide(_engine(request), action_id, checker=who.username, permissions=who.permissions, note=body.note)
    except approvals.ApprovalProblem as exc:  # missing (404), not theirs (403), or the maker (409)
        raise HTTPException(exc.status, str(exc)) from None
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    return {"id": action_id, "status": "approved" if approve else "rejected"}


@router.post("/approvals/{action_id}/approve", tags=["approvals"])
def approve_action(
    action_id: ActionId,
    body: NoteIn,
    request: Request,
    who: Annotated[Principal, Depends(need("READ_APPROVAL"))],
) -> dict[str, Any]:
    """批准（复核人不能是提出人）/ approve; the checker is never the maker."""
    return _decide(action_id, request, who, body, True)


@router.post("/approvals/{action_id}/reject", tags=["approvals"])
def reject_action(
    action_id: ActionId,
    body: NoteIn,
    request: Request,
    who: Annotated[Principal, Depends(need("READ_APPROVAL"))],
) -> dict[str, Any]:
    """退回 / reject."""
    return _decide(action_id, request, who, body, False)


@router.get("/prices/{series}", tags=["collateral"])
def get_prices(
    series: Annotated[str, Path(min_length=1, max_length=32, description="价格序列代码 / series code")],
    request: Request,
    who: Annotated[Principal, Depends(need("READ_PRICE"))],
    last: int = Query(20, ge=1, le=5000),
) -> list[dict[str, Any]]:
    """价格序列最近 N 日 / the last N days of a price series."""
    with _engine(request).connect() as connection:
        rows = connection.execute(
            select(prices)
            .where(prices.c.instrument == series.upper())
            .order_by(prices.c.day.desc())
            .limit(last)
        ).mappings()
        return [audit.jsonable(dict(r)) for r in rows]


@router.get("/pledges", tags=["collateral"])
def list_pledges(
    request: Request, who: Annotated[Principal, Depends(need("READ_PLEDGE"))],
    page: int = Query(1, ge=1, le=1_000_000), size: int = Query(50, ge=1, le=200),
) -> list[dict[str, Any]]:  # fmt: skip
    """环境权益质押 / pledges."""
    with _engine(request).connect() as connection:
        rows = connection.execute(
            select(pledges).order_by(pledges.c.pledge_id).limit(size).offset((page - 1) * size)
        )
        return [audit.jsonable(dict(r._mapping)) for r in rows]


@router.get("/audit/verify", tags=["audit"])
def audit_verify(request: Request, who: Annotated[Principal, Depends(need("READ_AUDIT"))]) -> dict[str, Any]:
    """校验审计日志哈希链 / verify the audit log's hash chain."""
    with _engine(request).connect() as connection:
        count, problems = verify_chain(connection)
    return {"records": count, "intact": not problems, "problems": [p.problem_zh for p in problems[:50]]}


class RegisterIn(Strict):
    reference: str = Field(
        min_length=1, max_length=100, description="登记机构的质押登记编号 / registry reference"
    )


class ReleaseIn(Strict):
    reason: str = Field(min_length=1, max_length=2000, description="解押理由 / reason")


class QuarterIn(Strict):
    quarter: str = Field(pattern=r"^\d{4}Q[1-4]$", description="季度，如 2026Q3 / quarter")


PledgeId = Annotated[str, Path(min_length=1, max_length=64, description="质押编号 / pledge id")]


def _propose(
    request: Request, who: Principal, kind: str, entity: str, payload: dict[str, Any], key: str | None
) -> PendingOut:
    replay = _idempotent(request, who, key)
    if replay is not None:
        return PendingOut(**replay)
    try:
        action_id = approvals.propose(_engine(request), kind, entity, payload, maker=who.username)
    except approvals.ApprovalProblem as exc:
        raise HTTPException(422, str(exc)) from None
    out = PendingOut(
        id=action_id, kind=kind, entity_id=entity, payload=payload, maker=who.username, status="pending"
    )
    _remember(request, who, key, 202, out.model_dump())
    return out


@router.post("/pledges/{pledge_id}/register", status_code=202, response_model=PendingOut, tags=["collateral"])
def propose_registration(
    pledge_id: PledgeId, body: RegisterIn, request: Request, who: Annotated[Principal, Depends(need("REGISTER_PLEDGE"))],
    idempotency_key: IdempotencyKey = None,
) -> PendingOut:  # fmt: skip
    """提出质押登记（审批人复核后生效）/ propose a pledge's registration for approval."""
    return _propose(request, who, "pledge_register", pledge_id, body.model_dump(), idempotency_key)


@router.post("/pledges/{pledge_id}/release", status_code=202, response_model=PendingOut, tags=["collateral"])
def propose_release(
    pledge_id: PledgeId, body: ReleaseIn, request: Request, who: Annotated[Principal, Depends(need("REGISTER_PLEDGE"))],
    idempotency_key: IdempotencyKey = None,
) -> PendingOut:  # fmt: skip
    """提出解押（审批人复核后生效）/ propose a release for approval."""
    return _propose(request, who, "pledge_release", pledge_id, body.model_dump(), idempotency_key)


@router.post("/cerf/batches", tags=["cerf"])
def cerf_batch(
    body: QuarterIn, request: Request, who: Annotated[Principal, Depends(need("RUN_CERF"))]
) -> dict[str, Any]:
    """生成或重算季度批次（内容不变则不改动，变化则记为更正）/ run a quarter's batch."""
    try:
        batch = run_batch(_engine(request), body.quarter, actor=who.username)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    return {
        "batch_id": batch.batch_id, "quarter": batch.quarter, "revision": batch.revision, "changed": batch.changed,
        "amends": batch.amends, "loans": len(batch.decisions), "eligible": len(batch.eligible),
        "facility_yuan": str(Decimal(sum(d.facility_fen for _, d in batch.eligible)) / 100),
    }  # fmt: skip


@router.post("/cerf/batches/{batch_id}/submit", status_code=202, response_model=PendingOut, tags=["cerf"])
def cerf_submit(
    batch_id: ActionId, request: Request, who: Annotated[Principal, Depends(need("SUBMIT_CERF"))],
    idempotency_key: IdempotencyKey = None,
) -> PendingOut:  # fmt: skip
    """提出报送批次（审批人复核后生效）/ propose the batch's submission for approval."""
    return _propose(request, who, "cerf_submit", str(batch_id), {}, idempotency_key)


@router.get("/borrowers", tags=["loans"])
def list_borrowers(
    request: Request, who: Annotated[Principal, Depends(need("READ_LOAN"))],
    page: int = Query(1, ge=1, le=1_000_000), size: int = Query(50, ge=1, le=200),
    q: str | None = Query(None, max_length=100, description="名称或信用代码包含 / search"),
) -> dict[str, Any]:  # fmt: skip
    """借款人（分页、检索）/ borrowers, paged."""
    query = select(borrowers).order_by(borrowers.c.credit_code)
    if q:
        query = query.where(
            borrowers.c.name.contains(q, autoescape=True) | borrowers.c.credit_code.contains(q)
        )
    with _engine(request).connect() as connection:
        total = connection.execute(select(func.count()).select_from(query.subquery())).scalar() or 0
        rows = connection.execute(query.limit(size).offset((page - 1) * size)).mappings()
        items = [audit.jsonable({k: v for k, v in dict(r).items() if k != "row_hash"}) for r in rows]
    return {"items": items, "total": int(total), "page": page, "size": size}


@router.get("/projects", tags=["loans"])
def list_projects(
    request: Request, who: Annotated[Principal, Depends(need("READ_LOAN"))],
    page: int = Query(1, ge=1, le=1_000_000), size: int = Query(50, ge=1, le=200),
) -> dict[str, Any]:  # fmt: skip
    """项目（分页）/ projects, paged."""
    with _engine(request).connect() as connection:
        total = connection.execute(select(func.count()).select_from(projects)).scalar() or 0
        rows = connection.execute(
            select(projects).order_by(projects.c.project_id).limit(size).offset((page - 1) * size)
        ).mappings()
        items = [audit.jsonable({k: v for k, v in dict(r).items() if k != "row_hash"}) for r in rows]
    return {"items": items, "total": int(total), "page": page, "size": size}


@router.post("/loans/import", tags=["loans"])
async def import_loans(
    request: Request, who: Annotated[Principal, Depends(need("IMPORT_LOAN"))],
    file: Annotated[UploadFile, File(description="贷款台账 CSV 或 XLSX / loan book file")],
) -> dict[str, Any]:  # fmt: skip
    """导入贷款台账：全部成功或全部不导入，错误逐行定位 / import a loan book, all or nothing."""
    name = FilePath(file.filename or "upload.csv").name
    if FilePath(name).suffix.lower() not in {".csv", ".xlsx", ".txt"}:
        raise HTTPException(422, "只接受 CSV 或 XLSX 文件 / CSV or XLSX only")
    with tempfile.TemporaryDirectory() as folder:
        path = FilePath(folder) / name
        path.write_bytes(await file.read())
        try:
            summary = await run_in_threadpool(import_files, _engine(request), [path], actor=who.username)
        except ImportRejected as rejected:
            issues = [
                {"file": i.file, "row": i.row, "column": i.column, "value": i.value, "message_zh": i.message_zh,
                 "message_en": i.message_en}
                for i in rejected.issues[:200]
            ]  # fmt: skip
            raise HTTPException(422, {"total": rejected.total, "issues": issues}) from None
    return {"batch_id": summary.batch_id, "rows": summary.rows, "loans": audit.jsonable(vars(summary.loans))}


@router.post("/labels/run", tags=["labels"])
async def run_labels(
    request: Request, who: Annotated[Principal, Depends(need("RUN_LABEL"))]
) -> dict[str, Any]:
    """对全部贷款运行绿色识别（结果与规则版本一并保存）/ label the whole book."""
    run = await run_in_threadpool(label_book, _engine(request), actor=who.username)
    return {"run_id": run.run_id, "loans": run.loans, "green": run.green, "not_green": run.not_green,
            "needs_review": run.needs_review}  # fmt: skip


class RevalueIn(Strict):
    day: dt.date = Field(description="估值日 / valuation day")


@router.post("/collateral/revalue", tags=["collateral"])
async def revalue_pledges(
    body: RevalueIn, request: Request, who: Annotated[Principal, Depends(need("REVALUE_PLEDGE"))]
) -> dict[str, Any]:
    """重估全部在押押品并产生越线提示 / revalue every live pledge."""
    if not dt.date(2000, 1, 1) <= body.day <= dt.date(2100, 12, 31):
        raise HTTPException(422, "估值日超出范围 / day out of range")
    try:
        run = await run_in_threadpool(revalue, _engine(request), body.day, actor=who.username)
    except (CollateralProblem, PermissionDenied) as exc:
        raise HTTPException(409, str(exc)) from None
    return {
        "run_id": run.run_id, "day": run.day.isoformat(), "policy": f"{run.policy.name}@{run.policy.version}",
        "values": len(run.values), "alerts": [{"pledge_id": p, "kind": k, "message": m} for p, k, m in run.alerts],
        "unpriced": [p for p, _why in run.unpriced],
    }  # fmt: skip


@router.get("/reports/stats", tags=["reports"])
async def stats(
    request: Request, who: Annotated[Principal, Depends(need("READ_REPORT"))],
    as_of: Annotated[dt.date, Query(description="统计时点 / as of")],
) -> dict[str, Any]:  # fmt: skip
    """绿色贷款统计的主要数字（总额、按一级类别）/ the statistics' main figures."""
    if not dt.date(2000, 1, 1) <= as_of <= dt.date(2100, 12, 31):
        raise HTTPException(422, "统计时点超出范围 / date out of range")
    result = await run_in_threadpool(stats_report, _engine(request), as_of, actor=who.username)
    return {
        "as_of": as_of.isoformat(),
        "figures": [
            {"key": f.key, "count": f.count, "balance_yuan": str(f.balance_yuan)} for f in result.figures()
        ],
    }
