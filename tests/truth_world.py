"""The truth harness's world (issue 14 point 8): schools, a model of what was confirmed, and a
driver that files, corrects and withdraws reports through the real Application.

The model is the harness's own, independent record: an entry per series (school, form, period,
and for harvests one per entry) with the values the principal typed and saw saved, its version,
whether it was late by the form's due rule, how many warnings were confirmed with a reason, and
whether it was withdrawn. It is updated only when the bot's receipt says the report was saved
(or withdrawn), so a receipt that lies, or a save without a receipt, shows up as a figure that
differs from the recomputation in ``tests.truth_checks``. The database is read for one thing
only: the id of the version just saved, to press its /correct buttons later.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from bot.core.catalogue import Catalogue, Form
from bot.core.clock import FixedClock
from bot.core.fields import Field, FieldType
from bot.offline.simulator import Reply, Simulator, UserChat
from storage.db import Database
from storage.models import Report, School
from storage.schools import ensure_district, upsert_school
from tests.factories import register_principal

DISTRICTS = ("濉溪县", "相山区", "杜集区")
FORMS = ("milk", "insurance", "harvest")
PROGRAMME_OF = {"milk": "milk", "harvest": "farm"}
REASON = "已核实，数字无误"
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


@dataclass(frozen=True)
class SchoolSpec:
    code: str
    name: str
    district: str
    programmes: tuple[str, ...]
    principal: int
    # Its farm site's land area (占地面积) in the roster; None: not given.
    site_area: Decimal | None = None

    def reports(self, form: str) -> bool:
        """True if the school is expected to report ``form`` (insurance: every school)."""
        programme = PROGRAMME_OF.get(form)
        return programme is None or programme in self.programmes


@dataclass
class Entry:
    """One series as the principal confirmed it: its current version's values, or withdrawn."""

    school: str
    form: str
    period: str
    values: dict[str, Decimal | str | None]
    late: bool
    version: int
    flags: int
    report_id: int
    # When its current version was submitted (Shanghai time).
    at: datetime
    withdrawn: bool = False


@dataclass
class Model:
    schools: list[SchoolSpec]
    entries: list[Entry] = field(default_factory=list)

    def school(self, code: str) -> SchoolSpec:
        return next(s for s in self.schools if s.code == code)

    def counted(self, form: str, periods: set[str] | None = None) -> list[Entry]:
        """Entries that count: current and not withdrawn (harvest entries each one)."""
        return [e for e in self.entries if e.form == form and not e.withdrawn and (periods is None or e.period in periods)]

    def live(self, code: str, form: str, period: str) -> Entry | None:
        """The school's counted report of a once-per-period form, if any."""
        return next((e for e in self.counted(form, {period}) if e.school == code), None)

    def chain(self, code: str, form: str, period: str) -> Entry | None:
        """The (possibly withdrawn) series of a once-per-period form: filing anew continues it."""
        return next((e for e in self.entries if (e.school, e.form, e.period) == (code, form, period)), None)


# --- periods, by the rules the README states (not the product's functions) ------------------------
def month_end(year: int, month: int) -> date:
    return (date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)) - timedelta(days=1)


def span(form: str, key: str) -> tuple[date, date]:
    """First and last day of a period key: 2026-10, 2026-S1 (Feb–Jul), 2026-S2 (Aug–Jan), 2026-Q4."""
    year = int(key[:4])
    if form == "milk":
        month = int(key[5:])
        return date(year, month, 1), month_end(year, month)
    if form == "insurance":
        return (date(year, 2, 1), date(year, 7, 31)) if key.endswith("S1") else (date(year, 8, 1), date(year + 1, 1, 31))
    quarter = int(key[-1])
    return date(year, 3 * quarter - 2, 1), month_end(year, 3 * quarter)


DUE_DAYS = {"milk": 5, "insurance": 15, "harvest": None}
LOCK_DAYS = 60


def due(form: str, key: str) -> date | None:
    days = DUE_DAYS[form]
    return None if days is None else span(form, key)[1] + timedelta(days=days)


def fileable(form: str, key: str, today: date) -> bool:
    """A principal may file: the period has begun (milk: is over) and is not past its lock."""
    start, end = span(form, key)
    started = today > end if form == "milk" else today >= start
    last = (due(form, key) or end) + timedelta(days=LOCK_DAYS)
    return started and today <= last


