"""Reading a big CSV loan book column by column, with Apache Arrow's multi-threaded parser.

The row reader in ``readers`` handles every file a bank may send, one Python row at a time.
Most big files are plain: one record per line, as many fields on each line as in the header.
Those are read here as Arrow text columns, several megabytes at a time, and every cell stays
text, so the parsers see exactly what the row reader would have given them.

The columnar reader numbers rows by line, so it insists on one record per line: a ragged row
makes it give up with :class:`ReaderDeclined` at once, a quoted field holding a line break when
the count of records read falls short of the file's lines (counted as Python's CSV reader counts
them) at the end.  The import then starts again with the row reader, which handles both.  Blank
lines and rows of empty cells are read and skipped, as the row reader skips them.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

from greenfin.ingest.readers import SourceFile
from greenfin.ingest.vectorised import blank_rows

BLOCK_BYTES = 8 << 20
_UNREADABLE = (pa.ArrowInvalid, UnicodeDecodeError, ValueError)


class ReaderDeclined(Exception):
    """The file is not one the columnar reader can number exactly; read it row by row instead."""


@dataclass
class ColumnBatch:
    """Consecutive records of a file: their line numbers and one text column per header field."""

    lines: list[int]
    columns: list[pa.Array]
    position: int  # bytes of the file consumed so far


def columnar_readable(source: SourceFile) -> bool:
    """Whether the columnar reader may try this source (a CSV whose header is one line)."""
    return source.kind == "csv" and source.one_line_header and source.encoding is not None


def read_batches(source: SourceFile, block_bytes: int = BLOCK_BYTES) -> Iterator[ColumnBatch]:
    """The records of a CSV as text columns; raise :class:`ReaderDeclined` where unsure."""
    assert source.encoding is not None
    width = len(source.header)
    encoding = codecs.lookup(source.encoding).name
    raw = source.path.open("rb")
    try:
        if encoding in ("utf-8", "utf-8-sig"):
            if raw.read(3) != codecs.BOM_UTF8:
                raw.seek(0)
            encoding = "utf8"
        names = [f"c{i}" for i in range(width)]
        try:
            reader = pa_csv.open_csv(
                raw,
                read_options=pa_csv.ReadOptions(
                    column_names=names, skip_rows=1, block_size=block_bytes, encoding=encoding
                ),
                parse_options=pa_csv.ParseOptions(
                    delimiter=source.delimiter, newlines_in_values=False, ignore_empty_lines=False
                ),
                convert_options=pa_csv.ConvertOptions(
                    column_types=dict.fromkeys(names, pa.string()),
                    strings_can_be_null=False,
                    quoted_strings_can_be_null=False,
                    null_values=[],
                ),
            )
        except _UNREADABLE as exc:
            raise ReaderDeclined(str(exc)) from exc
        line = 2
        for batch in _batches(reader):
            columns = list(batch.columns)
            kept = ~blank_rows(columns)
            lines = np.arange(line, line + batch.num_rows)
            line += batch.num_rows
            if not kept.all():
                mask = pa.array(kept)
                columns = [column.filter(mask) for column in columns]
                lines = lines[kept]
            if len(lines):
                yield ColumnBatch(lines.tolist(), columns, raw.tell())
        if line - 1 != source.lines:  # some record spanned lines (a quoted line break): numbers are off
            raise ReaderDeclined(f"{line - 1} records in {source.lines} lines")
    finally:
        raw.close()


def _batches(reader: pa_csv.CSVStreamingReader) -> Iterator[pa.RecordBatch]:
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            return
        except _UNREADABLE as exc:
            raise ReaderDeclined(str(exc)) from exc
        yield batch
