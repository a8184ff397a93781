"""Google-style OAuth 2.0 for the sandbox: its own signing keys, grants, tokens, service accounts.

Supports the authorization code grant with PKCE (S256 and plain), refresh tokens, revocation, and the JWT
bearer grant a service account with domain-wide delegation uses (``sub`` = the user to act as), with keys that
the sandbox issues as Google-format key files. Access tokens expire on the tenant clock, so tests can expire
them by advancing a ManualClock. The same RSA key signs the OIDC tokens of push notifications (JWKS served).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from mailtrail.sandbox.clock import Clock

GMAIL_READONLY = "https://www.googleapis.com/auth/gmail.readonly"
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


def _rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


_PROCESS_KEY: list[rsa.RSAPrivateKey] = []


def _process_signing_key() -> rsa.RSAPrivateKey:
    """One signing key per process: making a 2048-bit key costs about half a second, per app is too slow."""
    if not _PROCESS_KEY:
        _PROCESS_KEY.append(_rsa_key())
    return _PROCESS_KEY[0]


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class GoogleAuth:
    """Clients, grants and tokens of the sandbox's Google identity endpoints; thread-safe."""

    def __init__(
        self,
        clock: Clock,
        *,
        token_lifetime: timedelta = timedelta(hours=1),
        own_key: bool = False,
        user_exists: Callable[[str], bool] | None = None,
    ) -> None:
        """``own_key``: a signing key of its own instead of the process's; ``user_exists`` checks ``sub``."""
        self.clock = clock
        self.user_exists = user_exists
        self.token_lifetime = token_lifetime
        self._lock = threading.Lock()
        self._key = _rsa_key() if own_key else _process_signing_key()
        self.key_id = hashlib.sha1(  # noqa: S324 (a key id, not a security digest)
            self._key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
        ).hexdigest()
        self.clients: dict[str, str | None] = {DEFAULT_CLIENT_ID: DEFAULT_CLIENT_SECRET}
        self._codes: dict[str, _Code] = {}
        self._refresh: dict[str, Grant] = {}
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
            "client_id": str(int.from_bytes(hashlib.sha256(email.encode()).digest()[:8], "big")),
            "auth_uri": token_uri.rsplit("/", 1)[0] + "/o/oauth2/auth",
            "token_uri": token_uri,
        }

    # ---- authorization code ------------------------------------------------------------------------------
    def issue_code(
        self, client_id: str, user: str, scope: str, redirect_uri: str, challenge: str | None, method: str
    ) -> str:
        """A one-time code for the consent the user just gave (valid ten minutes)."""
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
        refresh = "1//" + secrets.token_urlsafe(40)
        with self._lock:
            self._refresh[refresh] = entry.grant
        return {**self._access_response(entry.grant), "refresh_token": refresh}

    def refresh(self, refresh_token: str, client_id: str, client_secret: str | None) -> dict[str, Any]:
        """Token response for a refresh token; revoked or unknown -> ``invalid_grant``."""
        with self._lock:
            grant = self._refresh.get(refresh_token)
        if grant is None or grant.revoked:
            raise OAuthError("invalid_grant", "Token has been expired or revoked.")
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

    def revoke(self, token: str) -> bool:
        """Revoke a refresh token (its grant) or an access token; False when the token is unknown."""
        with self._lock:
            grant = self._refresh.get(token)
            if grant is not None:
                grant.revoked = True
                return True
            access = self._access.pop(token, None)
            if access is not None and access.grant is not None:
                access.grant.revoked = True
            return access is not None

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
            return AccessToken(token, "*", GMAIL_READONLY, self.clock.now() + self.token_lifetime)
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
        numbers = self._key.public_key().public_numbers()
        key = {"kty": "RSA", "alg": "RS256", "use": "sig", "kid": self.key_id}
        return {"keys": [{**key, "n": _b64url_uint(numbers.n), "e": _b64url_uint(numbers.e)}]}

    def sign_id_token(self, issuer: str, audience: str, email: str) -> str:
        """An RS256 OIDC ID token like the one Pub/Sub push sends (real-time iat/exp, as verifiers expect)."""
        now = int(time.time())
        claims = {
            "iss": issuer,
            "aud": audience,
            "azp": str(int.from_bytes(hashlib.sha256(email.encode()).digest()[:8], "big")),
            "sub": str(int.from_bytes(hashlib.sha256(email.encode()).digest()[8:16], "big")),
            "email": email,
            "email_verified": True,
            "iat": now,
            "exp": now + 3600,
        }
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.key_id})
