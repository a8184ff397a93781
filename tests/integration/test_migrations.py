"""The migrations build exactly the schema the models declare, on SQLite and PostgreSQL."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from mailtrail.migrate import ours
from mailtrail.models import Base


def test_migrations_create_every_table(engine):
    assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())


def test_the_migrated_schema_matches_the_models(engine):
    """Columns, types, indexes and constraints: a model change without its migration fails here."""
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"include_name": ours})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_postgresql_has_the_job_queue(engine):
    """procrastinate's queue lives in the database on PostgreSQL; SQLite has none (jobs run in-process)."""
    tables = set(inspect(engine).get_table_names())
    if engine.dialect.name == "postgresql":
        assert {"procrastinate_jobs", "procrastinate_workers"} <= tables
    else:
        assert not any(name.startswith("procrastinate_") for name in tables)
