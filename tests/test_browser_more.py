"""The collateral page in a real browser: its coverage chart is drawn by the vendored ECharts from the
page's JSON (no inline script).  The same setup and skip rules as ``tests/test_browser.py``:
headless Debian Chromium through Playwright against uvicorn; without Chromium or playwright the
test skips with the reason unless ``GREENFIN_REQUIRE_BROWSER=1``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from greenfin.api.app import create_app
from greenfin.service import collateral
from greenfin.service.identification import label_book
from greenfin.service.importing import import_files
from greenfin.service.users import add_user
from greenfin.store.database import open_store
from tests.conftest import DATA
from tests.test_browser import (  # the browser fixture and helpers, shared
    PASSWORD,
    VIEWPORT,
    browser,
    distinct_colours,
    page,
    served,
    sign_in,
)
from tests.test_web_more import pledge_book

if TYPE_CHECKING:
    from playwright.sync_api import Page

__all__ = ["browser", "page"]  # fixtures used by name


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app on a free port over a store with the small book, a pledge and two revaluations."""
    url = f"sqlite:///{tmp_path_factory.mktemp('browser_more') / 'store.db'}"
    engine = open_store(url)
    import_files(engine, [DATA / "small_book.csv"], actor="tester")
    label_book(engine, actor="tester")
    add_user(engine, "admin", PASSWORD, ["admin"], actor="tester")
    add_user(engine, "officer", PASSWORD, ["risk_manager"], display_name="赵风控", actor="tester")
    days = pledge_book(engine)
    for day in (days[80], days[100], days[-1]):
        collateral.revalue(engine, day, actor="officer")
    engine.dispose()
    app = create_app(url, secret=b"c" * 32)
    with served(app) as address:
        yield address


def test_the_collateral_chart_renders(page: Page) -> None:
    sign_in(page, "officer")  # a risk manager (named "officer" for the shared sign-in helper)
    page.goto("/collateral")
    assert page.inner_text("h1") == "环境权益押品"
    page.wait_for_selector('#chart-coverage[data-rendered="1"]')
    box = page.locator("#chart-coverage").bounding_box()
    assert box is not None and box["width"] > 600 and box["height"] > 200
    assert page.locator("#chart-coverage canvas").count() >= 1
    colours = distinct_colours(page.locator("#chart-coverage").screenshot())
    assert colours > 8, f"the coverage chart looks blank: {colours} colours"
    assert page.locator("#pledge-P1 .coverage-status").inner_text() in ("预警", "低于平仓线")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= VIEWPORT["width"], f"the collateral page scrolls sideways at 1366 px ({width} px)"
