"""Push: the connector's watch, and the sandbox's signed Pub/Sub pushes verified or refused as Google's."""

from __future__ import annotations

import base64
import json
import time
from datetime import timedelta

import httpx
import jwt
import pytest

from mailtrail.providers.gmail import PushRejected, decode_push, verify_push
from mailtrail.sandbox.gmail.push import PUSH_SERVICE_ACCOUNT
from mailtrail.sandbox.store import Tenant

from .conftest import ANN, Gmail, Receiver, open_connector

pytestmark = pytest.mark.anyio
TOPIC = "projects/mailtrail-test/topics/gmail"
AUDIENCE = "https://mailtrail.example/gmail/push"


async def _pushed(gmail: Gmail, tenant: Tenant, receiver: Receiver) -> tuple[str, dict[str, object]]:
    """Watch ANN's mailbox through the connector, deliver a mail, and return the push that came of it."""
    async with httpx.AsyncClient() as http:
        subscription = {
            "topic": TOPIC,
            "pushConfig": {"pushEndpoint": receiver.url, "oidcToken": {"audience": AUDIENCE}},
        }
        created = await http.put(
            f"{gmail.base}/v1/projects/mailtrail-test/subscriptions/push", json=subscription
        )
        assert created.is_success
    connector = await open_connector(gmail, ANN, topic=TOPIC)
    try:
        watch = await connector.watch(None)
    finally:
        await connector.aclose()
    assert watch is not None
    assert watch.expires_at == gmail.clock.now() + timedelta(days=7)
    assert json.loads(watch.state) == {"topic": TOPIC}
    tenant.deliver(b"From: x@northwind.example\r\nTo: ann.lee@company.example\r\nSubject: hi\r\n\r\nbody")
    gmail.sandbox.push.flush()
    [(authorization, body)] = receiver.received
    return authorization, body


async def test_a_genuine_push_is_verified_and_read(gmail: Gmail, tenant: Tenant, receiver: Receiver) -> None:
    authorization, body = await _pushed(gmail, tenant, receiver)
    for certs in ("/oauth2/v3/certs", "/oauth2/v1/certs"):  # Google's JWK set, and its X.509 certificates
        claims = await verify_push(
            authorization, audience=AUDIENCE, service_account_email=PUSH_SERVICE_ACCOUNT,
            certs_url=gmail.base + certs,
        )  # fmt: skip
        assert claims["email"] == PUSH_SERVICE_ACCOUNT
    assert decode_push(json.dumps(body)) == (ANN, tenant.mailbox(ANN).history_id)


async def test_pushes_not_for_us_or_not_from_google_are_refused(
    gmail: Gmail, tenant: Tenant, receiver: Receiver
) -> None:
    authorization, _ = await _pushed(gmail, tenant, receiver)
    token = authorization.removeprefix("Bearer ")
    certs = f"{gmail.base}/oauth2/v3/certs"
    key = gmail.sandbox.auth.signing.key
    claims = jwt.decode(token, options={"verify_signature": False})
    header = {"kid": gmail.sandbox.auth.key_id}
    expired = jwt.encode(
        {**claims, "iat": int(time.time()) - 7200, "exp": int(time.time()) - 3600}, key, "RS256", header
    )
    unverified = jwt.encode({**claims, "email_verified": False}, key, "RS256", header)
    not_google = jwt.encode({**claims, "iss": "https://evil.example"}, key, "RS256", header)
    head, _payload, signature = token.split(".")
    tampered = ".".join(
        [
            head,
            base64.urlsafe_b64encode(json.dumps({**claims, "aud": "x"}).encode()).decode().rstrip("="),
            signature,
        ]
    )
    cases = {
        "another audience": (token, "https://someone.else/push", PUSH_SERVICE_ACCOUNT),
        "not the push subscription's": (token, AUDIENCE, "other@proj.iam.gserviceaccount.com"),
        "signature does not verify": (tampered, "x", PUSH_SERVICE_ACCOUNT),
        "has expired": (expired, AUDIENCE, PUSH_SERVICE_ACCOUNT),
        "not verified": (unverified, AUDIENCE, PUSH_SERVICE_ACCOUNT),
        "not issued by Google": (not_google, AUDIENCE, PUSH_SERVICE_ACCOUNT),
    }
    for reason, (candidate, audience, account) in cases.items():
        with pytest.raises(PushRejected, match=reason) as refused:
            await verify_push(
                f"Bearer {candidate}", audience=audience, service_account_email=account, certs_url=certs
            )
        assert candidate not in str(refused.value)
    stranger = jwt.encode(claims, _other_key(), "RS256", {"kid": "not-a-google-key"})
    with pytest.raises(PushRejected, match="key Google does not publish"):
        await verify_push(
            f"Bearer {stranger}",
            audience=AUDIENCE,
            service_account_email=PUSH_SERVICE_ACCOUNT,
            certs_url=certs,
        )
    with pytest.raises(PushRejected, match="no bearer token"):
        await verify_push(
            None, audience=AUDIENCE, service_account_email=PUSH_SERVICE_ACCOUNT, certs_url=certs
        )
    with pytest.raises(PushRejected, match="not a Gmail notification"):
        decode_push(b'{"message": {"data": "bm90IGpzb24="}}')


async def test_without_a_topic_there_is_no_watch_and_an_old_one_is_stopped(
    gmail: Gmail, tenant: Tenant, receiver: Receiver
) -> None:
    await _pushed(gmail, tenant, receiver)
    assert ANN in gmail.sandbox.push.watches
    connector = await open_connector(gmail, ANN, topic=None)
    try:
        assert await connector.watch(json.dumps({"topic": TOPIC})) is None
    finally:
        await connector.aclose()
    assert ANN not in gmail.sandbox.push.watches


def _other_key() -> object:
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048)
