"""The Gmail write methods that tools and people use to put mail into a mailbox and to file it.

``messages.insert`` ("Directly inserts a message into only this user's mailbox similar to IMAP APPEND") and
``messages.import`` (the same "with standard email delivery scanning and classification similar to receiving
via SMTP"), each at ``POST /gmail/v1/users/{userId}/messages[/import]`` with a JSON Message whose ``raw`` is
the base64url RFC 822 message, or at ``/upload/gmail/v1/users/{userId}/messages[/import]`` with
``uploadType=media`` (the message itself, ``message/*``) or ``uploadType=multipart`` (a JSON Message part and
the message part); ``internalDateSource`` is ``receivedTime`` (insert's default) or ``dateHeader`` (import's
default). ``messages.modify`` (addLabelIds/removeLabelIds), ``messages.trash``/``untrash`` and
``drafts.create``. References: https://developers.google.com/gmail/api/reference/rest/v1/users.messages/insert,
.../users.messages/import, .../users.messages/modify, .../users.messages/trash, .../users.drafts/create and
the upload guide https://developers.google.com/gmail/api/guides/uploads. Each change goes through the store,
so history records (messageAdded, labelAdded, labelRemoved) and push notifications follow as for any mail.
"""

# No ``from __future__ import annotations``: FastAPI must see the local Annotated dependency aliases.
import base64
import binascii
import json
import re
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from mailtrail.sandbox.clock import Clock
from mailtrail.sandbox.gmail.access import Caller, GmailAccess
from mailtrail.sandbox.gmail.errors import GmailError
from mailtrail.sandbox.message import StoredMessage, parse_headers
from mailtrail.sandbox.store import Mailbox

# Gmail's wording (400 invalidArgument, domain global) when a request carries neither a ``raw`` message nor an
# upload, as clients quote it for messages.send/insert; the two ways in are the reference's "Upload URI" and
# "Metadata URI" (https://developers.google.com/gmail/api/reference/rest/v1/users.messages/insert).
RAW_REQUIRED = "'raw' RFC822 payload message string or uploading message via /upload/* URL required"
DATE_SOURCES = ("receivedTime", "dateHeader")
# Labels a client cannot set or clear: SENT answers "Invalid label: SENT"
# (https://github.com/googleapis/google-api-php-client/issues/1254); CHAT likewise on restore
# (https://github.com/GAM-team/got-your-back/issues/135).
_FIXED_ON_MODIFY = frozenset({"SENT", "CHAT"})


def _decode_raw(value: object) -> bytes:
    """A Message's ``raw``: base64url, as Gmail sends it (plain base64 and missing padding accepted)."""
    if not isinstance(value, str) or not value:
        raise GmailError(400, RAW_REQUIRED, "invalidArgument")
    text = value.strip().replace("+", "-").replace("/", "_").rstrip("=")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise GmailError(400, f"Invalid value for ByteString: {value[:40]}", "invalidArgument") from None


