"""More pages in a real browser: the collateral page's coverage chart drawn by the vendored ECharts
from the page's JSON (no inline script), the review queue's Confirm, the import's upload and import
progress (and the plain form without JavaScript), and that the pages fit 1366×768 in both languages.  The same setup and skip rules as ``tests/test_browser.py``:
headless Debian Chromium through Playwright against uvicorn; without Chromium or playwright the
test skips with the reason unless ``GREENFIN_REQUIRE_BROWSER=1``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
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
    from playwright.sync_api import Browser, Page

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


def test_the_review_queue_confirms_a_label(page: Page) -> None:
    sign_in(page, "admin")
    page.click("header nav a[href='/review']")
    page.wait_for_url("**/review")
    assert page.inner_text("h1") == "识别复核队列"
    row = page.locator("#review-T-0002")
    assert "绿色待确认" in row.inner_text() and "3.2.2.2" in row.inner_text()
    assert row.locator(".chip", has_text="屋顶分布式光伏").count() == 1  # the evidence
    assert row.locator("a.override-link").get_attribute("href") == "/loans/T-0002#override-form"
    row.locator("input[name=reason]").fill("屋顶光伏，项目材料已核实")
    row.locator("button[type=submit]").click()
    page.wait_for_selector("#confirmed")
    assert "T-0002" in page.inner_text("#confirmed")
    assert page.locator("#review-T-0002").count() == 0  # decided: out of the queue
    page.goto("/loans/T-0002")
    decision = page.inner_text("#officer-decision")
    assert "项目材料已核实" in decision and page.inner_text("#decision-actor") == "admin"


def test_an_import_shows_upload_and_import_progress_then_the_outcome(page: Page, tmp_path: Path) -> None:
    sign_in(page, "admin")
    page.goto("/import")
    page.set_input_files("input[type=file]", str(DATA / "small_book.csv"))
    page.click("#import-form button[type=submit]")
    page.wait_for_selector('#import-progress[data-outcome="done"]')
    assert page.url.endswith("/import")  # no page load: the script streamed it
    assert page.locator("#upload-bar").evaluate("bar => bar.value") == 100
    assert page.locator("#import-bar").evaluate("bar => bar.value") == 100
    assert page.get_attribute("#import-progress", "data-rows") == "3"
    assert int(page.get_attribute("#import-progress", "data-lines") or 0) >= 3  # start, progress, done
    assert "导入完成" in page.inner_text("#import-summary")
    text = (DATA / "small_book.csv").read_text(encoding="utf-8")
    bad = tmp_path / "bad_check_character.csv"
    bad.write_text(text.replace("9144030071526726XG", "9144030071526726XA"), encoding="utf-8")
    page.set_input_files("input[type=file]", str(bad))
    page.click("#import-form button[type=submit]")
    page.wait_for_selector('#import-progress[data-outcome="rejected"]')
    cells = page.locator("#issues tbody tr").first.locator("td").all_inner_texts()
    assert cells[:4] == ["bad_check_character.csv", "3", "统一社会信用代码", "9144030071526726XA"]
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= VIEWPORT["width"], f"the import error table scrolls sideways at 1366 px ({width} px)"


def test_the_import_form_works_without_javascript(browser: Browser, server: str, tmp_path: Path) -> None:
    context = browser.new_context(base_url=server, viewport=VIEWPORT, java_script_enabled=False)
    try:
        plain = context.new_page()
        sign_in(plain, "admin")
        plain.goto("/import")
        plain.set_input_files("input[type=file]", str(DATA / "small_book.csv"))
        plain.click("#import-form button[type=submit]")
        plain.wait_for_selector("#import-summary")
        assert "导入完成" in plain.inner_text("#import-summary")
    finally:
        context.close()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_pages_fit_1366_by_768(page: Page, lang: str) -> None:
    sign_in(page, "admin")
    if lang == "en":
        page.goto("/lang/en?next=/")
    for path in ("/loans", "/loans?sort=-balance", "/loans/T-0002", "/loans/T-0001", "/review", "/audit",
                 "/admin/users", "/admin/users/officer", "/import", "/"):  # fmt: skip
        page.goto(path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= VIEWPORT["width"], f"{path} ({lang}) scrolls sideways at 1366 px ({width} px)"
