"""Microsoft identity platform for Microsoft 365 mailboxes, with msal: access tokens that renew themselves.

Two token sources hand the Graph client a bearer token, and a fresh one when Graph refuses the old (the same
``access_token() / refresh() / aclose()`` shape as Gmail's ``TokenSource``):

- ``DelegatedTokens``: one user's grant (authorization code with PKCE, ``connect.py``), renewed with its
  refresh token. What is stored is msal's own token cache, serialised (``DelegatedGrant``): msal's documented
  way to keep tokens across processes (``SerializableTokenCache``:
  https://learn.microsoft.com/python/api/msal/msal.token_cache.serializabletokencache). The identity platform
  hands out a new refresh token with each renewal ("Refresh tokens replace themselves with a fresh token upon
  every use", and live 90 days: https://learn.microsoft.com/entra/identity-platform/refresh-tokens), so the
  stored cache changes: the source calls ``on_change`` with the new grant to store, encrypted, whenever msal
  says its cache changed.
- ``AppTokens``: the deployment's app, admin-consented in the customer's tenant, with the client credentials
  grant (``https://graph.microsoft.com/.default``), authenticated by a client secret or a certificate
  (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow).

A refusal of the grant itself becomes ``AccessRevoked`` in words a person understands (``refusals.py``).
msal is synchronous: every call runs in a thread. The authority is
``https://login.microsoftonline.com/<tenant>`` in production; only tests set ``ca_file``, to trust the
sandbox's loopback certificate (TLS is never turned off).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msal  # type: ignore[import-untyped]
import requests

from mailtrail.logs import get_logger
from mailtrail.providers.base import AccessRevoked, ProviderError, Unavailable
from mailtrail.providers.gmail.retry import RetryPolicy
from mailtrail.providers.microsoft.refusals import app_refusal, user_refusal

log = get_logger(__name__)

LOGIN_BASE_URL = "https://login.microsoftonline.com"
GRAPH_BASE_URL = "https://graph.microsoft.com"
# Delegated: read the user's mail (msal adds openid, profile and offline_access itself: they are reserved).
MAIL_READ = "https://graph.microsoft.com/Mail.Read"
# App-only: the permissions an admin consented to (Mail.Read, User.Read.All), asked for as ".default".
GRAPH_DEFAULT = "https://graph.microsoft.com/.default"
# Renew a little before the identity platform's expiry, so that a request never leaves with a dying token.
_EXPIRY_MARGIN = 120.0
_TIMEOUT = 30.0
GRANT_VERSION = 1

# Token endpoint errors that pass: tried again.
_PASSING_ERRORS = ("temporarily_unavailable", "server_error")

StateSaver = Callable[[str], Awaitable[None]]


def authority_url(tenant: str, login_base_url: str = LOGIN_BASE_URL) -> str:
    """The authority of one tenant (its id or domain), or ``organizations`` for any work account."""
    return f"{login_base_url.rstrip('/')}/{tenant}"


@dataclass(frozen=True, slots=True)
class CertificateCredential:
    """A certificate registered on the app, and its private key (PEM)."""

    private_key: str
    certificate: str
    passphrase: str | None = None

    def __repr__(self) -> str:
        return "CertificateCredential(<private key>)"


class _TimedSession(requests.Session):
    """msal's HTTP client: a requests session whose requests time out (requests has no session timeout)."""

    def __init__(self, timeout: float, ca_file: str | None) -> None:
        super().__init__()
        self._timeout = timeout
        if ca_file is not None:
            # Tests: trust this CA whatever the environment says (requests lets REQUESTS_CA_BUNDLE replace a
            # session's verify unless trust_env is off).
            self.trust_env = False
            self.verify = ca_file

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self._timeout)
        return super().request(*args, **kwargs)


