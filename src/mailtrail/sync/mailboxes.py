"""What people do to synced mailboxes: connect (and reconnect), pause, resume, disconnect, purge.

Services flush, never commit (the command or request commits). Connecting stores the grant or key encrypted
(``mailtrail.secrets``) and makes the mailbox due at once; nothing received before the moment of connection
(less the workspace's ``backfill_days``) is imported. Reconnecting keeps the mailbox's sync position, so the
sync picks up where it stopped and the downtime is back-filled.
"""

from __future__ import annotations

import json
import secrets as stdlib_secrets
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from mailtrail.addresses import normalise_address
from mailtrail.crm.errors import CrmError
from mailtrail.crm.workspaces.repository import WorkspaceRepository
from mailtrail.models import Credential, Mailbox, OAuthFlow, Workspace
from mailtrail.secrets import SecretBox
from mailtrail.sync.engine import ACTIVE, CONNECTED, DISCONNECTED, PAUSED
from mailtrail.sync.repository import MailboxRepository, pop_flow

# How long a person has to finish a connect flow at the provider.
FLOW_LIFETIME = timedelta(minutes=30)


def start_flow(
    session: Session,
    workspace_id: int,
    provider: str,
    verifier: str,
    *,
    redirect_uri: str,
    scopes: str,
    requested_by: str | None,
    box: SecretBox,
    now: datetime,
    state: str | None = None,
) -> str:
    """Remember a connect flow (its PKCE verifier, or msal's whole flow, encrypted) until the provider sends
    the person back; returns the ``state`` that names it (made here unless the flow has its own)."""
    state = state or stdlib_secrets.token_urlsafe(32)
    flow = OAuthFlow(
        state=state, provider=provider, verifier=box.encrypt(verifier), redirect_uri=redirect_uri
    )
    flow.scopes, flow.requested_by, flow.created_at = scopes, requested_by, now
    MailboxRepository(session, workspace_id).add_flow(flow)
    return state


def finish_flow(session: Session, state: str, box: SecretBox, now: datetime) -> tuple[OAuthFlow, str]:
    """The flow of ``state`` and its verifier; a state works once and for ``FLOW_LIFETIME``."""
    flow = pop_flow(session, state, now - FLOW_LIFETIME)
    if flow is None:
        raise CrmError(
            "this connect link has expired or was already used: start connecting the mailbox again"
        )
    return flow, box.decrypt(flow.verifier)


def store_grant(
    session: Session, workspace_id: int, provider: str, address: str, refresh_token: str, scopes: str,
    box: SecretBox, now: datetime,
) -> Credential:  # fmt: skip
    """A user's OAuth grant (refresh token encrypted); a new grant for the same user replaces the old one."""
    return _store(session, workspace_id, provider, "oauth", address, box.encrypt(refresh_token), scopes, now)


def store_service_account(
    session: Session, workspace_id: int, key_json: str, scopes: str, box: SecretBox, now: datetime
) -> Credential:
    """A Google service-account key for domain-wide delegation (encrypted), named by its client email."""
    try:
        key = json.loads(key_json)
    except json.JSONDecodeError as exc:
        raise CrmError(f"the service-account key is not JSON (line {exc.lineno}: {exc.msg})") from None
    missing = [field for field in ("type", "client_email", "private_key") if not key.get(field)]
    if missing or key.get("type") != "service_account":
        what = f"it has no {', '.join(missing)}" if missing else f"its type is {key.get('type')!r}"
        raise CrmError(f"not a Google service-account key: {what}")
    secret = box.encrypt(key_json)
    return _store(session, workspace_id, "gmail", "service_account", key["client_email"], secret, scopes, now)


def store_app_credential(
    session: Session, workspace_id: int, client_id: str, tenant: str, kind: str, secret: str, scopes: str,
    box: SecretBox, now: datetime,
) -> Credential:  # fmt: skip
    """A Microsoft app's credential in a tenant (secret or certificate, encrypted), named by client id."""
    credential = _store(session, workspace_id, "microsoft", kind, client_id, box.encrypt(secret), scopes, now)
    credential.tenant = tenant
    session.flush()
    return credential


