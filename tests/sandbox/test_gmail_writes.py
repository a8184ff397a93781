"""Mail put in and filed through the Gmail write methods: insert, import, uploads, modify, trash, drafts."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

import httpx
from googleapiclient.discovery import build
from googleapiclient.http import MediaInMemoryUpload

from mailtrail.sandbox.clock import ManualClock
from mailtrail.sandbox.gmail.app import GmailSandbox
from mailtrail.sandbox.store import Tenant

from .conftest import DEV_TOKEN, TEAM
from .push_receiver import receiving

ANN = TEAM[0]
USER = f"/gmail/v1/users/{ANN}"
SENT_AT = datetime(2025, 11, 3, 14, 30, tzinfo=UTC)


def _raw(subject: str, date: datetime = SENT_AT) -> bytes:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "Zoe <zoe@acme.example>", ANN, subject
    mail["Date"] = format_datetime(date)
    mail["Message-ID"] = f"<{subject.replace(' ', '-')}@acme.example>"
    mail.set_content(f"Body of {subject}.")
    return mail.as_bytes()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode()


def _millis(when: datetime) -> str:
    return str(int(when.timestamp() * 1000))


def _history(client: httpx.Client, start: int) -> list[dict[str, Any]]:
    body = client.get(f"{USER}/history", params={"startHistoryId": start}).json()
    return list(body.get("history", []))


def test_insert_stores_the_message_with_its_labels_at_the_receive_time(
    client: httpx.Client, tenant: Tenant, clock: ManualClock, gmail_schema
) -> None:
    start = tenant.mailbox(ANN).history_id
    raw = _raw("Inserted")
    inserted = client.post(f"{USER}/messages", json={"raw": _b64(raw), "labelIds": ["INBOX", "UNREAD"]})
    assert inserted.status_code == 200
    gmail_schema("Message", inserted.json())
    assert inserted.json()["labelIds"] == ["INBOX", "UNREAD"]
    got = client.get(f"{USER}/messages/{inserted.json()['id']}", params={"format": "raw"}).json()
    assert base64.urlsafe_b64decode(got["raw"]) == raw
    assert got["internalDate"] == _millis(clock.now())  # insert: receivedTime by default
    (record,) = _history(client, start)
    assert record["messagesAdded"][0]["message"]["id"] == inserted.json()["id"]
    # Without labelIds an inserted message is in no label, INBOX included.
    bare = client.post(f"{USER}/messages", json={"raw": _b64(_raw("No labels"))}).json()
    assert bare["labelIds"] == []
    inbox = client.get(f"{USER}/messages", params={"labelIds": "INBOX", "maxResults": 500}).json()
    assert bare["id"] not in {m["id"] for m in inbox["messages"]}
    dated = client.post(
        f"{USER}/messages", params={"internalDateSource": "dateHeader"}, json={"raw": _b64(_raw("Dated"))}
    ).json()
    assert client.get(f"{USER}/messages/{dated['id']}").json()["internalDate"] == _millis(SENT_AT)


def test_import_by_media_upload_dates_mail_by_its_date_header(
    client: httpx.Client, clock: ManualClock
) -> None:
    upload = f"/upload{USER}/messages/import"
    headers = {"Content-Type": "message/rfc822"}
    imported = client.post(upload, params={"uploadType": "media"}, content=_raw("Imported"), headers=headers)
    assert imported.status_code == 200
    assert imported.json()["labelIds"] == []
    assert client.get(f"{USER}/messages/{imported.json()['id']}").json()["internalDate"] == _millis(SENT_AT)
    received = client.post(
        upload,
        params={"uploadType": "media", "internalDateSource": "receivedTime"},
        content=_raw("Imported now"),
        headers=headers,
    ).json()
    assert client.get(f"{USER}/messages/{received['id']}").json()["internalDate"] == _millis(clock.now())
    undated = b"From: zoe@acme.example\r\nTo: ann.lee@company.example\r\nSubject: No date\r\n\r\nHi"
    no_date = client.post(upload, params={"uploadType": "media"}, content=undated, headers=headers).json()
    assert client.get(f"{USER}/messages/{no_date['id']}").json()["internalDate"] == _millis(clock.now())


def test_google_api_client_imports_and_inserts_with_uploads(
    gmail: tuple[str, GmailSandbox], tenant: Tenant
) -> None:
    base, _ = gmail

    class TokenHttp:
        """An httplib2-like http that adds the bearer token, as an authorized http would."""

        def __init__(self) -> None:
            import httplib2

            self.inner = httplib2.Http(timeout=10)

        def request(self, uri, method="GET", body=None, headers=None, **kwargs):  # type: ignore[no-untyped-def]
            headers = dict(headers or {})
            headers["authorization"] = f"Bearer {DEV_TOKEN}"
            # With api_endpoint the client keeps https for upload URLs; the sandbox here speaks http.
            uri = uri.replace("https://127.0.0.1", "http://127.0.0.1")
            return self.inner.request(uri, method, body=body, headers=headers, **kwargs)

    service = build(
        "gmail", "v1", http=TokenHttp(), static_discovery=True, client_options={"api_endpoint": base + "/"}
    )
    messages = service.users().messages()
    raw = _raw("Via the client")
    # body + media: uploadType=multipart, the JSON Message part carrying labelIds.
    imported = messages.import_(
        userId=ANN,
        body={"labelIds": ["INBOX", "STARRED"]},
        media_body=MediaInMemoryUpload(raw, mimetype="message/rfc822"),
    ).execute()
    assert sorted(imported["labelIds"]) == ["INBOX", "STARRED"]
    assert tenant.mailbox(ANN).get(imported["id"]).raw == raw
    # media only: uploadType=media.
    inserted = messages.insert(
        userId=ANN, media_body=MediaInMemoryUpload(_raw("Media only"), mimetype="message/rfc822")
    ).execute()
    assert tenant.mailbox(ANN).get(inserted["id"]).headers.subject == "Media only"


def test_modify_trash_and_untrash_leave_gmail_history(client: httpx.Client, tenant: Tenant) -> None:
    box = tenant.mailbox(ANN)
    message_id = client.post(
        f"{USER}/messages", json={"raw": _b64(_raw("File me")), "labelIds": ["INBOX", "UNREAD"]}
    ).json()["id"]
    start = box.history_id
    modified = client.post(
        f"{USER}/messages/{message_id}/modify",
        json={"addLabelIds": ["STARRED"], "removeLabelIds": ["UNREAD"]},
    )
    assert modified.json()["labelIds"] == ["INBOX", "STARRED"]
    trashed = client.post(f"{USER}/messages/{message_id}/trash").json()
    assert "TRASH" in trashed["labelIds"]
    listed = client.get(f"{USER}/messages", params={"maxResults": 500}).json()["messages"]
    assert message_id not in {m["id"] for m in listed}  # trash is left out of lists by default
    untrashed = client.post(f"{USER}/messages/{message_id}/untrash").json()
    assert untrashed["labelIds"] == ["INBOX", "STARRED"]  # back where it was
    kinds = [(next(k for k in r if k not in ("id", "messages")), r) for r in _history(client, start)]
    assert [(k, r[k][0]["labelIds"]) for k, r in kinds] == [
        ("labelsAdded", ["STARRED"]),
        ("labelsRemoved", ["UNREAD"]),
        ("labelsAdded", ["TRASH"]),
        ("labelsRemoved", ["TRASH"]),
    ]


def test_write_errors_are_googles(client: httpx.Client, tenant: Tenant) -> None:
    message_id = tenant.mailbox(ANN).messages()[0].id

    def error(response: httpx.Response) -> tuple[int, str, str]:
        body = response.json()["error"]
        return response.status_code, body["message"], body["errors"][0]["reason"]

    required = "'raw' RFC822 payload message string or uploading message via /upload/* URL required"
    assert error(client.post(f"{USER}/messages", json={})) == (400, required, "invalidArgument")
    assert error(client.post(f"{USER}/messages", json={"raw": "@@@"}))[0] == 400
    assert error(
        client.post(f"{USER}/messages", json={"raw": _b64(_raw("x")), "labelIds": ["Label_99"]})
    ) == (
        400,
        "Invalid label: Label_99",
        "invalidArgument",
    )
    modify = f"{USER}/messages/{message_id}/modify"
    assert error(client.post(modify, json={})) == (
        400,
        "No label add or removes specified",
        "invalidArgument",
    )
    assert error(client.post(modify, json={"removeLabelIds": ["SENT"]})) == (
        400,
        "Invalid label: SENT",
        "invalidArgument",
    )
    assert client.post(f"{USER}/messages/nope/trash").status_code == 404
    assert (
        client.post(
            f"{USER}/messages/import", params={"internalDateSource": "never"}, json={"raw": "eA"}
        ).status_code
        == 400
    )


def test_drafts_create_by_json_and_upload(client: httpx.Client, tenant: Tenant, gmail_schema) -> None:
    start = tenant.mailbox(ANN).history_id
    draft = client.post(f"{USER}/drafts", json={"message": {"raw": _b64(_raw("Draft one"))}})
    assert draft.status_code == 200
    gmail_schema("Draft", draft.json())
    assert draft.json()["id"].startswith("r")
    assert draft.json()["message"]["labelIds"] == ["DRAFT"]
    uploaded = client.post(
        f"/upload{USER}/drafts",
        params={"uploadType": "media"},
        content=_raw("Draft two"),
        headers={"Content-Type": "message/rfc822"},
    ).json()
    stored = tenant.mailbox(ANN).get(uploaded["message"]["id"])
    assert stored.is_draft
    assert stored.headers.subject == "Draft two"
    added = [r for r in _history(client, start) if "messagesAdded" in r]
    assert len(added) == 2


def test_writes_notify_a_watch(
    gmail: tuple[str, GmailSandbox], client: httpx.Client, tenant: Tenant, clock: ManualClock
) -> None:
    _, sandbox = gmail
    topic = "projects/mailtrail-test/topics/gmail"
    with receiving() as receiver:
        sandbox.push.create_subscription(topic, receiver.url)
        assert client.post(f"{USER}/watch", json={"topicName": topic}).status_code == 200
        raw = _b64(_raw("Watched"))
        message_id = client.post(f"{USER}/messages", json={"raw": raw, "labelIds": ["INBOX"]}).json()["id"]
        sandbox.push.flush()
        assert receiver.notifications()[-1]["historyId"] == tenant.mailbox(ANN).history_id
        clock.advance(1)  # Gmail pushes at most once a second per mailbox
        client.post(f"{USER}/messages/{message_id}/modify", json={"addLabelIds": ["STARRED"]})
        sandbox.push.flush()
        assert len(receiver.received) == 2
        assert receiver.notifications()[-1]["historyId"] == tenant.mailbox(ANN).history_id
