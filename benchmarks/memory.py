"""Peak memory of the bot serving 10,000 registered users.

Registers 10,000 principals (rows in a fresh SQLite file), builds the real
application on the in-memory Bot API and feeds one update from every user
(``/help`` — identity lookup, menu text, reply), then prints the peak RSS
against the 150 MB aim and the RSS of the same process before the bot was
built, measured side by side in one run.

Run: ``.venv/bin/python -m benchmarks.memory [--users N]``
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import insert

AIM_MB = 150


def rss_mb() -> float:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def main(users: int) -> None:
    from bot.app import build_application
    from bot.offline.fakeapi import FakeRequest, FakeTelegram
    from bot.settings import Settings
    from bot.offline.simulator import Simulator
    from storage.db import Database
    from storage.models import Person
    from storage.schools import ensure_district, upsert_school

    baseline = rss_mb()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'memory.db'}"
        db = Database(url)
        await db.migrate()
        now = datetime.now(timezone.utc)
        async with db.session() as session:
            district = await ensure_district(session, "濉溪县")
            school_ids = []
            for i in range(max(1, users // 10)):
                school, _ = await upsert_school(
                    session, now, code=f"B{i:05d}", name=f"学校{i}", district=district, area="rural", programmes=["milk"]
                )
                school_ids.append(school.id)
            await session.execute(
                insert(Person),
                [
                    {
                        "telegram_id": 1_000_000 + i,
                        "name": f"校长{i}",
                        "role": "principal",
                        "school_id": school_ids[i % len(school_ids)],
                        "language": "zh",
                        "blocked": False,
                        "active": True,
                        "created_at": now,
                    }
                    for i in range(users)
                ],
            )
        fake = FakeTelegram()
        settings = Settings(database_url=url, _env_file=None)
        application = build_application(settings, request=FakeRequest(fake), db=db)
        async with application:
            sim = Simulator(application, fake)
            for i in range(users):
                await sim.user(1_000_000 + i, f"校长{i}").send("/help")
                # The fake keeps every message for tests to read; a real server does not.
                fake.calls.clear()
                fake.messages.clear()
        await db.dispose()
    peak = rss_mb()
    print(f"users served:        {users}")
    print(f"rss before the bot:  {baseline:.0f} MB")
    print(f"peak rss:            {peak:.0f} MB")
    print(f"peak / aim ({AIM_MB} MB): {peak / AIM_MB:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000)
    args = parser.parse_args()
    asyncio.run(main(args.users))
    sys.exit(0)
