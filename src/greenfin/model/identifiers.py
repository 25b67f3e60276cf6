"""Chinese identifiers that bank data must respect, validated by their own standards.

- 统一社会信用代码 (GB 32100-2015): 18 characters; the 18th is a check character computed
  modulo 31 over the first 17 with weights 3^(i-1) mod 31.
- 组织机构代码 (GB 11714-1997), positions 9-17 of the credit code: 8 characters and a check
  character computed modulo 11 with weights 3, 7, 9, 10, 5, 8, 4, 2.  Used here only to *make*
  realistic codes for demo data; GB 32100's own check is what validation insists on.
- 行政区划代码 (GB/T 2260): six digits.
- 国民经济行业分类 (GB/T 4754-2017): a section letter followed by 2, 3 or 4 digits.
"""

from __future__ import annotations

import re
import unicodedata
from operator import mul

from greenfin.model.problems import ValueProblem

#: GB 32100-2015 character set: digits and upper-case letters without I, O, S, V, Z.
CREDIT_CODE_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_VALUE = {ch: i for i, ch in enumerate(CREDIT_CODE_CHARSET)}
#: GB 32100-2015 §4 weights for positions 1-17 (3^(i-1) mod 31).
CREDIT_CODE_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))

_CREDIT_SHAPE = re.compile(f"^[{CREDIT_CODE_CHARSET}]{{18}}$")
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_ORG_CHARSET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


class IdentifierError(ValueProblem):
    """An identifier that does not follow its standard; the message says how."""


def _fold(text: str) -> str:
    """Full-width to half-width, upper case, no surrounding or inner spaces."""
    return unicodedata.normalize("NFKC", text).strip().replace(" ", "").upper()


def credit_code_check_char(first17: str) -> str:
    """The GB 32100-2015 check character for the first 17 characters of a credit code."""
    try:
        total = sum(map(mul, map(_CREDIT_VALUE.__getitem__, first17), CREDIT_CODE_WEIGHTS))
    except KeyError as exc:
        ch = exc.args[0]
        raise IdentifierError(
            f"character {ch!r} is not allowed in a credit code",
            f"统一社会信用代码中不允许出现字符 {ch!r}",
        ) from None
    return CREDIT_CODE_CHARSET[(31 - total % 31) % 31]


def parse_credit_code(text: str) -> str:
    """Validate a 统一社会信用代码 and return it in canonical form (upper case, half width)."""
    code = text if len(text) == 18 and text.isascii() and text.isupper() else _fold(text)
    if len(code) != 18:
        raise IdentifierError(
            f"a credit code has 18 characters, this one has {len(code)}",
            f"统一社会信用代码应为 18 位，此处为 {len(code)} 位",
        )
    bad = [ch for ch in code if ch not in _CREDIT_VALUE] if not _CREDIT_SHAPE.match(code) else None
    if bad:
        raise IdentifierError(
            f"character {bad[0]!r} is not allowed in a credit code (digits and letters except I, O, S, V, Z)",
            f"统一社会信用代码中不允许出现字符 {bad[0]!r}（仅限数字及除 I、O、S、V、Z 外的大写字母）",
        )
    expected = credit_code_check_char(code[:17])
    if code[17] != expected:
        raise IdentifierError(
            f"check character is {code[17]!r} but GB 32100-2015 gives {expected!r}",
            f"校验码为 {code[17]!r}，按 GB 32100-2015 应为 {expected!r}",
        )
    return code


def organisation_code_check_char(first8: str) -> str:
    """The GB 11714-1997 check character of an 8-character organisation code body."""
    total = sum(_ORG_CHARSET.index(ch) * w for ch, w in zip(first8, _ORG_WEIGHTS, strict=True))
    check = 11 - total % 11
    return {10: "X", 11: "0"}.get(check, str(check))


_REGION = re.compile(r"^[1-9]\d{5}$")


def parse_region_code(text: str) -> str:
    """Validate the shape of a GB/T 2260 six-digit administrative division code."""
    code = _fold(text)
    if code.endswith(".0"):  # a spreadsheet that stored the code as a number
        code = code[:-2]
    if not _REGION.match(code):
        raise IdentifierError(
            "a region code (GB/T 2260) is six digits, e.g. 330100",
            "行政区划代码应为 6 位数字，如 330100",
        )
    return code


_INDUSTRY = re.compile(r"^([A-T])(\d{2,4})$")


def parse_industry_code(text: str) -> tuple[str, str]:
    """Split a GB/T 4754-2017 code such as 'D4415' into its section and digits.

    Codes arrive as 'D4415', 'd 4415' or '4415' (digits only, section implied); the section is
    resolved by :mod:`greenfin.reference.industries`, which knows which division is in which
    section.
    """
    code = _fold(text)
    match = _INDUSTRY.match(code)
    if match:
        return match.group(1), match.group(2)
    if code.isdigit() and 2 <= len(code) <= 4:
        return "", code
    raise IdentifierError(
        "an industry code (GB/T 4754-2017) is a letter A-T and 2-4 digits, e.g. D4415",
        "行业代码（GB/T 4754-2017）应为门类字母 A–T 加 2–4 位数字，如 D4415",
    )
