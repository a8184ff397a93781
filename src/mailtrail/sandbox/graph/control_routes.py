"""Sandbox-only controls of the Graph emulator (beside the shared ``/sandbox/quota`` and ``/sandbox/faults``).

What a tenant administrator or Entra would do to a connector, scripted over HTTP for people and benchmarks
driving ``mailtrail sandbox`` from outside the process (tests do the same through ``app.state.sandbox``):

- ``GET|POST|DELETE /sandbox/graph/application-access-policies``: Exchange application access policies
  (``{"appId", "mailboxes": [...], "accessRight": "DenyAccess"|"RestrictAccess"}``);
- ``POST /sandbox/graph/interaction-required``: ``{"user", "aadsts": 50076|50079|65001}`` makes the user's
  refresh tokens fail until the user signs in again;
- ``POST /sandbox/graph/users``: ``{"userPrincipalName", "displayName"?}`` adds a directory user without a
  mailbox.
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from mailtrail.sandbox.graph.aadsts import INTERACTION_CODES
from mailtrail.sandbox.graph.access import ApplicationAccessPolicy
from mailtrail.sandbox.graph.errors import GraphError
from mailtrail.sandbox.graph.state import GraphSandbox


async def _spec(request: Request) -> dict[str, object]:
    try:
        spec = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError):
        spec = None
    if not isinstance(spec, dict):
        raise GraphError(400, "BadRequest", "The body must be a JSON object.")
    return spec


def graph_control_router(graph: GraphSandbox) -> APIRouter:
    """The Graph emulator's own ``/sandbox/graph/...`` control routes."""
    router = APIRouter(prefix="/sandbox/graph", include_in_schema=False)

    @router.get("/application-access-policies")
    def list_policies() -> Response:
        return JSONResponse({"value": [p.json() for p in graph.policies.all()]})

    @router.post("/application-access-policies")
    async def add_policy(request: Request) -> Response:
        spec = await _spec(request)
        app_id, mailboxes = spec.get("appId"), spec.get("mailboxes")
        right = spec.get("accessRight", "DenyAccess")
        if not isinstance(app_id, str) or not isinstance(mailboxes, list) or not mailboxes:
            raise GraphError(400, "BadRequest", 'Need "appId" and a non-empty "mailboxes" array.')
        if right not in ("DenyAccess", "RestrictAccess"):
            raise GraphError(400, "BadRequest", 'accessRight must be "DenyAccess" or "RestrictAccess".')
        policy = ApplicationAccessPolicy(app_id, frozenset(str(m) for m in mailboxes), right)
        return JSONResponse(graph.policies.add(policy).json(), status_code=201)

    @router.delete("/application-access-policies")
    def clear_policies(appId: str | None = None) -> Response:
        graph.policies.clear(appId)
        return Response(status_code=204)

    @router.post("/interaction-required")
    async def interaction_required(request: Request) -> Response:
        spec = await _spec(request)
        user = graph.identity.find_user(str(spec.get("user", "")))
        code = spec.get("aadsts", 50076)
        if user is None:
            raise GraphError(
                404, "Request_ResourceNotFound", f"No user '{spec.get('user')}' in the directory."
            )
        if code not in INTERACTION_CODES:
            raise GraphError(400, "BadRequest", f"aadsts must be one of {sorted(INTERACTION_CODES)}.")
        count = graph.identity.require_interaction(user, code)
        return JSONResponse({"user": user.user_principal_name, "aadsts": code, "refreshTokens": count})

    @router.post("/users")
    async def add_user(request: Request) -> Response:
        spec = await _spec(request)
        upn = spec.get("userPrincipalName")
        if not isinstance(upn, str) or "@" not in upn:
            raise GraphError(400, "BadRequest", 'Need "userPrincipalName", an address.')
        user = graph.identity.add_user(upn, str(spec.get("displayName") or ""))
        body = {"id": user.object_id, "userPrincipalName": user.user_principal_name}
        return JSONResponse(body, status_code=201)

    return router
