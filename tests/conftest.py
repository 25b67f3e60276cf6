"""Shared fixtures: stores on SQLite and on the real PostgreSQL server, and a small loan book.

PostgreSQL tests run against ``GREENFIN_TEST_POSTGRES_URL`` (default: the local server's
``test`` database).  Where no server answers they are skipped with the reason, unless
``GREENFIN_REQUIRE_POSTGRES=1`` (set by CI), which turns the skip into a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, select, text

from greenfin.store.database import open_store
from greenfin.store.schema import (
    audit_log,
    borrowers,
    collateral_alerts,
    holdings,
    import_batches,
    loans,
    pledge_events,
    pledge_loans,
    pledge_valuations,
    pledges,
    prices,
    projects,
    revaluations,
    users,
    valuation_policies,
)

PG_URL = os.environ.get("GREENFIN_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REQUIRE_PG = os.environ.get("GREENFIN_REQUIRE_POSTGRES") == "1"
SHARED = Path(__file__).resolve().parents[1] / ".." / "shared"
DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A throw-away database on the PostgreSQL server, for the whole session."""
    try:
        admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text("select 1"))
    except Exception as exc:
        message = (
            f"PostgreSQL not reachable at {PG_URL} ({type(exc).__name__}); set GREENFIN_TEST_POSTGRES_URL"
        )
        if REQUIRE_PG:
            pytest.fail(message + " - GREENFIN_REQUIRE_POSTGRES=1 makes this a failure")
        pytest.skip(message)
    name = f"greenfin_test_{uuid.uuid4().hex[:10]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_URL.rsplit("/", 1)[0] + "/" + name
    yield url
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _reset_postgres(url: str) -> None:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty store URL on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    url: str = request.getfixturevalue("postgres_database")
    _reset_postgres(url)
    return url


@pytest.fixture
def engine(store_url: str) -> Iterator[Engine]:
    engine = open_store(store_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    yield engine
    engine.dispose()


SNAPSHOT_TABLES = (
    borrowers, projects, loans, pledges, prices, import_batches, audit_log, users, holdings, pledge_loans,
    pledge_events, valuation_policies, revaluations, pledge_valuations, collateral_alerts,
)  # fmt: skip


def snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, for asserting that a rejected import changed nothing."""
    result = {}
    with engine.connect() as connection:
        for table in SNAPSHOT_TABLES:
            rows = connection.execute(select(table)).all()
            result[table.name] = sorted(tuple(map(repr, row)) for row in rows)
    return result


def shared_file(*parts: str) -> Path:
    """A file of ../shared, or a clean skip when this checkout has none beside it."""
    path = SHARED.joinpath(*parts)
    if not path.is_file():
        pytest.skip(f"{path} is not present beside this checkout")
    return path


def cjk_font_or_skip() -> str:
    """The PDF's CJK font; a test that renders a PDF skips without one (a fresh machine has only
    Python), and fails instead under ``GREENFIN_REQUIRE_FONT=1`` (set by CI, which installs
    Debian's fonts-wqy-microhei)."""
    from greenfin.reports.render import FontMissing, cjk_font

    try:
        return cjk_font()
    except FontMissing as missing:
        if os.environ.get("GREENFIN_REQUIRE_FONT") == "1":
            pytest.fail(f"{missing} - GREENFIN_REQUIRE_FONT=1 makes this a failure")
        pytest.skip(f"PDF tests skipped: {missing}")


def guarded_routes(router: Any) -> list[tuple[Any, str]]:
    """Every route of ``router`` (and of the routers it includes) with the permission it checks:
    a FastAPI route's guard (``api.security.need``), or a plain route's endpoint ``permission``."""
    from fastapi.routing import APIRoute

    found = []
    for route in router.routes:
        if hasattr(route, "original_router"):  # a router included in this one
            found.extend(guarded_routes(route.original_router))
        elif isinstance(route, APIRoute):
            for dependency in route.dependant.dependencies:
                permission = getattr(dependency.call, "permission", None)
                if permission:
                    found.append((route, permission))
        elif getattr(getattr(route, "endpoint", None), "permission", None):
            found.append((route, route.endpoint.permission))
    return found


def apply_cea_pledge(engine: Engine, *, actor: str, held: int = 1000, pledged: int = 600) -> None:
    """Holding H1 of CEA (vintage 2024) held by T-0001's borrower in tests/data/small_book.csv, and
    pledge P1 of ``pledged`` tonnes of it applied for T-0001 (not yet registered)."""
    import datetime as dt
    from decimal import Decimal

    from greenfin.model.entities import Instrument
    from greenfin.service import collateral

    collateral.add_holding(
        engine, holding_id="H1", holder_credit_code="91330100799655058B", instrument=Instrument.CEA,
        price_series="CEA", registry_account="全国碳排放权注册登记 A-1", quantity=Decimal(held), vintage=2024,
        actor=actor,
    )  # fmt: skip
    collateral.apply_pledge(
        engine, pledge_id="P1", holding_id="H1", loan_ids=["T-0001"], quantity=Decimal(pledged),
        pledged_on=dt.date(2025, 3, 1), actor=actor,
    )  # fmt: skip
