"""Arrow string columns as (distinct values, codes): the one way the kernel reads text columns.

A book's text columns repeat (asset classes, industries, purposes), so every mapping of text to a
factor, a score or a label is computed once per distinct value and gathered by code.  A column
read from Parquet as a dictionary already is one, and is used as it is, without building its strings.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray


def distinct_codes(column: pa.Array) -> tuple[list[str | None], NDArray[np.int64]]:
    """The column's distinct values, and each row's index into them (null rows: one past the end)."""
    encoded = (
        column if pa.types.is_dictionary(column.type) else pc.dictionary_encode(column.cast(pa.string()))
    )
    values: list[str | None] = encoded.dictionary.to_pylist()
    codes = np.asarray(pc.fill_null(encoded.indices, len(values)).to_numpy(), dtype=np.int64)
    return values, codes
