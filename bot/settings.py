"""Configuration from environment variables and an optional ``.env`` file.

Read once at start (``load_settings()``); a bad value stops the bot with one
line naming the variable, e.g. ``TIMEZONE: unknown time zone 'Mars/Base'``.
"""

from __future__ import annotations

import re
from datetime import date, time
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///schoolbot.db"
DEFAULT_DASHBOARD_PORT = 8080
_HHMM = re.compile(r"^\s*([01]?\d|2[0-3]):([0-5]\d)\s*$")


class SettingsError(RuntimeError):
    """A setting has a bad value; the message is one line naming the variable."""


def _parse_hhmm(text: str) -> time:
    match = _HHMM.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a time like 21:00")
    return time(int(match.group(1)), int(match.group(2)))


class QuietHours:
    """A daily window (may wrap midnight) in which nobody is messaged unasked."""

    def __init__(self, start: time, end: time) -> None:
        self.start, self.end = start, end

    @classmethod
    def parse(cls, text: str) -> "QuietHours":
        parts = text.split("-")
        if len(parts) != 2:
            raise ValueError(f"{text!r} is not a range like 21:00-08:00")
        return cls(_parse_hhmm(parts[0]), _parse_hhmm(parts[1]))

    def contains(self, moment: time) -> bool:
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end

    def __repr__(self) -> str:
        return f"QuietHours({self.start:%H:%M}-{self.end:%H:%M})"


_WEEKDAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
_OFF = {"", "off", "none", "no", "false", "0"}


class WeeklyAt:
    """A weekly moment such as ``MON 09:00``; ``weekday`` counts as ``date.weekday()`` (0 = Monday)."""

    def __init__(self, weekday: int, at: time) -> None:
        self.weekday, self.at = weekday, at

    @classmethod
    def parse(cls, text: str) -> "WeeklyAt":
        parts = text.split()
        day = parts[0][:3].upper() if parts else ""
        if len(parts) != 2 or day not in _WEEKDAYS:
            raise ValueError(f"{text!r} is not a weekday and time like MON 09:00")
        return cls(_WEEKDAYS.index(day), _parse_hhmm(parts[1]))

    def __repr__(self) -> str:
        return f"WeeklyAt({_WEEKDAYS[self.weekday]} {self.at:%H:%M})"


