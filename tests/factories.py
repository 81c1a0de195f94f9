"""Small builders for test data: schools, registered principals and staff."""

from __future__ import annotations

from collections.abc import Iterable

from bot.clock import FixedClock
from bot.services.registration import issue_invites
from bot.simulator import Simulator, UserChat
from storage.db import Database
from storage.models import School
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
        school, _ = await upsert_school(
            session, clock.now(), code=code, name=name, district=d, area=area, programmes=programmes
        )
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
