"""The whole-book portfolio run: PCAF options worked by hand, benefits as the project path gives
them, the plan on DuckDB (Parquet and CSV), bad input, and the OS-Climate sample portfolio."""

from __future__ import annotations

import csv
import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greenfin.benefits.projects import assess_project
from greenfin.portfolio import generate, plan
from greenfin.portfolio.columns import INPUT_SCHEMA
from greenfin.portfolio.duck import DuckDBEngine
from greenfin.portfolio.identify import LABEL_SCHEMA, LabelIndex, label_subjects
from greenfin.portfolio.kernel import PortfolioProblem, Settings, compute
from greenfin.reference.factors import DEFAULT_POLICY, factor
from tests.conftest import shared_file

YEAR = 2025
NO_LABELS = LabelIndex(LABEL_SCHEMA.empty_table())


def book(*rows: dict[str, Any]) -> pa.RecordBatch:
    """Holdings as written in a book: every input column, null unless given."""
    return pa.RecordBatch.from_pylist([dict(row) for row in rows], schema=INPUT_SCHEMA)


def results(*rows: dict[str, Any], labels: LabelIndex = NO_LABELS) -> list[dict[str, Any]]:
    return compute(book(*rows), Settings(YEAR), labels).to_pylist()


def holding(loan_id: str, asset_class: str, balance_yuan: float, **more: Any) -> dict[str, Any]:
    return {"loan_id": loan_id, "asset_class": asset_class, "balance_fen": round(balance_yuan * 100), **more}


def test_reported_emissions_are_attributed_by_equity_plus_debt_and_scored_by_their_basis() -> None:
    """PCAF Part A §5.2, option 1: 2,000万 outstanding of a company with 1亿 equity + debt emitting
    50,000 t: factor 0.2, financed 10,000 t; verified → score 1, unverified → 2, physical → 3."""
    rows = results(
        holding("V", "business_loan", 2e7, equity_debt_fen=10**10, emissions_t=50_000.0, emissions_quality="verified"),
        holding("R", "business_loan", 2e7, equity_debt_fen=10**10, emissions_t=50_000.0, emissions_quality="reported"),
        holding("P", "business_loan", 2e7, equity_debt_fen=10**10, emissions_t=50_000.0, emissions_quality="physical"),
    )  # fmt: skip
    assert [r["financed_kg"] for r in rows] == [10_000_000] * 3
    assert [r["pcaf_score"] for r in rows] == [1, 2, 3]
    assert rows[0]["pcaf_factor"] == pytest.approx(0.2) and rows[1]["pcaf_basis"] == "reported"


def test_listed_companies_are_attributed_by_evic() -> None:
    """§5.1: 100万 of a listed company with EVIC 10亿 and 1,000,000 t: 1,000 t."""
    (row,) = results(
        holding("L", "business_loan_listed", 1e6, evic_fen=10**11, equity_debt_fen=1, emissions_t=1e6)
    )
    assert row["financed_kg"] == 1_000_000 and row["pcaf_score"] == 2


def test_revenue_based_estimate_is_score_four_with_the_sector_factor_of_its_division() -> None:
    """Option 3a (Annex Table 10.1-2): 1,000万 of a cement company (C30) with 5,000万 equity + debt
    and 8,000万 revenue: 8,000 万元 × the C30 intensity × 0.2."""
    intensity = factor("pcaf_revenue_intensity", "C30", 2020)
    (row,) = results(
        holding(
            "C", "business_loan", 1e7, equity_debt_fen=5 * 10**9, revenue_fen=8 * 10**9, industry_code="C3011"
        )
    )
    assert row["pcaf_score"] == 4 and row["pcaf_basis"] == intensity.id
    assert row["financed_kg"] == round(0.2 * 8_000 * intensity.value * 1000)


def test_an_industry_without_its_own_factor_takes_the_all_sector_average() -> None:
    fallback = factor("pcaf_revenue_intensity", "*", 2018)
    (row,) = results(
        holding(
            "F", "business_loan", 1e7, equity_debt_fen=5 * 10**9, revenue_fen=8 * 10**9, industry_code="F5191"
        )
    )
    assert row["pcaf_basis"] == fallback.id
    assert row["financed_kg"] == round(0.2 * 8_000 * fallback.value * 1000)


