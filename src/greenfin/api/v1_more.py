"""REST API v1, continued: price series, pledges and their valuations, CERF batches, stored reports.

The routes are thin: each names the one permission it needs (``need``), calls the service the CLI
and the pages already use, and says where a request went wrong (the field, the row, the state).
Lists are paged like ``/loans`` (``page``, ``size`` ≤ 200, ``total``).  Creating POSTs take an
``Idempotency-Key``, kept by v1's ``_idempotent``/``_remember``.  Downloads are rendered on request
from what was stored, into a private temporary folder, and sent with a Content-Disposition.

This router is included before v1's, so its ``GET /pledges`` (paged, filtered) is the one served.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import tempfile
from decimal import Decimal
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, HTTPException, Path, Query, Request, Response, UploadFile
from pydantic import BaseModel, Field

from greenfin.api.security import need
from greenfin.api.v1 import IDEMPOTENCY_CLEANUP, IdempotencyKey, Strict, _engine, _idempotent, _remember
from greenfin.collateral.prices import DEFAULT_MAX_GAP_DAYS, series_code
from greenfin.ingest.issues import ImportIssue, ImportRejected
from greenfin.model.entities import Instrument, PledgeState
from greenfin.model.problems import ValueProblem
from greenfin.reports.render import FontMissing
from greenfin.service import cerf, collateral, prices, reports
from greenfin.service.auth import Principal
from greenfin.service.uploads import upload_name
from greenfin.service.users import PermissionDenied

#: A key reserved by a request that then fails is released, so the client may retry with it (v1.py).
router = APIRouter(prefix="/api/v1", dependencies=[IDEMPOTENCY_CLEANUP])

#: The largest upload taken (a year of an exchange's daily export is well under 5 MB).
MAX_UPLOAD = 20 * 1024 * 1024
#: The most problems a refused import lists (the total is still given).
MAX_ISSUES = 200

Page = Annotated[int, Query(ge=1, le=1_000_000, description="页码，从 1 开始 / page, from 1")]
Size = Annotated[int, Query(ge=1, le=200, description="每页条数（≤200）/ page size")]
PledgeId = Annotated[str, Path(min_length=1, max_length=64, description="质押编号 / pledge id")]
BatchId = Annotated[int, Path(ge=1, le=2**31 - 1, description="批次编号 / batch id")]
ReportId = Annotated[int, Path(ge=1, le=2**31 - 1, description="报表编号 / report id")]
SeriesCode = Annotated[
    str, Path(min_length=1, max_length=32, description="价格序列代码，如 CEA / series code")
]


def _yuan(fen: int) -> Decimal:
    return (Decimal(fen) / 100).quantize(Decimal("0.01"))


def _attachment(data: bytes, name: str, media_type: str) -> Response:
    """A file as an attachment (RFC 6266 name with an ASCII fallback), never cached."""
    ascii_name = name.encode("ascii", "replace").decode().replace('"', "_")
    headers = {
        "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}",
        "Cache-Control": "no-store",
    }
    return Response(content=data, media_type=media_type, headers=headers)


def _download_responses(*media: str) -> dict[int | str, dict[str, Any]]:
    binary = {"schema": {"type": "string", "format": "binary"}}
    return {200: {"description": "文件 / the file", "content": {m: binary for m in media}}}


# --- prices --------------------------------------------------------------------------------------


class IssueOut(BaseModel):
    file: str = Field(description="文件名 / file")
    row: int | None = Field(description="行号（表头为第 1 行）/ row, the header is row 1")
    column: str | None = Field(description="列 / column")
    value: str | None = Field(description="原值 / the value found")
    message_zh: str = Field(description="问题（中文）/ problem in Chinese")
    message_en: str = Field(description="问题（英文）/ problem in English")


def _issue_out(issue: ImportIssue) -> IssueOut:
    return IssueOut(
        file=issue.file, row=issue.row, column=issue.column,
        value=None if issue.value is None else str(issue.value)[:200],
        message_zh=issue.message_zh, message_en=issue.message_en,
    )  # fmt: skip


class PriceFileOut(BaseModel):
    name: str = Field(description="文件名 / file name")
    sha256: str = Field(description="文件 SHA-256（记入审计日志）/ the file's SHA-256")
    layout: str | None = Field(description="文件格式：交易所日行情、单一品种、价格清单 / layout")
    rows_in_file: int = Field(description="文件数据行数 / data rows in the file")
    rows: int = Field(description="导入的行数 / rows imported")
    skipped: int = Field(description="跳过的行数（如无收盘价）/ rows skipped")


class SeriesCountOut(BaseModel):
    series: str = Field(description="价格序列代码 / series code")
    new: int = Field(description="新增交易日 / days added")
    updated: int = Field(description="更正的交易日（新旧值记入审计日志）/ days changed")
    unchanged: int = Field(description="与库中相同的交易日 / days already stored as they are")


class PriceImportOut(BaseModel):
    files: list[PriceFileOut] = Field(description="导入的文件 / the files imported")
    series: list[SeriesCountOut] = Field(description="各序列的新增、更正、未变天数 / per series")
    warnings: list[IssueOut] = Field(description="提示（已导入，请核对，最多 200 条）/ warnings, at most 200")
    warnings_total: int = Field(description="提示总数 / number of warnings")


@router.post(
    "/prices/{series}/import", status_code=201, response_model=PriceImportOut, tags=["collateral"],
    responses={422: {"description": "文件有误，逐行列出，未导入任何数据 / refused, nothing imported"}},
)  # fmt: skip
def import_series(
    series: SeriesCode, request: Request, who: Annotated[Principal, Depends(need("IMPORT_PRICE"))],
    file: Annotated[UploadFile, File(description="日行情 CSV 或 XLSX / daily prices, CSV or XLSX")],
    max_gap_days: int = Query(
        DEFAULT_MAX_GAP_DAYS, ge=1, le=366, description="相邻交易日最大间隔（自然日）/ largest gap in days"
    ),
    idempotency_key: IdempotencyKey = None,
) -> PriceImportOut:  # fmt: skip
    """导入价格序列：全部成功或全部不导入，错误逐行定位；重复导入相同数据不改动 / import a series, all or nothing.

    The series code picks the series of an exchange file or names that of a single-series file.
    """
    name = upload_name(file.filename, "prices.csv")
    if FilePath(name).suffix.lower() not in {".csv", ".xlsx", ".txt"}:
        raise HTTPException(422, "只接受 CSV 或 XLSX 文件 / CSV or XLSX only")
    data = file.file.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        raise HTTPException(413, f"文件超过 {MAX_UPLOAD // 1024 // 1024} MB / file too large")
    # the key is bound to the file's content, not to the multipart body (its boundary is random)
    sent = {"sha256": hashlib.sha256(data).hexdigest(), "max_gap_days": max_gap_days}
    replay = _idempotent(request, who, idempotency_key, sent)
    if replay is not None:
        return PriceImportOut(**replay)
    try:
        code = series_code(series)
    except ValueProblem as problem:
        raise HTTPException(422, f"{problem.zh} / {problem.en}") from None
    with tempfile.TemporaryDirectory(prefix="greenfin-prices-") as folder:
        path = FilePath(folder) / name
        path.write_bytes(data)
        try:
            result = prices.import_prices(
                _engine(request), [path], actor=who.username, instrument=code, max_gap_days=max_gap_days
            )
        except ImportRejected as rejected:
            issues = [_issue_out(i).model_dump() for i in rejected.issues[:MAX_ISSUES]]
            raise HTTPException(422, {"total": rejected.total, "issues": issues}) from None
    out = PriceImportOut(
        files=[PriceFileOut(**{k: note[k] for k in PriceFileOut.model_fields}) for note in result.files],
        series=[SeriesCountOut(series=c, new=n.new, updated=n.updated, unchanged=n.unchanged)
                for c, n in result.series.items()],
        warnings=[_issue_out(w) for w in result.warnings[:MAX_ISSUES]], warnings_total=len(result.warnings),
    )  # fmt: skip
    _remember(request, who, idempotency_key, 201, out.model_dump())
    return out


class SeriesOut(BaseModel):
    series: str = Field(description="价格序列代码 / series code")
    first_day: dt.date = Field(description="最早交易日 / first day stored")
    last_day: dt.date = Field(description="最近交易日 / latest day stored")
    days: int = Field(description="交易日数 / days stored")
    last_close_yuan: Decimal = Field(description="最近收盘价（元）/ latest close, CNY")


@router.get("/prices", response_model=list[SeriesOut], tags=["collateral"])
def list_series(request: Request, who: Annotated[Principal, Depends(need("READ_PRICE"))]) -> list[SeriesOut]:
    """库中的价格序列，及各自最近交易日与收盘价 / the stored series with their latest close."""
    return [
        SeriesOut(series=s.code, first_day=s.first_day, last_day=s.last_day, days=s.days,
                  last_close_yuan=s.last_close_yuan)
        for s in prices.series_summaries(_engine(request))
    ]  # fmt: skip


# --- pledges, valuations, alerts -----------------------------------------------------------------


def _state_zh(state: str) -> str:
    return next((zh for key, zh in collateral.STATE_ZH.items() if key.value == state), state)


class PledgeOut(BaseModel):
    pledge_id: str = Field(description="质押编号 / pledge id")
    loan_ids: list[str] = Field(description="所担保的贷款 / the loans it secures")
    instrument: str = Field(description="权益类型：CEA、CCER、PILOT、DISCHARGE、ENERGY_USE / right type")
    quantity: Decimal = Field(description="质押数量 / quantity pledged")
    unit: str = Field(description="数量单位（tCO2e、t、tce）/ unit")
    vintage: int | None = Field(description="年度（配额年份）/ vintage")
    registry_reference: str = Field(description="登记机构的质押登记编号 / registry reference")
    state: str = Field(description="状态：applied、registered、warning… / state")
    state_zh: str = Field(description="状态（中文）：申请、已登记、预警… / state in Chinese")
    pledged_on: dt.date = Field(description="质押日期 / pledged on")
    holding_id: str | None = Field(description="所占用的持有量 / the holding it draws on")
    price_series: str | None = Field(description="估值所用价格序列 / the price series that values it")


def _pledge_out(row: dict[str, Any]) -> PledgeOut:
    return PledgeOut(
        **{k: row[k] for k in PledgeOut.model_fields if k not in ("quantity", "state_zh")},
        quantity=Decimal(str(row["quantity"])), state_zh=_state_zh(row["state"]),
    )  # fmt: skip


class PledgePage(BaseModel):
    items: list[PledgeOut] = Field(description="本页质押 / pledges on this page")
    total: int = Field(description="符合条件的质押总数 / matching pledges")
    page: int = Field(description="页码，从 1 开始 / page, from 1")
    size: int = Field(description="每页条数 / page size")


class ValuationOut(BaseModel):
    run_id: int = Field(description="重估批次编号 / revaluation run")
    day: dt.date = Field(description="估值日 / valuation day")
    policy: str = Field(description="估值政策及版本 / valuation policy@version")
    price_day: dt.date = Field(description="所用价格的交易日 / day of the price used")
    reference_price_yuan: Decimal = Field(description="参考价（元）/ reference price, CNY")
    haircut: Decimal = Field(description="折扣率（0–1）/ haircut, 0 to 1")
    pledge_rate: Decimal = Field(description="质押率（0–1）/ lendable share, 0 to 1")
    market_value_yuan: Decimal = Field(description="市值（元）/ market value, CNY")
    collateral_value_yuan: Decimal = Field(description="押品价值（折扣后，元）/ value after haircut, CNY")
    outstanding_yuan: Decimal = Field(description="所担保贷款余额（元）/ loans outstanding, CNY")
    coverage: Decimal | None = Field(description="覆盖率（押品价值 ÷ 贷款余额；无余额时为空）/ coverage")
    status: str = Field(description="normal、warning、liquidation / status against the lines")
    status_zh: str = Field(description="状态（中文）：正常、预警、低于平仓线 / status in Chinese")


def _valuation_out(row: dict[str, Any]) -> ValuationOut:
    return ValuationOut(
        run_id=row["run_id"], day=row["day"], policy=f"{row['policy_name']}@{row['policy_version']}",
        price_day=row["price_day"], reference_price_yuan=Decimal(str(row["reference_price_yuan"])),
        haircut=Decimal(str(row["haircut"])), pledge_rate=Decimal(str(row["pledge_rate"])),
        market_value_yuan=_yuan(row["market_value_fen"]), collateral_value_yuan=_yuan(row["collateral_value_fen"]),
        outstanding_yuan=_yuan(row["outstanding_fen"]),
        coverage=None if row["coverage"] is None else Decimal(str(row["coverage"])),
        status=row["status"], status_zh=collateral.STATUS_ZH.get(row["status"], row["status"]),
    )  # fmt: skip


class PledgeDetailOut(PledgeOut):
    latest_valuation: ValuationOut | None = Field(
        description="最近一次重估的估值（尚未估值时为空）/ the latest valuation, if any"
    )


class ValuationPage(BaseModel):
    items: list[ValuationOut] = Field(description="本页估值，最近的在前 / valuations, latest first")
    total: int = Field(description="估值总数 / valuations")
    page: int = Field(description="页码，从 1 开始 / page, from 1")
    size: int = Field(description="每页条数 / page size")


class PledgeIn(Strict):
    pledge_id: str = Field(min_length=1, max_length=64, pattern=r"^\S+$", description="质押编号 / pledge id")
    holding_id: str = Field(
        min_length=1, max_length=64, description="出质人的持有量编号 / the holding pledged"
    )
    loan_ids: list[str] = Field(
        min_length=1, max_length=50, description="所担保的贷款编号（至少一笔）/ the loans it secures"
    )
    quantity: Decimal = Field(
        gt=0, max_digits=24, decimal_places=6, description="质押数量（持有量的单位）/ quantity pledged"
    )
    pledged_on: dt.date = Field(description="质押日期 / pledged on")
    registry_reference: str = Field(
        "", max_length=100, description="登记编号（未登记可留空）/ registry reference, if already known"
    )


@router.get("/pledges", response_model=PledgePage, tags=["collateral"])
def list_pledges(
    request: Request, who: Annotated[Principal, Depends(need("READ_PLEDGE"))], page: Page = 1, size: Size = 50,
    state: Annotated[PledgeState | None, Query(description="按状态筛选 / state")] = None,
    instrument: Annotated[Instrument | None, Query(description="按权益类型筛选 / right type")] = None,
    loan_id: str | None = Query(None, min_length=1, max_length=64, description="所担保的贷款 / a secured loan"),
) -> PledgePage:  # fmt: skip
    """环境权益质押：分页，可按状态、权益类型、贷款筛选 / pledges, paged and filtered."""
    rows, total = collateral.list_pledges(
        _engine(request), state=None if state is None else state.value,
        instrument=None if instrument is None else instrument.value,
        loan_id=loan_id, offset=(page - 1) * size, limit=size,
    )  # fmt: skip
    return PledgePage(items=[_pledge_out(r) for r in rows], total=total, page=page, size=size)


@router.post("/pledges", status_code=201, response_model=PledgeDetailOut, tags=["collateral"])
def create_pledge(
    body: PledgeIn, request: Request, who: Annotated[Principal, Depends(need("REGISTER_PLEDGE"))],
    idempotency_key: IdempotencyKey = None,
) -> PledgeDetailOut:  # fmt: skip
    """申请质押：以持有量的一部分为贷款担保，数量即时占用；登记须另经复核 / apply for a pledge.

    The pledge starts as 申请 (applied); its registration is proposed with
    ``POST /pledges/{pledge_id}/register`` and carried out when a checker approves it.
    """
    replay = _idempotent(request, who, idempotency_key)
    if replay is not None:
        return PledgeDetailOut(**replay)
    engine = _engine(request)
    try:
        collateral.apply_pledge(
            engine, pledge_id=body.pledge_id, holding_id=body.holding_id, loan_ids=body.loan_ids,
            quantity=body.quantity, pledged_on=body.pledged_on, actor=who.username,
            registry_reference=body.registry_reference,
        )  # fmt: skip
    except PermissionDenied as exc:
        raise HTTPException(403, str(exc)) from None
    except collateral.CollateralConflict as exc:
        raise HTTPException(409, str(exc)) from None
    except collateral.CollateralProblem as exc:
        raise HTTPException(422, str(exc)) from None
    out = _pledge_detail(engine, body.pledge_id)
    _remember(request, who, idempotency_key, 201, out.model_dump())
    return out


def _pledge_detail(engine: Any, pledge_id: str) -> PledgeDetailOut:
    try:
        row = collateral.pledge_detail(engine, pledge_id)
    except collateral.CollateralNotFound as exc:
        raise HTTPException(404, str(exc)) from None
    latest = row["latest_valuation"]
    return PledgeDetailOut(
        **_pledge_out(row).model_dump(), latest_valuation=None if latest is None else _valuation_out(latest)
    )


@router.get("/pledges/{pledge_id}", response_model=PledgeDetailOut, tags=["collateral"])
def get_pledge(
    pledge_id: PledgeId, request: Request, who: Annotated[Principal, Depends(need("READ_PLEDGE"))]
) -> PledgeDetailOut:
    """一笔质押及其最近估值（折扣率、覆盖率）/ one pledge with its latest valuation."""
    return _pledge_detail(_engine(request), pledge_id)


@router.get("/pledges/{pledge_id}/valuations", response_model=ValuationPage, tags=["collateral"])
def pledge_valuations(
    pledge_id: PledgeId, request: Request, who: Annotated[Principal, Depends(need("READ_PLEDGE"))],
    page: Page = 1, size: Size = 50,
) -> ValuationPage:  # fmt: skip
    """一笔质押的历次估值，最近的在前 / a pledge's valuation history, latest first."""
    try:
        rows, total = collateral.valuation_history(
            _engine(request), pledge_id, offset=(page - 1) * size, limit=size
        )
    except collateral.CollateralNotFound as exc:
        raise HTTPException(404, str(exc)) from None
    return ValuationPage(items=[_valuation_out(r) for r in rows], total=total, page=page, size=size)


