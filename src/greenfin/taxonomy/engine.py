"""Labelling a loan or project against the catalogue in force on its approval date.

For one text the engine answers: which catalogue applies, which leaf items are candidates and
how strongly, what evidence each has (the phrases found, the borrower's industry, the technical
criteria passed, failed or unknown), which activity the text describes, and the CERF area of
the chosen item.  It never calls a loan green without evidence: no phrase of any item gives
"not green", and missing data (no text, an unknown criterion, two items too close to call, a
date before the 2021 catalogue) gives "needs review".

All phrases of a catalogue's rules are found in one pass with an Aho-Corasick automaton, so the
cost of a text does not grow with the number of rules.  A batch labels each distinct input once.
"""

from __future__ import annotations

import bisect
import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any, Literal

import ahocorasick

from greenfin.reference.catalogues import (
    GBC_2021,
    GBC_2021_IN_FORCE,
    GFC_2025,
    GFC_2025_IN_FORCE,
    catalogue,
    cerf_link,
)
from greenfin.taxonomy.homophones import corrected, slips
from greenfin.taxonomy.normalise import normalise
from greenfin.taxonomy.rules import OPERATE, Criterion, ItemRule, RuleSet, rule_set
from greenfin.taxonomy.spans import MEMO_CLAUSE_ENDS, counts_at, uncounted

Status = Literal["green", "not_green", "needs_review"]
Outcome = Literal["passed", "failed", "unknown"]

#: Score added when the borrower's GB/T 4754 class, or its division, supports the item.
INDUSTRY_CLASS_BONUS = 4.0
INDUSTRY_DIVISION_BONUS = 2.0
#: A label read through a sound-alike correction (丰电 → 风电) keeps this share of its confidence.
SOUND_ALIKE_CONFIDENCE = 0.8
#: Below this share of the two best scores, the winner is too close to call.
REVIEW_BELOW = 0.6
#: A text shorter than this (folded characters) with no phrase found is not judged.
SHORTEST_JUDGED = 4
_CANDIDATES_KEPT = 5
_CANDIDATES_JUDGED = 10  # candidates whose criteria are judged, in search of one that passes


@dataclass(frozen=True, slots=True)
class Subject:
    """What is labelled: a loan's purpose and project text, with what else is known."""

    text: str
    industry: str | None = None  # GB/T 4754-2017, e.g. D4415
    approval_date: dt.date | None = None
    parameters: Mapping[str, str] = field(default_factory=dict)  # name -> 'value unit'


@dataclass(frozen=True, slots=True)
class CriterionResult:
    """One technical criterion of an item, judged on the subject's parameters and text."""

    id: str
    name: str
    outcome: Outcome
    required: str
    observed: str | None
    quote: str


@dataclass(frozen=True, slots=True)
class Candidate:
    """A catalogue item the subject may fall under, with the evidence for it."""

    code: str
    name: str
    level1_code: str
    level1_name: str
    score: float
    terms: tuple[str, ...]
    industry_match: str | None
    criteria: tuple[CriterionResult, ...]

    @property
    def failed(self) -> bool:
        return any(c.outcome == "failed" for c in self.criteria)

    @property
    def unknown(self) -> tuple[CriterionResult, ...]:
        return tuple(c for c in self.criteria if c.outcome == "unknown")


