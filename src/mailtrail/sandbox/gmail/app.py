"""The Gmail API v1 emulator as a FastAPI app: ``create_gmail_app(tenant)``.

Serves ``/gmail/v1/users/{userId}/...`` (profile, labels, messages, history, watch, stop), the batch endpoint
``/batch/gmail/v1`` and the identity endpoints. Middleware order, outermost first: quota (per user, Gmail's
units), faults, the routes. Batched requests run through the same stack, so each counts like a single call.
"""

# No ``from __future__ import annotations``: FastAPI must see the local Annotated dependency aliases.
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32
from typing import Annotated, Any

import httpx
from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from mailtrail.sandbox.control import control_router
from mailtrail.sandbox.faults import FaultMiddleware, FaultPlan, Scope
from mailtrail.sandbox.gmail.errors import GmailError, quota_renderer, render_fault
from mailtrail.sandbox.gmail.identity import identity_router
from mailtrail.sandbox.gmail.oauth import GoogleAuth
from mailtrail.sandbox.gmail.push import GmailPush, pubsub_router
from mailtrail.sandbox.gmail.resources import (
    FORMATS,
    QueryError,
    attachment_json,
    compile_query,
    history_json,
    label_json,
    message_json,
    message_ref,
)
from mailtrail.sandbox.quota import (
    GMAIL_METHOD_COSTS,
    GMAIL_POLICY,
    QuotaLimiter,
    QuotaMiddleware,
    QuotaPolicy,
)
from mailtrail.sandbox.store import HistoryExpired, Mailbox, Tenant, UnknownMailbox, UnknownMessage

MAX_BATCH = 100
_USER_PATH = re.compile(r"^/gmail/v1/users/([^/]+)/(.*)$")
_METHODS = [
    (re.compile(r"^profile$"), "getProfile"),
    (re.compile(r"^labels$"), "labels.list"),
    (re.compile(r"^labels/[^/]+$"), "labels.get"),
    (re.compile(r"^messages$"), "messages.list"),
    (re.compile(r"^messages/[^/]+$"), "messages.get"),
    (re.compile(r"^messages/[^/]+/attachments/[^/]+$"), "messages.attachments.get"),
    (re.compile(r"^history$"), "history.list"),
    (re.compile(r"^watch$"), "watch"),
    (re.compile(r"^stop$"), "stop"),
]


@dataclass
class GmailSandbox:
    """Everything behind one Gmail app, for tests and the CLI to reach: auth, quota, faults, push."""

    tenant: Tenant
    auth: GoogleAuth
    limiter: QuotaLimiter
    faults: FaultPlan
    push: GmailPush


def _bearer(headers: dict[str, str]) -> str:
    value = headers.get("authorization", "")
    return value[7:].strip() if value.lower().startswith("bearer ") else ""


def _has_mailbox(tenant: Tenant) -> Callable[[str], bool]:
    def has(address: str) -> bool:
        try:
            tenant.mailbox(address)
        except UnknownMailbox:
            return False
        return True

    return has


