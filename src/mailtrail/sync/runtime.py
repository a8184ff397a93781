"""The sync machinery of one process, built once from the settings and passed down: the database, the secrets,
the shared budgets, the engine and the connectors it builds for each mailbox.

Production and the sandbox differ only in the settings (base URLs, client, keys): nothing here knows which.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from mailtrail.config import Settings
from mailtrail.db import make_engine, session_factory, transaction
from mailtrail.models import Credential, Mailbox, utcnow
from mailtrail.providers.base import AccessRevoked, Connector, ProviderError, Throttled
from mailtrail.providers.gmail.auth import GMAIL_METADATA, OAuthTokens, ServiceAccountTokens, TokenSource
from mailtrail.providers.gmail.client import GmailClient
from mailtrail.providers.gmail.connector import GmailConnector
from mailtrail.providers.gmail.retry import RetryPolicy
from mailtrail.secrets import SecretBox, SecretError
from mailtrail.sync.budget import Budgets, Limit
from mailtrail.sync.engine import SyncEngine, SyncPolicy
from mailtrail.sync.jobs import Dispatcher
from mailtrail.sync.microsoft import graph_connector
from mailtrail.sync.repository import MailboxRepository, mailboxes_for_address, request_sync

# Gmail's per-user limits by quota profile, and the per-project one
# (https://developers.google.com/workspace/gmail/api/reference/quota).
GMAIL_USER_LIMITS: dict[str, tuple[Limit, ...]] = {
    "default": (Limit(6_000, 60.0),),
    "legacy": (Limit(250, 1.0), Limit(15_000, 60.0)),
}
GMAIL_PROJECT_LIMITS = (Limit(1_200_000, 60.0),)
# Parts per Gmail batch: Google advises at most 50, and its per-user concurrency limit refuses parts of a
# batch beyond a few dozen at once (the sandbox's cap is 25); 20 stays clear of it, so no part is refused and
# charged twice.
GMAIL_BATCH = 20
# Fewer where a profile's window is short. A batch takes its units from the budget at once, and the room a
# window has left beside the batches it holds is lost while it slides: legacy's 250 units a second (242 after
# the margin) hold two batches of 20 (40 messages a second, 80% of the 50 the profile allows), but twelve of
# 4 and the 2 units of a history page (48); 4 also divides a page of 100 messages evenly.
GMAIL_BATCH_BY_QUOTA = {"legacy": 4}
# A wait for quota shorter than this is slept through; a longer one ends the sync with a back-off.
MAX_INLINE_WAIT = 65.0
# A request reaches the provider a few milliseconds after its units are taken here, some later than others:
# each spend stays in its windows this much longer, so a per-second window is not overrun at the provider by
# a request that got there faster than the one it follows a second later (the margin is units, not time).
# Without it the sandbox refused 1.6% of a legacy sync's requests (bench/sync_gmail.py); with 15 ms, none.
ARRIVAL_ALLOWANCE = 0.015

Wake = Callable[[list[int]], Awaitable[None]]


@dataclass
class Runtime:
    """What the sync jobs, the push receiver and the commands of one process share."""

    settings: Settings
    database: Engine
    sessions: sessionmaker[Session]
    box: SecretBox
    budgets: Budgets
    policy: SyncPolicy
    clock: Callable[[], datetime] = utcnow
    # Hands mailboxes that must sync now to whoever runs the jobs (the in-process runner, or procrastinate).
    wake: Wake | None = None
    # How patiently connectors retry one request (None: Google's advice, ``RetryPolicy()``); tests shorten it.
    retry: RetryPolicy | None = None
    engine: SyncEngine = field(init=False)
    dispatcher: Dispatcher = field(init=False)

    def __post_init__(self) -> None:
        self.engine = SyncEngine(self.sessions, self.connector, self.policy, self.clock, self.box)
        pushed = {
            "gmail": bool(self.settings.google_pubsub_topic),
            "microsoft": self.settings.microsoft_notifications,
        }
        self.dispatcher = Dispatcher(
            self.sessions, self.clock, push=frozenset(p for p, on in pushed.items() if on)
        )

    @classmethod
    def from_settings(
        cls, settings: Settings, database_url: str | None = None, clock: Callable[[], datetime] = utcnow
    ) -> Runtime:
        url = database_url or settings.database_url
        database = make_engine(url)
        return cls(
            settings=settings,
            database=database,
            sessions=session_factory(database),
            box=SecretBox.from_settings(settings, url),
            budgets=Budgets(session_factory(database)),
            policy=SyncPolicy(poll_seconds=settings.sync_poll_seconds),
            clock=clock,
        )

    def connector(self, session: Session, mailbox: Mailbox) -> Connector:
        """The connector of one mailbox, with its credential decrypted (``engine.ConnectorFactory``)."""
        credential = (
            MailboxRepository(session, mailbox.workspace_id).credential(mailbox.credential_id)
            if mailbox.credential_id is not None
            else None
        )
        if credential is None:
            raise AccessRevoked("mailtrail holds no access to this mailbox any more: re-authorise it")
        try:
            secret = self.box.decrypt(credential.secret)
        except SecretError as exc:
            raise ProviderError(f"mailtrail cannot read this mailbox's stored access: {exc}") from None
        if mailbox.provider == "gmail":
            return self._gmail(mailbox, credential, secret)
        if mailbox.provider == "microsoft":
            return graph_connector(
                self.settings, mailbox, credential, secret, sessions=self.sessions, box=self.box,
                spender=self.spender, retry=self.retry, clock=self.clock,
            )  # fmt: skip
        raise ProviderError(f"mailtrail has no connector for {mailbox.provider!r} mailboxes")

    async def request_sync(self, provider: str, address: str) -> list[int]:
        """Make the connected mailboxes with this address due now (a push named it); returns their ids."""
        ids = await asyncio.to_thread(self._mark_due, provider, address)
        await self.sync_now(ids)
        return ids

    async def sync_now(self, mailbox_ids: list[int]) -> None:
        """Make these mailboxes due now and hand them to whoever runs the jobs."""
        if mailbox_ids:
            await asyncio.to_thread(self._due_now, mailbox_ids)
            if self.wake is not None:
                await self.wake(mailbox_ids)

    def _mark_due(self, provider: str, address: str) -> list[int]:
        with self.sessions() as session:
            return mailboxes_for_address(session, provider, address)

    def _due_now(self, mailbox_ids: list[int]) -> None:
        with transaction(self.sessions) as session:
            request_sync(session, mailbox_ids, self.clock())

    def _gmail(self, mailbox: Mailbox, credential: Credential, secret: str) -> GmailConnector:
        settings = self.settings
        scopes = credential.scopes.split()
        tokens: TokenSource
        if credential.kind == "service_account":
            key = json.loads(secret)
            project = str(key.get("project_id") or key.get("client_email"))
            tokens = ServiceAccountTokens(
                key, mailbox.address, scopes, settings.google_token_url, retry=self.retry
            )
        else:
            secret_value = settings.google_client_secret
            client_secret = secret_value.get_secret_value() if secret_value else None
            project = settings.google_client_id
            tokens = OAuthTokens(
                settings.google_client_id, client_secret, secret, settings.google_token_url, retry=self.retry
            )
        user_limits = GMAIL_USER_LIMITS.get(settings.gmail_quota, GMAIL_USER_LIMITS["default"])
        spend = self.spender(
            {
                f"gmail:{project}:user:{mailbox.address}": user_limits,
                f"gmail:{project}": GMAIL_PROJECT_LIMITS,
            },
            what="Google's per-user quota for this mailbox",
        )
        batch_size = GMAIL_BATCH_BY_QUOTA.get(settings.gmail_quota, GMAIL_BATCH)
        client = GmailClient(
            settings.gmail_api_url, tokens, spend=spend, retry=self.retry, batch_size=batch_size
        )
        # Google applies the metadata scope's limits whenever a token holds it, whatever else it holds.
        metadata_only = GMAIL_METADATA in scopes
        return GmailConnector(client, metadata_only=metadata_only, topic=settings.google_pubsub_topic or None)

    def spender(self, budgets: dict[str, tuple[Limit, ...]], what: str) -> Callable[[int], Awaitable[None]]:
        """``spend(units)`` for a connector: waits for room in the shared budgets, throttles if too long."""
        padded = {
            key: tuple(Limit(limit.units, limit.seconds + ARRIVAL_ALLOWANCE) for limit in limits)
            for key, limits in budgets.items()
        }

        async def spend(units: int) -> None:
            while True:
                wait = await asyncio.to_thread(self.budgets.take, padded, units, self.clock())
                if wait <= 0:
                    return
                if wait > MAX_INLINE_WAIT:
                    raise Throttled(f"keeping within {what}", wait)
                await asyncio.sleep(wait)

        return spend
