"""Benchmark: revalue 100,000 pledges on every day of five years of prices, against a Python loop.

Run with ``make bench-collateral`` (or ``.venv/bin/python bench/collateral.py --pledges 100000``).

- greenfin: each price series' reference price, haircut tail and volume computed once per day
  (``rolling_series_risk``), then every pledge on every day in NumPy chunks (``value_history``):
  coverage, status, alerts; the pledges split over two processes;
- baseline: the same policy pledge by pledge and day by day in a Python loop (``value_pledges`` on
  floats), on a sample, scaled.

Both give the same alerts and lowest coverage on the sample (checked here).  Target (issue 5):
<= 2 s for 100,000 pledges over five years.  Prices are the demo's simulated series
(demo/prices.py): five instruments shared by all pledges.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import sys
import time

import numpy as np

from greenfin.collateral.valuation import ValuationPolicy, rolling_series_risk, value_history, value_pledges
from greenfin.demo.prices import SERIES, simulate

TARGET_SECONDS = 2.0
POLICY = ValuationPolicy()


def series_risks(years: float, seed: int) -> tuple[list[str], dict[str, dict[str, np.ndarray]]]:
    days = int(years * 261)
    codes, risks = [], {}
    for spec in SERIES:
        points = simulate(spec, seed)
        closes = np.array([p[1] for p in points], dtype=np.float64)
        volumes = np.array([p[2] for p in points], dtype=np.float64)
        if closes.size < days:  # a younger series: repeat its history back to five years
            closes = np.resize(closes, days)
            volumes = np.resize(volumes, days)
        codes.append(spec.code)
        risks[spec.code] = rolling_series_risk(closes[-days:], volumes[-days:], POLICY)
    return codes, risks


def book(
    pledges: int, codes: list[str], risks: dict[str, dict[str, np.ndarray]], seed: int
) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    which = rng.integers(0, len(codes), pledges)
    quantity = rng.uniform(1_000, 200_000, pledges)
    first_price = np.array([np.nanmedian(risks[c]["reference"]) for c in codes])
    outstanding = quantity * first_price[which] / rng.uniform(1.3, 2.5, pledges)
    return which, quantity, outstanding


_STATE: dict[str, object] = {}


def _part(bounds: tuple[int, int]) -> dict[str, np.ndarray]:
    start, end = bounds
    which, quantity, outstanding = _STATE["book"]  # type: ignore[misc]
    return value_history(_STATE["risks"], which[start:end], _STATE["codes"], quantity[start:end],  # type: ignore[arg-type]
                         outstanding[start:end], POLICY)  # fmt: skip


def parallel(
    codes: list[str], risks: dict[str, dict[str, np.ndarray]], data: tuple[np.ndarray, ...], workers: int
) -> dict[str, np.ndarray]:
    _STATE.update(codes=codes, risks=risks, book=data)
    pledges = data[0].size
    bounds = [(i * pledges // workers, (i + 1) * pledges // workers) for i in range(workers)]
    if workers == 1:
        parts = [_part(bounds[0])]
    else:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            parts = pool.map(_part, bounds)
    merged = {
        key: np.concatenate([p[key] for p in parts])
        for key in ("lowest_coverage", "alerts", "warning_days", "liquidation_days")
    }
    for key in ("per_day_warning", "per_day_liquidation"):
        merged[key] = sum(p[key] for p in parts)  # type: ignore[assignment]
    return merged


def loop(
    codes: list[str], risks: dict[str, dict[str, np.ndarray]], data: tuple[np.ndarray, ...], sample: int
) -> tuple[np.ndarray, np.ndarray]:
    which, quantity, outstanding = data
    lowest, alerts = np.full(sample, np.inf), np.zeros(sample, dtype=np.int64)
    for i in range(sample):
        series = risks[codes[int(which[i])]]
        before = 0
        for t in range(series["reference"].size):
            reference, tail, adv = series["reference"][t], series["tail"][t], series["adv"][t]
            if not (np.isfinite(reference) and np.isfinite(tail)):
                continue
            out = value_pledges(
                float(quantity[i]), float(outstanding[i]), float(reference), float(tail), float(adv), POLICY
            )
            status = int(out["status"])
            lowest[i] = min(lowest[i], float(out["coverage"]))
            alerts[i] += status > before
            before = status
    return lowest, alerts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pledges", type=int, default=100_000)
    parser.add_argument("--years", type=float, default=5.0)
    parser.add_argument("--sample", type=int, default=100, help="pledges for the Python-loop baseline")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=20261126)
    args = parser.parse_args()

    started = time.perf_counter()
    codes, risks = series_risks(args.years, args.seed)
    data = book(args.pledges, codes, risks, args.seed)
    result = parallel(codes, risks, data, args.workers)
    seconds = time.perf_counter() - started
    days = next(iter(risks.values()))["reference"].size

    sample = min(args.sample, args.pledges)
    started = time.perf_counter()
    lowest, alerts = loop(codes, risks, data, sample)
    baseline = (time.perf_counter() - started) * args.pledges / sample
    same = bool(
        np.array_equal(alerts, result["alerts"][:sample])
        and np.allclose(lowest, result["lowest_coverage"][:sample], rtol=1e-12)
    )
    peak = (
        max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
        / 1024
    )

    print(
        f"greenfin  : {args.pledges:,} pledges x {days:,} days ({args.pledges * days / 1e6:,.0f}M valuations) in {seconds:.2f} s on {args.workers} processes, peak {peak:,.0f} MB per process"
    )
    print(f"python loop: {baseline:,.0f} s for the same (measured on {sample} pledges, scaled)")
    print(
        f"ratio     : {baseline / seconds:,.0f}x the loop; target <= {TARGET_SECONDS:.0f} s: {'met' if seconds <= TARGET_SECONDS else 'NOT met'}"
    )
    print(
        f"alerts    : {int(result['alerts'].sum()):,} over the period; pledges ever below the liquidation line: {int((result['liquidation_days'] > 0).sum()):,}"
    )
    print(f"same alerts and lowest coverage on the sample: {'yes' if same else 'NO'}")
    return 0 if same and seconds <= TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
