"""Who may read which mailbox, and how much of it: bearer token -> grant -> mailbox, per request.

Application permissions (``roles``) reach every mailbox of the tenant unless an application access policy
scopes them; delegated ones (``scp``) only the signed-in user's own. What each mail permission allows, per the
permissions reference (https://learn.microsoft.com/graph/permissions-reference):

- ``Mail.Read`` reads mail; ``Mail.ReadWrite`` reads and also creates, updates and deletes it;
- ``Mail.ReadBasic`` (delegated) / ``Mail.ReadBasic.All`` (application) read mail "except for body,
  bodyPreview, uniqueBody, attachments, extensions, and any extended properties": the sandbox leaves those
  properties out and refuses ``$value`` (the MIME carries the body);
- anything else gets 403 ``ErrorAccessDenied`` "Access is denied. Check credentials and try again.", the body
  Graph sends for a token without mail permission (see https://learn.microsoft.com/graph/resolve-auth-errors).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from mailtrail.sandbox.graph.errors import GraphError
from mailtrail.sandbox.graph.identity import AccessGrant, IdentityPlatform
from mailtrail.sandbox.store import Mailbox, Tenant, UnknownMailbox

DENIED = "Access is denied. Check credentials and try again."
FULL_READ = frozenset({"Mail.Read", "Mail.ReadWrite"})
BASIC_READ = frozenset({"Mail.ReadBasic", "Mail.ReadBasic.All"})
WRITE = frozenset({"Mail.ReadWrite"})
# The error Graph documents for a mailbox an application access policy keeps the app out of:
# https://learn.microsoft.com/graph/auth-limit-mailbox-access#handling-api-errors
POLICY_DENIED = "Access to OData is disabled."
AccessRight = Literal["RestrictAccess", "DenyAccess"]


@dataclass(frozen=True)
class MailboxAccess:
    """A request allowed on one mailbox; ``full`` is False for Mail.ReadBasic(.All) (no bodies, no MIME)."""

    grant: AccessGrant
    mailbox: Mailbox
    full: bool = True
    can_write: bool = False

    def require_full(self) -> None:
        """Refuse what Mail.ReadBasic does not cover (the MIME content)."""
        if not self.full:
            raise GraphError(403, "ErrorAccessDenied", DENIED)

    def require_write(self) -> None:
        """Refuse a write to a token without Mail.ReadWrite."""
        if not self.can_write:
            raise GraphError(403, "ErrorAccessDenied", DENIED)


@dataclass(frozen=True)
class ApplicationAccessPolicy:
    """An Exchange ``New-ApplicationAccessPolicy``: an app's application permissions limited to
    (RestrictAccess) or kept away from (DenyAccess) a set of mailboxes. Delegated tokens are not affected.

    https://learn.microsoft.com/graph/auth-limit-mailbox-access
    """

    app_id: str
    mailboxes: frozenset[str]
    access_right: AccessRight = "DenyAccess"

    def json(self) -> dict[str, object]:
        """The policy as the control route shows it."""
        return {
            "appId": self.app_id,
            "mailboxes": sorted(self.mailboxes),
            "accessRight": self.access_right,
        }


class AccessPolicies:
    """The tenant's application access policies; thread-safe."""

    def __init__(self, policies: Iterable[ApplicationAccessPolicy] = ()) -> None:
        self._lock = threading.Lock()
        self._policies: list[ApplicationAccessPolicy] = []
        for policy in policies:
            self.add(policy)

    def add(self, policy: ApplicationAccessPolicy) -> ApplicationAccessPolicy:
        """Add a policy (mailbox addresses are matched case-insensitively)."""
        normalised = ApplicationAccessPolicy(
            policy.app_id, frozenset(m.strip().lower() for m in policy.mailboxes), policy.access_right
        )
        with self._lock:
            self._policies.append(normalised)
        return normalised

    def deny(self, app_id: str, mailboxes: Iterable[str]) -> ApplicationAccessPolicy:
        """Keep ``app_id``'s app-only tokens out of ``mailboxes``."""
        return self.add(ApplicationAccessPolicy(app_id, frozenset(mailboxes), "DenyAccess"))

    def restrict(self, app_id: str, mailboxes: Iterable[str]) -> ApplicationAccessPolicy:
        """Let ``app_id``'s app-only tokens reach ``mailboxes`` only."""
        return self.add(ApplicationAccessPolicy(app_id, frozenset(mailboxes), "RestrictAccess"))

    def clear(self, app_id: str | None = None) -> None:
        """Remove every policy (of one app when ``app_id`` is given)."""
        with self._lock:
            self._policies = [p for p in self._policies if app_id is not None and p.app_id != app_id]

    def all(self) -> list[ApplicationAccessPolicy]:
        """Every policy, in the order added."""
        with self._lock:
            return list(self._policies)

    def allows(self, app_id: str, mailbox: str) -> bool:
        """Whether an app-only token of ``app_id`` may open ``mailbox``; a deny wins over a restrict."""
        address = mailbox.lower()
        mine = [p for p in self.all() if p.app_id == app_id]
        if any(p.access_right == "DenyAccess" and address in p.mailboxes for p in mine):
            return False
        restricting = [p for p in mine if p.access_right == "RestrictAccess"]
        return not restricting or any(address in p.mailboxes for p in restricting)


def sync_directory(identity: IdentityPlatform, tenant: Tenant) -> None:
    """Give every mailbox of the tenant a directory user (mailboxes may be seeded after start)."""
    for box in tenant.mailboxes():
        if identity.find_user(box.address) is None:
            identity.add_user(box.address, box.display_name)


def resolve_mailbox(
    identity: IdentityPlatform,
    tenant: Tenant,
    grant: AccessGrant,
    user: str,
    policies: AccessPolicies | None = None,
) -> Mailbox:
    """The mailbox behind ``/users/{id|upn}`` or ``/me``, checking the grant may read it."""
    return mailbox_access(identity, tenant, grant, user, policies).mailbox


def mailbox_access(
    identity: IdentityPlatform,
    tenant: Tenant,
    grant: AccessGrant,
    user: str,
    policies: AccessPolicies | None = None,
) -> MailboxAccess:
    """What ``grant`` may do in the mailbox behind ``/users/{id|upn}`` or ``/me``; else Graph's error."""
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
    permissions = grant.roles if grant.app_only else grant.scopes
    if not permissions & (FULL_READ | BASIC_READ) or (not grant.app_only and grant.user != directory_user):
        raise GraphError(403, "ErrorAccessDenied", DENIED)
    upn = directory_user.user_principal_name
    if grant.app_only and policies is not None and not policies.allows(grant.app_id, upn):
        raise GraphError(403, "ErrorAccessDenied", POLICY_DENIED)
    try:
        box = tenant.mailbox(upn)
    except UnknownMailbox:
        # A directory user without an Exchange Online mailbox (no licence, on-premises, soft-deleted): every
        # mail call answers 404 MailboxNotEnabledForRESTAPI (https://learn.microsoft.com/exchange/troubleshoot/
        # user-and-shared-mailboxes/rest-api-is-not-yet-supported-for-this-mailbox-error). The message is the
        # one Exchange Online sends today; the KB quotes an older "REST API is not yet supported for this
        # mailbox.".
        raise GraphError(
            404,
            "MailboxNotEnabledForRESTAPI",
            "The mailbox is either inactive, soft-deleted, or is hosted on-premise.",
        ) from None
    return MailboxAccess(grant, box, full=bool(permissions & FULL_READ), can_write=bool(permissions & WRITE))
