"""Broadcasts (a staff notice, from draft to done) and their outbox, one row per recipient.

The draft lives here too (``status='draft'``, ``step`` says what the composer
waits for), so a restart in the middle of composing loses nothing. Outbox rows
are the durable record of who was sent what; ``bot/sender.py`` drains them and
``storage/broadcasts.py`` documents the claim and lease policy.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UTCDateTime


class BroadcastStatus(StrEnum):
    DRAFT = "draft"
    SENDING = "sending"
    DONE = "done"
    CANCELLED = "cancelled"


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    BLOCKED = "blocked"
    FAILED = "failed"
    CANCELLED = "cancelled"


# Rows in these states still need the sender; the others are final.
OPEN_STATUSES = (OutboxStatus.PENDING.value, OutboxStatus.SENDING.value)


class Broadcast(Base):
    """One notice from the office: its audience, its content, and where its progress is shown."""

    __tablename__ = "broadcasts"
    __table_args__ = (
        CheckConstraint("status IN ('draft', 'sending', 'done', 'cancelled')", name="status"),
        CheckConstraint("kind IS NULL OR kind IN ('text', 'photo', 'document')", name="kind"),
        Index("ix_broadcasts_author_status", "author_id", "status"),
        Index("ix_broadcasts_status", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Random per draft: its buttons carry it, so a press on an older draft's button is recognised.
    token: Mapped[str] = mapped_column(String(16))
    author_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    author_chat_id: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default=BroadcastStatus.DRAFT.value)
    # What the composer waits for: "audience", "districts", "overdue_period", "message", "preview".
    step: Mapped[str] = mapped_column(String(32), default="audience")
    # Segment: "all", "districts", "programme", "area", "overdue", "staff"; its arguments in JSON.
    audience: Mapped[str | None] = mapped_column(String(16))
    audience_args: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    kind: Mapped[str | None] = mapped_column(String(16))
    text: Mapped[str | None] = mapped_column(Text)
    file_id: Mapped[str | None] = mapped_column(String(255))
    # "【office】sender" above the text, fixed at confirmation so a resend after a restart is identical.
    header: Mapped[str | None] = mapped_column(Text)
    # The optional "report now" button: the form and period it opens for each recipient.
    report_form: Mapped[str | None] = mapped_column(String(32))
    report_period: Mapped[str | None] = mapped_column(String(16))
    total: Mapped[int] = mapped_column(Integer, default=0)
    # Schools of the segment nobody can be sent to (no active principal), snapshot at confirmation.
    unreachable_schools: Mapped[list[int]] = mapped_column(JSON, default=list)
    progress_message_id: Mapped[int | None] = mapped_column(BigInteger)
    progress_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class OutboxRow(Base):
    """One recipient of one broadcast: claimed with a lease, sent at most once unless a lease expired."""

    __tablename__ = "broadcast_outbox"
    __table_args__ = (
        UniqueConstraint("broadcast_id", "person_id", name="uq_broadcast_outbox_recipient"),
        CheckConstraint("status IN ('pending', 'sending', 'sent', 'blocked', 'failed', 'cancelled')", name="status"),
        Index("ix_broadcast_outbox_status_not_before", "status", "not_before"),
        Index("ix_broadcast_outbox_broadcast_status", "broadcast_id", "status"),
        Index("ix_broadcast_outbox_chat_message", "chat_id", "message_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcasts.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    chat_id: Mapped[int] = mapped_column(BigInteger)
    school_id: Mapped[int | None] = mapped_column(ForeignKey("schools.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(16), default=OutboxStatus.PENDING.value)
    # Claims so far; also the fencing token: a worker records its result only if attempts is unchanged.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    not_before: Mapped[datetime | None] = mapped_column(UTCDateTime())
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Parts of a split text already delivered, so a resumed row does not repeat them.
    parts_sent: Mapped[int] = mapped_column(Integer, default=0)
    # The recipient may have this message twice: claimed again after a lease expired, or resent after a time-out.
    maybe_duplicate: Mapped[bool] = mapped_column(Boolean, default=False)
    error: Mapped[str | None] = mapped_column(String(300))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The recipient's copy (first and last part): a Telegram reply to it names this broadcast.
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    last_message_id: Mapped[int | None] = mapped_column(BigInteger)
    worker: Mapped[str | None] = mapped_column(String(64))