def _split_multipart(body: bytes, content_type: str) -> list[tuple[str, bytes]]:
    """``(content type, bytes)`` of each part of a multipart body, the bytes exactly as sent."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if match is None:
        raise GmailError(400, "multipart upload without a boundary", "badRequest")
    delimiter = b"--" + match[1].encode()
    parts = []
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        chunk = chunk.removeprefix(b"\r\n").removeprefix(b"\n")
        head, sep, payload = chunk.partition(b"\r\n\r\n")
        if not sep:
            head, _, payload = chunk.partition(b"\n\n")
        lines = [line for line in head.splitlines() if line.lower().startswith(b"content-type:")]
        kind = lines[0].split(b":", 1)[1].strip().decode() if lines else "text/plain"
        parts.append((kind, payload.removesuffix(b"\r\n").removesuffix(b"\n")))
    return parts


async def read_message(request: Request) -> tuple[bytes, dict[str, Any]]:
    """The raw message and the Message metadata (labelIds, threadId...) of an insert/import/draft request."""
    body = await request.body()
    content_type = request.headers.get("content-type", "")
    if request.url.path.startswith("/upload/"):
        upload = request.query_params.get("uploadType", "")
        if upload == "media":
            if not body:
                raise GmailError(400, RAW_REQUIRED, "invalidArgument")
            return body, {}
        if upload == "multipart":
            parts = _split_multipart(body, content_type)
            metadata: object = next(
                (json.loads(p) for kind, p in parts if kind.startswith("application/json")), {}
            )
            raw = next((p for kind, p in parts if not kind.startswith("application/json")), b"")
            if not raw:
                raise GmailError(400, RAW_REQUIRED, "invalidArgument")
            return raw, metadata if isinstance(metadata, dict) else {}
        raise GmailError(400, f"Unsupported uploadType {upload!r} (the sandbox takes media or multipart)")
    try:
        document: object = json.loads(body or b"{}")
    except ValueError:
        raise GmailError(400, "Invalid JSON payload received.", "invalidArgument") from None
    if not isinstance(document, dict):
        raise GmailError(400, "The request body must be a JSON Message.", "invalidArgument")
    inner = document.get("message")  # drafts.create wraps the Message in a Draft
    message: dict[str, Any] = inner if isinstance(inner, dict) else document
    return _decode_raw(message.get("raw")), message


def _label_list(value: object) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise GmailError(400, "labelIds must be a list of label ids", "invalidArgument")
    return value


def _check_labels(mailbox: Mailbox, labels: list[str], fixed: frozenset[str] = frozenset({"CHAT"})) -> None:
    known = {lb.id for lb in mailbox.labels()}
    bad = next((lb for lb in labels if lb not in known or lb in fixed), None)
    if bad is not None:
        # 400 invalidArgument "Invalid label: <id>" as Google sends it (issue links above).
        raise GmailError(400, f"Invalid label: {bad}", "invalidArgument")


def _brief(msg: StoredMessage) -> dict[str, Any]:
    return {"id": msg.id, "threadId": msg.thread_id, "labelIds": sorted(msg.labels)}


def write_router(access: GmailAccess, clock: Clock) -> APIRouter:
    """Routes of messages.insert/import/modify/trash/untrash and drafts.create, plain and /upload."""
    router = APIRouter()
    InsertCaller = Annotated[Caller, Depends(access.require("messages.insert"))]
    ImportCaller = Annotated[Caller, Depends(access.require("messages.import"))]
    DraftCaller = Annotated[Caller, Depends(access.require("drafts.create"))]
    ModifyCaller = Annotated[Caller, Depends(access.require("messages.modify"))]
    TrashCaller = Annotated[Caller, Depends(access.require("messages.trash"))]
    UntrashCaller = Annotated[Caller, Depends(access.require("messages.untrash"))]

    async def store(caller: Caller, request: Request, date_source: str) -> dict[str, Any]:
        if date_source not in DATE_SOURCES:
            raise GmailError(400, f"Invalid value for internalDateSource: {date_source}", "invalidArgument")
        raw, metadata = await read_message(request)
        labels = _label_list(metadata.get("labelIds"))
        _check_labels(caller.mailbox, labels)
        received: datetime = clock.now()
        if date_source == "dateHeader":  # "based on 'Date' header in email, when valid"
            received = parse_headers(raw).date or received
        return _brief(caller.mailbox.insert(raw, labels=labels, received_at=received))

    @router.post("/gmail/v1/users/{userId}/messages")
    @router.post("/upload/gmail/v1/users/{userId}/messages")
    async def insert(
        caller: InsertCaller, request: Request, internalDateSource: str = "receivedTime"
    ) -> dict[str, Any]:
        """users.messages.insert: store a message as is, with exactly the labels given.

        The reference documents no default labels (like IMAP APPEND, it files nothing by itself), so a
        message inserted without labelIds is in no label, INBOX included.
        """
        return await store(caller, request, internalDateSource)

    @router.post("/gmail/v1/users/{userId}/messages/import")
    @router.post("/upload/gmail/v1/users/{userId}/messages/import")
    async def import_(
        caller: ImportCaller, request: Request, internalDateSource: str = "dateHeader"
    ) -> dict[str, Any]:
        """users.messages.import: store a message as delivered mail (the sandbox does no spam filtering)."""
        return await store(caller, request, internalDateSource)

    @router.post("/gmail/v1/users/{userId}/drafts")
    @router.post("/upload/gmail/v1/users/{userId}/drafts")
    async def create_draft(caller: DraftCaller, request: Request) -> dict[str, Any]:
        """users.drafts.create: a new draft with the DRAFT label; returns the Draft."""
        raw, _ = await read_message(request)
        msg = caller.mailbox.save_draft(raw)
        return {"id": f"r{int(msg.id, 16)}", "message": _brief(msg)}

    def relabel(caller: Caller, message_id: str, add: list[str], remove: list[str]) -> dict[str, Any]:
        return _brief(caller.mailbox.modify(message_id, add=add, remove=remove))

    @router.post("/gmail/v1/users/{userId}/messages/{message_id}/modify")
    async def modify(caller: ModifyCaller, message_id: str, request: Request) -> dict[str, Any]:
        """users.messages.modify: add and remove labels."""
        try:
            body = await request.json()
        except ValueError:
            raise GmailError(400, "Invalid JSON payload received.", "invalidArgument") from None
        body = body if isinstance(body, dict) else {}
        add, remove = _label_list(body.get("addLabelIds")), _label_list(body.get("removeLabelIds"))
        caller.mailbox.get(message_id)  # an unknown message is 404 whatever the labels
        if not add and not remove:
            # https://github.com/googleapis/google-api-nodejs-client/issues/312
            raise GmailError(400, "No label add or removes specified", "invalidArgument")
        _check_labels(caller.mailbox, add + remove, _FIXED_ON_MODIFY)
        return relabel(caller, message_id, add, remove)

    # Trash adds TRASH; Google documents no other label change, so the others stay and untrash (which only
    # removes TRASH) puts the message back where it was.
    @router.post("/gmail/v1/users/{userId}/messages/{message_id}/trash")
    def trash(caller: TrashCaller, message_id: str) -> dict[str, Any]:
        """users.messages.trash: move the message to the trash."""
        return relabel(caller, message_id, ["TRASH"], [])

    @router.post("/gmail/v1/users/{userId}/messages/{message_id}/untrash")
    def untrash(caller: UntrashCaller, message_id: str) -> dict[str, Any]:
        """users.messages.untrash: take the message out of the trash."""
        return relabel(caller, message_id, [], ["TRASH"])

    return router
