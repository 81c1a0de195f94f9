"""Alembic environment: runs on the connection the app hands in (see storage.db)."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from storage.db import include_for_dialect
from storage.models import Base

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_object=include_for_dialect(connection.dialect.name),
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `schoolbot migrate`, which supplies the database connection")
_run(connection)
