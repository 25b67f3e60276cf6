"""Credit codes (GB 32100-2015), organisation codes (GB 11714-1997), region and industry codes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from greenfin.model.identifiers import (
    CREDIT_CODE_CHARSET,
    IdentifierError,
    credit_code_check_char,
    organisation_code_check_char,
    parse_credit_code,
    parse_region_code,
)
from greenfin.reference.industries import canonical_industry_code, division_of, section_of
from greenfin.reference.regions import region

# Real codes as published: the standard's own example, and two companies' business licences
# (阿里巴巴（中国）有限公司, 腾讯科技（深圳）有限公司, 深圳市腾讯计算机系统有限公司).
REAL_CODES = ["91350100M000100Y43", "91330100799655058B", "9144030071526726XG", "91440300708461136T"]


@pytest.mark.parametrize("code", REAL_CODES)
def test_real_credit_codes_validate(code: str) -> None:
    assert parse_credit_code(code) == code


def test_full_width_and_lower_case_are_folded() -> None:
    assert parse_credit_code(" ９１３３０１００７９９６５５０５８ｂ ") == "91330100799655058B"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("91330100799655058C", "check character"),
        ("91330100799655058", "18 characters"),
        ("9133010079965505I8B", "18 characters"),
        ("91330100799655O58B", "not allowed"),
    ],
)
def test_bad_credit_codes_say_why(text: str, fragment: str) -> None:
    with pytest.raises(IdentifierError, match=fragment) as info:
        parse_credit_code(text)
    assert info.value.zh != info.value.en  # a Chinese message is carried too


def test_organisation_code_checks_of_real_codes() -> None:
    # Positions 9-17 of a credit code are the GB 11714 organisation code with its own check.
    for code in REAL_CODES[1:]:
        assert organisation_code_check_char(code[8:16]) == code[16]


bodies = st.text(alphabet=CREDIT_CODE_CHARSET, min_size=17, max_size=17)


@given(bodies)
def test_any_body_with_its_check_char_validates(body: str) -> None:
    code = body + credit_code_check_char(body)
    assert parse_credit_code(code) == code


@given(bodies, st.integers(0, 17), st.sampled_from(CREDIT_CODE_CHARSET))
def test_every_single_substitution_is_caught(body: str, position: int, replacement: str) -> None:
    code = body + credit_code_check_char(body)
    mutated = code[:position] + replacement + code[position + 1 :]
    if mutated == code:
        return
    with pytest.raises(IdentifierError):
        parse_credit_code(mutated)


@given(bodies, st.integers(0, 15))
def test_adjacent_transpositions_are_caught(body: str, position: int) -> None:
    code = body + credit_code_check_char(body)
    swapped = code[:position] + code[position + 1] + code[position] + code[position + 2 :]
    if swapped == code:
        return
    with pytest.raises(IdentifierError):
        parse_credit_code(swapped)


def test_region_codes() -> None:
    assert parse_region_code("330100") == "330100"
    assert parse_region_code("330100.0") == "330100"  # a spreadsheet's number
    for bad in ("33010", "3301000", "03010A", "033010"):
        with pytest.raises(IdentifierError):
            parse_region_code(bad)
    with pytest.raises(IdentifierError, match="province"):
        region("990100")


@pytest.mark.parametrize(
    ("code", "province", "grid"),
    [
        ("431230", "湖南省", "华中"),  # 通道侗族自治县, DOMAIN.md §1
        ("500113", "重庆市", "西南"),
        ("330522", "浙江省", "华东"),
        ("370100", "山东省", "华北"),
        ("620902", "甘肃省", "西北"),
        ("440305", "广东省", "南方"),
        ("210100", "辽宁省", "东北"),
    ],
)
def test_region_gives_province_and_grid(code: str, province: str, grid: str) -> None:
    place = region(code)
    assert place.province.name_zh == province
    assert place.grid_region == grid


def test_tongdao_is_named() -> None:
    assert region("431230").name_zh == "通道侗族自治县"
    assert region("431230").prefecture_zh == "怀化市"


@pytest.mark.parametrize(
    ("text", "canonical"),
    [("D4415", "D4415"), ("4415", "D4415"), ("d 4416", "D4416"), ("C1713", "C1713"), ("01", "A01")],
)
def test_industry_codes(text: str, canonical: str) -> None:
    assert canonical_industry_code(text) == canonical


def test_industry_code_section_must_match_division() -> None:
    with pytest.raises(IdentifierError, match="belongs to section D"):
        canonical_industry_code("C4415")
    with pytest.raises(IdentifierError):
        canonical_industry_code("Z9999")
    assert section_of("D4415").name_zh.startswith("电力")
    assert division_of("D4415").name_zh == "电力、热力生产和供应业"
