"""What Graph's error answers mean for a mailbox: the provider error each one raises, in words.

Graph's error body is ``{"error": {"code", "message", "innerError"}}`` (https://learn.microsoft.com/graph/errors).
The codes that change what the sync does:

- 429 (``ApplicationThrottled``...): ``Throttled`` for as long as ``Retry-After`` says
  (https://learn.microsoft.com/graph/throttling); Outlook allows 10,000 requests per 10 minutes and 4 at once
  per app and mailbox (https://learn.microsoft.com/graph/throttling-limits#outlook-service-limits);
- 410, or ``SyncStateNotFound`` with another 4xx: the delta token is gone ("the service should respond with a
  40X-series error with error codes such as syncStateNotFound",
  https://learn.microsoft.com/graph/delta-query-overview#token-duration): ``CursorExpired``;
- 403 ``ErrorAccessDenied``: the token holds no mail permission for this mailbox
  (https://learn.microsoft.com/graph/resolve-auth-errors), or, with "Access to OData is disabled.", an
  Exchange application access policy keeps the app out of it
  (https://learn.microsoft.com/graph/auth-limit-mailbox-access#handling-api-errors): ``AccessRevoked``;
- 404 ``MailboxNotEnabledForRESTAPI``: the user has no Exchange Online mailbox (unlicensed, inactive,
  soft-deleted or on-premises: https://learn.microsoft.com/exchange/troubleshoot/user-and-shared-mailboxes/
  rest-api-is-not-yet-supported-for-this-mailbox-error): ``ProviderError`` saying so.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mailtrail.providers.base import AccessRevoked, CursorExpired, ProviderError, Throttled, Unavailable
from mailtrail.providers.gmail.retry import RetryPolicy, retry_after

# A 401 after the token was renewed: the grant still works (the renewal said so), so this is not a revocation;
# the next sync renews again. If it lasts, the mailbox ends in "error" with these words.
STILL_REFUSED = (
    "Microsoft Graph refused the mailbox's access token even after renewing it (HTTP 401); "
    "if this lasts, re-authorise it"
)
NOT_FOUND = frozenset({"ErrorItemNotFound", "ResourceNotFound", "ErrorFolderNotFound"})


def code_and_message(body: Any) -> tuple[str, str]:
    """Graph's error ``code`` and ``message`` from an error body (empty strings without one)."""
    error = body.get("error") if isinstance(body, Mapping) else None
    if not isinstance(error, Mapping):
        return "", ""
    return str(error.get("code") or ""), str(error.get("message") or "").strip()


def is_gone(status: int, body: Any) -> bool:
    """A 404 for the object itself (a message deleted, a folder removed, a subscription expired)."""
    return status == 404 and code_and_message(body)[0] in NOT_FOUND


def refusal(
    status: int, headers: Mapping[str, str], body: Any, what: str, retry: RetryPolicy
) -> ProviderError:
    """The provider error a non-2xx Graph answer (or batch part) stands for."""
    code, message = code_and_message(body)
    named = f"HTTP {status}, {code}" if code else f"HTTP {status}"
    detail = f"Microsoft Graph refused {what}: {message or 'no message'} ({named})"
    if status == 429:
        wait = retry_after(headers)
        return Throttled(detail, wait if wait is not None else retry.throttle_delay)
    if status == 410 or code.lower() == "syncstatenotfound":
        return CursorExpired(
            f"Microsoft Graph no longer knows mailtrail's sync position in this mailbox ({message or code})"
        )
    if status == 401:
        return Unavailable(STILL_REFUSED)
    if status == 403 and code == "ErrorAccessDenied":
        if "odata is disabled" in message.lower():
            return AccessRevoked(
                "an Exchange application access policy keeps mailtrail's app out of this mailbox: an "
                "Exchange administrator must add the mailbox to the policy's group (Access to OData is "
                "disabled)"
            )
        return AccessRevoked(
            "Microsoft 365 says mailtrail may not read this mailbox (no Mail.Read permission for it): "
            "connect it again, or ask an administrator to grant mailtrail's app Mail.Read"
        )
    if status == 403 and code == "Authorization_RequestDenied":
        return ProviderError(
            f"Microsoft 365 refused {what}: mailtrail's app needs the User.Read.All application permission, "
            "granted by an administrator"
        )
    if status == 404 and code == "MailboxNotEnabledForRESTAPI":
        return ProviderError(
            "this Microsoft 365 user has no Exchange Online mailbox (no licence, inactive, soft-deleted or "
            f"hosted on-premises): {message or code}"
        )
    if status >= 500:
        return Unavailable(detail)
    return ProviderError(detail)
