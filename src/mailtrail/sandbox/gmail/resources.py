"""Gmail API v1 JSON shapes of sandbox objects, and the subset of Gmail search syntax the sandbox knows."""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from email.message import Message
from functools import lru_cache, partial
from typing import Any

from mailtrail.sandbox.message import StoredMessage, parse_mime, preview
from mailtrail.sandbox.store import Change, Label, Mailbox

FORMATS = ("minimal", "metadata", "full", "raw")
# Gmail's in: names -> label ids.
_IN_NAMES = {
    "inbox": "INBOX",
    "sent": "SENT",
    "draft": "DRAFT",
    "drafts": "DRAFT",
    "spam": "SPAM",
    "trash": "TRASH",
    "starred": "STARRED",
    "important": "IMPORTANT",
    "unread": "UNREAD",
    "chats": "CHAT",
}
_IS_NAMES = {"unread": "UNREAD", "starred": "STARRED", "important": "IMPORTANT"}
_TOKEN = re.compile(r'(-?)(\w+):("[^"]*"|\S+)|(\S+)')


class QueryError(ValueError):
    """A ``q`` the sandbox cannot interpret; the message says which term."""


def b64url(data: bytes) -> str:
    """URL-safe base64 as Gmail sends it (padded)."""
    return base64.urlsafe_b64encode(data).decode()


def label_json(label: Label) -> dict[str, Any]:
    out: dict[str, Any] = {"id": label.id, "name": label.name, "type": label.type}
    if label.type == "user":
        out |= {"messageListVisibility": "show", "labelListVisibility": "labelShow"}
    return out


@lru_cache(maxsize=4096)
def _snippet(raw: bytes) -> str:
    """Gmail escapes the snippet as HTML, apostrophes as &#39;. Cached: it parses the whole MIME tree."""
    return html.escape(preview(raw, 200)).replace("&#x27;", "&#39;")


def _internal_date(msg: StoredMessage) -> str:
    return str(int(msg.received_at.timestamp() * 1000))


def message_ref(msg: StoredMessage) -> dict[str, Any]:
    return {"id": msg.id, "threadId": msg.thread_id}


def message_json(
    msg: StoredMessage, fmt: str = "full", metadata_headers: Iterable[str] = ()
) -> dict[str, Any]:
    """``users.messages.get`` in one of the four formats."""
    out: dict[str, Any] = {
        "id": msg.id,
        "threadId": msg.thread_id,
        "labelIds": sorted(msg.labels),
        "snippet": _snippet(msg.raw),
        "sizeEstimate": msg.size,
        "historyId": str(msg.history_id),
        "internalDate": _internal_date(msg),
    }
    if fmt == "raw":
        out["raw"] = b64url(msg.raw)
    elif fmt == "metadata":
        wanted = {h.lower() for h in metadata_headers}
        headers = [{"name": k, "value": v} for k, v in msg.headers.all if not wanted or k.lower() in wanted]
        content_type = msg.headers.first("Content-Type") or "text/plain"
        out["payload"] = {"mimeType": content_type.split(";", 1)[0].strip().lower(), "headers": headers}
    elif fmt == "full":
        out["payload"] = _part_json(parse_mime(msg.raw), "", msg.id)
    return out


def _part_json(part: Message, part_id: str, message_id: str) -> dict[str, Any]:
    headers = [{"name": str(k), "value": str(v)} for k, v in part.items()]
    filename = part.get_filename() or ""
    out: dict[str, Any] = {
        "partId": part_id,
        "mimeType": part.get_content_type(),
        "filename": filename,
        "headers": headers,
    }
    if part.is_multipart():
        children = part.get_payload()
        out["body"] = {"size": 0}
        out["parts"] = [
            _part_json(child, f"{part_id}.{i}" if part_id else str(i), message_id)
            for i, child in enumerate(children if isinstance(children, list) else [])
        ]
        return out
    try:
        data = part.get_payload(decode=True)
    except Exception:  # a broken transfer encoding: serve what is there, as bytes
        data = str(part.get_payload()).encode("utf-8", "replace")
    data = data if isinstance(data, bytes) else b""
    if filename:
        out["body"] = {"size": len(data), "attachmentId": f"att-{message_id}-{part_id or '0'}"}
    else:
        out["body"] = {"size": len(data), "data": b64url(data)} if data else {"size": 0}
    return out


def attachment_json(msg: StoredMessage, attachment_id: str) -> dict[str, Any] | None:
    """``users.messages.attachments.get``: the body of the part an ``attachmentId`` names, or None."""
    prefix = f"att-{msg.id}-"
    if not attachment_id.startswith(prefix):
        return None
    wanted = attachment_id[len(prefix) :]
    for part_id, part in _walk(parse_mime(msg.raw), ""):
        if (part_id or "0") == wanted and not part.is_multipart():
            data = part.get_payload(decode=True)
            data = data if isinstance(data, bytes) else b""
            return {"attachmentId": attachment_id, "size": len(data), "data": b64url(data)}
    return None


def _walk(part: Message, part_id: str) -> Iterable[tuple[str, Message]]:
    yield part_id, part
    children = part.get_payload() if part.is_multipart() else []
    for i, child in enumerate(children if isinstance(children, list) else []):
        yield from _walk(child, f"{part_id}.{i}" if part_id else str(i))


