"""Price import for collateral valuation: layouts, validation, all-or-nothing, audit, arrays.

Store tests run on SQLite and PostgreSQL (the ``engine`` fixture).  The real exchange exports
live in ../shared/data; tests that need them skip cleanly where that folder is absent.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import tempfile
from collections import Counter
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from greenfin.cli import app
from greenfin.collateral.prices import (
    COMPOSITE_SERIES,
    DEFAULT_MAX_GAP_DAYS,
    EXCHANGE,
    PRICE_LIST,
    SINGLE,
    parse_price_file,
)
from greenfin.ingest.issues import ImportRejected
from greenfin.service.prices import import_prices, price_series, recent_prices, series_codes
from greenfin.store.schema import audit_log, prices
from tests.conftest import snapshot

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
HEADER = "date,subject,open,high,low,close,totalVolume\n"
GOOD = HEADER + (
    "2024-01-02,CEA,70,71,69,70.5,1000\n"
    "2024-01-03,CEA,70.5,72,70,71,2000\n"
    "2024-01-04,CEA,71,71.5,70.2,71.2,1500\n"
)


def real_file(name: str) -> Path:
    path = SHARED_DATA / name
    if not path.is_file():
        pytest.skip(f"{path} is not present beside this checkout (real exchange data)")
    return path


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def stored_prices(engine: Engine) -> dict[tuple[str, dt.date], tuple[Decimal | None, ...]]:
    with engine.connect() as connection:
        rows = connection.execute(select(prices)).all()
    return {
        (r.instrument, r.day): tuple(
            None if v is None else Decimal(str(v)).normalize()
            for v in (r.open_yuan, r.high_yuan, r.low_yuan, r.close_yuan, r.volume)
        )
        for r in rows
    }


def audit_rows(engine: Engine) -> list[dict[str, object]]:
    with engine.connect() as connection:
        return [dict(r._mapping) for r in connection.execute(select(audit_log).order_by(audit_log.c.id))]


def expected_counts(path: Path) -> Counter[str]:
    """Rows per subject that carry a close, counted straight from the CSV."""
    with path.open(encoding="utf-8", newline="") as handle:
        return Counter(r["subject"] for r in csv.DictReader(handle) if r["close"].strip())


# --- the real exchange export ------------------------------------------------------------------


def test_real_exchange_file_imports(engine: Engine) -> None:
    path = real_file("cea_daily_seee.csv")
    result = import_prices(engine, [path], actor="tester")
    expected = expected_counts(path)
    assert {code: c.new for code, c in result.series.items()} == dict(expected)
    assert result.totals.updated == result.totals.unchanged == 0
    assert set(expected) >= {"CEA", "COMCEA", "CEA21"}
    note = result.files[0]
    assert note["layout"] == EXCHANGE
    assert note["rows_in_file"] == sum(1 for _ in path.open()) - 1
    assert note["rows"] == sum(expected.values())
    assert note["skipped"] == note["rows_in_file"] - note["rows"] == 1  # 2025-10-13 COMCEA
    # Warnings: the skipped day, and composite closes outside their own high/low; nothing else.
    skipped = [w for w in result.warnings if "skipped" in w.message_en]
    assert [(w.row, "2025-10-13" in w.message_en) for w in skipped] == [(skipped[0].row, True)]
    others = [w for w in result.warnings if w not in skipped]
    assert others and all(w.message_en.startswith(tuple(COMPOSITE_SERIES)) for w in others)

    stored = stored_prices(engine)
    assert len(stored) == sum(expected.values())
    assert stored[("CEA", dt.date(2021, 7, 16))] == tuple(
        Decimal(v) for v in ("48", "52.8", "48", "51.23", "4103953")
    )
    assert stored[("COMCEA", dt.date(2021, 12, 31))][3] == Decimal("54.22")
    assert stored[("COMCEA", dt.date(2024, 4, 24))][3] == Decimal("100.59")
    # An untraded day (high and low zero): the close kept, open/high/low missing, volume as reported.
    assert stored[("CEA", dt.date(2023, 11, 2))] == (None, None, None, Decimal(79), Decimal(0))
    assert ("COMCEA", dt.date(2025, 10, 13)) not in stored

    imports = [r for r in audit_rows(engine) if r["action"] == "import"]
    assert len(imports) == 1
    assert imports[0]["actor"] == "tester"
    assert imports[0]["source_file"] == path.name
    assert imports[0]["source_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()

    days, closes, volumes = price_series(engine, "cea")
    assert len(days) == expected["CEA"] and days.dtype == np.dtype("datetime64[D]")
    assert bool(np.all(np.diff(days.astype(np.int64)) > 0))
    assert closes[0] == pytest.approx(51.23) and volumes[0] == 4103953
    until_days, until_closes, _ = price_series(engine, "CEA", until=dt.date(2021, 12, 31))
    assert str(until_days[-1]) == "2021-12-31" and until_closes[-1] == pytest.approx(54.22)
    assert series_codes(engine) == sorted(expected)


def test_reimport_changes_nothing(engine: Engine) -> None:
    path = real_file("cea_daily_seee.csv")
    import_prices(engine, [path], actor="tester")
    before = snapshot(engine)
    result = import_prices(engine, [path], actor="tester")
    assert result.totals.new == result.totals.updated == 0
    assert result.totals.unchanged == sum(expected_counts(path).values())
    after = snapshot(engine)
    assert after["prices"] == before["prices"]
    added = [r for r in audit_rows(engine)][len(before["audit_log"]) :]
    assert [r["action"] for r in added] == ["import"]  # the import is recorded, no row changed


def test_composite_single_series_file_matches_the_exchange_file(engine: Engine) -> None:
    composite = real_file("cea_composite_daily.csv")
    exchange = real_file("cea_daily_seee.csv")
    parsed = parse_price_file(composite, instrument="COMCEA")
    assert parsed.layout == SINGLE and not parsed.errors
    import_prices(engine, [exchange], actor="tester")
    result = import_prices(engine, [composite], actor="tester", instrument="COMCEA")
    assert result.series["COMCEA"].unchanged == len(parsed.rows) == 1226
    assert result.series["COMCEA"].new == result.series["COMCEA"].updated == 0


def test_instrument_picks_one_series_of_the_exchange_file() -> None:
    path = real_file("cea_daily_seee.csv")
    parsed = parse_price_file(path, instrument="cea21")
    assert set(parsed.series) == {"CEA21"} and not parsed.errors
    assert parsed.series["CEA21"] == expected_counts(path)["CEA21"]


# --- bad files: a located error, and the store exactly as it was -------------------------------

BAD_FILES = {
    "gap": (
        GOOD + "2024-01-25,CEA,71,72,70,71.5,100\n",
        5,
        "date",
        "21 calendar days",
    ),
    "negative": (
        HEADER + "2024-01-02,CEA,70,71,69,70.5,1000\n2024-01-03,CEA,70,71,69,-70.5,1000\n",
        3,
        "close",
        "negative",
    ),
    "duplicate": (
        GOOD + "2024-01-03,CEA,70,71,69,70.5,1000\n",
        5,
        "date",
        "row 5 repeats row 3",
    ),
    "zero close": (
        HEADER + "2024-01-02,CEA,70,71,69,70.5,1000\n2024-01-03,CEA,70,71,69,0,1000\n",
        3,
        "close",
        "zero",
    ),
    "zero open on a traded day": (
        HEADER + "2024-01-02,CEA,70,71,69,70.5,1000\n2024-01-03,CEA,0,71,69,70,1000\n",
        3,
        "open",
        "zero open",
    ),
    "high below low": (
        HEADER + "2024-01-02,CEA,70,71,69,70.5,1000\n2024-01-03,CEA,70,69,71,70,1000\n",
        3,
        "high",
        "below low",
    ),
    "close outside the range": (
        HEADER + "2024-01-02,CEA,70,71,69,72.5,1000\n",
        2,
        "close",
        "outside",
    ),
    "bad date": (
        HEADER + "2024-01-02,CEA,70,71,69,70.5,1000\n2024-02-30,CEA,70,71,69,70.5,1000\n",
        3,
        "date",
        "not a real date",
    ),
    "non-numeric": (
        HEADER + "2024-01-02,CEA,70,71,69,70.5,1000\n2024-01-03,CEA,70,71,69,seventy,1000\n",
        3,
        "close",
        "expected a number",
    ),
    "too fine": (
        HEADER + "2024-01-02,CEA,70,71,69,70.51234,1000\n",
        2,
        "close",
        "more than 4 decimal places",
    ),
    "missing instrument for layout b": (
        "date,open,high,low,close,volume_t\n2024-01-02,70,71,69,70.5,1000\n",
        1,
        None,
        "--instrument",
    ),
    "unknown layout": ("when,what\n2024-01-02,70\n", 1, None, "unknown layout"),
    "empty": ("", None, None, "empty"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_file_is_rejected_with_a_located_error_and_changes_nothing(
    engine: Engine, tmp_path: Path, case: str
) -> None:
    text, row, column, phrase = BAD_FILES[case]
    earlier = GOOD.replace("2024-01-0", "2023-12-2").replace("2023-12-22", "2023-12-29")
    import_prices(engine, [write(tmp_path, "earlier.csv", earlier)], actor="a")  # 12-23, 12-24, 12-29
    before = snapshot(engine)
    bad = write(tmp_path, "bad.csv", text)
    with pytest.raises(ImportRejected) as caught:
        import_prices(engine, [bad], actor="b")
    assert snapshot(engine) == before
    issue = caught.value.issues[0]
    assert (issue.file, issue.row, issue.column) == ("bad.csv", row, column), issue
    assert phrase in issue.message_en, issue.message_en
    assert issue.message_zh and issue.message_zh != issue.message_en
    if column is not None:
        assert issue.value  # the offending value is shown


def test_every_problem_is_reported_not_just_the_first(tmp_path: Path) -> None:
    text = HEADER + (
        "2024-01-02,CEA,70,71,69,70.5,1000\n"
        "2024/13/01,CEA,70,71,69,70.5,1000\n"
        "2024-01-04,CEA,70,71,69,abc,1000\n"
        "2024-01-05,CEA,70,71,69,70.5,-5\n"
    )
    parsed = parse_price_file(write(tmp_path, "many.csv", text))
    assert [(i.row, i.column) for i in parsed.errors] == [(3, "date"), (4, "close"), (5, "totalVolume")]


def test_gap_is_checked_against_the_stored_series(engine: Engine, tmp_path: Path) -> None:
    import_prices(engine, [write(tmp_path, "dec.csv", GOOD.replace("2024-01", "2023-12"))], actor="a")
    before = snapshot(engine)
    later = HEADER + "2024-01-02,CEA,70,71,69,70.5,1000\n2024-01-03,CEA,70,71,69,70.5,1000\n"
    with pytest.raises(ImportRejected) as caught:  # 2023-12-04 (stored) to 2024-01-02: 29 days
        import_prices(engine, [write(tmp_path, "jan.csv", later)], actor="a")
    assert snapshot(engine) == before
    issue = caught.value.issues[0]
    assert (issue.file, issue.row) == ("jan.csv", 2)
    assert "2023-12-04 (stored)" in issue.message_en and "29 calendar days" in issue.message_en
    # A larger allowance, or the missing days filled in the same import, are accepted.
    filler = HEADER + "".join(f"2023-12-{d:02d},CEA,70,71,69,70.5,1000\n" for d in (11, 18, 25))
    result = import_prices(
        engine, [write(tmp_path, "fill.csv", filler), write(tmp_path, "jan.csv", later)], actor="a"
    )
    assert result.series["CEA"].new == 5
    # A gap inside the file that the stored days fill is no gap.
    inner = HEADER + "2023-11-20,CEA,70,71,69,70.5,1\n2023-12-11,CEA,70,71,69,70.5,1000\n"
    assert parse_price_file(write(tmp_path, "inner.csv", inner)).errors  # on its own: a gap
    import_prices(engine, [write(tmp_path, "nov.csv", inner.replace("2023-11-20", "2023-11-28"))], actor="a")


def test_duplicate_day_across_two_files_names_both(engine: Engine, tmp_path: Path) -> None:
    first = write(tmp_path, "one.csv", GOOD)
    second = write(tmp_path, "two.csv", HEADER + "2024-01-03,CEA,70.5,72,70,71,2000\n")
    with pytest.raises(ImportRejected) as caught:
        import_prices(engine, [first, second], actor="a")
    issue = caught.value.issues[0]
    assert (issue.file, issue.row) == ("two.csv", 2)
    assert "one.csv row 3" in issue.message_en
    assert stored_prices(engine) == {}


def test_changed_price_is_updated_and_audited(engine: Engine, tmp_path: Path) -> None:
    import_prices(engine, [write(tmp_path, "v1.csv", GOOD)], actor="a")
    revised = GOOD.replace("2024-01-03,CEA,70.5,72,70,71,2000", "2024-01-03,CEA,70.5,72,70,71.25,2100")
    result = import_prices(engine, [write(tmp_path, "v2.csv", revised)], actor="officer")
    assert (result.totals.new, result.totals.updated, result.totals.unchanged) == (0, 1, 2)
    assert stored_prices(engine)[("CEA", dt.date(2024, 1, 3))][3:] == (Decimal("71.25"), Decimal(2100))
    updates = [r for r in audit_rows(engine) if r["action"] == "update"]
    assert len(updates) == 1
    update = updates[0]
    assert (update["entity"], update["entity_id"], update["actor"]) == ("price", "CEA 2024-01-03", "officer")
    assert update["source_file"] == "v2.csv" and update["source_sha256"]
    changes = update["detail"]["changes"]  # type: ignore[index]
    assert set(changes) == {"close_yuan", "volume"}
    assert Decimal(changes["close_yuan"]["old"]) == 71 and changes["close_yuan"]["new"] == "71.25"


# --- not errors --------------------------------------------------------------------------------


def test_untraded_day_with_zero_high_low_is_accepted(engine: Engine, tmp_path: Path) -> None:
    text = GOOD + "2024-01-05,CEA,0,0,0,71.2,0\n2024-01-08,CEA,71.2,0,0,71.2,0\n"
    result = import_prices(engine, [write(tmp_path, "quiet.csv", text)], actor="a")
    assert result.totals.new == 5 and not result.warnings
    stored = stored_prices(engine)
    for day in (5, 8):
        assert stored[("CEA", dt.date(2024, 1, day))] == (None, None, None, Decimal("71.2"), Decimal(0))


def test_row_with_volume_but_no_prices_is_skipped_with_a_warning(tmp_path: Path) -> None:
    text = GOOD + "2024-01-05,CEA,,,,,1592544\n"
    parsed = parse_price_file(write(tmp_path, "hole.csv", text))
    assert not parsed.errors and len(parsed.rows) == 3 and parsed.skipped == 1
    assert [(w.row, "skipped" in w.message_en) for w in parsed.warnings] == [(5, True)]


def test_outlier_is_imported_with_a_warning(engine: Engine, tmp_path: Path) -> None:
    text = GOOD + "2024-01-05,CEA,100,101,99,100,10\n"  # ln(100/71.2) = 0.34
    result = import_prices(engine, [write(tmp_path, "jump.csv", text)], actor="a")
    assert result.totals.new == 4
    assert [(w.file, w.row) for w in result.warnings] == [("jump.csv", 5)]
    assert "+40.4%" in result.warnings[0].message_en


def test_user_auction_price_list_imports(engine: Engine, tmp_path: Path) -> None:
    text = (
        "日期,品种,成交价（元/吨）,数量（吨）\n"
        "2024年3月5日,浙江COD排污权,5200,12.5\n"
        "2024/3/12,浙江COD排污权,5350.5,8\n"
        "2024-03-19,浙江COD排污权,5300,\n"
    )
    path = write(tmp_path, "拍卖结果.csv", text, encoding="gbk")
    parsed = parse_price_file(path)
    assert parsed.layout == PRICE_LIST and parsed.encoding == "gb18030" and not parsed.errors
    result = import_prices(engine, [path], actor="a")
    assert result.series["浙江COD排污权"].new == 3
    stored = stored_prices(engine)
    assert stored[("浙江COD排污权", dt.date(2024, 3, 12))] == (
        None,
        None,
        None,
        Decimal("5350.5"),
        Decimal(8),
    )
    assert stored[("浙江COD排污权", dt.date(2024, 3, 19))][4] is None
    _days, closes, volumes = price_series(engine, "浙江COD排污权")
    assert list(closes) == [5200, 5350.5, 5300] and np.isnan(volumes[-1])


def test_price_list_units_are_checked(tmp_path: Path) -> None:
    wan = write(tmp_path, "wan.csv", "date,instrument,price(万元/吨)\n2024-01-02,CEA,0.007\n")
    assert "not accepted" in parse_price_file(wan).errors[0].message_en
    tonnes = write(tmp_path, "t.csv", "date,instrument,price,volume(万吨)\n2024-01-02,CEA,70,1.5\n")
    assert parse_price_file(tonnes).rows[0].volume == Decimal(15000)


def test_xlsx_with_chinese_headers(engine: Engine, tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["交易日期", "交易品种", "开盘价", "最高价", "最低价", "收盘价", "涨跌幅", "总成交量"])
    sheet.append([dt.datetime(2024, 1, 2), "CEA", 70, 71, 69, 70.5, 0.01, 1000])
    sheet.append([dt.datetime(2024, 1, 3), "CEA", 70.5, 72, 70, 71.0, 0.007, 2000])
    path = tmp_path / "行情.xlsx"
    book.save(path)
    parsed = parse_price_file(path)
    assert parsed.layout == EXCHANGE and parsed.kind == "xlsx" and not parsed.errors
    assert [(r.day, r.close_yuan) for r in parsed.rows] == [
        (dt.date(2024, 1, 2), Decimal("70.5")),
        (dt.date(2024, 1, 3), Decimal(71)),
    ]
    assert import_prices(engine, [path], actor="a").totals.new == 2


def test_recent_prices_and_codes(engine: Engine, tmp_path: Path) -> None:
    import_prices(engine, [write(tmp_path, "good.csv", GOOD)], actor="a")
    last = recent_prices(engine, "cea", 2)
    assert [p.day.day for p in last] == [3, 4] and last[-1].close_yuan == Decimal("71.2")
    assert series_codes(engine) == ["CEA"]
    days, closes, volumes = price_series(engine, "NOPE")
    assert len(days) == len(closes) == len(volumes) == 0


# --- the command line --------------------------------------------------------------------------


def test_cli_import_and_show(tmp_path: Path) -> None:
    runner = CliRunner()
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    good = write(tmp_path, "good.csv", GOOD)
    done = runner.invoke(app, ["prices", "import", str(good), "--user", "me", "--db", url])
    assert done.exit_code == 0, done.output
    assert "CEA" in done.output and "新增" in done.output
    shown = runner.invoke(app, ["prices", "show", "CEA", "--last", "2", "--db", url])
    assert shown.exit_code == 0 and "71.20" in shown.output and "元/tCO2e" in shown.output
    bad = write(tmp_path, "bad.csv", GOOD + "2024-01-25,CEA,71,72,70,71.5,100\n")
    refused = runner.invoke(app, ["prices", "import", str(bad), "--db", url])
    assert refused.exit_code == 1 and "bad.csv" in refused.output
    single = write(tmp_path, "single.csv", "date,open,high,low,close,volume_t\n2024-01-05,71,72,70,71.5,1\n")
    taken = runner.invoke(
        app, ["prices", "import", str(single), "--instrument", "CEA", "--max-gap-days", "20", "--db", url]
    )
    assert taken.exit_code == 0, taken.output
    missing = runner.invoke(app, ["prices", "show", "CCER", "--db", url])
    assert missing.exit_code == 1


# --- properties --------------------------------------------------------------------------------

TICK = Decimal("0.0001")


@st.composite
def valid_series(draw: st.DrawFn) -> list[tuple[dt.date, Decimal, Decimal, Decimal, Decimal, int]]:
    """Days with gaps of at most the default allowance, and bars with low ≤ open, close ≤ high."""
    count = draw(st.integers(1, 30))
    day = draw(st.dates(dt.date(2000, 1, 1), dt.date(2090, 1, 1)))
    bars = []
    for _ in range(count):
        low = draw(st.integers(1, 10**8))
        high = low + draw(st.integers(0, 10**6))
        opening = draw(st.integers(low, high))
        close = draw(st.integers(low, high))
        volume = draw(st.integers(1, 10**9))
        o, h, lo, c = (Decimal(v) * TICK for v in (opening, high, low, close))
        bars.append((day, o, h, lo, c, volume))
        day += dt.timedelta(days=draw(st.integers(1, DEFAULT_MAX_GAP_DAYS)))
    return bars


def _series_csv(bars: list[tuple[dt.date, Decimal, Decimal, Decimal, Decimal, int]]) -> str:
    lines = [f"{d.isoformat()},{o},{h},{lo},{c},{v}" for d, o, h, lo, c, v in bars]
    return "date,open,high,low,close,volume_t\n" + "\n".join(lines) + "\n"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bars=valid_series(), data=st.data())
def test_any_valid_series_parses_to_its_rows_and_one_fault_is_caught(
    bars: list[tuple[dt.date, Decimal, Decimal, Decimal, Decimal, int]], data: st.DataObject
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "series.csv"
        path.write_text(_series_csv(bars), encoding="utf-8")
        parsed = parse_price_file(path, instrument="X")
        assert parsed.errors == []
        got = [(r.day, r.open_yuan, r.high_yuan, r.low_yuan, r.close_yuan, r.volume) for r in parsed.rows]
        assert got == [(*bar[:5], Decimal(bar[5])) for bar in bars]
        assert [r.line for r in parsed.rows] == list(range(2, len(bars) + 2))

        copied = data.draw(st.integers(0, len(bars) - 1))
        at = data.draw(st.integers(0, len(bars)))
        repeated = [*bars[:at], bars[copied], *bars[at:]]
        path.write_text(_series_csv(repeated), encoding="utf-8")
        errors = parse_price_file(path, instrument="X").errors
        assert any("appears twice" in e.message_en for e in errors)

        bad = data.draw(st.integers(0, len(bars) - 1))
        day, opening, high, low, close, volume = bars[bad]
        negative = [*bars[:bad], (day, opening, high, low, -close, volume), *bars[bad + 1 :]]
        path.write_text(_series_csv(negative), encoding="utf-8")
        errors = parse_price_file(path, instrument="X").errors
        assert [(e.row, e.column) for e in errors] == [(bad + 2, "close")]
        assert "negative" in errors[0].message_en
