"""Reading the CSV files shipped in ``greenfin/reference/data``."""

from __future__ import annotations

import csv
from importlib import resources


def read_reference_csv(name: str) -> list[dict[str, str]]:
    """All rows of a shipped reference CSV, as dictionaries keyed by its header."""
    path = resources.files("greenfin.reference").joinpath("data", name)
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))
