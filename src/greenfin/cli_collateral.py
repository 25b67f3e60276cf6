"""``greenfin collateral …`` and ``greenfin user …``: pledged environmental rights, and who may act.

The operator is named with ``--user`` (or ``GREENFIN_USER``) and must hold the role a command
needs (service/users.py).  Every command that changes data is one audited transaction.
"""

from __future__ import annotations

import datetime as dt
import getpass
import os
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, TypeVar

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from greenfin.collateral.risk import backtest_haircut
from greenfin.model.entities import Instrument
from greenfin.model.problems import ValueProblem
from greenfin.model.units import Dimension
from greenfin.model.values import parse_quantity
from greenfin.service import collateral as service
from greenfin.service.prices import price_series
from greenfin.service.users import ROLES, PermissionDenied, add_user
from greenfin.store.database import open_store

console = Console()
err = Console(stderr=True)
collateral_app = typer.Typer(
    help="环境权益押品：持有量、质押、估值、重估、压力测试 / collateral", no_args_is_help=True
)
pledge_app = typer.Typer(help="质押生命周期 / pledge lifecycle", no_args_is_help=True)
policy_app = typer.Typer(help="估值政策 / valuation policy", no_args_is_help=True)
user_app = typer.Typer(help="用户与角色 / users and roles", no_args_is_help=True)
collateral_app.add_typer(pledge_app, name="pledge")
collateral_app.add_typer(policy_app, name="policy")

DbOption = Annotated[str | None, typer.Option("--db", help="数据库 URL / database URL")]
UserOption = Annotated[str | None, typer.Option("--user", help="操作人（须有相应角色）/ acting user")]
ReasonOption = Annotated[str, typer.Option("--reason", help="原因（记入审计）/ reason")]
T = TypeVar("T")


def _run(action: Callable[[], T]) -> T:
    """Run a command; a refused one prints why and exits 1 (nothing was changed)."""
    try:
        return action()
    except PermissionDenied as exc:
        err.print(f"[red]无权操作 / permission denied[/red]：{exc}")
        raise typer.Exit(code=1) from None
    except (service.CollateralProblem, ValueError) as exc:
        err.print(f"[red]未执行 / refused[/red]：{exc}")
        raise typer.Exit(code=1) from None


def _quantity(text: str) -> Decimal:
    for dimension in (Dimension.CO2, Dimension.MASS, Dimension.COAL):
        try:
            return parse_quantity(text, None, dimension)
        except ValueProblem:
            continue
    raise typer.BadParameter(f"数量需带单位（tCO2e、t、tce），如 120000tCO2e：{text!r}")


def _day(text: str | None) -> dt.date:
    try:
        return dt.date.fromisoformat(text) if text else dt.date.today()
    except ValueError:
        raise typer.BadParameter(f"日期格式应为 YYYY-MM-DD：{text!r}") from None


@user_app.command("add")
def user_add(
    username: Annotated[str, typer.Argument(help="用户名 / username")],
    role: Annotated[list[str], typer.Option("--role", help=f"角色 / role: {'、'.join(ROLES)}")],
    name: Annotated[str | None, typer.Option("--name", help="显示名 / display name")] = None,
    user: UserOption = None,
    db: DbOption = None,
) -> None:
    """新建用户（密码取自 GREENFIN_NEW_PASSWORD 或交互输入）/ add a user."""
    password = os.environ.get("GREENFIN_NEW_PASSWORD") or getpass.getpass("密码 / password: ")
    _run(lambda: add_user(open_store(db), username, password, role, display_name=name, actor=user))
    console.print(f"已新建用户 {username}（{'、'.join(role)}）/ user added")


