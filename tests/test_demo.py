"""The demo book: deterministic, valid, realistic, and the whole pipeline from the CLI."""

from __future__ import annotations

import csv
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from greenfin.cli import app
from greenfin.demo.generator import CHONGQING_DYEING, HEADERS, TONGDAO_WIND, generate_rows
from greenfin.ingest.rows import RowValidator
from greenfin.reference.factors import POLICIES
from greenfin.service.benefits import loan_benefits
from greenfin.store.database import open_store
from greenfin.store.schema import loans, pledge_valuations, pledges, projects


def test_generator_is_deterministic_and_streams() -> None:
    first = list(generate_rows(500, seed=7))
    assert first == list(generate_rows(500, seed=7))
    assert first != list(generate_rows(500, seed=8))
    assert len(first) == 500 and len({row[0] for row in first}) == 500


def test_every_generated_row_validates() -> None:
    validator = RowValidator("demo.csv", list(HEADERS))
    assert validator.header_issues == []
    problems = [
        issue for line, row in enumerate(generate_rows(3000), 2) for issue in validator.validate(line, row)[1]
    ]
    assert problems == []


def test_book_has_a_believable_mix() -> None:
    rows = list(generate_rows(5000))
    header = list(HEADERS)
    industries = {row[header.index("行业代码")][0] for row in rows}
    assert {"A", "C", "D", "E", "F", "K"} <= industries
    green = sum(row[header.index("是否绿色贷款")] == "是" for row in rows)
    assert 0.1 < green / len(rows) < 0.5
    zhejiang = sum(row[header.index("行政区划代码")].startswith("33") for row in rows)
    assert zhejiang / len(rows) > 0.75
    assert len({row[header.index("五级分类")] for row in rows}) == 5


def test_demo_command_runs_the_pipeline(tmp_path: Path, monkeypatch: object) -> None:
    result = CliRunner().invoke(app, ["demo", "--loans", "400", "--dir", str(tmp_path), "--no-serve"])
    assert result.exit_code == 0, result.output
    assert "贷款台账概览" in result.output and "按五级分类" in result.output
    assert TONGDAO_WIND.loan_id in result.output and CHONGQING_DYEING.loan_id in result.output
    assert (tmp_path / "summary.xlsx").is_file() and (tmp_path / "loan_book_export.xlsx").is_file()
    engine = open_store(f"sqlite:///{tmp_path / 'greenfin.db'}")
    with engine.connect() as connection:
        assert len(connection.execute(select(loans.c.loan_id)).all()) == 400
        wind = (
            connection.execute(select(projects).where(projects.c.project_id == "PGF-2024-HN-0001"))
            .mappings()
            .one()
        )
        assert float(wind["capacity_mw"]) == 100 and float(wind["annual_generation_mwh"]) == 210_000
        assert wind["region_code"] == "431230"
        pledge = (
            connection.execute(select(pledges).where(pledges.c.loan_id == CHONGQING_DYEING.loan_id))
            .mappings()
            .one()
        )
        assert pledge["instrument"] == "PILOT" and pledge["unit"] == "tCO2e"
    # The wind farm's benefits, with the factor the policy picks and the bank's share (issue 4).
    assert "环境效益" in result.output and "电网因子 湖南" in result.output and "68.57%" in result.output
    provincial = loan_benefits(engine, TONGDAO_WIND.loan_id, POLICIES["provincial"], 2025)
    regional = loan_benefits(engine, TONGDAO_WIND.loan_id, POLICIES["regional"], 2025)
    assert provincial is not None and regional is not None
    assert provincial.result.indicators["coal_saved"] == pytest.approx(
        210_000 * 0.3007
    )  # 2022 supply coal rate
    assert provincial.result.indicators["co2_reduced"] == pytest.approx(210_000 * 0.49)  # 湖南 2022
    assert regional.result.indicators["co2_reduced"] == pytest.approx(210_000 * 0.5271)  # 华中 2023
    assert provincial.result.attribution is not None
    assert provincial.result.attribution.share == pytest.approx(48_000 / 70_000)
    # The 重庆 pledge: valued, normal on the first revaluation, an alert after the simulated fall (issue 5).
    assert "押品提示 warning PL-CQ-2025-0001" in result.output.replace("\n", "")
    with engine.connect() as connection:
        state = connection.execute(
            select(pledges.c.state).where(pledges.c.pledge_id == "PL-CQ-2025-0001")
        ).scalar_one()
        statuses = (
            connection.execute(
                select(pledge_valuations.c.status)
                .where(pledge_valuations.c.pledge_id == "PL-CQ-2025-0001")
                .order_by(pledge_valuations.c.run_id)
            )
            .scalars()
            .all()
        )
    assert state == "warning" and statuses == ["normal", "warning"]
    # Running it again rebuilds the same book.
    again = CliRunner().invoke(app, ["demo", "--loans", "400", "--dir", str(tmp_path), "--no-serve"])
    assert again.exit_code == 0, again.output


