"""Assessing benefits: inputs in, factors resolved, the formula run, attribution and a trail out.

Two entry points share every step that touches a number: :func:`assess` for one project (floats,
with a full trail) and :func:`assess_columns` for a book (NumPy arrays, factors resolved once per
distinct place and year).  Both call the methodology's one formula.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np
from numpy.typing import NDArray

from greenfin.benefits.arith import Num
from greenfin.benefits.carriers import CARRIERS
from greenfin.benefits.methodology import Methodology
from greenfin.reference.factors import (
    NATIONAL,
    Factor,
    FactorMissing,
    FactorPolicy,
    factor,
    latest,
    year_note,
)

#: kgCO2/GJ of purchased heat is not in the MEE grid announcements; it is a fuels.csv row.
_HEAT_CO2 = "heat_co2"


class MissingInput(ValueError):
    """A required input is absent and no documented default can estimate it."""

    def __init__(self, method: Methodology, keys: Sequence[str], hint: str = "") -> None:
        names = "、".join(f"{method.input(k).name_zh}（{k}，{method.input(k).unit}）" for k in keys)
        super().__init__(f"方法学 {method.id} 缺少输入：{names}{hint}")
        self.keys = tuple(keys)


@dataclass(frozen=True, slots=True)
class Place:
    """Where a project is, as far as factors care: its province (short name) and grid region."""

    province: str | None
    grid_region: str | None


@cache
def _fuel(kind: str, key: str) -> Factor:
    rows = [f for f in _fuel_rows() if f.kind == kind and f.key == key]
    if not rows:
        raise FactorMissing(f"no {kind} factor for {key}")
    return max(rows, key=lambda f: f.year)


@cache
def _fuel_rows() -> tuple[Factor, ...]:
    from greenfin.reference.factors import factor_table

    kinds = {"coal_coefficient", "ncv", "carbon_content", "oxidation", "density", _HEAT_CO2, "co2_per_tce"}
    return tuple(f for f in factor_table().values() if f.kind in kinds)


def fuel_co2(carrier: str) -> tuple[float, list[Factor]]:
    """tCO2 per canonical unit of a fuel: NCV × carbon content × oxidation × 44/12."""
    if carrier == "heat":
        heat = _fuel(_HEAT_CO2, "热力")
        return heat.value, [heat]
    ncv, content, oxidation = (_fuel(kind, carrier) for kind in ("ncv", "carbon_content", "oxidation"))
    # GJ/unit × tC/TJ ÷ 1000 → tC/unit; × 44/12 → tCO2
    return ncv.value * content.value / 1000.0 * oxidation.value * 44.0 / 12.0, [ncv, content, oxidation]


def resolve_factors(
    method: Methodology,
    place: Place,
    reporting_year: int,
    policy: FactorPolicy,
    overrides: Mapping[str, Factor] | None = None,
) -> tuple[dict[str, float], dict[str, list[Factor]], list[str]]:
    """Each factor name the methodology reads: its value, the rows behind it, and fallback notes.

    ``overrides`` are the user's own factors by name; they win and are marked user-supplied.
    """
    values: dict[str, float] = {}
    trail: dict[str, list[Factor]] = {}
    notes: list[str] = []
    for name in method.factors:
        if overrides and name in overrides:
            values[name], trail[name] = overrides[name].value, [overrides[name]]
            notes.append(f"{name} 使用用户提供的因子：{overrides[name].source}")
        elif name == "grid" or name == "co2:electricity":
            found, note = policy.grid_factor(place.province, place.grid_region, reporting_year)
            values[name], trail[name] = found.value, [found]
            if note and policy.convention == "grid_factor" and note not in notes:  # unused otherwise
                notes.append(note)
        elif name in {"coal_rate", "coef:electricity"}:
            rate = latest("coal_rate", NATIONAL, reporting_year)
            values[name] = rate.value if name == "coal_rate" else rate.value / 1000.0
            trail[name] = [rate]
            note = year_note(rate, reporting_year)
            if note and note not in notes:
                notes.append(note)
        elif name == "co2_per_tce":
            kind, key, year = policy.co2_per_tce.split(":")
            chosen = factor(kind, key, int(year))
            values[name], trail[name] = chosen.value, [chosen]
        elif name.startswith("coef:"):
            coefficient = _fuel("coal_coefficient", name[5:])
            values[name], trail[name] = coefficient.value, [coefficient]
        elif name.startswith("co2:"):
            values[name], trail[name] = fuel_co2(name[4:])
        elif name.startswith("density:"):
            density = _fuel("density", name[8:])
            values[name], trail[name] = density.value, [density]
        else:  # pragma: no cover - a methodology naming a factor nobody resolves is a bug
            raise KeyError(f"unknown factor name {name}")
    return values, trail, notes


def _unused_under(convention: str, trail: Mapping[str, list[Factor]]) -> list[str]:
    """Factors a convention does not read: the trail shows only what produced the figures."""
    if convention == "coal_equivalent":
        return [name for name in trail if name == "grid" or name.startswith("co2:")]
    return [name for name in trail if name == "co2_per_tce"]


@dataclass(frozen=True, slots=True)
class Attribution:
    """The bank's share of a project's benefit, and the rule that gave it."""

    method: str  # "regulator" or "pcaf"
    share: float
    numerator_yuan: float
    denominator_yuan: float
    rule_zh: str


def attribution(
    method: str,
    balance_yuan: float | None,
    investment_yuan: float | None,
    equity_debt_yuan: float | None = None,
) -> Attribution | None:
    """Regulator: balance ÷ project total investment.  PCAF project finance: balance ÷ (equity + debt).

    The regulator's rule is DOMAIN.md §4 (节能减排量测算指引: 该行贷款所形成的年减排量 = 项目年减排量 ×
    该行贷款余额 ÷ 项目总投资).  PCAF Global GHG Standard Part A (2nd ed., 2022) §5.5 attributes a
    project by outstanding amount over total project equity plus debt.  The share never exceeds 1.
    """
    if balance_yuan is None:
        return None
    if method == "pcaf":
        denominator = equity_debt_yuan if equity_debt_yuan is not None else investment_yuan
        rule = "PCAF 项目融资：贷款余额 ÷ 项目权益与债务合计"
    else:
        denominator = investment_yuan
        rule = "监管口径：贷款余额 ÷ 项目总投资"
    if not denominator or denominator <= 0:
        return None
    return Attribution(method, min(1.0, balance_yuan / denominator), balance_yuan, denominator, rule)


@dataclass(slots=True)
class Result:
    """One project's benefits, attributed, with the trail that produced them."""

    methodology: str
    version: str
    policy: str
    convention: str
    reporting_year: int
    indicators: dict[str, float]
    attributed: dict[str, float] | None
    attribution: Attribution | None
    inputs: dict[str, float]
    estimated: dict[str, str]
    factors: dict[str, list[Factor]]
    notes: list[str] = field(default_factory=list)
    quality: str = "reported"
    user_factors: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "methodology": {"id": self.methodology, "version": self.version},
            "policy": self.policy,
            "convention": self.convention,
            "reporting_year": self.reporting_year,
            "quality": self.quality,
            "indicators": self.indicators,
            "attribution": None
            if self.attribution is None
            else {
                "method": self.attribution.method,
                "share": self.attribution.share,
                "numerator_yuan": self.attribution.numerator_yuan,
                "denominator_yuan": self.attribution.denominator_yuan,
                "rule": self.attribution.rule_zh,
            },
            "attributed": self.attributed,
            "inputs": self.inputs,
            "estimated": self.estimated,
            "factors": {name: [f.as_dict() for f in rows] for name, rows in self.factors.items()},
            "notes": self.notes,
        }


