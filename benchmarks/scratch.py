"""A throw-away database for one benchmark run, on SQLite or on the local PostgreSQL server."""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

# The same server the tests use (SCHOOLBOT_TEST_PG), trust auth by default.
PG_SERVER = os.environ.get("SCHOOLBOT_TEST_PG", "postgresql+asyncpg://postgres@127.0.0.1:5432")


async def _pg_admin(sql: str) -> None:
    import asyncpg  # type: ignore[import-untyped]

    conn = await asyncpg.connect(PG_SERVER.replace("postgresql+asyncpg://", "postgresql://") + "/postgres", timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@asynccontextmanager
async def scratch_database(backend: str) -> AsyncIterator[str]:
    """The URL of a new, empty database on ``backend`` ("sqlite" or "postgresql"), removed afterwards."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        return
    name = f"schoolbot_bench_{os.getpid()}_{secrets.token_hex(3)}"
    await _pg_admin(f'CREATE DATABASE "{name}"')
    try:
        yield f"{PG_SERVER}/{name}"
    finally:
        await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
