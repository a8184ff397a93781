"""The directory side of the sandbox identity platform: app registrations, users, grants, codes, keys.

Plain data and pure helpers, kept apart from ``identity.IdentityPlatform`` (which issues and verifies tokens).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import rsa


@dataclass
class AppRegistration:
    """An app registered in the tenant; ``app_permissions`` are the admin-consented application roles;
    ``certificates`` (PEM) let it authenticate with a client assertion instead of its secret."""

    client_id: str
    client_secret: str | None
    redirect_uris: tuple[str, ...] = ()
    app_permissions: frozenset[str] = frozenset({"Mail.Read"})
    certificates: tuple[bytes, ...] = ()

    @property
    def public_client(self) -> bool:
        """No secret and no certificate: a public client (PKCE only)."""
        return self.client_secret is None and not self.certificates


@dataclass(frozen=True)
class DirectoryUser:
    """A user of the tenant (the owner of one mailbox)."""

    object_id: str
    user_principal_name: str
    display_name: str


@dataclass(frozen=True)
class AccessGrant:
    """What a verified access token allows."""

    app_id: str
    roles: frozenset[str]
    scopes: frozenset[str]
    user: DirectoryUser | None
    expires_at: float

    @property
    def app_only(self) -> bool:
        return self.user is None


@dataclass
class PendingCode:
    """An authorization code waiting to be redeemed."""

    client_id: str
    user: DirectoryUser
    redirect_uri: str
    scopes: tuple[str, ...]
    code_challenge: str | None
    code_challenge_method: str
    nonce: str | None
    expires_at: float
    redeemed: bool = False


@dataclass
class RefreshGrant:
    """What a refresh token stands for; ``interaction`` is an AADSTS code a refresh must answer with."""

    client_id: str
    user: DirectoryUser
    scopes: tuple[str, ...]
    expires_at: float
    revoked: bool = False
    interaction: int | None = None


@functools.cache
def process_signing_key() -> rsa.RSAPrivateKey:
    """One RSA key per process unless a platform is given its own: generating one costs ~0.3 s, and tokens
    still never cross tenants (``verify`` checks ``tid``)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def redirect_matches(asked: str, registered: str) -> bool:
    """Exact match, except that Entra ignores the port of an http loopback redirect URI (native apps)."""
    if asked == registered:
        return True
    a, r = urlsplit(asked), urlsplit(registered)
    loopback = a.scheme == r.scheme == "http" and a.hostname == r.hostname in ("localhost", "127.0.0.1")
    return loopback and (a.path or "/") == (r.path or "/") and a.query == r.query


def pkce_matches(verifier: str, challenge: str, method: str) -> bool:
    """Whether a PKCE ``code_verifier`` answers the ``code_challenge`` (``plain`` or ``S256``)."""
    if method == "plain":
        return secrets.compare_digest(verifier, challenge)
    digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
    expected = base64.urlsafe_b64encode(digest).decode().rstrip("=")
    return secrets.compare_digest(expected, challenge)
