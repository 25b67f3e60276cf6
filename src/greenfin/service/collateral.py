"""Environmental-rights collateral as commands: holdings, the pledge lifecycle, valuation runs, stress.

Every change is one transaction that checks the actor's role, writes the change, a pledge event
and an audit record together.  A holding's ``pledged`` quantity is kept by the database within the
holding (a CHECK constraint), so no quantity can be pledged twice, however two officers race.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
from sqlalchemy import Connection, Engine, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from greenfin.collateral.valuation import STATUS, SeriesRisk, ValuationPolicy, series_risk, value_pledges
from greenfin.model.entities import Instrument, PledgeState
from greenfin.model.values import yuan_to_fen
from greenfin.service import audit
from greenfin.service.prices import price_series
from greenfin.service.users import require
from greenfin.store.schema import (
    borrowers,
    collateral_alerts,
    holdings,
    loans,
    pledge_events,
    pledge_loans,
    pledge_valuations,
    pledges,
    revaluations,
    valuation_policies,
)

STATE_ZH = {
    PledgeState.APPLIED: "申请",
    PledgeState.REGISTERED: "已登记",
    PledgeState.WARNING: "预警",
    PledgeState.TOPPED_UP: "追加担保",
    PledgeState.PARTIALLY_RELEASED: "部分解押",
    PledgeState.RELEASED: "解押",
    PledgeState.ENFORCED: "处置",
}
STATUS_ZH = {"normal": "正常", "warning": "预警", "liquidation": "低于平仓线"}
LIVE = (PledgeState.REGISTERED, PledgeState.WARNING, PledgeState.TOPPED_UP, PledgeState.PARTIALLY_RELEASED)
ENDED = (PledgeState.RELEASED, PledgeState.ENFORCED)
#: Roles per kind of command.  A checker (审批人) carries out registrations and releases that an
#: officer proposed through maker-checker (service/approvals.py), so the checker holds both.
OFFICER = ("collateral_officer", "officer", "checker")
MANAGER = ("collateral_manager", "checker")
RISK = ("risk_manager", "collateral_manager", "collateral_officer")
SYSTEM = "system"  # actor of automatic transitions (预警 raised by a revaluation)


class CollateralProblem(ValueError):
    """A command that cannot be carried out as asked; nothing was changed."""


class CollateralNotFound(CollateralProblem, LookupError):
    """The pledge asked about does not exist."""


class CollateralConflict(CollateralProblem):
    """The command clashes with what is stored (a pledge id taken, a quantity already pledged):
    an API answers 409 rather than 422, since the same request could succeed another time."""


def _state(connection: Connection, pledge_id: str) -> tuple[PledgeState, Decimal, str | None]:
    row = connection.execute(
        select(pledges.c.state, pledges.c.quantity, pledges.c.holding_id).where(
            pledges.c.pledge_id == pledge_id
        )
    ).first()
    if row is None:
        raise CollateralProblem(f"质押 {pledge_id} 不存在 / no such pledge")
    return PledgeState(row.state), Decimal(row.quantity), row.holding_id


def _event(
    connection: Connection, pledge_id: str, action: str, before: PledgeState | None, after: PledgeState,
    change: Decimal, actor: str, reason: str | None,
) -> None:  # fmt: skip
    connection.execute(
        insert(pledge_events).values(
            pledge_id=pledge_id, action=action, from_state=before and before.value, to_state=after.value,
            quantity_change=change, reason=reason, actor=actor, at=audit.now(),
        )
    )  # fmt: skip
    audit.record(
        connection, actor=actor, action=action, entity="pledge", entity_id=pledge_id,
        detail={"from": before and before.value, "to": after.value, "quantity_change": str(change), "reason": reason},
    )  # fmt: skip


def _draw(connection: Connection, holding_id: str, change: Decimal) -> None:
    """Move ``change`` into (or, negative, out of) a holding's pledged quantity; the store checks it."""
    row = connection.execute(
        select(holdings.c.quantity, holdings.c.pledged).where(holdings.c.holding_id == holding_id)
    ).first()
    if row is None:
        raise CollateralProblem(f"持有量 {holding_id} 不存在 / no such holding")
    free = Decimal(row.quantity) - Decimal(row.pledged)
    if change > free:
        raise CollateralConflict(
            f"质押数量 {change} 超过持有量 {holding_id} 的可质押余额 {free}（持有 {row.quantity}，已质押 {row.pledged}）"
        )
    try:
        connection.execute(
            update(holdings)
            .where(holdings.c.holding_id == holding_id)
            .values(pledged=holdings.c.pledged + change)
        )
    except IntegrityError as exc:  # a concurrent pledge took the quantity first
        raise CollateralConflict(f"质押数量超过持有量 {holding_id}（已被其他质押占用）") from exc


