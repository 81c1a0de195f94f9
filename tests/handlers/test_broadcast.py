"""/broadcast from the staff side: audience, count, message, preview, confirm or cancel; /broadcasts and stop."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import timedelta

from sqlalchemy import select

from bot.app import build_application
from bot.core.catalogue import load_catalogue
from bot.core.clock import FixedClock
from bot.offline.fakeapi import FakeRequest, FakeTelegram
from bot.delivery.sender import sender_of
from bot.settings import Settings
from bot.offline.simulator import Reply, Simulator, UserChat
from storage.db import Database
from storage.models import Broadcast, Draft, OutboxRow, Person, Report, Role
from tests.factories import add_school, register_principal

ADMIN = 900  # in ADMIN_IDS of the test settings: office staff with every right


# --- test data ---------------------------------------------------------------------


async def principals(
    db: Database,
    clock: FixedClock,
    code: str,
    telegram_ids: Iterable[int],
    *,
    district: str = "濉溪县",
    area: str = "rural",
    programmes: Iterable[str] = ("milk", "insurance", "farm"),
    blocked: bool = False,
) -> int:
    """A school and its registered principals (written directly: the invite flow has its own tests)."""
    school = await add_school(db, clock, code=code, name=f"{code}学校", district=district, area=area, programmes=programmes)
    async with db.session() as session:
        for telegram_id in telegram_ids:
            session.add(
                Person(
                    telegram_id=telegram_id,
                    name=f"校长{telegram_id}",
                    role=Role.PRINCIPAL.value,
                    school_id=school.id,
                    language="zh",
                    blocked=blocked,
                    active=True,
                    created_at=clock.now(),
                )
            )
    return school.id


async def staff_person(db: Database, clock: FixedClock, telegram_id: int, name: str = "张干事") -> None:
    async with db.session() as session:
        session.add(
            Person(
                telegram_id=telegram_id,
                name=name,
                role=Role.STAFF.value,
                language="zh",
                blocked=False,
                active=True,
                created_at=clock.now(),
            )
        )


async def three_schools(db: Database, clock: FixedClock) -> None:
    """Two districts; 1001/1002 at a rural milk school, 1003 at an urban school without milk."""
    await principals(db, clock, "HB001", [1001, 1002], district="濉溪县", area="rural")
    await principals(db, clock, "HB002", [1003], district="相山区", area="urban", programmes=("insurance",))
    await principals(db, clock, "HB003", [1004], district="杜集区", area="rural", programmes=("farm",))


def notice(text: str, sender: str = "用户") -> str:
    """A broadcast as recipients get it: the header naming the office and the sender, then the text."""
    return f"【市教育局勤工俭学管理办公室】{sender}：\n\n{text}"


def received(fake: FakeTelegram, chat_id: int) -> list[str]:
    """What ``chat_id`` got, each broadcast's header taken off (the header has its own assertions)."""
    return [re.sub(r"^【市教育局勤工俭学管理办公室】[^\n]*：\n\n", "", text) for text in fake.texts(chat_id)]


def last_text(replies: list[Reply]) -> str:
    return [r.text for r in replies if r.text][-1]


async def compose(chat: UserChat, segment: str, text: str) -> list[Reply]:
    """/broadcast → segment → message; returns the replies to the message (preview + confirm panel)."""
    await chat.send("/broadcast")
    await chat.press(segment)
    return await chat.send(text)


async def rows_of(db: Database) -> list[OutboxRow]:
    async with db.session() as session:
        return list((await session.scalars(select(OutboxRow).order_by(OutboxRow.id))).all())


async def broadcasts(db: Database) -> list[Broadcast]:
    async with db.session() as session:
        return list((await session.scalars(select(Broadcast).order_by(Broadcast.id))).all())


# --- the conversation -----------------------------------------------------------------


