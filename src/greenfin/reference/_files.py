"""Reading the CSV files shipped in ``greenfin/reference/data``."""

from __future__ import annotations

import csv
import io
from importlib import resources


def read_reference_csv(name: str) -> list[dict[str, str]]:
    """All rows of a shipped reference CSV, as dictionaries keyed by its header."""
    text = resources.files("greenfin.reference").joinpath("data", name).read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text, newline="")))
