"""Which stretches of a loan text say what the money finances, and which do not.

A phrase found in a text counts only where it speaks of the use of funds.  It does not count when
it is negated (非光伏, 不含储能), excepted (除…外), part of the borrower's name or description
(XX光伏贸易有限公司, 借款人主营…), or in a repayment or security clause (还款来源为售电收入，以电费
收费权质押).  These rules are the engine's reading of Chinese loan texts, kept apart from the
scoring of catalogue items; both the engine and the naive baseline of ``bench/classify.py`` use
them, so the two can only differ in speed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

#: A phrase right after one of these is negated (非光伏, 不含储能, 无储能, 不用于光伏).  除 is left out: it
#: ends too many words (消除黑臭水体, 拆除燃煤锅炉).
NEGATIONS = ("不用于", "不包括", "不涉及", "不含", "非", "无")
#: These cues negate the rest of their clause, not only the next phrase: 不含储能、充电桩 excludes
#: both, and 贷款不得投向光伏 is about what the money may not do.  Single-character cues (非, 无)
#: stay adjacent: 无组织 or 非晶 begin words, and 非…的 qualifies only its own phrase.  未取得 / 未获得 /
#: 未申请 / 未通过 / 未达到 say a certification or grade is missing (产品未申请绿色食品认证).
CLAUSE_NEGATIONS = (
    "不用于",
    "不包括",
    "不涉及",
    "不含",
    "不得",
    "严禁",
    "禁止",
    "未取得",
    "未获得",
    "未申请",
    "未通过",
    "未达到",
)
#: Where a negated clause ends: a comma, a full stop, a semicolon or a bracket.
CLAUSE_ENDS = frozenset("，,；;。.:：（）()【】[]")
#: A clause that introduces the borrower (借款人为风电设备贸易公司，用于…) describes who borrows, not
#: what the money finances: phrases from the cue to the end of the borrower's name, and a bracket
#: right after it (借款人XX发电有限公司（燃煤电厂）), do not count.  经营范围 (business scope)
#: describes the borrower to the end of its clause.
BORROWER_CUES = ("借款人", "申请人", "承借主体", "借款主体")
BORROWER_NOUNS = ("有限公司", "公司", "企业", "集团", "合作社")
SCOPE_CUES = ("经营范围", "主营业务为", "主营业务包括")
#: A credit memo introduces the borrower, then states the loan and its use, then where repayment
#: and security come from (借款人XX煤业有限公司成立于2003年，主营煤炭开采…。申请项目贷款…，用于建设光伏
#: 电站，还款来源为售电收入，以电费收费权质押).  Only the use says what the money finances.
USE_CUES = ("用于", "用途为", "用途:", "用途：")
#: Before the use, a clause with one of these describes the borrower as it is today …
DESCRIPTION_CUES = ("主营", "主要从事", "成立于", "注册资本", "经营范围")
#: … and so does one with these, unless it also says what is to be built or bought.
DESCRIPTION_HINTS = ("年产", "产能", "拥有", "现有", "经营稳定", "国企", "上市", "服务人口", "日供水能力")
PROJECT_CUES = ("拟", "申请", "本次", "本笔", "建设", "新建", "扩建", "投资", "实施", "购置", "改造", "采购")
#: A clause that starts with the borrower and says what it runs (借款人XX风电公司运营200MW风电场).
OPERATION_HINTS = ("运营", "经营")
#: A use that buys the inputs of the borrower's own business (working capital for raw materials,
#: an operator's chemicals and power) finances that business: the description then counts.
BUSINESS_INPUTS = ("原材料", "原料", "辅料", "药剂", "运营期", "日常运营", "生产所需", "备品备件", "货款", "进货",
                   "承接", "开展")  # fmt: skip
#: Repayment and security clauses name revenues and collateral, not the use.
REPAYMENT_CUES = ("还款来源", "担保方式")
SECURITY_STARTS = ("以", "并以", "由", "并由", "追加", "另以")
SECURITY_WORDS = ("抵押", "质押", "保证", "担保")
MEMO_CLAUSE_ENDS = frozenset("，,；;。")
#: A company's name (XX光伏贸易有限公司, 中广核风电有限公司) says what the company is called, not what
#: the loan finances.  A name ends in one of these and starts at a placeholder (XX, 某), after a
#: word that introduces it, or at the start of its clause, at most NAME_REACH characters back.
#: A bare 公司 with no placeholder names a kind of company; followed by its working capital
#: (环评公司经营周转) the loan finances that business, otherwise (建材贸易公司仓库屋顶光伏) it is a name.
COMPANY_SUFFIXES = ("有限责任公司", "股份有限公司", "有限公司", "股份公司", "公司", "集团")
NAME_PLACEHOLDERS = ("xx", "某")
NAME_STOPS = ("用于", "借款人", "申请人", "收购", "投资", "采购", "购置", "支付", "向", "为", "与", "对",
              "由", "及", "和", "、", "给", "的", "系", "是")  # fmt: skip
NAME_REACH = 16
#: After a kind of company, these say the loan funds the company's own business.
WORKING_CAPITAL = ("流动资金", "经营周转", "周转", "流贷", "日常经营", "营运资金", "经营资金", "补充流动")
#: A phrase right before one of these names the borrower, not what the loan finances
#: (储能公司租赁办公室: the loan is for an office).
BORROWER_NAMES = ("公司", "集团", "有限", "股份")


def uncounted(text: str, activity_of: Mapping[str, Any]) -> Callable[[int, str], bool]:
    """Whether a phrase found at a position does not say what the loan finances: it is negated or
    excepted, in a repayment or security clause, or in the borrower's name or description.

    An activity word in the borrower's name or description still counts when the loan is working
    capital: then the borrower's business is what it finances (借款人为电脑经销商，流动资金用于采购
    一级能效电脑: trade), while the name's objects (XX光伏贸易有限公司 … 日用百货) still do not.
    """
    never = _negated_spans(text) + except_spans(text) + _repayment_spans(text)
    business = _borrower_spans(text) + _description_spans(text) + _name_spans(text)
    working = any(cue in text for cue in WORKING_CAPITAL)

    def skipped(start: int, phrase: str) -> bool:
        if any(low <= start < high for low, high in never):
            return True
        if working and phrase in activity_of:
            return False
        return any(low <= start < high for low, high in business)

    return skipped


_NEGATION_LENGTHS = sorted({len(cue) for cue in NEGATIONS})
_NEGATION_SET = frozenset(NEGATIONS)
_NAME_LENGTHS = sorted({len(name) for name in BORROWER_NAMES})
_NAME_SET = frozenset(BORROWER_NAMES)


def counts_at(text: str, start: int, end: int, names_borrower: bool = True) -> bool:
    """Whether a phrase found at ``text[start:end]`` speaks of what the loan finances."""
    for size in _NEGATION_LENGTHS:
        if start >= size and text[start - size : start] in _NEGATION_SET:
            return False
    return not names_borrower or all(text[end : end + size] not in _NAME_SET for size in _NAME_LENGTHS)


def _negated_spans(text: str) -> list[tuple[int, int]]:
    """The stretches from a clause-wide negation cue to the end of its clause."""
    spans = []
    for cue in CLAUSE_NEGATIONS:
        at = text.find(cue)
        while at >= 0:
            start = end = at + len(cue)
            while end < len(text) and text[end] not in CLAUSE_ENDS:
                end += 1
            spans.append((start, end))
            at = text.find(cue, start)
    return spans


#: 除 that begins a word rather than "except": 除尘, 除湿, 除臭 …; and 除 that ends one: 消除, 拆除 ….
_NOT_EXCEPT_AFTER = frozenset("尘湿臭雾盐冰磷氮硫味渣锈垢霜草虫险夕")
_NOT_EXCEPT_BEFORE = frozenset("消拆去清排剔免解祛扣脱根铲摘开革废切删")
_EXCEPT_REACH = 25  # 除 and its 外 stand within this many characters


def except_spans(text: str) -> list[tuple[int, int]]:
    """除…外 / 除…以外 and "…除外" within one clause: everything between them is excepted; so is
    what stands before a bare 以外 / 之外 in its clause (仅用于污水处理厂以外的建设内容)."""
    spans = []
    closed = set()  # positions of 外 already paired with a 除
    at = text.find("除")
    while at >= 0:
        after = text[at + 1 : at + 2]
        before = text[at - 1 : at] if at else ""
        clause_start = max((text.rfind(end, 0, at) for end in CLAUSE_ENDS), default=-1) + 1
        if text.startswith("除外", at):  # 储能系统除外: the clause before it is excepted
            spans.append((clause_start, at))
        elif after and after not in _NOT_EXCEPT_AFTER and before not in _NOT_EXCEPT_BEFORE:
            end = at + 1
            while end < len(text) and end - at <= _EXCEPT_REACH and text[end] not in CLAUSE_ENDS:
                if text[end] == "外":
                    spans.append((at + 1, end - 1 if text[end - 1] in "以之" else end))
                    closed.add(end)
                    break
                end += 1
        at = text.find("除", at + 1)
    for word in ("以外", "之外"):
        at = text.find(word)
        while at >= 0:
            if at + 1 not in closed:
                clause_start = max((text.rfind(end, 0, at) for end in CLAUSE_ENDS), default=-1) + 1
                spans.append((clause_start, at))
            at = text.find(word, at + 2)
    return spans


def _borrower_spans(text: str) -> list[tuple[int, int]]:
    """The stretches that describe the borrower: its introduction and its business scope."""
    spans = []
    for cue in BORROWER_CUES:
        at = text.find(cue)
        while at >= 0:
            end = at + len(cue)
            if text.startswith(
                ("为", "系", "是"), end
            ):  # 借款人为风电运营商，…: the whole clause is about it
                close = end
                while close < len(text) and text[close] not in CLAUSE_ENDS:
                    close += 1
                spans.append((at, close))
                at = text.find(cue, close)
                continue
            while end < len(text) and text[end] not in CLAUSE_ENDS and not text.startswith("用于", end):
                noun = next((n for n in BORROWER_NOUNS if text.startswith(n, end)), None)
                if noun is not None:
                    end += len(noun)
                    if end < len(text) and text[end] in "（(":
                        close = min(
                            (i for i in (text.find("）", end), text.find(")", end)) if i >= 0), default=-1
                        )
                        end = close + 1 if close >= 0 else end
                    spans.append((at, end))
                    break
                end += 1
            at = text.find(cue, at + len(cue))
    for cue in SCOPE_CUES:
        at = text.find(cue)
        while at >= 0:
            end = at + len(cue)
            while end < len(text) and text[end] not in "，,；;。）)":
                end += 1
            spans.append((at, end))
            at = text.find(cue, end)
    return spans


def _name_spans(text: str) -> list[tuple[int, int]]:
    """The company names in a text (see COMPANY_SUFFIXES)."""
    spans: list[tuple[int, int]] = []
    for suffix in COMPANY_SUFFIXES:
        at = text.find(suffix)
        while at >= 0:
            end = at + len(suffix)
            if not any(low <= at < high for low, high in spans):
                start = max(0, at - NAME_REACH)
                for cut in range(at - 1, start - 1, -1):
                    if text[cut] in MEMO_CLAUSE_ENDS or text[cut] in "（(:：":
                        start = cut + 1
                        break
                window = text[start:at]
                stop = max(
                    (window.rfind(word) + len(word) for word in NAME_STOPS if word in window), default=0
                )
                marker = max((window.rfind(mark) for mark in NAME_PLACEHOLDERS), default=-1)
                if marker >= 0 or suffix != "公司" or not _finances_the_company(text[end:]):
                    spans.append((start + (marker if marker >= 0 else stop), end))
            at = text.find(suffix, end)
    return spans


def _finances_the_company(rest: str) -> bool:
    """Whether what follows a kind of company (环评公司…) is its working capital, or nothing:
    then the company's business is what the loan finances."""
    return not rest or rest.startswith(WORKING_CAPITAL)


