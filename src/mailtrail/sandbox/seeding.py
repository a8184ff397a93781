"""Fill sandbox mailboxes from raw RFC 822: a file, an mbox, a Maildir, a directory tree or a tarball.

Files are read by the same reader as ``mailtrail import`` (``providers.files``): tarballs as a stream, one
member at a time, so seeding from the 44,755-message corpus never holds more than one message besides what the
mailbox stores.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

from mailtrail.providers.files.reader import SourceError, read_emails
from mailtrail.sandbox.message import parse_address_list, parse_headers
from mailtrail.sandbox.store import Mailbox

# Messages over this size are not worth serving (the corpora hold none this big).
MAX_MESSAGE_BYTES = 50 * 1024 * 1024

NameFilter = Callable[[str], bool]


class SeedError(Exception):
    """A seed path that cannot be read; the message says which path and why."""


def iter_raw_messages(path: Path, select: NameFilter | None = None) -> Iterator[tuple[str, bytes]]:
    """``(name, raw bytes)`` of every message under ``path``, read as ``mailtrail import`` reads files.

    A name is relative to ``path`` (a member name inside an archive, ``FILE#N`` inside an mbox); ``select``
    filters on it.
    """
    if not path.exists():
        raise SeedError(f"seed path not found: {path}")
    prefix = f"{path}/"
    try:
        for raw in read_emails([path]):
            name = raw.path.removeprefix(prefix) if raw.path.startswith(prefix) else Path(raw.path).name
            if raw.index is not None:
                name = f"{name}#{raw.index}"
            if len(raw.data) <= MAX_MESSAGE_BYTES and (select is None or select(name)):
                yield name, raw.data
    except SourceError as exc:
        raise SeedError(str(exc)) from None


def seed_mailbox(
    mailbox: Mailbox,
    path: Path,
    *,
    limit: int | None = None,
    select: NameFilter | None = None,
    received_at: datetime | None = None,
) -> int:
    """Store every message under ``path`` in ``mailbox``; returns how many were stored.

    A message from the owner is filed as SENT, anything else lands in INBOX (read). The receive time is
    ``received_at`` if given, else the message's Date header, else now: seeded mail is old mail.
    """
    count = 0
    for _name, raw in iter_raw_messages(path, select):
        if limit is not None and count >= limit:
            break
        headers = parse_headers(raw)
        senders = {a.lower() for _, a in parse_address_list(headers.from_)}
        labels = ("SENT",) if mailbox.address in senders else ("INBOX",)
        mailbox.insert(raw, labels=labels, received_at=received_at or headers.date)
        count += 1
    return count
