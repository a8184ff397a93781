"""Password sign-ins, limited per address and per client IP, so that passwords cannot be guessed at speed.

Within a sliding window of 15 minutes, 5 failures for one address, or 30 from one IP (an office behind one
address holds many people who mistype), make every further attempt wait, the right password too, until the
oldest failure that counts leaves the window. A successful sign-in wipes the slate of its address (the person
proved who they are); an IP's failures only age out, or one good account would let its holder reset the limit
between guesses at other addresses. Refused attempts are not recorded, so waiting is enough to get in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from mailtrail.auth.errors import TooManyAttempts
from mailtrail.auth.repository import AttemptRepository

# Attempts older than this are deleted (the longest window, with room to spare).
KEEP = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Limit:
    """At most ``failures`` failed attempts within ``window`` under one key."""

    failures: int
    window: timedelta
    # Whose attempts, in the error message.
    what: str
    # Whether a success wipes the earlier failures of the key.
    cleared_by_success: bool


ADDRESS_LIMIT = Limit(5, timedelta(minutes=15), "this address", cleared_by_success=True)
IP_LIMIT = Limit(30, timedelta(minutes=15), "your network address", cleared_by_success=False)


def attempt_keys(address: str, ip: str | None) -> list[tuple[str, Limit]]:
    """The keys an attempt counts under, each with its limit."""
    keys = [(f"address:{address}", ADDRESS_LIMIT)]
    if ip:
        keys.append((f"ip:{ip}", IP_LIMIT))
    return keys


def check_attempts(session: Session, address: str, ip: str | None, now: datetime) -> None:
    """Raise ``TooManyAttempts`` (saying until when) if this address or IP must wait."""
    repository = AttemptRepository(session)
    refusals: list[tuple[datetime, str]] = []
    for key, limit in attempt_keys(address, ip):
        since = now - limit.window
        if limit.cleared_by_success:
            since = max(since, repository.last_success(key, since) or since)
        failures = repository.failures(key, since)
        if len(failures) >= limit.failures:
            # The wait ends when enough of the oldest failures have left the window.
            retry_at = failures[len(failures) - limit.failures] + limit.window
            refusals.append((retry_at, limit.what))
    if refusals:
        retry_at, what = max(refusals)
        raise TooManyAttempts(what, retry_at, now)


def record_attempt(session: Session, address: str, ip: str | None, success: bool, now: datetime) -> None:
    """Record an attempt that was checked (failed or successful) under its keys; forget old ones."""
    repository = AttemptRepository(session)
    repository.add([key for key, _ in attempt_keys(address, ip)], success, now)
    repository.prune(now - KEEP)
