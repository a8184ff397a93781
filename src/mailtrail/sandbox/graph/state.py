"""Everything one Graph emulator holds besides the tenant store: identity, quotas, faults, delta, clocks."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from fastapi import Request

from mailtrail.sandbox.faults import FaultPlan
from mailtrail.sandbox.graph.access import MailboxAccess, resolve_mailbox
from mailtrail.sandbox.graph.delta import DeltaTracker
from mailtrail.sandbox.graph.identity import IdentityPlatform
from mailtrail.sandbox.graph.subscriptions import SubscriptionHub
from mailtrail.sandbox.quota import QuotaLimiter
from mailtrail.sandbox.store import Change, Mailbox, Tenant


@dataclass
class GraphSandbox:
    """The emulator's state; ``app.state.graph`` in the FastAPI app, for tests and the CLI."""

    tenant: Tenant
    identity: IdentityPlatform
    limiter: QuotaLimiter
    faults: FaultPlan
    delta: DeltaTracker
    hub: SubscriptionHub
    _last_modified: dict[tuple[str, str], datetime] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.tenant.add_listener(self._remember_change)

    @property
    def tenant_id(self) -> str:
        return self.identity.tenant_id

    def _remember_change(self, box: Mailbox, changes: list[Change]) -> None:
        with self._lock:
            for change in changes:
                self._last_modified[(box.address, change.message.id)] = change.at

    def last_modified(self, mailbox: str, message_id: str) -> datetime | None:
        """When the message last changed (None: never since it was stored)."""
        with self._lock:
            return self._last_modified.get((mailbox, message_id))

    def mailbox_access(self, request: Request, user: str) -> Iterator[MailboxAccess]:
        """FastAPI dependency: authenticate the bearer token and authorise it on the mailbox."""
        grant = self.identity.verify(request.headers.get("authorization"))
        box = resolve_mailbox(self.identity, self.tenant, grant, user)
        # Quotas are taken by the QuotaMiddleware around the app, so that slow faults hold their slot.
        yield MailboxAccess(grant, box)
