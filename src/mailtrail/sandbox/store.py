"""The sandbox tenant: several user mailboxes in memory, their labels/folders, change logs and deliveries.

One model serves both emulated APIs. A message carries a set of Gmail label ids *and* exactly one folder:
the folder is derived from the labels (TRASH -> deleteditems, SPAM -> junkemail, DRAFT -> drafts, INBOX ->
inbox, a custom folder's label -> that folder, SENT -> sentitems, none of these -> archive), and moving a
message to a folder rewrites the labels that stand for folders. So Gmail sees labels, Graph sees folders, and
both see the same mailbox. Every change gets the mailbox's next history id (growing, with random gaps as in
Gmail: ``history_ids``) in a change log that Gmail history and Graph delta read, that is cut off after a
horizon, and that listeners (push) observe.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from mailtrail.sandbox.clock import Clock, ManualClock
from mailtrail.sandbox.errors import (
    HistoryExpired,
    SandboxError,
    UnknownFolder,
    UnknownMailbox,
    UnknownMessage,
)
from mailtrail.sandbox.history_ids import HistoryIds
from mailtrail.sandbox.labels import PLACING_LABELS, SYSTEM_LABELS, WELL_KNOWN_FOLDERS, Folder, Label
from mailtrail.sandbox.message import StoredMessage, parse_address_list, parse_headers

# The store's public names, including those defined beside it (errors, labels) and re-exported here.
__all__ = [
    "SYSTEM_LABELS",
    "WELL_KNOWN_FOLDERS",
    "Change",
    "ChangeKind",
    "ChangeListener",
    "Folder",
    "HistoryExpired",
    "Label",
    "Mailbox",
    "SandboxError",
    "StoredMessage",
    "Tenant",
    "UnknownFolder",
    "UnknownMailbox",
    "UnknownMessage",
]

ChangeKind = Literal["messageAdded", "messageDeleted", "labelAdded", "labelRemoved"]


@dataclass(frozen=True, slots=True)
class Change:
    """One entry of a mailbox's change log; ``message`` is the message as it is right after the change."""

    history_id: int
    kind: ChangeKind
    message: StoredMessage
    label_ids: tuple[str, ...]
    at: datetime


ChangeListener = Callable[["Mailbox", list[Change]], None]


