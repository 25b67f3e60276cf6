"""The regulatory reports: statistics that reconcile with the store, the JR/T 0227-2021 disclosure,
and every output format read back and checked.

The store tests run on a demo book (``greenfin demo --loans 400``) on SQLite and PostgreSQL; the
demo is built once per backend for this module, and each test that writes uses its own dates.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook
from sqlalchemy import Engine, and_, func, select
from typer.testing import CliRunner

from greenfin.cli import app
from greenfin.ingest.issues import ImportRejected
from greenfin.reference.catalogues import catalogue
from greenfin.reports import render as render_module
from greenfin.reports.disclosure import SECTIONS
from greenfin.reports.document import TO_FILL, Document, stats_document
from greenfin.reports.render import FontMissing, cjk_font, render_csv, render_html, render_pdf, render_xlsx
from greenfin.reports.stats import DIMENSIONS, Stats, build_stats, shift_months
from greenfin.service.green_book import GreenLoan
from greenfin.service.reports import disclosure_report, import_operations, stats_report
from greenfin.store.database import open_store
from greenfin.store.schema import (
    audit_log,
    label_decisions,
    loan_labels,
    loans,
    operations_data,
    report_snapshots,
)
from tests.conftest import _reset_postgres, cjk_font_or_skip

YEAR_END = dt.date(2026, 12, 31)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def demo(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Engine, str]]:
    """The 400-loan demo book, built by the CLI, on each backend."""
    directory = tmp_path_factory.mktemp(f"demo-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{directory / 'greenfin.db'}"
    else:
        url = request.getfixturevalue("postgres_database")
        _reset_postgres(url)
    result = CliRunner().invoke(
        app, ["demo", "--loans", "400", "--dir", str(directory), "--no-serve", "--db", url]
    )
    assert result.exit_code == 0, result.output
    engine = open_store(url)
    yield engine, url
    engine.dispose()


def _balances(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {
            r.loan_id: int(r.balance_fen)
            for r in connection.execute(select(loans.c.loan_id, loans.c.balance_fen))
        }


def test_totals_reconcile_exactly_with_the_store(demo: tuple[Engine, str]) -> None:
    engine, _url = demo
    stats = stats_report(engine, YEAR_END, actor="test")
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(label_decisions)).scalar_one() == 0
        run = connection.execute(select(func.max(loan_labels.c.run_id))).scalar_one()
        on_book = and_(loans.c.currency == "CNY", loans.c.start_date <= YEAR_END, loans.c.balance_fen > 0)
        rows = connection.execute(
            select(
                loan_labels.c.catalogue, loan_labels.c.item_code, func.count(), func.sum(loans.c.balance_fen)
            )
            .select_from(loans.join(loan_labels, loan_labels.c.loan_id == loans.c.loan_id))
            .where(loan_labels.c.run_id == run, loan_labels.c.status == "green", on_book)
            .group_by(loan_labels.c.catalogue, loan_labels.c.item_code)
        ).all()
        all_fen = connection.execute(select(func.sum(loans.c.balance_fen)).where(on_book)).scalar_one()
    level1: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for version, item, n, fen in rows:
        key = f"level1/{version}/{item.split('.')[0]}"
        level1[key][0] += int(n)
        level1[key][1] += int(fen)
    assert stats.total.balance_fen == sum(v[1] for v in level1.values()) > 0
    assert stats.total.count == sum(v[0] for v in level1.values())
    assert stats.total.balance_yuan == Decimal(sum(v[1] for v in level1.values())) / 100
    assert {f.key: [f.count, f.balance_fen] for f in stats.tables["level1"]} == dict(level1)
    assert stats.all_loans.balance_fen == int(all_fen)
    # Both catalogues appear: loans approved before 2025-10-01 stay under the 2021 catalogue.
    assert {f.group for f in stats.tables["level1"]} == {"gbc-2021", "gfc-2025"}
    share = next(i for i in stats.indicators if i.key == "green_share").value_pct
    assert share == (Decimal(stats.total.balance_fen) * 100 / Decimal(int(all_fen))).quantize(Decimal("0.01"))


def test_every_figure_is_the_sum_of_its_loans(demo: tuple[Engine, str]) -> None:
    engine, _url = demo
    stats = stats_report(engine, dt.date(2026, 10, 31), actor="test")
    balances = _balances(engine)
    for figure in stats.figures():
        assert len(set(figure.loan_ids)) == figure.count == len(figure.loan_ids)
        assert sum(balances[i] for i in figure.loan_ids) == figure.balance_fen, figure.key
    green = set(stats.total.loan_ids)
    for dimension, rows in stats.tables.items():  # each breakdown partitions the green loans
        ids = [i for f in rows for i in f.loan_ids]
        assert sorted(ids) == sorted(green), dimension
        assert sum(f.balance_fen for f in rows) == stats.total.balance_fen
    assert set(stats.non_performing.loan_ids) <= green and set(stats.benefits.figure.loan_ids) <= green
    assert stats.benefits.co2_t > 0 and stats.benefits.coal_tce > 0


def test_quarter_and_year_comparisons_come_from_snapshots(demo: tuple[Engine, str]) -> None:
    engine, _url = demo
    first = stats_report(engine, dt.date(2025, 6, 30), actor="test")
    assert first.previous_quarter is None and first.previous_year is None
    assert first.growth_pct(first.total, "year") is None
    assert "—" in render_module.Amount(None, "%").text()
    quarter = stats_report(engine, dt.date(2026, 3, 31), actor="test")
    current = stats_report(engine, dt.date(2026, 6, 30), actor="officer-a")
    assert current.previous_quarter is not None and current.previous_quarter.as_of == dt.date(2026, 3, 31)
    assert current.previous_year is not None and current.previous_year.as_of == dt.date(2025, 6, 30)

    def growth(now: int, before: int) -> Decimal:
        return (Decimal(now - before) * 100 / Decimal(before)).quantize(
            Decimal("0.01"), rounding=ROUND_HALF_UP
        )

    assert current.growth_pct(current.total, "quarter") == growth(
        current.total.balance_fen, quarter.total.balance_fen
    )
    assert current.growth_pct(current.total, "year") == growth(
        current.total.balance_fen, first.total.balance_fen
    )
    assert current.total.balance_fen > first.total.balance_fen  # loans drawn since mid-2025
    indicators = {i.key: i.value_pct for i in current.indicators}
    assert indicators["yoy"] == growth(current.total.balance_fen, first.total.balance_fen)
    assert indicators["qoq"] is not None and indicators["market_share"] is None
    with engine.connect() as connection:
        row = (
            connection.execute(select(report_snapshots).order_by(report_snapshots.c.id.desc()).limit(1))
            .mappings()
            .one()
        )
        audited = connection.execute(
            select(func.count())
            .select_from(audit_log)
            .where(audit_log.c.action == "report", audit_log.c.actor == "officer-a")
        ).scalar_one()
    assert row["kind"] == "stats" and row["as_of"] == dt.date(2026, 6, 30) and audited == 1
    stored = row["figures"]["figures"]["total"]
    assert stored["balance_yuan"] == str(current.total.balance_yuan) and isinstance(
        stored["balance_yuan"], str
    )


def test_shift_months_keeps_month_ends() -> None:
    assert shift_months(dt.date(2025, 9, 30), -3) == dt.date(2025, 6, 30)
    assert shift_months(dt.date(2025, 6, 30), -3) == dt.date(2025, 3, 31)
    assert shift_months(dt.date(2024, 2, 29), -12) == dt.date(2023, 2, 28)
    assert shift_months(dt.date(2025, 3, 15), -3) == dt.date(2024, 12, 15)
    assert shift_months(dt.date(2025, 12, 31), -12) == dt.date(2024, 12, 31)


def test_xlsx_reads_back_and_every_row_names_its_loans(demo: tuple[Engine, str], tmp_path: Path) -> None:
    engine, _url = demo
    stats = stats_report(engine, dt.date(2026, 11, 30), actor="test")
    path = render_xlsx(stats_document(stats), tmp_path / "stats.xlsx")
    book = load_workbook(path)
    assert {"report", "totals", "indicators", *DIMENSIONS, "benefits", "figure_loans", "loans"} <= set(
        book.sheetnames
    )
    loans_sheet = list(book["loans"].iter_rows(values_only=True))
    assert loans_sheet[0][0] == "贷款编号" and len(loans_sheet) - 1 == stats.all_loans.count
    balance = {row[0]: Decimal(str(row[9])) for row in loans_sheet[1:]}
    for dimension in DIMENSIONS:
        sheet = list(book[dimension].iter_rows(values_only=True))
        header = list(sheet[1])
        money, ids, key = (
            header.index("余额（元）"),
            header.index("贷款编号 loan ids"),
            header.index("明细键 figure"),
        )
        total = Decimal(0)
        for row in sheet[2:]:
            listed = str(row[ids]).split(", ")
            assert sum(balance[i] for i in listed) == Decimal(str(row[money])).quantize(Decimal("0.01")), row[
                key
            ]
            assert stats.figure(str(row[key])).count == len(listed)
            total += Decimal(str(row[money]))
        assert total.quantize(Decimal("0.01")) == stats.total.balance_yuan
    cell = book["level1"].cell(row=3, column=5)
    assert "元" in cell.number_format and "#,##0.00" in cell.number_format
    links = list(book["figure_loans"].iter_rows(values_only=True))[1:]
    assert {r[2] for r in links if r[0] == "total"} == set(stats.total.loan_ids)


def test_csv_tables(demo: tuple[Engine, str], tmp_path: Path) -> None:
    engine, _url = demo
    stats = stats_report(engine, dt.date(2026, 11, 29), actor="test")
    paths = render_csv(stats_document(stats), tmp_path)
    names = {p.name for p in paths}
    assert {f"{d}.csv" for d in DIMENSIONS} | {"loans.csv", "figure_loans.csv", "totals.csv"} <= names
    text = (tmp_path / "level1.csv").read_text(encoding="utf-8-sig")
    assert "余额（元）" in text and str(stats.tables["level1"][0].balance_yuan) in text


def _anchors_resolve(page: str) -> None:
    targets = set(re.findall(r"href='#([^']+)'", page))
    ids = set(re.findall(r"id='([^']+)'", page))
    assert targets and targets <= ids, sorted(targets - ids)[:5]


def test_html_has_every_section_and_every_figure_links(demo: tuple[Engine, str], tmp_path: Path) -> None:
    engine, _url = demo
    document = disclosure_report(engine, 2025, actor="test")
    page = render_html(document, tmp_path / "d.html").read_text(encoding="utf-8")
    positions = [page.index(f"{n}. {title}</h2>") for n, title in enumerate(SECTIONS, 1)]
    assert positions == sorted(positions) and len(SECTIONS) == 11
    assert page.count(f"【{TO_FILL}：") >= 11
    assert "融资排放" in page and "尚未测算" in page
    assert "<link" not in page and "<script" not in page and "http" not in page  # self-contained
    _anchors_resolve(page)
    total = document.figures["total"]
    assert f">{total.balance_yuan:,.2f} 元</a>" in page and f">{total.count:,} 笔</a>" in page
    stats = stats_report(engine, dt.date(2026, 11, 28), actor="test")
    page = render_html(stats_document(stats), tmp_path / "s.html").read_text(encoding="utf-8")
    _anchors_resolve(page)
    for figure in stats.figures():
        if figure.count and figure.key != "all_loans":  # all loans link to the loan table itself
            anchor = re.search(
                rf"<div id='(F\d+)'><h3>[^<]*：{figure.count:,} 笔，{figure.balance_yuan:,.2f} 元</h3>", page
            )
            assert anchor, figure.key
    # every table of balances has its bar chart beside it, one bar per category with a balance
    charts = re.findall(r"<figure class='chart'><svg .*?</svg>", page)
    assert charts and all(chart.count("<rect ") >= 2 for chart in charts)
    numbers = re.findall(r"<td class='num'>(?:<a [^>]+>)?([^<]*)<", page)
    assert numbers and all(
        n == "—" or n == "" or re.fullmatch(r"-?[\d,]+(\.\d+)? (元|笔|%|tCO2e|tce)", n) for n in numbers
    )


def _ink(image: np.ndarray[Any, Any]) -> int:
    gray = image[..., :3].mean(axis=-1) if image.ndim == 3 else image
    return int((gray < 128).sum())


def _render(path: Path, page: int = 0) -> np.ndarray[Any, Any]:
    import pypdfium2

    pdf = pypdfium2.PdfDocument(str(path))
    try:
        return np.asarray(pdf[page].render(scale=2).to_numpy()).copy()
    finally:
        pdf.close()


def test_the_pdf_font_draws_chinese_not_tofu(tmp_path: Path) -> None:
    from reportlab.pdfgen import canvas

    font = cjk_font_or_skip()
    images = []
    for n, words in enumerate(("绿色金融", "环境信息")):
        path = tmp_path / f"{n}.pdf"
        pdf = canvas.Canvas(str(path), pagesize=(300, 80))
        pdf.setFont(font, 28)
        pdf.drawString(20, 30, words)
        pdf.save()
        images.append(_render(path))
    assert _ink(images[0]) > 200 and _ink(images[1]) > 200
    assert images[0].shape == images[1].shape and not np.array_equal(images[0], images[1])


def test_disclosure_pdf_has_ink_and_text(demo: tuple[Engine, str], tmp_path: Path) -> None:
    import pypdfium2

    cjk_font_or_skip()
    engine, _url = demo
    path = render_pdf(disclosure_report(engine, 2025, actor="test"), tmp_path / "d.pdf")
    first = _render(path)
    title_area = first[: first.shape[0] // 8]
    assert _ink(title_area) > 500
    pdf = pypdfium2.PdfDocument(str(path))
    text = "".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))
    pdf.close()
    assert "环境信息披露报告" in text
    for title in SECTIONS:
        assert title in text.replace("\r", "").replace("\n", ""), title
    assert "GF-2024-HN-0001" not in text  # the published PDF carries no loan ids


def test_missing_font_names_the_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GREENFIN_CJK_FONT", str(tmp_path / "none.ttf"))
    cjk_font.cache_clear()
    try:
        with pytest.raises(FontMissing, match="fonts-wqy-microhei"):
            cjk_font()
    finally:
        monkeypatch.delenv("GREENFIN_CJK_FONT")
        cjk_font.cache_clear()


def _operations_state(engine: Engine) -> tuple[list[Any], int]:
    with engine.connect() as connection:
        rows = sorted(tuple(map(repr, r)) for r in connection.execute(select(operations_data)).all())
        audits = connection.execute(select(func.count()).select_from(audit_log)).scalar_one()
    return rows, int(audits)


def test_operations_import_is_all_or_nothing_and_fills_the_disclosure(
    demo: tuple[Engine, str], tmp_path: Path
) -> None:
    engine, url = demo
    good = tmp_path / "ops.csv"
    good.write_text(
        "year,item,value,unit,source\n2024,electricity,1234567,kWh,电费单\n2024,water,8900.5,t,水费单\n"
        "2024,paper,12.25,t,\n",
        encoding="utf-8",
    )
    result = import_operations(engine, good, actor="ops")
    assert (result.inserted, result.updated, result.unchanged) == (3, 0, 0)
    before = _operations_state(engine)
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "year,item,value,unit,source\n2024,electricity,2000000,kWh,电费单\n2024,natural_gas,50,barrel,燃气\n"
        "2024,paper,-1,t,\n",
        encoding="utf-8",
    )
    with pytest.raises(ImportRejected) as rejected:
        import_operations(engine, bad, actor="ops")
    assert [(i.row, i.column) for i in rejected.value.issues] == [(3, "unit"), (4, "value")]
    assert _operations_state(engine) == before
    cli = CliRunner().invoke(app, ["report", "operations", str(bad), "--db", url])
    assert cli.exit_code == 1 and "barrel" in cli.output and _operations_state(engine) == before
    again = import_operations(engine, good, actor="ops")
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 3)
    document = disclosure_report(engine, 2024, actor="test")
    page = render_html(document, tmp_path / "d.html").read_text(encoding="utf-8")
    assert "1,234,567 kWh" in page and "8,900.5 t" in page and "电费单" in page
    assert f"【{TO_FILL}：2024 年度天然气消耗量】" in page


def test_cli_writes_every_format(demo: tuple[Engine, str], tmp_path: Path) -> None:
    _engine, url = demo
    runner = CliRunner()
    for fmt in ("xlsx", "csv", "html"):
        result = runner.invoke(
            app,
            ["report", "stats", "--date", "2026-11-27", "--format", fmt, "--out", str(tmp_path), "--db", url],
        )
        assert result.exit_code == 0, result.output
        assert "绿色贷款余额合计" in result.output
    assert (tmp_path / "stats_2026-11-27.xlsx").is_file() and (tmp_path / "stats_2026-11-27.html").is_file()
    assert (tmp_path / "stats_2026-11-27" / "level1.csv").is_file()
    for fmt in ("html", "xlsx"):
        result = runner.invoke(
            app,
            ["report", "disclosure", "--year", "2025", "--format", fmt, "--out", str(tmp_path), "--db", url],
        )
        assert result.exit_code == 0, result.output
        assert (tmp_path / f"disclosure_2025-12-31.{fmt}").stat().st_size > 1000
    bad = runner.invoke(app, ["report", "stats", "--date", "2026-13-01", "--db", url])
    assert bad.exit_code != 0


def test_cli_writes_the_disclosure_pdf(demo: tuple[Engine, str], tmp_path: Path) -> None:
    cjk_font_or_skip()
    _engine, url = demo
    result = CliRunner().invoke(
        app,
        ["report", "disclosure", "--year", "2025", "--format", "pdf", "--out", str(tmp_path), "--db", url],
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "disclosure_2025-12-31.pdf").read_bytes().startswith(b"%PDF")


# ---------------------------------------------------------------- pure statistics, any book

_ITEMS = [(v, leaf.code) for v in ("gbc-2021", "gfc-2025") for leaf in catalogue(v).leaves()[::17]]


def _loan(n: int, balance: int, currency: str, status: str, item: tuple[str, str], industry: str, province: str,
          tier: str | None, start: dt.date) -> GreenLoan:  # fmt: skip
    version, code = item
    book = catalogue(version)
    level1 = book.level1_of(code)
    level2 = ".".join(code.split(".")[:2])
    return GreenLoan(
        loan_id=f"L{n:05d}", borrower_name="某公司", credit_code="", industry_code=industry, region_code="330100",
        province=province, five_tier=tier, currency=currency, amount_fen=balance, balance_fen=balance,
        rate_pct=None, approval_date=start, start_date=start, maturity_date=start + dt.timedelta(days=3650),
        purpose=None, project_id=None, project_name=None, status=status, decided_by="engine", catalogue=version,
        item_code=code, item_name=book.item(code).name_zh, level1_code=level1.code, level1_name=level1.name_zh,
        level2_code=level2, level2_name=book.item(level2).name_zh, ghg_mark=book.item(code).ghg_mark,
        cerf_area=None, co2_reduced_t=None, coal_saved_tce=None, benefit_method=None,
    )  # fmt: skip


_loans = st.lists(
    st.tuples(
        st.integers(0, 10**15),
        st.sampled_from(["CNY", "CNY", "CNY", "USD"]),
        st.sampled_from(["green", "green", "not_green", "needs_review"]),
        st.sampled_from(_ITEMS),
        st.sampled_from(["D4415", "C2611", "E4813", "N7721", "A0111"]),
        st.sampled_from(["浙江", "湖南", "江西"]),
        st.sampled_from([None, "正常", "关注", "次级", "可疑", "损失"]),
        st.dates(dt.date(2021, 7, 1), dt.date(2026, 12, 31)),
        st.booleans(),
    ),
    max_size=60,
)


def _parts(stats: Stats) -> dict[str, tuple[int, int]]:
    return {f.key: (f.count, f.balance_fen) for f in stats.figures()}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_loans, st.dates(dt.date(2022, 1, 1), dt.date(2026, 12, 31)))
def test_statistics_of_a_union_are_the_sum_of_its_parts(rows: list[tuple[Any, ...]], as_of: dt.date) -> None:
    book = [_loan(n, *row[:-1]) for n, row in enumerate(rows)]
    side_a = [loan for loan, row in zip(book, rows, strict=True) if row[-1]]
    side_b = [loan for loan, row in zip(book, rows, strict=True) if not row[-1]]
    whole, a, b = (_parts(build_stats(x, as_of)) for x in (book, side_a, side_b))
    for key in set(whole) | set(a) | set(b):
        expected = tuple(x + y for x, y in zip(a.get(key, (0, 0)), b.get(key, (0, 0)), strict=True))
        assert whole.get(key, (0, 0)) == expected, key
    stats = build_stats(book, as_of)
    green = [
        x for x in book if x.green and x.currency == "CNY" and x.start_date <= as_of and x.balance_fen > 0
    ]
    assert stats.total.balance_fen == sum(x.balance_fen for x in green) and stats.total.count == len(green)
    for rows_of_dimension in stats.tables.values():
        assert sum(f.balance_fen for f in rows_of_dimension) == stats.total.balance_fen
    assert Decimal(stats.total.balance_fen) / 100 == stats.total.balance_yuan


def test_a_document_has_every_table(demo: tuple[Engine, str]) -> None:
    engine, _url = demo
    document: Document = stats_document(stats_report(engine, dt.date(2026, 11, 26), actor="test"))
    assert [t.name for t in document.tables()] == ["totals", "indicators", *DIMENSIONS, "benefits"]
