"""Rendering a report :class:`~greenfin.reports.document.Document` as HTML, XLSX, CSV or PDF.

The renderers only lay out what the document holds, so every format shows the same numbers.
HTML and XLSX are the bank's working papers: every number links (HTML) or refers (XLSX) to the
loans behind it.  The PDF is the disclosure as published, so it carries no loan ids: a bank does
not publish its borrowers' loan numbers.  Every spreadsheet text cell goes through ``safe_cell``
so that a borrower's name can never become a live formula.
"""

from __future__ import annotations

import datetime as dt
import html
import os
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from functools import cache
from html import escape
from pathlib import Path
from typing import Any, Final

from greenfin.model.values import fen_to_yuan
from greenfin.reports.document import Amount, Document, Part, Placeholder, Table, Text
from greenfin.reports.stats import CARBON_BENEFIT_ZH, Figure, GreenLoan
from greenfin.service.export import safe_cell, write_table

FONT_ENV: Final = "GREENFIN_CJK_FONT"
#: TrueType CJK fonts looked for, in order.  reportlab reads TrueType outlines only: the Noto CJK
#: collections Debian ships are CFF-based and are tried, but usually refused (the reason is kept).
FONT_CANDIDATES: Final = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
    "/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
)
FONT_PACKAGE: Final = "fonts-wqy-microhei"
IDS_IN_CELL: Final = 32_000  # an XLSX cell holds at most 32,767 characters
LOAN_HEADER: Final = (
    "贷款编号", "借款人", "行业代码", "省份", "五级分类", "识别结果", "目录版本", "目录条目",
    "碳减排效益", "贷款余额（元）", "归属减排量（tCO2e）", "归属节煤量（tce）",
)  # fmt: skip
STATUS_ZH: Final = {"green": "绿色", "not_green": "非绿色", "needs_review": "需复核", None: "未识别"}


class FontMissing(RuntimeError):
    """No TrueType CJK font was found: the PDF would print boxes instead of Chinese."""


def _loan_row(loan: GreenLoan) -> list[Any]:
    return [
        loan.loan_id, loan.borrower_name, loan.industry_code, loan.province, loan.five_tier or "",
        STATUS_ZH.get(loan.status, loan.status or ""), loan.catalogue or "",
        f"{loan.item_code or ''} {loan.item_name or ''}".strip(), CARBON_BENEFIT_ZH[loan.carbon_benefit] if loan.green else "",
        fen_to_yuan(loan.balance_fen),
        None if loan.co2_reduced_t is None else round(loan.co2_reduced_t, 2),
        None if loan.coal_saved_tce is None else round(loan.coal_saved_tce, 2),
    ]  # fmt: skip


def _referenced(document: Document) -> list[Figure]:
    """The figures the document's numbers point at, in order of first appearance."""
    keys: dict[str, None] = {}
    for section in document.sections:
        for block in section.blocks:
            parts: Iterable[Part] = ()
            if isinstance(block, Text):
                parts = block.parts
            elif isinstance(block, Table):
                parts = (cell for row in block.rows for cell in row)
                keys.update({k: None for k in block.figures if k})
            for part in parts:
                if isinstance(part, Amount) and part.figure:
                    keys[part.figure] = None
    return [document.figures[k] for k in keys if k in document.figures]


# ---------------------------------------------------------------- HTML

_CSS: Final = """
body{font-family:"Noto Sans CJK SC","WenQuanYi Micro Hei","Microsoft YaHei","PingFang SC",sans-serif;
margin:2em auto;max-width:70em;color:#1a1a1a;line-height:1.6}
h1{font-size:1.6em;margin-bottom:0}h2{border-bottom:2px solid #2e7d32;padding-bottom:.2em;margin-top:2em}
.sub{color:#555;margin-top:.2em}table{border-collapse:collapse;margin:.8em 0;width:100%;font-size:.92em}
caption{text-align:left;font-weight:bold;padding:.3em 0}th,td{border:1px solid #bbb;padding:.25em .5em;vertical-align:top}
th{background:#e8f5e9}td.num{text-align:right;white-space:nowrap}.fill{background:#fff8e1;border-left:4px solid #f9a825;
padding:.4em .8em}a{color:#1b5e20}.ids{font-family:monospace;font-size:.85em;word-break:break-all}nav li{margin:0}
"""


