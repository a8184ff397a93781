"""Fault injection for the emulators: scripted (the next N matching requests) or by probability.

A ``FaultPlan`` decides which request gets which fault; ``FaultMiddleware`` (ASGI) applies HTTP faults in
front of an app, rendering error bodies with the app's own ``render`` (Gmail and Graph errors differ). Push
faults (duplicated, out-of-order notifications) are taken by the push senders through ``take_push``.
"""

from __future__ import annotations

import asyncio
import random
import re
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any, Literal

FaultKind = Literal[
    "status",  # an error status (500, 503, 429, ...) with the app's error body
    "delay",  # a slow response: wait ``delay`` seconds, then answer normally
    "drop",  # the connection closes in the middle of the response
    "expired_token",  # 401 as for an expired access token
    "history_gone",  # Gmail history 404 / Graph delta 410 for a too-old cursor
    "malformed",  # 200 with a truncated JSON body
    "duplicate_push",  # the next push notification is sent twice
    "reorder_push",  # the next two push notifications are sent in reverse order
]
PUSH_KINDS = frozenset({"duplicate_push", "reorder_push"})


@dataclass(frozen=True, slots=True)
class Fault:
    """One fault to inject; build with the class methods."""

    kind: FaultKind
    status: int = 500
    delay: float = 0.0
    retry_after: float | None = None

    @classmethod
    def error(cls, status: int = 500, retry_after: float | None = None) -> Fault:
        return cls("status", status=status, retry_after=retry_after)

    @classmethod
    def throttled(cls, retry_after: float = 1.0) -> Fault:
        return cls("status", status=429, retry_after=retry_after)

    @classmethod
    def slow(cls, seconds: float) -> Fault:
        return cls("delay", delay=seconds)

    @classmethod
    def drop(cls) -> Fault:
        return cls("drop")

    @classmethod
    def expired_token(cls) -> Fault:
        return cls("expired_token", status=401)

    @classmethod
    def history_gone(cls) -> Fault:
        return cls("history_gone")

    @classmethod
    def malformed(cls) -> Fault:
        return cls("malformed", status=200)

    @classmethod
    def duplicate_push(cls) -> Fault:
        return cls("duplicate_push")

    @classmethod
    def reorder_push(cls) -> Fault:
        return cls("reorder_push")


@dataclass(slots=True)
class _Rule:
    pattern: re.Pattern[str]
    method: str | None
    fault: Fault
    remaining: int | None  # None: no count (probability rules)
    probability: float | None


class FaultPlan:
    """Which requests fail and how; thread-safe. Paths are regular expressions searched in the URL path."""

    def __init__(self, seed: int = 0) -> None:
        self._rules: list[_Rule] = []
        self._lock = threading.Lock()
        self._random = random.Random(seed)
        self.injected: Counter[str] = Counter()

    def script(self, path: str, fault: Fault, times: int = 1, method: str | None = None) -> None:
        """The next ``times`` requests whose path matches ``path`` (and ``method``) get ``fault``."""
        if times < 1:
            raise ValueError(f"times must be at least 1, got {times}")
        with self._lock:
            self._rules.append(_Rule(re.compile(path), _upper(method), fault, times, None))

    def chance(self, path: str, fault: Fault, probability: float, method: str | None = None) -> None:
        """Each matching request gets ``fault`` with ``probability`` (seeded, so runs repeat)."""
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"probability must be within 0..1, got {probability}")
        with self._lock:
            self._rules.append(_Rule(re.compile(path), _upper(method), fault, None, probability))

    def push(self, fault: Fault, times: int = 1) -> None:
        """The next ``times`` push deliveries get a push fault (duplicate or reorder)."""
        if fault.kind not in PUSH_KINDS:
            raise ValueError(f"{fault.kind} is not a push fault ({', '.join(sorted(PUSH_KINDS))})")
        self.script("^push$", fault, times)

    def clear(self) -> None:
        """Remove every rule (the ``injected`` counts stay)."""
        with self._lock:
            self._rules.clear()

    def take(self, method: str, path: str) -> Fault | None:
        """The fault for this request, if any; a scripted rule is used up by it."""
        with self._lock:
            for rule in self._rules:
                if rule.method not in (None, method.upper()) or not rule.pattern.search(path):
                    continue
                if rule.remaining is not None:
                    rule.remaining -= 1
                    if rule.remaining == 0:
                        self._rules.remove(rule)
                elif rule.probability is None or self._random.random() >= rule.probability:
                    continue
                self.injected[rule.fault.kind] += 1
                return rule.fault
        return None

    def take_push(self) -> Fault | None:
        """The push fault for the next notification, if any."""
        return self.take("PUSH", "push")


def _upper(method: str | None) -> str | None:
    return method.upper() if method else None


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
# Renders an error fault (status, expired_token, history_gone) as (status, headers, body) in the app's format.
ErrorRenderer = Callable[[Fault, Scope], tuple[int, list[tuple[bytes, bytes]], bytes]]


class DroppedConnection(Exception):
    """Raised by the middleware after a partial response so that the server closes the connection."""


class FaultMiddleware:
    """ASGI middleware applying a ``FaultPlan`` to HTTP requests in front of ``app``."""

    def __init__(self, app: ASGIApp, plan: FaultPlan, render: ErrorRenderer) -> None:
        self.app, self.plan, self.render = app, plan, render

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        fault = self.plan.take(scope["method"], scope["path"])
        if fault is None or fault.kind in PUSH_KINDS:
            await self.app(scope, receive, send)
            return
        if fault.kind == "delay":
            await asyncio.sleep(fault.delay)
            await self.app(scope, receive, send)
        elif fault.kind == "drop":
            await send(
                {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"4096")]}
            )
            await send({"type": "http.response.body", "body": b'{"', "more_body": True})
            raise DroppedConnection(f"fault injected: connection dropped on {scope['path']}")
        elif fault.kind == "malformed":
            body = b'{"id": "truncat'
            headers = [(b"content-type", b"application/json; charset=UTF-8"), (b"content-length", b"15")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": body})
        else:
            status, headers, body = self.render(fault, scope)
            headers = [*headers, (b"content-length", str(len(body)).encode())]
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
