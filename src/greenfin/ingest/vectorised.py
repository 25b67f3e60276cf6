"""Column parsing for big files: each distinct text parsed once, plain amounts in bulk.

A bank's book repeats itself down the columns (a borrower's code on each of its loans, a few
thousand dates, five risk classes), so a column is dictionary-encoded and the ordinary parser
runs once per distinct text.  Amounts are nearly all distinct; those written as plain digits
(``12345.67`` in a column whose header names the unit) are converted by the same integer
arithmetic as :func:`greenfin.model.values.parse_money_fen`, in NumPy.  Anything else in an
amount column goes through the ordinary parser.

Every function here returns exactly what the scalar parser would return, or None when some cell
of the column is a problem; the caller then parses that column cell by cell to say which rows are
wrong.  So this module is only ever a faster route to the same answer, never a second opinion.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from greenfin.model.identifiers import CREDIT_CODE_CHARSET, CREDIT_CODE_WEIGHTS
from greenfin.model.problems import ValueProblem
from greenfin.model.units import Unit
from greenfin.model.values import FEN_PER_YUAN, MAX_FEN

CellParser = Callable[[str], Any]

# Digits with an optional fraction: a strict subset of what parse_money_fen reads with plain
# integer arithmetic (no sign, no spaces, no grouping, ASCII digits only).
_PLAIN_AMOUNT = r"^[0-9]+(\.[0-9]+)?$"
_MAX_DIGITS = 18  # 10^18 - 1 fits an int64
_INT64_MAX = np.iinfo(np.int64).max


def by_distinct(cells: pa.Array, parse: CellParser) -> list[Any] | None:
    """Parse each distinct text of a column once and spread the results down the column."""
    encoded = pc.dictionary_encode(cells)
    parsed = np.empty(len(encoded.dictionary), dtype=object)
    try:
        for position, raw in enumerate(encoded.dictionary.to_pylist()):
            parsed[position] = parse(raw)
    except ValueProblem:
        return None
    result: list[Any] = parsed[encoded.indices.to_numpy(zero_copy_only=False)].tolist()
    return result


def money_fen(cells: pa.Array, unit: Unit, parse: CellParser) -> list[Any] | None:
    """Amounts in integer 分 from a column in ``unit``; other spellings go through ``parse``."""
    fen_per_unit = unit.factor * FEN_PER_YUAN
    if fen_per_unit != fen_per_unit.to_integral_value():
        return by_distinct(cells, parse)
    factor = int(fen_per_unit)
    lengths = pc.binary_length(cells).to_numpy(zero_copy_only=False)
    plain = pc.match_substring_regex(cells, _PLAIN_AMOUNT).to_numpy(zero_copy_only=False)
    plain &= lengths <= _MAX_DIGITS  # one more character when there is a dot: still <= 18 digits
    result = np.empty(len(cells), dtype=object)
    if plain.any():
        chosen = np.flatnonzero(plain)
        texts = cells.take(pa.array(chosen))
        dots = pc.find_substring(texts, ".").to_numpy(zero_copy_only=False).astype(np.int64)
        places = np.where(dots >= 0, lengths[chosen] - dots - 1, 0)
        digits = pc.cast(pc.replace_substring(texts, ".", "", max_replacements=1), pa.int64())
        numbers = digits.to_numpy(zero_copy_only=False)
        fits = numbers <= _INT64_MAX // factor
        if not fits.all():  # too big for int64 arithmetic: leave them to the exact parser
            plain[chosen[~fits]] = False
            chosen, numbers, places = chosen[fits], numbers[fits], places[fits]
        fen, rest = np.divmod(numbers * factor, np.power(10, places, dtype=np.int64))
        if rest.any() or (fen > MAX_FEN).any():
            return None  # finer than 1 分 or beyond the largest amount: a problem to locate
        result[chosen] = fen.tolist()
    return _parse_rest(cells, result, plain, parse)


def text_cells(cells: pa.Array, max_length: int, parse: CellParser) -> list[Any] | None:
    """Free text: a cell already in its stored form is kept as it is, the rest is parsed.

    A cell is in stored form (see :func:`greenfin.model.values.parse_text`) when it is in Unicode
    normal form C, has no white space at either end, does not start with the apostrophe that marks
    exported formulas, and is no longer than the column keeps.
    """
    lengths = pc.utf8_length(cells)
    stored = pc.and_(pc.greater(lengths, 0), pc.less_equal(lengths, max_length))
    stored = pc.and_(stored, pc.equal(pc.utf8_trim_whitespace(cells), cells))
    stored = pc.and_(stored, pc.invert(pc.starts_with(cells, "'")))
    if not pc.all(pc.string_is_ascii(cells)).as_py():
        stored = pc.and_(stored, pc.equal(pc.utf8_normalize(cells, "NFC"), cells))
    return _kept_or_parsed(cells, stored, parse)


def credit_codes(cells: pa.Array, parse: CellParser) -> list[Any] | None:
    """统一社会信用代码: a code already canonical and with a right check character is kept.

    The check is GB 32100-2015's (see :mod:`greenfin.model.identifiers`), done for the whole
    column with a lookup table; any other cell goes through the parser, which says what is wrong.
    """
    stored = pc.equal(pc.binary_length(cells), CREDIT_CODE_LENGTH)
    if pc.all(stored).as_py() and cells.offset == 0:
        data = np.frombuffer(cells.buffers()[2], dtype=np.uint8)
        start = int(np.frombuffer(cells.buffers()[1], dtype=np.int32)[0])
        codes = data[start : start + CREDIT_CODE_LENGTH * len(cells)].reshape(-1, CREDIT_CODE_LENGTH)
        digits = _CREDIT_LOOKUP[codes]
        body_ok = (digits[:, :-1] >= 0).all(axis=1)
        total = (digits[:, :-1] * _CREDIT_WEIGHTS).sum(axis=1)
        stored = pa.array(body_ok & (digits[:, -1] == (31 - total % 31) % 31))
    else:
        stored = pc.and_(stored, False)
    return _kept_or_parsed(cells, stored, parse)


CREDIT_CODE_LENGTH = 18
_CREDIT_LOOKUP = np.full(256, -1, dtype=np.int64)
for _value, _char in enumerate(CREDIT_CODE_CHARSET):
    _CREDIT_LOOKUP[ord(_char)] = _value
_CREDIT_WEIGHTS = np.array(CREDIT_CODE_WEIGHTS, dtype=np.int64)


def _kept_or_parsed(cells: pa.Array, stored: pa.Array, parse: CellParser) -> list[Any] | None:
    if pc.all(stored).as_py():
        kept: list[Any] = cells.to_pylist()
        return kept
    result = np.fromiter(cells.to_pylist(), dtype=object, count=len(cells))
    return _parse_rest(cells, result, stored.to_numpy(zero_copy_only=False), parse)


def _parse_rest(cells: pa.Array, result: np.ndarray, done: np.ndarray, parse: CellParser) -> list[Any] | None:
    """Fill in the cells not done in bulk, each distinct text parsed once; None on a problem."""
    if not done.all():
        others = np.flatnonzero(~done)
        values = by_distinct(cells.take(pa.array(others)), parse)
        if values is None:
            return None
        result[others] = values
    out: list[Any] = result.tolist()
    return out


def blank_rows(columns: list[pa.Array]) -> np.ndarray:
    """Rows whose every cell is empty or white space, which the row reader skips.

    Arrow trims the same characters as ``str.strip`` (a test holds it to that), so the two
    readers skip the same rows.
    """
    blank = np.ones(len(columns[0]) if columns else 0, dtype=bool)
    for column in columns:
        trimmed = pc.utf8_trim_whitespace(column)
        blank &= pc.equal(pc.binary_length(trimmed), 0).to_numpy(zero_copy_only=False)
        if not blank.any():
            break
    return blank


def given(values: list[Any]) -> np.ndarray:
    """Where a parsed column holds a value (not None)."""
    present: np.ndarray = _objects(values) != None  # noqa: E711 - element-wise, not identity
    return present


def take(values: list[Any], positions: np.ndarray) -> list[Any]:
    """The values at some positions of a column."""
    taken: list[Any] = _objects(values)[positions].tolist()
    return taken


def _objects(values: list[Any]) -> np.ndarray:
    return np.fromiter(values, dtype=object, count=len(values))


def before(earlier: list[Any], later: list[Any], *, missing: bool = False) -> np.ndarray:
    """Where ``earlier < later`` (ISO dates or integers); ``missing`` where either is absent."""
    first, second = _objects(earlier), _objects(later)
    both = (first != None) & (second != None)  # noqa: E711
    result = np.full(len(first), missing, dtype=bool)
    if both.any():
        result[both] = first[both] < second[both]
    return result


_SEPARATOR = "\x1f"  # the ASCII unit separator, between fields
_ABSENT = "-"  # an empty field; a present one is written length:text, which never equals it


def digests(columns: list[list[Any]]) -> list[str]:
    """A digest of each row's content, from its stored values (see ``ingest.columns``).

    Each field is written as text (integers in decimal, booleans as true/false), prefixed with
    its length in bytes (``5:12345``) so that no text, whatever it holds, can shift a boundary;
    an empty field is written ``-``.  The fields are joined and the row hashed with BLAKE2b.  A
    re-import compares these digests, so equal content must give equal text: every field of a
    column has one type, and the text of a value is the one Arrow's cast gives.
    """
    texts = []
    for column in columns:
        array = pa.array(column)
        if not pa.types.is_string(array.type):
            array = pc.cast(array, pa.string())
        sized = pc.binary_join_element_wise(pc.cast(pc.binary_length(array), pa.string()), array, ":")
        texts.append(pc.fill_null(sized, _ABSENT))
    joined = pc.binary_join_element_wise(*texts, _SEPARATOR).cast(pa.binary())
    blake2b = hashlib.blake2b
    return [blake2b(row, digest_size=16).hexdigest() for row in joined.to_pylist()]
