"""Benchmark: label a million loan descriptions, against a naive rule loop measured in the same run.

Run with ``make bench-classify`` (or ``.venv/bin/python bench/classify.py --rows 1000000``).

- greenfin: the engine over generated descriptions on two worker processes (each distinct input
  labelled once, all phrases found in one Aho-Corasick pass);
- naive: the same rules and the same scoring, but every phrase of every rule searched in every
  text with ``str.find`` in a Python loop, on a sample, scaled to the whole input.

Both must give the same labels on the labelled set (checked here), so the speed costs no accuracy.
Targets (issue 3): >= 50,000 descriptions/s and >= 50x the naive baseline.
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing
import random
import resource
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from greenfin.taxonomy.engine import (
    Compiled,
    Subject,
    _compiled,
    _label,
    catalogue_version_for,
    folded_text,
)
from greenfin.taxonomy.evaluation import load_cases
from greenfin.taxonomy.spans import counts_at, uncounted

TARGET_RATE = 50_000
TARGET_RATIO = 50
EVAL_SET = Path(__file__).resolve().parents[1] / "tests" / "data" / "classification_eval.csv"

_PLACES = (
    "杭州",
    "湖州",
    "衢州",
    "宁波",
    "温州",
    "嘉兴",
    "丽水",
    "金华",
    "台州",
    "绍兴",
    "舟山",
    "通道",
    "怀化",
    "酒泉",
)
_GREEN = (
    "{p}{n}MW风电场项目建设", "{p}{n}MW集中式光伏电站建设及运营", "{p}屋顶分布式光伏{n}MW项目", "{p}污水处理厂提标改造（日处理{n}万吨）",
    "{p}新能源公交车购置{n}辆（纯电动）", "{p}充电桩及换电站建设", "{p}{n}MWh电化学储能电站", "{p}既有公共建筑节能改造",
    "{p}垃圾焚烧发电项目", "{p}农光互补光伏项目{n}MW", "{p}生物质热电联产项目", "{p}城市轨道交通{n}号线建设",
    "{p}工业园区余热回收利用改造", "{p}绿色建筑二星级住宅项目", "{p}森林抚育及造林{n}亩", "{p}抽水蓄能电站建设",
)  # fmt: skip
_BROWN = (
    "流动资金周转，采购原材料", "{p}房地产开发项目", "{p}商贸公司日常经营周转", "{p}燃煤电厂扩建工程",
    "{p}钢铁产能扩建", "{p}食品加工厂扩建", "个人消费贷款", "{p}酒店装修改造", "{p}物流仓储中心建设",
    "{p}绿城花园住宅开发", "{p}纺织印染企业流动资金",
)  # fmt: skip
_INDUSTRIES = ("D4415", "D4416", "N7721", "G5411", "K7010", "C1713", "C3825", "", "")


def descriptions(rows: int, seed: int = 7) -> Iterator[Subject]:
    """Generated loan descriptions: template, place and size vary, about 7 in 10 brown."""
    rnd = random.Random(seed)
    for _ in range(rows):
        template = rnd.choice(_GREEN) if rnd.random() < 0.3 else rnd.choice(_BROWN)
        text = template.format(p=rnd.choice(_PLACES), n=rnd.randint(1, 400))
        day = rnd.choice((None, "2024-05-10", "2025-11-03", "2026-03-01"))
        yield Subject(text, rnd.choice(_INDUSTRIES) or None, dt.date.fromisoformat(day) if day else None)


class Naive(Compiled):
    """The same rules, with every phrase searched in every text (what most code does)."""

    def __init__(self, compiled: Compiled) -> None:  # reuse the compiled tables, not the automaton
        self.__dict__.update(compiled.__dict__)
        self.phrases = sorted(self.automaton.keys())

    def occurrences(self, text: str) -> list[tuple[int, int, str]]:
        result = []
        skipped = uncounted(text, self.activity_of)
        for phrase in self.phrases:
            start = text.find(phrase)
            while start >= 0:
                end = start + len(phrase)
                if not skipped(start, phrase) and counts_at(text, start, end, phrase not in self.activity_of):
                    result.append((start, end, phrase))
                start = text.find(phrase, start + 1)
        return result


def _naive_label(subject: Subject) -> tuple[str, str | None]:
    version, note = catalogue_version_for(subject.approval_date)
    naive = _NAIVE.setdefault(version, Naive(_compiled(version)))
    label = _label(naive, folded_text(subject), subject, note)
    return label.status, label.item.code if label.item else None


_NAIVE: dict[str, Naive] = {}


def _fast_chunk(chunk: list[Subject]) -> list[tuple[str, str | None]]:
    from greenfin.taxonomy.engine import classify_many

    return [(label.status, label.item.code if label.item else None) for label in classify_many(chunk)]


_INPUT: list[Subject] = []  # made before the timing; forked workers read it without pickling


def _fast_slice(bounds: tuple[int, int]) -> int:
    return len(_fast_chunk(_INPUT[bounds[0] : bounds[1]]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--sample", type=int, default=2_000, help="texts the naive loop labels")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    if EVAL_SET.exists():  # the speed must cost no accuracy: both give the same labels
        cases = load_cases(EVAL_SET)
        fast = _fast_chunk([case.subject for case in cases])
        naive = [_naive_label(case.subject) for case in cases]
        differ = sum(a != b for a, b in zip(fast, naive, strict=True))
        print(f"labelled set: {len(cases)} texts, fast and naive labels differ on {differ}")
        if differ:
            sys.exit(1)

    for version in ("gbc-2021", "gfc-2025"):
        _compiled(version)  # load the rules before forking, as a long-running service would
    _INPUT.extend(descriptions(args.rows))
    size = 50_000
    slices = [(start, min(start + size, args.rows)) for start in range(0, args.rows, size)]
    context = multiprocessing.get_context("fork")
    with context.Pool(args.workers) as pool:
        started = time.perf_counter()
        labelled = sum(pool.imap_unordered(_fast_slice, slices))
        seconds = time.perf_counter() - started
    peak = max(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
    )
    rate = labelled / seconds

    sample = list(descriptions(args.sample, seed=11))
    started = time.perf_counter()
    for subject in sample:
        _naive_label(subject)
    naive_rate = len(sample) / (time.perf_counter() - started)

    print(
        f"greenfin : {labelled:>10,} descriptions in {seconds:6.1f} s = {rate:>9,.0f}/s on {args.workers} processes, peak {peak / 1024:,.0f} MB"
    )
    print(
        f"naive    : {len(sample):>10,} descriptions sampled = {naive_rate:>9,.0f}/s, scaled {args.rows / naive_rate:,.0f} s for {args.rows:,}"
    )
    print(f"ratio greenfin/naive: {rate / naive_rate:,.1f}x")
    met = rate >= TARGET_RATE and rate / naive_rate >= TARGET_RATIO
    print(f"targets (>= {TARGET_RATE:,}/s, >= {TARGET_RATIO}x naive): {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
