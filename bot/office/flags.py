"""``/flags [form] [period]``: the values principals confirmed with a reason after a warning.

The office's view of data quality (issue 13): each warning a principal confirmed
at the review (a rule, a figure far from last period's, a repeated harvest) is
kept with the value (``report_flags``); this lists those of the counted reports
(current, not withdrawn) for a form and period — school, field, value, warning
and reason — within the staff member's district, like ``/summary``. The words
are read as ``/summary`` reads them (``bot.office.args``), and refused the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.core.catalogue import Form
from bot.core.i18n import t
from bot.core.periods import Period
from bot.office.figures import Refusal, form_and_period
from bot.office.scope import office_district
from bot.render import scope_label
from bot.services import Identity, Services
from storage.flags import FlagRow, flag_rows
from storage.rollups import district_name

__all__ = ["flags_text", "flag_value"]


async def flags_text(services: Services, who: Identity, lang: str, args: Sequence[str]) -> str | Refusal:
    """The confirmed warnings of the form and period named (defaults as ``/summary``), as one text."""
    named = form_and_period(services, lang, args)
    if isinstance(named, Refusal):
        return Refusal(named.text + "\n" + t(lang, "flags.usage"))
    form, period = named
    district_id = office_district(who)
    async with services.db.session() as session:
        rows = await flag_rows(session, form.key, [period.key], district_id=district_id)
        scope = await district_name(session, district_id) if district_id is not None else None
    return render_flags(form, period, scope_label(scope, lang), rows, lang)


def render_flags(form: Form, period: Period, scope: str, rows: Sequence[FlagRow], lang: str) -> str:
    """The heading and one block per confirmed warning (school, field and value, warning, reason)."""
    names = {"form": form.short.get(lang), "period": period.label(lang), "scope": scope}
    if not rows:
        return t(lang, "flags.none", **names)
    lines = [t(lang, "flags.title", count=len(rows), **names)]
    for n, row in enumerate(rows, start=1):
        field, value = flag_value(form, row, lang)
        lines.append("")
        lines.append(
            t(
                lang,
                "flags.row",
                n=n,
                school=row.school_name,
                code=row.school_code,
                district=row.district,
                field=field,
                value=value,
            )
        )
        lines.append(t(lang, "flags.warning", message=row.message))
        lines.append(t(lang, "flags.reason", reason=row.reason))
    return "\n".join(lines)


def flag_value(form: Form, row: FlagRow, lang: str) -> tuple[str, str]:
    """The flagged field's label and its value as the form shows it ("整表" and "" for a form-level warning)."""
    field = next((f for f in form.fields if f.key == row.field_key), None)
    if field is None:
        return (row.field_key or t(lang, "quality.form_level"), "")
    value = field.from_storage(row.num_value, row.text_value)
    return field.label.get(lang), field.format(value, lang) if value is not None else ""