def add_holding(
    engine: Engine, *, holding_id: str, holder_credit_code: str, instrument: Instrument, price_series: str,
    registry_account: str, quantity: Decimal, vintage: int | None = None, actor: str | None = None,
) -> None:  # fmt: skip
    """Record what a borrower holds at a registry (a position that pledges draw on)."""
    who = audit.current_actor(actor)
    if quantity <= 0:
        raise CollateralProblem("持有量必须为正 / quantity must be positive")
    with engine.begin() as connection:
        require(connection, who, OFFICER, "登记持有量")
        if (
            connection.execute(
                select(borrowers.c.credit_code).where(borrowers.c.credit_code == holder_credit_code)
            ).first()
            is None
        ):
            raise CollateralProblem(f"借款人 {holder_credit_code} 不在台账中 / unknown borrower")
        if connection.execute(
            select(holdings.c.holding_id).where(holdings.c.holding_id == holding_id)
        ).first():
            raise CollateralProblem(f"持有量 {holding_id} 已存在 / holding exists")
        values = dict(
            holding_id=holding_id, holder_credit_code=holder_credit_code, instrument=instrument.value,
            price_series=price_series, vintage=vintage, registry_account=registry_account,
            quantity=quantity, pledged=Decimal(0),
        )  # fmt: skip
        connection.execute(insert(holdings).values(**values))
        audit.record(
            connection,
            actor=who,
            action="create",
            entity="holding",
            entity_id=holding_id,
            detail=audit.jsonable(values),
        )


def apply_pledge(
    engine: Engine, *, pledge_id: str, holding_id: str, loan_ids: Sequence[str], quantity: Decimal,
    pledged_on: dt.date, actor: str | None = None, registry_reference: str = "",
) -> None:  # fmt: skip
    """申请: a pledge of part of a holding for one or more loans; the quantity is reserved at once."""
    who = audit.current_actor(actor)
    if quantity <= 0:
        raise CollateralProblem("质押数量必须为正 / quantity must be positive")
    if not loan_ids:
        raise CollateralProblem("质押需关联至少一笔贷款 / a pledge secures at least one loan")
    with engine.begin() as connection:
        require(connection, who, OFFICER, "申请质押")
        if connection.execute(select(pledges.c.pledge_id).where(pledges.c.pledge_id == pledge_id)).first():
            raise CollateralConflict(f"质押 {pledge_id} 已存在 / pledge exists")
        holding = (
            connection.execute(select(holdings).where(holdings.c.holding_id == holding_id)).mappings().first()
        )
        if holding is None:
            raise CollateralProblem(f"持有量 {holding_id} 不存在 / no such holding")
        found = set(
            connection.execute(select(loans.c.loan_id).where(loans.c.loan_id.in_(list(loan_ids)))).scalars()
        )
        missing = sorted(set(loan_ids) - found)
        if missing:
            raise CollateralProblem(f"贷款不存在：{'、'.join(missing)} / unknown loans")
        _draw(connection, holding_id, quantity)
        unit = "tce" if holding["instrument"] == Instrument.ENERGY_USE_RIGHT else (
            "t" if holding["instrument"] == Instrument.DISCHARGE_RIGHT else "tCO2e")  # fmt: skip
        connection.execute(
            insert(pledges).values(
                pledge_id=pledge_id, loan_id=loan_ids[0], instrument=holding["instrument"], quantity=quantity,
                unit=unit, vintage=holding["vintage"], registry_reference=registry_reference or "（待登记）",
                state=PledgeState.APPLIED.value, pledged_on=pledged_on, holding_id=holding_id,
                price_series=holding["price_series"],
            )
        )  # fmt: skip
        connection.execute(
            insert(pledge_loans),
            [{"pledge_id": pledge_id, "loan_id": loan} for loan in dict.fromkeys(loan_ids)],
        )
        _event(connection, pledge_id, "apply", None, PledgeState.APPLIED, quantity, who, None)


