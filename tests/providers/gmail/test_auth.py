"""Gmail auth against the sandbox's Google identity: connecting with PKCE, renewal, revocation, delegation."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest

from mailtrail.providers.base import AccessRevoked, ProviderError
from mailtrail.providers.gmail import (
    GMAIL_METADATA,
    GMAIL_READONLY,
    GmailClient,
    ServiceAccountTokens,
    authorization_url,
    exchange_code,
    pkce_pair,
    scopes_for,
)
from mailtrail.providers.gmail.auth import REVOKED
from mailtrail.sandbox.gmail.oauth import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

from .conftest import ANN, BO, FAST, REDIRECT, Gmail, connect, tokens_for

pytestmark = pytest.mark.anyio


def test_the_authorization_url_asks_for_offline_access_with_consent_and_pkce() -> None:
    verifier, challenge = pkce_pair()
    assert 43 <= len(verifier) <= 128
    url = authorization_url(
        "cid", "https://app.example/cb", scopes_for("full"), "st", challenge, login_hint=ANN
    )
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert url.startswith("https://accounts.google.com/o/oauth2/v2/auth?")
    assert query == {
        "client_id": "cid",
        "redirect_uri": "https://app.example/cb",
        "response_type": "code",
        "scope": GMAIL_READONLY,
        "state": "st",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "access_type": "offline",
        "prompt": "consent",
        "login_hint": ANN,
    }
    assert scopes_for("metadata") == (GMAIL_METADATA,)
    assert scopes_for("subject") == (GMAIL_READONLY,)


async def test_connecting_gives_a_refresh_token_every_time_and_says_whose_mailbox(gmail: Gmail) -> None:
    first = await connect(gmail, BO)
    assert first.email == BO
    assert first.scopes == (GMAIL_READONLY,)
    assert first.refresh_token
    assert first.refresh_token not in repr(first)
    # Reconnecting (after a revocation, a lost token...) yields a refresh token again: prompt=consent.
    again = await connect(gmail, BO)
    assert again.refresh_token
    assert again.refresh_token != first.refresh_token


async def test_a_wrong_code_verifier_is_refused(gmail: Gmail) -> None:
    _, challenge = pkce_pair()
    url = authorization_url(DEFAULT_CLIENT_ID, REDIRECT, [GMAIL_READONLY], "s", challenge, login_hint=ANN,
                            auth_uri=f"{gmail.base}/o/oauth2/v2/auth")  # fmt: skip
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    form = {k: query[k] for k in ("client_id", "redirect_uri", "scope", "state", "code_challenge",
                                  "code_challenge_method", "access_type", "prompt")}  # fmt: skip
    async with httpx.AsyncClient() as http:
        allowed = await http.post(f"{gmail.base}/o/oauth2/v2/auth", data={**form, "user": ANN})
        code = parse_qs(urlsplit(allowed.headers["location"]).query)["code"][0]
        with pytest.raises(ProviderError, match="invalid_grant"):
            await exchange_code(
                code, client_id=DEFAULT_CLIENT_ID, client_secret=DEFAULT_CLIENT_SECRET, redirect_uri=REDIRECT,
                code_verifier="not-the-verifier-" + "x" * 40, token_uri=gmail.token_uri, http=http,
                retry=FAST,
            )  # fmt: skip


async def test_an_expired_access_token_is_renewed_and_the_request_retried(gmail: Gmail) -> None:
    tokens = tokens_for(gmail, await connect(gmail, ANN))
    client = GmailClient(gmail.base, tokens, retry=FAST)
    try:
        first = await tokens.access_token()
        assert (await client.get_profile())["emailAddress"] == ANN
        gmail.clock.advance(3601)  # Google's clock: the token has expired, ours does not know yet
        assert (await client.get_profile())["emailAddress"] == ANN
        assert await tokens.access_token() != first
    finally:
        await client.aclose()


async def test_a_revoked_grant_asks_for_reauthorisation_in_words(gmail: Gmail) -> None:
    granted = await connect(gmail, ANN)
    tokens = tokens_for(gmail, granted)
    client = GmailClient(gmail.base, tokens, retry=FAST)
    try:
        await client.get_profile()
        async with httpx.AsyncClient() as http:
            assert (
                await http.post(f"{gmail.base}/revoke", params={"token": granted.refresh_token})
            ).is_success
        with pytest.raises(AccessRevoked) as revoked:
            await client.get_profile()
        assert revoked.value.detail == REVOKED
        assert "re-authorise" in revoked.value.detail
        assert granted.refresh_token not in str(revoked.value)
    finally:
        await client.aclose()


async def test_a_service_account_reads_a_users_mailbox_by_domain_wide_delegation(gmail: Gmail) -> None:
    async with httpx.AsyncClient() as http:
        made = await http.post(
            f"{gmail.base}/sandbox/service-accounts", json={"email": "sync@proj.iam.gserviceaccount.com"}
        )
        key_info = made.json()
    assert key_info["token_uri"] == gmail.token_uri  # the key's own token URI is used
    tokens = ServiceAccountTokens(key_info, ANN, [GMAIL_READONLY], retry=FAST)
    client = GmailClient(gmail.base, tokens, retry=FAST)
    try:
        assert (await client.get_profile())["emailAddress"] == ANN
        assert key_info["private_key"] not in repr(tokens)
    finally:
        await client.aclose()

    nobody = GmailClient(gmail.base, ServiceAccountTokens(key_info, "gone@company.example", [GMAIL_READONLY]))
    with pytest.raises(AccessRevoked, match="check that the user still exists"):
        await nobody.get_profile()
    await nobody.aclose()
    stranger_key = {**key_info, "client_email": "stranger@proj.iam.gserviceaccount.com"}
    stranger = GmailClient(gmail.base, ServiceAccountTokens(stranger_key, ANN, [GMAIL_READONLY]))
    with pytest.raises(AccessRevoked, match="service account"):
        await stranger.get_profile()
    await stranger.aclose()


async def test_with_openid_email_the_address_comes_from_the_id_token() -> None:
    # The sandbox's token endpoint sends no ID token, so Google's answer is played here.
    id_token = jwt.encode(
        {
            "aud": "cid",
            "email": "Ann.Lee@company.example",
            "email_verified": True,
            "iss": "https://accounts.google.com",
        },
        "a key the connector never checks: 32 bytes or more",
        "HS256",
    )
    seen: list[str] = []

    def google(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        body = {"access_token": "ya29.a", "refresh_token": "1//r", "scope": "openid email " + GMAIL_READONLY,
                "id_token": id_token, "expires_in": 3599}  # fmt: skip
        return httpx.Response(200, json=body)

    async with httpx.AsyncClient(transport=httpx.MockTransport(google)) as http:
        granted = await exchange_code(
            "4/code",
            client_id="cid",
            client_secret="s",
            redirect_uri=REDIRECT,
            code_verifier="v" * 50,
            http=http,
        )
    assert granted.email == ANN
    assert seen == ["/token"]  # no getProfile call
