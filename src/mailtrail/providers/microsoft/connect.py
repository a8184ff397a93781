"""Connecting Microsoft 365 mailboxes: a user's consent (authorization code with PKCE), or a tenant admin's.

A user: ``start_connect`` gives the identity platform's sign-in and consent page to send the user to, and the
flow to keep (encrypted) until the user comes back; ``finish_connect`` redeems the answer and returns the
grant to store. msal builds the request (PKCE with S256, state, nonce) and checks the answer against the flow
(https://learn.microsoft.com/entra/msal/python/getting-started/acquiring-tokens#authorization-code-flow and
https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow). The answer comes back as a POST
(``response_mode=form_post``): the code then travels in the body, never in a URL a browser or a proxy keeps
(https://www.rfc-editor.org/rfc/rfc9700#section-4.3.1, which msal recommends).

A tenant: ``admin_consent_url`` is where a tenant's administrator grants the app's application permissions
(Mail.Read, User.Read.All) for every user (https://learn.microsoft.com/entra/identity-platform/
v2-admin-consent); mailboxes are then read with ``AppTokens`` and found with ``GraphClient.list_users``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import msal  # type: ignore[import-untyped]

from mailtrail.providers.base import ProviderError
from mailtrail.providers.microsoft.auth import (
    GRAPH_DEFAULT,
    LOGIN_BASE_URL,
    MAIL_READ,
    DelegatedGrant,
    MicrosoftApp,
)
from mailtrail.providers.microsoft.refusals import aadsts_code, first_sentence

_MAIL_READ_NAME = "Mail.Read"


@dataclass(frozen=True, slots=True)
class ConnectStart:
    """Where to send the user, the state that comes back with the answer, and msal's flow to keep."""

    auth_uri: str
    state: str
    # msal's flow as JSON (PKCE verifier, nonce, state): keep it encrypted until the user comes back.
    flow: str

    def __repr__(self) -> str:
        return f"ConnectStart(state=<{len(self.state)} characters>)"


@dataclass(frozen=True, slots=True)
class ConnectedUser:
    """What connecting a user yields: the grant to store (encrypted), the address, the granted scopes."""

    grant: DelegatedGrant
    address: str
    tenant_id: str
    scopes: tuple[str, ...]

    def __repr__(self) -> str:
        return f"ConnectedUser(scopes={self.scopes!r}, address=<{len(self.address)} characters>)"


async def start_connect(
    app: MicrosoftApp,
    redirect_uri: str,
    *,
    scopes: Sequence[str] = (MAIL_READ,),
    login_hint: str | None = None,
    response_mode: str = "form_post",
) -> ConnectStart:
    """Begin connecting a user's mailbox: the consent page's address and the flow to keep."""

    def initiate() -> dict[str, Any]:
        client, session = app.build()
        try:
            flow: dict[str, Any] = client.initiate_auth_code_flow(
                list(scopes),
                redirect_uri=redirect_uri,
                login_hint=login_hint,
                response_mode=response_mode,
                # Let the person pick the account to connect rather than the one the browser is signed in
                # with (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow).
                prompt="select_account",
            )
            return flow
        finally:
            session.close()

    flow = await asyncio.to_thread(initiate)
    return ConnectStart(str(flow["auth_uri"]), str(flow["state"]), json.dumps(flow))


async def finish_connect(app: MicrosoftApp, flow: str, answer: Mapping[str, str]) -> ConnectedUser:
    """Redeem the identity platform's answer (the redirect's query, or the form it POSTed) for a grant."""
    try:
        started = json.loads(flow)
    except ValueError:
        raise ProviderError("the stored connect flow cannot be read: start connecting again") from None

    def redeem() -> tuple[dict[str, Any], list[dict[str, Any]], str]:
        client, session = app.build(msal.SerializableTokenCache())
        try:
            result: dict[str, Any] = client.acquire_token_by_auth_code_flow(started, dict(answer))
            return result, client.get_accounts(), client.token_cache.serialize()
        finally:
            session.close()

    try:
        result, accounts, cache = await asyncio.to_thread(redeem)
    except ValueError as exc:  # msal: the state does not match, or the answer holds neither code nor error
        raise ProviderError(f"the sign-in answer does not belong to this connect flow ({exc})") from None
    if "error" in result:
        code = aadsts_code(result)
        raise ProviderError(
            f"Microsoft 365 did not grant access ({result['error']}"
            f"{f', AADSTS{code}' if code else ''}: {first_sentence(result)}): connect the mailbox again"
        )
    granted = tuple(str(result.get("scope", "")).split())
    if not any(scope.rsplit("/", 1)[-1] == _MAIL_READ_NAME for scope in granted):
        raise ProviderError(
            "Microsoft 365 did not grant Mail.Read, so mailtrail could not read the mailbox: connect again "
            "and accept every permission asked for"
        )
    claims = result.get("id_token_claims") or {}
    # The user principal name: an address, and the mailbox's primary address in most tenants.
    address = str(claims.get("preferred_username") or claims.get("email") or "").lower()
    if "@" not in address or not accounts:
        raise ProviderError("Microsoft 365 did not say whose mailbox this is: connect the mailbox again")
    account = str(accounts[0]["home_account_id"])
    grant = DelegatedGrant(account, address, cache)
    return ConnectedUser(grant, address, str(claims.get("tid", "")), granted)


def admin_consent_url(
    client_id: str,
    tenant: str,
    redirect_uri: str,
    state: str,
    login_base_url: str = LOGIN_BASE_URL,
) -> str:
    """Where a tenant's administrator grants the app its application permissions for the whole tenant."""
    params = {"client_id": client_id, "scope": GRAPH_DEFAULT, "redirect_uri": redirect_uri, "state": state}
    return f"{login_base_url.rstrip('/')}/{tenant}/v2.0/adminconsent?{urlencode(params)}"
