"""No empty corrections (issue 13, point 7): submitting a correction identical to the current
version saves nothing, says so, and ends the draft."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bot.core.catalogue import load_catalogue
from bot.core.clock import FixedClock
from bot.core.i18n import t
from bot.offline.simulator import Reply, Simulator, UserChat
from storage.db import Database
from storage.models import AuditEntry, Draft
from tests.factories import add_school, register_principal, saved_reports, values_of

CATALOGUE = load_catalogue()
LANGS = ["zh", "en"]


def last(replies: list[Reply]) -> Reply:
    return [reply for reply in replies if reply.text][-1]


async def file_milk(chat: UserChat, lang: str) -> None:
    await chat.send("/milk")
    await chat.press("★")
    await chat.send("856")
    await chat.send("21")
    await chat.press(CATALOGUE.get("milk").field("supplier").choice("yili").label.get(lang))
    await chat.press("填 0" if lang == "zh" else "Use 0")
    await chat.press(t(lang, "report.submit_button"))


async def counts(db: Database) -> tuple[int, int]:
    async with db.session() as session:
        drafts = int(await session.scalar(select(func.count()).select_from(Draft)) or 0)
        audits = int(
            await session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action.like("report.%"))) or 0
        )
    return drafts, audits


@pytest.mark.parametrize("lang", LANGS)
async def test_a_correction_identical_to_the_current_version_saves_nothing_and_says_so(
    sim: Simulator, db: Database, clock: FixedClock, lang: str
) -> None:
    await add_school(db, clock, programmes=("milk",))
    chat = await register_principal(sim, db, clock, lang=lang)
    await file_milk(chat, lang)
    assert len(await saved_reports(db, "milk")) == 1
    await chat.send("/milk")
    await chat.press("★")
    await chat.press(t(lang, "report.correct_button"))
    reply = last(await chat.press(t(lang, "report.submit_button")))
    assert reply.text == t(lang, "report.correction_unchanged", version=1)
    assert ("与当前第 1 版相同，未保存新版本" if lang == "zh" else "same as the current version 1") in reply.text
    (report,) = await saved_reports(db, "milk")
    assert report.version == 1 and report.is_current
    assert await counts(db) == (0, 1), "the draft ended; only the first submission is audited"


@pytest.mark.parametrize("lang", LANGS)
async def test_an_edit_back_to_the_same_figure_is_still_no_correction_but_a_real_change_is(
    sim: Simulator, db: Database, clock: FixedClock, lang: str
) -> None:
    await add_school(db, clock, programmes=("milk",))
    chat = await register_principal(sim, db, clock, lang=lang)
    await file_milk(chat, lang)
    drinkers = "✏️ " + CATALOGUE.get("milk").field("daily_drinkers").label.get(lang)
    await chat.send("/correct")
    await chat.press(CATALOGUE.get("milk").short.get(lang))
    await chat.press(drinkers)
    await chat.send("八百五十六")  # the same 856, typed another way
    reply = last(await chat.press(t(lang, "report.submit_button")))
    assert reply.text == t(lang, "report.correction_unchanged", version=1)
    assert len(await saved_reports(db, "milk")) == 1

    await chat.send("/correct")
    await chat.press(CATALOGUE.get("milk").short.get(lang))
    await chat.press(drinkers)
    await chat.send("870")
    await chat.press(t(lang, "report.submit_button"))
    first, second = await saved_reports(db, "milk")
    assert (second.version, values_of(second)["daily_drinkers"]) == (2, 870)
