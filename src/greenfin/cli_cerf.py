"""``greenfin cerf batch``: the quarter's 碳减排支持工具 batch, its disclosure list and verification package."""

from __future__ import annotations

import re
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from greenfin.cerf.eligibility import CerfRules
from greenfin.service.cerf import run_batch, write_disclosure, write_verification
from greenfin.store.database import open_store

console = Console()
err = Console(stderr=True)
cerf_app = typer.Typer(help="碳减排支持工具：季度批次、披露清单、核验材料 / CERF", no_args_is_help=True)


@cerf_app.command("batch")
def batch_command(
    quarter: Annotated[str, typer.Option("--quarter", help="季度，如 2026Q3 / quarter")],
    out: Annotated[Path, typer.Option("--out", help="输出目录 / output folder")] = Path("cerf"),
    tolerance_bp: Annotated[int, typer.Option("--lpr-tolerance-bp", help="与同期限 LPR 的容差（基点）")] = 50,
    fmt: Annotated[str, typer.Option("--format", help="xlsx 或 csv")] = "xlsx",
    user: Annotated[str | None, typer.Option("--user", help="操作人 / acting user")] = None,
    db: Annotated[str | None, typer.Option("--db", help="数据库 URL / database URL")] = None,
) -> None:
    """生成季度碳减排支持工具批次：合格贷款、再贷款金额、披露清单与核验材料 / the quarter's CERF batch."""
    if fmt not in ("xlsx", "csv"):
        raise typer.BadParameter("--format 应为 xlsx 或 csv")
    engine = open_store(db)
    try:
        batch = run_batch(engine, quarter, actor=user, rules=CerfRules(lpr_tolerance_bp=tolerance_bp))
    except ValueError as exc:
        err.print(f"[red]未执行 / refused[/red]：{exc}")
        raise typer.Exit(code=1) from None
    eligible = batch.eligible
    principal = sum(loan.amount_fen for loan, _ in eligible)
    facility = sum(d.facility_fen for _, d in eligible)
    co2 = sum(loan.co2_reduced_t or 0 for loan, _ in eligible)
    state = (
        f"第 {batch.revision} 版" + ("（更正前版）" if batch.amends else "")
        if batch.changed
        else f"与已存第 {batch.revision} 版相同，未作更改"
    )
    console.print(
        f"碳减排支持工具 {batch.quarter}：{state}。本季发放贷款 {len(batch.decisions):,} 笔，合格 {len(eligible):,} 笔，"
        f"本金 {Decimal(principal) / 1_000_000:,.2f} 万元，可申请再贷款 {Decimal(facility) / 1_000_000:,.2f} 万元（60%，1.75%），"
        f"年碳减排量 {co2:,.2f} tCO2e"
    )
    table = Table("贷款 loan", "项目 project", "本金 万元", "再贷款 万元", "年减排 tCO2e")
    for loan, decision in eligible[:20]:
        table.add_row(loan.loan_id, loan.project_name or "", f"{Decimal(loan.amount_fen) / 1_000_000:,.2f}",
                      f"{Decimal(decision.facility_fen) / 1_000_000:,.2f}", f"{loan.co2_reduced_t or 0:,.2f}")  # fmt: skip
    if eligible:
        console.print(table)
    reasons = Counter(re.split(r"[\d（：]", reason)[0] for _, d in batch.decisions for reason in d.reasons)
    for reason, count in reasons.most_common(8):
        console.print(f"  不纳入 {count:,} 笔：{reason}")
    disclosure = write_disclosure(batch, out / f"cerf_{batch.quarter}_disclosure.{fmt}")
    year = int(batch.quarter[:4])
    package = write_verification(engine, batch, out / f"cerf_{batch.quarter}_verification.{fmt}", year)
    console.print(f"披露清单 / disclosure list: {disclosure}；核验材料 / verification package: {package}")