def render_html(document: Document, path: Path) -> Path:
    """A self-contained HTML page; every number with a figure links to the loans behind it."""
    loan_anchor = {loan.loan_id: f"L{i}" for i, loan in enumerate(document.loans, 1)}
    figures = _referenced(document)
    anchor = {f.key: ("loans" if f.key == "all_loans" else f"F{i}") for i, f in enumerate(figures, 1)}
    e = html.escape
    out: list[str] = [
        '<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">',
        f"<title>{e(document.title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{e(document.title)}</h1><p class='sub'>{e(document.subtitle)}</p>",
        f"<p class='sub'>统计时点 {document.as_of.isoformat()}；生成于 {dt.datetime.now().replace(microsecond=0).isoformat(' ')}</p>",
        "<nav><ol>",
        *(f"<li><a href='#s{s.number}'>{e(s.title)}</a></li>" for s in document.sections),
        "<li><a href='#figures'>附表一 各项数字对应的贷款</a></li><li><a href='#loans'>附表二 贷款清单</a></li></ol></nav>",
    ]  # fmt: skip

    def part(p: Part) -> str:
        if isinstance(p, str):
            return e(p)
        if p.figure and p.figure in anchor:
            return f"<a href='#{anchor[p.figure]}'>{e(p.text())}</a>"
        return e(p.text())

    for section in document.sections:
        out.append(f"<section id='s{section.number}'><h2>{section.number}. {e(section.title)}</h2>")
        for block in section.blocks:
            if isinstance(block, Text):
                out.append("<p>" + "".join(part(p) for p in block.parts) + "</p>")
            elif isinstance(block, Placeholder):
                out.append(f"<p class='fill'>{e(block.plain())}</p>")
            else:
                out.append(f"<table><caption>{e(block.title)}</caption><thead><tr>")
                out.extend(f"<th>{e(h)}</th>" for h in block.header)
                out.append("</tr></thead><tbody>")
                for row in block.rows:
                    cells = (
                        f"<td class='num'>{part(c)}</td>" if isinstance(c, Amount) else f"<td>{part(c)}</td>"
                        for c in row
                    )
                    out.append("<tr>" + "".join(cells) + "</tr>")
                out.append("</tbody></table>")
                out.append(bar_chart(block))
        out.append("</section>")
    out.append("<section id='figures'><h2>附表一 各项数字对应的贷款 / loans behind each figure</h2>")
    for figure in figures:
        if figure.key == "all_loans":
            continue  # its list is 附表二 itself
        label = f"{figure.group} {figure.code} {figure.name}" if figure.group else figure.name
        out.append(
            f"<div id='{anchor[figure.key]}'><h3>{e(label)}：{figure.count:,} 笔，{figure.balance_yuan:,.2f} 元</h3>"
            f"<p class='ids'>"
            + "、".join(f"<a href='#{loan_anchor[i]}'>{e(i)}</a>" if i in loan_anchor else e(i) for i in figure.loan_ids)
            + "</p></div>"
        )  # fmt: skip
    out.append(
        f"</section><section id='loans'><h2>附表二 贷款清单（统计时点在贷的人民币贷款，共 {len(document.loans):,} 笔）</h2>"
        "<table><thead><tr>" + "".join(f"<th>{e(h)}</th>" for h in LOAN_HEADER) + "</tr></thead><tbody>"
    )
    for loan in document.loans:
        values = _loan_row(loan)
        tds = [f"<td>{e(str(v))}</td>" for v in values[:9]]
        tds.append(f"<td class='num'>{values[9]:,.2f} 元</td>")
        tds += [
            f"<td class='num'>{'' if v is None else f'{v:,.2f} {u}'}</td>"
            for v, u in zip(values[10:], ("tCO2e", "tce"), strict=True)
        ]
        out.append(f"<tr id='{loan_anchor[loan.loan_id]}'>" + "".join(tds) + "</tr>")
    out.append("</tbody></table></section></body></html>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(out), encoding="utf-8")
    return path


# ---------------------------------------------------------------- XLSX and CSV


def bar_chart(table: Table) -> str:
    """An inline SVG bar chart of a table's first 元 column against its first column, or ''.

    Drawn on the server with no script, so the report stays one self-contained file that opens
    offline; the figures themselves stay in the table beside it.
    """
    column = next(
        (i for i, h in enumerate(table.header) if any(isinstance(r[i], Amount) and r[i].unit == "元" for r in table.rows if i < len(r))),  # type: ignore[union-attr]
        None,
    )  # fmt: skip
    if column is None:
        return ""
    bars = [
        (str(row[0]) if isinstance(row[0], str) else row[0].text(), float(row[column].value or 0))  # type: ignore[union-attr]
        for row in table.rows
        if isinstance(row[column], Amount) and row[column].value is not None  # type: ignore[union-attr]
    ]
    bars = [(label, value) for label, value in bars if value > 0]
    if len(bars) < 2:
        return ""
    top = max(value for _, value in bars)
    width, row_height, label_width = 720, 22, 220
    lines = [
        f"<figure class='chart'><svg width='{width}' "
        f"height='{row_height * len(bars) + 10}' role='img' aria-label='{escape(table.title)}'>"
    ]
    for index, (label, value) in enumerate(bars):
        y = 5 + index * row_height
        length = (width - label_width - 150) * value / top
        lines.append(
            f"<text x='{label_width - 6}' y='{y + 15}' text-anchor='end' font-size='12'>{escape(label[:18])}</text>"
            f"<rect x='{label_width}' y='{y + 3}' width='{length:.1f}' height='{row_height - 6}' fill='#2e7d32'/>"
            f"<text x='{label_width + length + 6:.1f}' y='{y + 15}' font-size='12'>{value / 10000:,.2f} 万元</text>"
        )
    lines.append(f"</svg><figcaption>{escape(table.title)}（万元）</figcaption></figure>")
    return "".join(lines)


def _number_format(amount: Amount) -> str:
    digits = "#,##0" + ("." + "0" * amount.places if amount.places else "")
    return f'{digits}" {amount.unit}"'


def _xlsx_value(value: Decimal | int) -> Any:
    if isinstance(value, Decimal):
        # A float holds 15 significant digits: up to 10^11 元 with its 分 that is exact.
        return float(value) if abs(value) < 10**11 else format(value, "f")
    return value


def _ids_text(figure: Figure | None) -> str:
    if figure is None:
        return ""
    joined = ", ".join(figure.loan_ids)
    if len(joined) > IDS_IN_CELL:
        return f"共 {figure.count:,} 笔，见 figure_loans 工作表（{figure.key}）"
    return joined


def _sheet_names(tables: Sequence[Table]) -> list[str]:
    names: list[str] = []
    for table in tables:
        name, n = table.name[:28], 2
        while name in names or name in {"report", "loans", "figure_loans"}:
            name, n = f"{table.name[:26]}_{n}", n + 1
        names.append(name)
    return names


def render_xlsx(document: Document, path: Path) -> Path:
    """One sheet per table (with each row's figure key and loan ids), the text, and the loans.

    Numbers stay numbers, with the unit in the cell's number format, so a colleague can add them
    up in Excel and still see what they are.
    """
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    book = Workbook(write_only=True)
    tables = document.tables()
    names = _sheet_names(tables)
    sheet_of = {id(t): n for t, n in zip(tables, names, strict=True)}
    report = book.create_sheet("report")
    report.append([safe_cell(document.title)])
    report.append([safe_cell(document.subtitle)])
    for section in document.sections:
        report.append([f"{section.number}. {section.title}"])
        for block in section.blocks:
            if isinstance(block, Table):
                report.append(["", safe_cell(f"表：{block.title}（见工作表 {sheet_of[id(block)]}）")])
            else:
                report.append(["", safe_cell(block.plain())])
    for table, name in zip(tables, names, strict=True):
        sheet = book.create_sheet(name)
        sheet.append([safe_cell(table.title)])
        sheet.append([*(safe_cell(h) for h in table.header), "明细键 figure", "贷款编号 loan ids"])
        for row, key in zip(table.rows, table.figures, strict=True):
            cells: list[Any] = []
            for value in row:
                if isinstance(value, Amount):
                    if value.value is None:
                        cells.append("—")
                        continue
                    cell = WriteOnlyCell(sheet, value=_xlsx_value(value.value))
                    cell.number_format = _number_format(value)
                    cells.append(cell)
                else:
                    cells.append(safe_cell(value))
            figure = document.figures.get(key) if key else None
            cells += [key or "", safe_cell(_ids_text(figure))]
            sheet.append(cells)
    links = book.create_sheet("figure_loans")
    links.append(["明细键 figure", "名称", "贷款编号", "贷款余额（元）"])
    balances = {loan.loan_id: loan.balance_fen for loan in document.loans}
    for figure in _referenced(document):
        for loan_id in figure.loan_ids:
            links.append(
                [
                    figure.key,
                    safe_cell(figure.name),
                    safe_cell(loan_id),
                    _xlsx_value(fen_to_yuan(balances[loan_id])),
                ]
            )
    loans = book.create_sheet("loans")
    loans.append(list(LOAN_HEADER))
    for loan in document.loans:
        values = _loan_row(loan)
        values[9] = _xlsx_value(values[9])
        loans.append([safe_cell(v) for v in values])
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)
    return path


