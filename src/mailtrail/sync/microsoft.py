"""Microsoft 365 mailboxes in the runtime: the connector of a mailbox from its stored credential, and the
paths where Graph sends notifications and people back after connecting.

A person's grant (``oauth``) is msal's token cache: the identity platform hands out a new refresh token with
each renewal (the old one lapses), so the changed grant is stored again, encrypted, as soon as it changes.
An admin's app-only credential (``client_secret`` or ``certificate``) names its tenant and its client id.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from mailtrail.config import Settings
from mailtrail.db import transaction
from mailtrail.models import Credential, Mailbox, utcnow
from mailtrail.providers.base import ProviderError
from mailtrail.providers.gmail.retry import RetryPolicy
from mailtrail.providers.microsoft import (
    AppTokens,
    CertificateCredential,
    DelegatedTokens,
    GraphClient,
    GraphConnector,
    MicrosoftApp,
    authority_url,
)
from mailtrail.secrets import SecretBox
from mailtrail.sync.budget import Limit

NOTIFICATIONS_PATH = "/microsoft/notifications"
LIFECYCLE_PATH = "/microsoft/lifecycle"
CALLBACK_PATH = "/oauth/microsoft/callback"
# Outlook's limit per app and mailbox (https://learn.microsoft.com/graph/throttling-limits#outlook-service-limits).
GRAPH_MAILBOX_LIMITS = (Limit(10_000, 600.0),)

Spender = Callable[[dict[str, tuple[Limit, ...]], str], Callable[[int], Awaitable[None]]]


def user_app(settings: Settings) -> MicrosoftApp:
    """The deployment's app registration as people connecting their own mailbox sign in to it."""
    if not settings.microsoft_client_id:
        raise ProviderError("set MAILTRAIL_MICROSOFT_CLIENT_ID (and _SECRET) to this deployment's app")
    secret = settings.microsoft_client_secret
    return MicrosoftApp(
        settings.microsoft_client_id,
        secret.get_secret_value() if secret else "",
        authority_url(settings.microsoft_tenant, settings.microsoft_login_url),
        _ca_file(settings),
    )


def tenant_app(settings: Settings, credential: Credential, secret: str) -> MicrosoftApp:
    """An admin's app-only registration in one tenant, with its client secret or certificate."""
    if not credential.tenant:
        raise ProviderError("this Microsoft credential names no tenant: connect the mailboxes again")
    proof: str | CertificateCredential = secret
    if credential.kind == "certificate":
        pem = json.loads(secret)
        proof = CertificateCredential(pem["private_key"], pem["certificate"], pem.get("passphrase"))
    return MicrosoftApp(
        credential.subject,
        proof,
        authority_url(credential.tenant, settings.microsoft_login_url),
        _ca_file(settings),
    )


def certificate_secret(private_key: str, certificate: str) -> str:
    """The secret stored (encrypted) for a certificate credential."""
    return json.dumps({"private_key": private_key, "certificate": certificate})


def graph_connector(
    settings: Settings,
    mailbox: Mailbox,
    credential: Credential,
    secret: str,
    *,
    sessions: sessionmaker[Session],
    box: SecretBox,
    spender: Spender,
    retry: RetryPolicy | None,
    clock: Callable[[], datetime] = utcnow,
) -> GraphConnector:
    """The connector of one Microsoft 365 mailbox (``Runtime.connector`` for provider ``microsoft``)."""
    if credential.kind == "oauth":
        app, user = user_app(settings), "me"
        credential_id = credential.id

        async def save(grant: str) -> None:
            await asyncio.to_thread(_store_grant, sessions, box, credential_id, grant, clock())

        tokens: DelegatedTokens | AppTokens = DelegatedTokens(app, secret, on_change=save, retry=retry)
    else:
        app, user = tenant_app(settings, credential, secret), mailbox.address
        tokens = AppTokens(app, retry=retry)
    spend = spender(
        {f"graph:{app.client_id}:mailbox:{mailbox.address}": GRAPH_MAILBOX_LIMITS},
        "Outlook's 10,000 requests per 10 minutes for this mailbox",
    )
    client = GraphClient(
        settings.graph_api_url, tokens, spend=spend, retry=retry, user=user, ca_file=_ca_file(settings)
    )
    public = settings.public_url.rstrip("/")
    push = settings.microsoft_notifications
    return GraphConnector(
        client,
        read_basic=any(scope.endswith("Mail.ReadBasic") for scope in credential.scopes.split()),
        notification_url=public + NOTIFICATIONS_PATH if push else None,
        lifecycle_url=public + LIFECYCLE_PATH if push else None,
        clock=clock,
    )


def _store_grant(
    sessions: sessionmaker[Session], box: SecretBox, credential_id: int, grant: str, now: datetime
) -> None:
    with transaction(sessions) as session:
        credential = session.get(Credential, credential_id)
        if credential is not None:
            credential.secret, credential.updated_at = box.encrypt(grant), now


def _ca_file(settings: Settings) -> str | None:
    return str(settings.microsoft_ca_file) if settings.microsoft_ca_file else None
