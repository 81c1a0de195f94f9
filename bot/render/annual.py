"""The year-end report draft, in the structure of the office's own report.

``shared/seed/2007-work-summary.txt`` is what the office writes each December:
一、工作回顾 with (一) practice bases and farms, (二) school services (uniforms,
books, student milk, exercise books), (三) liability insurance, (四) investment;
二、工作思路 (一)…(四); the office's name and the date at the end. The draft keeps
that structure so the clerk fills blanks instead of rewriting:

- figures the bot collects are filled in, each paragraph saying what it stands on
  ("依据 10 所学校中 9 所的1月至11月报表，其中11月尚未到截止日");
- a figure whose periods are not final carries 【数据不全：…】 naming what is
  missing (highlighted in the DOCX);
- what the bot cannot know (校服 万套, 簿本, next year's plan) is 【待补充】;
- 比上年增长/下降 only when this year and last year are both complete.

``compose_annual`` builds the blocks once; ``render_annual_text`` prints them for
chat and the CLI, ``bot.render.annual_docx`` lays them out on A4.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from string import Formatter
from typing import Any

from bot.core.i18n import t
from bot.office.annual import Annual, Figure, FormYear
from bot.office.summary import Rollup
from bot.render.annual_tables import Table, amount, farm_table, insurance_table, milk_table
from bot.render.annual_words import coverage_notes, date_words, gap_words, short_label, span_words

__all__ = [
    "Chart",
    "Draft",
    "Heading",
    "Mark",
    "Paragraph",
    "Span",
    "Table",
    "compose_annual",
    "render_annual_text",
]


class Mark(StrEnum):
    """How a run of text is shown: plain, a figure on data not final, or a blank to fill."""

    TEXT = "text"
    INCOMPLETE = "incomplete"
    TO_FILL = "to_fill"


@dataclass(frozen=True)
class Span:
    text: str
    mark: Mark = Mark.TEXT


@dataclass(frozen=True)
class Heading:
    text: str
    level: int  # 1: 一、 2: （一）


@dataclass(frozen=True)
class Paragraph:
    spans: tuple[Span, ...]
    # A drafting note (small, grey in the DOCX), not part of the report's text.
    note: bool = False

    @property
    def text(self) -> str:
        return "".join(span.text for span in self.spans)


@dataclass(frozen=True)
class Chart:
    caption: str
    rollup: Rollup


Block = Heading | Paragraph | Table | Chart


@dataclass(frozen=True)
class Draft:
    """The whole draft: title, blocks in order, and who signs it when."""

    title: str
    blocks: tuple[Block, ...]
    office: str
    date: str


# --- text with marked runs -------------------------------------------------------------


def _fill(lang: str, key: str, **params: Any) -> list[Span]:
    """The message ``key`` with ``params`` filled in; a parameter given as spans keeps its marks."""
    spans: list[Span] = []
    for literal, name, spec, conversion in Formatter().parse(t(lang, key)):
        if literal:
            spans.append(Span(literal))
        if name is None:
            continue
        value = params[name]
        if isinstance(value, Span):
            spans.append(value)
        elif isinstance(value, list):
            spans.extend(value)
        else:
            spans.append(Span(format(repr(value) if conversion == "r" else value, spec or "")))
    return spans


def _merge(spans: list[Span]) -> tuple[Span, ...]:
    merged: list[Span] = []
    for span in spans:
        if merged and merged[-1].mark is span.mark:
            merged[-1] = Span(merged[-1].text + span.text, span.mark)
        elif span.text:
            merged.append(span)
    return tuple(merged)


def _blank(lang: str, about_key: str | None = None, **params: Any) -> Span:
    if about_key is None:
        return Span(t(lang, "annual.to_fill"), Mark.TO_FILL)
    return Span(t(lang, "annual.to_fill_about", what=t(lang, about_key, **params)), Mark.TO_FILL)


def _coverage(year: FormYear, lang: str) -> list[Span]:
    city = year.total.city
    if city.reports == 0:
        return _fill(lang, "annual.coverage_none", year=year.year)
    key = "annual.farm_coverage" if year.form.is_event else "annual.coverage"
    span = span_words([c.period for c in year.started], lang)
    return _fill(
        lang,
        key,
        expected=city.schools,
        reported=city.schools_reported,
        reports=city.reports,
        span=span,
        notes=coverage_notes(year, lang),
    )


# --- figures -----------------------------------------------------------------------------


def _change(figure: Figure, lang: str) -> str:
    """比上年增长 x%, only when this year and last year are both complete."""
    previous = figure.previous
    if previous is None or not (figure.complete and previous.complete) or not previous.value:
        return ""
    assert figure.value is not None
    change = (figure.value - previous.value) / previous.value * 100
    shown = f"{abs(change).quantize(Decimal('0.1'), rounding=ROUND_HALF_UP)}%"
    if abs(change) < Decimal("0.05"):
        return t(lang, "annual.yoy_flat")
    return t(lang, "annual.yoy_up" if change > 0 else "annual.yoy_down", change=shown)


def withheld(figures: list[Figure]) -> bool:
    """A figure had last year's counterpart but the comparison waits for complete data."""
    return any(
        f.previous is not None and f.previous.value is not None and not (f.complete and f.previous.complete) for f in figures
    )


