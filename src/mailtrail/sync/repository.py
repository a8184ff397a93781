"""All SQL about mailboxes, their credentials, connect flows, events and counts.

``MailboxRepository`` works within one workspace. The sync jobs start from a mailbox id alone (a job carries
ids only); ``due_mailboxes`` and ``mailboxes_for_address`` are the two queries that look across workspaces,
for the dispatcher and for push notifications, and return ids the callers load in their workspace.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, delete, exists, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from mailtrail.models import (
    Credential,
    Engagement,
    EngagementPerson,
    EngagementSource,
    ImportCount,
    Mailbox,
    MailboxEvent,
    OAuthFlow,
    Person,
)


class MailboxRepository:
    """Reads and writes of one workspace's mailboxes; every statement is scoped to it."""

    def __init__(self, session: Session, workspace_id: int) -> None:
        self.session = session
        self.workspace_id = workspace_id

    def get(self, mailbox_id: int) -> Mailbox | None:
        return self.session.scalar(
            select(Mailbox).where(Mailbox.workspace_id == self.workspace_id, Mailbox.id == mailbox_id)
        )

    def by_address(self, provider: str, address: str) -> Mailbox | None:
        return self.session.scalar(
            select(Mailbox).where(
                Mailbox.workspace_id == self.workspace_id,
                Mailbox.provider == provider,
                Mailbox.address == address,
            )
        )

    def all(self) -> list[Mailbox]:
        """Every mailbox of the workspace, synced ones first, then by address."""
        query = select(Mailbox).where(Mailbox.workspace_id == self.workspace_id)
        return list(self.session.scalars(query.order_by(Mailbox.provider == "file", Mailbox.address)))

    def add(self, mailbox: Mailbox) -> Mailbox:
        mailbox.workspace_id = self.workspace_id
        self.session.add(mailbox)
        self.session.flush()
        return mailbox

    def credential(self, credential_id: int) -> Credential | None:
        return self.session.scalar(
            select(Credential).where(
                Credential.workspace_id == self.workspace_id, Credential.id == credential_id
            )
        )

    def credential_for(self, provider: str, kind: str, subject: str) -> Credential | None:
        return self.session.scalar(
            select(Credential).where(
                Credential.workspace_id == self.workspace_id,
                Credential.provider == provider,
                Credential.kind == kind,
                Credential.subject == subject,
            )
        )

    def add_credential(self, credential: Credential) -> Credential:
        credential.workspace_id = self.workspace_id
        self.session.add(credential)
        self.session.flush()
        return credential

    def delete_credential_if_unused(self, credential_id: int) -> None:
        """Remove a credential no mailbox uses any more (a disconnected user's grant)."""
        used = exists().where(Mailbox.credential_id == credential_id, Mailbox.disconnected_at.is_(None))
        self.session.execute(
            delete(Credential).where(
                Credential.workspace_id == self.workspace_id, Credential.id == credential_id, ~used
            )
        )

    def add_flow(self, flow: OAuthFlow) -> None:
        flow.workspace_id = self.workspace_id
        self.session.add(flow)
        self.session.flush()

    def events(self, mailbox_id: int, limit: int = 20) -> list[MailboxEvent]:
        """The mailbox's latest events, newest first."""
        query = (
            select(MailboxEvent)
            .where(MailboxEvent.workspace_id == self.workspace_id, MailboxEvent.mailbox_id == mailbox_id)
            .order_by(MailboxEvent.at.desc(), MailboxEvent.id.desc())
            .limit(limit)
        )
        return list(self.session.scalars(query))

    def add_event(self, mailbox: Mailbox, kind: str, detail: str, at: datetime) -> None:
        self.session.add(
            MailboxEvent(
                workspace_id=self.workspace_id, mailbox_id=mailbox.id, at=at, kind=kind, detail=detail
            )
        )

    def outcome_totals(self, mailbox_id: int) -> dict[tuple[str, str], int]:
        """Emails the mailbox's imports decided, by (decision, reason), over all days."""
        query = (
            select(ImportCount.decision, ImportCount.reason, func.sum(ImportCount.count))
            .where(ImportCount.workspace_id == self.workspace_id, ImportCount.mailbox_id == mailbox_id)
            .group_by(ImportCount.decision, ImportCount.reason)
        )
        return {(decision, reason): int(n) for decision, reason, n in self.session.execute(query)}

    def purge(self, mailbox_id: int) -> tuple[int, int]:
        """Delete what only this mailbox brought: engagements no other mailbox saw, then the people its emails
        created that no engagement shows any more. Returns (engagements, people) deleted."""
        ws = self.workspace_id
        other = aliased(EngagementSource)
        only_here = (
            select(EngagementSource.engagement_id)
            .where(EngagementSource.workspace_id == ws, EngagementSource.mailbox_id == mailbox_id)
            .where(
                ~exists().where(
                    other.engagement_id == EngagementSource.engagement_id, other.mailbox_id != mailbox_id
                )
            )
        )
        linked_people = select(EngagementPerson.person_id).where(
            EngagementPerson.workspace_id == ws, EngagementPerson.engagement_id.in_(only_here)
        )
        candidates = list(self.session.scalars(linked_people.distinct()))
        engagements = _rowcount(
            self.session.execute(
                delete(Engagement).where(Engagement.workspace_id == ws, Engagement.id.in_(only_here))
            )
        )
        people = 0
        if candidates:
            still_shown = exists().where(EngagementPerson.person_id == Person.id)
            created_here = and_(Person.source == "email", Person.id.in_(candidates), ~still_shown)
            people = _rowcount(
                self.session.execute(delete(Person).where(Person.workspace_id == ws, created_here))
            )
        self.session.execute(
            delete(EngagementSource).where(
                EngagementSource.workspace_id == ws, EngagementSource.mailbox_id == mailbox_id
            )
        )
        return engagements, people