class AlertOut(BaseModel):
    id: int = Field(description="提示编号 / alert id")
    run_id: int = Field(description="产生提示的重估批次 / the revaluation run")
    day: dt.date = Field(description="估值日 / valuation day")
    pledge_id: str = Field(description="质押编号 / pledge id")
    loan_id: str = Field(description="质押的主贷款 / the pledge's loan")
    kind: str = Field(description="warning（跌破预警线）、liquidation（跌破平仓线）、recovered（恢复）/ kind")
    message: str = Field(description="提示内容（覆盖率、预警线、平仓线、参考价）/ message")


class AlertPage(BaseModel):
    items: list[AlertOut] = Field(description="本页提示，最近的在前 / alerts, newest first")
    total: int = Field(description="符合条件的提示总数 / matching alerts")
    page: int = Field(description="页码，从 1 开始 / page, from 1")
    size: int = Field(description="每页条数 / page size")


@router.get("/collateral/alerts", response_model=AlertPage, tags=["collateral"])
def list_alerts(
    request: Request, who: Annotated[Principal, Depends(need("READ_PLEDGE"))], page: Page = 1, size: Size = 50,
    kind: Literal["warning", "liquidation", "recovered"] | None = Query(None, description="提示类型 / kind"),
    pledge_id: str | None = Query(None, min_length=1, max_length=64, description="质押编号 / pledge id"),
    run_id: int | None = Query(None, ge=1, le=2**31 - 1, description="重估批次 / revaluation run"),
) -> AlertPage:  # fmt: skip
    """覆盖率越线提示（预警、平仓、恢复），分页 / coverage alerts, paged."""
    rows, total = collateral.list_alerts(
        _engine(request), kind=kind, pledge_id=pledge_id, run_id=run_id, offset=(page - 1) * size, limit=size
    )
    items = [AlertOut(**{k: r[k] for k in AlertOut.model_fields}) for r in rows]
    return AlertPage(items=items, total=total, page=page, size=size)


