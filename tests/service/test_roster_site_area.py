"""The roster's optional 占地面积（亩） column: read, checked, stored, and left alone when absent."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from bot.cli import main
from bot.core.clock import FixedClock
from bot.office.roster import RosterInvalid, import_roster, parse_roster
from storage.db import Database
from storage.schools import school_by_code, site_areas
from tests.conftest import wipe
from tests.service.test_invite_cli import on_db

BASE = "code,name,district,area,programmes"


def rows(*lines: str) -> bytes:
    return "\n".join(lines).encode()


def test_site_area_is_read_in_mu_with_or_without_the_unit() -> None:
    parsed = parse_roster(
        rows(
            f"{BASE},占地面积（亩）",
            "HB001,甲,濉溪县,rural,farm,32",
            "HB002,乙,濉溪县,rural,farm,２２.５亩",
            "HB003,丙,濉溪县,rural,,",
        )
    )
    assert [(r.site_area_mu, r.has_site_area) for r in parsed] == [
        (Decimal("32.00"), True),
        (Decimal("22.50"), True),
        (None, True),
    ]
    assert parse_roster(rows(BASE, "HB001,甲,濉溪县,rural,farm"))[0].has_site_area is False


def test_bad_site_area_names_the_line_and_what_is_wanted() -> None:
    with pytest.raises(RosterInvalid) as caught:
        parse_roster(rows(f"{BASE},site_area_mu", "HB001,甲,濉溪县,rural,farm,很大", "HB002,乙,濉溪县,rural,farm,-3"))
    assert caught.value.messages("zh") == [
        "第 2 行：占地面积“很大”不是有效的亩数，请填写 0 到 100000 之间的数字（例如 25 或 25.5），不知道可留空。",
        "第 3 行：占地面积“-3”不是有效的亩数，请填写 0 到 100000 之间的数字（例如 25 或 25.5），不知道可留空。",
    ]


async def test_a_roster_without_the_column_keeps_the_stored_area(db: Database, clock: FixedClock) -> None:
    now = clock.now()
    await import_roster(db, now, parse_roster(rows(f"{BASE},占地面积", "HB001,甲,濉溪县,rural,farm,32")), new_districts=True)
    result = await import_roster(db, now, parse_roster(rows(BASE, "HB001,甲,濉溪县,rural,farm")))
    assert result.unchanged == ("HB001",)
    async with db.session() as session:
        school = await school_by_code(session, "HB001")
        assert school is not None and school.site_area_mu == Decimal(32)
        assert [(s.sites, s.with_area, s.area) for s in await site_areas(session, "farm")] == [(1, 1, Decimal(32))]
    changed = await import_roster(db, now, parse_roster(rows(f"{BASE},占地面积", "HB001,甲,濉溪县,rural,farm,")))
    assert changed.updated == ("HB001",)
    async with db.session() as session:
        school = await school_by_code(session, "HB001")
        assert school is not None and school.site_area_mu is None


def test_import_roster_cli_refuses_a_bad_site_area(
    db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", db_url)
    on_db(db_url, wipe)
    path = tmp_path / "schools.csv"
    path.write_bytes(rows(f"{BASE},占地面积（亩）", "HB001,甲,濉溪县,rural,farm,三十亩"))
    try:
        assert main(["import-roster", str(path), "--new-districts"]) != 0
        captured = capsys.readouterr()
        assert "三十亩" in captured.out + captured.err
    finally:
        on_db(db_url, wipe)
