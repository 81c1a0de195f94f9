"""The year-end report draft: part 一's paragraphs with figures from the data.

Sentences follow the office's own report (``shared/seed/2007-work-summary.txt``):
"全市共有213所中小学校参加校方责任险，参保学生数 万人，保费 万元",
"日参饮量 万人次", "种植蔬菜 亩". Large figures are written in 万 as the seed
writes them (``format_wan``); a figure the data cannot support is printed as
【数据缺失】, never guessed. The same paragraphs go to chat (text) and to a DOCX
the clerk pastes into the real report.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from decimal import Decimal

from docx import Document
from docx.oxml.ns import qn
from docx.shared import Pt, RGBColor
from docx.styles.style import BaseStyle, CharacterStyle

from bot.core.i18n import t
from bot.core.numbers import format_number, format_wan
from bot.office.summary import Annual

__all__ = ["AnnualText", "compose_annual", "render_annual_docx", "render_annual_text"]

# 宋体 is what Chinese government documents are set in; Word/WPS substitute it where absent.
_BODY_FONT = "宋体"
_HEADING_FONT = "黑体"


@dataclass(frozen=True)
class Section:
    heading: str
    paragraphs: tuple[str, ...]
    note: str


@dataclass(frozen=True)
class AnnualText:
    """The draft as text blocks, shared by the chat message and the DOCX."""

    title: str
    part: str
    sections: tuple[Section, ...]
    footer: str


def _amount(value: Decimal | int | None, unit_key: str, lang: str) -> str:
    """``3.5万元`` (Chinese, as the seed writes it) / ``35,000 yuan``; 【数据缺失】 for None."""
    if value is None:
        return t(lang, "summary.missing")
    number = Decimal(value)
    shown = format_wan(number) if lang == "zh" else format_number(number.quantize(Decimal("0.01")), lang)
    return t(lang, unit_key, n=shown)


def _count(value: int | None, unit_key: str, lang: str) -> str:
    return t(lang, "summary.missing") if value is None else t(lang, unit_key, n=value)


def _date(annual: Annual, lang: str) -> str:
    d = annual.as_of
    return t(lang, "summary.date", year=d.year, month=d.month, day=d.day, iso=d.isoformat())


def compose_annual(annual: Annual, lang: str = "zh") -> AnnualText:
    """Fill the seed's sentences with the year's figures."""
    scope = annual.scope or t(lang, "summary.annual_city")
    year = annual.year
    none_note = t(lang, "summary.annual_note_none", year=year)
    sections = (
        _farm_section(annual, scope, none_note, lang),
        _milk_section(annual, scope, none_note, lang),
        _insurance_section(annual, scope, none_note, lang),
    )
    footer = t(lang, "summary.annual_footer", as_of=_date(annual, lang))
    marker = t(lang, "summary.missing")
    if any(marker in paragraph for section in sections for paragraph in section.paragraphs):
        footer += t(lang, "summary.annual_footer_missing", missing=marker)
    if annual.flags:
        footer += t(lang, "quality.annual_flags", count=annual.flags)
    return AnnualText(
        title=t(lang, "summary.annual_title", scope=scope, year=year),
        part=t(lang, "summary.annual_part", year=year),
        sections=sections,
        footer=footer,
    )


def _farm_section(annual: Annual, scope: str, none_note: str, lang: str) -> Section:
    """School farms: sites, areas, participants and income, then the schools earning most."""
    year = annual.year
    farm = annual.farm
    farm_paragraphs = [
        t(
            lang,
            "summary.annual_farm",
            year=year,
            scope=scope,
            sites=_count(farm.sites, "summary.unit_sites", lang),
            area=_amount(farm.area, "summary.unit_mu", lang),
            vegetables=_amount(farm.vegetables_area, "summary.unit_mu", lang),
            participants=_amount(farm.participants, "summary.unit_person_times", lang),
            income=_amount(farm.income, "summary.unit_yuan", lang),
        )
    ]
    if farm.top:
        schools = t(lang, "summary.list_separator").join(
            t(
                lang,
                "summary.annual_school_income",
                school=s.school_name,
                district=s.district,
                income=_amount(s.total, "summary.unit_yuan", lang),
            )
            for s in farm.top
        )
        farm_paragraphs.append(t(lang, "summary.annual_farm_top", schools=schools))
    farm_note = t(lang, "summary.annual_note_farm", year=year, reports=farm.reports) if farm.reports else none_note
    return Section(t(lang, "summary.annual_farm_heading"), tuple(farm_paragraphs), farm_note)


def _milk_section(annual: Annual, scope: str, none_note: str, lang: str) -> Section:
    """Student milk: schools taking part and daily drinkers."""
    milk = annual.milk
    milk_paragraph = t(
        lang,
        "summary.annual_milk",
        year=annual.year,
        scope=scope,
        schools=_count(milk.schools, "summary.unit_schools", lang),
        drinkers=_amount(milk.daily_drinkers, "summary.unit_person_times", lang),
    )
    milk_note = (
        t(lang, "summary.annual_note_milk", months=milk.months, reports=milk.reports, scope=scope) if milk.reports else none_note
    )
    return Section(t(lang, "summary.annual_milk_heading"), (milk_paragraph,), milk_note)


def _insurance_section(annual: Annual, scope: str, none_note: str, lang: str) -> Section:
    """School liability insurance: schools, insured students and premium, with the basis of the figures."""
    insurance = annual.insurance
    insurance_paragraph = t(
        lang,
        "summary.annual_insurance",
        scope=scope,
        schools=_count(insurance.schools, "summary.unit_schools", lang),
        insured=_amount(insurance.insured, "summary.unit_people", lang),
        premium=_amount(insurance.premium, "summary.unit_yuan", lang),
    )
    if insurance.reports:
        basis = insurance.basis.label(lang) if insurance.basis is not None else t(lang, "summary.missing")
        insurance_note = t(lang, "summary.annual_note_insurance", basis=basis, year=annual.year, reports=insurance.reports)
    else:
        insurance_note = none_note
    return Section(t(lang, "summary.annual_insurance_heading"), (insurance_paragraph,), insurance_note)


def render_annual_text(annual: Annual, lang: str = "zh") -> str:
    """The draft as one chat message."""
    text = compose_annual(annual, lang)
    lines = [text.title, "", text.part]
    for section in text.sections:
        lines += [section.heading, *section.paragraphs, section.note, ""]
    lines.append(text.footer)
    return "\n".join(lines)


def _set_font(style: BaseStyle, name: str) -> None:
    """Set a style's font for Latin and for Chinese characters (``w:eastAsia``)."""
    assert isinstance(style, CharacterStyle)  # paragraph styles are character styles too
    style.font.name = name
    # python-docx sets only w:ascii/w:hAnsi; Chinese text would fall back to the theme font.
    style.element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), name)


