"""Replies to broadcasts: a principal's reply to a notice and the office's answers, and the bot's messages showing them.

A ``reply`` is what a principal wrote (a Telegram reply to their copy of a
broadcast); an ``answer`` is what staff wrote back to one reply (``parent_id``).
``broadcast_reply_messages`` maps the bot's messages that show a reply or an
answer (the copy forwarded to staff, the prompt to answer, the answer as the
principal got it) to it, so a Telegram reply to any of them continues the thread.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UTCDateTime


class ReplyKind(StrEnum):
    REPLY = "reply"
    ANSWER = "answer"


class BroadcastReply(Base):
    """One message of a thread about a broadcast: a principal's reply, or the office's answer to it."""

    __tablename__ = "broadcast_replies"
    __table_args__ = (
        CheckConstraint("kind IN ('reply', 'answer')", name="kind"),
        CheckConstraint("kind = 'reply' OR parent_id IS NOT NULL", name="answer_has_parent"),
        Index("ix_broadcast_replies_broadcast_id", "broadcast_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcasts.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))
    # For an answer: the reply it answers.
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("broadcast_replies.id", ondelete="CASCADE"))
    # The school the thread is about (the replying principal's school when they wrote).
    school_id: Mapped[int | None] = mapped_column(ForeignKey("schools.id", ondelete="SET NULL"))
    author_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    author_chat_id: Mapped[int] = mapped_column(BigInteger)
    text: Mapped[str] = mapped_column(Text)
    # How many people it reached (0: nobody could be sent it; the author was told).
    delivered: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ReplyMessage(Base):
    """A message the bot sent that shows ``reply_id``: a Telegram reply to it is about that reply."""

    __tablename__ = "broadcast_reply_messages"

    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    message_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    reply_id: Mapped[int] = mapped_column(ForeignKey("broadcast_replies.id", ondelete="CASCADE"))