class Mailbox:
    """One user's mailbox. Thread-safe: every method takes the tenant lock; returned objects are immutable."""

    def __init__(self, tenant: Tenant, address: str, display_name: str, first_history_id: int) -> None:
        self.tenant = tenant
        self.address = address
        self.display_name = display_name
        self._messages: dict[str, StoredMessage] = {}
        self._log: deque[Change] = deque()
        self._history_id = first_history_id
        self._oldest_history_id = first_history_id
        self._threads: dict[str, str] = {}  # Message-ID header -> thread id
        self._labels: dict[str, Label] = {n: Label(n, n, "system") for n in SYSTEM_LABELS}
        self._folders: dict[str, Folder] = {}
        self._label_seq = itertools.count(1)
        for well_known, (name, label_id) in WELL_KNOWN_FOLDERS.items():
            fid = tenant.new_id("folder")
            self._folders[fid] = Folder(fid, name, None, well_known, label_id)
        self._by_label = {f.label_id: f.id for f in self._folders.values() if f.label_id}
        self._archive_id = self.folder_by_name("archive").id

    # ---- reading -------------------------------------------------------------------------------------------
    @property
    def history_id(self) -> int:
        """The id of the latest change (what getProfile and watch return)."""
        with self.tenant.lock:
            return self._history_id

    @property
    def oldest_history_id(self) -> int:
        """The oldest start id that ``changes_since`` still accepts."""
        with self.tenant.lock:
            self._prune()
            return self._oldest_history_id

    def get(self, message_id: str) -> StoredMessage:
        """The message with this id, or ``UnknownMessage``."""
        self.tenant.release_due()
        with self.tenant.lock:
            try:
                return self._messages[message_id]
            except KeyError:
                raise UnknownMessage(message_id) from None

    def messages(self) -> list[StoredMessage]:
        """Every message, newest received first (ties: newest id first), as the providers list them."""
        self.tenant.release_due()
        with self.tenant.lock:
            return sorted(self._messages.values(), key=lambda m: (m.received_at, m.id), reverse=True)

    def __len__(self) -> int:
        with self.tenant.lock:
            return len(self._messages)

    def labels(self) -> list[Label]:
        with self.tenant.lock:
            return list(self._labels.values())

    def folders(self) -> list[Folder]:
        with self.tenant.lock:
            return list(self._folders.values())

    def folder(self, folder_id: str) -> Folder:
        with self.tenant.lock:
            if folder_id in self._folders:
                return self._folders[folder_id]
            raise UnknownFolder(folder_id)

    def folder_by_name(self, well_known_name: str) -> Folder:
        """A well-known folder (inbox, sentitems, drafts, junkemail, deleteditems, archive)."""
        with self.tenant.lock:
            for f in self._folders.values():
                if f.well_known_name == well_known_name.lower():
                    return f
        raise UnknownFolder(well_known_name)

    def changes_since(self, start_history_id: int) -> list[Change]:
        """Changes after ``start_history_id``, oldest first; ``HistoryExpired`` when it is too old."""
        self.tenant.release_due()
        with self.tenant.lock:
            self._prune()
            if start_history_id < self._oldest_history_id:
                raise HistoryExpired(start_history_id, self._oldest_history_id)
            return [c for c in self._log if c.history_id > start_history_id]

    # ---- labels and folders --------------------------------------------------------------------------------
    def create_label(self, name: str) -> Label:
        """A new user label (Gmail ids look like ``Label_7``)."""
        with self.tenant.lock:
            if any(lb.name == name for lb in self._labels.values()):
                raise SandboxError(f"label {name!r} already exists in {self.address}")
            label = Label(f"Label_{next(self._label_seq)}", name, "user")
            self._labels[label.id] = label
            return label

    def create_folder(self, name: str, parent_id: str | None = None) -> Folder:
        """A custom folder (a child when ``parent_id`` is given), backed by a user label ``Parent/Name``."""
        with self.tenant.lock:
            path = name
            if parent_id is not None:
                path = f"{self._label_path(self.folder(parent_id))}/{name}"
            label = self.create_label(path)
            folder = Folder(self.tenant.new_id("folder"), name, parent_id, None, label.id)
            self._labels[label.id] = replace(label, folder_id=folder.id)
            self._folders[folder.id] = folder
            self._by_label[label.id] = folder.id
            return folder

    def _label_path(self, folder: Folder) -> str:
        if folder.label_id is None:
            return folder.name
        return self._labels[folder.label_id].name

    def _folder_for(self, labels: Iterable[str]) -> str:
        present = set(labels)
        for label_id in ("TRASH", "SPAM", "DRAFT", "INBOX"):
            if label_id in present:
                return self._by_label[label_id]
        custom = sorted(lb for lb in present if lb in self._by_label and lb not in SYSTEM_LABELS)
        if custom:
            return self._by_label[custom[0]]
        return self._by_label["SENT"] if "SENT" in present else self._archive_id

    # ---- changing ------------------------------------------------------------------------------------------
    def insert(
        self, raw: bytes, *, labels: Iterable[str] = ("INBOX", "UNREAD"), received_at: datetime | None = None
    ) -> StoredMessage:
        """Store ``raw`` as a new message received at ``received_at`` (default now); logs messageAdded."""
        headers = parse_headers(raw)
        received = received_at or self.tenant.clock.now()
        with self.tenant.lock:
            label_set = frozenset(labels)
            self._check_labels(label_set)
            msg_id = self.tenant.new_message_id(received)
            thread_id = self._thread_for(headers.in_reply_to + headers.references, msg_id)
            if headers.message_id:
                self._threads.setdefault(headers.message_id, thread_id)
            hid = self._next_history_id()
            msg = StoredMessage(
                msg_id,
                self.address,
                raw,
                headers,
                received,
                thread_id,
                label_set,
                self._folder_for(label_set),
                hid,
            )
            self._messages[msg_id] = msg
            change = self._record(hid, "messageAdded", msg, tuple(sorted(label_set)))
        self.tenant.notify(self, [change])
        return msg

    def save_draft(self, raw: bytes) -> StoredMessage:
        """Store ``raw`` as a draft of this mailbox (label DRAFT, folder drafts)."""
        return self.insert(raw, labels=("DRAFT",))

    def modify(self, message_id: str, add: Iterable[str] = (), remove: Iterable[str] = ()) -> StoredMessage:
        """Add and remove labels; logs labelAdded/labelRemoved for what actually changed."""
        with self.tenant.lock:
            msg = self._require(message_id)
            add_set, remove_set = set(add), set(remove)
            self._check_labels(add_set | remove_set)
            added = tuple(sorted(add_set - msg.labels))
            removed = tuple(sorted((remove_set - add_set) & msg.labels))
            if not added and not removed:
                return msg
            labels = (msg.labels | set(added)) - set(removed)
            changes: list[Change] = []
            for kind, ids in (("labelAdded", added), ("labelRemoved", removed)):
                if ids:
                    hid = self._next_history_id()
                    msg = replace(msg, labels=labels, folder_id=self._folder_for(labels), history_id=hid)
                    changes.append(self._record(hid, kind, msg, ids))  # type: ignore[arg-type]
            self._messages[message_id] = msg
        self.tenant.notify(self, changes)
        return msg

    def move(self, message_id: str, folder_id: str) -> StoredMessage:
        """Move to a folder: drop the labels that place it elsewhere, add the folder's own label."""
        with self.tenant.lock:
            folder, msg = self.folder(folder_id), self._require(message_id)
            placing = PLACING_LABELS | {lb for lb in self._by_label if lb not in SYSTEM_LABELS}
            remove = (msg.labels & placing) - {folder.label_id}
            add = {folder.label_id} if folder.label_id else set()
        return self.modify(message_id, add=add, remove=remove)

    def delete(self, message_id: str) -> StoredMessage:
        """Delete for good (not to trash); logs messageDeleted."""
        with self.tenant.lock:
            msg = self._messages.pop(message_id, None)
            if msg is None:
                raise UnknownMessage(message_id)
            hid = self._next_history_id()
            msg = replace(msg, history_id=hid)
            change = self._record(hid, "messageDeleted", msg, ())
        self.tenant.notify(self, [change])
        return msg

    def expire_history(self, up_to_history_id: int | None = None) -> int:
        """Forget the change log up to an id (default: all), as the horizon would; returns the new floor."""
        with self.tenant.lock:
            floor = self._history_id if up_to_history_id is None else min(up_to_history_id, self._history_id)
            while self._log and self._log[0].history_id <= floor:
                self._log.popleft()
            self._oldest_history_id = max(self._oldest_history_id, floor)
            return self._oldest_history_id

    # ---- internals (tenant lock held) ----------------------------------------------------------------------
    def _require(self, message_id: str) -> StoredMessage:
        try:
            return self._messages[message_id]
        except KeyError:
            raise UnknownMessage(message_id) from None

    def _check_labels(self, labels: Iterable[str]) -> None:
        unknown = sorted(set(labels) - self._labels.keys())
        if unknown:
            raise UnknownFolder(f"unknown label(s) {', '.join(unknown)} in {self.address}")

    def _thread_for(self, related: tuple[str, ...], msg_id: str) -> str:
        for ref in reversed(related):  # the nearest ancestor first
            if ref in self._threads:
                return self._threads[ref]
        thread_id = msg_id
        for ref in related:  # a reply that arrives before its parent still threads with it later
            self._threads.setdefault(ref, thread_id)
        return thread_id

    def _next_history_id(self) -> int:
        self._history_id = self.tenant.history_ids.after(self._history_id)
        return self._history_id

    def _record(self, hid: int, kind: ChangeKind, msg: StoredMessage, labels: tuple[str, ...]) -> Change:
        change = Change(hid, kind, msg, labels, self.tenant.clock.now())
        self._log.append(change)
        self._prune()
        return change

    def _prune(self) -> None:
        horizon, limit = self.tenant.history_horizon, self.tenant.history_limit
        cutoff = self.tenant.clock.now() - horizon if horizon is not None else None
        while self._log and (
            (cutoff is not None and self._log[0].at < cutoff)
            or (limit is not None and len(self._log) > limit)
        ):
            self._oldest_history_id = self._log.popleft().history_id


