"""The whole-book run as one plan, carried out by whichever engine is given (DuckDB or Spark).

The plan is four steps, each either standard SQL that both engines run as written, or the
per-batch kernel (``portfolio.kernel``) that both engines call on Arrow batches:

1. **subjects** (SQL): the distinct (purpose, industry, catalogue era) of the book;
2. **labels** (Python): each subject labelled once by the identification engine;
3. **holdings** (kernel): the book streamed through the kernel in Arrow batches, on every core
   (each holding's label looked up, then attribution, financed emissions, benefits), written as
   Parquet, one row per holding;
4. **aggregates** (SQL): the holdings grouped by asset class, label, CERF area and PCAF score,
   summed exactly (DECIMAL(38,0) over integer 分, kilograms and litres), so every report's total
   is a sum of these rows and both engines give the same figures to the unit.

An engine only has to register a source, run a query and map a view's rows through the kernel
(:class:`Engine`); everything else is here, once.
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

import pyarrow as pa
import pyarrow.parquet as pq

from greenfin.portfolio.columns import INDICATOR_UNITS, INPUT_SCHEMA
from greenfin.portfolio.identify import LabelIndex, era_sql, label_subjects
from greenfin.portfolio.kernel import Settings

#: A progress callback: the stage's name, rows done, rows in all (None while unknown).
Progress = Callable[[str, int, int | None], None]

GROUP_KEYS = ("asset_class", "status", "level1_code", "cerf_area", "pcaf_score")
MEASURES = (
    "balance_fen",
    "financed_kg",
    *(f"{key}_{unit}" for key, (unit, _scale) in INDICATOR_UNITS.items()),
)


class Engine(Protocol):
    """What the plan asks of an engine."""

    name: str

    def register(self, name: str, source: Path) -> None:
        """Make a Parquet file or directory, or a CSV file (every column text), queryable as ``name``."""

    def columns(self, name: str) -> list[str]:
        """The column names of a registered source."""

    def execute(self, sql: str) -> None:
        """Run a statement (a temporary view)."""

    def query(self, sql: str) -> pa.Table:
        """Run SQL whose result is small (distinct subjects, aggregates) and return it."""

    def map_to_parquet(
        self, book: str, source: Path, settings: Settings, labels: LabelIndex, target: Path,
        total: int | None, progress: Progress | None,
    ) -> int:  # fmt: skip
        """Stream the typed view ``book`` (read from ``source``) through ``kernel.compute`` into a
        directory of Parquet files at ``target``; returns the number of holdings."""

    def close(self) -> None: ...


SQL_TYPES = {
    pa.int64(): "BIGINT",
    pa.int32(): "INT",
    pa.float64(): "DOUBLE",
    pa.date32(): "DATE",
    pa.string(): "STRING",
}


class InputProblem(ValueError):
    """The book cannot be read as written: names the holding (or row), the column and the value."""


def _raw(column: str, texts: set[str]) -> str:
    """A column as read: a text column's blank cell is null, as CSV gives it."""
    return f"NULLIF(TRIM({column}), '')" if column in texts else column


def book_view_sql(raw: str, present: set[str], texts: set[str]) -> str:
    """The book with every input column, typed; an absent column is null (columns.py)."""
    selected = []
    for field_ in INPUT_SCHEMA:
        sql_type = SQL_TYPES[field_.type]
        value = (
            f"CAST({_raw(field_.name, texts)} AS {sql_type})"
            if field_.name in present
            else f"CAST(NULL AS {sql_type})"
        )
        selected.append(f"{value} AS {field_.name}")
    return f"CREATE OR REPLACE TEMP VIEW book AS SELECT {', '.join(selected)} FROM {raw}"


