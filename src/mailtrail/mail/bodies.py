"""The text and HTML bodies of a raw message, for emails that are being imported (the slow path).

The stdlib parser with the ``compat32`` policy does the MIME structure: it is lenient about missing boundaries
and does not have ``policy.default``'s superlinear header parsing. Content types and charsets are read here,
from header values capped in length, and decoded leniently.
"""

from __future__ import annotations

import binascii
import re
from email import policy
from email.message import Message
from email.parser import BytesParser

from mailtrail.mail.charsets import decode_bytes

# Header values longer than this are junk (a "text/html ; ; ; ..." trap is 14 KB); parameters come first.
_MAX_PARAM_HEADER = 2000
# Parts nested deeper than this are not read (a message built to nest endlessly).
_MAX_DEPTH = 50
_CHARSET = re.compile(r"""charset\s*=\s*["']?([^"';\s]+)""", re.IGNORECASE)
_NAMED = re.compile(r"(?:^|;)\s*(?:file)?name\*?\s*=", re.IGNORECASE)

# Transfer encodings compat32 undoes itself (it compares the lower-cased header value exactly).
_COMPAT32_DECODES = frozenset({"quoted-printable", "base64", "x-uuencode", "uuencode", "uue", "x-uue"})
_NOT_IN_CTE = re.compile(r"[^a-z0-9]")
_NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/]")

_PARSER = BytesParser(policy=policy.compat32)


def extract_bodies(raw: bytes) -> tuple[str | None, str | None]:
    """The first text/plain and first text/html body that are not attachments; None where there is none."""
    try:
        message = _PARSER.parsebytes(bytes(raw))
    except Exception:  # the feed parser is lenient; anything it still throws means "no readable body"
        return None, None
    text: str | None = None
    html: str | None = None
    for part in _leaf_parts(message):
        content_type, charset, attachment = _describe(part)
        if content_type.startswith("multipart/"):
            content_type = "text/plain"  # its boundary never appears: what is there is the text
        if attachment or not content_type.startswith("text/"):
            continue
        if content_type == "text/html":
            if html is None:
                html = _decode_part(part, charset)
        elif content_type == "text/plain" and text is None:
            text = _decode_part(part, charset)
        if text is not None and html is not None:
            break
    return text, html


def _leaf_parts(message: Message) -> list[Message]:
    """The non-multipart parts in document order, not descending into attached messages."""
    leaves: list[Message] = []
    stack: list[tuple[Message, int]] = [(message, 0)]
    while stack:
        part, depth = stack.pop()
        payload = part.get_payload()
        if isinstance(payload, list):
            if depth < _MAX_DEPTH and not _header(part, "content-type").lower().startswith("message/"):
                stack.extend((child, depth + 1) for child in reversed(payload) if isinstance(child, Message))
            continue
        leaves.append(part)
    return leaves


def _header(part: Message, name: str) -> str:
    """A header value as capped text, whatever type compat32 returns for it."""
    try:
        value = part.get(name)
        return "" if value is None else str(value)[:_MAX_PARAM_HEADER]
    except Exception:  # a Header object that fails to render is no usable header
        return ""


def _describe(part: Message) -> tuple[str, str | None, bool]:
    """Content type (lower-case, text/plain by default), charset parameter, whether it is an attachment."""
    content_type_value = _header(part, "content-type")
    main = content_type_value.split(";", 1)[0].strip().lower()
    content_type = main if "/" in main else "text/plain"
    match = _CHARSET.search(content_type_value)
    charset = match.group(1) if match else None
    disposition = _header(part, "content-disposition")
    attachment = disposition.strip().lower().startswith("attachment") or bool(
        _NAMED.search(disposition) or _NAMED.search(content_type_value)
    )
    return content_type, charset, attachment


def _decode_part(part: Message, charset: str | None) -> str | None:
    """The decoded text of a leaf part (transfer encoding, then charset); None when it cannot be read."""
    data = _transfer_decoded(part)
    if data is None:
        return None
    text = decode_bytes(data, charset)
    if "\x00" in text:
        text = text.replace("\x00", "")  # NUL cannot be stored in a PostgreSQL text column
    return text


def _transfer_decoded(part: Message) -> bytes | None:
    """The part's bytes with its Content-Transfer-Encoding undone, reading the encoding's name leniently.

    compat32 decodes the exact names (and gives the raw bytes for anything else); senders also write
    "quoted printable", "Base64 " and the like, which are decoded here.
    """
    try:
        data = part.get_payload(decode=True)
    except Exception:  # compat32 decoders are lenient; a failure here means an unreadable part
        return None
    if not isinstance(data, bytes):
        return None
    written = _header(part, "content-transfer-encoding")
    if written.lower() in _COMPAT32_DECODES:
        return data
    encoding = _NOT_IN_CTE.sub("", written.split(";", 1)[0].lower())
    try:
        if encoding == "quotedprintable":
            return binascii.a2b_qp(data)
        if encoding == "base64":
            return _lenient_base64(data)
    except (binascii.Error, ValueError):  # still undecodable: show the text as it came
        return data
    return data


def _lenient_base64(data: bytes) -> bytes:
    """Base64 with junk characters skipped and missing padding added."""
    cleaned = _NOT_BASE64.sub(b"", data).rstrip(b"=")
    cleaned = cleaned[: len(cleaned) - len(cleaned) % 4 if len(cleaned) % 4 == 1 else len(cleaned)]
    return binascii.a2b_base64(cleaned + b"=" * (-len(cleaned) % 4))
