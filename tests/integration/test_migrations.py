"""The migrations build exactly the schema the models declare, on SQLite and PostgreSQL."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from mailtrail.models import Base


def test_migrations_create_every_table(engine):
    assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())


def test_the_migrated_schema_matches_the_models(engine):
    """Columns, types, indexes and constraints: a model change without its migration fails here."""
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []
