"""Buttons that no longer fit, people who may not report, closed periods and expired drafts."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from bot.core.clock import FixedClock
from bot.offline.simulator import Reply, Simulator, UserChat
from storage.db import Database
from storage.models import Draft
from tests.conftest import SHANGHAI
from tests.factories import add_school, register_principal, register_staff, saved_reports

STALE = "这个按钮已经失效了"


def last(replies: list[Reply]) -> Reply:
    return [reply for reply in replies if reply.text][-1]


def alerts(sim: Simulator, since: int) -> list[str]:
    """Pop-up texts of callback answers since call number ``since``."""
    return [
        str(call.params.get("text"))
        for call in sim.fake.calls[since:]
        if call.method == "answerCallbackQuery" and call.params.get("show_alert")
    ]


def data_of(reply: Reply, label: str) -> str:
    for row in reply.buttons:
        for button in row:
            if label in button["text"]:
                return str(button["callback_data"])
    raise AssertionError(f"no button {label!r} in {reply.labels}")


async def the_draft(db: Database) -> Draft | None:
    async with db.session() as session:
        return await session.scalar(select(Draft))


async def principal(sim: Simulator, db: Database, clock: FixedClock, **school: object) -> UserChat:
    await add_school(db, clock, **school)  # type: ignore[arg-type]
    return await register_principal(sim, db, clock)


async def milk_at_review(chat: UserChat) -> Reply:
    await chat.send("/milk")
    await chat.press("★")
    await chat.send("856")
    await chat.send("21")
    await chat.press("伊利")
    return last(await chat.press("填 0"))


async def test_button_from_an_old_message_after_the_draft_moved_on_changes_nothing(
    sim: Simulator, db: Database, clock: FixedClock
) -> None:
    chat = await principal(sim, db, clock)
    periods = last(await chat.send("/milk"))
    october = data_of(periods, "2026年10月")
    await chat.press("★")  # November chosen
    await chat.send("856")
    before = await the_draft(db)
    mark = len(sim.fake.calls)
    replies = await chat.press_data(october)
    assert alerts(sim, mark) and STALE in alerts(sim, mark)[0]
    assert [r for r in replies if r.text] == [], "a stale press sends nothing"
    after = await the_draft(db)
    assert before is not None and after is not None
    assert (after.period, after.step, after.answers) == ("2026-10", "days_served", {"daily_drinkers": "856"})


async def test_review_button_after_an_edit_started_is_stale(sim: Simulator, db: Database, clock: FixedClock) -> None:
    chat = await principal(sim, db, clock)
    review = await milk_at_review(chat)
    submit = data_of(review, "提交")
    await chat.press("✏️ 日参饮人数")
    mark = len(sim.fake.calls)
    await chat.press_data(submit)
    assert STALE in alerts(sim, mark)[0]
    assert await saved_reports(db) == []


async def test_submit_after_cancel_saves_nothing(sim: Simulator, db: Database, clock: FixedClock) -> None:
    chat = await principal(sim, db, clock)
    review = await milk_at_review(chat)
    await chat.send("/cancel")
    mark = len(sim.fake.calls)
    await chat.press_data(data_of(review, "提交"), None)
    assert STALE in alerts(sim, mark)[0]
    assert await saved_reports(db) == [] and await the_draft(db) is None


async def test_submit_pressed_twice_saves_once(sim: Simulator, db: Database, clock: FixedClock) -> None:
    chat = await principal(sim, db, clock)
    review = await milk_at_review(chat)
    submit = data_of(review, "提交")
    await chat.press_data(submit)
    mark = len(sim.fake.calls)
    await chat.press_data(submit)
    assert STALE in alerts(sim, mark)[0]
    assert len(await saved_reports(db)) == 1


async def test_forged_buttons_are_refused(sim: Simulator, db: Database, clock: FixedClock) -> None:
    chat = await principal(sim, db, clock)
    await milk_at_review(chat)
    before = await the_draft(db)
    assert before is not None
    for forged in (
        "r:AAAAAAAA:ok",  # someone else's / made-up token
        f"r:{before.token}:e:99",  # no such field
        f"r:{before.token}:v:0:0",  # a choice answer while on the review
        f"r:{before.token}:zz",  # no such action
        f"r:{before.token}:n:nonsense",  # discard into nothing
        "go:nosuchform:2026-11",
        "go:milk:2026-13",
        "fix:notanumber",
    ):
        mark = len(sim.fake.calls)
        await chat.press_data(forged)
        assert alerts(sim, mark) and STALE in alerts(sim, mark)[0], forged
    after = await the_draft(db)
    assert after is not None and (after.token, after.step, after.answers) == (before.token, before.step, before.answers)
    assert await saved_reports(db) == []


async def test_correcting_another_schools_report_is_refused(sim: Simulator, db: Database, clock: FixedClock) -> None:
    chat = await principal(sim, db, clock)
    await add_school(db, clock, code="HB002", name="百善中学")
    other = await register_principal(sim, db, clock, user_id=1002, school_code="HB002")
    await milk_at_review(other)
    await other.press("提交")
    (report,) = await saved_reports(db)
    replies = await chat.press_data(f"fix:{report.id}")
    assert "不在本校的记录中" in last(replies).text
    assert "856" not in " ".join(r.text for r in replies), "nothing of the other school's report is shown"
    assert await the_draft(db) is None


async def test_unregistered_user_cannot_report(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await add_school(db, clock)
    stranger = sim.user(5555, "路人")
    for command in ("/report", "/milk", "/status", "/history", "/correct"):
        replies = await stranger.send(command)
        assert "还没有注册" in last(replies).text and "5555" in last(replies).text, command
    mark = len(sim.fake.calls)
    await stranger.press_data("go:milk:2026-11")
    assert "还没有注册" in alerts(sim, mark)[0]
    replies = await stranger.send("/cancel")
    assert "没有正在填写的填报" in last(replies).text
    assert await the_draft(db) is None


async def test_staff_cannot_report(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await add_school(db, clock)
    staff = await register_staff(sim, db, clock)
    # (/status answers staff with the office's view: tests/handlers/test_status.py.)
    for command in ("/report", "/harvest", "/history"):
        replies = await staff.send(command)
        assert "/report_for 学校代码" in last(replies).text, command
    mark = len(sim.fake.calls)
    await staff.press_data("go:milk:2026-11")
    assert "/report_for 学校代码 milk 2026-11" in alerts(sim, mark)[0]
    replies = await staff.send("856")
    assert "我没有在等待你的输入" in last(replies).text
    assert await the_draft(db) is None


async def test_form_outside_the_schools_programmes_is_not_offered(sim: Simulator, db: Database, clock: FixedClock) -> None:
    chat = await principal(sim, db, clock, programmes=("insurance",))
    replies = await chat.send("/report")
    assert last(replies).labels == ["校方责任险学期报表", "✖️ 取消"]
    replies = await chat.send("/milk")
    assert "本校不需要填报「学生饮用奶月报」" in last(replies).text
    replies = await chat.press_data("go:milk:2026-11")
    assert "本校不需要填报" in last(replies).text
    draft = await the_draft(db)
    assert draft is not None and draft.step == "form" and draft.form_key == "", "no milk draft was opened"


async def test_period_outside_the_lock_window_is_refused(sim: Simulator, db: Database, clock: FixedClock) -> None:
    chat = await principal(sim, db, clock)
    # August milk was due 5 Sep and locked 60 days later (4 Nov); today is 26 Nov.
    replies = await chat.press_data("go:milk:2026-08")
    assert "已过填报期限" in last(replies).text and "联系勤工俭学办公室" in last(replies).text
    assert await the_draft(db) is None
    periods = last(await chat.send("/milk"))
    assert not any("2026年8月" in lab for lab in periods.labels)
    draft = await the_draft(db)
    assert draft is not None
    replies = await chat.press_data(f"r:{draft.token}:p:2026-08")
    assert "已过填报期限" in last(replies).text
    after = await the_draft(db)
    assert after is not None and after.step == "period" and after.period is None


async def test_period_that_locks_while_the_draft_is_open_is_refused_at_submit_keeping_the_figures(
    sim: Simulator, db: Database, clock: FixedClock
) -> None:
    chat = await principal(sim, db, clock)
    clock.set(datetime(2026, 12, 3, 9, 0, tzinfo=SHANGHAI))
    await chat.send("/milk")
    await chat.press("2026年9月")  # due 5 Oct, locks after 4 Dec
    await chat.send("856")
    await chat.send("21")
    await chat.press("伊利")
    await chat.press("填 0")
    clock.set(datetime(2026, 12, 5, 9, 0, tzinfo=SHANGHAI))
    replies = await chat.press("提交")
    text = last(replies).text
    assert "已过填报期限" in text and "856" in text and "伊利" in text
    assert await saved_reports(db) == [] and await the_draft(db) is None


async def test_expired_draft_is_discarded_and_the_principal_told(sim: Simulator, db: Database, clock: FixedClock) -> None:
    chat = await principal(sim, db, clock)
    periods = last(await chat.send("/milk"))
    await chat.press("★")
    await chat.send("856")
    clock.advance(timedelta(days=8))
    replies = await chat.send("21")
    texts = [r.text for r in replies if r.text]
    assert "超过 7 天没有完成" in texts[0] and "学生饮用奶月报（2026年10月）" in texts[0]
    assert "日参饮人数：856 人" in texts[0], "what was typed is shown, not silently lost"
    assert "我没有在等待你的输入" in texts[-1], "then the message is handled as if no draft existed"
    assert await the_draft(db) is None

    # A button of the expired draft is out of date.
    await chat.send("/milk")
    mark = len(sim.fake.calls)
    await chat.press_data(data_of(periods, "2026年10月"))
    assert STALE in alerts(sim, mark)[0]


async def test_button_of_an_expired_draft_tells_about_the_expiry(sim: Simulator, db: Database, clock: FixedClock) -> None:
    chat = await principal(sim, db, clock)
    review = await milk_at_review(chat)
    clock.advance(timedelta(days=7, minutes=1))
    mark = len(sim.fake.calls)
    replies = await chat.press_data(data_of(review, "提交"))
    assert "超过 7 天没有完成" in last(replies).text
    assert STALE in alerts(sim, mark)[0]
    assert await saved_reports(db) == []


async def test_report_after_expiry_starts_afresh(sim: Simulator, db: Database, clock: FixedClock) -> None:
    chat = await principal(sim, db, clock)
    await chat.send("/milk")
    await chat.press("★")
    await chat.send("856")
    clock.advance(timedelta(days=10))
    replies = await chat.send("/report")
    texts = [r.text for r in replies if r.text]
    assert "已自动作废" in texts[0] and "请选择要填报的报表" in texts[-1]
