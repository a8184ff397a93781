"""Clocks for the sandbox: a manual one that tests advance, and the real one for the CLI."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

AdvanceListener = Callable[[datetime], None]


class Clock(Protocol):
    """What the sandbox asks of a clock: the current UTC time, and a hook run when time moves on."""

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...

    def seconds(self) -> float:
        """The current time as seconds since the epoch (for rate windows)."""
        ...

    def on_advance(self, listener: AdvanceListener) -> None:
        """Call ``listener(now)`` whenever the clock is moved forward by hand (never for a real clock)."""
        ...


class SystemClock:
    """The real wall clock (``mailtrail sandbox``); scheduled deliveries are released by a ticker thread."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def seconds(self) -> float:
        return time.time()

    def on_advance(self, listener: AdvanceListener) -> None:
        """A real clock is never advanced by hand, so listeners are never called."""


class ManualClock:
    """A clock that only moves when told to, so tests are exact and never sleep."""

    def __init__(self, start: datetime | None = None) -> None:
        start = start or datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
        if start.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start time")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()
        self._listeners: list[AdvanceListener] = []

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def seconds(self) -> float:
        return self.now().timestamp()

    def on_advance(self, listener: AdvanceListener) -> None:
        self._listeners.append(listener)

    def advance(self, seconds: float = 0.0, **delta: float) -> datetime:
        """Move forward by ``seconds`` (plus any ``timedelta`` keywords) and run the listeners."""
        step = timedelta(seconds=seconds, **delta)
        if step < timedelta(0):
            raise ValueError(f"a clock cannot go backwards (asked to advance by {step})")
        with self._lock:
            self._now += step
            now = self._now
        for listener in list(self._listeners):
            listener(now)
        return now

    def set(self, when: datetime) -> datetime:
        """Jump to ``when`` (not earlier than now)."""
        return self.advance((when.astimezone(UTC) - self.now()).total_seconds())
