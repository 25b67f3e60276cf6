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

# industry code → (instrument, unit, quantity range per 万元 of loan, share of loans pledged).  The
# ranges put most pledges between 1.5 and 3 times their loan at the demo's simulated prices
# (demo/prices.py), as a bank's pledge-rate policy would at origination.
_BY_INDUSTRY = {
    "D4411": (Instrument.CEA, "tCO2e", (250, 450), 0.5),
    "D4415": (Instrument.CCER, "tCO2e", (200, 350), 0.15),
    "D4416": (Instrument.CCER, "tCO2e", (200, 350), 0.10),
    "C1713": (Instrument.DISCHARGE_RIGHT, "t", (0.8, 1.5), 0.08),
    "C2614": (Instrument.DISCHARGE_RIGHT, "t", (0.8, 1.5), 0.08),
    "C3011": (Instrument.ENERGY_USE_RIGHT, "tce", (40, 70), 0.10),
    "C3120": (Instrument.ENERGY_USE_RIGHT, "tce", (40, 70), 0.10),
}
#: The 重庆 company's allowance account: it holds more than it pledged, so it can top up.
CQ_HOLDING = "H-CQ-2025-0017"
CQ_HOLDING_QUANTITY = Decimal(150_000)
#: The price series that values each instrument in the demo (demo/prices.py).
SERIES_OF = {
    Instrument.CEA: "CEA",
    Instrument.CCER: "CCER",
    Instrument.PILOT_ALLOWANCE: "CQEA",
    Instrument.DISCHARGE_RIGHT: "PWQ-COD-ZJ",
    Instrument.ENERGY_USE_RIGHT: "YNQ-ZJ",
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
        price_series=SERIES_OF[Instrument.PILOT_ALLOWANCE],
        holding_id=CQ_HOLDING,
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
                price_series=SERIES_OF[instrument],
            )
