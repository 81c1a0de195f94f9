"""The outbox vocabulary's pure parts: back-off, the claimable predicate per table, a nudge's verdict."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.dialects import sqlite

from scheduler.nudges import NOT_A_REPORTER, nudge_verdict
from storage import outbox
from storage.broadcasts import BROADCASTS
from storage.digests import DIGESTS
from storage.nudges import ManualRow
from storage.reminders import REMINDERS

NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


def _sql(clause: object) -> str:
    return str(clause.compile(dialect=sqlite.dialect()))  # type: ignore[attr-defined]


def test_backoff_doubles_per_attempt_up_to_the_cap() -> None:
    base, cap = timedelta(seconds=1), timedelta(minutes=5)
    assert [outbox.backoff(n, base=base, cap=cap).total_seconds() for n in (1, 2, 3, 4)] == [1, 2, 4, 8]
    assert outbox.backoff(20, base=base, cap=cap) == cap


def test_backoff_follows_telegrams_retry_after() -> None:
    assert outbox.backoff(3, base=timedelta(seconds=1), cap=timedelta(minutes=5), retry_after=17) == timedelta(seconds=17)


def test_reminder_rows_are_claimable_on_retry_or_dead_claim_only() -> None:
    sql = _sql(outbox.claimable(REMINDERS, NOW))
    assert "reminder_sends.status = " in sql and "reminder_sends.claimed_at < " in sql
    assert "not_before" not in sql


def test_queued_nudges_are_claimable_once_their_time_came() -> None:
    assert "reminder_sends.not_before <= " in _sql(outbox.claimable(REMINDERS, NOW, now=NOW, queued=True))


def test_broadcast_rows_wait_out_their_back_off() -> None:
    sql = _sql(outbox.claimable(BROADCASTS, NOW, now=NOW))
    assert "outbox.not_before IS NULL" in sql and "outbox.lease_until < " in sql


def test_digest_rows_have_no_queue() -> None:
    assert "not_before" not in _sql(outbox.claimable(DIGESTS, NOW, now=NOW, queued=True))


def _row(**changes: object) -> ManualRow:
    values: dict[str, object] = dict(
        send_id=1, status="pending", school_id=2, school_name="一小", form_key="milk", period="2026-11", slot="manual-1",
        person_id=3, telegram_id=4, person_name="王", language=None, blocked=False, active=True, reported=False, attempts=0,
    )  # fmt: skip
    values.update(changes)
    return ManualRow(**values)  # type: ignore[arg-type]


def test_nudge_goes_out_while_it_still_applies() -> None:
    assert nudge_verdict(_row(), known=True, still_reporter=True) is None


def test_nudge_is_dropped_for_a_report_filed_meanwhile_or_a_reporter_gone() -> None:
    assert nudge_verdict(_row(reported=True), known=True, still_reporter=True) == (
        "skipped",
        "reported before the nudge went out",
    )
    assert nudge_verdict(_row(), known=True, still_reporter=False) == ("skipped", NOT_A_REPORTER)
    assert nudge_verdict(_row(blocked=True), known=True, still_reporter=True) == ("blocked", "blocked the bot")
    assert nudge_verdict(_row(), known=False, still_reporter=True)[0] == "failed"  # type: ignore[index]
