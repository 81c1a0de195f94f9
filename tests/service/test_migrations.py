"""The Alembic migrations build exactly the schema the models describe, on both backends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from storage.db import Database, alembic_config, head_revision, include_for_dialect
from storage.models import Base


def _diff(connection: Any) -> list[Any]:
    ctx = MigrationContext.configure(
        connection, opts={"include_object": include_for_dialect(connection.dialect.name), "compare_type": True}
    )
    return list(compare_metadata(ctx, Base.metadata))


async def test_models_and_migrations_agree(db: Database) -> None:
    assert await db.current_revision() == head_revision()
    async with db.engine.connect() as conn:
        diff = await conn.run_sync(_diff)
    assert diff == []


def test_alembic_config_points_at_the_shipped_migrations() -> None:
    assert alembic_config().get_main_option("script_location", "").endswith("storage/migrations")


async def test_sqlite_review_states_survive_a_downgrade_and_upgrade_again(tmp_path: Path) -> None:
    """SQLite cannot drop a constrained column, so 0012's downgrade keeps ``review``; upgrading again works."""
    from alembic import command

    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'round.db'}")
    try:
        await db.migrate()
        async with db.engine.begin() as conn:
            await conn.run_sync(lambda c: command.downgrade(alembic_config(c), "0011"))
        assert await db.current_revision() == "0011"
        await db.migrate()
        assert await db.current_revision() == head_revision()
    finally:
        await db.dispose()


_POPULATED_0010 = [
    "INSERT INTO districts (id, name) VALUES (1, '相山区')",
    "INSERT INTO schools (id, code, name, district_id, area, created_at, updated_at)"
    " VALUES (1, 'HB-XS-001', '一小', 1, 'urban', '2026-09-01 00:00:00', '2026-09-01 00:00:00')",
    "INSERT INTO people (id, telegram_id, name, role, school_id, blocked, active, created_at)"
    " VALUES (1, 1001, '王校长', 'principal', 1, 0, 1, '2026-09-01 00:00:00')",
    "INSERT INTO invites (id, code_hash, role, school_id, created_at, expires_at)"
    " VALUES (1, 'h', 'principal', 1, '2026-09-01 00:00:00', '2026-09-08 00:00:00')",
    "INSERT INTO reports (id, school_id, form_key, form_version, period, series, version, is_current,"
    " reporter_id, submitted_at, is_late, source, withdrawn)"
    " VALUES (1, 1, 'milk', 1, '2026-10', 'abcd', 1, 1, 1, '2026-11-02 00:00:00', 0, 'chat', 0)",
    "INSERT INTO report_values (report_id, field_key, num_value, text_value) VALUES (1, 'daily_drinkers', 856, NULL)",
]


async def test_sqlite_upgrade_of_a_populated_database_keeps_every_row(tmp_path: Path) -> None:
    """An office's database at 0010 with schools, people, invites and reports upgrades to the head:
    migrations that rebuild a table (a new constraint on schools, people, invites) neither fail on
    the rows pointing at it nor cascade-delete them, and a failure would leave nothing half-done."""
    from alembic import command

    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'office.db'}")
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(lambda c: command.upgrade(alembic_config(c), "0010"))
            for statement in _POPULATED_0010:
                await conn.exec_driver_sql(statement)
        await db.migrate()
        assert await db.current_revision() == head_revision()
        async with db.engine.connect() as conn:
            counts = [
                (await conn.exec_driver_sql(f"SELECT count(*) FROM {table}")).scalar()
                for table in ("schools", "people", "invites", "reports", "report_values")
            ]
            assert counts == [1, 1, 1, 1, 1]
            assert (await conn.exec_driver_sql("PRAGMA foreign_key_check")).fetchall() == []
            assert (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1, "keys are back on"
    finally:
        await db.dispose()
