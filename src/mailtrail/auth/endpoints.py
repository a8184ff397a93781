"""HTTP endpoints of sign-in: a session from address and password, sign-out, who am I, and signing in with
Google or Microsoft (``/auth/{provider}/start`` and ``/callback``)."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import BaseModel
from sqlalchemy.orm import Session

from mailtrail.api.errors import error_response, error_responses
from mailtrail.auth import oidc
from mailtrail.auth.dependencies import (
    SESSION_COOKIE,
    CurrentUser,
    DbSession,
    clear_session_cookie,
    secure_cookies,
    set_session_cookie,
)
from mailtrail.auth.errors import AuthError, Forbidden, InvalidInput, SignInRefused
from mailtrail.auth.principal import Principal
from mailtrail.auth.sessions import NewSession, sign_in, sign_out, start_session
from mailtrail.auth.users import federated_user
from mailtrail.db import transaction
from mailtrail.models import User, Workspace
from mailtrail.sync.endpoints import RuntimeDep
from mailtrail.sync.runtime import Runtime

SESSION_PATH = "/api/v1/session"
FLOW_COOKIE = "mailtrail_sign_in"
Provider = Literal["google", "microsoft"]
_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")

router = APIRouter(tags=["auth"])


class UserOut(BaseModel):
    id: int
    email: str
    name: str | None
    role: str


class WorkspaceOut(BaseModel):
    id: int
    name: str


class Me(BaseModel):
    """Who is signed in: ``user`` is null for an API token."""

    user: UserOut | None
    workspace: WorkspaceOut
    role: str
    via: str
    csrf_token: str | None


class SessionOut(Me):
    """A session just started: the cookie is set; ``csrf_token`` goes with every unsafe request."""

    expires_at: datetime


_SIGN_IN_BODY = {
    "type": "object",
    "required": ["email", "password"],
    "properties": {
        "email": {"type": "string"},
        "password": {"type": "string", "format": "password"},
        "workspace": {"type": "string", "description": "only when the address is a user of several"},
    },
}


@router.post(
    SESSION_PATH,
    status_code=201,
    response_model=SessionOut,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": _SIGN_IN_BODY},
                "application/x-www-form-urlencoded": {"schema": _SIGN_IN_BODY},
            },
        }
    },
    responses=error_responses(400, 401, 403, 429),
)
async def create_session(request: Request, db: DbSession, runtime: RuntimeDep) -> Response:
    """Sign in with address and password (JSON or a form): sets the session cookie."""
    _same_origin(request)
    fields = await _fields(request)
    now = runtime.clock()
    try:
        new = await run_in_threadpool(
            sign_in, db, fields["email"], fields["password"], now=now, ip=_client_ip(request),
            user_agent=request.headers.get("user-agent"), workspace=fields.get("workspace") or None,
        )  # fmt: skip
    except AuthError as exc:
        # Answered rather than raised: the request's transaction must commit the failed attempt, which is
        # what the rate limit counts.
        return error_response(exc)
    previous = request.cookies.get(SESSION_COOKIE)
    if previous:
        # The browser's earlier session (someone else's, perhaps) ends rather than lingering unseen.
        await run_in_threadpool(sign_out, db, previous)
    body = await run_in_threadpool(_me, db, _principal_of(new))
    response = JSONResponse(
        SessionOut(**body.model_dump(), expires_at=new.ends_at).model_dump(mode="json"), status_code=201
    )
    set_session_cookie(response, new, runtime.settings, now)
    return response


@router.delete(SESSION_PATH, status_code=204, responses=error_responses(400, 401, 403))
def delete_session(request: Request, user: CurrentUser, db: DbSession, runtime: RuntimeDep) -> Response:
    """Sign out: ends this session (CSRF token required) and clears the cookie."""
    if user.via != "session":
        raise InvalidInput("an API token is not signed out but revoked: `mailtrail tokens revoke PREFIX`")
    token = request.cookies.get(SESSION_COOKIE, "")
    sign_out(db, token)
    response = Response(status_code=204)
    clear_session_cookie(response, runtime.settings)
    return response


@router.get("/api/v1/me", response_model=Me, responses=error_responses(401))
def me(user: CurrentUser, db: DbSession) -> Me:
    """Who is signed in (or whose API token this is), in which workspace, with which role."""
    return _me(db, user)


@router.get("/auth/{provider}/start", status_code=303, responses=error_responses(404))
def oidc_start(
    provider: Annotated[Provider, Path()],
    runtime: RuntimeDep,
    next: Annotated[str, Query(description="where to go after signing in (a path here)")] = "/",
) -> Response:
    """Sign in with Google or Microsoft: to the provider, with this browser's flow in a sealed cookie."""
    settings = runtime.settings
    client = oidc.oidc_client(settings, provider)
    url, flow = oidc.start_sign_in(client, callback_url(runtime, provider), runtime.clock(), next)
    response = RedirectResponse(url, status_code=303)
    response.set_cookie(
        FLOW_COOKIE, oidc.seal_flow(flow, runtime.box), max_age=int(oidc.FLOW_LIFETIME.total_seconds()),
        path="/auth/", secure=secure_cookies(settings), httponly=True, samesite="lax",
    )  # fmt: skip
    return response


