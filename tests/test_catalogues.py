"""Green-finance catalogues: structure, known items, the date switch, crosswalk and CERF map."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from importlib import resources
from pathlib import Path

import pytest

from greenfin.reference import catalogues as cat
from greenfin.reference.catalogues import (
    CATALOGUE_VERSIONS,
    GBC_2021,
    GFC_2025,
    CatalogueError,
    catalogue,
    catalogue_for_date,
    cerf_area,
    cerf_area_of,
    cerf_areas,
    cerf_link,
    crosswalk,
    predecessors,
    successors,
)
from greenfin.reference.industries import industry_table

SHARED_REFERENCE = Path(__file__).resolve().parents[1] / ".." / "shared" / "reference"
DATA_FILES = (
    "green_finance_2025.csv",
    "green_finance_2025_industries.csv",
    "green_bond_2021.csv",
    "cerf_areas.csv",
    "crosswalk_2021_2025.csv",
    "cerf_map.csv",
)


def _raw(name: str) -> list[dict[str, str]]:
    text = (
        resources.files("greenfin.reference").joinpath("data", "catalogues", name).read_text(encoding="utf-8")
    )
    return list(csv.DictReader(io.StringIO(text, newline="")))


def _shared(name: str) -> list[dict[str, str]]:
    path = SHARED_REFERENCE / name
    if not path.exists():
        pytest.skip(f"{path} is not available")
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _per_level(version: str) -> tuple[int, ...]:
    book = catalogue(version)
    return tuple(sum(1 for item in book.items if item.level == lv) for lv in range(1, book.depth + 1))


# --- structure -------------------------------------------------------------------------------


def test_versions_are_the_two_catalogues() -> None:
    assert CATALOGUE_VERSIONS == ("gbc-2021", "gfc-2025")


def test_2025_has_9_38_271_items() -> None:
    assert _per_level(GFC_2025) == (9, 38, 271)
    assert len(catalogue(GFC_2025).leaves()) == 271


def test_2021_counts_are_what_the_docs_say() -> None:
    # 6 level-1 items is official; the lower counts are what could be recovered (docs/catalogues.md).
    assert _per_level(GBC_2021) == (6, 25, 47, 203)


@pytest.mark.parametrize("version", CATALOGUE_VERSIONS)
def test_every_parent_exists_and_depth_is_level(version: str) -> None:
    book = catalogue(version)
    for item in book.items:
        assert item.level == item.code.count(".") + 1
        if item.level == 1:
            assert item.parent_code is None
        else:
            parent = book.item(item.parent_code or "")
            assert parent.level == item.level - 1
            assert item.code.startswith(parent.code + ".")
            assert item in book.children(parent.code)


@pytest.mark.parametrize("version", CATALOGUE_VERSIONS)
def test_codes_are_unique(version: str) -> None:
    codes = [item.code for item in catalogue(version).items]
    assert len(codes) == len(set(codes))


def test_2025_level1_names() -> None:
    names = [item.name_zh for item in catalogue(GFC_2025).children()]
    assert names == [
        "节能降碳产业",
        "环境保护产业",
        "资源循环利用产业",
        "能源绿色低碳转型",
        "生态保护修复和利用",
        "基础设施绿色升级",
        "绿色服务",
        "绿色贸易",
        "绿色消费",
    ]


def test_2021_level1_names() -> None:
    names = [item.name_zh for item in catalogue(GBC_2021).children()]
    assert names == [
        "节能环保产业",
        "清洁生产产业",
        "清洁能源产业",
        "生态环境产业",
        "基础设施绿色升级",
        "绿色服务",
    ]


def test_every_2025_leaf_has_industry_rows_with_known_divisions() -> None:
    book = catalogue(GFC_2025)
    divisions = industry_table().divisions
    for leaf in book.leaves():
        rows = book.industries(leaf.code)
        assert rows, leaf.code
        assert [row.row for row in rows] == list(range(1, len(rows) + 1))
        for row in rows:
            assert row.conditions_zh, (leaf.code, row.row)
            if row.industry_code is not None:
                assert len(row.industry_code) == 4 and row.industry_code.isdigit()
                assert row.industry_code[:2] in divisions


# --- known items -----------------------------------------------------------------------------


def test_wind_farm_2025() -> None:
    book = catalogue(GFC_2025)
    item = book.item("4.2.1")
    assert item.name_zh == "风力发电设施建设和运营"
    assert item.ghg_mark == "√√"
    assert book.level1_of("4.2.1").name_zh == "能源绿色低碳转型"
    rows = {row.industry_code: row for row in book.industries("4.2.1")}
    assert rows["4415"].industry_name == "风力发电"
    assert rows["4874"].industry_name == "风能发电工程施工"
    assert item in book.items_for_industry("D4415")


def test_wind_equipment_trade_is_green_trade() -> None:
    book = catalogue(GFC_2025)
    item = book.item("8.5.1")
    assert item.name_zh == "风力发电装备贸易"
    assert [a.name_zh for a in book.ancestors("8.5.1")] == ["绿色贸易", "新能源与清洁能源装备贸易"]
    assert book.level1_of("8.5.1").code == "8"


def test_2021_wind_and_solar_items() -> None:
    book = catalogue(GBC_2021)
    assert book.item("3.2.2.1").name_zh == "风力发电设施建设和运营"
    solar = book.item("3.2.2.2")
    assert solar.name_zh == "太阳能利用设施建设和运营"
    for criterion in (
        "19%和21%",
        "17%和17.8%",
        "首年分别不高于2.5%和3%",
        "每年不高于0.7%",
        "25年内不高于20%",
    ):
        assert criterion in solar.description_zh
    assert book.level1_of("3.2.2.2").name_zh == "清洁能源产业"


def test_2021_names_cut_by_the_extraction_are_whole() -> None:
    book = catalogue(GBC_2021)
    assert book.item("3.2.3.6").name_zh == "二氧化碳捕集、利用与封存工程建设和运营"
    assert book.item("1.3.3.2").name_zh == "城市扬尘综合治理"
    assert book.item("5.6.1.3").name_zh == "附属绿地建设、养护和运营"
    assert book.item("6.3.1.4").name_zh == "地质危害危险性评估"
    assert book.item("4.2.2.5").name_zh.endswith("国家湿地公园等保护性运营")
    assert book.item("3.2.3.6").description_zh.startswith("对化石能源燃烧")


def test_2021_items_without_a_known_name_are_marked_low_confidence() -> None:
    unnamed = [item for item in catalogue(GBC_2021).items if not item.name_zh]
    assert unnamed
    assert all(item.confidence == "L" and item.note for item in unnamed)
    assert {item.level for item in unnamed} <= {2, 3}


def test_1_1_10_pump_code_is_corrected() -> None:
    rows = catalogue(GFC_2025).industries("1.1.10")
    pump = next(row for row in rows if row.industry_name == "泵及真空设备制造")
    assert pump.industry_code == "3441"
    assert "3411" in pump.note and pump.confidence == "M"


def test_text_split_across_rows_is_rejoined() -> None:
    rows = {row.industry_code: row for row in catalogue(GFC_2025).industries("4.2.8")}
    text = rows["4416"].conditions_zh
    assert text == rows["4413"].conditions_zh
    assert text.startswith("可再生能源电力生产活动中") and text.endswith("氢电耦合调峰设施运营活动。")


def test_hydrogen_items_have_26_industry_rows() -> None:
    # 中国氢能联盟: the 2025 catalogue's three hydrogen items cover 26 industry categories.
    book = catalogue(GFC_2025)
    assert [len(book.industries(code)) for code in ("4.1.9", "4.2.8", "8.5.9")] == [13, 10, 3]


def test_unknown_code_and_version_are_clear_errors() -> None:
    with pytest.raises(CatalogueError) as err:
        catalogue(GFC_2025).item("4.2.99")
    assert "gfc-2025" in str(err.value) and "不是" in err.value.zh
    with pytest.raises(CatalogueError, match="unknown catalogue version"):
        catalogue("gbc-2015")


# --- date switch -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("approved", "version"),
    [
        (date(2021, 7, 1), GBC_2021),
        (date(2025, 9, 30), GBC_2021),
        (datetime(2025, 9, 30, 23, 59), GBC_2021),
        (date(2025, 10, 1), GFC_2025),
        (datetime(2025, 10, 1, 0, 0), GFC_2025),
        (date(2026, 3, 1), GFC_2025),
    ],
)
def test_catalogue_in_force_on_approval_date(approved: date, version: str) -> None:
    assert catalogue_for_date(approved).version == version


def test_no_catalogue_before_2021_07_01() -> None:
    with pytest.raises(CatalogueError, match="2015"):
        catalogue_for_date(date(2021, 6, 30))


# --- crosswalk and CERF ----------------------------------------------------------------------


def test_crosswalk_wind_and_solar() -> None:
    assert [(link.code_2025, link.relation) for link in successors("3.2.2.1")] == [("4.2.1", "same")]
    assert [link.code_2021 for link in predecessors("4.2.1")] == ["3.2.2.1"]
    assert [link.code_2025 for link in successors("3.2.2.2")] == ["4.2.2"]


def test_crosswalk_joins_leaves_only() -> None:
    old, new = catalogue(GBC_2021), catalogue(GFC_2025)
    for link in crosswalk():
        assert old.item(link.code_2021).level == 4
        assert new.item(link.code_2025).level == 3
        assert link.basis and link.source


def test_wind_farms_are_cerf_clean_energy() -> None:
    for version, code in ((GFC_2025, "4.2.1"), (GBC_2021, "3.2.2.1")):
        area = cerf_area_of(version, code)
        assert area is not None and area.name_zh == "清洁能源"
        link = cerf_link(version, code)
        assert link is not None and link.area.name_zh == "风力发电"


def test_equipment_manufacture_is_not_mapped_to_cerf() -> None:
    assert cerf_area_of(GFC_2025, "4.1.1") is None
    assert cerf_area_of(GFC_2025, "8.5.1") is None


def test_cerf_areas_by_date() -> None:
    top_2025 = {a.name_zh for a in cerf_areas(on=date(2025, 12, 31)) if a.parent_id is None}
    assert top_2025 == {"清洁能源", "节能环保", "碳减排技术"}
    top_2026 = {a.name_zh for a in cerf_areas(on=date(2026, 1, 15)) if a.parent_id is None}
    assert top_2026 == top_2025 | {"节能改造", "绿色升级", "能源绿色低碳转型"}
    assert cerf_area("clean_energy.wind").parent_id == "clean_energy"
    assert len([a for a in cerf_areas() if a.parent_id == "clean_energy"]) == 14


# --- provenance ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", DATA_FILES)
def test_every_row_carries_its_source_and_confidence(name: str) -> None:
    rows = _raw(name)
    assert rows
    for row in rows:
        assert row["source"].strip(), row
        assert row["confidence"] in {"H", "M", "L"}, row


@pytest.mark.parametrize("name", DATA_FILES)
def test_no_parser_text_or_shared_paths(name: str) -> None:
    text = (
        resources.files("greenfin.reference").joinpath("data", "catalogues", name).read_text(encoding="utf-8")
    )
    assert "〔解析器附加" not in text
    assert "TRUNCATED" not in text
    assert "/work/shared" not in text


# --- checks catch damage ---------------------------------------------------------------------


def test_loader_refuses_an_orphan_and_a_wrong_level(monkeypatch: pytest.MonkeyPatch) -> None:
    rows = _raw("green_finance_2025.csv")
    rows = [row for row in rows if row["code"] != "4.2"]
    rows[0] = {**rows[0], "level": "2"}
    monkeypatch.setattr(cat, "_read", lambda name, fields: rows)
    with pytest.raises(RuntimeError) as err:
        cat._load_items(cat._SPECS[GFC_2025])
    message = str(err.value)
    assert "parent '4.2'" in message and "level '2'" in message and "items per level" in message


def test_loader_refuses_an_unknown_industry_division(monkeypatch: pytest.MonkeyPatch) -> None:
    items = catalogue(GFC_2025).items
    rows = _raw("green_finance_2025_industries.csv")
    rows[0] = {**rows[0], "industry_code": "9999"}
    monkeypatch.setattr(cat, "_read", lambda name, fields: rows)
    with pytest.raises(RuntimeError, match="99 is not a GB/T 4754-2017 division"):
        cat._load_industry_rows("green_finance_2025_industries.csv", items, 3)


# --- against the shared third-party extraction -----------------------------------------------


def test_2025_matches_the_shared_extraction() -> None:
    shared = {row["code"]: row for row in _shared("catalogue_2025_items.csv")}
    book = catalogue(GFC_2025)
    assert set(shared) == {item.code for item in book.items}
    for item in book.items:
        assert item.name_zh == shared[item.code]["name_zh"].strip(), item.code
        assert (item.parent_code or "") == shared[item.code]["parent_code"]
    shared_rows = _shared("catalogue_2025_industry_rows.csv")
    # one merged source row (6.4.2: 4790 + 7020 物业管理) is split again
    assert len(book.industry_rows) == len(shared_rows) + 1


def test_2021_matches_the_shared_extraction_except_documented_repairs() -> None:
    shared = {row["code"]: row for row in _shared("catalogue_2021_items.csv")}
    book = catalogue(GBC_2021)
    assert set(shared) == {item.code for item in book.items}
    rejoined = {"1.3.3.2", "3.2.3.6", "5.6.1.3", "6.3.1.4", "4.2.2.5"}
    for item in book.items:
        source_name = shared[item.code]["name_zh"].strip()
        if item.code in rejoined:
            assert item.name_zh.startswith(source_name) and item.name_zh != source_name
        else:
            assert item.name_zh == source_name, item.code
