"""Registering pledges already recorded at a registry (a bank's existing book), audited.

New pledges go through the lifecycle in :mod:`greenfin.service.collateral` (申请 → 已登记 …).  A
bank moving its existing pledges into greenfin registers them here in bulk, already 已登记.  A
pledge that names no holding gets one of exactly its quantity (the registry's pledged position),
so the rule that no quantity is pledged twice holds for them too.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from sqlalchemy import Engine, insert, select

from greenfin.model.entities import Pledge
from greenfin.service import audit
from greenfin.service.collateral import OFFICER, CollateralProblem, _default_series, _draw
from greenfin.service.users import require
from greenfin.store.schema import borrowers, holdings, loans, pledge_events, pledge_loans, pledges


def register_pledges(engine: Engine, items: Iterable[Pledge], *, actor: str | None = None) -> int:
    """Record registered pledges in one transaction; an existing pledge id or an over-pledge is refused."""
    who = audit.current_actor(actor)
    batch = list(items)
    if not batch:
        return 0
    with engine.begin() as connection:
        require(connection, who, OFFICER, "登记质押")
        ids = [p.pledge_id for p in batch]
        taken = (
            connection.execute(select(pledges.c.pledge_id).where(pledges.c.pledge_id.in_(ids)))
            .scalars()
            .all()
        )
        if taken:
            raise CollateralProblem(f"质押编号已存在 / pledge ids already registered: {sorted(taken)[:5]}")
        holders = dict(
            connection.execute(
                select(loans.c.loan_id, borrowers.c.credit_code)
                .select_from(loans.join(borrowers))
                .where(loans.c.loan_id.in_([p.loan_id for p in batch]))
            ).all()
        )
        missing = sorted({p.loan_id for p in batch} - set(holders))
        if missing:
            raise CollateralProblem(f"贷款不存在 / unknown loans: {missing[:5]}")
        rows, new_holdings = [], []
        for pledge in batch:
            row = pledge.model_dump(mode="python")
            row["price_series"] = pledge.price_series or _default_series(pledge.instrument.value) or None
            if pledge.holding_id is None:
                row["holding_id"] = f"H-{pledge.pledge_id}"
                new_holdings.append({
                    "holding_id": row["holding_id"], "holder_credit_code": holders[pledge.loan_id],
                    "instrument": pledge.instrument.value, "price_series": row["price_series"] or "",
                    "vintage": pledge.vintage, "registry_account": pledge.registry_reference,
                    "quantity": pledge.quantity, "pledged": pledge.quantity,
                })  # fmt: skip
            rows.append(row)
        if new_holdings:
            connection.execute(insert(holdings), new_holdings)
        for pledge in batch:
            if pledge.holding_id is not None:
                _draw(connection, pledge.holding_id, Decimal(pledge.quantity))
        connection.execute(insert(pledges), rows)
        connection.execute(
            insert(pledge_loans), [{"pledge_id": p.pledge_id, "loan_id": p.loan_id} for p in batch]
        )
        at = audit.now()
        connection.execute(
            insert(pledge_events),
            [
                {"pledge_id": p.pledge_id, "action": "register_existing", "from_state": None,
                 "to_state": p.state.value, "quantity_change": p.quantity, "reason": None, "actor": who, "at": at}
                for p in batch
            ],
        )  # fmt: skip
        audit.record_many(
            connection,
            [
                {
                    "actor": who,
                    "action": "create",
                    "entity": "pledge",
                    "entity_id": p.pledge_id,
                    "batch_id": None,
                    "source_file": None,
                    "source_sha256": None,
                    "detail": audit.jsonable(p.model_dump(mode="python")),
                }
                for p in batch
            ],
        )
    return len(batch)


def has_pledges(engine: Engine) -> bool:
    """Whether any pledge is registered (the demo registers its pledges once)."""
    with engine.connect() as connection:
        return connection.execute(select(pledges.c.pledge_id).limit(1)).first() is not None
