"""Everything one Graph emulator holds besides the tenant store: identity, quotas, faults, delta, policies."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from fastapi import Request

from mailtrail.sandbox.faults import FaultPlan
from mailtrail.sandbox.graph.access import AccessPolicies, MailboxAccess, mailbox_access
from mailtrail.sandbox.graph.delta import DeltaTracker
from mailtrail.sandbox.graph.identity import IdentityPlatform
from mailtrail.sandbox.graph.subscriptions import SubscriptionHub
from mailtrail.sandbox.quota import QuotaLimiter
from mailtrail.sandbox.store import Change, Mailbox, StoredMessage, Tenant


@dataclass
class GraphSandbox:
    """The emulator's state; ``app.state.sandbox`` in the FastAPI app, for tests and the CLI."""

    tenant: Tenant
    identity: IdentityPlatform
    limiter: QuotaLimiter
    faults: FaultPlan
    delta: DeltaTracker
    hub: SubscriptionHub
    policies: AccessPolicies = field(default_factory=AccessPolicies)
    _last_modified: dict[tuple[str, str], datetime] = field(default_factory=dict)
    # Messages created through POST .../messages outside Drafts: Exchange keeps them drafts (isDraft true)
    # wherever they are filed, while the store only knows drafts by the DRAFT label (the Drafts folder).
    _drafts: set[tuple[str, str]] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.tenant.add_listener(self._remember_change)

    @property
    def tenant_id(self) -> str:
        return self.identity.tenant_id

    def _remember_change(self, box: Mailbox, changes: list[Change]) -> None:
        with self._lock:
            for change in changes:
                key = (box.address, change.message.id)
                self._last_modified[key] = change.at
                if change.kind == "messageDeleted":
                    self._drafts.discard(key)

    def last_modified(self, mailbox: str, message_id: str) -> datetime | None:
        """When the message last changed (None: never since it was stored)."""
        with self._lock:
            return self._last_modified.get((mailbox, message_id))

    def mark_draft(self, msg: StoredMessage) -> None:
        """Remember that Graph created ``msg`` as a draft although it is filed outside Drafts."""
        with self._lock:
            self._drafts.add((msg.mailbox, msg.id))

    def is_draft(self, msg: StoredMessage) -> bool:
        """Graph's isDraft: in Drafts, or created through the API and never sent."""
        with self._lock:
            return msg.is_draft or (msg.mailbox, msg.id) in self._drafts

    def mailbox_access(self, request: Request, user: str) -> Iterator[MailboxAccess]:
        """FastAPI dependency: authenticate the bearer token and authorise it on the mailbox."""
        grant = self.identity.verify(request.headers.get("authorization"))
        # Quotas are taken by the QuotaMiddleware around the app, so that slow faults hold their slot.
        yield mailbox_access(self.identity, self.tenant, grant, user, self.policies)
