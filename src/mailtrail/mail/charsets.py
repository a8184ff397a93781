"""Lenient text decoding: charsets by name and RFC 2047 encoded-words. Nothing here raises."""

from __future__ import annotations

import binascii
import codecs
import re
from functools import lru_cache

# Labels that real mail uses but Python does not know, or knows as a narrower charset than senders mean.
_CHARSET_ALIASES = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "iso-8859-8-i": "iso-8859-8",
    "iso-8859-6-i": "iso-8859-6",
    "ks_c_5601-1987": "cp949",
    "windows-874": "cp874",
    "x-sjis": "shift_jis",
    "shift-jis": "shift_jis",
    "x-mac-roman": "mac_roman",
    "macintosh": "mac_roman",
    "tis-620": "cp874",
    "utf8": "utf-8",
    "unicode-1-1-utf-7": "utf-7",
}

# Codecs that bytes.decode accepts but that are not charsets a sender can mean (and that reject "replace").
_NOT_CHARSETS = frozenset({"idna", "punycode", "raw_unicode_escape", "unicode_escape", "undefined"})

_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([QqBb])\?([^?]*)\?=")
_BLANK = re.compile(r"[ \t\r\n]+")
_Q_ESCAPE = re.compile(rb"=([0-9A-Fa-f]{2})")


@lru_cache(maxsize=256)
def resolve_charset(label: str) -> str | None:
    """The Python codec name for a MIME charset label, or None when the label names no usable charset.

    US-ASCII is widened to UTF-8: 8-bit bytes under an ASCII label are common, and UTF-8 is the likeliest.
    """
    name = label.strip().strip("\"'").lower()
    name = name.split("*", 1)[0]  # RFC 2231 language suffix: "utf-8*en"
    name = _CHARSET_ALIASES.get(name, name)
    try:
        codec = codecs.lookup(name).name
    except (LookupError, ValueError):
        return None
    if codec in _NOT_CHARSETS:
        return None
    if codec == "ascii":
        return "utf-8"
    try:
        b"".decode(codec)  # text encodings only; "rot13", "zlib" and the like fail here
    except (LookupError, UnicodeError, ValueError, TypeError):
        return None
    return codec


def decode_bytes(data: bytes, charset: str | None, defects: list[str] | None = None) -> str:
    """Decode ``data`` in the named charset; unknown charsets fall back to UTF-8, bad bytes become U+FFFD.

    Without a charset (or with US-ASCII) the bytes are read as UTF-8 when they are valid UTF-8, else as
    Windows-1252, the likeliest 8-bit charset of unlabelled mail.
    """
    codec = resolve_charset(charset) if charset else "utf-8"
    if codec is None:
        if defects is not None:
            defects.append(f"bad charset {charset[:40]!r}" if charset else "bad charset")
        codec = "utf-8"
    if codec == "utf-8" and not (charset and charset.strip().strip("\"'").lower() in ("utf-8", "utf8")):
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return data.decode("cp1252", "replace")
    try:
        return data.decode(codec, "replace")
    except (LookupError, UnicodeError, ValueError, TypeError):  # a codec that rejects "replace"
        return data.decode("utf-8", "replace")


def _encoded_word_bytes(encoding: str, text: str) -> bytes:
    if encoding in "Bb":
        cleaned = text.strip()
        cleaned += "=" * (-len(cleaned) % 4)
        try:
            return binascii.a2b_base64(cleaned.encode("ascii", "ignore"))
        except (binascii.Error, ValueError):
            # Broken padding or length: decode what whole 4-character groups there are.
            usable = cleaned.rstrip("=")
            usable = usable[: len(usable) - len(usable) % 4]
            try:
                return binascii.a2b_base64(usable.encode("ascii", "ignore"))
            except (binascii.Error, ValueError):
                return b""
    raw = text.replace("_", " ").encode("utf-8", "surrogateescape")
    return _Q_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), raw)


def decode_encoded_words(value: str, defects: list[str] | None = None) -> str:
    """Decode RFC 2047 encoded-words in a header value; white space between adjacent words is dropped.

    Adjacent words in one charset are joined as bytes before decoding, because senders split multi-byte
    characters across words.
    """
    if "=?" not in value:
        return value
    out: list[str] = []
    pending: list[bytes] = []
    pending_charset = ""
    position = 0

    def flush() -> None:
        if pending:
            out.append(decode_bytes(b"".join(pending), pending_charset, defects))
            pending.clear()

    for match in _ENCODED_WORD.finditer(value):
        between = value[position : match.start()]
        charset = match.group(1)
        if between and not (pending and _BLANK.fullmatch(between)):
            flush()
            out.append(between)
        if pending and charset.lower() != pending_charset.lower():
            flush()
        pending_charset = charset
        pending.append(_encoded_word_bytes(match.group(2), match.group(3)))
        position = match.end()
    flush()
    out.append(value[position:])
    decoded = "".join(out)
    # An encoded NUL ("=00") cannot be stored in a PostgreSQL text column.
    return decoded.replace("\x00", "\ufffd") if "\x00" in decoded else decoded
