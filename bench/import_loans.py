"""Benchmark: import a generated loan book into SQLite, against plain pandas ``to_sql``.

Run with ``make bench-import`` (or ``.venv/bin/python bench/import_loans.py --rows 1000000``).
Both contenders load the same CSV into a fresh SQLite file, each in its own process so that
its peak memory is its own.  greenfin validates every field, checks duplicates and borrower
consistency, writes three tables in one transaction and audits the batch; the baseline only
parses and inserts one untyped table.  Targets (issue 2): >= 50,000 rows/s and <= 2 GB peak.
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
seconds = time.perf_counter() - start
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"rows": rows, "seconds": seconds, "peak_mb": peak_mb}))
"""


def _run(script: str, book: Path, store: Path) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", script, str(book), str(store)], check=True, capture_output=True, text=True
    )
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000, help="loans in the generated book")
    parser.add_argument("--dir", type=Path, default=None, help="working folder (default: a temporary one)")
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
        for name in ("greenfin.db", "pandas.db"):
            for suffix in ("", "-wal", "-shm"):
                Path(f"{folder / name}{suffix}").unlink(missing_ok=True)
        ours = _run(_GREENFIN, book, folder / "greenfin.db")
        base = _run(_PANDAS, book, folder / "pandas.db")

    ours_rate = ours["rows"] / ours["seconds"]
    base_rate = base["rows"] / base["seconds"]
    print(
        f"greenfin import : {ours['rows']:>10,.0f} rows in {ours['seconds']:6.1f} s = {ours_rate:>9,.0f} rows/s, peak {ours['peak_mb']:,.0f} MB"
    )
    print(
        f"pandas to_sql   : {base['rows']:>10,.0f} rows in {base['seconds']:6.1f} s = {base_rate:>9,.0f} rows/s, peak {base['peak_mb']:,.0f} MB"
    )
    print(
        f"ratio greenfin/pandas: {ours_rate / base_rate:.2f}x speed, {ours['peak_mb'] / base['peak_mb']:.2f}x memory"
    )
    verdict = "met" if ours_rate >= TARGET_ROWS_PER_S and ours["peak_mb"] <= TARGET_PEAK_MB else "NOT met"
    print(f"targets (>= {TARGET_ROWS_PER_S:,} rows/s, <= {TARGET_PEAK_MB:,} MB): {verdict}")


if __name__ == "__main__":
    main()
