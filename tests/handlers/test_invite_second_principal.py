"""/invite for a school that already has a principal: issued, but the answer names that principal and what follows.

The office invites again when a new principal takes over, so the link is not
refused; but until the old principal is deactivated both report for the school,
and a second reporter who is not the head is the principal's deputy (/deputy).
"""

from __future__ import annotations

from sqlalchemy import select

from bot.core.clock import FixedClock
from bot.offline.simulator import Simulator
from storage.db import Database
from storage.models import Invite, School
from tests.factories import add_person
from tests.handlers.test_invite_names import seed


async def _invited(db: Database) -> list[str]:
    async with db.session() as session:
        rows = await session.scalars(select(School.code).join(Invite, Invite.school_id == School.id).order_by(School.code))
        return list(rows.all())


async def test_invite_for_a_school_with_a_principal_names_them(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await seed(db, clock)
    await add_person(db, clock, 7001, "王建国", school_code="HB001")
    await add_person(db, clock, 7002, "刘副", role="reporter", school_code="HB002")  # a deputy is not a principal
    await add_person(db, clock, 2001, "李老师", role="staff", district="濉溪县")
    staff = sim.user(2001, "李老师")
    replies = await staff.send("/invite 邹圩 HB002")
    (text,) = [r.text for r in replies]
    assert "HB001 双堆集镇邹圩小学: https://t.me/" in text and "HB002 五沟镇袁店中心校: https://t.me/" in text
    assert "双堆集镇邹圩小学（HB001）已有校长：王建国（ID 7001）" in text
    assert "两人都是该校校长" in text and "/deactivate 7001" in text and "/deputy" in text
    assert "HB002）已有校长" not in text and "刘副" not in text
    assert await _invited(db) == ["HB001", "HB002"]


async def test_invite_button_for_a_school_with_a_principal_warns_too(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await seed(db, clock)
    await add_person(db, clock, 7003, "赵校长", school_code="HB003", language="en")
    admin = sim.user(900, "Admin", language_code="en")
    await admin.send("/invite 实验小学")
    chosen = await admin.press("HB003")
    assert "already has a principal: 赵校长 (ID 7003)" in chosen[-1].text and "/deactivate 7003" in chosen[-1].text


async def test_invite_for_a_school_without_a_principal_has_no_warning(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await seed(db, clock)
    admin = sim.user(900, "陈主任")
    replies = await admin.send("/invite HB002")
    assert "已有校长" not in replies[0].text and "HB002 五沟镇袁店中心校: https://t.me/" in replies[0].text
