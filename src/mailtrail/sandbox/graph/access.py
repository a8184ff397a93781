"""Who may read which mailbox, and under which quota: bearer token -> grant -> mailbox, per request.

Application permissions (``roles``) reach every mailbox of the tenant; delegated ones (``scp``) only the
signed-in user's own.
"""

from __future__ import annotations

from dataclasses import dataclass

from mailtrail.sandbox.graph.errors import GraphError
from mailtrail.sandbox.graph.identity import MAIL_READ_PERMISSIONS, AccessGrant, IdentityPlatform
from mailtrail.sandbox.store import Mailbox, Tenant, UnknownMailbox

_DENIED = "Access is denied. Check credentials and try again."


@dataclass(frozen=True)
class MailboxAccess:
    """A request allowed on one mailbox."""

    grant: AccessGrant
    mailbox: Mailbox


def sync_directory(identity: IdentityPlatform, tenant: Tenant) -> None:
    """Give every mailbox of the tenant a directory user (mailboxes may be seeded after start)."""
    for box in tenant.mailboxes():
        if identity.find_user(box.address) is None:
            identity.add_user(box.address, box.display_name)


def resolve_mailbox(identity: IdentityPlatform, tenant: Tenant, grant: AccessGrant, user: str) -> Mailbox:
    """The mailbox behind ``/users/{id|upn}`` or ``/me``, checking the grant may read it."""
    if user == "me":
        if grant.user is None:
            raise GraphError(
                400, "BadRequest", "/me request is only valid with delegated authentication flow."
            )
        user = grant.user.user_principal_name
    sync_directory(identity, tenant)
    directory_user = identity.find_user(user)
    if directory_user is None:
        raise GraphError(404, "ErrorInvalidUser", f"The requested user '{user}' is invalid.")
    if grant.app_only:
        if not grant.roles & MAIL_READ_PERMISSIONS:
            raise GraphError(403, "ErrorAccessDenied", _DENIED)
    elif not grant.scopes & MAIL_READ_PERMISSIONS or grant.user != directory_user:
        raise GraphError(403, "ErrorAccessDenied", _DENIED)
    try:
        return tenant.mailbox(directory_user.user_principal_name)
    except UnknownMailbox:
        raise GraphError(
            404,
            "MailboxNotEnabledForRESTAPI",
            "The mailbox is either inactive, soft-deleted, or is hosted on-premise.",
        ) from None
