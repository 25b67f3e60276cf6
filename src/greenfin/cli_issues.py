"""The table of located problems that every rejected import prints, whatever it imports."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from greenfin.ingest.issues import ImportIssue, ImportRejected

#: Problems listed on screen; the rejection counts them all, and --errors-out writes them all.
SHOWN = 50


def issue_table(title: str, issues: Sequence[ImportIssue]) -> Table:
    table = Table(title=title, title_justify="left")
    for name in ("文件 file", "行 row", "列 column", "值 value", "问题 problem"):
        table.add_column(name, overflow="fold")
    for issue in issues[:SHOWN]:
        table.add_row(
            issue.file,
            "" if issue.row is None else str(issue.row),
            issue.column or "",
            (issue.value or "")[:40],
            f"{issue.message_zh}\n[dim]{issue.message_en}[/dim]",
        )
    return table


def print_rejection(console: Console, rejected: ImportRejected, more_hint: str = "") -> None:
    """A refused import: the located problems, how many more there are, and that nothing changed."""
    title = (
        f"导入被拒绝，共 {rejected.total} 个问题，数据库未作任何更改 / import rejected, nothing was changed"
    )
    console.print(issue_table(title, rejected.issues))
    if rejected.total > SHOWN:
        console.print(f"…… 另有 {rejected.total - SHOWN} 个问题 / {rejected.total - SHOWN} more{more_hint}")
