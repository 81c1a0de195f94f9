"""``/dashboard``: a one-time link that opens the office dashboard in a desk browser.

The link is ``<DASHBOARD_URL>/app/login?t=<token>``: 256 random bits, valid
``LINK_MINUTES``, used once (two browsers racing for it: one gets in), and only its
SHA-256 is stored (``storage.dashboard_links``), like invite codes. Opening it sets the
session cookie (``bot.dashboard.auth``), which lasts ``SESSION_HOURS``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.core.i18n import t
from bot.dashboard.auth import hash_token, new_token
from bot.services import Identity, Services
from storage.dashboard_links import add_link, claim_link, forget_old_links

__all__ = ["LINK_MINUTES", "DeskLink", "dashboard_link", "dashboard_url", "issue_link", "redeem_link"]

LINK_MINUTES = 10
# Used and expired links are kept this long (what an audit might ask), then deleted on the next issue.
KEEP_DAYS = 7


@dataclass(frozen=True)
class DeskLink:
    """What ``/dashboard`` answers: the words, and the link when one was issued."""

    text: str
    url: str | None = None


def dashboard_url(services: Services) -> str | None:
    """Where the dashboard's pages are (``<DASHBOARD_URL>/app/``), or None when it is not served."""
    base = services.settings.dashboard_url
    return f"{base}/app/" if base else None


async def issue_link(services: Services, telegram_id: int, now: datetime) -> str | None:
    """Store a new one-time link for ``telegram_id`` and return its URL (None without DASHBOARD_URL)."""
    base = dashboard_url(services)
    if base is None:
        return None
    token = new_token()
    async with services.db.session() as session:
        await forget_old_links(session, now - timedelta(days=KEEP_DAYS))
        add_link(
            session,
            token_hash=hash_token(token),
            telegram_id=telegram_id,
            created_at=now,
            expires_at=now + timedelta(minutes=LINK_MINUTES),
        )
    return f"{base}login?t={token}"


async def redeem_link(services: Services, token: str, now: datetime) -> int | None:
    """Use the link with ``token`` up: whose it was, or None (unknown, used, or expired)."""
    if not token or len(token) > 128:
        return None
    async with services.db.session() as session:
        return await claim_link(session, hash_token(token), now)


async def dashboard_link(services: Services, who: Identity) -> DeskLink:
    """``/dashboard``: a one-time link for staff and admins; principals and strangers are told no."""
    lang = who.language
    if not who.is_staff:
        return DeskLink(t(lang, "dashaccess.office_only"))
    now = services.clock.now()
    url = await issue_link(services, who.telegram_id, now)
    if url is None:
        return DeskLink(t(lang, "dashaccess.not_served"))
    return DeskLink(t(lang, "dashaccess.link", url=url, minutes=LINK_MINUTES), url)
