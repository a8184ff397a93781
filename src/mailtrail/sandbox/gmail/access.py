"""Who is calling and on which mailbox: bearer token -> mailbox, the method a path names, scope checks.

Every Gmail route depends on ``GmailAccess.require(method)``: it authenticates the token (401), resolves
``userId`` (``me`` or an address the token may act for, else 403 delegation denied), then checks that the
token holds a scope the method accepts (403 insufficientPermissions). The quota middleware uses ``method_of``
to bill each request at its method's cost before any of this runs.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Request

from mailtrail.sandbox.gmail import scopes as gmail_scopes
from mailtrail.sandbox.gmail.errors import GmailError
from mailtrail.sandbox.gmail.oauth import GoogleAuth
from mailtrail.sandbox.store import Mailbox, Tenant, UnknownMailbox

# Media uploads use the same paths under /upload (https://developers.google.com/gmail/api/guides/uploads).
_USER_PATH = re.compile(r"^(?:/upload)?/gmail/v1/users/([^/]+)/(.*)$")
_METHODS = [
    ("GET", re.compile(r"^profile$"), "getProfile"),
    ("GET", re.compile(r"^labels$"), "labels.list"),
    ("GET", re.compile(r"^labels/[^/]+$"), "labels.get"),
    ("GET", re.compile(r"^messages$"), "messages.list"),
    ("POST", re.compile(r"^messages$"), "messages.insert"),
    ("POST", re.compile(r"^messages/import$"), "messages.import"),
    ("GET", re.compile(r"^messages/[^/]+$"), "messages.get"),
    ("POST", re.compile(r"^messages/[^/]+/modify$"), "messages.modify"),
    ("POST", re.compile(r"^messages/[^/]+/trash$"), "messages.trash"),
    ("POST", re.compile(r"^messages/[^/]+/untrash$"), "messages.untrash"),
    ("GET", re.compile(r"^messages/[^/]+/attachments/[^/]+$"), "messages.attachments.get"),
    ("POST", re.compile(r"^drafts$"), "drafts.create"),
    ("GET", re.compile(r"^history$"), "history.list"),
    ("POST", re.compile(r"^watch$"), "watch"),
    ("POST", re.compile(r"^stop$"), "stop"),
]


def method_of(http_method: str, path: str) -> tuple[str, str] | None:
    """``(userId, method name)`` of a Gmail API path, or None for anything else."""
    match = _USER_PATH.match(path)
    if match is None:
        return None
    user_id, rest = match.groups()
    for verb, pattern, name in _METHODS:
        if verb == http_method.upper() and pattern.match(rest):
            return user_id, name
    return None


def bearer(headers: dict[str, str]) -> str:
    """The token of an ``Authorization: Bearer`` header (lower-case header names), or ""."""
    value = headers.get("authorization", "")
    return value[7:].strip() if value.lower().startswith("bearer ") else ""


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated call: the mailbox it acts on and the scopes its token holds."""

    mailbox: Mailbox
    scopes: frozenset[str]


class GmailAccess:
    """Resolves tokens and ``userId`` against a tenant; makes the per-method FastAPI dependencies."""

    def __init__(self, tenant: Tenant, auth: GoogleAuth) -> None:
        self.tenant, self.auth = tenant, auth

    def resolve(self, user_id: str, token: str) -> Caller:
        """The mailbox ``user_id`` names for this token, or the Gmail error Google would send."""
        access = self.auth.check(token) if token else None
        if access is None:
            raise GmailError(401)
        granted = gmail_scopes.granted(access.scope)
        wanted = access.user if user_id == "me" else user_id.lower()
        if wanted == "*":  # the dev token, asked for "me": the first mailbox
            boxes = self.tenant.mailboxes()
            if not boxes:
                raise GmailError(404)
            return Caller(boxes[0], granted)
        if access.user not in ("*", wanted):
            raise GmailError(403, f"Delegation denied for {access.user}", "forbidden")
        try:
            return Caller(self.tenant.mailbox(wanted), granted)
        except UnknownMailbox:
            if access.user == wanted:  # e.g. a service account acting as itself: it has no mailbox
                raise GmailError(400, "Precondition check failed.", "failedPrecondition") from None
            raise GmailError(404, "Requested entity was not found.") from None

    def require(self, method: str) -> Callable[[str, Request], Caller]:
        """A dependency for a route serving ``method``: the caller, once the token may call it."""

        def dependency(userId: str, request: Request) -> Caller:
            caller = self.resolve(userId, bearer(dict(request.headers)))
            gmail_scopes.require(method, caller.scopes)
            return caller

        return dependency

    def user_of(self, user_id: str, headers: dict[str, str]) -> str | None:
        """The quota key for a request: the address ``userId`` stands for (None if the token is no good)."""
        if user_id != "me":
            return user_id.lower()
        access = self.auth.check(bearer(headers))
        if access is None:
            return None
        if access.user == "*":  # the dev token's "me" is the first mailbox, as in ``resolve``
            boxes = self.tenant.mailboxes()
            return boxes[0].address if boxes else None
        return access.user
