"""The one ingest service: emails from any source to decisions (rules/), and imported decisions to rows.

Files, Gmail and Microsoft 365 all hand over ``IncomingEmail``s. ``Ingest.decide`` reads the workspace and
decides a batch; ``Ingest.write`` writes it: engagements, participants, links, sources, the people it creates
and the day's counts. The caller commits after each batch (a sync commits its mailbox cursor in the same
transaction), so a batch is all-or-nothing and running it again changes nothing: what was imported comes
back ``merged``. Between the two a source fetches the bodies that imported emails keep
(``IngestBatch.needs_body``).

The writes are safe against other workers writing the same emails at the same moment: an engagement is
claimed by its unique message key, a person by a lock on its address (``create_people_from_email``), and a
deletion made since ``decide`` is seen again before writing. Each batch decides against the workspace as it
is now: a change to the CRM (``rules_version``) reloads the rules' snapshot.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from typing import Any

from sqlalchemy.orm import Session

from mailtrail.crm.accounts.service import account_names
from mailtrail.crm.errors import CrmError
from mailtrail.crm.people.service import NewEmailPerson, create_people_from_email
from mailtrail.crm.snapshot import load_snapshot
from mailtrail.crm.workspaces.repository import WorkspaceRepository
from mailtrail.engagements.report import IMPORTED, MERGED, SKIPPED, ImportSummary, ReportLine, outcome
from mailtrail.engagements.repository import EngagementRepository
from mailtrail.mail.html import html_to_text, sanitise_html, snippet
from mailtrail.mail.rfc822 import extract_bodies
from mailtrail.models import EngagementAccount, EngagementPerson, Participant
from mailtrail.providers.base import IncomingEmail
from mailtrail.rules.decide import decide
from mailtrail.rules.links import plan_links
from mailtrail.rules.types import AddressClass, Decision, LinkPlan, PersonRef, Reason, WorkspaceSnapshot

SNIPPET_LENGTH = 200
# Per address: the people an imported email links for it, and whether this batch created them.
Linked = dict[str, tuple[list[PersonRef], bool]]


@dataclass(slots=True)
class _Pending:
    """One email of a batch: its decision, the outcome so far, and what writing it needs."""

    item: IncomingEmail
    decision: Decision
    result: str
    reason: Reason
    plan: LinkPlan | None = None
    # The engagement it was written as, or (merged) the one it joins.
    engagement_id: int | None = None


@dataclass(slots=True)
class IngestBatch:
    """A decided batch, waiting to be written."""

    now: datetime
    visibility: str
    pending: list[_Pending]

    @property
    def needs_body(self) -> list[IncomingEmail]:
        """The imported emails whose body the workspace keeps and the source has not fetched yet."""
        if self.visibility == "metadata":
            return []
        return [
            p.item
            for p in self.pending
            if p.result == IMPORTED
            and p.item.raw is None
            and (self.visibility == "full" or p.item.preview is None)
        ]


class Ingest:
    """Decides and writes the emails one mailbox sees, batch by batch, for one workspace."""

    def __init__(self, workspace_id: int, mailbox_id: int) -> None:
        self.workspace_id = workspace_id
        self.mailbox_id = mailbox_id
        self._snapshot: WorkspaceSnapshot | None = None
        self._version: int | None = None
        self._account_names: dict[int, str] = {}

    def snapshot(self, session: Session) -> WorkspaceSnapshot:
        """The rules' view of the workspace, reloaded when something they read has changed since."""
        version = WorkspaceRepository(session).rules_version(self.workspace_id)
        if version is None:
            raise CrmError(f"no workspace with id {self.workspace_id}")
        if self._snapshot is None or version != self._version:
            self._snapshot = load_snapshot(session, self.workspace_id)
            self._account_names = account_names(session, self.workspace_id)
            self._version = version
        return self._snapshot

    def decide(self, session: Session, items: Sequence[IncomingEmail], now: datetime) -> IngestBatch:
        """Decide every email of the batch (reads only). ``now`` is the time of import."""
        snapshot = self.snapshot(session)
        in_database = EngagementRepository(session, self.workspace_id).existing_keys(
            item.email.key for item in items
        )
        in_batch: set[str] = set()
        pending = []
        for item in items:
            key = item.email.key
            decision = decide(item.email, snapshot, now)
            result, reason = outcome(decision, already_imported=key in in_database or key in in_batch)
            entry = _Pending(item, decision, result, reason, engagement_id=in_database.get(key))
            if result == IMPORTED:
                entry.plan = plan_links(decision, snapshot)
                in_batch.add(key)
            pending.append(entry)
        return IngestBatch(now, snapshot.settings.visibility, pending)

    def write(
        self, session: Session, batch: IngestBatch, bodies: Mapping[str, bytes] | None = None
    ) -> list[ReportLine]:
        """Write a decided batch (flushes, never commits); ``bodies`` holds raw MIME by provider id."""
        repository = EngagementRepository(session, self.workspace_id)
        deleted = repository.tombstoned(p.item.email.key for p in batch.pending if p.result != SKIPPED)
        for p in batch.pending:
            if p.result != SKIPPED and p.item.email.key in deleted:
                p.result, p.reason, p.plan = SKIPPED, Reason.DELETED, None
        wanted = [p for p in batch.pending if p.result == IMPORTED]
        claimed = repository.claim_engagements([self._engagement_row(p, batch, bodies or {}) for p in wanted])
        written = [p for p in wanted if p.item.email.key in claimed]
        lost = [p for p in wanted if p.item.email.key not in claimed]
        joining = [p for p in batch.pending if p.result == MERGED] + lost
        current = repository.existing_keys(p.item.email.key for p in joining)
        for p in written:
            p.engagement_id = claimed[p.item.email.key]
        for p in joining:
            # Another worker wrote it since this batch looked: one engagement, this mailbox a source of it.
            p.result, p.reason, p.plan = MERGED, Reason.DUPLICATE, None
            p.engagement_id = current.get(p.item.email.key)
        linked = self._create_people(session, written, batch.now)
        self._write_rows(repository, written, linked, batch.now)
        sources = [p for p in (*written, *joining) if p.engagement_id is not None]
        repository.add_sources(
            [
                {"engagement_id": p.engagement_id, "mailbox_id": self.mailbox_id,
                 "provider_id": p.item.provider_id, "seen_at": batch.now}
                for p in sources
            ]
        )  # fmt: skip
        lines = self._lines(batch, linked)
        repository.count_outcomes(
            self.mailbox_id, batch.now.date(), Counter((line.decision, line.reason) for line in lines)
        )
        session.flush()
        return lines

    def _create_people(self, session: Session, written: list[_Pending], now: datetime) -> Linked:
        """Create the people the written emails create (or find who another worker created meanwhile)."""
        wanted: dict[str, NewEmailPerson] = {}
        for p in written:
            assert p.plan is not None
            for new in p.plan.create:
                wanted.setdefault(new.address, NewEmailPerson(new.address, new.name, new.account_id, now))
        if not wanted:
            return {}
        linked = create_people_from_email(session, self.workspace_id, list(wanted.values()))
        snapshot = self._snapshot
        assert snapshot is not None
        for address, (refs, _) in linked.items():
            for ref in refs:
                snapshot.add_person(address, ref)
        return linked

    def _write_rows(
        self, repository: EngagementRepository, written: list[_Pending], linked: Linked, now: datetime
    ) -> None:
        participants: list[dict[str, Any]] = []
        people_links: list[dict[str, Any]] = []
        account_links: list[dict[str, Any]] = []
        for p in written:
            assert p.plan is not None
            engagement_id, at = p.engagement_id, p.decision.time
            for c in p.decision.participants:
                participants.append(
                    {"engagement_id": engagement_id, "address": c.address.address, "name": c.address.name,
                     "role": c.role, "address_class": _recorded_class(c.cls, c.lookup, at, linked),
                     "team_member_id": c.team_member_id}
                )  # fmt: skip
            people, accounts = _links(p.plan, linked)
            people_links += [
                {"engagement_id": engagement_id, "person_id": ref.id, "address": address, "occurred_at": at}
                for ref, address in people
            ]
            account_links += [
                {"engagement_id": engagement_id, "account_id": account_id, "occurred_at": at}
                for account_id in accounts
            ]
        repository.insert_rows(Participant, participants)
        repository.insert_rows(EngagementPerson, people_links)
        repository.insert_rows(EngagementAccount, account_links)

    def _engagement_row(self, p: _Pending, batch: IngestBatch, bodies: Mapping[str, bytes]) -> dict[str, Any]:
        assert p.plan is not None
        email = p.item.email
        row: dict[str, Any] = {
            "message_key": email.key,
            "occurred_at": p.decision.time,
            "direction": p.plan.direction,
            "thread_key": email.thread_key,
            "created_at": batch.now,
        }
        if batch.visibility == "metadata":
            return row
        raw = p.item.raw if p.item.raw is not None else bodies.get(p.item.provider_id)
        text, html = extract_bodies(raw) if raw is not None else (None, None)
        row["subject"] = email.subject
        preview = text or (html_to_text(html) if html else None) or p.item.preview or ""
        row["snippet"] = snippet(preview, SNIPPET_LENGTH)
        if batch.visibility == "full":
            row["text_body"] = text
            row["html_body"] = sanitise_html(html) if html else None
        return row

    def _lines(self, batch: IngestBatch, linked: Linked) -> list[ReportLine]:
        created_by: dict[str, _Pending] = {}
        for p in batch.pending:
            if p.result == IMPORTED and p.plan is not None:
                for new in p.plan.create:
                    if linked.get(new.address, ([], False))[1]:
                        created_by.setdefault(new.address, p)
        lines = []
        for p in batch.pending:
            item = p.item
            line = ReportLine(
                source=item.source, index=item.index, key=item.email.key, decision=p.result,
                reason=p.reason.value, time=p.decision.time, dropped=item.email.dropped_addresses,
            )  # fmt: skip
            if p.result == IMPORTED and p.plan is not None:
                people, accounts = _links(p.plan, linked)
                line.people = sorted({ref.label for ref, _ in people})
                line.accounts = sorted({self._account_names.get(a, f"id:{a}") for a in accounts})
                line.created = [a for a, creator in created_by.items() if creator is p]
            lines.append(line)
        return lines


