"""``POST /v1.0/$batch``: JSON batching (https://learn.microsoft.com/graph/json-batching).

Up to 20 requests, each ``{"id", "method", "url", "headers"?, "body"?, "dependsOn"?}``; answers
``{"responses": [{"id", "status", "headers", "body"}]}``, with status 200 whenever the batch is readable.
Each request runs through the whole emulator (auth, quotas, faults) with the batch's ``Authorization``.

Order and concurrency, as documented:
- ids are "Not case-sensitive. Must be unique in the batch, otherwise, the batch request fails with a 400";
- ``dependsOn`` "is an array of strings that references the id of a different individual request"; like the
  OData JSON batch format Graph implements, the sandbox accepts only ids of requests earlier in the batch, and
  any other shape fails the whole batch with 400. A request runs once its dependencies have finished; "If an
  individual request fails, any request that depends on that request fails with status code 424";
- independent requests run concurrently, but "Microsoft Graph sends the Outlook service up to four
  individual requests from the batch at a time, regardless of the target mailboxes", which keeps one batch
  within Outlook's 4 concurrent requests per app and mailbox
  (https://learn.microsoft.com/graph/throttling-limits#outlook-service-limits). The limit still fires
  inside a batch when other requests of the app hold the mailbox: such a part
  gets its own 429 ``ApplicationThrottled`` with ``Retry-After`` inside the 200 batch response ("Requests in a
  batch are evaluated individually against the applicable throttling limits").

Bodies that are not JSON (``$value``) come back base64-encoded, as Graph does.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from collections.abc import Callable
from typing import Any

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from mailtrail.sandbox.graph.errors import GraphError, graph_error_body

MAX_BATCH = 20
# How many parts of one batch Graph hands to the Outlook service at the same time.
BATCH_PARALLELISM = 4
_METHODS = frozenset({"GET", "POST", "PATCH", "PUT", "DELETE"})
# Response headers a part passes on, spelled as Graph spells them.
_KEPT_HEADERS = {
    "content-type": "Content-Type",
    "retry-after": "Retry-After",
    "location": "Location",
    "preference-applied": "Preference-Applied",
}


def _invalid(message: str) -> GraphError:
    return GraphError(400, "BadRequest", f"Invalid batch payload format: {message}")


def _validate(body: object) -> list[dict[str, Any]]:
    if not isinstance(body, dict) or not isinstance(body.get("requests"), list):
        raise _invalid("a 'requests' array is required.")
    items: list[dict[str, Any]] = body["requests"]
    if not items:
        raise _invalid("the 'requests' array is empty.")
    if len(items) > MAX_BATCH:
        raise _invalid(f"at most {MAX_BATCH} requests are allowed, got {len(items)}.")
    seen: set[str] = set()
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise _invalid(f"request {index + 1} is not an object.")
        req_id, method, url = item.get("id"), item.get("method"), item.get("url")
        if not isinstance(req_id, str) or not req_id:
            raise _invalid(f"request {index + 1} has no 'id'.")
        if req_id.lower() in seen:
            raise _invalid(f"duplicate request id '{req_id}'.")
        if not isinstance(method, str) or method.upper() not in _METHODS:
            raise _invalid(f"request '{req_id}' has an invalid method.")
        if not isinstance(url, str) or not url or url.lstrip("/").startswith("$batch"):
            raise _invalid(f"request '{req_id}' has an invalid url.")
        depends = item.get("dependsOn", [])
        if not isinstance(depends, list) or any(
            not isinstance(d, str) or d.lower() not in seen for d in depends
        ):
            raise _invalid(
                f"request '{req_id}' has an invalid dependsOn: it must be an array of the ids of earlier "
                "requests."
            )
        seen.add(req_id.lower())
    return items


def batch_router(outer_app: Callable[[], Any]) -> APIRouter:
    """The ``$batch`` route; ``outer_app()`` is the whole middleware stack that sub-requests go through."""
    router = APIRouter(tags=["batch"])

    @router.post("/v1.0/$batch")
    async def batch(request: Request) -> Response:
        try:
            payload = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError):
            raise GraphError(400, "BadRequest", "Unable to read JSON request payload.") from None
        items = _validate(payload)
        transport = httpx.ASGITransport(app=outer_app(), raise_app_exceptions=False)
        gate = asyncio.Semaphore(BATCH_PARALLELISM)
        finished = {item["id"].lower(): asyncio.Event() for item in items}
        statuses: dict[str, int] = {}
        answers: dict[str, dict[str, object]] = {}

        async def run(client: httpx.AsyncClient, item: dict[str, Any]) -> None:
            key = item["id"].lower()
            try:
                depends = [d.lower() for d in item.get("dependsOn", [])]
                for dependency in depends:
                    await finished[dependency].wait()
                failed = [d for d in item.get("dependsOn", []) if statuses[d.lower()] >= 400]
                if failed:
                    body = graph_error_body("FailedDependency", f"Dependency '{failed[0]}' failed.")
                    answer = _answer(item["id"], 424, body)
                else:
                    async with gate:  # a waiting request does not hold one of the four places
                        answer = await _run(client, request, item)
                answers[key] = answer
                statuses[key] = int(answer["status"])  # type: ignore[call-overload]
            finally:
                finished[key].set()

        async with httpx.AsyncClient(transport=transport, base_url=str(request.base_url)) as client:
            await asyncio.gather(*(run(client, item) for item in items))
        return JSONResponse({"responses": [answers[item["id"].lower()] for item in items]})

    return router


def _answer(req_id: str, status: int, body: dict[str, object]) -> dict[str, object]:
    return {"id": req_id, "status": status, "headers": {"Content-Type": "application/json"}, "body": body}


def _content(item: dict[str, Any], headers: dict[str, str]) -> bytes | None:
    """The request body: JSON as JSON, anything else from the "base64 URL-encoded value" the docs describe."""
    body = item.get("body")
    if body is None:
        return None
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), None)
    if content_type is None:
        headers["Content-Type"] = content_type = "application/json"
    if content_type.split(";")[0].strip().lower() == "application/json" or not isinstance(body, str):
        return json.dumps(body).encode()
    try:
        return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError):
        return body.encode()


async def _run(client: httpx.AsyncClient, request: Request, item: dict[str, Any]) -> dict[str, object]:
    headers = {str(k): str(v) for k, v in (item.get("headers") or {}).items()}
    for name in ("authorization", "client-request-id"):
        if name in request.headers and not any(k.lower() == name for k in headers):
            headers[name] = request.headers[name]
    url = item["url"] if item["url"].startswith("/") else "/" + item["url"]
    content = _content(item, headers)
    try:
        response = await client.request(
            item["method"].upper(), "/v1.0" + url, headers=headers, content=content
        )
    except httpx.HTTPError as error:
        body = graph_error_body(
            "generalException", f"The request could not be completed: {type(error).__name__}."
        )
        return _answer(item["id"], 500, body)
    answer: dict[str, object] = {"id": item["id"], "status": response.status_code}
    answer["headers"] = {
        _KEPT_HEADERS[k.lower()]: v for k, v in response.headers.items() if k.lower() in _KEPT_HEADERS
    }
    if response.content:
        if response.headers.get("content-type", "").startswith("application/json"):
            try:
                answer["body"] = response.json()
            except ValueError:
                answer["body"] = base64.b64encode(response.content).decode()
        else:
            answer["body"] = base64.b64encode(response.content).decode()
    return answer
