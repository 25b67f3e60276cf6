"""Benchmark: environmental benefits of ten million projects, against a row-by-row baseline.

Run with ``make bench-benefits`` (or ``.venv/bin/python bench/benefits.py --rows 10000000``).

- greenfin: the renewable-power methodology in columns (``assess_columns``): factors resolved once
  per distinct province and year, the formula over NumPy arrays, attribution to each loan;
- baseline: ``pandas.DataFrame.apply`` calling the per-project path (``assess``) row by row, on a
  sample, scaled to the whole input.

Both give the same figures on the sample (checked here).  Targets (issue 4): 10M projects in
<= 10 s and >= 50x the baseline.  Peak memory is the process's maximum resident size.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time

import numpy as np
import pandas as pd

from greenfin.benefits.assess import Place, assess, assess_columns
from greenfin.benefits.registry import methodology
from greenfin.reference.factors import DEFAULT_POLICY
from greenfin.reference.regions import provinces

TARGET_SECONDS_10M = 10.0
TARGET_RATIO = 50
METHOD = methodology("renewable-power")


def generate(rows: int, seed: int) -> tuple[list[Place], dict[str, np.ndarray]]:
    """A book of renewable projects: generation, place, reporting year, balance, investment."""
    rng = np.random.default_rng(seed)
    places = [Place(p.short_zh, p.grid_region or None) for p in provinces().values()]
    investment = rng.uniform(1e7, 5e9, rows)
    columns = {
        "generation": rng.uniform(100.0, 2e6, rows),
        "place": rng.integers(0, len(places), rows),
        "year": rng.integers(2022, 2028, rows),
        "balance": investment * rng.uniform(0.1, 0.8, rows),
        "investment": investment,
    }
    return places, columns


def columnar(places: list[Place], columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return assess_columns(
        METHOD,
        {"generation": columns["generation"]},
        places,
        columns["place"],
        columns["year"],
        DEFAULT_POLICY,
        balance_yuan=columns["balance"],
        investment_yuan=columns["investment"],
    )


def row_by_row(places: list[Place], frame: pd.DataFrame) -> pd.Series:
    def one(row: pd.Series) -> float:
        result = assess(
            METHOD,
            {"generation": float(row["generation"])},
            places[int(row["place"])],
            int(row["year"]),
            DEFAULT_POLICY,
            balance_yuan=float(row["balance"]),
            investment_yuan=float(row["investment"]),
        )
        assert result.attributed is not None
        return result.attributed["co2_reduced"]

    return frame.apply(one, axis=1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--sample", type=int, default=20_000, help="rows for the row-by-row baseline")
    parser.add_argument("--seed", type=int, default=20261126)
    args = parser.parse_args()

    places, columns = generate(args.rows, args.seed)
    started = time.perf_counter()
    result = columnar(places, columns)
    seconds = time.perf_counter() - started
    rate = args.rows / seconds

    sample = min(args.sample, args.rows)
    frame = pd.DataFrame({key: values[:sample] for key, values in columns.items()})
    started = time.perf_counter()
    baseline = row_by_row(places, frame)
    baseline_seconds = (time.perf_counter() - started) * args.rows / sample
    same = np.allclose(baseline.to_numpy(), result["attributed_co2_reduced"][:sample], rtol=1e-12, atol=0)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    ratio = baseline_seconds / seconds
    scaled_10m = seconds * 10_000_000 / args.rows
    print(
        f"greenfin columns : {args.rows:,} projects in {seconds:.2f} s = {rate:,.0f} projects/s, peak {peak_mb:,.0f} MB"
    )
    print(f"row-by-row apply : {baseline_seconds:,.1f} s for {args.rows:,} (measured on {sample:,}, scaled)")
    print(f"ratio            : {ratio:,.0f}x the row-by-row baseline (target >= {TARGET_RATIO}x)")
    print(f"10M projects     : {scaled_10m:.2f} s (target <= {TARGET_SECONDS_10M:.0f} s)")
    print(f"same figures on the sample: {'yes' if same else 'NO'}")
    print(
        f"totals           : CO2 {result['co2_reduced'].sum() / 1e6:,.1f} MtCO2e, attributed "
        f"{result['attributed_co2_reduced'].sum() / 1e6:,.1f} MtCO2e, coal {result['coal_saved'].sum() / 1e6:,.1f} Mtce"
    )
    met = same and ratio >= TARGET_RATIO and scaled_10m <= TARGET_SECONDS_10M
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
