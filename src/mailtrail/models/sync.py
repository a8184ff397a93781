"""The tables of mailbox sync: mailboxes and their state, credentials, connect flows, counts and rate budgets.

Secrets (refresh tokens, keys, PKCE verifiers) are stored encrypted (``mailtrail.secrets``); no column holds
one in clear.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mailtrail.models.base import Base, Id, UTCDateTime, utcnow
from mailtrail.models.base import workspace_column as _ws


class Credential(Base):
    """What lets mailtrail read mailboxes: one user's OAuth grant, or a key or secret that an admin gave for
    several mailboxes (a Google service account with domain-wide delegation, a Microsoft app)."""

    __tablename__ = "credentials"
    __table_args__ = (UniqueConstraint("workspace_id", "provider", "kind", "subject"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    workspace_id: Mapped[int] = _ws()
    # "gmail" or "microsoft".
    provider: Mapped[str] = mapped_column(String(16))
    # "oauth" (a user's refresh token), "service_account" (a key JSON), "client_secret" or "certificate".
    kind: Mapped[str] = mapped_column(String(16))
    # Whose it is: the user's address, the service account's email, the app's client id.
    subject: Mapped[str] = mapped_column(String(320))
    # Microsoft's tenant id for app-only credentials.
    tenant: Mapped[str | None] = mapped_column(String(64))
    # The scopes granted, space-separated.
    scopes: Mapped[str] = mapped_column(Text, default="")
    # Encrypted (mailtrail.secrets): the refresh token, the key JSON, the client secret or certificate.
    secret: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Mailbox(Base):
    """A mailbox whose mail is imported: a synced Gmail or Microsoft 365 mailbox, or the name under which
    files were imported. ``status`` is the sync engine's last word on it; ``sync.status`` puts it in words."""

    __tablename__ = "mailboxes"
    __table_args__ = (
        UniqueConstraint("workspace_id", "provider", "address"),
        Index("ix_mailboxes_sync_due_at", "sync_due_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    workspace_id: Mapped[int] = _ws()
    address: Mapped[str] = mapped_column(String(320))
    # "file", "gmail" or "microsoft".
    provider: Mapped[str] = mapped_column(String(16))
    owner_id: Mapped[int | None] = mapped_column(Id, ForeignKey("team_members.id", ondelete="SET NULL"))
    connected_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # "file", "connected" (not synced yet), "syncing", "active", "backing_off", "needs_reauth", "paused",
    # "stopped" (by the resync loop breaker), "error" or "disconnected".
    status: Mapped[str] = mapped_column(String(32), default="file")
    credential_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("credentials.id", ondelete="SET NULL"), index=True
    )
    # Nothing received before this is imported: the moment of connection, less the workspace's backfill_days.
    sync_from: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The provider's position after the last committed batch: Gmail's history id; Graph's delta links (JSON).
    cursor: Mapped[str | None] = mapped_column(Text)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The start of the last sync that reached the end of the mailbox's changes: nothing before it is missing.
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Failed syncs in a row (the back-off grows with them).
    failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    backoff_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    backoff_reason: Mapped[str | None] = mapped_column(Text)
    # When the mailbox must be synced next: now after a push, else the polling interval after the last sync.
    sync_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Re-listings after an expired cursor in the current window, for the loop breaker.
    resyncs: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    resync_window_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Messages known to be waiting (an estimate from the last listing).
    backlog: Mapped[int | None] = mapped_column(Integer)
    watch_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The last attempt to register or renew push (a failed one is tried again some minutes later).
    watch_attempted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Push registration details, encrypted (a Graph subscription's client state is a secret; Gmail's topic).
    watch_state: Mapped[str | None] = mapped_column(Text)
    # The provider's id of the push registration (a Graph subscription), which its notifications name.
    watch_id: Mapped[str | None] = mapped_column(String(200), index=True)
    disconnected_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class MailboxEvent(Base):
    """Something that happened to a mailbox's sync that an admin may ask about: connected, resync, throttled,
    needs re-authorisation, recovered, paused, an error."""

    __tablename__ = "mailbox_events"
    __table_args__ = (Index("ix_mailbox_events_mailbox_at", "mailbox_id", "at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    workspace_id: Mapped[int] = _ws()
    mailbox_id: Mapped[int] = mapped_column(Id, ForeignKey("mailboxes.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text, default="")


class ImportCount(Base):
    """How many emails one mailbox's imports decided each way on one day (UTC)."""

    __tablename__ = "import_counts"

    workspace_id: Mapped[int] = _ws()
    mailbox_id: Mapped[int] = mapped_column(
        Id, ForeignKey("mailboxes.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    decision: Mapped[str] = mapped_column(String(8), primary_key=True)
    reason: Mapped[str] = mapped_column(String(24), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


class OAuthFlow(Base):
    """A connect flow that a user started and the provider has not yet sent back (state -> PKCE verifier)."""

    __tablename__ = "oauth_flows"

    state: Mapped[str] = mapped_column(String(64), primary_key=True)
    workspace_id: Mapped[int] = _ws()
    provider: Mapped[str] = mapped_column(String(16))
    # Encrypted (mailtrail.secrets).
    verifier: Mapped[str] = mapped_column(Text)
    redirect_uri: Mapped[str] = mapped_column(Text)
    scopes: Mapped[str] = mapped_column(Text)
    requested_by: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RateBudget(Base):
    """A request budget shared by every worker (a Google project, one user's quota): locked while spending.

    Not workspace data: the quotas are the providers' and belong to the deployment's app registrations.
    """

    __tablename__ = "rate_budgets"

    key: Mapped[str] = mapped_column(String(400), primary_key=True)


class RateSpend(Base):
    """Units spent from a budget at a time; the budget sums them over its sliding windows."""

    __tablename__ = "rate_spends"
    __table_args__ = (Index("ix_rate_spends_key_at", "key", "at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    key: Mapped[str] = mapped_column(String(400), ForeignKey("rate_budgets.key", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    units: Mapped[int] = mapped_column(Integer)
