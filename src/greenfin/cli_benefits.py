"""The ``greenfin benefits`` command: environmental benefits of a project file or a CSV of projects.

The file schema is in docs/methodology/README.md.  A CSV holds one project per row: the fields of
the project file as columns, and each methodology input as a column named ``inputs.<key>`` (stated
figures as ``stated.<key>``).  Nothing is written to the store: this is the officer's calculator.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from greenfin.benefits.indicators import BY_KEY
from greenfin.benefits.projects import Assessment, ProjectProblem, assess_project
from greenfin.reference.factors import POLICIES

console = Console()
err = Console(stderr=True)


def benefits(
    project: Annotated[Path | None, typer.Argument(help="项目 JSON 文件 / project JSON file")] = None,
    file: Annotated[
        Path | None, typer.Option("--file", help="项目 CSV 文件（每行一个项目）/ CSV of projects")
    ] = None,
    policy: Annotated[
        str, typer.Option("--policy", help=f"因子政策 / factor policy: {'/'.join(POLICIES)}")
    ] = "provincial",
    as_json: Annotated[bool, typer.Option("--json", help="输出 JSON / machine output")] = False,
) -> None:
    """测算项目环境效益并归属到本行贷款 / environmental benefits of projects, attributed to the loan."""
    if (project is None) == (file is None):
        err.print(
            "请给出一个项目 JSON 文件或 --file CSV 文件（二者之一）/ give PROJECT.json or --file, not both"
        )
        raise typer.Exit(code=2)
    if policy not in POLICIES:
        err.print(f"未知因子政策 {policy!r}；可选：{'/'.join(POLICIES)} / unknown policy")
        raise typer.Exit(code=2)
    chosen = POLICIES[policy]
    try:
        specs: list[tuple[int | None, dict[str, Any]]] = []
        if project is not None:
            specs.append((None, _read_json(project)))
        elif file is not None:
            specs.extend(_read_csv(file))
        results = [assess_project(spec, chosen, row=row) for row, spec in specs]
    except ProjectProblem as exc:
        err.print(f"[red]无法测算 / cannot assess[/red]：{exc}")
        raise typer.Exit(code=1) from None
    if as_json:
        payload: Any = [r.as_dict() for r in results] if file is not None else results[0].as_dict()
        print(json.dumps(payload, ensure_ascii=False, indent=2))
        return
    for result in results:
        show(result)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProjectProblem("(file)", f"无法读取项目文件 {path}：{exc}") from exc
    if not isinstance(data, dict):
        raise ProjectProblem("(file)", "项目文件应为一个 JSON 对象")
    return data


def _read_csv(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """Rows as project specs; ``inputs.x`` and ``stated.x`` columns are nested back."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError) as exc:
        raise ProjectProblem("(file)", f"无法读取 {path}：{exc}") from exc
    specs = []
    for line, row in enumerate(rows, start=2):
        spec: dict[str, Any] = {}
        for column, cell in row.items():
            if column is None or cell in (None, ""):
                continue
            section, dot, key = column.partition(".")
            if dot and section in {"inputs", "stated"}:
                spec.setdefault(section, {})[key] = cell
            else:
                spec[column] = cell
        specs.append((line, spec))
    return specs


def show(assessment: Assessment) -> None:
    """The readable form: figures with units, the attribution rule, the factors and their sources."""
    result = assessment.result
    title = f"{assessment.project_id} {assessment.name}".strip() or "项目"
    console.print(
        f"[bold]{title}[/bold]  方法学 {result.methodology} v{result.version}  报告年度 {result.reporting_year}"
    )
    convention = "电网排放因子法" if result.convention == "grid_factor" else "标准煤折算法"
    console.print(f"因子政策 {result.policy}（二氧化碳口径：{convention}）  数据质量 {result.quality}")
    table = Table("指标 indicator", "项目 project", "归属本行 attributed", "单位 unit")
    for key, value in result.indicators.items():
        indicator = BY_KEY[key]
        attributed = "" if result.attributed is None else f"{result.attributed[key]:,.2f}"
        table.add_row(indicator.name_zh, f"{value:,.2f}", attributed, indicator.unit)
    console.print(table)
    if result.attribution is not None:
        a = result.attribution
        console.print(
            f"归属比例 {a.share:.2%}（{a.rule_zh}：{a.numerator_yuan / 1e4:,.2f} 万元 ÷ {a.denominator_yuan / 1e4:,.2f} 万元）"
        )
    for name, rows in result.factors.items():
        for f in rows:
            console.print(
                f"  因子 {name}: {f.value:g} {f.unit}（{f.key}，{f.year} 年，可信度 {f.confidence}）来源：{f.source}"
            )
    for key, how in result.estimated.items():
        console.print(f"  [yellow]估算[/yellow] {key}：{how}")
    for note in result.notes:
        console.print(f"  说明：{note}")
    for flag in assessment.flags:
        console.print(f"  [red]核查提示[/red] {flag.field}：{flag.message_zh}")
