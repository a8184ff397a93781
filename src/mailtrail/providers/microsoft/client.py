"""``GraphClient``: the Microsoft Graph v1.0 calls a mailbox sync makes, on top of ``GraphTransport``.

- mail folders, one level at a time (``/mailFolders``, ``/mailFolders/{id}/childFolders``; hidden folders are
  left out unless asked for) and the well-known ones by name
  (https://learn.microsoft.com/graph/api/resources/mailfolder);
- delta on one folder's messages (https://learn.microsoft.com/graph/api/message-delta and
  https://learn.microsoft.com/graph/delta-query-messages): ``$select``, ``$filter=receivedDateTime ge``,
  ``changeType=created``, ``Prefer: odata.maxpagesize``; each page ends with a nextLink or a deltaLink;
- messages by id, and their MIME (``/messages/{id}/$value``:
  https://learn.microsoft.com/graph/outlook-get-mime-message), through ``$batch``;
- subscriptions: create, renew (PATCH), delete (https://learn.microsoft.com/graph/api/resources/subscription);
- the tenant's users, for app-only connections (https://learn.microsoft.com/graph/api/user-list).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

from mailtrail.providers.base import Unavailable
from mailtrail.providers.microsoft.batch import Part
from mailtrail.providers.microsoft.errors import is_gone
from mailtrail.providers.microsoft.transport import IMMUTABLE_IDS, GraphTransport

FOLDER_FIELDS = "id,displayName,parentFolderId,childFolderCount"


@dataclass(frozen=True, slots=True)
class DeltaPage:
    """One page of a folder's changes: its entries, and the nextLink (more to come) or deltaLink (done)."""

    values: list[dict[str, Any]] = field(default_factory=list)
    next_link: str | None = None
    delta_link: str | None = None


