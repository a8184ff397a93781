"""Connecting, reconnecting, pausing, resuming, disconnecting and purging mailboxes, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailtrail.crm.accounts.service import load_accounts
from mailtrail.crm.errors import CrmError
from mailtrail.crm.workspaces.repository import WorkspaceRepository
from mailtrail.crm.workspaces.service import create_workspace, set_setting
from mailtrail.engagements.ingest import Ingest
from mailtrail.mail.rfc822 import parse_message
from mailtrail.models import Credential, Engagement, Mailbox, MailboxEvent, Person, Workspace
from mailtrail.providers.base import IncomingEmail
from mailtrail.secrets import SecretBox
from mailtrail.sync import mailboxes
from mailtrail.sync.engine import ACTIVE, CONNECTED, DISCONNECTED, PAUSED

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def box() -> SecretBox:
    return SecretBox([Fernet.generate_key().decode()])


@pytest.fixture
def workspace_id(session: Session, tmp_path) -> int:
    """A workspace with the account Acme (acme.com), known since 2020."""
    workspace_id = create_workspace(session, "cs", ["ourco.com"]).id
    accounts = tmp_path / "accounts.csv"
    accounts.write_text("name,domains,created_at\nAcme,acme.com,2020-01-01T00:00:00Z\n")
    load_accounts(session, workspace_id, accounts)
    return workspace_id


def connect(session: Session, workspace_id: int, box: SecretBox, address: str = "dan@ourco.com") -> Mailbox:
    grant = mailboxes.store_grant(
        session, workspace_id, "gmail", address, "1//refresh", "gmail.readonly", box, NOW
    )
    return mailboxes.connect_mailbox(session, workspace_id, "gmail", address, grant, NOW)


def test_connecting_imports_nothing_from_before_and_keeps_the_grant_encrypted(session, workspace_id, box):
    mailbox = connect(session, workspace_id, box, " Dan@OurCo.com ")
    assert (mailbox.address, mailbox.status, mailbox.sync_from, mailbox.sync_due_at) == (
        "dan@ourco.com", CONNECTED, NOW, NOW,
    )  # fmt: skip
    credential = session.get_one(Credential, mailbox.credential_id)
    assert "1//refresh" not in credential.secret
    assert box.decrypt(credential.secret) == "1//refresh"


def test_backfill_days_reach_back_from_the_moment_of_connection(session, workspace_id, box):
    set_setting(session, session.get_one(Workspace, workspace_id), "backfill_days", "7")
    assert connect(session, workspace_id, box).sync_from == NOW - timedelta(days=7)


def test_a_new_mailbox_moves_the_rules_version_its_address_is_internal(session, workspace_id, box):
    before = WorkspaceRepository(session).rules_version(workspace_id)
    connect(session, workspace_id, box)
    assert WorkspaceRepository(session).rules_version(workspace_id) == (before or 0) + 1


def test_reconnecting_keeps_the_sync_position_and_clears_the_trouble(session, workspace_id, box):
    mailbox = connect(session, workspace_id, box)
    mailbox.cursor, mailbox.last_success_at = '{"history": "4294967400"}', NOW
    mailbox.status, mailbox.last_error = "needs_reauth", "Google says the access was revoked"
    later = NOW + timedelta(days=2)
    grant = mailboxes.store_grant(
        session, workspace_id, "gmail", "dan@ourco.com", "1//new", "gmail.readonly", box, later
    )
    again = mailboxes.connect_mailbox(session, workspace_id, "gmail", "dan@ourco.com", grant, later)
    assert again.id == mailbox.id
    assert (again.status, again.cursor, again.last_error, again.sync_due_at) == (
        ACTIVE, '{"history": "4294967400"}', None, later,
    )  # fmt: skip
    assert box.decrypt(session.get_one(Credential, again.credential_id).secret) == "1//new"
    assert session.scalar(select(func.count()).select_from(Credential)) == 1


def test_pause_and_resume(session, workspace_id, box):
    mailbox = connect(session, workspace_id, box)
    mailboxes.pause(session, workspace_id, mailbox, "admin@ourco.com", NOW)
    assert (mailbox.status, mailbox.sync_due_at) == (PAUSED, None)
    mailbox.resyncs = 4
    mailboxes.resume(session, workspace_id, mailbox, NOW + timedelta(hours=1))
    assert (mailbox.status, mailbox.resyncs, mailbox.sync_due_at) == (CONNECTED, 0, NOW + timedelta(hours=1))
    kinds = session.scalars(select(MailboxEvent.kind).order_by(MailboxEvent.id)).all()
    assert kinds == ["connected", "paused", "resumed"]


def test_disconnect_keeps_engagements_and_forgets_the_grant(session, workspace_id, box):
    mailbox = connect(session, workspace_id, box)
    _import_one(session, workspace_id, mailbox)
    mailboxes.disconnect(session, workspace_id, mailbox, NOW)
    assert (mailbox.status, mailbox.credential_id) == (DISCONNECTED, None)
    assert session.scalar(select(func.count()).select_from(Credential)) == 0
    assert session.scalar(select(func.count()).select_from(Engagement)) == 1
    with pytest.raises(CrmError, match="disconnected"):
        mailboxes.resume(session, workspace_id, mailbox, NOW)


def test_purge_deletes_only_what_this_mailbox_alone_brought(session, workspace_id, box):
    dan, eve = connect(session, workspace_id, box), connect(session, workspace_id, box, "eve@ourco.com")
    _import_one(session, workspace_id, dan, n=1)  # only Dan saw it: purged
    _import_one(session, workspace_id, dan, n=2, to="dan@ourco.com, eve@ourco.com")
    _import_one(session, workspace_id, eve, n=2, to="dan@ourco.com, eve@ourco.com")  # both saw it: stays
    assert mailboxes.purge(session, workspace_id, dan, NOW) == (1, 1)
    assert session.scalars(select(Engagement.message_key)).all() == ["m2@acme.com"]
    assert session.scalars(select(Person.name)).all() == ["Sender 2"]
    assert session.get(Mailbox, dan.id) is None


def _import_one(session: Session, workspace_id: int, mailbox: Mailbox, n: int = 1, to: str = "dan@ourco.com"):
    raw = (f"Message-ID: <m{n}@acme.com>\r\nFrom: Sender {n} <s{n}@acme.com>\r\nTo: {to}\r\n"
           f"Subject: {n}\r\n\r\nhello\r\n").encode()  # fmt: skip
    ingest = Ingest(workspace_id, mailbox.id)
    batch = ingest.decide(session, [IncomingEmail(f"id{n}", parse_message(raw), raw)], NOW)
    ingest.write(session, batch)
