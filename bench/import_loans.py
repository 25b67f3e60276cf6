"""Benchmark: import a generated loan book into SQLite, against plain pandas ``to_sql``.

Run with ``make bench-import`` (or ``.venv/bin/python bench/import_loans.py --rows 1000000``).
Every contender loads the same CSV into a fresh SQLite file, each in its own process so that its
peak memory is its own:

- greenfin's import: validates every field, checks duplicates and borrower consistency, writes
  three tables in one transaction and audits the batch;
- pandas ``read_csv`` + ``to_sql``: parses and inserts one untyped table, nothing checked;
- greenfin's writing half alone, fed chunks that were checked beforehand (outside the timing):
  what the store itself costs on this machine, the ceiling of any import that writes these tables.

Targets (issue 2): >= 50,000 rows/s and <= 2 GB peak.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_ROWS_PER_S = 50_000
TARGET_PEAK_MB = 2048

_GREENFIN = """
import json, resource, sys, time
from pathlib import Path
from greenfin.service.importing import import_files
from greenfin.store.database import open_store
engine = open_store("sqlite:///" + sys.argv[2])
start = time.perf_counter()
summary = import_files(engine, [Path(sys.argv[1])], actor="bench")
engine.dispose()  # the last connection checkpoints the log: part of the cost
seconds = time.perf_counter() - start
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"rows": summary.rows, "seconds": seconds, "peak_mb": peak_mb}))
"""

_PANDAS = """
import json, resource, sqlite3, sys, time
import pandas as pd
start = time.perf_counter()
connection = sqlite3.connect(sys.argv[2])
rows = 0
for frame in pd.read_csv(sys.argv[1], dtype=str, chunksize=100_000, encoding="utf-8-sig"):
    frame.to_sql("loans", connection, if_exists="append", index=False)
    rows += len(frame)
connection.commit()
connection.close()
seconds = time.perf_counter() - start
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"rows": rows, "seconds": seconds, "peak_mb": peak_mb}))
"""

# The checking half's messages for the whole file, kept on disk for the store-only run.
_CHECK = """
import pickle, sys
from pathlib import Path
from greenfin.ingest.stage import ImportRequest, check_files
with open(sys.argv[2], "wb") as out:
    for message in check_files(ImportRequest((Path(sys.argv[1]),))):
        pickle.dump(message, out, protocol=5)
print("{}")
"""

# The writing half alone: the same import, its checking replaced by the messages read back.
_STORE = """
import json, pickle, resource, sys, time
from pathlib import Path
import greenfin.service.importing as importing
from greenfin.store.database import open_store
messages = []
with open(sys.argv[3], "rb") as source:
    while True:
        try:
            messages.append(pickle.load(source))
        except EOFError:
            break
importing.check_files = lambda request: iter(messages)
engine = open_store("sqlite:///" + sys.argv[2])
start = time.perf_counter()
summary = importing.import_files(engine, [Path(sys.argv[1])], actor="bench", worker=False)
engine.dispose()
seconds = time.perf_counter() - start
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"rows": summary.rows, "seconds": seconds, "peak_mb": peak_mb}))
"""


def _run(script: str, *args: Path) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", script, *map(str, args)], check=True, capture_output=True, text=True
    )
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _fresh(folder: Path, name: str) -> Path:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{folder / name}{suffix}").unlink(missing_ok=True)
    return folder / name


def _line(label: str, result: dict[str, float]) -> str:
    rate = result["rows"] / result["seconds"]
    return (
        f"{label:<24}: {result['rows']:>10,.0f} rows in {result['seconds']:6.1f} s = "
        f"{rate:>9,.0f} rows/s, peak {result['peak_mb']:,.0f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000, help="loans in the generated book")
    parser.add_argument("--dir", type=Path, default=None, help="working folder (default: a temporary one)")
    parser.add_argument("--no-store-only", action="store_true", help="skip the writing-half-alone run")
    args = parser.parse_args()

    from greenfin.demo.generator import write_book

    with tempfile.TemporaryDirectory() as scratch:
        folder = args.dir or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        book = folder / f"book_{args.rows}.csv"
        if not book.exists():
            started = time.perf_counter()
            write_book(book, args.rows)
            print(
                f"generated {args.rows:,} loans in {time.perf_counter() - started:.1f} s ({book.stat().st_size / 1e6:.0f} MB)"
            )
        ours = _run(_GREENFIN, book, _fresh(folder, "greenfin.db"))
        base = _run(_PANDAS, book, _fresh(folder, "pandas.db"))
        store = None
        if not args.no_store_only:
            checked = folder / "checked.pickle"
            _run(_CHECK, book, checked)
            store = _run(_STORE, book, _fresh(folder, "store.db"), checked)
            checked.unlink()

    print(_line("greenfin import", ours))
    print(_line("pandas to_sql", base))
    if store is not None:
        print(_line("greenfin writing alone", store))
    ours_rate = ours["rows"] / ours["seconds"]
    base_rate = base["rows"] / base["seconds"]
    print(
        f"ratio greenfin/pandas: {ours_rate / base_rate:.2f}x speed, {ours['peak_mb'] / base['peak_mb']:.2f}x memory"
    )
    if store is not None:
        print(f"ratio greenfin/writing alone: {ours_rate / (store['rows'] / store['seconds']):.2f}x")
    verdict = "met" if ours_rate >= TARGET_ROWS_PER_S and ours["peak_mb"] <= TARGET_PEAK_MB else "NOT met"
    print(f"targets (>= {TARGET_ROWS_PER_S:,} rows/s, <= {TARGET_PEAK_MB:,} MB): {verdict}")


if __name__ == "__main__":
    main()
