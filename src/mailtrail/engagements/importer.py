"""The importer: raw emails to decisions (rules/), and imported decisions to rows, one batch at a time.

A batch is decided against the workspace snapshot, then written with a handful of bulk statements. The
caller commits after each batch (or rolls everything back for a dry run), so a batch is all-or-nothing and
re-running an import changes nothing: what was imported comes back ``merged``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from typing import Any

from sqlalchemy.orm import Session

from mailtrail.crm.accounts.service import account_names
from mailtrail.crm.people.service import NewEmailPerson, create_people_from_email
from mailtrail.crm.snapshot import load_snapshot
from mailtrail.engagements.report import IMPORTED, MERGED, ReportLine, outcome
from mailtrail.engagements.repository import EngagementRepository
from mailtrail.mail.html import html_to_text, sanitise_html, snippet
from mailtrail.mail.parsed import ParsedEmail
from mailtrail.mail.rfc822 import extract_bodies, parse_message
from mailtrail.models import EngagementAccount, EngagementPerson, EngagementSource, Participant, Workspace
from mailtrail.providers.files.reader import RawEmail
from mailtrail.rules.decide import decide
from mailtrail.rules.links import plan_links
from mailtrail.rules.types import Decision, LinkPlan, WorkspaceSnapshot

SNIPPET_LENGTH = 200


@dataclass(slots=True)
class _Pending:
    """One email of the batch being written: its decision and what the rows need."""

    raw: RawEmail
    email: ParsedEmail
    decision: Decision
    plan: LinkPlan | None = None
    line: ReportLine = field(init=False)


class Importer:
    """Imports emails seen by one mailbox into one workspace, in batches."""

    def __init__(
        self,
        session: Session,
        workspace: Workspace,
        mailbox_address: str,
        *,
        now: datetime,
        provider: str = "file",
        snapshot: WorkspaceSnapshot | None = None,
    ) -> None:
        self.session = session
        self.workspace = workspace
        self.now = now
        self.repository = EngagementRepository(session, workspace.id)
        self.mailbox = self.repository.get_or_create_mailbox(mailbox_address, provider, now)
        self.snapshot = snapshot or load_snapshot(session, workspace.id, extra_internal=[mailbox_address])
        self.account_names = account_names(session, workspace.id)
        # Message keys imported by this run, so a second copy in the same run is merged, not imported twice.
        self._imported_keys: dict[str, int | None] = {}

    def run(self, emails: Iterable[RawEmail], batch_size: int) -> Iterator[list[ReportLine]]:
        """Decide and write the emails batch by batch; the caller commits after each yielded batch."""
        iterator = iter(emails)
        while batch := list(islice(iterator, batch_size)):
            yield self.import_batch(batch)

    def import_batch(self, batch: list[RawEmail]) -> list[ReportLine]:
        """Decide every email of the batch and write the imported ones; flushes, never commits."""
        # The parser never raises: a malformed email still gets a decision (often not_email).
        parsed = [(raw, parse_message(raw.data)) for raw in batch]
        in_database = self.repository.existing_keys(email.key for _, email in parsed)
        pending: list[_Pending] = []
        merged_ids: dict[int, str] = {}
        lines = []
        for raw, email in parsed:
            decision = decide(email, self.snapshot, self.now)
            item = _Pending(raw, email, decision)
            known = email.key in self._imported_keys or email.key in in_database
            result, reason = outcome(decision, already_imported=known)
            if result == IMPORTED:
                item.plan = plan_links(decision, self.snapshot)
                self._register_new_people(item.plan)
                self._imported_keys[email.key] = None
                pending.append(item)
            elif result == MERGED:
                # A copy of an email imported earlier in this batch already has this mailbox as its source.
                existing = self._imported_keys.get(email.key) or in_database.get(email.key)
                if existing is not None:
                    merged_ids.setdefault(existing, raw.source_id)
            item.line = self._line(item, result, reason.value)
            lines.append(item.line)
        self._write(pending, merged_ids)
        return lines

    def _register_new_people(self, plan: LinkPlan) -> None:
        """Later emails of the same import link to the people this one creates."""
        for new in plan.create:
            self.snapshot.add_person(new.address, new.person_ref(self.now))

    def _line(self, item: _Pending, decision: str, reason: str) -> ReportLine:
        line = ReportLine(
            source=item.raw.path,
            index=item.raw.index,
            key=item.email.key,
            decision=decision,
            reason=reason,
            time=item.decision.time,
            dropped=item.email.dropped_addresses,
        )
        if item.plan is not None:
            plan = item.plan
            line.people = sorted(
                {ref.label for ref, _ in plan.people} | {f"new:{n.address}" for n in plan.create}
            )
            line.accounts = sorted({self.account_names[account_id] for account_id in plan.account_ids})
            line.created = [new.address for new in plan.create]
        return line

    def _write(self, pending: list[_Pending], merged_ids: dict[int, str]) -> None:
        new_people = self._insert_new_people(pending)
        engagement_ids = self.repository.insert_engagements([self._engagement_row(item) for item in pending])
        participants: list[dict[str, Any]] = []
        people_links: list[dict[str, Any]] = []
        account_links: list[dict[str, Any]] = []
        sources: list[dict[str, Any]] = []
        for item, engagement_id in zip(pending, engagement_ids, strict=True):
            assert item.plan is not None
            self._imported_keys[item.email.key] = engagement_id
            at = item.decision.time
            for c in item.decision.participants:
                participants.append(
                    {
                        "engagement_id": engagement_id,
                        "address": c.address.address,
                        "name": c.address.name,
                        "role": c.role,
                        "address_class": c.cls.value,
                        "team_member_id": c.team_member_id,
                    }
                )
            linked: dict[int, str] = {}
            for ref, address in item.plan.people:
                person_id = ref.id if ref.id is not None else new_people[address]
                linked.setdefault(person_id, address)
            for new in item.plan.create:
                linked.setdefault(new_people[new.address], new.address)
            people_links += [
                {"engagement_id": engagement_id, "person_id": pid, "address": a, "occurred_at": at}
                for pid, a in linked.items()
            ]
            account_links += [
                {"engagement_id": engagement_id, "account_id": account_id, "occurred_at": at}
                for account_id in dict.fromkeys(item.plan.account_ids)
            ]
            sources.append(self._source_row(engagement_id, item.raw.source_id))
        already = self.repository.sources_of(merged_ids, self.mailbox.id)
        sources += [self._source_row(eid, sid) for eid, sid in merged_ids.items() if eid not in already]
        self.repository.insert_rows(Participant, participants)
        self.repository.insert_rows(EngagementPerson, people_links)
        self.repository.insert_rows(EngagementAccount, account_links)
        self.repository.insert_rows(EngagementSource, sources)
        self.session.flush()

    def _insert_new_people(self, pending: list[_Pending]) -> dict[str, int]:
        """Create the people this batch's emails create; returns their ids by address."""
        creations = {new.address: new for item in pending if item.plan for new in item.plan.create}
        ids = create_people_from_email(
            self.session,
            self.workspace.id,
            [NewEmailPerson(n.address, n.name, n.account_id, self.now) for n in creations.values()],
        )
        by_address = dict(zip(creations, ids, strict=True))
        for address, person_id in by_address.items():
            self.snapshot.add_person(address, creations[address].person_ref(self.now, person_id))
        return by_address

    def _engagement_row(self, item: _Pending) -> dict[str, Any]:
        assert item.plan is not None
        visibility = self.snapshot.settings.visibility
        row: dict[str, Any] = {
            "message_key": item.email.key,
            "occurred_at": item.decision.time,
            "direction": item.plan.direction,
            "thread_key": item.email.thread_key,
            "created_at": self.now,
        }
        if visibility == "metadata":
            return row
        text, html = extract_bodies(item.raw.data)
        row["subject"] = item.email.subject
        row["snippet"] = snippet(text or (html_to_text(html) if html else ""), SNIPPET_LENGTH)
        if visibility == "full":
            row["text_body"] = text
            row["html_body"] = sanitise_html(html) if html else None
        return row

    def _source_row(self, engagement_id: int, provider_id: str) -> dict[str, Any]:
        return {
            "engagement_id": engagement_id,
            "mailbox_id": self.mailbox.id,
            "provider_id": provider_id,
            "seen_at": self.now,
        }
