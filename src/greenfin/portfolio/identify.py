"""Identification for a whole-book run: each distinct (purpose, industry, catalogue era) labelled once.

A book of ten million holdings has far fewer distinct purposes (a mortgage's purpose is one of a
handful of phrases), so the engine groups the book by what the label depends on, labels those
subjects with the identification engine (``taxonomy.engine.classify_many``), and joins the labels
back.  The label depends on the approval date only through the catalogue in force and whether the
loan predates the 2021 catalogue, so the date enters as one of four eras (:data:`ERAS`), written
in SQL that DuckDB and Spark both run (:func:`era_sql`).
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from greenfin.portfolio.arrays import distinct_codes
from greenfin.reference.catalogues import GBC_2021_IN_FORCE, GFC_2025_IN_FORCE
from greenfin.taxonomy.engine import Subject, classify_many

#: Era → an approval date that stands for every date of the era (None: no date given).
ERAS: dict[str, dt.date | None] = {
    "undated": None,
    "gfc-2025": GFC_2025_IN_FORCE,
    "gbc-2021": GBC_2021_IN_FORCE,
    "before-2021": GBC_2021_IN_FORCE - dt.timedelta(days=1),
}
SUBJECT_COLUMNS = ("purpose", "industry_code", "era")
LABEL_SCHEMA = pa.schema(
    [
        pa.field("purpose", pa.string(), nullable=False),
        pa.field("industry_code", pa.string(), nullable=False),
        pa.field("era", pa.string(), nullable=False),
        pa.field("status", pa.string()),
        pa.field("item_code", pa.string()),
        pa.field("level1_code", pa.string()),
        pa.field("cerf_area", pa.string()),
    ]
)
#: Below this many subjects one process labels them all; above, the work is split over the cores.
PARALLEL_FROM = 20_000


def era_sql(column: str = "approval_date") -> str:
    """The era of an approval date, as a SQL expression (standard SQL: DuckDB and Spark)."""
    return (
        f"CASE WHEN {column} IS NULL THEN 'undated' "
        f"WHEN {column} >= DATE '{GFC_2025_IN_FORCE.isoformat()}' THEN 'gfc-2025' "
        f"WHEN {column} >= DATE '{GBC_2021_IN_FORCE.isoformat()}' THEN 'gbc-2021' "
        "ELSE 'before-2021' END"
    )


def _label_rows(rows: Sequence[tuple[str, str, str]]) -> list[tuple[str | None, ...]]:
    subjects = [Subject(text, industry or None, ERAS[era]) for text, industry, era in rows]
    return [
        (
            label.status,
            label.item.code if label.item else None,
            label.item.level1_code if label.item else None,
            label.cerf_area_id,
        )
        for label in classify_many(subjects)
    ]


def classify_warm() -> None:
    """Compile both catalogues' rules in this process, so that forked workers inherit them."""
    classify_many([Subject("预热", None, date) for date in ERAS.values()])


