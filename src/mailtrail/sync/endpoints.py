"""HTTP endpoints of the sync domain: Gmail push and Graph notifications, and the connect flows' callbacks.

A push is a hint, not data: it is checked (Google's signed token, Graph's client state per subscription),
acknowledged at once, and makes the named mailbox due; the sync reads the changes itself. So a lost push
costs a little delay (polling is the safety net) and a forged one nothing but a sync.
"""

from __future__ import annotations

import asyncio
import html
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse, PlainTextResponse

from mailtrail.crm.errors import CrmError
from mailtrail.db import transaction
from mailtrail.logs import get_logger
from mailtrail.models import OAuthFlow
from mailtrail.providers.base import ProviderError
from mailtrail.providers.gmail.auth import exchange_code
from mailtrail.providers.gmail.push import PushRejected, decode_push, verify_push
from mailtrail.providers.microsoft import (
    NotificationRejected,
    WatchState,
    finish_connect,
    parse_notifications,
    subscription_ids,
    validation_answer,
)
from mailtrail.sync import mailboxes
from mailtrail.sync.microsoft import CALLBACK_PATH as MICROSOFT_CALLBACK_PATH
from mailtrail.sync.microsoft import LIFECYCLE_PATH, NOTIFICATIONS_PATH, user_app
from mailtrail.sync.repository import mailboxes_watching, renew_watches
from mailtrail.sync.runtime import Runtime

log = get_logger(__name__)

GMAIL_PUSH_PATH = "/push/gmail"
GOOGLE_CALLBACK_PATH = "/oauth/google/callback"
# Lifecycle events after which the subscription must be renewed or made again (and the mailbox synced).
RENEWING_EVENTS = frozenset({"reauthorizationRequired", "subscriptionRemoved"})


def current_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(current_runtime)]
router = APIRouter()


@router.post(GMAIL_PUSH_PATH, status_code=204, include_in_schema=False)
async def gmail_push(request: Request, runtime: RuntimeDep) -> Response:
    """A Gmail notification through Pub/Sub: verified, acknowledged, its mailbox made due."""
    settings = runtime.settings
    try:
        await verify_push(
            request.headers.get("authorization"),
            audience=settings.public_url.rstrip("/") + GMAIL_PUSH_PATH,
            service_account_email=settings.google_push_service_account,
            certs_url=settings.google_certs_url,
        )
        address, history_id = decode_push(await request.body())
    except PushRejected as exc:
        # 403 makes Pub/Sub retry with back-off; a genuine push refused by a misconfiguration is logged.
        log.warning("push refused", reason=str(exc))
        return Response(status_code=403)
    mailbox_ids = await runtime.request_sync("gmail", address.lower())
    log.info("push received", mailboxes=mailbox_ids, history_id=history_id)
    return Response(status_code=204)


@router.get(GOOGLE_CALLBACK_PATH, response_class=HTMLResponse, include_in_schema=False)
async def google_callback(
    runtime: RuntimeDep, state: str = "", code: str = "", error: str = ""
) -> HTMLResponse:
    """Where Google sends the person back after they granted (or refused) access to their mailbox."""
    if error:
        return _page(400, "Mailbox not connected", f"Google says: {error}. Nothing was changed.")
    try:
        address = await connect_from_callback(runtime, state, code)
    except (CrmError, ProviderError) as exc:
        return _page(400, "Mailbox not connected", str(exc))
    return _page(200, "Mailbox connected", f"{address} is connected; its customer email appears shortly.")


async def connect_from_callback(runtime: Runtime, state: str, code: str) -> str:
    """Finish a Google connect flow: trade the code for a grant, store it, connect the mailbox."""
    settings = runtime.settings
    flow, verifier = await asyncio.to_thread(_finish, runtime, state)
    secret = settings.google_client_secret
    granted = await exchange_code(
        code,
        client_id=settings.google_client_id,
        client_secret=secret.get_secret_value() if secret else None,
        redirect_uri=flow.redirect_uri,
        code_verifier=verifier,
        token_uri=settings.google_token_url,
        gmail_base_url=settings.gmail_api_url,
    )
    scopes = " ".join(granted.scopes) or flow.scopes

    def store() -> str:
        with transaction(runtime.sessions) as session:
            now, workspace_id, address = runtime.clock(), flow.workspace_id, granted.email
            grant = mailboxes.store_grant(
                session, workspace_id, "gmail", address, granted.refresh_token, scopes, runtime.box, now
            )
            return mailboxes.connect_mailbox(session, workspace_id, "gmail", address, grant, now).address

    address = await asyncio.to_thread(store)
    log.info("mailbox connected", workspace_id=flow.workspace_id, address=address)
    # The first sync starts now rather than at the dispatcher's next round.
    await runtime.request_sync("gmail", address)
    return address


