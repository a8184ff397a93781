"""The sync engine driving the Graph connector against the sandbox, on a real database."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from mailtrail.crm.workspaces.service import create_workspace
from mailtrail.db import transaction
from mailtrail.models import ImportCount, Mailbox, MailboxEvent
from mailtrail.providers.microsoft import DelegatedTokens, GraphClient, GraphConnector
from mailtrail.sandbox.store import Tenant
from mailtrail.sync.engine import ACTIVE, SyncEngine

from .conftest import ANN, FAST, Graph, connect, visible_since

pytestmark = pytest.mark.anyio


async def test_the_engine_syncs_a_microsoft_mailbox_and_then_what_arrives(
    graph: Graph, tenant: Tenant, sessions: sessionmaker[Session]
) -> None:
    granted = (await connect(graph, ANN)).grant
    now = graph.clock.now()
    with transaction(sessions) as session:
        workspace = create_workspace(session, "acme-cs", ["company.example"])
        mailbox = Mailbox(
            workspace_id=workspace.id, address=ANN, provider="microsoft", status="connected",
            connected_at=now, sync_from=now - timedelta(days=2),
        )  # fmt: skip
        session.add(mailbox)
        session.flush()
        mailbox_id = mailbox.id

    def connector(_session: Session, _mailbox: Mailbox) -> GraphConnector:
        # As the runtime will: a token source from the stored grant, a client, a connector.
        tokens = DelegatedTokens(graph.app(), granted, retry=FAST)
        client = GraphClient(graph.base, tokens, retry=FAST, ca_file=graph.ca_file)
        return GraphConnector(client, page_size=10, clock=graph.clock.now)

    engine = SyncEngine(sessions, connector, clock=graph.clock.now)
    box = tenant.mailbox(ANN)
    listed = visible_since(box, now - timedelta(days=2))
    before = {m.id for m in box.messages()}
    assert await engine.sync(mailbox_id) == ACTIVE
    assert _decided(sessions, mailbox_id) == len(listed)
    graph.clock.advance(hours=12)  # scheduled traffic arrives
    arrived = visible_since(box, now) - listed
    assert arrived
    assert {m.id for m in box.messages()} - before
    assert await engine.sync(mailbox_id) == ACTIVE
    assert _decided(sessions, mailbox_id) == len(listed) + len(arrived)
    # Graph forgets every delta link: the engine lists again from the last success, nothing comes twice.
    graph.sandbox.delta.forget_all()
    assert await engine.sync(mailbox_id) == ACTIVE
    with sessions() as session:
        stored = session.get_one(Mailbox, mailbox_id)
        assert stored.last_error is None
        assert "todo" not in json.loads(stored.cursor or "{}")
        kinds = session.scalars(select(MailboxEvent.kind).where(MailboxEvent.mailbox_id == mailbox_id)).all()
    assert "resync" in kinds
    assert _decided(sessions, mailbox_id) == len(listed) + len(arrived)


def _decided(sessions: sessionmaker[Session], mailbox_id: int) -> int:
    with sessions() as session:
        return int(
            session.scalar(
                select(func.sum(ImportCount.count)).where(
                    ImportCount.mailbox_id == mailbox_id, ImportCount.decision != "merged"
                )
            )
            or 0
        )
