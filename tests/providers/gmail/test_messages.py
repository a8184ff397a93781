"""Gmail messages as the ingest service sees them: metadata and raw give the same key and participants as a
file import of the same message; the gmail.metadata scope works with format=metadata."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mailtrail.mail.parsed import ParsedEmail
from mailtrail.mail.rfc822 import parse_message
from mailtrail.providers.base import IncomingEmail, ProviderError
from mailtrail.providers.gmail import GMAIL_METADATA
from mailtrail.providers.gmail.messages import to_incoming
from mailtrail.sandbox.store import Tenant

from .conftest import ANN, BO, TEAM, Gmail, open_connector, sync

pytestmark = pytest.mark.anyio

ODD = [
    # No Message-ID: the key is the fallback hash, which reads the body.
    b"From: Ana Silva <ana.silva@northwind.example>\r\nTo: ann.lee@company.example\r\n"
    b"Subject: No id on this one\r\nDate: Sun, 4 Jan 2026 10:00:00 +0100\r\n\r\nThe body the key reads.\r\n",
    # Encoded words, a folded Subject, a second To header, a group, In-Reply-To without References.
    b"From: =?utf-8?q?Chlo=C3=A9_Moreau?= <chloe.moreau@bluefin.example>\r\nTo: ann.lee@company.example\r\n"
    b"To: Partners: farid@quarry.example, ines@quarry.example;\r\nCc: bo.chen@company.example\r\n"
    b"Subject: =?utf-8?q?Caf=C3=A9?= order,\r\n  second line\r\nDate: Sun, 4 Jan 2026 11:00:00 +0000\r\n"
    b"Message-ID: <odd-2@bluefin.example>\r\nIn-Reply-To: <gen-2-1@bluefin.example>\r\n\r\nHi\r\n",
    # No From, only a Sender; no Date.
    b"Sender: robot@lumen.example\r\nTo: ann.lee@company.example\r\nSubject: Automated\r\n"
    b"Message-ID: <odd-3@lumen.example>\r\n\r\nbeep\r\n",
]


def _same(one: ParsedEmail, other: ParsedEmail) -> None:
    assert (one.key, one.thread_key) == (other.key, other.thread_key)
    # Gmail's header values come unfolded with runs of blanks as one: the subject's words are the same.
    assert one.subject.split() == other.subject.split()
    assert one.sender == other.sender
    assert (one.to, one.cc, one.bcc) == (other.to, other.cc, other.bcc)
    assert one.dropped_addresses == other.dropped_addresses


async def test_metadata_and_raw_give_what_a_file_import_gives_for_every_message(
    gmail: Gmail, tenant: Tenant
) -> None:
    for raw in ODD:
        tenant.deliver(raw, [ANN], at=gmail.clock.now() - timedelta(hours=1))
    for user in TEAM:
        connector = await open_connector(gmail, user)
        stored = {m.id: m for m in tenant.mailbox(user).messages()}
        try:
            metadata = await connector.fetch(list(stored), with_body=False)
            raw = await connector.fetch(list(stored), with_body=True)
        finally:
            await connector.aclose()
        assert [item.source for item in metadata] == [item.source for item in raw] == list(stored)
        for light, full in zip(metadata, raw, strict=True):
            message = stored[light.source]
            file_import = parse_message(message.raw)  # what `mailtrail import` makes of the same bytes
            _same(light.email, file_import)
            _same(full.email, file_import)
            assert light.email.time == full.email.time == message.received_at
            assert light.email.flags == full.email.flags
            assert light.raw is None
            assert full.raw == message.raw
            assert light.preview == full.preview
            assert light.preview is not None
            assert light.email.flags.spam == ("SPAM" in message.labels)
            assert light.email.flags.draft == ("DRAFT" in message.labels)
    assert len({m.headers.message_id for m in tenant.mailbox(ANN).messages()}) > 20


async def test_the_metadata_scope_syncs_with_format_metadata(gmail: Gmail, tenant: Tenant) -> None:
    tenant.deliver(ODD[0], [ANN], at=gmail.clock.now() - timedelta(hours=1))
    connector = await open_connector(gmail, ANN, scopes=[GMAIL_METADATA], metadata_only=True, page_size=6)
    mailbox = tenant.mailbox(ANN)
    since = gmail.clock.now() - timedelta(days=2)
    expected = {
        m.id for m in mailbox.messages() if m.received_at >= since and not m.labels & {"SPAM", "TRASH"}
    }
    older = [m for m in mailbox.messages() if m.received_at < since]
    try:
        handed, _, _ = await sync(connector, connector.start_cursor(since))
        gets = gmail.sandbox.limiter.counters(ANN).by_method["messages.get"]
        items = await connector.fetch(handed, with_body=True)  # a metadata grant never gets bodies
        assert await connector.fetch_bodies(items) == {}
        with pytest.raises(ProviderError, match="Metadata scope doesn't allow format RAW"):
            await connector.client.get_messages(handed[:1], "raw")
    finally:
        await connector.aclose()
    assert set(handed) == expected
    assert len(handed) == len(expected)
    # The listing read each message once, and stopped at the first page reaching before `since`.
    assert len(older) > 2 * 6
    assert gets <= len(expected) + 6
    by_id = {item.source: item for item in items}
    for message in mailbox.messages():
        if message.id in by_id and message.headers.message_id:
            assert by_id[message.id].email.key == parse_message(message.raw).key
            assert by_id[message.id].raw is None
    keyless = next(item for item in items if "no Message-ID header" in item.email.defects)
    assert keyless.email.key.startswith("sha256:")  # made from the headers alone: the body is out of reach


async def test_fetching_bodies_gives_the_raw_message(gmail: Gmail, tenant: Tenant) -> None:
    connector = await open_connector(gmail, BO)
    messages = tenant.mailbox(BO).messages()[:3]
    try:
        items = await connector.fetch([m.id for m in messages], with_body=False)
        bodies = await connector.fetch_bodies(items)
    finally:
        await connector.aclose()
    assert bodies == {m.id: m.raw for m in messages}


def test_labels_become_flags_and_the_snippet_a_plain_preview() -> None:
    message = {
        "id": "abc",
        "labelIds": ["CHAT", "TRASH"],
        "snippet": "Tom &amp; Jerry&#39;s plan",
        "internalDate": "1767600000000",
        "payload": {
            "headers": [
                {"name": "Subject", "value": "line\r\n one"},
                {"name": "Message-ID", "value": "<x@y>"},
            ]
        },
    }
    item: IncomingEmail = to_incoming(message)
    assert item.email.flags.not_email
    assert item.email.flags.trash
    assert not item.email.flags.spam
    assert item.preview == "Tom & Jerry's plan"
    assert item.email.subject == "line one"
    assert item.email.key == "x@y"
    assert item.email.time is not None
    assert item.email.time.year == 2026
