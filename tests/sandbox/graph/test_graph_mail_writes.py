"""Mail writes tools use (create in a folder, move, delete) and what delta and subscribers see of them."""

from __future__ import annotations

import base64
from datetime import timedelta

import httpx
import pytest
from tests.sandbox.graph.conftest import ADA, CUSTOMER, GraphServer, Webhook, make_raw
from tests.sandbox.graph.test_graph_delta import run_round

from mailtrail.sandbox.graph.shapes import graph_time

USER = f"/v1.0/users/{ADA}"
IMMUTABLE = {"Prefer": 'IdType="ImmutableId"'}


@pytest.fixture
def writer(graph: GraphServer) -> str:
    """A token of an app with Mail.ReadWrite, as a tool that files mail has."""
    return graph.token_for("mail-tool", "Mail.ReadWrite")


def folder_id(client: httpx.Client, name: str) -> str:
    return str(client.get(f"{USER}/mailFolders/{name}").json()["id"])


def test_create_in_a_folder_from_json_makes_a_draft_there(graph: GraphServer, writer: str) -> None:
    message = {
        "subject": "Filed by a tool",
        "body": {"contentType": "HTML", "content": "<p>Call <b>me</b></p>"},
        "from": {"emailAddress": {"name": "Carol Customer", "address": CUSTOMER}},
        "toRecipients": [{"emailAddress": {"address": ADA}}],
        "internetMessageHeaders": [{"name": "x-crm-ticket", "value": "T-42"}],
    }
    with graph.client(writer) as client:
        created = client.post(f"{USER}/mailFolders/inbox/messages", json=message)
        fetched = client.get(
            f"{USER}/messages/{created.json()['id']}",
            params={"$select": "subject,isDraft,internetMessageHeaders"},
        )
        inbox = folder_id(client, "inbox")
        wrong_header = client.post(
            f"{USER}/mailFolders/inbox/messages",
            json={"subject": "x", "internetMessageHeaders": [{"name": "Subject", "value": "y"}]},
        )
        unknown = client.post(f"{USER}/mailFolders/inbox/messages", json={"subjekt": "typo"})

    assert created.status_code == 201
    body = created.json()
    assert body["subject"] == "Filed by a tool"
    assert body["isDraft"] is True  # filed in the Inbox, still a draft, as Graph makes it
    assert body["isRead"] is True
    assert body["parentFolderId"] == inbox
    assert body["from"] == {"emailAddress": {"name": "Carol Customer", "address": CUSTOMER}}
    assert body["body"]["contentType"] == "html"
    assert "<b>me</b>" in body["body"]["content"]
    headers = {h["name"]: h["value"] for h in fetched.json()["internetMessageHeaders"]}
    assert headers["x-crm-ticket"] == "T-42"
    assert wrong_header.status_code == 400
    assert unknown.status_code == 400


def test_create_from_base64_mime(graph: GraphServer, writer: str) -> None:
    raw = make_raw("Imported as MIME")
    with graph.client(writer) as client:
        created = client.post(
            f"{USER}/mailFolders/archive/messages",
            content=base64.b64encode(raw),
            headers={"Content-Type": "text/plain"},
        )
        mime = client.get(f"{USER}/messages/{created.json()['id']}/$value")
        malformed = client.post(
            f"{USER}/mailFolders/archive/messages",
            content=b"not base64!",
            headers={"Content-Type": "text/plain"},
        )

    assert created.status_code == 201
    assert created.json()["subject"] == "Imported as MIME"
    assert created.json()["isDraft"] is True
    assert mime.content == raw
    assert malformed.status_code == 400
    assert malformed.json()["error"]["code"] == "ErrorMimeContentInvalidBase64String"


