"""Reminder and digest sends: one row per recipient and slot, claimed before sending.

The unique keys are the idempotency: a process claims a row with
``INSERT ... ON CONFLICT DO NOTHING RETURNING`` and only the process that got
the row back sends. A restart, a missed tick, a clock jump or a second bot
process on the same database therefore never sends a reminder twice.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import BigInteger, CheckConstraint, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UTCDateTime


class SendStatus(StrEnum):
    """Where one send stands."""

    # A manual nudge waiting for ``not_before`` (the end of quiet hours).
    PENDING = "pending"
    # Taken by a process that is sending it now; a claim older than the lease is taken again.
    CLAIMED = "claimed"
    SENT = "sent"
    # Telegram failed in a way worth another try on a later tick.
    RETRY = "retry"
    # The recipient blocked the bot (or already had when the slot came): not sent.
    BLOCKED = "blocked"
    # Refused for good (chat not found, too many attempts).
    FAILED = "failed"
    # Never sent on purpose: an older slot missed during downtime, or a nudge overtaken by a report.
    SKIPPED = "skipped"


_STATUSES = ", ".join(f"'{s.value}'" for s in SendStatus)


class ReminderSend(Base):
    """One reminder (scheduled slot or manual nudge) for one reporter of one school."""

    __tablename__ = "reminder_sends"
    __table_args__ = (
        # Form, period and slot first: the tick looks up "who already has this slot" for one
        # (form, period, slot) across all schools, and the unique index serves that lookup too.
        UniqueConstraint("form_key", "period", "slot", "school_id", "recipient_id", name="uq_reminder_sends_key"),
        CheckConstraint(f"status IN ({_STATUSES})", name="status"),
        # The tick looks for work by status (retries, stale claims, pending nudges).
        Index("ix_reminder_sends_status", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id", ondelete="CASCADE"))
    form_key: Mapped[str] = mapped_column(String(32))
    period: Mapped[str] = mapped_column(String(16))
    # "d-3", "d+0", "d+7" (days from the due date) or "manual-202611261030" (a staff nudge).
    slot: Mapped[str] = mapped_column(String(32))
    recipient_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # A pending manual nudge goes out at or after this moment.
    not_before: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Telegram id of the staff member who nudged (manual slots only).
    requested_by: Mapped[int | None] = mapped_column(BigInteger)


class DigestSend(Base):
    """One staff digest (daily escalation, weekly completeness) for one staff member and day."""

    __tablename__ = "digest_sends"
    __table_args__ = (
        UniqueConstraint("kind", "day", "recipient_id", name="uq_digest_sends_key"),
        CheckConstraint(f"status IN ({_STATUSES})", name="status"),
        Index("ix_digest_sends_status", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # "escalation" (daily) or "weekly".
    kind: Mapped[str] = mapped_column(String(16))
    # The local day the digest is for (for weekly: the day of the week it is scheduled on).
    day: Mapped[date] = mapped_column(Date)
    recipient_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
