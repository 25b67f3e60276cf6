"""The ``greenfin`` command: import a loan book, run the demo, summarise, export.

Messages are Chinese first with English beside them, because the people at the keyboard are
bank officers and the people reading logs are often not.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from sqlalchemy import Engine

from greenfin.cli_benefits import benefits
from greenfin.cli_cerf import cerf_app
from greenfin.cli_collateral import collateral_app, user_app
from greenfin.cli_issues import print_rejection
from greenfin.cli_labels import STATUS_SHORT_ZH, classify, label_app
from greenfin.cli_portfolio import portfolio_app
from greenfin.cli_prices import prices_app
from greenfin.cli_reports import report_app
from greenfin.ingest.issues import ImportRejected
from greenfin.service.collateral import STATUS_ZH, Revaluation
from greenfin.service.export import export_loans, write_table
from greenfin.service.importing import ImportSummary, import_files
from greenfin.service.summary import BookSummary, SummaryLine, summarise
from greenfin.store.database import ENV_URL, database_url, open_store

app = typer.Typer(
    help="greenfin：绿色金融识别、环境效益测算与环境权益质押管理 / green-finance platform",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="数据库维护 / store maintenance", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.command("classify")(classify)
app.command("benefits")(benefits)
app.add_typer(collateral_app, name="collateral")
app.add_typer(cerf_app, name="cerf")
app.add_typer(user_app, name="user")
app.add_typer(label_app, name="label")
app.add_typer(prices_app, name="prices")
app.add_typer(report_app, name="report")
app.add_typer(portfolio_app, name="portfolio")
console = Console()
err = Console(stderr=True)

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="数据库 URL（默认 GREENFIN_DATABASE_URL 或 ./greenfin.db）/ database URL"),
]
WAN = Decimal(10_000)


@contextmanager
def _progress(description: str) -> Iterator[Progress]:
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rows]:,} 行/rows"),
        TimeRemainingColumn(),
        console=err,
        transient=False,
    ) as progress:
        yield progress


def _print_rejection(rejected: ImportRejected, errors_out: Path | None) -> None:
    print_rejection(err, rejected, "; use --errors-out")
    if errors_out is not None:
        write_table(
            errors_out,
            ("文件 file", "行 row", "列 column", "值 value", "问题 message_zh", "problem message_en"),
            ((i.file, i.row, i.column, i.value, i.message_zh, i.message_en) for i in rejected.issues),
        )
        err.print(f"问题清单已写入 / problems written to {errors_out}")


def _run_import(
    engine: Engine, files: list[Path], encoding: str | None, sheet: str | None, user: str | None
) -> ImportSummary:
    with _progress("导入 importing") as progress:
        task = progress.add_task("导入 importing", total=1, rows=0)

        def report(done: int, total: int, rows: int) -> None:
            progress.update(task, completed=done, total=max(total, 1), rows=rows)

        summary = import_files(engine, files, actor=user, encoding=encoding, sheet=sheet, progress=report)
        progress.update(task, completed=1, total=1)
    return summary


def _print_import(summary: ImportSummary) -> None:
    for name, headers in summary.ignored_columns.items():
        err.print(
            f"[yellow]注意[/yellow]：{name} 中以下列不属于贷款台账格式，未导入（请核对拼写）："
            f"{'、'.join(headers)}\n[dim]note: columns not in the loan-book schema were not read: {', '.join(headers)}[/dim]"
        )
    console.print(
        f"[green]导入完成[/green] 批次 #{summary.batch_id}：{summary.rows:,} 行；"
        f"贷款 新增 {summary.loans.inserted:,} / 更新 {summary.loans.updated:,} / 未变 {summary.loans.unchanged:,}；"
        f"借款人 新增 {summary.borrowers.inserted:,} / 更新 {summary.borrowers.updated:,}；"
        f"项目 新增 {summary.projects.inserted:,} / 更新 {summary.projects.updated:,}"
    )
    console.print(
        f"[dim]import batch #{summary.batch_id}: {summary.rows:,} rows; loans inserted {summary.loans.inserted:,}, "
        f"updated {summary.loans.updated:,}, unchanged {summary.loans.unchanged:,}[/dim]"
    )


@app.command("import")
def import_command(
    files: Annotated[
        list[Path], typer.Argument(help="CSV 或 XLSX 贷款台账文件 / loan-book files", exists=False)
    ],
    encoding: Annotated[str | None, typer.Option(help="文本编码，如 gbk、utf-8（默认自动识别）")] = None,
    sheet: Annotated[str | None, typer.Option(help="XLSX 工作表名（默认第一个）")] = None,
    user: Annotated[str | None, typer.Option(help="操作人（记入审计日志）/ acting user")] = None,
    errors_out: Annotated[
        Path | None,
        typer.Option(help="把问题清单（前 500 条）写入 CSV/XLSX / write the problems (first 500) here"),
    ] = None,
    db: DbOption = None,
) -> None:
    """导入贷款台账：全部成功或全部不导入 / import a loan book, all or nothing."""
    engine = open_store(db)
    try:
        summary = _run_import(engine, files, encoding, sheet, user)
    except ImportRejected as rejected:
        _print_rejection(rejected, errors_out)
        raise typer.Exit(code=1) from None
    _print_import(summary)


def _money_wan(value: Decimal) -> str:
    return f"{value / WAN:,.2f}"


def _breakdown_table(title: str, lines: list[SummaryLine], total: Decimal, limit: int = 12) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("类别 / group")
    table.add_column("笔数 loans", justify="right")
    table.add_column("余额（万元）", justify="right")
    table.add_column("占比 %", justify="right")
    table.add_column("其中绿色（万元）", justify="right")
    for line in lines[:limit]:
        share = (line.balance_yuan / total * 100) if total else Decimal(0)
        table.add_row(
            line.label,
            f"{line.loans:,}",
            _money_wan(line.balance_yuan),
            f"{share:.1f}",
            _money_wan(line.green_balance_yuan),
        )
    if len(lines) > limit:
        rest = lines[limit:]
        balance = sum((line.balance_yuan for line in rest), Decimal(0))
        green = sum((line.green_balance_yuan for line in rest), Decimal(0))
        share = (balance / total * 100) if total else Decimal(0)
        table.add_row(
            f"其他 {len(rest)} 类 / others",
            f"{sum(line.loans for line in rest):,}",
            _money_wan(balance),
            f"{share:.1f}",
            _money_wan(green),
        )
    return table


def print_summary(book: BookSummary) -> None:
    console.rule("贷款台账概览 / loan book summary")
    console.print(
        f"贷款 {book.loans:,} 笔，借款人 {book.borrowers:,} 户，项目 {book.projects:,} 个，环境权益质押 {book.pledges:,} 笔；"
        f"贷款余额 {_money_wan(book.balance_yuan)} 万元，其中银行标识绿色贷款 {_money_wan(book.green_balance_yuan)} 万元"
    )
    console.print(
        f"[dim]{book.loans:,} loans, {book.borrowers:,} borrowers, {book.projects:,} projects, {book.pledges:,} pledges; "
        f"balance {book.balance_yuan:,.2f} CNY, bank-flagged green {book.green_balance_yuan:,.2f} CNY[/dim]"
    )
    if book.foreign_currency_loans:
        console.print(
            f"[yellow]另有外币贷款 {book.foreign_currency_loans:,} 笔，未计入以上人民币合计[/yellow] / "
            f"{book.foreign_currency_loans:,} loans in other currencies are not in these CNY totals"
        )
    console.print(
        _breakdown_table(
            "按行业门类（GB/T 4754-2017）/ by industry section", book.by_industry, book.balance_yuan
        )
    )
    console.print(_breakdown_table("按地区（地市）/ by prefecture", book.by_region, book.balance_yuan))
    console.print(_breakdown_table("按五级分类 / by five-tier class", book.by_five_tier, book.balance_yuan))


def write_summary(book: BookSummary, path: Path) -> Path:
    """The summary as a spreadsheet an officer can forward."""
    rows: list[list[object]] = []
    for title, lines in (
        ("行业门类", book.by_industry),
        ("地区", book.by_region),
        ("五级分类", book.by_five_tier),
    ):
        for line in lines:
            rows.append([title, line.label, line.loans, line.balance_yuan, line.green_balance_yuan])
    rows.append(["合计", "", book.loans, book.balance_yuan, book.green_balance_yuan])
    return write_table(path, ("维度", "类别", "笔数", "贷款余额（元）", "绿色贷款余额（元）"), rows)


@app.command()
def summary(db: DbOption = None) -> None:
    """打印贷款台账概览 / print the loan-book summary."""
    print_summary(summarise(open_store(db)))


@app.command()
def export(
    path: Annotated[Path, typer.Argument(help="输出文件 .csv 或 .xlsx / output file")],
    db: DbOption = None,
) -> None:
    """按导入格式导出贷款台账（公式安全）/ export the loan book (formula-safe)."""
    count = export_loans(open_store(db), path)
    console.print(f"已导出 {count:,} 笔贷款到 {path} / exported {count:,} loans")


audit_app = typer.Typer(help="审计日志 / audit log", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify(
    db: DbOption = None,
    keyed_after: Annotated[
        int | None,
        typer.Option(
            help="此编号之后的记录必须加密钥（运维在库外记下的编号）/ records after this id must be keyed"
        ),
    ] = None,
    head: Annotated[
        str | None,
        typer.Option(
            help="运维在库外记下的链尾「编号:哈希」，该记录必须仍在且哈希相同（可发现最新记录被删除）/ "
            "a head noted outside the database, ID:HASH (hash prefix of 16+ characters): catches the "
            "newest records deleted",
        ),
    ] = None,
) -> None:
    """校验审计日志哈希链：发现被改动、删除或插入的记录 / verify the audit log's hash chain.

    With GREENFIN_AUDIT_KEY keyed records and the head row are checked with the key; says whether
    the chain is keyed and from which record, and which records could only be checked without a
    key, since whoever can write the database could have recomputed their plain hashes.  Prints the
    head (newest id and hash) to note outside the database: deleting the newest records and
    restoring an earlier genuine head is detectable only against such a note (--head, --keyed-after).
    """
    from greenfin.service.audit import verify_report

    noted: tuple[int, str] | None = None
    if head is not None:
        number, sep, digest = head.partition(":")
        if not sep or not number.strip().isdigit() or len(digest.strip()) < 16:
            err.print(
                "[red]--head 须为「编号:哈希」，哈希至少 16 个字符 / --head must be ID:HASH (16+ hex)[/red]"
            )
            raise typer.Exit(code=2)
        noted = (int(number), digest.strip())
    with open_store(db).connect() as connection:
        report = verify_report(connection, keyed_after=keyed_after, head=noted)
    count, problems = report.records, report.problems
    style = "green" if report.keyed and report.keyed_from is not None else "yellow"
    err.print(f"[{style}]{report.status}[/{style}]")
    if report.unchecked:
        err.print(
            f"[yellow]{len(report.unchecked):,} 条加密钥记录未能校验内容（{_ids(report.unchecked)}）/ "
            f"keyed records not checked without the key[/yellow]"
        )
    if report.unkeyed:
        err.print(
            f"[yellow]{len(report.unkeyed):,} 条记录只能按无密钥的 SHA-256 校验（{_ids(report.unkeyed)}）："
            f"能写数据库的人可重算其哈希 / records checked unkeyed only (plain SHA-256)[/yellow]"
        )
    if report.head_id is not None:
        # one unwrapped line, so that it can be copied (or parsed) whole
        console.print(f"当前链尾 / current head: {report.head_id}:{report.head_hash}", soft_wrap=True)
        console.print(
            "请在库外记下链尾，日后以 --head 核对：删除最新的记录只有对照库外记下的链尾才能发现 / note the "
            "head outside the database and check it later with --head: deleting the newest records is "
            "detectable only against such a note"
        )
    if problems:
        for problem in problems[:50]:
            where = "" if problem.record_id is None else f" {problem.record_id}"
            err.print(f"[red]审计记录{where}[/red]：{problem.problem_zh}")
        err.print(f"审计日志校验失败：{len(problems)} 处问题，共 {count:,} 条记录 / audit chain broken")
        raise typer.Exit(code=1)
    keyed = count - len(report.unkeyed) - len(report.unchecked)
    console.print(
        f"审计日志完整：{count:,} 条记录，哈希链无断裂，其中 {keyed:,} 条以密钥校验 / audit chain intact "
        f"({keyed:,} of {count:,} records checked with the key)"
    )


def _ids(ids: list[int]) -> str:
    """Record ids as ranges (1-40, 52), so a long list stays one line."""
    ranges: list[str] = []
    start = previous = None
    for current in [*ids, None]:
        if start is not None and previous is not None and current == previous + 1:
            previous = current
            continue
        if start is not None:
            ranges.append(str(start) if start == previous else f"{start}-{previous}")
        start = previous = current
    return ", ".join(ranges[:20]) + (" …" if len(ranges) > 20 else "")


@db_app.command("upgrade")
def db_upgrade(db: DbOption = None) -> None:
    """创建或升级数据库结构 / create or migrate the store schema."""
    open_store(db)
    console.print(f"数据库结构已是最新 / schema is current: {database_url(db)}")


@app.command()
def demo(
    loans: Annotated[
        int, typer.Option("--loans", min=2, max=10_000_000, help="贷款笔数 / number of loans")
    ] = 5_000,
    seed: Annotated[int, typer.Option(help="随机种子 / seed")] = 20261126,
    directory: Annotated[Path, typer.Option("--dir", help="演示文件目录 / demo folder")] = Path(
        "greenfin-demo"
    ),
    serve: Annotated[
        bool, typer.Option("--serve/--no-serve", help="结束后启动网页应用 / serve the web app")
    ] = True,
    host: Annotated[str, typer.Option(help="网页应用监听地址 / host")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="网页应用端口 / port")] = 8000,
    db: DbOption = None,
) -> None:
    """生成演示银行的贷款台账并走完整流程 / build the demo bank's book and run the whole pipeline."""
    from greenfin.demo import collateral as demo_collateral
    from greenfin.demo.generator import CHONGQING_DYEING, TONGDAO_WIND, write_book
    from greenfin.service.identification import label_book

    explicit = db or os.environ.get(ENV_URL)
    url = explicit or f"sqlite:///{directory / 'greenfin.db'}"
    if not explicit:  # the demo's own SQLite store is rebuilt from scratch each time
        for suffix in ("", "-wal", "-shm"):
            Path(f"{directory / 'greenfin.db'}{suffix}").unlink(missing_ok=True)
    book_path = directory / "loan_book.csv"
    console.print(
        f"演示银行：浙江某城市商业银行（虚构），{loans:,} 笔贷款 / fictional Zhejiang city commercial bank"
    )
    with _progress("生成台账 generating") as progress:
        task = progress.add_task("生成台账 generating", total=loans, rows=0)
        write_book(book_path, loans, seed, progress=lambda n: progress.update(task, completed=n, rows=n))
    engine = open_store(url)
    try:
        result = _run_import(engine, [book_path], None, None, "demo")
    except ImportRejected as rejected:  # the generator is tested; this would be a bug
        _print_rejection(rejected, None)
        raise typer.Exit(code=1) from None
    _print_import(result)
    with _progress("押品估值 collateral") as progress:
        task = progress.add_task("押品估值 collateral", total=None, rows=0)
        pledged = demo_collateral.run(engine, directory, seed)
        progress.update(task, completed=1, total=1)
    console.print(
        f"登记环境权益质押 {pledged.pledges:,} 笔；导入模拟价格 {sum(c.new for c in pledged.prices.series.values()):,} 条"
        f"（{'、'.join(pledged.prices.series)}，模拟数据，见 demo/prices.py）/ pledges and simulated prices"
    )
    for revaluation in (pledged.before, pledged.after):
        values = revaluation.values
        console.print(
            f"押品重估 {revaluation.day}（估值政策 {revaluation.policy.name} v{revaluation.policy.version}）："
            f"{len(values):,} 笔，预警 {sum(v.status == 'warning' for v in values):,}，低于平仓线 "
            f"{sum(v.status == 'liquidation' for v in values):,}，新提示 {len(revaluation.alerts):,}"
        )
    with _progress("绿色识别 labelling") as progress:
        task = progress.add_task("绿色识别 labelling", total=None, rows=0)
        run = label_book(
            engine,
            actor="demo",
            progress=lambda done, total: progress.update(task, completed=done, total=total, rows=done),
        )
    console.print(
        f"绿色识别：{run.loans:,} 笔，绿色 {run.green:,}，非绿色 {run.not_green:,}，需复核 {run.needs_review:,}"
        f" / labelled {run.loans:,} loans (run {run.run_id})"
    )
    _print_book_benefits(engine)
    _demo_portfolio(engine, directory)
    book = summarise(engine)
    print_summary(book)
    report = write_summary(book, directory / "summary.xlsx")
    export_loans(engine, directory / "loan_book_export.xlsx")
    _print_cases(engine, (TONGDAO_WIND.loan_id, CHONGQING_DYEING.loan_id))
    _print_pledge_case(pledged.before, pledged.after, CHONGQING_DYEING.loan_id)
    console.print(
        f"报告 / report: {report}；导出 / export: {directory / 'loan_book_export.xlsx'}；数据库 / store: {url}"
    )
    logins = demo_collateral.demo_logins(engine)
    if logins:
        console.print("演示登录（密码随机生成，仅显示这一次）/ demo logins (random passwords, shown once):")
        for username, password in logins.items():
            console.print(f"  {username} / {password}")
    if serve:
        _serve(url, host, port)


