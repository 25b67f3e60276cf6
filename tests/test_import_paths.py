"""The import's two readers and two process layouts must give one and the same answer.

A CSV whose header is one line is read by the columnar reader (Arrow) and parsed in bulk by
``ingest.vectorised``; anything that reader declines is read again row by row (Python's csv
module), and an XLSX is always read row by row.  Checking runs in this process or in a forked
worker.  Whatever the route, the stored rows, their digests and the problems reported (file, row,
column, value, message) must be the same, and a refused or failed import must leave the store,
schema included, as it was.

The oracles here are never outputs of the code under test written down by hand: the scalar
parsers (``parse_cell``) for the vectorised ones, Python's ``str.strip`` for Arrow's trimming, the
row reader for the columnar reader, ``worker=False`` for ``worker=True``, the line numbers of
files built here for the rows reported, and the schema as it was for the schema after a failure.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import multiprocessing
import os
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, inspect, select, text
from sqlalchemy.exc import IntegrityError

import greenfin.ingest.worker as worker_module
import greenfin.service.importing as importing
from greenfin.demo.generator import write_book
from greenfin.ingest import vectorised
from greenfin.ingest.arrow_csv import ReaderDeclined, read_batches
from greenfin.ingest.columns import BY_NAME
from greenfin.ingest.issues import ImportRejected
from greenfin.ingest.readers import open_source
from greenfin.ingest.rows import parse_cell
from greenfin.ingest.stage import Chunk, FileDone, ImportRequest, check_files
from greenfin.model.identifiers import CREDIT_CODE_CHARSET, credit_code_check_char
from greenfin.model.problems import ValueProblem
from greenfin.model.units import lookup_unit
from greenfin.service.importing import ImportSummary, import_files
from greenfin.store.schema import borrowers, loans, projects
from tests.conftest import DATA, SNAPSHOT_TABLES, snapshot
from tests.test_import import write_xlsx

SMALL = DATA / "small_book.csv"
BOOK_TABLE_NAMES = ("borrowers", "projects", "loans")
#: Columns whose values are the time of the import: different on every run, whatever the path.
VOLATILE = {"started_at", "finished_at", "at", "hash", "prev_hash"}  # the chain hashes the time
LOAN_INDEXES = {index.name for index in loans.indexes}

PROPERTY = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


# --------------------------------------------------------------------------------------------
# Files and outcomes
# --------------------------------------------------------------------------------------------


def rows_of(path: Path = SMALL, encoding: str = "utf-8") -> list[list[str]]:
    with path.open(encoding=encoding, newline="") as handle:
        return list(csv.reader(handle))


def csv_bytes(
    rows: list[list[str]],
    *,
    encoding: str = "utf-8",
    delimiter: str = ",",
    lineterminator: str = "\r\n",
    quoting: int = csv.QUOTE_MINIMAL,
) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator=lineterminator, quoting=quoting)
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding)


def write_csv(path: Path, rows: list[list[str]], **options: Any) -> Path:
    path.write_bytes(csv_bytes(rows, **options))
    return path


def issue_tuples(rejected: ImportRejected) -> list[tuple[Any, ...]]:
    return [(i.file, i.row, i.column, i.value, i.message_en, i.message_zh) for i in rejected.issues]


def outcome(engine: Engine, paths: list[Path], **options: Any) -> tuple[str, Any]:
    """What an import did: its summary, or the problems it was refused for."""
    try:
        return "imported", import_files(engine, paths, actor="tester", **options)
    except ImportRejected as rejected:
        return "rejected", issue_tuples(rejected)


@contextmanager
def row_reader_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Force the row reader for every file (what the import falls back to when the columnar one declines)."""
    with monkeypatch.context() as patch:
        patch.setattr("greenfin.ingest.stage.columnar_readable", lambda source: False)
        yield


def stable_state(engine: Engine) -> dict[str, list[tuple[str, ...]]]:
    """Every stored row, as ``conftest.snapshot`` sees it, less the timestamps of the import."""
    result = {}
    with engine.connect() as connection:
        for table in SNAPSHOT_TABLES:
            columns = [column for column in table.c if column.name not in VOLATILE]
            rows = connection.execute(select(*columns)).all()
            result[table.name] = sorted(tuple(map(repr, row)) for row in rows)
    return result


def book_tables(engine: Engine) -> dict[str, list[tuple[str, ...]]]:
    state = snapshot(engine)
    return {name: state[name] for name in BOOK_TABLE_NAMES}


def row_hashes(engine: Engine) -> dict[str, dict[str, str]]:
    with engine.connect() as connection:
        return {
            table.name: dict(connection.execute(select(table.c[key], table.c.row_hash)).all())
            for table, key in ((borrowers, "credit_code"), (projects, "project_id"), (loans, "loan_id"))
        }


def schema_of(engine: Engine) -> Any:
    """The schema as the database itself describes it (tables, indexes, keys)."""
    if engine.dialect.name == "sqlite":
        with engine.connect() as connection:
            return sorted(
                tuple(row)
                for row in connection.exec_driver_sql("SELECT type, name, tbl_name, sql FROM sqlite_master")
            )
    inspector = inspect(engine)
    return {
        name: (
            sorted(repr(sorted(i.items())) for i in inspector.get_indexes(name)),
            sorted(repr(sorted(f.items())) for f in inspector.get_foreign_keys(name)),
            inspector.get_pk_constraint(name),
        )
        for name in sorted(inspector.get_table_names())
    }


def loan_index_names(engine: Engine) -> set[str]:
    return {index["name"] for index in inspect(engine).get_indexes("loans")}


def assert_store_sound(engine: Engine) -> None:
    """Loans indexes in place, no dangling reference, and on SQLite foreign keys enforced."""
    assert loan_index_names(engine) >= LOAN_INDEXES
    with engine.connect() as connection:
        dangling = connection.execute(
            text(
                "SELECT l.loan_id FROM loans l"
                " LEFT JOIN borrowers b ON b.credit_code = l.borrower_credit_code"
                " LEFT JOIN projects p ON p.project_id = l.project_id"
                " WHERE b.credit_code IS NULL OR (l.project_id IS NOT NULL AND p.project_id IS NULL)"
            )
        ).all()
        assert dangling == []
        if engine.dialect.name == "sqlite":
            # The pooled connection the import used: a pragma left off would show here.
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
            assert connection.exec_driver_sql("PRAGMA foreign_key_check").all() == []