# --- CERF ----------------------------------------------------------------------------------------


class BatchOut(BaseModel):
    batch_id: int = Field(description="批次编号 / batch id")
    quarter: str = Field(description="季度，如 2026Q3 / quarter")
    revision: int = Field(description="版本（更正一次加一）/ revision")
    amends: int | None = Field(description="所更正的批次编号 / the batch it amends")
    eligible_loans: int = Field(description="合格贷款笔数 / eligible loans")
    principal_yuan: Decimal = Field(description="合格贷款本金（元）/ eligible principal, CNY")
    facility_yuan: Decimal = Field(description="可申请再贷款（元，本金 60%）/ facility, CNY")
    co2_reduced_t: Decimal = Field(description="年碳减排量（tCO2e，归属本行）/ CO2e reduced a year")
    content_hash: str = Field(description="内容 SHA-256（内容不变则不生成新版本）/ content hash")
    actor: str = Field(description="生成人 / run by")
    at: dt.datetime = Field(description="生成时间 / run at")


def _batch_out(row: dict[str, Any]) -> BatchOut:
    return BatchOut(
        batch_id=row["id"], quarter=row["quarter"], revision=row["revision"], amends=row["amends"],
        eligible_loans=row["loans"], principal_yuan=_yuan(row["principal_fen"]),
        facility_yuan=_yuan(row["facility_fen"]), co2_reduced_t=Decimal(str(row["co2_reduced_t"])),
        content_hash=row["content_hash"], actor=row["actor"], at=row["at"],
    )  # fmt: skip


