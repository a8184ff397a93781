"""Fill sandbox mailboxes from raw RFC 822: a file, an mbox, a Maildir, a directory tree or a tarball.

Tarballs are read as a stream (``r|*``), one member at a time, so seeding from the 44,755-message corpus never
holds more than one message besides what the mailbox stores.
"""

from __future__ import annotations

import os
import tarfile
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

from mailtrail.sandbox.message import parse_address_list, parse_headers
from mailtrail.sandbox.store import Mailbox

_TAR_SUFFIXES = (".tar", ".tar.xz", ".txz", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2")
_SKIPPED_NAMES = {".DS_Store", "Thumbs.db"}
_SKIPPED_SUFFIXES = (".csv", ".json", ".txt.gz", ".md")
# Files over this size are not messages worth serving (the corpora hold none this big).
MAX_MESSAGE_BYTES = 50 * 1024 * 1024

NameFilter = Callable[[str], bool]


class SeedError(Exception):
    """A seed path that cannot be read; the message says which path and why."""


def _wanted(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return (
        bool(base)
        and base not in _SKIPPED_NAMES
        and not base.startswith(".")
        and not base.endswith(_SKIPPED_SUFFIXES)
    )


def _iter_mbox(path: Path) -> Iterator[tuple[str, bytes]]:
    """Messages of an mbox file, split on ``From `` lines, with ``>From `` quoting undone (mboxrd)."""
    current: list[bytes] = []
    index = 0
    with path.open("rb") as handle:
        for line in handle:
            if line.startswith(b"From "):
                if current:
                    yield f"{path.name}#{index}", b"".join(current)
                    index += 1
                current = []
                continue
            if line.startswith(b">") and line.lstrip(b">").startswith(b"From "):
                line = line[1:]
            current.append(line)
    if current and any(line.strip() for line in current):
        yield f"{path.name}#{index}", b"".join(current)


def _iter_tar(path: Path, select: NameFilter | None) -> Iterator[tuple[str, bytes]]:
    try:
        with tarfile.open(path, mode="r|*") as archive:
            for member in archive:
                if not member.isfile() or not _wanted(member.name) or member.size > MAX_MESSAGE_BYTES:
                    continue
                if select is not None and not select(member.name):
                    continue
                handle = archive.extractfile(member)
                if handle is not None:
                    yield member.name, handle.read()
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise SeedError(f"cannot read the archive {path}: {exc}") from exc


def _is_mbox(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(5) == b"From "


def iter_raw_messages(path: Path, select: NameFilter | None = None) -> Iterator[tuple[str, bytes]]:
    """``(name, raw bytes)`` of every message under ``path``, in a stable order; ``select`` filters names."""
    if not path.exists():
        raise SeedError(f"seed path not found: {path}")
    if path.is_dir():
        for root, dirs, files in os.walk(path):
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "tmp")
            for name in sorted(files):
                file = Path(root) / name
                relative = file.relative_to(path).as_posix()
                if _wanted(name) and (select is None or select(relative)):
                    yield from _iter_file(file, relative)
        return
    if path.name.endswith(_TAR_SUFFIXES):
        yield from _iter_tar(path, select)
        return
    yield from _iter_file(path, path.name)


def _iter_file(path: Path, name: str) -> Iterator[tuple[str, bytes]]:
    try:
        if path.stat().st_size > MAX_MESSAGE_BYTES:
            return
        if _is_mbox(path):
            yield from _iter_mbox(path)
        else:
            yield name, path.read_bytes()
    except OSError as exc:
        raise SeedError(f"cannot read {path}: {exc}") from exc


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