@dataclass(frozen=True, slots=True)
class MicrosoftApp:
    """The deployment's app registration as msal sees it: client id, credential, authority.

    ``ca_file`` (tests only) is a CA certificate to trust for the authority, the sandbox's loopback one.
    """

    client_id: str
    credential: str | CertificateCredential
    authority: str
    ca_file: str | None = None
    timeout: float = _TIMEOUT

    def __repr__(self) -> str:
        return f"MicrosoftApp(client_id={self.client_id!r}, authority={self.authority!r})"

    def build(self, cache: msal.TokenCache | None = None) -> tuple[msal.ConfidentialClientApplication, Any]:
        """The msal application and its HTTP session (to close); blocking: it reads the authority's data."""
        credential: Any = self.credential
        if isinstance(self.credential, CertificateCredential):
            # With the certificate itself msal signs PS256 and names it by its SHA-256 thumbprint (x5t#S256),
            # the form the identity platform documents; the SHA-1 "thumbprint" form is deprecated in msal
            # (https://learn.microsoft.com/entra/identity-platform/certificate-credentials).
            certificate = self.credential
            credential = {
                "private_key": certificate.private_key,
                "public_certificate": certificate.certificate,
            }
            if certificate.passphrase:
                credential["passphrase"] = certificate.passphrase
        session = _TimedSession(self.timeout, self.ca_file)
        try:
            app = msal.ConfidentialClientApplication(
                self.client_id,
                client_credential=credential,
                authority=self.authority,
                token_cache=cache,
                http_client=session,
                # The authority is our configuration, not user input: no call to login.microsoftonline.com
                # to validate it, the same in production and against the sandbox.
                instance_discovery=False,
            )
        except ValueError as exc:  # an authority msal cannot use, a key it cannot read
            session.close()
            raise ProviderError(f"msal cannot use the Microsoft app settings: {exc}") from None
        except requests.RequestException as exc:
            session.close()
            problem = type(exc).__name__
            raise Unavailable(f"the Microsoft identity platform did not answer ({problem})") from None
        return app, session


@dataclass(frozen=True, slots=True)
class DelegatedGrant:
    """One user's grant as stored (encrypted): msal's serialised token cache and whose account it is."""

    account: str  # msal's home_account_id ("<object id>.<tenant id>")
    username: str
    cache: str

    def dump(self) -> str:
        """The grant as the credential's secret."""
        return json.dumps(
            {"v": GRANT_VERSION, "account": self.account, "username": self.username, "cache": self.cache},
            separators=(",", ":"),
        )

    @classmethod
    def load(cls, text: str) -> DelegatedGrant:
        """The grant in ``text``; one that cannot be read needs a new connection."""
        try:
            data = json.loads(text)
            if data["v"] != GRANT_VERSION:
                raise ValueError("unknown grant version")
            return cls(str(data["account"]), str(data["username"]), str(data["cache"]))
        except (ValueError, TypeError, KeyError):
            raise AccessRevoked(
                "mailtrail cannot read this mailbox's stored Microsoft sign-in: connect the mailbox again"
            ) from None

    def __repr__(self) -> str:
        return f"DelegatedGrant(account=<{len(self.account)} characters>)"


class _MsalTokens:
    """A cached access token renewed through msal in a thread; subclasses say which grant renews it."""

    def __init__(self, app: MicrosoftApp, retry: RetryPolicy | None) -> None:
        self.app = app
        self.retry = retry or RetryPolicy()
        self._msal: Any = None
        self._session: Any = None
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()

    async def access_token(self) -> str:
        """A token valid now."""
        if self._token is not None and time.monotonic() < self._expires_at:
            return self._token
        return await self._renew(self._token, force=False)

    async def refresh(self) -> str:
        """A new token: Graph refused the last one."""
        return await self._renew(self._token, force=True)

    async def aclose(self) -> None:
        """Close msal's HTTP session."""
        if self._session is not None:
            self._session.close()
            self._session = None

    async def _renew(self, stale: str | None, *, force: bool) -> str:
        async with self._lock:
            # Another task renewed while this one waited: its token is new, so use it.
            if self._token is not None and self._token != stale and time.monotonic() < self._expires_at:
                return self._token
            result = await self._with_retries(force)
            token = result.get("access_token")
            if not isinstance(token, str) or not token:
                raise ProviderError("the Microsoft identity platform answered without an access token")
            lifetime = float(result.get("expires_in") or 3600)
            self._token = token
            self._expires_at = time.monotonic() + max(lifetime - _EXPIRY_MARGIN, 0.0)
            await self._renewed()
            return token

    async def _with_retries(self, force: bool) -> Mapping[str, Any]:
        problem = ""
        for attempt in range(self.retry.attempts + 1):
            if attempt:
                await asyncio.sleep(self.retry.delay(attempt - 1))
            try:
                if self._msal is None:
                    self._msal, self._session = await asyncio.to_thread(self._build)
                result = await asyncio.to_thread(self._acquire, force)
            except (requests.RequestException, Unavailable) as exc:
                problem = exc.detail if isinstance(exc, Unavailable) else type(exc).__name__
                continue
            if isinstance(result, Mapping) and result.get("error") in _PASSING_ERRORS:
                problem = str(result.get("error"))
                continue
            if isinstance(result, Mapping) and "error" in result:
                raise self._refused(result)
            if not isinstance(result, Mapping):
                raise self._missing()
            return result
        tries = self.retry.attempts + 1
        raise Unavailable(f"the Microsoft identity platform did not answer after {tries} tries ({problem})")

    def _build(self) -> tuple[Any, Any]:
        raise NotImplementedError

    def _acquire(self, force: bool) -> Mapping[str, Any] | None:
        raise NotImplementedError

    def _refused(self, result: Mapping[str, Any]) -> ProviderError:
        raise NotImplementedError

    def _missing(self) -> ProviderError:
        raise NotImplementedError

    async def _renewed(self) -> None:
        """Called after each renewal (the delegated source saves its cache here)."""


