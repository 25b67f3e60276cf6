"""Identification rules as data: one YAML file per catalogue version, readable by an officer.

Each leaf item of a catalogue has the phrases that point to it (``terms``), the activity it
covers (building and operating a facility, making equipment, trading it, a service, a consumer
purchase), phrases that rule it out, the GB/T 4754 classes that support it and the technical
criteria of the catalogue text.  ``docs/identification-rules.md`` describes the format.  The
files are checked on load against the catalogues in ``reference/``: an item that does not exist,
a name that differs from the catalogue's, or an unresolved ``@group`` stops the load.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

from greenfin.model.problems import ValueProblem
from greenfin.reference.catalogues import catalogue
from greenfin.taxonomy.normalise import normalise

OPERATE = "operate"
OPERATORS = (">=", ">", "<=", "<", "==", "in")


class RulesError(ValueProblem):
    """A rules file that does not fit the catalogue or the format."""


@dataclass(frozen=True, slots=True)
class Criterion:
    """A technical screening criterion of an item, as the catalogue states it."""

    id: str
    name: str
    params: tuple[str, ...]  # parameter-name aliases, folded
    op: str
    value: float | tuple[str, ...]
    unit: str | None
    when: tuple[str, ...]  # folded phrases; the criterion applies only if one occurs
    quote: str


@dataclass(frozen=True, slots=True)
class ItemRule:
    """How to recognise one leaf item of a catalogue."""

    code: str
    name: str
    activities: tuple[str, ...]
    terms: tuple[str, ...]
    require: tuple[tuple[str, ...], ...]
    exclude: tuple[str, ...]
    industries: tuple[str, ...]
    criteria: tuple[Criterion, ...]
    examples_green: tuple[str, ...]
    examples_not: tuple[str, ...]
    #: Exclusions that route the whole text elsewhere wherever they stand (a biomass boiler that
    #: replaces a coal boiler is the boiler-retrofit item, whichever clause names the coal boiler).
    exclude_anywhere: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RuleSet:
    """The rules of one catalogue version."""

    catalogue: str
    rules_version: str
    activities: dict[str, tuple[str, ...]]
    items: tuple[ItemRule, ...]
    veto: tuple[str, ...] = ()  # phrases of uses that are never green (房地产开发, 办公楼装修)
    #: Exclusions that speak of the whole loan wherever they stand (燃煤, 住宅开发); any other
    #: exclusion only rules an item out in the clause where that item's own phrase stands.
    whole_text_excludes: frozenset[str] = frozenset()

    @property
    def version_id(self) -> str:
        """What a stored result records, so that it can be reproduced: catalogue and rules."""
        return f"{self.catalogue}/{self.rules_version}"


def _phrases(raw: Any, groups: dict[str, list[str]], where: str) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise RulesError(f"{where}: expected a list of phrases", f"{where}：应为短语列表")
    found: list[str] = []
    for entry in raw:
        text = str(entry)
        if text.startswith("@"):
            if text[1:] not in groups:
                raise RulesError(f"{where}: unknown group {text}", f"{where}：未定义的短语组 {text}")
            found.extend(_phrases(groups[text[1:]], groups, f"{where} {text}"))
        else:
            folded = normalise(text)
            if folded:
                found.append(folded)
    return tuple(dict.fromkeys(found))


def _criterion(raw: dict[str, Any], groups: dict[str, list[str]], where: str) -> Criterion:
    op = str(raw.get("op", ""))
    if op not in OPERATORS:
        raise RulesError(
            f"{where}: operator {op!r} is not one of {OPERATORS}", f"{where}：运算符 {op!r} 无效"
        )
    value_raw = raw.get("value")
    value: float | tuple[str, ...]
    if op == "in":
        value = _phrases(value_raw, groups, where)
    else:
        try:
            value = float(str(value_raw))
        except ValueError as exc:
            raise RulesError(
                f"{where}: value {value_raw!r} is not a number", f"{where}：阈值不是数字"
            ) from exc
    return Criterion(
        id=str(raw.get("id") or where),
        name=str(raw.get("name", "")),
        params=_phrases(raw.get("param"), groups, where),
        op=op,
        value=value,
        unit=(str(raw["unit"]) if raw.get("unit") else None),
        when=_phrases(raw.get("when"), groups, where),
        quote=str(raw.get("quote", "")),
    )


def parse_rules(document: dict[str, Any]) -> RuleSet:
    """A rule set from a loaded YAML document, checked against its catalogue."""
    version = str(document.get("catalogue", ""))
    book = catalogue(version)
    groups: dict[str, list[str]] = {str(k): list(v or []) for k, v in (document.get("groups") or {}).items()}
    activities = {
        str(name): _phrases(phrases, groups, f"activity {name}")
        for name, phrases in (document.get("activities") or {}).items()
    }
    activities.setdefault(OPERATE, ())
    items = []
    seen: set[str] = set()
    for raw in document.get("items") or []:
        code = str(raw.get("code", ""))
        where = f"{version} {code}"
        if code not in book or book.children(code):
            raise RulesError(f"{where}: not a leaf item of the catalogue", f"{where}：不是目录的末级条目")
        if code in seen:
            raise RulesError(f"{where}: listed twice", f"{where}：重复列出")
        seen.add(code)
        name = str(raw.get("name", ""))
        if name and name != book.item(code).name_zh:
            raise RulesError(
                f"{where}: name {name!r} differs from the catalogue's {book.item(code).name_zh!r}",
                f"{where}：名称 {name!r} 与目录不符",
            )
        declared = raw.get("activity") or [OPERATE]
        kinds = tuple(str(a) for a in (declared if isinstance(declared, list) else [declared]))
        for kind in kinds:
            if kind not in activities:
                raise RulesError(f"{where}: unknown activity {kind!r}", f"{where}：未定义的活动类型 {kind!r}")
        terms = _phrases(raw.get("terms"), groups, where)
        if not terms:
            raise RulesError(f"{where}: no terms", f"{where}：没有识别短语")
        examples = raw.get("examples") or {}
        items.append(
            ItemRule(
                code=code,
                name=book.item(code).name_zh,
                activities=kinds,
                terms=terms,
                require=tuple(_phrases(group, groups, where) for group in raw.get("require") or []),
                exclude=_phrases(raw.get("exclude"), groups, where),
                industries=tuple(str(code).strip() for code in raw.get("industries") or []),
                criteria=tuple(
                    _criterion(c, groups, f"{where} criterion {i + 1}")
                    for i, c in enumerate(raw.get("criteria") or [])
                ),
                examples_green=tuple(str(t) for t in examples.get("green") or []),
                examples_not=tuple(str(t) for t in examples.get("not") or []),
                exclude_anywhere=_phrases(raw.get("exclude_anywhere"), groups, where),
            )
        )
    veto = _phrases(document.get("veto"), groups, f"{version} veto")
    whole = _phrases(document.get("whole_text_excludes"), groups, f"{version} whole_text_excludes")
    return RuleSet(
        version, str(document.get("rules_version", "")), activities, tuple(items), veto, frozenset(whole)
    )


@cache
def rule_set(version: str) -> RuleSet:
    """The shipped rules of a catalogue version."""
    resource = resources.files("greenfin.taxonomy").joinpath("rules", f"{version}.yaml")
    if not resource.is_file():
        raise RulesError(f"no identification rules for {version}", f"没有 {version} 的识别规则")
    return parse_rules(yaml.safe_load(resource.read_text(encoding="utf-8")))
