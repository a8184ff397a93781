"""JSON of Graph v1.0 ``message``, ``recipient`` and ``mailFolder`` resources built from store objects.

Property names and formats follow the v1.0 resource pages (learn.microsoft.com/graph/api/resources/message,
.../mailfolder): dates are ISO 8601 UTC with ``Z``; recipients are ``{"emailAddress": {"name", "address"}}``;
``internetMessageHeaders`` is returned only when ``$select`` asks for it, as Graph does.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from email.message import Message

from mailtrail.sandbox.graph.errors import GraphError
from mailtrail.sandbox.graph.ids import (
    ROOT_FOLDER,
    IdKind,
    change_key,
    conversation_graph_id,
    folder_graph_id,
    message_graph_id,
)
from mailtrail.sandbox.message import StoredMessage, parse_address_list, parse_mime, preview
from mailtrail.sandbox.store import Folder, Mailbox

# Every v1.0 message property the sandbox serves ("id" and "@odata.etag" always come back).
MESSAGE_PROPERTIES = (
    "id",
    "createdDateTime",
    "lastModifiedDateTime",
    "changeKey",
    "categories",
    "receivedDateTime",
    "sentDateTime",
    "hasAttachments",
    "internetMessageId",
    "subject",
    "bodyPreview",
    "importance",
    "parentFolderId",
    "conversationId",
    "conversationIndex",
    "isDeliveryReceiptRequested",
    "isReadReceiptRequested",
    "isRead",
    "isDraft",
    "webLink",
    "inferenceClassification",
    "body",
    "uniqueBody",
    "sender",
    "from",
    "toRecipients",
    "ccRecipients",
    "bccRecipients",
    "replyTo",
    "flag",
    "internetMessageHeaders",
)
_DEFAULT_EXCLUDED = frozenset({"internetMessageHeaders", "uniqueBody"})
# What Mail.ReadBasic(.All) does not cover ("except for body, bodyPreview, uniqueBody, attachments,
# extensions, and any extended properties": https://learn.microsoft.com/graph/permissions-reference).
BODY_PROPERTIES = frozenset({"body", "uniqueBody", "bodyPreview"})
# How Exchange wraps a body it serves as HTML, as in the create-message example response
# (https://learn.microsoft.com/graph/api/user-post-messages#response); the exact markup Exchange makes of a
# plain-text body is not documented, so clients should parse the HTML rather than match it.
_HTML_HEAD = (
    '<html>\r\n<head>\r\n<meta http-equiv="Content-Type" content="text/html; charset=utf-8">\r\n'
    '<meta content="text/html; charset=us-ascii">\r\n</head>\r\n<body>\r\n'
)
_HTML_TAIL = "\r\n</body>\r\n</html>\r\n"
_TAGS = re.compile(r"<[^>]*>")
_SPACES = re.compile(r"\s+")
FOLDER_PROPERTIES = (
    "id",
    "displayName",
    "parentFolderId",
    "childFolderCount",
    "unreadItemCount",
    "totalItemCount",
    "isHidden",
)


def graph_time(value: datetime | None) -> str | None:
    """ISO 8601 UTC with a ``Z``, seconds precision, as Graph formats dateTimeOffset values."""
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None


def parse_select(select: str | None, allowed: Iterable[str], type_name: str) -> frozenset[str] | None:
    """The properties named by ``$select`` (None when absent); an unknown name is Graph's 400."""
    if select is None:
        return None
    names = frozenset(s.strip() for s in select.split(",") if s.strip())
    known = set(allowed)
    for name in sorted(names):
        if name not in known:
            raise GraphError(
                400,
                "RequestBroker--ParseUri",
                f"Could not find a property named '{name}' on type 'microsoft.graph.{type_name}'.",
            )
    return names


def recipient(name: str, address: str) -> dict[str, object]:
    """A ``recipient``: ``{"emailAddress": {"name", "address"}}`` (name falls back to the address)."""
    return {"emailAddress": {"name": name or address, "address": address}}


def _recipients(header: str) -> list[dict[str, object]]:
    return [recipient(name, address) for name, address in parse_address_list(header)]


def _single(header: str) -> dict[str, object] | None:
    found = _recipients(header)
    return found[0] if found else None


@dataclass(frozen=True)
class _MimeFacts:
    has_attachments: bool
    html: str | None
    text: str | None