class BatchPage(BaseModel):
    items: list[BatchOut] = Field(description="本页批次，最近的在前 / batches, newest first")
    total: int = Field(description="符合条件的批次总数 / matching batches")
    page: int = Field(description="页码，从 1 开始 / page, from 1")
    size: int = Field(description="每页条数 / page size")


class BatchLoanOut(BaseModel):
    loan_id: str = Field(description="贷款编号 / loan id")
    eligible: bool = Field(description="是否纳入 / eligible")
    reasons: list[str] = Field(
        description="不纳入的理由，或已通过的核验项 / why excluded, or the checks passed"
    )
    principal_yuan: Decimal = Field(description="本金（元）/ principal, CNY")
    facility_yuan: Decimal = Field(description="再贷款金额（元）/ facility, CNY")
    co2_reduced_t: Decimal | None = Field(description="年碳减排量（tCO2e）/ CO2e reduced a year")


class BatchDetailOut(BatchOut):
    decided_loans: int = Field(description="本季发放并判定的贷款笔数 / loans decided")
    excluded_loans: int = Field(description="不纳入的贷款笔数 / loans excluded")
    loans: list[BatchLoanOut] = Field(description="每笔贷款的判定 / each loan's decision")


@router.get("/cerf/batches", response_model=BatchPage, tags=["cerf"])
def list_batches(
    request: Request, who: Annotated[Principal, Depends(need("READ_CERF"))], page: Page = 1, size: Size = 50,
    quarter: str | None = Query(None, pattern=r"^\d{4}Q[1-4]$", description="季度，如 2026Q3 / quarter"),
) -> BatchPage:  # fmt: skip
    """碳减排支持工具批次（各季各版本），分页 / the stored CERF batches, paged."""
    try:
        rows, total = cerf.list_batches(
            _engine(request), quarter=quarter, offset=(page - 1) * size, limit=size
        )
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    return BatchPage(items=[_batch_out(r) for r in rows], total=total, page=page, size=size)


