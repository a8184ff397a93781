"""All SQL of engagements: bulk writes for the importer, deduplication look-ups, tombstones, timelines."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from mailtrail.models import (
    Engagement,
    EngagementAccount,
    EngagementPerson,
    EngagementSource,
    ImportCount,
    Mailbox,
    Participant,
    Tombstone,
)

# Bound parameters per IN (...) list: SQLite allows 32,766 in all, PostgreSQL 65,535.
_IN_CHUNK = 900


class EngagementRepository:
    """Reads and writes of one workspace's engagements; every statement is scoped to it."""

    def __init__(self, session: Session, workspace_id: int) -> None:
        self.session = session
        self.workspace_id = workspace_id

    def existing_keys(self, keys: Iterable[str]) -> dict[str, int]:
        """Engagement ids of the given message keys that the workspace already has."""
        found: dict[str, int] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), _IN_CHUNK):
            rows = self.session.execute(
                select(Engagement.message_key, Engagement.id).where(
                    Engagement.workspace_id == self.workspace_id,
                    Engagement.message_key.in_(unique[start : start + _IN_CHUNK]),
                )
            )
            found.update((key, engagement_id) for key, engagement_id in rows)
        return found

    def sources_of(self, engagement_ids: Iterable[int], mailbox_id: int) -> set[int]:
        """Which of these engagements already list the mailbox as a source."""
        ids = list(set(engagement_ids))
        seen: set[int] = set()
        for start in range(0, len(ids), _IN_CHUNK):
            seen.update(
                self.session.scalars(
                    select(EngagementSource.engagement_id).where(
                        EngagementSource.workspace_id == self.workspace_id,
                        EngagementSource.mailbox_id == mailbox_id,
                        EngagementSource.engagement_id.in_(ids[start : start + _IN_CHUNK]),
                    )
                )
            )
        return seen

    def claim_engagements(self, engagements: Sequence[dict[str, Any]]) -> dict[str, int]:
        """Insert the engagements (dicts of Engagement columns) that the workspace does not have yet.

        Returns the ids of those inserted, by message key. A key that another import wrote since this one
        looked is left alone (the unique key decides, so two workers never write one email twice); on
        PostgreSQL the insert waits for that other transaction to end. Rows go in key order, so two batches
        that share keys take them in the same order and cannot deadlock.
        """
        if not engagements:
            return {}
        rows = sorted(
            ({**row, "workspace_id": self.workspace_id} for row in engagements),
            key=lambda r: r["message_key"],
        )
        statement = (
            _dialect_insert(self.session, Engagement)
            .on_conflict_do_nothing(index_elements=["workspace_id", "message_key"])
            .returning(Engagement.message_key, Engagement.id)
        )
        return {row.message_key: row.id for row in self.session.execute(statement, rows)}

    def tombstoned(self, keys: Iterable[str]) -> set[str]:
        """Which of these message keys a user deleted (rule 6)."""
        unique = list(dict.fromkeys(keys))
        found: set[str] = set()
        for start in range(0, len(unique), _IN_CHUNK):
            found.update(
                self.session.scalars(
                    select(Tombstone.message_key).where(
                        Tombstone.workspace_id == self.workspace_id,
                        Tombstone.message_key.in_(unique[start : start + _IN_CHUNK]),
                    )
                )
            )
        return found

    def add_sources(self, rows: Sequence[dict[str, Any]]) -> None:
        """Record mailboxes as sources of engagements; one a source already lists stays as it is."""
        if rows:
            statement = _dialect_insert(self.session, EngagementSource).on_conflict_do_nothing(
                index_elements=["engagement_id", "mailbox_id"]
            )
            self.session.execute(statement, [{**row, "workspace_id": self.workspace_id} for row in rows])

    def count_outcomes(self, mailbox_id: int, day: date, counts: Mapping[tuple[str, str], int]) -> None:
        """Add to the mailbox's counts of the day, per (decision, reason)."""
        if not counts:
            return
        table = _dialect_insert(self.session, ImportCount)
        statement = table.on_conflict_do_update(
            index_elements=["mailbox_id", "day", "decision", "reason"],
            set_={"count": ImportCount.count + table.excluded.count},
        )
        rows = [
            {"workspace_id": self.workspace_id, "mailbox_id": mailbox_id, "day": day, "decision": decision,
             "reason": reason, "count": n}
            for (decision, reason), n in sorted(counts.items())
        ]  # fmt: skip
        self.session.execute(statement, rows)

    def insert_rows(self, table: type[Any], rows: Sequence[dict[str, Any]]) -> None:
        """Bulk insert plain rows into one of the link tables, stamped with the workspace."""
        allowed = {Participant, EngagementPerson, EngagementAccount}
        if table not in allowed:
            raise ValueError(f"not a link table: {table.__name__}")
        if rows:
            self.session.execute(insert(table), [{**row, "workspace_id": self.workspace_id} for row in rows])

    def get_or_create_mailbox(self, address: str, provider: str, now: datetime) -> Mailbox:
        mailbox = self.session.scalar(
            select(Mailbox).where(
                Mailbox.workspace_id == self.workspace_id,
                Mailbox.provider == provider,
                Mailbox.address == address,
            )
        )
        if mailbox is None:
            mailbox = Mailbox(
                workspace_id=self.workspace_id, address=address, provider=provider, connected_at=now
            )
            self.session.add(mailbox)
            self.session.flush()
        return mailbox

    def delete(self, engagement_id: int, message_key: str, deleted_by: str | None, at: datetime) -> None:
        """Delete an engagement (its participants, links and sources go with it) and leave a tombstone."""
        self.session.execute(
            delete(Engagement).where(
                Engagement.workspace_id == self.workspace_id, Engagement.id == engagement_id
            )
        )
        self.session.add(
            Tombstone(
                workspace_id=self.workspace_id, message_key=message_key, deleted_at=at, deleted_by=deleted_by
            )
        )
        self.session.flush()


def _dialect_insert(session: Session, table: type[Any]) -> Any:
    """An INSERT that knows ON CONFLICT on this session's database (SQLite and PostgreSQL both do)."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)
