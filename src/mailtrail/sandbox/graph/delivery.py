"""The sender that POSTs change and lifecycle notifications to webhooks, retrying on the sandbox clock.

From https://learn.microsoft.com/graph/change-notifications-delivery-webhooks: notifications go out with a
3-second timeout; without a 2xx answer Graph "tries to resend the change notification multiple times, for up
to 4 hours" ("Failed notifications are retried with exponential backoff"), then discards it. The intervals
are not published: the sandbox waits 1 minute, then doubles the wait, and makes a last attempt when the 4
hours are up. Retries fall due on the sandbox clock, so tests advance a ManualClock instead of waiting; with
the real clock the sender thread checks for due retries every half second. A discarded change notification
is reported by ``on_given_up`` (the hub sends the ``missed`` lifecycle notification).
"""

from __future__ import annotations

import heapq
import itertools
import json
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import httpx

from mailtrail.sandbox.clock import Clock
from mailtrail.sandbox.faults import FaultPlan

if TYPE_CHECKING:
    from mailtrail.sandbox.graph.subscriptions import Subscription

NOTIFICATION_TIMEOUT = 3.0
RETRY_FOR = timedelta(hours=4)
FIRST_RETRY = timedelta(minutes=1)


@dataclass
class Delivery:
    """One POST to a webhook; ``subscription`` is set for change notifications (a discarded one is missed)."""

    url: str
    payload: dict[str, object]
    subscription: Subscription | None = None
    attempts: int = 0
    first_attempt_at: datetime | None = None


@dataclass
class DeliveryLog:
    """What the sender did, for tests and benchmarks; ``failed`` counts notifications given up."""

    sent: int = 0
    failed: int = 0
    retried: int = 0
    missed_reported: int = 0
    errors: list[str] = field(default_factory=list)


class NotificationSender:
    """A background thread delivering notifications in order, retrying failed ones on the sandbox clock."""

    def __init__(
        self,
        clock: Clock,
        faults: FaultPlan,
        on_given_up: Callable[[Delivery], None],
        retry_for: timedelta = RETRY_FOR,
        first_retry: timedelta = FIRST_RETRY,
    ) -> None:
        self.clock, self.faults, self.on_given_up = clock, faults, on_given_up
        self.retry_for, self.first_retry = retry_for, first_retry
        self.log = DeliveryLog()
        self._queue: queue.Queue[Delivery | None] = queue.Queue()
        self._retries: list[tuple[datetime, int, Delivery]] = []
        self._seq = itertools.count()
        self._held: Delivery | None = None  # a notification held back to be sent after the next one
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        clock.on_advance(self._on_advance)

    def enqueue(self, delivery: Delivery) -> None:
        """Send ``delivery`` soon (starts the sender thread if needed)."""
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="graph-notifications", daemon=True)
                self._thread.start()
        self._queue.put(delivery)

    def release_due(self) -> int:
        """Queue every retry whose time has come; returns how many."""
        now = self.clock.now()
        due: list[Delivery] = []
        with self._lock:
            while self._retries and self._retries[0][0] <= now:
                due.append(heapq.heappop(self._retries)[2])
        for delivery in due:
            self.enqueue(delivery)
        return len(due)

    def _on_advance(self, _now: datetime) -> None:
        self.release_due()

    @property
    def pending_retries(self) -> int:
        """Notifications waiting for their next attempt."""
        with self._lock:
            return len(self._retries)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until every queued attempt was made (retries not yet due do not count)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._queue.unfinished_tasks == 0:
                return True
            time.sleep(0.01)
        return False

    def close(self) -> None:
        """Stop the sender thread; pending retries are dropped."""
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout=5)

    def _run(self) -> None:
        with httpx.Client(timeout=NOTIFICATION_TIMEOUT) as client:
            while True:
                try:
                    delivery = self._queue.get(timeout=0.5)
                except queue.Empty:
                    self.release_due()  # a real clock is never advanced by hand
                    continue
                try:
                    if delivery is None:
                        return
                    if delivery.attempts == 0:
                        self._send_with_faults(client, delivery)
                    else:
                        self._attempt(client, delivery)
                finally:
                    self._queue.task_done()

    def _send_with_faults(self, client: httpx.Client, delivery: Delivery) -> None:
        fault = self.faults.take_push()
        if fault is not None and fault.kind == "reorder_push" and self._held is None:
            self._held = delivery  # goes out right after the next notification
            return
        self._attempt(client, delivery)
        if fault is not None and fault.kind == "duplicate_push":
            self._attempt(client, Delivery(delivery.url, delivery.payload, delivery.subscription))
        if self._held is not None and self._held is not delivery:
            held, self._held = self._held, None
            self._attempt(client, held)

    def _attempt(self, client: httpx.Client, delivery: Delivery) -> None:
        now = self.clock.now()
        if delivery.first_attempt_at is None:
            delivery.first_attempt_at = now
        else:
            self.log.retried += 1
        delivery.attempts += 1
        body = json.dumps(delivery.payload).encode()
        try:
            response = client.post(
                delivery.url, content=body, headers={"Content-Type": "application/json; charset=utf-8"}
            )
            if 200 <= response.status_code < 300:
                self.log.sent += 1
                return
            self.log.errors.append(f"{delivery.url}: HTTP {response.status_code}")
        except httpx.HTTPError as error:
            self.log.errors.append(f"{delivery.url}: {type(error).__name__}")
        give_up_at = delivery.first_attempt_at + self.retry_for
        if now >= give_up_at:
            self.log.failed += 1
            self.on_given_up(delivery)
            return
        wait = self.first_retry * (2 ** (delivery.attempts - 1))
        with self._lock:
            heapq.heappush(self._retries, (min(now + wait, give_up_at), next(self._seq), delivery))
