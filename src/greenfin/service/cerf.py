"""The quarter's CERF batch: decided, stored once, amended openly, exported for disclosure and verification.

A batch covers the loans disbursed in the quarter.  Running the same quarter again computes the
batch afresh: if nothing changed (same loans, figures and decisions, compared by a SHA-256 of the
content) nothing is written; if something changed, a new revision is stored that names the one it
amends.  The disclosure list and the verifier's package are written from the stored revision.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import tempfile
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, insert, select

from greenfin.cerf.eligibility import CerfRules, Decision, decide
from greenfin.reference.factors import DEFAULT_POLICY, FactorPolicy
from greenfin.service import audit
from greenfin.service.benefits import loan_benefits
from greenfin.service.export import write_table
from greenfin.service.green_book import GreenLoan, green_book
from greenfin.store.schema import cerf_batch_loans, cerf_batches

_QUARTER = re.compile(r"^(\d{4})Q([1-4])$")


def quarter_days(quarter: str) -> tuple[dt.date, dt.date]:
    """First and last day of '2026Q3'."""
    match = _QUARTER.match(quarter.strip().upper())
    if not match:
        raise ValueError(f"季度格式应为 2026Q3：{quarter!r} / quarter must look like 2026Q3")
    year, number = int(match.group(1)), int(match.group(2))
    if not 2000 <= year <= 2100:
        raise ValueError(f"季度年份超出范围（2000–2100）：{quarter!r} / year out of range")
    first = dt.date(year, 3 * number - 2, 1)
    last = dt.date(year + (number == 4), 1 if number == 4 else 3 * number + 1, 1) - dt.timedelta(days=1)
    return first, last


@dataclass(slots=True)
class Batch:
    batch_id: int
    quarter: str
    revision: int
    changed: bool  # False when the run found the stored batch unchanged
    amends: int | None
    decisions: list[tuple[GreenLoan, Decision]]

    @property
    def eligible(self) -> list[tuple[GreenLoan, Decision]]:
        return [(loan, d) for loan, d in self.decisions if d.eligible]


def content_hash(decisions: list[tuple[GreenLoan, Decision]], rules: CerfRules) -> str:
    """SHA-256 of a batch's rules and each loan's decision and figures: equal content, equal hash."""
    payload = {
        "rules": rules.as_dict(),
        "loans": [
            [loan.loan_id, d.eligible, loan.amount_fen, d.facility_fen,
             None if loan.co2_reduced_t is None else f"{loan.co2_reduced_t:.3f}", sorted(d.reasons)]
            for loan, d in decisions
        ],
    }  # fmt: skip
    return hashlib.sha256(json.dumps(payload, ensure_ascii=False, sort_keys=True).encode()).hexdigest()


def run_batch(
    engine: Engine, quarter: str, *, actor: str | None = None, rules: CerfRules | None = None,
    policy: FactorPolicy = DEFAULT_POLICY,
) -> Batch:  # fmt: skip
    """Decide every loan disbursed in the quarter; store a revision only when the content changed."""
    who = audit.current_actor(actor)
    chosen = rules or CerfRules()
    first, last = quarter_days(quarter)
    label = f"{first.year}Q{(first.month + 2) // 3}"
    book = [loan for loan in green_book(engine, policy, last.year) if first <= loan.start_date <= last]
    decisions = [(loan, decide(loan, chosen)) for loan in book]
    digest = content_hash(decisions, chosen)
    with engine.begin() as connection:
        latest = connection.execute(
            select(
                cerf_batches.c.id, cerf_batches.c.revision, cerf_batches.c.content_hash, cerf_batches.c.amends
            )
            .where(cerf_batches.c.quarter == label)
            .order_by(cerf_batches.c.revision.desc())
            .limit(1)
        ).first()
        if latest is not None and latest.content_hash == digest:
            return Batch(latest.id, label, latest.revision, False, latest.amends, decisions)
        eligible = [(loan, d) for loan, d in decisions if d.eligible]
        batch_id = connection.execute(
            insert(cerf_batches).values(
                quarter=label, revision=1 if latest is None else latest.revision + 1, content_hash=digest,
                rules=chosen.as_dict(), loans=len(eligible), principal_fen=sum(loan.amount_fen for loan, _ in eligible),
                facility_fen=sum(d.facility_fen for _, d in eligible),
                co2_reduced_t=Decimal(f"{sum(loan.co2_reduced_t or 0 for loan, _ in eligible):.3f}"),
                actor=who, at=audit.now(), amends=None if latest is None else latest.id,
            ).returning(cerf_batches.c.id)
        ).scalar_one()  # fmt: skip
        if decisions:
            connection.execute(
                insert(cerf_batch_loans),
                [
                    {"batch_id": batch_id, "loan_id": loan.loan_id, "eligible": d.eligible,
                     "reasons": d.reasons or d.checks, "principal_fen": loan.amount_fen, "facility_fen": d.facility_fen,
                     "co2_reduced_t": None if loan.co2_reduced_t is None else Decimal(f"{loan.co2_reduced_t:.3f}"),
                     "evidence": audit.jsonable(d.evidence)}
                    for loan, d in decisions
                ],
            )  # fmt: skip
        audit.record(
            connection, actor=who, action="amend" if latest is not None else "create", entity="cerf_batch",
            entity_id=f"{label}#{1 if latest is None else latest.revision + 1}",
            detail={"loans": len(decisions), "eligible": len(eligible), "content_hash": digest,
                    "amends": None if latest is None else latest.id},
        )  # fmt: skip
    return Batch(batch_id, label, 1 if latest is None else latest.revision + 1, True,
                 None if latest is None else latest.id, decisions)  # fmt: skip


def batch_history(engine: Engine, quarter: str) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        return [
            dict(row)
            for row in connection.execute(
                select(cerf_batches)
                .where(cerf_batches.c.quarter == quarter)
                .order_by(cerf_batches.c.revision)
            ).mappings()
        ]


def quarters_with_batches(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(
            connection.execute(select(func.count(func.distinct(cerf_batches.c.quarter)))).scalar() or 0
        )


DISCLOSURE_HEADER = (
    "贷款编号 loan", "项目名称 project", "借款人 borrower", "贷款金额（元）amount", "执行利率（%）rate",
    "发放日期 start", "支持领域 area", "目录条目 item", "年碳减排量（tCO2e，归属本行）CO2e", "测算方法 methodology",
    "再贷款金额（元）facility",
)  # fmt: skip


def write_disclosure(batch: Batch, path: Path) -> Path:
    """The public list of supported loans and their carbon reductions (XLSX or CSV by suffix)."""
    rows = [
        (loan.loan_id, loan.project_name or "", loan.borrower_name, f"{Decimal(loan.amount_fen) / 100:.2f}",
         str(loan.rate_pct), loan.start_date.isoformat(), d.evidence.get("cerf_area") or "",
         f"{loan.item_code} {loan.item_name}", f"{loan.co2_reduced_t:.2f}", loan.benefit_method or "",
         f"{Decimal(d.facility_fen) / 100:.2f}")
        for loan, d in batch.eligible
    ]  # fmt: skip
    write_table(path, DISCLOSURE_HEADER, rows)
    return path


def write_verification(
    engine: Engine, batch: Batch, path: Path, reporting_year: int, policy: FactorPolicy = DEFAULT_POLICY
) -> Path:
    """The verifier's package: each decided loan's checks, and each eligible loan's inputs, factors and formula."""
    header = (
        "贷款编号 loan", "结论 result", "理由或核验项 reasons/checks", "方法学 methodology", "输入 inputs",
        "因子 factor", "因子值 value", "单位 unit", "因子年份 year", "因子来源 source", "可信度 confidence",
        "公式 formula", "年碳减排量（项目）tCO2e", "归属比例 share", "年碳减排量（归属本行）tCO2e",
    )  # fmt: skip
    rows: list[tuple[Any, ...]] = []
    for loan, decision in batch.decisions:
        result_zh = "纳入" if decision.eligible else "不纳入"
        notes = "；".join(decision.reasons or decision.checks)
        assessment = (
            loan_benefits(engine, loan.loan_id, policy, reporting_year) if decision.eligible else None
        )
        if assessment is None:
            rows.append((loan.loan_id, result_zh, notes, "", "", "", "", "", "", "", "", "", "", "", ""))
            continue
        result = assessment.result
        inputs = "；".join(f"{k}={v:g}" for k, v in result.inputs.items())
        share = result.attribution.share if result.attribution else None
        formula = (
            "CO2 = 上网电量 × 电网排放因子"
            if result.convention == "grid_factor"
            else "CO2 = 上网电量 × 供电煤耗 × 每吨标煤CO2"
        ) + "；归属 = 项目 × 贷款余额 ÷ 项目总投资"
        for name, factors in result.factors.items():
            for f in factors:
                rows.append(
                    (loan.loan_id, result_zh, notes, f"{result.methodology} v{result.version}", inputs, name,
                     f"{f.value:g}", f.unit, f.year, f.source, f.confidence, formula,
                     f"{result.indicators['co2_reduced']:.2f}", "" if share is None else f"{share:.6f}",
                     "" if result.attributed is None else f"{result.attributed['co2_reduced']:.2f}")
                )  # fmt: skip
    write_table(path, header, rows)
    return path