def _links(plan: LinkPlan, linked: Linked) -> tuple[list[tuple[PersonRef, str]], list[int]]:
    """The people (each once, with the address that links them) and accounts an imported email shows on.

    Accounts are the default accounts of the people, as they are now (created people: the domain's account).
    """
    people: list[tuple[PersonRef, str]] = []
    seen: set[int] = set()
    for ref, address in plan.people:
        if ref.id is not None and ref.id not in seen:
            seen.add(ref.id)
            people.append((ref, address))
    for new in plan.create:
        for ref in linked[new.address][0]:
            if ref.id is not None and ref.id not in seen:
                seen.add(ref.id)
                people.append((ref, new.address))
    accounts = list(dict.fromkeys(ref.default_account_id for ref, _ in people if ref.default_account_id))
    return people, accounts


def _recorded_class(cls: AddressClass, lookup: str, at: datetime, linked: Linked) -> str:
    """The class a participant is stored with: a creatable address turns out to be a person when another
    worker created someone with it, before the email's time, since this batch read the workspace."""
    if cls is AddressClass.CREATABLE and lookup in linked:
        refs, created = linked[lookup]
        if not created and any(ref.created_at <= at for ref in refs):
            return AddressClass.PERSON.value
    return cls.value


def batches(items: Iterable[IncomingEmail], size: int) -> Iterator[list[IncomingEmail]]:
    """The items in lists of ``size`` (the last may be shorter)."""
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def ingest_all(
    session: Session,
    ingest: Ingest,
    items: Iterable[IncomingEmail],
    *,
    batch_size: int,
    now: datetime,
    commit: bool = True,
    on_batch: Callable[[list[ReportLine]], object] | None = None,
) -> ImportSummary:
    """Ingest every item of a source that has the raw MIME (files), committing after each batch unless
    ``commit`` is false (a dry run: the caller rolls back). ``on_batch(lines)`` sees each batch's lines."""
    summary = ImportSummary()
    for chunk in batches(items, batch_size):
        lines = ingest.write(session, ingest.decide(session, chunk, now))
        if commit:
            session.commit()
        for line in lines:
            summary.add(line)
        if on_batch is not None:
            on_batch(lines)
    return summary