class Settings(BaseSettings):
    """Everything the bot reads from its environment."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    bot_token: SecretStr | None = None
    database_url: str = DEFAULT_DATABASE_URL
    telegram_api_url: str = "https://api.telegram.org"
    admin_ids: Annotated[frozenset[int], NoDecode] = frozenset()
    timezone: ZoneInfo = Field(default=ZoneInfo("Asia/Shanghai"))
    quiet_hours: Annotated[QuietHours, NoDecode] = Field(default_factory=lambda: QuietHours.parse("21:00-08:00"))
    holidays: Annotated[tuple[tuple[date, date], ...], NoDecode] = ()
    bot_username: str | None = None
    catalogue_path: Path | None = None
    # Who signs the year-end draft (its title and the name above the date at the end).
    office_name: str = Field(default="市教育局勤工俭学管理办公室", min_length=1, max_length=100)
    draft_ttl_days: int = Field(default=7, ge=1)
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_listen: str = "0.0.0.0"
    webhook_port: int = Field(default=8443, ge=1, le=65535)
    log_level: str = "INFO"
    # Under load a webhook update that cannot get a database connection or its user's lock
    # within these many seconds is answered 503, and Telegram delivers it again later.
    database_pool_size: int = Field(default=10, ge=1, le=1000)
    database_pool_timeout: float = Field(default=10.0, gt=0, le=600)
    user_lock_timeout: float = Field(default=10.0, gt=0, le=600)
    # PostgreSQL: the user-lock engine's connections (bot/runtime/userlock.py). Each update in
    # flight holds one for its whole processing, so this caps the updates one instance serves
    # at once; unset, it is DATABASE_POOL_SIZE (see user_lock_pool).
    user_lock_pool_size: int | None = Field(default=None, ge=1, le=1000)
    # Reminders and digests (scheduler/): when slots fire, when the office hears of it.
    reminder_at: Annotated[time, NoDecode] = time(9, 0)
    escalate_after_days: int = Field(default=7, ge=0)
    daily_digest_at: Annotated[time | None, NoDecode] = time(9, 0)
    weekly_digest: Annotated[WeeklyAt | None, NoDecode] = Field(default_factory=lambda: WeeklyAt.parse("MON 09:00"))
    reminder_tick_seconds: int = Field(default=300, ge=5)
    draft_idle_minutes: int = Field(default=10, ge=0)
    # A reminder or broadcast row claimed by a process that died unsent is taken again after this.
    send_lease_seconds: int = Field(default=300, ge=1)
    # Bulk sends per second for ALL instances together on PostgreSQL (storage/budget.py): a ceiling
    # of their own (a bucket of 1.5 tokens) inside the one 28/s schedule every message keeps, in
    # which replies book first. At the default, 28, bulk sends may fill the schedule when no reply
    # is waiting; a lower rate leaves part of every second to replies whatever bulk is queued. At
    # 28/s a 10,000-school reminder goes out in about 6 minutes. SQLite (one process) keeps
    # bot.delivery.send.BULK_RATE.
    send_bulk_rate: float = Field(default=28.0, gt=0, le=29)
    # The office dashboard (bot/dashboard/): the public base URL that reaches the bot's /app/
    # (enables the staff menu button, the 📊 button and /dashboard links; https for the Mini App),
    # the port it is served on in polling mode (webhook mode shares WEBHOOK_PORT; unset: 8080
    # when DASHBOARD_URL is set, else no dashboard), and how old Telegram's initData may be.
    dashboard_url: str | None = None
    dashboard_port: int | None = Field(default=None, ge=1, le=65535)
    dashboard_auth_max_age: int = Field(default=3600, ge=1, le=86400)

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: Any) -> Any:
        if isinstance(value, str):
            items = [part for part in re.split(r"[\s,;]+", value) if part]
            try:
                return frozenset(int(item) for item in items)
            except ValueError:
                raise ValueError(f"{value!r} is not a comma-separated list of Telegram user ids") from None
        return value

    @field_validator("timezone", mode="before")
    @classmethod
    def _zone(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("quiet_hours", mode="before")
    @classmethod
    def _quiet(cls, value: Any) -> Any:
        return QuietHours.parse(value) if isinstance(value, str) else value

    @field_validator("reminder_at", "daily_digest_at", mode="before")
    @classmethod
    def _clock_time(cls, value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, str):
            return value
        if info.field_name == "daily_digest_at" and value.strip().lower() in _OFF:
            return None
        return _parse_hhmm(value)

    @field_validator("weekly_digest", mode="before")
    @classmethod
    def _weekly(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        return None if value.strip().lower() in _OFF else WeeklyAt.parse(value)

    @field_validator("holidays", mode="before")
    @classmethod
    def _holidays(cls, value: Any) -> Any:
        """Parse ``2027-01-20..2027-02-20,2027-07-10..2027-08-31`` (inclusive ranges)."""
        if not isinstance(value, str):
            return value
        ranges = []
        for chunk in filter(None, (c.strip() for c in value.split(","))):
            first, sep, last = chunk.partition("..")
            try:
                start, end = date.fromisoformat(first.strip()), date.fromisoformat((last if sep else first).strip())
            except ValueError:
                raise ValueError(f"{chunk!r} is not a date range like 2027-01-20..2027-02-20") from None
            if end < start:
                raise ValueError(f"{chunk!r} ends before it starts")
            ranges.append((start, end))
        return tuple(ranges)

    @field_validator("telegram_api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _db_url(cls, value: str) -> str:
        # Accept the URLs people paste from hosting panels and name the async driver for them.
        if value.startswith(("postgres://", "postgresql://")):
            return "postgresql+asyncpg://" + value.split("://", 1)[1]
        if value.startswith("sqlite:///"):
            return "sqlite+aiosqlite:///" + value[len("sqlite:///") :]
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError(f"{value.split('://')[0]!r} is not supported; use sqlite:/// or postgresql://")
        return value

    @field_validator("dashboard_url")
    @classmethod
    def _dashboard_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"{value!r} is not an http(s) URL")
        # The base the dashboard lives under: pages are at <DASHBOARD_URL>/app/.
        return value.rstrip("/").removesuffix("/app")

    @field_validator("bot_username")
    @classmethod
    def _username(cls, value: str | None) -> str | None:
        return value.lstrip("@") if value else value

    @field_validator("webhook_secret")
    @classmethod
    def _secret(cls, value: SecretStr | None) -> SecretStr | None:
        # Telegram accepts 1-256 characters A-Z, a-z, 0-9, _ and - as a secret token.
        if value is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", value.get_secret_value()):
            raise ValueError("must be 1-256 characters of A-Z, a-z, 0-9, _ and -")
        return value

    @model_validator(mode="after")
    def _webhook_needs_secret(self) -> "Settings":
        if self.webhook_url:
            if not re.match(r"^https?://[^/\s]+", self.webhook_url):
                raise ValueError("WEBHOOK_URL: must be an http(s) URL")
            if self.webhook_secret is None:
                raise ValueError("WEBHOOK_SECRET: must be set in webhook mode (Telegram sends it with every update)")
        return self

    @property
    def token(self) -> str | None:
        """The bot token, or None when running offline."""
        return self.bot_token.get_secret_value() if self.bot_token else None

    def database_options(self) -> dict[str, Any]:
        """Keyword arguments for ``storage.db.Database``: the connection pool's size and wait."""
        return {"pool_size": self.database_pool_size, "pool_timeout": self.database_pool_timeout}

    @property
    def user_lock_pool(self) -> int:
        """Connections of the user-lock engine: ``USER_LOCK_POOL_SIZE``, else ``DATABASE_POOL_SIZE``."""
        return self.user_lock_pool_size or self.database_pool_size

    @property
    def dashboard_serve_port(self) -> int | None:
        """Polling mode: the port the dashboard listens on, or None for no dashboard."""
        if self.dashboard_port is not None:
            return self.dashboard_port
        return DEFAULT_DASHBOARD_PORT if self.dashboard_url else None

    def is_holiday(self, day: date) -> bool:
        return any(start <= day <= end for start, end in self.holidays)


def load_settings(**overrides: Any) -> Settings:
    """Read the settings once, turning a validation error into one clear line."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        reason = str(first["msg"]).removeprefix("Value error, ")
        if first["loc"]:
            reason = f"{str(first['loc'][0]).upper()}: {reason}"
        # Cross-field checks name their variable themselves.
        raise SettingsError(reason) from None
