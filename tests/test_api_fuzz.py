"""Property-based run of the whole OpenAPI spec (schemathesis): no request makes a server error, on
SQLite and on PostgreSQL.

The app runs on a store with the small book, labelled, and an admin's API token, so every route is
reachable; schemathesis generates requests from each operation's schema, valid and not.  Both
backends get the same number of examples per operation (25): a query or a constraint that only one
dialect refuses (a string too long for a PostgreSQL column, a NUL byte, an integer beyond BIGINT)
is a 500 on that backend alone.  The PostgreSQL run skips when no server answers, and fails instead
under ``GREENFIN_REQUIRE_POSTGRES=1`` (tests/conftest.py).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from sqlalchemy import create_engine, text

from greenfin.api.app import create_app
from greenfin.service.auth import create_token
from greenfin.service.identification import label_book
from greenfin.service.importing import import_files
from greenfin.service.users import add_user
from greenfin.store.database import open_store
from tests.conftest import DATA, PG_URL

EXAMPLES = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))


def seeded_app(url: str) -> tuple[Any, str]:
    """The app on ``url`` after seeding it, and an admin's API token."""
    engine = open_store(url)
    import_files(engine, [DATA / "small_book.csv"], actor="tester")
    label_book(engine, actor="tester")
    add_user(engine, "fuzzer", "fuzzer-password", ["admin"], actor="tester")
    token = create_token(engine, "fuzzer", "fuzz")
    engine.dispose()
    return create_app(url, secret=b"f" * 32), token


_STORE = Path(tempfile.mkdtemp(prefix="greenfin-fuzz-")) / "fuzz.db"
APP, TOKEN = seeded_app(f"sqlite:///{_STORE}")

schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@schema.parametrize()
@EXAMPLES
def test_no_server_errors(case: schemathesis.Case) -> None:
    """Every operation, as an admin (so no answer is a refusal before the route's own checks)."""
    response = case.call(headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code < 500, (case.method, case.path, response.status_code, response.text[:200])


@pytest.fixture(scope="module")
def postgres_app(postgres_database: str) -> Iterator[tuple[Any, str]]:
    """The same app on a database of its own beside the conftest's (which decides skip or failure),
    with its admin token."""
    name = postgres_database.rsplit("/", 1)[1] + "_fuzz"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    app, token = seeded_app(PG_URL.rsplit("/", 1)[0] + "/" + name)
    try:
        yield app, token
    finally:
        app.state.engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.mark.postgres
@schema.parametrize()
@EXAMPLES
def test_no_server_errors_on_postgres(case: schemathesis.Case, postgres_app: tuple[Any, str]) -> None:
    """The spec is the same whatever the store; each case is sent to the app on PostgreSQL."""
    app, token = postgres_app
    response = case.call(app=app, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code < 500, (case.method, case.path, response.status_code, response.text[:200])
