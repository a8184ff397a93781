"""The Microsoft Graph v1.0 mail emulator and the Microsoft identity platform, as one ASGI app.

Request path, outermost first: path normalisation (Graph paths are case-insensitive and accept OData key
syntax such as ``mailFolders('Inbox')`` and ``/me``) -> quotas (per app per mailbox) -> injected faults ->
FastAPI routes. Errors come back in Graph's body, token endpoint errors in AAD's.

msal needs an ``https://`` authority (see ``tls.py``): serve this app with TLS and give msal the certificate
as ``verify=``; ``instance_discovery=False`` skips the call to login.microsoftonline.com.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator, Iterable, MutableMapping
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import jwt
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from mailtrail.sandbox.control import control_router
from mailtrail.sandbox.faults import Fault, FaultMiddleware, FaultPlan
from mailtrail.sandbox.graph.access import AccessPolicies, ApplicationAccessPolicy, sync_directory
from mailtrail.sandbox.graph.batch import batch_router
from mailtrail.sandbox.graph.control_routes import graph_control_router
from mailtrail.sandbox.graph.delta import DeltaTracker, SyncStateNotFound
from mailtrail.sandbox.graph.delta_routes import delta_router
from mailtrail.sandbox.graph.errors import (
    AadError,
    GraphError,
    aad_error_response,
    graph_error_body,
    graph_error_response,
)
from mailtrail.sandbox.graph.identity import IdentityPlatform
from mailtrail.sandbox.graph.identity_routes import identity_router
from mailtrail.sandbox.graph.mail_routes import mail_router
from mailtrail.sandbox.graph.mail_writes import write_router
from mailtrail.sandbox.graph.state import GraphSandbox
from mailtrail.sandbox.graph.subscription_routes import subscription_router
from mailtrail.sandbox.graph.subscriptions import SubscriptionHub
from mailtrail.sandbox.graph.user_routes import user_router
from mailtrail.sandbox.quota import GRAPH_POLICY, QuotaExceeded, QuotaLimiter, QuotaMiddleware, QuotaPolicy
from mailtrail.sandbox.store import Tenant

# Public, documented sandbox values (not secrets): what `mailtrail sandbox` prints for msal users.
DEFAULT_TENANT_ID = "5e9a7f2c-6b1d-4c8e-9f3a-2d7b0c4e8a61"
SANDBOX_CLIENT_ID = "0d4f6c2a-8b1e-4f3d-9a7c-5e2b1d0c9f8e"
SANDBOX_CLIENT_SECRET = "sandbox-client-secret"  # noqa: S105 - a fixed demo credential of a local emulator
SANDBOX_REDIRECT_URIS = ("http://localhost", "http://127.0.0.1")
# Admin-consented application permissions of the sandbox app: read mail, list the tenant's users.
SANDBOX_APP_PERMISSIONS = frozenset({"Mail.Read", "User.Read.All"})

_SEGMENTS = {
    s.lower(): s for s in ("users", "mailFolders", "childFolders", "messages", "delta", "subscriptions")
}
_KEY_SYNTAX = re.compile(r"/(users|mailFolders|childFolders|messages)\('([^']*)'\)", re.IGNORECASE)


class GraphPathMiddleware:
    """Rewrite ``/v1.0/me/...`` to ``/v1.0/users/me/...``, ``segment('key')`` to ``segment/key``, fix case."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].lower().startswith("/v1.0/"):
            path = _KEY_SYNTAX.sub(lambda m: f"/{m[1]}/{m[2]}", scope["path"])
            parts = path.split("/")
            parts = [
                _SEGMENTS.get(p.lower(), p) if i != 3 or parts[2] != "users" else p
                for i, p in enumerate(parts)
            ]
            path = "/".join(parts)
            if path.lower() == "/v1.0/me" or path.lower().startswith("/v1.0/me/"):
                path = "/v1.0/users/me" + path[len("/v1.0/me") :]
            scope = dict(scope, path=path, raw_path=path.encode())
        await self.app(scope, receive, send)


