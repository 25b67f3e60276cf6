"""The plan on DuckDB, embedded: the default engine, for one machine.

DuckDB reads the book (Parquet, or CSV which it types and rewrites as Parquet once), finds the
distinct subjects and groups the results, on all cores.  The kernel stage reads the typed
Parquet with Arrow and runs on every core as worker processes, one row group at a time, each
writing its own part file, as Spark's tasks do: Python's lock would otherwise hold the kernel
to one core, and DuckDB's own Arrow export of wide rows was measured at three times Arrow's
Parquet read (docs/portfolio.md §5).  Memory stays bounded by a row group per worker, plus the labels, which grow with the
number of distinct subjects (not with the number of holdings).
"""

from __future__ import annotations

import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from greenfin.portfolio.columns import INPUT_SCHEMA, OUTPUT_SCHEMA
from greenfin.portfolio.identify import LabelIndex
from greenfin.portfolio.kernel import Settings, compute
from greenfin.portfolio.plan import Progress, parquet_files, parquet_types

BATCH_ROWS = 131_072
LOW_CARDINALITY = ["asset_class", "status", "item_code", "level1_code", "cerf_area", "pcaf_basis"]
_JOB: dict[str, object] = {}  # the settings and labels of the running stage, inherited by forked workers


class DuckDBEngine:
    name = "duckdb"

    def __init__(
        self, threads: int | None = None, memory_limit: str = "2GB", workers: int | None = None
    ) -> None:
        self.threads = threads or os.cpu_count() or 1
        self.connection = duckdb.connect(config={"threads": self.threads, "memory_limit": memory_limit})
        self.workers = workers or self.threads

    def register(self, name: str, source: Path) -> None:
        if source.suffix.lower() == ".csv":
            relation = f"read_csv('{_quoted(source)}', header = true, all_varchar = true)"
        elif source.is_dir():
            relation = f"read_parquet('{_quoted(source / '*.parquet')}')"
        else:
            relation = f"read_parquet('{_quoted(source)}')"
        self.connection.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT * FROM {relation}")

    def columns(self, name: str) -> list[str]:
        return [row[0] for row in self.connection.execute(f"DESCRIBE {name}").fetchall()]

    def execute(self, sql: str) -> None:
        self.connection.execute(sql)

    def query(self, sql: str) -> pa.Table:
        return self.connection.sql(sql).to_arrow_table()

    def map_to_parquet(
        self, book: str, source: Path, settings: Settings, labels: LabelIndex, target: Path,
        total: int | None, progress: Progress | None,
    ) -> int:  # fmt: skip
        target.mkdir(parents=True)
        typed = (
            source if _is_typed_parquet(source) else self._typed_copy(book, target.parent / "book.parquet")
        )
        files = parquet_files(typed)
        tasks = [
            (str(path), group, str(target / f"part-{n:05d}.parquet"))
            for n, (path, group) in enumerate(
                (path, group)
                for path in files
                for group in range(pq.ParquetFile(path).metadata.num_row_groups)
            )
        ]
        _JOB.update(settings=settings, labels=labels)
        self.parallel = max(1, min(self.workers, len(tasks)))
        self.cpu = {"read": 0.0, "compute": 0.0, "write": 0.0}
        done = 0
        try:
            if self.workers < 2 or len(tasks) < 2:
                for task in tasks:
                    rows, spent = _holdings_part(task)
                    done += rows
                    self._add(spent)
                    if progress:
                        progress("holdings", done, total)
            else:
                labels.prepare()  # built once here; the forked workers inherit it
                # an executor, not a Pool: a worker killed (out of memory) fails the run instead of hanging it
                context = multiprocessing.get_context("fork")
                with ProcessPoolExecutor(min(self.workers, len(tasks)), mp_context=context) as pool:
                    for future in as_completed([pool.submit(_holdings_part, task) for task in tasks]):
                        rows, spent = future.result()
                        done += rows
                        self._add(spent)
                        if progress:
                            progress("holdings", done, total)
        finally:
            _JOB.clear()
            if typed != source:
                typed.unlink(missing_ok=True)
        if not tasks:
            pq.write_table(OUTPUT_SCHEMA.empty_table(), target / "part-00000.parquet")
        return done

    def _add(self, spent: dict[str, float]) -> None:
        for key, seconds in spent.items():
            self.cpu[key] += seconds

    @property
    def stage_seconds(self) -> dict[str, float]:
        """The kernel stage's time by what it did (summed over workers, divided by their number)."""
        return {key: seconds / self.parallel for key, seconds in self.cpu.items()}

    def _typed_copy(self, book: str, path: Path) -> Path:
        """The typed view written once as Parquet (a CSV book, or Parquet with other types)."""
        self.connection.execute(
            f"COPY (SELECT * FROM {book}) TO '{_quoted(path)}' (FORMAT parquet, ROW_GROUP_SIZE {4 * BATCH_ROWS})"
        )
        return path

    def close(self) -> None:
        self.connection.close()


def _holdings_part(task: tuple[str, int, str]) -> tuple[int, dict[str, float]]:
    """One row group of the book through the kernel, into its own part file; returns the rows and
    the seconds spent reading, computing and writing."""
    path, group, target = task
    settings: Settings = _JOB["settings"]  # type: ignore[assignment]
    labels: LabelIndex = _JOB["labels"]  # type: ignore[assignment]
    rows, spent = 0, {"read": 0.0, "compute": 0.0, "write": 0.0}
    book = pq.ParquetFile(path)
    # text columns as dictionaries, as Parquet stores them: a third of the read time, and the
    # kernel reads text per distinct value anyway (portfolio/arrays.py); ids stay plain
    texts = [f.name for f in book.schema_arrow if pa.types.is_string(f.type) and f.name != "loan_id"]
    book = pq.ParquetFile(path, read_dictionary=texts)
    with pq.ParquetWriter(
        target, OUTPUT_SCHEMA, compression="snappy", use_dictionary=LOW_CARDINALITY
    ) as writer:
        batches = book.iter_batches(BATCH_ROWS, row_groups=[group], use_threads=False)
        while True:
            started = time.perf_counter()
            batch = next(batches, None)
            spent["read"] += time.perf_counter() - started
            if batch is None:
                break
            started = time.perf_counter()
            result = compute(batch, settings, labels)
            spent["compute"] += time.perf_counter() - started
            started = time.perf_counter()
            writer.write_batch(result)
            spent["write"] += time.perf_counter() - started
            rows += batch.num_rows
    return rows, spent


def _is_typed_parquet(source: Path) -> bool:
    """A Parquet book whose columns already have the input schema's types (read as is)."""
    if source.suffix.lower() == ".csv":
        return False
    given = parquet_types(source, set(INPUT_SCHEMA.names))
    return all(INPUT_SCHEMA.field(name).type == type_ for name, type_ in given.items())


def _quoted(path: Path) -> str:
    return str(path).replace("'", "''")
