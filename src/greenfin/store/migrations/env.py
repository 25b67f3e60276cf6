"""Alembic environment: runs migrations on the engine greenfin hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from greenfin.store.schema import metadata

config = context.config
engine = config.attributes.get("engine")
if engine is None:  # run from the alembic command line
    from greenfin.store.database import database_url

    engine = create_engine(database_url())

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