# --- stored batches: listed, shown, and their files -----------------------------------------------

#: The files of a stored revision (the CLI writes both after a run).
BATCH_FILES = ("disclosure", "verification")


class BatchNotFound(LookupError):
    """No stored CERF batch has this id."""


class BatchStale(ValueError):
    """The book changed since the revision was stored: it must be run again before its files."""


def list_batches(
    engine: Engine, *, quarter: str | None = None, offset: int = 0, limit: int = 50
) -> tuple[list[dict[str, Any]], int]:
    """The stored revisions, newest first, one page of them, and how many there are."""
    query = select(cerf_batches)
    if quarter is not None:
        first, _last = quarter_days(quarter)
        query = query.where(cerf_batches.c.quarter == f"{first.year}Q{(first.month + 2) // 3}")
    with engine.connect() as connection:
        total = connection.execute(select(func.count()).select_from(query.subquery())).scalar_one()
        rows = connection.execute(
            query.order_by(cerf_batches.c.id.desc()).limit(limit).offset(offset)
        ).mappings()
        return [dict(r) for r in rows], int(total)


def batch_detail(engine: Engine, batch_id: int) -> dict[str, Any]:
    """A stored revision with each decided loan (eligible or not, with reasons) and the totals."""
    with engine.connect() as connection:
        row = connection.execute(select(cerf_batches).where(cerf_batches.c.id == batch_id)).mappings().first()
        if row is None:
            raise BatchNotFound(f"碳减排支持工具批次 {batch_id} 不存在 / no such batch")
        loans = [
            dict(r)
            for r in connection.execute(
                select(cerf_batch_loans)
                .where(cerf_batch_loans.c.batch_id == batch_id)
                .order_by(cerf_batch_loans.c.loan_id)
            ).mappings()
        ]
    for loan in loans:
        reasons = loan["reasons"]
        loan["reasons"] = [str(r) for r in reasons] if isinstance(reasons, list) else [str(reasons)]
    return {**dict(row), "decided": loans}


