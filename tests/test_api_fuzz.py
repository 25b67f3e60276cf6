"""Property-based run of the whole OpenAPI spec (schemathesis): no request makes a server error.

The app runs on a SQLite store with the small book, labelled, and an admin's API token, so every
route is reachable; schemathesis generates requests from each operation's schema, valid and not.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings

from greenfin.api.app import create_app
from greenfin.service.auth import create_token
from greenfin.service.identification import label_book
from greenfin.service.importing import import_files
from greenfin.service.users import add_user
from greenfin.store.database import open_store
from tests.conftest import DATA

_STORE = Path(tempfile.mkdtemp(prefix="greenfin-fuzz-")) / "fuzz.db"
_URL = f"sqlite:///{_STORE}"
_ENGINE = open_store(_URL)
import_files(_ENGINE, [DATA / "small_book.csv"], actor="tester")
label_book(_ENGINE, actor="tester")
add_user(_ENGINE, "fuzzer", "fuzzer-password", ["admin"], actor="tester")
TOKEN = create_token(_ENGINE, "fuzzer", "fuzz")
APP = create_app(_URL, secret=b"f" * 32)

schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case: schemathesis.Case) -> None:
    response = case.call(headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code < 500, (case.method, case.path, response.status_code, response.text[:200])
