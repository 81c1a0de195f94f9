"""The draft read with the identity: one read and one write per answer, and a draft changed
meanwhile by another process is never overwritten (the update is done again under the lock)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event, select

import bot.reporting.service as reporting_module
from bot.core.clock import FixedClock
from bot.offline.simulator import Simulator
from storage.db import Database
from storage.drafts import start_draft
from storage.models import Draft
from tests.factories import add_school, register_principal, saved_reports, values_of
from tests.handlers.test_report_stale import milk_at_review

# Committed data: statement counts must not see test savepoints; other processes write the draft.
pytestmark = pytest.mark.committed


@contextmanager
def statements(db: Database) -> Iterator[list[str]]:
    """The SQL statements the application sends while inside, as their first word and table."""
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        # The table after the statement's own FROM / INTO / UPDATE, not a subquery's.
        depth, words = 0, []
        for token in re.findall(r"[()]|[^\s()]+", statement):
            depth += {"(": 1, ")": -1}.get(token, 0)
            if depth == 0 and token not in "()":
                words.append(token)
        table = next((w for before, w in zip(words, words[1:]) if before.upper() in ("FROM", "INTO", "UPDATE")), "")
        seen.append(f"{words[0].upper()} {table}")

    event.listen(db.engine.sync_engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", note)


async def test_an_answer_costs_one_read_and_one_write(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await add_school(db, clock)
    chat = await register_principal(sim, db, clock)
    await chat.send("/milk")
    await chat.press("★")
    with statements(db) as typed:
        await chat.send("856")
    # Who is writing, with their draft, in one read; the answer in one write.
    assert typed == ["SELECT people", "UPDATE drafts"]
    await chat.send("21")
    with statements(db) as pressed:
        await chat.press("伊利")
    assert pressed == ["SELECT people", "UPDATE drafts"]


async def test_submitting_writes_the_report_and_ends_the_draft_in_one_transaction(
    sim: Simulator, db: Database, clock: FixedClock
) -> None:
    await add_school(db, clock)
    chat = await register_principal(sim, db, clock)
    await milk_at_review(chat)
    with statements(db) as submitted:
        await chat.press("提交")
    lock = ["SELECT schools"] if db.dialect == "postgresql" else []  # saves for one school take turns
    assert submitted == [
        "SELECT people",
        "SELECT report_values",  # other schools' figures this period, for the history checks (issue 13)
        *lock,
        "SELECT reports",  # the newest version, and the current one to supersede
        "INSERT reports",
        "INSERT report_values",
        "DELETE drafts",  # only if it is still the draft reviewed
        "INSERT audit_log",  # every version is audited, the first too
    ]
    (report,) = await saved_reports(db, "milk")
    assert values_of(report)["daily_drinkers"] == Decimal(856)


async def test_a_draft_changed_by_another_process_meanwhile_is_not_overwritten(
    sim: Simulator, db: Database, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    await add_school(db, clock)
    chat = await register_principal(sim, db, clock)
    await chat.send("/milk")
    await chat.press("★")
    real_load = reporting_module.Reporting._load
    other = Database(db.url)

    async def load_after_another_process_answered(self: Any, session: Any) -> Any:
        # Between this update's read (with the identity) and its write, another process takes
        # the first answer.
        monkeypatch.setattr(reporting_module.Reporting, "_load", real_load)
        async with other.session() as elsewhere:
            draft = await elsewhere.scalar(select(Draft))
            assert draft is not None
            draft.answers = {"daily_drinkers": "856"}
            draft.step = "days_served"
        return await real_load(self, session)

    monkeypatch.setattr(reporting_module.Reporting, "_load", load_after_another_process_answered)
    try:
        replies = await chat.send("21")
    finally:
        await other.dispose()
    # Done again on the draft as it now is: 21 is the days served, and 856 is kept.
    assert len(replies) == 1 and "供奶企业" in replies[0].text
    async with db.session() as session:
        draft = await session.scalar(select(Draft))
    assert draft is not None
    assert draft.answers == {"daily_drinkers": "856", "days_served": "21"} and draft.step == "supplier"


async def test_starting_a_form_costs_a_read_a_write_and_the_periods_filed(
    sim: Simulator, db: Database, clock: FixedClock
) -> None:
    await add_school(db, clock)
    chat = await register_principal(sim, db, clock)
    with statements(db) as started:
        await chat.send("/milk")
    # No draft came with the identity, so none is deleted first; the school's programmes came too.
    assert started == ["SELECT people", "INSERT drafts", "SELECT reports"]


async def test_a_draft_started_by_another_process_meanwhile_is_continued_not_replaced(
    sim: Simulator, db: Database, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    await add_school(db, clock)
    chat = await register_principal(sim, db, clock)
    real_load = reporting_module.Reporting._load
    other = Database(db.url)

    async def load_after_another_process_started(self: Any, session: Any) -> Any:
        # After this update read "no draft", another process starts one and takes an answer.
        monkeypatch.setattr(reporting_module.Reporting, "_load", real_load)
        async with other.session() as elsewhere:
            await start_draft(
                elsewhere,
                person_id=self.reporter.person_id,
                token="elsewhere",
                now=clock.now(),
                form_key="milk",
                form_version=1,
                step="days_served",
                period="2026-11",
                answers={"daily_drinkers": "856"},
            )
        return await real_load(self, session)

    monkeypatch.setattr(reporting_module.Reporting, "_load", load_after_another_process_started)
    try:
        replies = await chat.send("/milk")
    finally:
        await other.dispose()
    # The draft found under the lock is the form asked for: it carries on where it is.
    assert "供奶天数" in replies[-1].text
    async with db.session() as session:
        drafts = list(await session.scalars(select(Draft)))
    assert [(d.token, d.answers) for d in drafts] == [("elsewhere", {"daily_drinkers": "856"})]
