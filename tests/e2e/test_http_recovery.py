"""The real bot recovers by itself from a misbehaving Bot API and from a database outage."""

from __future__ import annotations

import asyncpg
from sqlalchemy.engine import make_url

from bot.offline.fakeserver import FakeBotApiServer
from bot.core.i18n import t
from storage.db import Database
from tests.conftest import PG_SERVER
from tests.e2e.conftest import StartBot, seed_school_invite

PRINCIPAL = 1001


async def test_bot_rides_out_5xx_garbage_429_and_timeouts(
    api: FakeBotApiServer, e2e_db: Database, db_url: str, start_bot: StartBot
) -> None:
    code = await seed_school_invite(e2e_db)
    bot = await start_bot(api, db_url, REMINDER_TICK_SECONDS="3600")
    await bot.until(api, lambda: api.fake.calls_to("getUpdates"), 30, "polling")
    # For a while every kind of failure: polling gets 5xx and garbage, replies get 429 and a time-out.
    api.fake.fail("getUpdates", "server_error", times=3)
    api.fake.fail("getUpdates", "garbage", times=2)
    api.fake.fail("sendMessage", "retry_after", times=2, retry_after=1)
    api.fake.fail("sendMessage", "timeout", times=1)
    wang = api.user(PRINCIPAL, "王校长", "zh")
    wang.send(f"/start {code}")
    # The time-out may eat the welcome or the "temporary failure" note; either way the bot keeps going.
    await bot.until(api, lambda: len(api.fake.calls_to("sendMessage")) >= 3, 60, "replies despite the faults")
    wang.send("/help")
    await bot.until(api, lambda: any(t("zh", "help.intro_principal") in x for x in api.fake.texts(PRINCIPAL)), 60, "the help")
    assert await bot.terminate() == 0


async def _allow_connections(db_url: str, allowed: bool) -> None:
    name = make_url(db_url).database
    admin = await asyncpg.connect(PG_SERVER.replace("+asyncpg", "") + "/postgres")
    try:
        await admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS {str(allowed).lower()}')
        if not allowed:
            # What a server restart does to every open connection.
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                name,
            )
    finally:
        await admin.close()


async def test_database_outage_is_reported_and_survived_without_a_restart(
    api: FakeBotApiServer, pg_db: tuple[str, Database], start_bot: StartBot
) -> None:
    pg_only, e2e_db = pg_db
    code = await seed_school_invite(e2e_db)
    bot = await start_bot(api, pg_only, REMINDER_TICK_SECONDS="3600")
    wang = api.user(PRINCIPAL, "王校长", "zh")
    wang.send(f"/start {code}")
    await bot.until(api, lambda: api.fake.sent(PRINCIPAL), 30, "the welcome")
    await e2e_db.dispose()  # the test's own pool must not hold connections across the outage
    await _allow_connections(pg_only, False)
    try:
        wang.send("/status")
        await bot.until(api, lambda: any("临时故障" in x for x in api.fake.texts(PRINCIPAL)), 40, "the temporary-failure note")
    finally:
        await _allow_connections(pg_only, True)
    wang.send("/help")
    await bot.until(api, lambda: any(t("zh", "help.intro_principal") in x for x in api.fake.texts(PRINCIPAL)), 40, "the help")
    assert bot.proc.returncode is None, "recovered without a restart"
    assert await bot.terminate() == 0
