"""Who is looking at the dashboard: the seam between authentication and pages."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

__all__ = ["BadRequest", "NotFound", "Page", "Viewer"]


@dataclass(frozen=True)
class Viewer:
    """An authenticated staff member or admin, with the scope the database gives them."""

    person_id: int
    telegram_id: int
    name: str
    role: str  # "staff" or "admin"; principals never get this far (403)
    # None: the whole city; else the only district this viewer may see.
    district_id: int | None
    lang: str = "zh"


@dataclass(frozen=True)
class Page:
    """What a page answers: HTML (or a download) and its headers."""

    body: bytes
    content_type: str = "text/html; charset=utf-8"
    status: int = 200
    # A download's file name (sent as Content-Disposition: attachment).
    filename: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


class NotFound(Exception):
    """The page, school or period asked for does not exist for this viewer (404, nothing revealed)."""


class BadRequest(Exception):
    """A parameter that does not parse (400 with a one-line message in the viewer's language)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


Query = Mapping[str, Sequence[str]]
