"""users.watch: Pub/Sub push envelopes reach a local receiver, signed with a token verifiable by JWKS."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt
import pytest

from mailtrail.sandbox.faults import Fault
from mailtrail.sandbox.gmail.app import GmailSandbox
from mailtrail.sandbox.store import Tenant

from .conftest import TEAM

TOPIC = "projects/mailtrail-test/topics/gmail"


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[str, dict[str, Any]]]]]:
    """A local push endpoint recording (Authorization header, JSON body) of each POST."""
    received: list[tuple[str, dict[str, Any]]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            received.append((self.headers.get("Authorization", ""), json.loads(body)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/push", received
    server.shutdown()


def _deliver(tenant: Tenant, subject: str) -> None:
    raw = f"From: x@acme.example\r\nTo: {TEAM[0]}\r\nSubject: {subject}\r\n\r\nbody".encode()
    tenant.deliver(raw)


def _history_ids(received: list[tuple[str, dict[str, Any]]]) -> list[int]:
    return [json.loads(base64.b64decode(body["message"]["data"]))["historyId"] for _, body in received]


def test_watch_pushes_signed_notifications(
    gmail: tuple[str, GmailSandbox], tenant: Tenant, client: httpx.Client, receiver, gmail_schema
) -> None:
    base, sandbox = gmail
    url, received = receiver
    # Set up as one would on Pub/Sub: a push subscription with an OIDC token for an audience.
    subscription = {
        "topic": TOPIC,
        "pushConfig": {"pushEndpoint": url, "oidcToken": {"audience": "https://mailtrail.example/push"}},
    }
    created = client.put("/v1/projects/mailtrail-test/subscriptions/gmail-push", json=subscription)
    assert created.status_code == 200
    assert created.json()["name"] == "projects/mailtrail-test/subscriptions/gmail-push"
    watch = client.post(f"/gmail/v1/users/{TEAM[0]}/watch", json={"topicName": TOPIC, "labelIds": ["INBOX"]})
    assert watch.status_code == 200
    gmail_schema("WatchResponse", watch.json())
    assert int(watch.json()["historyId"]) == tenant.mailbox(TEAM[0]).history_id
    _deliver(tenant, "first")
    sandbox.push.flush()
    assert len(received) == 1
    authorization, envelope = received[0]
    data = json.loads(base64.b64decode(envelope["message"]["data"]))
    assert data == {"emailAddress": TEAM[0], "historyId": tenant.mailbox(TEAM[0]).history_id}
    assert envelope["subscription"] == "projects/mailtrail-test/subscriptions/gmail-push"
    token = authorization.removeprefix("Bearer ")
    signing_key = jwt.PyJWKClient(f"{base}/oauth2/v3/certs").get_signing_key_from_jwt(token)
    claims = jwt.decode(
        token, signing_key.key, algorithms=["RS256"], audience="https://mailtrail.example/push", issuer=base
    )
    assert claims["email"].endswith(".iam.gserviceaccount.com")
    assert claims["email_verified"] is True

    assert client.post(f"/gmail/v1/users/{TEAM[0]}/stop").status_code == 204
    _deliver(tenant, "after stop")
    sandbox.push.flush()
    assert len(received) == 1


def test_unknown_topic_is_refused(client: httpx.Client) -> None:
    response = client.post(f"/gmail/v1/users/{TEAM[0]}/watch", json={"topicName": "projects/p/topics/none"})
    assert response.status_code == 404
    assert client.post(f"/gmail/v1/users/{TEAM[0]}/watch", json={"topicName": "bad"}).status_code == 400
    garbage = client.post(f"/gmail/v1/users/{TEAM[0]}/watch", content=b"{not json")
    assert garbage.status_code == 400
    assert "JSON" in garbage.json()["error"]["message"]


def test_push_faults_duplicate_and_reorder(
    gmail: tuple[str, GmailSandbox], tenant: Tenant, client: httpx.Client, receiver
) -> None:
    _, sandbox = gmail
    url, received = receiver
    sandbox.push.create_subscription(TOPIC, url)
    client.post(f"/gmail/v1/users/{TEAM[0]}/watch", json={"topicName": TOPIC})
    sandbox.faults.push(Fault.duplicate_push())
    _deliver(tenant, "one")
    sandbox.push.flush()
    first = _history_ids(received)
    assert len(first) == 2
    assert first[0] == first[1]
    sandbox.faults.push(Fault.reorder_push())
    _deliver(tenant, "two")
    _deliver(tenant, "three")
    sandbox.push.flush()
    later = _history_ids(received)[2:]
    assert len(later) == 2
    assert later[0] > later[1]  # the newer notification arrived first
