"""HTTP endpoints of the sync domain: Gmail push notifications, and the OAuth callback of a connect flow.

A push is a hint, not data: it is checked (the sender's signed token), acknowledged at once, and makes the
named mailbox due; the sync reads the changes itself. So a lost push costs a little delay (polling is the
safety net) and a forged one nothing but a sync.
"""

from __future__ import annotations

import asyncio
import html
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse

from mailtrail.crm.errors import CrmError
from mailtrail.db import transaction
from mailtrail.logs import get_logger
from mailtrail.models import OAuthFlow
from mailtrail.providers.base import ProviderError
from mailtrail.providers.gmail.auth import exchange_code
from mailtrail.providers.gmail.push import PushRejected, decode_push, verify_push
from mailtrail.sync import mailboxes
from mailtrail.sync.runtime import Runtime

log = get_logger(__name__)

GMAIL_PUSH_PATH = "/push/gmail"
GOOGLE_CALLBACK_PATH = "/oauth/google/callback"


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