def _csv_cell(amount: Amount, header: str) -> str:
    """A plain number when the column header states the unit, else the number and its unit."""
    if amount.value is None:
        return ""
    number = format(amount.value, "f")
    return number if f"（{amount.unit}）" in header else f"{number} {amount.unit}"


def render_csv(document: Document, directory: Path) -> list[Path]:
    """One CSV per table (UTF-8 with BOM, formula-safe), plus figure_loans.csv and loans.csv."""
    written: list[Path] = []
    tables = document.tables()
    for table, name in zip(tables, _sheet_names(tables), strict=True):
        header = [*table.header, "明细键 figure", "贷款编号 loan ids"]

        def rows(t: Table = table) -> Iterator[list[Any]]:
            for row, key in zip(t.rows, t.figures, strict=True):
                cells = [
                    _csv_cell(c, h) if isinstance(c, Amount) else c
                    for c, h in zip(row, t.header, strict=True)
                ]
                figure = document.figures.get(key) if key else None
                yield [*cells, key or "", " ".join(figure.loan_ids) if figure else ""]

        written.append(write_table(directory / f"{name}.csv", header, rows()))
    balances = {loan.loan_id: loan.balance_fen for loan in document.loans}
    written.append(
        write_table(
            directory / "figure_loans.csv",
            ("明细键 figure", "名称", "贷款编号", "贷款余额（元）"),
            ([f.key, f.name, i, fen_to_yuan(balances[i])] for f in _referenced(document) for i in f.loan_ids),
        )
    )
    written.append(write_table(directory / "loans.csv", LOAN_HEADER, (_loan_row(x) for x in document.loans)))
    return written