def sqlite_store(path: Path) -> Engine:
    from greenfin.store.database import open_store

    return open_store(f"sqlite:///{path}")


# --------------------------------------------------------------------------------------------
# 1. Vectorised parsers against the scalar parser, cell by cell
# --------------------------------------------------------------------------------------------


def scalar(cells: list[str], parse: Callable[[str], Any]) -> list[Any] | None:
    """The oracle: every cell through the scalar parser, or None when any cell is a problem."""
    try:
        return [parse(cell) for cell in cells]
    except ValueProblem:
        return None


def arrow_shapes(cells: list[str]) -> list[pa.Array]:
    """The same texts as arrays built the ways the readers build them (plain, filtered, sliced)."""
    plain = pa.array(cells, pa.string())
    padded = pa.array(["pad", *cells, "pad"], pa.string())
    filtered = padded.filter(pa.array([False, *([True] * len(cells)), False]))
    return [plain, filtered, padded.slice(1, len(cells))]


def assert_same_as_scalar(fast: Callable[[pa.Array], list[Any] | None], cells: list[str], parse: Any) -> None:
    expected = scalar(cells, parse)
    for array in arrow_shapes(cells):
        got = fast(array)
        assert got == expected, (cells, array.offset)
        if expected is not None:
            assert got is not None
            assert [type(v) for v in got] == [type(v) for v in expected]


FULLWIDTH = str.maketrans("0123456789.,-", "０１２３４５６７８９．，－")
ASCII_DIGITS = "0123456789"

plain_amounts = st.builds(
    lambda whole, fraction: whole if fraction is None else f"{whole}.{fraction}",
    st.text(ASCII_DIGITS, min_size=1, max_size=22),
    st.none() | st.text(ASCII_DIGITS, min_size=1, max_size=14),
)
likely_valid_amounts = st.builds(
    lambda number, places: f"{number / 10**places:.{places}f}" if places else str(number),
    st.integers(0, 10**12),
    st.integers(0, 2),
)
grouped_amounts = st.builds(
    lambda number, cents: f"{number:,}" + ("" if cents is None else f".{cents:02d}"),
    st.integers(0, 10**14),
    st.none() | st.integers(0, 99),
)
AMOUNT_SAMPLES = [
    "12345.67", "0.5", "007", "0000000000000000001", "999999999999999999", "1" * 19, "0.001",
    "1.123456789", "1,234.50", "500万元", "１２３４.５", "", " ", "\u3000", "-0", "+5", "1e3", "12.", ".5",
    "1.2.3", "1,23", "1.234,50", "abc", "两千", "\u0663", "12\n", "NaN", "inf",
]  # fmt: skip
amount_cells = st.one_of(
    plain_amounts,
    likely_valid_amounts,
    grouped_amounts,
    st.builds(
        lambda number, unit: number + unit,
        likely_valid_amounts | grouped_amounts,
        st.sampled_from(["万元", "元", " 亿元", "千元", "百万元", "万美元", "MW", "%"]),
    ),
    likely_valid_amounts.map(lambda s: s.translate(FULLWIDTH)),
    plain_amounts.map(lambda s: "-" + s),
    likely_valid_amounts.map(lambda s: f" {s}\u3000"),
    st.sampled_from(AMOUNT_SAMPLES),
    st.text(max_size=6),
)
amount_lists = st.one_of(
    st.lists(likely_valid_amounts | grouped_amounts, min_size=1, max_size=12),
    st.lists(amount_cells, min_size=1, max_size=12),
    st.lists(st.sampled_from(["1", "1.00", "001", "2,000", "2000", "３"]), min_size=1, max_size=12),
)


@pytest.mark.parametrize("unit_text", ["元", "万元", "亿元"])
@PROPERTY
@given(cells=amount_lists)
@example(cells=["12345.67", "0.5", "007", "1,234.50", "500万元", "１２３"])  # every cell parses
@example(cells=["12345.67", "-1"])  # one cell is a problem
@example(cells=["999999999999999999", "99999999999999999", "123456789012.34"])
@example(cells=["0.001", "1"])
def test_money_fen_is_the_scalar_parser(unit_text: str, cells: list[str]) -> None:
    spec, unit = BY_NAME["amount"], lookup_unit(unit_text)

    def parse(raw: str) -> Any:
        return parse_cell(raw, spec, unit)

    assert_same_as_scalar(lambda array: vectorised.money_fen(array, unit, parse), cells, parse)


def test_money_examples_take_both_branches() -> None:
    """The explicit examples above do reach both answers (a list of values, and None)."""
    spec, unit = BY_NAME["amount"], lookup_unit("万元")
    assert scalar(
        ["12345.67", "0.5", "007", "1,234.50", "500万元", "１２３"], lambda r: parse_cell(r, spec, unit)
    )
    assert scalar(["12345.67", "-1"], lambda r: parse_cell(r, spec, unit)) is None


SPACES = [chr(code) for code in range(0x110000) if chr(code).isspace()]
TEXT_SAMPLES = [
    "e\u0301", "\u00e9", "\uf900", "\u8c48", "\uf9dc", "\u1100\u1161", "\uac00", "\u212b", "A\u030a", "\u0301",
    "'=1+2", "'+1", "'-x", "'@x", "'abc", "'", "=1+2", "\x1c", "\x1f", "\x85", "x", "贷款", "\ufeff", "\u200b",
    "\x00",
]  # fmt: skip
text_pieces = st.one_of(
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=6),
    st.sampled_from(TEXT_SAMPLES),
    st.sampled_from(SPACES),
)
texts = st.lists(text_pieces, max_size=5).map("".join)