def _transition(
    engine: Engine, pledge_id: str, action: str, allowed: Iterable[PledgeState], after: PledgeState,
    roles: Sequence[str], action_zh: str, actor: str | None, reason: str | None,
    change: Decimal = Decimal(0), values: dict[str, Any] | None = None,
) -> None:  # fmt: skip
    who = audit.current_actor(actor)
    with engine.begin() as connection:
        require(connection, who, roles, action_zh)
        before, quantity, holding_id = _state(connection, pledge_id)
        if before not in tuple(allowed):
            raise CollateralProblem(
                f"质押 {pledge_id} 当前状态为{STATE_ZH[before]}，不能{action_zh} / cannot {action} from {before.value}"
            )
        if change < 0 and -change > quantity:
            raise CollateralProblem(f"解押数量 {-change} 超过质押数量 {quantity}")
        if holding_id is not None and change:
            _draw(connection, holding_id, change)
        connection.execute(
            update(pledges).where(pledges.c.pledge_id == pledge_id).values(
                state=after.value, quantity=quantity + change, **(values or {})
            )
        )  # fmt: skip
        _event(connection, pledge_id, action, before, after, change, who, reason)


def register_pledge(
    engine: Engine, pledge_id: str, registry_reference: str, *, actor: str | None = None
) -> None:
    """已登记: the registry has recorded the pledge under ``registry_reference``."""
    if not registry_reference.strip():
        raise CollateralProblem("登记编号不能为空 / registry reference required")
    _transition(
        engine, pledge_id, "register", (PledgeState.APPLIED,), PledgeState.REGISTERED, OFFICER, "登记质押", actor,
        None, values={"registry_reference": registry_reference},
    )  # fmt: skip


def top_up(
    engine: Engine, pledge_id: str, quantity: Decimal, *, reason: str, actor: str | None = None
) -> None:
    """追加担保: more of the holding pledged, typically after a warning."""
    if quantity <= 0:
        raise CollateralProblem("追加数量必须为正 / quantity must be positive")
    _transition(
        engine,
        pledge_id,
        "top_up",
        LIVE,
        PledgeState.TOPPED_UP,
        OFFICER,
        "追加担保",
        actor,
        reason,
        change=quantity,
    )


def partial_release(
    engine: Engine, pledge_id: str, quantity: Decimal, *, reason: str, actor: str | None = None
) -> None:
    """部分解押: part of the quantity returned to the holder (never while in warning)."""
    if quantity <= 0:
        raise CollateralProblem("解押数量必须为正 / quantity must be positive")
    allowed = (PledgeState.REGISTERED, PledgeState.TOPPED_UP, PledgeState.PARTIALLY_RELEASED)
    _transition(
        engine, pledge_id, "partial_release", allowed, PledgeState.PARTIALLY_RELEASED, MANAGER, "部分解押", actor,
        reason, change=-quantity,
    )  # fmt: skip


def release(engine: Engine, pledge_id: str, *, reason: str, actor: str | None = None) -> None:
    """解押: the whole remaining quantity returned; the pledge ends."""
    with engine.connect() as connection:
        _before, quantity, _holding = _state(connection, pledge_id)
    _transition(
        engine, pledge_id, "release", (PledgeState.APPLIED, *LIVE), PledgeState.RELEASED, MANAGER, "解押", actor,
        reason, change=-quantity,
    )  # fmt: skip


