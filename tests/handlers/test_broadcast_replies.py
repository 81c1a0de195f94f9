"""Broadcasts people can act on (issue 15 point 5), through the real Application on the fake Bot API.

A principal replies to a notice with Telegram's reply; it reaches the author
(or the office inbox) with the school's name, the author answers back, and
everything is stored and audited. Bad input: a deactivated principal's reply,
a reply to something that is no broadcast, an answer outside one's district,
a forged "report now" button.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from bot.core.clock import FixedClock
from bot.delivery.sender import sender_of
from bot.offline.simulator import Reply, Simulator, UserChat, message_payload
from storage.db import Database
from storage.models import AuditEntry, Broadcast, BroadcastReply, Draft, Person
from tests.factories import add_person, add_school

ADMIN = 900  # in ADMIN_IDS of the test settings


async def world(db: Database, clock: FixedClock) -> None:
    """Two districts: 1001 principal of HB001 (濉溪县), 1002 of HB002 (相山区); staff 2001 (濉溪县), 2002 (相山区)."""
    await add_school(db, clock, code="HB001", name="邹圩小学", district="濉溪县")
    await add_school(db, clock, code="HB002", name="相山中学", district="相山区")
    await add_person(db, clock, 1001, "王校长", school_code="HB001")
    await add_person(db, clock, 1002, "赵校长", school_code="HB002")
    await add_person(db, clock, 2001, "张干事", role="staff", district="濉溪县")
    await add_person(db, clock, 2002, "刘干事", role="staff", district="相山区")


async def send_broadcast(sim: Simulator, staff: UserChat, text: str, *, segment: str = "全部校长") -> None:
    await staff.send("/broadcast")
    await staff.press(segment)
    await staff.send(text)
    await staff.press("确认发送")
    await sender_of(sim.app).run_until_idle()


def notice_of(sim: Simulator, chat_id: int, contains: str) -> dict[str, Any]:
    """The newest message the bot sent to ``chat_id`` containing ``contains``."""
    for message in reversed(sim.fake.sent(chat_id)):
        if contains in (message.get("text") or message.get("caption") or ""):
            return message
    raise AssertionError(f"nothing with {contains!r} sent to {chat_id}: {sim.fake.texts(chat_id)}")


async def reply_to(chat: UserChat, message: dict[str, Any], text: str) -> list[Reply]:
    """``chat`` answers ``message`` (one the bot sent them) with Telegram's reply."""
    content = {"text": text, "reply_to_message": message}
    return await chat.sim.feed({"message": message_payload(chat.user, content)}, chat.user_id)


async def rows(db: Database) -> list[BroadcastReply]:
    async with db.session() as session:
        return list((await session.scalars(select(BroadcastReply).order_by(BroadcastReply.id))).all())


async def audited(db: Database, action: str) -> list[AuditEntry]:
    async with db.session() as session:
        return list((await session.scalars(select(AuditEntry).where(AuditEntry.action == action))).all())


# --- the round trip ------------------------------------------------------------------


async def test_reply_reaches_the_author_with_the_school_and_the_answer_comes_back(
    sim: Simulator, db: Database, clock: FixedClock
) -> None:
    await world(db, clock)
    staff, principal = sim.user(2001, "张干事"), sim.user(1001, "王校长")
    await send_broadcast(sim, staff, "请于12月5日前报送11月牛奶数据。")
    copy = notice_of(sim, 1001, "请于12月5日前")
    assert copy["text"].startswith("【市教育局勤工俭学管理办公室】张干事：\n\n"), "the header names the office and the sender"

    replies = await reply_to(principal, copy, "我校11月停课两周，能否延期？")
    assert "已转给张干事（市教育局勤工俭学管理办公室）" in replies[-1].text
    forwarded = notice_of(sim, 2001, "我校11月停课两周")
    assert "邹圩小学（HB001）王校长 回复了群发 #" in forwarded["text"] and "请于12月5日前" in forwarded["text"]
    assert [b["text"] for row in forwarded["reply_markup"]["inline_keyboard"] for b in row] == ["答复"]
    assert not any("停课两周" in text for text in sim.fake.texts(2002)), "the other district's staff see nothing"

    replies = await reply_to(staff, forwarded, "可以，延到12月10日。")
    assert "答复已发给 邹圩小学" in replies[-1].text
    answer = notice_of(sim, 1001, "延到12月10日")
    assert answer["text"].startswith("【市教育局勤工俭学管理办公室】张干事 答复了你对群发 #")

    # The principal writes back to the answer: the thread goes on, to the same author.
    await reply_to(principal, answer, "收到，谢谢。")
    assert "收到，谢谢。" in notice_of(sim, 2001, "收到，谢谢")["text"]

    stored = await rows(db)
    assert [(r.kind, r.text) for r in stored] == [
        ("reply", "我校11月停课两周，能否延期？"),
        ("answer", "可以，延到12月10日。"),
        ("reply", "收到，谢谢。"),
    ]
    assert stored[1].parent_id == stored[0].id and all(r.delivered == 1 for r in stored)
    (broadcast,) = await _broadcasts(db)
    assert {r.broadcast_id for r in stored} == {broadcast.id}
    replies_audited, answers_audited = await audited(db, "broadcast.reply"), await audited(db, "broadcast.answer")
    assert len(replies_audited) == 2 and len(answers_audited) == 1
    assert replies_audited[0].subject == f"broadcast:{broadcast.id}" and replies_audited[0].detail is not None
    assert replies_audited[0].detail["school"] == "HB001" and replies_audited[0].detail["to"] == "author"
    assert answers_audited[0].actor == 2001