#: Characters a value of each type may be written with, beyond which both engines' casts differ
#: (DuckDB reads '12.5' as a whole number 13 and '0x10' as 16, Spark reads '2020' as a date):
#: a value passes only if it is made of these and casts (dates: ISO 2024-01-31 only).
_ALLOWED = {"BIGINT": "0123456789+-", "INT": "0123456789+-", "DOUBLE": "0123456789+-.eE"}
_WHOLE = ("BIGINT", "INT")


def _unreadable(value: str, sql_type: str, text: bool) -> str:
    """SQL that is true where a non-null ``value`` does not read as ``sql_type`` on either engine:
    text must have the type's shape and cast; a number of another type must cast without losing
    anything (12.5 is not a whole number of 分)."""
    cast = f"TRY_CAST({value} AS {sql_type})"
    if text:
        if sql_type == "DATE":
            shape = f"(LENGTH({value}) <> 10 OR TRANSLATE({value}, '0123456789', '') <> '--')"
        else:
            shape = f"TRANSLATE({value}, '{_ALLOWED[sql_type]}', '') <> ''"
        return f"({value} IS NOT NULL AND ({shape} OR {cast} IS NULL))"
    if sql_type in _WHOLE:
        return (
            f"({value} IS NOT NULL AND ({cast} IS NULL OR CAST({cast} AS DOUBLE) <> CAST({value} AS DOUBLE)))"
        )
    return f"({value} IS NOT NULL AND {cast} IS NULL)"


def parquet_files(source: Path) -> list[Path]:
    """The Parquet files of a book: the file itself, or those of its folder."""
    return sorted(source.glob("*.parquet")) if source.is_dir() else [source]


def parquet_types(source: Path, present: set[str]) -> dict[str, pa.DataType]:
    """The types a Parquet book's columns are written with; every file must agree."""
    files = parquet_files(source)
    if not files:
        raise InputProblem(f"{source} 中没有 Parquet 文件")
    types: dict[str, tuple[pa.DataType, str]] = {}
    for path in files:
        for field_ in pq.read_schema(path):
            if field_.name not in present:
                continue
            seen = types.setdefault(field_.name, (field_.type, path.name))
            if seen[0] != field_.type:
                raise InputProblem(
                    f"{field_.name} 列在 {seen[1]} 中为 {seen[0]}，在 {path.name} 中为 {field_.type}："
                    "同一份台账的文件应有相同的列类型"
                )
    return {name: type_ for name, (type_, _file) in types.items()}


def bad_counts_sql(raw: str, fields: list[pa.Field], texts: set[str]) -> str:
    """One pass over the book: how many values of each checked column do not read as its type."""
    counts = ", ".join(
        f"SUM(CASE WHEN {_unreadable(_raw(f.name, texts), SQL_TYPES[f.type], f.name in texts)} THEN 1 ELSE 0 END)"
        f" AS {f.name}"
        for f in fields
    )
    return f"SELECT {counts} FROM {raw}"


def first_bad_sql(raw: str, field_: pa.Field, texts: set[str]) -> str:
    """The bad value of a column with the lowest loan id (the same one on every engine)."""
    value = _raw(field_.name, texts)
    bad = _unreadable(value, SQL_TYPES[field_.type], field_.name in texts)
    return (
        f"SELECT CAST({_raw('loan_id', texts)} AS STRING) AS loan_id, CAST({value} AS STRING) AS value "
        f"FROM {raw} WHERE {bad} ORDER BY 1 LIMIT 1"
    )


