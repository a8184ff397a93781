"""users.watch: Pub/Sub push envelopes reach a receiver, signed like Google's, at Gmail's rate, retried."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import google.auth.transport.requests
import httpx
import jwt
import pytest
from google.oauth2 import id_token

from mailtrail.sandbox.clock import ManualClock
from mailtrail.sandbox.faults import Fault
from mailtrail.sandbox.gmail.app import GmailSandbox, create_gmail_app
from mailtrail.sandbox.gmail.signing import service_account_unique_id
from mailtrail.sandbox.server import serve
from mailtrail.sandbox.store import Tenant

from .conftest import DEV_TOKEN, TEAM
from .push_receiver import Receiver, receiving

TOPIC = "projects/mailtrail-test/topics/gmail"
AUDIENCE = "https://mailtrail.example/push"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as state:
        yield state


def _deliver(tenant: Tenant, subject: str, to: str = TEAM[0]) -> None:
    raw = f"From: x@acme.example\r\nTo: {to}\r\nSubject: {subject}\r\n\r\nbody".encode()
    tenant.deliver(raw)


def _data(body: dict[str, Any]) -> dict[str, Any]:
    return dict(json.loads(base64.b64decode(body["message"]["data"])))


def _history_ids(received: list[tuple[str, dict[str, Any]]]) -> list[int]:
    return [_data(body)["historyId"] for _, body in received]


def _subscribe(client: httpx.Client, url: str, **extra: Any) -> None:
    subscription = {
        "topic": TOPIC,
        "pushConfig": {"pushEndpoint": url, "oidcToken": {"audience": AUDIENCE}},
        **extra,
    }
    assert client.put("/v1/projects/mailtrail-test/subscriptions/gmail-push", json=subscription).is_success
    assert client.post(f"/gmail/v1/users/{TEAM[0]}/watch", json={"topicName": TOPIC}).status_code == 200


def test_watch_pushes_notifications_with_googles_token_claims(
    gmail: tuple[str, GmailSandbox], tenant: Tenant, client: httpx.Client, receiver: Receiver, gmail_schema
) -> None:
    base, sandbox = gmail
    # Set up as one would on Pub/Sub: a push subscription with an OIDC token for an audience.
    subscription = {
        "topic": TOPIC,
        "pushConfig": {"pushEndpoint": receiver.url, "oidcToken": {"audience": AUDIENCE}},
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
    assert len(receiver.received) == 1
    authorization, envelope = receiver.received[0]
    assert _data(envelope) == {"emailAddress": TEAM[0], "historyId": tenant.mailbox(TEAM[0]).history_id}
    assert envelope["subscription"] == "projects/mailtrail-test/subscriptions/gmail-push"
    token = authorization.removeprefix("Bearer ")
    signing_key = jwt.PyJWKClient(f"{base}/oauth2/v3/certs").get_signing_key_from_jwt(token)
    claims = jwt.decode(
        token, signing_key.key, algorithms=["RS256"], audience=AUDIENCE, issuer="https://accounts.google.com"
    )
    account = claims["email"]
    assert account.endswith(".iam.gserviceaccount.com")
    assert claims["email_verified"] is True
    assert claims["azp"] == claims["sub"] == service_account_unique_id(account)
    assert len(claims["sub"]) == 21
    assert claims["sub"].isdigit()

    assert client.post(f"/gmail/v1/users/{TEAM[0]}/stop").status_code == 204
    _deliver(tenant, "after stop")
    sandbox.push.flush()
    assert len(receiver.received) == 1


def test_google_auth_verifies_the_push_token_against_the_sandbox_certs(
    tenant: Tenant, clock: ManualClock, receiver: Receiver
) -> None:
    """A connector's real check: google-auth's id_token.verify_token with certs_url at the sandbox."""
    app = create_gmail_app(tenant, quota="default", dev_token=DEV_TOKEN, certs_url="/keys/push-certs")
    headers = {"Authorization": f"Bearer {DEV_TOKEN}"}
    with serve({"gmail": app}) as urls, httpx.Client(base_url=urls["gmail"], headers=headers) as client:
        sandbox: GmailSandbox = app.state.sandbox
        certs_url = sandbox.certs_url_for(urls["gmail"])
        assert certs_url == f"{urls['gmail']}/keys/push-certs"
        _subscribe(client, receiver.url)
        _deliver(tenant, "verify me")
        sandbox.push.flush()
        token = receiver.received[0][0].removeprefix("Bearer ")
        request = google.auth.transport.requests.Request()
        claims = id_token.verify_token(token, request, audience=AUDIENCE, certs_url=certs_url)
        assert claims["iss"] == "https://accounts.google.com"  # what verify_oauth2_token insists on
        assert claims["aud"] == AUDIENCE
        # The JWK set (Google's v3 format) verifies the same token.
        jwk_claims = id_token.verify_token(
            token, request, audience=AUDIENCE, certs_url=f"{urls['gmail']}/oauth2/v3/certs"
        )
        assert jwk_claims == claims
        with pytest.raises(ValueError, match="audience"):
            id_token.verify_token(token, request, audience="https://someone.else/push", certs_url=certs_url)
    sandbox.push.close()


def test_at_most_one_notification_per_second_per_mailbox(
    gmail: tuple[str, GmailSandbox],
    tenant: Tenant,
    client: httpx.Client,
    receiver: Receiver,
    clock: ManualClock,
) -> None:
    _, sandbox = gmail
    _subscribe(client, receiver.url)
    assert client.post(f"/gmail/v1/users/{TEAM[1]}/watch", json={"topicName": TOPIC}).status_code == 200
    for subject in ("a", "b", "c"):
        _deliver(tenant, subject)
    _deliver(tenant, "to bo", to=TEAM[1])  # another mailbox has a rate of its own
    sandbox.push.flush()
    assert sorted(_data(body)["emailAddress"] for _, body in receiver.received) == sorted(TEAM)
    assert sandbox.push.log.dropped == 2
    clock.advance(0.5)
    _deliver(tenant, "still within the second")
    clock.advance(0.5)
    _deliver(tenant, "a second later")
    sandbox.push.flush()
    ann = [body for _, body in receiver.received if _data(body)["emailAddress"] == TEAM[0]]
    assert len(ann) == 2
    # The notification that gets through names the latest history id: nothing is lost to a history sync.
    assert _data(ann[-1])["historyId"] == tenant.mailbox(TEAM[0]).history_id


def test_a_push_not_acknowledged_is_redelivered_with_backoff(
    gmail: tuple[str, GmailSandbox],
    tenant: Tenant,
    client: httpx.Client,
    receiver: Receiver,
    clock: ManualClock,
) -> None:
    _, sandbox = gmail
    receiver.statuses = [500, 503]  # then 204
    _subscribe(client, receiver.url, retryPolicy={"minimumBackoff": "5s", "maximumBackoff": "8s"})
    _deliver(tenant, "retry me")
    sandbox.push.flush()
    assert len(receiver.received) == 1
    clock.advance(4.9)
    sandbox.push.flush()
    assert len(receiver.received) == 1  # the minimum backoff has not passed
    clock.advance(0.1)
    sandbox.push.flush()
    assert len(receiver.received) == 2
    clock.advance(7.9)  # doubled to 10 s, capped at the maximum of 8 s
    sandbox.push.flush()
    assert len(receiver.received) == 2
    clock.advance(0.1)
    sandbox.push.flush()
    assert len(receiver.received) == 3  # acknowledged with 204 this time
    clock.advance(600)
    sandbox.push.flush()
    assert len(receiver.received) == 3
    ids = {body["message"]["messageId"] for _, body in receiver.received}
    assert len(ids) == 1  # a redelivery is the same Pub/Sub message
    assert (sandbox.push.log.failed, sandbox.push.log.redelivered) == (2, 2)


def test_push_faults_duplicate_and_reorder(
    gmail: tuple[str, GmailSandbox],
    tenant: Tenant,
    client: httpx.Client,
    receiver: Receiver,
    clock: ManualClock,
) -> None:
    _, sandbox = gmail
    sandbox.push.create_subscription(TOPIC, receiver.url)
    client.post(f"/gmail/v1/users/{TEAM[0]}/watch", json={"topicName": TOPIC})
    sandbox.faults.push(Fault.duplicate_push())
    _deliver(tenant, "one")
    sandbox.push.flush()
    first = _history_ids(receiver.received)
    assert len(first) == 2
    assert first[0] == first[1]
    sandbox.faults.push(Fault.reorder_push())
    clock.advance(1)
    _deliver(tenant, "two")
    clock.advance(1)
    _deliver(tenant, "three")
    sandbox.push.flush()
    later = _history_ids(receiver.received)[2:]
    assert len(later) == 2
    assert later[0] > later[1]  # the newer notification arrived first


def test_unknown_topic_is_refused(client: httpx.Client) -> None:
    response = client.post(f"/gmail/v1/users/{TEAM[0]}/watch", json={"topicName": "projects/p/topics/none"})
    assert response.status_code == 404
    assert client.post(f"/gmail/v1/users/{TEAM[0]}/watch", json={"topicName": "bad"}).status_code == 400
    garbage = client.post(f"/gmail/v1/users/{TEAM[0]}/watch", content=b"{not json")
    assert garbage.status_code == 400
    assert "JSON" in garbage.json()["error"]["message"]
