"""Queries about districts and schools: upserting the roster, looking schools up."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import District, Person, Role, School, SchoolProgramme


async def district_by_name(session: AsyncSession, name: str) -> District | None:
    return await session.scalar(select(District).where(District.name == name))


async def ensure_district(session: AsyncSession, name: str) -> District:
    district = await district_by_name(session, name)
    if district is None:
        district = District(name=name)
        session.add(district)
        await session.flush()
    return district


async def upsert_school(
    session: AsyncSession,
    now: datetime,
    *,
    code: str,
    name: str,
    district: District,
    area: str,
    programmes: Iterable[str],
) -> tuple[School, bool]:
    """Create or update the school with ``code``; returns it and whether it is new."""
    school = await session.scalar(select(School).where(School.code == code))
    created = school is None
    if school is None:
        school = School(code=code, created_at=now)
        session.add(school)
    school.name = name
    school.district_id = district.id
    school.area = area
    school.updated_at = now
    wanted = sorted(set(programmes))
    if created:
        school.programmes = [SchoolProgramme(programme=p) for p in wanted]
    elif sorted(p.programme for p in school.programmes) != wanted:
        school.programmes = [SchoolProgramme(programme=p) for p in wanted]
    await session.flush()
    return school, created


async def school_by_code(session: AsyncSession, code: str) -> School | None:
    return await session.scalar(select(School).where(School.code == code))


async def school_codes(session: AsyncSession) -> list[str]:
    """Every school's code; reads that one column, so it works on a database not yet migrated to head."""
    return list(await session.scalars(select(School.code)))


async def programmes_of(session: AsyncSession, school_id: int) -> set[str]:
    """The programmes a school is enrolled in (one small query; no School object needed)."""
    return set(await session.scalars(select(SchoolProgramme.programme).where(SchoolProgramme.school_id == school_id)))


async def all_schools(session: AsyncSession) -> Sequence[School]:
    return (await session.scalars(select(School).order_by(School.code))).all()


async def all_districts(session: AsyncSession) -> Sequence[District]:
    return (await session.scalars(select(District).order_by(District.name))).all()


async def district_by_id(session: AsyncSession, district_id: int | None) -> District | None:
    """The district with ``district_id``; None for None or an id that does not exist."""
    return await session.get(District, district_id) if district_id is not None else None


async def district_names(session: AsyncSession) -> list[str]:
    """Every district's name, alphabetically."""
    return list((await session.scalars(select(District.name).order_by(District.name))).all())


async def schools_by_codes(session: AsyncSession, codes: Sequence[str], district_id: int | None = None) -> dict[str, School]:
    """The schools with these codes (those of ``district_id`` only, when given), by code."""
    query = select(School).where(School.code.in_(list(codes)))
    if district_id is not None:
        query = query.where(School.district_id == district_id)
    return {school.code: school for school in (await session.scalars(query)).all()}


async def schools_without_reporter(session: AsyncSession, district_id: int | None = None) -> list[School]:
    """Schools with no active registered principal (of ``district_id`` only, when given), by code."""
    registered = select(Person.school_id).where(
        Person.role == Role.PRINCIPAL, Person.active.is_(True), Person.school_id.is_not(None)
    )
    query = select(School).where(School.id.not_in(registered)).order_by(School.code)
    if district_id is not None:
        query = query.where(School.district_id == district_id)
    return list((await session.scalars(query)).all())
