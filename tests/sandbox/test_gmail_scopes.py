"""OAuth scopes are enforced per method, and gmail.metadata forbids search and message bodies."""

from __future__ import annotations

import base64

import google.auth.transport.requests
import httpx
from google.oauth2 import service_account

from mailtrail.sandbox.gmail.app import GmailSandbox
from mailtrail.sandbox.store import Tenant

from .conftest import TEAM

ANN = TEAM[0]
AUTH = "https://www.googleapis.com/auth/"
METADATA, READONLY, MODIFY, INSERT, COMPOSE = (
    AUTH + name
    for name in ("gmail.metadata", "gmail.readonly", "gmail.modify", "gmail.insert", "gmail.compose")
)
MAIL = "https://mail.google.com/"
RAW = base64.urlsafe_b64encode(
    b"From: zoe@acme.example\r\nTo: ann.lee@company.example\r\nSubject: S\r\n\r\nHi"
).decode()


def _client(base: str, *scopes: str) -> httpx.Client:
    """A client whose token (a delegated service account's, as importers use) holds exactly ``scopes``."""
    info = httpx.post(
        f"{base}/sandbox/service-accounts", json={"email": "scopes@proj.iam.gserviceaccount.com"}
    )
    credentials = service_account.Credentials.from_service_account_info(
        info.json(), scopes=list(scopes), subject=ANN
    )
    credentials.refresh(google.auth.transport.requests.Request())
    return httpx.Client(
        base_url=f"{base}/gmail/v1/users/me", headers={"Authorization": f"Bearer {credentials.token}"}
    )


def _refused(response: httpx.Response, message: str, reason: str) -> None:
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["message"] == message
    assert error["errors"][0]["reason"] == reason
    assert error["status"] == "PERMISSION_DENIED"


def test_metadata_scope_may_not_search_or_read_bodies(
    gmail: tuple[str, GmailSandbox], tenant: Tenant
) -> None:
    base, _ = gmail
    message_id = tenant.mailbox(ANN).messages()[0].id
    with _client(base, METADATA) as client:
        assert client.get("/messages").status_code == 200
        assert client.get("/messages", params={"labelIds": "INBOX"}).status_code == 200
        for q in ("from:zoe", ""):  # even an empty q is refused
            _refused(
                client.get("/messages", params={"q": q}),
                "Metadata scope does not support 'q' parameter",
                "forbidden",
            )
        _refused(
            client.get(f"/messages/{message_id}"), "Metadata scope doesn't allow format FULL", "forbidden"
        )
        raw = client.get(f"/messages/{message_id}", params={"format": "raw"})
        _refused(raw, "Metadata scope doesn't allow format RAW", "forbidden")
        for fmt in ("metadata", "minimal"):
            assert client.get(f"/messages/{message_id}", params={"format": fmt}).status_code == 200
        history = client.get("/history", params={"startHistoryId": tenant.mailbox(ANN).history_id})
        assert history.status_code == 200
        attachment = client.get(f"/messages/{message_id}/attachments/att-{message_id}-1")
        _refused(attachment, "Request had insufficient authentication scopes.", "insufficientPermissions")
        assert 'error="insufficient_scope"' in attachment.headers["WWW-Authenticate"]
    # Google applies gmail.metadata's limits even when a broader scope is granted beside it.
    with _client(base, METADATA, READONLY) as client:
        _refused(
            client.get("/messages", params={"q": "in:inbox"}),
            "Metadata scope does not support 'q' parameter",
            "forbidden",
        )


def test_read_only_scope_reads_everything_and_writes_nothing(
    gmail: tuple[str, GmailSandbox], tenant: Tenant
) -> None:
    base, _ = gmail
    message_id = tenant.mailbox(ANN).messages()[0].id
    with _client(base, READONLY) as client:
        assert client.get("/messages", params={"q": "in:inbox"}).status_code == 200
        assert client.get(f"/messages/{message_id}", params={"format": "raw"}).status_code == 200
        for path, body in [
            ("/messages", {"raw": RAW}),
            ("/messages/import", {"raw": RAW}),
            (f"/messages/{message_id}/modify", {"addLabelIds": ["STARRED"]}),
            (f"/messages/{message_id}/trash", None),
            ("/drafts", {"message": {"raw": RAW}}),
        ]:
            refused = client.post(path, json=body)
            _refused(refused, "Request had insufficient authentication scopes.", "insufficientPermissions")
    assert "STARRED" not in tenant.mailbox(ANN).get(message_id).labels


def test_write_methods_take_the_scopes_google_lists_for_them(
    gmail: tuple[str, GmailSandbox], tenant: Tenant
) -> None:
    base, _ = gmail
    message_id = tenant.mailbox(ANN).messages()[0].id
    with _client(base, INSERT) as client:  # gmail.insert: insert and import only
        assert client.post("/messages", json={"raw": RAW}).status_code == 200
        assert client.post("/messages/import", json={"raw": RAW}).status_code == 200
        assert (
            client.post(f"/messages/{message_id}/modify", json={"addLabelIds": ["STARRED"]}).status_code
            == 403
        )
        assert client.get("/messages").status_code == 403
    with _client(base, COMPOSE) as client:  # gmail.compose: drafts, not insert
        assert client.post("/drafts", json={"message": {"raw": RAW}}).status_code == 200
        assert client.post("/messages", json={"raw": RAW}).status_code == 403
    for scope in (MODIFY, MAIL):
        with _client(base, scope) as client:
            assert (
                client.post(f"/messages/{message_id}/modify", json={"addLabelIds": ["STARRED"]}).status_code
                == 200
            )
            assert client.post(f"/messages/{message_id}/trash").status_code == 200
            assert client.post(f"/messages/{message_id}/untrash").status_code == 200
            assert client.post("/messages", json={"raw": RAW}).status_code == 200
            assert client.get("/messages", params={"q": "is:starred"}).status_code == 200