@pytest.mark.parametrize("name", ["purpose", "loan_id"])
@PROPERTY
@given(data=st.data())
@example(data=None)
def test_text_cells_is_the_scalar_parser(name: str, data: Any) -> None:
    spec = BY_NAME[name]
    max_length = spec.parse.max_length

    def parse(raw: str) -> Any:
        return parse_cell(raw, spec, None)

    if data is None:  # fixed examples: each kind of cell the brief names, alone and together
        examples = [
            ["e\u0301", "\u00e9"], ["\uf900"], [" a", "a\u3000", "\x1ca\x1c"], ["'=1+2", "'abc"],
            ["x" * max_length], ["x" * (max_length + 1)], [" " + "x" * max_length + "\u3000"], ["plain", "贷款"],
            ["", "a"], ["\u3000"],
        ]  # fmt: skip
        for cells in examples:
            assert_same_as_scalar(lambda a: vectorised.text_cells(a, max_length, parse), cells, parse)
        return
    long_texts = st.builds(
        lambda left, n, right: left + "x" * n + right,
        st.sampled_from(["", " ", "\u3000", "'"]),
        st.integers(max(1, max_length - 3), max_length + 3),
        st.sampled_from(["", " ", "\x1c", "e\u0301"]),
    )
    cells = data.draw(st.lists(texts | long_texts, min_size=1, max_size=10), label="cells")
    assert_same_as_scalar(lambda a: vectorised.text_cells(a, max_length, parse), cells, parse)


def _to_fullwidth(code: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) for c in code)


bodies = st.text(CREDIT_CODE_CHARSET, min_size=17, max_size=17)
valid_codes = bodies.map(lambda body: body + credit_code_check_char(body))
code_cells = st.one_of(
    valid_codes,
    st.builds(
        lambda code, at, char: code[:at] + char + code[at + 1 :],
        valid_codes,
        st.integers(0, 17),
        st.sampled_from(CREDIT_CODE_CHARSET + "IOSVZ-é"),
    ),
    valid_codes.map(str.lower),
    valid_codes.map(_to_fullwidth),
    valid_codes.map(lambda code: code[:-1]),
    valid_codes.map(lambda code: code + "0"),
    valid_codes.map(lambda code: f" {code[:6]} {code[6:]}\u3000"),
    valid_codes.map(lambda code: code[:16] + "é"),  # 18 bytes, 17 characters
    st.sampled_from(["", " ", "91330100799655058B", "9144030071526726XG", "91330100799655058C"]),
    st.text(max_size=20),
)


@PROPERTY
@given(
    cells=st.one_of(
        st.lists(valid_codes, min_size=1, max_size=10), st.lists(code_cells, min_size=1, max_size=10)
    )
)
@example(cells=["91330100799655058B", "9144030071526726XG"])
@example(cells=["91330100799655058b", "９１３３０１００７９９６５５０５８Ｂ"])
@example(cells=["91330100799655058B", "91330100799655058C"])
def test_credit_codes_is_the_scalar_parser(cells: list[str]) -> None:
    spec = BY_NAME["borrower_credit_code"]

    def parse(raw: str) -> Any:
        return parse_cell(raw, spec, None)

    assert_same_as_scalar(lambda array: vectorised.credit_codes(array, parse), cells, parse)


DISTINCT_SAMPLES = [
    "2024-03-05", "2024/3/5", "20240305", "2024-02-30", "正常", "关注类", "良好", "CNY", "人民币", "usd", "是",
    "否", "TRUE", "3.45", "3.45%", "37", "330106", "990106", "", " ",
]  # fmt: skip


@PROPERTY
@given(
    name=st.sampled_from(
        ["start_date", "five_tier", "currency", "bank_green_flag", "rate_pct", "region_code"]
    ),
    cells=st.lists(
        st.sampled_from(DISTINCT_SAMPLES),
        min_size=1,
        max_size=12,
    ),
)
def test_by_distinct_is_the_scalar_parser(name: str, cells: list[str]) -> None:
    spec = BY_NAME[name]

    def parse(raw: str) -> Any:
        return parse_cell(raw, spec, None)

    assert_same_as_scalar(lambda array: vectorised.by_distinct(array, parse), cells, parse)


# --------------------------------------------------------------------------------------------
# 2. Row digests: one per content, whatever the path
# --------------------------------------------------------------------------------------------


def documented_digest(row: list[Any]) -> str:
    """The digest as ``vectorised.digests`` documents it, written out independently."""

    def field(value: Any) -> str:
        if value is None:
            return "-"
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        return f"{len(text.encode())}:{text}"

    return hashlib.blake2b("\x1f".join(map(field, row)).encode(), digest_size=16).hexdigest()


safe_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=8)
typed_column = st.sampled_from(["text", "int", "bool"]).flatmap(
    lambda kind: st.lists(
        st.none() | {"text": safe_text, "int": st.integers(0, 10**17), "bool": st.booleans()}[kind],
        min_size=3,
        max_size=3,
    )
)


@PROPERTY
@given(columns=st.lists(typed_column, min_size=1, max_size=6))
def test_digests_follow_the_documented_encoding(columns: list[list[Any]]) -> None:
    rows = [list(row) for row in zip(*columns, strict=True)]
    assert vectorised.digests(columns) == [documented_digest(row) for row in rows]
    for first, second in ((0, 1), (1, 2), (0, 2)):
        if rows[first] != rows[second]:
            assert vectorised.digests(columns)[first] != vectorised.digests(columns)[second]


def test_different_content_gives_different_digests() -> None:
    text_column = vectorised.digests([[None, "", "None", "none", " "]])
    assert len(set(text_column)) == 5
    assert vectorised.digests([[1]]) != vectorised.digests([[True]])
    assert vectorised.digests([[0]]) != vectorised.digests([[False]])
    assert vectorised.digests([[None]]) != vectorised.digests([[0]])
    two = vectorised.digests([["a", "a"], [None, ""]])
    assert two[0] != two[1]
    # Field boundaries count: ("ab", "c") is not ("a", "bc").
    assert len(set(vectorised.digests([["ab", "a"], ["c", "bc"]]))) == 2