def render_annual_docx(annual: Annual, lang: str = "zh") -> bytes:
    """The draft as a Word document (title, part heading, three sections, notes, footer)."""
    text = compose_annual(annual, lang)
    document = Document()
    styles = document.styles
    normal = styles["Normal"]
    _set_font(normal, _BODY_FONT)
    assert isinstance(normal, CharacterStyle)
    normal.font.size = Pt(12)
    for name in ("Title", "Heading 1", "Heading 2"):
        heading = styles[name]
        _set_font(heading, _HEADING_FONT)
        assert isinstance(heading, CharacterStyle)
        heading.font.color.rgb = RGBColor(0, 0, 0)

    document.add_heading(text.title, level=0)
    document.add_heading(text.part, level=1)
    for section in text.sections:
        document.add_heading(section.heading, level=2)
        for paragraph in section.paragraphs:
            body = document.add_paragraph(paragraph)
            body.paragraph_format.first_line_indent = Pt(24)  # two characters, as Chinese documents indent
        note = document.add_paragraph()
        run = note.add_run(section.note)
        run.font.size = Pt(9)
        run.font.color.rgb = RGBColor(0x59, 0x59, 0x59)
    footer = document.add_paragraph()
    run = footer.add_run(text.footer)
    run.italic = True
    run.font.size = Pt(9)
    document.core_properties.title = text.title
    document.core_properties.author = "schoolbot"
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()
