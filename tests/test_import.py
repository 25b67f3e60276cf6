"""Importing loan books: what lands, what is refused, and that a refusal changes nothing.

Each bad file of the corpus is made from the good small book by one damage, so that the only
reason for its rejection is the damage under test.  Every case runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import csv
import io
import os
import zipfile
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import Engine, select

from greenfin.ingest.issues import ImportRejected
from greenfin.service.export import export_loans
from greenfin.service.importing import import_files
from greenfin.store.schema import audit_log, borrowers, import_batches, loans, projects
from tests.conftest import DATA, snapshot

SMALL = DATA / "small_book.csv"


def rows_of(path: Path = SMALL) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def write_csv(path: Path, rows: list[list[str]], encoding: str = "utf-8") -> Path:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def write_xlsx(path: Path, rows: list[list[str]]) -> Path:
    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def damaged(row: int, column: str, value: str) -> list[list[str]]:
    rows = rows_of()
    rows[row - 1][rows[0].index(column)] = value
    return rows


def test_small_book_lands_whole(engine: Engine) -> None:
    summary = import_files(engine, [SMALL], actor="tester")
    assert (summary.rows, summary.loans.inserted, summary.borrowers.inserted, summary.projects.inserted) == (
        3,
        3,
        2,
        1,
    )
    with engine.connect() as connection:
        loan = connection.execute(select(loans).where(loans.c.loan_id == "T-0001")).mappings().one()
        assert loan["amount_fen"] == 1000 * 10_000 * 100  # 1000 万元
        assert loan["balance_fen"] == 800_500_000  # 800.50 万元 = 8,005,000.00 元 = 800,500,000 分
        project = connection.execute(select(projects)).mappings().one()
        assert float(project["capacity_mw"]) == 12.5
        assert float(project["annual_generation_mwh"]) == 13_750  # 1375 万千瓦时
        batch = connection.execute(select(import_batches)).mappings().one()
        assert batch["actor"] == "tester" and batch["files"][0]["sha256"]
        trail = connection.execute(select(audit_log).where(audit_log.c.action == "import")).mappings().one()
        assert trail["source_sha256"] == batch["files"][0]["sha256"] and trail["actor"] == "tester"


def test_reimport_changes_nothing(engine: Engine) -> None:
    import_files(engine, [SMALL], actor="tester")
    book_before = {k: v for k, v in snapshot(engine).items() if k in ("borrowers", "projects", "loans")}
    again = import_files(engine, [SMALL], actor="tester")
    assert (again.loans.inserted, again.loans.updated, again.loans.unchanged) == (0, 0, 3)
    book_after = {k: v for k, v in snapshot(engine).items() if k in ("borrowers", "projects", "loans")}
    assert book_after == book_before


def test_updated_row_is_recorded_as_update(engine: Engine, tmp_path: Path) -> None:
    import_files(engine, [SMALL], actor="maker")
    changed = write_csv(tmp_path / "book_v2.csv", damaged(2, "贷款余额（万元）", "700"))
    summary = import_files(engine, [changed], actor="maker")
    assert (summary.loans.updated, summary.loans.unchanged) == (1, 2)
    with engine.connect() as connection:
        balance = connection.execute(
            select(loans.c.balance_fen).where(loans.c.loan_id == "T-0001")
        ).scalar_one()
        assert balance == 700 * 10_000 * 100
        trail = connection.execute(select(audit_log).where(audit_log.c.action == "update")).mappings().one()
    assert trail["entity_id"] == "T-0001" and trail["source_file"] == "book_v2.csv"
    assert trail["detail"]["changes"]["balance_fen"] == {"old": 800_500_000, "new": 700_000_000}
    assert trail["detail"]["line"] == 2


def test_gbk_and_xlsx_books_import_the_same(engine: Engine, tmp_path: Path) -> None:
    gbk = write_csv(tmp_path / "gbk.csv", rows_of(), encoding="gbk")
    import_files(engine, [gbk])
    first = snapshot(engine)["loans"]
    xlsx = write_xlsx(tmp_path / "book.xlsx", rows_of())
    again = import_files(engine, [xlsx])
    assert again.loans.unchanged == 3 and snapshot(engine)["loans"] == first


BAD_CASES = {
    "wrong credit-code check character": (
        damaged(2, "统一社会信用代码", "91330100799655058C"),
        2,
        "统一社会信用代码",
        "check character",
    ),
    "negative amount": (damaged(3, "贷款金额（万元）", "-2000"), 3, "贷款金额（万元）", "negative"),
    "non-numeric amount": (
        damaged(3, "贷款金额（万元）", "两千"),
        3,
        "贷款金额（万元）",
        "expected a number",
    ),
    "unknown unit in a cell": (
        damaged(3, "贷款金额（万元）", "2000 万美刀"),
        3,
        "贷款金额（万元）",
        "unknown unit",
    ),
    "impossible date": (damaged(4, "发放日期", "2024-02-30"), 4, "发放日期", "not a real date"),
    "maturity before start": (damaged(2, "到期日期", "2023-03-04"), 2, None, "maturity date"),
    "balance above amount": (damaged(2, "贷款余额（万元）", "1000.01"), 2, None, "exceeds"),
    "unknown five-tier class": (damaged(4, "五级分类", "良好"), 4, "五级分类", "five-tier"),
    "region code of no province": (damaged(2, "行政区划代码", "990106"), 2, "行政区划代码", "province"),
    "empty required cell": (damaged(2, "贷款编号", ""), 2, "贷款编号", "required"),
    "duplicate loan id within the file": (
        damaged(4, "贷款编号", "T-0001"),
        4,
        "贷款编号 (loan_id)",
        "already appears",
    ),
    "one borrower described two ways": (
        damaged(4, "借款人名称", "阿里巴巴（中国）网络技术有限公司"),
        4,
        None,
        "described differently",
    ),
}


def _assert_rejected(
    engine: Engine, files: list[Path], row: int | None, column: str | None, fragment: str, **kw: str
) -> ImportRejected:
    before = snapshot(engine)
    with pytest.raises(ImportRejected) as info:
        import_files(engine, files, actor="tester", **kw)
    issue = next((i for i in info.value.issues if fragment in i.message_en), None)
    assert issue is not None, [i.message_en for i in info.value.issues]
    assert issue.row == row
    if column is not None:
        assert issue.column == column
    assert issue.message_zh and issue.message_zh != issue.message_en
    assert snapshot(engine) == before
    return info.value


@pytest.mark.parametrize("case", list(BAD_CASES))
def test_bad_rows_are_located_and_change_nothing(engine: Engine, tmp_path: Path, case: str) -> None:
    import_files(engine, [SMALL], actor="tester")  # a store with content, which must survive
    rows, row, column, fragment = BAD_CASES[case]
    bad = write_csv(tmp_path / "bad.csv", rows)
    _assert_rejected(engine, [bad], row, column, fragment)


def test_all_problems_of_a_file_are_reported_at_once(sqlite_engine: Engine, tmp_path: Path) -> None:
    rows = damaged(2, "统一社会信用代码", "91330100799655058C")
    rows[2][rows[0].index("发放日期")] = "2024-13-01"
    bad = write_csv(tmp_path / "two.csv", rows)
    rejected = _assert_rejected(sqlite_engine, [bad], 2, "统一社会信用代码", "check character")
    assert {i.row for i in rejected.issues} == {2, 3}


def test_missing_required_column(engine: Engine, tmp_path: Path) -> None:
    rows = [r[:2] + r[3:] for r in rows_of()]  # drop 统一社会信用代码
    _assert_rejected(engine, [write_csv(tmp_path / "m.csv", rows)], 1, "统一社会信用代码", "required column")


def test_unknown_unit_in_header(engine: Engine, tmp_path: Path) -> None:
    rows = rows_of()
    rows[0][rows[0].index("贷款金额（万元）")] = "贷款金额（万美刀）"
    _assert_rejected(engine, [write_csv(tmp_path / "u.csv", rows)], 1, "贷款金额（万美刀）", "unknown unit")


def test_amount_without_any_unit(engine: Engine, tmp_path: Path) -> None:
    rows = rows_of()
    rows[0][rows[0].index("贷款金额（万元）")] = "贷款金额"
    _assert_rejected(engine, [write_csv(tmp_path / "n.csv", rows)], 2, "贷款金额", "no unit")


def test_duplicate_loan_id_across_files(engine: Engine, tmp_path: Path) -> None:
    second = [*rows_of()[:1], rows_of()[2]]  # T-0002 again
    other = write_csv(tmp_path / "second.csv", second)
    rejected = _assert_rejected(engine, [SMALL, other], 2, "贷款编号 (loan_id)", "already appears")
    assert "small_book.csv row 3" in rejected.issues[0].message_en


def test_loan_moving_to_another_borrower_is_refused(engine: Engine, tmp_path: Path) -> None:
    import_files(engine, [SMALL])
    rows = rows_of()[:2]
    rows[1][rows[0].index("统一社会信用代码")] = "9144030071526726XG"
    rows[1][rows[0].index("借款人名称")] = "腾讯科技（深圳）有限公司"
    rows[1][rows[0].index("行政区划代码")] = "440305"
    rows[1][rows[0].index("营业收入（万元）")] = "800000"
    _assert_rejected(engine, [write_csv(tmp_path / "move.csv", rows)], 2, None, "already held")


def test_truncated_xlsx(engine: Engine, tmp_path: Path) -> None:
    whole = write_xlsx(tmp_path / "whole.xlsx", rows_of()).read_bytes()
    cut = tmp_path / "cut.xlsx"
    cut.write_bytes(whole[: len(whole) // 2])
    _assert_rejected(engine, [cut], None, None, "damaged or truncated")


def test_gbk_file_declared_as_utf8(engine: Engine, tmp_path: Path) -> None:
    gbk = write_csv(tmp_path / "gbk.csv", rows_of(), encoding="gbk")
    rejected = _assert_rejected(engine, [gbk], 1, None, "not valid utf-8", encoding="utf-8")
    assert "GBK" in rejected.issues[0].message_en


def test_empty_file(engine: Engine, tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    _assert_rejected(engine, [empty], None, None, "empty")


def test_header_only_file(engine: Engine, tmp_path: Path) -> None:
    _assert_rejected(engine, [write_csv(tmp_path / "h.csv", rows_of()[:1])], None, None, "no rows")


def test_large_binary_junk_is_refused_at_once(sqlite_engine: Engine, tmp_path: Path) -> None:
    junk = tmp_path / "junk.csv"
    with junk.open("wb") as handle:
        for _ in range(32):
            handle.write(os.urandom(1 << 20))  # 32 MiB
    _assert_rejected(sqlite_engine, [junk], None, None, "binary")


def test_exports_never_carry_formulas_and_reimport_unchanged(engine: Engine, tmp_path: Path) -> None:
    import_files(engine, [SMALL])
    for name in ("export.xlsx", "export.csv"):
        path = tmp_path / name
        assert export_loans(engine, path) == 3
        if name.endswith(".xlsx"):
            sheet = load_workbook(path).active
            cells = [c for row in sheet.iter_rows() for c in row]
            assert not [c for c in cells if c.data_type == "f"]
            purposes = [c.value for c in cells if isinstance(c.value, str) and "HYPERLINK" in c.value]
        else:
            purposes = [
                v for row in csv.reader(path.open(encoding="utf-8-sig")) for v in row if "HYPERLINK" in v
            ]
        assert purposes == ['\'=HYPERLINK("http://x")']
        again = import_files(engine, [path])
        assert again.loans.unchanged == 3 and again.loans.updated == 0
    with engine.connect() as connection:
        stored = connection.execute(select(loans.c.purpose).where(loans.c.loan_id == "T-0003")).scalar_one()
    assert stored == '=HYPERLINK("http://x")'  # kept as the text it was, never evaluated


def test_xlsx_cells_of_native_types(engine: Engine, tmp_path: Path) -> None:
    import datetime as dt

    rows: list[list[object]] = [list(r) for r in rows_of()[:2]]
    header = rows[0]
    rows[1][header.index("发放日期")] = dt.datetime(2024, 3, 5)
    rows[1][header.index("到期日期")] = dt.date(2025, 3, 4)
    rows[1][header.index("贷款金额（万元）")] = 1000
    rows[1][header.index("贷款余额（万元）")] = 800.5
    book = Workbook()
    for row in rows:
        book.active.append(row)
    book.save(tmp_path / "typed.xlsx")
    import_files(engine, [tmp_path / "typed.xlsx"])
    with engine.connect() as connection:
        loan = connection.execute(select(loans)).mappings().one()
    assert loan["balance_fen"] == 800_500_000 and str(loan["start_date"]) == "2024-03-05"


def test_zip_that_is_not_a_workbook(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "notbook.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("hello.txt", "not a workbook")
    _assert_rejected(engine, [path], None, None, "damaged or truncated")


def test_borrowers_table_holds_derived_region_fields(engine: Engine) -> None:
    import_files(engine, [SMALL])
    with engine.connect() as connection:
        rows = dict(connection.execute(select(borrowers.c.credit_code, borrowers.c.grid_region)).all())
    assert rows == {"91330100799655058B": "华东", "9144030071526726XG": "南方"}