def _demo_portfolio(engine: Engine, directory: Path) -> None:
    """The stored book as a whole-book run (DuckDB): financed emissions under PCAF."""
    from greenfin.cli_portfolio import run_progress
    from greenfin.portfolio.duck import DuckDBEngine
    from greenfin.portfolio.kernel import Settings
    from greenfin.service.portfolio import default_year, run_stored_book

    portfolio = DuckDBEngine()
    try:
        with run_progress() as report:
            outcome = run_stored_book(
                engine, portfolio, directory / "portfolio", Settings(default_year()), report
            )
    finally:
        portfolio.close()
    summary = outcome.summary()
    console.print(
        f"融资排放（PCAF）：{Decimal(int(summary['financed_kg'])) / 1000:,.1f} tCO2e，覆盖余额 "  # type: ignore[call-overload]
        f"{summary['coverage'] or 0:.1%}，加权数据质量分 {summary['weighted_score'] or 0:.2f}；"
        f"逐笔结果 {directory / 'portfolio'} / financed emissions of the whole book"
    )


def _serve(url: str | None, host: str, port: int, workers: int = 1) -> None:
    import secrets

    import uvicorn

    from greenfin.api.app import create_app
    from greenfin.api.serving import APP_FACTORY, balanced_sockets_available, serve_workers

    console.print(
        f"网页应用 / web app: http://{host}:{port}/  （API 文档 / API docs: http://{host}:{port}/docs）"
    )
    if workers <= 1:
        uvicorn.run(create_app(url), host=host, port=port, log_level="warning", access_log=False)
        return
    # Several processes must share the session key and the store, which they read from the
    # environment (a key made here is never written anywhere; the audit chain never uses it).
    if not os.environ.get("GREENFIN_SECRET_KEY"):
        os.environ["GREENFIN_SECRET_KEY"] = secrets.token_urlsafe(32)
    if url:
        os.environ[ENV_URL] = url
    # Migrate once here: workers opening a new store together would each run the migrations, and
    # all but one would fail on the tables the first one created.
    open_store(url).dispose()
    if balanced_sockets_available():
        raise typer.Exit(serve_workers(host, port, workers))
    uvicorn.run(
        APP_FACTORY,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
    )


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="监听地址 / host")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="端口 / port")] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="进程数 / worker processes")] = 1,
    db: DbOption = None,
) -> None:
    """启动网页应用与 REST API / start the web app and the API."""
    _serve(db, host, port, workers)


