"""The Gmail batch format: several GET requests in one ``multipart/mixed`` body, and their answers.

Each part is ``Content-Type: application/http`` holding one HTTP request with only the path of its URL;
the outer request's Authorization applies to every part. The answer is ``multipart/mixed`` too, one
``application/http`` part per request, in request order and each named by ``Content-ID: <response-ID>`` for
the request's ``Content-ID: <ID>`` (https://developers.google.com/workspace/gmail/api/guides/batch). Each part
has its own status: a batch answered 200 may hold parts refused for rate limits, or 404 for messages gone.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

# The blank line that ends a header block, with CRLF or bare LF line ends.
_BLANK_LINE = re.compile(rb"\r?\n\r?\n")
_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)
_STATUS_LINE = re.compile(rb"^HTTP/\d(?:\.\d)?\s+(\d{3})")
_RESPONSE_ID = re.compile(r"<response-item(\d+)>")


@dataclass(frozen=True, slots=True)
class PartResponse:
    """One answered part of a batch: its HTTP status, headers (lower-case names) and body."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def json(self) -> Any:
        """The body as JSON (None when it is not JSON)."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None


def build_batch(targets: Sequence[str]) -> tuple[bytes, str]:
    """The body and Content-Type of a batch of GET requests; ``targets`` are paths with their queries."""
    boundary = "batch_mailtrail_" + secrets.token_hex(12)
    chunks = [
        f"--{boundary}\r\nContent-Type: application/http\r\nContent-ID: <item{index}>\r\n\r\n"
        f"GET {target} HTTP/1.1\r\n\r\n"
        for index, target in enumerate(targets)
    ]
    chunks.append(f"--{boundary}--\r\n")
    return "".join(chunks).encode("ascii"), f"multipart/mixed; boundary={boundary}"


def parse_batch(content_type: str, body: bytes, count: int) -> list[PartResponse | None]:
    """The answers to a batch of ``count`` requests, in request order; None where a part is missing.

    Parts are matched to requests by Content-ID, else by position.
    """
    match = _BOUNDARY.search(content_type)
    if match is None:
        return [None] * count
    delimiter = b"--" + match.group(1).strip().encode("latin-1")
    answers: list[PartResponse | None] = [None] * count
    segments = body.split(delimiter)[1:]  # the text before the first delimiter is preamble
    for position, segment in enumerate(segments):
        if segment.startswith(b"--"):  # the closing delimiter
            break
        head, answer = _split_part(segment)
        index = _index(head, position)
        if answer is not None and 0 <= index < count and answers[index] is None:
            answers[index] = answer
    return answers


def _split_part(segment: bytes) -> tuple[dict[str, str], PartResponse | None]:
    """A part's own headers, and the HTTP response it holds."""
    segment = segment.lstrip(b"\r\n")
    separator = _BLANK_LINE.search(segment)
    if separator is None:
        return {}, None
    head = _headers(segment[: separator.start()])
    return head, _response(segment[separator.end() :])


def _response(data: bytes) -> PartResponse | None:
    status = _STATUS_LINE.match(data)
    if status is None:
        return None
    separator = _BLANK_LINE.search(data)
    if separator is None:
        return PartResponse(int(status.group(1)))
    lines = data[: separator.start()].split(b"\n", 1)
    headers = _headers(lines[1] if len(lines) > 1 else b"")
    body = data[separator.end() :]
    length = headers.get("content-length", "")
    if length.isdigit() and int(length) <= len(body):
        body = body[: int(length)]
    elif body.endswith(b"\r\n"):
        # The line break before the next delimiter belongs to the delimiter (RFC 2046, 5.1.1).
        body = body[:-2]
    elif body.endswith(b"\n"):
        body = body[:-1]
    return PartResponse(int(status.group(1)), headers, body)


def _headers(block: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in block.decode("latin-1").splitlines():
        name, colon, value = line.partition(":")
        if colon:
            headers[name.strip().lower()] = value.strip()
    return headers


def _index(head: dict[str, str], position: int) -> int:
    found = _RESPONSE_ID.search(head.get("content-id", ""))
    return int(found.group(1)) if found else position
