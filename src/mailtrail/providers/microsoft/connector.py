"""``GraphConnector``: one Microsoft 365 mailbox as the sync engine sees it (``providers.base.Connector``).

Delta query is per folder ("To track the changes of the messages in a folder hierarchy, you need to track each
folder individually": https://learn.microsoft.com/graph/delta-query-messages), so a sync is a *pass* over the
mailbox's folders:

1. The folders are listed again (so new ones are found, and deleted ones dropped), down the hierarchy, leaving
   out the well-known folders whose mail is not customer mail nor sent (``EXCLUDED``: drafts, junk, deleted
   items, outbox, conversation history, recoverable items, sync issues) and everything under them.
2. Each folder's delta is read page by page from its link. A folder seen for the first time starts a new
   chain with ``$filter=receivedDateTime ge <since>``. Every chain asks for ``changeType=created`` (new
   messages, moved in or arrived; "Specify the desired change type as a query option in the initial delta
   request"): updates (read, flagged) bring nothing to import. Folders whose round is over are read together,
   up to 20 in one ``$batch``; a folder in its first round, or in a round of many pages, alone.
3. ``@removed`` entries are ignored: a message moved from one folder to another leaves the first and is
   created in the second, under the same immutable id and with the same Message-ID, so it stays one message.

"Applying $filter in a delta query returns only up to 5,000 messages" (same page): a folder whose filtered
first round returned 5,000 is read again without ``$filter``, and what was received before ``since`` is left
out here, so nothing is lost (the first 5,000 come twice; the second time they are merged).

Messages are not fetched one by one: the delta pages carry the ``$select``ed properties (``messages.SELECT``),
kept from ``page()`` to ``fetch()``. Only MIME costs requests of its own (``$batch`` of ``$value``): with a
body, and for a message without a Message-ID, whose key reads the body. ``cursor.py`` describes the cursor.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from mailtrail.logs import get_logger
from mailtrail.providers.base import IncomingEmail, Page, Watch
from mailtrail.providers.microsoft.client import GraphClient
from mailtrail.providers.microsoft.cursor import Cursor, is_delta_link
from mailtrail.providers.microsoft.messages import (
    SELECT,
    SELECT_BASIC,
    lacks_message_id,
    parse_time,
    received_at,
    to_incoming,
)
from mailtrail.providers.microsoft.notifications import WatchState

log = get_logger(__name__)

# Well-known folders left out, with everything under them (https://learn.microsoft.com/graph/api/resources/
# mailfolder#well-known-folder-names); their names also give messages found there their flags.
EXCLUDED = (
    "drafts", "junkemail", "deleteditems", "outbox", "conversationhistory", "recoverableitemsdeletions",
    "syncissues",
)  # fmt: skip
FILTER_LIMIT = 5_000
# Outlook message subscriptions live at most 10,080 minutes ("under 7 days":
# https://learn.microsoft.com/graph/change-notifications-overview#subscription-lifetime); ask for a little
# less, so that a clock ahead of Graph's is not refused.
SUBSCRIPTION_LIFETIME = timedelta(minutes=10_080 - 30)
CHANGE_TYPES = "created,updated"
MAX_FAN_OUT = 20
_MIN_PAGE = 10


def _now() -> datetime:
    return datetime.now(UTC)


class GraphConnector:
    """Lists, follows and fetches one Microsoft 365 mailbox through a ``GraphClient``.

    ``read_basic``: the grant is Mail.ReadBasic(.All): no bodies, no previews, no MIME. ``notification_url``
    and ``lifecycle_url``: where Graph sends change and lifecycle notifications (None: no push).
    """

    def __init__(
        self,
        client: GraphClient,
        *,
        read_basic: bool = False,
        notification_url: str | None = None,
        lifecycle_url: str | None = None,
        page_size: int = 50,
        fan_out: int = MAX_FAN_OUT,
        filter_limit: int = FILTER_LIMIT,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.client = client
        self.read_basic = read_basic
        self.notification_url = notification_url
        self.lifecycle_url = lifecycle_url
        self.page_size = page_size
        self.fan_out = max(1, min(fan_out, MAX_FAN_OUT))
        self.filter_limit = filter_limit
        self.clock = clock
        self.select = SELECT_BASIC if read_basic else SELECT
        # The last page's messages as delta gave them ($select'ed), for fetch; the excluded folders' names.
        self._read: dict[str, dict[str, Any]] = {}
        self._roles: dict[str, str] = {}

    # ---- cursors ---------------------------------------------------------------------------------------

    def start_cursor(self, since: datetime) -> str:
        """A mailbox never synced: every folder from ``since`` on, then what comes."""
        return Cursor(since=since.astimezone(UTC)).dump()

    def resync_cursor(self, since: datetime) -> str:
        """Graph forgot our delta links: every folder again from ``since``."""
        return self.start_cursor(since)

    # ---- pages -----------------------------------------------------------------------------------------

    async def page(self, cursor: str) -> Page:
        """The next messages after ``cursor``, and the cursor after them."""
        state = Cursor.load(cursor)
        self._read = {}
        if state.todo is None:
            await self._start_pass(state)
        self._roles = dict(state.roles)
        assert state.todo is not None
        if not state.todo:
            state.todo = None
            return Page((), state.dump(), done=True, backlog=0)
        group = self._group(state)
        size = self.page_size if len(group) == 1 else max(self.page_size // len(group), _MIN_PAGE)
        links = [
            state.folders[folder_id]
            or self.client.delta_url(
                folder_id, self.select, None if folder_id in state.unfiltered else state.since
            )
            for folder_id in group
        ]
        ids: list[str] = []
        for folder_id, page in zip(group, await self.client.delta(links, size), strict=True):
            if page is None:  # the folder was deleted since it was listed
                state.forget(folder_id)
                continue
            ids += self._keep(state, folder_id, page.values)
            if page.next_link is not None:
                state.folders[folder_id] = page.next_link
            else:
                state.folders[folder_id] = page.delta_link or ""
                self._round_over(state, folder_id)
        done = not state.todo
        if done:
            state.todo = None
        return Page(tuple(dict.fromkeys(ids)), state.dump(), done=done, backlog=0 if done else None)

    def _group(self, state: Cursor) -> list[str]:
        """The folders to read now: the next one alone, or every folder up to ``fan_out`` whose round is over
        (their pages are small: what arrived since the last pass)."""
        assert state.todo
        settled = [f for f in state.todo if f not in state.first and is_delta_link(state.folders.get(f, ""))]
        if state.todo[0] not in settled:
            return [state.todo[0]]
        return settled[: self.fan_out]

    def _keep(self, state: Cursor, folder_id: str, values: Sequence[dict[str, Any]]) -> list[str]:
        """The ids of a delta page's messages, kept for ``fetch``; removals ignored."""
        unfiltered = folder_id in state.unfiltered
        kept: list[str] = []
        for value in values:
            message_id = value.get("id")
            if "@removed" in value or not isinstance(message_id, str):
                continue
            if folder_id in state.first:
                state.first[folder_id] += 1
            when = received_at(value)
            if unfiltered and when is not None and when < state.since:
                continue
            self._read[message_id] = value
            kept.append(message_id)
        return kept

    def _round_over(self, state: Cursor, folder_id: str) -> None:
        """A folder's round ended with a deltaLink: it is done for this pass, unless its filtered first round
        hit Graph's limit, in which case it starts again unfiltered."""
        seen = state.first.pop(folder_id, None)
        if seen is not None and seen >= self.filter_limit and folder_id not in state.unfiltered:
            log.info("graph folder listed again without $filter", messages=seen)
            state.folders[folder_id] = ""
            state.first[folder_id] = 0
            state.unfiltered.append(folder_id)
            return
        if folder_id in state.unfiltered:
            state.unfiltered.remove(folder_id)
        if state.todo is not None and folder_id in state.todo:
            state.todo.remove(folder_id)

    async def _start_pass(self, state: Cursor) -> None:
        """List the folders again: new ones join (first round from ``since``), gone ones are forgotten."""
        missing = [name for name in EXCLUDED if name not in state.roles.values()]
        never_listed = not state.folders and not state.roles
        if never_listed:
            state.roles.update(await self._resolve(missing))
        folders = await self._walk(set(state.roles))
        if not never_listed and missing and set(folders) - set(state.folders):
            # A folder appeared: it may be a well-known one made since (Conversation History is created on
            # first use), which must stay out.
            found = await self._resolve(missing)
            if found:
                state.roles.update(found)
                folders = await self._walk(set(state.roles))
        for folder_id in list(state.folders):
            if folder_id not in folders:
                state.forget(folder_id)
        for folder_id in folders:
            state.add(folder_id)
        state.todo = list(folders)

    async def _resolve(self, names: Sequence[str]) -> dict[str, str]:
        """Excluded well-known folders by id (a name the mailbox has no folder for is left out)."""
        if not names:
            return {}
        return {folder_id: name for name, folder_id in (await self.client.well_known_folders(names)).items()}

    async def _walk(self, excluded: set[str]) -> list[str]:
        """Every folder of the mailbox, parents first, except the excluded ones and what is under them."""
        found: list[str] = []
        level: list[str | None] = [None]
        while level:
            below: list[str | None] = []
            for folders in (await self.client.child_folders(level)).values():
                for folder in folders:
                    folder_id = str(folder["id"])
                    if folder_id in excluded or folder_id in found:
                        continue
                    found.append(folder_id)
                    if int(folder.get("childFolderCount") or 0) > 0:
                        below.append(folder_id)
            level = below
        return found

    # ---- messages --------------------------------------------------------------------------------------

    async def fetch(self, message_ids: Sequence[str], *, with_body: bool) -> list[IncomingEmail]:
        """The messages (gone ones left out), parsed; MIME only ``with_body``."""
        known = {i: self._read[i] for i in message_ids if i in self._read}
        missing = [i for i in message_ids if i not in known]
        if missing:
            known.update(await self.client.get_messages(missing, self.select))
        with_mime = with_body and not self.read_basic
        mime = await self.client.get_mime([i for i in message_ids if i in known]) if with_mime else {}
        keyless = [i for i in known if i not in mime and lacks_message_id(known[i])]
        # Rare: no Message-ID, so the key reads the body, as a file import of the same message does.
        raw_for_key = await self.client.get_mime(keyless) if keyless and not self.read_basic else {}
        items = []
        for message_id in dict.fromkeys(message_ids):
            message = known.get(message_id)
            if message is None or (with_mime and message_id not in mime):
                continue  # gone since it was listed
            items.append(
                to_incoming(
                    message, self._roles, raw=mime.get(message_id), raw_for_key=raw_for_key.get(message_id)
                )
            )
        return items

    async def fetch_bodies(self, items: Sequence[IncomingEmail]) -> dict[str, bytes]:
        """MIME of these messages by provider id (the immutable id)."""
        if self.read_basic or not items:
            return {}
        return await self.client.get_mime([item.source for item in items])

    # ---- push ------------------------------------------------------------------------------------------

    async def watch(self, state: str | None) -> Watch | None:
        """Create or renew the mailbox's subscription; without a notification URL, delete an old one."""
        old = WatchState.load(state)
        if self.notification_url is None:
            if old is not None:
                await self.client.delete_subscription(old.subscription)
            return None
        expires = self.clock() + SUBSCRIPTION_LIFETIME
        if old is not None and old.notification_url == self.notification_url:
            renewed = await self.client.renew_subscription(old.subscription, expires)
            if renewed is not None:
                log.info("graph subscription renewed")
                expiry = parse_time(renewed.get("expirationDateTime")) or expires
                return Watch(expiry, old.dump(), old.subscription)
        elif old is not None:
            # Another endpoint now: its lifecycle URL cannot be changed, so the subscription is made anew.
            await self.client.delete_subscription(old.subscription)
        resource = f"{self.client.user_path.lstrip('/')}/messages"
        client_state = secrets.token_urlsafe(32)  # within Graph's 128 characters
        body: dict[str, Any] = {
            "changeType": CHANGE_TYPES,
            "notificationUrl": self.notification_url,
            "resource": resource,
            "expirationDateTime": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "clientState": client_state,
        }
        if self.lifecycle_url is not None:
            body["lifecycleNotificationUrl"] = self.lifecycle_url
        created = await self.client.create_subscription(body)
        log.info("graph subscription created")
        new = WatchState(str(created["id"]), client_state, resource, self.notification_url)
        return Watch(parse_time(created.get("expirationDateTime")) or expires, new.dump(), new.subscription)

    async def aclose(self) -> None:
        """Release the HTTP connections."""
        await self.client.aclose()
