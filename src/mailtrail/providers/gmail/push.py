"""Gmail push notifications as Pub/Sub delivers them: checking the sender, reading the notification.

A Pub/Sub push subscription with authentication sends a Google-signed OpenID Connect token in the
Authorization header. ``verify_push`` checks it as Pub/Sub's guide says
(https://cloud.google.com/pubsub/docs/authenticate-push-subscriptions): an RS256 signature by one of Google's
published keys, ``iss`` Google's issuer (``https://accounts.google.com`` or, for older tokens,
``accounts.google.com``: https://developers.google.com/identity/openid-connect/reference), ``aud`` the
audience configured on the subscription, ``email`` the subscription's service account with
``email_verified``, and not expired. ``decode_push`` reads the notification Gmail published: base64 JSON
``{"emailAddress", "historyId"}`` in ``message.data``
(https://developers.google.com/workspace/gmail/api/guides/push).

The signing keys are fetched from ``certs_url`` (Google publishes a JWK set at
https://www.googleapis.com/oauth2/v3/certs, and X.509 certificates by key id at .../oauth2/v1/certs; both
are read) and cached, and fetched again when a token names a key id not seen yet (Google rotates its keys).
Errors say what failed, never the token.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
from cryptography import x509

from mailtrail.logs import get_logger

log = get_logger(__name__)

GOOGLE_CERTS_URL = "https://www.googleapis.com/oauth2/v3/certs"
GOOGLE_ISSUERS = frozenset({"https://accounts.google.com", "accounts.google.com"})
# Clocks of Google and of this machine may disagree a little.
_LEEWAY = 30
# An unknown key id fetches the keys again, but not more often than this: a stream of forged tokens with
# made-up key ids must not become a stream of requests to Google.
_REFETCH_INTERVAL = 10.0
_DEFAULT_MAX_AGE = 3600.0
_MAX_AGE = re.compile(r"max-age=(\d+)")


class PushRejected(Exception):
    """A push request that is not a genuine Gmail notification for us; the text says why (no token)."""


@dataclass(slots=True)
class _Keys:
    keys: dict[str, Any] = field(default_factory=dict)
    fetched_at: float = float("-inf")
    max_age: float = _DEFAULT_MAX_AGE


# Keys by certs URL, for the life of the process (a lru_cache cannot hold async fetches).
_CACHE: dict[str, _Keys] = {}


async def verify_push(
    authorization_header: str | None,
    *,
    audience: str,
    service_account_email: str,
    certs_url: str = GOOGLE_CERTS_URL,
    http: httpx.AsyncClient | None = None,
) -> dict[str, Any]:
    """The verified claims of a Pub/Sub push's OIDC token, or ``PushRejected`` saying what failed."""
    scheme, _, token = (authorization_header or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise PushRejected("no bearer token in the Authorization header")
    token = token.strip()
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise PushRejected("the bearer token is not a JWT") from None
    if header.get("alg") != "RS256":
        raise PushRejected("the token is not signed with RS256")
    kid = str(header.get("kid", ""))
    key = await _key(kid, certs_url, http)
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=["RS256"],
            audience=audience,
            leeway=_LEEWAY,
            options={"require": ["exp", "iat", "iss", "aud", "email"]},
        )
    except jwt.InvalidSignatureError:
        raise PushRejected("the token's signature does not verify") from None
    except jwt.ExpiredSignatureError:
        raise PushRejected("the token has expired") from None
    except jwt.InvalidAudienceError:
        raise PushRejected("the token is for another audience") from None
    except jwt.PyJWTError as exc:
        raise PushRejected(f"the token is not valid ({type(exc).__name__})") from None
    if claims.get("iss") not in GOOGLE_ISSUERS:
        raise PushRejected("the token was not issued by Google")
    email = str(claims.get("email", ""))
    if email.lower() != service_account_email.lower():
        raise PushRejected(f"the token is for the service account {email}, not the push subscription's")
    if claims.get("email_verified") is not True:
        raise PushRejected("the token's service account address is not verified")
    return claims


def decode_push(body: bytes | str | Mapping[str, Any]) -> tuple[str, int]:
    """``(emailAddress, historyId)`` of a Gmail notification in a Pub/Sub push envelope."""
    try:
        envelope = body if isinstance(body, Mapping) else json.loads(body)
        data = envelope["message"]["data"]
        text = str(data)
        decoded = base64.b64decode(text.replace("-", "+").replace("_", "/") + "=" * (-len(text) % 4))
        notification = json.loads(decoded)
        address, history_id = notification["emailAddress"], int(str(notification["historyId"]))
    except (ValueError, TypeError, KeyError, binascii.Error):
        raise PushRejected("the push body is not a Gmail notification") from None
    if not isinstance(address, str) or "@" not in address or history_id <= 0:
        raise PushRejected("the push body is not a Gmail notification")
    return address.lower(), history_id


async def _key(kid: str, certs_url: str, http: httpx.AsyncClient | None) -> Any:
    """The public key ``kid`` names, fetching the keys when they are stale or ``kid`` is new to us."""
    cached = _CACHE.setdefault(certs_url, _Keys())
    age = time.monotonic() - cached.fetched_at
    if age > cached.max_age or (kid not in cached.keys and age > _REFETCH_INTERVAL):
        await _fetch(cached, certs_url, http)
    if kid not in cached.keys:
        raise PushRejected(f"the token is signed by a key Google does not publish (kid {kid or 'missing'})")
    return cached.keys[kid]


async def _fetch(cached: _Keys, certs_url: str, http: httpx.AsyncClient | None) -> None:
    client = http or httpx.AsyncClient(timeout=httpx.Timeout(15.0))
    try:
        response = await client.get(certs_url)
        response.raise_for_status()
        document = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        # Keep the keys we had: a failed fetch must not turn away pushes signed by a known key.
        log.warning("push signing keys not fetched", error=type(exc).__name__)
        cached.fetched_at = time.monotonic()
        return
    finally:
        if http is None:
            await client.aclose()
    cached.keys = _parse_keys(document)
    cached.fetched_at = time.monotonic()
    found = _MAX_AGE.search(response.headers.get("cache-control", ""))
    cached.max_age = float(found.group(1)) if found else _DEFAULT_MAX_AGE


def _parse_keys(document: Any) -> dict[str, Any]:
    """Public keys by id from a JWK set (``{"keys": [...]}``) or from ``{kid: PEM certificate}``."""
    keys: dict[str, Any] = {}
    if isinstance(document, dict) and isinstance(document.get("keys"), list):
        for jwk in document["keys"]:
            try:
                keys[str(jwk["kid"])] = jwt.PyJWK(jwk, "RS256").key
            except (KeyError, TypeError, jwt.PyJWTError):
                continue
    elif isinstance(document, dict):
        for kid, pem in document.items():
            try:
                keys[str(kid)] = x509.load_pem_x509_certificate(str(pem).encode("ascii")).public_key()
            except ValueError:
                continue
    return keys
