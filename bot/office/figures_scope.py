"""A district named among the words of ``/summary``, ``/export`` and ``/annual``.

City staff narrow a view to one district by naming it (``/summary milk 2026-11
相山区``); district staff may name their own district (it changes nothing) but
no other: that is refused plainly, with no figures of it. The words left are
the form and period words, read by ``bot.office.args``. A summary button
carries the district it shows (``sum:v:milk:2026-11:d7``) and is checked again
on press, so a forged one shows no other district.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from bot.core.i18n import t
from bot.office.scope import office_district
from bot.services import Identity, Services
from storage.schools import all_districts, district_by_id

__all__ = ["Narrowed", "NotInScope", "OutOfScope", "button_district", "narrow"]


@dataclass(frozen=True)
class Narrowed:
    """The words that are not a district, and the district the view covers (None: the whole city)."""

    words: list[str]
    district_id: int | None
    # The district names the asker may use (only their own for district staff), for a refusal.
    names: list[str]


@dataclass(frozen=True)
class OutOfScope:
    """A district the asker may not see (the refusal says only which district they may), or a second district."""

    text: str


class NotInScope(LookupError):
    """A button names a district that is gone or not the presser's."""


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip().casefold()


async def narrow(services: Services, who: Identity, lang: str, args: Sequence[str]) -> Narrowed | OutOfScope:
    """Take a district name out of ``args``: the words left and the district, or the refusal."""
    async with services.db.session() as session:
        districts = {_fold(d.name): (d.id, d.name) for d in await all_districts(session)}
        own = office_district(who)
        own_name = next((name for i, name in districts.values() if i == own), None)
    names = [name for i, name in districts.values() if own is None or i == own]
    words: list[str] = []
    chosen: tuple[int, str] | None = None
    for word in args:
        found = districts.get(_fold(word))
        if found is None:
            words.append(word)
            continue
        if own is not None and found[0] != own:
            return OutOfScope(t(lang, "summary.p3_out_of_scope", district=own_name or "?"))
        if chosen is not None and chosen != found:
            return OutOfScope(t(lang, "summary.p3_two_districts", first=chosen[1], second=found[1]))
        chosen = found
    return Narrowed(words, chosen[0] if chosen is not None else own, names)


async def button_district(services: Services, who: Identity, district_id: int | None) -> int | None:
    """The district a pressed button shows (None: the city, or the presser's own district if none is named).

    ``NotInScope`` for a district that no longer exists or that district staff may not see.
    """
    own = office_district(who)
    if district_id is None:
        return own
    if own is not None and district_id != own:
        raise NotInScope(district_id)
    async with services.db.session() as session:
        if await district_by_id(session, district_id) is None:
            raise NotInScope(district_id)
    return district_id
