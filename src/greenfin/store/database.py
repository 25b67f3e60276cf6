"""Opening the store: SQLite by default, PostgreSQL through ``GREENFIN_DATABASE_URL``.

The schema is always brought to the newest Alembic revision on open, so a store made by an
older greenfin is migrated rather than misread.
"""

from __future__ import annotations

import os
import warnings
from importlib import resources
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy import exc as sa_exc

DEFAULT_SQLITE_FILE = "greenfin.db"
ENV_URL = "GREENFIN_DATABASE_URL"

# SQLite keeps NUMERIC as REAL; quantities (MWh, tCO2e) tolerate that, money is integer 分.
warnings.filterwarnings("ignore", message=".*does \\*not\\* support Decimal objects natively")
warnings.filterwarnings("ignore", category=sa_exc.SAWarning, message=".*Decimal objects natively.*")


def database_url(url: str | None = None) -> str:
    """The URL to use: the argument, else the environment, else a SQLite file here."""
    chosen = url or os.environ.get(ENV_URL) or f"sqlite:///{DEFAULT_SQLITE_FILE}"
    if chosen.startswith("postgresql://"):
        chosen = "postgresql+psycopg://" + chosen.removeprefix("postgresql://")
    return chosen


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def create_store_engine(url: str | None = None) -> Engine:
    """An engine for the store, with SQLite tuned for one writer and foreign keys enforced."""
    resolved = database_url(url)
    if resolved.startswith("sqlite"):
        path = resolved.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(resolved)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(resolved, pool_pre_ping=True)


def alembic_config(engine: Engine) -> Config:
    """An Alembic configuration pointing at the migrations shipped inside the package."""
    config = Config()
    location = resources.files("greenfin.store").joinpath("migrations")
    config.set_main_option("script_location", str(location))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest revision (idempotent)."""
    if is_current(engine):
        return
    command.upgrade(alembic_config(engine), "head")


def is_current(engine: Engine) -> bool:
    """True when the store is already at the newest migration."""
    script = ScriptDirectory.from_config(alembic_config(engine))
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_heads()
    return set(current) == set(script.get_heads())


def open_store(url: str | None = None) -> Engine:
    """Open (creating and migrating as needed) the store."""
    engine = create_store_engine(url)
    upgrade(engine)
    return engine
