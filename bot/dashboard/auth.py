"""Who may open the dashboard: Telegram ``initData``, the desk session cookie, the viewer's scope.

Two ways in, no passwords:

- **Mini App** (menu button, 📊 under ``/summary``): Telegram opens the page with the signed
  launch data (``initData``) in the URL fragment; the page's own script
  (``static/telegram-login.js``) posts it to ``POST /app/auth``. The server checks it exactly
  as Telegram documents for Web Apps
  (https://core.telegram.org/bots/webapps#validating-data-received-via-the-mini-app):
  ``secret_key = HMAC_SHA256(key="WebAppData", msg=bot_token)``, ``hash = hex(HMAC_SHA256(
  secret_key, data_check_string))`` where ``data_check_string`` is every received field but
  ``hash`` as ``key=value`` lines sorted by key, compared in constant time; ``auth_date`` no
  older than ``DASHBOARD_AUTH_MAX_AGE``. Then it sets the session cookie below.
- **Desk**: ``/dashboard`` in chat sends a one-time link (``bot.dashboard.links``) that sets
  the same cookie.

The cookie holds the Telegram id and the moment it was issued, signed (tornado's signed
cookies, HMAC-SHA256) with a key derived from the bot token, valid ``SESSION_HOURS``. It
never carries the role: every request reads the person again (``viewer_for``), so a member
deactivated or turned principal is refused at once. Nothing here logs a token, a cookie or
initData.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qsl

from bot.core.i18n import normalise_language
from bot.dashboard.viewer import Viewer
from bot.office import people
from bot.office.scope import office_district
from bot.services import Services
from storage.models import Role

__all__ = [
    "COOKIE_NAME",
    "SESSION_HOURS",
    "Forbidden",
    "TelegramUser",
    "Unauthorized",
    "cookie_secret",
    "hash_token",
    "new_token",
    "read_session",
    "session_value",
    "validate_init_data",
    "viewer_for",
]

COOKIE_NAME = "schoolbot_session"
SESSION_HOURS = 8
# Clocks differ a little between Telegram and us: an auth_date this far ahead is still taken.
FUTURE_SKEW = timedelta(seconds=60)
# initData is a few hundred bytes; anything much longer is not Telegram's.
MAX_INIT_DATA = 4096


class Unauthorized(Exception):
    """No valid credentials (401): tampered, unsigned, stale or foreign initData; a used link; a bad cookie."""


class Forbidden(Exception):
    """Valid credentials of somebody who may not see the dashboard (403): a principal, or nobody we know."""


@dataclass(frozen=True)
class TelegramUser:
    """The ``user`` field of validated initData."""

    id: int
    name: str
    language: str


def _hmac(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def validate_init_data(init_data: str, bot_token: str, *, now: datetime, max_age: timedelta) -> TelegramUser:
    """The user of ``init_data`` if Telegram signed it for ``bot_token`` within ``max_age``; else ``Unauthorized``."""
    if not init_data or len(init_data) > MAX_INIT_DATA:
        raise Unauthorized("no initData" if not init_data else "initData too long")
    try:
        pairs = parse_qsl(init_data, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise Unauthorized("initData does not parse") from None
    fields = dict(pairs)
    if len(fields) != len(pairs):
        raise Unauthorized("a field appears twice")
    given = fields.pop("hash", None)
    if not given:
        raise Unauthorized("no hash")
    check = "\n".join(f"{key}={value}" for key, value in sorted(fields.items()))
    secret_key = _hmac(b"WebAppData", bot_token.encode())
    expected = hmac.new(secret_key, check.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, given):
        raise Unauthorized("hash does not match")
    try:
        signed_at = datetime.fromtimestamp(int(fields["auth_date"]), tz=timezone.utc)
    except (KeyError, ValueError, OverflowError, OSError):
        raise Unauthorized("no auth_date") from None
    if now - signed_at > max_age:
        raise Unauthorized("auth_date too old")
    if signed_at - now > FUTURE_SKEW:
        raise Unauthorized("auth_date in the future")
    return _user(fields.get("user"))


def _user(raw: str | None) -> TelegramUser:
    try:
        user = json.loads(raw) if raw else None
    except ValueError:
        user = None
    if not isinstance(user, dict) or not isinstance(user.get("id"), int) or isinstance(user.get("id"), bool):
        raise Unauthorized("no user in initData")
    name = " ".join(str(user.get(part) or "") for part in ("first_name", "last_name")).strip()
    lang = user.get("language_code")
    return TelegramUser(id=user["id"], name=name, language=normalise_language(lang if isinstance(lang, str) else None))


async def viewer_for(services: Services, telegram_id: int, *, name: str = "", language: str = "zh") -> Viewer:
    """The viewer ``telegram_id`` is now, read from the database; ``Forbidden`` unless staff or admin.

    City staff and admins see the city (``district_id`` None); district staff their district.
    """
    who = await people.identify(services, telegram_id=telegram_id, full_name=name, language=language, private=False)
    if who.role not in (Role.STAFF, Role.ADMIN) or who.person_id is None:
        raise Forbidden("principal" if who.is_principal else "not registered")
    return Viewer(
        person_id=who.person_id,
        telegram_id=telegram_id,
        name=who.name,
        role=str(who.role),
        district_id=office_district(who),
        lang=who.language,
    )


def cookie_secret(bot_token: str) -> bytes:
    """The session cookie's signing key: derived from the bot token, so one secret fewer to manage."""
    return _hmac(b"schoolbot dashboard session", bot_token.encode())


def session_value(telegram_id: int, issued: datetime) -> str:
    """What the signed cookie carries: who, and since when."""
    return f"{telegram_id}:{int(issued.timestamp())}"


def read_session(value: bytes | None, now: datetime) -> int | None:
    """The Telegram id of a cookie value whose signature tornado checked, if still within ``SESSION_HOURS``."""
    if value is None:
        return None
    try:
        who, issued = value.decode().split(":")
        telegram_id, since = int(who), datetime.fromtimestamp(int(issued), tz=timezone.utc)
    except (ValueError, OverflowError, OSError):
        return None
    if not timedelta(0) - FUTURE_SKEW <= now - since <= timedelta(hours=SESSION_HOURS):
        return None
    return telegram_id


def new_token() -> str:
    """A random one-time link token (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """What is stored of a link token: its SHA-256, hex."""
    return hashlib.sha256(token.encode()).hexdigest()