def graph_time(moment: datetime) -> str:
    """A UTC time as Graph writes it in queries and bodies (``2026-01-05T09:00:00Z``)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _quoted(value: str) -> str:
    return quote(value, safe="")


class GraphClient(GraphTransport):
    """The Graph calls of a mailbox sync (the constructor is ``GraphTransport``'s)."""

    async def get_many(
        self, urls: Sequence[str], what: str, prefer: Sequence[str] = (IMMUTABLE_IDS,)
    ) -> list[Part]:
        """GET each URL (relative to ``/v1.0``): one request alone, several through ``$batch``."""
        if len(urls) != 1:
            return await self.batch(urls, what, prefer=prefer) if urls else []
        headers = {"Prefer": ", ".join(prefer)} if prefer else {}
        response = await self.send("GET", self.api_url + urls[0], what, headers=headers)
        body: Any = response.content  # MIME ($value) stays bytes
        if response.headers.get("content-type", "").startswith("application/json"):
            body = _body(response)
        return [Part(response.status_code, response.headers, body)]

    # ---- folders -----------------------------------------------------------------------------------------

    async def child_folders(self, parents: Sequence[str | None]) -> dict[str | None, list[dict[str, Any]]]:
        """The folders directly under each parent (None: the top of the mailbox); a parent gone has none."""
        what = "listing the mailbox's folders"
        params = {"$top": "100", "$select": FOLDER_FIELDS}
        urls = [
            self.mailbox_url(
                "/mailFolders" if parent is None else f"/mailFolders/{_quoted(parent)}/childFolders", params
            )
            for parent in parents
        ]
        found: dict[str | None, list[dict[str, Any]]] = {}
        for parent, part in zip(parents, await self.get_many(urls, what), strict=True):
            if is_gone(part.status, part.body):
                found[parent] = []
                continue
            self.check_part(part, what)
            page = part.json() or {}
            folders = [f for f in page.get("value") or () if isinstance(f, dict) and f.get("id")]
            link = page.get("@odata.nextLink")
            while isinstance(link, str):  # more than 100 folders at one level
                more = await self.get(self.relative(link), what)
                folders += [f for f in more.get("value") or () if isinstance(f, dict) and f.get("id")]
                link = more.get("@odata.nextLink")
            found[parent] = folders
        return found

    async def well_known_folders(self, names: Iterable[str]) -> dict[str, str]:
        """The ids of well-known folders by name; a name the mailbox has no folder for is left out."""
        wanted = list(names)
        what = "finding the mailbox's well-known folders"
        urls = [self.mailbox_url(f"/mailFolders/{name}", {"$select": "id"}) for name in wanted]
        found: dict[str, str] = {}
        for name, part in zip(wanted, await self.get_many(urls, what), strict=True):
            if part.status == 404:
                continue
            self.check_part(part, what)
            folder_id = (part.json() or {}).get("id")
            if isinstance(folder_id, str) and folder_id:
                found[name] = folder_id
        return found

    # ---- delta -------------------------------------------------------------------------------------------

    def delta_url(self, folder_id: str, select: Sequence[str], since: datetime | None) -> str:
        """The first request of a folder's delta: new messages only (``changeType=created``), received since
        ``since`` when given (then Graph returns at most 5,000 messages in the first round)."""
        params = {"$select": ",".join(select), "changeType": "created"}
        if since is not None:
            params["$filter"] = f"receivedDateTime ge {graph_time(since)}"
        return self.mailbox_url(f"/mailFolders/{_quoted(folder_id)}/messages/delta", params)

    async def delta(self, links: Sequence[str], page_size: int) -> list[DeltaPage | None]:
        """The next page of each folder's delta (a link Graph handed out, or a ``delta_url``); None for a
        folder that is gone. ``CursorExpired`` when Graph no longer knows a link."""
        what = "reading the mailbox's changes"
        urls = [self.relative(link) for link in links]
        prefer = (IMMUTABLE_IDS, f"odata.maxpagesize={page_size}")
        pages: list[DeltaPage | None] = []
        for part in await self.get_many(urls, what, prefer):
            if is_gone(part.status, part.body):
                pages.append(None)
                continue
            self.check_part(part, what)
            body = part.json() or {}
            next_link, delta_link = body.get("@odata.nextLink"), body.get("@odata.deltaLink")
            if not isinstance(next_link, str) and not isinstance(delta_link, str):
                raise Unavailable("Microsoft Graph answered a delta request without a next or delta link")
            values = [v for v in body.get("value") or () if isinstance(v, dict)]
            pages.append(
                DeltaPage(
                    values,
                    next_link if isinstance(next_link, str) else None,
                    delta_link if isinstance(delta_link, str) else None,
                )
            )
        return pages

    # ---- messages ----------------------------------------------------------------------------------------

    async def get_messages(self, ids: Iterable[str], select: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Messages by id (``$select``ed), through ``$batch``; messages gone are left out."""
        wanted = list(dict.fromkeys(ids))
        what = "fetching messages"
        urls = [self.mailbox_url(f"/messages/{_quoted(i)}", {"$select": ",".join(select)}) for i in wanted]
        found: dict[str, dict[str, Any]] = {}
        for message_id, part in zip(wanted, await self.get_many(urls, what), strict=True):
            if is_gone(part.status, part.body):
                continue
            self.check_part(part, what)
            body = part.json()
            if body is not None:
                found[message_id] = body
        return found

    async def get_mime(self, ids: Iterable[str]) -> dict[str, bytes]:
        """The MIME of each message by id, through ``$batch``; messages gone are left out."""
        wanted = list(dict.fromkeys(ids))
        what = "fetching messages' MIME content"
        urls = [self.mailbox_url(f"/messages/{_quoted(i)}/$value") for i in wanted]
        found: dict[str, bytes] = {}
        for message_id, part in zip(wanted, await self.get_many(urls, what), strict=True):
            if is_gone(part.status, part.body):
                continue
            self.check_part(part, what)
            content = part.body if isinstance(part.body, bytes) else part.content()
            if content is None:
                raise Unavailable("Microsoft Graph answered a message's MIME content with an unreadable body")
            found[message_id] = content
        return found

    # ---- subscriptions -----------------------------------------------------------------------------------

    async def create_subscription(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create a subscription; Graph validates the notification URLs before answering."""
        what = "creating a change notification subscription"
        # With immutable ids asked for here, the notifications name messages by their immutable ids too.
        response = await self.send(
            "POST", f"{self.api_url}/subscriptions", what, json=body, headers={"Prefer": IMMUTABLE_IDS}
        )
        return self._subscription(response, what) or {}

    async def renew_subscription(self, subscription_id: str, expires_at: datetime) -> dict[str, Any] | None:
        """Move a subscription's expiry (which reauthorizes it too); None when it no longer exists."""
        what = "renewing a change notification subscription"
        url = f"{self.api_url}/subscriptions/{_quoted(subscription_id)}"
        response = await self.send("PATCH", url, what, json={"expirationDateTime": graph_time(expires_at)})
        return self._subscription(response, what)

    async def delete_subscription(self, subscription_id: str) -> None:
        """Delete a subscription (one already gone is fine)."""
        what = "deleting a change notification subscription"
        url = f"{self.api_url}/subscriptions/{_quoted(subscription_id)}"
        response = await self.send("DELETE", url, what)
        if response.status_code != 404:
            self.check(response, _body(response), what)

    def _subscription(self, response: Any, what: str) -> dict[str, Any] | None:
        body = _body(response)
        if response.status_code == 404:
            return None
        self.check(response, body, what)
        if not isinstance(body, dict) or not body.get("id"):
            raise Unavailable(f"Microsoft Graph answered {what} without the subscription")
        return body

    # ---- users -------------------------------------------------------------------------------------------

    async def list_users(
        self, link: str | None = None, page_size: int = 100
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of the tenant's users (id, address, name) and the link to the next page, if any."""
        what = "listing the tenant's users"
        params = {"$select": "id,displayName,mail,userPrincipalName", "$top": str(page_size)}
        url = self.relative(link) if link else f"/users?{urlencode(params, quote_via=quote, safe='$,')}"
        page = await self.get(url, what, prefer=())
        users = [u for u in page.get("value") or () if isinstance(u, dict) and u.get("id")]
        next_link = page.get("@odata.nextLink")
        return users, next_link if isinstance(next_link, str) else None


def _body(response: Any) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
