"""The benefits engine: factor library, policies, one formula at two scales, inputs and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from greenfin.benefits.assess import Place, assess, assess_columns
from greenfin.benefits.methodology import Methodology
from greenfin.benefits.projects import ProjectProblem, assess_project
from greenfin.benefits.registry import METHODOLOGIES, methodology
from greenfin.cli import app
from greenfin.reference.factors import POLICIES, FactorMissing, factor, factor_table
from greenfin.reference.regions import provinces

RENEWABLE = methodology("renewable-power")
PLACES = [Place(p.short_zh, p.grid_region or None) for p in provinces().values()] + [Place(None, None)]


def test_every_factor_has_a_source_a_confidence_and_a_unit() -> None:
    table = factor_table()
    assert len(table) > 100
    for found in table.values():
        assert found.source and found.unit and found.confidence in {"H", "M", "L"}
        assert 1990 < found.year < 2030


def test_grid_factors_are_the_announced_values() -> None:
    """DOMAIN.md §4, MEE/NBS announcements: national 2021 0.5568, 2022 0.5366, 2023 0.5306; 华中 2022 0.5395."""
    assert factor("grid_co2_average", "全国", 2021).value == 0.5568
    assert factor("grid_co2_average", "全国", 2022).value == 0.5366
    assert factor("grid_co2_average", "全国", 2023).value == 0.5306
    assert factor("grid_co2_average", "华中", 2022).value == 0.5395
    assert factor("grid_co2_average", "西南", 2023).value == 0.2472
    assert factor("grid_co2_reporting", "全国", 2023).value == 0.5703


@pytest.mark.parametrize("policy", list(POLICIES))
@pytest.mark.parametrize("year", [2010, 2020, 2023, 2024, 2026, 2030])
def test_every_methodology_resolves_its_factors_everywhere(policy: str, year: int) -> None:
    from greenfin.benefits.assess import resolve_factors

    for method in METHODOLOGIES.values():
        for place in PLACES:
            values, trail, _notes = resolve_factors(method, place, year, POLICIES[policy])
            assert set(values) == set(method.factors) == set(trail)


def test_the_policy_picks_the_scope_and_the_latest_year_before_the_report() -> None:
    hunan = Place("湖南", "华中")
    provincial, _ = POLICIES["provincial"].grid_factor(hunan.province, hunan.grid_region, 2025)
    regional, _ = POLICIES["regional"].grid_factor(hunan.province, hunan.grid_region, 2025)
    national, _ = POLICIES["national"].grid_factor(hunan.province, hunan.grid_region, 2023)
    assert (provincial.key, provincial.year, provincial.value) == ("湖南", 2022, 0.49)
    assert (regional.key, regional.year, regional.value) == ("华中", 2023, 0.5271)
    assert (national.key, national.year) == ("全国", 2022)
    # a place with no provincial or regional factor falls back, and says so
    found, note = POLICIES["provincial"].grid_factor(None, None, 2025)
    assert found.key == "全国" and "改用全国" in note


def test_the_two_conventions_differ_and_say_which_was_used() -> None:
    spec = {"methodology": "renewable-power", "inputs": {"generation": "100000 MWh"}, "reporting_year": 2024}
    grid = assess_project(spec, POLICIES["national"]).result
    coal = assess_project(spec, POLICIES["coal-equivalent"]).result
    assert grid.convention == "grid_factor" and coal.convention == "coal_equivalent"
    assert grid.indicators["coal_saved"] == coal.indicators["coal_saved"] == pytest.approx(100000 * 0.3007)
    assert grid.indicators["co2_reduced"] == pytest.approx(100000 * 0.5306)
    assert coal.indicators["co2_reduced"] == pytest.approx(100000 * 0.3007 * 2.7725)
    assert 1.4 < coal.indicators["co2_reduced"] / grid.indicators["co2_reduced"] < 1.7
    assert "co2_per_tce" not in grid.factors and "grid" not in coal.factors


def random_inputs(method: Methodology, rows: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    columns = {}
    for spec in method.inputs:
        if spec.required or rng.random() < 0.7:
            columns[spec.key] = np.round(rng.uniform(0, 1e5, rows), 3)
    return columns


def test_one_formula_gives_the_same_figures_for_10000_projects_both_ways() -> None:
    """DESIGN.md principle 1: the columnar path and the per-project path run the same formula."""
    rng = np.random.default_rng(20261126)
    per_method = 10_000 // len(METHODOLOGIES)
    for index, method in enumerate(METHODOLOGIES.values()):
        policy = list(POLICIES.values())[index % len(POLICIES)]
        inputs = random_inputs(method, per_method, rng)
        index = rng.integers(0, len(PLACES), per_method)
        places = [PLACES[i] for i in index]
        years = rng.integers(2018, 2028, per_method)
        balance = rng.uniform(0, 1e8, per_method)
        investment = rng.uniform(1e7, 2e8, per_method)
        columns = assess_columns(
            method,
            inputs,
            PLACES,
            index,
            years,
            policy,
            balance_yuan=balance,
            investment_yuan=investment,
        )
        for row in range(per_method):
            single = assess(
                method,
                {key: float(values[row]) for key, values in inputs.items()},
                places[row],
                int(years[row]),
                policy,
                balance_yuan=float(balance[row]),
                investment_yuan=float(investment[row]),
            )
            for key, value in single.indicators.items():
                assert columns[key][row] == value, (method.id, row, key)
            assert single.attributed is not None
            for key, value in single.attributed.items():
                assert columns[f"attributed_{key}"][row] == pytest.approx(value, rel=1e-15)


@settings(max_examples=60, deadline=None)
@given(
    generation=st.floats(min_value=0, max_value=1e9, allow_nan=False),
    factor_of=st.floats(min_value=1, max_value=1000),
)
def test_power_benefits_scale_with_power_supplied(generation: float, factor_of: float) -> None:
    place = Place("湖南", "华中")
    one = assess(RENEWABLE, {"generation": generation}, place, 2025, POLICIES["provincial"]).indicators
    more = assess(
        RENEWABLE, {"generation": generation * factor_of}, place, 2025, POLICIES["provincial"]
    ).indicators
    for key in one:
        assert more[key] == pytest.approx(one[key] * factor_of, rel=1e-9, abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(
    balance=st.floats(min_value=0, max_value=1e12, allow_nan=False),
    investment=st.floats(min_value=1, max_value=1e12, allow_nan=False),
)
def test_the_bank_never_claims_more_than_the_project(balance: float, investment: float) -> None:
    result = assess(
        RENEWABLE, {"generation": 1000.0}, Place(None, None), 2025, POLICIES["national"],
        balance_yuan=balance, investment_yuan=investment,
    )  # fmt: skip
    assert result.attribution is not None and 0 <= result.attribution.share <= 1
    assert result.attributed is not None
    for key, value in result.attributed.items():
        assert 0 <= value <= result.indicators[key] + 1e-9


@settings(max_examples=80, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=1e4, allow_nan=False), min_size=9, max_size=9))
def test_pollutant_removal_is_never_negative(values: list[float]) -> None:
    wastewater = methodology("wastewater")
    keys = [spec.key for spec in wastewater.inputs]
    result = assess(
        wastewater, dict(zip(keys, values, strict=True)), Place(None, None), 2025, POLICIES["national"]
    )
    assert all(value >= 0 for value in result.indicators.values())


def test_wastewater_removal_from_flow_and_concentrations() -> None:
    """10万 m³/d for 365 days, COD 250 → 40 mg/L: 3.65e7 m³ × 210 g/m³ = 7,665 t."""
    spec = {
        "methodology": "wastewater",
        "reporting_year": 2025,
        "inputs": {
            "volume": "3650万m3",
            "cod_in": "250 mg/L",
            "cod_out": "40 mg/L",
            "nh3n_in": "30 mg/L",
            "nh3n_out": "5 mg/L",
        },
    }
    result = assess_project(spec, POLICIES["national"]).result
    assert result.indicators["cod_reduced"] == pytest.approx(7665)
    assert result.indicators["nh3n_reduced"] == pytest.approx(912.5)


def test_flue_gas_concentrations_in_mg_per_cubic_metre() -> None:
    """1亿 Nm³ of flue gas, SO2 2000 → 35 mg/Nm³: 1e8 × 1965 mg = 196.5 t."""
    spec = {
        "methodology": "flue-gas",
        "reporting_year": 2025,
        "inputs": {"volume": "1亿m3", "so2_in": "2000 mg/m3", "so2_out": "35 mg/m3"},
    }
    assert assess_project(spec, POLICIES["national"]).result.indicators["so2_reduced"] == pytest.approx(196.5)


def test_a_missing_generation_is_estimated_from_capacity_and_marked() -> None:
    spec = {
        "methodology": "renewable-power",
        "technology": "wind",
        "capacity": "100 MW",
        "reporting_year": 2025,
    }
    result = assess_project(spec, POLICIES["national"]).result
    assert result.quality == "estimated"
    assert result.inputs["generation"] == pytest.approx(100 * 2225)
    assert "utilisation_hours" in result.factors and "generation" in result.estimated


def test_a_missing_input_names_what_is_needed() -> None:
    with pytest.raises(ProjectProblem, match=r"inputs\.generation"):
        assess_project({"methodology": "renewable-power", "reporting_year": 2025}, POLICIES["national"])
    with pytest.raises(ProjectProblem, match="建筑面积"):
        assess_project(
            {"methodology": "green-building", "inputs": {"baseline_kwh_per_m2": 90}}, POLICIES["national"]
        )


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"methodology": "renewable-power", "inputs": {"generation": 210000}}, "inputs.generation"),
        ({"methodology": "renewable-power", "inputs": {"generation": "210000 公斤"}}, "inputs.generation"),
        ({"methodology": "renewable-power", "inputs": {"generation": "-5 MWh"}}, "inputs.generation"),
        ({"methodology": "renewable-power", "inputs": {"power": "5 MWh"}}, "inputs.power"),
        ({"methodology": "solar-magic"}, "methodology"),
        ({"methodology": "renewable-power", "technology": "coal"}, "technology"),
        (
            {"methodology": "renewable-power", "inputs": {"generation": "1 MWh"}, "loan_balance": 500},
            "loan_balance",
        ),
        (
            {"methodology": "renewable-power", "inputs": {"generation": "1 MWh"}, "region_code": "999999"},
            "region_code",
        ),
        (
            {"methodology": "renewable-power", "inputs": {"generation": "1 MWh"}, "factors": {"grid": 0.5}},
            "factors.grid",
        ),
        ({"methodology": "renewable-power", "colour": "green"}, "colour"),
    ],
)
def test_bad_project_files_name_the_field(spec: dict[str, object], field: str) -> None:
    with pytest.raises(ProjectProblem) as caught:
        assess_project(spec, POLICIES["national"])
    assert caught.value.field == field


def test_factor_missing_is_a_lookup_error() -> None:
    with pytest.raises(FactorMissing):
        factor("grid_co2_average", "火星", 2022)


runner = CliRunner()
WIND = {
    "id": "PGF-2024-HN-0001",
    "name": "通道侗族自治县大高山风电场项目",
    "methodology": "renewable-power",
    "technology": "wind",
    "region_code": "431230",
    "reporting_year": 2025,
    "capacity": "100 MW",
    "inputs": {"generation": "21000万千瓦时"},
    "loan_balance": "48000万元",
    "total_investment": "70000万元",
}


def test_cli_assesses_a_project_file(tmp_path: Path) -> None:
    path = tmp_path / "wind.json"
    path.write_text(json.dumps(WIND, ensure_ascii=False), encoding="utf-8")
    shown = runner.invoke(app, ["benefits", str(path)])
    assert shown.exit_code == 0, shown.output
    assert "63,147.00" in shown.output and "湖南" in shown.output and "68.57%" in shown.output
    machine = runner.invoke(app, ["benefits", str(path), "--json", "--policy", "regional"])
    data = json.loads(machine.output)
    assert data["factors"]["grid"][0]["key"] == "华中"
    assert data["indicators"]["co2_reduced"] == pytest.approx(210000 * 0.5271)
    assert data["attribution"]["method"] == "regulator"


def test_cli_csv_error_names_the_row_and_field(tmp_path: Path) -> None:
    path = tmp_path / "projects.csv"
    path.write_text(
        "id,methodology,technology,region_code,reporting_year,inputs.generation\n"
        "P1,renewable-power,wind,431230,2025,1000 MWh\n"
        "P2,renewable-power,wind,431230,2025,1000\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["benefits", "--file", str(path)])
    assert result.exit_code == 1
    assert "第 3 行" in result.output and "inputs.generation" in result.output
    good = tmp_path / "good.csv"
    good.write_text(path.read_text(encoding="utf-8").replace(",1000\n", ",2000 MWh\n"), encoding="utf-8")
    data = json.loads(runner.invoke(app, ["benefits", "--file", str(good), "--json"]).output)
    assert [round(row["indicators"]["coal_saved"], 1) for row in data] == [300.7, 601.4]


def test_cli_refuses_an_unknown_policy(tmp_path: Path) -> None:
    path = tmp_path / "wind.json"
    path.write_text(json.dumps(WIND, ensure_ascii=False), encoding="utf-8")
    assert runner.invoke(app, ["benefits", str(path), "--policy", "lunar"]).exit_code == 2


def test_pcaf_attribution_uses_equity_plus_debt_both_ways() -> None:
    """PCAF Part A §5.5 project finance: outstanding ÷ (total equity + debt); the regulator: ÷ total investment."""
    spec = dict(WIND, equity_debt="60000万元")
    regulator = assess_project(spec, POLICIES["provincial"]).result
    pcaf = assess_project(spec, POLICIES["pcaf"]).result
    assert regulator.attribution is not None and pcaf.attribution is not None
    assert regulator.attribution.share == pytest.approx(48_000 / 70_000)
    assert (pcaf.attribution.method, pcaf.attribution.share) == ("pcaf", pytest.approx(48_000 / 60_000))
    columns = assess_columns(
        RENEWABLE, {"generation": np.array([210_000.0, 210_000.0])}, [Place("湖南", "华中")], np.array([0, 0]),
        np.array([2025, 2025]), POLICIES["pcaf"], balance_yuan=np.array([4.8e8, 4.8e8]),
        investment_yuan=np.array([7e8, 7e8]), equity_debt_yuan=np.array([6e8, np.nan]),
    )  # fmt: skip
    assert columns["share"].tolist() == pytest.approx([0.8, 48 / 70])


def test_a_factors_column_in_a_csv_is_a_located_error(tmp_path: Path) -> None:
    path = tmp_path / "projects.csv"
    path.write_text(
        "id,methodology,inputs.generation,factors\nP1,renewable-power,1000 MWh,0.5\n", encoding="utf-8"
    )
    result = runner.invoke(app, ["benefits", "--file", str(path)])
    assert result.exit_code == 1 and "第 2 行" in result.output and "factors" in result.output
