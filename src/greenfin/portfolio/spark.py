"""The plan on Spark: the same SQL and the same kernel as DuckDB, for a book one machine cannot hold.

Why: a bank's whole book (tens of millions of holdings, with the warehouse already on a Hadoop or
Spark cluster) is run where the data lives.  Nothing about the figures changes: ``plan.run``
hands this engine the same standard SQL it hands DuckDB (the typed view, the distinct subjects,
the exact DECIMAL(38,0) sums) and the same per-batch kernel, which Spark calls in its Python
workers through ``mapInArrow`` (``kernel.compute_all``).  The kernel is elementwise, so Spark's
partitions and batch sizes give the same holdings, to the 分 and the kilogram, as DuckDB's row
groups (``tests/test_portfolio_spark.py`` proves it on a generated book).

Locally (the tests, a laptop) :func:`local_session` starts an in-process ``local[N]`` session
whose Python workers run this interpreter (``sys.executable``), so they import the same greenfin.

On a cluster the session comes from ``spark-submit`` instead: the master URL
(``yarn``, ``k8s://…``, ``spark://…``), executor memory and cores are given there, not here, and
the caller passes ``SparkSession.builder.getOrCreate()`` to :class:`SparkEngine`, which then never
stops it.  Two things differ from a local run: every executor needs greenfin and its dependencies
installed in the Python it runs (``spark.pyspark.python``, or an archive shipped with
``--archives``), and ``source`` and ``output`` must be paths that the driver and every executor
see at the same place (a shared mount, with Spark's default file system being that mount),
because the plan stages the results beside the output and moves them into place with ordinary
file operations on the driver.
"""

from __future__ import annotations

import os
import re
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from greenfin.portfolio.columns import OUTPUT_SCHEMA
from greenfin.portfolio.identify import LabelIndex
from greenfin.portfolio.kernel import PortfolioProblem, Settings, compute_all
from greenfin.portfolio.plan import Progress

APP_NAME = "greenfin-portfolio"
DEFAULT_MASTER = "local[2]"
#: Rows per Arrow batch handed to the kernel (Spark's default is 10,000; the kernel's per-batch
#: work, one look-up per distinct value, pays off over bigger batches, as DuckDB's row groups).
BATCH_ROWS = 131_072


def local_session(
    master: str = DEFAULT_MASTER,
    *,
    driver_memory: str = "1g",
    shuffle_partitions: int = 4,
    app_name: str = APP_NAME,
) -> Any:
    """A local Spark session for one machine: UTC, Arrow on, no UI, small shuffles, this Python."""
    from pyspark.sql import SparkSession

    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    builder = (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.pyspark.python", sys.executable)
        .config("spark.pyspark.driver.python", sys.executable)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", str(BATCH_ROWS))
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.memory", driver_memory)
    )
    if master.startswith("local"):
        builder = builder.config("spark.driver.host", "127.0.0.1").config(
            "spark.driver.bindAddress", "127.0.0.1"
        )
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


def spark_schema(schema: pa.Schema) -> Any:
    """The Spark type of an Arrow schema of flat columns (the kernel's output: ``OUTPUT_SCHEMA``)."""
    from pyspark.sql import types

    spark_types = {
        pa.string(): types.StringType(),
        pa.int8(): types.ByteType(),
        pa.int16(): types.ShortType(),
        pa.int32(): types.IntegerType(),
        pa.int64(): types.LongType(),
        pa.float64(): types.DoubleType(),
        pa.date32(): types.DateType(),
    }
    return types.StructType(
        [types.StructField(f.name, spark_types[f.type], nullable=f.nullable) for f in schema]
    )


