"""The Alembic migrations build exactly the schema the models describe, on both backends."""

from __future__ import annotations

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
