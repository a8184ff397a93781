"""The sandbox's Google OAuth: code + PKCE, refresh, expiry, revocation, service-account JWT bearer."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import parse_qs, urlsplit

import google.auth.transport.requests
import httpx
from google.oauth2 import service_account

from mailtrail.sandbox.clock import ManualClock
from mailtrail.sandbox.gmail.app import GmailSandbox
from mailtrail.sandbox.gmail.oauth import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, GMAIL_READONLY, JWT_BEARER

from .conftest import TEAM

REDIRECT = "http://127.0.0.1:9/callback"


def _authorize(base: str, user: str, verifier: str) -> str:
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    params = {
        "client_id": DEFAULT_CLIENT_ID,
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "scope": GMAIL_READONLY,
        "state": "xyz",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "login_hint": user,
    }
    page = httpx.get(f"{base}/o/oauth2/v2/auth", params=params)
    assert page.status_code == 200
    assert "Allow" in page.text
    form = {k: v for k, v in params.items() if k not in ("response_type", "login_hint")} | {"user": user}
    approved = httpx.post(f"{base}/o/oauth2/v2/auth", data=form)
    assert approved.status_code == 302
    query = parse_qs(urlsplit(approved.headers["location"]).query)
    assert query["state"] == ["xyz"]
    return query["code"][0]


def _token(base: str, **form: str) -> httpx.Response:
    return httpx.post(
        f"{base}/token", data={"client_id": DEFAULT_CLIENT_ID, "client_secret": DEFAULT_CLIENT_SECRET, **form}
    )


def _assertion(credentials: service_account.Credentials) -> str:
    """The signed JWT the credentials would send to the token endpoint."""
    assertion = credentials._make_authorization_grant_assertion()
    return assertion.decode() if isinstance(assertion, bytes) else str(assertion)


def _profile(base: str, token: str) -> httpx.Response:
    return httpx.get(f"{base}/gmail/v1/users/me/profile", headers={"Authorization": f"Bearer {token}"})


def test_code_with_pkce_refresh_expiry_and_revocation(
    gmail: tuple[str, GmailSandbox], clock: ManualClock
) -> None:
    base, _ = gmail
    verifier = "a-long-enough-code-verifier-0123456789-abcdefghijklmnop"
    code = _authorize(base, TEAM[1], verifier)
    wrong = _token(
        base, grant_type="authorization_code", code=code, redirect_uri=REDIRECT, code_verifier="nope"
    )
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "invalid_grant"
    code = _authorize(base, TEAM[1], verifier)
    tokens = _token(
        base, grant_type="authorization_code", code=code, redirect_uri=REDIRECT, code_verifier=verifier
    )
    assert tokens.status_code == 200
    body = tokens.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert _profile(base, body["access_token"]).json()["emailAddress"] == TEAM[1]
    reused = _token(
        base, grant_type="authorization_code", code=code, redirect_uri=REDIRECT, code_verifier=verifier
    )
    assert reused.json()["error"] == "invalid_grant"  # a code works once

    clock.advance(3601)
    assert _profile(base, body["access_token"]).status_code == 401  # expired
    refreshed = _token(base, grant_type="refresh_token", refresh_token=body["refresh_token"]).json()
    assert _profile(base, refreshed["access_token"]).status_code == 200

    assert httpx.post(f"{base}/revoke", params={"token": body["refresh_token"]}).status_code == 200
    again = _token(base, grant_type="refresh_token", refresh_token=body["refresh_token"])
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"
    assert _profile(base, refreshed["access_token"]).status_code == 401  # the grant is gone


def test_a_token_for_one_user_cannot_read_another(gmail: tuple[str, GmailSandbox]) -> None:
    base, _ = gmail
    verifier = "another-code-verifier-0123456789-abcdefghijklmnopqrstu"
    code = _authorize(base, TEAM[0], verifier)
    token = _token(
        base, grant_type="authorization_code", code=code, redirect_uri=REDIRECT, code_verifier=verifier
    )
    other = httpx.get(
        f"{base}/gmail/v1/users/{TEAM[1]}/profile",
        headers={"Authorization": f"Bearer {token.json()['access_token']}"},
    )
    assert other.status_code == 403


def test_service_account_with_domain_wide_delegation(gmail: tuple[str, GmailSandbox]) -> None:
    base, _ = gmail
    key_file = httpx.post(
        f"{base}/sandbox/service-accounts", json={"email": "importer@proj.iam.gserviceaccount.com"}
    )
    info = key_file.json()
    assert info["token_uri"] == f"{base}/token"
    credentials = service_account.Credentials.from_service_account_info(
        info, scopes=[GMAIL_READONLY], subject=TEAM[0]
    )
    credentials.refresh(google.auth.transport.requests.Request())
    assert credentials.token
    assert _profile(base, credentials.token).json()["emailAddress"] == TEAM[0]

    stranger = service_account.Credentials.from_service_account_info(
        {**info, "client_email": "unknown@proj.iam.gserviceaccount.com"},
        scopes=[GMAIL_READONLY],
        subject=TEAM[0],
    )
    refused = httpx.post(
        f"{base}/token",
        data={
            "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "assertion": _assertion(stranger),
        },
    )
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"


def test_delegation_to_an_unknown_user_or_to_itself(gmail: tuple[str, GmailSandbox]) -> None:
    base, _ = gmail
    info = httpx.post(
        f"{base}/sandbox/service-accounts", json={"email": "sa@proj.iam.gserviceaccount.com"}
    ).json()
    nobody = service_account.Credentials.from_service_account_info(
        info, scopes=[GMAIL_READONLY], subject="nobody@company.example"
    )
    refused = httpx.post(
        f"{base}/token",
        data={"grant_type": JWT_BEARER, "assertion": _assertion(nobody)},
    )
    assert refused.status_code == 400
    assert refused.json() == {"error": "invalid_grant", "error_description": "Invalid email or User ID"}
    itself = service_account.Credentials.from_service_account_info(info, scopes=[GMAIL_READONLY])
    itself.refresh(google.auth.transport.requests.Request())
    response = _profile(base, itself.token)
    assert response.status_code == 400
    assert response.json()["error"]["errors"][0]["reason"] == "failedPrecondition"
