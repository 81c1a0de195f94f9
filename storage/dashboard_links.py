"""The dashboard's one-time desk links: store one (its token's hash), claim it once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import DashboardLink


def add_link(session: AsyncSession, *, token_hash: str, telegram_id: int, created_at: datetime, expires_at: datetime) -> None:
    """Store a new link for ``telegram_id`` (only the hash of its token)."""
    session.add(DashboardLink(token_hash=token_hash, telegram_id=telegram_id, created_at=created_at, expires_at=expires_at))


async def claim_link(session: AsyncSession, token_hash: str, now: datetime) -> int | None:
    """Mark the unused, unexpired link with ``token_hash`` used, atomically; whose it was, or None.

    Two browsers opening one link at once: exactly one gets in.
    """
    claimed = await session.execute(
        update(DashboardLink)
        .where(DashboardLink.token_hash == token_hash, DashboardLink.used_at.is_(None), DashboardLink.expires_at > now)
        .values(used_at=now)
        .returning(DashboardLink.telegram_id)
    )
    return claimed.scalar()


async def forget_old_links(session: AsyncSession, before: datetime) -> int:
    """Delete links that expired before ``before`` (used or not); how many went."""
    result = await session.execute(delete(DashboardLink).where(DashboardLink.expires_at < before))
    return int(getattr(result, "rowcount", 0) or 0)
