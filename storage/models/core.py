"""Districts, schools, people, invites and the audit log (the roster and roles)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, CheckConstraint, ForeignKey, Index, Integer, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storage.models.base import Base, UTCDateTime


class Role(StrEnum):
    PRINCIPAL = "principal"
    # A deputy the principal invited: files for the school like its principal, invites nobody.
    REPORTER = "reporter"
    STAFF = "staff"
    ADMIN = "admin"


# The roles that belong to one school and report for it (checks below and migration 0014).
SCHOOL_ROLES_SQL = "('principal', 'reporter')"


class Area(StrEnum):
    URBAN = "urban"
    RURAL = "rural"


class District(Base):
    __tablename__ = "districts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)


class School(Base):
    __tablename__ = "schools"
    __table_args__ = (
        CheckConstraint("area IN ('urban', 'rural')", name="area"),
        CheckConstraint("site_area_mu >= 0", name="site_area_mu"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    district_id: Mapped[int] = mapped_column(ForeignKey("districts.id"), index=True)
    area: Mapped[str] = mapped_column(String(8))
    # Land area of the school's labour-practice site (占地面积, 亩) from the roster; None: not given.
    # The year-end report quotes it; planted areas of harvests are another figure (种植面积).
    site_area_mu: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    district: Mapped[District] = relationship(lazy="joined")
    programmes: Mapped[list["SchoolProgramme"]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="SchoolProgramme.programme"
    )

    @property
    def programme_set(self) -> set[str]:
        return {p.programme for p in self.programmes}


class SchoolProgramme(Base):
    """A school's enrolment in a programme (``milk``, ``insurance``, ``farm``...)."""

    __tablename__ = "school_programmes"

    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id", ondelete="CASCADE"), primary_key=True)
    programme: Mapped[str] = mapped_column(String(32), primary_key=True, index=True)


class Person(Base):
    """A Telegram user the bot knows: a principal or deputy (reporters of a school), staff or admin."""

    __tablename__ = "people"
    __table_args__ = (
        CheckConstraint("role IN ('principal', 'reporter', 'staff', 'admin')", name="role"),
        CheckConstraint(f"role NOT IN {SCHOOL_ROLES_SQL} OR school_id IS NOT NULL", name="principal_has_school"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    telegram_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    name: Mapped[str] = mapped_column(String(200))
    username: Mapped[str | None] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    school_id: Mapped[int | None] = mapped_column(ForeignKey("schools.id"), index=True)
    # Staff limited to one district see only that district's schools.
    district_id: Mapped[int | None] = mapped_column(ForeignKey("districts.id"))
    language: Mapped[str | None] = mapped_column(String(8))
    blocked: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    school: Mapped[School | None] = relationship(lazy="joined")


class Invite(Base):
    """A one-time registration code; only its SHA-256 is stored."""

    __tablename__ = "invites"
    __table_args__ = (
        CheckConstraint("role IN ('principal', 'reporter', 'staff')", name="role"),
        CheckConstraint(f"role NOT IN {SCHOOL_ROLES_SQL} OR school_id IS NOT NULL", name="principal_has_school"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    school_id: Mapped[int | None] = mapped_column(ForeignKey("schools.id"), index=True)
    # A staff invite bound to a district makes district staff (None: city-wide staff).
    district_id: Mapped[int | None] = mapped_column(ForeignKey("districts.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    used_by: Mapped[int | None] = mapped_column(BigInteger)
    created_by: Mapped[int | None] = mapped_column(BigInteger)


class AuditEntry(Base):
    """Who did what, when: registrations, staff changes, refused codes, corrections."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_actor_action_at", "actor", "action", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[int | None] = mapped_column(BigInteger)
    action: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str | None] = mapped_column(String(200))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(Text)
