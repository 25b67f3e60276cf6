"""REST API v1: thin routes over the services, each naming the permission it needs.

Schemas are versioned with the path (``/api/v1``): a change that breaks a client gets a new
prefix, so every field and parameter is described (Chinese / English) and every operation has a
typed response (``tests/test_api_schema.py`` checks both).  Lists are paged (``page``, ``size`` ≤
200), filtered and sorted by query parameters.  Loans, borrowers and projects carry an ETag (their
version); a PATCH needs it in ``If-Match`` and the service compares it in the UPDATE itself.
Creating POSTs accept an ``Idempotency-Key`` bound to the method, path and body: the key is
reserved before the work, so a retry, even a concurrent one, never does the work twice.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import tempfile
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path as FilePath
from typing import Annotated, Any, TypeVar

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
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import Engine, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from greenfin.api.security import client_address, need, principal, start_session
from greenfin.ingest.issues import ImportRejected
from greenfin.model.problems import ValueProblem
from greenfin.service import approvals, audit, identification
from greenfin.service import borrowers as borrower_service
from greenfin.service import loans as loan_service
from greenfin.service import projects as project_service
from greenfin.service.audit import verify_report
from greenfin.service.auth import LoginRefused, Principal, check_token_name, create_token, login
from greenfin.service.borrowers import BORROWER
from greenfin.service.cerf import run_batch
from greenfin.service.collateral import CollateralProblem, revalue
from greenfin.service.identification import label_book
from greenfin.service.importing import import_files
from greenfin.service.projects import PROJECT
from greenfin.service.reports import stats_report
from greenfin.service.uploads import upload_name
from greenfin.service.users import PermissionDenied
from greenfin.store.schema import borrowers, idempotency_keys, loans, prices, projects

ModelT = TypeVar("ModelT", bound=BaseModel)

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
    name: str = Field(
        min_length=1, max_length=100,
        description="令牌用途：字母、数字、汉字、_ . - 和中间的空格 / what the token is for: letters, digits, "
        "CJK characters, _ . - and inner spaces",
    )  # fmt: skip

    @field_validator("name")
    @classmethod
    def _revocable_name(cls, name: str) -> str:
        """The name is a path segment of ``DELETE /auth/tokens/{name}``: one with ``/`` could never
        be revoked there, so it is refused here (a 422 located at ``body.name``)."""
        return check_token_name(name)


class TokenOut(BaseModel):
    token: str = Field(description="API 令牌，只显示这一次 / the token, shown once")


class LoanOut(BaseModel):
    loan_id: str = Field(description="贷款编号 / loan id")
    borrower_credit_code: str = Field(description="借款人统一社会信用代码 / borrower's credit code")
    borrower_name: str = Field(description="借款人名称 / borrower")
    industry_code: str = Field(description="行业代码 GB/T 4754 / industry code")
    project_id: str | None = Field(description="项目编号 / project id")
    purpose: str | None = Field(description="贷款用途 / purpose")
    amount_yuan: Decimal = Field(description="贷款金额（元）/ amount, CNY")
    balance_yuan: Decimal = Field(description="贷款余额（元）/ outstanding, CNY")
    currency: str = Field(description="币种 / currency")
    start_date: dt.date = Field(description="发放日期 / start date")
    maturity_date: dt.date = Field(description="到期日期 / maturity")
    five_tier: str | None = Field(description="五级分类 / five-tier class")
    label_status: str | None = Field(
        description="现行识别结果：官员最近的决定（含已批准的改判），否则引擎结果 / label in force: "
        "the officer's latest decision (approved overrides included), else the engine's"
    )
    label_item: str | None = Field(description="现行结果的目录条目 / catalogue item of the label in force")
    label_decided: bool = Field(description="现行结果是否来自官员决定 / whether an officer decided it")
    engine_status: str | None = Field(description="最近一次引擎识别结果 / the engine's latest label")


class LoanPage(BaseModel):
    items: list[LoanOut] = Field(description="本页贷款 / loans on this page")
    total: int = Field(description="符合条件的贷款总数 / matching loans")
    page: int = Field(description="页码，从 1 开始 / page, from 1")
    size: int = Field(description="每页条数 / page size")


class DecisionIn(Strict):
    """A confirmation; the ``expected_*`` fields name the label the officer saw, so a label that
    changed since (labelling ran again) is refused (409) rather than confirmed unseen."""

    reason: str = Field(min_length=1, max_length=2000, description="理由 / reason")
    expected_run_id: int | None = Field(
        None, ge=1, description="所见识别结果的批次号，不符则 409 / run id of the label seen; 409 if not current",
    )  # fmt: skip
    expected_status: str | None = Field(
        None, pattern="^(green|not_green|needs_review)$",
        description="所见识别结果，不符则 409 / status of the label seen; 409 if it changed",
    )  # fmt: skip
    expected_item_code: str | None = Field(
        None, max_length=16,
        description="所见目录条目（空字符串表示无条目），不符则 409 / item seen (\"\" for none); 409 if it changed",
    )  # fmt: skip


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
    status: str = Field(description="状态：pending 待复核 / approved 已批准 / rejected 已退回 / status")


class NoteIn(Strict):
    note: str = Field("", max_length=2000, description="复核意见 / note")


class LabelOut(BaseModel):
    engine: dict[str, Any] | None = Field(
        description="引擎最近一次识别结果（含证据与规则版本）/ the engine's latest label, with evidence"
    )
    decision: dict[str, Any] | None = Field(description="官员最近的决定 / the officer's latest decision")


class DecisionOut(BaseModel):
    loan_id: str = Field(description="贷款编号 / loan id")
    action: str = Field(description="confirm 确认 / override 改判 / the action")
    status: str = Field(description="官员认定的识别结果 / the label settled on")
    catalogue: str = Field(description="所用目录 / catalogue")
    item_code: str | None = Field(None, description="目录条目 / catalogue item")
    reason: str = Field(description="理由 / reason")
    actor: str = Field(description="决定人 / who decided")


class DecidedOut(BaseModel):
    id: int = Field(description="待复核编号 / proposal id")
    status: str = Field(description="复核后的状态：approved 批准 / rejected 退回 / the outcome")


class PriceOut(BaseModel):
    instrument: str = Field(description="价格序列代码 / series code")
    day: dt.date = Field(description="交易日 / trading day")
    open_yuan: Decimal | None = Field(description="开盘价（元）/ open, CNY")
    high_yuan: Decimal | None = Field(description="最高价（元）/ high, CNY")
    low_yuan: Decimal | None = Field(description="最低价（元）/ low, CNY")
    close_yuan: Decimal = Field(description="收盘价（元）/ close, CNY")
    volume: Decimal | None = Field(description="成交量 / volume")


class AuditOut(BaseModel):
    records: int = Field(description="审计记录条数 / records checked")
    intact: bool = Field(description="哈希链是否完整 / whether the chain is intact")
    problems: list[str] = Field(description="发现的问题（至多 50 条）/ problems found, at most 50")
    keyed_from: int | None = Field(
        None, description="自哪条记录起加密钥（HMAC），null 为未加密钥 / first keyed record; null: unkeyed"
    )
    key_configured: bool = Field(False, description="是否配置了 GREENFIN_AUDIT_KEY / whether a key is set")
    status: str = Field(
        "", description="链是否加密钥及其含义 / whether the chain is keyed and what that means"
    )
    head_id: int | None = Field(None, description="链尾记录编号，请在库外记下 / newest record id, to note")
    head_hash: str | None = Field(
        None, description="链尾记录哈希，请在库外记下 / newest record hash, to note"
    )


class CerfBatchOut(BaseModel):
    batch_id: int = Field(description="批次编号 / batch id")
    quarter: str = Field(description="季度 / quarter")
    revision: int = Field(description="修订号 / revision")
    changed: bool = Field(description="内容是否有变化 / whether the content changed")
    amends: int | None = Field(description="所更正的批次 / the batch it amends")
    loans: int = Field(description="审查的贷款数 / loans considered")
    eligible: int = Field(description="符合条件的贷款数 / eligible loans")
    facility_yuan: str = Field(description="可申请的支持资金（元）/ facility, CNY")


class ImportCounts(BaseModel):
    inserted: int = Field(description="新增 / inserted")
    updated: int = Field(description="更新 / updated")
    unchanged: int = Field(description="未变 / unchanged")


class ImportOut(BaseModel):
    batch_id: int = Field(description="导入批次编号 / import batch id")
    rows: int = Field(description="读取的行数 / rows read")
    loans: ImportCounts = Field(description="贷款的增改情况 / what happened to the loans")


class LabelRunOut(BaseModel):
    run_id: int = Field(description="识别批次编号 / run id")
    loans: int = Field(description="识别的贷款数 / loans labelled")
    green: int = Field(description="绿色 / green")
    not_green: int = Field(description="非绿色 / not green")
    needs_review: int = Field(description="待人工复核 / needs review")


class AlertOut(BaseModel):
    pledge_id: str = Field(description="质押编号 / pledge id")
    kind: str = Field(description="提示类型 / alert kind")
    message: str = Field(description="提示内容 / message")


class RevalueOut(BaseModel):
    run_id: int = Field(description="重估批次编号 / revaluation run id")
    day: dt.date = Field(description="估值日 / valuation day")
    policy: str = Field(description="估值政策及版本 / valuation policy and version")
    values: int = Field(description="估值的质押数 / pledges valued")
    alerts: list[AlertOut] = Field(description="越线提示 / threshold alerts")
    unpriced: list[str] = Field(description="无价格、未能估值的质押 / pledges without a price")


class FigureOut(BaseModel):
    key: str = Field(description="指标 / figure")
    count: int = Field(description="贷款笔数 / loans")
    balance_yuan: str = Field(description="余额（元）/ balance, CNY")


class StatsOut(BaseModel):
    as_of: dt.date = Field(description="统计时点 / as of")
    figures: list[FigureOut] = Field(description="主要数字 / the main figures")


class DeletedOut(BaseModel):
    id: str = Field(description="已删除对象的编号 / key of the deleted row")
    deleted: bool = Field(description="已删除 / deleted")


class ProblemOut(BaseModel):
    field: str = Field(description="出错的字段 / the field")
    value: str | None = Field(description="所给的值 / the value given")
    message_zh: str = Field(description="中文说明 / message in Chinese")
    message_en: str = Field(description="英文说明 / message in English")


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


# --- idempotency --------------------------------------------------------------------------------

#: ``status_code`` of a key whose first request is still being worked on.
_IN_PROGRESS = 0
#: A reservation older than this was left by a process that died mid-request: it may be taken over.
_ABANDONED = dt.timedelta(minutes=10)


def _fingerprint(request: Request, body: Any = None) -> str:
    """The request a key is bound to: method, path and a SHA-256 of the body.

    JSON is hashed in canonical form (sorted keys, no spacing), so a client that re-serialises
    the same body on retry is still recognised.  ``body`` overrides the raw body (a multipart
    upload passes its file's digest); by default the body FastAPI read for the route is used.
    """
    if body is None:
        raw: bytes = getattr(request, "_body", b"") or b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        data = raw if body is None else _canonical(body)
    else:
        data = _canonical(body)
    digest = hashlib.sha256(data).hexdigest()[:32]
    return f"{request.method} {request.url.path[:150]} sha256:{digest}"


def _canonical(body: Any) -> bytes:
    return json.dumps(
        audit.jsonable(body), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode()


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _idempotent(request: Request, who: Principal, key: str | None, body: Any = None) -> dict[str, Any] | None:
    """Reserve ``key`` for this request, or return the response stored for it.

    The reservation is a row inserted before any work, so of two concurrent requests with one key
    the primary key lets exactly one through; the other gets 409 while the first is at work and the
    stored response once it is done.  A key reused with another method, path or body is 422.  The
    route must call :func:`_remember` with its response; a reservation left unfilled (the work
    failed) is deleted when the request ends (``release_unfinished``), so the key can be retried.
    """
    if not key:
        return None
    fingerprint = _fingerprint(request, body)
    engine = _engine(request)
    for _attempt in range(3):
        try:
            with engine.begin() as connection:
                connection.execute(
                    insert(idempotency_keys).values(
                        key=key, username=who.username, request=fingerprint, status_code=_IN_PROGRESS,
                        response={}, created_at=audit.now(),
                    )
                )  # fmt: skip
        except IntegrityError:
            pass
        else:
            request.state.idempotency_reserved = (key, who.username)
            return None
        with engine.connect() as connection:
            row = connection.execute(
                select(idempotency_keys).where(
                    idempotency_keys.c.key == key, idempotency_keys.c.username == who.username
                )
            ).first()
        if row is None:  # released between our insert and our read: try again
            continue
        if row.request != fingerprint:
            raise HTTPException(
                422,
                "Idempotency-Key 已用于另一个请求（方法、路径或请求体不同）/ key used for another request",
            )
        if row.status_code != _IN_PROGRESS:
            return dict(row.response)
        if audit.now() - _aware(row.created_at) < _ABANDONED:
            raise HTTPException(
                409,
                "同一 Idempotency-Key 的请求正在处理，请稍后重试 / a request with this key is in progress",
            )
        with engine.begin() as connection:  # abandoned by a dead process: take it over
            connection.execute(
                delete(idempotency_keys).where(
                    idempotency_keys.c.key == key, idempotency_keys.c.username == who.username,
                    idempotency_keys.c.status_code == _IN_PROGRESS, idempotency_keys.c.created_at == row.created_at,
                )
            )  # fmt: skip
    raise HTTPException(
        409, "同一 Idempotency-Key 的请求正在处理，请稍后重试 / a request with this key is in progress"
    )


def _remember(request: Request, who: Principal, key: str | None, status: int, body: dict[str, Any]) -> None:
    """Store the response for the key reserved by :func:`_idempotent`, for replays."""
    if not key:
        return
    with _engine(request).begin() as connection:
        stored = connection.execute(
            update(idempotency_keys)
            .where(idempotency_keys.c.key == key, idempotency_keys.c.username == who.username,
                   idempotency_keys.c.status_code == _IN_PROGRESS)
            .values(status_code=status, response=audit.jsonable(body))
        ).rowcount  # fmt: skip
        if not stored:  # never reserved (a caller that skipped _idempotent): keep the old behaviour
            connection.execute(
                insert(idempotency_keys).values(
                    key=key, username=who.username, request=_fingerprint(request), status_code=status,
                    response=audit.jsonable(body), created_at=audit.now(),
                )
            )  # fmt: skip
    request.state.idempotency_reserved = None


def _release(request: Request) -> None:
    reserved = getattr(request.state, "idempotency_reserved", None)
    if not reserved:
        return
    key, username = reserved
    request.state.idempotency_reserved = None
    with _engine(request).begin() as connection:
        connection.execute(
            delete(idempotency_keys).where(
                idempotency_keys.c.key == key, idempotency_keys.c.username == username,
                idempotency_keys.c.status_code == _IN_PROGRESS,
            )
        )  # fmt: skip


def release_unfinished(request: Request) -> Iterator[None]:
    """Delete the key reserved by a request whose work failed, before its response is sent.

    A router-wide dependency of this router; another router using :func:`_idempotent` adds
    ``dependencies=[IDEMPOTENCY_CLEANUP]`` to get the same.
    """
    try:
        yield
    finally:
        _release(request)


IDEMPOTENCY_CLEANUP = Depends(release_unfinished, scope="function")
router.dependencies.append(IDEMPOTENCY_CLEANUP)

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key", max_length=100,
        description="幂等键：同一用户以同一键重发同一请求，返回首次的响应而不重复执行；键用于不同请求体则 422，"
        "首次请求仍在处理则 409 / idempotency key: a retry with the same key and body replays the first "
        "response; another body is 422, a first request still at work 409",
    ),
]  # fmt: skip
IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match", max_length=100,
        description="读取时的 ETag；缺少则 428，对象已被他人修改则 412 / the ETag read; 428 without it, "
        "412 when the row changed since",
    ),
]  # fmt: skip
ActionId = Annotated[int, Path(ge=1, le=2**31 - 1, description="待复核编号 / proposal id")]
LoanId = Annotated[str, Path(min_length=1, max_length=64, description="贷款编号 / loan id")]
CreditCode = Annotated[str, Path(min_length=1, max_length=18, description="统一社会信用代码 / credit code")]
ProjectId = Annotated[str, Path(min_length=1, max_length=64, description="项目编号 / project id")]
Page = Annotated[int, Query(ge=1, le=1_000_000, description="页码，从 1 开始 / page, from 1")]
Size = Annotated[int, Query(ge=1, le=200, description="每页条数，至多 200 / page size, at most 200")]


def _replayed(model: type[ModelT], stored: dict[str, Any] | None) -> ModelT | None:
    return None if stored is None else model.model_validate(stored)


@router.post("/auth/login", response_model=LoginOut, tags=["auth"])
def api_login(body: LoginIn, request: Request, response: Response) -> LoginOut:
    """登录：成功后设置会话 Cookie；连续 5 次失败锁定 15 分钟 / sign in."""
    try:
        who = login(_engine(request), body.username, body.password, address=client_address(request))
    except LoginRefused as exc:  # 401, 423 locked, or 429 throttled with its Retry-After
        raise HTTPException(exc.status, str(exc), headers=exc.headers) from None
    session = start_session(response, request, request.app.state.signer, who.username)
    return LoginOut(
        username=who.username,
        roles=list(who.roles),
        permissions=sorted(who.permissions),
        csrf_token=session.csrf,
    )


@router.post("/auth/tokens", response_model=TokenOut, tags=["auth"])
def api_token(
    body: TokenIn, request: Request, who: Annotated[Principal, Depends(principal)],
    idempotency_key: IdempotencyKey = None,
) -> TokenOut:  # fmt: skip
    """为当前用户生成 API 令牌（只显示一次；须以会话登录，不能用 API 令牌）/ create an API token
    (signed in with a session, not with an API token).

    A token cannot make tokens: a stolen one would otherwise outlive its revocation through the
    children it made.  With an Idempotency-Key, only the fact that the token was made is stored,
    never the secret (the store would keep it in plain text); a retry with the key gets 409, so
    the client knows a token exists and can revoke it by name, rather than silently a second one.
    """
    if who.via != "session":
        raise HTTPException(
            403, "创建 API 令牌须以会话登录，不能使用 API 令牌 / creating an API token needs a session sign-in, "
            "not an API token",
        )  # fmt: skip
    if _idempotent(request, who, idempotency_key) is not None:
        raise HTTPException(
            409, f"令牌 {body.name} 已创建，其密钥只显示一次；如已丢失请吊销后重建 / token already created; "
            "its secret is shown once: revoke it and create another if it was lost",
        )  # fmt: skip
    out = TokenOut(token=create_token(_engine(request), who.username, body.name))
    _remember(request, who, idempotency_key, 200, {"name": body.name, "created": True})
    return out


@router.get("/me", response_model=LoginOut, tags=["auth"])
def me(request: Request, who: Annotated[Principal, Depends(principal)]) -> LoginOut:
    """当前用户、角色与权限 / who am I."""
    return LoginOut(
        username=who.username, roles=list(who.roles), permissions=sorted(who.permissions), csrf_token=""
    )


# --- loans --------------------------------------------------------------------------------------

#: Sortable fields of each list (``sort=field`` or ``sort=-field``), and the column each means.
#: The loan list's sort keys: the service's (shared with the pages) and their other spellings.
LOAN_SORTS = dict.fromkeys((*loan_service.LOAN_SORT_KEYS, *loan_service.LOAN_SORT_ALIASES))
BORROWER_SORTS = {"credit_code": borrowers.c.credit_code, "name": borrowers.c.name,
                  "industry_code": borrowers.c.industry_code, "region_code": borrowers.c.region_code}  # fmt: skip
PROJECT_SORTS = {"project_id": projects.c.project_id, "name": projects.c.name,
                 "project_type": projects.c.project_type, "start_date": projects.c.start_date}  # fmt: skip


def _sort_pattern(sorts: dict[str, Any]) -> str:
    return "^-?(" + "|".join(sorts) + ")$"


def _sorting(sort: str, sorts: dict[str, Any]) -> tuple[Any, bool]:
    descending = sort.startswith("-")
    return sorts[sort.lstrip("-")], descending


def _yuan(fen: int | None) -> Decimal | None:
    return None if fen is None else (Decimal(fen) / 100).quantize(Decimal("0.01"))


def _loan_out(row: Any) -> LoanOut:
    return LoanOut(
        loan_id=row["loan_id"], borrower_credit_code=row["borrower_credit_code"], borrower_name=row["borrower_name"],
        industry_code=row["industry_code"], project_id=row["project_id"], purpose=row["purpose"],
        amount_yuan=_yuan(row["amount_fen"]), balance_yuan=_yuan(row["balance_fen"]), currency=row["currency"],
        start_date=row["start_date"], maturity_date=row["maturity_date"], five_tier=row["five_tier"],
        label_status=row["label_status"], label_item=row["label_item"], label_decided=bool(row["label_decided"]),
        engine_status=row["engine_status"],
    )  # fmt: skip


@router.get("/loans", response_model=LoanPage, tags=["loans"])
def list_loans(
    request: Request,
    who: Annotated[Principal, Depends(need("READ_LOAN"))],
    page: Page = 1,
    size: Size = 50,
    q: str | None = Query(
        None, max_length=100, description="贷款编号、借款人或用途包含此文字（% 与 _ 按字面匹配）/ search, literal"
    ),
    status: str | None = Query(
        None, pattern="^(green|not_green|needs_review|none)$",
        description="现行识别结果（官员决定优先，含已批准的改判；none 为未识别）/ label in force; none: unlabelled",
    ),
    sort: str = Query(
        "loan_id", pattern=_sort_pattern(LOAN_SORTS),
        description="排序字段，前加 - 为降序：" + ", ".join(LOAN_SORTS) + " / sort field, -field descending",
    ),
) -> LoanPage:  # fmt: skip
    """贷款台账：分页、检索、按现行识别结果筛选、排序；与页面同一查询（``loan_service.loan_page``），
    空值排在最后 / the loan book, paged: the pages' own query, so both list the same loans in the same order."""
    rows, total = loan_service.loan_page(
        _engine(request), q=q or "", status=status or "", sort=sort.removeprefix("-"),
        descending=sort.startswith("-"), page=page, size=size,
    )  # fmt: skip
    return LoanPage(items=[_loan_out(r) for r in rows], total=total, page=page, size=size)


def _one_loan(request: Request, loan_id: str) -> Any:
    with _engine(request).connect() as connection:
        query, _force = loan_service.loan_query(loan_service.latest_run(connection))
        row = connection.execute(query.where(loans.c.loan_id == loan_id)).mappings().first()
    if row is None:
        raise HTTPException(404, f"贷款 {loan_id} 不存在 / no such loan")
    return row


@router.get("/loans/{loan_id}", response_model=LoanOut, tags=["loans"])
def get_loan(
    loan_id: LoanId,
    request: Request,
    response: Response,
    who: Annotated[Principal, Depends(need("READ_LOAN"))],
) -> LoanOut:
    """一笔贷款（ETag 为其版本）/ one loan, with its ETag."""
    row = _one_loan(request, loan_id)
    response.headers["ETag"] = f'"{row["row_hash"]}"'
    return _loan_out(row)


class LoanIn(Strict):
    """A loan as the importer reads it: same field names, units in the text, same rules."""

    loan_id: str = Field(min_length=1, max_length=64, description="贷款编号 / loan id")
    borrower_credit_code: str = Field(
        min_length=1,
        max_length=40,
        description="借款人统一社会信用代码（借款人须已存在）/ borrower's credit code",
    )
    project_id: str | None = Field(None, max_length=64, description="项目编号（项目须已存在）/ project id")
    purpose: str | None = Field(None, max_length=2000, description="贷款用途 / purpose")
    amount: str = Field(
        min_length=1, max_length=40, description="贷款金额，带单位，如 5000万元 / amount with unit"
    )
    balance: str = Field(
        min_length=1, max_length=40, description="贷款余额，带单位，如 4800万元 / balance with unit"
    )
    currency: str | None = Field(None, max_length=8, description="币种，缺省 CNY / currency, default CNY")
    rate_pct: str | None = Field(None, max_length=20, description="执行年利率（%）/ annual rate, %")
    approval_date: str | None = Field(None, max_length=20, description="审批日期 / approval date")
    start_date: str = Field(min_length=1, max_length=20, description="发放日期 / start date")
    maturity_date: str = Field(min_length=1, max_length=20, description="到期日期 / maturity")
    five_tier: str | None = Field(
        None, max_length=8, description="五级分类：正常/关注/次级/可疑/损失 / five-tier class"
    )
    bank_green_flag: str | None = Field(
        None, max_length=8, description="银行绿色贷款标识（是/否）/ bank's green flag"
    )
    bank_green_category: str | None = Field(
        None, max_length=64, description="银行绿色贷款分类 / bank's green category"
    )


def _invalid(exc: loan_service.Invalid) -> HTTPException:
    problems = [ProblemOut(**vars(p)).model_dump() for p in exc.problems]
    return HTTPException(422, {"message": "数据有误 / invalid values", "problems": problems})


def _write(call: Any, what_zh: str, key: str) -> Any:
    """Run a service command, mapping its refusals to HTTP statuses with bilingual messages."""
    try:
        return call()
    except loan_service.NotPermitted as exc:
        raise HTTPException(403, str(exc)) from None
    except loan_service.NotFound:
        raise HTTPException(404, f"{what_zh} {key} 不存在 / not found") from None
    except loan_service.StaleVersion:
        raise HTTPException(412, f"{what_zh}已被他人修改，请重新读取 / it changed; read it again") from None
    except loan_service.Invalid as exc:
        raise _invalid(exc) from None
    except (loan_service.AlreadyExists, loan_service.InUse) as exc:
        raise HTTPException(409, str(exc)) from None
    except ValueProblem as exc:
        raise HTTPException(422, f"{exc.zh} / {exc.en}") from None


@router.post("/loans", status_code=201, response_model=LoanOut, tags=["loans"])
def create_loan(
    body: LoanIn, request: Request, response: Response, who: Annotated[Principal, Depends(need("IMPORT_LOAN"))],
    idempotency_key: IdempotencyKey = None,
) -> LoanOut:  # fmt: skip
    """新增一笔贷款：与文件导入同一套校验，错误逐字段定位（422）；编号已存在则 409 / create a loan."""
    replay = _replayed(LoanOut, _idempotent(request, who, idempotency_key, body.model_dump()))
    if replay is not None:
        return replay
    fields = body.model_dump(exclude_none=True)
    version = _write(
        lambda: loan_service.create_loan(_engine(request), fields, actor=who.username, permissions=who.permissions),
        "贷款", body.loan_id,
    )  # fmt: skip
    out = _loan_out(_one_loan(request, body.loan_id))
    _remember(request, who, idempotency_key, 201, out.model_dump())
    response.headers["ETag"] = f'"{version}"'
    return out


class LoanPatch(Strict):
    purpose: str | None = Field(None, max_length=2000, description="贷款用途 / purpose")
    five_tier: str | None = Field(
        None, max_length=8, description="五级分类：正常/关注/次级/可疑/损失 / five-tier class"
    )
    balance: str | None = Field(
        None, max_length=40, description="贷款余额，带单位，如 4800万元 / balance with unit"
    )


def _expected(if_match: str | None) -> str:
    if not if_match:
        raise HTTPException(428, "须带 If-Match 头（读取时的 ETag）/ If-Match required")
    return if_match.strip().removeprefix("W/").strip('"')


@router.patch("/loans/{loan_id}", response_model=LoanOut, tags=["loans"])
def patch_loan(
    loan_id: LoanId, body: LoanPatch, request: Request, response: Response,
    who: Annotated[Principal, Depends(need("EDIT_LOAN"))], if_match: IfMatch = None,
) -> LoanOut:  # fmt: skip
    """修改一笔贷款（须带 If-Match：读取时的 ETag；他人已改动则 412）/ edit a loan, optimistic locking."""
    expected = _expected(if_match)
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    if not changes:
        raise HTTPException(422, "没有要修改的字段 / nothing to change")
    try:
        version = loan_service.update_loan(
            _engine(request),
            loan_id,
            changes,
            expected=expected,
            actor=who.username,
            permissions=who.permissions,
        )
    except loan_service.LoanNotFound:
        raise HTTPException(404, f"贷款 {loan_id} 不存在 / no such loan") from None
    except loan_service.StaleVersion:
        raise HTTPException(412, "贷款已被他人修改，请重新读取 / the loan changed; read it again") from None
    except loan_service.NotPermitted as exc:
        raise HTTPException(403, str(exc)) from None
    except ValueProblem as exc:
        raise HTTPException(422, exc.zh) from None
    response.headers["ETag"] = f'"{version}"'
    return _loan_out(_one_loan(request, loan_id))


@router.delete("/loans/{loan_id}", response_model=DeletedOut, tags=["loans"])
def delete_loan(
    loan_id: LoanId, request: Request, who: Annotated[Principal, Depends(need("EDIT_LOAN"))]
) -> DeletedOut:
    """删除一笔误录的贷款；有质押、待复核的识别结果、待审批操作或已报送批次时拒绝（409）/ delete a loan."""
    _write(
        lambda: loan_service.delete_loan(_engine(request), loan_id, actor=who.username, permissions=who.permissions),
        "贷款", loan_id,
    )  # fmt: skip
    return DeletedOut(id=loan_id, deleted=True)


@router.get("/loans/{loan_id}/label", response_model=LabelOut, tags=["labels"])
def get_label(
    loan_id: LoanId, request: Request, who: Annotated[Principal, Depends(need("READ_LABEL"))]
) -> LabelOut:
    """识别结果与官员决定并列 / the engine's label and the officer's decision."""
    found = identification.loan_label(_engine(request), loan_id)
    if found["engine"] is None and found["decision"] is None:
        raise HTTPException(404, f"贷款 {loan_id} 无识别结果 / not labelled")
    return LabelOut.model_validate(audit.jsonable(found))


@router.post("/loans/{loan_id}/label/confirm", response_model=DecisionOut, tags=["labels"])
def confirm_label(
    loan_id: LoanId, body: DecisionIn, request: Request, who: Annotated[Principal, Depends(need("CONFIRM_LABEL"))],
    idempotency_key: IdempotencyKey = None,
) -> DecisionOut:  # fmt: skip
    """确认引擎的识别结果 / confirm the engine's label."""
    replay = _replayed(DecisionOut, _idempotent(request, who, idempotency_key))
    if replay is not None:
        return replay
    seen = identification.ExpectedLabel(body.expected_run_id, body.expected_status, body.expected_item_code)
    try:
        result = identification.decide(
            _engine(request), loan_id, action="confirm", reason=body.reason, actor=who.username, expected=seen
        )
    except identification.LabelChanged as exc:
        raise HTTPException(409, str(exc)) from None
    except ValueProblem as exc:
        raise HTTPException(422, f"{exc.zh} / {exc.en}") from None
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    found = audit.jsonable(result)
    out = DecisionOut.model_validate(
        {k: found[k] for k in DecisionOut.model_fields if k in found} | {"loan_id": loan_id}
    )
    _remember(request, who, idempotency_key, 200, out.model_dump())
    return out


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


def _decide(action_id: int, request: Request, who: Principal, body: NoteIn, approve: bool) -> DecidedOut:
    decide = approvals.approve if approve else approvals.reject
    try:
        decide(_engine(request), action_id, checker=who.username, permissions=who.permissions, note=body.note)
    except approvals.ApprovalProblem as exc:  # missing (404), not theirs (403), or the maker (409)
        raise HTTPException(exc.status, str(exc)) from None
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    return DecidedOut(id=action_id, status="approved" if approve else "rejected")


@router.post("/approvals/{action_id}/approve", response_model=DecidedOut, tags=["approvals"])
def approve_action(
    action_id: ActionId,
    body: NoteIn,
    request: Request,
    who: Annotated[Principal, Depends(need("READ_APPROVAL"))],
) -> DecidedOut:
    """批准（复核人不能是提出人）/ approve; the checker is never the maker."""
    return _decide(action_id, request, who, body, True)


@router.post("/approvals/{action_id}/reject", response_model=DecidedOut, tags=["approvals"])
def reject_action(
    action_id: ActionId,
    body: NoteIn,
    request: Request,
    who: Annotated[Principal, Depends(need("READ_APPROVAL"))],
) -> DecidedOut:
    """退回 / reject."""
    return _decide(action_id, request, who, body, False)


@router.get("/prices/{series}", response_model=list[PriceOut], tags=["collateral"])
def get_prices(
    series: Annotated[str, Path(min_length=1, max_length=32, description="价格序列代码 / series code")],
    request: Request,
    who: Annotated[Principal, Depends(need("READ_PRICE"))],
    last: int = Query(20, ge=1, le=5000, description="最近多少个交易日 / how many recent days"),
) -> list[PriceOut]:
    """价格序列最近 N 日 / the last N days of a price series."""
    with _engine(request).connect() as connection:
        rows = connection.execute(
            select(prices)
            .where(prices.c.instrument == series.upper())
            .order_by(prices.c.day.desc())
            .limit(last)
        ).mappings()
        return [PriceOut.model_validate(dict(r)) for r in rows]


@router.get("/audit/verify", response_model=AuditOut, tags=["audit"])
def audit_verify(request: Request, who: Annotated[Principal, Depends(need("READ_AUDIT"))]) -> AuditOut:
    """校验审计日志哈希链（含链首签名；说明是否加密钥、自哪条记录起）/ verify the audit log's hash chain.

    Deleting the newest records and restoring an earlier genuine head is found only against a head
    noted outside the database (``greenfin audit verify --head``): note ``head_id``/``head_hash``.
    """
    with _engine(request).connect() as connection:
        report = verify_report(connection)
    problems = report.problems
    return AuditOut(
        records=report.records, intact=not problems, problems=[p.problem_zh for p in problems[:50]],
        keyed_from=report.keyed_from, key_configured=report.keyed, status=report.status,
        head_id=report.head_id, head_hash=report.head_hash,
    )  # fmt: skip


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
    replay = _replayed(PendingOut, _idempotent(request, who, key))
    if replay is not None:
        return replay
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


@router.post("/cerf/batches", response_model=CerfBatchOut, tags=["cerf"])
def cerf_batch(
    body: QuarterIn, request: Request, who: Annotated[Principal, Depends(need("RUN_CERF"))],
    idempotency_key: IdempotencyKey = None,
) -> CerfBatchOut:  # fmt: skip
    """生成或重算季度批次（内容不变则不改动，变化则记为更正）/ run a quarter's batch."""
    replay = _replayed(CerfBatchOut, _idempotent(request, who, idempotency_key))
    if replay is not None:
        return replay
    try:
        batch = run_batch(_engine(request), body.quarter, actor=who.username)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    out = CerfBatchOut(
        batch_id=batch.batch_id, quarter=batch.quarter, revision=batch.revision, changed=batch.changed,
        amends=batch.amends, loans=len(batch.decisions), eligible=len(batch.eligible),
        facility_yuan=str(Decimal(sum(d.facility_fen for _, d in batch.eligible)) / 100),
    )  # fmt: skip
    _remember(request, who, idempotency_key, 200, out.model_dump())
    return out


@router.post("/cerf/batches/{batch_id}/submit", status_code=202, response_model=PendingOut, tags=["cerf"])
def cerf_submit(
    batch_id: Annotated[int, Path(ge=1, le=2**31 - 1, description="批次编号 / batch id")], request: Request,
    who: Annotated[Principal, Depends(need("SUBMIT_CERF"))], idempotency_key: IdempotencyKey = None,
) -> PendingOut:  # fmt: skip
    """提出报送批次（审批人复核后生效）/ propose the batch's submission for approval."""
    return _propose(request, who, "cerf_submit", str(batch_id), {}, idempotency_key)


# --- borrowers and projects ---------------------------------------------------------------------


class BorrowerOut(BaseModel):
    credit_code: str = Field(description="统一社会信用代码 / credit code")
    name: str = Field(description="借款人名称 / name")
    industry_code: str = Field(description="行业代码 GB/T 4754 / industry code")
    region_code: str = Field(description="行政区划代码 GB/T 2260 / region code")
    province_code: str = Field(description="省级代码 / province code")
    grid_region: str = Field(description="所属区域电网 / grid region")
    size_class: str | None = Field(description="企业规模 / size class")
    revenue_yuan: Decimal | None = Field(description="营业收入（元）/ revenue, CNY")
    total_assets_yuan: Decimal | None = Field(description="资产总额（元）/ total assets, CNY")
    equity_yuan: Decimal | None = Field(description="所有者权益（元）/ equity, CNY")
    debt_yuan: Decimal | None = Field(description="负债总额（元）/ debt, CNY")
    evic_yuan: Decimal | None = Field(description="企业价值 EVIC（元）/ EVIC, CNY")
    scope1_tco2e: Decimal | None = Field(description="范围一排放（tCO2e）/ scope 1 emissions")
    scope2_tco2e: Decimal | None = Field(description="范围二排放（tCO2e）/ scope 2 emissions")
    emissions_quality: str | None = Field(description="排放数据质量 / emissions data quality")


class BorrowerPage(BaseModel):
    items: list[BorrowerOut] = Field(description="本页借款人 / borrowers on this page")
    total: int = Field(description="符合条件的总数 / matching rows")
    page: int = Field(description="页码，从 1 开始 / page, from 1")
    size: int = Field(description="每页条数 / page size")


class BorrowerPatch(Strict):
    """The fields of a borrower as the importer reads them (money and emissions with units)."""

    name: str | None = Field(None, max_length=200, description="借款人名称 / name")
    industry_code: str | None = Field(None, max_length=10, description="行业代码 GB/T 4754 / industry code")
    region_code: str | None = Field(None, max_length=12, description="行政区划代码 / region code")
    size_class: str | None = Field(
        None, max_length=8, description="企业规模：大型/中型/小型/微型 / size class"
    )
    revenue: str | None = Field(
        None, max_length=40, description="营业收入，带单位，如 3亿元 / revenue with unit"
    )
    total_assets: str | None = Field(
        None, max_length=40, description="资产总额，带单位 / total assets with unit"
    )
    equity: str | None = Field(None, max_length=40, description="所有者权益，带单位 / equity with unit")
    debt: str | None = Field(None, max_length=40, description="负债总额，带单位 / debt with unit")
    evic: str | None = Field(None, max_length=40, description="企业价值 EVIC，带单位 / EVIC with unit")
    scope1: str | None = Field(None, max_length=40, description="范围一排放，带单位，如 1200 tCO2e / scope 1")
    scope2: str | None = Field(None, max_length=40, description="范围二排放，带单位 / scope 2 with unit")
    emissions_quality: str | None = Field(
        None, max_length=20, description="排放数据质量 / emissions data quality"
    )


class BorrowerIn(BorrowerPatch):
    credit_code: str = Field(min_length=1, max_length=40, description="统一社会信用代码 / credit code")
    name: str | None = Field(None, max_length=200, description="借款人名称（必填）/ name, required")
    industry_code: str | None = Field(
        None, max_length=10, description="行业代码（必填）/ industry code, required"
    )
    region_code: str | None = Field(
        None, max_length=12, description="行政区划代码（必填）/ region code, required"
    )


class ProjectOut(BaseModel):
    project_id: str = Field(description="项目编号 / project id")
    name: str = Field(description="项目名称 / name")
    description: str | None = Field(description="项目描述 / description")
    region_code: str | None = Field(description="项目所在地代码 / region code")
    project_type: str | None = Field(description="项目类型 / project type")
    capacity_mw: Decimal | None = Field(description="装机容量（MW）/ capacity, MW")
    annual_generation_mwh: Decimal | None = Field(description="年发电量（MWh）/ annual generation, MWh")
    total_investment_yuan: Decimal | None = Field(description="项目总投资（元）/ total investment, CNY")
    start_date: dt.date | None = Field(description="开工日期 / start date")
    completion_date: dt.date | None = Field(description="投产日期 / completion date")
    parameters: dict[str, str] = Field(description="技术参数（名称 → 数值 单位）/ technical parameters")


class ProjectPage(BaseModel):
    items: list[ProjectOut] = Field(description="本页项目 / projects on this page")
    total: int = Field(description="符合条件的总数 / matching rows")
    page: int = Field(description="页码，从 1 开始 / page, from 1")
    size: int = Field(description="每页条数 / page size")


class ProjectPatch(Strict):
    """The fields of a project as the importer reads them (quantities and money with units)."""

    name: str | None = Field(None, max_length=200, description="项目名称 / name")
    description: str | None = Field(None, max_length=4000, description="项目描述 / description")
    region_code: str | None = Field(None, max_length=12, description="项目所在地代码 / region code")
    project_type: str | None = Field(None, max_length=100, description="项目类型 / project type")
    capacity: str | None = Field(
        None, max_length=40, description="装机容量，带单位，如 50MW / capacity with unit"
    )
    annual_generation: str | None = Field(
        None, max_length=40, description="年发电量，带单位，如 6000万千瓦时 / annual generation with unit"
    )
    total_investment: str | None = Field(
        None, max_length=40, description="项目总投资，带单位 / investment with unit"
    )
    start_date: str | None = Field(None, max_length=20, description="开工日期 / start date")
    completion_date: str | None = Field(None, max_length=20, description="投产日期 / completion date")
    parameters: str | None = Field(
        None,
        max_length=4000,
        description="技术参数，名称=数值 单位；以分号分隔 / parameters, name=value unit; …",
    )


class ProjectIn(ProjectPatch):
    project_id: str = Field(min_length=1, max_length=64, description="项目编号 / project id")
    name: str | None = Field(None, max_length=200, description="项目名称（必填）/ name, required")


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _borrower_out(row: Any) -> BorrowerOut:
    return BorrowerOut(
        credit_code=row["credit_code"], name=row["name"], industry_code=row["industry_code"],
        region_code=row["region_code"], province_code=row["province_code"], grid_region=row["grid_region"],
        size_class=row["size_class"], revenue_yuan=_yuan(row["revenue_fen"]),
        total_assets_yuan=_yuan(row["total_assets_fen"]), equity_yuan=_yuan(row["equity_fen"]),
        debt_yuan=_yuan(row["debt_fen"]), evic_yuan=_yuan(row["evic_fen"]),
        scope1_tco2e=_decimal(row["scope1_tco2e"]), scope2_tco2e=_decimal(row["scope2_tco2e"]),
        emissions_quality=row["emissions_quality"],
    )  # fmt: skip


def _project_out(row: Any) -> ProjectOut:
    parameters = row["parameters"]
    if isinstance(parameters, str):
        parameters = json.loads(parameters)
    return ProjectOut(
        project_id=row["project_id"], name=row["name"], description=row["description"],
        region_code=row["region_code"], project_type=row["project_type"], capacity_mw=_decimal(row["capacity_mw"]),
        annual_generation_mwh=_decimal(row["annual_generation_mwh"]),
        total_investment_yuan=_yuan(row["total_investment_fen"]), start_date=row["start_date"],
        completion_date=row["completion_date"], parameters={str(k): str(v) for k, v in (parameters or {}).items()},
    )  # fmt: skip


@router.get("/borrowers", response_model=BorrowerPage, tags=["borrowers"])
def list_borrowers(
    request: Request, who: Annotated[Principal, Depends(need("READ_LOAN"))], page: Page = 1, size: Size = 50,
    q: str | None = Query(
        None, max_length=100, description="名称或信用代码包含此文字（按字面匹配）/ name or credit code contains"
    ),
    industry: str | None = Query(None, max_length=5, description="行业代码前缀 / industry code prefix"),
    region: str | None = Query(None, max_length=6, description="行政区划代码前缀 / region code prefix"),
    sort: str = Query(
        "credit_code", pattern=_sort_pattern(BORROWER_SORTS),
        description="排序字段，前加 - 为降序：" + ", ".join(BORROWER_SORTS) + " / sort field, -field descending",
    ),
) -> BorrowerPage:  # fmt: skip
    """借款人（分页、检索、筛选、排序）/ borrowers, paged."""
    query = select(borrowers)
    if q:
        query = query.where(loan_service.like_any(q, borrowers.c.name, borrowers.c.credit_code))
    if industry:
        query = query.where(borrowers.c.industry_code.startswith(industry, autoescape=True))
    if region:
        query = query.where(borrowers.c.region_code.startswith(region, autoescape=True))
    rows, total = _paged(request, query, BORROWER_SORTS, sort, borrowers.c.credit_code, page, size)
    return BorrowerPage(items=[_borrower_out(r) for r in rows], total=total, page=page, size=size)


def _paged(
    request: Request, query: Any, sorts: dict[str, Any], sort: str, key: Any, page: int, size: int
) -> tuple[list[Any], int]:
    column, descending = _sorting(sort, sorts)
    order = [column.desc() if descending else column]
    if column is not key:
        order.append(key)  # a stable order across pages
    with _engine(request).connect() as connection:
        total = connection.execute(select(func.count()).select_from(query.subquery())).scalar() or 0
        rows = list(
            connection.execute(query.order_by(*order).limit(size).offset((page - 1) * size)).mappings()
        )
    return rows, int(total)


@router.get("/borrowers/{credit_code}", response_model=BorrowerOut, tags=["borrowers"])
def get_borrower(
    credit_code: CreditCode, request: Request, response: Response,
    who: Annotated[Principal, Depends(need("READ_LOAN"))],
) -> BorrowerOut:  # fmt: skip
    """一个借款人（ETag 为其版本）/ one borrower, with its ETag."""
    row = _write(
        lambda: borrower_service.read(_engine(request), BORROWER, credit_code), "借款人", credit_code
    )
    response.headers["ETag"] = f'"{row["row_hash"]}"'
    return _borrower_out(row)


@router.post("/borrowers", status_code=201, response_model=BorrowerOut, tags=["borrowers"])
def create_borrower(
    body: BorrowerIn, request: Request, response: Response,
    who: Annotated[Principal, Depends(need("IMPORT_LOAN"))], idempotency_key: IdempotencyKey = None,
) -> BorrowerOut:  # fmt: skip
    """新增借款人：与文件导入同一套字段校验，错误逐字段定位（422）；已存在则 409 / create a borrower."""
    replay = _replayed(BorrowerOut, _idempotent(request, who, idempotency_key, body.model_dump()))
    if replay is not None:
        return replay
    given = body.model_dump(exclude_none=True)
    _write(lambda: borrower_service.create_borrower(_engine(request), given, actor=who.username,
                                                    permissions=who.permissions), "借款人", body.credit_code)  # fmt: skip
    row = borrower_service.read(_engine(request), BORROWER, _stored_key(request, BORROWER, body.credit_code))
    out = _borrower_out(row)
    _remember(request, who, idempotency_key, 201, out.model_dump())
    response.headers["ETag"] = f'"{row["row_hash"]}"'
    return out


def _stored_key(request: Request, entity: borrower_service.Entity, given: str) -> str:
    """The key as stored (the importer's parser normalises a credit code's case and spacing)."""
    spec = next(spec for api, spec, _c in entity.fields if api == entity.key)
    return str(loan_service.parse_field(spec, entity.key, given, []) or given)


@router.patch("/borrowers/{credit_code}", response_model=BorrowerOut, tags=["borrowers"])
def patch_borrower(
    credit_code: CreditCode, body: BorrowerPatch, request: Request, response: Response,
    who: Annotated[Principal, Depends(need("EDIT_LOAN"))], if_match: IfMatch = None,
) -> BorrowerOut:  # fmt: skip
    """修改借款人（须带 If-Match；他人已改动则 412）/ edit a borrower, optimistic locking."""
    expected = _expected(if_match)
    given = body.model_dump(exclude_unset=True)
    if not given:
        raise HTTPException(422, "没有要修改的字段 / nothing to change")
    version = _write(
        lambda: borrower_service.edit_borrower(_engine(request), credit_code, given, expected=expected,
                                               actor=who.username, permissions=who.permissions),
        "借款人", credit_code,
    )  # fmt: skip
    response.headers["ETag"] = f'"{version}"'
    return _borrower_out(borrower_service.read(_engine(request), BORROWER, credit_code))


@router.delete("/borrowers/{credit_code}", response_model=DeletedOut, tags=["borrowers"])
def delete_borrower(
    credit_code: CreditCode, request: Request, who: Annotated[Principal, Depends(need("EDIT_LOAN"))]
) -> DeletedOut:
    """删除借款人；仍有贷款或持仓属于它时拒绝（409）/ delete a borrower; 409 while loans refer to it."""
    _write(lambda: borrower_service.delete_borrower(_engine(request), credit_code, actor=who.username,
                                                    permissions=who.permissions), "借款人", credit_code)  # fmt: skip
    return DeletedOut(id=credit_code, deleted=True)


@router.get("/projects", response_model=ProjectPage, tags=["projects"])
def list_projects(
    request: Request, who: Annotated[Principal, Depends(need("READ_LOAN"))], page: Page = 1, size: Size = 50,
    q: str | None = Query(
        None, max_length=100, description="编号、名称或描述包含此文字（按字面匹配）/ id, name or description contains"
    ),
    project_type: str | None = Query(None, max_length=100, description="项目类型 / project type"),
    region: str | None = Query(None, max_length=6, description="所在地代码前缀 / region code prefix"),
    sort: str = Query(
        "project_id", pattern=_sort_pattern(PROJECT_SORTS),
        description="排序字段，前加 - 为降序：" + ", ".join(PROJECT_SORTS) + " / sort field, -field descending",
    ),
) -> ProjectPage:  # fmt: skip
    """项目（分页、检索、筛选、排序）/ projects, paged."""
    query = select(projects)
    if q:
        query = query.where(
            loan_service.like_any(q, projects.c.project_id, projects.c.name, projects.c.description)
        )
    if project_type:
        query = query.where(projects.c.project_type == project_type)
    if region:
        query = query.where(projects.c.region_code.startswith(region, autoescape=True))
    rows, total = _paged(request, query, PROJECT_SORTS, sort, projects.c.project_id, page, size)
    return ProjectPage(items=[_project_out(r) for r in rows], total=total, page=page, size=size)


@router.get("/projects/{project_id}", response_model=ProjectOut, tags=["projects"])
def get_project(
    project_id: ProjectId, request: Request, response: Response,
    who: Annotated[Principal, Depends(need("READ_LOAN"))],
) -> ProjectOut:  # fmt: skip
    """一个项目（ETag 为其版本）/ one project, with its ETag."""
    row = _write(lambda: borrower_service.read(_engine(request), PROJECT, project_id), "项目", project_id)
    response.headers["ETag"] = f'"{row["row_hash"]}"'
    return _project_out(row)


@router.post("/projects", status_code=201, response_model=ProjectOut, tags=["projects"])
def create_project(
    body: ProjectIn, request: Request, response: Response,
    who: Annotated[Principal, Depends(need("IMPORT_LOAN"))], idempotency_key: IdempotencyKey = None,
) -> ProjectOut:  # fmt: skip
    """新增项目：与文件导入同一套字段校验，错误逐字段定位（422）；已存在则 409 / create a project."""
    replay = _replayed(ProjectOut, _idempotent(request, who, idempotency_key, body.model_dump()))
    if replay is not None:
        return replay
    given = body.model_dump(exclude_none=True)
    _write(lambda: project_service.create_project(_engine(request), given, actor=who.username,
                                                  permissions=who.permissions), "项目", body.project_id)  # fmt: skip
    row = borrower_service.read(_engine(request), PROJECT, _stored_key(request, PROJECT, body.project_id))
    out = _project_out(row)
    _remember(request, who, idempotency_key, 201, out.model_dump())
    response.headers["ETag"] = f'"{row["row_hash"]}"'
    return out


@router.patch("/projects/{project_id}", response_model=ProjectOut, tags=["projects"])
def patch_project(
    project_id: ProjectId, body: ProjectPatch, request: Request, response: Response,
    who: Annotated[Principal, Depends(need("EDIT_LOAN"))], if_match: IfMatch = None,
) -> ProjectOut:  # fmt: skip
    """修改项目（须带 If-Match；他人已改动则 412）/ edit a project, optimistic locking."""
    expected = _expected(if_match)
    given = body.model_dump(exclude_unset=True)
    if not given:
        raise HTTPException(422, "没有要修改的字段 / nothing to change")
    version = _write(
        lambda: project_service.edit_project(_engine(request), project_id, given, expected=expected,
                                             actor=who.username, permissions=who.permissions),
        "项目", project_id,
    )  # fmt: skip
    response.headers["ETag"] = f'"{version}"'
    return _project_out(borrower_service.read(_engine(request), PROJECT, project_id))


@router.delete("/projects/{project_id}", response_model=DeletedOut, tags=["projects"])
def delete_project(
    project_id: ProjectId, request: Request, who: Annotated[Principal, Depends(need("EDIT_LOAN"))]
) -> DeletedOut:
    """删除项目；仍有贷款投向它时拒绝（409）/ delete a project; 409 while loans refer to it."""
    _write(lambda: project_service.delete_project(_engine(request), project_id, actor=who.username,
                                                  permissions=who.permissions), "项目", project_id)  # fmt: skip
    return DeletedOut(id=project_id, deleted=True)


# --- batch commands -----------------------------------------------------------------------------


@router.post("/loans/import", response_model=ImportOut, tags=["loans"])
async def import_loans(
    request: Request, who: Annotated[Principal, Depends(need("IMPORT_LOAN"))],
    file: Annotated[UploadFile, File(description="贷款台账 CSV 或 XLSX / loan book file")],
    idempotency_key: IdempotencyKey = None,
) -> ImportOut:  # fmt: skip
    """导入贷款台账：全部成功或全部不导入，错误逐行定位 / import a loan book, all or nothing."""
    name = upload_name(file.filename, "upload.csv")
    if FilePath(name).suffix.lower() not in {".csv", ".xlsx", ".txt"}:
        raise HTTPException(422, "只接受 CSV 或 XLSX 文件 / CSV or XLSX only")
    content = await file.read()
    fingerprint = {"file": name, "sha256": hashlib.sha256(content).hexdigest()}
    stored = await run_in_threadpool(_idempotent, request, who, idempotency_key, fingerprint)
    replay = _replayed(ImportOut, stored)
    if replay is not None:
        return replay
    with tempfile.TemporaryDirectory() as folder:
        path = FilePath(folder) / name
        path.write_bytes(content)
        try:
            summary = await run_in_threadpool(import_files, _engine(request), [path], actor=who.username)
        except ImportRejected as rejected:
            issues = [
                {"file": i.file, "row": i.row, "column": i.column, "value": i.value, "message_zh": i.message_zh,
                 "message_en": i.message_en}
                for i in rejected.issues[:200]
            ]  # fmt: skip
            raise HTTPException(422, {"total": rejected.total, "issues": issues}) from None
    out = ImportOut(batch_id=summary.batch_id, rows=summary.rows, loans=ImportCounts(**vars(summary.loans)))
    await run_in_threadpool(_remember, request, who, idempotency_key, 200, out.model_dump())
    return out


@router.post("/labels/run", response_model=LabelRunOut, tags=["labels"])
async def run_labels(
    request: Request, who: Annotated[Principal, Depends(need("RUN_LABEL"))],
    idempotency_key: IdempotencyKey = None,
) -> LabelRunOut:  # fmt: skip
    """对全部贷款运行绿色识别（结果与规则版本一并保存）/ label the whole book."""
    replay = _replayed(LabelRunOut, await run_in_threadpool(_idempotent, request, who, idempotency_key))
    if replay is not None:
        return replay
    run = await run_in_threadpool(label_book, _engine(request), actor=who.username)
    out = LabelRunOut(run_id=run.run_id, loans=run.loans, green=run.green, not_green=run.not_green,
                      needs_review=run.needs_review)  # fmt: skip
    await run_in_threadpool(_remember, request, who, idempotency_key, 200, out.model_dump())
    return out


class RevalueIn(Strict):
    day: dt.date = Field(description="估值日 / valuation day")


@router.post("/collateral/revalue", response_model=RevalueOut, tags=["collateral"])
async def revalue_pledges(
    body: RevalueIn, request: Request, who: Annotated[Principal, Depends(need("REVALUE_PLEDGE"))],
    idempotency_key: IdempotencyKey = None,
) -> RevalueOut:  # fmt: skip
    """重估全部在押押品并产生越线提示 / revalue every live pledge."""
    if not dt.date(2000, 1, 1) <= body.day <= dt.date(2100, 12, 31):
        raise HTTPException(422, "估值日超出范围 / day out of range")
    replay = _replayed(RevalueOut, await run_in_threadpool(_idempotent, request, who, idempotency_key))
    if replay is not None:
        return replay
    try:
        run = await run_in_threadpool(revalue, _engine(request), body.day, actor=who.username)
    except (CollateralProblem, PermissionDenied) as exc:
        raise HTTPException(409, str(exc)) from None
    out = RevalueOut(
        run_id=run.run_id, day=run.day, policy=f"{run.policy.name}@{run.policy.version}", values=len(run.values),
        alerts=[AlertOut(pledge_id=p, kind=k, message=m) for p, k, m in run.alerts],
        unpriced=[p for p, _why in run.unpriced],
    )  # fmt: skip
    await run_in_threadpool(_remember, request, who, idempotency_key, 200, out.model_dump())
    return out


@router.get("/reports/stats", response_model=StatsOut, tags=["reports"])
async def stats(
    request: Request, who: Annotated[Principal, Depends(need("READ_REPORT"))],
    as_of: Annotated[dt.date, Query(description="统计时点 / as of")],
) -> StatsOut:  # fmt: skip
    """绿色贷款统计的主要数字（总额、按一级类别）/ the statistics' main figures."""
    if not dt.date(2000, 1, 1) <= as_of <= dt.date(2100, 12, 31):
        raise HTTPException(422, "统计时点超出范围 / date out of range")
    result = await run_in_threadpool(stats_report, _engine(request), as_of, actor=who.username, store=False)
    return StatsOut(
        as_of=as_of,
        figures=[
            FigureOut(key=f.key, count=f.count, balance_yuan=str(f.balance_yuan)) for f in result.figures()
        ],
    )
