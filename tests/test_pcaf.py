"""PCAF financed emissions: hand-worked examples from the standard's formulas, and a real sample portfolio."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from greenfin.portfolio.pcaf import attribution_factor, estimated_emissions, financed_emissions, portfolio
from tests.conftest import shared_file


def test_business_loan_to_a_private_company() -> None:
    """PCAF Part A §5.2: 10 M outstanding to a company of 60 M equity + 40 M debt emitting 50,000 t:
    attribution 10 / 100 = 10 %, financed 5,000 tCO2e."""
    assert float(attribution_factor(10e6, 60e6 + 40e6)) == pytest.approx(0.10)
    assert float(financed_emissions(10e6, 100e6, 50_000)) == pytest.approx(5_000)


def test_listed_equity_uses_evic() -> None:
    """§5.1: 1 M of shares in a company with EVIC 1 bn and 1,000,000 t scope 1+2: 1,000 tCO2e."""
    assert float(financed_emissions(1e6, 1e9, 1_000_000)) == pytest.approx(1_000)


def test_mortgage_and_motor_vehicle_loans() -> None:
    """§5.5–5.6: 800 k left of a mortgage on a 1 M home using 2.5 t a year → 2 t; 60 k left on a
    150 k car emitting 4 t a year → 1.6 t."""
    assert float(financed_emissions(800e3, 1e6, 2.5)) == pytest.approx(2.0)
    assert float(financed_emissions(60e3, 150e3, 4.0)) == pytest.approx(1.6)


def test_estimates_and_the_weighted_score() -> None:
    """Score 4: revenue 200 M × 300 tCO2e per M revenue = 60,000 t.  Weighted score of a 10 M score-1
    loan and a 30 M score-4 loan: (1×10 + 4×30) / 40 = 3.25."""
    assert float(estimated_emissions(200, 300)) == pytest.approx(60_000)
    result = portfolio(
        np.array([10e6, 30e6, 5e6]), np.array([100e6, 300e6, np.nan]), np.array([50_000.0, 60_000.0, 1.0]),
        np.array([1, 4, 2]),
    )  # fmt: skip
    assert result.financed_t == pytest.approx(5_000 + 6_000)
    assert result.weighted_score == pytest.approx(3.25)
    assert (result.missing, result.coverage) == (1, pytest.approx(40 / 45))


@given(st.lists(st.tuples(st.floats(0, 1e9), st.floats(1, 1e12), st.floats(0, 1e8)), min_size=1, max_size=50))
def test_financed_emissions_add_up_and_never_exceed_emissions_when_outstanding_is_below_the_denominator(
    rows: list[tuple[float, float, float]],
) -> None:
    outstanding, denominator, emissions = (np.array(column) for column in zip(*rows, strict=True))
    financed = financed_emissions(outstanding, denominator, emissions)
    whole = portfolio(outstanding, denominator, emissions, np.ones(len(rows), dtype=np.int64))
    assert whole.financed_t == pytest.approx(float(financed.sum()), rel=1e-9, abs=1e-6)
    inside = outstanding <= denominator
    assert np.all(financed[inside] <= emissions[inside] * (1 + 1e-12))


UNITS = {"t CO2": 1.0, "Mt CO2": 1e6, "kt CO2": 1e3}


def test_the_os_climate_sample_portfolio() -> None:
    """The OS-Climate ITR sample: investment value ÷ EVIC × 2019 scope 1+2, recomputed row by row."""
    companies = {
        row["company_id"]: row
        for row in csv.DictReader(shared_file("data", "itr_sample_companies.csv").open())
    }
    holdings = list(csv.DictReader(shared_file("data", "itr_sample_portfolio.csv").open()))
    outstanding, evic, emissions = [], [], []
    expected = 0.0
    for holding in holdings:
        company = companies[holding["company_id"]]
        value = float(holding["investment_value [USD]"])
        s1s2 = company["2019_ghg_s1s2"] or ""
        scale = UNITS.get(company["emissions_metric"].strip(), np.nan)
        tonnes = float(s1s2) * scale if s1s2 else np.nan
        outstanding.append(value)
        evic.append(float(company["evic"]) if company["evic"] else np.nan)
        emissions.append(tonnes)
        if company["evic"] and s1s2 and np.isfinite(scale):
            expected += value / float(company["evic"]) * tonnes
    result = portfolio(
        np.array(outstanding), np.array(evic), np.array(emissions), np.ones(len(holdings), dtype=np.int64)
    )
    assert result.holdings == len(holdings) and result.financed_t == pytest.approx(expected, rel=1e-12)
    assert result.financed_t > 0 and 0 < result.coverage <= 1
