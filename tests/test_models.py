"""The pydantic models accept and refuse what the importer does (they share the parsers)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from greenfin.model.entities import Borrower, Instrument, Loan, Pledge, Price, Project

LOAN: dict[str, Any] = {
    "loan_id": "L1",
    "borrower_credit_code": "91330100799655058B",
    "amount_yuan": "1000000",
    "balance_yuan": "800000.50",
    "start_date": "2024-03-05",
    "maturity_date": "2025-03-04",
}


def test_loan_parses_like_the_importer() -> None:
    loan = Loan(**LOAN, rate_pct="3.45%", five_tier="关注", bank_green_flag="是", currency="人民币")
    assert loan.balance_yuan == Decimal("800000.50")
    assert loan.rate_pct == Decimal("3.4500") and loan.five_tier == "关注"
    assert loan.bank_green_flag is True and loan.currency == "CNY"


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"maturity_date": "2024-03-01"}, "maturity date"),
        ({"balance_yuan": "1000000.01"}, "exceeds"),
        ({"borrower_credit_code": "91330100799655058C"}, "check character"),
        ({"amount_yuan": "-1"}, "negative"),
        ({"amount_yuan": "1.001"}, "finer than 1"),
        ({"start_date": "2024-02-30"}, "not a real date"),
        ({"approval_date": "2024-04-01"}, "before approval_date"),
    ],
)
def test_loan_refuses(change: dict[str, str], fragment: str) -> None:
    with pytest.raises(ValidationError, match=fragment):
        Loan(**{**LOAN, **change})


def test_borrower_derives_province_and_grid() -> None:
    borrower = Borrower(
        credit_code="91330100799655058B", name="阿里巴巴（中国）有限公司", industry_code="6510",
        region_code="330106", revenue_yuan="1,000", scope1_tco2e="1.5 万吨二氧化碳",
    )  # fmt: skip
    assert borrower.industry_code == "I6510"
    assert (borrower.province, borrower.grid_region) == ("浙江省", "华东")
    assert borrower.scope1_tco2e == Decimal(15_000)


def test_project_units_are_canonical() -> None:
    project = Project(
        project_id="P", name="风电场", capacity_mw="5 万千瓦", annual_generation_mwh="2.1 亿千瓦时"
    )
    assert project.capacity_mw == Decimal(50) and project.annual_generation_mwh == Decimal(210_000)
    with pytest.raises(ValidationError, match="completion_date"):
        Project(project_id="P", name="x", start_date="2025-01-01", completion_date="2024-01-01")


def test_pledge_and_price() -> None:
    pledge = Pledge(
        pledge_id="PL1", loan_id="L1", instrument=Instrument.CEA, quantity=Decimal(1000), unit="tCO2e",
        vintage=2023, registry_reference="REG-1", pledged_on=dt.date(2024, 1, 2),
    )  # fmt: skip
    assert pledge.state == "registered"
    with pytest.raises(ValidationError, match="unknown unit"):
        Pledge(**{**pledge.model_dump(), "unit": "桶"})
    # 2021-07-16, first day of the national carbon market: open 48.00, high 52.80, low 48.00, close 51.23
    price = Price(
        instrument="CEA", day="2021-07-16", open_yuan=48, high_yuan="52.8", low_yuan=48, close_yuan="51.23"
    )
    assert price.close_yuan == Decimal("51.23")
    with pytest.raises(ValidationError, match="outside"):
        Price(instrument="CEA", day="2021-07-16", high_yuan=50, low_yuan=48, close_yuan=51.23)