def complete_inputs(method: Methodology, given: Mapping[str, float]) -> dict[str, float]:
    """The inputs with definitional defaults filled in; a required input missing is an error."""
    missing = [spec.key for spec in method.inputs if spec.required and spec.key not in given]
    if missing:
        raise MissingInput(method, missing)
    unknown = sorted(set(given) - {spec.key for spec in method.inputs})
    if unknown:
        raise ValueError(f"方法学 {method.id} 没有这些输入：{'、'.join(unknown)}")
    return {spec.key: given.get(spec.key, spec.default or 0.0) for spec in method.inputs}


def assess(
    method: Methodology,
    inputs: Mapping[str, float],
    place: Place,
    reporting_year: int,
    policy: FactorPolicy,
    *,
    balance_yuan: float | None = None,
    investment_yuan: float | None = None,
    equity_debt_yuan: float | None = None,
    estimated: Mapping[str, str] | None = None,
    extra_factors: Mapping[str, list[Factor]] | None = None,
    overrides: Mapping[str, Factor] | None = None,
) -> Result:
    """One project's benefits under a policy, attributed to the loan when balance and investment are known."""
    values = complete_inputs(method, inputs)
    factor_values, trail, notes = resolve_factors(method, place, reporting_year, policy, overrides)
    for unused in _unused_under(policy.convention, trail):
        del trail[unused]
    indicators = {k: float(v) for k, v in method.formula(values, factor_values, policy.convention).items()}
    share = attribution(policy.attribution, balance_yuan, investment_yuan, equity_debt_yuan)
    attributed = None if share is None else {k: v * share.share for k, v in indicators.items()}
    if share is None and balance_yuan is not None:
        notes.append("缺少项目总投资，无法归属到本行贷款")
    return Result(
        methodology=method.id,
        version=method.version,
        policy=policy.name,
        convention=policy.convention,
        reporting_year=reporting_year,
        indicators=indicators,
        attributed=attributed,
        attribution=share,
        inputs=values,
        estimated=dict(estimated or {}),
        factors={**trail, **(extra_factors or {})},
        notes=notes,
        quality="estimated" if estimated else "reported",
        user_factors=bool(overrides),
    )