def enforce(engine: Engine, pledge_id: str, *, reason: str, actor: str | None = None) -> None:
    """处置: the bank enforces; the quantity leaves the pledge (and is sold through the registry)."""
    with engine.connect() as connection:
        _before, quantity, _holding = _state(connection, pledge_id)
    _transition(
        engine,
        pledge_id,
        "enforce",
        LIVE,
        PledgeState.ENFORCED,
        MANAGER,
        "处置",
        actor,
        reason,
        change=-quantity,
    )


# --- valuation policies -------------------------------------------------------------------------


def current_policy(engine: Engine, name: str = "default") -> ValuationPolicy:
    """The latest stored version of a policy; the shipped default when none is stored."""
    with engine.connect() as connection:
        row = connection.execute(
            select(valuation_policies)
            .where(valuation_policies.c.name == name)
            .order_by(valuation_policies.c.version.desc())
            .limit(1)
        ).mappings().first()  # fmt: skip
    if row is None:
        if name != "default":
            raise CollateralProblem(f"估值政策 {name} 不存在 / no such valuation policy")
        return ValuationPolicy()
    return ValuationPolicy.from_params(row["name"], row["version"], dict(row["params"]))


def set_policy(
    engine: Engine, name: str, changes: dict[str, Any], *, actor: str | None = None
) -> ValuationPolicy:
    """A new version of a policy: the latest one with ``changes`` applied; validated before it is stored."""
    who = audit.current_actor(actor)
    base = current_policy(engine, name) if name == "default" else _maybe_policy(engine, name)
    policy = base.with_params(name=name, **changes)
    with engine.begin() as connection:
        require(connection, who, ("risk_manager",), "修改估值政策")
        latest = connection.execute(
            select(func.max(valuation_policies.c.version)).where(valuation_policies.c.name == name)
        ).scalar()
        policy = policy.with_params(version=(latest or 0) + 1)
        connection.execute(
            insert(valuation_policies).values(
                name=name, version=policy.version, params=policy.params(), actor=who, at=audit.now()
            )
        )
        audit.record(
            connection,
            actor=who,
            action="create",
            entity="valuation_policy",
            entity_id=f"{name}@{policy.version}",
            detail=policy.params(),
        )
    return policy


def _maybe_policy(engine: Engine, name: str) -> ValuationPolicy:
    try:
        return current_policy(engine, name)
    except CollateralProblem:
        return ValuationPolicy(name=name)


def _stored(connection: Connection, policy: ValuationPolicy, actor: str) -> ValuationPolicy:
    """Runs always refer to a stored version: the shipped default is stored as version 1 on first use."""
    exists = connection.execute(
        select(valuation_policies.c.version).where(
            valuation_policies.c.name == policy.name, valuation_policies.c.version == policy.version
        )
    ).first()
    if exists is None:
        connection.execute(
            insert(valuation_policies).values(
                name=policy.name, version=policy.version, params=policy.params(), actor=actor, at=audit.now()
            )
        )
    return policy


# --- revaluation --------------------------------------------------------------------------------


def _risks(
    engine: Engine, codes: Iterable[str], day: dt.date, policy: ValuationPolicy
) -> dict[str, tuple[SeriesRisk, dt.date] | str]:
    """Each series' risk on ``day`` from the stored prices, or why it cannot be valued."""
    risks: dict[str, tuple[SeriesRisk, dt.date] | str] = {}
    for code in sorted(set(codes)):
        if not code:
            risks[code] = "未指定价格序列 / no price series named"
            continue
        days, closes, volumes = price_series(engine, code, day)
        try:
            risks[code] = (series_risk(closes, np.nan_to_num(volumes), policy), days[-1].item())
        except ValueError as exc:
            risks[code] = f"价格序列 {code}：{exc}"
    return risks


@dataclass(slots=True)
class PledgeValue:
    pledge_id: str
    loan_ids: list[str]
    series: str
    price_day: dt.date
    reference: float
    haircut: float
    pledge_rate: float
    liquidation_days: float
    market_value: float
    lendable_value: float
    outstanding: float
    coverage: float
    status: str
    previous_status: str | None = None
    previous_coverage: float | None = None


