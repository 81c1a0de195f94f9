"""The year-end draft as a Word document laid out as Chinese official documents are.

GB/T 9704-2012 (党政机关公文格式) is what the office's own reports follow: A4,
margins of about 3.7 cm (top), 3.5 (bottom), 2.8 (left) and 2.6 (right); body
in 仿宋 三号 (16 pt) on a fixed 28 pt line with a two-character first-line
indent; headings in 黑体; the title centred; the office's name and the date at
the end, right-aligned, the date in Arabic numerals. Word and WPS substitute
the fonts where absent; LibreOffice falls back to any CJK font.

Figures on data that is not final are highlighted yellow, blanks to fill green,
so the clerk sees at a glance what to check and what to write. The district
tables follow their paragraphs and each programme's completeness chart
(``bot.render.chart.render_chart`` on the year's folded roll-up) is embedded.
"""

from __future__ import annotations

import io

from docx import Document
from docx.document import Document as DocxDocument
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_COLOR_INDEX, WD_LINE_SPACING
from docx.oxml.ns import qn
from docx.oxml.xmlchemy import BaseOxmlElement
from docx.shared import Cm, Pt, RGBColor
from docx.styles.style import ParagraphStyle
from docx.text.paragraph import Paragraph as DocxParagraph

from bot.office.annual import Annual
from bot.render.annual import Chart, Draft, Heading, Mark, Paragraph, Table, compose_annual
from bot.render.chart import render_chart

__all__ = ["BODY_FONT", "HEADING_FONT", "render_annual_docx"]

BODY_FONT = "仿宋"
HEADING_FONT = "黑体"
_LATIN_FONT = "Times New Roman"
_BODY_SIZE = Pt(16)  # 三号
_TITLE_SIZE = Pt(22)  # 二号
_SMALL_SIZE = Pt(10.5)  # 五号: drafting notes, table cells
_LINE = Pt(28)
_INDENT = Pt(32)  # two characters of 三号
_TEXT_WIDTH = Cm(21 - 2.8 - 2.6)
_HIGHLIGHT = {Mark.INCOMPLETE: WD_COLOR_INDEX.YELLOW, Mark.TO_FILL: WD_COLOR_INDEX.BRIGHT_GREEN}
_THEME_FONTS = ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme")


def _fonts(r_pr: BaseOxmlElement, east_asian: str) -> None:
    """Name the Latin and the Chinese font explicitly; theme fonts would override them."""
    fonts = r_pr.get_or_add_rFonts()
    for attribute in _THEME_FONTS:
        fonts.attrib.pop(qn(attribute), None)
    for attribute in ("w:ascii", "w:hAnsi"):
        fonts.set(qn(attribute), _LATIN_FONT)
    fonts.set(qn("w:eastAsia"), east_asian)


def _style(style: ParagraphStyle, east_asian: str, size: Pt, *, bold: bool = False) -> None:
    _fonts(style.element.get_or_add_rPr(), east_asian)
    style.font.size = size
    style.font.bold = bold
    style.font.color.rgb = RGBColor(0, 0, 0)
    fmt = style.paragraph_format
    fmt.line_spacing_rule = WD_LINE_SPACING.EXACTLY
    fmt.line_spacing = _LINE
    fmt.space_before = fmt.space_after = Pt(0)


def _setup(document: DocxDocument) -> None:
    section = document.sections[0]
    section.page_width, section.page_height = Cm(21), Cm(29.7)
    section.top_margin, section.bottom_margin = Cm(3.7), Cm(3.5)
    section.left_margin, section.right_margin = Cm(2.8), Cm(2.6)
    defaults = document.styles.element.find(qn("w:docDefaults"))
    if defaults is not None:
        for r_fonts in defaults.iter(qn("w:rFonts")):
            for attribute in _THEME_FONTS:
                r_fonts.attrib.pop(qn(attribute), None)
    styles = document.styles
    normal = styles["Normal"]
    assert isinstance(normal, ParagraphStyle)
    _style(normal, BODY_FONT, _BODY_SIZE)
    for name in ("Heading 1", "Heading 2"):
        heading = styles[name]
        assert isinstance(heading, ParagraphStyle)
        _style(heading, HEADING_FONT, _BODY_SIZE)
        heading.paragraph_format.first_line_indent = _INDENT
        heading.paragraph_format.keep_with_next = True


