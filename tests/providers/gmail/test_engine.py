"""The sync engine driving the Gmail connector against the sandbox, on a real database."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from mailtrail.crm.workspaces.service import create_workspace
from mailtrail.db import transaction
from mailtrail.models import ImportCount, Mailbox
from mailtrail.providers.gmail import GmailClient, GmailConnector
from mailtrail.sandbox.store import Tenant
from mailtrail.sync.engine import ACTIVE, SyncEngine

from .conftest import ANN, FAST, Gmail, connect, tokens_for

pytestmark = pytest.mark.anyio


async def test_the_engine_syncs_a_gmail_mailbox_and_then_what_arrives(
    gmail: Gmail, tenant: Tenant, sessions: sessionmaker[Session]
) -> None:
    granted = await connect(gmail, ANN)
    now = gmail.clock.now()
    with transaction(sessions) as session:
        workspace = create_workspace(session, "acme-cs", ["company.example"])
        mailbox = Mailbox(
            workspace_id=workspace.id, address=ANN, provider="gmail", status="connected",
            connected_at=now, sync_from=now - timedelta(days=2),
        )  # fmt: skip
        session.add(mailbox)
        session.flush()
        mailbox_id = mailbox.id

    def connector(_session: Session, _mailbox: Mailbox) -> GmailConnector:
        # As a deployment's factory would: a token source from the stored grant, a client, a connector.
        return GmailConnector(GmailClient(gmail.base, tokens_for(gmail, granted), retry=FAST), page_size=10)

    engine = SyncEngine(sessions, connector, clock=gmail.clock.now)
    messages = tenant.mailbox(ANN).messages()
    listed = [
        m for m in messages if m.received_at >= now - timedelta(days=2) and not m.labels & {"SPAM", "TRASH"}
    ]
    assert await engine.sync(mailbox_id) == ACTIVE
    assert _decided(sessions, mailbox_id) == len(listed)
    gmail.clock.advance(hours=12)  # scheduled traffic arrives
    arrived = len(tenant.mailbox(ANN).messages()) - len(messages)
    assert arrived > 0
    assert await engine.sync(mailbox_id) == ACTIVE
    with sessions() as session:
        stored = session.get_one(Mailbox, mailbox_id)
        assert stored.last_error is None
        assert json.loads(stored.cursor or "{}")["mode"] == "history"
    assert _decided(sessions, mailbox_id) == len(listed) + arrived


def _decided(sessions: sessionmaker[Session], mailbox_id: int) -> int:
    with sessions() as session:
        return int(
            session.scalar(select(func.sum(ImportCount.count)).where(ImportCount.mailbox_id == mailbox_id))
            or 0
        )
