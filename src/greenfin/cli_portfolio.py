"""``greenfin portfolio``: whole-book runs (identification, benefits, PCAF financed emissions).

``run`` reads a book (Parquet or CSV in the portfolio columns, or the store when no input is
given), runs the plan on DuckDB or Spark and writes ``holdings/`` (one row per holding),
``aggregates.parquet`` and ``summary.json``; ``generate`` writes a generated book to try it on.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from greenfin.portfolio import generate, plan
from greenfin.portfolio.kernel import PortfolioProblem, Settings
from greenfin.portfolio.pcaf import ASSET_CLASSES
from greenfin.reference.factors import DEFAULT_POLICY, POLICIES

console = Console()
err = Console(stderr=True)
portfolio_app = typer.Typer(
    help="全量资产组合：识别、环境效益、融资排放（PCAF）/ whole-book runs", no_args_is_help=True
)

CLASS_ZH = {
    "listed_equity": "上市股权", "corporate_bond": "公司债券", "business_loan_listed": "上市公司贷款",
    "business_loan": "企业贷款", "unlisted_equity": "非上市股权", "project_finance": "项目融资",
    "commercial_real_estate": "商业地产", "mortgage": "个人住房贷款", "motor_vehicle_loan": "汽车贷款",
}  # fmt: skip
STAGE_ZH = {
    "identification": "绿色识别 identification",
    "holdings": "测算 holdings",
    "generate": "生成 generating",
}


@contextmanager
def run_progress() -> Iterator[plan.Progress]:
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), TaskProgressColumn(),
        TextColumn("{task.completed:,.0f} 行/rows"), TimeElapsedColumn(), console=err,
    ) as bar:  # fmt: skip
        tasks: dict[str, TaskID] = {}

        def report(stage: str, done: int, total: int | None) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(STAGE_ZH.get(stage, stage), total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield report


def _engine(name: str, master: str) -> plan.Engine:
    if name == "duckdb":
        from greenfin.portfolio.duck import DuckDBEngine

        return DuckDBEngine()
    if name == "spark":
        try:
            from greenfin.portfolio.spark import SparkEngine
        except ImportError as exc:
            err.print(f"[red]无法使用 Spark[/red]：{exc}（pip install pyspark，并安装 Java 17）")
            raise typer.Exit(code=1) from None
        return SparkEngine(master=master)
    raise typer.BadParameter("--engine 应为 duckdb 或 spark")


def _yuan_yi(fen: int) -> str:
    return f"{Decimal(fen) / 10**10:,.2f}"


def _tonnes(kg: int) -> str:
    return f"{Decimal(kg) / 1000:,.1f}"


def print_outcome(outcome: plan.Outcome, seconds: float) -> None:
    """The run's totals and the financed emissions by asset class, with units."""
    summary = outcome.summary()
    console.print(
        f"[green]完成[/green] {outcome.holdings:,} 笔（{outcome.engine}，{seconds:,.1f} 秒，"
        f"{outcome.holdings / max(seconds, 1e-9):,.0f} 笔/秒）；不同用途描述 {outcome.subjects:,} 条各识别一次"
    )
    by_class: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    green: dict[str, int] = defaultdict(int)
    for row in outcome.aggregates:
        for key in ("holdings", "balance_fen", "financed_kg", "covered_fen", "score_weighted_fen"):
            by_class[str(row["asset_class"])][key] += int(row[key] or 0)  # type: ignore[call-overload]
        if row["status"] == "green":
            for key in ("holdings", "balance_fen", "co2_reduced_kg", "coal_saved_kg"):
                green[key] += int(row[key] or 0)  # type: ignore[call-overload]
    table = Table("资产类别 asset class", "笔数", "余额 亿元", "融资排放 tCO2e", "覆盖率", "加权数据质量分")
    for name in ASSET_CLASSES:
        if name in by_class:
            line: dict[str, int] = by_class[name]
            covered = line["covered_fen"]
            table.add_row(
                f"{CLASS_ZH[name]} {name}", f"{line['holdings']:,}", _yuan_yi(line["balance_fen"]), _tonnes(line["financed_kg"]),
                f"{covered / line['balance_fen']:.1%}" if line["balance_fen"] else "—",
                f"{line['score_weighted_fen'] / covered:.2f}" if covered else "—",
            )  # fmt: skip
    console.print(table)
    console.print(
        f"融资排放合计 {_tonnes(int(summary['financed_kg']))} tCO2e（覆盖余额 {summary['coverage'] or 0:.1%}，"  # type: ignore[call-overload]
        f"加权数据质量分 {summary['weighted_score'] or 0:.2f}）；绿色贷款 {green['holdings']:,} 笔，余额 {_yuan_yi(green['balance_fen'])} 亿元，"
        f"归属本行年减排 CO2 {_tonnes(green['co2_reduced_kg'])} t，节约标准煤 {_tonnes(green['coal_saved_kg'])} t"
    )
    console.print(f"[dim]results: {outcome.output}/holdings, aggregates.parquet, summary.json[/dim]")


@portfolio_app.command("run")
def run_command(
    input_path: Annotated[
        Path | None, typer.Option("--input", help="Parquet 文件/目录或 CSV；缺省读数据库 / book")
    ] = None,
    output: Annotated[Path, typer.Option("--output", help="结果目录 / output folder")] = Path("portfolio"),
    engine_name: Annotated[str, typer.Option("--engine", help="duckdb（默认）或 spark")] = "duckdb",
    year: Annotated[
        int | None, typer.Option("--year", help="报告年度（缺省：上一年）/ reporting year")
    ] = None,
    policy: Annotated[
        str, typer.Option("--policy", help=f"因子政策：{'/'.join(POLICIES)}")
    ] = DEFAULT_POLICY.name,
    master: Annotated[
        str, typer.Option("--spark-master", help="Spark master（spark-submit 时忽略）")
    ] = "local[2]",
    db: Annotated[
        str | None, typer.Option("--db", help="数据库 URL（无 --input 时读取）/ database URL")
    ] = None,
) -> None:
    """全量测算：识别、环境效益与归属、PCAF 融资排放，并汇总 / the whole-book run."""
    from greenfin.service.portfolio import default_year, run_stored_book

    if policy not in POLICIES:
        raise typer.BadParameter(f"--policy 应为 {'/'.join(POLICIES)} 之一")
    settings = Settings(year or default_year(), policy)
    engine = _engine(engine_name, master)
    started = time.perf_counter()
    try:
        with run_progress() as report:
            if input_path is None:
                from greenfin.store.database import open_store

                outcome = run_stored_book(open_store(db), engine, output, settings, report)
            else:
                outcome = plan.run(engine, input_path, output, settings, report)
    except (plan.InputProblem, PortfolioProblem) as exc:
        err.print(f"[red]未执行，结果目录未改动 / refused, nothing written[/red]：{exc}")
        raise typer.Exit(code=1) from None
    finally:
        engine.close()
    print_outcome(outcome, time.perf_counter() - started)


@portfolio_app.command("generate")
def generate_command(
    rows: Annotated[int, typer.Option("--rows", help="笔数 / holdings")] = 100_000,
    output: Annotated[Path, typer.Option("--output", help="Parquet 文件 / file")] = Path("book.parquet"),
    seed: Annotated[int, typer.Option("--seed")] = 20261126,
) -> None:
    """生成演示用全量资产组合（Parquet）/ write a generated book."""
    with run_progress() as report:
        done = 0

        def step(size: int) -> None:
            nonlocal done
            done += size
            report("generate", done, rows)

        generate.write(output, rows, seed, step)
    console.print(f"已生成 {rows:,} 笔 → {output}")
