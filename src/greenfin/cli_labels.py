"""The ``greenfin classify`` and ``greenfin label …`` commands: green identification.

``classify`` answers for a text or a file without touching the store; ``label`` runs the engine
over the stored book and records officers' confirmations and overrides.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from greenfin.ingest.columns import match_header
from greenfin.model.problems import ValueProblem
from greenfin.model.values import parse_date
from greenfin.service.identification import decide, label_book, loan_label, subject_text
from greenfin.store.database import open_store
from greenfin.taxonomy.engine import Label, Subject, classify_many, explain_zh
from greenfin.taxonomy.evaluation import HELD_OUT_WHOLE, Report, evaluate, load_cases, parameters_of

console = Console()
err = Console(stderr=True)
label_app = typer.Typer(help="绿色识别结果：批量识别、确认、改判、评估 / green labels", no_args_is_help=True)

DbOption = Annotated[str | None, typer.Option("--db", help="数据库 URL / database URL")]
#: Short status labels for tables and one-line messages.
STATUS_SHORT_ZH = {"green": "绿色", "not_green": "非绿色", "needs_review": "需复核"}


def classify(
    text: Annotated[
        str | None, typer.Argument(help="贷款用途或项目描述 / loan purpose or project text")
    ] = None,
    file: Annotated[
        Path | None, typer.Option("--file", help="CSV 台账（贷款用途、项目描述等列）/ CSV book")
    ] = None,
    industry: Annotated[str | None, typer.Option(help="行业代码 GB/T 4754，如 D4415 / industry code")] = None,
    date: Annotated[str | None, typer.Option("--date", help="审批日期 YYYY-MM-DD / approval date")] = None,
    param: Annotated[
        list[str] | None, typer.Option("--param", help="技术参数 名称=数值 单位 / parameter")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="输出 JSON / machine output")] = False,
    out: Annotated[Path | None, typer.Option("--out", help="结果写入 CSV / write results to CSV")] = None,
) -> None:
    """识别贷款或项目是否绿色、对应哪个目录条目及依据 / label a text or a file against the catalogues."""
    if (text is None) == (file is None):
        err.print("请给出一段文本或 --file 文件（二者之一）/ give a TEXT or --file, not both")
        raise typer.Exit(code=2)
    if text is not None:
        try:
            approval = dt.date.fromisoformat(date) if date else None
        except ValueError:
            err.print(f"审批日期格式应为 YYYY-MM-DD：{date!r} / bad date")
            raise typer.Exit(code=2) from None
        parameters = parameters_of(";".join(param or []))
        label = classify_many([Subject(text, industry, approval, parameters)])[0]
        if as_json:
            console.print_json(json.dumps(label.as_dict(), ensure_ascii=False))
        else:
            console.print(explain_zh(label))
        return
    assert file is not None
    ids, subjects = _read_subjects(file)
    labels = classify_many(subjects)
    if out is not None:
        _write_results(out, ids, labels)
        console.print(f"已写入 {len(labels):,} 条结果 / wrote {len(labels):,} results: {out}")
    if as_json:
        console.print_json(
            json.dumps(
                [{"id": i, **lab.as_dict()} for i, lab in zip(ids, labels, strict=True)], ensure_ascii=False
            )
        )
    elif out is None:
        table = Table("编号 id", "结论 status", "条目 item", "置信度", "CERF")
        for row_id, label in zip(ids, labels, strict=True):
            item = f"{label.item.code} {label.item.name}" if label.item else "—"
            table.add_row(
                row_id,
                STATUS_SHORT_ZH[label.status],
                item,
                f"{label.confidence:.0%}",
                label.cerf_area_name or "—",
            )
        console.print(table)


def _read_subjects(path: Path) -> tuple[list[str], list[Subject]]:
    """Subjects from a CSV with loan-book headers (贷款用途, 项目名称, 项目描述, 行业代码, 审批日期, 技术参数)."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            err.print(f"{path.name}：文件为空 / the file is empty")
            raise typer.Exit(code=1)
        where: dict[str, int] = {}
        for index, text in enumerate(header):
            try:
                found = match_header(text)
            except ValueProblem:
                continue
            if found is not None:
                where.setdefault(found.spec.name, index)
        if "purpose" not in where and "project_description" not in where:
            err.print(
                f"{path.name}：缺少“贷款用途”或“项目描述”列 / needs a purpose or project description column"
            )
            raise typer.Exit(code=1)
        ids, subjects = [], []
        for line, row in enumerate(reader, start=2):

            def cell(name: str, row: list[str] = row) -> str | None:
                index = where.get(name)
                value = row[index].strip() if index is not None and index < len(row) else ""
                return value or None

            approval = None
            if cell("approval_date"):
                try:
                    approval = parse_date(cell("approval_date"))
                except ValueProblem as problem:
                    err.print(f"{path.name} 第 {line} 行，审批日期：{problem.zh} / row {line}: {problem.en}")
                    raise typer.Exit(code=1) from None
            text = subject_text(
                cell("purpose"), cell("project_name"), cell("project_description"), cell("project_type")
            )
            parameters = parameters_of(cell("tech_params") or "")
            ids.append(cell("loan_id") or str(line))
            subjects.append(Subject(text, cell("industry_code"), approval, parameters))
    return ids, subjects