@dataclass(slots=True)
class Revaluation:
    run_id: int
    day: dt.date
    policy: ValuationPolicy
    values: list[PledgeValue]
    alerts: list[tuple[str, str, str]] = field(default_factory=list)  # (pledge, kind, message)
    unpriced: list[tuple[str, str]] = field(default_factory=list)  # (pledge, why)


def _live_pledges(connection: Connection) -> list[dict[str, Any]]:
    rows = connection.execute(
        select(pledges.c.pledge_id, pledges.c.quantity, pledges.c.price_series, pledges.c.state, pledges.c.instrument,
               pledges.c.loan_id)
        .where(pledges.c.state.in_([s.value for s in LIVE]))
        .order_by(pledges.c.pledge_id)
    ).mappings().all()  # fmt: skip
    links: dict[str, list[str]] = {}
    for pledge_id, loan_id in connection.execute(select(pledge_loans.c.pledge_id, pledge_loans.c.loan_id)):
        links.setdefault(pledge_id, []).append(loan_id)
    balances = dict(connection.execute(select(loans.c.loan_id, loans.c.balance_fen)).all())
    result = []
    for row in rows:
        linked = links.get(row["pledge_id"]) or [row["loan_id"]]
        result.append({
            **row, "loans": linked,
            "outstanding": sum(balances.get(loan, 0) for loan in linked) / 100,
            "series": row["price_series"] or _default_series(row["instrument"]),
        })  # fmt: skip
    return result


def _default_series(instrument: str) -> str:
    """National allowances and CCER have one market each; other instruments need their series named."""
    return instrument if instrument in (Instrument.CEA, Instrument.CCER) else ""


def revalue(
    engine: Engine, day: dt.date, *, policy: ValuationPolicy | None = None, actor: str | None = None
) -> Revaluation:
    """Value every live pledge on ``day``, store the run, raise and record alerts on crossing a line."""
    who = audit.current_actor(actor)
    chosen = policy or current_policy(engine)
    with engine.connect() as connection:
        require(connection, who, RISK, "重估押品")
        live = _live_pledges(connection)
    risks = _risks(engine, (p["series"] for p in live), day, chosen)
    with engine.begin() as connection:
        _stored(connection, chosen, who)
        previous = _previous_values(connection)
        run_id = connection.execute(
            insert(revaluations).values(
                day=day, policy_name=chosen.name, policy_version=chosen.version, actor=who, at=audit.now(),
                pledges=0, warnings=0, liquidations=0,
            ).returning(revaluations.c.id)
        ).scalar_one()  # fmt: skip
        result = Revaluation(run_id, day, chosen, [])
        priced = [p for p in live if not isinstance(risks[p["series"]], str)]
        for p in live:
            if isinstance(risks[p["series"]], str):
                result.unpriced.append((p["pledge_id"], str(risks[p["series"]])))
        if priced:
            result.values = _value(priced, risks, chosen, previous)
        _record_run(connection, result, live, who)
    return result


def _value(
    priced: list[dict[str, Any]],
    risks: dict[str, Any],
    policy: ValuationPolicy,
    previous: dict[str, tuple[str, float]],
) -> list[PledgeValue]:
    quantity = np.array([float(p["quantity"]) for p in priced])
    outstanding = np.array([p["outstanding"] for p in priced])
    series_risks = [risks[p["series"]][0] for p in priced]
    out = value_pledges(
        quantity, outstanding, np.array([r.reference for r in series_risks]), np.array([r.tail_1d for r in series_risks]),
        np.array([r.adv for r in series_risks]), policy,
    )  # fmt: skip
    values = []
    for i, p in enumerate(priced):
        before = previous.get(p["pledge_id"])
        values.append(
            PledgeValue(
                p["pledge_id"], p["loans"], p["series"], risks[p["series"]][1], series_risks[i].reference,
                float(out["haircut"][i]), float(out["pledge_rate"][i]), float(out["liquidation_days"][i]),
                float(out["market_value"][i]), float(out["lendable_value"][i]), float(outstanding[i]),
                float(out["coverage"][i]), STATUS[int(out["status"][i])],
                before[0] if before else None, before[1] if before else None,
            )
        )  # fmt: skip
    return values


