"""Small helpers the read-side queries share: running a column SELECT cheaply, exact numbers, district scope."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any, TypeVar, Unpack

from sqlalchemy import Select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.selectable import CompoundSelect

from storage.models import School

__all__ = ["AnyRow", "AnySelect", "exact_decimal", "fetch_rows", "in_district"]

AnySelect = Select[Unpack[tuple[Any, ...]]]
AnyRow = Row[Unpack[tuple[Any, ...]]]
_S = TypeVar("_S", bound=AnySelect)


def exact_decimal(value: Any) -> Decimal:
    """A database number as an exact Decimal (SQLite hands back floats for NUMERIC sums)."""
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, float):
        # NUMERIC(18, 4): four places is all the column ever held, so rounding float noise there is exact.
        number = Decimal(repr(value)).quantize(Decimal("0.0001"))
    else:
        number = Decimal(value)
    if number == number.to_integral_value():
        return Decimal(int(number))
    return number.normalize()


def in_district(stmt: _S, district_id: int | None) -> _S:
    """``stmt`` (over ``schools``) limited to one district; unchanged for None (the whole city)."""
    return stmt if district_id is None else stmt.where(School.district_id == district_id)


async def fetch_rows(
    session: AsyncSession, stmt: AnySelect | CompoundSelect[Unpack[tuple[Any, ...]]], params: dict[str, Any] | None = None
) -> Sequence[AnyRow]:
    """Run a column SELECT on the session's connection, skipping the ORM's result machinery.

    Rows of plain columns need no identity map; for a year's export the ORM's
    per-row processing costs more than the query itself.
    """
    connection = await session.connection()
    result = await connection.execute(stmt, params or {})
    rows: Sequence[AnyRow] = result.all()
    return rows
