"""The demo's collateral: a demo user, the 重庆 allowance account, pledges, prices, two revaluations."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, select

from greenfin.demo.generator import CHONGQING_DYEING
from greenfin.demo.pledges import CQ_HOLDING, CQ_HOLDING_QUANTITY, demo_pledges
from greenfin.demo.prices import ANCHOR_DAY, DEMO_DAY, write_prices
from greenfin.model.entities import Instrument
from greenfin.service.collateral import Revaluation, add_holding, revalue
from greenfin.service.pledges import has_pledges, register_pledges
from greenfin.service.prices import PriceImport, import_prices
from greenfin.service.users import ROLES, add_user
from greenfin.store.schema import borrowers, holdings, loans, users

DEMO_USER = "demo"


@dataclass(slots=True)
class DemoCollateral:
    pledges: int
    prices: PriceImport
    before: Revaluation
    after: Revaluation


def ensure_demo_user(engine: Engine) -> None:
    """A demo user holding every role, with a random password nobody is told."""
    with engine.connect() as connection:
        if connection.execute(select(users.c.username).where(users.c.username == DEMO_USER)).first():
            return
    add_user(engine, DEMO_USER, secrets.token_urlsafe(24), ROLES, display_name="演示用户", actor=DEMO_USER)


def run(engine: Engine, directory: Path, seed: int) -> DemoCollateral:
    ensure_demo_user(engine)
    registered = 0
    if not has_pledges(engine):
        with engine.connect() as connection:
            exists = connection.execute(
                select(holdings.c.holding_id).where(holdings.c.holding_id == CQ_HOLDING)
            ).first()
            holder = connection.execute(
                select(borrowers.c.credit_code)
                .select_from(loans.join(borrowers))
                .where(loans.c.loan_id == CHONGQING_DYEING.loan_id)
            ).scalar_one()
        if exists is None:
            add_holding(
                engine, holding_id=CQ_HOLDING, holder_credit_code=holder, instrument=Instrument.PILOT_ALLOWANCE,
                price_series="CQEA", registry_account="重庆碳排放权注册登记 CQ-2019-000731",
                quantity=CQ_HOLDING_QUANTITY, vintage=2024, actor=DEMO_USER,
            )  # fmt: skip
        registered = register_pledges(engine, demo_pledges(engine, seed), actor=DEMO_USER)
    prices = import_prices(engine, [write_prices(directory / "demo_prices.csv", seed)], actor=DEMO_USER)
    before = revalue(engine, ANCHOR_DAY, actor=DEMO_USER)
    after = revalue(engine, DEMO_DAY, actor=DEMO_USER)
    return DemoCollateral(registered, prices, before, after)


#: The people of the demo bank who sign in to the web app, one per role (issue 7's roles).
DEMO_LOGINS = (
    ("officer", "绿色金融专员 张敏", ("officer",)),
    ("checker", "审批人 李强", ("checker",)),
    ("risk", "风险经理 王芳", ("risk_manager",)),
    ("auditor", "审计 赵磊", ("auditor",)),
    ("admin", "管理员 陈静", ("admin",)),
)


def demo_logins(engine: Engine) -> dict[str, str]:
    """Create the demo's sign-in users with fresh random passwords (printed by the demo, stored nowhere
    else); existing ones keep theirs and are not listed."""
    created = {}
    with engine.connect() as connection:
        existing = set(connection.execute(select(users.c.username)).scalars())
    for username, name, roles in DEMO_LOGINS:
        if username in existing:
            continue
        password = secrets.token_urlsafe(9)
        add_user(engine, username, password, roles, display_name=name, actor=DEMO_USER)
        created[username] = password
    return created
