"""How patiently the Gmail connector retries: exponential backoff with jitter, and reading Retry-After.

Google asks clients to retry server errors and rate-limit errors with truncated exponential backoff: wait
2^n seconds plus a random fraction of a second, up to a maximum, then give up
(https://developers.google.com/workspace/gmail/api/guides/handle-errors, "Exponential backoff").
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retries of one request: ``attempts`` more tries after the first, waits growing from ``base_delay``.

    ``throttle_delay`` is the wait reported with ``Throttled`` when Google says nothing about when to come
    back: its quotas are per minute (https://developers.google.com/workspace/gmail/api/reference/quota),
    so a minute is when an exhausted one has room again.
    """

    attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 32.0
    throttle_delay: float = 60.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (0 for the first retry), with jitter."""
        # Jitter keeps many workers that failed together from retrying together; not cryptography.
        wait = self.base_delay * 2.0**attempt + random.uniform(0, self.base_delay)
        return min(wait, self.max_delay)


def retry_after(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks for (delta-seconds or an HTTP date), or None without one."""
    value = headers.get("retry-after") or headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
        return seconds if seconds > 0 else 0.0
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)
