"""Financed emissions under the PCAF Global GHG Accounting and Reporting Standard, Part A (2nd ed., 2022).

Financed emissions = Σ attribution factor × the borrower's (or asset's) emissions (DOMAIN.md §6).
The attribution factor is the outstanding amount over a denominator that depends on the asset
class (PCAF Part A, chapter 5):

| asset class | denominator |
| --- | --- |
| listed equity and corporate bonds; business loans to listed companies | EVIC |
| business loans and unlisted equity (private companies) | total equity + debt |
| project finance | total project equity + debt |
| commercial real estate; mortgages | property value at origination |
| motor vehicle loans | vehicle value at origination |

Each holding carries a PCAF data-quality score, 1 (verified reported emissions) to 5 (estimated
from the asset or outstanding amount with a sector average), and the portfolio reports the
outstanding-weighted average score.  Written over NumPy arrays, so a holding and a book of
millions use the same arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]

ASSET_CLASSES = {
    "listed_equity": "EVIC",
    "corporate_bond": "EVIC",
    "business_loan_listed": "EVIC",
    "business_loan": "total equity + debt",
    "unlisted_equity": "total equity + debt",
    "project_finance": "total project equity + debt",
    "commercial_real_estate": "property value at origination",
    "mortgage": "property value at origination",
    "motor_vehicle_loan": "vehicle value at origination",
}
SOURCE = (
    "PCAF, The Global GHG Accounting and Reporting Standard Part A: Financed Emissions, 2nd ed. (2022), ch. 5"
)


def attribution_factor(outstanding: Array | float, denominator: Array | float) -> Array:
    """Outstanding ÷ denominator; NaN where the denominator is missing or not positive (no guess)."""
    outstanding = np.asarray(outstanding, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(denominator > 0, outstanding / np.where(denominator > 0, denominator, 1.0), np.nan)
    return factor


def financed_emissions(
    outstanding: Array | float, denominator: Array | float, emissions: Array | float
) -> Array:
    """Attribution factor × emissions, per holding (tCO2e); NaN where either is unknown."""
    return attribution_factor(outstanding, denominator) * np.asarray(emissions, dtype=np.float64)


def estimated_emissions(activity: Array | float, factor_per_unit: Array | float) -> Array:
    """A score-4/5 estimate: revenue (score 4) or assets / outstanding (score 5) × a sector average
    emission factor per unit of it; the factor's source goes with the result."""
    return np.asarray(activity, dtype=np.float64) * np.asarray(factor_per_unit, dtype=np.float64)


@dataclass(frozen=True, slots=True)
class PortfolioEmissions:
    financed_t: float
    covered_outstanding: float
    total_outstanding: float
    weighted_score: float
    holdings: int
    missing: int

    @property
    def coverage(self) -> float:
        return self.covered_outstanding / self.total_outstanding if self.total_outstanding else 0.0


def portfolio(
    outstanding: Array, denominator: Array, emissions: Array, scores: NDArray[np.int64]
) -> PortfolioEmissions:
    """Sum over holdings; the score is weighted by outstanding over the holdings that have emissions."""
    financed = financed_emissions(outstanding, denominator, emissions)
    known = np.isfinite(financed)
    if np.any((scores[known] < 1) | (scores[known] > 5)):
        raise ValueError("PCAF data-quality scores run from 1 to 5")
    covered = float(outstanding[known].sum())
    weighted = float((scores[known] * outstanding[known]).sum() / covered) if covered else float("nan")
    return PortfolioEmissions(
        financed_t=float(financed[known].sum()),
        covered_outstanding=covered,
        total_outstanding=float(outstanding.sum()),
        weighted_score=weighted,
        holdings=int(outstanding.size),
        missing=int((~known).sum()),
    )
