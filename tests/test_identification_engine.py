"""The identification engine's semantics, on a small rule document written here.

The shipped rules are tested apart (their own examples, the labelled set); these tests pin what
the engine does with any rules: activities, exclusions, negation, criteria, industry, dates.
"""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greenfin.taxonomy.engine import (
    Compiled,
    Label,
    Subject,
    catalogue_version_for,
    classify_with,
)
from greenfin.taxonomy.normalise import normalise
from greenfin.taxonomy.rules import RulesError, parse_rules
from greenfin.taxonomy.spans import except_spans

DOC = {
    "catalogue": "gbc-2021",
    "rules_version": "test-1",
    "groups": {"wind": ["风电", "风力发电", "风电场"], "pv": ["光伏", "太阳能发电"]},
    "activities": {"manufacture": ["制造", "生产线"], "trade": ["贸易", "销售"]},
    "veto": ["房地产开发", "办公楼装修"],
    "items": [
        {"code": "3.2.2.1", "activity": ["operate"], "terms": ["@wind"], "industries": ["4415"]},
        {"code": "3.2.1.1", "activity": ["manufacture", "trade"], "terms": ["@wind", "风机", "叶片"]},
        {
            "code": "3.2.2.2",
            "activity": ["operate"],
            "terms": ["@pv"],
            "exclude": ["光热"],
            "criteria": [
                {"id": "mono", "name": "单晶硅电池转换效率", "param": ["电池转换效率", "电池效率"], "op": ">=",
                 "value": 21, "unit": "%", "when": ["单晶"], "quote": "单晶硅电池转换效率不低于21%"},
            ],
        },
    ],
}  # fmt: skip
WIND_2024 = dt.date(2024, 5, 10)


@pytest.fixture(scope="module")
def rules() -> Compiled:
    return Compiled(parse_rules(DOC))


def label(rules: Compiled, text: str, **extra: object):  # type: ignore[no-untyped-def]
    return classify_with(rules, Subject(text, approval_date=WIND_2024, **extra))  # type: ignore[arg-type]


def test_wind_farm_is_labelled_with_its_evidence(rules: Compiled) -> None:
    found = label(rules, "用于通道侗族自治县大高山风电场项目建设", industry="D4415")
    assert found.status == "green"
    assert found.item is not None and found.item.code == "3.2.2.1"
    assert found.item.terms == ("风电场",)  # 风电 inside 风电场 counts once
    assert found.item.industry_match == "D4415"
    assert found.item.level1_code == "3"
    assert found.catalogue == "gbc-2021" and found.rules_version == "test-1"
    stored = found.as_dict()  # what a run stores, read back for 'label show'
    assert Label.from_dict(stored).as_dict() == stored


def test_manufacturing_and_trade_are_not_facility_operation(rules: Compiled) -> None:
    made = label(rules, "风电叶片生产线扩建")
    assert made.item is not None and made.item.code == "3.2.1.1"
    assert made.activities == ("manufacture",)
    traded = label(rules, "风电设备贸易流动资金")
    assert traded.item is not None and traded.item.code == "3.2.1.1"


def test_negated_phrases_do_not_count(rules: Compiled) -> None:
    assert label(rules, "厂房建设（非光伏项目）").status == "not_green"
    assert label(rules, "综合项目，不含风电").status == "not_green"
    assert label(rules, "流动资金贷款，不用于光伏项目").status == "not_green"
    assert label(rules, "除光伏以外的其他用途").status == "not_green"
    assert label(rules, "消除光伏电站安全隐患").status == "green"  # 除 in a word, no 以外: not a negation


def test_a_clause_wide_cue_negates_to_the_end_of_its_clause(rules: Compiled) -> None:
    assert label(rules, "流动资金，贷款不得投向光伏电站").status == "not_green"
    assert label(rules, "园区综合改造（不含储能、风电场）").status == "not_green"
    # the clause ends at the comma: what follows is the purpose again
    kept = label(rules, "不含土地款，风电场建设")
    assert kept.item is not None and kept.item.code == "3.2.2.1"


def test_a_phrase_naming_the_borrower_is_not_the_purpose(rules: Compiled) -> None:
    assert label(rules, "风电公司购置商务车").status == "not_green"
    assert label(rules, "光伏集团员工食堂建设").status == "not_green"
    found = label(rules, "新能源公司风电场建设")
    assert found.item is not None and found.item.code == "3.2.2.1"
    trader = label(rules, "风电设备贸易公司流动资金")  # what a trading company does is trade
    assert trader.item is not None and trader.item.code == "3.2.1.1" and trader.activities == ("trade",)


