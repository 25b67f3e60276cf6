"""Measuring the engine against a labelled set: precision, recall and F1 by level-1 category.

Two sets, each written apart from the rules under one labelling rule
(``tests/data/classification_eval.md``): the first labeller's ``classification_eval.csv`` (ids
``E…``), split deterministically into a development half, which rule writers may look at, and a
held-out test half, which they must not; and a second labeller's ``classification_eval_b.csv``
(ids ``F…``), held out whole.  Report the held-out rows.

Scoring rule: a row labelled ``yes`` expects its catalogue's level-1 category and leaf; ``no``
expects none.  The engine predicts its chosen item when its status is green or needs review
(a review with an item still names the item), and none when not green.  Per category,
precision = right predictions of it / predictions of it, recall = right / expected; the overall
figures are micro-averages over the green categories.  Rows labelled ``review`` are scored only on
whether the engine also asks for review.
"""

from __future__ import annotations

import csv
import datetime as dt
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from greenfin.taxonomy.engine import Label, Subject, classify_many

Split = Literal["dev", "test", "all"]


@dataclass(frozen=True)
class Case:
    id: str
    subject: Subject
    expected_green: str
    catalogue: str
    level1: str
    leaf: str
    category: str


@dataclass(frozen=True)
class Score:
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class Report:
    cases: int
    level1: dict[str, Score]
    level1_overall: Score
    leaf_overall: Score
    green_accuracy: float
    review_agreement: tuple[int, int]
    misses: list[tuple[Case, Label]]


#: Id prefixes of sets held out whole: a second labeller's set measures the rules written from the
#: first one's development half, so no row of it may be looked at by a rule writer.
HELD_OUT_WHOLE = ("F",)


def split_of(case_id: str) -> Literal["dev", "test"]:
    """The half a row belongs to, fixed by its id."""
    if case_id.startswith(HELD_OUT_WHOLE):
        return "test"
    return "test" if zlib.crc32(case_id.encode()) % 2 else "dev"


def parameters_of(text: str) -> dict[str, str]:
    """``组件转换效率=22.8 %; 装机容量=50 MW`` as a dict."""
    result = {}
    for part in text.replace("；", ";").split(";"):
        name, sep, value = part.partition("=")
        if sep and name.strip():
            result[name.strip()] = value.strip()
    return result


def load_cases(path: Path, split: Split = "all") -> list[Case]:
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    cases = []
    for row in rows:
        if split != "all" and split_of(row["id"]) != split:
            continue
        approval = dt.date.fromisoformat(row["approval_date"]) if row.get("approval_date") else None
        subject = Subject(
            row["text"], row.get("industry_code") or None, approval, parameters_of(row.get("params", ""))
        )
        cases.append(
            Case(
                row["id"], subject, row["expected_green"], row["expected_catalogue"],
                row["expected_level1"], row["expected_leaf"], row.get("category", ""),
            )
        )  # fmt: skip
    return cases


def _score(tp: int, fp: int, fn: int) -> Score:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Score(precision, recall, f1, tp + fn)


def evaluate(cases: list[Case]) -> Report:
    labels = classify_many(case.subject for case in cases)
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    leaf = Counter[str]()
    green_right = scored = 0
    review = [0, 0]
    misses = []
    for case, label in zip(cases, labels, strict=True):
        if case.expected_green == "review":
            review[1] += 1
            review[0] += label.status == "needs_review"
            continue
        scored += 1
        item = label.item if label.status != "not_green" else None
        predicted = f"{label.catalogue}:{item.level1_code}" if item else ""
        expected = f"{case.catalogue}:{case.level1}" if case.expected_green == "yes" else ""
        predicted_leaf = f"{label.catalogue}:{item.code}" if item else ""
        expected_leaf = f"{case.catalogue}:{case.leaf}" if case.expected_green == "yes" else ""
        green_right += bool(predicted) == bool(expected)
        if predicted and predicted == expected:
            tp[predicted] += 1
        else:
            if predicted:
                fp[predicted] += 1
            if expected:
                fn[expected] += 1
        if predicted_leaf and predicted_leaf == expected_leaf:
            leaf["tp"] += 1
        else:
            leaf["fp"] += bool(predicted_leaf)
            leaf["fn"] += bool(expected_leaf)
        if predicted_leaf != expected_leaf:
            misses.append((case, label))
    classes = sorted(set(tp) | set(fp) | set(fn))
    per_class = {c: _score(tp[c], fp[c], fn[c]) for c in classes}
    overall = _score(sum(tp.values()), sum(fp.values()), sum(fn.values()))
    return Report(
        len(cases), per_class, overall, _score(leaf["tp"], leaf["fp"], leaf["fn"]),
        green_right / scored if scored else 0.0, (review[0], review[1]), misses,
    )  # fmt: skip
