"""Bulk statements for 100,000-row loads, on both databases."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import Column, MetaData, Table, bindparam, insert, update
from sqlalchemy.orm import Session

T = TypeVar("T")

# Both SQLite and PostgreSQL limit bound parameters per statement (32,766 and 65,535).
IN_CHUNK = 1000


def chunked(items: Sequence[T], size: int = IN_CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def insert_rows(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert plain rows (every row with the same keys, values as the columns store them)."""
    if not rows:
        return
    if session.get_bind().dialect.name == "postgresql":
        _copy_rows(session, table, rows)
        return
    session.execute(insert(table), list(rows))


def _copy_rows(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """PostgreSQL COPY in this session's transaction: psycopg's executemany sends one INSERT per row."""
    columns = list(rows[0])
    unknown = [name for name in columns if name not in table.c]
    if unknown:
        raise KeyError(f"{table.name} has no column {', '.join(unknown)}")
    quoted = ", ".join(f'"{name}"' for name in columns)
    # COPY goes around the session: write what the session still holds first (rows these may refer to).
    session.flush()
    driver = session.connection().connection.driver_connection
    assert driver is not None
    with driver.cursor() as cursor, cursor.copy(f'COPY "{table.name}" ({quoted}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row([row[name] for name in columns])


def update_rows(session: Session, table: Table, workspace_id: int, rows: Sequence[Mapping[str, Any]]) -> None:
    """Set columns of rows found by ``id`` within one workspace; every row has ``id`` and the same keys."""
    if not rows:
        return
    columns = [name for name in rows[0] if name != "id"]
    if session.get_bind().dialect.name == "postgresql":
        _update_from_copy(session, table, workspace_id, columns, rows)
        return
    statement = (
        update(table)
        .where(table.c.workspace_id == workspace_id, table.c.id == bindparam("row_id"))
        .values({name: bindparam(f"new_{name}", type_=table.c[name].type) for name in columns})
    )
    params = [{"row_id": row["id"], **{f"new_{name}": row[name] for name in columns}} for row in rows]
    session.execute(statement, params)


def _update_from_copy(
    session: Session, table: Table, workspace_id: int, columns: list[str], rows: Sequence[Mapping[str, Any]]
) -> None:
    """PostgreSQL: COPY the new values into a temporary table, then one UPDATE ... FROM it."""
    kept = ["id", *columns]
    staging = Table(
        f"bulk_{table.name}", MetaData(), *(Column(n, table.c[n].type) for n in kept), prefixes=["TEMPORARY"]
    )
    connection = session.connection()
    staging.drop(connection, checkfirst=True)
    staging.create(connection)
    _copy_rows(session, staging, rows)
    new = staging.alias("new")
    session.execute(
        update(table)
        .where(table.c.workspace_id == workspace_id, table.c.id == new.c.id)
        .values({name: new.c[name] for name in columns})
    )
    staging.drop(connection)
