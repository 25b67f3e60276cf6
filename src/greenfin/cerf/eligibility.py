"""CERF eligibility: the PBoC facility's conditions, checked loan by loan with reasons.

The facility (DOMAIN.md §3): launched 2021-11-08; the PBoC lends 60 % of an eligible loan's
principal at 1.75 % for one year; eligible loans finance the facility's areas (清洁能源, 节能环保,
碳减排技术; from 2026-01-15 also 节能改造, 绿色升级, 能源绿色低碳转型), are priced roughly level with the
same-tenor LPR, and their carbon reductions are disclosed and verified.  How close "roughly level"
is, is the bank's setting (``lpr_tolerance_bp``); the rollover rules are not modelled.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Protocol

from greenfin.reference.catalogues import cerf_area
from greenfin.reference.lpr import lpr_on, tenor_of

LAUNCH = dt.date(2021, 11, 8)


class LoanFacts(Protocol):
    """What the rules read of a loan (service.green_book.GreenLoan has it all)."""

    loan_id: str
    status: str | None
    cerf_area: str | None
    approval_date: dt.date | None
    start_date: dt.date
    maturity_date: dt.date
    currency: str
    rate_pct: Decimal | None
    amount_fen: int
    co2_reduced_t: float | None
    benefit_method: str | None
    catalogue: str | None
    item_code: str | None
    item_name: str | None
    decided_by: str


@dataclass(frozen=True, slots=True)
class CerfRules:
    """The facility's terms and the bank's tolerances; recorded with every batch."""

    facility_share: Decimal = Decimal("0.60")
    facility_rate_pct: Decimal = Decimal("1.75")
    launch: dt.date = LAUNCH
    lpr_tolerance_bp: int = 50
    require_co2: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {key: str(value) for key, value in asdict(self).items()}


@dataclass(slots=True)
class Decision:
    loan_id: str
    eligible: bool
    reasons: list[str] = field(default_factory=list)  # why excluded; empty when eligible
    checks: list[str] = field(default_factory=list)  # what was checked and passed
    evidence: dict[str, Any] = field(default_factory=dict)
    facility_fen: int = 0


def facility_fen(principal_fen: int, rules: CerfRules) -> int:
    """60 % of the principal, to the 分, half up (integer arithmetic from the stored 分)."""
    return int((Decimal(principal_fen) * rules.facility_share).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def decide(loan: LoanFacts, rules: CerfRules) -> Decision:
    """Whether a loan qualifies, with every reason it does not (all are listed, not the first)."""
    result = Decision(loan.loan_id, False)
    reasons, checks = result.reasons, result.checks
    if loan.status != "green":
        state = {"not_green": "非绿色", "needs_review": "绿色识别需人工复核", None: "未做绿色识别"}.get(
            loan.status, str(loan.status)
        )
        reasons.append(f"不是已认定的绿色贷款（{state}）")
    area = cerf_area(loan.cerf_area) if loan.cerf_area else None
    if area is None:
        reasons.append("所属目录条目不在碳减排支持工具支持领域内")
    elif area.in_force_from > loan.start_date:
        reasons.append(
            f"支持领域“{area.name_zh}”自 {area.in_force_from} 起纳入，贷款发放于 {loan.start_date}"
        )
    else:
        checks.append(f"支持领域：{area.name_zh}（自 {area.in_force_from}）")
    when = loan.approval_date or loan.start_date
    if when < rules.launch or loan.start_date < rules.launch:
        reasons.append(
            f"贷款审批或发放早于工具设立（{rules.launch}）：审批 {loan.approval_date}，发放 {loan.start_date}"
        )
    if loan.currency != "CNY":
        reasons.append(f"非人民币贷款（{loan.currency}）")
    tenor = tenor_of(loan.start_date, loan.maturity_date)
    quote = lpr_on(loan.start_date, tenor)
    if loan.rate_pct is None:
        reasons.append("缺少执行利率，无法与 LPR 比较")
    elif quote is None:
        reasons.append("发放日早于 LPR 报价改革（2019-08-20），无可比 LPR")
    else:
        spread_bp = int((loan.rate_pct - quote.rate_pct) * 100)
        result.evidence["lpr"] = {"tenor": tenor, "rate_pct": str(quote.rate_pct), "published": quote.published.isoformat(),
                                  "source": quote.source, "spread_bp": spread_bp}  # fmt: skip
        if abs(spread_bp) > rules.lpr_tolerance_bp:
            reasons.append(
                f"执行利率 {loan.rate_pct}% 与同期限 LPR（{tenor} {quote.rate_pct}%，{quote.published} 公布）相差 "
                f"{spread_bp:+d} 个基点，超出 ±{rules.lpr_tolerance_bp} 个基点"
            )
        else:
            checks.append(f"利率 {loan.rate_pct}% 与 {tenor} LPR {quote.rate_pct}% 相差 {spread_bp:+d} 基点")
    if rules.require_co2:
        if loan.co2_reduced_t is None:
            reasons.append("缺少可测算的年碳减排量（项目数据不足，见 greenfin benefits）")
        else:
            checks.append(f"年碳减排量 {loan.co2_reduced_t:,.2f} tCO2e（归属本行，{loan.benefit_method}）")
    result.evidence.update(
        {"status": loan.status, "catalogue": loan.catalogue, "item": loan.item_code, "item_name": loan.item_name,
         "cerf_area": loan.cerf_area, "decided_by": loan.decided_by}
    )  # fmt: skip
    result.eligible = not reasons
    result.facility_fen = facility_fen(loan.amount_fen, rules) if result.eligible else 0
    return result
