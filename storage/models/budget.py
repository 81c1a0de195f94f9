"""The shared send budget: token buckets that several instances draw from (see ``storage/budget.py``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UTCDateTime


class SendBudgetRow(Base):
    """One token bucket (``bulk`` for the bot's bulk sends, ``chat:<id>`` for one chat's 1/s), or the
    ``telegram`` schedule, whose ``updated_at`` is the next free send slot (``tokens`` unused)."""

    __tablename__ = "send_budget"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
