"""Graph messages as the ingest service sees them: the $select'ed properties and the MIME give the same key,
participants and thread as a file import of the same message; flags from folders, isDraft and types."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mailtrail.mail.parsed import ParsedEmail
from mailtrail.mail.rfc822 import parse_message
from mailtrail.providers.microsoft.messages import to_incoming
from mailtrail.sandbox.store import Tenant

from .conftest import ANN, TEAM, Graph, gid, open_connector

pytestmark = pytest.mark.anyio

ODD = [
    # No Message-ID: the key is the fallback hash, which reads the body (so the MIME is fetched for it).
    b"From: Ana Silva <ana.silva@northwind.example>\r\nTo: ann.lee@company.example\r\n"
    b"Subject: No id on this one\r\nDate: Sun, 4 Jan 2026 10:00:00 +0100\r\n\r\nThe body the key reads.\r\n",
    # Encoded words, a folded Subject, a group, a quoted name with a comma, In-Reply-To without References.
    b'From: =?utf-8?q?Chlo=C3=A9_Moreau?= <chloe.moreau@bluefin.example>\r\nTo: "Lee, Ann" <ann.lee@company'
    b".example>, Partners: farid@quarry.example, ines@quarry.example;\r\nCc: bo.chen@company.example\r\n"
    b"Subject: =?utf-8?q?Caf=C3=A9?= order,\r\n  second line\r\nDate: Sun, 4 Jan 2026 11:00:00 +0000\r\n"
    b"Message-ID: <odd-2@bluefin.example>\r\nIn-Reply-To: <gen-2-1@bluefin.example>\r\n\r\nHi\r\n",
    # No From, only a Sender; no Date; a Bcc.
    b"Sender: robot@lumen.example\r\nTo: ann.lee@company.example\r\nBcc: audit@lumen.example\r\n"
    b"Subject: Automated\r\nMessage-ID: <odd-3@lumen.example>\r\n\r\nbeep\r\n",
]


def _same(one: ParsedEmail, other: ParsedEmail) -> None:
    assert (one.key, one.thread_key) == (other.key, other.thread_key)
    # Graph unfolds the subject: the words are the same, the blanks between them may not be.
    assert one.subject.split() == other.subject.split()
    assert one.sender == other.sender
    assert (one.to, one.cc, one.bcc) == (other.to, other.cc, other.bcc)


async def test_properties_and_mime_give_what_a_file_import_gives(graph: Graph, tenant: Tenant) -> None:
    for raw in ODD:
        tenant.deliver(raw, [ANN], at=graph.clock.now() - timedelta(hours=1))
    for user in TEAM:
        connector = await open_connector(graph, user, page_size=100)
        stored = {gid(m): m for m in tenant.mailbox(user).messages()}
        try:
            cursor = connector.start_cursor(graph.clock.now() - timedelta(days=30))
            handed: list[str] = []
            light, full = [], []
            while True:  # as the engine does: each page's properties are fetched without a request
                page = await connector.page(cursor)
                light += await connector.fetch(page.message_ids, with_body=False)
                full += await connector.fetch(page.message_ids, with_body=True)
                handed += page.message_ids
                cursor = page.cursor
                if page.done:
                    break
        finally:
            await connector.aclose()
        assert [item.source for item in light] == [item.source for item in full] == handed
        assert len(handed) > 20
        for metadata, mime in zip(light, full, strict=True):
            message = stored[metadata.source]
            file_import = parse_message(message.raw)  # what `mailtrail import` makes of the same bytes
            _same(metadata.email, file_import)
            _same(mime.email, file_import)
            assert metadata.email.time == mime.email.time == message.received_at
            assert metadata.email.flags == mime.email.flags
            assert metadata.raw is None
            assert mime.raw == message.raw
            assert metadata.preview == mime.preview
            assert metadata.preview
    keyless = parse_message(ODD[0])
    assert keyless.key.startswith("sha256:")


async def test_a_message_without_message_id_costs_its_mime_and_bodies_come_in_batches(
    graph: Graph, tenant: Tenant
) -> None:
    keyless = gid(tenant.deliver(ODD[0], [ANN], at=graph.clock.now() - timedelta(hours=1))[0])
    connector = await open_connector(graph, ANN, page_size=100)
    try:
        page = await connector.page(connector.start_cursor(graph.clock.now() - timedelta(hours=2)))
        graph.sandbox.limiter.reset()
        items = await connector.fetch(page.message_ids, with_body=False)
        # The delta page held every property: only the keyless message's MIME was asked for.
        assert graph.sandbox.limiter.counters(graph.key(ANN)).by_method == {"$value": 1}
        by_id = {item.source: item for item in items}
        assert by_id[keyless].email.key == parse_message(ODD[0]).key
        assert by_id[keyless].raw is None  # read for the key, not handed over as the body
        messages = [gid(m) for m in tenant.mailbox(ANN).messages()][:25]  # more than one batch holds
        bodies = await connector.fetch_bodies(await connector.fetch(messages, with_body=False))
    finally:
        await connector.aclose()
    assert bodies == {gid(m): m.raw for m in tenant.mailbox(ANN).messages()[:25]}


def test_flags_from_folders_drafts_and_types() -> None:
    roles = {"junk": "junkemail", "bin": "deleteditems", "out": "outbox", "chat": "conversationhistory"}
    base = {
        "id": "AAkAL1",
        "receivedDateTime": "2026-01-05T09:00:00Z",
        "internetMessageId": "<x@y>",
        "from": {"emailAddress": {"name": "x@y", "address": "x@y"}},
        "toRecipients": [{"emailAddress": {"name": 'Ann "the boss" Lee', "address": "Ann.Lee@Company.Ex"}}],
        "subject": "Hello",
        "bodyPreview": "  Hi there  ",
    }

    def flags(**extra: object) -> tuple[bool, bool, bool, bool]:
        item = to_incoming({**base, **extra}, roles)
        f = item.email.flags
        return f.draft, f.spam, f.trash, f.not_email

    assert flags() == (False, False, False, False)
    assert flags(parentFolderId="junk") == (False, True, False, False)
    assert flags(parentFolderId="bin") == (False, False, True, False)
    assert flags(parentFolderId="out") == (True, False, False, False)  # not sent yet: like a draft
    assert flags(isDraft=True) == (True, False, False, False)
    assert flags(parentFolderId="chat") == (False, False, False, True)
    assert flags(**{"@odata.type": "#microsoft.graph.eventMessageRequest"}) == (False, False, False, False)
    assert flags(**{"@odata.type": "#microsoft.graph.post"}) == (False, False, False, True)
    item = to_incoming(base, roles)
    assert item.source == "AAkAL1"
    assert item.preview == "Hi there"
    assert item.email.key == "x@y"
    assert item.email.time == datetime(2026, 1, 5, 9, tzinfo=UTC)
    assert item.email.sender is not None
    assert item.email.sender.name is None  # Graph repeats the address as the name when there is none
    [to] = item.email.to
    assert (to.address, to.name) == ("ann.lee@company.ex", 'Ann "the boss" Lee')
