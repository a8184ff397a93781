"""Sign in with Google or Microsoft: OpenID Connect's authorization code flow with PKCE.

``start_sign_in`` gives the provider's URL (scope ``openid email profile``, ``state``, ``nonce``, an S256
code challenge) and the flow to keep in the browser, sealed (``seal_flow``: encrypted, so the browser can
neither read nor change it). The provider sends the browser back with a code; ``open_flow`` checks the state
against the sealed flow (the answer belongs to the sign-in this browser started), ``exchange_code`` trades
the code for the ID token, and ``verify_id_token`` checks it against the provider's published keys:
signature (RS256 only), ``iss``, ``aud`` (our client id), ``exp``/``iat``, ``nonce``, and per provider:

- Google (https://developers.google.com/identity/openid-connect/openid-connect#validatinganidtoken):
  ``iss`` is ``https://accounts.google.com`` (or without the scheme), ``email_verified`` is true, and ``hd``
  (the Google Workspace organisation) is present: a personal Google account can carry a verified work
  address, so the address alone does not prove that the company's admins manage the account.
- Microsoft (https://learn.microsoft.com/entra/identity-platform/id-token-claims-reference): ``iss`` is
  ``{login}/{tenant}/v2.0``, for the configured tenant or, with ``organizations``, for the token's ``tid``;
  personal accounts and guests homed elsewhere are refused. The address is ``preferred_username``, the
  user's sign-in name in a domain the tenant has verified; the ``email`` claim is not used, since Microsoft
  says a tenant's admins can set it to any address.

Which user that is, and whether their domain may sign in, is ``users.federated_user``'s business.
"""

from __future__ import annotations

import json
import secrets
import ssl
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt

from mailtrail.api.errors import ApiError
from mailtrail.auth.errors import InvalidInput, NotFound, SignInRefused
from mailtrail.config import Settings
from mailtrail.logs import get_logger
from mailtrail.providers.gmail.auth import pkce_pair
from mailtrail.secrets import SecretBox, SecretError

log = get_logger(__name__)

PROVIDERS = ("google", "microsoft")
NAMES = {"google": "Google", "microsoft": "Microsoft"}
SCOPES = "openid email profile"
# Long enough to choose an account and consent, short enough that a stale link is not worth stealing.
FLOW_LIFETIME = timedelta(minutes=10)
# Clock difference tolerated between the provider and us when checking exp and iat.
LEEWAY = 120.0
GOOGLE_ISSUERS = frozenset({"https://accounts.google.com", "accounts.google.com"})
# The tenant of personal Microsoft accounts (the claims reference above).
MICROSOFT_CONSUMERS = "9188040d-6c67-4c5b-b112-36a304b66dad"
_MULTI_TENANT = frozenset({"organizations", "common"})
_TIMEOUT = httpx.Timeout(15.0)


@dataclass(frozen=True, slots=True)
class OidcClient:
    """mailtrail's app at one provider, and where the provider's endpoints and keys are."""

    provider: str
    client_id: str
    client_secret: str | None
    authorize_url: str
    token_url: str
    jwks_url: str
    # Microsoft: the login URL and tenant the issuer is made of; Google's issuer is fixed.
    login_url: str = ""
    tenant: str = ""
    ca_file: str | None = None


@dataclass(frozen=True, slots=True)
class SignInFlow:
    """A sign-in started in one browser: what its answer is checked against."""

    provider: str
    state: str
    nonce: str
    verifier: str
    next_path: str
    started_at: float


@dataclass(frozen=True, slots=True)
class Identity:
    """Who the provider says signed in; ``organisation`` is Google's hosted domain (None for Microsoft)."""

    provider: str
    email: str
    name: str | None
    organisation: str | None
    subject: str


def oidc_client(settings: Settings, provider: str) -> OidcClient:
    """The deployment's client at ``provider``; ``NotFound`` if it has none configured."""
    if provider not in PROVIDERS:
        raise NotFound(f"no sign-in with {provider!r} (choose google or microsoft)")
    if provider == "google":
        if not settings.google_client_id:
            raise _not_configured("Google", "MAILTRAIL_GOOGLE_CLIENT_ID")
        secret = settings.google_client_secret
        return OidcClient(
            "google", settings.google_client_id, secret.get_secret_value() if secret else None,
            settings.google_auth_url, settings.google_token_url, settings.google_certs_url,
        )  # fmt: skip
    if not settings.microsoft_client_id:
        raise _not_configured("Microsoft", "MAILTRAIL_MICROSOFT_CLIENT_ID")
    login, tenant = settings.microsoft_login_url.rstrip("/"), settings.microsoft_tenant
    secret = settings.microsoft_client_secret
    return OidcClient(
        "microsoft", settings.microsoft_client_id, secret.get_secret_value() if secret else None,
        f"{login}/{tenant}/oauth2/v2.0/authorize", f"{login}/{tenant}/oauth2/v2.0/token",
        f"{login}/{tenant}/discovery/v2.0/keys", login, tenant,
        str(settings.microsoft_ca_file) if settings.microsoft_ca_file else None,
    )  # fmt: skip


