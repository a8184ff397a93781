"""``GmailConnector``: one Gmail mailbox as the sync engine sees it (``providers.base.Connector``).

A mailbox is first listed, then followed through its history, as Google's sync guide describes
(https://developers.google.com/workspace/gmail/api/guides/sync):

1. Listing (first sync, or after ``CursorExpired``): the mailbox's current ``historyId`` is pinned with
   getProfile *before* the first messages.list call, then ``messages.list`` pages through what was received
   since ``since`` (``q=after:<epoch seconds>``, which Gmail reads exactly, unlike dates:
   https://developers.google.com/workspace/gmail/api/guides/filtering), newest first. Whatever arrives
   while the listing runs has a history record after the pinned id, so history hands it over next: nothing
   is missed. The few messages that arrived between the pin and the first page are in both: the first page
   leaves them to history, so nothing comes twice.
2. History: ``history.list`` from the pinned (then the last) id, for ``messageAdded`` and for
   ``labelRemoved`` of SPAM or TRASH (a message rescued from spam is looked at again).

With the ``gmail.metadata`` scope, messages.list may not search (its ``q`` "cannot be used when accessing the
api using the gmail.metadata scope": .../reference/rest/v1/users.messages/list): the listing pages through the
whole mailbox instead, reading each page's receive times as it lists, and stops at the first message received
before ``since`` (the list is newest first: ``internalDate`` "determines ordering in the inbox").

The cursor is JSON, opaque to the engine (history ids as strings: they are uint64, above 2^53 in places):

- listing: ``{"v":1,"mode":"list","since":<epoch s>,"pin":"<historyId>","page":"<token>","seen":<n>}``
  (no ``pin`` before the first page, no ``page`` on the first page; ``seen``: ids handed over so far);
- history: ``{"v":1,"mode":"history","history":"<historyId>","page":"<token>"}`` (``page`` while paging).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from mailtrail.logs import get_logger
from mailtrail.providers.base import CursorExpired, IncomingEmail, Page, Watch
from mailtrail.providers.gmail.client import GmailClient
from mailtrail.providers.gmail.messages import (
    METADATA_HEADERS,
    decode_raw,
    lacks_message_id,
    received_at,
    to_incoming,
)

log = get_logger(__name__)

HISTORY_TYPES = ("messageAdded", "labelRemoved")
# Labels whose removal puts a message back in view: it may never have been looked at while it carried them.
RESCUE_LABELS = frozenset({"SPAM", "TRASH"})
CURSOR_VERSION = 1


@dataclass(frozen=True, slots=True)
class Cursor:
    """The decoded cursor (module docstring)."""

    mode: Literal["list", "history"]
    since: int | None = None
    pin: str | None = None
    history: str | None = None
    page: str | None = None
    seen: int = 0

    def dump(self) -> str:
        """The cursor as the engine stores it."""
        fields = {k: v for k, v in asdict(self).items() if v is not None and not (k == "seen" and not v)}
        return json.dumps({"v": CURSOR_VERSION, **fields}, separators=(",", ":"))

    @classmethod
    def load(cls, text: str) -> Cursor:
        """The cursor in ``text``; one that cannot be read is ``CursorExpired`` (then listed again)."""
        try:
            data = json.loads(text)
            if data.pop("v") != CURSOR_VERSION or data.get("mode") not in ("list", "history"):
                raise ValueError("unknown cursor version or mode")
            cursor = cls(**data)
            if (cursor.mode == "list" and cursor.since is None) or (
                cursor.mode == "history" and not cursor.history
            ):
                raise ValueError("incomplete cursor")
            return cursor
        except (ValueError, TypeError, KeyError, AttributeError):
            raise CursorExpired(
                "mailtrail could not read this mailbox's stored Gmail sync position"
            ) from None


class GmailConnector:
    """Lists, follows and fetches one Gmail mailbox through a ``GmailClient``.

    ``metadata_only``: the grant is ``gmail.metadata`` (no search, no bodies). ``topic``: the Pub/Sub topic
    for push notifications (``projects/<project>/topics/<topic>``), None for none.
    """

    def __init__(
        self,
        client: GmailClient,
        *,
        metadata_only: bool = False,
        topic: str | None = None,
        page_size: int = 100,
    ) -> None:
        self.client = client
        self.metadata_only = metadata_only
        self.topic = topic
        self.page_size = page_size
        # What the last listing page learnt, for fetch: the listed ids' lower bound on receive time, and
        # (metadata only) the messages it already read to find where the listing ends.
        self._listed_since: dict[str, datetime] = {}
        self._read: dict[str, dict[str, Any]] = {}

    # ---- cursors ---------------------------------------------------------------------------------------

    def start_cursor(self, since: datetime) -> str:
        """A mailbox never synced: list what was received from ``since`` on, then follow its history."""
        return Cursor("list", since=int(since.timestamp())).dump()

    def resync_cursor(self, since: datetime) -> str:
        """Gmail forgot our history id: list again from ``since``."""
        return self.start_cursor(since)

    # ---- pages -----------------------------------------------------------------------------------------

    async def page(self, cursor: str) -> Page:
        """The next messages after ``cursor``, and the cursor after them."""
        state = Cursor.load(cursor)
        if state.mode == "list":
            return await self._list_page(state)
        return await self._history_page(state)

    async def _list_page(self, state: Cursor) -> Page:
        assert state.since is not None
        since = datetime.fromtimestamp(state.since, UTC)
        pin = state.pin
        if pin is None:
            # Pinned before the first listing call: what arrives from here on is in the history after it.
            pin = str((await self.client.get_profile())["historyId"])
        # `after:` with epoch seconds; one second earlier, and the exact bound is applied to internalDate.
        query = None if self.metadata_only else f"after:{state.since - 1}"
        listing = await self.client.list_messages(query, state.page, self.page_size)
        ids = [str(m["id"]) for m in listing.get("messages") or () if isinstance(m, dict) and "id" in m]
        next_token = listing.get("nextPageToken") or None
        if state.pin is None and ids:
            # Arrived between the pin and this page: history hands these over; leave them to it.
            arrived = await self._added_since(pin)
            ids = [message_id for message_id in ids if message_id not in arrived]
        if self.metadata_only:
            ids, reached_since = await self._read_listed(ids, since)
            if reached_since:
                next_token = None
        self._listed_since = dict.fromkeys(ids, since)
        seen = state.seen + len(ids)
        estimate = listing.get("resultSizeEstimate")
        backlog: int | None = 0
        if next_token:
            # Without a search (metadata only) the estimate counts the whole mailbox: no estimate then.
            backlog = None
            if isinstance(estimate, int) and not self.metadata_only:
                backlog = max(estimate - seen, 0)
        if next_token:
            after = Cursor("list", since=state.since, pin=pin, page=str(next_token), seen=seen)
        else:
            after = Cursor("history", history=pin)
        return Page(tuple(ids), after.dump(), done=False, backlog=backlog)

    async def _added_since(self, history_id: str) -> set[str]:
        records = await self.client.list_history(history_id, history_types=("messageAdded",))
        return {
            str(added["message"]["id"])
            for record in records.get("history") or ()
            for added in record.get("messagesAdded") or ()
        }

    async def _read_listed(self, ids: list[str], since: datetime) -> tuple[list[str], bool]:
        """Metadata listing: read the page now, keep what was received since ``since``; True once past it."""
        read = await self.client.get_messages(ids, "metadata", METADATA_HEADERS)
        self._read = read
        kept, reached = [], False
        for message_id in ids:
            message = read.get(message_id)
            when = received_at(message) if message is not None else None
            if when is not None and when < since:
                reached = True
            elif message is not None:
                kept.append(message_id)
        return kept, reached

    async def _history_page(self, state: Cursor) -> Page:
        assert state.history is not None
        changes = await self.client.list_history(state.history, state.page, HISTORY_TYPES, self.page_size)
        ids: list[str] = []
        newest = int(state.history)
        for record in changes.get("history") or ():
            newest = max(newest, int(record.get("id", 0)))
            for added in record.get("messagesAdded") or ():
                ids.append(str(added["message"]["id"]))
            for removed in record.get("labelsRemoved") or ():
                if RESCUE_LABELS & set(removed.get("labelIds") or ()):
                    ids.append(str(removed["message"]["id"]))
        self._listed_since = {}
        next_token = changes.get("nextPageToken")
        if next_token:
            after = Cursor("history", history=state.history, page=str(next_token))
            return Page(tuple(dict.fromkeys(ids)), after.dump(), done=False)
        # The mailbox's current id: the next sync starts after every change seen now, asked for or not.
        newest = max(newest, int(changes.get("historyId") or 0))
        return Page(
            tuple(dict.fromkeys(ids)), Cursor("history", history=str(newest)).dump(), done=True, backlog=0
        )

    # ---- messages --------------------------------------------------------------------------------------

    async def fetch(self, message_ids: Sequence[str], *, with_body: bool) -> list[IncomingEmail]:
        """The messages (gone ones left out), parsed; raw MIME only ``with_body``."""
        fmt = "raw" if with_body and not self.metadata_only else "metadata"
        known: dict[str, dict[str, Any]] = {}
        if fmt == "metadata":
            known = {i: self._read[i] for i in message_ids if i in self._read}
        missing = [message_id for message_id in message_ids if message_id not in known]
        headers = METADATA_HEADERS if fmt == "metadata" else ()
        messages = {**known, **await self.client.get_messages(missing, fmt, headers)}
        raw_for_key: dict[str, bytes] = {}
        keyless = [i for i, message in messages.items() if lacks_message_id(message)]
        if keyless and not self.metadata_only:
            # Rare: no Message-ID, so the key reads the body, as a file import of the same message does.
            for message_id, message in (await self.client.get_messages(keyless, "raw")).items():
                raw_for_key[message_id] = decode_raw(str(message.get("raw", "")))
        items = []
        for message_id in message_ids:
            found = messages.get(message_id)
            if found is None:
                continue
            since, when = self._listed_since.get(message_id), received_at(found)
            if since is not None and when is not None and when < since:
                continue
            items.append(to_incoming(found, raw_for_key.get(message_id)))
        self._read = {}
        return items

    async def fetch_bodies(self, items: Sequence[IncomingEmail]) -> dict[str, bytes]:
        """Raw MIME of these messages by provider id (``format=raw``)."""
        if self.metadata_only or not items:
            return {}
        raws = await self.client.get_messages([item.source for item in items], "raw")
        return {message_id: decode_raw(str(message.get("raw", ""))) for message_id, message in raws.items()}

    # ---- push --------------------------------------------------------------------------------------------

    async def watch(self, state: str | None) -> Watch | None:
        """Start or renew push notifications to the configured topic (Google asks for a renewal within
        seven days: https://developers.google.com/workspace/gmail/api/guides/push).

        Without a topic: None, after stopping a watch that an earlier configuration started.
        """
        if self.topic is None:
            if state and _watched_topic(state):
                await self.client.stop()
            return None
        answer = await self.client.watch(self.topic)
        expires_at = datetime.fromtimestamp(int(answer["expiration"]) / 1000, UTC)
        log.info("gmail watch registered", expires_at=expires_at.isoformat())
        return Watch(expires_at=expires_at, state=json.dumps({"topic": self.topic}))

    async def aclose(self) -> None:
        """Release the HTTP connections."""
        await self.client.aclose()


def _watched_topic(state: str) -> str | None:
    try:
        data = json.loads(state)
    except ValueError:
        return None
    topic = data.get("topic") if isinstance(data, dict) else None
    return topic if isinstance(topic, str) else None
