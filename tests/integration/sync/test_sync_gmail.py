"""Gmail mailboxes synced end to end: the sync engine, the Gmail connector and the sandbox over real HTTP, on
SQLite and PostgreSQL. Every case of the contract through Gmail; nothing from before the connection; a message
in a Gmail mailbox and in a file import is one engagement with two sources."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from tests.integration.sync.conftest import DAN, EVE, World, message

from mailtrail.crm.blacklist.service import add_entries
from mailtrail.crm.people.service import load_people
from mailtrail.crm.workspaces.service import set_setting
from mailtrail.db import transaction
from mailtrail.engagements.ingest import Ingest
from mailtrail.engagements.repository import EngagementRepository
from mailtrail.engagements.service import delete_engagement
from mailtrail.mail.rfc822 import parse_message
from mailtrail.models import Person, Workspace
from mailtrail.providers.base import IncomingEmail
from mailtrail.sync.engine import ACTIVE
from mailtrail.sync.status import describe

ANN = "Ann Lee <ann@acme.com>"


def test_every_contract_case_through_gmail(world: World, tmp_path: Path) -> None:
    with transaction(world.runtime.sessions) as session:
        add_entries(session, world.workspace_id, ["ceo@acme.com"], added_by=None)
    world.tenant.deliver(message("old", ANN, DAN))  # before the connection: never looked at
    world.clock.advance(minutes=1)
    dan, eve = world.connect(DAN), world.connect(EVE)
    assert world.sync(dan) == world.sync(eve) == ACTIVE
    assert world.outcomes(dan) == {}
    world.clock.advance(minutes=1)
    deliver = world.tenant.deliver
    deliver(message("customer", ANN, DAN))
    world.tenant.mailbox(DAN).save_draft(message("draft", DAN, "ann@acme.com"))
    deliver(message("spam", ANN, DAN), labels=["SPAM"])
    deliver(message("trash", ANN, DAN), labels=["TRASH"])
    deliver(message("chat", ANN, DAN), labels=["CHAT"])
    deliver(message("blacklisted", ANN, DAN, cc="ceo@acme.com"))
    deliver(message("internal", DAN, EVE))
    deliver(message("unknown-sender", "x@globex.example", DAN))
    deliver(message("unknown-recipients", DAN, "friend@globex.example"))
    deliver(message("no-customer", DAN, EVE, cc="friend@globex.example"))
    deliver(message("creatable", "New Person <new.person@acme.com>", DAN))
    deliver(message("role", "noreply@acme.com", DAN))
    deliver(message("before-person", "carl@initech.example", DAN))
    deliver(message("both", ANN, f"{DAN}, {EVE}"))
    deliver(message("deleted", ANN, DAN))
    # Carl (of no account's domain) becomes a person after his email arrived: it stays history, not imported.
    world.clock.advance(minutes=30)
    people = tmp_path / "carl.csv"
    people.write_text(
        f"external_id,name,emails,created_at\ncarl,Carl,carl@initech.example,{world.clock.now().isoformat()}\n"
    )
    with transaction(world.runtime.sessions) as session:
        load_people(session, world.workspace_id, people)

    assert world.sync(dan) == ACTIVE
    with transaction(world.runtime.sessions) as session:
        delete_engagement(session, world.workspace_id, "mdeleted@test", deleted_by="cara@ourco.com")
    # The deleted email reaches Eve later (forwarded with its Message-ID): it does not come back.
    deliver(message("deleted", ANN, f"{DAN}, {EVE}"), recipients=[EVE])
    assert world.sync(eve) == ACTIVE

    assert world.outcomes(dan) == {
        "mcustomer@test": "imported/ok",
        "mdraft@test": "skipped/draft",
        "mspam@test": "skipped/spam",
        "mtrash@test": "skipped/trash",
        "mchat@test": "skipped/not_email",
        "mblacklisted@test": "skipped/blacklisted",
        "minternal@test": "skipped/internal",
        "munknown-sender@test": "skipped/unknown_sender",
        "munknown-recipients@test": "skipped/unknown_recipients",
        "mno-customer@test": "skipped/no_customer",
        "mcreatable@test": "imported/ok",
        "mrole@test": "skipped/unknown_sender",
        "mbefore-person@test": "skipped/unknown_sender",
        "mboth@test": "imported/ok",
        "mdeleted@test": "imported/ok",
    }
    assert world.outcomes(eve) == {
        "minternal@test": "skipped/internal",
        "mno-customer@test": "skipped/no_customer",
        "mboth@test": "merged/duplicate",
        "mdeleted@test": "skipped/deleted",
    }
    shown = {key: (sources, people) for key, sources, people, _ in world.engagements()}
    assert shown == {
        "mcustomer@test": (frozenset({DAN}), frozenset({"ann@acme.com"})),
        "mcreatable@test": (frozenset({DAN}), frozenset({"new.person@acme.com"})),
        "mboth@test": (frozenset({DAN, EVE}), frozenset({"ann@acme.com"})),
    }
    with world.runtime.sessions() as session:
        created = session.scalars(select(Person.name).where(Person.source == "email")).all()
    assert created == ["New Person"]


@pytest.mark.parametrize("visibility", ["full", "subject", "metadata"])
def test_a_message_in_gmail_and_in_a_file_import_is_one_engagement_with_two_sources(
    world: World, visibility: str
) -> None:
    """Whether Gmail hands over the raw message (full) or its parsed headers (subject, metadata), the key is
    the file's: one message, one engagement, whatever its source."""
    with transaction(world.runtime.sessions) as session:
        set_setting(session, session.get_one(Workspace, world.workspace_id), "visibility", visibility)
    dan = world.connect(DAN)
    world.clock.advance(minutes=1)
    raw = message("shared", ANN, DAN)
    world.tenant.deliver(raw)
    assert world.sync(dan) == ACTIVE
    with transaction(world.runtime.sessions) as session:
        box = EngagementRepository(session, world.workspace_id).get_or_create_mailbox(
            "archive@ourco.com", "file", world.clock.now()
        )
        ingest = Ingest(world.workspace_id, box.id)
        lines = ingest.write(
            session,
            ingest.decide(
                session, [IncomingEmail("export.mbox", parse_message(raw), raw)], world.clock.now()
            ),
        )
    assert [(line.decision, line.reason) for line in lines] == [("merged", "duplicate")]
    [(key, sources, _, _)] = world.engagements()
    assert (key, sources) == ("mshared@test", frozenset({DAN, "archive@ourco.com"}))