def test_unit_separator_inside_a_text_cell_does_not_collide(tmp_path: Path) -> None:
    rows = rows_of()
    rows[0].append("项目描述")
    for row in rows[1:]:
        row.append("")
    name, description = rows[0].index("项目名称"), rows[0].index("项目描述")
    rows[2][name], rows[2][description] = "屋顶\x1f光伏", "一期"
    engine = sqlite_store(tmp_path / "store.db")
    import_files(engine, [write_csv(tmp_path / "v1.csv", rows)])
    rows[2][name], rows[2][description] = "屋顶", "光伏\x1f一期"
    again = import_files(engine, [write_csv(tmp_path / "v2.csv", rows)])
    with engine.connect() as connection:
        stored = connection.execute(select(projects.c.name, projects.c.description)).one()
    assert tuple(stored) == ("屋顶", "光伏\x1f一期")
    assert again.projects.updated == 1
    assert len(set(vectorised.digests([["a\x1fb", "a"], ["c", "b\x1fc"]]))) == 2


def _typed_rows() -> list[list[Any]]:
    """The small book as a spreadsheet holds it: numbers, dates and booleans in their own types."""
    rows: list[list[Any]] = [list(r) for r in rows_of()]
    header = rows[0]
    numbers = [
        "营业收入（万元）",
        "贷款金额（万元）",
        "贷款余额（万元）",
        "装机容量（MW）",
        "年发电量（万千瓦时）",
        "项目总投资（万元）",
    ]
    for row in rows[1:]:
        for name in numbers:
            cell = row[header.index(name)]
            if cell:
                row[header.index(name)] = int(cell) if cell.isdigit() else float(cell)
        for name in ("审批日期", "发放日期", "到期日期"):
            cell = row[header.index(name)].replace("/", "-")
            if "-" not in cell:
                cell = f"{cell[:4]}-{cell[4:6]}-{cell[6:]}"
            row[header.index(name)] = dt.datetime.fromisoformat(cell)
        row[header.index("是否绿色贷款")] = row[header.index("是否绿色贷款")] == "是"
    return rows


def test_stored_digests_do_not_depend_on_the_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sources = {
        "csv, columnar": write_csv(tmp_path / "book.csv", rows_of()),
        "csv, gbk": write_csv(tmp_path / "gbk.csv", rows_of(), encoding="gbk"),
        "csv, tab": write_csv(tmp_path / "tab.csv", rows_of(), delimiter="\t"),
        "xlsx, text cells": write_xlsx(tmp_path / "book.xlsx", rows_of()),
        "xlsx, typed cells": write_xlsx(tmp_path / "typed.xlsx", _typed_rows()),
    }
    hashes = {}
    for label, path in sources.items():
        engine = sqlite_store(tmp_path / f"{path.stem}.db")
        assert outcome(engine, [path])[0] == "imported", label
        hashes[label] = row_hashes(engine)
        engine.dispose()
    engine = sqlite_store(tmp_path / "rows.db")
    with row_reader_only(monkeypatch):
        import_files(engine, [sources["csv, columnar"]])
    hashes["csv, row reader"] = row_hashes(engine)
    reference = hashes["csv, columnar"]
    assert sum(map(len, reference.values())) == 6  # 2 borrowers, 1 project, 3 loans
    for label, found in hashes.items():
        assert found == reference, label


def _records(
    request: ImportRequest,
) -> tuple[list[Any], list[Any], list[Any], list[tuple[Any, ...]], list[int]]:
    """What check_files sends to the writer, with the chunking (which differs by path) merged."""
    found: tuple[list[Any], list[Any], list[Any], list[tuple[Any, ...]], list[int]] = ([], [], [], [], [])
    for message in check_files(request):
        if isinstance(message, Chunk):
            found[0].extend(message.borrowers)
            found[1].extend(message.projects)
            found[2].extend(message.loans)
            found[3].extend((i.file, i.row, i.column, i.value, i.message_en) for i in message.issues)
        elif isinstance(message, FileDone):
            found[4].append(message.rows)
    return found


def test_check_files_gives_the_same_records_on_both_readers(tmp_path: Path) -> None:
    book = write_book(tmp_path / "book.csv", 120)
    columnar = _records(ImportRequest((book,)))
    rows = _records(ImportRequest((book,), columnar=False))
    assert columnar == rows
    assert len(columnar[2]) == 120 and columnar[4] == [120]
    # Each record ends with its digest, which is the digest of the record's own fields.
    for _line, record in columnar[2][:20]:
        assert record[-1] == documented_digest(list(record[:-1]))


def test_xlsx_and_csv_give_the_same_records(tmp_path: Path) -> None:
    csv_records = _records(ImportRequest((SMALL,)))
    xlsx = write_xlsx(tmp_path / "book.xlsx", rows_of())
    xlsx_records = _records(ImportRequest((xlsx,)))
    assert xlsx_records[:3] == csv_records[:3]


# --------------------------------------------------------------------------------------------
# 3. Arrow's trimming is Python's
# --------------------------------------------------------------------------------------------


def test_arrow_trims_exactly_what_str_strip_strips() -> None:
    chars = [chr(code) for code in range(0x110000) if not 0xD800 <= code < 0xE000]
    assert [c for c in chars if c.isspace()] == SPACES and "\u3000" in SPACES and "\x1c" in SPACES
    around = pa.array([f"{c}x{c}{c}" for c in chars], pa.string())
    trimmed = pc.utf8_trim_whitespace(around).to_pylist()
    wrong = [hex(ord(c)) for c, got in zip(chars, trimmed, strict=True) if got != f"{c}x{c}{c}".strip()]
    assert wrong == []
    alone = pc.utf8_trim_whitespace(pa.array([*SPACES, "".join(SPACES)], pa.string())).to_pylist()
    assert alone == [""] * (len(SPACES) + 1)
    # And so blank_rows skips exactly the rows the row reader skips.
    cells = ["", " ", "\u3000\x1c", "x", "\u200b", "\x85"]
    columns = [pa.array(cells, pa.string()), pa.array(["", "", "", "", "", ""], pa.string())]
    assert vectorised.blank_rows(columns).tolist() == [
        not any(c.strip() for c in row) for row in zip(cells, [""] * 6, strict=True)
    ]


# --------------------------------------------------------------------------------------------
# 4. Both readers, end to end, on a generated book and damaged copies of it
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_book(tmp_path_factory.mktemp("generated") / "book.csv", 300)


