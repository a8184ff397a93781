"""Delta folder by folder against the sandbox: nothing missed, nothing twice, moves, new folders, what is left
out, expired delta links and the 5,000 messages a filtered delta stops at."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

import httpx
import pytest

from mailtrail.providers.base import CursorExpired
from mailtrail.providers.microsoft import GraphConnector
from mailtrail.sandbox.faults import Fault
from mailtrail.sandbox.graph.ids import parse_folder_id
from mailtrail.sandbox.store import Tenant

from .conftest import ANN, Graph, Spent, gid, graph_folder, left_out, open_connector, sync, visible_since

pytestmark = pytest.mark.anyio


def _mail(subject: str, to: str = ANN, when: str = "Mon, 5 Jan 2026 09:00:00 +0000") -> bytes:
    return (
        f"From: Client <client@northwind.example>\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{subject.replace(' ', '-')}@northwind.example>\r\nDate: {when}\r\n\r\nHello\r\n"
    ).encode()


async def test_listing_then_delta_misses_nothing_and_hands_nothing_twice(
    graph: Graph, tenant: Tenant, ann: GraphConnector
) -> None:
    mailbox = tenant.mailbox(ANN)
    since = graph.clock.now() - timedelta(days=2)
    assert any(m.received_at < since for m in mailbox.messages())  # older mail exists and must stay out
    first = await ann.page(ann.start_cursor(since))
    assert first.message_ids
    assert not first.done
    # Mail arriving while the pass runs, after the inbox's round began (a snapshot): the next round has it.
    before = {m.id for m in mailbox.messages()}
    during = tenant.deliver(_mail("arrived during the listing"))[0]
    handed, cursor, pages = await sync(ann, first.cursor)
    handed = list(first.message_ids) + handed
    assert pages[-1].done
    assert len(handed) == len(set(handed))  # nothing twice
    # Nothing missed, nothing older, nothing left out.
    assert set(handed) == visible_since(mailbox, since) - {gid(during)}
    state = json.loads(cursor)
    assert "todo" not in state  # the pass is over
    assert all("deltatoken=" in link for link in state["folders"].values())
    # Mail arriving after the sync, and scheduled mail arriving as time passes: the next pass has it.
    tenant.deliver(_mail("arrived after the sync"))
    graph.clock.advance(days=2)
    arrived = [m for m in mailbox.messages() if m.id not in before]
    assert len(arrived) > 1
    later, cursor, _ = await sync(ann, cursor)
    assert sorted(later) == sorted(gid(m) for m in arrived if not left_out(mailbox, m))
    nothing, _, _ = await sync(ann, cursor)
    assert nothing == []


async def test_a_moved_message_stays_one_message(graph: Graph, tenant: Tenant, ann: GraphConnector) -> None:
    mailbox = tenant.mailbox(ANN)
    handed, cursor, _ = await sync(ann, ann.start_cursor(graph.clock.now() - timedelta(days=3)))
    inbox = mailbox.folder_by_name("inbox")
    message = next(m for m in mailbox.messages() if m.folder_id == inbox.id and gid(m) in handed)
    [before] = await ann.fetch([gid(message)], with_body=False)
    mailbox.move(message.id, mailbox.folder_by_name("archive").id)
    moved, cursor, _ = await sync(ann, cursor)
    assert moved == [gid(message)]  # created in Archive under the same immutable id; the removal is ignored
    [after] = await ann.fetch(moved, with_body=False)
    assert after.email.key == before.email.key
    # Into Junk Email: out of sight; rescued to the inbox: looked at again, still the same message.
    mailbox.move(message.id, mailbox.folder_by_name("junkemail").id)
    junked, cursor, _ = await sync(ann, cursor)
    assert junked == []
    mailbox.move(message.id, inbox.id)
    rescued, _, _ = await sync(ann, cursor)
    assert rescued == [gid(message)]


async def test_new_folders_are_found_and_deleted_ones_forgotten(
    graph: Graph, tenant: Tenant, ann: GraphConnector
) -> None:
    mailbox = tenant.mailbox(ANN)
    _, cursor, _ = await sync(ann, ann.start_cursor(graph.clock.now() - timedelta(days=1)))
    customers = mailbox.create_folder("Customers", parent_id=mailbox.folder_by_name("inbox").id)
    northwind = mailbox.create_folder("Northwind", parent_id=customers.id)
    old = mailbox.create_folder("Old projects", parent_id=mailbox.folder_by_name("deleteditems").id)
    filed = tenant.deliver(_mail("filed by a rule"), [ANN], labels=[northwind.label_id or ""])[0]
    binned = tenant.deliver(_mail("in a deleted folder"), [ANN], labels=[old.label_id or ""])[0]
    handed, cursor, _ = await sync(ann, cursor)
    assert handed == [gid(filed)]
    assert gid(binned) not in handed
    folders = json.loads(cursor)["folders"]
    assert {customers.id, northwind.id} <= {_store_id(f) for f in folders}
    assert old.id not in {_store_id(f) for f in folders}


def _store_id(graph_folder_id: str) -> str:
    parsed = parse_folder_id(graph_folder_id)
    assert parsed is not None
    return parsed[1]


async def test_drafts_junk_deleted_items_and_the_outbox_are_left_out(graph: Graph, tenant: Tenant) -> None:
    mailbox = tenant.mailbox(ANN)
    # The sandbox has no Outbox: a folder of that name stands for it, as Graph would name it "outbox".
    outbox = mailbox.create_folder("Outbox")
    connector = await open_connector(graph, ANN)
    well_known = connector.client.well_known_folders

    async def with_outbox(names: Any) -> dict[str, str]:
        found: dict[str, str] = await well_known(names)
        if "outbox" in names:
            found["outbox"] = graph_folder(mailbox, outbox.id)
        return found

    connector.client.well_known_folders = with_outbox  # type: ignore[method-assign,unused-ignore]
    since = graph.clock.now() - timedelta(hours=1)
    left_out = [
        tenant.deliver(_mail(f"in {label}"), [ANN], labels=[label])[0]
        for label in ("DRAFT", "SPAM", "TRASH", outbox.label_id or "")
    ]
    kept = tenant.deliver(_mail("in the inbox"), [ANN])[0]
    try:
        handed, cursor, _ = await sync(connector, connector.start_cursor(since))
    finally:
        await connector.aclose()
    assert handed == [gid(kept)]
    roles = json.loads(cursor)["roles"]
    assert sorted(roles.values()) == ["deleteditems", "drafts", "junkemail", "outbox"]
    assert not {gid(m) for m in left_out} & set(handed)


async def test_expired_delta_links_are_cursor_expired_and_a_resync_lists_again(
    graph: Graph, tenant: Tenant, ann: GraphConnector
) -> None:
    since = graph.clock.now() - timedelta(days=1)
    first = await ann.page(ann.start_cursor(since))
    handed, cursor, _ = await sync(ann, first.cursor)
    stale = cursor
    for _ in range(3):  # each pass is a new round: a new generation of each folder's chain
        _, cursor, pages = await sync(ann, cursor)
        assert len(pages) == 1  # the folders' rounds are over: one page, one $batch
    # Graph keeps the newest links of a chain only: going back to an older one is a 410 SyncStateNotFound.
    with pytest.raises(CursorExpired, match="no longer knows mailtrail's sync position"):
        await ann.page(stale)
    graph.sandbox.faults.script(r"/messages/delta$", Fault.history_gone())
    with pytest.raises(CursorExpired):
        await sync(ann, cursor)
    new = tenant.deliver(_mail("while the links were lost"))[0]
    graph.sandbox.delta.forget_all()  # a mailbox migration: every sync state is gone
    with pytest.raises(CursorExpired):
        await ann.page(cursor)
    again, _, _ = await sync(ann, ann.resync_cursor(since))
    assert set(again) == set(first.message_ids) | set(handed) | {gid(new)}
    with pytest.raises(CursorExpired, match="could not read"):
        await ann.page("not a cursor")


async def test_a_filtered_first_round_stops_at_5000_and_nothing_is_lost(graph: Graph, tenant: Tenant) -> None:
    mailbox = tenant.mailbox(ANN)
    bulk = mailbox.create_folder("Imported")
    since = graph.clock.now() - timedelta(days=30)
    start = since - timedelta(minutes=100)  # 100 received before since, 5,100 after
    raw = _mail("bulk")
    stored = [
        mailbox.insert(raw, labels=[bulk.label_id or ""], received_at=start + timedelta(minutes=i))
        for i in range(5_200)
    ]
    wanted = {gid(m) for m in stored if m.received_at >= since}
    assert len(wanted) > 5_000
    connector = await open_connector(graph, ANN, page_size=1000)
    try:
        handed = await _folder_pass(connector, connector.start_cursor(since), graph_folder(mailbox, bulk.id))
    finally:
        await connector.aclose()
    assert set(handed) == wanted  # the first 5,000 twice (merged downstream), the rest once, none older


async def _folder_pass(connector: GraphConnector, cursor: str, folder: str) -> list[str]:
    """Page through a pass without fetching (fetch is not what is tested), keeping one folder's ids."""
    handed: list[str] = []
    while True:
        page = await connector.page(cursor)
        handed += [i for i in page.message_ids if connector._read[i]["parentFolderId"] == folder]
        cursor = page.cursor
        if page.done:
            return handed


