"""The ``greenfin report`` commands: green-loan statistics, the annual disclosure, operations data.

Each report run is kept as a snapshot in the store, which is what the next quarter's and next
year's reports compare against; the files written are the bank's working papers (HTML, XLSX,
CSV) or the publication (PDF of the disclosure).
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from greenfin.cli_issues import print_rejection
from greenfin.ingest.issues import ImportRejected
from greenfin.reports.document import stats_document
from greenfin.reports.render import FontMissing, render
from greenfin.reports.stats import Stats
from greenfin.service.reports import disclosure_report, import_operations, stats_report
from greenfin.store.database import open_store

console = Console()
err = Console(stderr=True)
report_app = typer.Typer(
    help="监管报表：绿色贷款统计、环境信息披露、经营活动数据 / regulatory reports", no_args_is_help=True
)

DbOption = Annotated[str | None, typer.Option("--db", help="数据库 URL / database URL")]
UserOption = Annotated[str | None, typer.Option("--user", help="操作人（记入审计日志）/ acting user")]
OutOption = Annotated[Path, typer.Option("--out", help="输出目录 / output folder")]


class StatsFormat(StrEnum):
    xlsx = "xlsx"
    csv = "csv"
    html = "html"


class DisclosureFormat(StrEnum):
    html = "html"
    xlsx = "xlsx"
    pdf = "pdf"


def _parse_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"日期应为 YYYY-MM-DD，实为 {text!r} / date must be YYYY-MM-DD") from None


def _print_stats(stats: Stats) -> None:
    table = Table(title=f"绿色贷款统计 截至 {stats.as_of} / green-loan statistics", title_justify="left")
    for name in ("项目 item", "笔数 loans", "余额（元）", "环比 QoQ %", "同比 YoY %"):
        table.add_column(name, justify="left" if name.startswith("项目") else "right")
    for figure in (stats.total, stats.all_loans, stats.needs_review, stats.non_performing):
        qoq, yoy = stats.growth_pct(figure, "quarter"), stats.growth_pct(figure, "year")
        table.add_row(
            figure.name, f"{figure.count:,}", f"{figure.balance_yuan:,.2f}",
            "—" if qoq is None else f"{qoq:,.2f}", "—" if yoy is None else f"{yoy:,.2f}",
        )  # fmt: skip
    console.print(table)
    for indicator in stats.indicators:
        value = "—" if indicator.value_pct is None else f"{indicator.value_pct:,.2f} %"
        console.print(f"  {indicator.name_zh}：{value}  [dim]{indicator.note_zh}[/dim]")


@report_app.command("stats")
def stats_command(
    date: Annotated[str, typer.Option("--date", help="统计时点 YYYY-MM-DD / as-of date")],
    out: OutOption = Path("."),
    fmt: Annotated[StatsFormat, typer.Option("--format", help="xlsx、csv 或 html")] = StatsFormat.xlsx,
    user: UserOption = None,
    db: DbOption = None,
) -> None:
    """绿色贷款统计（按目录分类、行业、地区、五级分类、碳减排效益）/ green-loan statistics."""
    stats = stats_report(open_store(db), _parse_date(date), actor=user)
    _print_stats(stats)
    paths = render(stats_document(stats), fmt.value, out)
    console.print(
        f"报表已写入 / written: {', '.join(str(p) for p in paths[:3])}{' …' if len(paths) > 3 else ''}"
    )


@report_app.command("disclosure")
def disclosure_command(
    year: Annotated[int, typer.Option("--year", min=2000, max=2100, help="披露年度 / year")],
    fmt: Annotated[
        DisclosureFormat, typer.Option("--format", help="html、xlsx 或 pdf")
    ] = DisclosureFormat.html,
    out: OutOption = Path("."),
    user: UserOption = None,
    db: DbOption = None,
) -> None:
    """环境信息披露报告（JR/T 0227-2021）/ annual environmental disclosure."""
    document = disclosure_report(open_store(db), year, actor=user)
    try:
        paths = render(document, fmt.value, out)
    except FontMissing as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(code=1) from None
    console.print(f"{document.title}已写入 / written: {paths[0]}")
    console.print(
        "文中【由本行填写：…】处需由本行补充 / places marked 【由本行填写】 are for the bank to write"
    )


@report_app.command("operations")
def operations_command(
    file: Annotated[Path, typer.Argument(help="CSV：year,item,value,unit,source")],
    user: UserOption = None,
    db: DbOption = None,
) -> None:
    """导入本行经营活动资源消耗数据：全部成功或全部不导入 / import own-operations data, all or nothing."""
    try:
        result = import_operations(open_store(db), file, actor=user)
    except ImportRejected as rejected:
        print_rejection(err, rejected)
        raise typer.Exit(code=1) from None
    console.print(
        f"[green]导入完成[/green]：{result.rows:,} 行，新增 {result.inserted:,}，更新 {result.updated:,}，未变 {result.unchanged:,}"
        f" / {result.rows:,} rows: {result.inserted:,} new, {result.updated:,} updated, {result.unchanged:,} unchanged"
    )