def keys_around(form: str, today: date) -> list[str]:
    """Period keys from a year before ``today`` to ``today``, oldest first."""
    keys: list[str] = []
    for year in (today.year - 1, today.year):
        if form == "milk":
            keys += [f"{year}-{m:02d}" for m in range(1, 13)]
        elif form == "insurance":
            keys += [f"{year}-S1", f"{year}-S2"]
        else:
            keys += [f"{year}-Q{q}" for q in range(1, 5)]
    return keys


def fileable_now(form: str, today: date) -> list[str]:
    return [key for key in keys_around(form, today) if fileable(form, key, today)]


def is_late(form: str, key: str, day: date) -> bool:
    deadline = due(form, key)
    return deadline is not None and day > deadline


# --- answers a principal types ------------------------------------------------------------------
def typed(value: Decimal, unit: str, style: int) -> str:
    """A number as people type it: plain, 12,000, full-width, with its unit, 1.2万."""
    plain = format(value.normalize(), "f") if value != value.to_integral_value() else str(int(value))
    if style == 1 and value == value.to_integral_value():
        return f"{int(value):,}"
    if style == 2:
        return plain.translate(FULL_WIDTH)
    if style == 3 and unit:
        return plain + unit
    if style == 4 and value >= 10000 and value % 1000 == 0:
        return f"{format((value / 10000).normalize(), 'f')}万"
    return plain


def answers_for(form: Form, draws: list[int], days_in_month: int) -> dict[str, Decimal | str | None]:
    """Valid answers (inside every min/max and error rule) from the drawn integers."""
    pick = iter(draws * 3)
    values: dict[str, Decimal | str | None] = {}
    for item in form.fields:
        n = next(pick)
        if item.type is FieldType.CHOICE:
            values[item.key] = item.choices[n % len(item.choices)].key
        elif item.type is FieldType.TEXT:
            values[item.key] = None
        elif not item.required and n % 4 == 0:
            values[item.key] = None
        else:
            values[item.key] = number_for(item, n)
    if form.key == "milk":
        values["days_served"] = Decimal(int(values["days_served"] or 0) % (days_in_month + 1))
    if form.key == "insurance":
        enrolled, insured = values["students_enrolled"], values["students_insured"]
        assert isinstance(enrolled, Decimal) and isinstance(insured, Decimal)
        values["students_enrolled"], values["students_insured"] = max(enrolled, insured), min(enrolled, insured)
    return values


def number_for(item: Field, n: int) -> Decimal:
    """A value for a number field inside its range, of a school's size rather than the form's
    maximum, now and then 0."""
    top = int(item.max if item.max is not None else 100000)
    top = min(top, {"daily_drinkers": 3000, "days_served": 31, "incidents": 3, "claims": 5}.get(item.key, 60000))
    if n % 17 == 0:
        return Decimal(0)
    if item.type is FieldType.AREA_MU:
        return Decimal(n % 400) / 10 + Decimal("0.5")
    return Decimal(n % (top + 1))


# --- the world -------------------------------------------------------------------------------------
async def build_world(db: Database, sim: Simulator, clock: FixedClock, layout: list[tuple[int, bool, bool]]) -> Model:
    """Schools (district index, milk?, farm?) with one registered principal each; farm schools
    have a site area in the roster, but every third does not say."""
    schools = []
    for i, (district, milk, farm) in enumerate(layout):
        programmes = tuple(p for p, on in (("milk", milk), ("farm", farm), ("insurance", True)) if on)
        area = Decimal(12 + 5 * i) / 2 if farm and i % 3 != 2 else None
        spec = SchoolSpec(f"T{i + 1:02d}", f"第{i + 1}小学", DISTRICTS[district % len(DISTRICTS)], programmes, 1001 + i, area)
        async with db.session() as session:
            place = await ensure_district(session, spec.district)
            await upsert_school(
                session,
                clock.now(),
                code=spec.code,
                name=spec.name,
                district=place,
                area="rural",
                programmes=programmes,
                site_area_mu=area,
            )
        await register_principal(sim, db, clock, user_id=spec.principal, school_code=spec.code)
        schools.append(spec)
    return Model(schools)


def last(replies: list[Reply]) -> Reply:
    texts = [r for r in replies if r.text]
    assert texts, "the bot said nothing"
    return texts[-1]


