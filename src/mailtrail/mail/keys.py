"""Message keys: what makes two copies of one email (in two mailboxes, or two sources) the same engagement."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

# Keys and thread keys are stored in 512-character columns; longer ids are hashed (see normalise_message_id).
MAX_KEY_LENGTH = 500
# The fallback key reads this much of the body (import-rules.md, "Deduplication").
BODY_KEY_BYTES = 4096
FALLBACK_PREFIX = "sha256:"
LONG_ID_PREFIX = "id-sha256:"


def normalise_message_id(value: str | None) -> str | None:
    """A Message-ID header value without its angle brackets and surrounding white space; None when empty.

    When the value holds a bracketed id plus junk (``<a@b> (comment)``) the first bracketed id is used; ids
    longer than 500 characters become ``id-sha256:<hex of the id>`` so they fit the key columns.
    """
    if not value:
        return None
    text = value.strip()
    if "<" in text:
        start = text.index("<") + 1
        end = text.find(">", start)
        text = text[start:] if end < 0 else text[start:end]
    text = text.strip().strip("<>").strip()
    if not text:
        return None
    if len(text) > MAX_KEY_LENGTH:
        digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
        return LONG_ID_PREFIX + digest
    return text


def first_reference(value: str | None) -> str | None:
    """The first message id of a References or In-Reply-To value, normalised like a key."""
    if not value:
        return None
    text = value.strip()
    if "<" in text:
        return normalise_message_id(text)
    first = text.split(None, 1)[0] if text else ""
    return normalise_message_id(first)


def body_for_key(body: bytes) -> bytes:
    """The body bytes the fallback key reads: CRLF as LF, the first 4 KB, trailing blanks removed.

    Line endings and the blank line an mbox adds after each message differ between sources of one message.
    """
    # CRLF -> LF at most halves the length, so twice the budget is always enough input.
    return body[: 2 * BODY_KEY_BYTES].replace(b"\r\n", b"\n")[:BODY_KEY_BYTES].rstrip(b" \t\n")


def message_key(
    message_id: str | None,
    *,
    sender: str | None,
    date: str,
    subject: str,
    recipients: Iterable[str],
    body: bytes,
) -> str:
    """The dedup key of an email: its normalised Message-ID, else a SHA-256 fallback.

    The fallback is ``sha256:`` followed by the hex SHA-256 of, in this order, each followed by a NUL byte and
    encoded as UTF-8: the sender's normalised address (empty if none); ``date``, which callers set to the
    Date header as an ISO 8601 UTC time when it parses, else the header value stripped, else empty; the
    decoded subject, stripped; the normalised To and Cc addresses, de-duplicated, sorted and joined with ","
    (not Bcc, which only the sender's copy has); then :func:`body_for_key` of the raw body bytes after the
    header block. The prefix keeps it apart from real Message-IDs, which do not take that form.
    """
    normalised = normalise_message_id(message_id)
    if normalised is not None:
        return normalised
    return fallback_key(sender=sender, date=date, subject=subject, recipients=recipients, body=body)


def fallback_key(
    *, sender: str | None, date: str, subject: str, recipients: Iterable[str], body: bytes
) -> str:
    """The ``sha256:`` key of an email without a Message-ID (the inputs are described in message_key)."""
    digest = hashlib.sha256()
    for part in (sender or "", date, subject.strip(), ",".join(sorted(set(recipients)))):
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\x00")
    digest.update(body_for_key(body))
    return FALLBACK_PREFIX + digest.hexdigest()