def stored_batch(engine: Engine, batch_id: int, policy: FactorPolicy = DEFAULT_POLICY) -> Batch:
    """The stored revision as a :class:`Batch` to write files from.

    The decisions are computed again from the book, exactly as :func:`run_batch` does, and used
    only when their content hash equals the stored revision's: the files then say what was stored.
    When the book has changed since, the batch must be run again (a new revision) first.
    """
    with engine.connect() as connection:
        row = connection.execute(select(cerf_batches).where(cerf_batches.c.id == batch_id)).mappings().first()
    if row is None:
        raise BatchNotFound(f"碳减排支持工具批次 {batch_id} 不存在 / no such batch")
    rules = CerfRules()
    first, last = quarter_days(row["quarter"])
    book = [loan for loan in green_book(engine, policy, last.year) if first <= loan.start_date <= last]
    decisions = [(loan, decide(loan, rules)) for loan in book]
    if content_hash(decisions, rules) != row["content_hash"]:
        raise BatchStale(
            f"批次 {batch_id} 生成后台账已变化，请重新生成批次 / the book changed since batch {batch_id}; run it again"
        )
    return Batch(row["id"], row["quarter"], row["revision"], False, row["amends"], decisions)


def batch_file(engine: Engine, batch_id: int, which: str, fmt: str = "xlsx") -> tuple[bytes, str]:
    """The disclosure list or the verifier's package of a stored revision (XLSX or CSV), written
    into a private temporary folder by the CLI's writers and read back: its bytes and file name."""
    if which not in BATCH_FILES:
        raise ValueError(f"文件应为 {'、'.join(BATCH_FILES)} / file must be one of {BATCH_FILES}")
    if fmt not in ("xlsx", "csv"):
        raise ValueError("格式应为 xlsx 或 csv / format must be xlsx or csv")
    batch = stored_batch(engine, batch_id)
    with tempfile.TemporaryDirectory(prefix="greenfin-cerf-") as folder:
        path = Path(folder) / f"cerf_{batch.quarter}_r{batch.revision}_{which}.{fmt}"
        if which == "disclosure":
            write_disclosure(batch, path)
        else:
            write_verification(engine, batch, path, int(batch.quarter[:4]))
        return path.read_bytes(), path.name