def assess_columns(
    method: Methodology,
    inputs: Mapping[str, NDArray[np.float64]],
    places: Sequence[Place],
    place_index: NDArray[np.int64],
    reporting_years: NDArray[np.int64],
    policy: FactorPolicy,
    *,
    balance_yuan: NDArray[np.float64] | None = None,
    investment_yuan: NDArray[np.float64] | None = None,
    equity_debt_yuan: NDArray[np.float64] | None = None,
) -> dict[str, NDArray[np.float64]]:
    """A whole book at once: the same formula over arrays, factors resolved per distinct key.

    ``places`` lists the distinct places and ``place_index`` says which one each row is in, as a
    column store keeps a categorical: factors are then resolved once per distinct (place, year)
    and gathered, with no Python loop over rows.  Returns each indicator, and ``share`` with
    ``attributed_<indicator>`` when balance and investment are given (share 0 where the
    investment is missing or zero).
    """
    rows = len(reporting_years)
    values = complete_columns(method, inputs, rows)
    first_year = int(reporting_years.min()) if rows else 0
    span = int(reporting_years.max()) - first_year + 1 if rows else 1
    keys = place_index.astype(np.int64) * span + (reporting_years - first_year)
    distinct, codes = np.unique(keys, return_inverse=True)
    resolved = [
        resolve_factors(method, places[int(key) // span], first_year + int(key) % span, policy)[0]
        for key in distinct
    ]
    factor_columns: dict[str, Num] = {
        name: np.array([r[name] for r in resolved], dtype=np.float64)[codes] for name in method.factors
    }
    result = {
        key: _column(value, rows)
        for key, value in method.formula(values, factor_columns, policy.convention).items()
    }
    if balance_yuan is not None and investment_yuan is not None:
        if (
            policy.attribution == "pcaf" and equity_debt_yuan is not None
        ):  # as attribution(): PCAF where known
            investment_yuan = np.where(np.isnan(equity_debt_yuan), investment_yuan, equity_debt_yuan)
        denominator = np.where(investment_yuan > 0, investment_yuan, np.inf)
        share = np.minimum(1.0, balance_yuan / denominator)
        result["share"] = share
        for key in method.outputs:
            result[f"attributed_{key}"] = result[key] * share
    return result


def _column(value: Num, rows: int) -> NDArray[np.float64]:
    if isinstance(value, np.ndarray) and value.shape == (rows,):
        return value.astype(np.float64, copy=False)
    return np.full(rows, float(value))


def complete_columns(
    method: Methodology, inputs: Mapping[str, NDArray[np.float64]], rows: int
) -> dict[str, Num]:
    """Column inputs with definitional defaults; a required column absent is an error."""
    missing = [spec.key for spec in method.inputs if spec.required and spec.key not in inputs]
    if missing:
        raise MissingInput(method, missing)
    return {
        spec.key: inputs[spec.key] if spec.key in inputs else np.full(rows, spec.default or 0.0)
        for spec in method.inputs
    }


__all__ = ["CARRIERS", "MissingInput", "Place", "Result", "assess", "assess_columns", "attribution"]