async def test_the_answer_button_opens_a_prompt_whose_reply_is_the_answer(
    sim: Simulator, db: Database, clock: FixedClock
) -> None:
    await world(db, clock)
    staff, principal = sim.user(2001, "张干事"), sim.user(1001, "王校长")
    await send_broadcast(sim, staff, "本周五前上报校服订购数。")
    await reply_to(principal, notice_of(sim, 1001, "校服订购数"), "我们还没收到表格。")
    replies = await staff.press("答复")
    prompt = replies[-1]
    assert "请回复本条消息，写下给 邹圩小学 的答复" in prompt.text
    assert prompt.raw["reply_markup"] is not None and "force_reply" in str(prompt.raw["reply_markup"])
    await reply_to(staff, sim.fake.messages[2001][prompt.message_id], "表格已重新发到你的邮箱。")
    assert "表格已重新发到你的邮箱。" in notice_of(sim, 1001, "邮箱")["text"]
    assert [r.kind for r in await rows(db)] == ["reply", "answer"]


async def test_reply_to_an_inactive_authors_broadcast_goes_to_the_office_inbox(
    sim: Simulator, db: Database, clock: FixedClock
) -> None:
    await world(db, clock)
    await sim.user(ADMIN, "李主任").send("/start")  # the admin from ADMIN_IDS is registered on first contact
    staff = sim.user(2001, "张干事")
    await send_broadcast(sim, staff, "请核对学生人数。")
    async with db.session() as session:
        await session.execute(update(Person).where(Person.telegram_id == 2001).values(active=False))
    replies = await reply_to(sim.user(1001, "王校长"), notice_of(sim, 1001, "请核对学生人数"), "人数已核对无误。")
    assert "已转给市教育局勤工俭学管理办公室的管理员" in replies[-1].text
    assert "邹圩小学（HB001）王校长" in notice_of(sim, ADMIN, "人数已核对无误")["text"]
    assert not any("人数已核对无误" in text for text in sim.fake.texts(2001))
    (entry,) = await audited(db, "broadcast.reply")
    assert entry.detail is not None and entry.detail["to"] == "inbox"


# --- bad input -----------------------------------------------------------------------


async def test_reply_from_someone_no_longer_a_principal_is_refused_and_not_forwarded(
    sim: Simulator, db: Database, clock: FixedClock
) -> None:
    await world(db, clock)
    staff = sim.user(2001, "张干事")
    await send_broadcast(sim, staff, "请于月底前完成自查。")
    copy = notice_of(sim, 1001, "完成自查")
    async with db.session() as session:
        await session.execute(update(Person).where(Person.telegram_id == 1001).values(active=False))
    before = len(sim.fake.texts(2001))
    replies = await reply_to(sim.user(1001, "王校长"), copy, "已完成自查。")
    assert "你的账号已不是学校的报送人，这条回复没有转给办公室" in replies[-1].text
    assert len(sim.fake.texts(2001)) == before and not any("已完成自查" in x for x in sim.fake.texts(ADMIN))
    assert await rows(db) == [] and await audited(db, "broadcast.reply") == []


