"""Graph's message JSON to ``IncomingEmail``, through the same parser as a file import of the same message.

A delta page carries the ``$select``ed properties of each message (``SELECT``). They are written back into
an RFC 822 header block (From, Sender, To, Cc, Bcc with their display names, Subject, Date from
``sentDateTime``, Message-ID from ``internetMessageId``, References and In-Reply-To from
``internetMessageHeaders``) and parsed by ``mail.rfc822.parse_message``, so the message key, the
participants and the thread key are what a file import of the same MIME gives. Properties:
https://learn.microsoft.com/graph/api/resources/message (``internetMessageHeaders`` is "returned only on
applying a $select query option"). The one thing a header block cannot give is the body, which the
fallback key of a message without a Message-ID reads: ``lacks_message_id`` says which messages need their
MIME for their key.

Flags come from ``isDraft``, ``@odata.type`` and the well-known folder the message sits in (``roles``):
- Junk Email: spam; Deleted Items and Recoverable Items: trash;
- Drafts, and Outbox: a draft. A message in the Outbox has not been sent yet: like a draft it is the user's
  unsent words, and once sent it is filed in Sent Items as a new item, which is synced from there;
- an item that is not a message (``@odata.type`` other than message and its subtypes, such as the event
  messages of meeting requests, which are emails), Conversation History (instant messages) and Sync Issues
  (Outlook's logs): not an email.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from mailtrail.mail.parsed import ProviderFlags
from mailtrail.mail.rfc822 import parse_message
from mailtrail.providers.base import IncomingEmail
from mailtrail.providers.gmail.messages import header_block

# What the rules and visibility read (conversationId and parentFolderId: where the message is).
SELECT = (
    "id", "receivedDateTime", "sentDateTime", "internetMessageId", "subject", "from", "sender",
    "toRecipients", "ccRecipients", "bccRecipients", "isDraft", "parentFolderId", "conversationId",
    "bodyPreview", "internetMessageHeaders",
)  # fmt: skip
# Mail.ReadBasic grants everything "except for body, bodyPreview, uniqueBody, attachments, extensions, and any
# extended properties" (https://learn.microsoft.com/graph/permissions-reference).
SELECT_BASIC = tuple(name for name in SELECT if name != "bodyPreview")
# The message type and its subtypes (https://learn.microsoft.com/graph/api/resources/eventmessage and
# .../calendarsharingmessage): a GET of a plain message names no type, its subtypes do.
MESSAGE_TYPES = frozenset(
    {
        "#microsoft.graph.message",
        "#microsoft.graph.eventMessage",
        "#microsoft.graph.eventMessageRequest",
        "#microsoft.graph.eventMessageResponse",
        "#microsoft.graph.calendarSharingMessage",
    }
)
DRAFT_ROLES = frozenset({"drafts", "outbox"})
TRASH_ROLES = frozenset({"deleteditems", "recoverableitemsdeletions"})
NOT_EMAIL_ROLES = frozenset({"conversationhistory", "syncissues"})
_THREAD_HEADERS = ("References", "In-Reply-To")


def parse_time(value: object) -> datetime | None:
    """A Graph dateTimeOffset (``2026-01-05T09:00:00Z``) as aware UTC; None when absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def received_at(message: Mapping[str, Any]) -> datetime | None:
    """When the message was received (``receivedDateTime``)."""
    return parse_time(message.get("receivedDateTime"))


def lacks_message_id(message: Mapping[str, Any]) -> bool:
    """A message without ``internetMessageId``: its key needs the body, so its MIME."""
    value = message.get("internetMessageId")
    return not (isinstance(value, str) and value.strip())


def provider_flags(message: Mapping[str, Any], roles: Mapping[str, str]) -> ProviderFlags:
    """What Graph says about the item: a draft, spam, in the trash, or not an email (module docstring)."""
    role = roles.get(str(message.get("parentFolderId") or ""), "")
    kind = message.get("@odata.type")
    return ProviderFlags(
        draft=message.get("isDraft") is True or role in DRAFT_ROLES,
        spam=role == "junkemail",
        trash=role in TRASH_ROLES,
        not_email=(isinstance(kind, str) and kind not in MESSAGE_TYPES) or role in NOT_EMAIL_ROLES,
    )


def _mailbox(recipient: object) -> str | None:
    """A Graph ``recipient`` as a header mailbox: ``"Name" <address>``, or ``<address>`` without a name."""
    email = recipient.get("emailAddress") if isinstance(recipient, Mapping) else None
    if not isinstance(email, Mapping):
        return None
    address = str(email.get("address") or "").strip()
    name = str(email.get("name") or "").strip()
    if not address:
        return None
    # Graph repeats the address as the name when the message gave none: a file import sees no name then.
    if not name or name.lower() == address.lower():
        return f"<{address}>"
    escaped = name.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}" <{address}>'


def _mailboxes(value: object) -> str:
    recipients = value if isinstance(value, list) else [value]
    return ", ".join(mailbox for mailbox in map(_mailbox, recipients) if mailbox)


def headers_of(message: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The header fields a file import of the message would read, rebuilt from its Graph properties."""
    pairs: list[tuple[str, str]] = []
    for name, prop in (("From", "from"), ("Sender", "sender"), ("To", "toRecipients"), ("Cc", "ccRecipients"),
                       ("Bcc", "bccRecipients")):  # fmt: skip
        value = _mailboxes(message.get(prop))
        if value:
            pairs.append((name, value))
    subject = message.get("subject")
    if isinstance(subject, str):
        pairs.append(("Subject", subject))
    sent = parse_time(message.get("sentDateTime"))
    if sent is not None:
        pairs.append(("Date", format_datetime(sent)))
    if not lacks_message_id(message):
        pairs.append(("Message-ID", str(message["internetMessageId"]).strip()))
    transport = message.get("internetMessageHeaders")
    for wanted in _THREAD_HEADERS:
        for item in transport if isinstance(transport, list) else ():
            if isinstance(item, Mapping) and str(item.get("name", "")).lower() == wanted.lower():
                pairs.append((wanted, str(item.get("value") or "")))
                break
    return pairs


def to_incoming(
    message: Mapping[str, Any],
    roles: Mapping[str, str],
    *,
    raw: bytes | None = None,
    raw_for_key: bytes | None = None,
) -> IncomingEmail:
    """One Graph message as the ingest service takes it; ``raw`` is its MIME when fetched.

    ``raw_for_key`` is the MIME of a message without a Message-ID: parsed for the key (and everything else),
    but not handed over as the body.
    """
    source = raw if raw is not None else raw_for_key
    if source is None:
        source = header_block(headers_of(message))
    email = parse_message(source, received_at=received_at(message), flags=provider_flags(message, roles))
    preview = message.get("bodyPreview")
    return IncomingEmail(
        source=str(message.get("id", "")),
        email=email,
        raw=raw,
        preview=preview.strip() if isinstance(preview, str) and preview.strip() else None,
    )
