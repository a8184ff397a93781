"""Folders, messages and MIME as a Graph client sees them."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

import httpx
from tests.sandbox.graph.conftest import ADA, BOB, CUSTOMER, GraphServer, make_raw

from mailtrail.sandbox.clock import ManualClock
from mailtrail.sandbox.graph.app import create_graph_app
from mailtrail.sandbox.graph.shapes import MESSAGE_PROPERTIES
from mailtrail.sandbox.server import RunningApp
from mailtrail.sandbox.store import Tenant

# Property sets of the documented v1.0 resources (learn.microsoft.com/graph/api/resources/message,
# .../mailfolder, .../recipient); test_graph_shapes.py checks them against microsoft-graph-types.
MESSAGE_DEFAULT_FIELDS = {
    "@odata.etag", "id", "createdDateTime", "lastModifiedDateTime", "changeKey", "categories",
    "receivedDateTime", "sentDateTime", "hasAttachments", "internetMessageId", "subject", "bodyPreview",
    "importance", "parentFolderId", "conversationId", "conversationIndex", "isDeliveryReceiptRequested",
    "isReadReceiptRequested", "isRead", "isDraft", "webLink", "inferenceClassification", "body", "sender",
    "from", "toRecipients", "ccRecipients", "bccRecipients", "replyTo", "flag",
}  # fmt: skip
FOLDER_FIELDS = {
    "id",
    "displayName",
    "parentFolderId",
    "childFolderCount",
    "unreadItemCount",
    "totalItemCount",
    "isHidden",
}


def test_well_known_and_custom_folders_with_children(graph: GraphServer) -> None:
    box = graph.tenant.mailbox(ADA)
    customers = box.create_folder("Customers")
    box.create_folder("Acme", parent_id=customers.id)
    graph.tenant.deliver(make_raw("Renewal"), [ADA])

    with graph.client(graph.app_token()) as client:
        top = client.get(f"/v1.0/users/{ADA}/mailFolders", params={"$top": "50"}).json()["value"]
        names = {f["displayName"] for f in top}
        assert {
            "Inbox",
            "Sent Items",
            "Drafts",
            "Junk Email",
            "Deleted Items",
            "Archive",
            "Customers",
        } <= names
        assert all(set(f) == FOLDER_FIELDS for f in top)
        inbox = client.get(f"/v1.0/users/{ADA}/mailFolders/inbox").json()
        assert inbox["totalItemCount"] == 1
        assert inbox["unreadItemCount"] == 1
        # OData key syntax and any case work as in Graph.
        same = client.get(f"/v1.0/users/{ADA}/mailfolders('Inbox')").json()
        assert same["id"] == inbox["id"]
        custom = next(f for f in top if f["displayName"] == "Customers")
        assert custom["childFolderCount"] == 1
        children = client.get(f"/v1.0/users/{ADA}/mailFolders/{custom['id']}/childFolders").json()["value"]
        assert [c["displayName"] for c in children] == ["Acme"]
        assert children[0]["parentFolderId"] == custom["id"]


def test_message_fields_and_headers_only_when_selected(graph: GraphServer) -> None:
    raw = make_raw("Quarterly review", to=f"Ada <{ADA}>, {BOB}")
    graph.tenant.deliver(raw, [ADA])

    with graph.client(graph.app_token()) as client:
        listing = client.get(f"/v1.0/users/{ADA}/mailFolders/inbox/messages").json()
        msg = listing["value"][0]
        assert set(msg) == MESSAGE_DEFAULT_FIELDS
        assert msg["subject"] == "Quarterly review"
        assert msg["from"] == {"emailAddress": {"name": "Carol Customer", "address": CUSTOMER}}
        assert [r["emailAddress"]["address"] for r in msg["toRecipients"]] == [ADA, BOB]
        assert msg["isDraft"] is False
        assert msg["isRead"] is False
        # Without Prefer: outlook.body-content-type, Graph serves the body as HTML (plain text converted).
        assert msg["body"]["contentType"] == "html"
        assert "Hello from the customer." in msg["body"]["content"]
        assert msg["receivedDateTime"].endswith("Z")
        assert msg["internetMessageId"].startswith("<")

        selected = client.get(
            f"/v1.0/users/{ADA}/messages/{msg['id']}", params={"$select": "subject,internetMessageHeaders"}
        ).json()
        assert set(selected) == {"@odata.context", "@odata.etag", "id", "subject", "internetMessageHeaders"}
        headers = {h["name"]: h["value"] for h in selected["internetMessageHeaders"]}
        assert headers["Subject"] == "Quarterly review"
        assert headers["Message-ID"] == msg["internetMessageId"]

        bad = client.get(f"/v1.0/users/{ADA}/messages/{msg['id']}", params={"$select": "subjekt"})
        assert bad.status_code == 400
        assert "subjekt" in bad.json()["error"]["message"]


def test_value_returns_the_mime_byte_for_byte(graph: GraphServer, corpora: Path) -> None:
    raw = (corpora / "malformed" / "flanker" / "attached-pdf.eml").read_bytes()
    graph.tenant.mailbox(ADA).insert(raw)

    with graph.client(graph.app_token()) as client:
        msg = client.get(f"/v1.0/users/{ADA}/messages").json()["value"][0]
        assert msg["hasAttachments"] is True
        mime = client.get(f"/v1.0/users/{ADA}/messages/{msg['id']}/$value")

    assert mime.status_code == 200
    assert mime.content == raw


def test_default_id_changes_on_move_and_immutable_id_does_not(graph: GraphServer) -> None:
    stored = graph.tenant.deliver(make_raw("Move me"), [ADA])[0]
    box = graph.tenant.mailbox(ADA)
    immutable = {"Prefer": 'IdType="ImmutableId"'}

    with graph.client(graph.app_token()) as client:
        default_id = client.get(f"/v1.0/users/{ADA}/messages").json()["value"][0]["id"]
        answer = client.get(f"/v1.0/users/{ADA}/messages", headers=immutable)
        assert answer.headers["Preference-Applied"] == 'IdType="ImmutableId"'
        immutable_id = answer.json()["value"][0]["id"]
        assert immutable_id != default_id

        box.move(stored.id, box.folder_by_name("archive").id)

        gone = client.get(f"/v1.0/users/{ADA}/messages/{default_id}")
        assert gone.status_code == 404
        assert gone.json()["error"]["code"] == "ErrorItemNotFound"
        moved = client.get(f"/v1.0/users/{ADA}/messages/{immutable_id}", headers=immutable).json()
        archive = client.get(f"/v1.0/users/{ADA}/mailFolders/archive").json()
        assert moved["parentFolderId"] == archive["id"]


def test_paging_with_top_and_next_link(graph: GraphServer) -> None:
    for n in range(5):
        graph.tenant.deliver(make_raw(f"Message {n}"), [ADA])

    subjects: list[str] = []
    with graph.client(graph.app_token()) as client:
        url: str | None = f"/v1.0/users/{ADA}/messages?$top=2&$select=subject"
        while url:
            page = client.get(url).json()
            assert len(page["value"]) <= 2
            subjects += [m["subject"] for m in page["value"]]
            url = page.get("@odata.nextLink")

    assert sorted(subjects) == [f"Message {n}" for n in range(5)]
    with graph.client(graph.app_token()) as client:
        preferred = client.get(f"/v1.0/users/{ADA}/messages", headers={"Prefer": "odata.maxpagesize=4"})
    assert len(preferred.json()["value"]) == 4
    assert preferred.headers["Preference-Applied"] == "odata.maxpagesize=4"


def test_unknown_user_and_malformed_ids(graph: GraphServer) -> None:
    with graph.client(graph.app_token()) as client:
        nobody = client.get("/v1.0/users/nobody@example.com/messages")
        assert nobody.status_code == 404
        assert nobody.json()["error"]["code"] == "ErrorInvalidUser"
        malformed = client.get(f"/v1.0/users/{ADA}/messages/not-a-graph-id")
        assert malformed.status_code == 400
        assert malformed.json()["error"]["code"] == "ErrorInvalidIdMalformed"
        other_box = graph.tenant.deliver(make_raw("For Bob"), [BOB])[0]
        bob_id = client.get(f"/v1.0/users/{BOB}/messages").json()["value"][0]["id"]
        assert other_box.mailbox == BOB
        assert client.get(f"/v1.0/users/{ADA}/messages/{bob_id}").status_code == 404
        unknown_segment = client.get(f"/v1.0/users/{ADA}/calendars")
        assert unknown_segment.status_code == 400


def test_me_needs_a_delegated_token(graph: GraphServer) -> None:
    with graph.client(graph.app_token()) as client:
        answer = client.get("/v1.0/me/messages")
    assert answer.status_code == 400
    assert "delegated" in answer.json()["error"]["message"]


def test_dev_token_reads_every_mailbox_over_plain_http() -> None:
    tenant = Tenant(ManualClock())
    tenant.add_mailbox(ADA)
    tenant.deliver(make_raw("Hi"), [ADA])
    running = RunningApp(create_graph_app(tenant, dev_token="try-me"))
    running.start()
    try:
        with httpx.Client(base_url=running.base_url) as client:
            answer = client.get(f"/v1.0/users/{ADA}/messages", headers={"Authorization": "Bearer try-me"})
            refused = client.get(f"/v1.0/users/{ADA}/messages", headers={"Authorization": "Bearer guess"})
    finally:
        running.stop()
    assert answer.status_code == 200
    assert answer.json()["value"][0]["subject"] == "Hi"
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "InvalidAuthenticationToken"


def test_html_body_by_default_and_text_when_preferred(graph: GraphServer) -> None:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = CUSTOMER, ADA, "Styled"
    msg.set_content("Plain version")
    msg.add_alternative("<p>HTML <b>version</b></p>", subtype="html")
    graph.tenant.deliver(msg.as_bytes(), [ADA])

    with graph.client(graph.app_token()) as client:
        default = client.get(f"/v1.0/users/{ADA}/messages").json()["value"][0]["body"]
        as_text = client.get(
            f"/v1.0/users/{ADA}/messages", headers={"Prefer": 'outlook.body-content-type="text"'}
        )

    assert default["contentType"] == "html"
    assert "<b>version</b>" in default["content"]
    assert as_text.headers["Preference-Applied"] == 'outlook.body-content-type="text"'
    assert as_text.json()["value"][0]["body"] == {"contentType": "text", "content": "Plain version\n"}


def test_every_malformed_corpus_message_is_served(graph: GraphServer, corpora: Path) -> None:
    box = graph.tenant.mailbox(BOB)
    files = sorted(p for p in (corpora / "malformed").rglob("*") if p.is_file() and p.suffix != ".json")
    for path in files:
        box.insert(path.read_bytes())

    everything = ",".join(MESSAGE_PROPERTIES)
    served = 0
    with graph.client(graph.app_token()) as client:
        url: str | None = f"/v1.0/users/{BOB}/mailFolders/inbox/messages/delta?$select={everything}"
        while url:
            page = client.get(url, headers={"Prefer": "odata.maxpagesize=50"})
            assert page.status_code == 200, page.text
            body = page.json()
            for msg in body["value"]:
                assert isinstance(msg["subject"], str)
                assert msg["body"]["contentType"] in ("text", "html")
                served += 1
            url = body.get("@odata.nextLink")

    assert served == len(files)


def test_users_are_listed_for_apps_with_directory_permission(graph: GraphServer) -> None:
    graph.sandbox.identity.register_app(
        "mail-only-app", "its-secret", app_permissions=frozenset({"Mail.Read"})
    )
    with graph.client(graph.app_token()) as client:
        users = client.get("/v1.0/users").json()["value"]
        one = client.get(f"/v1.0/users/{ADA}", params={"$select": "displayName,mail"}).json()
    with graph.client() as client:
        token = graph.request_token(
            client,
            grant_type="client_credentials",
            client_id="mail-only-app",
            client_secret="its-secret",
            scope="https://graph.microsoft.com/.default",
        ).json()["access_token"]
    with graph.client(token) as client:
        denied = client.get("/v1.0/users")

    assert [u["userPrincipalName"] for u in users] == [ADA, BOB]
    assert users[0]["displayName"] == "Ada Lovelace"
    assert one["mail"] == ADA
    assert set(one) == {"@odata.context", "id", "displayName", "mail"}
    assert denied.status_code == 403
    assert denied.json()["error"]["code"] == "Authorization_RequestDenied"


def test_plain_text_message_comes_as_html_unless_text_is_preferred(graph: GraphServer) -> None:
    graph.tenant.deliver(make_raw("Quote", body="Price < 5 & more\nSecond line"), [ADA])
    as_text = {"Prefer": 'outlook.body-content-type="text"'}
    delta = f"/v1.0/users/{ADA}/mailFolders/inbox/messages/delta?$select=body"

    with graph.client(graph.app_token()) as client:
        default = client.get(f"/v1.0/users/{ADA}/messages")
        preferred = client.get(f"/v1.0/users/{ADA}/messages", headers=as_text)
        delta_page = client.get(delta, headers=as_text)

    html_body = default.json()["value"][0]["body"]
    assert html_body["contentType"] == "html"
    assert html_body["content"].startswith("<html>")
    assert "Price &lt; 5 &amp; more<br>" in html_body["content"]
    assert "Preference-Applied" not in default.headers
    assert preferred.json()["value"][0]["body"] == {
        "contentType": "text",
        "content": "Price < 5 & more\nSecond line\n",
    }
    assert preferred.headers["Preference-Applied"] == 'outlook.body-content-type="text"'
    assert delta_page.json()["value"][0]["body"]["contentType"] == "text"
    assert delta_page.headers["Preference-Applied"] == 'outlook.body-content-type="text"'
