"""Which part of the city an office member's actions cover.

Staff with ``people.district_id`` set are district staff: every office action
(broadcasts, nudges, ``/overdue``, summaries, exports, digests) is confined to
that district, and the use case checks it. City staff (no district) and admins
act everywhere, even an admin whose person row still carries a district from
before the promotion.
"""

from __future__ import annotations

from bot.services import Identity
from storage.models import Role

__all__ = ["office_district"]


def office_district(who: Identity) -> int | None:
    """The district ``who``'s office actions are confined to; None for city staff and admins (the whole city)."""
    return who.district_id if who.role is Role.STAFF else None