def _clauses(text: str) -> list[tuple[int, int]]:
    """(start, end) of each clause, split at commas, semicolons and full stops (not at a decimal
    point: 4.2亿元 is one clause)."""
    spans, start = [], 0
    for at, char in enumerate(text):
        if char in MEMO_CLAUSE_ENDS:
            spans.append((start, at))
            start = at + 1
    spans.append((start, len(text)))
    return [(low, high) for low, high in spans if high > low]


def _use_start(text: str) -> int | None:
    """Where the use of funds starts (its first 用于 / 用途为), if the text states one."""
    found = [at for at in (text.find(cue) for cue in USE_CUES) if at >= 0]
    return min(found) if found else None


def _description_spans(text: str) -> list[tuple[int, int]]:
    """In a memo-style text, the clauses before the use of funds that describe the borrower as it
    is, unless the use buys the inputs of that business (then the description is the use)."""
    first_use = _use_start(text)
    if first_use is None or any(word in text[first_use:] for word in BUSINESS_INPUTS):
        return []
    return [
        (low, high)
        for low, high in _clauses(text)
        if high <= first_use and _describes_borrower(text[low:high])
    ]


def _repayment_spans(text: str) -> list[tuple[int, int]]:
    """Repayment and security clauses, anywhere: they name revenues and collateral, not the use."""
    if not any(cue in text for cue in REPAYMENT_CUES + SECURITY_WORDS):
        return []
    spans = []
    for low, high in _clauses(text):
        clause = text[low:high]
        at = next((clause.find(cue) for cue in REPAYMENT_CUES if cue in clause), -1)
        if at >= 0:
            spans.append((low + at, high))
        elif _secures(clause):
            spans.append((low, high))
    return spans


def _secures(clause: str) -> bool:
    return clause.startswith(SECURITY_STARTS) and any(word in clause for word in SECURITY_WORDS)


def _describes_borrower(clause: str) -> bool:
    if any(cue in clause for cue in ("拟", "申请", "本次", "本笔")):
        return False
    if any(cue in clause for cue in DESCRIPTION_CUES):
        return True
    if any(cue in clause for cue in PROJECT_CUES):
        return False
    if any(hint in clause for hint in DESCRIPTION_HINTS):
        return True
    if not clause.startswith(BORROWER_CUES):
        return False
    # 借款人XX热电有限公司为重点排放单位 / 运营200MW风电场: who it is and what it runs today
    return any(hint in clause for hint in OPERATION_HINTS) or any(
        f"{noun}{verb}" in clause for noun in BORROWER_NOUNS for verb in "为系是"
    )