def start_sign_in(
    client: OidcClient, redirect_uri: str, now: datetime, next_path: str = "/"
) -> tuple[str, SignInFlow]:
    """The provider's sign-in URL, and the flow to seal into the browser until it comes back."""
    verifier, challenge = pkce_pair()
    flow = SignInFlow(
        client.provider, secrets.token_urlsafe(32), secrets.token_urlsafe(32), verifier, safe_next(next_path),
        now.timestamp(),
    )  # fmt: skip
    params = {
        "client_id": client.client_id,
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "scope": SCOPES,
        "state": flow.state,
        "nonce": flow.nonce,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        # Someone signed in to a personal and a work account picks the work one, rather than being signed in
        # with whichever the browser used last.
        "prompt": "select_account",
    }
    if client.provider == "microsoft":
        # A GET back: the flow's cookie is SameSite=Lax, sent on a top-level GET but not on a cross-site POST.
        params["response_mode"] = "query"
    separator = "&" if "?" in client.authorize_url else "?"
    return f"{client.authorize_url}{separator}{urlencode(params)}", flow


def safe_next(path: str | None) -> str:
    """A path on this site to go to after signing in; anything else (another site) becomes ``/``."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path or "://" in path:
        return "/"
    return path


def seal_flow(flow: SignInFlow, box: SecretBox) -> str:
    """The flow encrypted for a cookie."""
    return box.encrypt(json.dumps(asdict(flow)))


def open_flow(sealed: str | None, box: SecretBox, provider: str, state: str, now: datetime) -> SignInFlow:
    """The sealed flow, if it is this provider's, its state is ``state``, and it is recent."""
    minutes = int(FLOW_LIFETIME.total_seconds() // 60)
    again = f"start again from the sign-in page (a sign-in must end within {minutes} minutes"
    if not sealed:
        raise InvalidInput(f"this browser did not start a sign-in (or its cookie was lost): {again})")
    try:
        flow = SignInFlow(**json.loads(box.decrypt(sealed)))
    except (SecretError, ValueError, TypeError):
        raise InvalidInput(f"this sign-in cannot be read: {again})") from None
    if flow.provider != provider or not secrets.compare_digest(flow.state.encode(), state.encode()):
        raise InvalidInput(f"this answer belongs to another sign-in: {again})")
    if now.timestamp() - flow.started_at > FLOW_LIFETIME.total_seconds():
        raise InvalidInput(f"this sign-in took too long: {again})")
    return flow


async def exchange_code(client: OidcClient, code: str, redirect_uri: str, verifier: str) -> str:
    """The ID token for the code the provider sent back (the token endpoint's answer, PKCE verified)."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "client_id": client.client_id,
        "code_verifier": verifier,
    }
    if client.client_secret is not None:
        form["client_secret"] = client.client_secret
    body = await _request(client, "POST", client.token_url, data=form)
    if "error" in body:
        what = str(body.get("error_description") or body["error"]).splitlines()[0]
        # Worth an admin's eye: a wrong client secret or redirect URI fails every sign-in the same way.
        log.warning("sign-in code refused", provider=client.provider, error=str(body["error"]))
        raise SignInRefused(f"{NAMES[client.provider]} refused the sign-in ({what}): start again")
    id_token = body.get("id_token")
    if not isinstance(id_token, str):
        raise SignInRefused(f"{NAMES[client.provider]} answered without an ID token: start again")
    return id_token


async def verify_id_token(client: OidcClient, id_token: str, nonce: str, now: datetime) -> Identity:
    """The identity in ``id_token`` once checked against the provider's keys (fetched now) and claims."""
    # Fetched at each sign-in rather than cached: sign-ins are rare (one per person per session), and a
    # fresh set is never stale when the provider rotates its keys.
    keys = await _request(client, "GET", client.jwks_url)
    return check_id_token(client, id_token, keys, nonce, now)


def check_id_token(
    client: OidcClient, id_token: str, jwks: dict[str, Any], nonce: str, now: datetime
) -> Identity:
    """The identity in ``id_token`` if its signature (by a key of ``jwks``) and claims hold (module doc)."""
    name = NAMES[client.provider]
    claims = _signed_claims(client, id_token, jwks)
    moment = now.timestamp()
    if moment >= float(claims["exp"]) + LEEWAY:
        raise _unverified(name, "it has expired")
    if float(claims["iat"]) > moment + LEEWAY or float(claims.get("nbf", 0)) > moment + LEEWAY:
        raise _unverified(name, "it is not valid yet: is this machine's clock right?")
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if len(audiences) > 1 and claims.get("azp") != client.client_id:
        raise _unverified(name, "it was issued to another app")
    if not secrets.compare_digest(str(claims.get("nonce", "")).encode(), nonce.encode()):
        raise _unverified(name, "it does not belong to this sign-in (nonce)")
    if client.provider == "google":
        return _google_identity(claims)
    return _microsoft_identity(client, claims)


def _signed_claims(client: OidcClient, id_token: str, jwks: dict[str, Any]) -> dict[str, Any]:
    name = NAMES[client.provider]
    try:
        header = jwt.get_unverified_header(id_token)
    except jwt.PyJWTError:
        raise _unverified(name, "it is not a JWT") from None
    # RS256 is what both sign with; naming it keeps out "none" and HMAC tricks with the public key.
    if header.get("alg") != "RS256":
        raise _unverified(name, f"it is signed with {header.get('alg')!r}, not RS256")
    try:
        keys = [key for key in jwt.PyJWKSet.from_dict(jwks).keys if key.key_id == header.get("kid")]
    except jwt.PyJWTError:
        raise _unverified(name, "the provider's published keys cannot be read") from None
    if not keys:
        raise _unverified(name, "it is not signed by any of the provider's published keys")
    try:
        claims: dict[str, Any] = jwt.decode(
            id_token, keys[0].key, algorithms=["RS256"], audience=client.client_id,
            # Times are checked against our clock (check_id_token), the issuer per provider.
            options={"require": ["iss", "aud", "exp", "iat", "sub"], "verify_exp": False, "verify_iat": False,
                     "verify_nbf": False, "verify_iss": False},
        )  # fmt: skip
    except jwt.InvalidAudienceError:
        raise _unverified(name, "it was issued to another app (audience)") from None
    except jwt.InvalidSignatureError:
        raise _unverified(name, "its signature does not match (altered?)") from None
    except jwt.PyJWTError as exc:
        raise _unverified(name, str(exc)) from None
    return claims


def _google_identity(claims: dict[str, Any]) -> Identity:
    if claims["iss"] not in GOOGLE_ISSUERS:
        raise _unverified("Google", f"its issuer is {claims['iss']!r}")
    email = claims.get("email")
    if not isinstance(email, str) or claims.get("email_verified") is not True:
        raise SignInRefused("Google did not confirm the account's address: sign in with your work account")
    organisation = claims.get("hd")
    if not isinstance(organisation, str) or not organisation:
        raise SignInRefused(
            f"{email} is a personal Google account, not one your company manages in Google Workspace: "
            "sign in with your work account, or with your password"
        )
    return Identity("google", email, _name(claims), organisation.lower(), str(claims["sub"]))


def _microsoft_identity(client: OidcClient, claims: dict[str, Any]) -> Identity:
    tenant = str(claims.get("tid", ""))
    if client.tenant.lower() in _MULTI_TENANT:
        if not tenant or tenant == MICROSOFT_CONSUMERS:
            raise SignInRefused("personal Microsoft accounts cannot sign in: use your work account")
        expected = f"{client.login_url}/{tenant}/v2.0"
    else:
        expected = f"{client.login_url}/{client.tenant}/v2.0"
    if claims["iss"] != expected:
        raise _unverified("Microsoft", f"its issuer is {claims['iss']!r}, not your organisation's")
    if claims.get("idp") not in (None, claims["iss"]):
        raise SignInRefused("guests from another organisation cannot sign in: use your own work account")
    email = claims.get("preferred_username")
    if not isinstance(email, str) or "@" not in email:
        raise SignInRefused("Microsoft did not say which account signed in: sign in with your work account")
    return Identity("microsoft", email, _name(claims), None, str(claims.get("oid") or claims["sub"]))


def _name(claims: dict[str, Any]) -> str | None:
    name = claims.get("name")
    return name if isinstance(name, str) and name.strip() else None


async def _request(client: OidcClient, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
    name = NAMES[client.provider]
    verify: ssl.SSLContext | bool = (
        ssl.create_default_context(cafile=client.ca_file) if client.ca_file else True
    )
    try:
        async with httpx.AsyncClient(timeout=_TIMEOUT, verify=verify) as http:
            response = await http.request(method, url, **kwargs)
        body = response.json()
    except (httpx.HTTPError, ValueError):
        raise ApiError(502, "provider_unavailable", f"{name} could not be reached: try again") from None
    if not isinstance(body, dict) or (response.status_code >= 500):
        raise ApiError(502, "provider_unavailable", f"{name} answered with an error: try again")
    return body


def _unverified(name: str, why: str) -> SignInRefused:
    return SignInRefused(f"{name}'s answer could not be verified ({why}): start the sign-in again")


def _not_configured(name: str, variable: str) -> ApiError:
    return ApiError(404, "provider_not_configured", f"sign-in with {name} is not set up here ({variable})")
