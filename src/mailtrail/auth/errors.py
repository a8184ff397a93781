"""The errors of sign-in and roles. Each is an ``ApiError``: a status, a stable code and a message that says
what to do; the commands print the message alone."""

from __future__ import annotations

import math
from datetime import datetime

from mailtrail.api.errors import ApiError


class AuthError(ApiError):
    """A user error of this domain (bad input, a conflict, a refusal)."""


class Unauthenticated(AuthError):
    """401: no valid session or token."""

    def __init__(self, message: str) -> None:
        super().__init__(401, "unauthenticated", message, {"WWW-Authenticate": 'Bearer realm="mailtrail"'})


class Forbidden(AuthError):
    """403: authenticated, but this needs more (an admin)."""

    def __init__(self, message: str, code: str = "forbidden") -> None:
        super().__init__(403, code, message)


class InvalidInput(AuthError):
    """400: what was sent cannot be used (an address that is not one, a password too short)."""

    def __init__(self, message: str) -> None:
        super().__init__(400, "invalid_request", message)


class NotFound(AuthError):
    """404: no such user or token in this workspace."""

    def __init__(self, message: str) -> None:
        super().__init__(404, "not_found", message)


class Conflict(AuthError):
    """409: it exists already, or the change would leave the workspace without an admin."""

    def __init__(self, message: str) -> None:
        super().__init__(409, "conflict", message)


class SignInFailed(AuthError):
    """401: wrong address or password (never which of the two, so that addresses cannot be probed)."""

    def __init__(self) -> None:
        super().__init__(401, "sign_in_failed", "wrong email address or password")


class SignInRefused(AuthError):
    """403: the identity is proven, but may not sign in here (disabled, outside the company's domains)."""

    def __init__(self, message: str) -> None:
        super().__init__(403, "sign_in_refused", message)


class TooManyAttempts(AuthError):
    """429: too many failed sign-ins; says when to try again (also as ``Retry-After``)."""

    def __init__(self, what: str, retry_at: datetime, now: datetime) -> None:
        seconds = max(1, math.ceil((retry_at - now).total_seconds()))
        minutes = math.ceil(seconds / 60)
        wait = f"{minutes} minute{'s' if minutes != 1 else ''}"
        message = (
            f"too many failed sign-ins for {what}: try again after {retry_at:%H:%M} UTC (in {wait}), "
            "or ask an admin to set a new password"
        )
        super().__init__(429, "too_many_attempts", message, {"Retry-After": str(seconds)})
        self.retry_at = retry_at