def test_mortgages_by_floor_area_then_by_dwelling() -> None:
    """Options 2b and 3 (Table 5-15): 120万 left on a 300万 home (factor 0.4); 100 m² × the
    residential kgCO2/m² (score 4), or without the area the average per dwelling (score 5)."""
    per_m2 = factor("pcaf_building_area", "residential", 2020)
    per_home = factor("pcaf_building_unit", "residential", 2020)
    by_area, by_home = results(
        holding("M1", "mortgage", 1.2e6, property_value_fen=3 * 10**8, floor_area_m2=100.0),
        holding("M2", "mortgage", 1.2e6, property_value_fen=3 * 10**8),
    )
    assert (by_area["pcaf_score"], by_home["pcaf_score"]) == (4, 5)
    assert by_area["financed_kg"] == round(0.4 * 100 * per_m2.value)
    assert by_home["financed_kg"] == round(0.4 * per_home.value * 1000)


def test_car_loans_by_fuel_then_the_average_car_and_whole_when_the_value_is_unknown() -> None:
    """Table 5-16 options 3a/3b; §5.6: a vehicle's value unknown → 100 % attribution."""
    petrol = factor("pcaf_vehicle", "petrol", 2019)
    average = factor("pcaf_vehicle", "unknown", 2022)
    known, unknown_fuel, unknown_value = results(
        holding("A1", "motor_vehicle_loan", 1e5, vehicle_value_fen=2 * 10**7, vehicle_fuel="petrol"),
        holding("A2", "motor_vehicle_loan", 1e5, vehicle_value_fen=2 * 10**7),
        holding("A3", "motor_vehicle_loan", 1e5, vehicle_fuel="petrol"),
    )
    assert (known["pcaf_score"], unknown_fuel["pcaf_score"]) == (4, 5)
    assert known["financed_kg"] == round(0.5 * petrol.value * 1000)
    assert unknown_fuel["financed_kg"] == round(0.5 * average.value * 1000)
    assert unknown_value["pcaf_factor"] == 1.0 and unknown_value["financed_kg"] == round(petrol.value * 1000)


def test_a_holding_without_what_its_class_needs_is_missing_not_guessed() -> None:
    """No denominator for a business loan with reported emissions and no asset intensity shipped;
    commercial property without a shipped commercial factor: both missing, counted as such."""
    no_denominator, office = results(
        holding("N", "business_loan", 1e6, emissions_t=10.0),
        holding("O", "commercial_real_estate", 1e6, property_value_fen=10**9, floor_area_m2=5000.0, building_type="commercial"),
    )  # fmt: skip
    for row in (no_denominator, office):
        assert row["financed_kg"] is None and row["pcaf_score"] is None and row["pcaf_basis"] is None


def test_benefits_are_the_single_project_figures_attributed_to_the_balance() -> None:
    """One formula at two scales: the book path gives the project path's attributed figures."""
    project = {
        "methodology": "renewable-power", "region_code": "431230", "reporting_year": YEAR,
        "inputs": {"generation": "210000 MWh"}, "loan_balance": "48000万元", "total_investment": "70000万元",
    }  # fmt: skip
    single = assess_project(project, DEFAULT_POLICY).result
    (row,) = results(
        holding("W", "project_finance", 4.8e8, methodology="renewable-power", region_code="431230",
                reporting_year=YEAR, input_generation=210_000.0, total_investment_fen=7 * 10**10, equity_debt_fen=7 * 10**10)
    )  # fmt: skip
    assert single.attributed is not None
    assert row["co2_reduced_kg"] == round(single.attributed["co2_reduced"] * 1000)
    assert row["coal_saved_kg"] == round(single.attributed["coal_saved"] * 1000)
    assert row["benefit_share"] == pytest.approx(48 / 70)


def test_a_project_without_its_investment_gets_no_benefit_figure() -> None:
    (row,) = results(
        holding("W", "project_finance", 4.8e8, methodology="renewable-power", input_generation=210_000.0)
    )
    assert row["co2_reduced_kg"] is None and row["benefit_share"] is None


