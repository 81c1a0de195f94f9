"""Finding schools by what staff type: a name, or part of one (``/invite 邹圩``)."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import School

__all__ = ["school_in_district", "schools_named"]


Q = TypeVar("Q", bound=Select[Any])


def _in(query: Q, district_id: int | None) -> Q:
    return query.where(School.district_id == district_id) if district_id is not None else query


async def schools_named(
    session: AsyncSession, text: str, district_id: int | None = None, limit: int = 30
) -> tuple[list[School], int]:
    """The schools called exactly ``text``, else those whose name contains it (up to ``limit``, by code), and how many match."""
    exact = list(await session.scalars(_in(select(School).where(School.name == text), district_id).order_by(School.code)))
    if exact:
        return exact, len(exact)
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    matching = School.name.like(f"%{escaped}%", escape="\\")
    total = await session.scalar(_in(select(func.count()).select_from(School).where(matching), district_id)) or 0
    found = await session.scalars(_in(select(School).where(matching), district_id).order_by(School.code).limit(limit))
    return list(found), int(total)


async def school_in_district(session: AsyncSession, school_id: int, district_id: int | None = None) -> School | None:
    """The school with this id, if it is in ``district_id`` (any district when None)."""
    return await session.scalar(_in(select(School).where(School.id == school_id), district_id))
