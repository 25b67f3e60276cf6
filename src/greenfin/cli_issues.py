"""The table of located problems that every rejected import prints, whatever it imports."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table

from greenfin.ingest.issues import ImportIssue

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
