"""Reading loan-book files as banks export them: CSV in UTF-8 or GBK/GB18030, and XLSX.

Readers stream: a file of ten million rows is never held in memory.  The type of a file is
told by its content, not its name, so junk renamed to ``.csv`` is refused at once rather than
parsed for minutes.  Every problem is located (file, row) and bilingual.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import hashlib
import io
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from greenfin.ingest.issues import ImportIssue, ImportRejected, file_issue

_SNIFF_BYTES = 1 << 20
_XLSX_MAGIC = b"PK\x03\x04"
Row = tuple[int, list[Any]]


@dataclass
class SourceFile:
    """An opened input: its header, a stream of numbered rows and what has been read so far."""

    path: Path
    kind: str  # csv or xlsx
    encoding: str | None
    header: list[str]
    rows: Iterator[Row]
    size: int
    position: Callable[[], int] = field(default=lambda: 0)
    sha256: str = ""
    #: The CSV field delimiter, and whether the header took exactly one line (then every later
    #: record can be read by the columnar reader, which numbers rows by line).
    delimiter: str = ","
    one_line_header: bool = False
    lines: int = 0  # physical lines of a text file (line breaks, and a last unbroken line)
    close: Callable[[], None] = field(default=lambda: None)

    @property
    def name(self) -> str:
        return self.path.name


def sha256_of(path: Path) -> str:
    """Content digest of a file, recorded with the import for the audit trail."""
    return _digest_and_lines(path)[0]


def _digest_and_lines(path: Path) -> tuple[str, int]:
    """The file's SHA-256 and its number of lines as Python's CSV reader counts them.

    A line ends at LF, CR LF or a lone CR; a last line without a line break counts too.
    """
    digest = hashlib.sha256()
    breaks = 0
    last = b"\n"
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
            breaks += block.count(b"\n") + block.count(b"\r") - block.count(b"\r\n")
            if last == b"\r" and block[:1] == b"\n":  # a CR LF split between two blocks
                breaks -= 1
            last = block[-1:]
    return digest.hexdigest(), breaks + (last not in (b"\n", b"\r"))


def open_source(path: Path, encoding: str | None = None, sheet: str | None = None) -> SourceFile:
    """Open a CSV or XLSX file for import; raise :class:`ImportRejected` if it cannot be read."""
    name = path.name
    if not path.is_file():
        raise file_issue(name, "file not found", "找不到文件")
    size = path.stat().st_size
    if size == 0:
        raise file_issue(name, "the file is empty", "文件为空")
    with path.open("rb") as handle:
        head = handle.read(_SNIFF_BYTES)
    if head.startswith(_XLSX_MAGIC):
        source = _open_xlsx(path, sheet, size)
    elif b"\x00" in head:
        raise file_issue(
            name,
            "this is neither a text (CSV) file nor an XLSX workbook (it holds binary data)",
            "该文件既不是文本（CSV）文件，也不是 XLSX 工作簿（含二进制数据）",
        )
    else:
        source = _open_csv(path, head, encoding, size)
    source.sha256, source.lines = _digest_and_lines(path)
    return source


def _choose_encoding(head: bytes, declared: str | None, name: str) -> str:
    if declared:
        try:
            return codecs.lookup(declared).name
        except LookupError as exc:
            raise file_issue(name, f"unknown encoding {declared!r}", f"无法识别的编码 {declared!r}") from exc
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    sample = head[: len(head) - 4] if len(head) == _SNIFF_BYTES else head  # may end mid-character
    try:
        sample.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        sample.decode("gb18030")
        return "gb18030"
    except UnicodeDecodeError as exc:
        raise file_issue(
            name,
            "the file is neither UTF-8 nor GBK/GB18030 text",
            "文件编码既不是 UTF-8 也不是 GBK/GB18030",
        ) from exc


def _line_of(raw: BinaryIO, offset: int) -> int:
    """1-based line number of a byte offset, for locating a decoding error."""
    raw.seek(0)
    return raw.read(offset).count(b"\n") + 1


def _open_csv(path: Path, head: bytes, declared: str | None, size: int) -> SourceFile:
    name = path.name
    encoding = _choose_encoding(head, declared, name)
    if encoding == "utf-8" and head.startswith(codecs.BOM_UTF8):
        encoding = "utf-8-sig"
    raw = path.open("rb")
    text = io.TextIOWrapper(raw, encoding=encoding, errors="strict", newline="")
    first_line = head.split(b"\n", 1)[0]
    delimiter = "\t" if first_line.count(b"\t") > first_line.count(b",") else ","
    reader = csv.reader(text, delimiter=delimiter)

    def decode_problem(exc: UnicodeDecodeError, line_hint: int) -> ImportRejected:
        line = line_hint
        hint_en = hint_zh = ""
        if encoding.startswith("utf-8"):
            try:
                head.decode("gb18030")
                hint_en, hint_zh = (
                    " (it looks like GBK/GB18030)",
                    "（疑似 GBK/GB18030 编码）",
                )
            except UnicodeDecodeError:
                pass
        with contextlib.suppress(OSError, ValueError):
            line = _line_of(raw, raw.tell() - len(exc.object) + exc.start) if exc.object else line
        return ImportRejected(
            [
                ImportIssue(
                    name,
                    line,
                    None,
                    None,
                    f"the file is not valid {encoding} text at this line{hint_en}",
                    f"此行不是有效的 {encoding} 文本{hint_zh}",
                )
            ]
        )

    try:
        header = next(reader)
    except StopIteration:
        raw.close()
        raise file_issue(name, "the file has no header row", "文件没有表头行") from None
    except UnicodeDecodeError as exc:
        raise decode_problem(exc, 1) from exc
    except csv.Error as exc:
        raise file_issue(name, f"not a readable CSV: {exc}", f"无法按 CSV 读取：{exc}") from exc

    def rows() -> Iterator[Row]:
        try:
            while True:
                try:
                    cells = next(reader)
                except StopIteration:
                    return
                except UnicodeDecodeError as exc:
                    raise decode_problem(exc, reader.line_num + 1) from exc
                except csv.Error as exc:
                    raise ImportRejected(
                        [
                            ImportIssue(
                                name, reader.line_num, None, None,
                                f"not a readable CSV line: {exc}", f"此行无法按 CSV 读取：{exc}",
                            )
                        ]
                    ) from exc  # fmt: skip
                if any(cell.strip() for cell in cells):
                    yield reader.line_num, cells
        finally:
            raw.close()

    def position() -> int:
        try:
            return raw.tell()
        except (OSError, ValueError):
            return size

    return SourceFile(
        path, "csv", encoding, header, rows(), size, position,
        delimiter=delimiter, one_line_header=reader.line_num == 1, close=raw.close,
    )  # fmt: skip


def _open_xlsx(path: Path, sheet: str | None, size: int) -> SourceFile:
    from openpyxl import load_workbook  # imported here: CSV imports need not pay for it

    name = path.name
    damaged_en = "the XLSX workbook is damaged or truncated and cannot be read"
    damaged_zh = "XLSX 工作簿已损坏或不完整，无法读取"
    try:
        # data_only=False: a formula cell arrives as its text ('=B2*10000'), never as a cached
        # value that may be stale or absent; a formula in a number column is then a located error.
        book = load_workbook(path, read_only=True, data_only=False)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, EOFError) as exc:
        raise file_issue(name, damaged_en, damaged_zh) from exc
    except Exception as exc:  # openpyxl surfaces XML parser errors of several kinds
        raise file_issue(name, f"{damaged_en}: {exc}", damaged_zh) from exc
    if sheet is not None and sheet not in book.sheetnames:
        raise file_issue(
            name,
            f"no sheet named {sheet!r}; sheets are {book.sheetnames}",
            f"没有名为 {sheet!r} 的工作表；现有工作表：{book.sheetnames}",
        )
    worksheet = book[sheet] if sheet else book.worksheets[0]
    iterator = worksheet.iter_rows(values_only=True)
    read = 0

    def next_row() -> tuple[Any, ...] | None:
        try:
            cells: tuple[Any, ...] = next(iterator)
            return cells
        except StopIteration:
            return None
        except Exception as exc:
            raise ImportRejected([ImportIssue(name, read + 1, None, None, damaged_en, damaged_zh)]) from exc

    first = next_row()
    while first is not None and all(cell in (None, "") for cell in first):
        read += 1
        first = next_row()
    if first is None:
        book.close()
        raise file_issue(name, "the workbook has no header row", "工作簿没有表头行")
    read += 1
    header = ["" if cell is None else str(cell) for cell in first]
    total_rows = worksheet.max_row or 0

    def rows() -> Iterator[Row]:
        nonlocal read
        try:
            while True:
                cells = next_row()
                if cells is None:
                    return
                read += 1
                if any(cell not in (None, "") for cell in cells):
                    yield read, ["" if cell is None else cell for cell in cells]
        finally:
            book.close()

    def position() -> int:
        return int(size * read / total_rows) if total_rows else 0

    return SourceFile(path, "xlsx", None, header, rows(), size, position, close=book.close)