def _json(
    status: int, body: dict[str, object], headers: dict[str, str]
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    raw = [(b"content-type", b"application/json")] + [
        (k.lower().encode(), v.encode()) for k, v in headers.items()
    ]
    return status, raw, json.dumps(body).encode()


def _render_quota(exceeded: QuotaExceeded) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    # Outlook's 429 body, code ApplicationThrottled, e.g. "Application is over its MailboxConcurrency limit."
    # (https://learn.microsoft.com/en-us/answers/questions/1660054/
    # send-4-reqeusts-at-the-same-time-but-still-get-app; the limits:
    # https://learn.microsoft.com/graph/throttling-limits#outlook-service-limits).
    limit = "MailboxConcurrency" if exceeded.concurrent else "ApplicationRequestRate"
    body = graph_error_body("ApplicationThrottled", f"Application is over its {limit} limit.")
    return _json(429, body, {"Retry-After": exceeded.retry_after_header})


def _render_fault(
    fault: Fault, scope: MutableMapping[str, Any]
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    retry = {"Retry-After": str(max(1, round(fault.retry_after)))} if fault.retry_after is not None else {}
    if fault.kind == "expired_token":
        body = graph_error_body(
            "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired."
        )
        return _json(401, body, {"WWW-Authenticate": 'Bearer realm=""'})
    if fault.kind == "history_gone":
        gone = SyncStateNotFound()
        return _json(410, graph_error_body(gone.code, gone.message), {"Location": scope["path"]})
    if fault.status == 429:
        body = graph_error_body("ApplicationThrottled", "Application is over its MailboxConcurrency limit.")
        return _json(429, body, retry or {"Retry-After": "1"})
    if fault.status == 503:
        message = "The service is temporarily unavailable. You may repeat the request after a delay."
        return _json(503, graph_error_body("serviceNotAvailable", message), retry or {"Retry-After": "1"})
    return _json(
        fault.status, graph_error_body("generalException", "An unspecified error has occurred."), retry
    )


def create_graph_app(
    tenant: Tenant,
    *,
    quota: QuotaPolicy = GRAPH_POLICY,
    faults: FaultPlan | None = None,
    identity: IdentityPlatform | None = None,
    dev_token: str | None = None,
    tenant_id: str = DEFAULT_TENANT_ID,
    delta_horizon: timedelta | None = timedelta(days=7),
    access_policies: Iterable[ApplicationAccessPolicy] = (),
) -> FastAPI:
    """A Graph v1.0 mail + identity platform app over ``tenant``; ``app.state.sandbox`` is its GraphSandbox.

    The sandbox app (``SANDBOX_CLIENT_ID``/``SANDBOX_CLIENT_SECRET``, Mail.Read and User.Read.All) is
    registered unless an ``identity`` is given; ``dev_token`` is accepted as an app-only bearer token for
    every mailbox (Mail.ReadWrite). ``access_policies`` are Exchange application access policies in force
    from the start (more can be added through ``app.state.sandbox.policies`` or the control routes).
    """
    if identity is None:
        identity = IdentityPlatform(tenant_id, tenant.clock.seconds)
        identity.register_app(
            SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, SANDBOX_REDIRECT_URIS, SANDBOX_APP_PERMISSIONS
        )
    if dev_token:
        identity.dev_token = dev_token
    faults = faults or FaultPlan()
    limiter = QuotaLimiter(quota, tenant.clock)
    hub = SubscriptionHub(tenant, tenant.clock, identity.tenant_id, faults)
    delta = DeltaTracker(tenant.clock, delta_horizon)
    graph = GraphSandbox(tenant, identity, limiter, faults, delta, hub, AccessPolicies(access_policies))
    sync_directory(identity, tenant)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        hub.close()

    app = FastAPI(
        title="mailtrail sandbox: Microsoft Graph v1.0 mail", docs_url=None, redoc_url=None, lifespan=lifespan
    )
    app.state.sandbox = graph
    app.include_router(identity_router(identity))
    app.include_router(batch_router(lambda: app))
    app.include_router(subscription_router(graph, hub))
    app.include_router(control_router(faults, limiter))  # /sandbox/quota and /sandbox/faults (shared core)
    app.include_router(graph_control_router(graph))  # /sandbox/graph/...
    app.include_router(user_router(graph))
    app.include_router(delta_router(graph))  # before the read routes, which would take "delta" for an id
    app.include_router(mail_router(graph))
    app.include_router(write_router(graph))

    @app.exception_handler(GraphError)
    async def graph_error(request: Request, error: GraphError) -> Response:
        return graph_error_response(error, request.headers.get("client-request-id"))

    @app.exception_handler(AadError)
    async def aad_error(_request: Request, error: AadError) -> Response:
        return aad_error_response(error)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        if error.status_code == 404:
            segment = request.url.path.rstrip("/").rsplit("/", 1)[-1]
            message = f"Resource not found for the segment '{segment}'."
            return JSONResponse(graph_error_body("BadRequest", message), status_code=400)
        code = "BadRequest" if error.status_code < 500 else "generalException"
        return JSONResponse(graph_error_body(code, str(error.detail)), status_code=error.status_code)

    @app.middleware("http")
    async def request_ids(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        request_id = str(uuid.uuid4())
        response.headers["request-id"] = request_id
        response.headers["client-request-id"] = request.headers.get("client-request-id", request_id)
        return response

    def classify(scope: MutableMapping[str, Any]) -> tuple[str, int, str] | None:
        return _quota_key(graph, scope)

    # add_middleware wraps: the last one added runs first.
    app.add_middleware(FaultMiddleware, plan=faults, render=_render_fault)
    app.add_middleware(QuotaMiddleware, limiter=limiter, classify=classify, render=_render_quota)
    app.add_middleware(GraphPathMiddleware)
    return app


def _quota_key(graph: GraphSandbox, scope: MutableMapping[str, Any]) -> tuple[str, int, str] | None:
    """``(app/mailbox, 1, operation)`` for a mailbox request with a readable token, else None."""
    parts = scope["path"].split("/")
    if len(parts) < 4 or parts[1] != "v1.0" or parts[2] != "users":
        return None
    headers = {k.decode().lower(): v.decode() for k, v in scope.get("headers", [])}
    token = headers.get("authorization", "")[7:].strip()
    if not token:
        return None
    if graph.identity.dev_token is not None and token == graph.identity.dev_token:
        app_id, upn = "sandbox-dev-token", None
    else:
        try:
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            return None
        app_id, upn = str(claims.get("appid", "")), claims.get("upn")
    user = upn if parts[3] == "me" else parts[3]
    if not user:
        return None
    sync_directory(graph.identity, graph.tenant)
    found = graph.identity.find_user(str(user))
    if found is None:
        return None
    operation = (
        parts[-1]
        if parts[-1] in ("delta", "$value", "messages", "mailFolders", "childFolders", "move")
        else "get"
    )
    return f"{app_id}/{found.user_principal_name}", 1, operation