@dataclass(order=True)
class _Scheduled:
    at: datetime
    seq: int
    raw: bytes
    recipients: tuple[str, ...]
    labels: tuple[str, ...] | None = None


class Tenant:
    """Several mailboxes of one organisation, a clock, scheduled deliveries and change listeners."""

    def __init__(
        self,
        clock: Clock | None = None,
        *,
        history_horizon: timedelta | None = timedelta(days=7),
        history_limit: int | None = None,
        domain: str = "example.com",
        history_seed: int | None = 0,
    ) -> None:
        self.clock: Clock = clock or ManualClock()
        self.history_horizon = history_horizon
        self.history_limit = history_limit
        self.domain = domain
        self.history_ids = HistoryIds(history_seed)  # Gmail-like ids: above 2^32, random gaps
        self.lock = threading.RLock()
        self._mailboxes: dict[str, Mailbox] = {}
        self._listeners: list[ChangeListener] = []
        self._scheduled: list[_Scheduled] = []
        self._seq = itertools.count(1)
        self.clock.on_advance(self._on_clock_advance)

    # ---- mailboxes -----------------------------------------------------------------------------------------
    def add_mailbox(self, address: str, display_name: str | None = None) -> Mailbox:
        """Create (or return) the mailbox of ``address``."""
        key = address.strip().lower()
        if "@" not in key:
            raise ValueError(f"a mailbox needs an email address, got {address!r}")
        with self.lock:
            if key not in self._mailboxes:
                name = display_name or key.split("@", 1)[0].replace(".", " ").title()
                self._mailboxes[key] = Mailbox(self, key, name, first_history_id=self.history_ids.first())
            return self._mailboxes[key]

    def mailbox(self, address: str) -> Mailbox:
        """The mailbox of ``address`` (any case), or ``UnknownMailbox``."""
        with self.lock:
            try:
                return self._mailboxes[address.strip().lower()]
            except KeyError:
                raise UnknownMailbox(address) from None

    def mailboxes(self) -> list[Mailbox]:
        with self.lock:
            return list(self._mailboxes.values())

    def __iter__(self) -> Iterator[Mailbox]:
        return iter(self.mailboxes())

    # ---- delivery ------------------------------------------------------------------------------------------
    def deliver(
        self,
        raw: bytes,
        recipients: Iterable[str] | None = None,
        *,
        at: datetime | None = None,
        labels: Iterable[str] | None = None,
    ) -> list[StoredMessage]:
        """Deliver one raw message to several mailboxes: INBOX for recipients, SENT for the sender.

        ``recipients`` defaults to every tenant mailbox named in From/To/Cc/Bcc. With ``at`` in the future the
        delivery waits until the clock reaches it, and the receive time is ``at`` (returns ``[]`` until then).
        ``labels`` files the message under exactly these label ids in every mailbox instead.
        """
        label_ids = tuple(labels) if labels is not None else None
        if recipients is None:
            h = parse_headers(raw)
            named = [a for field in (h.from_, h.to, h.cc, h.bcc) for _, a in parse_address_list(field)]
            with self.lock:
                recipients = [a.lower() for a in dict.fromkeys(named) if a.lower() in self._mailboxes]
        targets = tuple(recipients)
        for address in targets:  # fail now, not at release time
            unknown = set(label_ids or ()) - {lb.id for lb in self.mailbox(address).labels()}
            if unknown:
                raise UnknownFolder(f"unknown label(s) {', '.join(sorted(unknown))} in {address}")
        now = self.clock.now()
        if at is not None and at > now:
            with self.lock:
                heapq.heappush(self._scheduled, _Scheduled(at, next(self._seq), raw, targets, label_ids))
            return []
        return self._deliver_now(raw, targets, at or now, label_ids)

    def _deliver_now(
        self, raw: bytes, targets: tuple[str, ...], at: datetime, given: tuple[str, ...] | None = None
    ) -> list[StoredMessage]:
        h = parse_headers(raw)
        senders = {a.lower() for _, a in parse_address_list(h.from_)}
        named = {a.lower() for field in (h.to, h.cc, h.bcc) for _, a in parse_address_list(field)}
        out = []
        for address in targets:
            box = self.mailbox(address)
            labels: tuple[str, ...] = ("INBOX", "UNREAD")
            if box.address in senders:  # mail to oneself is both sent and received, as in Gmail
                labels = ("SENT", "INBOX", "UNREAD") if box.address in named else ("SENT",)
            out.append(box.insert(raw, labels=labels if given is None else given, received_at=at))
        return out

    def release_due(self) -> int:
        """Deliver every scheduled message whose time has come; returns how many deliveries ran."""
        due: list[_Scheduled] = []
        with self.lock:
            now = self.clock.now()
            while self._scheduled and self._scheduled[0].at <= now:
                due.append(heapq.heappop(self._scheduled))
        for item in due:
            self._deliver_now(item.raw, item.recipients, item.at, item.labels)
        return len(due)

    def _on_clock_advance(self, _now: datetime) -> None:
        self.release_due()

    @property
    def pending_deliveries(self) -> int:
        with self.lock:
            return len(self._scheduled)

    # ---- listeners and ids ---------------------------------------------------------------------------------
    def add_listener(self, listener: ChangeListener) -> Callable[[], None]:
        """Call ``listener(mailbox, changes)`` after every change; returns a function that removes it."""
        with self.lock:
            self._listeners.append(listener)

        def remove() -> None:
            with self.lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return remove

    def notify(self, mailbox: Mailbox, changes: list[Change]) -> None:
        """Run the listeners (outside any mailbox work, so a listener may read the mailbox)."""
        if not changes:
            return
        with self.lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener(mailbox, changes)

    def new_id(self, kind: str) -> str:
        """A tenant-unique opaque id for a folder or other object."""
        return f"{kind}-{next(self._seq):08x}"

    def new_message_id(self, received: datetime) -> str:
        """A Gmail-like 16-hex-digit id that grows with the receive time, unique in the tenant."""
        millis = max(0, int(received.timestamp() * 1000))
        return f"{((millis << 20) | (next(self._seq) & 0xFFFFF)) & 0xFFFFFFFFFFFFFFFF:016x}"
