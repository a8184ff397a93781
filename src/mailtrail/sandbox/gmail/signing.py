"""What the sandbox signs push tokens and sign-in ID tokens with, and where verifiers find the public half.

Pub/Sub's push token is a Google-signed OpenID Connect ID token. Its documented claims
(https://cloud.google.com/pubsub/docs/authenticate-push-subscriptions, "JWT format"): ``iss`` is
``https://accounts.google.com``, ``aud`` the audience configured on the subscription, ``email`` and
``email_verified`` of the subscription's service account, and ``azp`` and ``sub`` both that account's unique
id (the numeric id; the example there has ``"azp": "113774264463038321964"`` equal to ``sub``). Google
publishes the signing keys both as X.509 certificates keyed by ``kid``
(https://www.googleapis.com/oauth2/v1/certs, what google-auth's ``id_token.verify_token`` fetches by default)
and as a JWK set (https://www.googleapis.com/oauth2/v3/certs); the sandbox serves both.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

GOOGLE_ISSUER = "https://accounts.google.com"
ID_TOKEN_LIFETIME = 3600
# Addresses of personal Google accounts: their ID tokens carry no hosted domain (``hd``).
CONSUMER_DOMAINS = frozenset({"gmail.com", "googlemail.com"})


def service_account_unique_id(email: str) -> str:
    """A stable 21-digit numeric id for a service account, shaped like Google's (``sub``/``azp``)."""
    digest = int.from_bytes(hashlib.sha256(email.lower().encode()).digest()[:9], "big")
    return "1" + str(digest % 10**20).zfill(20)


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class SigningKey:
    """One RSA key: its key id, JWK set, self-signed certificate, and the push ID tokens it signs."""

    def __init__(self, key: rsa.RSAPrivateKey) -> None:
        self.key = key
        der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
        self.key_id = hashlib.sha1(der).hexdigest()  # noqa: S324 (a key id, as Google's look, not a security digest)
        self._certificate: str | None = None
        self._lock = threading.Lock()

    def jwks(self) -> dict[str, Any]:
        """The public key as a JWK set (Google's ``/oauth2/v3/certs`` format)."""
        numbers = self.key.public_key().public_numbers()
        jwk = {"kty": "RSA", "alg": "RS256", "use": "sig", "kid": self.key_id}
        return {"keys": [{**jwk, "n": _b64url_uint(numbers.n), "e": _b64url_uint(numbers.e)}]}

    def x509_certs(self) -> dict[str, str]:
        """The public key as ``{kid: PEM certificate}`` (Google's ``/oauth2/v1/certs`` format)."""
        with self._lock:
            if self._certificate is None:
                self._certificate = self._self_signed()
            return {self.key_id: self._certificate}

    def _self_signed(self) -> str:
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mailtrail sandbox push signing")])
        now = datetime.now(UTC)  # verifiers compare certificate validity with the real time
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(int.from_bytes(secrets.token_bytes(8), "big"))
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=3650))
            .sign(self.key, hashes.SHA256())
        )
        return certificate.public_bytes(serialization.Encoding.PEM).decode()

    def sign_user_id_token(
        self, client_id: str, email: str, scope: str, nonce: str | None, access_token: str, now: float
    ) -> str:
        """The ID token the token endpoint returns for a user who consented to ``openid``.

        Its claims are those of https://developers.google.com/identity/openid-connect/openid-connect
        ("An ID token's payload"): ``iss``, ``azp`` and ``aud`` (the client), ``sub`` (a stable numeric id),
        ``at_hash``, ``iat``/``exp`` (on the sandbox clock, like its access tokens), ``email`` and
        ``email_verified`` with the ``email`` scope, ``hd`` for an account of a Google Workspace organisation
        (every sandbox mailbox but a personal gmail.com one), and the request's ``nonce``.
        """
        issued = int(now)
        digest = hashlib.sha256(access_token.encode("ascii")).digest()
        claims: dict[str, Any] = {
            "iss": GOOGLE_ISSUER,
            "azp": client_id,
            "aud": client_id,
            "sub": service_account_unique_id(email),
            "at_hash": base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode(),
            "iat": issued,
            "exp": issued + ID_TOKEN_LIFETIME,
        }
        scopes = scope.split()
        if "email" in scopes:
            claims.update(email=email, email_verified=True)
        domain = email.rpartition("@")[2]
        if domain not in CONSUMER_DOMAINS:
            claims["hd"] = domain
        if nonce:
            claims["nonce"] = nonce
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.key_id, "typ": "JWT"})

    def sign_id_token(self, audience: str, email: str) -> str:
        """A push OIDC token of ``email`` for ``audience`` (real-time iat/exp, as verifiers expect)."""
        now = int(time.time())
        unique_id = service_account_unique_id(email)
        claims = {
            "aud": audience,
            "azp": unique_id,
            "email": email,
            "email_verified": True,
            "exp": now + ID_TOKEN_LIFETIME,
            "iat": now,
            "iss": GOOGLE_ISSUER,
            "sub": unique_id,
        }
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.key_id, "typ": "JWT"})