def _runs(paragraph: DocxParagraph, block: Paragraph) -> None:
    for span in block.spans:
        run = paragraph.add_run(span.text)
        if span.mark in _HIGHLIGHT:
            run.font.highlight_color = _HIGHLIGHT[span.mark]
        if block.note:
            run.font.size = _SMALL_SIZE
            run.font.color.rgb = RGBColor(0x59, 0x59, 0x59)


def _paragraph(document: DocxDocument, block: Paragraph) -> None:
    paragraph = document.add_paragraph()
    if block.note:
        paragraph.paragraph_format.line_spacing = Pt(18)
    else:
        paragraph.paragraph_format.first_line_indent = _INDENT
    _runs(paragraph, block)


def _caption(document: DocxDocument, text: str) -> DocxParagraph:
    caption = document.add_paragraph()
    caption.alignment = WD_ALIGN_PARAGRAPH.CENTER
    caption.paragraph_format.space_before = Pt(6)
    run = caption.add_run(text)
    run.font.size = Pt(12)
    _fonts(run._element.get_or_add_rPr(), HEADING_FONT)
    return caption


def _table(document: DocxDocument, block: Table) -> None:
    _caption(document, block.caption).paragraph_format.keep_with_next = True
    table = document.add_table(rows=1 + len(block.rows), cols=len(block.header))
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    for r, values in enumerate((block.header, *block.rows)):
        for c, value in enumerate(values):
            cell = table.cell(r, c)
            cell.text = ""
            paragraph = cell.paragraphs[0]
            paragraph.alignment = WD_ALIGN_PARAGRAPH.LEFT if c == 0 else WD_ALIGN_PARAGRAPH.CENTER
            paragraph.paragraph_format.line_spacing = Pt(16)
            run = paragraph.add_run(value)
            run.font.size = _SMALL_SIZE
            run.font.bold = r == 0
            if r == 0:
                _fonts(run._element.get_or_add_rPr(), HEADING_FONT)
    after = document.add_paragraph()
    if block.note:
        after.add_run(block.note).font.size = _SMALL_SIZE


def _chart(document: DocxDocument, block: Chart, lang: str) -> None:
    picture = document.add_paragraph()
    picture.alignment = WD_ALIGN_PARAGRAPH.CENTER
    picture.paragraph_format.line_spacing_rule = WD_LINE_SPACING.SINGLE
    picture.paragraph_format.keep_with_next = True  # the caption stays under its chart
    picture.add_run().add_picture(io.BytesIO(render_chart(block.rollup, lang)), width=_TEXT_WIDTH)
    _caption(document, block.caption)
    document.add_paragraph()


def _title(document: DocxDocument, text: str) -> None:
    title = document.add_paragraph()
    title.alignment = WD_ALIGN_PARAGRAPH.CENTER
    title.paragraph_format.line_spacing = Pt(36)
    title.paragraph_format.space_after = Pt(12)
    run = title.add_run(text)
    run.font.size = _TITLE_SIZE
    _fonts(run._element.get_or_add_rPr(), HEADING_FONT)


def _sign_off(document: DocxDocument, draft: Draft) -> None:
    document.add_paragraph()
    for text in (draft.office, draft.date):
        line = document.add_paragraph(text)
        line.alignment = WD_ALIGN_PARAGRAPH.RIGHT


def render_draft_docx(draft: Draft, lang: str = "zh") -> bytes:
    """Lay ``draft`` out on A4 and return the .docx bytes."""
    document = Document()
    _setup(document)
    _title(document, draft.title)
    for block in draft.blocks:
        if isinstance(block, Heading):
            document.add_heading(block.text, level=block.level)
        elif isinstance(block, Paragraph):
            _paragraph(document, block)
        elif isinstance(block, Table):
            _table(document, block)
        else:
            _chart(document, block, lang)
    _sign_off(document, draft)
    document.core_properties.title = draft.title
    document.core_properties.author = draft.office or "schoolbot"
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def render_annual_docx(annual: Annual, lang: str = "zh", *, office: str = "") -> bytes:
    """The year-end draft of ``annual`` as a Word document signed by ``office``."""
    return render_draft_docx(compose_annual(annual, lang, office=office), lang)