def _previous_values(connection: Connection) -> dict[str, tuple[str, float]]:
    last = connection.execute(select(func.max(revaluations.c.id))).scalar()
    if last is None:
        return {}
    rows = connection.execute(
        select(pledge_valuations.c.pledge_id, pledge_valuations.c.status, pledge_valuations.c.coverage).where(
            pledge_valuations.c.run_id == last
        )
    )
    return {
        r.pledge_id: (r.status, float(r.coverage) if r.coverage is not None else float("inf")) for r in rows
    }


def _record_run(connection: Connection, result: Revaluation, live: list[dict[str, Any]], actor: str) -> None:
    states = {p["pledge_id"]: PledgeState(p["state"]) for p in live}
    rows = []
    for v in result.values:
        finite = v.coverage if np.isfinite(v.coverage) else None
        rows.append({
            "run_id": result.run_id, "pledge_id": v.pledge_id, "price_day": v.price_day,
            "reference_price_yuan": Decimal(f"{v.reference:.4f}"), "haircut": Decimal(f"{v.haircut:.6f}"),
            "pledge_rate": Decimal(f"{v.pledge_rate:.6f}"),
            "market_value_fen": yuan_to_fen(Decimal(f"{v.market_value:.2f}")),
            "collateral_value_fen": yuan_to_fen(Decimal(f"{v.lendable_value:.2f}")),
            "outstanding_fen": yuan_to_fen(Decimal(f"{v.outstanding:.2f}")),
            "coverage": None if finite is None else Decimal(f"{min(finite, 1e7):.6f}"), "status": v.status,
        })  # fmt: skip
        kind = _alert_kind(v)
        if kind:
            message = (
                f"覆盖率 {v.coverage:.2%}（{STATUS_ZH[v.status]}；预警线 {result.policy.warning_line:.0%}，"
                f"平仓线 {result.policy.liquidation_line:.0%}），参考价 {v.reference:.2f} 元"
            )
            result.alerts.append((v.pledge_id, kind, message))
        state = states[v.pledge_id]
        if v.status != "normal" and state != PledgeState.WARNING:
            connection.execute(
                update(pledges)
                .where(pledges.c.pledge_id == v.pledge_id)
                .values(state=PledgeState.WARNING.value)
            )
            _event(
                connection,
                v.pledge_id,
                "warn",
                state,
                PledgeState.WARNING,
                Decimal(0),
                SYSTEM,
                f"重估 {result.day}",
            )
        elif v.status == "normal" and state == PledgeState.WARNING:
            connection.execute(
                update(pledges)
                .where(pledges.c.pledge_id == v.pledge_id)
                .values(state=PledgeState.REGISTERED.value)
            )
            _event(
                connection,
                v.pledge_id,
                "recover",
                state,
                PledgeState.REGISTERED,
                Decimal(0),
                SYSTEM,
                f"重估 {result.day}",
            )
    if rows:
        connection.execute(insert(pledge_valuations), rows)
    if result.alerts:
        connection.execute(
            insert(collateral_alerts),
            [{"run_id": result.run_id, "pledge_id": p, "kind": k, "message": m} for p, k, m in result.alerts],
        )
    warnings = sum(v.status == "warning" for v in result.values)
    liquidations = sum(v.status == "liquidation" for v in result.values)
    connection.execute(
        update(revaluations).where(revaluations.c.id == result.run_id).values(
            pledges=len(result.values), warnings=warnings, liquidations=liquidations
        )
    )  # fmt: skip
    audit.record(
        connection, actor=actor, action="revalue", entity="revaluation", entity_id=str(result.run_id),
        detail={"day": result.day.isoformat(), "policy": f"{result.policy.name}@{result.policy.version}",
                "pledges": len(result.values), "alerts": len(result.alerts), "unpriced": len(result.unpriced)},
    )  # fmt: skip