def _write_results(path: Path, ids: list[str], labels: list[Label]) -> None:
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "编号",
                "结论",
                "目录版本",
                "条目代码",
                "条目名称",
                "一级类别",
                "置信度",
                "碳减排支持工具领域",
                "匹配短语",
                "说明",
            ]
        )
        for row_id, label in zip(ids, labels, strict=True):
            item = label.item
            writer.writerow([
                row_id, STATUS_SHORT_ZH[label.status], label.catalogue, item.code if item else "",
                item.name if item else "", f"{item.level1_code} {item.level1_name}" if item else "",
                f"{label.confidence:.3f}", label.cerf_area_name or "", "、".join(item.terms) if item else "",
                "；".join(label.reasons),
            ])  # fmt: skip


@label_app.command("run")
def run(db: DbOption = None, user: Annotated[str | None, typer.Option(help="操作人 / actor")] = None) -> None:
    """对库中全部贷款运行绿色识别 / label every loan in the store."""
    engine = open_store(db)
    summary = label_book(engine, actor=user)
    console.print(
        f"识别批次 {summary.run_id}：{summary.loans:,} 笔，绿色 {summary.green:,}，非绿色 {summary.not_green:,}，"
        f"需复核 {summary.needs_review:,} / run {summary.run_id}: {summary.loans:,} loans labelled"
    )


