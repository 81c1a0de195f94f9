"""Small builders for test data: schools, registered principals and staff."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from sqlalchemy import select

from bot.core.clock import FixedClock
from bot.office.registration import issue_invites
from bot.offline.simulator import Simulator, UserChat
from storage.db import Database
from storage.models import Person, Report, School
from storage.schools import ensure_district, upsert_school


async def add_school(
    db: Database,
    clock: FixedClock,
    code: str = "HB001",
    name: str = "邹圩小学",
    district: str = "濉溪县",
    area: str = "rural",
    programmes: Iterable[str] = ("milk", "insurance", "farm"),
) -> School:
    async with db.session() as session:
        d = await ensure_district(session, district)
        school, _ = await upsert_school(session, clock.now(), code=code, name=name, district=d, area=area, programmes=programmes)
        return school


async def invite_code(db: Database, clock: FixedClock, school_code: str | None = None) -> str:
    async with db.session() as session:
        if school_code is None:
            (invite,) = await issue_invites(session, clock.now(), staff=True)
        else:
            (invite,) = await issue_invites(session, clock.now(), school_codes=[school_code])
        return invite.code


async def register_principal(
    sim: Simulator, db: Database, clock: FixedClock, user_id: int = 1001, school_code: str = "HB001", lang: str = "zh"
) -> UserChat:
    code = await invite_code(db, clock, school_code)
    chat = sim.user(user_id, "王校长" if lang == "zh" else "Principal Wang", language_code=lang)
    await chat.send(f"/start {code}")
    return chat


async def register_staff(sim: Simulator, db: Database, clock: FixedClock, user_id: int = 2001) -> UserChat:
    code = await invite_code(db, clock)
    chat = sim.user(user_id, "李老师")
    await chat.send(f"/start {code}")
    return chat


async def saved_reports(db: Database, form_key: str | None = None) -> list[Report]:
    """Every saved report version (values loaded), oldest first, optionally of one form."""
    async with db.session() as session:
        query = select(Report).order_by(Report.id)
        if form_key is not None:
            query = query.where(Report.form_key == form_key)
        return list((await session.scalars(query)).all())


def values_of(report: Report) -> dict[str, Decimal | str | None]:
    """A report's answers by field key: the number if numeric, else the text."""
    return {v.field_key: v.num_value if v.num_value is not None else v.text_value for v in report.values}


async def add_person(
    db: Database,
    clock: FixedClock,
    telegram_id: int,
    name: str,
    *,
    role: str = "principal",
    school_code: str | None = None,
    district: str | None = None,
    blocked: bool = False,
    language: str | None = None,
) -> Person:
    """A registered person written directly (no invite round trip): principal of a school, or staff."""
    async with db.session() as session:
        school_id = district_id = None
        if school_code is not None:
            school = await session.scalar(select(School).where(School.code == school_code))
            assert school is not None, f"no school {school_code}"
            school_id = school.id
        if district is not None:
            district_id = (await ensure_district(session, district)).id
        person = Person(
            telegram_id=telegram_id,
            name=name,
            role=role,
            school_id=school_id,
            district_id=district_id,
            blocked=blocked,
            language=language,
            created_at=clock.now(),
        )
        session.add(person)
        await session.flush()
        return person
