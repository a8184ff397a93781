"""Google-style OAuth 2.0 for the sandbox: its own signing keys, grants, tokens, service accounts.

Supports the authorization code grant with PKCE (S256 and plain), refresh tokens, revocation, and the JWT
bearer grant a service account with domain-wide delegation uses (``sub`` = the user to act as), with keys that
the sandbox issues as Google-format key files. Access tokens expire on the tenant clock, so tests can expire
them by advancing a ManualClock. The same RSA key signs the OIDC tokens of push notifications (``signing``).

Refresh tokens follow Google's rules (https://developers.google.com/identity/protocols/oauth2/web-server#offline):
one comes only with ``access_type=offline``, and only the first time a user authorizes the client, unless the
request says ``prompt=consent`` (or the earlier grant was revoked). An app left in the "Testing" publishing
status gets refresh tokens that expire after 7 days (https://developers.google.com/identity/protocols/oauth2#expiration),
unless it asked for no more than the user's name, email address and profile; ``refresh_token_lifetime``
switches that on.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from mailtrail.sandbox.clock import Clock
from mailtrail.sandbox.gmail.signing import SigningKey, service_account_unique_id

GMAIL_READONLY = "https://www.googleapis.com/auth/gmail.readonly"
FULL_MAIL = "https://mail.google.com/"
TESTING_REFRESH_LIFETIME = timedelta(days=7)
# Scopes that keep a Testing app's refresh tokens from expiring: the user's name, email address and profile.
_PROFILE_SCOPES = frozenset(
    {
        "openid",
        "email",
        "profile",
        "https://www.googleapis.com/auth/userinfo.email",
        "https://www.googleapis.com/auth/userinfo.profile",
    }
)
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
DEFAULT_CLIENT_ID = "sandbox-client.apps.googleusercontent.com"
DEFAULT_CLIENT_SECRET = "sandbox-secret"  # noqa: S105 (a published sandbox value, not a secret)


class OAuthError(Exception):
    """An OAuth error as the token endpoint returns it: ``{"error": code, "error_description": ...}``."""

    def __init__(self, code: str, description: str, status: int = 400) -> None:
        super().__init__(f"{code}: {description}")
        self.code, self.description, self.status = code, description, status


@dataclass(slots=True)
class Grant:
    """What a user (or a service account acting as a user) allowed a client; revoked grants die."""

    client_id: str
    user: str
    scope: str
    revoked: bool = False


@dataclass(frozen=True, slots=True)
class AccessToken:
    token: str
    user: str  # the mailbox address, or "*" for the dev token
    scope: str
    expires_at: datetime
    grant: Grant | None = field(default=None, compare=False)


@dataclass(slots=True)
class _Code:
    grant: Grant
    redirect_uri: str
    challenge: str | None
    method: str
    expires_at: datetime
    offline: bool = False
    consent: bool = False
    nonce: str | None = None


@dataclass(frozen=True, slots=True)
class _RefreshToken:
    grant: Grant
    issued_at: datetime


def _rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


_PROCESS_KEY: list[rsa.RSAPrivateKey] = []


def _process_signing_key() -> rsa.RSAPrivateKey:
    """One signing key per process: making a 2048-bit key costs about half a second, per app is too slow."""
    if not _PROCESS_KEY:
        _PROCESS_KEY.append(_rsa_key())
    return _PROCESS_KEY[0]


class GoogleAuth:
    """Clients, grants and tokens of the sandbox's Google identity endpoints; thread-safe."""

    def __init__(
        self,
        clock: Clock,
        *,
        token_lifetime: timedelta = timedelta(hours=1),
        own_key: bool = False,
        user_exists: Callable[[str], bool] | None = None,
        refresh_token_lifetime: timedelta | None = None,
    ) -> None:
        """``own_key``: a signing key of its own instead of the process's; ``user_exists`` checks ``sub``;
        ``refresh_token_lifetime``: refresh tokens expire (a "Testing" app: ``TESTING_REFRESH_LIFETIME``)."""
        self.clock = clock
        self.user_exists = user_exists
        self.token_lifetime = token_lifetime
        self.refresh_token_lifetime = refresh_token_lifetime
        self._lock = threading.Lock()
        self.signing = SigningKey(_rsa_key() if own_key else _process_signing_key())
        self.key_id = self.signing.key_id
        self.clients: dict[str, str | None] = {DEFAULT_CLIENT_ID: DEFAULT_CLIENT_SECRET}
        self._codes: dict[str, _Code] = {}
        self._refresh: dict[str, _RefreshToken] = {}
        self._offline: set[tuple[str, str]] = set()  # (client, user) holding a live refresh token
        self._access: dict[str, AccessToken] = {}
        self._service_accounts: dict[str, tuple[str, Any]] = {}  # email -> (key id, public key)
        self.dev_token: str | None = None

    # ---- clients and service accounts --------------------------------------------------------------------
    def register_client(self, client_id: str, client_secret: str | None = None) -> None:
        """Allow an OAuth client; ``client_secret`` None makes it a public (PKCE-only) client."""
        with self._lock:
            self.clients[client_id] = client_secret

    def register_service_account(self, email: str, public_key_pem: bytes, key_id: str) -> None:
        """Trust JWT assertions signed by this public key for ``email`` (domain-wide delegation)."""
        public = serialization.load_pem_public_key(public_key_pem)
        with self._lock:
            self._service_accounts[email] = (key_id, public)

    def create_service_account(
        self, email: str, token_uri: str, project_id: str = "sandbox"
    ) -> dict[str, str]:
        """A new key pair for ``email``; returns a Google-format key file dict (for ``Credentials``)."""
        key = _rsa_key()
        key_id = secrets.token_hex(20)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        public = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.register_service_account(email, public, key_id)
        return {
            "type": "service_account",
            "project_id": project_id,
            "private_key_id": key_id,
            "private_key": pem.decode(),
            "client_email": email,
            "client_id": service_account_unique_id(email),
            "auth_uri": token_uri.rsplit("/", 1)[0] + "/o/oauth2/auth",
            "token_uri": token_uri,
        }

    # ---- authorization code ------------------------------------------------------------------------------
    def issue_code(
        self,
        client_id: str,
        user: str,
        scope: str,
        redirect_uri: str,
        challenge: str | None,
        method: str,
        *,
        access_type: str = "online",
        prompt: str = "",
        nonce: str | None = None,
    ) -> str:
        """A one-time code for the consent the user just gave (valid ten minutes).

        ``access_type`` and ``prompt`` are the authorization request's: they decide whether exchanging the
        code yields a refresh token. ``nonce`` goes into the ID token that ``openid`` asks for.
        """
        if client_id not in self.clients:
            raise OAuthError("invalid_client", f"unknown client_id {client_id!r}", 401)
        code = "4/" + secrets.token_urlsafe(32)
        with self._lock:
            self._codes[code] = _Code(
                Grant(client_id, user, scope),
                redirect_uri,
                challenge,
                method,
                self.clock.now() + timedelta(minutes=10),
                offline=access_type == "offline",
                consent="consent" in prompt.split(),
                nonce=nonce or None,
            )
        return code

    def _check_client(self, client_id: str, client_secret: str | None, pkce: bool) -> None:
        if client_id not in self.clients:
            raise OAuthError("invalid_client", "The OAuth client was not found.", 401)
        expected = self.clients[client_id]
        if expected is not None and client_secret != expected and not (pkce and client_secret is None):
            raise OAuthError("invalid_client", "Unauthorized", 401)

    def exchange_code(
        self, code: str, client_id: str, client_secret: str | None, redirect_uri: str, verifier: str | None
    ) -> dict[str, Any]:
        """Token response for an authorization code (with PKCE check); a code works once."""
        with self._lock:
            entry = self._codes.pop(code, None)
        if entry is None or entry.expires_at < self.clock.now():
            raise OAuthError("invalid_grant", "Malformed auth code.")
        self._check_client(client_id, client_secret, pkce=entry.challenge is not None)
        if entry.grant.client_id != client_id or entry.redirect_uri != redirect_uri:
            raise OAuthError("invalid_grant", "Bad Request: client_id or redirect_uri mismatch")
        if entry.challenge is not None:
            if not verifier:
                raise OAuthError("invalid_grant", "Missing code verifier.")
            if entry.method == "S256":
                digest = hashlib.sha256(verifier.encode()).digest()
                computed = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
            else:
                computed = verifier
            if not secrets.compare_digest(computed, entry.challenge):
                raise OAuthError("invalid_grant", "Invalid code verifier.")
        body = self._access_response(entry.grant)
        if "openid" in entry.grant.scope.split():
            # OpenID Connect: the token response carries the ID token of the user who signed in.
            body["id_token"] = self.signing.sign_user_id_token(
                entry.grant.client_id, entry.grant.user.lower(), entry.grant.scope, entry.nonce,
                body["access_token"], self.clock.seconds(),
            )  # fmt: skip
        pair = (entry.grant.client_id, entry.grant.user.lower())
        with self._lock:
            # Offline access yields a refresh token the first time only, unless consent was asked for again.
            if entry.offline and (pair not in self._offline or entry.consent):
                refresh = "1//" + secrets.token_urlsafe(40)
                self._refresh[refresh] = _RefreshToken(entry.grant, self.clock.now())
                self._offline.add(pair)
                body["refresh_token"] = refresh
        return body

    def refresh(self, refresh_token: str, client_id: str, client_secret: str | None) -> dict[str, Any]:
        """Token response for a refresh token; revoked, expired or unknown -> ``invalid_grant``."""
        with self._lock:
            record = self._refresh.get(refresh_token)
        if record is None or record.grant.revoked or self._expired(record):
            raise OAuthError("invalid_grant", "Token has been expired or revoked.")
        grant = record.grant
        self._check_client(client_id, client_secret, pkce=False)
        if grant.client_id != client_id:
            raise OAuthError("unauthorized_client", "Unauthorized")
        return self._access_response(grant)

    def jwt_bearer(self, assertion: str) -> dict[str, Any]:
        """Token response for a service account's signed assertion, acting as its ``sub``."""
        try:
            header = jwt.get_unverified_header(assertion)
            claims = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise OAuthError("invalid_grant", f"Invalid JWT: {exc}") from exc
        issuer = str(claims.get("iss", ""))
        with self._lock:
            known = self._service_accounts.get(issuer)
        if known is None:
            raise OAuthError("invalid_grant", "Invalid JWT Signature.")
        key_id, public = known
        if header.get("kid") not in (None, key_id):
            raise OAuthError("invalid_grant", "Invalid JWT Signature.")
        try:
            # The assertion is made by a real client with the real time, whatever the sandbox clock says.
            claims = jwt.decode(
                assertion, public, algorithms=["RS256"], options={"verify_aud": False}, leeway=300
            )
        except jwt.PyJWTError as exc:
            raise OAuthError("invalid_grant", f"Invalid JWT: {exc}") from exc
        if not str(claims.get("aud", "")).endswith("/token"):
            raise OAuthError(
                "invalid_grant",
                "Invalid JWT: Token must be a short-lived token and in a reasonable timeframe",
            )
        scope = str(claims.get("scope", ""))
        if not scope:
            raise OAuthError("invalid_scope", "Empty or missing scope not allowed.")
        subject = str(claims.get("sub") or issuer)
        if claims.get("sub") and self.user_exists is not None and not self.user_exists(subject.lower()):
            raise OAuthError("invalid_grant", "Invalid email or User ID")
        return self._access_response(Grant(issuer, subject, scope))

    def _expired(self, record: _RefreshToken) -> bool:
        lifetime = self.refresh_token_lifetime
        if lifetime is None or set(record.grant.scope.split()) <= _PROFILE_SCOPES:
            return False
        return self.clock.now() >= record.issued_at + lifetime

    def revoke(self, token: str) -> bool:
        """Revoke a refresh token (its grant) or an access token; False when the token is unknown."""
        with self._lock:
            record = self._refresh.get(token)
            access = self._access.pop(token, None) if record is None else None
            grant = record.grant if record is not None else access.grant if access is not None else None
            if grant is not None:
                grant.revoked = True
                # After a revocation the next offline authorization yields a refresh token again.
                self._offline.discard((grant.client_id, grant.user.lower()))
            return record is not None or access is not None

    def _access_response(self, grant: Grant) -> dict[str, Any]:
        token = "ya29." + secrets.token_urlsafe(40)
        expires = self.clock.now() + self.token_lifetime
        with self._lock:
            self._access[token] = AccessToken(token, grant.user.lower(), grant.scope, expires, grant)
        return {
            "access_token": token,
            "expires_in": int(self.token_lifetime.total_seconds()),
            "scope": grant.scope,
            "token_type": "Bearer",
        }

    # ---- checking tokens ---------------------------------------------------------------------------------
    def check(self, token: str) -> AccessToken | None:
        """The live access token, or None if unknown, expired or its grant was revoked."""
        if self.dev_token is not None and secrets.compare_digest(token, self.dev_token):
            # Full access: people and scripts drive the sandbox with it, writes included.
            return AccessToken(token, "*", FULL_MAIL, self.clock.now() + self.token_lifetime)
        with self._lock:
            access = self._access.get(token)
        if access is None or access.expires_at <= self.clock.now():
            return None
        if access.grant is not None and access.grant.revoked:
            return None
        return access

    # ---- signing (push OIDC tokens) ----------------------------------------------------------------------
    def jwks(self) -> dict[str, Any]:
        """The public signing keys as a JWK set (``/oauth2/v3/certs``)."""
        return self.signing.jwks()

    def x509_certs(self) -> dict[str, str]:
        """The public signing keys as ``{kid: PEM certificate}`` (``/oauth2/v1/certs``)."""
        return self.signing.x509_certs()

    def sign_id_token(self, audience: str, email: str) -> str:
        """An OIDC ID token like the one Pub/Sub push sends for service account ``email``."""
        return self.signing.sign_id_token(audience, email)