def _alert_kind(value: PledgeValue) -> str | None:
    """An alert when a pledge crosses a line (or comes back above the warning line)."""
    before = value.previous_status or "normal"
    if value.status == before:
        return None
    if STATUS.index(value.status) > STATUS.index(before):
        return value.status
    return "recovered" if value.status == "normal" else value.status


# --- stress -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    shocks: dict[str, float]  # series → price change (−0.3 = a 30 % fall)


@dataclass(slots=True)
class StressResult:
    scenario: Scenario
    warning: list[PledgeValue]
    liquidation: list[PledgeValue]

    @property
    def loans(self) -> list[str]:
        return sorted({loan for v in (*self.warning, *self.liquidation) for loan in v.loan_ids})


def historical_scenarios(engine: Engine, day: dt.date, horizon_days: int) -> list[Scenario]:
    """Each series' worst fall over the horizon and its worst peak-to-trough drawdown, as scenarios."""
    with engine.connect() as connection:
        series = sorted({p["series"] for p in _live_pledges(connection) if p["series"]})
    worst_h: dict[str, float] = {}
    worst_dd: dict[str, float] = {}
    for code in series:
        _days, closes, _volumes = price_series(engine, code, day)
        if closes.size <= horizon_days:
            continue
        worst_h[code] = float((closes[horizon_days:] / closes[:-horizon_days]).min() - 1)
        worst_dd[code] = float((closes / np.maximum.accumulate(closes)).min() - 1)
    return [
        Scenario(f"历史最差 {horizon_days} 日跌幅", worst_h),
        Scenario("历史最大回撤", worst_dd),
    ]


def stress(
    engine: Engine, day: dt.date, scenarios: Sequence[Scenario], *, policy: ValuationPolicy | None = None
) -> list[StressResult]:
    """Which pledges (and so loans) would breach each line if prices moved as each scenario says."""
    chosen = policy or current_policy(engine)
    with engine.connect() as connection:
        live = _live_pledges(connection)
    risks = {
        code: risk for code, risk in _risks(engine, (p["series"] for p in live), day, chosen).items()
        if not isinstance(risk, str)
    }  # fmt: skip
    priced = [p for p in live if p["series"] in risks]
    results = []
    for scenario in scenarios:
        shocked = {
            code: (SeriesRisk(r.day_index, r.last_close, r.reference * (1 + scenario.shocks.get(code, 0.0)), r.tail_1d, r.adv), d)
            for code, (r, d) in risks.items()
        }  # fmt: skip
        values = _value(priced, shocked, chosen, {}) if priced else []
        results.append(
            StressResult(
                scenario,
                [v for v in values if v.status == "warning"],
                [v for v in values if v.status == "liquidation"],
            )
        )
    return results


# --- reading pledges, valuations and alerts (the API's lists) ----------------------------------------


def list_pledges(
    engine: Engine, *, state: str | None = None, instrument: str | None = None, loan_id: str | None = None,
    offset: int = 0, limit: int = 50,
) -> tuple[list[dict[str, Any]], int]:  # fmt: skip
    """Pledges by id, filtered by state, instrument (right type) or a loan they secure, one page of
    them and how many match.  A loan matches through ``pledge_loans``: a pledge may secure several."""
    query = select(pledges)
    if state is not None:
        query = query.where(pledges.c.state == state)
    if instrument is not None:
        query = query.where(pledges.c.instrument == instrument)
    if loan_id is not None:
        query = query.where(
            pledges.c.pledge_id.in_(select(pledge_loans.c.pledge_id).where(pledge_loans.c.loan_id == loan_id))
        )
    with engine.connect() as connection:
        total = connection.execute(select(func.count()).select_from(query.subquery())).scalar_one()
        rows = [
            dict(r)
            for r in connection.execute(
                query.order_by(pledges.c.pledge_id).limit(limit).offset(offset)
            ).mappings()
        ]
        _attach_loans(connection, rows)
    return rows, int(total)