def test_a_never_green_use_vetoes_or_sends_mixed_purposes_to_review(rules: Compiled) -> None:
    brown = label(rules, "商业综合体房地产开发")
    assert brown.status == "not_green" and "房地产开发" in brown.reasons[0]
    mixed = label(rules, "风电场建设及办公楼装修")
    assert mixed.status == "needs_review" and mixed.item is not None and mixed.item.code == "3.2.2.1"


def test_an_excluded_phrase_rules_the_item_out(rules: Compiled) -> None:
    assert label(rules, "光伏光热一体化电站").status == "not_green"


def test_criteria_pass_fail_and_unknown(rules: Compiled) -> None:
    passed = label(rules, "单晶光伏电站建设", parameters={"电池转换效率": "22.5 %"})
    assert passed.status == "green" and passed.item is not None
    assert [c.outcome for c in passed.item.criteria] == ["passed"]
    failed = label(rules, "单晶光伏电站建设，电池效率19.5%")
    assert failed.status == "not_green" and failed.item is None
    assert "技术标准不符合" in failed.reasons[0]
    unknown = label(rules, "单晶光伏电站建设")
    assert unknown.status == "needs_review" and unknown.item is not None
    assert unknown.item.criteria[0].outcome == "unknown"
    not_applicable = label(rules, "分布式光伏电站建设")  # no 单晶: the mono-Si threshold does not apply
    assert not_applicable.status == "green"
    # A technology given only as a parameter counts like the same words in the text.
    in_parameters = label(rules, "光伏电站建设", parameters={"电池类型": "单晶硅", "电池转换效率": "19.5 %"})
    assert in_parameters.status == "not_green"


def test_no_evidence_is_never_green(rules: Compiled) -> None:
    assert label(rules, "流动资金周转，采购原材料").status == "not_green"
    assert label(rules, "").status == "needs_review"
    assert label(rules, "购").status == "needs_review"


def test_full_width_spaces_and_traditional_characters_fold(rules: Compiled) -> None:
    assert normalise("風 電 場　建設 ＰＶ") == "风电场建设pv"
    assert normalise("充電樁裝配") == "充电桩装配"
    found = label(rules, "風力發電場建設")
    assert found.item is not None and found.item.code == "3.2.2.1"


def test_catalogue_follows_the_approval_date() -> None:
    assert catalogue_version_for(dt.date(2025, 9, 30))[0] == "gbc-2021"
    assert catalogue_version_for(dt.date(2025, 10, 1))[0] == "gfc-2025"
    version, note = catalogue_version_for(dt.date(2020, 1, 1))
    assert version == "gbc-2021" and note is not None and "2015" in note
    assert catalogue_version_for(None)[0] == "gfc-2025"


def test_a_loan_before_the_2021_catalogue_needs_review(rules: Compiled) -> None:
    old = classify_with(rules, Subject("风电场建设", approval_date=dt.date(2020, 3, 1)))
    assert old.status == "needs_review" and old.item is not None


def test_rules_that_do_not_fit_the_catalogue_are_refused() -> None:
    with pytest.raises(RulesError):
        parse_rules({**DOC, "items": [{"code": "3.2.2", "terms": ["风电"]}]})  # not a leaf
    with pytest.raises(RulesError):
        parse_rules({**DOC, "items": [{"code": "3.2.2.1", "name": "错误名称", "terms": ["风电"]}]})
    with pytest.raises(RulesError):
        parse_rules({**DOC, "items": [{"code": "3.2.2.1", "terms": ["@nothing"]}]})


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet="风电场光伏非不含贸易制造单晶建设运营，。 ０１２３", max_size=30))
def test_labels_are_consistent_for_any_text(text: str) -> None:
    found = classify_with(Compiled(parse_rules(DOC)), Subject(text, approval_date=WIND_2024))
    assert found.status in ("green", "not_green", "needs_review")
    if found.status == "green":
        assert found.item is not None and found.item.terms  # green only with evidence
        assert all(c.outcome == "passed" for c in found.item.criteria)
    if found.item is not None:
        assert all(term in normalise(text) for term in found.item.terms)
    assert 0.0 <= found.confidence <= 1.0