def _finish(runtime: Runtime, state: str) -> tuple[OAuthFlow, str]:
    with transaction(runtime.sessions) as session:
        return mailboxes.finish_flow(session, state, runtime.box, runtime.clock())


def _page(status: int, title: str, text: str) -> HTMLResponse:
    body = (
        f"<!doctype html><html lang=en><meta charset=utf-8><title>{html.escape(title)}</title>"
        f"<h1>{html.escape(title)}</h1><p>{html.escape(text)}</p></html>"
    )
    return HTMLResponse(body, status_code=status)


# ---- Microsoft 365 ----------------------------------------------------------------------------------------


@router.post(NOTIFICATIONS_PATH, include_in_schema=False)
@router.post(LIFECYCLE_PATH, include_in_schema=False)
async def microsoft_notifications(request: Request, runtime: RuntimeDep) -> Response:
    """Graph's change and lifecycle notifications: the validation handshake, or checked hints answered at
    once (Graph waits 3 seconds); the sync reads the changes itself."""
    token = validation_answer(request.query_params)
    if token is not None:
        return PlainTextResponse(token, headers={"X-Content-Type-Options": "nosniff"})
    body = await request.body()
    watched = await asyncio.to_thread(_watched, runtime, subscription_ids(body))
    try:
        notes = parse_notifications(body, {sub: state for sub, (_, state) in watched.items()})
    except NotificationRejected as exc:
        # Accepted but ignored: a notification that is not ours must not be retried for hours either.
        log.warning("graph notification refused", reason=str(exc))
        return Response(status_code=202)
    sync = sorted(
        {watched[n.subscription_id][0] for n in notes if n.lifecycle_event != "reauthorizationRequired"}
    )
    renew = sorted({watched[n.subscription_id][0] for n in notes if n.lifecycle_event in RENEWING_EVENTS})
    if renew:
        await asyncio.to_thread(_renew_watches, runtime, renew)
    await runtime.sync_now(sorted({*sync, *renew}))
    log.info("graph notifications received", mailboxes=sync, renew=renew)
    return Response(status_code=202)


@router.post(MICROSOFT_CALLBACK_PATH, response_class=HTMLResponse, include_in_schema=False)
async def microsoft_callback(request: Request, runtime: RuntimeDep) -> HTMLResponse:
    """Where the identity platform sends the person back (a form POST) after they consented, or not."""
    answer = {key: str(value) for key, value in (await request.form()).items()}
    if answer.get("error"):
        detail = answer.get("error_description") or answer["error"]
        return _page(400, "Mailbox not connected", f"Microsoft says: {detail}. Nothing was changed.")
    try:
        address = await connect_microsoft_from_callback(runtime, answer)
    except (CrmError, ProviderError) as exc:
        return _page(400, "Mailbox not connected", str(exc))
    return _page(200, "Mailbox connected", f"{address} is connected; its customer email appears shortly.")


async def connect_microsoft_from_callback(runtime: Runtime, answer: dict[str, str]) -> str:
    """Finish a Microsoft connect flow: redeem the answer with msal's flow, store the grant, connect."""
    flow, kept = await asyncio.to_thread(_finish, runtime, answer.get("state", ""))
    connected = await finish_connect(user_app(runtime.settings), kept, answer)

    def store() -> int:
        with transaction(runtime.sessions) as session:
            now, workspace_id = runtime.clock(), flow.workspace_id
            grant = mailboxes.store_grant(
                session, workspace_id, "microsoft", connected.address, connected.grant.dump(),
                " ".join(connected.scopes), runtime.box, now,
            )  # fmt: skip
            return mailboxes.connect_mailbox(
                session, workspace_id, "microsoft", connected.address, grant, now
            ).id

    mailbox_id = await asyncio.to_thread(store)
    log.info("mailbox connected", workspace_id=flow.workspace_id, provider="microsoft")
    await runtime.sync_now([mailbox_id])
    return connected.address


def _watched(runtime: Runtime, subscriptions: set[str]) -> dict[str, tuple[int, str]]:
    """``{subscription id: (mailbox id, client state)}`` of the named subscriptions that are ours."""
    found: dict[str, tuple[int, str]] = {}
    with runtime.sessions() as session:
        for mailbox_id, watch_id, sealed in mailboxes_watching(session, "microsoft", subscriptions):
            state = WatchState.load(runtime.engine.unseal(sealed))
            if state is not None and watch_id:
                found[watch_id] = (mailbox_id, state.client_state)
    return found


def _renew_watches(runtime: Runtime, mailbox_ids: list[int]) -> None:
    with transaction(runtime.sessions) as session:
        renew_watches(session, mailbox_ids)
