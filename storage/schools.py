"""Queries about districts and schools: upserting the roster, looking schools up."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from types import EllipsisType

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import District, Person, School, SchoolProgramme
from storage.people import REPORTS_FOR_SCHOOL
from storage.sql import exact_decimal


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
    site_area_mu: Decimal | None | EllipsisType = ...,
) -> tuple[School, bool]:
    """Create or update the school with ``code``; returns it and whether it is new.

    ``site_area_mu`` (its farm site's land area) is left as it is when not given (``...``):
    a roster without that column does not erase what an earlier one said.
    """
    school = await session.scalar(select(School).where(School.code == code))
    created = school is None
    if school is None:
        school = School(code=code, created_at=now)
        session.add(school)
    school.name = name
    school.district_id = district.id
    school.area = area
    if site_area_mu is not ...:
        school.site_area_mu = site_area_mu
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
    """Schools with no active registered reporter, principal or deputy (of ``district_id`` only, when given), by code."""
    registered = select(Person.school_id).where(REPORTS_FOR_SCHOOL, Person.active.is_(True), Person.school_id.is_not(None))
    query = select(School).where(School.id.not_in(registered)).order_by(School.code)
    if district_id is not None:
        query = query.where(School.district_id == district_id)
    return list((await session.scalars(query)).all())


@dataclass(frozen=True)
class SiteAreas:
    """One district's schools in a programme and the land area of their sites (占地面积)."""

    district_id: int
    district: str
    sites: int
    # Schools whose roster row gave the area; the others are unknown, not zero.
    with_area: int
    area: Decimal


async def site_areas(session: AsyncSession, programme: str, district_id: int | None = None) -> list[SiteAreas]:
    """Per district (by name): schools enrolled in ``programme``, how many gave a site area, its sum."""
    query = (
        select(
            District.id,
            District.name,
            func.count(School.id),
            func.count(School.site_area_mu),
            func.coalesce(func.sum(School.site_area_mu), 0),
        )
        .select_from(School)
        .join(District, District.id == School.district_id)
        .join(SchoolProgramme, SchoolProgramme.school_id == School.id)
        .where(SchoolProgramme.programme == programme)
        .group_by(District.id, District.name)
        .order_by(District.name)
    )
    if district_id is not None:
        query = query.where(School.district_id == district_id)
    return [
        SiteAreas(district_id=d_id, district=name, sites=int(sites), with_area=int(known), area=exact_decimal(total))
        for d_id, name, sites, known, total in (await session.execute(query)).all()
    ]
