"""Client assertions (``private_key_jwt``): an app proving who it is with a certificate instead of a secret.

What the token endpoint checks, per https://learn.microsoft.com/entra/identity-platform/certificate-credentials:
the header names the certificate by ``x5t#S256`` (base64url of the SHA-256 thumbprint of its DER encoding,
signed ``PS256``) or, the older form msal still sends for a SHA-1 thumbprint, ``x5t`` (SHA-1, ``RS256``); the
claims are ``aud`` = the token endpoint, ``iss`` = ``sub`` = the client id, ``exp`` and ``nbf``; the signature
verifies with the public key of a certificate registered on the app. Failures answer with the AADSTS codes
Entra uses (700021, 700023, 700024, 700027: https://learn.microsoft.com/entra/identity-platform/
reference-error-codes).
"""

from __future__ import annotations

import base64
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from mailtrail.sandbox.graph.aadsts import aad
from mailtrail.sandbox.graph.directory import AppRegistration

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# Clocks of the client and of the token endpoint may disagree a little.
_LEEWAY = 300


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def thumbprints(certificate_pem: bytes) -> dict[str, str]:
    """The header values that name a certificate: ``{"x5t#S256": ..., "x5t": ...}``."""
    cert = x509.load_pem_x509_certificate(certificate_pem)
    return {
        "x5t#S256": _b64url(cert.fingerprint(hashes.SHA256())),
        "x5t": _b64url(cert.fingerprint(hashes.SHA1())),  # noqa: S303 - the legacy thumbprint Entra accepts
    }


def _registered_key(app: AppRegistration, header: dict[str, Any]) -> Any:
    for pem in app.certificates:
        names = thumbprints(pem)
        for field in ("x5t#S256", "x5t"):
            # msal keeps the base64 padding that RFC 7515 leaves out; Entra accepts both.
            given = str(header.get(field) or "").rstrip("=")
            if given and given == names[field]:
                return x509.load_pem_x509_certificate(pem).public_key()
    return None


def verify_client_assertion(assertion: str, app: AppRegistration, token_endpoint: str, now: float) -> None:
    """Accept ``assertion`` as proof that the caller is ``app``, or raise the AadError Entra would."""
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.PyJWTError:
        raise aad(700027, reason="The assertion is not a JWT.") from None
    key = _registered_key(app, header)
    if key is None:
        raise aad(700027, reason="The key was not found.")
    try:
        claims = jwt.decode(
            assertion,
            key,
            algorithms=["PS256", "RS256"],
            audience=token_endpoint,
            options={"verify_exp": False, "verify_nbf": False, "require": ["aud", "iss", "sub", "exp"]},
        )
    except jwt.InvalidAudienceError:
        raise aad(700023) from None
    except jwt.PyJWTError:
        failed = "Key was found, but use of the key to verify the signature failed."
        raise aad(700027, reason=failed) from None
    if claims.get("iss") != app.client_id or claims.get("sub") != app.client_id:
        raise aad(700021)
    expires, not_before = float(claims["exp"]), float(claims.get("nbf", now))
    if now > expires + _LEEWAY or now < not_before - _LEEWAY:
        raise aad(700024)
