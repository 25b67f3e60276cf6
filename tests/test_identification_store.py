"""Labelling the stored book, officers' decisions, the shipped rules, the CLI and the labelled set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from greenfin.cli import app
from greenfin.model.problems import ValueProblem
from greenfin.service.identification import decide, label_book, loan_label
from greenfin.service.importing import import_files
from greenfin.store.schema import audit_log, label_decisions, loan_labels
from greenfin.taxonomy.engine import Compiled, Subject, classify, classify_with
from greenfin.taxonomy.evaluation import evaluate, load_cases
from greenfin.taxonomy.rules import rule_set
from tests.conftest import DATA

SMALL = DATA / "small_book.csv"
EVAL = DATA / "classification_eval.csv"


def test_a_run_labels_every_loan_and_keeps_its_versions(engine: Engine) -> None:
    import_files(engine, [SMALL], actor="tester")
    run = label_book(engine, actor="officer")
    assert run.loans == 3 and run.green + run.not_green + run.needs_review == 3
    pv = loan_label(engine, "T-0002")["engine"]
    assert pv is not None and pv["status"] in ("green", "needs_review")
    assert pv["item_code"] == "3.2.2.2"  # approved 2024-06-01: the 2021 catalogue's solar item
    assert pv["catalogue"] == "gbc-2021" and pv["rules_version"] == rule_set("gbc-2021").rules_version
    assert "光伏" in "".join(pv["evidence"]["item"]["terms"])
    working_capital = loan_label(engine, "T-0001")["engine"]
    assert working_capital is not None and working_capital["status"] == "not_green"
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(loan_labels)).scalar_one() == 3
        trail = (
            connection.execute(select(audit_log).where(audit_log.c.action == "label_run")).mappings().one()
        )
        assert trail["actor"] == "officer"


def test_decisions_are_recorded_audited_and_survive_reruns(engine: Engine) -> None:
    import_files(engine, [SMALL], actor="tester")
    label_book(engine, actor="officer")
    with pytest.raises(ValueProblem):
        decide(engine, "T-0001", action="override", reason="  ", item_code="3.2.2.1")  # no reason
    with pytest.raises(ValueProblem):
        decide(
            engine, "T-0001", action="override", reason="x", item_code="4.2.1"
        )  # a 2025 code for a 2024 loan
    with pytest.raises(ValueProblem):
        decide(engine, "NO-SUCH", action="override", reason="x", not_green=True)
    decision = decide(
        engine,
        "T-0001",
        action="override",
        reason="合同约定用于风电场运维",
        item_code="3.2.2.1",
        actor="checker",
    )
    assert decision["status"] == "green" and decision["catalogue"] == "gbc-2021"
    label_book(engine, actor="officer")  # a re-run does not touch the officer's decision
    shown = loan_label(engine, "T-0001")
    assert shown["engine"] is not None and shown["engine"]["status"] == "not_green"
    assert shown["decision"] is not None and shown["decision"]["item_code"] == "3.2.2.1"
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(label_decisions)).scalar_one() == 1
        trail = (
            connection.execute(select(audit_log).where(audit_log.c.action == "label_override"))
            .mappings()
            .one()
        )
        assert trail["actor"] == "checker" and trail["detail"]["engine"]["status"] == "not_green"


def test_the_shipped_rules_pass_their_own_examples() -> None:
    for version in ("gbc-2021", "gfc-2025"):
        rules = rule_set(version)
        compiled = Compiled(rules)
        date = {"gbc-2021": "2024-05-10", "gfc-2025": "2025-11-03"}[version]
        import datetime as dt

        day = dt.date.fromisoformat(date)
        wrong = []
        for item in rules.items:
            for text in item.examples_green:
                found = classify_with(compiled, Subject(text, approval_date=day))
                if found.item is None or found.item.code != item.code:
                    wrong.append((item.code, text, found.item.code if found.item else found.status))
            for text in item.examples_not:
                found = classify_with(compiled, Subject(text, approval_date=day))
                if found.item is not None and found.item.code == item.code and found.status == "green":
                    wrong.append((item.code, text, "green"))
        share = len(wrong) / sum(len(i.examples_green) + len(i.examples_not) for i in rules.items)
        assert share < 0.1, wrong[:20]


#: Leaves whose own name does not identify the financed activity, with the reason.
NAME_IS_NOT_ENOUGH = {
    ("gfc-2025", "9.1.3"): "其他绿色消费 names no good; the item's condition lists the goods bought",
    ("gfc-2025", "7.4.6"): "环境影响评价 alone reads as another project's own EIA; the service is recognised",
    (
        "gbc-2021",
        "6.3.1.2",
    ): "环境影响评价 alone reads as another project's own EIA; the service is recognised",
}


@pytest.mark.parametrize("version", ["gbc-2021", "gfc-2025"])
def test_every_item_is_recognised_by_its_own_name(version: str) -> None:
    """A purpose written in the catalogue's own words gets that item, alone or in a sentence.

    Officers and borrowers copy item names into credit memos; a name the engine did not know
    (太阳能利用设施建设和运营, 锅炉（窑炉）节能改造和能效提升 …) was labelled not green. Green, or
    needs review with the item when a criterion asks for a fact the name cannot give.
    """
    import datetime as dt

    from greenfin.reference.catalogues import catalogue

    day = dt.date(2026, 3, 1) if version == "gfc-2025" else dt.date(2023, 3, 1)
    compiled = Compiled(rule_set(version))
    missed = []
    for leaf in catalogue(version).leaves():
        if (version, leaf.code) in NAME_IS_NOT_ENOUGH:
            continue
        for text in (leaf.name_zh, f"贷款用于{leaf.name_zh}项目"):
            found = classify_with(compiled, Subject(text, approval_date=day))
            if found.status == "not_green" or found.item is None or found.item.code != leaf.code:
                missed.append((leaf.code, text, found.item.code if found.item else found.status))
    assert not missed, missed


def test_the_demo_wind_farm_is_a_cerf_clean_energy_wind_farm() -> None:
    import datetime as dt

    found = classify(
        Subject(
            "用于通道侗族自治县大高山风电场项目建设，风力发电设施建设和运营；通道侗族自治县大高山风电场项目；风电场；"
            "在通道侗族自治县山区建设 100 MW 陆上风电场，安装 20 台 5 MW 风电机组，所发电量全部上网（华中电网）",
            "D4415",
            dt.date(2024, 5, 10),
        )
    )
    assert found.status == "green" and found.item is not None
    assert found.item.code == "3.2.2.1" and found.item.name == "风力发电设施建设和运营"
    assert found.item.industry_match == "D4415"
    assert found.cerf_area_name == "清洁能源"
    later = classify(Subject("陆上风电场建设和运营", "D4415", dt.date(2025, 11, 3)))
    assert later.item is not None and later.item.code == "4.2.1" and later.catalogue == "gfc-2025"


def test_classify_command_explains_in_chinese_and_speaks_json(tmp_path: Path) -> None:
    runner = CliRunner()
    shown = runner.invoke(
        app, ["classify", "通道县100MW风电场建设", "--date", "2024-05-10", "--industry", "D4415"]
    )
    assert shown.exit_code == 0, shown.output
    assert "风力发电设施建设和运营" in shown.output and "清洁能源" in shown.output
    as_json = runner.invoke(app, ["classify", "流动资金周转", "--json"])
    assert as_json.exit_code == 0 and json.loads(as_json.output)["status"] == "not_green"
    out = tmp_path / "labels.csv"
    from_file = runner.invoke(app, ["classify", "--file", str(SMALL), "--out", str(out)])
    assert from_file.exit_code == 0, from_file.output
    assert "T-0002" in out.read_text(encoding="utf-8-sig")
    bad = runner.invoke(app, ["classify", "x", "--date", "2024-13-01"])
    assert bad.exit_code == 2


# The first set's held-out half with rules 2026.11.5: level 1 F1 0.896, leaf F1 0.854; these
# floors keep what it reached from slipping.  The targets (0.95 and 0.90) hold on the
# held-out rows of both sets together (rules 2026.11.26: 0.953 and 0.929).
LEVEL1_FLOOR = 0.90
LEAF_FLOOR = 0.87
EVAL_B = DATA / "classification_eval_b.csv"


def test_labelled_set_accuracy_does_not_slip_on_its_held_out_half() -> None:
    report = evaluate(load_cases(EVAL, "test"))
    assert report.level1_overall.f1 >= LEVEL1_FLOOR, report.level1_overall
    assert report.leaf_overall.f1 >= LEAF_FLOOR, report.leaf_overall
    assert report.green_accuracy >= 0.85


def test_held_out_rows_of_both_sets_meet_the_targets() -> None:
    second = load_cases(EVAL_B, "test")
    assert len(second) == len(load_cases(EVAL_B, "all")) == 320  # held out whole
    report = evaluate(load_cases(EVAL, "test") + second)
    assert report.level1_overall.f1 >= 0.95, report.level1_overall
    assert report.leaf_overall.f1 >= 0.90, report.leaf_overall


def test_the_split_is_stable_and_about_half() -> None:
    from greenfin.taxonomy.evaluation import split_of

    cases = load_cases(EVAL)
    test_half = [c for c in cases if split_of(c.id) == "test"]
    assert 0.4 < len(test_half) / len(cases) < 0.6
    assert split_of("E0001") == split_of("E0001")
    assert {split_of(f"F{n:04d}") for n in range(1, 400)} == {"test"}  # the second set is held out whole


def test_evaluate_reports_each_set_and_all_together(tmp_path: Path) -> None:
    header = "id,text,industry_code,approval_date,params,expected_green,expected_catalogue,expected_level1,expected_leaf,expected_cerf,category,note\n"
    second = tmp_path / "second.csv"
    second.write_text(
        header + "F0001,100MW陆上风电场建设,D4415,2024-05-10,,yes,gbc-2021,3,3.2.2.1,清洁能源,plain,\n"
        "F0002,日用百货批发流动资金,F5137,2024-05-10,,yes,gbc-2021,3,3.2.2.1,,plain,\n",  # a miss
        encoding="utf-8",
    )
    shown = CliRunner().invoke(
        app, ["label", "evaluate", str(EVAL), str(second), "--split", "test", "--misses", "500"]
    )
    assert shown.exit_code == 0, shown.output
    assert "second.csv（test，2 条）" in shown.output and "合计（test，" in shown.output
    held_out = len(load_cases(EVAL, "test"))
    assert f"合计（test，{held_out + 2} 条）" in shown.output
    assert " E" in shown.output and " F0002 " not in shown.output  # a set held out whole lists no misses