@pytest.mark.parametrize(
    ("row", "column"),
    [
        (holding("X1", "sovereign_bond", 1e6), "asset_class"),
        (holding("X2", "mortgage", -1.0), "balance_fen"),
        (holding("X3", "mortgage", 1e6, methodology="perpetual-motion"), "methodology"),
    ],
)
def test_bad_holdings_are_named_with_their_column(row: dict[str, Any], column: str) -> None:
    with pytest.raises(PortfolioProblem) as problem:
        results(holding("OK", "mortgage", 1e6), row)
    assert problem.value.loan_id == row["loan_id"] and problem.value.column == column


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 10**13), st.one_of(st.none(), st.integers(1, 10**14)),
            st.one_of(st.none(), st.floats(0, 1e12)), st.sampled_from(["business_loan", "mortgage", "motor_vehicle_loan"]),
        ),
        min_size=1, max_size=40,
    )
)  # fmt: skip
def test_results_do_not_depend_on_how_the_book_is_cut_into_batches(rows: list[tuple[Any, ...]]) -> None:
    """Elementwise: any batch size (any engine's partitioning) gives each holding the same figures."""
    holdings = [
        {"loan_id": f"H{i}", "asset_class": cls, "balance_fen": balance, "equity_debt_fen": denominator,
         "property_value_fen": denominator, "vehicle_value_fen": denominator, "emissions_t": emissions,
         "floor_area_m2": 80.0}
        for i, (balance, denominator, emissions, cls) in enumerate(rows)
    ]  # fmt: skip
    whole = compute(book(*holdings), Settings(YEAR), NO_LABELS).to_pylist()
    pieces = [r for h in holdings for r in compute(book(h), Settings(YEAR), NO_LABELS).to_pylist()]
    assert whole == pieces
    for result in whole:
        if result["financed_kg"] is not None:
            assert result["financed_kg"] >= 0 and 1 <= result["pcaf_score"] <= 5


def test_labels_are_found_by_purpose_industry_and_era() -> None:
    subjects = pa.table(
        {
            "purpose": ["通道风电场项目贷款", "流动资金周转"],
            "industry_code": ["D4415", ""],
            "era": ["gbc-2021", "gbc-2021"],
        }
    )
    labels = LabelIndex(label_subjects(subjects))
    rows = results(
        holding("G", "project_finance", 1e6, purpose="通道风电场项目贷款", industry_code="D4415", approval_date=dt.date(2024, 5, 1)),
        holding("B", "business_loan", 1e6, purpose="流动资金周转", approval_date=dt.date(2023, 1, 1)),
        holding("U", "business_loan", 1e6, purpose="通道风电场项目贷款", industry_code="D4415"),  # undated: not labelled above
        labels=labels,
    )  # fmt: skip
    assert rows[0]["status"] == "green" and rows[0]["item_code"] and rows[0]["cerf_area"]
    assert rows[1]["status"] == "not_green"
    assert rows[2]["status"] is None