def _print_cases(engine: Engine, loan_ids: tuple[str, ...]) -> None:
    from greenfin.model.values import canonical_decimal, fen_to_yuan
    from greenfin.reference.regions import region
    from greenfin.service.identification import loan_label
    from greenfin.service.summary import loan_details

    def number(value: object) -> str:
        return f"{canonical_decimal(Decimal(str(value))):f}"

    console.rule("演示案例 / demo cases")
    for detail in loan_details(engine, loan_ids):
        loan = detail.loan
        place = region(detail.region_code)
        console.print(
            f"[bold]{loan['loan_id']}[/bold] {detail.borrower_name}（{place.province.name_zh}{place.name_zh or ''}，"
            f"{place.grid_region}电网）：余额 {fen_to_yuan(loan['balance_fen']) / WAN:,.2f} 万元，"
            f"发放 {loan['start_date']}，审批 {loan['approval_date']}"
        )
        if detail.project is not None:
            project = detail.project
            console.print(
                f"  项目：{project['name']}，装机 {number(project['capacity_mw'])} MW，"
                f"年发电量 {number(project['annual_generation_mwh'])} MWh"
            )
        label = loan_label(engine, loan["loan_id"])["engine"]
        if label is not None:
            evidence = label["evidence"]
            item = evidence["item"]
            named = f"{item['code']} {item['name']}（匹配：{'、'.join(item['terms'])}）" if item else "—"
            console.print(
                f"  绿色识别（{evidence['catalogue']}）：{STATUS_SHORT_ZH[label['status']]}"
                f" {named}；碳减排支持工具：{evidence['cerf_area_name'] or '—'}"
            )
        _print_benefits(engine, loan["loan_id"])
        for pledge in detail.pledges:
            console.print(
                f"  质押：{pledge['instrument']} {number(pledge['quantity'])} {pledge['unit']}"
                f"（{pledge['vintage']} 年度），登记 {pledge['registry_reference']}"
            )


