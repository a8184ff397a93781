"""Google OAuth for Gmail mailboxes: access tokens that renew themselves, and connecting a user's mailbox.

Two token sources hand the Gmail client an access token, and a fresh one when Google refuses the old:

- ``OAuthTokens``: one user's grant, renewed with its refresh token
  (https://developers.google.com/identity/protocols/oauth2/web-server#offline);
- ``ServiceAccountTokens``: a Workspace service account acting as a user through domain-wide delegation,
  with a JWT-bearer grant signed by the account's key
  (https://developers.google.com/identity/protocols/oauth2/service-account).

A refusal of the grant itself (revoked, expired) becomes ``AccessRevoked``, which makes the mailbox "needs
re-authorisation"; tokens never appear in errors or logs.

Connecting a user is the authorization-code flow with PKCE
(https://developers.google.com/identity/protocols/oauth2/web-server, and for PKCE
https://developers.google.com/identity/protocols/oauth2/native-app): ``pkce_pair`` and ``authorization_url``
send the user to Google's consent screen, ``exchange_code`` trades the code Google sends back for the grant to
store and says whose mailbox it is.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlencode

import httpx
import jwt
from google.auth import crypt
from google.auth import jwt as google_jwt

from mailtrail.logs import get_logger
from mailtrail.providers.base import AccessRevoked, ProviderError, Unavailable
from mailtrail.providers.gmail.retry import RetryPolicy

log = get_logger(__name__)

GOOGLE_AUTH_URI = "https://accounts.google.com/o/oauth2/v2/auth"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"  # noqa: S105 (a URL, not a secret)
GMAIL_BASE_URL = "https://gmail.googleapis.com"
# https://developers.google.com/workspace/gmail/api/auth/scopes
GMAIL_READONLY = "https://www.googleapis.com/auth/gmail.readonly"
GMAIL_METADATA = "https://www.googleapis.com/auth/gmail.metadata"
# With these the token response carries an ID token naming the user's address (OpenID Connect).
OPENID_EMAIL = ("openid", "email")
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
REVOKED = "Google says the mailbox's access was revoked or has expired: re-authorise it"
# Renew a little before Google's expiry, so that a request is never sent with a token about to lapse.
_EXPIRY_MARGIN = 60.0
# Google's JWT-bearer assertions live at most an hour (the service-account page above).
_ASSERTION_LIFETIME = 3600
_TIMEOUT = httpx.Timeout(30.0)

# What an OAuth error answer (error code, description) means for this grant.
Refusal = Callable[[str, str], ProviderError]


def scopes_for(visibility: str) -> tuple[str, ...]:
    """The Gmail scope for a workspace's visibility: ``gmail.metadata`` for "metadata", else read-only.

    Never both: Google applies gmail.metadata's limits (no search, no bodies) to any token that holds it.
    """
    return (GMAIL_METADATA,) if visibility == "metadata" else (GMAIL_READONLY,)


class TokenSource(Protocol):
    """Where the Gmail client gets its bearer token."""

    async def access_token(self) -> str:
        """A token that is valid now (renewed when it is about to expire)."""
        ...

    async def refresh(self) -> str:
        """A new token: Google refused the last one."""
        ...

    async def aclose(self) -> None:
        """Release the HTTP connections."""
        ...


class _RenewingTokens:
    """A cached access token, renewed from the token endpoint; subclasses say which grant renews it."""

    def __init__(self, token_uri: str, http: httpx.AsyncClient | None, retry: RetryPolicy | None) -> None:
        self.token_uri = token_uri
        self.retry = retry or RetryPolicy()
        self._http = http or httpx.AsyncClient(timeout=_TIMEOUT)
        self._own_http = http is None
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()

    async def access_token(self) -> str:
        """A token valid now."""
        if self._token is not None and time.monotonic() < self._expires_at:
            return self._token
        return await self._renew(self._token)

    async def refresh(self) -> str:
        """A new token, whatever the cached one's expiry says."""
        return await self._renew(self._token)

    async def aclose(self) -> None:
        """Close the HTTP client if this source made it."""
        if self._own_http:
            await self._http.aclose()

    async def _renew(self, stale: str | None) -> str:
        async with self._lock:
            # Another task renewed while this one waited: its token is new, so use it.
            if self._token is not None and self._token != stale and time.monotonic() < self._expires_at:
                return self._token
            grant = self._grant()
            body = await token_request(self._http, self.token_uri, grant, self.retry, self._refused)
            token = body.get("access_token")
            if not isinstance(token, str) or not token:
                raise ProviderError("Google's token endpoint answered without an access token")
            lifetime = float(body.get("expires_in") or 3600)
            self._token = token
            self._expires_at = time.monotonic() + max(lifetime - _EXPIRY_MARGIN, 0.0)
            log.info("gmail access token renewed", grant=grant["grant_type"], lifetime=lifetime)
            return token

    def _grant(self) -> dict[str, str]:
        raise NotImplementedError

    def _refused(self, code: str, description: str) -> ProviderError:
        raise NotImplementedError


