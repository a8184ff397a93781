"""Change-notification subscriptions on messages, and the sender that POSTs notifications to webhooks.

Behaviour from learn.microsoft.com/graph/change-notifications-delivery-webhooks and .../subscription:
creating or renewing a subscription POSTs ``?validationToken=...`` to each URL, which must answer 200 with
the token as text/plain within 10 seconds; Outlook message subscriptions live at most 10,080 minutes (under
7 days); each notification carries ``clientState``; lifecycle notifications (``reauthorizationRequired``,
``subscriptionRemoved``, ``missed``) go to ``lifecycleNotificationUrl``. A message moved out of a folder a
subscription watches is ``deleted`` there and ``created`` in the folder it moved to.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

import httpx

from mailtrail.sandbox.clock import Clock
from mailtrail.sandbox.faults import FaultPlan
from mailtrail.sandbox.graph.ids import IdKind, message_graph_id
from mailtrail.sandbox.graph.shapes import etag, graph_time
from mailtrail.sandbox.store import Change, Mailbox, Tenant

MAX_MESSAGE_SUBSCRIPTION = timedelta(minutes=10_080)
VALIDATION_TIMEOUT = 10.0
NOTIFICATION_TIMEOUT = 3.0
LifecycleEvent = Literal["reauthorizationRequired", "subscriptionRemoved", "missed"]
CHANGE_TYPES = frozenset({"created", "updated", "deleted"})


@dataclass
class Subscription:
    """One subscription; ``folder_id`` None watches the whole mailbox."""

    id: str
    app_id: str
    mailbox: str
    user_object_id: str
    folder_id: str | None
    resource: str
    change_types: frozenset[str]
    notification_url: str
    lifecycle_url: str | None
    client_state: str | None
    expiration: datetime
    id_kind: IdKind
    token_expires_at: float
    reauthorization_sent: bool = False

    def json(self) -> dict[str, object]:
        """The ``subscription`` resource as Graph returns it."""
        return {
            "id": self.id,
            "resource": self.resource,
            "applicationId": self.app_id,
            "changeType": ",".join(sorted(self.change_types, key=["created", "updated", "deleted"].index)),
            "clientState": self.client_state,
            "notificationUrl": self.notification_url,
            "notificationQueryOptions": None,
            "lifecycleNotificationUrl": self.lifecycle_url,
            "expirationDateTime": self.expiration.strftime("%Y-%m-%dT%H:%M:%S.0000000Z"),
            "creatorId": self.user_object_id,
            "includeResourceData": False,
            "latestSupportedTlsVersion": "v1_2",
            "encryptionCertificate": None,
            "encryptionCertificateId": None,
            "notificationUrlAppId": None,
        }


@dataclass
class _Delivery:
    url: str
    payload: dict[str, object]
    subscription: Subscription | None  # set for change notifications (a failure then becomes "missed")


@dataclass
class DeliveryLog:
    """What the sender did, for tests and benchmarks."""

    sent: int = 0
    failed: int = 0
    missed_reported: int = 0
    errors: list[str] = field(default_factory=list)


class SubscriptionHub:
    """Active subscriptions of one emulator and the background thread that delivers their notifications."""

    def __init__(
        self, tenant: Tenant, clock: Clock, tenant_id: str, faults: FaultPlan, retries: int = 3
    ) -> None:
        self.tenant, self.clock, self.tenant_id, self.faults = tenant, clock, tenant_id, faults
        self.retries = retries
        # Graph waits 10 s for the handshake answer; tests shorten it to check the timeout without waiting.
        self.validation_timeout = VALIDATION_TIMEOUT
        self.log = DeliveryLog()
        self._subs: dict[str, Subscription] = {}
        self._lock = threading.Lock()
        self._folders: dict[tuple[str, str], str] = {}  # last folder seen per message (moves)
        self._queue: queue.Queue[_Delivery | None] = queue.Queue()
        self._held: _Delivery | None = None  # a notification held back to be sent after the next one
        self._thread: threading.Thread | None = None
        self._remove_listener = tenant.add_listener(self._on_changes)
        clock.on_advance(lambda _now: self.check_lifecycle())

    # ---- registry --------------------------------------------------------------------------------------
    def add(self, sub: Subscription) -> None:
        """Start delivering for ``sub``; remembers where each message of its mailbox is, to see moves."""
        placed = {(m.mailbox, m.id): m.folder_id for m in self.tenant.mailbox(sub.mailbox).messages()}
        with self._lock:
            for key, folder_id in placed.items():
                self._folders.setdefault(key, folder_id)
            self._subs[sub.id] = sub

    def get(self, sub_id: str) -> Subscription | None:
        self._expire()
        with self._lock:
            return self._subs.get(sub_id)

    def active(self, app_id: str | None = None) -> list[Subscription]:
        """The subscriptions not yet expired (of one app when ``app_id`` is given)."""
        self._expire()
        with self._lock:
            return [s for s in self._subs.values() if app_id is None or s.app_id == app_id]

    def remove(self, sub_id: str) -> Subscription | None:
        with self._lock:
            return self._subs.pop(sub_id, None)

    def _expire(self) -> None:
        now = self.clock.now()
        with self._lock:
            for sub_id in [s.id for s in self._subs.values() if s.expiration <= now]:
                del self._subs[sub_id]

    # ---- lifecycle -------------------------------------------------------------------------------------
    def lifecycle(self, sub_id: str, event: LifecycleEvent) -> None:
        """Send a lifecycle notification now (``subscriptionRemoved`` also removes the subscription)."""
        sub = self.remove(sub_id) if event == "subscriptionRemoved" else self.get(sub_id)
        if sub is None:
            raise KeyError(sub_id)
        if sub.lifecycle_url is None:
            return
        item: dict[str, object] = {
            "subscriptionId": sub.id,
            "subscriptionExpirationDateTime": graph_time(sub.expiration),
            "tenantId": self.tenant_id,
            "clientState": sub.client_state,
            "lifecycleEvent": event,
        }
        if event == "missed":
            item["resource"] = sub.resource
        self._enqueue(_Delivery(sub.lifecycle_url, {"value": [item]}, None))

    def check_lifecycle(self) -> None:
        """Ask for reauthorization once the token that created (or reauthorized) a subscription expired."""
        now = self.clock.seconds()
        for sub in self.active():
            if not sub.reauthorization_sent and now >= sub.token_expires_at:
                sub.reauthorization_sent = True
                self.lifecycle(sub.id, "reauthorizationRequired")

    # ---- change notifications --------------------------------------------------------------------------
    def _on_changes(self, box: Mailbox, changes: list[Change]) -> None:
        before: dict[str, str | None] = {}
        after: dict[str, tuple[Change, str | None]] = {}
        with self._lock:
            for change in changes:
                key = (box.address, change.message.id)
                if change.message.id not in before:
                    before[change.message.id] = (
                        None if change.kind == "messageAdded" else self._folders.get(key)
                    )
                gone = change.kind == "messageDeleted"
                after[change.message.id] = (change, None if gone else change.message.folder_id)
                if gone:
                    self._folders.pop(key, None)
                else:
                    self._folders[key] = change.message.folder_id
        subs = [s for s in self.active() if s.mailbox == box.address]
        if not subs:
            return
        for sub in subs:
            items = []
            for msg_id, (change, now_in) in after.items():
                was_in = before[msg_id]
                if was_in is None and change.kind != "messageAdded":
                    was_in = now_in  # first change seen of an older message: assume it stayed put
                kind = _change_type(sub.folder_id, was_in, now_in, change.kind)
                if kind is not None and kind in sub.change_types:
                    items.append(self._notification(sub, change, kind))
            if items:
                self._enqueue(_Delivery(sub.notification_url, {"value": items}, sub))

    def _notification(self, sub: Subscription, change: Change, kind: str) -> dict[str, object]:
        msg = change.message
        graph_id = message_graph_id(msg.mailbox, msg.id, msg.folder_id, sub.id_kind)
        resource = f"Users/{sub.user_object_id}/Messages/{graph_id}"
        return {
            "subscriptionId": sub.id,
            "subscriptionExpirationDateTime": graph_time(sub.expiration),
            "changeType": kind,
            "resource": resource,
            "resourceData": {
                "@odata.type": "#Microsoft.Graph.Message",
                "@odata.id": resource,
                "@odata.etag": etag(msg),
                "id": graph_id,
            },
            "clientState": sub.client_state,
            "tenantId": self.tenant_id,
        }

    # ---- sending ---------------------------------------------------------------------------------------
    def _enqueue(self, delivery: _Delivery) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="graph-notifications", daemon=True)
                self._thread.start()
        self._queue.put(delivery)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until every queued notification was attempted (tests call this before asserting)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._queue.unfinished_tasks == 0:
                return True
            time.sleep(0.01)
        return False

    def close(self) -> None:
        """Stop the sender thread and stop listening to the tenant."""
        self._remove_listener()
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout=5)

    def _run(self) -> None:
        with httpx.Client(timeout=NOTIFICATION_TIMEOUT) as client:
            while True:
                delivery = self._queue.get()
                try:
                    if delivery is None:
                        return
                    self._send_with_faults(client, delivery)
                finally:
                    self._queue.task_done()

    def _send_with_faults(self, client: httpx.Client, delivery: _Delivery) -> None:
        fault = self.faults.take_push()
        if fault is not None and fault.kind == "reorder_push" and self._held is None:
            self._held = delivery  # goes out right after the next notification
            return
        self._send(client, delivery)
        if fault is not None and fault.kind == "duplicate_push":
            self._send(client, delivery)
        if self._held is not None and self._held is not delivery:
            held, self._held = self._held, None
            self._send(client, held)

    def _send(self, client: httpx.Client, delivery: _Delivery) -> None:
        body = json.dumps(delivery.payload).encode()
        headers = {"Content-Type": "application/json; charset=utf-8"}
        for attempt in range(self.retries):
            try:
                response = client.post(delivery.url, content=body, headers=headers)
                if 200 <= response.status_code < 300:
                    self.log.sent += 1
                    return
                self.log.errors.append(f"{delivery.url}: HTTP {response.status_code}")
            except httpx.HTTPError as error:
                self.log.errors.append(f"{delivery.url}: {type(error).__name__}")
            time.sleep(0.05 * (attempt + 1))  # a short backoff; Graph retries for hours, tests cannot
        self.log.failed += 1
        sub = delivery.subscription
        if sub is not None and sub.lifecycle_url is not None and self.get(sub.id) is not None:
            self.log.missed_reported += 1
            self.lifecycle(sub.id, "missed")


def _change_type(watched: str | None, was_in: str | None, now_in: str | None, kind: str) -> str | None:
    """The changeType a subscription on folder ``watched`` (None: whole mailbox) sees for one message."""
    if watched is None:
        if kind == "messageAdded":
            return "created"
        return "deleted" if kind == "messageDeleted" else "updated"
    inside_before, inside_now = was_in == watched, now_in == watched
    if inside_now and not inside_before:
        return "created"
    if inside_before and not inside_now:
        return "deleted"
    return "updated" if inside_now else None