def test_import_command_reports_located_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    rows = list(csv.reader((Path(__file__).parent / "data" / "small_book.csv").open(encoding="utf-8")))
    rows[1][2] = "91330100799655058C"
    with bad.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    errors = tmp_path / "errors.xlsx"
    result = CliRunner().invoke(app, ["import", str(bad), "--db", db, "--errors-out", str(errors)])
    assert result.exit_code == 1
    assert "校验码" in result.output and "bad.csv" in result.output
    assert errors.is_file()
    good = CliRunner().invoke(
        app, ["import", str(Path(__file__).parent / "data" / "small_book.csv"), "--db", db]
    )
    assert good.exit_code == 0 and "导入完成" in good.output
    summary = CliRunner().invoke(app, ["summary", "--db", db])
    assert summary.exit_code == 0 and "贷款 3 笔" in summary.output


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_demo_serves_and_prints_the_address_and_working_logins(tmp_path: Path) -> None:
    """`make demo` (``greenfin demo``) ends by printing the demo logins and the address it serves,
    then serves: a reader follows the printed address and signs in with a printed login.  Run as
    the README runs it, in a process of its own on a free port, stopped with Ctrl-C (SIGINT)."""
    port = _free_port()
    env = {**os.environ, "COLUMNS": "240", "PYTHONUNBUFFERED": "1"}
    env.pop("GREENFIN_DATABASE_URL", None)  # the demo's own store in --dir
    command = [sys.executable, "-c", "from greenfin.cli import main; main()", "demo", "--loans", "200",
               "--dir", str(tmp_path), "--port", str(port)]  # fmt: skip
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=tmp_path
    )
    lines: list[str] = []
    address = ""
    killed = False
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 240
        while not address and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break  # the process ended without serving
            lines.append(line.rstrip("\n"))
            found = re.search(r"web app: (http://127\.0\.0\.1:\d+/)", line)
            address = found[1] if found else ""
        output = "\n".join(lines)
        assert address == f"http://127.0.0.1:{port}/", output[-3000:]
        logins = dict(re.findall(r"^\s+(\w+) / (\S+)\s*$", output, re.MULTILINE))
        assert {"officer", "checker", "risk", "auditor", "admin"} <= set(logins), output[-3000:]
        assert output.index("demo logins") < output.index("web app:")  # shown before serving starts
        with httpx.Client(base_url=address, timeout=5) as client:
            page = None
            while page is None and time.monotonic() < deadline:
                try:
                    page = client.get("/")
                except httpx.TransportError:
                    assert process.poll() is None, "the server stopped"
                    time.sleep(0.2)
            assert (
                page is not None and page.status_code == 303 and page.headers["location"].startswith("/login")
            )
            assert client.get("/login").status_code == 200
            for username, roles in (("auditor", ["auditor"]), ("admin", ["admin"])):
                signed = client.post(
                    "/api/v1/auth/login", json={"username": username, "password": logins[username]}
                )
                assert signed.status_code == 200, signed.text
                assert signed.json()["roles"] == roles
            wrong = client.post("/api/v1/auth/login", json={"username": "officer", "password": "not-the-one"})
            assert wrong.status_code == 401
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                killed = True
                process.kill()
                process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
    assert not killed, "Ctrl-C did not stop the server within 20 s"