def history_json(
    changes: list[Change], history_types: set[str] | None, label_id: str | None
) -> list[dict[str, Any]]:
    """History records grouped by id, as ``users.history.list`` returns them."""
    records: list[dict[str, Any]] = []
    for change in changes:
        if history_types and change.kind not in history_types:
            continue
        labels = sorted(change.message.labels)
        if label_id and label_id not in change.message.labels and label_id not in change.label_ids:
            continue
        brief = {"id": change.message.id, "threadId": change.message.thread_id}
        record: dict[str, Any] = {"id": str(change.history_id), "messages": [brief]}
        entry: dict[str, Any] = {"message": {**brief, "labelIds": labels}}
        if change.kind in ("labelAdded", "labelRemoved"):
            entry["labelIds"] = list(change.label_ids)
        if change.kind == "messageDeleted":
            entry = {"message": brief}
        record[_HISTORY_FIELD[change.kind]] = [entry]
        records.append(record)
    return records


_HISTORY_FIELD = {
    "messageAdded": "messagesAdded",
    "messageDeleted": "messagesDeleted",
    "labelAdded": "labelsAdded",
    "labelRemoved": "labelsRemoved",
}


def _parse_when(value: str, now: datetime) -> datetime:
    if value.isdigit():
        return datetime.fromtimestamp(int(value), UTC)
    for pattern in ("%Y/%m/%d", "%Y-%m-%d", "%m/%d/%Y"):
        try:
            return datetime.strptime(value, pattern).replace(tzinfo=UTC)
        except ValueError:
            continue
    match = re.fullmatch(r"(\d+)([dmy])", value)
    if match:
        n, unit = int(match[1]), match[2]
        return now - timedelta(days=n * {"d": 1, "m": 30, "y": 365}[unit])
    raise QueryError(f"cannot read the date {value!r} (use YYYY/MM/DD or seconds since the epoch)")


def _label_by_query_name(mailbox: Mailbox, name: str) -> str:
    wanted = name.lower().strip('"')
    for label in mailbox.labels():
        if label.id.lower() == wanted or label.name.lower().replace(" ", "-").replace(
            "/", "-"
        ) == wanted.replace("/", "-"):
            return label.id
    if wanted.upper() in {lb.id for lb in mailbox.labels()}:
        return wanted.upper()
    return f"?{wanted}"  # an unknown label matches nothing, as in Gmail


Predicate = Callable[[StoredMessage], bool]


def _received_after(when: datetime, m: StoredMessage) -> bool:
    return m.received_at >= when


def _received_before(when: datetime, m: StoredMessage) -> bool:
    return m.received_at < when


def _has_label(label: str, m: StoredMessage) -> bool:
    return label in m.labels


def _header_contains(attr: str, text: str, m: StoredMessage) -> bool:
    return text in str(getattr(m.headers, attr)).lower()


def _text_contains(text: str, m: StoredMessage) -> bool:
    return text in f"{m.headers.subject} {m.headers.from_}".lower()


def _message_id_is(value: str, m: StoredMessage) -> bool:
    return (m.headers.message_id or "").strip("<>") == value.strip("<>")


def _negated(pred: Predicate, m: StoredMessage) -> bool:
    return not pred(m)


def compile_query(q: str, mailbox: Mailbox, now: datetime) -> tuple[list[Predicate], bool]:
    """Predicates for ``q`` and whether it names spam or trash itself (then they are not left out).

    Dates are read in UTC (Gmail reads them in the account's time zone); seconds since the epoch are exact.
    Bare words match the subject and From (Gmail searches the whole message).
    """
    predicates: list[Predicate] = []
    names_spam_trash = False
    for match in _TOKEN.finditer(q or ""):
        negate, key, value, bare = (
            match.group(1) == "-",
            (match.group(2) or "").lower(),
            match.group(3),
            match.group(4),
        )
        if bare is not None:
            predicates.append(partial(_text_contains, bare.lower()))
            continue
        value = value.strip('"')
        pred: Predicate
        if key in ("after", "newer", "newer_than"):
            pred = partial(_received_after, _parse_when(value, now))
        elif key in ("before", "older", "older_than"):
            pred = partial(_received_before, _parse_when(value, now))
        elif key == "in" and value.lower() == "anywhere":
            names_spam_trash = True
            continue
        elif key in ("in", "is", "label"):
            names = _IN_NAMES if key == "in" else _IS_NAMES
            label = names.get(value.lower()) if key != "label" else None
            if key == "is" and value.lower() == "read":
                label, negate = "UNREAD", not negate
            if label is None:
                label = _label_by_query_name(mailbox, value)
            names_spam_trash |= label in ("SPAM", "TRASH") and not negate
            pred = partial(_has_label, label)
        elif key in ("from", "to", "cc", "bcc", "subject"):
            pred = partial(_header_contains, "from_" if key == "from" else key, value.lower())
        elif key == "rfc822msgid":
            pred = partial(_message_id_is, value)
        else:
            raise QueryError(f"the sandbox does not support the search operator {key}: in q={q!r}")
        predicates.append(partial(_negated, pred) if negate else pred)
    return predicates, names_spam_trash