def _decode(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = str(part.get_content_charset() or "utf-8")
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:  # an unknown charset name
        return payload.decode("utf-8", errors="replace")


def _mime_facts(raw: bytes) -> _MimeFacts:
    """Attachments and the first HTML and plain-text bodies; a message the parser chokes on has neither."""
    attached, html, text = False, None, None
    try:
        for part in parse_mime(raw).walk():
            if part.is_multipart():
                continue
            disposition = str(part.get("Content-Disposition") or "").lower()
            if disposition.startswith("attachment") or (part.get_filename() and "inline" not in disposition):
                attached = True
                continue
            kind = part.get_content_type()
            if kind == "text/html" and html is None:
                html = _decode(part)
            elif kind == "text/plain" and text is None:
                text = _decode(part)
    except Exception:  # the stdlib parser fails in many ways on hostile input; the message is still served
        return _MimeFacts(attached, html, text)
    return _MimeFacts(attached, html, text)


def _body(facts: _MimeFacts, preferred: str | None) -> dict[str, str]:
    """HTML unless ``Prefer: outlook.body-content-type="text"`` asks for text.

    "If the header is not specified, the body and uniqueBody properties are returned in HTML format"
    (https://learn.microsoft.com/graph/api/message-get#request-headers): a plain-text message is converted to
    HTML, an HTML one to text when text is preferred.
    """
    if preferred == "text":
        if facts.text is not None:
            return {"contentType": "text", "content": facts.text}
        return {"contentType": "text", "content": _SPACES.sub(" ", _TAGS.sub(" ", facts.html or "")).strip()}
    if facts.html is not None:
        return {"contentType": "html", "content": facts.html}
    lines = html.escape(facts.text or "", quote=False).splitlines()
    return {"contentType": "html", "content": _HTML_HEAD + "<br>\r\n".join(lines) + _HTML_TAIL}


def etag(msg: StoredMessage) -> str:
    """The weak ETag Graph puts in ``@odata.etag`` (follows the changeKey)."""
    return f'W/"{change_key(msg.history_id)}"'


def message_json(
    msg: StoredMessage,
    select: frozenset[str] | None,
    id_kind: IdKind,
    last_modified: datetime | None = None,
    body_type: str | None = None,
    *,
    is_draft: bool | None = None,
    with_body: bool = True,
) -> dict[str, object]:
    """The Graph ``message`` for a stored message, restricted to ``select`` when given.

    ``body_type`` is the ``Prefer: outlook.body-content-type`` value ("text" or "html"), if any; ``is_draft``
    overrides the store's idea of a draft (Graph drafts filed outside Drafts); ``with_body`` False leaves out
    what Mail.ReadBasic does not cover.
    """
    wanted = set(select) if select is not None else set(MESSAGE_PROPERTIES) - _DEFAULT_EXCLUDED
    if not with_body:
        wanted -= BODY_PROPERTIES
    headers = msg.headers
    out: dict[str, object] = {
        "@odata.etag": etag(msg),
        "id": message_graph_id(msg.mailbox, msg.id, msg.folder_id, id_kind),
    }
    values: dict[str, object] = {}

    def put(name: str, compute: object) -> None:
        if name in wanted:
            values[name] = compute() if callable(compute) else compute

    sender = headers.sender or headers.from_
    put("createdDateTime", graph_time(msg.received_at))
    put("lastModifiedDateTime", graph_time(last_modified or msg.received_at))
    put("changeKey", change_key(msg.history_id))
    put("categories", [])
    put("receivedDateTime", graph_time(msg.received_at))
    put("sentDateTime", graph_time(None if msg.is_draft else (headers.date or msg.received_at)))
    facts: list[_MimeFacts] = []

    def mime() -> _MimeFacts:  # parsed once, and only when a property needs the body
        if not facts:
            facts.append(_mime_facts(msg.raw))
        return facts[0]

    put("hasAttachments", lambda: mime().has_attachments)
    put("internetMessageId", headers.message_id)
    put("subject", headers.subject)
    put("bodyPreview", lambda: preview(msg.raw, 255))
    put("importance", "normal")
    put("parentFolderId", folder_graph_id(msg.mailbox, msg.folder_id))
    put("conversationId", conversation_graph_id(msg.mailbox, msg.thread_id))
    put("conversationIndex", None)
    put("isDeliveryReceiptRequested", False)
    put("isReadReceiptRequested", False)
    put("isRead", "UNREAD" not in msg.labels)
    put("isDraft", msg.is_draft if is_draft is None else is_draft)
    put(
        "webLink",
        f"https://outlook.office365.com/owa/?ItemID={out['id']}&exvsurl=1&viewmodel=ReadMessageItem",
    )
    put("inferenceClassification", "focused")
    put("body", lambda: _body(mime(), body_type))
    put("uniqueBody", lambda: _body(mime(), body_type))
    put("sender", lambda: _single(sender))
    put("from", lambda: _single(headers.from_))
    put("toRecipients", lambda: _recipients(headers.to))
    put("ccRecipients", lambda: _recipients(headers.cc))
    put("bccRecipients", lambda: _recipients(headers.bcc))
    put("replyTo", lambda: _recipients(headers.reply_to))
    put("flag", {"flagStatus": "notFlagged"})
    put("internetMessageHeaders", lambda: [{"name": k, "value": v} for k, v in headers.all])
    for name in MESSAGE_PROPERTIES:  # keep the documented property order
        if name in values:
            out[name] = values[name]
    return out


def folder_json(box: Mailbox, folder: Folder, select: frozenset[str] | None = None) -> dict[str, object]:
    """The Graph ``mailFolder`` for a store folder, with live counts."""
    members = [m for m in box.messages() if m.folder_id == folder.id]
    children = [f for f in box.folders() if f.parent_id == folder.id]
    out: dict[str, object] = {
        "id": folder_graph_id(box.address, folder.id),
        "displayName": folder.name,
        "parentFolderId": folder_graph_id(box.address, folder.parent_id or ROOT_FOLDER),
        "childFolderCount": len(children),
        "unreadItemCount": sum(1 for m in members if "UNREAD" in m.labels),
        "totalItemCount": len(members),
        "isHidden": False,
    }
    if select is not None:
        return {k: v for k, v in out.items() if k == "id" or k in select}
    return out