async def test_whole_conversation_sends_nothing_before_confirmation(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await three_schools(db, clock)
    staff = sim.user(ADMIN, "李主任")
    replies = await staff.send("/broadcast")
    assert "请选择发送对象" in replies[-1].text and "全部校长" in replies[-1].labels
    replies = await staff.press("全部校长")
    assert "收件人：4 人（3 所学校）" in replies[-1].text
    assert "请发送通知内容" in replies[-1].text
    replies = await staff.send("各位校长：请于12月5日前报送11月牛奶数据。")
    preview, panel = replies[-2], replies[-1]
    assert preview.text == notice("各位校长：请于12月5日前报送11月牛奶数据。", "李主任") and not preview.buttons
    assert "以上是预览" in panel.text and "将发送给 4 人（3 所学校），共 4 条消息" in panel.text
    assert panel.labels == ["确认发送", "添加“立即填报”按钮", "修改内容", "取消"]
    # Nothing reached a principal yet, and nothing is queued, even if a sender runs.
    await sender_of(sim.app).run_until_idle()
    assert all(received(sim.fake, c) == [] for c in (1001, 1002, 1003, 1004))
    assert await rows_of(db) == []

    replies = await staff.press("确认发送")
    progress = replies[-1]
    assert progress.edited and "群发 #" in progress.text and "0 / 4" in progress.text and "停止发送" in progress.labels
    await sender_of(sim.app).run_until_idle()
    for chat in (1001, 1002, 1003, 1004):
        # The header names the office and the sender, exactly as the preview showed it.
        assert sim.fake.texts(chat) == [notice("各位校长：请于12月5日前报送11月牛奶数据。", "李主任")]
    report = sim.fake.last(ADMIN)["text"]
    assert "已完成：送达 4 / 4，失败 0，已屏蔽 0" in report and "所有对象都已收到" in report
    edited = sim.fake.messages[ADMIN][progress.message_id]
    assert "已完成" in edited["text"] and "reply_markup" not in edited, "the stop button goes when it is done"
    (broadcast,) = await broadcasts(db)
    assert broadcast.status == "done" and broadcast.total == 4


async def test_cancel_while_composing_sends_nothing_and_drops_the_draft(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await three_schools(db, clock)
    staff = sim.user(ADMIN)
    await compose(staff, "全部校长", "通知")
    replies = await staff.press("取消")
    assert "已取消，没有发送任何消息" in replies[-1].text and not replies[-1].buttons
    await sender_of(sim.app).run_until_idle()
    assert all(received(sim.fake, c) == [] for c in (1001, 1002, 1003, 1004))
    assert await broadcasts(db) == []
    # With no draft, text from staff is not taken as a notice.
    replies = await staff.send("再来一条")
    assert "我没有在等待你的输入" in replies[-1].text


async def test_a_draft_left_for_a_day_no_longer_takes_messages(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await three_schools(db, clock)
    staff = sim.user(ADMIN)
    await staff.send("/broadcast")
    await staff.press("全部校长")
    clock.advance(timedelta(hours=25))
    replies = await staff.send("随便说一句")
    assert "我没有在等待你的输入" in replies[-1].text
    (draft,) = await broadcasts(db)
    assert draft.status == "draft" and draft.text is None


async def test_change_message_after_preview_replaces_it(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await three_schools(db, clock)
    staff = sim.user(ADMIN)
    await compose(staff, "全部校长", "第一稿")
    replies = await staff.press("修改内容")
    assert "请发送通知内容" in replies[-1].text
    await staff.send("第二稿")
    await staff.press("确认发送")
    await sender_of(sim.app).run_until_idle()
    assert received(sim.fake, 1001) == ["第二稿"]


async def test_non_staff_cannot_broadcast(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await add_school(db, clock)
    principal = await register_principal(sim, db, clock, 1001)
    for chat in (principal, sim.user(4242, "路人")):
        replies = await chat.send("/broadcast")
        assert "你没有使用这个命令的权限" in replies[-1].text
        replies = await chat.send("/broadcasts")
        assert "你没有使用这个命令的权限" in replies[-1].text
    assert await broadcasts(db) == []


async def test_forged_broadcast_buttons_are_refused(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await three_schools(db, clock)
    staff = sim.user(ADMIN)
    await compose(staff, "全部校长", "通知")
    (draft,) = await broadcasts(db)
    principal = sim.user(1001)
    await principal.send("/start")
    # A principal replaying the staff member's real button data: refused by role, nothing queued.
    await principal.press_data(f"bc:{draft.id}:{draft.token}:ok")
    await principal.press_data(f"bcx:{draft.id}")
    answers = [c.params.get("text", "") for c in sim.fake.calls_to("answerCallbackQuery")]
    assert answers[-2:] == ["你没有使用这个命令的权限。发送 /help 查看可用的命令。"] * 2
    # Staff with a wrong token or an unknown id: stale, nothing queued.
    await staff.press_data(f"bc:{draft.id}:AAAAAAAA:ok")
    await staff.press_data(f"bc:{draft.id + 99}:{draft.token}:ok")
    await staff.press_data("bc:garbage")
    answers = [c.params.get("text", "") for c in sim.fake.calls_to("answerCallbackQuery")]
    assert all("这个按钮已经失效了" in a for a in answers[-3:])
    # Another staff member cannot confirm someone else's draft.
    await staff_person(db, clock, 2002)
    await sim.user(2002).send("/start")
    await sim.user(2002).press_data(f"bc:{draft.id}:{draft.token}:ok")
    assert "这个按钮已经失效了" in sim.fake.calls_to("answerCallbackQuery")[-1].params["text"]
    (draft,) = await broadcasts(db)
    assert draft.status == "draft" and await rows_of(db) == []


async def test_pressing_a_button_of_the_screen_already_shown_is_harmless(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await three_schools(db, clock)
    staff = sim.user(ADMIN)
    await staff.send("/broadcast")
    await staff.press("按区县")
    replies = await staff.press("重新选择对象")
    menu = replies[-1]
    back = next(b["callback_data"] for b in sim.fake.buttons(ADMIN, menu.message_id) if b["text"] == "取消")
    back = back.rsplit(":", 1)[0] + ":back"
    replies = await staff.press_data(back, sim.fake.messages[ADMIN][menu.message_id])
    assert not any("临时故障" in r.text for r in replies)
    assert "请选择发送对象" in sim.fake.messages[ADMIN][menu.message_id]["text"]


async def test_a_button_on_a_message_that_cannot_be_edited_answers_with_a_new_message(
    sim: Simulator, db: Database, clock: FixedClock
) -> None:
    await three_schools(db, clock)
    staff = sim.user(ADMIN)
    replies = await staff.send("/broadcast")
    menu = sim.fake.messages[ADMIN][replies[-1].message_id]
    data = next(b["callback_data"] for b in sim.fake.buttons(ADMIN) if b["text"] == "全部校长")
    del sim.fake.messages[ADMIN][menu["message_id"]]  # the staff member deleted it
    replies = await staff.press_data(data, menu)
    assert not any("临时故障" in r.text for r in replies)
    assert "收件人：4 人（3 所学校）" in sim.fake.last(ADMIN)["text"]


async def test_confirming_twice_queues_once(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await three_schools(db, clock)
    staff = sim.user(ADMIN)
    replies = await compose(staff, "全部校长", "通知")
    panel = replies[-1]
    await staff.press("确认发送", message_id=panel.message_id)
    (draft,) = await broadcasts(db)
    await staff.press_data(f"bc:{draft.id}:{draft.token}:ok")
    assert "已经在发送了，不会重复发送" in sim.fake.calls_to("answerCallbackQuery")[-1].params["text"]
    assert len(await rows_of(db)) == 4


async def test_empty_audience_is_explained_and_the_menu_shown_again(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await principals(db, clock, "HB001", [1001], area="rural")
    await add_school(db, clock, code="HB009", name="无人小学", district="相山区", area="urban")
    staff = sim.user(ADMIN)
    await staff.send("/broadcast")
    await staff.press("城区 / 农村")
    replies = await staff.press("城区学校")
    assert "「城区学校」中没有可以接收通知的人" in replies[-1].text
    assert "全部校长" in replies[-1].labels, "the audience menu is offered again"
    # Text sent now is not mistaken for the notice.
    replies = await staff.send("通知")
    assert "请先用上面的按钮选择发送对象" in replies[-1].text
    replies = await staff.press("全部校长")
    assert "收件人：1 人（1 所学校）" in replies[-1].text
    assert "另有 1 所学校还没有注册的校长" in replies[-1].text


async def test_districts_are_multi_select(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await three_schools(db, clock)
    staff = sim.user(ADMIN)
    await staff.send("/broadcast")
    replies = await staff.press("按区县")
    assert "完成（已选 0 个）" in replies[-1].labels
    replies = await staff.press("完成")
    assert "请至少选择一个区县" in sim.fake.calls_to("answerCallbackQuery")[-1].params["text"]
    await staff.press("濉溪县")
    replies = await staff.press("杜集区")
    assert "✓ 濉溪县" in replies[-1].labels and "✓ 杜集区" in replies[-1].labels
    replies = await staff.press("✓ 杜集区")  # pressed again: unselected
    assert "杜集区" in replies[-1].labels and "完成（已选 1 个）" in replies[-1].labels
    await staff.press("杜集区")
    replies = await staff.press("完成")
    assert "区县：杜集区、濉溪县" in replies[-1].text or "区县：濉溪县、杜集区" in replies[-1].text
    assert "收件人：3 人（2 所学校）" in replies[-1].text
    await staff.send("区县通知")
    await staff.press("确认发送")
    await sender_of(sim.app).run_until_idle()
    assert [received(sim.fake, c) for c in (1001, 1002, 1003, 1004)] == [["区县通知"], ["区县通知"], [], ["区县通知"]]


async def test_programme_area_and_staff_segments(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await three_schools(db, clock)
    await staff_person(db, clock, 2002)
    staff = sim.user(ADMIN)

    await staff.send("/broadcast")
    await staff.press("按项目")
    replies = await staff.press("学生饮用奶")
    assert "项目：学生饮用奶" in replies[-1].text and "收件人：2 人（1 所学校）" in replies[-1].text

    await staff.send("/broadcast")
    await staff.press("城区 / 农村")
    replies = await staff.press("农村学校")
    assert "收件人：3 人（2 所学校）" in replies[-1].text

    await staff.send("/broadcast")
    replies = await staff.press("办公室人员")
    # Every staff member but the author.
    assert "收件人：1 人（0 所学校）" in replies[-1].text
    await staff.send("办公室会议改到周五")
    await staff.press("确认发送")
    await sender_of(sim.app).run_until_idle()
    assert received(sim.fake, 2002) == ["办公室会议改到周五"]
    assert all(received(sim.fake, c) == [] for c in (1001, 1002, 1003, 1004))


async def test_overdue_segment_reaches_expected_schools_without_a_current_report(
    sim: Simulator, db: Database, clock: FixedClock
) -> None:
    reported = await principals(db, clock, "HB001", [1001], programmes=("milk",))
    await principals(db, clock, "HB002", [1002], programmes=("milk",))
    await principals(db, clock, "HB003", [1003], programmes=("insurance",))  # not in the milk programme
    async with db.session() as session:
        session.add(
            Report(
                school_id=reported,
                form_key="milk",
                form_version=1,
                period="2026-10",
                series="",
                version=1,
                is_current=True,
                submitted_at=clock.now(),
                is_late=False,
                source="chat",
            )
        )
    staff = sim.user(ADMIN)
    await staff.send("/broadcast")
    await staff.press("逾期未报的学校")
    replies = await staff.press("学生饮用奶")
    # Only periods past their due date (October milk was due 5 November); not November.
    assert "2026年10月" in " ".join(replies[-1].labels) and "2026年11月" not in " ".join(replies[-1].labels)
    replies = await staff.press("2026年10月")
    assert "逾期未报" in replies[-1].text and "收件人：1 人（1 所学校）" in replies[-1].text
    await staff.send("请尽快补报10月牛奶数据")
    await staff.press("确认发送")
    await sender_of(sim.app).run_until_idle()
    assert [received(sim.fake, c) for c in (1001, 1002, 1003)] == [[], ["请尽快补报10月牛奶数据"], []]


async def test_overdue_segment_matches_the_reminders_missing_list(db: Database, clock: FixedClock) -> None:
    """The broadcast segment and the reminders' list of missing reports name the same schools."""
    from storage.broadcasts import Audience, recipients
    from storage.completeness import missing_reports

    done = await principals(db, clock, "HB001", [1001], programmes=("milk",))
    await principals(db, clock, "HB002", [1002], programmes=("milk",))
    await principals(db, clock, "HB003", [1003], programmes=("farm",))
    async with db.session() as session:
        session.add(
            Report(
                school_id=done,
                form_key="milk",
                form_version=1,
                period="2026-10",
                series="",
                version=1,
                is_current=True,
                submitted_at=clock.now(),
                is_late=False,
                source="chat",
            )
        )
    audience = Audience("overdue", programme="milk", form_key="milk", period="2026-10")
    async with db.session() as session:
        segment = {r.school_id for r in await recipients(session, audience)}
        missing = {r.school_id for r in await missing_reports(session, form_key="milk", programme="milk", period="2026-10")}
    assert segment == missing and len(segment) == 1 and done not in segment


async def test_5000_character_text_is_split_into_two_messages(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await principals(db, clock, "HB001", [1001])
    staff = sim.user(ADMIN)
    paragraph = "各校要认真组织学生参加劳动实践。" * 20  # 320 characters
    text = "\n\n".join([paragraph] * 15) + "\n\n完"  # 15 × 320 + separators ≈ 4,830
    text += "\n\n" + "附" * (5000 - len(text) - 2)
    assert len(text) == 5000
    replies = await compose(staff, "全部校长", text)
    assert "将分成 2 条消息依次发送" in replies[-1].text and "共 2 条消息" in replies[-1].text
    previews = [r.text for r in replies[:-1]]
    assert len(previews) == 2 and all(len(p) <= 4096 for p in previews)
    await staff.press("确认发送")
    await sender_of(sim.app).run_until_idle()
    parts = received(sim.fake, 1001)
    assert len(parts) == 2 and all(len(p) <= 4096 for p in parts)
    assert parts[0].endswith("。") and "\n\n".join(parts) == text, "split on a paragraph boundary, nothing lost"
    assert sim.fake.texts(1001)[0].startswith(notice("")), "the header heads the first part"
    sends = [c for c in sim.fake.calls_to("sendMessage") if c.chat_id == 1001]
    assert sends[1].at - sends[0].at >= 0.95, "parts to one chat go at most one a second"


async def test_caption_over_1024_is_refused_and_the_draft_kept(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await principals(db, clock, "HB001", [1001])
    staff = sim.user(ADMIN)
    await staff.send("/broadcast")
    await staff.press("全部校长")
    replies = await staff.send_photo(caption="说" * 1100)
    # The header takes its share of Telegram's 1,024: 【市教育局勤工俭学管理办公室】用户： and a blank line.
    room = 1024 - len(notice(""))
    assert f"最多 {room} 字，你的有 1100 字" in replies[-1].text and "草稿仍保留" in replies[-1].text
    replies = await staff.send_sticker()
    assert "只能群发文字、图片或文件" in replies[-1].text
    replies = await staff.send_document("通知.pdf", caption="请查收附件")
    assert replies[-2].kind == "document" and replies[-2].text == notice("请查收附件")
    assert "确认发送" in replies[-1].labels
    await staff.press("确认发送")
    await sender_of(sim.app).run_until_idle()
    (message,) = sim.fake.sent(1001)
    assert message["caption"] == notice("请查收附件") and message["document"]["file_id"]
    assert sim.fake.calls_to("sendDocument")[-1].params["document"] == "doc-通知.pdf"


async def test_draft_survives_a_restart(settings: Settings, db: Database, clock: FixedClock, fake: FakeTelegram) -> None:
    await principals(db, clock, "HB001", [1001])
    first = build_application(settings, request=FakeRequest(fake), db=db, clock=clock)
    async with first:
        staff = Simulator(first, fake).user(ADMIN)
        await staff.send("/broadcast")
        await staff.press("全部校长")
    second = build_application(settings, request=FakeRequest(fake), db=db, clock=clock)
    async with second:
        staff = Simulator(second, fake).user(ADMIN)
        replies = await staff.send("重启后写的通知")
        assert "确认发送" in replies[-1].labels
        await staff.press("确认发送")
        await sender_of(second).run_until_idle()
    assert fake.texts(1001) == [notice("重启后写的通知")]


async def test_broadcast_does_not_disturb_a_report_in_progress(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await add_school(db, clock)
    principal = await register_principal(sim, db, clock, 1001)
    await principal.send("/milk")
    await principal.press("★")
    replies = await principal.send("856")
    question = last_text(replies)
    async with db.session() as session:
        before = await session.scalar(select(Draft))
    assert before is not None

    staff = sim.user(ADMIN)
    await compose(staff, "全部校长", "明天上午停电，请提前保存资料。")
    await staff.press("确认发送")
    await sender_of(sim.app).run_until_idle()
    delivered = sim.fake.last(1001)
    assert delivered["text"] == notice("明天上午停电，请提前保存资料。")
    assert "reply_markup" not in delivered, "no keyboard or ForceReply that would replace the pending question's"

    async with db.session() as session:
        after = await session.scalar(select(Draft))
    assert after is not None
    assert (after.id, after.step, after.answers, after.token, after.updated_at) == (
        before.id,
        before.step,
        before.answers,
        before.token,
        before.updated_at,
    )
    # The pending question (school days served) is still answerable, and the conversation goes on.
    milk = load_catalogue().get("milk")
    assert milk.field("days_served").label.zh in question
    replies = await principal.send("21")
    assert milk.field("supplier").label.zh in last_text(replies)
    async with db.session() as session:
        draft = await session.scalar(select(Draft))
    assert draft is not None and draft.id == before.id and "days_served" in draft.answers


async def test_broadcasts_lists_recent_and_stops_a_running_one(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await three_schools(db, clock)
    staff = sim.user(ADMIN)
    await compose(staff, "全部校长", "第一条")
    await staff.press("确认发送")
    await sender_of(sim.app).run_until_idle()
    await compose(staff, "全部校长", "第二条")
    replies = await staff.press("确认发送")
    progress_id = replies[-1].message_id
    await sender_of(sim.app).drain_once(limit=1)

    replies = await staff.send("/broadcasts")
    listing = replies[-1]
    assert "最近的群发" in listing.text and "【发送中】送达 1/4" in listing.text and "【已完成】送达 4/4" in listing.text
    assert "“第二条”" in listing.text
    (stop,) = listing.labels
    replies = await staff.press(stop)
    assert "已停止群发" in sim.fake.calls_to("answerCallbackQuery")[-1].params["text"]
    assert "【已停止】送达 1/4" in sim.fake.messages[ADMIN][listing.message_id]["text"]
    assert "已停止：送达 1 / 4" in sim.fake.messages[ADMIN][progress_id]["text"]
    await sender_of(sim.app).run_until_idle()
    assert sum(t == "第二条" for c in (1001, 1002, 1003, 1004) for t in received(sim.fake, c)) == 1
    statuses = sorted(r.status for r in await rows_of(db) if r.broadcast_id == listing_id(listing))
    assert statuses == ["cancelled", "cancelled", "cancelled", "sent"]
    # Pressing stop again: it already stopped.
    await staff.press_data(f"bcx:{listing_id(listing)}")
    assert "已经结束" in sim.fake.calls_to("answerCallbackQuery")[-1].params["text"]


def listing_id(listing: Reply) -> int:
    return int(listing.buttons[0][0]["callback_data"].split(":")[1])


async def test_broadcasts_with_none_yet(sim: Simulator) -> None:
    replies = await sim.user(ADMIN).send("/broadcasts")
    assert "还没有群发过通知" in replies[-1].text


async def test_english_staff_compose_in_english(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await principals(db, clock, "HB001", [1001])
    staff = sim.user(ADMIN, "Li", language_code="en")
    replies = await staff.send("/broadcast")
    assert "who should receive it" in replies[-1].text
    replies = await staff.press("All principals")
    assert "Recipients: 1 people (1 schools)" in replies[-1].text
    replies = await staff.send("Hello")
    assert "Send it?" in replies[-1].text
