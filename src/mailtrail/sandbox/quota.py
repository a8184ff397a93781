"""Rate and concurrency limits like the providers', with counters that tests and benchmarks read.

Limits are sliding windows over the sandbox clock (so tests advance a ManualClock instead of sleeping). A
rejected request consumes nothing. Each app maps ``QuotaExceeded`` to its own error body; the limiter itself
knows nothing about HTTP, so the Gmail and Graph apps share it with their own policies and per-method costs.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from mailtrail.sandbox.clock import Clock


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most ``units`` quota units in any ``window`` seconds; ``reason`` names the limit in errors.

    ``name`` is the limit as the provider's own error text names it (Google: "Queries per minute per user").
    """

    units: int
    window: float
    reason: str
    name: str = ""


@dataclass(frozen=True, slots=True)
class QuotaPolicy:
    """The limits of one API: per key (a user or mailbox), shared by all keys (a project), concurrency."""

    per_key: tuple[RateLimit, ...] = ()
    shared: tuple[RateLimit, ...] = ()
    max_concurrent: int | None = None
    concurrent_reason: str = "concurrentLimitExceeded"
    enabled: bool = True

    def disabled(self) -> QuotaPolicy:
        """The same policy, switched off (counters still count)."""
        return replace(self, enabled=False)


# Gmail's per-method costs: https://developers.google.com/gmail/api/reference/quota (watch and stop as listed
# there before; the 2026 page was only seen cut short by search). A localized copy of the 2026 page
# (developers.google.cn/workspace/gmail/api/reference/quota?hl=lt) lists messages.get,
# messages.attachments.get, drafts.get and messages.trash at 20 units; kept at 5 here until the English page
# confirms it.
GMAIL_METHOD_COSTS: dict[str, int] = {
    "drafts.create": 10,
    "getProfile": 1,
    "labels.list": 1,
    "labels.get": 1,
    "messages.list": 5,
    "messages.get": 5,
    "messages.attachments.get": 5,
    "messages.modify": 5,
    "messages.trash": 5,
    "messages.untrash": 5,
    "messages.delete": 10,
    "messages.insert": 25,
    "messages.import": 25,
    "messages.send": 100,
    "history.list": 2,
    "threads.get": 10,
    "threads.list": 10,
    "watch": 100,
    "stop": 50,
}
# Gmail's limits (https://developers.google.com/workspace/gmail/api/reference/quota): Cloud projects created
# on or after May 1, 2026 get 6,000 units per user per minute (the default profile); projects that used the
# API between November 2025 and April 2026 keep 15,000 per user per minute, and Google documented "250 quota
# units per user per second, moving average" beside it (https://developers.google.com/gmail/api/v1/reference/quota):
# the legacy profile. 1,200,000 per project per minute in both. Google publishes no per-user concurrency
# figure; its 429 says "Too many concurrent requests for user".
PER_MINUTE_PER_USER = "Queries per minute per user"
_GMAIL_PROJECT = (RateLimit(1_200_000, 60.0, "rateLimitExceeded"),)
GMAIL_DEFAULT_POLICY = QuotaPolicy(
    per_key=(RateLimit(6_000, 60.0, "rateLimitExceeded", PER_MINUTE_PER_USER),),
    shared=_GMAIL_PROJECT,
    max_concurrent=25,
    concurrent_reason="rateLimitExceeded",
)
GMAIL_LEGACY_POLICY = QuotaPolicy(
    per_key=(
        RateLimit(250, 1.0, "userRateLimitExceeded"),
        RateLimit(15_000, 60.0, "rateLimitExceeded", PER_MINUTE_PER_USER),
    ),
    shared=_GMAIL_PROJECT,
    max_concurrent=25,
    concurrent_reason="rateLimitExceeded",
)
GMAIL_POLICY = GMAIL_DEFAULT_POLICY  # the name older code imports
GMAIL_QUOTA_PROFILES: dict[str, QuotaPolicy] = {
    "default": GMAIL_DEFAULT_POLICY,
    "legacy": GMAIL_LEGACY_POLICY,
}
# Graph (Outlook service limits): 10,000 requests per 10 minutes and 4 concurrent, per app per mailbox.
GRAPH_POLICY = QuotaPolicy(
    per_key=(RateLimit(10_000, 600.0, "ApplicationThrottled"),),
    max_concurrent=4,
    concurrent_reason="ApplicationThrottled",
)


class QuotaExceeded(Exception):
    """A request over a limit: ``retry_after`` seconds until it would fit, ``reason`` of the limit hit."""

    def __init__(
        self, key: str, reason: str, retry_after: float, concurrent: bool = False, limit_name: str = ""
    ) -> None:
        kind = "concurrent requests" if concurrent else "rate"
        super().__init__(f"{kind} limit for {key!r} exceeded ({reason}); retry after {retry_after:.3f}s")
        self.key, self.reason, self.retry_after, self.concurrent = key, reason, retry_after, concurrent
        self.limit_name = limit_name  # the RateLimit's name, "" for concurrency and unnamed limits

    @property
    def retry_after_header(self) -> str:
        """``Retry-After`` as whole seconds (at least 1), as the services send it."""
        return str(max(1, math.ceil(self.retry_after)))


@dataclass(slots=True)
class QuotaCounters:
    """What one key (or all keys) used: admitted requests, units, rejections, peak concurrency."""

    requests: int = 0
    units: int = 0
    rejected: int = 0
    rejected_concurrent: int = 0
    peak_concurrent: int = 0
    by_method: dict[str, int] = field(default_factory=dict)


