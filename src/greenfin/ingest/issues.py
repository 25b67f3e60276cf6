"""Import problems, located to the file, row and column, in Chinese and English."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class ImportIssue:
    """One problem found in an input file.

    ``row`` is the line (CSV) or row (XLSX) number as the user's editor shows it, the header
    being row 1; it is None for problems with the file as a whole.
    """

    file: str
    row: int | None
    column: str | None
    value: str | None
    message_en: str
    message_zh: str

    def location(self) -> str:
        parts = [self.file]
        if self.row is not None:
            parts.append(f"row {self.row}")
        if self.column is not None:
            parts.append(f"column {self.column}")
        return ", ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "row": self.row,
            "column": self.column,
            "value": self.value,
            "message_zh": self.message_zh,
            "message_en": self.message_en,
        }


class ImportRejected(Exception):
    """The import was refused; nothing was written.  ``issues`` says every reason found."""

    def __init__(self, issues: list[ImportIssue], total: int | None = None) -> None:
        self.issues = issues
        self.total = total if total is not None else len(issues)
        first = issues[0]
        super().__init__(f"{self.total} problem(s); first: {first.location()}: {first.message_en}")


def file_issue(file: str, en: str, zh: str) -> ImportRejected:
    """A rejection for a problem with the whole file (unreadable, empty, wrong encoding...)."""
    return ImportRejected([ImportIssue(file, None, None, None, en, zh)])
