"""One stored message of the sandbox: raw RFC 822 bytes plus the headers both emulated APIs need.

Parsing is deliberately stdlib-only and forgiving: a seeded corpus holds broken messages, and the sandbox must
store and serve every one of them as the real services would, never crash on them.
"""

from __future__ import annotations

import email.errors
import email.header
import email.utils
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32

_HEADER_PARSER = BytesHeaderParser(policy=compat32)
_MSGID = re.compile(r"<[^<>\s]+>")
_SPACES = re.compile(r"\s+")


def decode_header_value(value: str | email.header.Header | None) -> str:
    """A header value with RFC 2047 encoded words decoded; undecodable parts are kept as they came."""
    if value is None:
        return ""
    text = str(value)
    if "=?" not in text:
        return _SPACES.sub(" ", text).strip()
    try:
        return _SPACES.sub(" ", str(email.header.make_header(email.header.decode_header(text)))).strip()
    except (LookupError, ValueError, UnicodeError, email.errors.HeaderParseError):
        return _SPACES.sub(" ", text).strip()


def parse_address_list(value: str | None) -> list[tuple[str, str]]:
    """``(display name, address)`` pairs of an address header; groups and junk without ``@`` are dropped."""
    if not value:
        return []
    try:
        pairs = email.utils.getaddresses([value])
    except (ValueError, IndexError, TypeError):
        return []
    return [(decode_header_value(name), addr) for name, addr in pairs if "@" in addr]


def _message_ids(value: str) -> tuple[str, ...]:
    return tuple(_MSGID.findall(value))


def _parse_date(value: str) -> datetime | None:
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        return None


@dataclass(frozen=True, slots=True)
class MessageHeaders:
    """The headers of one message that the Gmail and Graph views need, decoded to text."""

    message_id: str | None = None
    from_: str = ""
    sender: str = ""
    to: str = ""
    cc: str = ""
    bcc: str = ""
    reply_to: str = ""
    subject: str = ""
    date: datetime | None = None
    in_reply_to: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    # Every header in order as (name, decoded value): Gmail payload.headers, Graph internetMessageHeaders.
    all: tuple[tuple[str, str], ...] = field(default=(), repr=False)

    def addresses(self, name: str) -> list[tuple[str, str]]:
        """Parsed ``(name, address)`` pairs of from, sender, to, cc, bcc or reply_to."""
        return parse_address_list(getattr(self, "from_" if name == "from" else name))

    def first(self, name: str) -> str | None:
        """The first header called ``name`` (any case), or None."""
        wanted = name.lower()
        return next((v for k, v in self.all if k.lower() == wanted), None)


def parse_headers(raw: bytes) -> MessageHeaders:
    """Read the header block of ``raw`` (never raises: a message without headers gets empty ones)."""
    try:
        msg = _HEADER_PARSER.parsebytes(raw, headersonly=True)
        items = [(str(k), decode_header_value(v)) for k, v in msg.items()]
    except Exception:  # the stdlib parser can fail in many ways on hostile input; a mailbox still stores it
        items = []
    first: dict[str, str] = {}
    for key, value in items:
        first.setdefault(key.lower(), value)
    ids = _message_ids(first.get("message-id", ""))
    return MessageHeaders(
        message_id=ids[0] if ids else (first.get("message-id") or None),
        from_=first.get("from", ""),
        sender=first.get("sender", ""),
        to=first.get("to", ""),
        cc=first.get("cc", ""),
        bcc=first.get("bcc", ""),
        reply_to=first.get("reply-to", ""),
        subject=first.get("subject", ""),
        date=_parse_date(first.get("date", "")),
        in_reply_to=_message_ids(first.get("in-reply-to", "")),
        references=_message_ids(first.get("references", "")),
        all=tuple(items),
    )


def parse_mime(raw: bytes) -> Message:
    """The full MIME tree of ``raw`` (compat32, the most forgiving policy)."""
    return message_from_bytes(raw, policy=compat32)


def _part_text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:
        return payload.decode("utf-8", errors="replace")


def body_text(raw: bytes) -> tuple[str, str]:
    """``(content type, text)`` of the first text/plain part, else the first text/html part, else empty."""
    try:
        tree = parse_mime(raw)
        parts: Iterable[Message] = tree.walk()
        html: str | None = None
        for part in parts:
            ctype = part.get_content_type()
            if part.is_multipart() or part.get_filename():
                continue
            if ctype == "text/plain":
                return "text", _part_text(part)
            if ctype == "text/html" and html is None:
                html = _part_text(part)
        return ("html", html) if html is not None else ("text", "")
    except Exception:  # a broken body must not make a message unreadable
        return "text", ""


_TAGS = re.compile(r"<[^>]*>")


def preview(raw: bytes, limit: int = 200) -> str:
    """A one-line plain-text preview of the body (Gmail ``snippet``, Graph ``bodyPreview``)."""
    kind, text = body_text(raw)
    if kind == "html":
        text = _TAGS.sub(" ", text)
    return _SPACES.sub(" ", text).strip()[:limit]


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """One message in one mailbox. Immutable: every change stores a new copy, so readers never see half."""

    id: str
    mailbox: str
    raw: bytes = field(repr=False)
    headers: MessageHeaders
    received_at: datetime
    thread_id: str
    labels: frozenset[str]
    folder_id: str
    # The history id of the last change that touched this message (Gmail's message.historyId).
    history_id: int

    @property
    def is_draft(self) -> bool:
        return "DRAFT" in self.labels

    @property
    def size(self) -> int:
        return len(self.raw)
