"""The office files or corrects a report for a school in its scope: ``/report_for CODE [form] [period]``
and the 代填 buttons of ``/overdue`` (``obh:<school id>:<form>:<period>``).

Each use case checks the sender first: office staff or an admin, and a school in
their scope (district staff: their district). A code nobody has and a school of
another district get the same answer, so nothing outside the scope is revealed.
Then it is the principal's conversation (``bot.reporting.service.Reporting``) on a
draft in the staff member's own ``drafts`` row, for that school, with the reason
asked first (``bot.reporting.behalf``); the staff member's later answers, presses,
``/cancel`` and ``/skip`` continue that draft (the scope is checked again on each).
A saved version records the staff member and the reason, is audited as
``report.filed_on_behalf`` and the school's reporters are told (``Outcome.notices``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.core.i18n import t
from bot.core.periods import filed_while_running, is_over
from bot.core.ui import Button, Screen
from bot.office.args import UnknownWord, last_finished_period, read_period, sane, scope_words
from bot.office.roster import normalise_code
from bot.office.scope import office_district
from bot.reporting.codec import MAX_CALLBACK_BYTES, Start
from bot.reporting.screens import Screens
from bot.reporting.service import Outcome, Reporter, Reporting
from bot.services import Identity, Services
from storage.models import School
from storage.schools import school_by_code

__all__ = ["BEHALF_PREFIX", "OnBehalf", "behalf_data"]

BEHALF_PREFIX = "obh"
# Periods that have ended offered instead of one still running, newest first.
ENDED_OFFERED = 3


@dataclass(frozen=True)
class _Target:
    school_id: int
    code: str


def behalf_data(school_id: int, form_key: str, period_key: str) -> str | None:
    """The 代填 button's data for one school's missing report (None if it would not fit Telegram's 64 bytes)."""
    data = f"{BEHALF_PREFIX}:{school_id}:{form_key}:{period_key}"
    return data if len(data.encode()) <= MAX_CALLBACK_BYTES else None


class OnBehalf:
    """Office staff filing for a school, for one update."""

    def __init__(self, services: Services, who: Identity, update_id: int | None) -> None:
        self.services = services
        self.who = who
        self.lang = who.language
        self.update_id = update_id

    # ----- starting ----------------------------------------------------------------------
    async def start(self, words: Sequence[str]) -> Outcome:
        """``/report_for CODE [form] [period]``: ask the reason, then open the form for that school."""
        if not self.who.is_staff:
            return _say(t(self.lang, "core.not_allowed"))
        if not words:
            return _say(t(self.lang, "onbehalf.usage"))
        code = normalise_code(words[0])
        target = await self._in_scope(code=code)
        if target is None:
            return _say(t(self.lang, "onbehalf.unknown_school", code=code))
        start = self._start(words[1:])
        if isinstance(start, str):
            return _say(start + "\n" + t(self.lang, "onbehalf.usage"))
        running = self._still_running(target, start)
        if running is not None:
            return running  # before the reason: nothing typed is lost on a month that cannot be filed yet
        return await self._reporting(target).begin_behalf(start)

    def _still_running(self, target: _Target, start: Start) -> Outcome | None:
        """A period not over yet (and not filed while it runs): say so, with the periods that have ended as buttons."""
        if start.kind != "go":
            return None
        form = self.services.catalogue.get(start.form_key)
        period = read_period(form, start.period)
        now, tz = self.services.clock.now(), self.services.settings.timezone
        if filed_while_running(form) or is_over(period, now, tz):
            return None
        ended = [last_finished_period(form, now, tz)]
        while len(ended) < ENDED_OFFERED:
            ended.append(ended[-1].previous())
        buttons = [
            [Button(t(self.lang, "onbehalf.period_button", period=choice.label(self.lang)), data)]
            for choice in ended
            if (data := behalf_data(target.school_id, form.key, choice.key)) is not None
        ]
        text = Screens(self.services.catalogue, self.lang, tz).not_over(form, period)
        return Outcome(screens=[Screen(text, buttons)])

    async def pressed(self, data: str) -> Outcome:
        """A 代填 button of ``/overdue``: the same as ``/report_for`` for that school, form and period."""
        stale = Outcome(alert=t(self.lang, "core.stale_button"))
        parts = data.split(":")
        if not self.who.is_staff or len(parts) != 4 or not parts[1].isdigit() or len(parts[1]) > 12:
            return stale
        try:
            form = self.services.catalogue.get(parts[2])
            period = read_period(form, parts[3])
        except (KeyError, ValueError):
            return stale
        target = await self._in_scope(school_id=int(parts[1]))
        if target is None:
            return stale  # a forged button for a school outside the scope: refused like a stale one
        start = Start("go", form_key=form.key, period=period.key)
        return self._still_running(target, start) or await self._reporting(target).begin_behalf(start)

    def reporter_button(self, data: str) -> Outcome:
        """Staff pressed a reporter's 📝 button (a go: in their broadcast's preview): the command that files it."""
        start = Start.decode(data)
        words = ["/report_for", t(self.lang, "onbehalf.code_word")]
        if start is not None and start.form_key in {form.key for form in self.services.catalogue}:
            words += [start.form_key, start.period] if start.kind == "go" else [start.form_key]
        return Outcome(alert=t(self.lang, "onbehalf.reporter_button", command=" ".join(words)))

    def _start(self, words: Sequence[str]) -> Start | str:
        """What the words after the code ask for: the menu, a form, or a form and period (else why not)."""
        catalogue = self.services.catalogue
        try:
            form, word = scope_words(catalogue, words)
        except UnknownWord as error:
            return t(self.lang, "onbehalf.unknown_word", word=error.text)
        if form is None:
            return Start("menu") if word is None else t(self.lang, "onbehalf.unknown_word", word=word)
        if word is None:
            return Start("form", form_key=form.key)
        try:
            period = read_period(form, word)
        except ValueError:
            period = None
        if period is None or not sane(period):
            return t(self.lang, "onbehalf.unknown_word", word=word)
        return Start("go", form_key=form.key, period=period.key)

    # ----- carrying on ---------------------------------------------------------------------
    async def continuing(self) -> Reporting | None:
        """The conversation of the staff member's draft, if they have one for a school still in their scope."""
        school_id = self._draft_school()
        if not self.who.is_staff or school_id is None:
            return None
        target = await self._in_scope(school_id=school_id)
        return self._reporting(target) if target is not None else None

    def has_draft(self) -> bool:
        return self.who.is_staff and self._draft_school() is not None

    async def cancelling(self) -> Reporting | None:
        """The conversation to cancel: the staff member's draft, whatever school it is for (cancelling files nothing)."""
        school_id = self._draft_school()
        if not self.who.is_staff or school_id is None:
            return None
        async with self.services.db.session() as session:
            school = await session.get(School, school_id)
            code = school.code if school is not None else ""
        return self._reporting(_Target(school_id, code))

    def _draft_school(self) -> int | None:
        draft = self.who.draft
        school_id = draft.get("school_id") if draft is not None else None
        return school_id if isinstance(school_id, int) else None

    # ----- scope ----------------------------------------------------------------------------
    async def _in_scope(self, *, code: str | None = None, school_id: int | None = None) -> _Target | None:
        """The school named, if the sender's scope covers it (None: unknown, or outside it: the same)."""
        async with self.services.db.session() as session:
            school = await school_by_code(session, code) if code is not None else await session.get(School, school_id)
            if school is None:
                return None
            district = office_district(self.who)
            if district is not None and school.district_id != district:
                return None
            return _Target(school.id, school.code)

    def _reporting(self, target: _Target) -> Reporting:
        who = self.who
        assert who.person_id is not None  # staff have a person row
        reporter = Reporter(
            person_id=who.person_id,
            telegram_id=who.telegram_id,
            school_id=target.school_id,
            lang=self.lang,
            school_code=target.code,
            update_id=self.update_id,
            draft=who.draft,
            draft_read=who.draft_read,
            office=True,
            office_name=who.name,
        )
        return Reporting(self.services, reporter)


def _say(text: str) -> Outcome:
    out = Outcome()
    out.say(text)
    return out