def _holdings(
    settings: Settings, labels: Any
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """The function each Spark task runs: its partition's batches through the kernel.

    ``labels`` is a broadcast variable: each executor fetches the labels' table once, and a Python
    worker unpickles it once and keeps it (with the look-up it builds) for every task it runs.
    """

    def holdings(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        yield from compute_all(batches, settings, labels.value)

    return holdings


_PROBLEM = re.compile(r"PortfolioProblem: 贷款 (.+?) 的 (.+?) 列：(.*)")


class SparkEngine:
    """``plan.Engine`` on PySpark (a session given, or a local one made and later stopped)."""

    name = "spark"

    def __init__(
        self, session: Any | None = None, master: str = DEFAULT_MASTER, driver_memory: str = "1g"
    ) -> None:
        if session is None:
            from pyspark import SparkContext

            # getOrCreate would hand back a session someone else started: then it is not ours to stop.
            running = SparkContext._active_spark_context is not None
            session = local_session(master, driver_memory=driver_memory)
            self.owns_session = not running
        else:
            self.owns_session = False
        self.spark = session

    def register(self, name: str, source: Path) -> None:
        if source.suffix.lower() == ".csv":
            frame = (
                self.spark.read.option("header", True)
                .option("inferSchema", False)  # every column text, typed by the plan's SQL
                .option("multiLine", True)  # a quoted purpose may span lines, as DuckDB reads it
                .option("quote", '"')
                .option("escape", '"')  # RFC 4180: a quote inside a field is doubled
                .option("mode", "FAILFAST")  # a row with the wrong number of fields is an error
                .option("encoding", "UTF-8")
                .csv(str(source))
            )
        else:
            frame = self.spark.read.parquet(str(source))
        frame.createOrReplaceTempView(name)

    def columns(self, name: str) -> list[str]:
        return list(self.spark.table(name).columns)

    def execute(self, sql: str) -> None:
        self.spark.sql(sql)

    def query(self, sql: str) -> pa.Table:
        frame = self.spark.sql(sql)
        if hasattr(frame, "toArrow"):  # Spark 4
            return frame.toArrow()
        # Spark 3: through pandas (decimals arrive as decimal.Decimal objects, so stay exact)
        return pa.Table.from_pandas(frame.toPandas(), preserve_index=False)

    def map_to_parquet(
        self, book: str, source: Path, settings: Settings, labels: LabelIndex, target: Path,
        total: int | None, progress: Progress | None,
    ) -> int:  # fmt: skip
        context = self.spark.sparkContext
        frame = self.spark.table(book)
        if source.suffix.lower() == ".csv":
            # A multi-line CSV is read by one task; spread its rows before the kernel, the costly part.
            parallelism = context.defaultParallelism
            if frame.rdd.getNumPartitions() < parallelism:
                frame = frame.repartition(parallelism)
        shipped = context.broadcast(labels)
        group = f"greenfin-holdings-{uuid.uuid4().hex}"
        saved = {key: context.getLocalProperty(key) for key in _JOB_PROPERTIES}
        context.setJobGroup(group, "greenfin portfolio: holdings through the kernel")
        watch = _Watch(context, group, progress, total) if progress else None
        try:
            if watch:
                watch.start()
            result = frame.mapInArrow(_holdings(settings, shipped), spark_schema(OUTPUT_SCHEMA))
            result.write.mode("overwrite").parquet(str(target))
        except Exception as error:
            found = _PROBLEM.search(str(error))
            if found:  # the kernel's located problem, raised in a worker: raise it here as itself
                raise PortfolioProblem(found.group(1), found.group(2), found.group(3).strip()) from error
            raise
        finally:
            if watch:
                watch.finish()
            for key, value in saved.items():
                context.setLocalProperty(key, value)
            shipped.destroy()
        rows = self._written_rows(target)
        if progress:
            progress("holdings", rows, total)
        return rows

    def _written_rows(self, target: Path) -> int:
        """Rows written, from the part files' footers (the output's own count where not local)."""
        if target.is_dir():
            return sum(pq.ParquetFile(part).metadata.num_rows for part in target.glob("*.parquet"))
        return int(self.spark.read.parquet(str(target)).count())

    def close(self) -> None:
        if self.owns_session:
            self.spark.stop()
            self.owns_session = False


_JOB_PROPERTIES = ("spark.jobGroup.id", "spark.job.description", "spark.job.interruptOnCancel")


class _Watch(threading.Thread):
    """Reports the kernel stage's progress from Spark's task counts while the job runs.

    Spark knows tasks, not rows: rows done are estimated as the share of tasks finished times the
    book's rows (when known); the exact count is reported when the job ends.  Best effort: a
    failure to read the status never stops the run.
    """

    def __init__(self, context: Any, group: str, progress: Progress, total: int | None) -> None:
        super().__init__(name="greenfin-spark-progress", daemon=True)
        self.context, self.group, self.progress, self.total = context, group, progress, total
        self.done = threading.Event()
        self.reported = 0  # the plan reports the start itself

    def run(self) -> None:
        tracker = self.context.statusTracker()
        while not self.done.wait(0.5):
            try:
                finished = tasks = 0
                for job in tracker.getJobIdsForGroup(self.group):
                    info = tracker.getJobInfo(job)
                    for stage in info.stageIds if info else ():
                        state = tracker.getStageInfo(stage)
                        if state:
                            finished += state.numCompletedTasks
                            tasks += state.numTasks
                if tasks and self.total:
                    rows = min(self.total * finished // tasks, self.total - 1)
                    if rows > self.reported:
                        self.reported = rows
                        self.progress("holdings", rows, self.total)
            except Exception:
                continue

    def finish(self) -> None:
        self.done.set()
        self.join(timeout=5)


__all__ = ["BATCH_ROWS", "SparkEngine", "local_session", "spark_schema"]