class OAuthTokens(_RenewingTokens):
    """Access tokens of one user's grant, renewed with its refresh token."""

    def __init__(
        self,
        client_id: str,
        client_secret: str | None,
        refresh_token: str,
        token_uri: str = GOOGLE_TOKEN_URI,
        *,
        http: httpx.AsyncClient | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        super().__init__(token_uri, http, retry)
        self.client_id = client_id
        self._client_secret = client_secret
        self._refresh_token = refresh_token

    def __repr__(self) -> str:
        return f"OAuthTokens(client_id={self.client_id!r}, token_uri={self.token_uri!r})"

    def _grant(self) -> dict[str, str]:
        form = {
            "grant_type": "refresh_token",
            "refresh_token": self._refresh_token,
            "client_id": self.client_id,
        }
        if self._client_secret is not None:
            form["client_secret"] = self._client_secret
        return form

    def _refused(self, code: str, description: str) -> ProviderError:
        # invalid_grant: the user revoked access, changed a password, the token lapsed unused, or the app is
        # still in "Testing" (https://developers.google.com/identity/protocols/oauth2#expiration).
        if code == "invalid_grant":
            return AccessRevoked(REVOKED)
        if code == "invalid_client":
            return ProviderError(
                f"Google does not accept mailtrail's OAuth client ({description}): check the client id and "
                "secret in the settings"
            )
        return ProviderError(f"Google refused to renew the mailbox's access ({code}: {description})")


class ServiceAccountTokens(_RenewingTokens):
    """Access tokens of a service account acting as ``subject`` (Workspace domain-wide delegation)."""

    def __init__(
        self,
        key_info: Mapping[str, Any],
        subject: str,
        scopes: Sequence[str],
        token_uri: str | None = None,
        *,
        http: httpx.AsyncClient | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        uri = token_uri or str(key_info.get("token_uri") or GOOGLE_TOKEN_URI)
        super().__init__(uri, http, retry)
        self.subject = subject
        self.scopes = tuple(scopes)
        self.account = str(key_info.get("client_email", ""))
        try:
            # google-auth's own signer (untyped), so that key files work exactly as with Google's libraries.
            self._signer = crypt.RSASigner.from_service_account_info(dict(key_info))  # type: ignore[no-untyped-call]
        except (KeyError, ValueError) as exc:
            raise ProviderError(f"the service account key cannot be used: {type(exc).__name__}") from None

    def __repr__(self) -> str:
        return f"ServiceAccountTokens(account={self.account!r}, token_uri={self.token_uri!r})"

    def _grant(self) -> dict[str, str]:
        now = int(time.time())
        claims = {
            "iss": self.account,
            "sub": self.subject,
            "scope": " ".join(self.scopes),
            "aud": self.token_uri,
            "iat": now,
            "exp": now + _ASSERTION_LIFETIME,
        }
        assertion: bytes = google_jwt.encode(self._signer, claims)  # type: ignore[no-untyped-call]
        return {"grant_type": JWT_BEARER, "assertion": assertion.decode("ascii")}

    def _refused(self, code: str, description: str) -> ProviderError:
        if code == "unauthorized_client":
            return AccessRevoked(
                "Google refused domain-wide delegation: a Workspace admin must authorise the service "
                f"account's client id for {' '.join(self.scopes)} ({description})"
            )
        if code == "invalid_grant":
            return AccessRevoked(
                f"Google refused the service account's access to this mailbox ({description}): check that "
                "the user still exists and that the service account's key is still valid"
            )
        return ProviderError(f"Google refused the service account ({code}: {description})")


async def token_request(
    http: httpx.AsyncClient, token_uri: str, form: Mapping[str, str], retry: RetryPolicy, refused: Refusal
) -> dict[str, Any]:
    """POST ``form`` to the token endpoint; server errors and timeouts are retried, then ``Unavailable``.

    An OAuth error answer (``{"error": ..., "error_description": ...}``) becomes ``refused(code, text)``.
    """
    problem = ""
    for attempt in range(retry.attempts + 1):
        if attempt:
            await asyncio.sleep(retry.delay(attempt - 1))
        try:
            response = await http.post(token_uri, data=dict(form), headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            problem = f"{type(exc).__name__} reaching the token endpoint"
            continue
        if response.status_code >= 500:
            problem = f"HTTP {response.status_code} from the token endpoint"
            continue
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise ProviderError(f"Google's token endpoint answered HTTP {response.status_code} without JSON")
        if response.is_success:
            return body
        raise refused(str(body.get("error", "unknown")), str(body.get("error_description", "")).strip())
    raise Unavailable(f"Google's token endpoint did not answer after {retry.attempts + 1} tries: {problem}")


# ---- connecting a user: the authorization-code flow with PKCE --------------------------------------------


@dataclass(frozen=True, slots=True)
class GrantedTokens:
    """What connecting a user yields: the refresh token to store (encrypted), the scopes, the address."""

    refresh_token: str
    access_token: str
    scopes: tuple[str, ...]
    email: str

    def __repr__(self) -> str:
        return f"GrantedTokens(scopes={self.scopes!r}, email=<{len(self.email)} characters>)"


def pkce_pair() -> tuple[str, str]:
    """A PKCE ``(code_verifier, code_challenge)`` with the S256 method (RFC 7636)."""
    verifier = secrets.token_urlsafe(64)  # 86 characters, within RFC 7636's 43 to 128
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def authorization_url(
    client_id: str,
    redirect_uri: str,
    scopes: Sequence[str],
    state: str,
    code_challenge: str,
    login_hint: str | None = None,
    auth_uri: str = GOOGLE_AUTH_URI,
) -> str:
    """Where to send the user to grant mailtrail access to their mailbox.

    ``access_type=offline`` asks for a refresh token, which Google gives only on the first consent unless
    ``prompt=consent`` asks again, so a mailbox reconnected after a revocation gets one too
    (https://developers.google.com/identity/protocols/oauth2/web-server#offline).
    """
    params = {
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "scope": " ".join(scopes),
        "state": state,
        "code_challenge": code_challenge,
        "code_challenge_method": "S256",
        "access_type": "offline",
        "prompt": "consent",
    }
    if login_hint:
        params["login_hint"] = login_hint
    separator = "&" if "?" in auth_uri else "?"
    return f"{auth_uri}{separator}{urlencode(params)}"


async def exchange_code(
    code: str,
    *,
    client_id: str,
    client_secret: str | None,
    redirect_uri: str,
    code_verifier: str,
    token_uri: str = GOOGLE_TOKEN_URI,
    gmail_base_url: str = GMAIL_BASE_URL,
    http: httpx.AsyncClient | None = None,
    retry: RetryPolicy | None = None,
) -> GrantedTokens:
    """Trade the code Google sent back for tokens, and find out whose mailbox it is.

    The address comes from the ID token when ``openid email`` was asked for (taken straight from Google's
    token endpoint over TLS, so it needs no signature check:
    https://developers.google.com/identity/openid-connect/openid-connect), else from Gmail's
    getProfile.
    """
    client = http or httpx.AsyncClient(timeout=_TIMEOUT)
    try:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "code_verifier": code_verifier,
        }
        if client_secret is not None:
            form["client_secret"] = client_secret
        body = await token_request(client, token_uri, form, retry or RetryPolicy(), _code_refused)
        refresh_token, access_token = body.get("refresh_token"), body.get("access_token")
        if not isinstance(access_token, str) or not access_token:
            raise ProviderError("Google's token endpoint answered without an access token")
        if not isinstance(refresh_token, str) or not refresh_token:
            raise ProviderError(
                "Google granted no refresh token, so mailtrail could not sync while the user is away: "
                "connect the mailbox again (the consent screen must be shown again)"
            )
        scopes = tuple(str(body.get("scope", "")).split())
        email = _id_token_email(body.get("id_token"), client_id)
        if email is None:
            email = await _profile_email(client, gmail_base_url, access_token)
        return GrantedTokens(refresh_token, access_token, scopes, email)
    finally:
        if http is None:
            await client.aclose()


def _code_refused(code: str, description: str) -> ProviderError:
    return ProviderError(
        f"Google refused the authorisation ({code}: {description}): connect the mailbox again"
    )


def _id_token_email(id_token: object, client_id: str) -> str | None:
    if not isinstance(id_token, str):
        return None
    try:
        claims = jwt.decode(id_token, options={"verify_signature": False, "verify_exp": False})
    except jwt.PyJWTError:
        return None
    email = claims.get("email")
    if (
        claims.get("aud") != client_id
        or claims.get("email_verified") is not True
        or not isinstance(email, str)
    ):
        return None
    return email.lower()


async def _profile_email(http: httpx.AsyncClient, base_url: str, access_token: str) -> str:
    url = f"{base_url.rstrip('/')}/gmail/v1/users/me/profile"
    response = await http.get(url, headers={"Authorization": f"Bearer {access_token}"})
    try:
        body = response.json() if response.is_success else None
    except ValueError:
        body = None
    address = body.get("emailAddress") if isinstance(body, dict) else None
    if not isinstance(address, str) or "@" not in address:
        raise ProviderError(
            f"Gmail did not say whose mailbox this is (getProfile: HTTP {response.status_code})"
        )
    return address.lower()
