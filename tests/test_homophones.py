"""Sound-alike slips: the syllable comparison behind the engine's second look."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from greenfin.taxonomy.homophones import KEY_WORDS, REAL_WORDS, corrected, slips, syllable

PIECES = st.lists(
    st.sampled_from(
        [*KEY_WORDS, *REAL_WORDS, "丰电", "出能", "热崩", "光复", "电战", "项目", "建设", "，", "xx", "12"]
    ),
    max_size=12,
)


def test_known_slips_are_found_with_their_key_word() -> None:
    assert slips("丰电项目") == [(0, "丰电", "风电")]
    assert slips("电网侧出能电站") == [(3, "出能", "储能")]
    assert slips("污水源热崩") == [(3, "热崩", "热泵")]
    assert corrected("光复电战", slips("光复电战")) == "光伏电站"
    assert slips("雨污分留管网") == [(0, "雨污分留", "雨污分流")]  # four syllables, one slip


def test_key_words_and_real_words_are_never_slips() -> None:
    for word in (*KEY_WORDS, *REAL_WORDS):
        assert slips(word) == [], word


def test_syllables_ignore_tone_and_leave_other_characters_alone() -> None:
    assert syllable("丰") == syllable("风") == "feng"
    assert syllable("a") == "a" and syllable("，") == "，"


@given(PIECES)
def test_correcting_keeps_positions_and_leaves_nothing_to_correct(pieces: list[str]) -> None:
    text = "".join(pieces)
    found = slips(text)
    fixed = corrected(text, found)
    assert len(fixed) == len(text)
    for start, written, word in found:
        assert text[start : start + len(written)] == written and fixed[start : start + len(word)] == word
        assert [syllable(c) for c in written] == [syllable(c) for c in word]
    assert slips(fixed) == [] or all(w in REAL_WORDS for _s, w, _k in slips(fixed))