def prepare(engine: Engine, source: Path) -> None:
    """Register the source and make the typed ``book`` view; unreadable input stops here, located.

    Every value of a CSV is text and is checked; in Parquet, a column written with the schema's
    own type is read as it is, a text column is checked as CSV's, and a number of another type
    must convert without loss."""
    if not source.exists():
        raise InputProblem(f"找不到输入文件：{source}")
    engine.register("raw", source)
    present = set(engine.columns("raw")) & {f.name for f in INPUT_SCHEMA}
    missing = [f.name for f in INPUT_SCHEMA if not f.nullable and f.name not in present]
    if missing:
        raise InputProblem(f"{source.name} 缺少必需列：{'、'.join(missing)}（列说明见 docs/portfolio.md）")
    if source.suffix.lower() == ".csv":
        texts = set(present)
        fields = [f for f in INPUT_SCHEMA if f.name in present and f.type != pa.string()]
    else:
        given = parquet_types(source, present)
        texts = {
            name
            for name, type_ in given.items()
            if pa.types.is_string(type_) or pa.types.is_large_string(type_)
        }
        fields = [
            f for f in INPUT_SCHEMA if f.name in given and f.type != pa.string() and given[f.name] != f.type
        ]
    if fields:
        counts = engine.query(bad_counts_sql("raw", fields, texts)).to_pylist()[0]
        bad = [f for f in fields if counts[f.name]]
        if bad:
            first = engine.query(first_bad_sql("raw", bad[0], texts)).to_pylist()[0]
            others = "".join(f"；{f.name} 列 {counts[f.name]:,} 个" for f in bad[1:])
            raise InputProblem(
                f"贷款 {first['loan_id']} 的 {bad[0].name} 列：无法读作 {SQL_TYPES[bad[0].type]}：{first['value']!r}"
                f"（该列共 {counts[bad[0].name]:,} 个无法读取的值{others}）"
            )
    engine.execute(book_view_sql("raw", present, texts))


def subjects_sql(book: str) -> str:
    return (
        f"SELECT DISTINCT COALESCE(purpose, '') AS purpose, COALESCE(industry_code, '') AS industry_code, "
        f"{era_sql()} AS era FROM {book} WHERE purpose IS NOT NULL AND purpose <> ''"
    )


def aggregate_sql(holdings: str) -> str:
    """Sums per group, exact: integers cast to DECIMAL(38,0) before summing (no overflow, no float)."""
    keys = ", ".join(
        f"COALESCE(CAST({k} AS INT), 0) AS {k}" if k == "pcaf_score" else f"COALESCE({k}, '') AS {k}"
        for k in GROUP_KEYS
    )
    covered = "CASE WHEN financed_kg IS NOT NULL THEN balance_fen ELSE 0 END"
    inner = (
        f"SELECT {keys}, {', '.join(MEASURES)}, {covered} AS covered_fen, "
        f"CAST(COALESCE(pcaf_score, 0) AS BIGINT) * ({covered}) AS score_weighted_fen, "
        f"CASE WHEN benefit_share IS NOT NULL THEN 1 ELSE 0 END AS assessed FROM {holdings}"
    )
    sums = ", ".join(
        f"SUM(CAST({m} AS DECIMAL(38,0))) AS {m}" for m in (*MEASURES, "covered_fen", "score_weighted_fen")
    )
    group = ", ".join(GROUP_KEYS)
    return f"SELECT {group}, COUNT(*) AS holdings, {sums}, SUM(assessed) AS assessed FROM ({inner}) h GROUP BY {group}"


@dataclass
class Outcome:
    """What a run wrote and how long each stage took."""

    engine: str
    holdings: int
    subjects: int
    output: Path
    aggregates: list[dict[str, object]]
    seconds: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict[str, object]:
        """Totals over the aggregates (integers: 分, kilograms, litres)."""
        totals: dict[str, int] = {}
        for row in self.aggregates:
            for key in (*MEASURES, "holdings", "covered_fen", "score_weighted_fen", "assessed"):
                totals[key] = totals.get(key, 0) + int(row[key] or 0)  # type: ignore[call-overload]
        covered = totals.get("covered_fen", 0)
        return {
            **totals,
            "weighted_score": round(totals["score_weighted_fen"] / covered, 4) if covered else None,
            "coverage": round(covered / totals["balance_fen"], 6) if totals.get("balance_fen") else None,
        }


