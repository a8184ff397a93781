"""All SQL of engagements: bulk writes for the importer, deduplication look-ups, tombstones, timelines."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from mailtrail.models import (
    Engagement,
    EngagementAccount,
    EngagementPerson,
    EngagementSource,
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

    def insert_engagements(self, engagements: Sequence[dict[str, Any]]) -> list[int]:
        """Insert engagements (dicts of Engagement columns) and return their ids in the same order."""
        if not engagements:
            return []
        rows = [{**row, "workspace_id": self.workspace_id} for row in engagements]
        result = self.session.execute(
            insert(Engagement).returning(Engagement.id, sort_by_parameter_order=True), rows
        )
        return list(result.scalars())

    def insert_rows(self, table: type[Any], rows: Sequence[dict[str, Any]]) -> None:
        """Bulk insert plain rows into one of the link tables, stamped with the workspace."""
        allowed = {Participant, EngagementPerson, EngagementAccount, EngagementSource}
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
