"""POST /sandbox/deliver: a script delivers mail to a running sandbox as a test does with tenant.deliver."""

from __future__ import annotations

import base64
from datetime import timedelta

import httpx

from mailtrail.sandbox.clock import ManualClock
from mailtrail.sandbox.gmail.app import GmailSandbox
from mailtrail.sandbox.server import serve
from mailtrail.sandbox.store import Tenant

from .conftest import DEV_TOKEN, TEAM
from .push_receiver import receiving

ANN, BO = TEAM
RAW = (
    b"From: Zoe <zoe@acme.example>\r\nTo: ann.lee@company.example, bo.chen@company.example\r\n"
    b"Subject: Delivered from outside\r\nMessage-ID: <outside-1@acme.example>\r\n\r\nHello from a script.\r\n"
)


def _find(client: httpx.Client, user: str, query: str) -> list[str]:
    body = client.get(
        f"/gmail/v1/users/{user}/messages", params={"q": query, "includeSpamTrash": "true"}
    ).json()
    return [m["id"] for m in body.get("messages", [])]


def test_raw_mime_reaches_the_named_mailboxes_and_their_watch(
    gmail: tuple[str, GmailSandbox], client: httpx.Client, tenant: Tenant
) -> None:
    _, sandbox = gmail
    topic = "projects/mailtrail-test/topics/gmail"
    with receiving() as receiver:
        sandbox.push.create_subscription(topic, receiver.url)
        client.post(f"/gmail/v1/users/{ANN}/watch", json={"topicName": topic})
        # As curl --data-binary @mail.eml -H 'Content-Type: message/rfc822' sends it; no "to": headers decide.
        response = httpx.post(
            f"{client.base_url}/sandbox/deliver", content=RAW, headers={"Content-Type": "message/rfc822"}
        )
        assert response.status_code == 200
        delivered = response.json()["delivered"]
        assert {d["mailbox"] for d in delivered} == {ANN, BO}
        assert all(d["labelIds"] == ["INBOX", "UNREAD"] for d in delivered)
        sandbox.push.flush()
        assert receiver.notifications() == [
            {"emailAddress": ANN, "historyId": tenant.mailbox(ANN).history_id}
        ]
    assert _find(client, ANN, "rfc822msgid:outside-1@acme.example") == [
        d["id"] for d in delivered if d["mailbox"] == ANN
    ]
    # Only the mailboxes asked for, under the labels asked for.
    only_bo = httpx.post(
        f"{client.base_url}/sandbox/deliver",
        params={"to": BO, "labelIds": "STARRED,INBOX"},
        content=RAW.replace(b"outside-1", b"outside-2"),
        headers={"Content-Type": "message/rfc822"},
    ).json()["delivered"]
    assert [(d["mailbox"], d["labelIds"]) for d in only_bo] == [(BO, ["INBOX", "STARRED"])]
    trashed = httpx.post(
        f"{client.base_url}/sandbox/deliver",
        params={"to": BO, "folder": "deleteditems"},
        content=RAW.replace(b"outside-1", b"outside-3"),
        headers={"Content-Type": "message/rfc822"},
    ).json()["delivered"]
    assert [(d["mailbox"], d["labelIds"]) for d in trashed] == [(BO, ["TRASH", "UNREAD"])]


def test_json_form_with_a_folder_and_a_delivery_time(
    client: httpx.Client, tenant: Tenant, clock: ManualClock
) -> None:
    raw = base64.urlsafe_b64encode(RAW.replace(b"outside-1", b"junk-1")).decode().rstrip("=")
    junk = client.post("/sandbox/deliver", json={"raw": raw, "to": [ANN], "folder": "junkemail"})
    assert junk.status_code == 200
    assert junk.json()["delivered"][0]["labelIds"] == ["SPAM", "UNREAD"]
    later = clock.now() + timedelta(minutes=10)
    scheduled = client.post(
        "/sandbox/deliver",
        json={
            "raw": base64.b64encode(RAW.replace(b"outside-1", b"later-1")).decode(),
            "to": ANN,
            "at": later.isoformat(),
        },
    )
    assert scheduled.status_code == 202
    assert _find(client, ANN, "rfc822msgid:later-1@acme.example") == []
    clock.advance(minutes=10)
    (arrived,) = _find(client, ANN, "rfc822msgid:later-1@acme.example")
    assert tenant.mailbox(ANN).get(arrived).received_at == later


def test_bad_deliveries_say_what_is_wrong(client: httpx.Client) -> None:
    raw = base64.urlsafe_b64encode(RAW).decode()
    cases = [
        ({"to": [ANN]}, "no message"),
        ({"raw": raw, "to": ["nobody@company.example"]}, "no sandbox mailbox"),
        ({"raw": raw, "labelIds": ["Label_404"], "to": [ANN]}, "Label_404"),
        ({"raw": raw, "labelIds": ["INBOX"], "folder": "inbox"}, "not both"),
        ({"raw": raw, "folder": "attic"}, "folder must be one of"),
        ({"raw": raw, "at": "soon"}, "ISO 8601"),
        ({"raw": "!!!"}, "base64url"),
    ]
    for spec, problem in cases:
        response = client.post("/sandbox/deliver", json=spec)
        assert response.status_code == 400, spec
        assert problem in response.json()["error"]["message"], spec
    nobody = b"From: zoe@acme.example\r\nTo: someone@else.example\r\nSubject: x\r\n\r\nx"
    unnamed = client.post("/sandbox/deliver", content=nobody, headers={"Content-Type": "message/rfc822"})
    assert unnamed.status_code == 400
    assert "give to" in unnamed.json()["error"]["message"]


def test_the_graph_emulator_mounts_the_same_route(tenant: Tenant) -> None:
    from mailtrail.sandbox.graph.app import create_graph_app

    app = create_graph_app(tenant, dev_token=DEV_TOKEN)
    with serve({"graph": app}) as urls:
        base = urls["graph"]
        raw = base64.urlsafe_b64encode(RAW.replace(b"outside-1", b"graph-1")).decode()
        response = httpx.post(
            f"{base}/sandbox/deliver", json={"raw": raw, "to": [ANN], "folder": "deleteditems"}
        )
        assert response.status_code == 200
        listing = httpx.get(
            f"{base}/v1.0/users/{ANN}/mailFolders/deleteditems/messages",
            params={"$select": "subject,internetMessageId"},
            headers={"Authorization": f"Bearer {DEV_TOKEN}"},
        )
        assert listing.status_code == 200
        assert "<graph-1@acme.example>" in {m["internetMessageId"] for m in listing.json()["value"]}
