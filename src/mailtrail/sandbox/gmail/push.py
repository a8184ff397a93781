"""Gmail ``users.watch`` push: Pub/Sub push envelopes POSTed to a subscription's endpoint, with an OIDC token.

The sandbox stands in for Pub/Sub too: a topic gets a push subscription (endpoint, audience, service
account, retry policy) through ``create_subscription`` or the Pub/Sub-shaped PUT route. What it copies:

- Gmail sends at most one notification per second per watched mailbox and drops the rest ("Each Gmail user
  being watched has a maximum notification rate of 1 event/sec. Any user notifications above that rate will
  be dropped.", https://developers.google.com/gmail/api/guides/push#limitations). The next notification
  carries the latest historyId, so a client that syncs from history loses nothing.
- Pub/Sub resends a push the endpoint did not acknowledge with a success status ("A non-success response
  indicates that Pub/Sub must resend the messages", https://cloud.google.com/pubsub/docs/push), waiting
  longer each time between the subscription's retry policy bounds ("Retry delay will be exponential based on
  provided minimum and maximum backoffs", minimumBackoff default 10 s, maximumBackoff default 600 s:
  https://cloud.google.com/python/docs/reference/pubsub/2.13.9/google.cloud.pubsub_v1.types.RetryPolicy),
  until the message is older than the default retention of 7 days
  (https://docs.cloud.google.com/pubsub/docs/subscription-properties). The waits run on the tenant clock, so a
  test advances a ManualClock instead of sleeping.
- Each push carries a Google-signed OIDC token for the subscription's audience (``signing``).

Deliveries run on one worker thread, so a slow receiver cannot block the mailbox; ``flush`` waits until
nothing is due. Push faults duplicate or reorder deliveries.
"""

from __future__ import annotations

import base64
import heapq
import itertools
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from mailtrail.sandbox.faults import FaultPlan
from mailtrail.sandbox.gmail.oauth import GoogleAuth
from mailtrail.sandbox.store import Change, Mailbox, Tenant

PUSH_SERVICE_ACCOUNT = "gmail-push@sandbox-project.iam.gserviceaccount.com"
WATCH_LIFETIME = timedelta(days=7)
NOTIFICATION_INTERVAL = timedelta(seconds=1)
DEFAULT_MINIMUM_BACKOFF = timedelta(seconds=10)
DEFAULT_MAXIMUM_BACKOFF = timedelta(seconds=600)
MESSAGE_RETENTION = timedelta(days=7)
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)s$")


@dataclass(frozen=True, slots=True)
class PushSubscription:
    """A Pub/Sub push subscription of a topic: where notifications go, their token, how failures retry."""

    topic: str
    endpoint: str
    audience: str
    service_account: str = PUSH_SERVICE_ACCOUNT
    name: str = ""
    minimum_backoff: timedelta = DEFAULT_MINIMUM_BACKOFF
    maximum_backoff: timedelta = DEFAULT_MAXIMUM_BACKOFF

    def backoff(self, attempts: int) -> timedelta:
        """The wait before the next delivery after ``attempts`` failed ones (doubling, within the bounds)."""
        wait: timedelta = self.minimum_backoff * 2 ** max(0, attempts - 1)
        return min(wait, self.maximum_backoff)


@dataclass(frozen=True, slots=True)
class Watch:
    mailbox: str
    topic: str
    label_ids: frozenset[str]
    include: bool
    expiration: datetime


@dataclass(order=True)
class _Delivery:
    due: datetime
    seq: int
    sub: PushSubscription = field(compare=False)
    envelope: dict[str, Any] = field(compare=False)
    published: datetime = field(compare=False)
    attempts: int = field(default=0, compare=False)


@dataclass(slots=True)
class PushLog:
    """What push did: envelopes sent (every attempt, in send order), failed attempts, redeliveries, drops."""

    sent: list[dict[str, Any]] = field(default_factory=list)
    failed: int = 0
    redelivered: int = 0
    dropped: int = 0  # notifications over the one-per-second rate of a mailbox