class _Window:
    """One sliding window: the (time, units) admitted in the last ``limit.window`` seconds."""

    def __init__(self, limit: RateLimit) -> None:
        self.limit = limit
        self.entries: deque[tuple[float, int]] = deque()
        self.used = 0

    def wait_for(self, now: float, cost: int) -> float:
        """Seconds until ``cost`` fits (0 when it fits now); forgets entries outside the window."""
        while self.entries and self.entries[0][0] <= now - self.limit.window:
            self.used -= self.entries.popleft()[1]
        if self.used + cost <= self.limit.units:
            return 0.0
        if cost > self.limit.units:
            return self.limit.window
        excess = self.used + cost - self.limit.units
        for at, units in self.entries:
            excess -= units
            if excess <= 0:
                return max(at + self.limit.window - now, 0.001)
        return self.limit.window

    def add(self, now: float, cost: int) -> None:
        self.entries.append((now, cost))
        self.used += cost


class QuotaLimiter:
    """Admits or rejects requests per key under a policy; thread-safe; counts everything."""

    def __init__(self, policy: QuotaPolicy, clock: Clock) -> None:
        self.policy = policy
        self.clock = clock
        self._lock = threading.Lock()
        self._windows: dict[str, list[_Window]] = {}
        self._shared = [_Window(limit) for limit in policy.shared]
        self._in_flight: dict[str, int] = {}
        self._counters: dict[str, QuotaCounters] = {}

    def acquire(self, key: str, cost: int = 1, method: str = "") -> None:
        """Admit a request of ``cost`` units for ``key`` or raise ``QuotaExceeded``; pair with ``release``."""
        with self._lock:
            counters = self._counters.setdefault(key, QuotaCounters())
            in_flight = self._in_flight.get(key, 0)
            if self.policy.enabled:
                limit = self.policy.max_concurrent
                if limit is not None and in_flight >= limit:
                    counters.rejected += 1
                    counters.rejected_concurrent += 1
                    raise QuotaExceeded(key, self.policy.concurrent_reason, 1.0, concurrent=True)
                now = self.clock.seconds()
                windows = self._windows.setdefault(key, [_Window(lim) for lim in self.policy.per_key])
                for window in [*self._shared, *windows]:
                    wait = window.wait_for(now, cost)
                    if wait > 0:
                        counters.rejected += 1
                        raise QuotaExceeded(key, window.limit.reason, wait, limit_name=window.limit.name)
                for window in [*self._shared, *windows]:
                    window.add(now, cost)
            counters.requests += 1
            counters.units += cost
            if method:
                counters.by_method[method] = counters.by_method.get(method, 0) + 1
            self._in_flight[key] = in_flight + 1
            counters.peak_concurrent = max(counters.peak_concurrent, in_flight + 1)

    def release(self, key: str) -> None:
        """End one admitted request of ``key``."""
        with self._lock:
            self._in_flight[key] = max(0, self._in_flight.get(key, 0) - 1)

    @contextmanager
    def admit(self, key: str, cost: int = 1, method: str = "") -> Iterator[None]:
        """``acquire`` on entry, ``release`` on exit."""
        self.acquire(key, cost, method)
        try:
            yield
        finally:
            self.release(key)

    def counters(self, key: str | None = None) -> QuotaCounters:
        """A copy of one key's counters, or the sum over all keys when ``key`` is None."""
        with self._lock:
            if key is not None:
                c = self._counters.get(key, QuotaCounters())
                return replace(c, by_method=dict(c.by_method))
            total = QuotaCounters()
            for c in self._counters.values():
                total.requests += c.requests
                total.units += c.units
                total.rejected += c.rejected
                total.rejected_concurrent += c.rejected_concurrent
                total.peak_concurrent = max(total.peak_concurrent, c.peak_concurrent)
                for method, n in c.by_method.items():
                    total.by_method[method] = total.by_method.get(method, 0) + n
            return total

    def seen_keys(self) -> list[str]:
        """Every key (user or mailbox) seen so far."""
        with self._lock:
            return sorted(self._counters)

    def reset(self) -> None:
        """Forget all windows and counters (in-flight requests stay counted)."""
        with self._lock:
            self._windows.clear()
            self._shared = [_Window(limit) for limit in self.policy.shared]
            self._counters.clear()


# ---- ASGI glue shared by the Gmail and Graph apps ----
# classify(scope) -> (key, cost, method name) for a request that counts against quota, or None.
RequestClassifier = Callable[[MutableMapping[str, Any]], tuple[str, int, str] | None]
# render(exc) -> (status, headers, body) in the app's own error format.
QuotaErrorRenderer = Callable[[QuotaExceeded], tuple[int, list[tuple[bytes, bytes]], bytes]]


class QuotaMiddleware:
    """ASGI middleware: admits each classified request through ``limiter`` for as long as it runs."""

    def __init__(
        self, app: Any, limiter: QuotaLimiter, classify: RequestClassifier, render: QuotaErrorRenderer
    ) -> None:
        self.app, self.limiter, self.classify, self.render = app, limiter, classify, render

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        which = self.classify(scope) if scope["type"] == "http" else None
        if which is None:
            await self.app(scope, receive, send)
            return
        key, cost, method = which
        try:
            self.limiter.acquire(key, cost, method)
        except QuotaExceeded as exc:
            status, headers, body = self.render(exc)
            headers = [*headers, (b"content-length", str(len(body)).encode())]
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self.limiter.release(key)
