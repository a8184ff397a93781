"""Delta query on the messages of one mail folder: rounds of pages, sync states, generations, expiry.

Like Exchange, the sync state lives on the server and a token only names it. A *chain* starts with a
request that carries no token and goes on through every nextLink and deltaLink that follows. Each page served
gives the chain a new *generation*, and the link on that page names it. Outlook keeps only the newest
generations of a chain: an older nextLink or deltaLink answers 410 ``SyncStateNotFound`` "The sync state
generation is not found; generation=518;[highest=523][523][521][522]." (as Outlook sends it:
microsoftgraph/microsoft-graph-docs#2162, #2350, #2877). The sandbox keeps the three newest, the number those
messages show. So the page just fetched can be fetched again after a dropped connection, but going back
further, or resuming from a deltaLink after later links were handed out, needs a full sync.

A round is fixed when it starts (its pages are a snapshot of what changed). A delta token also answers 410
once older than the horizon, once the store's change log no longer reaches back to it, or once its chain
falls out of the token cache ("dependent on the size of the internal delta token cache":
https://learn.microsoft.com/graph/delta-query-overview#token-duration). With ``$filter`` a round returns at
most 5,000 messages ("Applying $filter in a delta query returns only up to 5,000 messages":
https://learn.microsoft.com/graph/delta-query-messages#use-query-parameters-in-a-delta-query-for-messages).

Removed entries: ``deleted`` when the message is gone from the mailbox for good, ``changed`` when it still
exists elsewhere (moved out, e.g. to Deleted Items, from where it can be restored), per the delta overview.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from mailtrail.sandbox.clock import Clock
from mailtrail.sandbox.graph.errors import GraphError
from mailtrail.sandbox.store import Mailbox, StoredMessage

EntryKind = Literal["upsert", "deleted", "changed"]
DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 1000
KEPT_GENERATIONS = 3
MAX_FILTERED = 5_000


@dataclass(frozen=True)
class DeltaOptions:
    """Query options fixed by the first request of a chain and carried by its tokens."""

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
    history_id: int
    members: frozenset[str]
    created_at: datetime


@dataclass(frozen=True)
class _Round:
    entries: tuple[tuple[str, EntryKind], ...]
    end: _SyncState  # what the deltaLink of the last page resumes from


@dataclass(frozen=True)
class _Position:
    """Where a generation points: a page of a round, or (``round`` None) the sync state a deltaLink names."""

    round: _Round | None
    offset: int
    state: _SyncState | None


@dataclass
class _Chain:
    id: str
    mailbox: str
    folder_id: str
    options: DeltaOptions
    highest: int = 0
    kept: OrderedDict[int, _Position] = field(default_factory=OrderedDict)

    def issue(self, position: _Position) -> str:
        self.highest += 1
        self.kept[self.highest] = position
        while len(self.kept) > KEPT_GENERATIONS:
            self.kept.popitem(last=False)
        return f"{self.id}.{self.highest}"


@dataclass(frozen=True)
class Cursor:
    """A request resolved to a round of a chain and an offset in it; ``page`` serves it."""

    chain: _Chain
    round: _Round
    offset: int

    @property
    def options(self) -> DeltaOptions:
        """The query options of the chain (fixed by its first request)."""
        return self.chain.options


@dataclass(frozen=True)
class DeltaPage:
    """One page: entries to render, and exactly one of the next skip token or the delta token."""

    entries: tuple[tuple[str, EntryKind], ...]
    options: DeltaOptions
    skip_token: str | None
    delta_token: str | None


class SyncStateNotFound(GraphError):
    """The token's sync state is gone: the client must start over (410 Gone)."""

    def __init__(self, generation: int | None = None, highest: int = 0, kept: tuple[int, ...] = ()) -> None:
        message = "The sync state generation is not found"
        if generation is not None:
            others = "".join(f"[{g}]" for g in sorted(kept))
            message += f"; generation={generation};[highest={highest}]{others}"
        super().__init__(410, "SyncStateNotFound", message + ".")