class Driver:
    """Carries actions through the real Application, as principals press and type, and keeps the model."""

    def __init__(self, sim: Simulator, db: Database, clock: FixedClock, catalogue: Catalogue, model: Model) -> None:
        self.sim, self.db, self.clock, self.catalogue, self.model = sim, db, clock, catalogue, model
        self.log: list[str] = [f"{s.code} {s.district} {'/'.join(s.programmes)}" for s in model.schools]

    def chat(self, school: SchoolSpec) -> UserChat:
        return self.sim.user(school.principal, "校长")

    @property
    def today(self) -> date:
        return self.clock.now().date()

    async def act(self, kind: str, who: int, what: str, when: int, draws: list[int], style: int) -> None:
        """One action; a correction or withdrawal with nothing open to take it files instead."""
        if kind == "withdraw" and await self._withdraw(who):
            return
        if kind == "correct" and await self._correct(who, draws, style):
            return
        await self._file(who, what, when, draws, style)

    # --- filing ------------------------------------------------------------------------------
    async def _file(self, who: int, what: str, when: int, draws: list[int], style: int) -> None:
        # A school that reports the form (every school reports insurance, fewer milk or harvests).
        members = [s for s in self.model.schools if s.reports(what)]
        form = self.catalogue.get(what if members else "insurance")
        members = members or self.model.schools
        school = members[who % len(members)]
        keys = fileable_now(form.key, self.today)
        if not keys:
            self.log.append(f"{self.clock.now():%Y-%m-%d %H:%M} {school.code} {form.key}: nothing to file")
            return
        key = keys[when % len(keys)]
        live = self.model.live(school.code, form.key, key) if not form.is_event else None
        chat = self.chat(school)
        replies = await chat.press_data(f"go:{form.key}:{key}")
        if live is not None:  # the period is filed: the bot offers a correction instead
            assert "已经提交过" in last(replies).text, f"no correction offered for {key}: {last(replies).text}"
            review = last(await chat.press("更正这份报表"))
            await self._edit_and_submit(chat, review, school, form, key, live, draws, style)
            return
        days = (span(form.key, key)[1] - span(form.key, key)[0]).days + 1 if form.key == "milk" else 31
        await self._answer_all(chat, last(replies), school, form, key, answers_for(form, draws, days), style)

    async def file(self, school: SchoolSpec, form: Form, key: str, values: dict[str, Decimal | str | None]) -> None:
        """File these answers for a period the school has not filed (a scripted step)."""
        chat = self.chat(school)
        asked = last(await chat.press_data(f"go:{form.key}:{key}"))
        await self._answer_all(chat, asked, school, form, key, values, 0)

    async def _answer_all(
        self, chat: UserChat, asked: Reply, school: SchoolSpec, form: Form, key: str, values: dict[str, Any], style: int
    ) -> None:
        self.log.append(f"{self.clock.now():%Y-%m-%d %H:%M} {school.code} files {form.key} {key}: {_show(values)}")
        for item in form.fields:
            asked = await self._answer(chat, asked, item, values[item.key], style)
        await self._submit(chat, asked, school, form, key, None, values)

    async def _answer(self, chat: UserChat, asked: Reply, item: Field, value: Decimal | str | None, style: int) -> Reply:
        """Answer the question ``asked`` (which must be about ``item``); the bot's next screen."""
        label = item.label.get("zh")
        assert label in asked.text, f"expected the question about {label}, got: {asked.text}"
        if item.type is FieldType.CHOICE:
            assert isinstance(value, str)
            return last(await chat.press(item.choice(value).label.get("zh")))
        if value is None:
            return last(await chat.send("/skip"))
        assert isinstance(value, Decimal)
        return last(await chat.send(typed(value, item.unit.get("zh") if item.unit else "", style)))

    async def _submit(
        self, chat: UserChat, review: Reply, school: SchoolSpec, form: Form, key: str, live: Entry | None, values: dict[str, Any]
    ) -> None:
        assert "请核对" in review.text, f"expected the review, got: {review.text}"
        reply = last(await chat.press("提交"))
        flags = 0
        if "提交前请确认" in reply.text:
            flags = sum(1 for line in reply.text.splitlines() if line.startswith("⚠️"))
            reply = last(await chat.send(REASON))
        if "未保存新版本" in reply.text:  # a correction that changes nothing
            self.log.append("  (unchanged: not saved)")
            return
        assert "已保存" in reply.text, f"not saved: {reply.text}"
        chain = live if live is not None else (self.model.chain(school.code, form.key, key) if not form.is_event else None)
        version = chain.version + 1 if chain is not None else 1
        assert f"第 {version} 版" in reply.text, f"receipt names another version than {version}: {reply.text}"
        late = is_late(form.key, key, self.today)
        if live is not None:
            late = live.late and late
        report_id = await self._newest_id(school.code)
        if chain is not None:
            chain.values, chain.late, chain.version, chain.flags = dict(values), late, version, flags
            chain.report_id, chain.withdrawn, chain.at = report_id, False, self.clock.now()
        else:
            entry = Entry(school.code, form.key, key, dict(values), late, version, flags, report_id, self.clock.now())
            self.model.entries.append(entry)
        self.log.append(f"  saved v{version}{' late' if late else ''}{f', {flags} warning(s) confirmed' if flags else ''}")

    async def _newest_id(self, code: str) -> int:
        async with self.db.session() as session:
            newest = await session.scalar(select(func.max(Report.id)).join(School).where(School.code == code))
        assert newest is not None
        return int(newest)

    # --- corrections and withdrawals ----------------------------------------------------------
    def _open_entry(self, pick: int, kind: str) -> Entry | None:
        open_ = [e for e in self.model.entries if not e.withdrawn and fileable(e.form, e.period, self.today)]
        if not open_:
            self.log.append(f"{self.clock.now():%Y-%m-%d %H:%M} nothing open to {kind}: a filing instead")
            return None
        return open_[pick % len(open_)]

    async def _correct(self, pick: int, draws: list[int], style: int) -> bool:
        entry = self._open_entry(pick, "correct")
        if entry is None:
            return False
        school, form = self.model.school(entry.school), self.catalogue.get(entry.form)
        chat = self.chat(school)
        # The entry's button on /correct (pressed from an earlier listing: the data is the same).
        review = last(await chat.press_data(f"fix:{entry.report_id}"))
        await self._edit_and_submit(chat, review, school, form, entry.period, entry, draws, style)
        return True

    async def _edit_and_submit(
        self, chat: UserChat, review: Reply, school: SchoolSpec, form: Form, key: str, entry: Entry, draws: list[int], style: int
    ) -> None:
        """At the review of a correction: change one or two answers, then submit."""
        days = (span(form.key, key)[1] - span(form.key, key)[0]).days + 1 if form.key == "milk" else 31
        fresh = answers_for(form, draws, days)
        values = dict(entry.values)
        numbers = [f for f in form.numeric_fields if f.required]
        for item in {numbers[draws[0] % len(numbers)].key: None, numbers[draws[1] % len(numbers)].key: None}:
            field_ = form.field(item)
            new = fresh[item]
            if form.key == "insurance":  # keep insured ≤ enrolled with the other answer as it stands
                other = values["students_insured" if item == "students_enrolled" else "students_enrolled"]
                assert isinstance(new, Decimal) and isinstance(other, Decimal)
                new = max(new, other) if item == "students_enrolled" else min(new, other)
            assert "请核对" in review.text, f"expected the review, got: {review.text}"
            asked = last(await chat.press(f"✏️ {field_.label.get('zh')}"))
            review = await self._answer(chat, asked, field_, new, style)
            values[item] = new
        self.log.append(f"{self.clock.now():%Y-%m-%d %H:%M} {school.code} corrects {form.key} {key}: {_show(values)}")
        await self._submit(chat, review, school, form, key, entry, values)

    async def _withdraw(self, pick: int) -> bool:
        entry = self._open_entry(pick, "withdraw")
        if entry is None:
            return False
        chat = self.chat(self.model.school(entry.school))
        listing = last(await chat.send("/correct"))
        data = f"wd:{entry.report_id}"
        assert any(b.get("callback_data") == data for row in listing.buttons for b in row) or len(listing.buttons) >= 10, (
            f"/correct does not offer to withdraw {entry.form} {entry.period}: {listing.labels}"
        )
        await chat.press_data(data, self.sim.fake.last(chat.user_id))
        reply = last(await chat.press("确认撤回"))
        assert "已撤回" in reply.text, f"not withdrawn: {reply.text}"
        entry.withdrawn, entry.version = True, entry.version + 1
        entry.report_id = await self._newest_id(entry.school)
        self.log.append(f"{self.clock.now():%Y-%m-%d %H:%M} {entry.school} withdraws {entry.form} {entry.period}")
        return True


def _show(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items() if v is not None)