def test_move_gives_a_new_id_and_both_folders_deltas_see_it(graph: GraphServer, writer: str) -> None:
    graph.tenant.deliver(make_raw("Move me"), [ADA])
    with graph.client(writer) as client:
        (before,), inbox_link = run_round(client, f"{USER}/mailFolders/inbox/messages/delta?$select=subject")
        _, archive_link = run_round(client, f"{USER}/mailFolders/archive/messages/delta?$select=subject")
        immutable = client.get(f"{USER}/messages", headers=IMMUTABLE).json()["value"][0]["id"]

        moved = client.post(f"{USER}/messages/{before['id']}/move", json={"destinationId": "archive"})
        old_id = client.get(f"{USER}/messages/{before['id']}")
        inbox_changes, _ = run_round(client, inbox_link)
        archive_changes, _ = run_round(client, archive_link)
        archive = folder_id(client, "archive")
        moved_again = client.post(
            f"{USER}/messages/{immutable}/move",
            json={"destinationId": folder_id(client, "inbox")},
            headers=IMMUTABLE,
        )

    assert moved.status_code == 201
    assert moved.json()["id"] != before["id"]
    assert moved.json()["parentFolderId"] == archive
    assert old_id.status_code == 404
    assert inbox_changes == [
        {"@odata.type": "#microsoft.graph.message", "id": before["id"], "@removed": {"reason": "changed"}}
    ]
    assert [(c["id"], c["subject"]) for c in archive_changes] == [(moved.json()["id"], "Move me")]
    assert moved_again.status_code == 201
    assert moved_again.json()["id"] == immutable  # an immutable id survives moves


def test_delete_removes_the_message_from_every_folder(graph: GraphServer, writer: str) -> None:
    graph.tenant.deliver(make_raw("Delete me"), [ADA])
    with graph.client(writer) as client:
        (before,), link = run_round(client, f"{USER}/mailFolders/inbox/messages/delta")
        deleted = client.delete(f"{USER}/messages/{before['id']}")
        gone = client.get(f"{USER}/messages/{before['id']}")
        changes, _ = run_round(client, link)
        deleted_items = client.get(f"{USER}/mailFolders/deleteditems/messages").json()["value"]

    assert deleted.status_code == 204
    assert gone.status_code == 404
    assert changes == [
        {"@odata.type": "#microsoft.graph.message", "id": before["id"], "@removed": {"reason": "deleted"}}
    ]
    assert deleted_items == []  # Graph's DELETE does not go through Deleted Items


def test_writes_notify_folder_and_mailbox_subscriptions(
    graph: GraphServer, writer: str, webhook: Webhook
) -> None:
    expiry = graph_time(graph.clock.now() + timedelta(hours=2))
    with graph.client(graph.app_token()) as client:
        for resource in (f"users/{ADA}/mailFolders('inbox')/messages", f"users/{ADA}/messages"):
            subscribed = client.post(
                "/v1.0/subscriptions",
                json={
                    "changeType": "created,updated,deleted",
                    "notificationUrl": webhook.url,
                    "resource": resource,
                    "expirationDateTime": expiry,
                    "clientState": resource,
                },
            )
            assert subscribed.status_code == 201, subscribed.text
    with graph.client(writer) as client:
        created = client.post(f"{USER}/mailFolders/inbox/messages", json={"subject": "Tracked"}).json()
        moved = client.post(f"{USER}/messages/{created['id']}/move", json={"destinationId": "archive"}).json()
        client.delete(f"{USER}/messages/{moved['id']}")
    assert graph.sandbox.hub.wait_idle()

    def seen(resource: str) -> list[tuple[str, str]]:
        return [
            (i["changeType"], i["resourceData"]["id"])
            for i in webhook.items()
            if i["clientState"] == resource
        ]

    assert seen(f"users/{ADA}/mailFolders('inbox')/messages") == [
        ("created", created["id"]),
        ("deleted", created["id"]),  # moved out: named by the id it had in the Inbox
    ]
    assert seen(f"users/{ADA}/messages") == [
        ("created", created["id"]),
        ("deleted", created["id"]),  # a move is a copy in the new folder and a delete of the original
        ("created", moved["id"]),
        ("deleted", moved["id"]),
    ]