def _print_pledge_case(before: Revaluation, after: Revaluation, loan_id: str) -> None:
    """The 重庆 case across the two revaluations: value, haircut, coverage, and the alert raised."""
    for run in (before, after):
        for value in run.values:
            if loan_id not in value.loan_ids:
                continue
            console.print(
                f"  押品重估 {run.day}：参考价 {value.reference:.2f} 元/吨（{value.series}，{value.price_day}），"
                f"折扣率 {value.haircut:.1%}（{run.policy.confidence:.0%} ES，变现 {value.liquidation_days:.0f} 日），"
                f"质押率上限 {value.pledge_rate:.0%}；市值 {value.market_value / 1e4:,.2f} 万元 ÷ 贷款余额 "
                f"{value.outstanding / 1e4:,.2f} 万元 = 覆盖率 {value.coverage:.0%}（{STATUS_ZH[value.status]}）"
            )
            for pledge_id, kind, message in run.alerts:
                if pledge_id == value.pledge_id:
                    console.print(f"  [red]押品提示 {kind}[/red] {pledge_id}：{message}")


def _print_book_benefits(engine: Engine) -> None:
    from greenfin.reference.factors import DEFAULT_POLICY
    from greenfin.service.benefits import book_benefits

    totals = book_benefits(engine, DEFAULT_POLICY, dt.date.today().year)
    console.print(
        f"环境效益（可再生能源发电项目 {totals.projects:,} 个，因子政策 {totals.policy}）："
        f"年节约标准煤 {totals.coal_saved:,.0f} tce，年减排二氧化碳 {totals.co2_reduced:,.0f} tCO2e；"
        f"归属本行 {totals.attributed_coal_saved:,.0f} tce、{totals.attributed_co2_reduced:,.0f} tCO2e"
    )


