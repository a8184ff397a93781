"""Listing then history against the sandbox: nothing missed, nothing twice, rescued spam, expired cursors."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from mailtrail.providers.base import CursorExpired
from mailtrail.providers.gmail import GmailConnector
from mailtrail.sandbox.store import Mailbox, Tenant

from .conftest import ANN, Gmail, Spent, sync

pytestmark = pytest.mark.anyio


def _mail(subject: str, to: str = ANN) -> bytes:
    return (
        f"From: Client <client@northwind.example>\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{subject.replace(' ', '-')}@northwind.example>\r\n"
        "Date: Mon, 5 Jan 2026 09:00:00 +0000\r\n\r\nHello\r\n"
    ).encode()


def _visible_since(mailbox: Mailbox, since: Any) -> set[str]:
    """What a sync from ``since`` must hand over: all received since then, outside spam and trash."""
    return {m.id for m in mailbox.messages() if m.received_at >= since and not m.labels & {"SPAM", "TRASH"}}


async def test_listing_then_history_misses_nothing_and_hands_nothing_twice(
    gmail: Gmail, tenant: Tenant, ann: GmailConnector
) -> None:
    mailbox = tenant.mailbox(ANN)
    since = gmail.clock.now() - timedelta(days=2)
    assert any(m.received_at < since for m in mailbox.messages())  # older mail exists and must stay out
    cursor = ann.start_cursor(since)
    first = await ann.page(cursor)
    assert first.message_ids
    assert not first.done
    assert first.backlog is not None
    assert first.backlog > 0
    assert int(json.loads(first.cursor)["pin"]) > 2**32  # Gmail-sized history ids survive the cursor
    # Mail arriving while the listing runs: newest first, so the listing has passed it; history has it.
    during = tenant.deliver(_mail("arrived during the listing"))[0]
    handed, cursor, pages = await sync(ann, first.cursor)
    handed = list(first.message_ids) + handed
    assert pages[-1].done
    assert during.id in handed
    assert len(handed) == len(set(handed))  # nothing twice
    assert set(handed) == _visible_since(mailbox, since)  # nothing missed, nothing older
    # Mail arriving after the sync, and scheduled mail arriving as time passes: the next sync has it.
    before = {m.id for m in mailbox.messages()}
    after = tenant.deliver(_mail("arrived after the sync"))[0]
    gmail.clock.advance(days=2)
    arrived = {m.id for m in mailbox.messages()} - before
    assert after.id in arrived
    assert len(arrived) > 1
    later, cursor, _ = await sync(ann, cursor)
    assert set(later) == arrived - {m.id for m in mailbox.messages() if m.labels & {"SPAM", "TRASH"}}
    assert (await ann.page(cursor)).message_ids == ()  # nothing new: nothing handed


async def test_mail_arriving_between_the_pin_and_the_first_listing_comes_once(
    gmail: Gmail, tenant: Tenant, ann: GmailConnector
) -> None:
    listing = ann.client.list_messages
    arrived: list[str] = []

    async def list_after_a_delivery(*args: Any, **kwargs: Any) -> dict[str, Any]:
        if not arrived:  # the profile (and the pin) is read; the first listing has not started yet
            arrived.append(tenant.deliver(_mail("in the window"))[0].id)
        return await listing(*args, **kwargs)

    ann.client.list_messages = list_after_a_delivery  # type: ignore[method-assign]
    handed, _, _ = await sync(ann, ann.start_cursor(gmail.clock.now() - timedelta(hours=6)))
    assert handed.count(arrived[0]) == 1


async def test_a_message_rescued_from_spam_is_looked_at_again(
    gmail: Gmail, tenant: Tenant, ann: GmailConnector
) -> None:
    mailbox = tenant.mailbox(ANN)
    since = gmail.clock.now() - timedelta(days=4)
    spam = [m for m in mailbox.messages() if "SPAM" in m.labels and m.received_at >= since]
    assert spam, "the generated traffic has spam"
    handed, cursor, _ = await sync(ann, ann.start_cursor(since))
    assert spam[0].id not in handed  # the listing leaves spam out
    mailbox.modify(spam[0].id, add=["INBOX"], remove=["SPAM"])
    read = next(m for m in mailbox.messages() if "UNREAD" in m.labels and "SPAM" not in m.labels)
    mailbox.modify(read.id, remove=["UNREAD"])  # another label removed: nothing to look at again
    page = await ann.page(cursor)
    assert page.message_ids == (spam[0].id,)
    [item] = await ann.fetch(page.message_ids, with_body=False)
    assert not item.email.flags.spam


async def test_an_expired_history_id_is_cursor_expired_and_a_resync_lists_again(
    gmail: Gmail, tenant: Tenant, ann: GmailConnector
) -> None:
    since = gmail.clock.now() - timedelta(days=1)
    handed, cursor, _ = await sync(ann, ann.start_cursor(since))
    new = tenant.deliver(_mail("changes the history"))[0]
    tenant.mailbox(ANN).expire_history()  # Gmail keeps history for about a week; this one is gone
    with pytest.raises(CursorExpired, match="no longer has"):
        await ann.page(cursor)
    again, _, _ = await sync(ann, ann.resync_cursor(since))
    assert set(again) == set(handed) | {new.id}
    with pytest.raises(CursorExpired, match="could not read"):
        await ann.page("not a cursor")


async def test_a_sync_spends_exactly_the_units_gmail_counts(
    gmail: Gmail, ann: GmailConnector, spent: Spent
) -> None:
    gmail.sandbox.limiter.reset()  # connecting read the profile once, outside any budget
    await sync(ann, ann.start_cursor(gmail.clock.now() - timedelta(days=3)))
    counted = gmail.sandbox.limiter.counters(ANN)
    assert spent.total == counted.units > 0
    assert max(spent.units) <= 50 * 5  # a batch spends its parts, at most 50 of them
