"""Change-notification subscriptions on messages: which change notifies whom (the sender is ``delivery.py``).

Behaviour from learn.microsoft.com/graph/change-notifications-delivery-webhooks and .../subscription:
creating or renewing a subscription POSTs ``?validationToken=...`` to each URL, which must answer 200 with
the token as text/plain within 10 seconds; Outlook message subscriptions live at most 10,080 minutes (under
7 days) and at least 45 minutes; each notification carries ``clientState``; lifecycle notifications
(``reauthorizationRequired``, ``subscriptionRemoved``, ``missed``) go to ``lifecycleNotificationUrl``.

A move "creates a new copy of the message in the destination folder and removes the original message"
(https://learn.microsoft.com/graph/api/message-move): a subscription on the old folder sees ``deleted``, one
on the new folder ``created``, and one on the whole mailbox both, the ``deleted`` one naming the id the
message had before the move.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from mailtrail.sandbox.clock import Clock
from mailtrail.sandbox.faults import FaultPlan
from mailtrail.sandbox.graph.delivery import Delivery, DeliveryLog, NotificationSender
from mailtrail.sandbox.graph.ids import IdKind, message_graph_id
from mailtrail.sandbox.graph.shapes import etag, graph_time
from mailtrail.sandbox.store import Change, Mailbox, Tenant

MAX_MESSAGE_SUBSCRIPTION = timedelta(minutes=10_080)
# "Any value under 45 minutes after the time of the request is automatically set to 45 minutes after the
# request time." (expirationDateTime, https://learn.microsoft.com/graph/api/resources/subscription#properties)
MIN_SUBSCRIPTION = timedelta(minutes=45)
VALIDATION_TIMEOUT = 10.0
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


class SubscriptionHub:
    """Active subscriptions of one emulator; their notifications go out through a NotificationSender."""

    def __init__(self, tenant: Tenant, clock: Clock, tenant_id: str, faults: FaultPlan) -> None:
        self.tenant, self.clock, self.tenant_id, self.faults = tenant, clock, tenant_id, faults
        # Graph waits 10 s for the handshake answer; tests shorten it to check the timeout without waiting.
        self.validation_timeout = VALIDATION_TIMEOUT
        self.sender = NotificationSender(clock, faults, self._given_up)
        self._subs: dict[str, Subscription] = {}
        self._lock = threading.Lock()
        self._folders: dict[tuple[str, str], str] = {}  # last folder seen per message (moves)
        self._remove_listener = tenant.add_listener(self._on_changes)
        clock.on_advance(lambda _now: self.check_lifecycle())

    @property
    def log(self) -> DeliveryLog:
        """What the sender did (sent, retried, given up, missed reported, errors)."""
        return self.sender.log

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
        self.sender.enqueue(Delivery(sub.lifecycle_url, {"value": [item]}))

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
        for sub in subs:
            items = []
            for msg_id, (change, now_in) in after.items():
                was_in = before[msg_id]
                if was_in is None and change.kind != "messageAdded":
                    was_in = now_in  # first change seen of an older message: assume it stayed put
                for kind in _change_types(sub.folder_id, was_in, now_in, change.kind):
                    if kind in sub.change_types:
                        folder = was_in if kind == "deleted" and was_in is not None else now_in
                        items.append(
                            self._notification(sub, change, kind, folder or change.message.folder_id)
                        )
            if items:
                self.sender.enqueue(Delivery(sub.notification_url, {"value": items}, sub))

    def _notification(
        self, sub: Subscription, change: Change, kind: str, folder_id: str
    ) -> dict[str, object]:
        msg = change.message
        # A default id names a folder: a "deleted" notification names the message as it was in the old one.
        graph_id = message_graph_id(msg.mailbox, msg.id, folder_id, sub.id_kind)
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

    # ---- sending -----------------------------------------------------------------------------------------
    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until every queued notification was attempted (tests call this before asserting)."""
        return self.sender.wait_idle(timeout)

    def close(self) -> None:
        """Stop the sender thread and stop listening to the tenant."""
        self._remove_listener()
        self.sender.close()

    def _given_up(self, delivery: Delivery) -> None:
        """After 4 hours of failed attempts: tell the owner of the subscription it missed notifications."""
        sub = delivery.subscription
        if sub is not None and sub.lifecycle_url is not None and self.get(sub.id) is not None:
            self.log.missed_reported += 1
            self.lifecycle(sub.id, "missed")


def _change_types(watched: str | None, was_in: str | None, now_in: str | None, kind: str) -> list[str]:
    """The changeTypes a subscription on folder ``watched`` (None: whole mailbox) sees for one message."""
    if watched is None:
        if kind == "messageAdded":
            return ["created"]
        if kind == "messageDeleted":
            return ["deleted"]
        return ["deleted", "created"] if was_in != now_in else ["updated"]  # a move: copy, then delete
    inside_before, inside_now = was_in == watched, now_in == watched
    if inside_now and not inside_before:
        return ["created"]
    if inside_before and not inside_now:
        return ["deleted"]
    return ["updated"] if inside_now else []
