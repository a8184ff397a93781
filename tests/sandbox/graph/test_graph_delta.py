"""Delta query on a folder: paging to a deltaLink, then changes, @removed entries, and 410 once too old."""

from __future__ import annotations

import httpx
from tests.sandbox.graph.conftest import ADA, GraphServer, make_raw

from mailtrail.sandbox.faults import Fault

PAGE_OF_TWO = {"Prefer": "odata.maxpagesize=2"}


def run_round(
    client: httpx.Client, url: str, headers: dict[str, str] | None = None
) -> tuple[list[dict], str]:
    """Follow nextLinks to the deltaLink; returns every entry and the deltaLink."""
    entries: list[dict] = []
    while True:
        page = client.get(url, headers=headers)
        assert page.status_code == 200, page.text
        body = page.json()
        assert not ("@odata.nextLink" in body and "@odata.deltaLink" in body)
        entries += body["value"]
        if "@odata.deltaLink" in body:
            return entries, body["@odata.deltaLink"]
        url = body["@odata.nextLink"]


def test_initial_round_pages_to_a_delta_link(graph: GraphServer) -> None:
    for n in range(5):
        graph.tenant.deliver(make_raw(f"Ticket {n}"), [ADA])

    with graph.client(graph.app_token()) as client:
        first = client.get(
            f"/v1.0/users/{ADA}/mailFolders/inbox/messages/delta",
            params={"$select": "subject,isRead"},
            headers=PAGE_OF_TWO,
        )
        assert first.headers["Preference-Applied"] == "odata.maxpagesize=2"
        body = first.json()
        assert len(body["value"]) == 2
        assert "$skiptoken=" in body["@odata.nextLink"]
        assert set(body["value"][0]) == {"@odata.type", "@odata.etag", "id", "subject", "isRead"}
        rest, delta_link = run_round(client, body["@odata.nextLink"], PAGE_OF_TWO)

    assert "$deltatoken=" in delta_link
    subjects = sorted(m["subject"] for m in body["value"] + rest)
    assert subjects == [f"Ticket {n}" for n in range(5)]


def test_next_round_reports_new_moved_read_and_deleted_messages(graph: GraphServer) -> None:
    box = graph.tenant.mailbox(ADA)
    kept, moved, deleted, read = (graph.tenant.deliver(make_raw(s), [ADA])[0] for s in "ABCD")
    immutable = {"Prefer": 'IdType="ImmutableId"'}

    with graph.client(graph.app_token()) as client:
        start = f"/v1.0/users/{ADA}/mailFolders/inbox/messages/delta?$select=subject,isRead"
        initial, delta_link = run_round(client, start, immutable)
        ids = {m["subject"]: m["id"] for m in initial}
        assert set(ids) == {"A", "B", "C", "D"}

        graph.clock.advance(60)
        graph.tenant.deliver(make_raw("E, new"), [ADA])
        box.move(moved.id, box.folder_by_name("deleteditems").id)
        box.delete(deleted.id)
        box.modify(read.id, remove=["UNREAD"])

        changes, next_link = run_round(client, delta_link, immutable)
        quiet, _ = run_round(client, next_link, immutable)

    by_id = {c["id"]: c for c in changes}
    assert by_id[ids["B"]]["@removed"] == {"reason": "changed"}  # still restorable from Deleted Items
    assert by_id[ids["C"]]["@removed"] == {"reason": "deleted"}
    assert by_id[ids["D"]]["isRead"] is True
    assert ids["A"] not in by_id
    assert [c["subject"] for c in changes if "subject" in c and c["id"] not in ids.values()] == ["E, new"]
    assert quiet == []
    assert kept.id  # untouched, never reported again


def test_change_type_created_reports_only_new_messages(graph: GraphServer) -> None:
    first = graph.tenant.deliver(make_raw("Old"), [ADA])[0]
    with graph.client(graph.app_token()) as client:
        _, delta_link = run_round(
            client, f"/v1.0/users/{ADA}/mailFolders/inbox/messages/delta?changeType=created"
        )
        graph.tenant.deliver(make_raw("New"), [ADA])
        graph.tenant.mailbox(ADA).modify(first.id, remove=["UNREAD"])
        changes, _ = run_round(client, delta_link)
    assert [c["subject"] for c in changes] == ["New"]


def test_delta_token_older_than_the_horizon_is_gone(graph: GraphServer) -> None:
    graph.tenant.deliver(make_raw("Before"), [ADA])
    with graph.client(graph.app_token()) as client:
        start = f"/v1.0/users/{ADA}/mailFolders/inbox/messages/delta"
        _, delta_link = run_round(client, start)
        graph.clock.advance(days=8)  # the default horizon is 7 days
        token = graph.app_token()
        gone = client.get(delta_link, headers={"Authorization": f"Bearer {token}"})

    assert gone.status_code == 410
    assert gone.json()["error"]["code"] == "SyncStateNotFound"  # the casing Outlook sends
    assert gone.json()["error"]["message"].startswith("The sync state generation is not found")
    assert gone.headers["Location"].endswith(f"/v1.0/users/{ADA}/mailFolders/inbox/messages/delta")


def test_injected_delta_410(graph: GraphServer) -> None:
    graph.sandbox.faults.script(r"/messages/delta$", Fault.history_gone())
    with graph.client(graph.app_token()) as client:
        start = f"/v1.0/users/{ADA}/mailFolders/inbox/messages/delta"
        gone = client.get(start)
        again = client.get(start)
    assert gone.status_code == 410
    assert gone.json()["error"]["code"] == "SyncStateNotFound"
    assert again.status_code == 200


def test_unsupported_delta_filter_is_refused(graph: GraphServer) -> None:
    with graph.client(graph.app_token()) as client:
        answer = client.get(
            f"/v1.0/users/{ADA}/mailFolders/inbox/messages/delta", params={"$filter": "subject eq 'x'"}
        )
    assert answer.status_code == 400
    assert "receivedDateTime" in answer.json()["error"]["message"]


def test_top_sets_the_page_size_for_the_whole_round(graph: GraphServer) -> None:
    for n in range(3):
        graph.tenant.deliver(make_raw(f"Topped {n}"), [ADA])
    pages = 0
    with graph.client(graph.app_token()) as client:
        url: str | None = f"/v1.0/users/{ADA}/mailFolders/inbox/messages/delta?$top=1&$select=subject"
        while url:
            body = client.get(url).json()
            assert len(body["value"]) <= 1
            pages += 1
            url = body.get("@odata.nextLink")
    assert pages == 3
