"""Gmail ``users.watch`` push: Pub/Sub push envelopes POSTed to a subscription's endpoint, with an OIDC token.

The sandbox stands in for Pub/Sub too: a topic gets a push subscription (endpoint, audience, service
account) through ``create_subscription``. Deliveries run on one worker thread, in order, so a slow receiver
cannot block the mailbox; ``flush`` waits for them (tests). Push faults duplicate or reorder deliveries.
"""

from __future__ import annotations

import base64
import json
import queue
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from mailtrail.sandbox.faults import FaultPlan
from mailtrail.sandbox.gmail.oauth import GoogleAuth
from mailtrail.sandbox.store import Change, Mailbox, Tenant

PUSH_SERVICE_ACCOUNT = "gmail-push@sandbox-project.iam.gserviceaccount.com"
WATCH_LIFETIME = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class PushSubscription:
    """A Pub/Sub push subscription of a topic: where notifications go and how their token looks."""

    topic: str
    endpoint: str
    audience: str
    service_account: str = PUSH_SERVICE_ACCOUNT
    name: str = ""


@dataclass(frozen=True, slots=True)
class Watch:
    mailbox: str
    topic: str
    label_ids: frozenset[str]
    include: bool
    expiration: datetime
    issuer: str


_Item = tuple[PushSubscription, dict[str, Any], str]  # subscription, envelope, token issuer


@dataclass(slots=True)
class PushLog:
    """What the push worker did: envelopes sent (in send order), failures."""

    sent: list[dict[str, Any]] = field(default_factory=list)
    failed: int = 0


class GmailPush:
    """Watches per mailbox, Pub/Sub subscriptions per topic, and the delivery worker."""

    def __init__(self, tenant: Tenant, auth: GoogleAuth, faults: FaultPlan) -> None:
        self.tenant, self.auth, self.faults = tenant, auth, faults
        self.subscriptions: dict[str, PushSubscription] = {}
        self.watches: dict[str, Watch] = {}
        self.log = PushLog()
        self._lock = threading.Lock()
        # Items: a notification to send, an Event to set once everything before it was sent, None to stop.
        self._queue: queue.Queue[_Item | threading.Event | None] = queue.Queue()
        self._held: _Item | None = None
        self._worker = threading.Thread(target=self._run, name="gmail-push", daemon=True)
        self._worker.start()
        self._unsubscribe = tenant.add_listener(self._on_changes)

    def create_subscription(
        self,
        topic: str,
        endpoint: str,
        audience: str | None = None,
        service_account: str = PUSH_SERVICE_ACCOUNT,
        name: str = "",
    ) -> PushSubscription:
        """Push every notification published to ``topic`` to ``endpoint`` (audience defaults to it)."""
        name = name or topic.replace("/topics/", "/subscriptions/") + "-push"
        sub = PushSubscription(topic, endpoint, audience or endpoint, service_account, name)
        with self._lock:
            self.subscriptions[topic] = sub
        return sub

    def watch(self, mailbox: Mailbox, topic: str, label_ids: list[str], include: bool, issuer: str) -> Watch:
        """Start (or renew) the watch of ``mailbox``."""
        watch = Watch(
            mailbox.address,
            topic,
            frozenset(label_ids),
            include,
            self.tenant.clock.now() + WATCH_LIFETIME,
            issuer,
        )
        with self._lock:
            self.watches[mailbox.address] = watch
        return watch

    def stop(self, mailbox: Mailbox) -> None:
        with self._lock:
            self.watches.pop(mailbox.address, None)

    def _on_changes(self, mailbox: Mailbox, changes: list[Change]) -> None:
        with self._lock:
            watch = self.watches.get(mailbox.address)
            sub = self.subscriptions.get(watch.topic) if watch else None
        if watch is None or sub is None or watch.expiration <= self.tenant.clock.now():
            return
        if watch.label_ids:
            touched = {lb for c in changes for lb in (*c.message.labels, *c.label_ids)}
            if bool(touched & watch.label_ids) != watch.include:
                return
        data = {"emailAddress": mailbox.address, "historyId": changes[-1].history_id}
        message_id = str(secrets.randbelow(10**16))
        publish = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        envelope = {
            "message": {
                "data": base64.b64encode(json.dumps(data).encode()).decode(),
                "messageId": message_id,
                "message_id": message_id,
                "publishTime": publish,
                "publish_time": publish,
            },
            "subscription": sub.name,
        }
        fault = self.faults.take_push()
        item = (sub, envelope, watch.issuer)
        with self._lock:
            held, self._held = self._held, None
            if fault is not None and fault.kind == "reorder_push" and held is None:
                self._held = item  # sent after the next one
                return
        self._queue.put(item)
        if fault is not None and fault.kind == "duplicate_push":
            self._queue.put(item)
        if held is not None:
            self._queue.put(held)

    def flush(self, timeout: float = 5.0) -> None:
        """Send anything held back and wait until every queued notification was attempted."""
        with self._lock:
            held, self._held = self._held, None
        if held is not None:
            self._queue.put(held)
        done = threading.Event()
        self._queue.put(done)
        done.wait(timeout)

    def _run(self) -> None:
        with httpx.Client(timeout=10.0) as client:
            while True:
                item = self._queue.get()
                if item is None:
                    return
                if isinstance(item, threading.Event):
                    item.set()
                    continue
                sub, envelope, issuer = item
                token = self.auth.sign_id_token(issuer, sub.audience, sub.service_account)
                try:
                    response = client.post(
                        sub.endpoint, json=envelope, headers={"Authorization": f"Bearer {token}"}
                    )
                    ok = response.status_code < 300
                except httpx.HTTPError:
                    ok = False
                with self._lock:
                    self.log.sent.append(envelope)
                    self.log.failed += 0 if ok else 1

    def close(self) -> None:
        """Stop watching the tenant and end the delivery thread (after what is queued)."""
        self._unsubscribe()
        self._queue.put(None)
        self._worker.join(timeout=5)


def pubsub_router(push: GmailPush) -> APIRouter:
    """Sandbox stand-in for Pub/Sub's ``projects.subscriptions.create`` with a push config."""
    router = APIRouter()

    @router.put("/v1/projects/{project}/subscriptions/{name}")
    async def create(project: str, name: str, request: Request) -> JSONResponse:
        try:
            body = await request.json()
            topic = str(body["topic"])
            config = body.get("pushConfig") or {}
            endpoint = str(config["pushEndpoint"])
        except (ValueError, KeyError, TypeError, AttributeError):
            problem = "need JSON with topic and pushConfig.pushEndpoint"
            return JSONResponse(
                {"error": {"code": 400, "message": problem, "status": "INVALID_ARGUMENT"}}, 400
            )
        oidc = config.get("oidcToken") or {}
        account = oidc.get("serviceAccountEmail") or PUSH_SERVICE_ACCOUNT
        full_name = f"projects/{project}/subscriptions/{name}"
        sub = push.create_subscription(topic, endpoint, oidc.get("audience"), account, full_name)
        token = {"serviceAccountEmail": sub.service_account, "audience": sub.audience}
        return JSONResponse(
            {"name": sub.name, "topic": topic, "pushConfig": {"pushEndpoint": endpoint, "oidcToken": token}}
        )

    return router
