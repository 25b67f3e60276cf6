"""Demo pledges: environmental rights that borrowers of the demo book pledged.

The 重庆 printing-and-dyeing case pledges Chongqing pilot carbon allowances; elsewhere the
instrument follows the borrower's industry: power producers hold national allowances (CEA),
wind and solar farms hold CCER credits, dyeing and chemical works hold discharge rights (COD),
and Zhejiang manufacturers energy-use rights (用能权, tce).
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from decimal import Decimal

from sqlalchemy import Engine, select

from greenfin.demo.generator import CHONGQING_DYEING
from greenfin.model.entities import Instrument, Pledge
from greenfin.store.schema import borrowers, loans

# industry code → (instrument, unit, quantity range per 万元 of loan, share of loans pledged)
_BY_INDUSTRY = {
    "D4411": (Instrument.CEA, "tCO2e", (120, 300), 0.5),
    "D4415": (Instrument.CCER, "tCO2e", (40, 120), 0.15),
    "D4416": (Instrument.CCER, "tCO2e", (40, 120), 0.10),
    "C1713": (Instrument.DISCHARGE_RIGHT, "t", (0.02, 0.08), 0.08),
    "C2614": (Instrument.DISCHARGE_RIGHT, "t", (0.02, 0.08), 0.08),
    "C3011": (Instrument.ENERGY_USE_RIGHT, "tce", (5, 20), 0.10),
    "C3120": (Instrument.ENERGY_USE_RIGHT, "tce", (5, 20), 0.10),
}
_REGISTRY = {
    Instrument.CEA: "全国碳排放权登记结算",
    Instrument.CCER: "全国温室气体自愿减排注册登记",
    Instrument.DISCHARGE_RIGHT: "浙江省排污权储备和交易",
    Instrument.ENERGY_USE_RIGHT: "浙江省用能权交易",
}


def demo_pledges(engine: Engine, seed: int = 20261126) -> Iterator[Pledge]:
    """Pledges for the demo book now in the store, deterministically."""
    yield Pledge(
        pledge_id="PL-CQ-2025-0001",
        loan_id=CHONGQING_DYEING.loan_id,
        instrument=Instrument.PILOT_ALLOWANCE,
        quantity=Decimal(120_000),
        unit="tCO2e",
        vintage=2024,
        registry_reference="重庆碳排放权质押登记 CQ-ZY-2025-0017",
        pledged_on=dt.date(2025, 3, 18),
    )
    rng = random.Random(seed)
    query = (
        select(loans.c.loan_id, borrowers.c.industry_code, loans.c.amount_fen, loans.c.start_date)
        .select_from(loans.join(borrowers))
        .where(borrowers.c.industry_code.in_(list(_BY_INDUSTRY)))
        .where(loans.c.loan_id != CHONGQING_DYEING.loan_id)
        .order_by(loans.c.loan_id)
    )
    with engine.connect() as connection:
        for number, (loan_id, industry, amount_fen, start) in enumerate(connection.execute(query), 1):
            instrument, unit, (low, high), share = _BY_INDUSTRY[industry]
            if rng.random() >= share:
                continue
            wan = Decimal(amount_fen) / 1_000_000
            quantity = (wan * Decimal(str(round(rng.uniform(low, high), 3)))).quantize(Decimal("0.001"))
            yield Pledge(
                pledge_id=f"PL-{number:08d}",
                loan_id=loan_id,
                instrument=instrument,
                quantity=max(quantity, Decimal("0.001")),
                unit=unit,
                vintage=min(start.year, 2025) if instrument in (Instrument.CEA, Instrument.CCER) else None,
                registry_reference=f"{_REGISTRY[instrument]} {start.year}-{number:06d}",
                pledged_on=start,
            )
