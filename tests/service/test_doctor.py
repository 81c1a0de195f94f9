"""`schoolbot doctor` names what is wrong, one line per check."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.commands.doctor import diagnose
from tests.conftest import make_settings


async def test_doctor_passes_on_a_migrated_database(db_url: str) -> None:
    rows = await diagnose(make_settings(db_url))
    failed = [(name, detail) for name, ok, detail in rows if not ok]
    assert failed == []
    assert any(name == "migrations" and "newest" in detail for name, _, detail in rows)
    assert any(name == "cjk font" and "Hei" in detail for name, _, detail in rows), rows


async def test_doctor_reports_missing_migrations(tmp_path: Path) -> None:
    rows = await diagnose(make_settings(f"sqlite+aiosqlite:///{tmp_path}/empty.db"))
    migrations = next(r for r in rows if r[0] == "migrations")
    assert migrations[1] is False and "schoolbot migrate" in migrations[2]


async def test_doctor_names_the_broken_form_and_field(db_url: str, tmp_path: Path) -> None:
    broken = tmp_path / "catalogue.toml"
    broken.write_text(
        """
[[forms]]
key = "uniform"
version = 1
title = { zh = "校服", en = "Uniforms" }
short = { zh = "校服", en = "Uniforms" }
cadence = "yearly"
due_days = 10

[[forms.fields]]
key = "sets"
label = { zh = "套数", en = "Sets" }
type = "integer"
min = 10
max = 1
""",
        encoding="utf-8",
    )
    rows = await diagnose(make_settings(db_url, catalogue_path=broken))
    catalogue = next(r for r in rows if r[0] == "catalogue")
    assert catalogue[1] is False and "uniform" in catalogue[2] and "sets" in catalogue[2]


async def test_doctor_never_prints_the_token(db_url: str) -> None:
    token = "123456:SECRET-doctor-token"
    rows = await diagnose(make_settings(db_url, bot_token=token, telegram_api_url="http://127.0.0.1:9"))
    text = repr(rows)
    assert token not in text and "SECRET" not in text
    assert next(r for r in rows if r[0] == "bot token")[1] is False


async def test_doctor_fails_without_a_cjk_font(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import bot.render.fonts

    monkeypatch.setattr(bot.render.fonts, "cjk_font", lambda: None)
    rows = await diagnose(make_settings(db_url))
    font = next(r for r in rows if r[0] == "cjk font")
    assert font[1] is False and "fonts-wqy-microhei" in font[2]
