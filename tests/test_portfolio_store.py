"""The stored book as a whole-book run (SQLite and PostgreSQL), and ``greenfin portfolio`` itself."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from greenfin.cli import app
from greenfin.demo.generator import TONGDAO_WIND, write_book
from greenfin.portfolio.duck import DuckDBEngine
from greenfin.portfolio.kernel import Settings
from greenfin.reference.factors import DEFAULT_POLICY
from greenfin.service.benefits import loan_benefits
from greenfin.service.importing import import_files
from greenfin.service.portfolio import export_book, run_stored_book
from greenfin.store.schema import loans

YEAR = 2025


@pytest.fixture
def demo_book(engine: Engine, tmp_path: Path) -> Engine:
    import_files(engine, [write_book(tmp_path / "book.csv", 400, 20261126)], actor="tester")
    return engine


def test_every_stored_loan_is_a_holding_and_the_wind_farm_keeps_its_label_and_benefits(
    demo_book: Engine, tmp_path: Path
) -> None:
    outcome = run_stored_book(demo_book, DuckDBEngine(), tmp_path / "out", Settings(YEAR))
    with demo_book.connect() as connection:
        stored = connection.execute(select(func.count()).select_from(loans)).scalar_one()
        on_projects = connection.execute(
            select(func.count()).select_from(loans).where(loans.c.project_id.is_not(None))
        ).scalar_one()
    holdings = {r["loan_id"]: r for r in pq.read_table(tmp_path / "out" / "holdings").to_pylist()}
    assert outcome.holdings == len(holdings) == stored
    assert sum(r["asset_class"] == "project_finance" for r in holdings.values()) == on_projects
    wind = holdings[TONGDAO_WIND.loan_id]
    assert wind["status"] == "green" and wind["item_code"] == "3.2.2.1" and wind["cerf_area"]
    single = loan_benefits(demo_book, TONGDAO_WIND.loan_id, DEFAULT_POLICY, YEAR)
    assert single is not None and single.result.attributed is not None
    assert wind["co2_reduced_kg"] == round(single.result.attributed["co2_reduced"] * 1000)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["holdings"] == stored and summary["co2_reduced_kg"] >= wind["co2_reduced_kg"] > 0


def test_the_export_is_the_portfolio_schema(demo_book: Engine, tmp_path: Path) -> None:
    from greenfin.portfolio.columns import INPUT_SCHEMA

    rows = export_book(demo_book, tmp_path / "book.parquet")
    table = pq.read_table(tmp_path / "book.parquet")
    assert table.schema.equals(INPUT_SCHEMA) and table.num_rows == rows == 400


def test_the_command_runs_the_stored_book_and_refuses_bad_input_with_its_place(
    demo_book: Engine, store_url: str, tmp_path: Path
) -> None:
    runner = CliRunner()
    done = runner.invoke(
        app, ["portfolio", "run", "--db", store_url, "--output", str(tmp_path / "out"), "--year", str(YEAR)]
    )
    assert done.exit_code == 0, done.output
    assert "融资排放合计" in done.output and "tCO2e" in done.output and "400 笔" in done.output
    bad = tmp_path / "bad.csv"
    bad.write_text("loan_id,asset_class,balance_fen\nA1,mortgage,1000\nA2,mortgage,ten\n", encoding="utf-8")
    refused = runner.invoke(app, ["portfolio", "run", "--input", str(bad), "--output", str(tmp_path / "out")])
    assert refused.exit_code == 1
    assert "A2" in refused.output and "balance_fen" in refused.output and "未执行" in refused.output
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["holdings"] == 400  # unchanged


def test_generate_then_run_from_the_command_line(tmp_path: Path) -> None:
    runner = CliRunner()
    made = runner.invoke(
        app, ["portfolio", "generate", "--rows", "5000", "--output", str(tmp_path / "b.parquet")]
    )
    assert made.exit_code == 0, made.output
    done = runner.invoke(
        app, ["portfolio", "run", "--input", str(tmp_path / "b.parquet"), "--output", str(tmp_path / "o")]
    )
    assert done.exit_code == 0, done.output
    assert "5,000 笔" in done.output and "个人住房贷款" in done.output


def test_a_run_from_the_store_leaves_no_copy_of_the_book_behind(demo_book: Engine, tmp_path: Path) -> None:
    run_stored_book(demo_book, DuckDBEngine(), tmp_path / "out", Settings(YEAR))
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "aggregates.parquet",
        "holdings",
        "summary.json",
    ]