@router.get("/cerf/batches/{batch_id}", response_model=BatchDetailOut, tags=["cerf"])
def get_batch(
    batch_id: BatchId, request: Request, who: Annotated[Principal, Depends(need("READ_CERF"))]
) -> BatchDetailOut:
    """一个批次：每笔贷款的判定与合计 / one batch with its loans and totals."""
    try:
        row = cerf.batch_detail(_engine(request), batch_id)
    except cerf.BatchNotFound as exc:
        raise HTTPException(404, str(exc)) from None
    loans = [
        BatchLoanOut(
            loan_id=r["loan_id"], eligible=r["eligible"], reasons=r["reasons"],
            principal_yuan=_yuan(r["principal_fen"]), facility_yuan=_yuan(r["facility_fen"]),
            co2_reduced_t=None if r["co2_reduced_t"] is None else Decimal(str(r["co2_reduced_t"])),
        )
        for r in row["decided"]
    ]  # fmt: skip
    return BatchDetailOut(
        **_batch_out(row).model_dump(), decided_loans=len(loans),
        excluded_loans=sum(not loan.eligible for loan in loans), loans=loans,
    )  # fmt: skip


CERF_MEDIA = {"xlsx": reports.MEDIA_TYPES["xlsx"], "csv": "text/csv; charset=utf-8"}