def connect_mailbox(
    session: Session, workspace_id: int, provider: str, address: str, credential: Credential, now: datetime
) -> Mailbox:
    """Connect a mailbox with ``credential``, or reconnect it (keeping its sync position)."""
    clean = normalise_address(address)
    if clean is None:
        raise CrmError(f"{address!r} is not an email address")
    repository = MailboxRepository(session, workspace_id)
    mailbox = repository.by_address(provider, clean)
    if mailbox is None:
        workspace = session.get_one(Workspace, workspace_id)
        mailbox = repository.add(
            Mailbox(
                address=clean,
                provider=provider,
                connected_at=now,
                status=CONNECTED,
                sync_from=now - timedelta(days=workspace.backfill_days),
            )
        )
        kind, detail = "connected", f"connected; mail received from {_day(mailbox.sync_from)} on is imported"
        # The mailbox's address is internal from now on: running syncs must know (rules version).
        WorkspaceRepository(session).bump_rules_version(workspace_id)
    else:
        kind, detail = "reconnected", "reconnected; syncing from where it stopped"
        mailbox.status = ACTIVE if mailbox.last_success_at and mailbox.cursor else CONNECTED
        mailbox.disconnected_at = None
    mailbox.credential_id = credential.id
    _clear_trouble(mailbox)
    mailbox.sync_due_at = now
    repository.add_event(mailbox, kind, detail, now)
    session.flush()
    return mailbox


def pause(session: Session, workspace_id: int, mailbox: Mailbox, by: str | None, now: datetime) -> None:
    """Stop syncing until resumed (mail that arrives meanwhile is picked up on resume)."""
    _require_connected(mailbox)
    mailbox.status, mailbox.sync_due_at = PAUSED, None
    MailboxRepository(session, workspace_id).add_event(
        mailbox, "paused", f"paused by {by or 'an admin'}", now
    )
    session.flush()


def resume(session: Session, workspace_id: int, mailbox: Mailbox, now: datetime) -> None:
    """Sync again from where it stopped; also the way out of a broken resync loop."""
    _require_connected(mailbox)
    mailbox.status = ACTIVE if mailbox.last_success_at and mailbox.cursor else CONNECTED
    _clear_trouble(mailbox)
    mailbox.resyncs, mailbox.resync_window_start = 0, None
    mailbox.sync_due_at = now
    MailboxRepository(session, workspace_id).add_event(mailbox, "resumed", "resumed", now)
    session.flush()


def disconnect(session: Session, workspace_id: int, mailbox: Mailbox, now: datetime) -> None:
    """Stop syncing for good and forget the grant; the engagements it brought stay."""
    repository = MailboxRepository(session, workspace_id)
    credential_id = mailbox.credential_id
    mailbox.status, mailbox.disconnected_at, mailbox.sync_due_at = DISCONNECTED, now, None
    mailbox.credential_id = None
    repository.add_event(mailbox, "disconnected", "disconnected; its engagements are kept", now)
    session.flush()
    if credential_id is not None:
        repository.delete_credential_if_unused(credential_id)


def purge(session: Session, workspace_id: int, mailbox: Mailbox, now: datetime) -> tuple[int, int]:
    """Disconnect and delete what only this mailbox brought; returns (engagements, people) deleted."""
    if mailbox.status != DISCONNECTED and mailbox.provider != "file":
        disconnect(session, workspace_id, mailbox, now)
    deleted = MailboxRepository(session, workspace_id).purge(mailbox.id)
    session.delete(mailbox)
    WorkspaceRepository(session).bump_rules_version(workspace_id)
    session.flush()
    return deleted


def _store(
    session: Session, workspace_id: int, provider: str, kind: str, subject: str, secret: str, scopes: str,
    now: datetime,
) -> Credential:  # fmt: skip
    repository = MailboxRepository(session, workspace_id)
    credential = repository.credential_for(provider, kind, subject)
    if credential is None:
        return repository.add_credential(
            Credential(
                provider=provider,
                kind=kind,
                subject=subject,
                secret=secret,
                scopes=scopes,
                created_at=now,
                updated_at=now,
            )
        )
    credential.secret, credential.scopes, credential.updated_at = secret, scopes, now
    session.flush()
    return credential


def _clear_trouble(mailbox: Mailbox) -> None:
    mailbox.failures = 0
    mailbox.backoff_until = mailbox.backoff_reason = None
    mailbox.last_error = None


def _require_connected(mailbox: Mailbox) -> None:
    if mailbox.provider == "file":
        raise CrmError(f"{mailbox.address} is the name of a file import, not a synced mailbox")
    if mailbox.status == DISCONNECTED:
        raise CrmError(f"{mailbox.address} is disconnected: connect it again first")


def _day(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "now"