def figure_spans(figure: Figure, year: FormYear, unit_key: str, lang: str, *, basis: str = "") -> list[Span]:
    """The figure with its unit and ``basis`` ("（春季学期）"); on data not final, highlighted and
    followed by 【数据不全：…】 naming what is missing."""
    shown = amount(figure.value, unit_key, lang)
    if not figure.gaps:
        return [Span(shown + basis + _change(figure, lang))]
    missing = t(lang, "annual.incomplete", what=gap_words(figure.gaps, year, lang))
    return [Span(shown, Mark.INCOMPLETE), Span(basis), Span(missing, Mark.INCOMPLETE)]


def _para(*parts: list[Span], note: bool = False) -> Paragraph:
    return Paragraph(_merge([span for part in parts for span in part]), note=note)


def _withheld_spans(figures: list[Figure], lang: str) -> list[Span]:
    return [Span(t(lang, "annual.yoy_withheld"))] if withheld(figures) else []


# --- the sections -------------------------------------------------------------------------


def _scope(annual: Annual, lang: str) -> str:
    return annual.scope or t(lang, "annual.city")


def _farm(annual: Annual, lang: str, charts: list[Chart]) -> list[Block]:
    farm = annual.farm
    blocks: list[Block] = [
        Heading(t(lang, "annual.farm_heading"), 2),
        _para(_fill(lang, "annual.base_item", blank=_blank(lang, "annual.base_blank"))),
    ]
    sites = farm.sites
    if sites.area is None:
        area = [_blank(lang, "annual.gap_no_area", count=sites.unknown) if sites.sites else _blank(lang)]
    elif sites.unknown:
        missing = t(lang, "annual.incomplete", what=t(lang, "annual.gap_no_area", count=sites.unknown))
        area = [Span(amount(sites.area, "annual.unit_mu", lang), Mark.INCOMPLETE), Span(missing, Mark.INCOMPLETE)]
    else:
        area = [Span(amount(sites.area, "annual.unit_mu", lang))]
    parts = [
        _fill(lang, "annual.farm_item"),
        _fill(lang, "annual.farm_sites", scope=_scope(annual, lang), sites=sites.sites, area=area),
    ]
    year = farm.year
    if year is not None:
        parts.append(
            _fill(
                lang,
                "annual.farm_harvests",
                year=annual.year,
                participants=figure_spans(farm.participants, year, "annual.unit_person_times", lang),
                income=figure_spans(farm.income, year, "annual.unit_yuan", lang),
                vegetables=figure_spans(farm.vegetables_area, year, "annual.unit_mu", lang),
            )
        )
        if farm.top:
            schools = t(lang, "annual.list_separator").join(
                t(
                    lang,
                    "annual.school_income",
                    school=s.school_name,
                    district=s.district,
                    income=amount(s.total, "annual.unit_yuan", lang),
                )
                for s in farm.top
            )
            parts.append(_fill(lang, "annual.farm_top", schools=schools))
        parts += [_coverage(year, lang), _withheld_spans([farm.income, farm.participants], lang)]
    blocks.append(_para(*parts))
    blocks.append(farm_table(annual, lang))
    if year is not None:
        blocks.append(_chart(year, lang, charts))
    return blocks


def _chart(year: FormYear, lang: str, charts: list[Chart]) -> Chart:
    chart = Chart(
        t(
            lang,
            "annual.chart_caption",
            n=len(charts) + 1,
            form=year.form.short.get(lang),
            span=span_words([c.period for c in year.started], lang),
        ),
        year.folded(),
    )
    charts.append(chart)
    return chart