@collateral_app.command("holding")
def holding_add(
    holding_id: Annotated[str, typer.Option("--id", help="持有量编号 / holding id")],
    holder: Annotated[str, typer.Option("--holder", help="持有人统一社会信用代码 / holder's credit code")],
    instrument: Annotated[Instrument, typer.Option("--instrument", help="品种 / instrument")],
    series: Annotated[str, typer.Option("--series", help="估值所用价格序列 / price series")],
    account: Annotated[str, typer.Option("--account", help="登记账户 / registry account")],
    quantity: Annotated[str, typer.Option("--quantity", help="持有数量（带单位）/ quantity with unit")],
    vintage: Annotated[int | None, typer.Option("--vintage", help="年度 / vintage")] = None,
    user: UserOption = None,
    db: DbOption = None,
) -> None:
    """登记借款人在注册登记机构的持有量 / record a registry holding."""
    amount = _quantity(quantity)
    _run(
        lambda: service.add_holding(
            open_store(db), holding_id=holding_id, holder_credit_code=holder, instrument=instrument,
            price_series=series, registry_account=account, quantity=amount, vintage=vintage, actor=user,
        )
    )  # fmt: skip
    console.print(f"已登记持有量 {holding_id}：{amount} / holding recorded")


@pledge_app.command("apply")
def pledge_apply(
    pledge_id: Annotated[str, typer.Option("--id", help="质押编号 / pledge id")],
    holding: Annotated[str, typer.Option("--holding", help="持有量编号 / holding id")],
    loan: Annotated[list[str], typer.Option("--loan", help="担保的贷款（可多次）/ secured loans")],
    quantity: Annotated[str, typer.Option("--quantity", help="质押数量（带单位）/ quantity with unit")],
    on: Annotated[str | None, typer.Option("--date", help="质押日期 / date")] = None,
    user: UserOption = None,
    db: DbOption = None,
) -> None:
    """申请质押：数量立即从持有量中占用 / apply for a pledge."""
    amount = _quantity(quantity)
    _run(
        lambda: service.apply_pledge(
            open_store(db), pledge_id=pledge_id, holding_id=holding, loan_ids=loan, quantity=amount,
            pledged_on=_day(on), actor=user,
        )
    )  # fmt: skip
    console.print(f"质押 {pledge_id} 已申请（{amount}）/ applied")


@pledge_app.command("register")
def pledge_register(
    pledge_id: Annotated[str, typer.Argument(help="质押编号 / pledge id")],
    reference: Annotated[str, typer.Option("--reference", help="登记编号 / registry reference")],
    user: UserOption = None,
    db: DbOption = None,
) -> None:
    """已登记：注册登记机构已办理质押登记 / the registry recorded it."""
    _run(lambda: service.register_pledge(open_store(db), pledge_id, reference, actor=user))
    console.print(f"质押 {pledge_id} 已登记 / registered")


def _quantity_command(name: str, doc: str, apply: Callable[..., None], done_zh: str) -> None:
    def command(
        pledge_id: Annotated[str, typer.Argument(help="质押编号 / pledge id")],
        quantity: Annotated[str, typer.Option("--quantity", help="数量（带单位）/ quantity with unit")],
        reason: ReasonOption,
        user: UserOption = None,
        db: DbOption = None,
    ) -> None:
        amount = _quantity(quantity)
        _run(lambda: apply(open_store(db), pledge_id, amount, reason=reason, actor=user))
        console.print(f"质押 {pledge_id} {done_zh}（{amount}）")

    command.__doc__ = doc
    pledge_app.command(name)(command)


def _ending_command(name: str, doc: str, apply: Callable[..., None], done_zh: str) -> None:
    def command(
        pledge_id: Annotated[str, typer.Argument(help="质押编号 / pledge id")],
        reason: ReasonOption,
        user: UserOption = None,
        db: DbOption = None,
    ) -> None:
        _run(lambda: apply(open_store(db), pledge_id, reason=reason, actor=user))
        console.print(f"质押 {pledge_id} {done_zh}")

    command.__doc__ = doc
    pledge_app.command(name)(command)