async def test_a_pass_spends_what_graph_counts_and_batches_settled_folders(
    graph: Graph, tenant: Tenant, ann: GraphConnector, spent: Spent
) -> None:
    graph.sandbox.limiter.reset()  # connecting made no Graph requests; start from nothing anyway
    _, cursor, _ = await sync(ann, ann.start_cursor(graph.clock.now() - timedelta(days=3)))
    assert spent.total == graph.sandbox.limiter.counters(graph.key(ANN)).requests > 0
    folders = len(json.loads(cursor)["folders"])
    assert folders >= 3
    posts: list[str] = []

    async def record(request: httpx.Request) -> None:
        posts.append(request.url.path)

    ann.client._http.event_hooks["request"].append(record)
    spent.units.clear()
    graph.sandbox.limiter.reset()
    await sync(ann, cursor)
    # The second pass: the folder listing, then every folder's delta in one $batch (one unit per folder).
    assert posts.count("/v1.0/$batch") == 1
    assert spent.total == graph.sandbox.limiter.counters(graph.key(ANN)).requests == 1 + folders


async def test_removals_in_a_delta_page_are_ignored(graph: Graph, ann: GraphConnector) -> None:
    # changeType=created asks for none, but a page may still say a message left the folder: nothing to import.
    read = ann.client.delta
    removal = {
        "@odata.type": "#microsoft.graph.message",
        "id": "AAkALgone",
        "@removed": {"reason": "changed"},
    }

    async def with_removals(links: Any, size: int) -> Any:
        pages = await read(links, size)
        return [replace(p, values=[removal, *p.values]) if p is not None else None for p in pages]

    ann.client.delta = with_removals  # type: ignore[method-assign,unused-ignore]
    handed, _, _ = await sync(ann, ann.start_cursor(graph.clock.now() - timedelta(days=2)))
    assert handed
    assert "AAkALgone" not in handed