async def test_reply_to_a_message_that_is_no_broadcast_is_not_forwarded(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await world(db, clock)
    staff, principal = sim.user(2001, "张干事"), sim.user(1001, "王校长")
    await send_broadcast(sim, staff, "下周一开会。")
    await principal.send("/help")
    help_message = sim.fake.last(1001)
    before = len(sim.fake.texts(2001))
    replies = await reply_to(principal, help_message, "这个怎么用？")
    assert replies and "回复了群发" not in replies[-1].text and "已转给" not in replies[-1].text
    # A reply to the principal's own message (not the bot's) is no broadcast either.
    own = message_payload(principal.user, {"text": "我自己的话"})
    await reply_to(principal, own, "补充一句")
    assert len(sim.fake.texts(2001)) == before and await rows(db) == []


async def test_an_answer_outside_ones_district_is_refused(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await world(db, clock)
    staff = sim.user(2001, "张干事")
    await send_broadcast(sim, staff, "请提交安全台账。")
    await reply_to(sim.user(1001, "王校长"), notice_of(sim, 1001, "安全台账"), "台账下周交。")
    (reply,) = await rows(db)
    forwarded = notice_of(sim, 2001, "台账下周交")

    # Staff of another district pressing the (forged) answer button: refused, nothing about the school.
    other = sim.user(2002, "刘干事")
    await other.send("/start")
    await other.press_data(f"bcr:{reply.id}")
    refusal = sim.fake.calls_to("answerCallbackQuery")[-1].params["text"]
    assert "不在你负责的区县内" in refusal and "邹圩" not in refusal

    # The author moved to the other district meanwhile: their answer by Telegram reply is refused too.
    async with db.session() as session:
        moved = await session.scalar(select(Person.district_id).where(Person.telegram_id == 2002))
        await session.execute(update(Person).where(Person.telegram_id == 2001).values(district_id=moved))
    replies = await reply_to(staff, forwarded, "好的。")
    assert "这条回复不在你负责的区县内" in replies[-1].text
    assert not any("好的。" in text for text in sim.fake.texts(1001))
    assert [r.kind for r in await rows(db)] == ["reply"] and await audited(db, "broadcast.answer") == []


# --- the "report now" button -----------------------------------------------------------


async def test_report_now_button_opens_that_report_for_the_recipient(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await world(db, clock)
    staff = sim.user(2001, "张干事")
    await staff.send("/broadcast")
    await staff.press("全部校长")
    await staff.send("请报送10月牛奶数据。")
    await staff.press("添加“立即填报”按钮")
    await staff.press("学生饮用奶")
    replies = await staff.press("2026年10月")
    preview, panel = replies[-2], replies[-1]
    assert preview.labels and "10月" in preview.labels[0], "the preview carries the button recipients get"
    assert "附带按钮" in panel.text and "更换“立即填报”按钮" in panel.labels
    await staff.press("确认发送")
    await sender_of(sim.app).run_until_idle()

    principal = sim.user(1001, "王校长")
    copy = notice_of(sim, 1001, "请报送10月牛奶数据")
    (button,) = [b for row in copy["reply_markup"]["inline_keyboard"] for b in row]
    assert button["callback_data"] == "go:milk:2026-10"
    replies = await principal.press_data(button["callback_data"], copy)
    assert any("2026年10月" in r.text for r in replies), [r.text for r in replies]
    async with db.session() as session:
        draft = await session.scalar(select(Draft))
    assert draft is not None and draft.form_key == "milk" and draft.period == "2026-10"
    (broadcast,) = await _broadcasts(db)
    assert (broadcast.report_form, broadcast.report_period) == ("milk", "2026-10")


async def test_forged_report_now_buttons_for_a_form_that_does_not_exist_are_refused(
    sim: Simulator, db: Database, clock: FixedClock
) -> None:
    await world(db, clock)
    staff = sim.user(2001, "张干事")
    await staff.send("/broadcast")
    await staff.press("全部校长")
    await staff.send("通知")
    await staff.press("添加“立即填报”按钮")
    (draft,) = await _broadcasts(db)
    # In the composer: a form the catalogue does not have.
    await staff.press_data(f"bc:{draft.id}:{draft.token}:rf:uniforms")
    assert "这个按钮已经失效了" in sim.fake.calls_to("answerCallbackQuery")[-1].params["text"]
    await staff.press_data(f"bc:{draft.id}:{draft.token}:rf:milk")
    await staff.press_data(f"bc:{draft.id}:{draft.token}:rp:1999-01")  # a period the menu never offered
    assert "这个按钮已经失效了" in sim.fake.calls_to("answerCallbackQuery")[-1].params["text"]
    (draft,) = await _broadcasts(db)
    assert draft.report_form is None and draft.report_period is None

    # At the principal's end: a "report now" press naming no form opens nothing.
    principal = sim.user(1001, "王校长")
    await principal.send("/start")
    await principal.press_data("go:uniforms:2026-10")
    assert "这个按钮已经失效了" in sim.fake.calls_to("answerCallbackQuery")[-1].params["text"]
    async with db.session() as session:
        assert await session.scalar(select(Draft)) is None


async def _broadcasts(db: Database) -> list[Broadcast]:
    async with db.session() as session:
        return list((await session.scalars(select(Broadcast).order_by(Broadcast.id))).all())
