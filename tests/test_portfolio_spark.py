"""The whole-book plan on Spark gives DuckDB's figures, holding by holding and group by group.

The same ``plan.run`` on both engines (``portfolio.duck`` and ``portfolio.spark``), on one
generated book: every aggregate row, every holding's output and the summary must agree, integers
exactly (分, kilograms, litres) and floats to the last bit or within 1e-12.  Spark needs Java and
pyspark; where either is missing the module is skipped with the reason, unless
``GREENFIN_REQUIRE_SPARK=1`` (set by CI), which turns the skip into a failure.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv
import pyarrow.parquet as pq
import pytest

from greenfin.portfolio import generate, plan
from greenfin.portfolio.columns import OUTPUT_SCHEMA
from greenfin.portfolio.kernel import PortfolioProblem, Settings

REQUIRE_SPARK = os.environ.get("GREENFIN_REQUIRE_SPARK") == "1"
SEED = 20261126
SETTINGS = Settings(2025)


def _spark_missing() -> str | None:
    """Why Spark cannot run here (None: it can)."""
    java_home = os.environ.get("JAVA_HOME")
    if shutil.which("java") is None and not (java_home and (Path(java_home) / "bin" / "java").exists()):
        return "no Java (no java on PATH and no JAVA_HOME)"
    try:
        import pyspark  # noqa: F401
    except ImportError as error:
        return f"pyspark is not importable ({error})"
    return None


_MISSING = _spark_missing()
if _MISSING is not None:
    if REQUIRE_SPARK:
        pytest.fail(
            f"Spark tests cannot run: {_MISSING} - GREENFIN_REQUIRE_SPARK=1 makes this a failure",
            pytrace=False,
        )
    pytest.skip(f"Spark tests skipped: {_MISSING}", allow_module_level=True)

from greenfin.portfolio.duck import DuckDBEngine  # noqa: E402
from greenfin.portfolio.spark import SparkEngine, local_session  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning")


@pytest.fixture(scope="module")
def session() -> Iterator[Any]:
    """One local Spark (two cores) for the module, stopped at the end.

    Its Arrow batches are cut at 7,000 rows, so the kernel sees the book in other batches than
    DuckDB's (whole row groups): equal results show that batching does not change a figure.
    """
    spark = local_session("local[2]")
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "7000")
    yield spark
    spark.stop()


def _run_duckdb(source: Path, output: Path) -> plan.Outcome:
    engine = DuckDBEngine(threads=2)
    try:
        return plan.run(engine, source, output, SETTINGS)
    finally:
        engine.close()


def _run_spark(
    session: Any, source: Path, output: Path, progress: plan.Progress | None = None
) -> plan.Outcome:
    engine = SparkEngine(session)
    assert not engine.owns_session  # a session given is the caller's: close() leaves it running
    try:
        return plan.run(engine, source, output, SETTINGS, progress)
    finally:
        engine.close()


def _exact(row: dict[str, object]) -> dict[str, object]:
    """An aggregate row with its sums as Python ints (DuckDB and Spark type them differently:
    DECIMAL(38,0) or BIGINT); a float anywhere among the sums is a failure, not rounded away."""
    out: dict[str, object] = {}
    for key, value in row.items():
        if key in plan.GROUP_KEYS:
            out[key] = value
        elif value is None:
            out[key] = None
        else:
            assert isinstance(value, (int, Decimal)) and not isinstance(value, bool), (key, value)
            assert value == int(value), (key, value)
            out[key] = int(value)
    return out


def _assert_same_aggregates(duck: plan.Outcome, spark: plan.Outcome) -> None:
    assert len(spark.aggregates) == len(duck.aggregates) > 1
    for at, (ours, theirs) in enumerate(zip(duck.aggregates, spark.aggregates, strict=True)):
        assert _exact(ours) == _exact(theirs), f"aggregate row {at} differs"
    # the written files agree too (what a report reads)
    written = [
        [_exact(row) for row in pq.read_table(outcome.output / "aggregates.parquet").to_pylist()]
        for outcome in (duck, spark)
    ]
    assert written[0] == written[1] == [_exact(row) for row in duck.aggregates]


def _holdings(output: Path) -> pa.Table:
    table = pq.read_table(output / "holdings")
    return table.sort_by("loan_id").combine_chunks()


def _assert_same_holdings(duck_output: Path, spark_output: Path, rows: int) -> None:
    duck, spark = _holdings(duck_output), _holdings(spark_output)
    assert duck.num_rows == spark.num_rows == rows
    assert duck.column_names == spark.column_names == OUTPUT_SCHEMA.names
    assert pc.count_distinct(spark.column("loan_id")).as_py() == rows
    for field in OUTPUT_SCHEMA:
        ours, theirs = duck.column(field.name), spark.column(field.name)
        assert theirs.type == field.type, (field.name, theirs.type)  # pcaf_score stays int8 on Spark
        if pa.types.is_floating(field.type):
            assert ours.is_null().equals(theirs.is_null()), field.name
            a = ours.to_numpy(zero_copy_only=False)
            b = theirs.to_numpy(zero_copy_only=False)
            known = ~np.isnan(a)
            assert np.array_equal(np.isnan(a), np.isnan(b)), field.name
            difference = np.abs(a[known] - b[known])
            assert np.all(difference <= 1e-12 * np.abs(a[known])), (
                field.name,
                float(difference.max(initial=0)),
            )
        else:
            assert ours.equals(theirs), f"{field.name}: first difference at {_first_difference(ours, theirs)}"


def _first_difference(a: pa.ChunkedArray, b: pa.ChunkedArray) -> object:
    for at, (x, y) in enumerate(zip(a.to_pylist(), b.to_pylist(), strict=True)):
        if x != y:
            return at, x, y
    return None


def test_spark_and_duckdb_give_the_same_book(session: Any, tmp_path: Path) -> None:
    """100,000 holdings through both engines: the same aggregates, holdings and totals."""
    book = generate.write(tmp_path / "book.parquet", 100_000, seed=SEED)
    duck = _run_duckdb(book, tmp_path / "duckdb")
    seen: list[tuple[str, int, int | None]] = []
    spark = _run_spark(
        session, book, tmp_path / "spark", lambda stage, done, total: seen.append((stage, done, total))
    )

    assert duck.holdings == spark.holdings == 100_000
    assert duck.subjects == spark.subjects
    holdings_seen = [s for s in seen if s[0] == "holdings"]
    assert holdings_seen[-1] == ("holdings", 100_000, 100_000)  # the engine's exact count, at the end
    assert all(done <= 100_000 and total == 100_000 for _stage, done, total in holdings_seen)

    # (a) every group key and every exact sum, row for row
    _assert_same_aggregates(duck, spark)
    # (b) every holding, every column
    _assert_same_holdings(duck.output, spark.output, 100_000)
    # (c) the totals: equal, and not trivially so
    totals = [json.loads((outcome.output / "summary.json").read_text()) for outcome in (duck, spark)]
    assert totals[0].pop("engine") == "duckdb" and totals[1].pop("engine") == "spark"
    assert totals[0] == totals[1]
    assert totals[1]["holdings"] == 100_000
    assert totals[1]["financed_kg"] > 0 and totals[1]["co2_reduced_kg"] > 0
    assert 0 < totals[1]["coverage"] < 1
    green = sum(int(row["holdings"]) for row in spark.aggregates if row["status"] == "green")  # type: ignore[call-overload]
    assert 0 < green < 100_000
    assert {row["pcaf_score"] for row in spark.aggregates} >= {1, 2, 3, 4, 5}
    # nothing left behind but the results
    assert sorted(p.name for p in spark.output.iterdir()) == [
        "aggregates.parquet",
        "holdings",
        "summary.json",
    ]


def _csv_book(path: Path, rows: int) -> Path:
    table = pa.Table.from_batches([generate.chunk(rows, 0, SEED + 1)])
    # a purpose with quotes, a comma and a line break inside its field: read alike by both engines
    purposes = table.column("purpose").to_pylist()
    purposes[3] = '湖州"零碳"工厂屋顶光伏，\n一期 10MW, 二期待定'
    table = table.set_column(
        table.schema.get_field_index("purpose"), "purpose", pa.array(purposes, pa.string())
    )
    pv.write_csv(table, path)
    return path


def test_spark_reads_a_csv_book_as_duckdb_does(session: Any, tmp_path: Path) -> None:
    """A CSV book (every column text, typed by the plan's SQL): the same aggregates on both engines."""
    book = _csv_book(tmp_path / "book.csv", 2_000)
    duck = _run_duckdb(book, tmp_path / "duckdb")
    spark = _run_spark(session, book, tmp_path / "spark")
    assert duck.holdings == spark.holdings == 2_000
    _assert_same_aggregates(duck, spark)
    _assert_same_holdings(duck.output, spark.output, 2_000)
    quoted = pq.read_table(spark.output / "holdings", filters=[("loan_id", "=", "PF0000000003")])
    assert quoted.num_rows == 1


def _bad_csv(path: Path, change: dict[str, str], row: int = 17, rows: int = 40) -> tuple[Path, str]:
    table = pa.Table.from_batches([generate.chunk(rows, 0, SEED + 2)])
    columns = {name: table.column(name).cast(pa.string()).to_pylist() for name in table.column_names}
    for name, value in change.items():
        columns[name][row] = value
    pv.write_csv(pa.table(columns), path)
    return path, columns["loan_id"][row]


def test_spark_stops_on_an_unreadable_balance_and_keeps_the_previous_results(
    session: Any, tmp_path: Path
) -> None:
    book, loan_id = _bad_csv(tmp_path / "bad.csv", {"balance_fen": "abc"})
    output = tmp_path / "out"
    output.mkdir()
    (output / "summary.json").write_text('{"previous": true}')
    (output / "marker.txt").write_text("the last good run")
    before = {p.name: p.read_bytes() for p in output.iterdir()}

    with pytest.raises(plan.InputProblem) as problem:
        _run_spark(session, book, output)
    message = str(problem.value)
    assert loan_id in message and "balance_fen" in message and "'abc'" in message
    assert {p.name: p.read_bytes() for p in output.iterdir()} == before


def test_spark_names_the_holding_the_kernel_refuses(session: Any, tmp_path: Path) -> None:
    """A problem found in a Spark worker (a negative balance) arrives as the kernel's own error."""
    book, loan_id = _bad_csv(tmp_path / "negative.csv", {"balance_fen": "-100"}, row=5)
    output = tmp_path / "out"
    with pytest.raises(PortfolioProblem) as problem:
        _run_spark(session, book, output)
    assert problem.value.loan_id == loan_id and problem.value.column == "balance_fen"
    assert not (output / "holdings").exists()