_quantity_command("top-up", "追加担保 / top up a pledge", service.top_up, "已追加担保")
_quantity_command(
    "partial-release", "部分解押（押品管理岗）/ release part", service.partial_release, "已部分解押"
)
_ending_command("release", "解押（押品管理岗）/ release a pledge", service.release, "已解押")
_ending_command("enforce", "处置（押品管理岗）/ enforce a pledge", service.enforce, "已处置")


@policy_app.command("show")
def policy_show(
    name: Annotated[str, typer.Option("--name", help="政策名称 / policy name")] = "default",
    db: DbOption = None,
) -> None:
    """显示估值政策的当前版本 / show a valuation policy."""
    policy = _run(lambda: service.current_policy(open_store(db), name))
    table = Table("参数 parameter", "值 value")
    for key, value in policy.params().items():
        table.add_row(key, str(value))
    console.print(f"估值政策 {policy.name} v{policy.version}")
    console.print(table)


@policy_app.command("set")
def policy_set(
    param: Annotated[list[str], typer.Option("--param", help="参数=值，如 confidence=0.975 / key=value")],
    name: Annotated[str, typer.Option("--name", help="政策名称 / policy name")] = "default",
    user: UserOption = None,
    db: DbOption = None,
) -> None:
    """新建估值政策的下一版本（风险管理岗）/ store the next version of a valuation policy."""
    changes: dict[str, Any] = {}
    for item in param:
        key, _, raw = item.partition("=")
        if not raw:
            raise typer.BadParameter(f"应为 参数=值：{item!r}")
        changes[key.strip()] = _typed(raw.strip())
    policy = _run(lambda: service.set_policy(open_store(db), name, changes, actor=user))
    console.print(f"估值政策 {policy.name} 已存为 v{policy.version} / stored")


def _typed(raw: str) -> Any:
    for convert in (int, float):
        try:
            return convert(raw)
        except ValueError:
            continue
    return raw


@collateral_app.command("revalue")
def revalue_command(
    on: Annotated[str | None, typer.Option("--date", help="估值日，默认今天 / valuation day")] = None,
    policy: Annotated[str, typer.Option("--policy", help="估值政策 / policy")] = "default",
    user: UserOption = None,
    db: DbOption = None,
) -> None:
    """重估全部在押押品、计算覆盖率、越线提示，并列出与上次相比的变化 / daily revaluation."""
    engine = open_store(db)
    chosen = _run(lambda: service.current_policy(engine, policy))
    run = _run(lambda: service.revalue(engine, _day(on), policy=chosen, actor=user))
    console.print(
        f"重估 {run.day}（政策 {run.policy.name} v{run.policy.version}，运行 {run.run_id}）：{len(run.values):,} 笔押品，"
        f"预警 {sum(v.status == 'warning' for v in run.values):,}，低于平仓线 {sum(v.status == 'liquidation' for v in run.values):,}"
    )
    changed = [v for v in run.values if v.previous_status is not None and v.previous_status != v.status]
    table = Table("质押 pledge", "贷款 loans", "参考价 元", "折扣率", "覆盖率", "上次", "状态 status")
    for value in sorted(changed or run.values, key=lambda v: v.coverage)[:30]:
        table.add_row(
            value.pledge_id, "、".join(value.loan_ids), f"{value.reference:,.2f}", f"{value.haircut:.1%}",
            f"{value.coverage:.0%}", "—" if value.previous_coverage is None else f"{value.previous_coverage:.0%}",
            service.STATUS_ZH[value.status],
        )  # fmt: skip
    console.print(
        "与上次重估相比状态变化的押品 / changed since last run"
        if changed
        else "覆盖率最低的押品 / lowest cover"
    )
    console.print(table)
    for pledge_id, kind, message in run.alerts:
        console.print(f"[red]提示 {kind}[/red] {pledge_id}：{message}")
    for pledge_id, why in run.unpriced:
        console.print(f"[yellow]未估值[/yellow] {pledge_id}：{why}")


