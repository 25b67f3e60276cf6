"""Behaviour found missing in review: lossless export round trip, ignored headers, bounds."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import Engine, update

from greenfin.demo.generator import HEADERS, generate_rows
from greenfin.ingest.issues import ImportRejected
from greenfin.model.entities import Instrument, Pledge
from greenfin.model.problems import ValueProblem
from greenfin.model.units import lookup_unit
from greenfin.model.values import parse_money_fen
from greenfin.service.export import export_loans
from greenfin.service.importing import import_files
from greenfin.service.summary import summarise
from greenfin.store.schema import loans
from tests.conftest import snapshot
from tests.test_import import SMALL, rows_of, write_csv

BOOK_TABLES = ("borrowers", "projects", "loans")


def _book(engine: Engine) -> dict[str, object]:
    return {name: rows for name, rows in snapshot(engine).items() if name in BOOK_TABLES}


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_export_of_every_column_reimports_unchanged(engine: Engine, tmp_path: Path, suffix: str) -> None:
    book = write_csv(tmp_path / "demo.csv", [list(HEADERS), *generate_rows(300)])
    import_files(engine, [book])
    before = _book(engine)
    exported = tmp_path / f"export{suffix}"
    assert export_loans(engine, exported) == 300
    again = import_files(engine, [exported])
    assert (again.loans.updated, again.borrowers.updated, again.projects.updated) == (0, 0, 0)
    assert again.loans.unchanged == 300
    assert _book(engine) == before


def test_unrecognised_headers_are_reported(sqlite_engine: Engine, tmp_path: Path) -> None:
    rows = rows_of()
    rows[0][rows[0].index("营业收入（万元）")] = "营业收人（万元）"  # a typo: 人 for 入
    summary = import_files(sqlite_engine, [write_csv(tmp_path / "typo.csv", rows)])
    assert summary.ignored_columns == {"typo.csv": ["营业收人（万元）"]}


def test_absurd_amount_is_a_located_error(sqlite_engine: Engine, tmp_path: Path) -> None:
    rows = rows_of()
    rows[1][rows[0].index("贷款金额（万元）")] = "1e20"
    with pytest.raises(ImportRejected) as info:
        import_files(sqlite_engine, [write_csv(tmp_path / "big.csv", rows)])
    assert info.value.issues[0].row == 2 and "largest amount" in info.value.issues[0].message_en
    with pytest.raises(ValueProblem, match="largest amount"):
        parse_money_fen("99999999999999999999", lookup_unit("元"))


def test_european_decimal_comma_is_refused() -> None:
    with pytest.raises(ValueProblem, match="commas may only group thousands"):
        parse_money_fen("1.234,50", lookup_unit("万元"))
    assert parse_money_fen("1,234.50", lookup_unit("元")) == 123450


def test_numeric_code_cells_are_refused(sqlite_engine: Engine, tmp_path: Path) -> None:
    rows: list[list[object]] = [list(r) for r in rows_of()[:2]]
    rows[1][rows[0].index("行业代码")] = 111  # was 0111 (稻谷种植) before Excel dropped the zero
    book = Workbook()
    for row in rows:
        book.active.append(row)
    book.save(tmp_path / "numeric.xlsx")
    with pytest.raises(ImportRejected) as info:
        import_files(sqlite_engine, [tmp_path / "numeric.xlsx"])
    assert "stored as a number" in info.value.issues[0].message_en and info.value.issues[0].row == 2


def test_foreign_currency_is_kept_out_of_cny_totals(sqlite_engine: Engine) -> None:
    import_files(sqlite_engine, [SMALL])
    with sqlite_engine.begin() as connection:
        connection.execute(update(loans).where(loans.c.loan_id == "T-0003").values(currency="USD"))
    book = summarise(sqlite_engine)
    assert (book.loans, book.foreign_currency_loans) == (2, 1)
    assert book.balance_yuan == Decimal("28005000.00")  # 800.50 万 + 2000 万


def test_pledge_quantity_is_canonical() -> None:
    pledge = Pledge(
        pledge_id="P", loan_id="L", instrument=Instrument.DISCHARGE_RIGHT, quantity="1.5", unit="万吨",
        registry_reference="R", pledged_on=dt.date(2024, 1, 1),
    )  # fmt: skip
    assert (pledge.quantity, pledge.unit) == (Decimal(15_000), "t")
    with pytest.raises(ValueError, match="not a tonnage"):
        Pledge(**{**pledge.model_dump(), "unit": "万元"})


def test_low_rates_and_large_amounts_survive_an_xlsx_round_trip(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    rows = rows_of()
    rows[1][rows[0].index("执行年利率（%）")] = "0.25"
    rows[1][rows[0].index("贷款金额（万元）")] = "12345678.91"  # 1234 亿元: beyond a float's 分
    rows[1][rows[0].index("贷款余额（万元）")] = "12345678.91"
    import_files(sqlite_engine, [write_csv(tmp_path / "edge.csv", rows)])
    before = _book(sqlite_engine)
    export_loans(sqlite_engine, tmp_path / "edge.xlsx")
    again = import_files(sqlite_engine, [tmp_path / "edge.xlsx"])
    assert again.loans.unchanged == 3 and _book(sqlite_engine) == before
