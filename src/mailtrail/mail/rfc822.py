"""Raw RFC 822 bytes to ParsedEmail: the fast header path (:func:`parse_message`) and, for emails being
imported, the bodies (:func:`extract_bodies`). Neither raises on any input."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime

from mailtrail.mail.addresses import address_tuple
from mailtrail.mail.bodies import extract_bodies
from mailtrail.mail.charsets import decode_encoded_words
from mailtrail.mail.dates import parse_date
from mailtrail.mail.headers import read_header_block
from mailtrail.mail.keys import BODY_KEY_BYTES, fallback_key, first_reference, normalise_message_id
from mailtrail.mail.parsed import Address, ParsedEmail, ProviderFlags

__all__ = ["extract_bodies", "parse_date", "parse_message"]

_NO_FLAGS = ProviderFlags()
# The contract's "Time": a Date before this gives way to the Received header's time.
EARLIEST_TIME = datetime(1971, 1, 1, tzinfo=UTC)


def parse_message(
    raw: bytes, *, received_at: datetime | None = None, flags: ProviderFlags = _NO_FLAGS
) -> ParsedEmail:
    """Parse the header block of one raw message into a ParsedEmail; bodies are left None.

    ``received_at`` (the provider's receive time) wins over the Date header. Input without a header block
    gets ``flags.not_email``. Odd input is described in ``defects``, never raised.
    """
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else bytes(raw)
    try:
        return _parse_message(data, received_at, flags)
    except Exception as error:  # a bug must not stop an import: report it on the email instead
        key = "sha256:" + hashlib.sha256(data).hexdigest()
        return ParsedEmail(
            key=key,
            time=_as_utc(received_at) if received_at else None,
            sender=None,
            flags=flags,
            defects=(f"parser error {type(error).__name__}",),
        )


def _parse_message(raw: bytes, received_at: datetime | None, flags: ProviderFlags) -> ParsedEmail:
    block = read_header_block(raw)
    fields = block.fields
    defects = block.defects
    if not block.is_email:
        defects.append("no header block")
        body = raw[block.body_offset : block.body_offset + 2 * BODY_KEY_BYTES]
        return ParsedEmail(
            key=fallback_key(sender=None, date="", subject="", recipients=(), body=body),
            time=_as_utc(received_at) if received_at else None,
            sender=None,
            flags=replace(flags, not_email=True),
            defects=tuple(dict.fromkeys(defects)),
        )

    dropped = 0
    sender: Address | None = None
    from_value = fields.get("from")
    if from_value is None:
        defects.append("no From header")
    else:
        authors, dropped = address_tuple(from_value, defects)
        sender = authors[0] if authors else None
    if sender is None and "sender" in fields:
        agents, agent_dropped = address_tuple(fields["sender"], defects)
        dropped += agent_dropped
        sender = agents[0] if agents else None
    empty: tuple[Address, ...] = ()
    to = cc = bcc = empty
    if "to" in fields:
        to, lost = address_tuple(fields["to"], defects)
        dropped += lost
    if "cc" in fields:
        cc, lost = address_tuple(fields["cc"], defects)
        dropped += lost
    if "bcc" in fields:
        bcc, lost = address_tuple(fields["bcc"], defects)
        dropped += lost

    subject = fields.get("subject", "")
    if subject:
        # Outlook folds with a tab, which readers show as a space.
        subject = decode_encoded_words(subject, defects).replace("\t", " ").strip()

    date_value = fields.get("date")
    sent_at: datetime | None = None
    if date_value is None:
        defects.append("no Date header")
    else:
        sent_at = parse_date(date_value, defects)
    time = _as_utc(received_at) if received_at else _email_time(sent_at, fields.get("received"), defects)

    key = normalise_message_id(fields.get("message-id"))
    if key is None:
        defects.append("no Message-ID header")
        key = fallback_key(
            sender=sender.address if sender else None,
            date=sent_at.isoformat() if sent_at else (date_value or "").strip(),
            subject=subject,
            recipients=[a.address for a in (*to, *cc)],
            body=raw[block.body_offset : block.body_offset + 2 * BODY_KEY_BYTES],
        )
    thread_key = (
        first_reference(fields.get("references")) or first_reference(fields.get("in-reply-to")) or key
    )
    return ParsedEmail(
        key=key,
        time=time,
        sender=sender,
        to=to,
        cc=cc,
        bcc=bcc,
        subject=subject,
        thread_key=thread_key,
        flags=flags,
        dropped_addresses=dropped,
        defects=tuple(dict.fromkeys(defects)),
    )


def _email_time(sent_at: datetime | None, received: str | None, defects: list[str]) -> datetime | None:
    """The time of a file's email: its Date, else the newest Received header's time; None gives way to the
    time of import. A Date before 1971 is no time at all (the contract's "Time")."""
    if sent_at is not None and sent_at >= EARLIEST_TIME:
        return sent_at
    if sent_at is not None:
        defects.append("Date before 1971")
    if received is None:
        return None
    # "Received: from a by b; Thu, 25 Oct 2001 12:38:17 -0700": the time follows the last semicolon.
    _, semicolon, when = received.rpartition(";")
    moment = parse_date(when, []) if semicolon else None
    if moment is None or moment < EARLIEST_TIME:
        defects.append("no usable time in the Received header")
        return None
    defects.append("time taken from the newest Received header")
    return moment


def _as_utc(moment: datetime) -> datetime:
    """A provider time as aware UTC; a naive one is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