def label_subjects(subjects: pa.Table, workers: int | None = None) -> pa.Table:
    """Labels for a table of distinct (purpose, industry_code, era); empty purposes are not labelled."""
    rows = [
        (str(p), str(i or ""), str(e))
        for p, i, e in zip(*(subjects.column(name).to_pylist() for name in SUBJECT_COLUMNS), strict=True)
        if p
    ]
    workers = workers or min(os.cpu_count() or 1, 4)
    if len(rows) < PARALLEL_FROM or workers < 2:
        labels = _label_rows(rows)
    else:
        classify_warm()
        size = -(-len(rows) // (workers * 4))
        chunks = [rows[start : start + size] for start in range(0, len(rows), size)]
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
            labels = [label for part in pool.map(_label_rows, chunks) for label in part]
    columns = list(zip(*rows, strict=True)) if rows else [(), (), ()]
    outcomes = list(zip(*labels, strict=True)) if labels else [(), (), (), ()]
    arrays = [pa.array(list(values), pa.string()) for values in (*columns, *outcomes)]
    return pa.Table.from_arrays(arrays, schema=LABEL_SCHEMA)


_ERA_NAMES = tuple(ERAS)  # an era's code is its place here
_EPOCH = dt.date(1970, 1, 1)


def _era_codes(approval: pa.Array | None, rows: int) -> NDArray[np.int64]:
    """Each row's era as an index into ``_ERA_NAMES`` (the same cut-offs as :func:`era_sql`)."""
    if approval is None:
        return np.zeros(rows, dtype=np.int64)
    days = np.asarray(
        pc.fill_null(approval.cast(pa.int32()), np.iinfo(np.int32).min).to_numpy(), dtype=np.int64
    )
    new = (GFC_2025_IN_FORCE - _EPOCH).days
    old = (GBC_2021_IN_FORCE - _EPOCH).days
    codes = np.where(days >= new, 1, np.where(days >= old, 2, 3))
    return np.where(days == np.iinfo(np.int32).min, 0, codes).astype(np.int64)


def _key(purpose: Any, industry: Any, era: Any) -> Any:
    """One integer per (purpose, industry, era), for ints or arrays alike (2^20 industries, 4 eras)."""
    return (purpose * (1 << 20) + industry) * len(_ERA_NAMES) + era


def _vocabulary_codes(column: pa.Array, vocabulary: dict[str, int], null: int = -1) -> NDArray[np.int64]:
    """Each row's code in ``vocabulary`` (-1 when absent; ``null`` for a null), once per distinct value."""
    values, codes = distinct_codes(column)
    table = np.array(
        [vocabulary.get(v, -1) if v is not None else null for v in values] + [null], dtype=np.int64
    )
    return table[codes]


class LabelIndex:
    """The labels of a run, looked up by each holding's (purpose, industry, era) batch by batch.

    Built from the labelled subjects (:func:`label_subjects`); pickles as the table alone, so
    Spark ships it to its workers and each worker builds its lookup once.
    """

    def __init__(self, labels: pa.Table) -> None:
        self.labels = labels
        self._lookup: tuple[dict[str, int], dict[str, int], NDArray[np.int64], NDArray[np.int64]] | None = (
            None
        )

    def __getstate__(self) -> dict[str, object]:
        return {"labels": self.labels}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.labels = state["labels"]
        self._lookup = None

    def prepare(self) -> None:
        """Build the lookup now (before forking workers, which then share it)."""
        self._keys()

    def _keys(self) -> tuple[dict[str, int], dict[str, int], NDArray[np.int64], NDArray[np.int64]]:
        """Vocabularies of purpose and industry, and the labels' integer keys sorted with their rows."""
        if self._lookup is None:
            purposes: dict[str, int] = {}
            industries: dict[str, int] = {}
            columns = (self.labels.column(name).to_pylist() for name in SUBJECT_COLUMNS)
            keys = np.array(
                [
                    _key(purposes.setdefault(p, len(purposes)), industries.setdefault(i, len(industries)), _ERA_NAMES.index(e))
                    for p, i, e in zip(*columns, strict=True)
                ],
                dtype=np.int64,
            )  # fmt: skip
            order = np.argsort(keys, kind="stable")
            self._lookup = (purposes, industries, keys[order], order.astype(np.int64))
        return self._lookup

    def attach(self, batch: pa.RecordBatch) -> dict[str, pa.Array]:
        """The label columns (status, item_code, level1_code, cerf_area) for the batch's rows.

        A join on integers: each distinct purpose and industry of the batch is looked up once in
        the labels' vocabularies, and the row keys are found among the sorted label keys.
        """
        rows = batch.num_rows
        positions = np.full(rows, -1, dtype=np.int64)
        purpose_at = batch.schema.get_field_index("purpose")
        if purpose_at >= 0 and rows and self.labels.num_rows:
            purposes, industries, sorted_keys, order = self._keys()
            purpose = _vocabulary_codes(batch.column(purpose_at), purposes)
            industry_at = batch.schema.get_field_index("industry_code")
            industry = (
                _vocabulary_codes(batch.column(industry_at), industries, null=industries.get("", -1))
                if industry_at >= 0 else np.full(rows, industries.get("", -1), dtype=np.int64)
            )  # fmt: skip
            approval_at = batch.schema.get_field_index("approval_date")
            era = _era_codes(batch.column(approval_at) if approval_at >= 0 else None, rows)
            keys = _key(purpose, industry, era)
            at = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
            hit = (sorted_keys[at] == keys) & (purpose >= 0) & (industry >= 0)
            positions = np.where(hit, order[at], -1)
        missing = positions < 0
        take = pa.array(np.where(missing, 0, positions), mask=missing)
        names = LABEL_SCHEMA.names[len(SUBJECT_COLUMNS) :]
        if self.labels.num_rows == 0:
            return {name: pa.nulls(rows, pa.string()) for name in names}
        return {name: self.labels.column(name).take(take).combine_chunks() for name in names}
