"""Graph's JSON batching: several GET requests in one ``POST /v1.0/$batch``, and their answers.

The request is ``{"requests": [{"id", "method", "url", "headers"}]}`` with at most 20 requests, each ``url``
relative to ``/v1.0``; the answer ``{"responses": [{"id", "status", "headers", "body"}]}`` may list them "in a
different order than the requests", so they are matched by id; a batch answered 200 may hold refused parts
(https://learn.microsoft.com/graph/json-batching). The parts here are independent (no ``dependsOn``): Graph
runs them four at a time. A body that is not JSON, such as a message's MIME (``$value``), comes back as a
base64 string (by design, as Microsoft answered in
https://learn.microsoft.com/answers/questions/1352007/using-batching-with-the-graph-api-returns-the-body).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# "JSON batch requests are currently limited to 20 individual requests." (the batching page above)
MAX_BATCH = 20


@dataclass(frozen=True, slots=True)
class Part:
    """One answer inside a batch: its status, headers and body (JSON, or a base64 string)."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None

    def json(self) -> dict[str, Any] | None:
        """The body when it is a JSON object."""
        return self.body if isinstance(self.body, dict) else None

    def content(self) -> bytes | None:
        """The bytes of a body that is not JSON (Graph sends them base64-encoded); None if unreadable."""
        if not isinstance(self.body, str):
            return None
        text = self.body.strip()
        try:
            return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
        except (binascii.Error, ValueError):
            try:  # base64url, which some answers use
                return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            except (binascii.Error, ValueError):
                return None


def batch_body(urls: Sequence[str], headers: Mapping[str, str]) -> dict[str, Any]:
    """The JSON of a batch of GET requests; each part's id is its position."""
    if not 0 < len(urls) <= MAX_BATCH:
        raise ValueError(f"a batch holds 1 to {MAX_BATCH} requests, not {len(urls)}")
    requests = []
    for index, url in enumerate(urls):
        item: dict[str, Any] = {"id": str(index), "method": "GET", "url": url}
        if headers:
            item["headers"] = dict(headers)
        requests.append(item)
    return {"requests": requests}


def read_batch(body: Any, count: int) -> list[Part | None]:
    """The parts of a batch answer in request order; None where an answer is missing or unreadable."""
    parts: list[Part | None] = [None] * count
    responses = body.get("responses") if isinstance(body, dict) else None
    for item in responses if isinstance(responses, list) else []:
        if not isinstance(item, dict):
            continue
        try:
            index, status = int(str(item.get("id"))), int(item.get("status", 0))
        except (TypeError, ValueError):
            continue
        if 0 <= index < count and status:
            headers = item.get("headers")
            parts[index] = Part(
                status,
                {str(k).lower(): str(v) for k, v in headers.items()} if isinstance(headers, dict) else {},
                item.get("body"),
            )
    return parts
