"""The Gmail read methods and watch/stop: profile, labels, messages list/get, attachments, history.

``maxResults`` of messages.list and history.list defaults to 100 and is at most 500 ("The maximum allowed
value for this field is 500": https://developers.google.com/gmail/api/reference/rest/v1/users.messages/list,
.../users.history/list); a larger value is served as 500, not refused.
"""

# No ``from __future__ import annotations``: FastAPI must see the local Annotated dependency aliases.
import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from mailtrail.sandbox.clock import Clock
from mailtrail.sandbox.gmail import scopes as gmail_scopes
from mailtrail.sandbox.gmail.access import Caller, GmailAccess
from mailtrail.sandbox.gmail.errors import GmailError
from mailtrail.sandbox.gmail.push import GmailPush
from mailtrail.sandbox.gmail.resources import (
    FORMATS,
    attachment_json,
    compile_query,
    history_json,
    label_json,
    message_json,
    message_ref,
)

MAX_RESULTS = 500


def _page_size(max_results: int) -> int:
    if max_results < 1:
        raise GmailError(400, f"Invalid maxResults: {max_results}", "invalidArgument")
    return min(max_results, MAX_RESULTS)


def read_router(access: GmailAccess, clock: Clock, push: GmailPush) -> APIRouter:
    """Routes: getProfile, labels.list/get, messages.list/get, attachments.get, history.list, watch, stop."""
    router = APIRouter()
    ProfileCaller = Annotated[Caller, Depends(access.require("getProfile"))]
    LabelsCaller = Annotated[Caller, Depends(access.require("labels.list"))]
    LabelCaller = Annotated[Caller, Depends(access.require("labels.get"))]
    ListCaller = Annotated[Caller, Depends(access.require("messages.list"))]
    GetCaller = Annotated[Caller, Depends(access.require("messages.get"))]
    AttachmentCaller = Annotated[Caller, Depends(access.require("messages.attachments.get"))]
    HistoryCaller = Annotated[Caller, Depends(access.require("history.list"))]
    WatchCaller = Annotated[Caller, Depends(access.require("watch"))]
    StopCaller = Annotated[Caller, Depends(access.require("stop"))]

    @router.get("/gmail/v1/users/{userId}/profile")
    def get_profile(caller: ProfileCaller) -> dict[str, Any]:
        """users.getProfile."""
        mailbox = caller.mailbox
        messages = mailbox.messages()
        return {
            "emailAddress": mailbox.address,
            "messagesTotal": len(messages),
            "threadsTotal": len({m.thread_id for m in messages}),
            "historyId": str(mailbox.history_id),
        }

    @router.get("/gmail/v1/users/{userId}/labels")
    def list_labels(caller: LabelsCaller) -> dict[str, Any]:
        """users.labels.list."""
        return {"labels": [label_json(label) for label in caller.mailbox.labels()]}

    @router.get("/gmail/v1/users/{userId}/labels/{label_id}")
    def get_label(caller: LabelCaller, label_id: str) -> dict[str, Any]:
        """users.labels.get, with message and thread counts."""
        mailbox = caller.mailbox
        label = next((lb for lb in mailbox.labels() if lb.id == label_id), None)
        if label is None:
            raise GmailError(404)
        count = [m for m in mailbox.messages() if label.id in m.labels]
        unread = sum("UNREAD" in m.labels for m in count)
        totals = {"messagesTotal": len(count), "messagesUnread": unread}
        threads = {"threadsTotal": len({m.thread_id for m in count}), "threadsUnread": unread}
        return {**label_json(label), **totals, **threads}

    @router.get("/gmail/v1/users/{userId}/messages")
    def list_messages(
        caller: ListCaller,
        q: str | None = None,
        labelIds: Annotated[list[str] | None, Query()] = None,
        includeSpamTrash: bool = False,
        maxResults: int = 100,
        pageToken: str = "",
    ) -> dict[str, Any]:
        """users.messages.list: newest first, filtered by q and labelIds, paged by message id."""
        gmail_scopes.check_query(caller.scopes, q)
        size = _page_size(maxResults)
        mailbox = caller.mailbox
        predicates, names_spam_trash = compile_query(q or "", mailbox, clock.now())
        wanted = set(labelIds or [])
        skip_spam_trash = not (includeSpamTrash or names_spam_trash or wanted & {"SPAM", "TRASH"})
        matches = [
            m
            for m in mailbox.messages()
            if wanted <= m.labels
            and not (skip_spam_trash and m.labels & {"SPAM", "TRASH"})
            and all(p(m) for p in predicates)
        ]
        start = 0
        if pageToken:
            start = next((i + 1 for i, m in enumerate(matches) if m.id == pageToken), len(matches))
        page = matches[start : start + size]
        out: dict[str, Any] = {"resultSizeEstimate": len(matches)}
        if page:
            out["messages"] = [message_ref(m) for m in page]
        if start + size < len(matches):
            out["nextPageToken"] = page[-1].id
        return out

    @router.get("/gmail/v1/users/{userId}/messages/{message_id}")
    def get_message(
        caller: GetCaller,
        message_id: str,
        format: str = "full",
        metadataHeaders: Annotated[list[str] | None, Query()] = None,
    ) -> dict[str, Any]:
        """users.messages.get in one of the four formats."""
        if format not in FORMATS:
            raise GmailError(400, f"Invalid value for format: {format}", "invalidArgument")
        gmail_scopes.check_format(caller.scopes, format)
        return message_json(caller.mailbox.get(message_id), format, metadataHeaders or ())

    @router.get("/gmail/v1/users/{userId}/messages/{message_id}/attachments/{attachment_id}")
    def get_attachment(caller: AttachmentCaller, message_id: str, attachment_id: str) -> dict[str, Any]:
        """users.messages.attachments.get."""
        body = attachment_json(caller.mailbox.get(message_id), attachment_id)
        if body is None:
            raise GmailError(404)
        return body

    @router.get("/gmail/v1/users/{userId}/history")
    def list_history(
        caller: HistoryCaller,
        startHistoryId: str = "",
        historyTypes: Annotated[list[str] | None, Query()] = None,
        labelId: str = "",
        maxResults: int = 100,
        pageToken: str = "",
    ) -> dict[str, Any]:
        """users.history.list: changes after startHistoryId, oldest first; 404 once it is too old."""
        if not startHistoryId.isdigit():
            raise GmailError(400, "Invalid startHistoryId", "invalidArgument")
        size = _page_size(maxResults)
        mailbox = caller.mailbox
        after = int(pageToken) if pageToken.isdigit() else int(startHistoryId)
        # The id answered is read first and the records stop at it: a change landing meanwhile is neither
        # covered by the answered id nor listed, so a client that stores that id gets it next time.
        latest = mailbox.history_id
        changes = mailbox.changes_since(int(startHistoryId))
        changes = [c for c in changes if after < c.history_id <= latest]
        records = history_json(changes, set(historyTypes or []) or None, labelId or None)
        out: dict[str, Any] = {"historyId": str(latest)}
        if records:
            out["history"] = records[:size]
        if len(records) > size:
            out["nextPageToken"] = records[size - 1]["id"]
        return out

    @router.post("/gmail/v1/users/{userId}/watch")
    async def watch(caller: WatchCaller, request: Request) -> dict[str, Any]:
        """users.watch: push notifications of this mailbox to a Pub/Sub topic for seven days."""
        try:
            body = await request.json()
        except ValueError:
            raise GmailError(400, "Invalid JSON payload received in the watch request body.") from None
        if not isinstance(body, dict):
            raise GmailError(400, "The watch request body must be a JSON object (WatchRequest).")
        topic = str(body.get("topicName", ""))
        if not re.fullmatch(r"projects/[^/]+/topics/[^/]+", topic):
            raise GmailError(
                400, f"Invalid topicName does not match projects/*/topics/*: {topic}", "invalidArgument"
            )
        if topic not in push.subscriptions:
            raise GmailError(404, f"Resource not found (resource={topic.rsplit('/', 1)[-1]}).")
        include = str(body.get("labelFilterBehavior") or body.get("labelFilterAction") or "include").lower()
        mailbox = caller.mailbox
        w = push.watch(mailbox, topic, list(body.get("labelIds") or []), include == "include")
        return {"historyId": str(mailbox.history_id), "expiration": str(int(w.expiration.timestamp() * 1000))}

    @router.post("/gmail/v1/users/{userId}/stop", status_code=204)
    def stop(caller: StopCaller) -> Response:
        """users.stop."""
        push.stop(caller.mailbox)
        return Response(status_code=204)

    return router
