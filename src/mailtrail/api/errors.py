"""Errors of the HTTP API, always as JSON ``{"error": {"code": ..., "message": ...}}``.

Raise ``ApiError`` (or a subclass) from an endpoint or a dependency; ``install_error_handlers`` renders it,
and gives FastAPI's own errors (no such route, a malformed request) the same shape. ``code`` is a stable
word for programs (``unauthenticated``, ``forbidden``, ``not_found``...), ``message`` a sentence for people
that says what is wrong and, where there is one, what to do.
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

# FastAPI's own errors by status, when nothing more precise is known.
_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "too_many_requests",
}


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorBody(BaseModel):
    """Every error's body, for the OpenAPI document: ``responses={404: {"model": ErrorBody}}``."""

    error: ErrorDetail


def error_responses(*statuses: int) -> dict[int | str, dict[str, object]]:
    """OpenAPI ``responses`` for these error statuses, each with the JSON error body."""
    return {status: {"model": ErrorBody} for status in statuses}


class ApiError(StarletteHTTPException):
    """An error answered as ``{"error": {"code", "message"}}`` with ``status``.

    A subclass of Starlette's ``HTTPException``, so that even an app without ``install_error_handlers``
    answers with the right status (in FastAPI's ``{"detail": message}`` shape).
    """

    def __init__(
        self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(status_code=status, detail=message, headers=dict(headers) if headers else None)
        self.code = code
        self.message = message


def error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    """The JSON body of an error."""
    return {"error": {"code": code, "message": message}}


def error_response(error: ApiError) -> JSONResponse:
    """``error`` as a response (for endpoints that answer an error without raising it)."""
    return JSONResponse(error_body(error.code, error.message), error.status_code, headers=error.headers)


def install_error_handlers(app: FastAPI) -> None:
    """Render ``ApiError``, Starlette's HTTP errors and request validation errors as JSON errors."""

    @app.exception_handler(ApiError)
    async def api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _CODES.get(exc.status_code, "error")
        message = str(exc.detail) if exc.detail else code.replace("_", " ")
        if exc.status_code == 404 and exc.detail == "Not Found":
            message = "no such page or API endpoint"
        return JSONResponse(error_body(code, message), exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
            problems.append(f"{where}: {error.get('msg', 'invalid')}" if where else str(error.get("msg")))
        message = "; ".join(problems) or "the request is not valid"
        return JSONResponse(error_body("invalid_request", message), 422)
