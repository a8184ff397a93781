"""Delta query on the messages of one mail folder: rounds of pages, sync states, expiry.

Like Exchange, the sync state lives on the server and the token only names it. A round is fixed when it
starts (the pages are a snapshot of what changed); each ``$skiptoken`` names a round and an offset, so a page
can be fetched again after a dropped connection. The last page carries a ``$deltatoken`` naming the folder's
state at the start of the round. A delta token answers 410 ``syncStateNotFound`` once it is older than the
horizon, once the store's change log no longer reaches back to it, or once it falls out of the token cache
(Outlook documents no fixed lifetime: "dependent on the size of the internal delta token cache").

Removed entries: ``deleted`` when the message is gone from the mailbox for good, ``changed`` when it still
exists elsewhere (moved out, e.g. to Deleted Items, from where it can be restored), per the delta overview.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from mailtrail.sandbox.clock import Clock
from mailtrail.sandbox.graph.errors import GraphError
from mailtrail.sandbox.store import Mailbox, StoredMessage

EntryKind = Literal["upsert", "deleted", "changed"]
DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 1000


@dataclass(frozen=True)
class DeltaOptions:
    """Query options fixed by the first request of a round and carried by its tokens."""

    select: frozenset[str] | None = None
    change_type: str | None = None  # created, updated or deleted
    received_op: str | None = None  # ge or gt
    received_at: datetime | None = None
    top: int | None = None

    def keeps(self, msg: StoredMessage) -> bool:
        """Whether ``$filter=receivedDateTime ge|gt ...`` keeps this message."""
        if self.received_at is None:
            return True
        if self.received_op == "gt":
            return msg.received_at > self.received_at
        return msg.received_at >= self.received_at


@dataclass(frozen=True)
class _SyncState:
    mailbox: str
    folder_id: str
    history_id: int
    members: frozenset[str]
    options: DeltaOptions
    created_at: datetime


@dataclass(frozen=True)
class _Round:
    mailbox: str
    folder_id: str
    entries: tuple[tuple[str, EntryKind], ...]
    options: DeltaOptions
    end_state: str  # the delta token handed out on the last page


@dataclass(frozen=True)
class DeltaPage:
    """One page: entries to render, and exactly one of the next skip token or the delta token."""

    entries: tuple[tuple[str, EntryKind], ...]
    options: DeltaOptions
    skip_token: str | None
    delta_token: str | None


class SyncStateNotFound(GraphError):
    """The delta token is unknown or expired: the client must start over (410 Gone)."""

    def __init__(self) -> None:
        super().__init__(
            410,
            "syncStateNotFound",
            "The sync state generation is not found. The delta token is expired and data must be "
            "synchronized again.",
        )


class DeltaTracker:
    """Sync states and rounds of every folder of a tenant; thread-safe."""

    def __init__(self, clock: Clock, horizon: timedelta | None = timedelta(days=7), capacity: int = 10_000):
        self.clock = clock
        self.horizon = horizon
        self.capacity = capacity
        self._lock = threading.Lock()
        self._states: OrderedDict[str, _SyncState] = OrderedDict()
        self._rounds: OrderedDict[str, _Round] = OrderedDict()

    def start(self, box: Mailbox, folder_id: str, options: DeltaOptions) -> str:
        """Begin a full round (no token): every message now in the folder; returns the first skip token."""
        history_id = box.history_id  # read before listing: a racing change is then replayed, never lost
        members = [m for m in box.messages() if m.folder_id == folder_id and options.keeps(m)]
        upsert: EntryKind = "upsert"
        entries: tuple[tuple[str, EntryKind], ...] = ()
        if options.change_type not in ("updated", "deleted"):
            entries = tuple((m.id, upsert) for m in members)
        return self._new_round(box, folder_id, entries, options, frozenset(m.id for m in members), history_id)

    def resume(self, box: Mailbox, folder_id: str, delta_token: str) -> str:
        """Begin an incremental round from a delta token; raises SyncStateNotFound when it expired."""
        with self._lock:
            state = self._states.get(delta_token)
        if state is None or state.mailbox != box.address or state.folder_id != folder_id:
            raise SyncStateNotFound()
        if self.horizon is not None and self.clock.now() - state.created_at > self.horizon:
            raise SyncStateNotFound()
        if state.history_id < box.oldest_history_id:
            raise SyncStateNotFound()
        options = state.options
        history_id = box.history_id
        now = {m.id: m for m in box.messages() if m.folder_id == folder_id and options.keeps(m)}
        entries: list[tuple[str, EntryKind]] = []
        for msg_id, msg in now.items():
            if (msg_id not in state.members and options.change_type in (None, "created")) or (
                msg_id in state.members
                and msg.history_id > state.history_id
                and options.change_type in (None, "updated")
            ):
                entries.append((msg_id, "upsert"))
        if options.change_type in (None, "deleted"):
            for msg_id in sorted(state.members - now.keys()):
                entries.append((msg_id, "changed" if _exists(box, msg_id) else "deleted"))
        return self._new_round(box, folder_id, tuple(entries), options, frozenset(now), history_id)

    def page(self, box: Mailbox, folder_id: str, skip_token: str, page_size: int) -> DeltaPage:
        """The page a skip token names."""
        round_id, _, offset_text = skip_token.partition(".")
        with self._lock:
            found = self._rounds.get(round_id)
        if found is None or found.mailbox != box.address or found.folder_id != folder_id:
            raise SyncStateNotFound()
        try:
            offset = int(offset_text)
        except ValueError:
            raise GraphError(400, "ErrorInvalidUrlQuery", "The $skiptoken value is not valid.") from None
        chunk = found.entries[offset : offset + page_size]
        if offset + page_size < len(found.entries):
            return DeltaPage(chunk, found.options, f"{round_id}.{offset + page_size}", None)
        return DeltaPage(chunk, found.options, None, found.end_state)

    def _new_round(
        self,
        box: Mailbox,
        folder_id: str,
        entries: tuple[tuple[str, EntryKind], ...],
        options: DeltaOptions,
        members: frozenset[str],
        history_id: int,
    ) -> str:
        # The end state records the folder as this round saw it; changes after this point belong to the
        # next round (a change racing the round may be replayed, which Graph also allows).
        state = _SyncState(box.address, folder_id, history_id, members, options, self.clock.now())
        state_token = secrets.token_urlsafe(24)
        round_id = secrets.token_urlsafe(18).replace(".", "_")
        with self._lock:
            self._states[state_token] = state
            self._rounds[round_id] = _Round(box.address, folder_id, entries, options, state_token)
            while len(self._states) > self.capacity:
                self._states.popitem(last=False)
            while len(self._rounds) > self.capacity:
                self._rounds.popitem(last=False)
        return f"{round_id}.0"

    def forget_all(self) -> None:
        """Drop every sync state (each delta token then answers 410), as a mailbox migration would."""
        with self._lock:
            self._states.clear()
            self._rounds.clear()


def _exists(box: Mailbox, msg_id: str) -> bool:
    try:
        box.get(msg_id)
    except KeyError:
        return False
    return True
