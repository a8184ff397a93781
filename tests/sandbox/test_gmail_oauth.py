"""The sandbox's Google OAuth: code + PKCE, refresh, expiry, revocation, service-account JWT bearer."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import parse_qs, urlsplit

import google.auth.transport.requests
import httpx
import jwt
from google.oauth2 import service_account

from mailtrail.sandbox.clock import ManualClock
from mailtrail.sandbox.gmail.app import GmailSandbox, create_gmail_app
from mailtrail.sandbox.gmail.oauth import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, GMAIL_READONLY, JWT_BEARER
from mailtrail.sandbox.server import serve
from mailtrail.sandbox.store import Tenant

from .conftest import TEAM

REDIRECT = "http://127.0.0.1:9/callback"


def _authorize(base: str, user: str, verifier: str, **extra: str) -> str:
    """Consent as ``user`` (``extra``: access_type, prompt, scope...); returns the authorization code."""
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
        **extra,
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
    code = _authorize(base, TEAM[1], verifier, access_type="offline")
    wrong = _token(
        base, grant_type="authorization_code", code=code, redirect_uri=REDIRECT, code_verifier="nope"
    )
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "invalid_grant"
    code = _authorize(base, TEAM[1], verifier, access_type="offline")
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


def _exchange(base: str, code: str, verifier: str) -> dict[str, object]:
    response = _token(
        base, grant_type="authorization_code", code=code, redirect_uri=REDIRECT, code_verifier=verifier
    )
    assert response.status_code == 200
    return dict(response.json())


def test_refresh_tokens_come_with_offline_access_once_unless_consent_is_asked_again(
    gmail: tuple[str, GmailSandbox],
) -> None:
    base, _ = gmail
    verifier = "offline-code-verifier-0123456789-abcdefghijklmnopqrstuvw"
    online = _exchange(base, _authorize(base, TEAM[0], verifier), verifier)
    assert "refresh_token" not in online  # access_type defaults to online
    first = _exchange(base, _authorize(base, TEAM[0], verifier, access_type="offline"), verifier)
    assert str(first["refresh_token"]).startswith("1//")
    again = _exchange(base, _authorize(base, TEAM[0], verifier, access_type="offline"), verifier)
    assert "refresh_token" not in again  # the user already granted offline access to this client
    other_user = _exchange(base, _authorize(base, TEAM[1], verifier, access_type="offline"), verifier)
    assert "refresh_token" in other_user
    forced = _exchange(
        base, _authorize(base, TEAM[0], verifier, access_type="offline", prompt="consent"), verifier
    )
    assert forced["refresh_token"] != first["refresh_token"]
    assert httpx.post(f"{base}/revoke", params={"token": str(forced["refresh_token"])}).status_code == 200
    after_revoke = _exchange(base, _authorize(base, TEAM[0], verifier, access_type="offline"), verifier)
    assert "refresh_token" in after_revoke  # revoked: the next offline consent is a first one again


def test_a_testing_app_refresh_token_expires_after_seven_days(tenant: Tenant, clock: ManualClock) -> None:
    app = create_gmail_app(tenant, publishing_status="testing")
    verifier = "testing-app-code-verifier-0123456789-abcdefghijklmnopqrs"
    with serve({"gmail": app}) as urls:
        base = urls["gmail"]
        mail = _exchange(base, _authorize(base, TEAM[0], verifier, access_type="offline"), verifier)
        profile_only = _exchange(
            base,
            _authorize(base, TEAM[1], verifier, access_type="offline", scope="openid email profile"),
            verifier,
        )
        clock.advance(days=7, seconds=-1)
        assert _token(base, grant_type="refresh_token", refresh_token=str(mail["refresh_token"])).is_success
        clock.advance(1)
        expired = _token(base, grant_type="refresh_token", refresh_token=str(mail["refresh_token"]))
        assert expired.status_code == 400
        assert expired.json() == {
            "error": "invalid_grant",
            "error_description": "Token has been expired or revoked.",
        }
        # Apps asking only for name, email address and profile are exempt.
        assert _token(
            base, grant_type="refresh_token", refresh_token=str(profile_only["refresh_token"])
        ).is_success
    app.state.sandbox.push.close()


def test_openid_scope_gives_an_id_token_signed_with_the_published_keys(
    gmail: tuple[str, GmailSandbox], clock: ManualClock
) -> None:
    """As Google's token endpoint does for ``openid email`` (openid-connect#exchangecode): the ID token names
    the user, carries the request's nonce, and verifies against the JWK set at /oauth2/v3/certs."""
    base, _ = gmail
    verifier = "an-openid-code-verifier-0123456789-abcdefghijklmnopqrs"
    code = _authorize(base, TEAM[0], verifier, scope="openid email profile", nonce="n-0S6_WzA2Mj")
    body = _token(
        base, grant_type="authorization_code", code=code, redirect_uri=REDIRECT, code_verifier=verifier
    ).json()
    keys = jwt.PyJWKSet.from_dict(httpx.get(f"{base}/oauth2/v3/certs").json())
    kid = jwt.get_unverified_header(body["id_token"])["kid"]
    key = next(k for k in keys.keys if k.key_id == kid)
    claims = jwt.decode(
        body["id_token"], key.key, algorithms=["RS256"], audience=DEFAULT_CLIENT_ID,
        issuer="https://accounts.google.com", options={"verify_exp": False, "verify_iat": False},
    )  # fmt: skip
    assert claims["email"] == TEAM[0]
    assert claims["email_verified"] is True
    assert claims["hd"] == "company.example"
    assert claims["nonce"] == "n-0S6_WzA2Mj"
    assert claims["azp"] == DEFAULT_CLIENT_ID
    assert claims["exp"] == claims["iat"] + 3600 == int(clock.now().timestamp()) + 3600
    digest = hashlib.sha256(body["access_token"].encode()).digest()[:16]
    assert claims["at_hash"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    # Without openid, no ID token: only what was asked for.
    code = _authorize(base, TEAM[0], verifier)
    plain = _token(
        base, grant_type="authorization_code", code=code, redirect_uri=REDIRECT, code_verifier=verifier
    ).json()
    assert "id_token" not in plain
