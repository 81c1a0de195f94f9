"""Drafts (conversations in flight) and saved reports with their typed values."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storage.models.base import Base, UTCDateTime
from storage.models.core import Person, School


class Draft(Base):
    """A half-finished report: lives in SQL so a restart or another process resumes it."""

    __tablename__ = "drafts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), unique=True)
    # Random per draft: buttons carry it, so a button from an older draft is recognised as stale.
    token: Mapped[str] = mapped_column(String(16))
    form_key: Mapped[str] = mapped_column(String(32))
    form_version: Mapped[int] = mapped_column(Integer)
    period: Mapped[str | None] = mapped_column(String(16))
    # "form", "period", a field key, or "review".
    step: Mapped[str] = mapped_column(String(64))
    answers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Set while a field is re-asked from the review screen: answer it, then back to review.
    editing: Mapped[bool] = mapped_column(Boolean, default=False)
    # Beside the answers: {"originals": {field: "1200斤"}, "reasons": {check: reason}, ...} (migration 0010).
    notes: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    correction_of: Mapped[int | None] = mapped_column(ForeignKey("reports.id"))
    # The school the draft was started for: a principal moved to another school meanwhile
    # must never file it there (None only for drafts older than migration 0008).
    school_id: Mapped[int | None] = mapped_column(ForeignKey("schools.id", ondelete="CASCADE"))
    # The last Telegram update applied to this draft: a redelivered update is not applied twice.
    last_update_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Bumped by every ORM write (SQLAlchemy's version counter): a draft read without a lock is
    # written back only if nobody changed it meanwhile, else the write raises StaleDataError.
    revision: Mapped[int] = mapped_column(Integer, server_default=text("1"))

    __mapper_args__ = {"version_id_col": revision}


class Report(Base):
    """One version of a school's report for a form and period.

    ``series`` is empty for ordinary forms (one truth per school, form and
    period); an event form (harvest) gives each event its own series. The
    partial unique index makes "one current version per series" a schema fact:
    two reporters submitting at the same instant cannot both end current.
    """

    __tablename__ = "reports"
    __table_args__ = (
        UniqueConstraint("school_id", "form_key", "period", "series", "version", name="uq_reports_version"),
        Index(
            "uq_reports_current",
            "school_id",
            "form_key",
            "period",
            "series",
            unique=True,
            sqlite_where=text("is_current"),
            postgresql_where=text("is_current"),
        ),
        Index("ix_reports_form_period_current", "form_key", "period", "is_current"),
        CheckConstraint("review IN ('submitted', 'approved', 'returned')", name="review"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"))
    form_key: Mapped[str] = mapped_column(String(32))
    form_version: Mapped[int] = mapped_column(Integer)
    period: Mapped[str] = mapped_column(String(16))
    series: Mapped[str] = mapped_column(String(32), default="")
    version: Mapped[int] = mapped_column(Integer)
    is_current: Mapped[bool] = mapped_column(Boolean)
    reporter_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    is_late: Mapped[bool] = mapped_column(Boolean, default=False)
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("reports.id"))
    source: Mapped[str] = mapped_column(String(16), default="chat")
    # A version that takes the entry back (an event filed twice, by mistake): kept in the history,
    # excluded from every sum, count and export of current figures.
    withdrawn: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    # Filed by the office for the school (migration 0013): ``reporter_id`` is the staff member
    # (None from the command line without ``--as``), ``behalf_reason`` why they filed it.
    on_behalf: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    behalf_reason: Mapped[str | None] = mapped_column(Text)
    # The office's review of this version (issue 15, migration 0012): every version starts
    # ``submitted``; staff approve it (locked for the principal) or return it with a reason.
    review: Mapped[str] = mapped_column(String(16), default="submitted", server_default="submitted")
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    review_reason: Mapped[str | None] = mapped_column(Text)

    school: Mapped[School] = relationship(lazy="joined")
    reporter: Mapped[Person | None] = relationship(foreign_keys=[reporter_id], lazy="joined")
    reviewer: Mapped[Person | None] = relationship(foreign_keys=[reviewed_by_id], lazy="joined")
    values: Mapped[list["ReportValue"]] = relationship(lazy="selectin", cascade="all, delete-orphan")
    flags: Mapped[list["ReportFlag"]] = relationship(lazy="selectin", cascade="all, delete-orphan")


class ReportValue(Base):
    """One answer of a report, typed: numbers in ``num_value`` so roll-ups are SQL sums."""

    __tablename__ = "report_values"
    # PostgreSQL only (migration 0004): lets a roll-up sum a period's values by index-only
    # probes instead of scanning the table; SQLite plans the nested loop without it.
    __table_args__ = (
        Index("ix_report_values_rollup", "report_id", "field_key", postgresql_include=["num_value"]).ddl_if(dialect="postgresql"),
    )

    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), primary_key=True)
    field_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    num_value: Mapped[Decimal | None] = mapped_column(Numeric(18, 4))
    text_value: Mapped[str | None] = mapped_column(Text)
    # The words as typed when a unit was converted ("1200斤" stored as 600 in a 公斤 field).
    original: Mapped[str | None] = mapped_column(Text)


class ReportFlag(Base):
    """A check a report version passed only with its principal's word: a warning confirmed with a reason.

    ``code`` names the check (``rule:<key>``, ``history:previous``, ``history:range``,
    ``duplicate``); ``field_key`` the value it is about (None for a form-level rule);
    ``message`` is the warning as the principal read it (Chinese), ``detail`` its
    figures (previous value, ratio...), ``reason`` what the principal answered.
    """

    __tablename__ = "report_flags"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    field_key: Mapped[str | None] = mapped_column(String(64))
    code: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(Text)


class ReviewPrompt(Base):
    """A staff member was asked for a reason (to return or reopen a report) and has not typed it yet.

    A row, not process memory: the question survives a restart and a second process.
    One per person; pressing another return or reopen button replaces it.
    """

    __tablename__ = "review_prompts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), unique=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"))
    # "return" or "reopen".
    action: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
