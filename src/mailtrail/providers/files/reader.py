"""Raw emails from files: an mbox, a Maildir, a tree of RFC 822 files, a tar archive, or one file."""

from __future__ import annotations

import os
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from mailtrail.mail.rfc822 import parse_message
from mailtrail.providers.base import IncomingEmail

MBOX_SEPARATOR = b"From "
# A file is read whole; an mbox is streamed message by message.
_READ_CHUNK = 1 << 20
TAR_SUFFIXES = (".tar", ".tar.xz", ".txz", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2")


@dataclass(frozen=True, slots=True)
class RawEmail:
    """One email's raw bytes and where it came from (``index`` is its position inside an mbox)."""

    path: str
    data: bytes
    index: int | None = None

    def incoming(self) -> IncomingEmail:
        """This email for the ingest service: parsed, with its raw bytes (a file sets no provider flags)."""
        return IncomingEmail(self.path, parse_message(self.data), self.data, index=self.index)


class SourceError(Exception):
    """A path given to the import does not exist or cannot be read."""


def is_tar(path: Path) -> bool:
    return path.name.lower().endswith(TAR_SUFFIXES)


def is_mbox(path: Path) -> bool:
    """An mbox starts with a ``From `` separator line (an RFC 822 file starts with a header field)."""
    with path.open("rb") as handle:
        return handle.read(len(MBOX_SEPARATOR)) == MBOX_SEPARATOR


def is_maildir(path: Path) -> bool:
    return (path / "cur").is_dir() and (path / "new").is_dir()


# Inside a folder, data files that sit beside mail (label lists, parser fixtures) are not emails.
NOT_MAIL_SUFFIXES = frozenset({".csv", ".json"})


def _is_mail_candidate(name: str) -> bool:
    return not name.startswith(".") and Path(name).suffix.lower() not in NOT_MAIL_SUFFIXES


def _walk_files(root: Path, *, wanted: bool = True) -> Iterator[Path]:
    """Files under ``root`` in a stable order: the mail candidates, or (``wanted=False``) the others.

    Hidden files and folders (.DS_Store, .git) and data files (.csv, .json) are not mail candidates.
    """
    for dirpath, dirnames, filenames in os.walk(root):
        hidden = [d for d in dirnames if d.startswith(".")]
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        if not wanted:
            yield from (Path(dirpath, d) for d in sorted(hidden))
        for name in sorted(filenames, key=_natural_key):
            if _is_mail_candidate(name) == wanted:
                yield Path(dirpath, name)


def ignored_files(paths: Iterable[Path]) -> list[Path]:
    """What the folders among ``paths`` hold that is not read as mail (hidden or data files and folders)."""
    return [file for path in paths if path.is_dir() for file in _walk_files(path, wanted=False)]


def _natural_key(name: str) -> tuple[int, int | str]:
    """``inbox/2`` before ``inbox/10``: numbered files in their numeric order."""
    return (0, int(name)) if name.isdigit() else (1, name)


def check_paths(paths: Iterable[Path]) -> list[Path]:
    """Every path must exist; the error names the first one that does not."""
    checked = []
    for path in paths:
        if not path.exists():
            raise SourceError(f"{path}: no such file or directory")
        checked.append(path)
    return checked


def count_files(paths: Iterable[Path]) -> int | None:
    """How many items the paths hold, when that is cheap to know (None with an mbox or archive among them)."""
    total = 0
    for path in paths:
        for file in _walk_files(path) if path.is_dir() else [path]:
            if is_tar(file) or is_mbox(file):
                return None
            total += 1
    return total


def read_emails(paths: Iterable[Path]) -> Iterator[RawEmail]:
    """Every email under the given paths, in a stable order, streamed."""
    for path in paths:
        if path.is_dir():
            roots = [path / "cur", path / "new"] if is_maildir(path) else [path]
            for root in roots:
                for file in _walk_files(root):
                    yield from _read_file(file)
        else:
            yield from _read_file(path)


def read_incoming(paths: Iterable[Path]) -> Iterator[IncomingEmail]:
    """Every email under the given paths as the ingest service takes it (see ``read_emails``)."""
    return (raw.incoming() for raw in read_emails(paths))


def _read_file(path: Path) -> Iterator[RawEmail]:
    try:
        if is_tar(path):
            yield from read_tar(path)
            return
        # One open per file: its first bytes tell an mbox (then streamed) from one message (read whole).
        with path.open("rb") as handle:
            data = handle.read(len(MBOX_SEPARATOR))
            if data != MBOX_SEPARATOR:
                data += handle.read()
        if data.startswith(MBOX_SEPARATOR):
            yield from read_mbox(path)
        else:
            yield RawEmail(str(path), data)
    except OSError as exc:
        raise SourceError(f"{path}: cannot be read ({exc.strerror or exc})") from None


def read_tar(path: Path) -> Iterator[RawEmail]:
    """The mail files of a tar archive, streamed member by member (``path/member`` names each one)."""
    try:
        with tarfile.open(path, mode="r|*") as archive:
            for member in archive:
                if member.isfile() and _is_mail_candidate(member.name.rsplit("/", 1)[-1]):
                    handle = archive.extractfile(member)
                    if handle is not None:
                        yield RawEmail(f"{path}/{member.name}", handle.read())
    except (tarfile.TarError, EOFError) as exc:
        raise SourceError(f"{path}: not a readable tar archive ({exc})") from None


def read_mbox(path: Path) -> Iterator[RawEmail]:
    """Split an mbox (mboxrd or mboxo) at ``From `` lines that follow an empty line, unquoting ``>From ``."""
    index = 0
    lines: list[bytes] = []
    previous_blank = True
    with path.open("rb", buffering=_READ_CHUNK) as handle:
        for line in handle:
            if line.startswith(MBOX_SEPARATOR) and previous_blank:
                if lines:
                    yield RawEmail(str(path), _message_bytes(lines), index)
                    index += 1
                lines = []
                previous_blank = False
                continue
            lines.append(line)
            previous_blank = line in (b"\n", b"\r\n")
    if lines:
        yield RawEmail(str(path), _message_bytes(lines), index)


def _message_bytes(lines: list[bytes]) -> bytes:
    # The empty line before the next separator belongs to the mbox, not to the message.
    if lines and lines[-1] in (b"\n", b"\r\n"):
        lines = lines[:-1]
    return b"".join(_unquote_from(line) for line in lines)


def _unquote_from(line: bytes) -> bytes:
    if line.startswith(b">") and line.lstrip(b">").startswith(MBOX_SEPARATOR):
        return line[1:]
    return line
