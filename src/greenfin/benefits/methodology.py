"""What a methodology is: id, version, inputs with units, factors read, and one formula.

A methodology is data plus one pure function.  The function reads its inputs and factors from two
mappings whose values are floats or NumPy arrays (see :mod:`greenfin.benefits.arith`) and returns
the indicators it yields; the assessment layer resolves factors, converts units and writes the
trail, so a formula holds nothing but the arithmetic its source document states.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from greenfin.benefits.arith import Num
from greenfin.model.units import Dimension
from greenfin.reference.factors import Convention

Formula = Callable[[Mapping[str, Num], Mapping[str, Num], Convention], dict[str, Num]]


@dataclass(frozen=True, slots=True)
class Input:
    """One input of a methodology, in the canonical unit of its dimension."""

    key: str
    name_zh: str
    dimension: Dimension | None  # None: a plain count (vehicles) or a number of hours
    unit: str
    required: bool = True
    #: A definitional default (0 MWh of own use when none is stated), never an estimate.
    default: float | None = None


@dataclass(frozen=True, slots=True)
class Methodology:
    id: str
    version: str
    name_zh: str
    name_en: str
    inputs: tuple[Input, ...]
    #: Factor names the formula reads: grid, coal_rate, co2_per_tce, coef:<carrier>, co2:<carrier>.
    factors: tuple[str, ...]
    outputs: tuple[str, ...]
    formula: Formula
    source: str

    @property
    def doc(self) -> str:
        return f"docs/methodology/{self.id}.md"

    def input(self, key: str) -> Input:
        return next(spec for spec in self.inputs if spec.key == key)
