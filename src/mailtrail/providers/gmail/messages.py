"""Gmail's message JSON to ``IncomingEmail``, through the same parser as a file import of the same message.

``format=raw`` gives the whole RFC 822 message (base64url), parsed as it is. ``format=metadata`` gives only
the headers asked for (``METADATA_HEADERS``): they are written back into a header block and parsed the same
way, so the message key, the participants and the thread are exactly what the raw message gives. The one
thing a header block cannot give is the body, which the fallback key of a message without a Message-ID reads:
``lacks_message_id`` says which messages need their raw form for their key.
(https://developers.google.com/workspace/gmail/api/reference/rest/v1/users.messages#Message and
.../users.messages/get: ``format``, ``metadataHeaders``.)
"""

from __future__ import annotations

import base64
import binascii
import html
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from mailtrail.mail.parsed import ProviderFlags
from mailtrail.mail.rfc822 import parse_message
from mailtrail.providers.base import IncomingEmail

# The headers parse_message reads (less Received: the provider's receive time replaces it).
METADATA_HEADERS = (
    "From", "Sender", "To", "Cc", "Bcc", "Subject", "Date", "Message-ID", "References", "In-Reply-To",
)  # fmt: skip
# A header field name is printable ASCII without a colon (RFC 5322, 2.2).
_FIELD_NAME = re.compile(r"[!-9;-~]+")
# A folded line break (followed by white space) is removed, as unfolding does (RFC 5322, 2.2.3); any other
# line break inside a value becomes a space, so that it cannot start a header of its own.
_FOLD = re.compile(r"\r?\n(?=[ \t])")
_BREAK = re.compile(r"[\r\n]+")


def received_at(message: Mapping[str, Any]) -> datetime | None:
    """The message's ``internalDate`` (epoch milliseconds: when Google accepted it) as UTC."""
    value = message.get("internalDate")
    try:
        return datetime.fromtimestamp(int(str(value)) / 1000, UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def provider_flags(label_ids: Iterable[str]) -> ProviderFlags:
    """What Gmail's labels say about the item: a draft, spam, in the trash, or a chat rather than an email."""
    labels = set(label_ids)
    return ProviderFlags(
        draft="DRAFT" in labels, spam="SPAM" in labels, trash="TRASH" in labels, not_email="CHAT" in labels
    )


def decode_raw(value: str) -> bytes:
    """The bytes of a ``raw`` field (base64url, padded or not)."""
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        return b""


def headers_of(message: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``payload.headers`` as ``(name, value)`` pairs, in the message's order."""
    payload = message.get("payload")
    items = payload.get("headers") if isinstance(payload, Mapping) else None
    pairs: list[tuple[str, str]] = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, Mapping) and isinstance(item.get("name"), str):
            pairs.append((item["name"], str(item.get("value", ""))))
    return pairs


def lacks_message_id(message: Mapping[str, Any]) -> bool:
    """A metadata message without a usable Message-ID: its key needs the body, so its raw form."""
    if "raw" in message:
        return False
    return not any(name.lower() == "message-id" and value.strip() for name, value in headers_of(message))


def header_block(headers: Iterable[tuple[str, str]]) -> bytes:
    """Headers written back as an RFC 822 header block (UTF-8, RFC 6532) with its closing empty line."""
    lines = []
    for name, value in headers:
        if _FIELD_NAME.fullmatch(name):
            lines.append(f"{name}: {_BREAK.sub(' ', _FOLD.sub('', value))}\r\n")
    return ("".join(lines) + "\r\n").encode("utf-8", "surrogatepass")


def to_incoming(message: Mapping[str, Any], raw_for_key: bytes | None = None) -> IncomingEmail:
    """One Gmail message (``format=raw`` or ``format=metadata``) as the ingest service takes it.

    ``raw_for_key`` is the raw form of a metadata message without a Message-ID: it is parsed for the key
    (and everything else), but not handed over as the body.
    """
    flags = provider_flags(message.get("labelIds") or ())
    when = received_at(message)
    raw = decode_raw(str(message["raw"])) if "raw" in message else None
    source = raw if raw is not None else raw_for_key
    if source is None:
        source = header_block(headers_of(message))
    email = parse_message(source, received_at=when, flags=flags)
    snippet = message.get("snippet")
    # Gmail escapes the snippet as HTML (&#39;, &amp;); the preview is plain text.
    preview = html.unescape(snippet) if isinstance(snippet, str) and snippet else None
    return IncomingEmail(source=str(message.get("id", "")), email=email, raw=raw, preview=preview)
