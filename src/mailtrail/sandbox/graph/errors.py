"""Error bodies exactly as Microsoft Graph and the Microsoft identity platform (AAD) send them.

Graph: ``{"error": {"code", "message", "innerError": {"date", "request-id", "client-request-id"}}}``.
AAD token endpoint: ``{"error", "error_description" (starts with "AADSTSnnnn:"), "error_codes", "timestamp",
"trace_id", "correlation_id", "error_uri"}``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from fastapi.responses import JSONResponse


class GraphError(Exception):
    """A Graph API failure that the app turns into Graph's error body."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def graph_error_body(code: str, message: str, client_request_id: str | None = None) -> dict[str, object]:
    """The JSON body of a Graph error; ``request-id`` is fresh, ``client-request-id`` echoes the caller's."""
    request_id = str(uuid.uuid4())
    return {
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                "request-id": request_id,
                "client-request-id": client_request_id or request_id,
            },
        }
    }


def graph_error_response(error: GraphError, client_request_id: str | None = None) -> JSONResponse:
    """The HTTP response for a GraphError."""
    return JSONResponse(
        graph_error_body(error.code, error.message, client_request_id),
        status_code=error.status,
        headers=error.headers,
    )


class AadError(Exception):
    """A token or authorize endpoint failure, rendered like the Microsoft identity platform does."""

    def __init__(self, status: int, error: str, aadsts: int, description: str) -> None:
        super().__init__(f"{error} AADSTS{aadsts}: {description}")
        self.status = status
        self.error = error
        self.aadsts = aadsts
        self.description = description


def aad_error_response(error: AadError) -> JSONResponse:
    """The JSON body AAD sends for an OAuth error (RFC 6749 fields plus its own)."""
    trace_id = str(uuid.uuid4())
    correlation_id = str(uuid.uuid4())
    now = datetime.now(UTC)
    stamp = now.strftime("%Y-%m-%d %H:%M:%SZ")
    description = (
        f"AADSTS{error.aadsts}: {error.description} Trace ID: {trace_id} "
        f"Correlation ID: {correlation_id} Timestamp: {stamp}"
    )
    return JSONResponse(
        {
            "error": error.error,
            "error_description": description,
            "error_codes": [error.aadsts],
            "timestamp": stamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": f"https://login.microsoftonline.com/error?code={error.aadsts}",
        },
        status_code=error.status,
    )