def test_generated_book_is_stored_the_same_by_both_readers(
    generated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    columnar = sqlite_store(tmp_path / "columnar.db")
    by_rows = sqlite_store(tmp_path / "rows.db")
    first = import_files(columnar, [generated], actor="tester")
    with row_reader_only(monkeypatch):
        second = import_files(by_rows, [generated], actor="tester")
    assert first == second
    assert first.rows == 300 and first.loans.inserted == 300
    assert stable_state(columnar) == stable_state(by_rows)


def test_generated_book_reimports_unchanged_through_the_other_reader(
    engine: Engine, generated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import_files(engine, [generated], actor="tester")
    before = book_tables(engine)
    with row_reader_only(monkeypatch):
        again = import_files(engine, [generated], actor="tester")
    assert (again.loans.unchanged, again.loans.updated, again.loans.inserted) == (300, 0, 0)
    assert again.borrowers.updated == again.projects.updated == 0
    assert book_tables(engine) == before


def _damages(rows: list[list[str]]) -> dict[str, tuple[list[list[str]], list[tuple[int, str | None, str]]]]:
    """Damaged copies of a book: the rows, and each (line, column, message fragment) expected."""
    header = rows[0]
    col = header.index

    def copy() -> list[list[str]]:
        return [list(row) for row in rows]

    by_code: dict[str, list[int]] = {}
    for number, row in enumerate(rows[1:], start=2):
        by_code.setdefault(row[col("统一社会信用代码")], []).append(number)
    elsewhere = {11, 58, 121, 201, 251}  # lines the other damages touch
    twice = next(
        lines
        for lines in by_code.values()
        if len(lines) >= 2 and lines[0] > 20 and not elsewhere & set(lines)
    )
    cases: dict[str, tuple[list[list[str]], list[tuple[int, str | None, str]]]] = {}

    bad = copy()
    code = bad[57][col("统一社会信用代码")]
    bad[57][col("统一社会信用代码")] = code[:17] + next(c for c in CREDIT_CODE_CHARSET if c != code[17])
    cases["wrong check character"] = (bad, [(58, "统一社会信用代码", "check character")])

    bad = copy()
    bad[120][col("贷款金额（万元）")] = "-" + bad[120][col("贷款金额（万元）")]
    cases["negative amount"] = (bad, [(121, "贷款金额（万元）", "negative")])

    bad = copy()
    start = dt.date.fromisoformat(bad[200][col("发放日期")])
    bad[200][col("到期日期")] = (start - dt.timedelta(days=1)).isoformat()
    cases["maturity before start"] = (bad, [(201, None, "maturity date")])

    bad = copy()
    bad[250][col("贷款编号")] = bad[10][col("贷款编号")]
    cases["duplicate loan id"] = (bad, [(251, "贷款编号 (loan_id)", "already appears")])

    bad = copy()
    later = twice[1] - 1
    bad[later][col("借款人名称")] += "（集团）"
    cases["borrower described two ways"] = (bad, [(twice[1], None, "described differently")])

    everything = copy()
    expected: list[tuple[int, str | None, str]] = []
    for damaged_rows, found in cases.values():
        for line, _column, _fragment in found:
            everything[line - 1] = damaged_rows[line - 1]
        expected.extend(found)
    cases["all of them at once"] = (everything, expected)
    return cases


GENERATED_DAMAGES = [
    "wrong check character",
    "negative amount",
    "maturity before start",
    "duplicate loan id",
    "borrower described two ways",
    "all of them at once",
]


@pytest.mark.parametrize("damage", GENERATED_DAMAGES)
@pytest.mark.parametrize("encoding", ["utf-8-sig", "gb18030"])
def test_damaged_generated_books_get_the_same_issues_from_both_readers(
    generated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: str, encoding: str
) -> None:
    rows, expected = _damages(rows_of(generated, "utf-8-sig"))[damage]
    path = write_csv(tmp_path / "damaged.csv", rows, encoding=encoding)
    engine = sqlite_store(tmp_path / "store.db")
    import_files(engine, [SMALL])  # a store with content, which must survive either way
    before = snapshot(engine)
    columnar = outcome(engine, [path])
    with row_reader_only(monkeypatch):
        by_rows = outcome(engine, [path])
    assert columnar[0] == "rejected"
    assert columnar == by_rows
    assert snapshot(engine) == before
    issues = columnar[1]
    for line, column, fragment in expected:
        assert any(
            i[1] == line and fragment in i[4] and (column is None or i[2] == column) for i in issues
        ), (line, fragment, issues)
    assert {i[1] for i in issues} == {line for line, _c, _f in expected}


# --------------------------------------------------------------------------------------------
# 5. Files the columnar reader declines or must number carefully
# --------------------------------------------------------------------------------------------

BAD_AMOUNT = "-5"


def _small(
    *, bad_row: int | None = None, change: Callable[[list[list[str]]], None] | None = None
) -> list[list[str]]:
    rows = rows_of()
    if bad_row is not None:
        rows[bad_row - 1][rows[0].index("贷款金额（万元）")] = BAD_AMOUNT
    if change is not None:
        change(rows)
    return rows


def _lines(text_rows: list[str]) -> bytes:
    return "".join(line + "\n" for line in text_rows).encode()


def _plain_lines(rows: list[list[str]]) -> list[str]:
    return csv_bytes(rows, lineterminator="\n").decode().splitlines()


def _insert_line(rows: list[list[str]], after: int, line: str) -> bytes:
    lines = _plain_lines(rows)
    return _lines([*lines[:after], line, *lines[after:]])


def _purpose(value: str) -> Callable[[list[list[str]]], None]:
    def change(rows: list[list[str]]) -> None:
        rows[1][rows[0].index("贷款用途")] = value

    return change


#: name -> (file content, line of the bad amount or None, whether the columnar reader must decline)
FILES: dict[str, tuple[bytes, int | None, bool | None]] = {
    "quoted line break, bad row below": (
        csv_bytes(_small(bad_row=4, change=_purpose("屋顶光伏\n一期工程")), lineterminator="\n"),
        5,
        True,
    ),
    "quoted CRLF, bad row below": (
        csv_bytes(_small(bad_row=4, change=_purpose("屋顶光伏\r\n一期工程"))),
        5,
        True,
    ),
    "two quoted line breaks, bad row below": (
        csv_bytes(_small(bad_row=4, change=_purpose("a\nb\nc")), lineterminator="\n"),
        6,
        True,
    ),
    "quoted line break, valid": (csv_bytes(_small(change=_purpose("屋顶光伏\n一期工程"))), None, True),
    "blank line in the middle": (_insert_line(_small(bad_row=3), 2, ""), 4, None),
    "blank line, valid": (_insert_line(_small(), 2, ""), None, None),
    "row of only commas": (_insert_line(_small(bad_row=4), 2, "," * 21), 5, None),
    "row of white space only": (
        _insert_line(_small(bad_row=4), 1, ",".join([" ", "\u3000", "\t", "\x1c"] * 5 + ["", ""])),
        5,
        None,
    ),
    "ragged row, optional cells missing": (
        _lines(
            [
                *_plain_lines(_small(bad_row=4))[:2],
                ",".join(rows_of()[2][:20]),
                _plain_lines(_small(bad_row=4))[3],
            ]
        ),
        4,
        True,
    ),
    "gbk": (csv_bytes(_small(bad_row=3), encoding="gbk"), 3, False),
    "gbk, valid": (csv_bytes(_small(), encoding="gbk"), None, False),
    "utf-8 with bom": (b"\xef\xbb\xbf" + csv_bytes(_small(bad_row=4)), 4, False),
    "utf-8 with bom, valid": (b"\xef\xbb\xbf" + csv_bytes(_small()), None, False),
    "tab separated": (csv_bytes(_small(bad_row=3), delimiter="\t"), 3, False),
    "tab separated, valid": (csv_bytes(_small(), delimiter="\t"), None, False),
    "crlf line ends": (csv_bytes(_small(bad_row=2), lineterminator="\r\n"), 2, False),
    "lf line ends, no final line break": (csv_bytes(_small(bad_row=4), lineterminator="\n")[:-1], 4, False),
    "cr line ends": (csv_bytes(_small(bad_row=3), lineterminator="\r"), 3, None),
}


def _row_reader_lines(path: Path) -> list[int]:
    source = open_source(path)
    try:
        return [line for line, _cells in source.rows]
    finally:
        source.close()


def _columnar_lines(path: Path) -> list[int] | None:
    """The lines the columnar reader gives, or None when it declines the file."""
    source = open_source(path)
    try:
        return [line for batch in read_batches(source) for line in batch.lines]
    except ReaderDeclined:
        return None
    finally:
        source.close()


@pytest.mark.parametrize("name", list(FILES))
def test_awkward_files_are_numbered_right_by_both_readers(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    content, bad_line, declines = FILES[name]
    path = tmp_path / "book.csv"
    path.write_bytes(content)
    columnar_lines = _columnar_lines(path)
    if declines is not None:
        assert (columnar_lines is None) == declines
    if columnar_lines is not None:
        assert columnar_lines == _row_reader_lines(path)
    engine = sqlite_store(tmp_path / "store.db")
    default = outcome(engine, [path])
    with row_reader_only(monkeypatch):
        by_rows = outcome(engine, [path])
    if bad_line is None:
        assert default[0] == by_rows[0] == "imported"
        assert default[1].loans.unchanged == 0 and by_rows[1].loans.unchanged == 3
        reference = sqlite_store(tmp_path / "reference.db")
        import_files(reference, [SMALL])
        if "line break" in name:  # the purpose differs from the small book's, on purpose
            assert book_tables(engine)["borrowers"] == book_tables(reference)["borrowers"]
        else:
            assert book_tables(engine) == book_tables(reference)
        return
    assert default == by_rows
    kind, issues = default
    assert kind == "rejected"
    assert [(i[1], i[2], i[3]) for i in issues] == [(bad_line, "贷款金额（万元）", BAD_AMOUNT)], issues


def test_ragged_row_is_located(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = _plain_lines(_small())
    path = tmp_path / "ragged.csv"
    path.write_bytes(_lines([rows[0], rows[1], ",".join(rows_of()[2][:12]), rows[3]]))
    assert _columnar_lines(path) is None
    engine = sqlite_store(tmp_path / "store.db")
    kind, issues = outcome(engine, [path])
    with row_reader_only(monkeypatch):
        assert outcome(engine, [path]) == (kind, issues)
    assert kind == "rejected"
    assert {i[1] for i in issues} == {3}
    assert {i[2] for i in issues} >= {"发放日期", "到期日期"}


def test_quoted_lone_cr_is_numbered_alike(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = _small(bad_row=4, change=_purpose("屋顶光伏\r一期工程"))
    content = csv_bytes(rows, lineterminator="\n", quoting=csv.QUOTE_ALL)  # the CR inside quotes
    assert content.count(b"\n") == 4 and '"屋顶光伏\r一期工程"'.encode() in content
    path = tmp_path / "cr.csv"
    path.write_bytes(content)
    assert rows_of(path)[1] == rows[1]  # Python's csv reads the cell back whole
    engine = sqlite_store(tmp_path / "store.db")
    default = outcome(engine, [path])
    with row_reader_only(monkeypatch):
        by_rows = outcome(engine, [path])
    assert default[0] == by_rows[0] == "rejected"
    assert default == by_rows


def test_row_with_an_extra_cell_is_handled(tmp_path: Path) -> None:
    lines = _plain_lines(_small())
    path = tmp_path / "extra.csv"
    path.write_bytes(_lines([lines[0], lines[1] + ",", *lines[2:]]))
    engine = sqlite_store(tmp_path / "store.db")
    kind, _result = outcome(engine, [path])
    assert kind in ("imported", "rejected")


def test_short_row_beside_an_ignored_column_is_located(tmp_path: Path) -> None:
    rows = [[*row, "备注内容"] for row in rows_of()]
    rows[0][-1] = "备注"
    rows[2] = rows[2][:12]
    engine = sqlite_store(tmp_path / "store.db")
    kind, issues = outcome(engine, [write_csv(tmp_path / "short.csv", rows)])
    assert kind == "rejected" and {i[1] for i in issues} == {3}


EDIT_PIECES = [
    "\n", "\r\n", '"', ",", "\t", " ", "\u3000", "\x1c", "\x85", "\xa0", "e\u0301", "\uf900", "'", "'=", "x",
    "1", "-", ".", "万元", "１", ";", "\x0b", "2024-03-05", "91330100799655058B",
]  # fmt: skip
cell_texts = st.one_of(
    st.lists(
        st.sampled_from(EDIT_PIECES),
        max_size=4,
    ).map("".join),
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\x00"), max_size=6),
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    changes=st.lists(st.tuples(st.integers(1, 3), st.integers(0, 21), cell_texts), max_size=4),
    lineterminator=st.sampled_from(["\r\n", "\n"]),
    quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]),
)
def test_any_edited_book_checks_the_same_on_both_readers(
    tmp_path: Path, changes: list[tuple[int, int, str]], lineterminator: str, quoting: int
) -> None:
    """Cells replaced by awkward text: the columnar reader declines or agrees with the row reader.

    A lone CR is left out here: it is the subject of test_quoted_lone_cr_is_numbered_alike.
    """
    assume(not any(re.search("\r(?!\n)", value) for _r, _c, value in changes))
    rows = rows_of()
    for row, column, value in changes:
        rows[row][column] = value
    path = write_csv(tmp_path / "edited.csv", rows, lineterminator=lineterminator, quoting=quoting)

    def checked(columnar: bool) -> Any:
        try:
            return _records(ImportRequest((path,), columnar=columnar))
        except ImportRejected as rejected:
            return issue_tuples(rejected)

    by_rows = checked(False)
    try:
        columnar = checked(True)
    except ReaderDeclined:
        return
    assert columnar == by_rows


# --------------------------------------------------------------------------------------------
# 6. Checking in a worker process
# --------------------------------------------------------------------------------------------


def _written(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


def _summary_fields(summary: ImportSummary) -> tuple[Any, ...]:
    return (
        summary.files,
        summary.rows,
        summary.loans,
        summary.borrowers,
        summary.projects,
        summary.ignored_columns,
    )


@pytest.mark.parametrize(
    "make",
    [
        lambda tmp: SMALL,
        lambda tmp: write_csv(tmp / "gbk.csv", rows_of(), encoding="gbk"),
        lambda tmp: write_xlsx(tmp / "book.xlsx", rows_of()),
        lambda tmp: _written(tmp / "nl.csv", FILES["quoted line break, valid"][0]),
    ],
    ids=["csv", "gbk", "xlsx", "declined-by-columnar"],
)
def test_worker_imports_like_the_single_process(tmp_path: Path, make: Callable[[Path], Path]) -> None:
    path = make(tmp_path)
    alone = sqlite_store(tmp_path / "alone.db")
    forked = sqlite_store(tmp_path / "forked.db")
    first = import_files(alone, [path], actor="tester", worker=False)
    second = import_files(forked, [path], actor="tester", worker=True)
    assert first == second
    assert stable_state(alone) == stable_state(forked)
    assert not multiprocessing.active_children()


def test_worker_on_each_backend(engine: Engine, tmp_path: Path) -> None:
    forked = import_files(engine, [SMALL], actor="tester", worker=True)
    counts = (forked.rows, forked.loans.inserted, forked.borrowers.inserted, forked.projects.inserted)
    assert counts == (3, 3, 2, 1)
    reference = sqlite_store(tmp_path / "reference.db")
    alone = import_files(reference, [SMALL], actor="tester", worker=False)
    assert _summary_fields(forked) == _summary_fields(alone)
    state = book_tables(engine)
    again = import_files(engine, [SMALL], actor="tester", worker=False)
    assert (again.loans.unchanged, again.borrowers.unchanged, again.projects.unchanged) == (3, 2, 1)
    assert book_tables(engine) == state

    bad = _small(bad_row=3)
    bad[1][bad[0].index("统一社会信用代码")] = "91330100799655058C"
    path = write_csv(tmp_path / "bad.csv", bad)
    before = snapshot(engine)
    in_worker = outcome(engine, [path], worker=True)
    assert snapshot(engine) == before
    in_process = outcome(engine, [path], worker=False)
    assert in_worker == in_process
    assert in_worker[0] == "rejected" and [i[1] for i in in_worker[1]] == [2, 3]
    assert snapshot(engine) == before
    assert not multiprocessing.active_children()


def test_worker_rejection_of_a_declined_file_matches(tmp_path: Path) -> None:
    path = tmp_path / "nl.csv"
    path.write_bytes(FILES["quoted line break, bad row below"][0])
    engine = sqlite_store(tmp_path / "store.db")
    import_files(engine, [SMALL])
    before = snapshot(engine)
    assert outcome(engine, [path], worker=True) == outcome(engine, [path], worker=False)
    assert snapshot(engine) == before


def _rejection(engine: Engine, paths: list[Path], **options: Any) -> tuple[list[tuple[Any, ...]], int]:
    with pytest.raises(ImportRejected) as info:
        import_files(engine, paths, actor="tester", **options)
    return issue_tuples(info.value), info.value.total


def test_many_problems_are_cut_and_counted_alike_on_every_path(
    generated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More problems than are reported (500): the same first ones and the same total everywhere."""
    rows = rows_of(generated, "utf-8-sig")
    amount, rate = rows[0].index("贷款金额（万元）"), rows[0].index("执行年利率（%）")
    for row in rows[1:]:
        row[amount], row[rate] = "-" + row[amount], "99"
    path = write_csv(tmp_path / "many.csv", rows)
    missing = tmp_path / "missing.csv"
    engine = sqlite_store(tmp_path / "store.db")
    in_process = _rejection(engine, [path], worker=False)
    in_worker = _rejection(engine, [path], worker=True)
    with row_reader_only(monkeypatch):
        by_rows = _rejection(engine, [path], worker=False)
    assert in_process == in_worker == by_rows
    issues, total = in_process
    assert total == 600 and len(issues) == 500
    assert [i[1] for i in issues] == sorted(i[1] for i in issues) and issues[0][1] == 2
    # A file that cannot even be opened is refused alike by both layouts.
    assert _rejection(engine, [path, missing], worker=True) == _rejection(
        engine, [path, missing], worker=False
    )
    assert snapshot(engine)["loans"] == []


def _crashing_check_files(request: ImportRequest) -> Iterator[Any]:
    """The real messages of the checking half, then a crash, as a bug in the worker would do."""
    from greenfin.ingest.stage import check_files as real

    for message in real(request):
        yield message
        if isinstance(message, Chunk):
            raise RuntimeError("the checker broke down")


def _dying_check_files(request: ImportRequest) -> Iterator[Any]:
    """The worker process dies (killed, out of memory) once the writer has had a chunk."""
    from greenfin.ingest.stage import check_files as real

    for message in real(request):
        yield message
        if isinstance(message, Chunk):
            time.sleep(0.3)  # let the queue's feeder thread hand the chunk over
            os._exit(3)


class GiveUp(Exception):
    """A caller's progress callback stopping the import."""


@pytest.mark.parametrize("failure", ["crash", "death", "progress"])
@pytest.mark.parametrize("content", ["empty store", "store with content"])
def test_failing_import_in_worker_changes_nothing(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: str, content: str
) -> None:
    if content == "store with content":
        import_files(engine, [SMALL], actor="tester")
    book = write_book(tmp_path / "book.csv", 40)
    before, schema = snapshot(engine), schema_of(engine)
    options: dict[str, Any] = {"worker": True}
    expected: tuple[type[BaseException], str | None] = (RuntimeError, None)
    if failure == "crash":
        monkeypatch.setattr(worker_module, "check_files", _crashing_check_files)
        expected = (RuntimeError, "the checker broke down")
    elif failure == "death":
        monkeypatch.setattr(worker_module, "check_files", _dying_check_files)
        expected = (RuntimeError, "exit code 3")
    else:

        def progress(done: int, total: int, rows: int) -> None:
            raise GiveUp  # the caller gives up part way

        options["progress"] = progress
        expected = (GiveUp, None)
    with pytest.raises(expected[0], match=expected[1]):
        import_files(engine, [book], actor="tester", **options)
    assert snapshot(engine) == before
    assert schema_of(engine) == schema
    assert_store_sound(engine)
    assert not multiprocessing.active_children()
    monkeypatch.undo()
    summary = import_files(engine, [book], actor="tester", worker=True)  # the store still takes the book
    assert summary.loans.inserted == 40
    assert_store_sound(engine)


# --------------------------------------------------------------------------------------------
# 7. Bulk load safety
# --------------------------------------------------------------------------------------------


def test_rejected_bulk_import_leaves_schema_and_pragmas(engine: Engine, tmp_path: Path) -> None:
    assert {"ix_loans_borrower_credit_code", "ix_loans_project_id"} == LOAN_INDEXES
    before, schema = snapshot(engine), schema_of(engine)
    assert loan_index_names(engine) >= LOAN_INDEXES
    rejected = _small(bad_row=4)
    kind, issues = outcome(engine, [write_csv(tmp_path / "bad.csv", rejected)])
    assert kind == "rejected" and [i[1] for i in issues] == [4]
    assert snapshot(engine) == before
    assert schema_of(engine) == schema
    assert_store_sound(engine)


def test_failed_bulk_import_after_writing_leaves_schema(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure after rows and the index drop were written: all of it goes."""
    before, schema = snapshot(engine), schema_of(engine)
    calls = []

    def progress(done: int, total: int, rows: int) -> None:
        calls.append(rows)
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        import_files(engine, [SMALL], actor="tester", progress=progress)
    assert calls == [3]
    assert snapshot(engine) == before
    assert schema_of(engine) == schema
    assert_store_sound(engine)


def test_successful_bulk_import_is_sound(engine: Engine, generated: Path) -> None:
    schema = schema_of(engine)
    summary = import_files(engine, [generated], actor="tester")
    assert summary.loans.inserted == 300
    assert schema_of(engine) == schema
    assert_store_sound(engine)
    with engine.connect() as connection:
        counted = connection.execute(text("SELECT count(*) FROM loans")).scalar_one()
    assert counted == 300


def test_declined_then_bulk_import_is_sound(engine: Engine, tmp_path: Path) -> None:
    """The columnar attempt (indexes dropped) is undone, the row reader's import then lands."""
    path = tmp_path / "nl.csv"
    path.write_bytes(FILES["quoted line break, valid"][0])
    schema = schema_of(engine)
    summary = import_files(engine, [path], actor="tester")
    assert summary.loans.inserted == 3 and summary.rows == 3
    assert schema_of(engine) == schema
    assert_store_sound(engine)
    with engine.connect() as connection:
        purpose = connection.execute(select(loans.c.purpose).where(loans.c.loan_id == "T-0001")).scalar_one()
    assert purpose == "屋顶光伏\n一期工程"


def test_foreign_keys_are_enforced_after_a_bulk_import(sqlite_engine: Engine) -> None:
    """With the pragma back on, the store refuses a loan of no borrower (the pooled connection)."""
    import_files(sqlite_engine, [SMALL], actor="tester")
    with sqlite_engine.connect() as connection, pytest.raises(IntegrityError, match="FOREIGN KEY"):
        connection.execute(
            loans.insert().values(
                loan_id="X-1", borrower_credit_code="NO-SUCH-BORROWER", amount_fen=1, balance_fen=1,
                currency="CNY", start_date=dt.date(2024, 1, 1), maturity_date=dt.date(2025, 1, 1),
                row_hash="0" * 32,
            )
        )  # fmt: skip
    with sqlite_engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM loans")).scalar_one() == 3


def test_dangling_reference_found_at_the_end_of_a_bulk_load_undoes_it(
    sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The once-only foreign-key check is the safety net: if it fires, nothing stays."""
    real_insert = importing._bulk_insert

    def insert_but_borrowers(connection: Any, table: Any, columns: Any, rows: Any) -> None:
        if table is not borrowers:  # the loans' borrowers go missing, as a faulty load would lose them
            real_insert(connection, table, columns, rows)

    monkeypatch.setattr(importing, "_bulk_insert", insert_but_borrowers)
    before, schema = snapshot(sqlite_engine), schema_of(sqlite_engine)
    with pytest.raises(RuntimeError, match="dangling reference"):
        import_files(sqlite_engine, [SMALL], actor="tester")
    assert snapshot(sqlite_engine) == before
    assert schema_of(sqlite_engine) == schema
    assert_store_sound(sqlite_engine)