# ---------------------------------------------------------------- PDF


@cache
def cjk_font() -> str:
    """Register the first usable TrueType CJK font with reportlab and return its name.

    ``GREENFIN_CJK_FONT`` wins when set.  Without any such font a PDF would show empty boxes
    (tofu) for every Chinese character, so this fails instead, naming the package to install.
    """
    from reportlab.pdfbase import pdfmetrics  # type: ignore[import-untyped]
    from reportlab.pdfbase.ttfonts import TTFont  # type: ignore[import-untyped]

    chosen = os.environ.get(FONT_ENV)
    candidates = (chosen,) if chosen else FONT_CANDIDATES
    refused: list[str] = []
    for candidate in candidates:
        if not Path(candidate).is_file():
            continue
        try:
            font = TTFont("GreenfinCJK", candidate, subfontIndex=0)
        except Exception as exc:  # reportlab raises TTFError and others for CFF or broken files
            refused.append(f"{candidate}: {exc}")
            continue
        if font.face.charToGlyph.get(ord("绿")) in (None, 0):
            refused.append(f"{candidate}: no Chinese glyphs")
            continue
        pdfmetrics.registerFont(font)
        return "GreenfinCJK"
    where = f"{FONT_ENV}={chosen}" if chosen else "、".join(FONT_CANDIDATES)
    raise FontMissing(
        f"生成 PDF 需要 TrueType 中文字体，未找到可用字体（查找：{where}）。请安装 Debian 软件包 {FONT_PACKAGE}"
        f"（apt-get install -y {FONT_PACKAGE}），或设置 {FONT_ENV} 指向 .ttf/.ttc 字体文件。"
        f" / No usable TrueType CJK font for the PDF; install the Debian package {FONT_PACKAGE} or set {FONT_ENV}."
        + (f" Refused: {'; '.join(refused)}" if refused else "")
    )


def _display_width(text: str) -> int:
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in text)


def _column_widths(table: Table, width: float) -> list[float]:
    """Widths in proportion to each column's longest text (capped), so that numbers do not wrap."""
    wanted = []
    for i, head in enumerate(table.header):
        cells = [row[i].text() if isinstance(row[i], Amount) else str(row[i]) for row in table.rows]  # type: ignore[union-attr]
        wanted.append(min(max(_display_width(x) for x in [head, *cells]), 40) + 2)
    total = sum(wanted)
    return [width * w / total for w in wanted]


