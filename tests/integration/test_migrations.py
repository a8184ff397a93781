from sqlalchemy import inspect

from mailtrail.models import Base


def test_migrations_create_every_table(engine):
    """The migrated schema has every table the models declare, so the two never drift."""
    assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
