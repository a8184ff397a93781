"""Delta tokens that stop working (older links, once later ones were handed out) and $filter's 5,000 cap."""

from __future__ import annotations

from datetime import timedelta

import httpx
from tests.sandbox.graph.conftest import ADA, GraphServer, make_raw
from tests.sandbox.graph.test_graph_delta import run_round

from mailtrail.sandbox.graph.shapes import graph_time

INBOX_DELTA = f"/v1.0/users/{ADA}/mailFolders/inbox/messages/delta"
ONE_PER_PAGE = {"Prefer": "odata.maxpagesize=1"}


def next_link(client: httpx.Client, url: str) -> str:
    page = client.get(url, headers=ONE_PER_PAGE)
    assert page.status_code == 200, page.text
    return str(page.json()["@odata.nextLink"])


def test_an_older_next_link_expires_once_later_pages_were_fetched(graph: GraphServer) -> None:
    for n in range(6):
        graph.tenant.deliver(make_raw(f"Page {n}"), [ADA])

    with graph.client(graph.app_token()) as client:
        first = next_link(client, INBOX_DELTA)
        second = next_link(client, first)
        again = client.get(first, headers=ONE_PER_PAGE)  # fetched again, e.g. after a dropped connection
        third = next_link(client, second)
        fourth = next_link(client, third)
        gone = client.get(first, headers=ONE_PER_PAGE)
        latest = client.get(fourth, headers=ONE_PER_PAGE)

    assert again.status_code == 200
    assert gone.status_code == 410
    error = gone.json()["error"]
    assert error["code"] == "SyncStateNotFound"
    assert error["message"].startswith("The sync state generation is not found; generation=1;[highest=")
    assert gone.headers["Location"].endswith(INBOX_DELTA)
    assert latest.status_code == 200


def test_an_older_delta_link_expires_after_later_rounds(graph: GraphServer) -> None:
    graph.tenant.deliver(make_raw("Before"), [ADA])
    with graph.client(graph.app_token()) as client:
        _, saved = run_round(client, INBOX_DELTA)
        latest = saved
        for n in range(3):  # the connector goes on syncing from each newer deltaLink
            graph.tenant.deliver(make_raw(f"Later {n}"), [ADA])
            _, latest = run_round(client, latest)
        stale = client.get(saved)
        current = client.get(latest)

    assert stale.status_code == 410
    assert stale.json()["error"]["code"] == "SyncStateNotFound"
    assert current.status_code == 200


def test_unknown_skip_token_is_gone_with_a_location(graph: GraphServer) -> None:
    with graph.client(graph.app_token()) as client:
        gone = client.get(INBOX_DELTA, params={"$skiptoken": "no-such-chain.7"})
    assert gone.status_code == 410
    assert gone.json()["error"]["code"] == "SyncStateNotFound"
    assert gone.headers["Location"].endswith(INBOX_DELTA)


def test_filtered_delta_returns_at_most_5000_messages(graph: GraphServer) -> None:
    box = graph.tenant.mailbox(ADA)
    raw = make_raw("Bulk")
    start = graph.clock.now() - timedelta(days=1)
    for n in range(5_010):
        box.insert(raw, received_at=start + timedelta(seconds=n))
    since = graph_time(start)

    def count(query: str) -> int:
        entries, _ = run_round(client, f"{INBOX_DELTA}?{query}", {"Prefer": "odata.maxpagesize=1000"})
        return len(entries)

    with graph.client(graph.app_token()) as client:
        filtered = count(f"$select=id&$filter=receivedDateTime ge {since}")
        unfiltered = count("$select=id")

    assert filtered == 5_000
    assert unfiltered == 5_010