def _print_benefits(engine: Engine, loan_id: str) -> None:
    """A demo case's environmental benefits under the default policy, with its factors' sources."""
    from greenfin.reference.factors import DEFAULT_POLICY, POLICIES
    from greenfin.service.benefits import loan_benefits

    year = dt.date.today().year
    for policy in (DEFAULT_POLICY, POLICIES["regional"]):
        assessment = loan_benefits(engine, loan_id, policy, year)
        if assessment is None:
            return
        result = assessment.result
        grid = result.factors["grid"][0]
        coal = result.factors["coal_rate"][0]
        attributed = result.attributed or {}
        share = f"{result.attribution.share:.2%}" if result.attribution else "—"
        console.print(
            f"  环境效益（{year} 年报告，因子政策 {policy.name}）：年节约标准煤 {result.indicators['coal_saved']:,.0f} tce，"
            f"年减排二氧化碳 {result.indicators['co2_reduced']:,.0f} tCO2e；归属本行（{share}）"
            f"{attributed.get('coal_saved', 0):,.0f} tce、{attributed.get('co2_reduced', 0):,.0f} tCO2e"
        )
        console.print(
            f"    电网因子 {grid.key} {grid.year} 年 {grid.value:g} {grid.unit}（{grid.source}）；"
            f"供电煤耗 {coal.year} 年 {coal.value:g} {coal.unit}（可信度 {coal.confidence}）"
        )


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