def _attach_loans(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """Each pledge's secured loans (``loan_ids``), its first loan when no link is stored."""
    ids = [r["pledge_id"] for r in rows]
    links: dict[str, list[str]] = {}
    if ids:
        for pledge_id, loan in connection.execute(
            select(pledge_loans.c.pledge_id, pledge_loans.c.loan_id)
            .where(pledge_loans.c.pledge_id.in_(ids))
            .order_by(pledge_loans.c.loan_id)
        ):
            links.setdefault(pledge_id, []).append(loan)
    for row in rows:
        row["loan_ids"] = links.get(row["pledge_id"]) or [row["loan_id"]]


def _valuations() -> Any:
    """Valuations with their run's day and policy, latest run first."""
    return (
        select(
            pledge_valuations, revaluations.c.day, revaluations.c.policy_name, revaluations.c.policy_version
        )
        .select_from(pledge_valuations.join(revaluations, revaluations.c.id == pledge_valuations.c.run_id))
        .order_by(pledge_valuations.c.run_id.desc())
    )


def pledge_detail(engine: Engine, pledge_id: str) -> dict[str, Any]:
    """One pledge with its loans and its latest valuation (None before any revaluation valued it)."""
    with engine.connect() as connection:
        row = connection.execute(select(pledges).where(pledges.c.pledge_id == pledge_id)).mappings().first()
        if row is None:
            raise CollateralNotFound(f"质押 {pledge_id} 不存在 / no such pledge")
        found = [dict(row)]
        _attach_loans(connection, found)
        latest = connection.execute(
            _valuations().where(pledge_valuations.c.pledge_id == pledge_id).limit(1)
        ).mappings().first()  # fmt: skip
    return {**found[0], "latest_valuation": None if latest is None else dict(latest)}


def valuation_history(
    engine: Engine, pledge_id: str, *, offset: int = 0, limit: int = 50
) -> tuple[list[dict[str, Any]], int]:
    """A pledge's valuations, latest run first, one page of them and how many there are."""
    with engine.connect() as connection:
        if (
            connection.execute(select(pledges.c.pledge_id).where(pledges.c.pledge_id == pledge_id)).first()
            is None
        ):
            raise CollateralNotFound(f"质押 {pledge_id} 不存在 / no such pledge")
        total = connection.execute(
            select(func.count()).select_from(pledge_valuations).where(pledge_valuations.c.pledge_id == pledge_id)
        ).scalar_one()  # fmt: skip
        rows = connection.execute(
            _valuations().where(pledge_valuations.c.pledge_id == pledge_id).limit(limit).offset(offset)
        ).mappings()
        return [dict(r) for r in rows], int(total)


def list_alerts(
    engine: Engine, *, kind: str | None = None, pledge_id: str | None = None, run_id: int | None = None,
    offset: int = 0, limit: int = 50,
) -> tuple[list[dict[str, Any]], int]:  # fmt: skip
    """Coverage alerts raised by revaluations, newest first, with the run's day and the pledge's
    loan; filtered by kind, pledge or run; one page of them and how many match."""
    query = select(collateral_alerts, revaluations.c.day, pledges.c.loan_id).select_from(
        collateral_alerts.join(revaluations, revaluations.c.id == collateral_alerts.c.run_id).join(
            pledges, pledges.c.pledge_id == collateral_alerts.c.pledge_id
        )
    )
    if kind is not None:
        query = query.where(collateral_alerts.c.kind == kind)
    if pledge_id is not None:
        query = query.where(collateral_alerts.c.pledge_id == pledge_id)
    if run_id is not None:
        query = query.where(collateral_alerts.c.run_id == run_id)
    with engine.connect() as connection:
        total = connection.execute(select(func.count()).select_from(query.subquery())).scalar_one()
        rows = connection.execute(
            query.order_by(collateral_alerts.c.id.desc()).limit(limit).offset(offset)
        ).mappings()
        return [dict(r) for r in rows], int(total)
