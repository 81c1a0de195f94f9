"""Staff digests: the daily escalation list and the weekly completeness table."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.core.clock import FixedClock
from bot.offline.fakeapi import FakeTelegram
from storage.db import Database
from storage.models import Person
from storage.digests import digest_rows
from tests.factories import add_person, add_school
from tests.service.test_scheduler_tick import App, app, at, file_report, milk_school, tick  # noqa: F401  (fixture)


async def two_districts(db: Database, clock: FixedClock) -> None:
    """濉溪县: HB001 (two reporters, one blocked), HB002 (every reporter blocked), HB003 (nobody registered),
    HB004 (reported); 相山区: HB101 (one reporter). All milk schools, October and November open."""
    await milk_school(db, clock, "HB001", {1001: "王校长", 1011: "陈老师"}, filed=("2026-09",), blocked=frozenset({1011}))
    await milk_school(db, clock, "HB002", {1002: "李校长"}, filed=("2026-09",), blocked=frozenset({1002}))
    await milk_school(db, clock, "HB003", {}, filed=("2026-09",))
    hb4 = await milk_school(db, clock, "HB004", {1004: "赵校长"}, filed=("2026-09",))
    await file_report(db, hb4, "milk", "2026-10", clock.now())
    await milk_school(db, clock, "HB101", {1101: "钱校长"}, filed=("2026-09",), district="相山区")
    await add_person(db, clock, 2001, "张老师", role="staff")
    await add_person(db, clock, 2002, "刘老师", role="staff", district="相山区")


async def test_escalation_digest_groups_overdue_schools_by_district_with_reporters(
    app: App, db: Database, clock: FixedClock, fake: FakeTelegram
) -> None:
    await two_districts(db, clock)
    clock.set(at(11, 13, 9, 5))  # October's milk was due 5 Nov: 8 days overdue
    report = await tick(app)
    assert report.digests_sent == 2
    (text,) = fake.texts(2001)
    assert text.startswith("📋 逾期未报汇总（2026年11月13日）")
    # Districts in order, each with its schools; the reported school is not listed.
    assert text.index("【濉溪县】3 所学校") < text.index("【相山区】1 所学校")
    assert "HB004" not in text
    assert "• HB001小学（HB001）" in text and "学生奶 2026年10月：截止 2026年11月5日，已逾期 8 天" in text
    assert "填报人：王校长、陈老师" in text and "陈老师 已屏蔽机器人" in text
    assert "⚠️ 无法联系：填报人（李校长）均已屏蔽机器人" in text
    assert "⚠️ 无法联系：该校还没有注册的填报人" in text
    assert "共 4 所学校，其中 2 所无法通过机器人联系" in text


async def test_district_staff_see_only_their_district(app: App, db: Database, clock: FixedClock, fake: FakeTelegram) -> None:
    await two_districts(db, clock)
    clock.set(at(11, 13, 9, 5))
    await tick(app)
    (text,) = fake.texts(2002)
    assert "HB101小学" in text and "濉溪县" not in text and "HB001" not in text


async def test_escalation_digest_is_sent_once_a_day(app: App, db: Database, clock: FixedClock, fake: FakeTelegram) -> None:
    await two_districts(db, clock)
    clock.set(at(11, 13, 9, 5))
    for _ in range(6):
        await tick(app)
        clock.advance(timedelta(hours=2))
    assert len(fake.texts(2001)) == 1
    clock.set(at(11, 14, 9, 5))
    await tick(app)
    assert len(fake.texts(2001)) == 2
    async with db.session() as session:
        rows = await digest_rows(session, kind="escalation")
    assert sorted((r.day.isoformat(), r.status) for r in rows if r.status == "sent") == [
        ("2026-11-13", "sent"),
        ("2026-11-13", "sent"),
        ("2026-11-14", "sent"),
        ("2026-11-14", "sent"),
    ]


async def test_no_escalation_before_the_configured_days(app: App, db: Database, clock: FixedClock, fake: FakeTelegram) -> None:
    await two_districts(db, clock)
    clock.set(at(11, 11, 9, 5))  # 6 days overdue: not yet escalated
    await tick(app)
    assert [text for text in fake.texts(2001) if text.startswith("📋")] == []
    async with db.session() as session:
        rows = await digest_rows(session, kind="escalation")
    assert {r.status for r in rows} == {"skipped"}  # "nothing to report" is recorded, not recomputed


async def test_weekly_digest_shows_completeness_per_form_and_district(
    app: App, db: Database, clock: FixedClock, fake: FakeTelegram
) -> None:
    await two_districts(db, clock)
    clock.set(at(11, 16, 9, 5))  # Monday
    await tick(app)
    weekly = [text for text in fake.texts(2001) if text.startswith("📊")]
    assert len(weekly) == 1
    text = weekly[0]
    assert "学生奶 · 2026年10月（截止 2026年11月5日）" in text
    assert "濉溪县：已报 1/4 所（25%）" in text and "相山区：已报 0/1 所（0%）" in text
    assert "合计：已报 1/5 所（20%）" in text
    assert "2026年9月" in text and "濉溪县：已报 4/4 所（100%）" in text  # September, still open, all filed
    (district_weekly,) = [text for text in fake.texts(2002) if text.startswith("📊")]
    assert "相山区：已报 0/1 所（0%）" in district_weekly and "濉溪县" not in district_weekly


async def test_weekly_digest_in_english_for_english_staff(app: App, db: Database, clock: FixedClock, fake: FakeTelegram) -> None:
    await milk_school(db, clock, "HB001", {1001: "王校长"}, filed=("2026-09",))
    await add_person(db, clock, 2003, "Ms Li", role="staff", language="en")
    clock.set(at(11, 16, 9, 5))
    await tick(app)
    texts = fake.texts(2003)
    assert any(t.startswith("📊 Weekly reporting progress") and "0/1 schools filed (0%)" in t for t in texts)
    assert any(t.startswith("📋 Overdue reports") and "11 day(s) overdue" in t for t in texts)


async def test_blocked_staff_member_gets_no_digest_and_is_marked(
    app: App, db: Database, clock: FixedClock, fake: FakeTelegram
) -> None:
    await two_districts(db, clock)
    fake.blocked.add(2001)
    clock.set(at(11, 13, 9, 5))
    report = await tick(app)
    assert report.digests_sent == 1  # 2002 still gets theirs
    clock.set(at(11, 14, 9, 5))
    await tick(app)
    attempts = [call for call in fake.calls_to("sendMessage") if call.chat_id == 2001]
    assert len(attempts) == 1 and fake.texts(2001) == []  # one failed attempt, never retried
    async with db.session() as session:
        rows = await digest_rows(session, kind="escalation", status="blocked")
        staff = await session.scalar(select(Person).where(Person.telegram_id == 2001))
    assert len(rows) == 1 and staff is not None and staff.blocked


async def test_digest_long_enough_to_split_arrives_in_parts(
    app: App, db: Database, clock: FixedClock, fake: FakeTelegram
) -> None:
    for n in range(70):
        await add_school(db, clock, code=f"HB{n:03d}", name=f"第{n}号乡村中心小学附属幼儿园", programmes=("milk",))
    await add_person(db, clock, 2001, "张老师", role="staff")
    clock.set(at(11, 13, 9, 5))
    report = await tick(app)
    assert report.digests_sent == 1
    texts = fake.texts(2001)
    assert len(texts) > 1 and all(len(text) <= 4096 for text in texts)
    assert sum(text.count("• 第") for text in texts) == 70


async def test_failing_digest_is_retried_then_given_up(app: App, db: Database, clock: FixedClock, fake: FakeTelegram) -> None:
    from scheduler.tick import MAX_ATTEMPTS

    await two_districts(db, clock)
    fake.fail("sendMessage", "server_error", times=1000, chat_id=2001)
    clock.set(at(11, 13, 9, 5))
    for _ in range(MAX_ATTEMPTS + 3):
        await tick(app)
        clock.advance(timedelta(minutes=5))
    attempts = [call for call in fake.calls_to("sendMessage") if call.chat_id == 2001]
    assert len(attempts) == MAX_ATTEMPTS  # a Friday: only the escalation digest is due
    async with db.session() as session:
        staff_id = await session.scalar(select(Person.id).where(Person.telegram_id == 2001))
        rows = await digest_rows(session, recipient_id=staff_id)
    assert [(r.kind, r.status, r.attempts) for r in rows] == [("escalation", "failed", MAX_ATTEMPTS)]
