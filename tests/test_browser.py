"""The pages in a real browser: headless Chromium (Debian's) driven by Playwright, against the app
served by uvicorn on a free port over a temporary SQLite store.

What only a browser shows: the forms really post their CSRF token, the upload really is multipart,
the redirects land where they should, and ECharts (vendored, loaded from /static) really draws.
Without /usr/bin/chromium or the playwright package the tests skip with the reason, unless
``GREENFIN_REQUIRE_BROWSER=1`` (set by CI), which turns the skip into a failure.
"""

from __future__ import annotations

import io
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from fastapi import FastAPI

from greenfin.api.app import create_app
from greenfin.service.identification import label_book
from greenfin.service.importing import import_files
from greenfin.service.users import add_user
from greenfin.store.database import open_store
from tests.conftest import DATA

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, ViewportSize

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
REQUIRED = os.environ.get("GREENFIN_REQUIRE_BROWSER") == "1"
PASSWORD = "correct-horse-battery"
VIEWPORT: ViewportSize = {"width": 1366, "height": 768}


def _missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (.venv/bin/pip install playwright)"
    if not CHROMIUM.is_file():
        return f"{CHROMIUM} is missing (apt-get install -y chromium)"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    why = _missing()
    if why is not None:
        if REQUIRED:
            pytest.fail(f"browser tests cannot run: {why} - GREENFIN_REQUIRE_BROWSER=1 makes this a failure")
        pytest.skip(f"browser tests skipped: {why}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        yield launched
        launched.close()


@contextmanager
def served(app: FastAPI) -> Iterator[str]:
    """Serve an app with uvicorn in a thread on 127.0.0.1 and a free port; stop it afterwards."""
    import uvicorn

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))  # the port is taken here, so no other process can race for it
    port = listener.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start within 20 s")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        listener.close()
        app.state.engine.dispose()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app on 127.0.0.1, a free port, over a store holding the small book and two users."""
    url = f"sqlite:///{tmp_path_factory.mktemp('browser') / 'store.db'}"
    engine = open_store(url)
    import_files(engine, [DATA / "small_book.csv"], actor="tester")
    label_book(engine, actor="tester")
    add_user(engine, "officer", PASSWORD, ["officer"], display_name="王专员", actor="admin")
    add_user(engine, "checker", PASSWORD, ["checker"], display_name="李审批", actor="admin")
    engine.dispose()
    app = create_app(url, secret=b"b" * 32)
    with served(app) as address:
        yield address


@pytest.fixture
def page(browser: Browser, server: str) -> Iterator[Page]:
    """A fresh browser context (no cookies) at 1366×768 that records requests and console errors."""
    context = browser.new_context(base_url=server, viewport=VIEWPORT, locale="zh-CN")
    context.set_default_timeout(15_000)
    opened = context.new_page()
    requested: list[str] = []
    errors: list[str] = []
    opened.on("request", lambda request: requested.append(request.url))
    # A page answering 401/422 on purpose (a wrong password, a rejected file) makes Chromium log
    # "Failed to load resource"; failed sub-resources (a script, a stylesheet) are caught below instead.
    opened.on(
        "console",
        lambda message: (
            errors.append(message.text)
            if message.type == "error" and not message.text.startswith("Failed to load resource")
            else None
        ),
    )
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.on(
        "response",
        lambda response: (
            errors.append(f"{response.status} {response.url}")
            if response.status >= 400 and response.request.resource_type != "document"
            else None
        ),
    )
    yield opened
    context.close()
    off_site = [url for url in requested if not url.startswith(server)]
    assert not off_site, f"the pages fetched from another site: {off_site}"
    assert not errors, f"the browser reported errors: {errors}"


def sign_in(page: Page, username: str) -> None:
    page.goto("/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)


def sign_out(page: Page) -> None:
    page.click("#sign-out")
    page.wait_for_url("**/login")


def test_signing_in_lands_on_the_dashboard(page: Page) -> None:
    page.goto("/loans")
    assert "/login" in page.url  # no session: sent to sign in, and back afterwards
    page.fill("input[name=username]", "officer")
    page.fill("input[name=password]", "wrong-password")
    page.click("form button[type=submit]")
    assert "用户名或密码错误" in page.inner_text("p.error")
    page.fill("input[name=username]", "officer")
    page.fill("input[name=password]", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url("**/loans")
    page.goto("/")
    assert page.inner_text("h1") == "仪表盘"
    assert "王专员" in page.inner_text("header")


def test_a_bad_file_shows_the_row_level_error_table(page: Page, tmp_path: Path) -> None:
    text = (DATA / "small_book.csv").read_text(encoding="utf-8")
    bad = tmp_path / "bad_check_character.csv"
    bad.write_text(text.replace("9144030071526726XG", "9144030071526726XA"), encoding="utf-8")
    sign_in(page, "officer")
    page.goto("/import")
    page.set_input_files("input[type=file]", str(bad))
    page.click("#import-form button[type=submit]")
    page.wait_for_selector("#issues")
    assert "导入被拒绝，未做任何修改" in page.inner_text("#import-problems")
    cells = page.locator("#issues tbody tr").first.locator("td").all_inner_texts()
    assert cells[:4] == ["bad_check_character.csv", "3", "统一社会信用代码", "9144030071526726XA"]
    assert "GB 32100-2015" in cells[4]


def test_an_override_waits_then_a_checker_approves_it(page: Page) -> None:
    sign_in(page, "officer")
    page.goto("/loans/T-0001")
    assert "尚无人工认定" in page.inner_text("#officer-decision")
    page.check("input[name=choice][value=item]")
    page.fill("input[name=item_code]", "3.2.2.2")
    page.fill("textarea[name=reason]", "贷款实际用于园区屋顶光伏，补充材料已核实")
    page.click("#override-form button[type=submit]")
    page.wait_for_selector("#proposed")
    assert "待复核" in page.inner_text("#proposed")
    assert "待复核" in page.inner_text("#waiting")
    assert "尚无人工认定" in page.inner_text("#officer-decision")  # nothing in force yet
    sign_out(page)

    sign_in(page, "checker")
    page.goto("/approvals")
    row = page.locator("#approvals tbody tr", has_text="T-0001")
    row.locator("input[name=note]").fill("同意")
    row.locator("button.primary").click()
    page.wait_for_selector("#done")
    assert "已批准" in page.inner_text("#done")
    page.goto("/loans/T-0001")
    decision = page.inner_text("#officer-decision")
    assert "绿色" in decision and "3.2.2.2" in decision and "补充材料已核实" in decision
    assert "非绿色" in page.inner_text("#engine-label")  # the engine's answer stays beside it
    assert page.inner_text("#decision-actor") == "checker"


def distinct_colours(png: bytes) -> int:
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        colours: Any = image.convert("RGB").getcolors(maxcolors=1 << 20)
    return len(colours or [])


def test_the_dashboard_charts_render(page: Page) -> None:
    sign_in(page, "officer")
    page.goto("/")
    for chart in ("#chart-cerf", "#chart-alerts"):  # no batch, no revaluation yet: drawn, saying so
        page.wait_for_selector(f'{chart}[data-rendered="1"]')
    for chart in ("#chart-level1", "#chart-counts", "#chart-benefits"):
        page.wait_for_selector(f'{chart}[data-rendered="1"]')
        box = page.locator(chart).bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 200, chart
        assert page.locator(f"{chart} canvas").count() >= 1, chart
        colours = distinct_colours(page.locator(chart).screenshot())
        assert colours > 8, f"{chart} looks blank: {colours} colours"
    # T-0002 is green (2,000.00 万元); an approved override may have added T-0001 (800.50 万元)
    assert page.inner_text("#green-total") in ("2,000.00 万元", "2,800.50 万元")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= VIEWPORT["width"], f"the dashboard scrolls sideways at 1366 px ({width} px)"


def test_switching_to_english(page: Page) -> None:
    sign_in(page, "checker")
    page.goto("/")
    assert page.inner_text("h1") == "仪表盘"
    page.click("#lang-switch")
    page.wait_for_function("document.documentElement.lang === 'en'")
    assert page.inner_text("h1") == "Dashboard"
    page.goto("/loans")
    assert page.inner_text("h1") == "Loan book"
    page.click("#lang-switch")
    page.wait_for_function("document.documentElement.lang === 'zh-CN'")
    assert page.inner_text("h1") == "贷款台账"


def test_an_import_waiting_for_its_turn_says_so_then_shows_its_progress_and_counts(
    page: Page, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While another import runs, the page's status line says the upload is queued and how many
    are ahead; when its turn comes it runs and shows the counts, without a second upload."""
    from greenfin.web import pages

    monkeypatch.setattr(pages, "IMPORTS", pages.ImportQueue(waiting=2))
    release = threading.Event()
    pages.IMPORTS.submit(lambda: release.wait(30))  # another officer's import, still running
    sign_in(page, "officer")
    page.goto("/import")
    page.set_input_files("input[type=file]", str(DATA / "small_book.csv"))
    page.click("#import-form button[type=submit]")
    page.wait_for_selector("#import-progress[data-queued='1']")
    assert "导入排队中：前面还有 1 个导入" in page.inner_text("#import-status")
    release.set()
    page.wait_for_selector("#import-progress[data-outcome='done']")
    assert "导入完成" in page.inner_text("#import-result")
