"""The header block of raw RFC 822 bytes: found, decoded and unfolded without the stdlib `email` package.

This is the hot path of every import, so it reads only the fields that the rules and the key need.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

# Fields that parse_message reads; every other field is skipped without being unfolded.
WANTED_FIELDS = frozenset(
    {"from", "sender", "to", "cc", "bcc", "subject", "date", "message-id", "references", "in-reply-to",
     "received"}
)  # fmt: skip
# Fields that may repeat and whose occurrences are all read (a second "To:" still names recipients).
LIST_FIELDS = frozenset({"to", "cc", "bcc", "references"})
# Fields that repeat by design and of which only the first (topmost, the newest hop) is read.
FIRST_ONLY_FIELDS = frozenset({"received"})

# A field name is printable ASCII without ":" (RFC 5322 2.2); obsolete syntax allows blanks before the colon.
_FIELD = re.compile(r"([!-9;-~]+)[ \t]*:")
_BLANK_LINE = re.compile(rb"\n\r?\n")
_BOM = b"\xef\xbb\xbf"
# "From  : a@b" is a header field in obsolete syntax, not an mbox separator line.
_FROM_FIELD = re.compile(rb"From[ \t]*:")
_LEADING_BLANKS = re.compile(rb"(?:[ \t\r]*\n)+")


@dataclass(slots=True)
class HeaderBlock:
    """The wanted fields (lower-case names, unfolded values) and where the body starts in the raw bytes."""

    fields: dict[str, str] = field(default_factory=dict)
    body_offset: int = 0
    # False when the input does not start with a header field at all (rule 0d: not an email).
    is_email: bool = True
    defects: list[str] = field(default_factory=list)


def read_header_block(raw: bytes, wanted: frozenset[str] = WANTED_FIELDS) -> HeaderBlock:
    """Split ``raw`` at the first empty line and read the wanted fields; skip a leading mbox "From " line."""
    block = HeaderBlock()
    start = 3 if raw.startswith(_BOM) else 0
    if raw.startswith(b"From ", start) and not _FROM_FIELD.match(raw, start):
        newline = raw.find(b"\n", start)
        if newline < 0:  # one line of text that happens to start with "From "
            block.is_email = False
            block.body_offset = start
            return block
        start = newline + 1
    blanks = _LEADING_BLANKS.match(raw, start)
    content = blanks.end() if blanks else start
    if content >= len(raw):
        block.is_email = False
        block.body_offset = len(raw)
        return block
    if content > start:
        # Some exports put blank (or all-space) lines before the headers; a header block still follows.
        block.defects.append("blank lines before the headers")
        start = content
    separator = _BLANK_LINE.search(raw, start)
    if separator is None:
        end = block.body_offset = len(raw)
        block.defects.append("no empty line after the headers")
    else:
        end = separator.start() + 1
        block.body_offset = separator.end()
    text = _decode_header_bytes(raw[start:end], block.defects)
    _read_fields(text, wanted, block)
    if not block.is_email:
        # No header block after all: everything is body (and what the fallback key reads).
        block.body_offset = start
        block.defects.clear()
    return block


def _decode_header_bytes(data: bytes, defects: list[str]) -> str:
    """Header bytes as text: UTF-8 (RFC 6532), else line by line UTF-8 or Windows-1252; never surrogates."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        defects.append("8-bit header bytes that are not UTF-8")
        lines = []
        for line in data.split(b"\n"):
            try:
                lines.append(line.decode("utf-8"))
            except UnicodeDecodeError:
                lines.append(line.decode("cp1252", "replace"))
        text = "\n".join(lines)
    if "\x00" in text:
        # NUL cannot be stored in a PostgreSQL text column.
        defects.append("NUL bytes in headers")
        text = text.replace("\x00", "\ufffd")
    return text


def _read_fields(text: str, wanted: frozenset[str], block: HeaderBlock) -> None:
    first = _FIELD.match(text)
    if first is None:
        block.is_email = False
        return
    fields = block.fields
    # One C-level scan finds the wanted fields; values run on over continuation lines (starting with a blank).
    for name, value in _field_pattern(wanted).findall("\n" + text):
        if "\n" in value:
            value = value.replace("\r\n", "").replace("\n", "")
        _store(fields, name.lower(), value, block.defects)


@lru_cache(maxsize=8)
def _field_pattern(wanted: frozenset[str]) -> re.Pattern[str]:
    """A pattern for the wanted fields at line starts, anchored on a literal newline.

    Case-insensitive by character classes rather than re.IGNORECASE, so the regex engine can jump from
    newline to newline (measured about 1.5x faster on the Enron headers).
    """
    names = "|".join(
        "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else re.escape(c) for c in name)
        for name in sorted(wanted)
    )
    return re.compile(rf"\n({names})[ \t]*:([^\n]*(?:\n[ \t][^\n]*)*)")


def _store(fields: dict[str, str], name: str, value: str, defects: list[str]) -> None:
    value = value.strip()
    previous = fields.get(name)
    if previous is None:
        fields[name] = value
    elif name in LIST_FIELDS:
        if value:
            joiner = " " if name == "references" else ", "
            fields[name] = f"{previous}{joiner}{value}" if previous else value
    elif name not in FIRST_ONLY_FIELDS:
        defects.append(f"repeated {name} header (first one used)")