@router.get("/auth/{provider}/callback", status_code=303, responses=error_responses(400, 403, 502))
async def oidc_callback(
    provider: Annotated[Provider, Path()],
    request: Request,
    runtime: RuntimeDep,
    code: str = "",
    state: str = "",
    error: str = "",
    error_description: str = "",
) -> Response:
    """Where Google or Microsoft send the browser back: verify, find the user, start the session."""
    name = oidc.NAMES[provider]
    if error:
        detail = (error_description or error).splitlines()[0][:300]
        raise SignInRefused(f"{name} did not sign you in ({detail}): start again")
    now = runtime.clock()
    flow = oidc.open_flow(request.cookies.get(FLOW_COOKIE), runtime.box, provider, state, now)
    client = oidc.oidc_client(runtime.settings, provider)
    id_token = await oidc.exchange_code(client, code, callback_url(runtime, provider), flow.verifier)
    identity = await oidc.verify_id_token(client, id_token, flow.nonce, now)
    previous = request.cookies.get(SESSION_COOKIE)
    new = await asyncio.to_thread(
        _federated_session, runtime, identity, request.headers.get("user-agent"), previous
    )
    response = RedirectResponse(flow.next_path, status_code=303)
    set_session_cookie(response, new, runtime.settings, now)
    response.delete_cookie(FLOW_COOKIE, path="/auth/", secure=secure_cookies(runtime.settings), httponly=True)
    return response


def callback_url(runtime: Runtime, provider: str) -> str:
    """Where the provider sends people back: register it with the provider's app registration."""
    return f"{runtime.settings.public_url.rstrip('/')}/auth/{provider}/callback"


def _federated_session(
    runtime: Runtime, identity: oidc.Identity, user_agent: str | None, previous: str | None
) -> NewSession:
    with transaction(runtime.sessions) as session:
        if previous:
            sign_out(session, previous)
        now = runtime.clock()
        user = federated_user(
            session, identity.email, identity.name, identity.organisation, identity.provider, now
        )
        return start_session(session, user, now=now, user_agent=user_agent, via=identity.provider)


def _me(db: Session, principal: Principal) -> Me:
    workspace = db.get_one(Workspace, principal.workspace_id)
    user = db.get(User, principal.user_id) if principal.user_id is not None else None
    shown = UserOut(id=user.id, email=user.email, name=user.name, role=user.role) if user else None
    return Me(
        user=shown,
        workspace=WorkspaceOut(id=workspace.id, name=workspace.name),
        role=principal.role,
        via=principal.via,
        csrf_token=principal.csrf,
    )


def _principal_of(new: NewSession) -> Principal:
    return Principal(new.user.id, new.user.workspace_id, new.user.role, "session", new.csrf)


async def _fields(request: Request) -> dict[str, str]:
    content_type = request.headers.get("content-type", "")
    raw: Any
    if content_type.startswith(_FORMS):
        raw = dict(await request.form())
    else:
        try:
            raw = json.loads(await request.body() or b"null")
        except ValueError:
            raise InvalidInput("send the address and password as JSON or as a form") from None
    if not isinstance(raw, dict):
        raise InvalidInput('send {"email": ..., "password": ...}')
    missing = [key for key in ("email", "password") if not isinstance(raw.get(key), str) or not raw[key]]
    if missing:
        raise InvalidInput(f"missing: {' and '.join(missing)}")
    return {key: value for key, value in raw.items() if isinstance(value, str)}


def _same_origin(request: Request) -> None:
    """Refuse a sign-in posted by another site's page (login CSRF: it would sign the browser in as someone
    else). Browsers say where a POST comes from in ``Origin``; programs send none and are let through."""
    origin = request.headers.get("origin")
    if origin is None:
        return
    if origin == "null" or urlsplit(origin).netloc.lower() != request.headers.get("host", "").lower():
        raise Forbidden("a sign-in must come from mailtrail's own page", code="csrf_failed")


def _client_ip(request: Request) -> str | None:
    return request.client.host if request.client is not None else None