def _rowcount(result: object) -> int:
    """Rows a DELETE removed (a CursorResult's rowcount, which the generic Result type does not declare)."""
    return int(getattr(result, "rowcount", 0) or 0)


def pop_flow(session: Session, state: str, oldest: datetime) -> OAuthFlow | None:
    """The connect flow of an OAuth ``state`` (deleted as it is read: a state works once), if not too old.

    The callback knows only the state, so this look-up is by it alone; the flow names its workspace.
    """
    flow = session.get(OAuthFlow, state)
    if flow is None:
        return None
    session.delete(flow)
    session.flush()
    return flow if flow.created_at >= oldest else None


def due_mailboxes(session: Session, now: datetime, statuses: Sequence[str], limit: int) -> list[int]:
    """Ids of mailboxes in any workspace that a sync is due for (the dispatcher's query)."""
    query = (
        select(Mailbox.id)
        .where(
            Mailbox.status.in_(statuses),
            Mailbox.sync_due_at.is_not(None),
            Mailbox.sync_due_at <= now,
            or_(Mailbox.backoff_until.is_(None), Mailbox.backoff_until <= now),
        )
        .order_by(Mailbox.sync_due_at)
        .limit(limit)
    )
    return list(session.scalars(query))


def watches_due(
    session: Session, provider: str, before: datetime, tried_before: datetime, statuses: Sequence[str]
) -> list[int]:
    """Ids of synced mailboxes whose push registration lapses before ``before`` (or was never made), and
    that nobody tried to register since ``tried_before``."""
    query = select(Mailbox.id).where(
        Mailbox.provider == provider,
        Mailbox.status.in_(statuses),
        or_(Mailbox.watch_expires_at.is_(None), Mailbox.watch_expires_at < before),
        or_(Mailbox.watch_attempted_at.is_(None), Mailbox.watch_attempted_at < tried_before),
    )
    return list(session.scalars(query))


def mailboxes_for_address(session: Session, provider: str, address: str) -> list[int]:
    """Ids of the connected mailboxes with this address at this provider (a push names only the address)."""
    query = select(Mailbox.id).where(
        Mailbox.provider == provider, Mailbox.address == address, Mailbox.disconnected_at.is_(None)
    )
    return list(session.scalars(query))


def request_sync(session: Session, mailbox_ids: Sequence[int], now: datetime) -> None:
    """Make these mailboxes due now (a push arrived, or a person asked); back-off still applies."""
    if mailbox_ids:
        session.execute(
            update(Mailbox)
            .where(Mailbox.id.in_(mailbox_ids), Mailbox.disconnected_at.is_(None))
            .values(sync_due_at=now)
        )


def resume_interrupted(session: Session, now: datetime, syncing: str) -> list[int]:
    """Make mailboxes left "syncing" by a process that stopped due now; returns their ids.

    Only for a process that runs every sync itself (SQLite): at its start, no sync of its can still run.
    """
    ids = list(session.scalars(select(Mailbox.id).where(Mailbox.status == syncing)))
    request_sync(session, ids, now)
    return ids


def mailboxes_watching(
    session: Session, provider: str, watch_ids: set[str]
) -> list[tuple[int, str | None, str | None]]:
    """``(mailbox id, watch id, sealed watch state)`` of the mailboxes whose push registration has one of
    these ids (a Graph notification names only its subscription)."""
    if not watch_ids:
        return []
    query = select(Mailbox.id, Mailbox.watch_id, Mailbox.watch_state).where(
        Mailbox.provider == provider,
        Mailbox.watch_id.in_(sorted(watch_ids)),
        Mailbox.disconnected_at.is_(None),
    )
    return [(row[0], row[1], row[2]) for row in session.execute(query)]


def renew_watches(session: Session, mailbox_ids: Sequence[int]) -> None:
    """The provider asked for these push registrations to be renewed or made again: due at the next round."""
    session.execute(
        update(Mailbox)
        .where(Mailbox.id.in_(mailbox_ids))
        .values(watch_expires_at=None, watch_attempted_at=None)
    )
