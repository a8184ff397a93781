"""``POST /v1.0/$batch``: JSON batching (learn.microsoft.com/graph/json-batching).

Up to 20 requests, each ``{"id", "method", "url", "headers"?, "body"?, "dependsOn"?}``; answers
``{"responses": [{"id", "status", "headers", "body"}]}``. Each request runs through the whole emulator (auth,
quotas, faults) with the batch's ``Authorization``; a request whose dependency failed gets 424. Bodies that
are not JSON (``$value``) come back base64-encoded, as Graph does.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from mailtrail.sandbox.graph.errors import GraphError, graph_error_body

MAX_BATCH = 20
_METHODS = frozenset({"GET", "POST", "PATCH", "PUT", "DELETE"})


def _validate(body: object) -> list[dict[str, Any]]:
    if not isinstance(body, dict) or not isinstance(body.get("requests"), list):
        raise GraphError(400, "BadRequest", "Invalid batch payload format: a 'requests' array is required.")
    items: list[dict[str, Any]] = body["requests"]
    if not items:
        raise GraphError(400, "BadRequest", "Invalid batch payload format: the 'requests' array is empty.")
    if len(items) > MAX_BATCH:
        raise GraphError(
            400,
            "BadRequest",
            f"Invalid batch payload format: at most {MAX_BATCH} requests are allowed, got {len(items)}.",
        )
    seen: set[str] = set()
    for index, item in enumerate(items):
        where = f"request {index + 1}"
        if not isinstance(item, dict):
            raise GraphError(400, "BadRequest", f"Invalid batch payload format: {where} is not an object.")
        req_id, method, url = item.get("id"), item.get("method"), item.get("url")
        if not isinstance(req_id, str) or not req_id:
            raise GraphError(400, "BadRequest", f"Invalid batch payload format: {where} has no 'id'.")
        if req_id in seen:
            raise GraphError(
                400, "BadRequest", f"Invalid batch payload format: duplicate request id '{req_id}'."
            )
        if not isinstance(method, str) or method.upper() not in _METHODS:
            raise GraphError(
                400, "BadRequest", f"Invalid batch payload format: request '{req_id}' has an invalid method."
            )
        if not isinstance(url, str) or not url or url.lstrip("/").startswith("$batch"):
            raise GraphError(
                400, "BadRequest", f"Invalid batch payload format: request '{req_id}' has an invalid url."
            )
        depends = item.get("dependsOn", [])
        if not isinstance(depends, list) or any(d not in seen for d in depends):
            raise GraphError(
                400,
                "BadRequest",
                f"Invalid batch payload format: request '{req_id}' depends on an unknown or later request.",
            )
        seen.add(req_id)
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
        statuses: dict[str, int] = {}
        responses: list[dict[str, object]] = []
        async with httpx.AsyncClient(transport=transport, base_url=str(request.base_url)) as client:
            for item in items:
                answer = await _run(client, request, item, statuses)
                statuses[item["id"]] = int(answer["status"])  # type: ignore[call-overload]
                responses.append(answer)
        return JSONResponse({"responses": responses})

    return router


async def _run(
    client: httpx.AsyncClient, request: Request, item: dict[str, Any], statuses: dict[str, int]
) -> dict[str, object]:
    failed = [d for d in item.get("dependsOn", []) if statuses.get(d, 200) >= 400]
    if failed:
        body = graph_error_body("FailedDependency", f"Dependency '{failed[0]}' failed.")
        return {
            "id": item["id"],
            "status": 424,
            "headers": {"Content-Type": "application/json"},
            "body": body,
        }
    headers = {str(k): str(v) for k, v in (item.get("headers") or {}).items()}
    for name in ("authorization", "client-request-id"):
        if name in request.headers:
            headers.setdefault(name, request.headers[name])
    url = item["url"] if item["url"].startswith("/") else "/" + item["url"]
    content: bytes | None = None
    if item.get("body") is not None:
        content = json.dumps(item["body"]).encode()
        headers.setdefault("Content-Type", "application/json")
    try:
        response = await client.request(
            item["method"].upper(), "/v1.0" + url, headers=headers, content=content
        )
    except httpx.HTTPError as error:
        body = graph_error_body(
            "generalException", f"The request could not be completed: {type(error).__name__}."
        )
        return {
            "id": item["id"],
            "status": 500,
            "headers": {"Content-Type": "application/json"},
            "body": body,
        }
    answer: dict[str, object] = {"id": item["id"], "status": response.status_code}
    kept = {
        k: v
        for k, v in response.headers.items()
        if k.lower() in ("content-type", "retry-after", "location", "preference-applied")
    }
    answer["headers"] = {("Content-Type" if k.lower() == "content-type" else k): v for k, v in kept.items()}
    if response.content:
        if response.headers.get("content-type", "").startswith("application/json"):
            try:
                answer["body"] = response.json()
            except ValueError:
                answer["body"] = base64.b64encode(response.content).decode()
        else:
            answer["body"] = base64.b64encode(response.content).decode()
    return answer