@router.get(
    "/cerf/batches/{batch_id}/file", response_class=Response, tags=["cerf"],
    responses=_download_responses(*CERF_MEDIA.values()),
)  # fmt: skip
def batch_file(
    batch_id: BatchId, request: Request, who: Annotated[Principal, Depends(need("READ_CERF"))],
    which: Literal["disclosure", "verification"] = Query(
        "disclosure", description="disclosure（披露清单）或 verification（核验材料）/ which file"
    ),
    fmt: Literal["xlsx", "csv"] = Query("xlsx", alias="format", description="文件格式 / file format"),
) -> Response:  # fmt: skip
    """下载批次的披露清单或核验材料（与命令行 greenfin cerf batch 所写相同）/ a batch's file.

    409 when the book changed since the batch was stored: run the quarter again (a new revision).
    """
    try:
        data, name = cerf.batch_file(_engine(request), batch_id, which, fmt)
    except cerf.BatchNotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except cerf.BatchStale as exc:
        raise HTTPException(409, str(exc)) from None
    return _attachment(data, name, CERF_MEDIA[fmt])


# --- reports -------------------------------------------------------------------------------------


class ReportOut(BaseModel):
    report_id: int = Field(description="报表编号 / report id")
    kind: str = Field(description="stats（绿色贷款统计）或 disclosure（环境信息披露）/ kind")
    as_of: dt.date = Field(description="统计时点（披露报告为年末）/ as of")
    actor: str = Field(description="生成人 / made by")
    at: dt.datetime = Field(description="生成时间 / made at")
    green_loans: int = Field(description="绿色贷款笔数 / green loans")
    green_balance_yuan: Decimal = Field(description="绿色贷款余额（元）/ green balance, CNY")
    formats: list[str] = Field(description="可下载的格式 / formats the file comes in")


