"""The ``greenfin prices`` commands: import price series for collateral valuation, and look at them.

An import is all or nothing: any error leaves the store unchanged and exits with status 1 after
listing every located problem, so an officer fixes the file once rather than row by row.
Warnings (skipped rows, large moves) do not stop the import but are printed, because each one is
a price someone should look at before it values a pledge.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from greenfin.cli_issues import SHOWN, issue_table, print_rejection
from greenfin.collateral.prices import DEFAULT_MAX_GAP_DAYS, LAYOUT_NAMES_ZH
from greenfin.ingest.issues import ImportRejected
from greenfin.model.problems import ValueProblem
from greenfin.service.prices import PriceImport, import_prices, recent_prices, series_codes
from greenfin.store.database import open_store

console = Console()
err = Console(stderr=True)
prices_app = typer.Typer(
    help="环境权益价格序列：导入与查看 / price series for collateral valuation", no_args_is_help=True
)

DbOption = Annotated[str | None, typer.Option("--db", help="数据库 URL / database URL")]


@prices_app.command("import")
def import_command(
    files: Annotated[list[Path], typer.Argument(help="价格文件 CSV/XLSX / price files")],
    instrument: Annotated[
        str | None,
        typer.Option(
            "--instrument", help="品种代码（单一品种文件必填；交易所文件则只导入该品种）/ series code"
        ),
    ] = None,
    max_gap_days: Annotated[
        int, typer.Option("--max-gap-days", min=1, help="相邻交易日最大间隔（自然日）/ largest gap in days")
    ] = DEFAULT_MAX_GAP_DAYS,
    user: Annotated[str | None, typer.Option("--user", help="操作人（记入审计日志）/ acting user")] = None,
    db: DbOption = None,
) -> None:
    """导入价格序列：全部成功或全部不导入 / import price series, all or nothing."""
    engine = open_store(db)
    try:
        result = import_prices(engine, files, actor=user, instrument=instrument, max_gap_days=max_gap_days)
    except ImportRejected as rejected:
        print_rejection(err, rejected)
        raise typer.Exit(code=1) from None
    _print_import(result)


def _print_import(result: PriceImport) -> None:
    for note in result.files:
        layout = note["layout"] or ""
        console.print(
            f"{note['name']}：{LAYOUT_NAMES_ZH.get(layout, layout)}，{note['rows_in_file']:,} 行，"
            f"导入 {note['rows']:,} 行，跳过 {note['skipped']:,} 行 / layout {layout}, "
            f"{note['rows_in_file']:,} rows, {note['rows']:,} imported, {note['skipped']:,} skipped"
        )
    table = Table(title="价格导入完成 / prices imported", title_justify="left")
    for name in ("品种 series", "新增 new", "更新 updated", "未变 unchanged"):
        table.add_column(name, justify="left" if name.startswith("品种") else "right")
    for code, counts in result.series.items():
        table.add_row(code, f"{counts.new:,}", f"{counts.updated:,}", f"{counts.unchanged:,}")
    totals = result.totals
    table.add_row("[bold]合计 total", f"{totals.new:,}", f"{totals.updated:,}", f"{totals.unchanged:,}")
    console.print(table)
    if result.warnings:
        count = len(result.warnings)
        err.print(
            issue_table(
                f"[yellow]提示 {count} 条（已导入，请核对）/ {count} warnings[/yellow]", result.warnings
            )
        )
        if count > SHOWN:
            err.print(f"…… 另有 {count - SHOWN} 条提示 / {count - SHOWN} more warnings")


def _number(value: Decimal | None, places: int) -> str:
    """A price or volume with at least ``places`` decimals, and more where the value has them."""
    if value is None:
        return "—"
    exponent = value.normalize().as_tuple().exponent
    shown = max(places, -exponent) if isinstance(exponent, int) else places
    return f"{value:,.{shown}f}"


@prices_app.command("show")
def show(
    code: Annotated[str, typer.Argument(help="品种代码，如 CEA / series code")],
    last: Annotated[int, typer.Option("--last", min=1, help="显示最近 N 个交易日 / last N days")] = 20,
    db: DbOption = None,
) -> None:
    """查看价格序列最近 N 个交易日 / show the last N days of a series."""
    engine = open_store(db)
    try:
        rows = recent_prices(engine, code, last)
    except ValueProblem as problem:
        err.print(f"{problem.zh} / {problem.en}")
        raise typer.Exit(code=2) from None
    if not rows:
        known = "、".join(series_codes(engine)) or "—"
        err.print(f"库中没有品种 {code} 的价格；已有：{known} / no prices stored for {code}; stored: {known}")
        raise typer.Exit(code=1)
    table = Table(
        title=f"{code.strip().upper()} 最近 {len(rows)} 个交易日 / last {len(rows)} days",
        title_justify="left",
    )
    table.add_column("日期 date")
    for name in ("开盘 open", "最高 high", "最低 low", "收盘 close"):
        table.add_column(f"{name}\n元/tCO2e", justify="right")
    table.add_column("成交量 volume\ntCO2e", justify="right")
    for row in rows:
        table.add_row(
            row.day.isoformat(),
            _number(row.open_yuan, 2),
            _number(row.high_yuan, 2),
            _number(row.low_yuan, 2),
            _number(row.close_yuan, 2),
            _number(row.volume, 0),
        )
    console.print(table)
    console.print("[dim]— 表示当日挂牌未成交，仅有收盘参考价 / — : no order-book trade that day[/dim]")
