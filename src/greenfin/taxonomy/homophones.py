"""Typing slips that sound like the catalogues' key words: 丰电 for 风电, 出能 for 储能, 热崩 for 热泵.

Chinese is typed by sound (pinyin input), so the commonest slip in a credit system is another
character with the same syllable.  Listing every such slip as a synonym never ends; comparing
syllables does.  The engine uses this only as a second look, when a text names no catalogue
phrase at all, and keeps a correction only where the corrected word then sits inside a longer
phrase of the rules (光复电站 → 光伏电站, but not 光复路 → 光伏路); the label's reasons say what was
corrected, so an officer sees it.

Syllables come from pypinyin's dictionary, without tones (a slip often changes the tone too).
"""

from __future__ import annotations

from functools import cache

from pypinyin import Style, lazy_pinyin

#: The words whose slips matter: the short forms that carry most green texts.  Each was chosen
#: because no other word with the same syllables is common in loan texts.
KEY_WORDS = (
    "光伏", "风电", "储能", "热泵", "污水", "电站", "充电桩", "生物质", "地源", "空气源", "分布式",
    "沼气", "脱硫", "脱硝", "垃圾", "光热", "氢能", "风机", "核电", "地热", "新能源", "公交", "发电",
    "处理", "水电", "节能", "减排", "除尘", "光电", "风力", "电动", "环保", "回收", "再生", "危废", "矿山", "固废", "污泥", "海绵", "雨污分流",
)  # fmt: skip


#: Real words that sound like a key word: never a slip (调峰电站 is a peaking plant, 机组出力 its
#: output, 预热 preheating).
REAL_WORDS = frozenset({"峰电", "出力", "预热"})


@cache
def syllable(char: str) -> str:
    """The toneless syllable of a Chinese character; any other character stands for itself."""
    if not "\u4e00" <= char <= "\u9fff":
        return char
    return lazy_pinyin(char, style=Style.NORMAL)[0]


@cache
def _keys() -> dict[tuple[str, ...], str]:
    return {tuple(syllable(char) for char in word): word for word in KEY_WORDS}


def slips(text: str) -> list[tuple[int, str, str]]:
    """Every stretch of ``text`` that sounds like a key word but is written otherwise, as
    (start, as written, key word), left to right, without overlaps."""
    keys = _keys()
    sounds = [syllable(char) for char in text]
    found: list[tuple[int, str, str]] = []
    at = 0
    while at < len(text):
        for size in (4, 3, 2):
            word = keys.get(tuple(sounds[at : at + size]))
            written = text[at : at + size]
            if word is not None and written != word and written not in REAL_WORDS:
                found.append((at, written, word))
                at += size - 1
                break
        at += 1
    return found


def corrected(text: str, chosen: list[tuple[int, str, str]]) -> str:
    """``text`` with the chosen slips replaced by their key words (same length: positions hold)."""
    characters = list(text)
    for start, _written, word in chosen:
        characters[start : start + len(word)] = word
    return "".join(characters)
