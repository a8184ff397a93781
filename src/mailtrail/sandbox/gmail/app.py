"""The Gmail API v1 emulator as a FastAPI app: ``create_gmail_app(tenant)``.

Serves ``/gmail/v1/users/{userId}/...`` (``reads``: profile, labels, messages, history, watch, stop;
``writes``: insert, import, modify, trash, untrash, drafts.create, also under ``/upload``), the batch
endpoint ``/batch/gmail/v1``, the identity endpoints, a Pub/Sub stand-in and the sandbox controls.
Middleware order, outermost first: quota (per user, Gmail's units), faults, the routes. Batched requests run
through the same stack, concurrently, so each counts like a single call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from mailtrail.sandbox.control import control_router
from mailtrail.sandbox.faults import FaultMiddleware, FaultPlan, Scope
from mailtrail.sandbox.gmail.access import GmailAccess, method_of
from mailtrail.sandbox.gmail.batch import MAX_BATCH, run_batch
from mailtrail.sandbox.gmail.errors import GmailError, quota_renderer, render_fault
from mailtrail.sandbox.gmail.identity import identity_router
from mailtrail.sandbox.gmail.oauth import TESTING_REFRESH_LIFETIME, GoogleAuth
from mailtrail.sandbox.gmail.push import GmailPush, pubsub_router
from mailtrail.sandbox.gmail.reads import read_router
from mailtrail.sandbox.gmail.resources import QueryError
from mailtrail.sandbox.gmail.writes import write_router
from mailtrail.sandbox.quota import (
    GMAIL_METHOD_COSTS,
    GMAIL_QUOTA_PROFILES,
    QuotaLimiter,
    QuotaMiddleware,
    QuotaPolicy,
)
from mailtrail.sandbox.store import HistoryExpired, Tenant, UnknownMessage

__all__ = ["MAX_BATCH", "GmailSandbox", "create_gmail_app"]
DEFAULT_CERTS_URL = "/oauth2/v1/certs"
PublishingStatus = Literal["production", "testing"]


@dataclass
class GmailSandbox:
    """Everything behind one Gmail app, for tests and the CLI to reach: auth, quota, faults, push."""

    tenant: Tenant
    auth: GoogleAuth
    limiter: QuotaLimiter
    faults: FaultPlan
    push: GmailPush
    certs_url: str = DEFAULT_CERTS_URL

    def certs_url_for(self, base_url: str) -> str:
        """Where the push-token keys are published, absolute (``base_url``: where the app is served)."""
        if "://" in self.certs_url:
            return self.certs_url
        return base_url.rstrip("/") + self.certs_url


def _policy(quota: QuotaPolicy | str) -> QuotaPolicy:
    if isinstance(quota, QuotaPolicy):
        return quota
    try:
        return GMAIL_QUOTA_PROFILES[quota]
    except KeyError:
        known = ", ".join(sorted(GMAIL_QUOTA_PROFILES))
        raise ValueError(f"unknown Gmail quota profile {quota!r} (one of {known})") from None


def _certs_path(certs_url: str) -> str:
    path = certs_url.split("://", 1)[1].partition("/")[2] if "://" in certs_url else certs_url.lstrip("/")
    return "/" + path.split("?", 1)[0]


def create_gmail_app(
    tenant: Tenant,
    *,
    quota: QuotaPolicy | str = "default",
    faults: FaultPlan | None = None,
    auth: GoogleAuth | None = None,
    dev_token: str | None = None,
    user_rate_status: int = 403,
    certs_url: str = DEFAULT_CERTS_URL,
    publishing_status: PublishingStatus = "production",
) -> FastAPI:
    """A Gmail API app over ``tenant``; ``app.state.sandbox`` is its ``GmailSandbox``.

    ``quota`` is a profile name (``default``: today's 6,000 units per user per minute; ``legacy``: 15,000 per
    minute and 250 per second) or a ``QuotaPolicy``. ``user_rate_status`` is how the legacy per-second
    overrun is answered: 403 ``userRateLimitExceeded`` (the documented form) or 429 ``rateLimitExceeded``
    with "Retry after". ``certs_url`` is where the push-token signing keys are published as X.509
    certificates (a path on this app, or an absolute URL whose path this app serves). ``publishing_status``
    ``testing`` makes refresh tokens expire after 7 days, as for an app left in "Testing".
    """
    if user_rate_status not in (403, 429):
        raise ValueError(f"user_rate_status must be 403 or 429, not {user_rate_status}")
    if publishing_status not in ("production", "testing"):
        raise ValueError(f"publishing_status must be production or testing, not {publishing_status!r}")
    auth = auth or GoogleAuth(
        tenant.clock, user_exists=lambda address: address in {m.address for m in tenant}
    )
    if publishing_status == "testing":
        auth.refresh_token_lifetime = TESTING_REFRESH_LIFETIME
    if dev_token:
        auth.dev_token = dev_token
    faults = faults or FaultPlan()
    limiter = QuotaLimiter(_policy(quota), tenant.clock)
    push = GmailPush(tenant, auth, faults)
    sandbox = GmailSandbox(tenant, auth, limiter, faults, push, certs_url)
    access = GmailAccess(tenant, auth)
    app = FastAPI(title="mailtrail sandbox: Gmail API v1", docs_url=None, redoc_url=None)
    app.state.sandbox = sandbox

    def classify(scope: Scope) -> tuple[str, int, str] | None:
        which = method_of(scope["method"], scope["path"])
        if which is None:
            return None
        user_id, method = which
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        user = access.user_of(user_id, headers)
        if user is None:
            return None  # the route answers 401; Google does not bill unauthenticated calls
        return user, GMAIL_METHOD_COSTS.get(method, 1), method

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

    @app.post("/batch/gmail/v1")
    @app.post("/batch", include_in_schema=False)
    async def batch(request: Request) -> Response:
        return await run_batch(app, request)

    app.include_router(read_router(access, tenant.clock, push))
    app.include_router(write_router(access, tenant.clock))
    app.include_router(identity_router(tenant, auth, _certs_path(certs_url)))
    app.include_router(pubsub_router(push))
    app.include_router(control_router(faults, limiter, tenant))
    app.add_middleware(FaultMiddleware, plan=faults, render=render_fault)
    app.add_middleware(
        QuotaMiddleware,
        limiter=limiter,
        classify=classify,
        render=quota_renderer(user_rate_status, tenant.clock),
    )
    return app
