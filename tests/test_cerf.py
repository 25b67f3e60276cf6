"""CERF: the facility's rules loan by loan, LPR history, and the quarter's batch end to end."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from openpyxl import load_workbook
from sqlalchemy import Engine, func, select

from greenfin.cerf.eligibility import CerfRules, decide, facility_fen
from greenfin.demo.generator import TONGDAO_WIND, write_book
from greenfin.reference.factors import DEFAULT_POLICY
from greenfin.reference.lpr import lpr_on, tenor_of
from greenfin.service import identification
from greenfin.service.auth import login
from greenfin.service.cerf import batch_history, quarter_days, run_batch, write_disclosure, write_verification
from greenfin.service.green_book import GreenLoan, green_book
from greenfin.service.importing import import_files
from greenfin.service.users import add_user
from greenfin.store.schema import cerf_batch_loans, cerf_batches

RULES = CerfRules()


def test_lpr_is_the_publication_in_force_for_the_tenor() -> None:
    """2024-06-20 publication: 1Y 3.45 %, 5Y+ 3.95 % (全国银行间同业拆借中心)."""
    quote = lpr_on(dt.date(2024, 6, 25), "5Y+")
    assert quote is not None and (quote.published, quote.rate_pct) == (dt.date(2024, 6, 20), Decimal("3.95"))
    one_year = lpr_on(dt.date(2024, 6, 19), "1Y")
    assert one_year is not None and (one_year.published, one_year.rate_pct) == (
        dt.date(2024, 5, 20),
        Decimal("3.45"),
    )
    assert lpr_on(dt.date(2019, 8, 19), "1Y") is None
    assert tenor_of(dt.date(2024, 6, 18), dt.date(2039, 6, 17)) == "5Y+"
    assert tenor_of(dt.date(2024, 6, 18), dt.date(2025, 6, 17)) == "1Y"


@given(st.integers(min_value=2000, max_value=2100), st.integers(min_value=1, max_value=4))
def test_quarters_cover_the_year_without_gaps(year: int, number: int) -> None:
    first, last = quarter_days(f"{year}Q{number}")
    assert first.month == 3 * number - 2 and first.day == 1
    assert (last + dt.timedelta(days=1)) == (
        quarter_days(f"{year}Q{number + 1}")[0] if number < 4 else dt.date(year + 1, 1, 1)
    )


@given(st.integers(min_value=0, max_value=10**15))
def test_the_facility_is_sixty_percent_to_the_fen(principal_fen: int) -> None:
    expected = (Decimal(principal_fen) * Decimal("0.6")).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    assert facility_fen(principal_fen, RULES) == int(expected)


def wind_loan(**changes: object) -> GreenLoan:
    base = GreenLoan(
        loan_id="L1", borrower_name="某新能源有限公司", credit_code="91431230MA9GK76048", industry_code="D4415",
        region_code="431230", province="湖南", five_tier="正常", currency="CNY", amount_fen=500_000_000_00,
        balance_fen=480_000_000_00, rate_pct=Decimal("3.95"), approval_date=dt.date(2024, 5, 10),
        start_date=dt.date(2024, 6, 18), maturity_date=dt.date(2039, 6, 17), purpose="风电场建设", project_id="P1",
        project_name="风电场", status="green", decided_by="engine", catalogue="gbc-2021", item_code="3.2.2.1",
        item_name="风力发电设施建设和运营", level1_code="3", level1_name="清洁能源产业", level2_code="3.2",
        level2_name="", ghg_mark="√√", cerf_area="clean_energy", co2_reduced_t=70_560.0, coal_saved_tce=43_300.8,
        benefit_method="renewable-power",
    )  # fmt: skip
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_a_wind_farm_at_lpr_qualifies_for_sixty_percent() -> None:
    decision = decide(wind_loan(), RULES)
    assert decision.eligible and decision.reasons == []
    assert decision.facility_fen == 300_000_000_00
    assert decision.evidence["lpr"]["spread_bp"] == 0


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"rate_pct": Decimal("5.20")}, "超出 ±50 个基点"),
        ({"approval_date": dt.date(2021, 6, 1), "start_date": dt.date(2021, 7, 1), "maturity_date": dt.date(2036, 7, 1)},
         "早于工具设立"),
        ({"status": "not_green", "cerf_area": None}, "不是已认定的绿色贷款"),
        ({"status": "needs_review"}, "需人工复核"),
        ({"cerf_area": "green_upgrade"}, "自 2026-01-15 起纳入"),
        ({"rate_pct": None}, "缺少执行利率"),
        ({"currency": "USD"}, "非人民币"),
        ({"co2_reduced_t": None, "benefit_method": None}, "缺少可测算的年碳减排量"),
    ],
)  # fmt: skip
def test_excluded_loans_say_why(changes: dict[str, object], reason: str) -> None:
    decision = decide(wind_loan(**changes), RULES)
    assert not decision.eligible and decision.facility_fen == 0
    assert any(reason in text for text in decision.reasons), decision.reasons


def test_the_tolerance_is_the_banks_setting() -> None:
    loan = wind_loan(rate_pct=Decimal("4.30"))  # 35 bp above the 5Y+ LPR
    assert decide(loan, RULES).eligible
    assert not decide(loan, CerfRules(lpr_tolerance_bp=30)).eligible


@pytest.fixture
def demo_book(engine: Engine, tmp_path: Path) -> Engine:
    path = write_book(tmp_path / "book.csv", 400, 20261126)
    import_files(engine, [path], actor="tester")
    identification.label_book(engine, actor="tester")
    return engine


def test_the_wind_farm_is_in_its_quarters_batch_with_its_factor(demo_book: Engine, tmp_path: Path) -> None:
    batch = run_batch(demo_book, "2024Q2", actor="tester")
    chosen = {loan.loan_id: d for loan, d in batch.eligible}
    assert TONGDAO_WIND.loan_id in chosen
    assert chosen[TONGDAO_WIND.loan_id].facility_fen == 300_000_000_00  # 60 % of 50,000 万元
    wind = next(loan for loan, _ in batch.eligible if loan.loan_id == TONGDAO_WIND.loan_id)
    assert wind.co2_reduced_t == pytest.approx(
        210_000 * 0.49 * 48_000 / 70_000
    )  # 湖南 2022 factor, attributed
    package = write_verification(demo_book, batch, tmp_path / "v.xlsx", 2024)
    rows = list(load_workbook(package, read_only=True).active.iter_rows(values_only=True))
    grid = [r for r in rows[1:] if r[0] == TONGDAO_WIND.loan_id and r[5] == "grid"]
    assert grid and grid[0][6] == "0.49" and "电力二氧化碳排放因子" in grid[0][9]
    disclosure = write_disclosure(batch, tmp_path / "d.csv")
    assert TONGDAO_WIND.loan_id in disclosure.read_text(encoding="utf-8-sig")
    # every loan of the quarter is decided, and the excluded say why
    assert len(batch.decisions) == sum(1 for loan in green_book(demo_book, DEFAULT_POLICY, 2024)
                                       if dt.date(2024, 4, 1) <= loan.start_date <= dt.date(2024, 6, 30))  # fmt: skip
    assert all(d.reasons for _, d in batch.decisions if not d.eligible)


def test_running_a_quarter_again_changes_nothing_and_an_amendment_is_recorded(demo_book: Engine) -> None:
    first = run_batch(demo_book, "2024Q2", actor="tester")
    again = run_batch(demo_book, "2024Q2", actor="tester")
    assert (again.changed, again.batch_id, again.revision) == (False, first.batch_id, 1)
    with demo_book.connect() as connection:
        assert connection.execute(select(func.count()).select_from(cerf_batches)).scalar() == 1
    identification.decide(
        demo_book,
        TONGDAO_WIND.loan_id,
        action="override",
        reason="复核：项目未取得核准",
        not_green=True,
        actor="checker",
    )
    amended = run_batch(demo_book, "2024Q2", actor="tester")
    assert amended.changed and amended.revision == 2 and amended.amends == first.batch_id
    assert TONGDAO_WIND.loan_id not in {loan.loan_id for loan, _ in amended.eligible}
    history = batch_history(demo_book, "2024Q2")
    assert [h["revision"] for h in history] == [1, 2] and history[1]["amends"] == history[0]["id"]
    with demo_book.connect() as connection:
        stored = connection.execute(
            select(cerf_batch_loans.c.reasons).where(
                cerf_batch_loans.c.batch_id == amended.batch_id,
                cerf_batch_loans.c.loan_id == TONGDAO_WIND.loan_id,
            )
        ).scalar_one()
    assert any("不是已认定的绿色贷款" in reason for reason in stored)


def test_the_sql_summary_equals_the_green_book_loan_by_loan(demo_book: Engine) -> None:
    """The dashboard's SQL aggregation gives what the green book gives, loan by loan, summed."""
    from collections import Counter

    from greenfin.service.green_book import book_summary

    identification.decide(
        demo_book, TONGDAO_WIND.loan_id, action="override", reason="复核", not_green=True, actor="x"
    )
    book = list(green_book(demo_book, DEFAULT_POLICY, 2025))
    summary = book_summary(demo_book, DEFAULT_POLICY, 2025)
    assert summary.counts == dict(Counter(loan.status for loan in book))
    green = [loan for loan in book if loan.green and loan.currency == "CNY"]
    assert summary.green_fen == sum(loan.balance_fen for loan in green)
    by_level1: Counter[tuple[str, str]] = Counter()
    for loan in green:
        by_level1[(loan.catalogue or "", loan.level1_code or "—")] += loan.balance_fen
    assert {(v, c): fen for (v, c, _n), fen in summary.green_by_level1.items()} == dict(by_level1)
    with_benefit = [loan for loan in book if loan.green and loan.co2_reduced_t is not None]
    assert summary.benefit_loans == len(with_benefit)
    assert summary.co2_t == pytest.approx(sum(loan.co2_reduced_t or 0 for loan in with_benefit))


def test_the_summary_is_reused_until_the_book_changes(demo_book: Engine) -> None:
    from greenfin.service.green_book import book_summary

    first = book_summary(demo_book, DEFAULT_POLICY, 2025)
    assert book_summary(demo_book, DEFAULT_POLICY, 2025) is first
    # a sign-in is audited too, but leaves the book as it was: the summary is kept
    add_user(demo_book, "summary-reader", "summary-password-1", ["auditor"], actor="test")
    assert login(demo_book, "summary-reader", "summary-password-1").username == "summary-reader"
    assert book_summary(demo_book, DEFAULT_POLICY, 2025) is first
    identification.decide(
        demo_book, TONGDAO_WIND.loan_id, action="override", reason="复核", not_green=True, actor="x"
    )
    changed = book_summary(demo_book, DEFAULT_POLICY, 2025)
    assert changed is not first and changed.counts.get("not_green", 0) == first.counts.get("not_green", 0) + 1