def _report_out(report: reports.StoredReport) -> ReportOut:
    return ReportOut(
        report_id=report.id, kind=report.kind, as_of=report.as_of, actor=report.actor, at=report.at,
        green_loans=report.green_loans, green_balance_yuan=_yuan(report.green_balance_fen),
        formats=list(reports.REPORT_FORMATS.get(report.kind, ())),
    )  # fmt: skip


class ReportPage(BaseModel):
    items: list[ReportOut] = Field(description="本页报表，最近的在前 / reports, newest first")
    total: int = Field(description="符合条件的报表总数 / matching reports")
    page: int = Field(description="页码，从 1 开始 / page, from 1")
    size: int = Field(description="每页条数 / page size")


class ReportIn(Strict):
    kind: Literal["stats", "disclosure"] = Field(
        description="stats（绿色贷款统计）或 disclosure（年度环境信息披露）/ kind"
    )
    as_of: dt.date = Field(
        description="统计时点；披露报告取其年度的年末 / as of; a disclosure uses its year's end"
    )


@router.get("/reports", response_model=ReportPage, tags=["reports"])
def list_reports(
    request: Request, who: Annotated[Principal, Depends(need("READ_REPORT"))], page: Page = 1, size: Size = 50,
    kind: Literal["stats", "disclosure"] | None = Query(None, description="报表类型 / kind"),
) -> ReportPage:  # fmt: skip
    """已生成并保存的报表，最近的在前 / the stored reports, newest first."""
    found, total = reports.list_reports(_engine(request), kind=kind, offset=(page - 1) * size, limit=size)
    return ReportPage(items=[_report_out(r) for r in found], total=total, page=page, size=size)


