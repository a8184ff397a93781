"""Gmail API error bodies: {"error": {"code", "message", "errors": [...], "status"}}, as Google sends them."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.responses import JSONResponse

from mailtrail.sandbox.clock import Clock
from mailtrail.sandbox.faults import Fault, Scope
from mailtrail.sandbox.quota import QuotaExceeded

_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}
# code -> (domain, reason, message) used when nothing more specific is known.
_DEFAULTS = {
    400: ("global", "badRequest", "Bad Request"),
    401: ("global", "authError", "Invalid Credentials"),
    403: ("global", "forbidden", "Forbidden"),
    404: ("global", "notFound", "Requested entity was not found."),
    429: ("usageLimits", "rateLimitExceeded", "Rate Limit Exceeded"),
    500: ("global", "backendError", "Backend Error"),
    503: ("global", "backendError", "The service is currently unavailable."),
}
# A made-up Cloud project number: Google's quota errors name the consumer project.
SANDBOX_PROJECT_NUMBER = "573948201634"
UNAUTHENTICATED_MESSAGE = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other "
    "valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project."
)


class GmailError(Exception):
    """An error the Gmail API returns; ``body()`` is its JSON."""

    def __init__(
        self, code: int, message: str | None = None, reason: str | None = None, domain: str | None = None
    ) -> None:
        d_domain, d_reason, d_message = _DEFAULTS.get(code, ("global", "unknown", "Error"))
        self.code = code
        self.message = message or d_message
        self.reason = reason or d_reason
        self.domain = domain or d_domain
        self.headers: dict[str, str] = {}
        super().__init__(f"{code} {self.reason}: {self.message}")

    def body(self) -> dict[str, Any]:
        item: dict[str, Any] = {"message": self.message, "domain": self.domain, "reason": self.reason}
        if self.code == 401:
            item |= {"location": "Authorization", "locationType": "header"}
            message = UNAUTHENTICATED_MESSAGE
        else:
            message = self.message
        error: dict[str, Any] = {"code": self.code, "message": message, "errors": [item]}
        if self.code in _STATUS:
            error["status"] = _STATUS[self.code]
        return {"error": error}

    def response(self) -> JSONResponse:
        headers = (
            {"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'} if self.code == 401 else {}
        )
        return JSONResponse(self.body(), status_code=self.code, headers={**headers, **self.headers})


def quota_error(exc: QuotaExceeded, user_rate_status: int = 403, now: datetime | None = None) -> GmailError:
    """The Gmail error for a quota rejection.

    A per-minute limit with a name is the Service Usage 403 clients get from Google, e.g. (as reported in
    https://github.com/mxngls/gmail-cleaner/issues/5 and https://github.com/GAM-team/got-your-back/issues/309):
    "Quota exceeded for quota metric 'Queries' and limit 'Queries per minute per user' of service
    'gmail.googleapis.com' for consumer 'project_number:N'.", reason ``rateLimitExceeded``, domain
    ``usageLimits``. The per-second limit of the legacy profile is answered either as the documented 403
    ``userRateLimitExceeded`` or, as clients also see, 429 ``rateLimitExceeded`` "User-rate limit exceeded.
    Retry after <time>" (https://github.com/levz0r/gmail-tester/issues/23); ``user_rate_status`` picks which.
    Concurrency is 429 "Too many concurrent requests for user", domain ``global``
    (https://github.com/googleapis/google-api-dotnet-client/issues/1982). The project limit is 403
    ``rateLimitExceeded`` (https://developers.google.com/gmail/api/reference/quota).
    """
    if exc.concurrent:
        return GmailError(429, "Too many concurrent requests for user", "rateLimitExceeded", "global")
    if exc.limit_name:
        message = (
            f"Quota exceeded for quota metric 'Queries' and limit '{exc.limit_name}' of service "
            f"'gmail.googleapis.com' for consumer 'project_number:{SANDBOX_PROJECT_NUMBER}'."
        )
        return GmailError(403, message, "rateLimitExceeded", "usageLimits")
    if exc.reason == "userRateLimitExceeded" and user_rate_status == 429:
        until = (now or datetime.now(UTC)) + timedelta(seconds=exc.retry_after)
        stamp = until.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return GmailError(
            429, f"User-rate limit exceeded.  Retry after {stamp}", "rateLimitExceeded", "usageLimits"
        )
    if exc.reason == "userRateLimitExceeded":
        return GmailError(403, "User Rate Limit Exceeded", "userRateLimitExceeded", "usageLimits")
    return GmailError(403, "Rate Limit Exceeded", "rateLimitExceeded", "usageLimits")


def _raw(error: GmailError) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    headers = [(b"content-type", b"application/json; charset=UTF-8")]
    headers += [(k.lower().encode(), v.encode()) for k, v in error.headers.items()]
    if error.code == 401:
        headers.append((b"www-authenticate", b'Bearer realm="https://accounts.google.com/"'))
    return error.code, headers, json.dumps(error.body()).encode()


def quota_renderer(
    user_rate_status: int, clock: Clock
) -> Callable[[QuotaExceeded], tuple[int, list[tuple[bytes, bytes]], bytes]]:
    """The QuotaMiddleware renderer for this app's choice of per-user status."""

    def render(exc: QuotaExceeded) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        return _raw(quota_error(exc, user_rate_status, clock.now()))

    return render


def render_fault(fault: Fault, scope: Scope) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Gmail's body for an injected fault (history_gone -> 404, expired_token -> 401, status -> that code)."""
    if fault.kind == "history_gone":
        error = GmailError(404)
    elif fault.kind == "expired_token":
        error = GmailError(401)
    else:
        error = GmailError(fault.status)
    if fault.retry_after is not None:
        error.headers["Retry-After"] = str(max(1, round(fault.retry_after)))
    return _raw(error)
