"""The ingest service on a real database: fresh rules per batch, bodies fetched only when kept, deletions and
other workers seen at write time, counts per day, and two workers at the same moment (real threads)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from mailtrail.crm.accounts.service import load_accounts
from mailtrail.crm.blacklist.service import add_entries
from mailtrail.crm.workspaces.service import create_workspace, set_setting
from mailtrail.db import transaction
from mailtrail.engagements.ingest import Ingest
from mailtrail.engagements.repository import EngagementRepository
from mailtrail.engagements.service import delete_engagement
from mailtrail.mail.rfc822 import parse_message
from mailtrail.models import Engagement, EngagementSource, ImportCount, Person, PersonEmail, Workspace
from mailtrail.providers.base import IncomingEmail

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def raw(n: int, sender: str = "ann@acme.com", to: str = "dan@ourco.com") -> bytes:
    return (
        f"Message-ID: <m{n}@acme.com>\r\nDate: Mon, 13 May 2024 10:00:00 +0000\r\nFrom: Ann <{sender}>\r\n"
        f"To: {to}\r\nSubject: Renewal {n}\r\nContent-Type: text/plain\r\n\r\nHello number {n}.\r\n"
    ).encode()


def incoming(n: int, **kwargs: str) -> IncomingEmail:
    data = raw(n, **kwargs)
    return IncomingEmail(f"file-{n}", parse_message(data), data)


@pytest.fixture
def workspace_id(sessions: sessionmaker[Session], tmp_path: Path) -> int:
    accounts = tmp_path / "accounts.csv"
    accounts.write_text("name,domains,created_at\nAcme,acme.com,2020-01-01T00:00:00Z\n")
    with transaction(sessions) as session:
        workspace = create_workspace(session, "cs", ["ourco.com"])
        load_accounts(session, workspace.id, accounts)
        return workspace.id


def mailbox(sessions: sessionmaker[Session], workspace_id: int, address: str) -> int:
    with transaction(sessions) as session:
        return EngagementRepository(session, workspace_id).get_or_create_mailbox(address, "gmail", NOW).id


def ingest_now(sessions: sessionmaker[Session], ingest: Ingest, items: list[IncomingEmail]) -> list[str]:
    with transaction(sessions) as session:
        lines = ingest.write(session, ingest.decide(session, items, NOW))
    return [f"{line.decision}/{line.reason}" for line in lines]


def test_each_batch_decides_with_the_crm_as_it_is_now(sessions, workspace_id: int) -> None:
    ingest = Ingest(workspace_id, mailbox(sessions, workspace_id, "dan@ourco.com"))
    assert ingest_now(sessions, ingest, [incoming(1)]) == ["imported/ok"]
    # An admin blacklists the customer while the sync runs: the very next batch sees it.
    with transaction(sessions) as session:
        add_entries(session, workspace_id, ["ann@acme.com"], added_by="admin@ourco.com")
    assert ingest_now(sessions, ingest, [incoming(2)]) == ["skipped/blacklisted"]


def test_a_deletion_made_between_deciding_and_writing_is_respected(sessions, workspace_id: int) -> None:
    dan = Ingest(workspace_id, mailbox(sessions, workspace_id, "dan@ourco.com"))
    eve = Ingest(workspace_id, mailbox(sessions, workspace_id, "eve@ourco.com"))
    with sessions() as session:
        decided = eve.decide(session, [incoming(1, to="eve@ourco.com, dan@ourco.com")], NOW)
    # Meanwhile Dan's mailbox imports it and a user deletes it from the account.
    assert ingest_now(sessions, dan, [incoming(1, to="eve@ourco.com, dan@ourco.com")]) == ["imported/ok"]
    with transaction(sessions) as session:
        delete_engagement(session, workspace_id, "m1@acme.com", deleted_by="cara@ourco.com")
    with transaction(sessions) as session:
        lines = eve.write(session, decided)
    assert [(line.decision, line.reason) for line in lines] == [("skipped", "deleted")]
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Engagement)) == 0


def test_an_email_another_worker_wrote_first_is_merged_with_this_mailbox_as_a_source(
    sessions, workspace_id: int
) -> None:
    dan_box = mailbox(sessions, workspace_id, "dan@ourco.com")
    eve_box = mailbox(sessions, workspace_id, "eve@ourco.com")
    dan, eve = Ingest(workspace_id, dan_box), Ingest(workspace_id, eve_box)
    email = incoming(1, sender="new.person@acme.com", to="dan@ourco.com, eve@ourco.com")
    with sessions() as session:
        decided = eve.decide(session, [email], NOW)
    assert [p.result for p in decided.pending] == ["imported"]
    assert ingest_now(sessions, dan, [email]) == ["imported/ok"]
    with transaction(sessions) as session:
        lines = eve.write(session, decided)
    assert [(line.decision, line.reason) for line in lines] == [("merged", "duplicate")]
    with sessions() as session:
        sources = session.execute(select(EngagementSource.mailbox_id)).scalars().all()
        assert sorted(sources) == sorted([dan_box, eve_box])
        assert session.scalar(select(func.count()).select_from(Person)) == 1


def test_bodies_are_fetched_only_for_imported_emails_that_keep_them(sessions, workspace_id: int) -> None:
    """A source without the raw MIME (Gmail metadata) is asked for the bodies of imported emails only."""
    ingest = Ingest(workspace_id, mailbox(sessions, workspace_id, "dan@ourco.com"))
    imported, internal = raw(1), raw(2, sender="eve@ourco.com")
    header_only = [
        IncomingEmail("gmail-1", parse_message(imported.split(b"\r\n\r\n")[0]), preview="Hello number 1."),
        IncomingEmail("gmail-2", parse_message(internal.split(b"\r\n\r\n")[0]), preview="internal"),
    ]
    with transaction(sessions) as session:
        batch = ingest.decide(session, header_only, NOW)
        assert [item.source for item in batch.needs_body] == ["gmail-1"]
        ingest.write(session, batch, {"gmail-1": imported})
    with sessions() as session:
        body = session.scalar(select(Engagement.text_body))
        assert body is not None
        assert body.strip() == "Hello number 1."

    # In "subject" visibility the provider's preview is the snippet: no body is fetched at all.
    with transaction(sessions) as session:
        set_setting(session, session.get_one(Workspace, workspace_id), "visibility", "subject")
    later = IncomingEmail("gmail-3", parse_message(raw(3).split(b"\r\n\r\n")[0]), preview="Hello number 3.")
    with transaction(sessions) as session:
        batch = ingest.decide(session, [later], NOW)
        assert batch.needs_body == []
        ingest.write(session, batch)
    with sessions() as session:
        row = session.execute(select(Engagement).where(Engagement.message_key == "m3@acme.com")).scalar_one()
        assert (row.subject, row.snippet, row.text_body) == ("Renewal 3", "Hello number 3.", None)


def test_the_days_counts_per_mailbox_add_up(sessions, workspace_id: int) -> None:
    box = mailbox(sessions, workspace_id, "dan@ourco.com")
    ingest = Ingest(workspace_id, box)
    ingest_now(sessions, ingest, [incoming(1), incoming(2), incoming(3, sender="eve@ourco.com")])
    ingest_now(sessions, ingest, [incoming(1), incoming(4, sender="x@unknown.example")])
    with sessions() as session:
        counts = {
            (row.decision, row.reason): row.count
            for row in session.scalars(select(ImportCount).where(ImportCount.mailbox_id == box))
        }
        days = set(session.scalars(select(ImportCount.day)))
    assert counts == {
        ("imported", "ok"): 2,
        ("skipped", "internal"): 1,
        ("merged", "duplicate"): 1,
        ("skipped", "unknown_sender"): 1,
    }
    assert days == {NOW.date()}


def write_at_the_same_moment(
    sessions: sessionmaker[Session], workspace_id: int, batches: dict[int, list[IncomingEmail]]
) -> None:
    """Decide each mailbox's batch, then write them all in threads released at the same instant."""
    decided = {}
    for box, emails in batches.items():
        ingest = Ingest(workspace_id, box)
        with sessions() as session:
            decided[box] = (ingest, ingest.decide(session, emails, NOW))
    start = threading.Barrier(len(batches))
    failures: list[BaseException] = []

    def write(box: int) -> None:
        ingest, batch = decided[box]
        try:
            with transaction(sessions) as session:
                start.wait()
                ingest.write(session, batch)
        except BaseException as exc:  # reported below: a thread's exception would be lost
            failures.append(exc)

    threads = [threading.Thread(target=write, args=(box,)) for box in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []


def counts(sessions: sessionmaker[Session]) -> tuple[int, int, int, int]:
    """Engagements, sources, people, distinct addresses of people."""
    with sessions() as session:
        return (
            session.scalar(select(func.count()).select_from(Engagement)) or 0,
            session.scalar(select(func.count()).select_from(EngagementSource)) or 0,
            session.scalar(select(func.count()).select_from(Person)) or 0,
            session.scalar(select(func.count(func.distinct(PersonEmail.email)))) or 0,
        )


def test_two_workers_writing_the_same_emails_at_the_same_moment(sessions, workspace_id: int) -> None:
    """Both mailboxes got the same 40 emails (from 20 new people): one engagement each, two sources."""
    dan, eve = (mailbox(sessions, workspace_id, a) for a in ("dan@ourco.com", "eve@ourco.com"))
    emails = [incoming(n, sender=f"p{n % 20}@acme.com", to="dan@ourco.com, eve@ourco.com") for n in range(40)]
    write_at_the_same_moment(sessions, workspace_id, {dan: emails, eve: emails})
    assert counts(sessions) == (40, 80, 20, 20)


def test_two_workers_creating_the_same_new_people_at_the_same_moment(sessions, workspace_id: int) -> None:
    """Different emails from the same 20 new people reach two mailboxes: each person is created once."""
    dan, eve = (mailbox(sessions, workspace_id, a) for a in ("dan@ourco.com", "eve@ourco.com"))
    write_at_the_same_moment(
        sessions,
        workspace_id,
        {
            dan: [incoming(100 + n, sender=f"q{n}@acme.com") for n in range(20)],
            eve: [incoming(200 + n, sender=f"q{n}@acme.com", to="eve@ourco.com") for n in range(20)],
        },
    )
    assert counts(sessions) == (40, 40, 20, 20)