def render_pdf(document: Document, path: Path) -> Path:
    """The document as an A4 PDF for publication: text, tables and marked places, no loan ids."""
    # reportlab ships no type information (types-reportlab is not a dependency).
    from reportlab.lib import colors  # type: ignore[import-untyped]
    from reportlab.lib.enums import TA_RIGHT  # type: ignore[import-untyped]
    from reportlab.lib.pagesizes import A4  # type: ignore[import-untyped]
    from reportlab.lib.styles import ParagraphStyle  # type: ignore[import-untyped]
    from reportlab.lib.units import mm  # type: ignore[import-untyped]
    from reportlab.platypus import (  # type: ignore[import-untyped]
        Paragraph,
        SimpleDocTemplate,
        Spacer,
        TableStyle,
    )
    from reportlab.platypus import Table as PdfTable

    font = cjk_font()
    base = ParagraphStyle("body", fontName=font, fontSize=10, leading=15, wordWrap="CJK")
    title = ParagraphStyle("title", parent=base, fontSize=20, leading=28, spaceAfter=4)
    subtitle = ParagraphStyle("subtitle", parent=base, textColor=colors.HexColor("#555555"), spaceAfter=10)
    heading = ParagraphStyle("h2", parent=base, fontSize=14, leading=20, spaceBefore=12, spaceAfter=6,
                             textColor=colors.HexColor("#1b5e20"))  # fmt: skip
    fill = ParagraphStyle("fill", parent=base, backColor=colors.HexColor("#fff8e1"), borderPadding=4,
                          spaceBefore=4, spaceAfter=6)  # fmt: skip
    cell = ParagraphStyle("cell", parent=base, fontSize=8, leading=11)
    number = ParagraphStyle("number", parent=cell, alignment=TA_RIGHT)
    caption = ParagraphStyle("caption", parent=base, fontSize=9, spaceBefore=4, spaceAfter=2)
    e = html.escape

    story: list[Any] = [
        Paragraph(e(document.title), title),
        Paragraph(e(document.subtitle), subtitle),
        Paragraph(f"统计时点 {document.as_of.isoformat()}", subtitle),
    ]
    width = A4[0] - 36 * mm
    for section in document.sections:
        story.append(Paragraph(f"{section.number}. {e(section.title)}", heading))
        for block in section.blocks:
            if isinstance(block, Text):
                story.append(Paragraph(e(block.plain()), base))
            elif isinstance(block, Placeholder):
                story.append(Paragraph(e(block.plain()), fill))
            else:
                story.append(Paragraph(e(block.title), caption))
                data = [[Paragraph(e(h), cell) for h in block.header]]
                for row in block.rows:
                    data.append(
                        [
                            Paragraph(e(c.text()), number) if isinstance(c, Amount) else Paragraph(e(c), cell)
                            for c in row
                        ]
                    )
                table = PdfTable(data, colWidths=_column_widths(block, width), repeatRows=1)
                table.setStyle(
                    TableStyle(
                        [
                            ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#999999")),
                            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8f5e9")),
                            ("VALIGN", (0, 0), (-1, -1), "TOP"),
                        ]
                    )
                )
                story.append(table)
                story.append(Spacer(1, 4))
    story.append(Spacer(1, 10))
    story.append(
        Paragraph("注：各项数字对应的贷款明细见同期 HTML/XLSX 工作底稿（内部留存，不对外披露）。", subtitle)
    )

    def footer(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont(font, 8)
        canvas.drawRightString(A4[0] - 18 * mm, 10 * mm, f"{document.title}  第 {doc.page} 页")
        canvas.restoreState()

    path.parent.mkdir(parents=True, exist_ok=True)
    pdf = SimpleDocTemplate(
        str(path), pagesize=A4, leftMargin=18 * mm, rightMargin=18 * mm, topMargin=18 * mm,
        bottomMargin=18 * mm, title=document.title, author="greenfin",
    )  # fmt: skip
    pdf.build(story, onFirstPage=footer, onLaterPages=footer)
    return path


def render(document: Document, fmt: str, out: Path) -> list[Path]:
    """Write ``document`` in ``fmt`` (html, xlsx, csv, pdf) into the folder ``out``."""
    stem = f"{document.kind}_{document.as_of.isoformat()}"
    if fmt == "html":
        return [render_html(document, out / f"{stem}.html")]
    if fmt == "xlsx":
        return [render_xlsx(document, out / f"{stem}.xlsx")]
    if fmt == "csv":
        return render_csv(document, out / stem)
    if fmt == "pdf":
        return [render_pdf(document, out / f"{stem}.pdf")]
    raise ValueError(f"unknown format {fmt!r}; use html, xlsx, csv or pdf")
