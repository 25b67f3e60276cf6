"""The unit table and money in exact 分."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from greenfin.model.problems import ValueProblem
from greenfin.model.units import UNITS, Dimension, UnknownUnitError, lookup_unit, to_canonical
from greenfin.model.values import MAX_FEN, fen_to_yuan, parse_money_fen, parse_quantity

MONEY_UNITS = ["元", "千元", "万元", "百万元", "亿元"]


@pytest.mark.parametrize(
    ("text", "dimension", "canonical"),
    [
        ("1 万元", Dimension.MONEY, Decimal(10_000)),
        ("2.5亿元", Dimension.MONEY, Decimal(250_000_000)),
        ("1 万千瓦时", Dimension.ENERGY, Decimal(10)),  # 10,000 kWh = 10 MWh
        ("1 亿千瓦时", Dimension.ENERGY, Decimal(100_000)),
        ("1500 kWh", Dimension.ENERGY, Decimal("1.5")),
        ("5 万千瓦", Dimension.POWER, Decimal(50)),
        ("ＭＷ".join(["3 ", ""]), Dimension.POWER, Decimal(3)),  # full-width unit
        ("1 万吨二氧化碳", Dimension.CO2, Decimal(10_000)),
        ("326 千克标准煤", Dimension.COAL, Decimal("0.326")),
    ],
)
def test_conversions_from_official_units(text: str, dimension: Dimension, canonical: Decimal) -> None:
    assert parse_quantity(text, None, dimension) == canonical


def test_unknown_and_mismatched_units_are_errors() -> None:
    with pytest.raises(UnknownUnitError):
        lookup_unit("万亿元")
    with pytest.raises(UnknownUnitError, match="expected money"):
        lookup_unit("MW", Dimension.MONEY)
    with pytest.raises(ValueProblem, match="unknown unit"):
        parse_quantity("12 美刀", None, Dimension.MONEY)
    with pytest.raises(ValueProblem, match="no unit"):
        parse_quantity("12", None, Dimension.MONEY)


def test_every_alias_resolves_to_its_canonical_dimension() -> None:
    for alias, unit in UNITS.items():
        assert lookup_unit(alias) is unit
        assert unit.factor > 0


fen_values = st.integers(min_value=0, max_value=MAX_FEN)


@given(fen_values, st.sampled_from(MONEY_UNITS))
def test_money_round_trips_exactly_through_any_unit(fen: int, unit_name: str) -> None:
    unit = lookup_unit(unit_name)
    written = format(fen_to_yuan(fen) / unit.factor, "f")  # what a bank's export would show
    assert parse_money_fen(written, unit) == fen
    assert parse_money_fen(f"{written}{unit_name}", None) == fen


@given(st.decimals(min_value=0, max_value=10**9, places=6, allow_nan=False), st.sampled_from(MONEY_UNITS))
def test_money_is_never_rounded_silently(value: Decimal, unit_name: str) -> None:
    unit = lookup_unit(unit_name)
    exact = to_canonical(value, unit) * 100
    if exact > MAX_FEN:
        with pytest.raises(ValueProblem, match="largest amount"):
            parse_money_fen(format(value, "f"), unit)
    elif exact == exact.to_integral_value():
        assert parse_money_fen(format(value, "f"), unit) == int(exact)
    else:
        with pytest.raises(ValueProblem, match="finer than 1"):
            parse_money_fen(format(value, "f"), unit)


@given(st.decimals(min_value=-(10**9), max_value=Decimal("-0.01"), places=2, allow_nan=False))
def test_negative_money_is_refused(value: Decimal) -> None:
    with pytest.raises(ValueProblem, match="negative"):
        parse_money_fen(format(value, "f"), lookup_unit("元"))


@given(
    st.decimals(min_value=0, max_value=10**12, places=3, allow_nan=False),  # 0.001 kWh = 1e-6 MWh
    st.sampled_from(["MWh", "kWh", "万千瓦时", "GWh"]),
)
def test_quantities_are_canonical_and_equal_spellings_agree(value: Decimal, unit_name: str) -> None:
    a = parse_quantity(f"{value}", lookup_unit(unit_name), Dimension.ENERGY)
    b = parse_quantity(f"{value:.6f}", lookup_unit(unit_name), Dimension.ENERGY)
    assert a == b and repr(a) == repr(b)
    assert a == value * lookup_unit(unit_name).factor


def test_thousands_separators_and_full_width_digits() -> None:
    yuan = lookup_unit("元")
    assert parse_money_fen("1,234,567.89", yuan) == 123456789
    assert parse_money_fen("１２３４", yuan) == 123400
    with pytest.raises(ValueProblem, match="number"):
        parse_money_fen("一百万", yuan)


def test_quantities_are_refused_rather_than_rounded_in_store() -> None:
    mwh = lookup_unit("MWh")
    assert parse_quantity("0.000001", mwh, Dimension.ENERGY) == Decimal("0.000001")
    with pytest.raises(ValueProblem, match="finer than 6 decimals"):
        parse_quantity("0.0000001", mwh, Dimension.ENERGY)
    with pytest.raises(ValueProblem, match="largest quantity"):
        parse_quantity("1e17", mwh, Dimension.ENERGY)