def _count_rows(source: Path) -> int | None:
    if source.is_dir() or source.suffix.lower() == ".parquet":
        return int(sum(pq.ParquetFile(f).metadata.num_rows for f in parquet_files(source)))
    return None


def run(
    engine: Engine, source: Path, output: Path, settings: Settings, progress: Progress | None = None
) -> Outcome:
    """The whole plan on ``engine``; ``output`` gets ``holdings/`` (Parquet parts, one row per
    holding), ``aggregates.parquet`` and ``summary.json``.

    The results are written beside the target and moved into place at the end, so a run that
    stops on bad input leaves the previous results as they were.  ``progress`` hears of each
    stage as it starts (rows done 0) and of its rows as they are done.
    """
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    total = _count_rows(source) if source.exists() else None
    if progress:
        progress("subjects", 0, total)
    prepare(engine, source)
    subjects = engine.query(subjects_sql("book"))
    seconds["subjects"] = time.perf_counter() - started
    if progress:
        progress("subjects", total or 0, total)

    started = time.perf_counter()
    if progress:
        progress("identification", 0, subjects.num_rows)
    labels = LabelIndex(label_subjects(subjects))
    if progress:
        progress("identification", subjects.num_rows, subjects.num_rows)
    seconds["identification"] = time.perf_counter() - started

    output.mkdir(parents=True, exist_ok=True)
    staging = output / f".partial-{uuid.uuid4().hex[:12]}"  # this run's own: two runs never share one
    staging.mkdir()
    try:
        outcome = _results(
            engine, source, settings, labels, subjects.num_rows, staging, total, progress, seconds
        )
        outcome.output = output
        _move_into_place(staging, output)
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # on any failure the previous results stay as they were
    return outcome


def _results(
    engine: Engine, source: Path, settings: Settings, labels: LabelIndex, subjects: int, staging: Path,
    total: int | None, progress: Progress | None, seconds: dict[str, float],
) -> Outcome:  # fmt: skip
    """Holdings, aggregates and summary, all written into ``staging``."""
    started = time.perf_counter()
    if progress:
        progress("holdings", 0, total)
    holdings = engine.map_to_parquet("book", source, settings, labels, staging / "holdings", total, progress)
    seconds["holdings"] = time.perf_counter() - started
    for part, spent in getattr(engine, "stage_seconds", {}).items():
        seconds[f"holdings: {part}"] = spent

    started = time.perf_counter()
    if progress:
        progress("aggregates", 0, None)
    engine.register("holdings", staging / "holdings")
    table = engine.query(aggregate_sql("holdings")).sort_by([(k, "ascending") for k in GROUP_KEYS])
    pq.write_table(table, staging / "aggregates.parquet")
    seconds["aggregates"] = time.perf_counter() - started
    if progress:
        progress("aggregates", table.num_rows, table.num_rows)
    outcome = Outcome(engine.name, holdings, subjects, staging, table.to_pylist(), seconds)
    summary = {"engine": engine.name, "settings": asdict(settings), "subjects": subjects, **outcome.summary()}
    (staging / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2, default=str))
    return outcome


RESULTS = ("holdings", "aggregates.parquet", "summary.json")


def _move_into_place(staging: Path, output: Path) -> None:
    """The new results in, the old ones out: each old result is renamed aside before the new one
    takes its name, and deleted only once every new result is in place."""
    aside = staging / "previous"
    aside.mkdir()
    try:
        for name in RESULTS:
            if (output / name).exists():
                (output / name).replace(aside / name)
        for name in RESULTS:
            (staging / name).replace(output / name)
    except OSError:
        for name in RESULTS:  # put the previous results back before the staging folder goes
            if (aside / name).exists():
                if (output / name).is_dir():
                    shutil.rmtree(output / name)
                (aside / name).replace(output / name)
        raise


__all__ = ["INPUT_SCHEMA", "Engine", "Outcome", "aggregate_sql", "run", "subjects_sql"]