@label_app.command("show")
def show(loan_id: str, db: DbOption = None, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """查看一笔贷款的系统识别结果与人工确认 / show a loan's label and the officer's decision."""
    found = loan_label(open_store(db), loan_id)
    if as_json:
        console.print_json(json.dumps(found, ensure_ascii=False, default=str))
        return
    engine_label = found["engine"]
    if engine_label is None:
        console.print(f"{loan_id}：尚无识别结果 / no label yet")
    else:
        evidence: dict[str, Any] = engine_label["evidence"]
        console.print(f"[bold]{loan_id}[/bold] 系统识别（批次 {engine_label['run_id']}）：")
        console.print(explain_zh(Label.from_dict(evidence)))
    decision = found["decision"]
    if decision is not None:
        item = decision["item_code"] or "—"
        console.print(
            f"人工{'确认' if decision['action'] == 'confirm' else '改判'}：{STATUS_SHORT_ZH[decision['status']]} {item}，"
            f"理由：{decision['reason']}（{decision['actor']}，{decision['at']}）"
        )


def _decide(loan_id: str, action: str, reason: str, user: str | None, db: str | None, **extra: Any) -> None:
    try:
        decision = decide(open_store(db), loan_id, action=action, reason=reason, actor=user, **extra)
    except ValueProblem as problem:
        err.print(f"{problem.zh} / {problem.en}")
        raise typer.Exit(code=1) from None
    console.print(
        f"已记录：{loan_id} {STATUS_SHORT_ZH[decision['status']]} {decision['item_code'] or ''}（{decision['catalogue']}）"
    )


@label_app.command("confirm")
def confirm(
    loan_id: str,
    reason: Annotated[str, typer.Option("--reason", help="理由 / reason")],
    user: Annotated[str | None, typer.Option(help="操作人 / actor")] = None,
    db: DbOption = None,
) -> None:
    """确认系统识别结果 / confirm the engine's label."""
    _decide(loan_id, "confirm", reason, user, db)


@label_app.command("override")
def override(
    loan_id: str,
    reason: Annotated[str, typer.Option("--reason", help="理由 / reason")],
    item: Annotated[str | None, typer.Option("--item", help="改判的目录条目代码 / item code")] = None,
    not_green: Annotated[bool, typer.Option("--not-green", help="改判为非绿色 / not green")] = False,
    user: Annotated[str | None, typer.Option(help="操作人 / actor")] = None,
    db: DbOption = None,
) -> None:
    """改判识别结果（须说明理由）/ override the label, with a reason."""
    _decide(loan_id, "override", reason, user, db, item_code=item, not_green=not_green)


LABELLED_SETS = [Path("tests/data/classification_eval.csv"), Path("tests/data/classification_eval_b.csv")]


def _score_table(report: Report) -> Table:
    table = Table("一级类别 level 1", "精确率 P", "召回率 R", "F1", "样本 n")
    for name, score in report.level1.items():
        table.add_row(
            name, f"{score.precision:.3f}", f"{score.recall:.3f}", f"{score.f1:.3f}", str(score.support)
        )
    for name, score in (
        ("总体 一级 overall L1", report.level1_overall),
        ("总体 末级 overall leaf", report.leaf_overall),
    ):
        table.add_row(
            f"[bold]{name}", f"{score.precision:.3f}", f"{score.recall:.3f}", f"[bold]{score.f1:.3f}",
            str(score.support),
        )  # fmt: skip
    return table


@label_app.command("evaluate")
def evaluate_command(
    paths: Annotated[list[Path] | None, typer.Argument(help="标注评估集 CSV / labelled sets")] = None,
    split: Annotated[str, typer.Option(help="dev、test 或 all / which rows")] = "test",
    misses: Annotated[int, typer.Option(help="列出的错例数 / misses to list")] = 0,
) -> None:
    """在标注集上计算精确率、召回率和 F1 / precision, recall and F1 on labelled sets.

    With several sets, each is reported and then all of them together.
    """
    if split not in ("dev", "test", "all"):
        err.print("split 应为 dev、test 或 all")
        raise typer.Exit(code=2)
    chosen = paths or [path for path in LABELLED_SETS if path.exists()]
    pooled = []
    for path in chosen:
        cases = load_cases(path, split)  # type: ignore[arg-type]
        if not cases:
            continue
        pooled.extend(cases)
        report = evaluate(cases)
        _print_report(f"评估集 {path}（{split}，{report.cases} 条）/ labelled set", report, misses)
    if len(chosen) > 1 and pooled:
        report = evaluate(pooled)
        _print_report(f"合计（{split}，{report.cases} 条）/ all sets together", report, 0)


def _print_report(title: str, report: Report, misses: int) -> None:
    console.print(title, soft_wrap=True)
    console.print(_score_table(report))
    agreed, total = report.review_agreement
    console.print(f"绿色/非绿色判断准确率 {report.green_accuracy:.3f}；需复核一致 {agreed}/{total}")
    shown = [(case, label) for case, label in report.misses if not case.id.startswith(HELD_OUT_WHOLE)]
    for case, label in shown[:misses]:  # never a row of a set held out whole
        got = f"{label.status} {label.item.code if label.item else ''}"
        console.print(
            f"  {case.id} [{case.category}] 期望 {case.expected_green} {case.leaf} 实得 {got}：{case.subject.text}"
        )