class DelegatedTokens(_MsalTokens):
    """Access tokens of one user's grant (``DelegatedGrant``), renewed with the cached refresh token."""

    def __init__(
        self,
        app: MicrosoftApp,
        grant: DelegatedGrant | str,
        *,
        scopes: Sequence[str] = (MAIL_READ,),
        on_change: StateSaver | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        super().__init__(app, retry)
        self.grant = grant if isinstance(grant, DelegatedGrant) else DelegatedGrant.load(grant)
        self.scopes = list(scopes)
        self.on_change = on_change
        self._cache = msal.SerializableTokenCache()
        try:
            self._cache.deserialize(self.grant.cache)
        except ValueError:
            raise AccessRevoked(
                "mailtrail cannot read this mailbox's stored Microsoft sign-in: connect the mailbox again"
            ) from None

    def __repr__(self) -> str:
        return f"DelegatedTokens(app={self.app!r})"

    def state(self) -> str:
        """The grant to store now (it changes when the identity platform hands out a new refresh token)."""
        return DelegatedGrant(self.grant.account, self.grant.username, self._cache.serialize()).dump()

    def _build(self) -> tuple[Any, Any]:
        return self.app.build(self._cache)

    def _acquire(self, force: bool) -> Mapping[str, Any] | None:
        accounts = [
            account
            for account in self._msal.get_accounts()
            if account.get("home_account_id") == self.grant.account
        ]
        if not accounts:
            return None
        result: Mapping[str, Any] | None = self._msal.acquire_token_silent_with_error(
            self.scopes, account=accounts[0], force_refresh=force
        )
        return result

    def _refused(self, result: Mapping[str, Any]) -> ProviderError:
        return user_refusal(result)

    def _missing(self) -> ProviderError:
        return AccessRevoked(
            "mailtrail holds no Microsoft sign-in for this mailbox any more: connect the mailbox again"
        )

    async def _renewed(self) -> None:
        if self._cache.has_state_changed:
            state = self.state()
            log.info("microsoft delegated grant renewed")
            if self.on_change is not None:
                await self.on_change(state)


class AppTokens(_MsalTokens):
    """App-only access tokens of the deployment's app in one tenant (client credentials)."""

    def __init__(self, app: MicrosoftApp, *, retry: RetryPolicy | None = None) -> None:
        super().__init__(app, retry)

    def __repr__(self) -> str:
        return f"AppTokens(app={self.app!r})"

    def _build(self) -> tuple[Any, Any]:
        return self.app.build()

    def _acquire(self, force: bool) -> Mapping[str, Any] | None:
        cache = self._msal.token_cache
        if force:
            # acquire_token_for_client answers from msal's cache while the token looks valid to msal's clock;
            # Graph refused it, so drop it and ask the identity platform for a new one.
            for token in list(cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN)):
                cache.remove_at(token)
        result: Mapping[str, Any] | None = self._msal.acquire_token_for_client(scopes=[GRAPH_DEFAULT])
        return result

    def _refused(self, result: Mapping[str, Any]) -> ProviderError:
        return app_refusal(result)

    def _missing(self) -> ProviderError:
        return ProviderError("msal gave no answer for the app's token")