@router.post("/reports", status_code=201, response_model=ReportOut, tags=["reports"])
def create_report(
    body: ReportIn, request: Request, who: Annotated[Principal, Depends(need("CREATE_REPORT"))],
    idempotency_key: IdempotencyKey = None,
) -> ReportOut:  # fmt: skip
    """生成并保存报表（下季、下年报表据此比较；记入审计日志）/ make and keep a report.

    Storing is a write (later reports compare against it), so it needs CREATE_REPORT, not
    READ_REPORT: an auditor reads reports but does not make them.
    """
    if not dt.date(2000, 1, 1) <= body.as_of <= dt.date(2100, 12, 31):
        raise HTTPException(422, "统计时点超出范围（2000–2100）/ date out of range")
    replay = _idempotent(request, who, idempotency_key)
    if replay is not None:
        return ReportOut(**replay)
    stored = reports.create_report(_engine(request), body.kind, body.as_of, actor=who.username)
    out = _report_out(stored)
    _remember(request, who, idempotency_key, 201, out.model_dump())
    return out


@router.get(
    "/reports/{report_id}/file", response_class=Response, tags=["reports"],
    responses=_download_responses(*dict.fromkeys(reports.MEDIA_TYPES.values())),
)  # fmt: skip
def report_file(
    report_id: ReportId, request: Request, who: Annotated[Principal, Depends(need("READ_REPORT"))],
    fmt: Literal["xlsx", "csv", "html", "pdf"] | None = Query(
        None, alias="format",
        description="统计：xlsx、csv（ZIP）、html；披露：html、xlsx、pdf；缺省为第一种 / format, default the first",
    ),
) -> Response:  # fmt: skip
    """下载已保存报表的文件（按保存时的数字重新生成；台账已变则 409）/ a stored report's file."""
    engine = _engine(request)
    try:
        stored = reports.get_report(engine, report_id)
        chosen = fmt or reports.REPORT_FORMATS[stored.kind][0]
        data, name = reports.report_file(engine, report_id, chosen)
    except reports.ReportNotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except reports.ReportStale as exc:
        raise HTTPException(409, str(exc)) from None
    except FontMissing as exc:
        raise HTTPException(422, str(exc)) from None
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    return _attachment(data, name, reports.MEDIA_TYPES[chosen])