@collateral_app.command("stress")
def stress_command(
    shock: Annotated[
        list[float] | None, typer.Option("--shock", help="价格冲击，如 -0.3 / price shock")
    ] = None,
    on: Annotated[str | None, typer.Option("--date", help="估值日 / valuation day")] = None,
    db: DbOption = None,
) -> None:
    """历史最差跌幅与自定义冲击下将越线的押品与贷款 / stress test."""
    engine = open_store(db)
    day = _day(on)
    policy = service.current_policy(engine)
    scenarios = service.historical_scenarios(engine, day, policy.horizon_days)
    codes = {code for scenario in scenarios for code in scenario.shocks}
    scenarios += [
        service.Scenario(f"价格冲击 {s:+.0%}", dict.fromkeys(codes, s)) for s in (shock or [-0.2, -0.4])
    ]
    table = Table("情景 scenario", "预警 warning", "低于平仓线 liquidation", "涉及贷款 loans", "最低覆盖率")
    for result in service.stress(engine, day, scenarios, policy=policy):
        worst = min((v.coverage for v in (*result.warning, *result.liquidation)), default=None)
        table.add_row(
            result.scenario.name, f"{len(result.warning):,}", f"{len(result.liquidation):,}",
            f"{len(result.loans):,}", "—" if worst is None else f"{worst:.0%}",
        )  # fmt: skip
    console.print(f"压力测试 {day}（政策 {policy.name} v{policy.version}）")
    console.print(table)
    for scenario in scenarios[:2]:
        moves = "；".join(f"{code} {move:+.1%}" for code, move in sorted(scenario.shocks.items()))
        console.print(f"  {scenario.name}：{moves}")


@collateral_app.command("backtest")
def backtest_command(
    series: Annotated[str | None, typer.Option("--series", help="库中的价格序列 / stored series")] = None,
    file: Annotated[
        Path | None, typer.Option("--file", help="或：交易所日行情 CSV（综合价）/ or a CSV")
    ] = None,
    confidence: Annotated[float, typer.Option(help="置信水平 / confidence")] = 0.99,
    horizon: Annotated[int, typer.Option(help="变现期（交易日）/ horizon days")] = 10,
    window: Annotated[int, typer.Option(help="估计窗口（交易日）/ window")] = 250,
    method: Annotated[str, typer.Option(help="historical 或 ewma")] = "historical",
    db: DbOption = None,
) -> None:
    """折扣率回测（Kupiec 失败率检验）/ backtest the haircut with Kupiec's POF test."""
    if (series is None) == (file is None):
        err.print("请给出 --series 或 --file（二者之一）/ give --series or --file")
        raise typer.Exit(code=2)
    if file is not None:
        closes = _closes_from_csv(file)
        source = str(file)
    else:
        assert series is not None
        _days, closes, _volumes = price_series(open_store(db), series)
        source = series
    result = _run(
        lambda: backtest_haircut(
            closes, confidence=confidence, horizon_days=horizon, window=window, method=method
        )
    )
    k = result.kupiec
    console.print(
        f"回测 {source}：{method} {confidence:.1%} 折扣率，变现期 {horizon} 日，窗口 {window} 日；"
        f"检验 {k.trials} 次，超限 {k.exceedances} 次，超限率 {k.rate:.2%}（期望 {k.expected_rate:.2%}）；"
        f"Kupiec LR = {k.statistic:.3f}，p = {k.p_value:.3f}，"
        + ("5% 水平下拒绝：折扣率不足" if k.rejected_at_5pct else "5% 水平下不拒绝")
    )


def _closes_from_csv(path: Path) -> np.ndarray:
    """Closes of a one-series daily CSV (``date,…,close,…``), in date order, skipping empty closes."""
    import csv

    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if (row.get("close") or "").strip()]
    rows.sort(key=lambda row: row["date"])
    return np.array([float(row["close"]) for row in rows], dtype=np.float64)
