"""Alembic environment: the URL comes from the caller (mailtrail.migrate) or MAILTRAIL_DATABASE_URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from mailtrail.config import get_settings
from mailtrail.db import make_engine
from mailtrail.migrate import ours
from mailtrail.models import Base

config = context.config


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        include_name=ours,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run(connection)
else:
    url = config.get_main_option("sqlalchemy.url") or get_settings().database_url
    with make_engine(url).connect() as conn:
        run(conn)