@pytest.fixture(scope="module")
def small_book(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate.write(tmp_path_factory.mktemp("book") / "book.parquet", 30_000, seed=7)


def test_the_plan_on_duckdb_writes_holdings_aggregates_and_a_summary_that_agree(
    small_book: Path, tmp_path: Path
) -> None:
    outcome = plan.run(DuckDBEngine(), small_book, tmp_path / "out", Settings(YEAR))
    holdings = pq.read_table(tmp_path / "out" / "holdings")
    aggregates = pq.read_table(tmp_path / "out" / "aggregates.parquet")
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert holdings.num_rows == outcome.holdings == summary["holdings"] == 30_000
    assert len(set(holdings.column("loan_id").to_pylist())) == 30_000
    for measure in ("balance_fen", "financed_kg", "co2_reduced_kg"):
        column = holdings.column(measure).to_numpy(zero_copy_only=False)
        assert int(np.nansum(column.astype(np.float64))) == pytest.approx(summary[measure], rel=1e-12)
        assert sum(int(v) for v in holdings.column(measure).to_pylist() if v is not None) == summary[measure]
        assert (
            sum(int(v) for v in aggregates.column(measure).to_pylist() if v is not None) == summary[measure]
        )
    statuses = set(holdings.column("status").to_pylist())
    assert {"green", "not_green"} <= statuses and summary["financed_kg"] > 0 and summary["co2_reduced_kg"] > 0
    assert 1 <= summary["weighted_score"] <= 5 and 0 < summary["coverage"] <= 1
    assert outcome.subjects < 30_000  # texts that repeat are labelled once


def test_a_csv_book_gives_the_same_results_as_its_parquet(small_book: Path, tmp_path: Path) -> None:
    table = pq.read_table(small_book).slice(0, 3_000)
    pq.write_table(table, tmp_path / "part.parquet")
    pacsv.write_csv(table, tmp_path / "part.csv")
    from_parquet = plan.run(DuckDBEngine(), tmp_path / "part.parquet", tmp_path / "a", Settings(YEAR))
    from_csv = plan.run(DuckDBEngine(), tmp_path / "part.csv", tmp_path / "b", Settings(YEAR))
    assert from_csv.aggregates == from_parquet.aggregates


def test_bad_input_is_located_and_leaves_the_previous_results(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "summary.json").write_text("previous")
    path = tmp_path / "book.csv"
    path.write_text(
        "loan_id,asset_class,balance_fen,approval_date\nL1,mortgage,100,2024-01-01\nL2,mortgage,12x,2024-01-01\n",
        encoding="utf-8",
    )
    with pytest.raises(plan.InputProblem, match=r"L2.*balance_fen.*12x"):
        plan.run(DuckDBEngine(), path, out, Settings(YEAR))
    path.write_text("loan_id,balance_fen\nL1,100\n", encoding="utf-8")
    with pytest.raises(plan.InputProblem, match="asset_class"):
        plan.run(DuckDBEngine(), path, out, Settings(YEAR))
    path.write_text("loan_id,asset_class,balance_fen\nL1,mortgage,100\nL2,spaceship,5\n", encoding="utf-8")
    with pytest.raises(PortfolioProblem, match="L2"):
        plan.run(DuckDBEngine(), path, out, Settings(YEAR))
    assert (out / "summary.json").read_text() == "previous" and not (out / "holdings").exists()


UNITS = {"t CO2": 1.0, "Mt CO2": 1e6, "kt CO2": 1e3}


def test_the_os_climate_sample_companies_as_a_book(tmp_path: Path) -> None:
    """The ITR sample portfolio run as listed-equity holdings: investment ÷ EVIC × 2019 scope 1+2,
    summed by hand here from the CSV, equals the run's total to the kilogram (per-holding rounding).
    Eleven of its companies carry an EVIC of 1 (a placeholder): their holdings are missing, not 100 %."""
    companies = {
        row["company_id"]: row
        for row in csv.DictReader(shared_file("data", "itr_sample_companies.csv").open())
    }
    holdings, expected, placeholders = [], 0, 0
    for n, row in enumerate(csv.DictReader(shared_file("data", "itr_sample_portfolio.csv").open())):
        company = companies[row["company_id"]]
        scale = UNITS.get(company["emissions_metric"].strip())
        tonnes = float(company["2019_ghg_s1s2"]) * scale if company["2019_ghg_s1s2"] and scale else None
        evic = round(float(company["evic"]) * 100) if company["evic"] else None
        value = round(float(row["investment_value [USD]"]) * 100)
        holdings.append(
            holding(
                f"ITR{n}",
                "listed_equity",
                value / 100,
                evic_fen=evic,
                emissions_t=tonnes,
                emissions_quality="reported",
            )
        )
        if evic and tonnes is not None and value <= evic:
            expected += round(value / evic * tonnes * 1000)
        placeholders += evic == 100
    pq.write_table(pa.Table.from_batches([book(*holdings)]), tmp_path / "itr.parquet")
    outcome = plan.run(DuckDBEngine(), tmp_path / "itr.parquet", tmp_path / "out", Settings(2020))
    summary = outcome.summary()
    assert summary["holdings"] == len(holdings) and summary["financed_kg"] == expected > 0
    written = pq.read_table(tmp_path / "out" / "holdings").to_pylist()
    flagged = [r for r in written if r["pcaf_factor"] is not None and r["pcaf_factor"] > 1]
    assert len(flagged) == placeholders == 11 and all(r["financed_kg"] is None for r in flagged)


def test_a_worker_process_that_meets_a_bad_holding_stops_the_run_with_its_name(tmp_path: Path) -> None:
    """Several row groups run in worker processes; the problem comes back whole (it once hung)."""
    batch = generate.chunk(1_000, 0, seed=3)
    balance = batch.column(batch.schema.get_field_index("balance_fen")).to_numpy().copy()
    balance[650] = -1
    table = pa.Table.from_batches([batch]).set_column(
        batch.schema.get_field_index("balance_fen"), "balance_fen", pa.array(balance)
    )
    pq.write_table(table, tmp_path / "book.parquet", row_group_size=300)
    with pytest.raises(PortfolioProblem) as problem:
        plan.run(DuckDBEngine(workers=2), tmp_path / "book.parquet", tmp_path / "out", Settings(YEAR))
    assert (
        problem.value.loan_id == table.column("loan_id")[650].as_py()
        and problem.value.column == "balance_fen"
    )
    assert not (tmp_path / "out" / ".partial").exists()


@pytest.mark.parametrize(
    ("column", "value"),
    [("balance_fen", "12.5"), ("balance_fen", "0x10"), ("approval_date", "2020"), ("approval_date", "2024/01/31"),
     ("floor_area_m2", "1.5d"), ("approval_date", "2024-02-30")],
)  # fmt: skip
def test_text_that_one_engine_would_read_and_another_would_not_is_refused(
    tmp_path: Path, column: str, value: str
) -> None:
    row = {
        "loan_id": "L1",
        "asset_class": "mortgage",
        "balance_fen": "100",
        "approval_date": "2024-01-31",
        "floor_area_m2": "80",
    }
    row[column] = value
    (tmp_path / "book.csv").write_text(",".join(row) + "\n" + ",".join(row.values()) + "\n", encoding="utf-8")
    with pytest.raises(plan.InputProblem, match=column):
        plan.run(DuckDBEngine(), tmp_path / "book.csv", tmp_path / "out", Settings(YEAR))


def test_untyped_commercial_property_is_not_taken_for_a_home_and_unknown_fuel_is_the_average_car() -> None:
    office, car = results(
        holding("O", "commercial_real_estate", 1e6, property_value_fen=10**9, floor_area_m2=500.0),
        holding("C", "motor_vehicle_loan", 1e5, vehicle_value_fen=2 * 10**7, vehicle_fuel="unknown"),
    )
    assert office["financed_kg"] is None  # no commercial average is shipped: missing, not residential
    assert car["pcaf_score"] == 5 and car["pcaf_basis"] == factor("pcaf_vehicle", "unknown", 2022).id


def test_parquet_of_other_types_is_read_when_nothing_is_lost_and_refused_when_something_would_be(
    tmp_path: Path,
) -> None:
    """An int64 year and whole amounts as DECIMAL read as they are; 12.50 分 would be rounded: refused."""
    rows = pa.table(
        {
            "loan_id": ["P1", "P2"], "asset_class": ["mortgage", "mortgage"],
            "balance_fen": pa.array([Decimal("100"), Decimal("250")], pa.decimal128(18, 2)),
            "reporting_year": pa.array([2024, 2024], pa.int64()),
            "approval_date": pa.array([dt.datetime(2024, 1, 5, 9), dt.datetime(2024, 2, 1)], pa.timestamp("s")),
        }
    )  # fmt: skip
    pq.write_table(rows, tmp_path / "ok.parquet")
    outcome = plan.run(DuckDBEngine(), tmp_path / "ok.parquet", tmp_path / "a", Settings(YEAR))
    assert outcome.summary()["balance_fen"] == 350
    lossy = rows.set_column(
        2, "balance_fen", pa.array([Decimal("100"), Decimal("12.50")], pa.decimal128(18, 2))
    )
    pq.write_table(lossy, tmp_path / "lossy.parquet")
    with pytest.raises(plan.InputProblem, match=r"P2.*balance_fen.*12\.5"):
        plan.run(DuckDBEngine(), tmp_path / "lossy.parquet", tmp_path / "b", Settings(YEAR))


def test_a_folder_whose_files_disagree_on_a_column_type_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "book"
    folder.mkdir()
    base = {"loan_id": ["A"], "asset_class": ["mortgage"]}
    pq.write_table(pa.table({**base, "balance_fen": pa.array([100], pa.int64())}), folder / "a.parquet")
    pq.write_table(pa.table({**base, "balance_fen": ["12.5"]}), folder / "b.parquet")
    with pytest.raises(plan.InputProblem, match=r"balance_fen.*a\.parquet.*b\.parquet"):
        plan.run(DuckDBEngine(), folder, tmp_path / "out", Settings(YEAR))


def test_a_bad_value_seen_only_late_in_a_big_row_group_is_still_named(tmp_path: Path) -> None:
    """Text read as the row group's dictionary: a value in it need not be in every batch."""
    table = pa.Table.from_batches([generate.chunk(140_000, 0, seed=5)])
    methods = table.column("methodology").to_pylist()
    methods[-1] = "solar-typo"
    table = table.set_column(table.schema.get_field_index("methodology"), "methodology", pa.array(methods))
    pq.write_table(table, tmp_path / "book.parquet", row_group_size=140_000)
    with pytest.raises(PortfolioProblem) as problem:
        plan.run(DuckDBEngine(), tmp_path / "book.parquet", tmp_path / "out", Settings(YEAR))
    assert (
        problem.value.loan_id == table.column("loan_id")[-1].as_py() and problem.value.column == "methodology"
    )


def test_blank_text_reads_as_no_text_and_a_code_without_its_section_letter_finds_its_sector() -> None:
    blank, cement = results(
        holding("O", "commercial_real_estate", 1e6, property_value_fen=10**9, floor_area_m2=500.0, building_type=" "),
        holding("C", "business_loan", 1e7, equity_debt_fen=5 * 10**9, revenue_fen=8 * 10**9, industry_code="3011"),
    )  # fmt: skip
    assert blank["financed_kg"] is None
    assert cement["pcaf_basis"] == factor("pcaf_revenue_intensity", "C30", 2020).id


def test_under_pcaf_attribution_a_zero_equity_plus_debt_does_not_make_a_zero_benefit() -> None:
    project = holding(
        "W", "project_finance", 1e8, methodology="renewable-power", input_generation=1000.0,
        total_investment_fen=10**11, equity_debt_fen=0,
    )  # fmt: skip
    (row,) = compute(book(project), Settings(YEAR, "pcaf"), NO_LABELS).to_pylist()
    assert row["benefit_share"] == pytest.approx(0.1) and row["co2_reduced_kg"] > 0


@pytest.mark.parametrize(
    ("more", "column"),
    [
        ({"revenue_fen": -5, "equity_debt_fen": 10**9}, "revenue_fen"),
        ({"emissions_t": -50.0, "equity_debt_fen": 10**9}, "emissions_t"),
        (
            {"emissions_t": 500.0, "emissions_quality": "audited", "equity_debt_fen": 10**9},
            "emissions_quality",
        ),
    ],
)
def test_negative_figures_and_an_unknown_emissions_basis_are_refused(
    more: dict[str, Any], column: str
) -> None:
    with pytest.raises(PortfolioProblem) as problem:
        results(holding("N", "business_loan", 1e6, **more))
    assert (problem.value.loan_id, problem.value.column) == ("N", column)


def test_a_run_leaves_only_its_results_in_the_output_folder(small_book: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    plan.run(DuckDBEngine(), small_book, out, Settings(YEAR))
    plan.run(DuckDBEngine(), small_book, out, Settings(YEAR))
    assert sorted(p.name for p in out.iterdir()) == ["aggregates.parquet", "holdings", "summary.json"]