class DeltaTracker:
    """The delta chains of every folder of a tenant; thread-safe."""

    def __init__(self, clock: Clock, horizon: timedelta | None = timedelta(days=7), capacity: int = 10_000):
        self.clock = clock
        self.horizon = horizon
        self.capacity = capacity
        self._lock = threading.Lock()
        self._chains: OrderedDict[str, _Chain] = OrderedDict()

    def start(self, box: Mailbox, folder_id: str, options: DeltaOptions) -> Cursor:
        """A new chain whose first round holds every message now in the folder."""
        history_id = box.history_id  # read before listing: a racing change is then replayed, never lost
        members = [m for m in box.messages() if m.folder_id == folder_id and options.keeps(m)]
        entries: tuple[tuple[str, EntryKind], ...] = ()
        if options.change_type not in ("updated", "deleted"):
            entries = tuple((m.id, "upsert") for m in members)
        chain = _Chain(_new_id(), box.address, folder_id, options)
        with self._lock:
            self._chains[chain.id] = chain
            while len(self._chains) > self.capacity:
                self._chains.popitem(last=False)
        return Cursor(chain, self._round(entries, options, members, history_id), 0)

    def resume(self, box: Mailbox, folder_id: str, delta_token: str) -> Cursor:
        """The next round of a chain, from a deltaLink's token; SyncStateNotFound when it is gone."""
        chain, position = self._lookup(box, folder_id, delta_token)
        state = position.state
        if state is None:  # a nextLink's token passed as a $deltatoken
            raise SyncStateNotFound()
        if self.horizon is not None and self.clock.now() - state.created_at > self.horizon:
            raise SyncStateNotFound()
        if state.history_id < box.oldest_history_id:
            raise SyncStateNotFound()
        options = chain.options
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
        return Cursor(chain, self._round(tuple(entries), options, list(now.values()), history_id), 0)

    def skip(self, box: Mailbox, folder_id: str, skip_token: str) -> Cursor:
        """The page a nextLink's token names; SyncStateNotFound once that generation is gone."""
        chain, position = self._lookup(box, folder_id, skip_token)
        if position.round is None:  # a deltaLink's token passed as a $skiptoken
            raise SyncStateNotFound()
        return Cursor(chain, position.round, position.offset)

    def page(self, cursor: Cursor, page_size: int) -> DeltaPage:
        """Serve a page; the link it carries is a new generation of the chain."""
        chunk = cursor.round.entries[cursor.offset : cursor.offset + page_size]
        more = cursor.offset + page_size < len(cursor.round.entries)
        with self._lock:
            if more:
                token = cursor.chain.issue(_Position(cursor.round, cursor.offset + page_size, None))
            else:
                token = cursor.chain.issue(_Position(None, 0, cursor.round.end))
            if cursor.chain.id in self._chains:
                self._chains.move_to_end(cursor.chain.id)
        if more:
            return DeltaPage(chunk, cursor.options, token, None)
        return DeltaPage(chunk, cursor.options, None, token)

    def forget_all(self) -> None:
        """Drop every sync state (each token then answers 410), as a mailbox migration would."""
        with self._lock:
            self._chains.clear()

    def _round(
        self,
        entries: tuple[tuple[str, EntryKind], ...],
        options: DeltaOptions,
        members: list[StoredMessage],
        history_id: int,
    ) -> _Round:
        # Every matching message joins the sync state, including those past the 5,000 a filtered round
        # returns: the server considers them synced, so the client never learns of them unless they change.
        if options.received_at is not None:
            entries = entries[:MAX_FILTERED]
        end = _SyncState(history_id, frozenset(m.id for m in members), self.clock.now())
        return _Round(entries, end)

    def _lookup(self, box: Mailbox, folder_id: str, token: str) -> tuple[_Chain, _Position]:
        chain_id, _, generation_text = token.rpartition(".")
        try:
            generation: int | None = int(generation_text)
        except ValueError:
            generation = None
        with self._lock:
            chain = self._chains.get(chain_id)
            if chain is None or chain.mailbox != box.address or chain.folder_id != folder_id:
                raise SyncStateNotFound()
            position = chain.kept.get(generation) if generation is not None else None
            if position is None:
                raise SyncStateNotFound(generation, chain.highest, tuple(chain.kept))
            self._chains.move_to_end(chain.id)
            return chain, position


def _new_id() -> str:
    return secrets.token_urlsafe(18).replace(".", "_")


def _exists(box: Mailbox, msg_id: str) -> bool:
    try:
        box.get(msg_id)
    except KeyError:
        return False
    return True