class GmailPush:
    """Watches per mailbox, Pub/Sub subscriptions per topic, and the delivery worker."""

    def __init__(self, tenant: Tenant, auth: GoogleAuth, faults: FaultPlan) -> None:
        self.tenant, self.auth, self.faults = tenant, auth, faults
        self.clock = tenant.clock
        self.subscriptions: dict[str, PushSubscription] = {}
        self.watches: dict[str, Watch] = {}
        self.log = PushLog()
        self._cond = threading.Condition()
        self._pending: list[_Delivery] = []  # a heap by (due, seq)
        self._seq = itertools.count()
        self._sending = 0
        self._stopping = False
        self._held: _Delivery | None = None
        self._last_notified: dict[str, datetime] = {}
        self.clock.on_advance(self._wake)  # a ManualClock moving on can make a retry due
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
        minimum_backoff: timedelta = DEFAULT_MINIMUM_BACKOFF,
        maximum_backoff: timedelta = DEFAULT_MAXIMUM_BACKOFF,
    ) -> PushSubscription:
        """Push every notification published to ``topic`` to ``endpoint`` (audience defaults to it)."""
        name = name or topic.replace("/topics/", "/subscriptions/") + "-push"
        sub = PushSubscription(
            topic, endpoint, audience or endpoint, service_account, name, minimum_backoff, maximum_backoff
        )
        with self._cond:
            self.subscriptions[topic] = sub
        return sub

    def watch(self, mailbox: Mailbox, topic: str, label_ids: list[str], include: bool) -> Watch:
        """Start (or renew) the watch of ``mailbox``."""
        expiration = self.clock.now() + WATCH_LIFETIME
        watch = Watch(mailbox.address, topic, frozenset(label_ids), include, expiration)
        with self._cond:
            self.watches[mailbox.address] = watch
        return watch

    def stop(self, mailbox: Mailbox) -> None:
        """End the watch of ``mailbox`` (users.stop)."""
        with self._cond:
            self.watches.pop(mailbox.address, None)

    def _on_changes(self, mailbox: Mailbox, changes: list[Change]) -> None:
        now = self.clock.now()
        with self._cond:
            watch = self.watches.get(mailbox.address)
            sub = self.subscriptions.get(watch.topic) if watch else None
        if watch is None or sub is None or watch.expiration <= now:
            return
        if watch.label_ids:
            touched = {lb for c in changes for lb in (*c.message.labels, *c.label_ids)}
            if bool(touched & watch.label_ids) != watch.include:
                return
        with self._cond:
            last = self._last_notified.get(mailbox.address)
            if last is not None and now - last < NOTIFICATION_INTERVAL:
                self.log.dropped += 1
                return
            self._last_notified[mailbox.address] = now
        data = {"emailAddress": mailbox.address, "historyId": changes[-1].history_id}
        message_id = str(secrets.randbelow(10**16))
        publish = now.isoformat(timespec="milliseconds").replace("+00:00", "Z")
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
        self._publish(sub, envelope, now)

    def _publish(self, sub: PushSubscription, envelope: dict[str, Any], now: datetime) -> None:
        fault = self.faults.take_push()
        with self._cond:
            item = _Delivery(now, next(self._seq), sub, envelope, now)
            held, self._held = self._held, None
            if fault is not None and fault.kind == "reorder_push" and held is None:
                self._held = item  # sent after the next one
                return
            self._schedule(item)
            if fault is not None and fault.kind == "duplicate_push":
                self._schedule(_Delivery(now, next(self._seq), sub, envelope, now))
            if held is not None:
                held.due, held.seq = now, next(self._seq)
                self._schedule(held)

    def _schedule(self, item: _Delivery) -> None:
        """Queue a delivery (lock held)."""
        heapq.heappush(self._pending, item)
        self._cond.notify_all()

    def _wake(self, _now: datetime) -> None:
        with self._cond:
            self._cond.notify_all()

    def _due(self) -> bool:
        return bool(self._pending) and self._pending[0].due <= self.clock.now()

    def flush(self, timeout: float = 5.0) -> None:
        """Send anything held back and wait until no delivery is due now (retries later on the clock wait)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            if self._held is not None:
                held, self._held = self._held, None
                held.due = self.clock.now()
                self._schedule(held)
            while (self._due() or self._sending) and (left := deadline - time.monotonic()) > 0:
                self._cond.wait(left)

    def _next(self) -> _Delivery | None:
        """The next due delivery, waiting for one; None once stopping (lock held)."""
        while not self._stopping:
            if self._due():
                self._sending += 1
                return heapq.heappop(self._pending)
            wait = None  # nothing queued: wait for a publish
            if self._pending:  # a retry later: a real clock passes it by itself, a manual one wakes us
                wait = min(max((self._pending[0].due - self.clock.now()).total_seconds(), 0.01), 0.5)
            self._cond.wait(wait)
        return None

    def _run(self) -> None:
        with httpx.Client(timeout=10.0) as client:
            while True:
                with self._cond:
                    item = self._next()
                if item is None:
                    return
                token = self.auth.sign_id_token(item.sub.audience, item.sub.service_account)
                try:
                    response = client.post(
                        item.sub.endpoint, json=item.envelope, headers={"Authorization": f"Bearer {token}"}
                    )
                    ok = 200 <= response.status_code < 300
                except httpx.HTTPError:
                    ok = False
                with self._cond:
                    self._sending -= 1
                    self.log.sent.append(item.envelope)
                    self.log.redelivered += 1 if item.attempts else 0
                    item.attempts += 1
                    now = self.clock.now()
                    if not ok:
                        self.log.failed += 1
                        if now - item.published < MESSAGE_RETENTION:
                            item.due, item.seq = now + item.sub.backoff(item.attempts), next(self._seq)
                            heapq.heappush(self._pending, item)
                    self._cond.notify_all()

    def close(self) -> None:
        """Stop watching the tenant and end the delivery thread (what is due is abandoned)."""
        self._unsubscribe()
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._worker.join(timeout=5)


def _duration(value: object, default: timedelta) -> timedelta:
    """A protobuf Duration in JSON ("10s", "0.5s"); ValueError for anything else."""
    if value is None:
        return default
    match = _DURATION.match(str(value))
    if match is None:
        raise ValueError(f"invalid duration {value!r} (expected e.g. '10s')")
    return timedelta(seconds=float(match[1]))


def pubsub_router(push: GmailPush) -> APIRouter:
    """Sandbox stand-in for Pub/Sub's ``projects.subscriptions.create`` with a push config."""
    router = APIRouter()

    @router.put("/v1/projects/{project}/subscriptions/{name}")
    async def create(project: str, name: str, request: Request) -> JSONResponse:
        """Create a push subscription: topic, pushConfig (endpoint, oidcToken), optional retryPolicy."""
        try:
            body = await request.json()
            topic = str(body["topic"])
            config = body.get("pushConfig") or {}
            endpoint = str(config["pushEndpoint"])
            retry = body.get("retryPolicy") or {}
            minimum = _duration(retry.get("minimumBackoff"), DEFAULT_MINIMUM_BACKOFF)
            maximum = _duration(retry.get("maximumBackoff"), DEFAULT_MAXIMUM_BACKOFF)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            problem = f"need JSON with topic and pushConfig.pushEndpoint ({exc})"
            return JSONResponse(
                {"error": {"code": 400, "message": problem, "status": "INVALID_ARGUMENT"}}, 400
            )
        oidc = config.get("oidcToken") or {}
        account = oidc.get("serviceAccountEmail") or PUSH_SERVICE_ACCOUNT
        full_name = f"projects/{project}/subscriptions/{name}"
        sub = push.create_subscription(
            topic, endpoint, oidc.get("audience"), account, full_name, minimum, maximum
        )
        token = {"serviceAccountEmail": sub.service_account, "audience": sub.audience}
        policy = {
            "minimumBackoff": f"{sub.minimum_backoff.total_seconds():g}s",
            "maximumBackoff": f"{sub.maximum_backoff.total_seconds():g}s",
        }
        return JSONResponse(
            {
                "name": sub.name,
                "topic": topic,
                "pushConfig": {"pushEndpoint": endpoint, "oidcToken": token},
                "retryPolicy": policy,
            }
        )

    return router