def _services(annual: Annual, lang: str, charts: list[Chart]) -> list[Block]:
    blocks: list[Block] = [
        Heading(t(lang, "annual.services_heading"), 2),
        _para(_fill(lang, "annual.uniform_item", scope=_scope(annual, lang), blank=_blank(lang))),
        _para(_fill(lang, "annual.books_item", blank=_blank(lang, "annual.books_blank"))),
    ]
    milk = annual.milk
    year = milk.year
    parts = [_fill(lang, "annual.milk_item")]
    if year is not None:
        basis = t(lang, "annual.milk_basis")
        if milk.drinkers.skipped:
            skipped = t(lang, "annual.list_separator").join(short_label(p, lang) for p in milk.drinkers.skipped)
            basis += t(lang, "annual.milk_skipped", periods=skipped)
        basis = t(lang, "annual.basis", basis=basis)
        parts += [
            _fill(
                lang,
                "annual.milk_figures",
                scope=_scope(annual, lang),
                schools=year.total.city.schools,
                drinkers=figure_spans(milk.drinkers, year, "annual.unit_person_times", lang, basis=basis),
            ),
            _coverage(year, lang),
            _withheld_spans([milk.drinkers], lang),
        ]
    blocks.append(_para(*parts))
    if year is not None:
        blocks += [milk_table(annual, lang), _chart(year, lang, charts)]
    blocks.append(
        _para(_fill(lang, "annual.exercise_books_item", year=annual.year, scope=_scope(annual, lang), blank=_blank(lang)))
    )
    return blocks


def _insurance(annual: Annual, lang: str, charts: list[Chart]) -> list[Block]:
    insurance = annual.insurance
    year = insurance.year
    blocks: list[Block] = [Heading(t(lang, "annual.insurance_heading"), 2)]
    if year is None:
        return [*blocks, _para([_blank(lang)])]
    basis = insurance.insured.basis
    premium_periods = [c.period for c in insurance.premium.coverage if c.period.start <= year.as_of]
    paragraph = _para(
        _fill(
            lang,
            "annual.insurance_figures",
            scope=_scope(annual, lang),
            schools=amount(insurance.schools, "annual.unit_schools", lang),
            insured=figure_spans(
                insurance.insured,
                year,
                "annual.unit_people",
                lang,
                basis=t(lang, "annual.basis", basis=short_label(basis, lang)) if basis is not None else "",
            ),
            premium=figure_spans(
                insurance.premium,
                year,
                "annual.unit_yuan",
                lang,
                basis=t(lang, "annual.basis", basis=t(lang, "annual.premium_basis", periods=span_words(premium_periods, lang))),
            ),
        ),
        _coverage(year, lang),
        _withheld_spans([insurance.insured, insurance.premium], lang),
    )
    return [*blocks, paragraph, insurance_table(annual, lang), _chart(year, lang, charts)]


def _rest(annual: Annual, lang: str) -> list[Block]:
    following = annual.year + 1
    return [
        Heading(t(lang, "annual.investment_heading"), 2),
        _para([_blank(lang, "annual.investment_blank")]),
        _para([_blank(lang, "annual.support_blank")]),
        Heading(t(lang, "annual.part_plan", next=following), 1),
        _para([_blank(lang, "annual.plan_blank", next=following)]),
        *(_para(_fill(lang, f"annual.plan_{n}", blank=_blank(lang, f"annual.plan_{n}_about"))) for n in range(1, 5)),
    ]


def compose_annual(annual: Annual, lang: str = "zh", *, office: str = "") -> Draft:
    """The draft's blocks for ``annual``, signed by ``office`` (``Settings.office_name``)."""
    following = annual.year + 1
    if annual.scope:
        title = t(lang, "annual.title_scoped", office=office, year=annual.year, next=following, scope=annual.scope)
    else:
        title = t(lang, "annual.title", office=office, year=annual.year, next=following)
    as_of = date_words(annual.as_of, lang)
    note = [Span(t(lang, "annual.draft_note", as_of=as_of))]
    if annual.flags:
        note.append(Span(t(lang, "quality.annual_flags", count=annual.flags)))
    charts: list[Chart] = []
    opening = "annual.opening_scoped" if annual.scope else "annual.opening"
    blocks: list[Block] = [
        _para(note, note=True),
        # A district's draft speaks of the district, not 我市.
        _para(_fill(lang, opening, year=annual.year, scope=annual.scope or "", blank=_blank(lang, "annual.opening_blank"))),
        Heading(t(lang, "annual.part_review", year=annual.year), 1),
        *_farm(annual, lang, charts),
        *_services(annual, lang, charts),
        *_insurance(annual, lang, charts),
        *_rest(annual, lang),
    ]
    return Draft(title=title, blocks=tuple(blocks), office=office, date=as_of)


def render_annual_text(annual: Annual, lang: str = "zh", *, office: str = "") -> str:
    """The draft as plain text (chat, CLI): tables as lines, charts left to the DOCX."""
    draft = compose_annual(annual, lang, office=office)
    lines = [draft.title, ""]
    for block in draft.blocks:
        if isinstance(block, Heading):
            lines.append(block.text)
        elif isinstance(block, Paragraph):
            lines += [block.text, ""] if block.note else [block.text]
        elif isinstance(block, Table):
            lines += ["", block.caption, "｜".join(block.header), *("｜".join(row) for row in block.rows)]
            lines += [block.note, ""] if block.note else [""]
    lines += ["", draft.office, draft.date]
    return "\n".join(lines)
