"""job queue: procrastinate's tables and functions, on PostgreSQL only

The sync jobs run on procrastinate, which keeps its queue in PostgreSQL. Its schema comes with the pinned
package; a later procrastinate release ships migration files of its own, applied in a later revision here.
SQLite has no job queue: ``mailtrail serve`` runs the same task functions in its own process.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 22:10:00
"""

from collections.abc import Sequence

from alembic import op
from procrastinate.schema import SchemaManager

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(SchemaManager.get_schema())


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in ("procrastinate_events", "procrastinate_periodic_defers", "procrastinate_jobs",
                      "procrastinate_workers"):  # fmt: skip
            op.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