def test_except_clauses_negate_what_they_except(rules: Compiled) -> None:
    assert label(rules, "除光伏组件外的电子元器件批发").status == "not_green"
    assert label(rules, "园区道路及综合楼建设，风电场除外").status == "not_green"
    assert except_spans("风电场除尘器改造外墙") == []  # 除尘 is a word, not "except"
    assert except_spans("拆除旧风机外的设备") == []  # nor is 拆除
    kept = label(rules, "除土地款外，资金用于风电场建设")  # the excepted part ends at 外
    assert kept.item is not None and kept.item.code == "3.2.2.1"


def test_a_bare_except_and_a_borrower_description_do_not_count(rules: Compiled) -> None:
    assert label(rules, "本笔贷款仅用于风电场以外的建设内容").status == "not_green"
    assert label(rules, "借款人为风电运营商，本次贷款用于建设办公楼").status == "not_green"
    kept = label(rules, "借款人系贸易企业，贷款用于风电场建设")
    assert kept.item is not None and kept.item.code == "3.2.2.1" and kept.activities == ("operate",)


def test_a_credit_memo_counts_only_the_use_of_funds(rules: Compiled) -> None:
    memo = (
        "借款人XX煤业有限公司成立于2003年，主营煤炭开采及风电设备销售，年产原煤300万吨。本次申请项目贷款4.2亿元，"
        "期限15年，专项用于建设100MW光伏电站，还款来源为风电场售电收入，以电费收费权质押。"
    )
    found = label(rules, memo)
    assert found.status == "green" and found.item is not None and found.item.code == "3.2.2.2"
    assert found.activities == ("operate",)  # the borrower's 销售 is not what the loan does
    dividends = (
        "借款人XX风力发电有限公司运营装机200MW风电场，经营稳定。申请流动资金贷款1亿元，用于向股东支付应付股利"
    )
    assert label(rules, dividends).status == "not_green"
    # working capital that buys the inputs of the borrower's business finances that business
    inputs = "借款人主营风电叶片制造，本笔流动资金贷款用于采购原材料"
    made = label(rules, inputs)
    assert made.item is not None and made.item.code == "3.2.1.1"


def test_a_company_name_is_not_the_purpose(rules: Compiled) -> None:
    assert label(rules, "XX光伏贸易有限公司采购日用百货流动资金").status == "not_green"
    own_roof = label(rules, "XX风电设备批发公司投资建设仓库屋顶光伏")
    assert (
        own_roof.item is not None and own_roof.item.code == "3.2.2.2" and own_roof.activities == ("operate",)
    )
    # a kind of company without a name is the business being financed
    kind = label(rules, "风电设备销售公司经营周转")
    assert kind.item is not None and kind.item.code == "3.2.1.1"


def test_an_exclusion_counts_in_its_own_clause_unless_it_speaks_of_the_whole_loan() -> None:
    local = Compiled(parse_rules(DOC))
    assert label(local, "光伏光热一体化电站").status == "not_green"
    kept = label(local, "光伏电站建设，园区另有光热示范")
    assert kept.item is not None and kept.item.code == "3.2.2.2"
    whole = Compiled(parse_rules({**DOC, "whole_text_excludes": ["光热"]}))
    assert label(whole, "光伏电站建设，园区另有光热示范").status == "not_green"


def test_a_word_typed_by_sound_is_read_as_the_key_word(rules: Compiled) -> None:
    slip = label(rules, "丰电场项目固定资产贷款")
    assert slip.status == "green" and slip.item is not None and slip.item.code == "3.2.2.1"
    assert "丰电→风电" in slip.reasons[0]
    assert slip.confidence < label(rules, "风电场项目固定资产贷款").confidence
    # kept only where the corrected word sits inside a longer phrase of the rules
    assert label(rules, "丰电路商业综合体装修工程").status == "not_green"
    assert label(rules, "燃气调峰电站建设").status == "not_green"  # 峰电 is a real word


def test_working_capital_finances_what_the_borrower_does(rules: Compiled) -> None:
    # the borrower's trade (in its description) is the activity; the object comes from the use
    dealer = label(rules, "借款人为设备贸易商，申请流动资金500万元，用于采购风机叶片")
    assert dealer.item is not None and dealer.item.code == "3.2.1.1" and dealer.activities == ("trade",)
    # a project loan by the same dealer builds a facility: its trade is only a description
    project = label(rules, "借款人为设备贸易商，申请项目贷款，用于建设风电场")
    assert project.item is not None and project.item.code == "3.2.2.1" and project.activities == ("operate",)