def create_gmail_app(
    tenant: Tenant,
    *,
    quota: QuotaPolicy = GMAIL_POLICY,
    faults: FaultPlan | None = None,
    auth: GoogleAuth | None = None,
    dev_token: str | None = None,
    user_rate_status: int = 403,
) -> FastAPI:
    """A Gmail API app over ``tenant``; ``app.state.sandbox`` is its ``GmailSandbox``.

    ``user_rate_status`` is how a per-user rate overrun is answered: 403 ``userRateLimitExceeded`` (the
    documented form) or 429 ``rateLimitExceeded`` with "Retry after" (what Google commonly sends today).
    """
    if user_rate_status not in (403, 429):
        raise ValueError(f"user_rate_status must be 403 or 429, not {user_rate_status}")
    auth = auth or GoogleAuth(
        tenant.clock, user_exists=lambda address: address in {m.address for m in tenant}
    )
    if dev_token:
        auth.dev_token = dev_token
    faults = faults or FaultPlan()
    limiter = QuotaLimiter(quota, tenant.clock)
    sandbox = GmailSandbox(tenant, auth, limiter, faults, GmailPush(tenant, auth, faults))
    app = FastAPI(title="mailtrail sandbox: Gmail API v1", docs_url=None, redoc_url=None)
    app.state.sandbox = sandbox

    def resolve(user_id: str, token: str) -> Mailbox:
        access = auth.check(token) if token else None
        if access is None:
            raise GmailError(401)
        wanted = access.user if user_id == "me" else user_id.lower()
        if wanted == "*":  # the dev token, asked for "me": the first mailbox
            boxes = tenant.mailboxes()
            if not boxes:
                raise GmailError(404)
            return boxes[0]
        if access.user not in ("*", wanted):
            raise GmailError(403, f"Delegation denied for {access.user}", "forbidden")
        try:
            return tenant.mailbox(wanted)
        except UnknownMailbox:
            if access.user == wanted:  # e.g. a service account acting as itself: it has no mailbox
                raise GmailError(400, "Precondition check failed.", "failedPrecondition") from None
            raise GmailError(404, "Requested entity was not found.") from None

    def current_mailbox(userId: str, request: Request) -> Mailbox:
        return resolve(userId, _bearer(dict(request.headers)))

    MailboxDep = Annotated[Mailbox, Depends(current_mailbox)]

    def classify(scope: Scope) -> tuple[str, int, str] | None:
        match = _USER_PATH.match(scope["path"])
        if match is None:
            return None
        user_id, rest = match.groups()
        method = next((name for pattern, name in _METHODS if pattern.match(rest)), None)
        if method is None:
            return None
        if user_id == "me":
            headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
            access = auth.check(_bearer(headers))
            if access is None:
                return None  # the route answers 401; Google does not bill unauthenticated calls
            user_id = access.user
        return user_id.lower(), GMAIL_METHOD_COSTS.get(method, 1), method

    @app.exception_handler(GmailError)
    async def gmail_error(_request: Request, exc: GmailError) -> Response:
        return exc.response()

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> Response:
        return GmailError(exc.status_code, str(exc.detail)).response()

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> Response:
        where = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return GmailError(400, f"Invalid request: {where}", "invalidArgument").response()

    @app.exception_handler(HistoryExpired)
    async def history_gone(_request: Request, _exc: HistoryExpired) -> Response:
        return GmailError(404).response()

    @app.exception_handler(UnknownMessage)
    async def no_message(_request: Request, _exc: UnknownMessage) -> Response:
        return GmailError(404).response()

    @app.exception_handler(QueryError)
    async def bad_query(_request: Request, exc: QueryError) -> Response:
        return GmailError(400, str(exc), "invalidArgument").response()

    @app.get("/gmail/v1/users/{userId}/profile")
    def get_profile(mailbox: MailboxDep) -> dict[str, Any]:
        messages = mailbox.messages()
        return {
            "emailAddress": mailbox.address,
            "messagesTotal": len(messages),
            "threadsTotal": len({m.thread_id for m in messages}),
            "historyId": str(mailbox.history_id),
        }

    @app.get("/gmail/v1/users/{userId}/labels")
    def list_labels(mailbox: MailboxDep) -> dict[str, Any]:
        return {"labels": [label_json(label) for label in mailbox.labels()]}

    @app.get("/gmail/v1/users/{userId}/labels/{label_id}")
    def get_label(mailbox: MailboxDep, label_id: str) -> dict[str, Any]:
        label = next((lb for lb in mailbox.labels() if lb.id == label_id), None)
        if label is None:
            raise GmailError(404)
        count = [m for m in mailbox.messages() if label.id in m.labels]
        unread = sum("UNREAD" in m.labels for m in count)
        totals = {"messagesTotal": len(count), "messagesUnread": unread}
        threads = {"threadsTotal": len({m.thread_id for m in count}), "threadsUnread": unread}
        return {**label_json(label), **totals, **threads}

    @app.get("/gmail/v1/users/{userId}/messages")
    def list_messages(
        mailbox: MailboxDep,
        q: str = "",
        labelIds: Annotated[list[str] | None, Query()] = None,
        includeSpamTrash: bool = False,
        maxResults: int = 100,
        pageToken: str = "",
    ) -> dict[str, Any]:
        if not 1 <= maxResults <= 500:
            raise GmailError(400, f"Invalid maxResults: {maxResults} (1..500)", "invalidArgument")
        predicates, names_spam_trash = compile_query(q, mailbox, tenant.clock.now())
        wanted = set(labelIds or [])
        skip_spam_trash = not (includeSpamTrash or names_spam_trash or wanted & {"SPAM", "TRASH"})
        matches = [
            m
            for m in mailbox.messages()
            if wanted <= m.labels
            and not (skip_spam_trash and m.labels & {"SPAM", "TRASH"})
            and all(p(m) for p in predicates)
        ]
        start = 0
        if pageToken:
            start = next((i + 1 for i, m in enumerate(matches) if m.id == pageToken), len(matches))
        page = matches[start : start + maxResults]
        out: dict[str, Any] = {"resultSizeEstimate": len(matches)}
        if page:
            out["messages"] = [message_ref(m) for m in page]
        if start + maxResults < len(matches):
            out["nextPageToken"] = page[-1].id
        return out

    @app.get("/gmail/v1/users/{userId}/messages/{message_id}")
    def get_message(
        mailbox: MailboxDep,
        message_id: str,
        format: str = "full",
        metadataHeaders: Annotated[list[str] | None, Query()] = None,
    ) -> dict[str, Any]:
        if format not in FORMATS:
            raise GmailError(400, f"Invalid value for format: {format}", "invalidArgument")
        return message_json(mailbox.get(message_id), format, metadataHeaders or ())

    @app.get("/gmail/v1/users/{userId}/messages/{message_id}/attachments/{attachment_id}")
    def get_attachment(mailbox: MailboxDep, message_id: str, attachment_id: str) -> dict[str, Any]:
        body = attachment_json(mailbox.get(message_id), attachment_id)
        if body is None:
            raise GmailError(404)
        return body

    @app.get("/gmail/v1/users/{userId}/history")
    def list_history(
        mailbox: MailboxDep,
        startHistoryId: str = "",
        historyTypes: Annotated[list[str] | None, Query()] = None,
        labelId: str = "",
        maxResults: int = 100,
        pageToken: str = "",
    ) -> dict[str, Any]:
        if not startHistoryId.isdigit():
            raise GmailError(400, "Invalid startHistoryId", "invalidArgument")
        if not 1 <= maxResults <= 500:
            raise GmailError(400, f"Invalid maxResults: {maxResults} (1..500)", "invalidArgument")
        after = int(pageToken) if pageToken.isdigit() else int(startHistoryId)
        changes = mailbox.changes_since(int(startHistoryId))
        changes = [c for c in changes if c.history_id > after]
        records = history_json(changes, set(historyTypes or []) or None, labelId or None)
        out: dict[str, Any] = {"historyId": str(mailbox.history_id)}
        if records:
            out["history"] = records[:maxResults]
        if len(records) > maxResults:
            out["nextPageToken"] = records[maxResults - 1]["id"]
        return out

    @app.post("/gmail/v1/users/{userId}/watch")
    async def watch(mailbox: MailboxDep, request: Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except ValueError:
            raise GmailError(400, "Invalid JSON payload received in the watch request body.") from None
        if not isinstance(body, dict):
            raise GmailError(400, "The watch request body must be a JSON object (WatchRequest).")
        topic = str(body.get("topicName", ""))
        if not re.fullmatch(r"projects/[^/]+/topics/[^/]+", topic):
            raise GmailError(
                400, f"Invalid topicName does not match projects/*/topics/*: {topic}", "invalidArgument"
            )
        if topic not in sandbox.push.subscriptions:
            raise GmailError(404, f"Resource not found (resource={topic.rsplit('/', 1)[-1]}).")
        include = str(body.get("labelFilterBehavior") or body.get("labelFilterAction") or "include").lower()
        issuer = str(request.base_url).rstrip("/")
        w = sandbox.push.watch(mailbox, topic, list(body.get("labelIds") or []), include == "include", issuer)
        return {"historyId": str(mailbox.history_id), "expiration": str(int(w.expiration.timestamp() * 1000))}

    @app.post("/gmail/v1/users/{userId}/stop", status_code=204)
    def stop(mailbox: MailboxDep) -> Response:
        sandbox.push.stop(mailbox)
        return Response(status_code=204)

    @app.post("/batch/gmail/v1")
    @app.post("/batch", include_in_schema=False)
    async def batch(request: Request) -> Response:
        return await _run_batch(app, request)

    app.include_router(identity_router(tenant, auth))
    app.include_router(pubsub_router(sandbox.push))
    app.include_router(control_router(faults, limiter))
    app.add_middleware(FaultMiddleware, plan=faults, render=render_fault)
    app.add_middleware(
        QuotaMiddleware,
        limiter=limiter,
        classify=classify,
        render=quota_renderer(user_rate_status, tenant.clock),
    )
    return app


async def _run_batch(app: FastAPI, request: Request) -> Response:
    """Run each part of a ``multipart/mixed`` batch through the app; answer parts matched by Content-ID."""
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
    boundary = "batch_" + secrets.token_hex(12)
    chunks: list[bytes] = []
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=str(request.base_url)) as client:
        for part in parts:
            if not isinstance(part, Message):
                continue
            content_id = str(part.get("Content-ID", "")).strip()
            inner = part.get_payload(decode=False)
            status, headers, payload = await _run_part(client, str(inner), outer_auth)
            cid = f"<response-{content_id.strip('<>')}>" if content_id else ""
            head = f"--{boundary}\r\nContent-Type: application/http\r\n"
            head += f"Content-ID: {cid}\r\n\r\n" if cid else "\r\n"
            head += f"HTTP/1.1 {status} {httpx.codes.get_reason_phrase(status)}\r\n"
            head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            chunks.append(
                head.encode() + f"Content-Length: {len(payload)}\r\n\r\n".encode() + payload + b"\r\n"
            )
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
        return 400, {"Content-Type": "application/json; charset=UTF-8"}, bytes(error.response().body)
    method, target = request_line[0], request_line[1]
    headers = dict(line.split(":", 1) for line in lines[1:] if ":" in line)
    headers = {k.strip(): v.strip() for k, v in headers.items()}
    if outer_auth and not any(k.lower() == "authorization" for k in headers):
        headers["Authorization"] = outer_auth
    headers.pop("Content-Length", None)
    try:
        response = await client.request(
            method, target, headers=headers, content=body.encode() if body else None
        )
    except httpx.HTTPError:
        return (
            503,
            {"Content-Type": "application/json; charset=UTF-8"},
            bytes(GmailError(503).response().body),
        )
    keep = {k: v for k, v in response.headers.items() if k.lower() in ("content-type", "retry-after", "etag")}
    return response.status_code, keep, response.content
