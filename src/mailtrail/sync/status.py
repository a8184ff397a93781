"""A mailbox's status in plain words, truthfully: never fine while mail is missing, never stuck without a
reason.

The engine records what happened (``Mailbox.status``, times, the last error); this module reads those facts
against the clock. A mailbox is "active" only while its last successful sync is recent; a sync that started
long ago and never finished is called what it is (its worker stopped), and so is a mailbox nobody has synced.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from mailtrail.models import Mailbox
from mailtrail.sync.engine import (
    ACTIVE,
    BACKING_OFF,
    CONNECTED,
    DISCONNECTED,
    ERROR,
    NEEDS_REAUTH,
    PAUSED,
    STOPPED,
    SYNCING,
    SyncPolicy,
)


@dataclass(frozen=True, slots=True)
class MailboxStatus:
    """``state`` is one word for filters and colours; ``words`` is the sentence people read."""

    state: str
    words: str
    # Whether someone must act (re-authorise, resume, look at an error).
    needs_attention: bool


def describe(mailbox: Mailbox, now: datetime, policy: SyncPolicy | None = None) -> MailboxStatus:
    """The mailbox's status as of ``now``."""
    policy = policy or SyncPolicy()
    status = mailbox.status
    # Later than this, a mailbox that syncs every poll interval has missed several syncs.
    stalled_after = policy.stalled_after
    behind_after = timedelta(seconds=3 * policy.poll_seconds) + stalled_after
    last_ok = mailbox.last_success_at
    if status == "file":
        return MailboxStatus("file", "imported from files; not synced", False)
    if status == DISCONNECTED:
        return MailboxStatus("disconnected", f"disconnected on {_at(mailbox.disconnected_at)}", False)
    if status == PAUSED:
        return MailboxStatus("paused", f"paused; last synced {_at(last_ok)}", True)
    if status == NEEDS_REAUTH:
        return MailboxStatus("needs re-authorisation", f"{mailbox.last_error or 'access lost'}", True)
    if status == BACKING_OFF:
        return MailboxStatus(
            "backing off", f"waiting until {_at(mailbox.backoff_until)}: {mailbox.backoff_reason}", False
        )
    if status == STOPPED:
        # Not retried (the resync loop breaker): the reason says what to do.
        return MailboxStatus("stopped", f"{mailbox.last_error}", True)
    if status == ERROR:
        return MailboxStatus(
            "error", f"{mailbox.last_error}; trying again at {_at(mailbox.backoff_until)}", True
        )
    if status == SYNCING and mailbox.last_attempt_at and now - mailbox.last_attempt_at > stalled_after:
        return MailboxStatus(
            "stalled",
            f"a sync started at {_at(mailbox.last_attempt_at)} has not finished: its worker stopped; it will "
            f"be taken up again. Last successful sync {_at(last_ok)}",
            True,
        )
    if status == SYNCING:
        backlog = f", about {mailbox.backlog} messages to go" if mailbox.backlog else ""
        return MailboxStatus("syncing", f"syncing since {_at(mailbox.last_attempt_at)}{backlog}", False)
    if status == CONNECTED:
        if now - mailbox.connected_at > stalled_after:
            return MailboxStatus(
                "waiting",
                f"connected at {_at(mailbox.connected_at)} but not synced yet: is a worker running "
                "(`mailtrail serve` or `mailtrail worker`)?",
                True,
            )
        return MailboxStatus("connected", "connected; the first sync starts shortly", False)
    if status == ACTIVE and last_ok is not None and now - last_ok > behind_after:
        return MailboxStatus(
            "behind",
            f"the last successful sync was at {_at(last_ok)}: mail since then may be missing until the next "
            "sync; is a worker running?",
            True,
        )
    return MailboxStatus("active", f"up to date as of {_at(last_ok)}", False)


def _at(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "never"
