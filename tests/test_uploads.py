"""Upload names: whatever a client sends, the name written to disk is a plain, short file name."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from greenfin.service.uploads import MAX_NAME_BYTES, upload_name


@given(st.text(max_size=400), st.sampled_from(["", ".csv", ".xlsx", ".CSV"]))
def test_any_name_becomes_a_writable_file_name(name: str, suffix: str) -> None:
    cleaned = upload_name(name + suffix, "upload.csv")
    assert cleaned and len(cleaned.encode()) <= MAX_NAME_BYTES
    assert not any(c in cleaned for c in "/\\:\x00\n\r")
    assert cleaned not in {".", ".."}
    if suffix and upload_name(name + suffix, "upload.csv") != "upload.csv":
        assert cleaned.endswith(suffix)
    with tempfile.TemporaryDirectory() as folder:  # the file system takes it
        (Path(folder) / cleaned).write_bytes(b"x")


def test_a_long_chinese_name_keeps_its_start_and_suffix() -> None:
    name = "绿色贷款台账" * 40 + ".xlsx"  # 720 bytes before the suffix
    cleaned = upload_name(name, "upload.csv")
    assert cleaned.startswith("绿色贷款台账") and cleaned.endswith(".xlsx")
    assert len(cleaned.encode()) <= MAX_NAME_BYTES


def test_directories_are_dropped() -> None:
    assert upload_name("C:\\Users\\张三\\book.csv", "x.csv") == "book.csv"
    assert upload_name("../../etc/passwd", "x.csv") == "passwd"
    assert upload_name("   ", "x.csv") == "x.csv"
