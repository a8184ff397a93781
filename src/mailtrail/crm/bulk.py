"""Bulk statements for 100,000-row loads, on both databases."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

T = TypeVar("T")

# Both SQLite and PostgreSQL limit bound parameters per statement (32,766 and 65,535).
IN_CHUNK = 1000
VALUES_CHUNK = 1000


def chunked(items: Sequence[T], size: int = IN_CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def insert_rows(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert plain rows (every row with the same keys) without the ORM's per-row work."""
    if not rows:
        return
    if session.get_bind().dialect.name == "postgresql":
        # psycopg's executemany sends one INSERT per row; multi-row VALUES is one round trip per chunk.
        for chunk in chunked(rows, VALUES_CHUNK):
            session.execute(insert(table).values(list(chunk)))
        return
    session.execute(insert(table), list(rows))