def test_backfill_reaches_back_and_later_mail_comes_through_history(world: World) -> None:
    """With backfill_days, a new mailbox lists its recent past; what arrives afterwards comes by history."""
    world.tenant.deliver(message("ten-days-ago", ANN, DAN))
    world.clock.advance(days=7)
    world.tenant.deliver(message("three-days-ago", ANN, DAN))
    world.clock.advance(days=3)
    with transaction(world.runtime.sessions) as session:
        set_setting(session, session.get_one(Workspace, world.workspace_id), "backfill_days", "5")
    dan = world.connect(DAN)
    assert world.sync(dan) == ACTIVE
    world.clock.advance(minutes=5)
    world.tenant.deliver(message("after", ANN, DAN))
    assert world.sync(dan) == ACTIVE
    assert world.outcomes(dan) == {"mthree-days-ago@test": "imported/ok", "mafter@test": "imported/ok"}
    with world.runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Person)) == 1  # Ann, known before


def test_status_after_a_sync_says_active_and_when(world: World) -> None:
    dan = world.connect(DAN)
    assert describe(world.mailbox(dan), world.clock.now()).state == "connected"
    assert world.sync(dan) == ACTIVE
    mailbox = world.mailbox(dan)
    assert describe(mailbox, world.clock.now()).state == "active"
    assert mailbox.sync_due_at == world.clock.now() + timedelta(seconds=world.runtime.policy.poll_seconds)
    # Nobody synced it for an hour: the status says it is behind instead of claiming all is well.
    assert describe(mailbox, world.clock.now() + timedelta(hours=1)).state == "behind"
