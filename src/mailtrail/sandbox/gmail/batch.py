"""The Gmail batch endpoint: ``multipart/mixed`` of HTTP requests in, ``multipart/mixed`` of responses out.

Google unwraps a batch into separate requests, counts "a set of n requests batched together ... as n
requests, not as one request", may perform them in any order, and answers each part in the order of the
request, matched by Content-ID (https://developers.google.com/gmail/api/guides/batch). The sandbox runs the
parts concurrently through the whole app, quota and fault middleware included, so the per-user concurrency
and rate limits refuse parts of a big batch the way Google does: the batch itself answers 200 and a refused
part carries its own 429 or 403 with Google's error body (as clients report,
https://github.com/googleapis/google-api-dotnet-client/issues/1982). Google advises against batches of more
than 50 for that reason; at most 100 parts are accepted.
"""

from __future__ import annotations

import asyncio
import secrets
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32
from typing import Any

import httpx
from fastapi import Request
from fastapi.responses import Response

from mailtrail.sandbox.gmail.errors import GmailError

MAX_BATCH = 100
_JSON = {"Content-Type": "application/json; charset=UTF-8"}


async def run_batch(app: Any, request: Request) -> Response:
    """Run each part of a ``multipart/mixed`` batch through ``app`` at once; answer parts in request order."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/mixed") or "boundary=" not in content_type:
        raise GmailError(
            400, "Batch requests need Content-Type multipart/mixed with a boundary", "badRequest"
        )
    body = await request.body()
    envelope = BytesParser(policy=compat32).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    parts = envelope.get_payload()
    if not isinstance(parts, list) or not parts:
        raise GmailError(400, "The batch request has no parts", "badRequest")
    if len(parts) > MAX_BATCH:
        raise GmailError(400, f"Too many requests in batch: {len(parts)} (at most {MAX_BATCH})", "badRequest")
    outer_auth = request.headers.get("authorization")
    messages = [part for part in parts if isinstance(part, Message)]
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=str(request.base_url)) as client:
        answers = await asyncio.gather(
            *(_run_part(client, str(part.get_payload(decode=False)), outer_auth) for part in messages)
        )
    boundary = "batch_" + secrets.token_hex(12)
    chunks: list[bytes] = []
    for part, (status, headers, payload) in zip(messages, answers, strict=True):
        content_id = str(part.get("Content-ID", "")).strip()
        cid = f"<response-{content_id.strip('<>')}>" if content_id else ""
        head = f"--{boundary}\r\nContent-Type: application/http\r\n"
        head += f"Content-ID: {cid}\r\n\r\n" if cid else "\r\n"
        head += f"HTTP/1.1 {status} {httpx.codes.get_reason_phrase(status)}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        chunks.append(head.encode() + f"Content-Length: {len(payload)}\r\n\r\n".encode() + payload + b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode())
    return Response(b"".join(chunks), media_type=f"multipart/mixed; boundary={boundary}")


async def _run_part(
    client: httpx.AsyncClient, text: str, outer_auth: str | None
) -> tuple[int, dict[str, str], bytes]:
    """One batched HTTP request (``METHOD path HTTP/1.1``, headers, body) through the app."""
    head, _, body = text.replace("\r\n", "\n").partition("\n\n")
    lines = head.strip("\n").split("\n")
    request_line = lines[0].split()
    if len(request_line) < 2:
        error = GmailError(400, f"Malformed batch part request line: {lines[0][:80]!r}", "badRequest")
        return 400, dict(_JSON), bytes(error.response().body)
    method, target = request_line[0], request_line[1]
    headers = dict(line.split(":", 1) for line in lines[1:] if ":" in line)
    headers = {k.strip(): v.strip() for k, v in headers.items()}
    # The outer request's headers apply to every part unless the part sets its own.
    if outer_auth and not any(k.lower() == "authorization" for k in headers):
        headers["Authorization"] = outer_auth
    headers.pop("Content-Length", None)
    try:
        response = await client.request(
            method, target, headers=headers, content=body.encode() if body else None
        )
    except httpx.HTTPError:
        return 503, dict(_JSON), bytes(GmailError(503).response().body)
    keep = {k: v for k, v in response.headers.items() if k.lower() in ("content-type", "retry-after", "etag")}
    return response.status_code, keep, response.content