@dataclass(frozen=True, slots=True)
class Label:
    """The engine's answer for one subject."""

    status: Status
    catalogue: str
    rules_version: str
    item: Candidate | None
    confidence: float
    candidates: tuple[Candidate, ...]
    activities: tuple[str, ...]
    cerf_area_id: str | None
    cerf_area_name: str | None
    reasons: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form, for ``--json`` and the store."""

        def candidate(c: Candidate) -> dict[str, Any]:
            return {
                "code": c.code, "name": c.name, "level1_code": c.level1_code, "level1_name": c.level1_name,
                "score": round(c.score, 2), "terms": list(c.terms), "industry_match": c.industry_match,
                "criteria": [
                    {"id": r.id, "name": r.name, "outcome": r.outcome, "required": r.required,
                     "observed": r.observed, "quote": r.quote}
                    for r in c.criteria
                ],
            }  # fmt: skip

        return {
            "status": self.status,
            "catalogue": self.catalogue,
            "rules_version": self.rules_version,
            "item": None if self.item is None else candidate(self.item),
            "confidence": round(self.confidence, 3),
            "candidates": [candidate(c) for c in self.candidates],
            "activities": list(self.activities),
            "cerf_area_id": self.cerf_area_id,
            "cerf_area_name": self.cerf_area_name,
            "reasons": list(self.reasons),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Label:
        """A label back from :meth:`as_dict` (a stored run's evidence)."""

        def candidate(raw: dict[str, Any]) -> Candidate:
            return Candidate(
                raw["code"], raw["name"], raw["level1_code"], raw["level1_name"], float(raw["score"]),
                tuple(raw["terms"]), raw["industry_match"], tuple(CriterionResult(**c) for c in raw["criteria"]),
            )  # fmt: skip

        return cls(
            data["status"], data["catalogue"], data["rules_version"],
            candidate(data["item"]) if data["item"] else None, float(data["confidence"]),
            tuple(candidate(c) for c in data["candidates"]), tuple(data["activities"]),
            data["cerf_area_id"], data["cerf_area_name"], tuple(data["reasons"]),
        )  # fmt: skip


_STATUS_ZH = {"green": "绿色", "not_green": "非绿色", "needs_review": "需人工复核"}
_OUTCOME_ZH = {"passed": "符合", "failed": "不符合", "unknown": "未知（缺少数据）"}
_ACTIVITY_ZH = {
    "operate": "设施建设和运营", "manufacture": "设备制造", "trade": "贸易", "service": "服务",
    "consume": "消费",
}  # fmt: skip


def explain_zh(label: Label) -> str:
    """A readable Chinese explanation of a label, for people."""
    lines = [
        f"结论：{_STATUS_ZH[label.status]}（置信度 {label.confidence:.0%}）",
        f"适用目录：{_catalogue_title(label.catalogue)}",
    ]
    if label.item is not None:
        item = label.item
        lines.append(f"对应条目：{item.code} {item.name}（一级：{item.level1_code} {item.level1_name}）")
        lines.append(f"匹配短语：{'、'.join(item.terms)}")
        if item.industry_match:
            lines.append(f"行业代码：{item.industry_match} 与条目所列行业一致")
        for result in item.criteria:
            observed = f"，实际 {result.observed}" if result.observed else ""
            lines.append(
                f"技术标准：{result.name} 要求 {result.required}{observed} → {_OUTCOME_ZH[result.outcome]}"
            )
    lines.append(f"活动类型：{'、'.join(_ACTIVITY_ZH.get(a, a) for a in label.activities)}")
    lines.append(f"碳减排支持工具领域：{label.cerf_area_name or '无（未对应）'}")
    others = [c for c in label.candidates if label.item is None or c.code != label.item.code]
    if others:
        lines.append("其他候选：" + "；".join(f"{c.code} {c.name}（得分 {c.score:.1f}）" for c in others[:3]))
    lines.extend(f"说明：{reason}" for reason in label.reasons)
    return "\n".join(lines)


def _catalogue_title(version: str) -> str:
    return {GFC_2025: "绿色金融支持项目目录（2025年版）", GBC_2021: "绿色债券支持项目目录（2021年版）"}.get(
        version, version
    )


def catalogue_version_for(approval_date: dt.date | None) -> tuple[str, str | None]:
    """The catalogue a subject is labelled under, and why when it is not the obvious one."""
    if approval_date is None:
        return GFC_2025, "未提供审批日期，按现行《绿色金融支持项目目录（2025年版）》识别"
    if approval_date >= GFC_2025_IN_FORCE:
        return GFC_2025, None
    if approval_date >= GBC_2021_IN_FORCE:
        return GBC_2021, None
    return GBC_2021, (
        f"审批日期 {approval_date.isoformat()} 早于 2021-07-01，当时适用 2015 年版目录（未随系统提供），"
        "按 2021 年版识别仅供参考，需人工复核"
    )


class Compiled:
    """A rule set ready to match: every phrase in one automaton, each knowing its uses."""

    def __init__(self, rules: RuleSet) -> None:
        self.rules = rules
        self.book = catalogue(rules.catalogue)
        self.term_items: dict[str, list[int]] = {}
        self.activity_of: dict[str, list[str]] = {}
        automaton = ahocorasick.Automaton()
        phrases: set[str] = set()
        for index, item in enumerate(rules.items):
            for term in item.terms:
                self.term_items.setdefault(term, []).append(index)
            phrases.update(item.terms, item.exclude, item.exclude_anywhere, *item.require)
            for criterion in item.criteria:
                phrases.update(criterion.when)
                if isinstance(criterion.value, tuple):
                    phrases.update(criterion.value)
        for activity, words in rules.activities.items():
            for word in words:
                self.activity_of.setdefault(word, []).append(activity)
            phrases.update(words)
        phrases.update(rules.veto)
        for phrase in phrases:
            automaton.add_word(phrase, phrase)
        automaton.make_automaton()
        self.automaton = automaton
        self.level1 = {item.code: self.book.level1_of(item.code) for item in rules.items}

    def found(self, text: str) -> set[str]:
        """The phrases that occur in a folded text, neither negated nor naming the borrower."""
        return {phrase for _start, _end, phrase in self.occurrences(text)}

    def occurrences(self, text: str) -> list[tuple[int, int, str]]:
        """Every counted occurrence of a phrase, as (start, end, phrase)."""
        result = []
        activity = self.activity_of
        skipped = uncounted(text, activity)
        for end, phrase in self.automaton.iter(text):
            start = end - len(phrase) + 1
            if skipped(start, phrase):
                continue
            # An activity word before 公司 still says what the borrower does (贸易公司: trade).
            if counts_at(text, start, end + 1, phrase not in activity):
                result.append((start, end + 1, phrase))
        return result

    def activity_words(self, occurrences: list[tuple[int, int, str]]) -> set[str]:
        """Activity words with at least one occurrence that is not part of a longer phrase found
        there (制造 in 再制造, 销售 in 销售收入): a word inside a phrase at one place still counts
        where it stands alone."""
        words = set()
        for start, end, phrase in occurrences:
            if phrase not in self.activity_of or phrase in words:
                continue
            covered = any(
                other != phrase and low <= start and end <= high and high - low > end - start
                for low, high, other in occurrences
            )
            if not covered:
                words.add(phrase)
        return words


@cache
def _compiled(version: str) -> Compiled:
    return Compiled(rule_set(version))


def folded_text(subject: Subject) -> str:
    """The folded text phrases are found in: the subject's text, then its parameters.

    A technology or fuel given only as a parameter (电池类型=单晶硅, 锅炉燃料=生物质) is as much
    part of the project's description as the same words in its text.
    """
    parts = [subject.text, *(f"{name}{value}" for name, value in subject.parameters.items())]
    return normalise("；".join(parts))


def classify(subject: Subject) -> Label:
    """Label one subject with the shipped rules of the catalogue in force on its date."""
    version, note = catalogue_version_for(subject.approval_date)
    return _label(_compiled(version), folded_text(subject), subject, note)


def classify_with(rules: Compiled, subject: Subject) -> Label:
    """Label one subject with given rules (a maintainer trying a rule change)."""
    _version, note = catalogue_version_for(subject.approval_date)
    return _label(rules, folded_text(subject), subject, note)


def classify_many(subjects: Iterable[Subject]) -> list[Label]:
    """Label many subjects; each distinct input is labelled once."""
    memo: dict[tuple[Any, ...], Label] = {}
    labels = []
    for subject in subjects:
        version, note = catalogue_version_for(subject.approval_date)
        folded = folded_text(subject)
        key = (
            version,
            note,
            folded,
            (subject.industry or "")[-4:],
            tuple(sorted(subject.parameters.items())),
        )
        label = memo.get(key)
        if label is None:
            label = memo[key] = _label(_compiled(version), folded, subject, note)
        labels.append(label)
    return labels


def _industry_match(item: ItemRule, industry: str | None) -> tuple[float, str | None]:
    if not industry or not item.industries:
        return 0.0, None
    digits = "".join(ch for ch in industry if ch.isdigit())
    if len(digits) >= 4 and digits[:4] in item.industries:
        return INDUSTRY_CLASS_BONUS, industry
    if digits[:2] and any(len(code) == 2 and code == digits[:2] for code in item.industries):
        return INDUSTRY_DIVISION_BONUS, industry
    return 0.0, None


def _label(
    compiled: Compiled, text: str, subject: Subject, note: str | None, second_look: bool = True
) -> Label:
    rules = compiled.rules
    reasons = [note] if note else []
    occurrences = compiled.occurrences(text)
    found = {phrase for _start, _end, phrase in occurrences}
    activities = sorted(
        {a for w in compiled.activity_words(occurrences) for a in compiled.activity_of[w] if a != OPERATE}
    )
    kinds = tuple(activities) or (OPERATE,)
    touched: dict[int, list[str]] = {}
    for phrase in found:
        for index in compiled.term_items.get(phrase, ()):
            touched.setdefault(index, []).append(phrase)
    scored = []
    kind_set = set(kinds)
    excluded = _exclusion(rules, occurrences, text)
    for index, terms in touched.items():
        item = rules.items[index]
        if kind_set.isdisjoint(item.activities) or excluded(item, terms):
            continue
        if not all(found.intersection(group) for group in item.require):
            continue
        distinct = _distinct_terms(terms)
        bonus, industry = _industry_match(item, subject.industry)
        scored.append((-(sum(map(len, distinct)) + bonus), item.code, item, distinct, industry))
    scored.sort(key=lambda entry: (entry[0], entry[1]))
    candidates = [  # the evidence is written out for the leading candidates only
        _candidate(compiled, item, -negative, distinct, industry, text, found, subject)
        for negative, _code, item, distinct, industry in scored[:_CANDIDATES_JUDGED]
    ]
    kept = tuple(candidates[:_CANDIDATES_KEPT])
    vetoed = sorted(found.intersection(rules.veto))
    if vetoed:
        reasons.insert(0, f"贷款用途含非绿色用途：{'、'.join(vetoed)}")
        if candidates:
            reasons.insert(1, "同时含目录条目的识别短语，属混合用途，需人工拆分或确认")
            return _result(compiled, "needs_review", candidates[0], 0.5, kept, kinds, reasons)
        return _result(compiled, "not_green", None, 0.9, kept, kinds, reasons)
    if not candidates:
        retried = _sound_alike(compiled, text, subject, note) if second_look else None
        if retried is not None:
            return retried
        if len(text) < SHORTEST_JUDGED:
            return _result(
                compiled, "needs_review", None, 0.0, kept, kinds, ["文本过短，无法判断用途", *reasons]
            )
        reasons.insert(0, "未在贷款用途和项目描述中找到任何目录条目的识别短语")
        return _result(compiled, "not_green", None, 0.9, kept, kinds, reasons)
    passing = [c for c in candidates if not c.failed]
    if not passing:
        top = candidates[0]
        failed = "、".join(r.name for r in top.criteria if r.outcome == "failed")
        reasons.insert(0, f"最可能的条目 {top.code} {top.name} 的技术标准不符合：{failed}")
        return _result(compiled, "not_green", None, 0.8, kept, kinds, reasons)
    top = passing[0]
    rival = next((c for c in passing[1:] if c.level1_code != top.level1_code or c.code != top.code), None)
    confidence = top.score / (top.score + rival.score) if rival else min(1.0, 0.7 + top.score / 20)
    status: Status = "green"
    if rival is not None and confidence < REVIEW_BELOW:
        status = "needs_review"
        reasons.append(f"与 {rival.code} {rival.name} 得分接近，需人工确认条目")
    if top.unknown:
        status = "needs_review"
        reasons.append("缺少技术标准所需数据：" + "、".join(r.name for r in top.unknown))
    if (
        note
        and status == "green"
        and subject.approval_date is not None
        and subject.approval_date < GBC_2021_IN_FORCE
    ):
        status = "needs_review"
    return _result(compiled, status, top, confidence, kept, kinds, reasons)


def _sound_alike(compiled: Compiled, text: str, subject: Subject, note: str | None) -> Label | None:
    """A second look at a text that named no catalogue phrase: words typed by sound (丰电项目)
    are corrected where the correction then sits inside a longer phrase of the rules (a word of
    four syllables or more, 雨污分流, is specific enough to stand as a phrase by itself)."""
    written = slips(text)
    if not written:
        return None
    fixed = corrected(text, written)
    counted = compiled.occurrences(fixed)
    kept = [
        (start, was, word)
        for start, was, word in written
        if any(
            low <= start and start + len(word) <= high and (high - low > len(word) or len(word) >= 4)
            for low, high, _ in counted
        )
    ]
    if not kept:
        return None
    label = _label(compiled, corrected(text, kept), subject, note, second_look=False)
    if label.item is None:
        return None
    said = "、".join(f"{was}→{word}" for _start, was, word in kept)
    return replace(
        label,
        confidence=round(label.confidence * SOUND_ALIKE_CONFIDENCE, 3),
        reasons=(f"按同音字纠正后识别 / read as typed by sound：{said}", *label.reasons),
    )


def _candidate(
    compiled: Compiled,
    item: ItemRule,
    score: float,
    distinct: list[str],
    industry: str | None,
    text: str,
    found: set[str],
    subject: Subject,
) -> Candidate:
    level1 = compiled.level1[item.code]
    return Candidate(
        code=item.code,
        name=item.name,
        level1_code=level1.code,
        level1_name=level1.name_zh,
        score=float(score),
        terms=tuple(sorted(distinct, key=lambda t: (-len(t), t))),
        industry_match=industry,
        criteria=tuple(_judge(c, text, found, subject.parameters) for c in item.criteria),
    )


def _exclusion(
    rules: RuleSet,
    occurrences: list[tuple[int, int, str]],
    text: str,
) -> Callable[[ItemRule, list[str]], bool]:
    """Whether an item is ruled out by one of its exclusions.

    An exclusion qualifies what stands near it: 园区 in "化工园区污水集中处理厂" routes the plant
    away from the in-plant wastewater item, but "改造后执行园区纳管标准" in the next clause does not.
    So an exclusion counts in the clause of one of the item's own phrases, and anywhere when the
    rules say it speaks of the whole loan (燃煤, 住宅开发) or routes it (an item's
    ``exclude_anywhere``).
    """
    ends = [at for at, char in enumerate(text) if char in MEMO_CLAUSE_ENDS]
    clause_of = [(bisect.bisect(ends, start), phrase) for start, _end, phrase in occurrences]

    def excluded(item: ItemRule, terms: list[str]) -> bool:
        if any(phrase in item.exclude_anywhere for _clause, phrase in clause_of):
            return True
        hits = [(clause, phrase) for clause, phrase in clause_of if phrase in item.exclude]
        if not hits:
            return False
        own_terms = set(terms)
        own = {clause for clause, phrase in clause_of if phrase in own_terms}
        return any(clause in own or phrase in rules.whole_text_excludes for clause, phrase in hits)

    return excluded


def _distinct_terms(terms: Sequence[str]) -> list[str]:
    """Matched terms without those contained in a longer matched term (风电 inside 风电场)."""
    ordered = sorted(set(terms), key=len, reverse=True)
    kept: list[str] = []
    for term in ordered:
        if not any(term in longer for longer in kept):
            kept.append(term)
    return kept


def _result(
    compiled: Compiled,
    status: Status,
    item: Candidate | None,
    confidence: float,
    candidates: tuple[Candidate, ...],
    activities: tuple[str, ...],
    reasons: list[str],
) -> Label:
    area_id = area_name = None
    if item is not None:
        link = cerf_link(compiled.rules.catalogue, item.code)
        if link is not None:
            area_id, area_name = link.top_area.id, link.top_area.name_zh
    return Label(
        status, compiled.rules.catalogue, compiled.rules.rules_version, item, confidence, candidates,
        activities, area_id, area_name, tuple(reasons),
    )  # fmt: skip


_NUMBER = r"(\d+(?:\.\d+)?)"


def _judge(
    criterion: Criterion, text: str, found: set[str], parameters: Mapping[str, str]
) -> CriterionResult:
    required = _required_text(criterion)
    if criterion.when and not found.intersection(criterion.when):
        return CriterionResult(criterion.id, criterion.name, "passed", required, "不适用", criterion.quote)
    if isinstance(criterion.value, tuple):
        wanted = criterion.value
        hit = next((phrase for phrase in wanted if phrase in found), None)
        for name, value in parameters.items():
            if any(alias in normalise(name) for alias in criterion.params):
                folded = normalise(value)
                hit = hit or next((phrase for phrase in wanted if phrase in folded), None)
                if hit is None:
                    return CriterionResult(
                        criterion.id, criterion.name, "failed", required, value, criterion.quote
                    )
        outcome: Outcome = "passed" if hit else "unknown"
        return CriterionResult(criterion.id, criterion.name, outcome, required, hit, criterion.quote)
    observed = _observed_number(criterion, text, parameters)
    if observed is None:
        return CriterionResult(criterion.id, criterion.name, "unknown", required, None, criterion.quote)
    ok = _compare(observed, criterion.op, float(criterion.value))
    shown = f"{observed:g}{criterion.unit or ''}"
    return CriterionResult(
        criterion.id, criterion.name, "passed" if ok else "failed", required, shown, criterion.quote
    )


def _observed_number(criterion: Criterion, text: str, parameters: Mapping[str, str]) -> float | None:
    for name, value in parameters.items():
        if any(alias in normalise(name) for alias in criterion.params):
            match = re.search(_NUMBER, normalise(value))
            if match:
                return float(match.group(1))
    for alias in criterion.params:
        match = re.search(re.escape(alias) + r"[^\d]{0,6}?" + _NUMBER, text)
        if match:
            return float(match.group(1))
    return None


def _compare(observed: float, op: str, value: float) -> bool:
    if op == ">=":
        return observed >= value
    if op == ">":
        return observed > value
    if op == "<=":
        return observed <= value
    if op == "<":
        return observed < value
    return observed == value


def _required_text(criterion: Criterion) -> str:
    if isinstance(criterion.value, tuple):
        return "之一：" + "、".join(criterion.value)
    return f"{criterion.op} {criterion.value:g}{criterion.unit or ''}"
