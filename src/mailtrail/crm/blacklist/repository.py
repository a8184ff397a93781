"""All SQL about blacklist entries, always within one workspace."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from mailtrail.models import BlacklistEntry


class BlacklistRepository:
    def __init__(self, session: Session, workspace_id: int) -> None:
        self.session = session
        self.workspace_id = workspace_id

    def present(self, entries: Iterable[str]) -> set[str]:
        """Which of ``entries`` are on the blacklist."""
        query = select(BlacklistEntry.entry).where(
            BlacklistEntry.workspace_id == self.workspace_id, BlacklistEntry.entry.in_(list(entries))
        )
        return set(self.session.scalars(query))

    def add(self, entries: Sequence[str], added_by: str | None, added_at: datetime) -> None:
        """Insert entries with who added them and when."""
        rows = [
            {"workspace_id": self.workspace_id, "entry": e, "added_by": added_by, "added_at": added_at}
            for e in entries
        ]
        if rows:
            self.session.execute(insert(BlacklistEntry), rows)

    def remove(self, entries: Sequence[str]) -> None:
        """Delete these entries."""
        self.session.execute(
            delete(BlacklistEntry).where(
                BlacklistEntry.workspace_id == self.workspace_id, BlacklistEntry.entry.in_(list(entries))
            )
        )

    def all(self) -> list[tuple[str, str | None, datetime]]:
        """Every entry as (entry, added_by, added_at), sorted by entry."""
        query = (
            select(BlacklistEntry.entry, BlacklistEntry.added_by, BlacklistEntry.added_at)
            .where(BlacklistEntry.workspace_id == self.workspace_id)
            .order_by(BlacklistEntry.entry)
        )
        return [(entry, by, at) for entry, by, at in self.session.execute(query)]
