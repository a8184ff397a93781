"""The tables of the CRM and of the engagements. Every row carries ``workspace_id``; relationships never load
lazily."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mailtrail.models.base import Base, Id, UTCDateTime, utcnow
from mailtrail.models.base import workspace_column as _ws


class Workspace(Base):
    __tablename__ = "workspaces"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Settings of the import rules (docs/import-rules.md, "Settings").
    backfill_days: Mapped[int] = mapped_column(Integer, default=0)
    ignore_subaddress: Mapped[bool] = mapped_column(Boolean, default=False)
    skip_role_addresses: Mapped[bool] = mapped_column(Boolean, default=True)
    visibility: Mapped[str] = mapped_column(String(16), default="full")
    # Grows with every change that the import rules read (blacklist, team, accounts, people, settings), so a
    # running sync sees the change in its next batch (crm.snapshot.SnapshotCache).
    rules_version: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class CompanyDomain(Base):
    __tablename__ = "company_domains"
    __table_args__ = (UniqueConstraint("workspace_id", "domain"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    workspace_id: Mapped[int] = _ws()
    domain: Mapped[str] = mapped_column(String(255))


class TeamMember(Base):
    __tablename__ = "team_members"
    __table_args__ = (UniqueConstraint("workspace_id", "email"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    workspace_id: Mapped[int] = _ws()
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TeamAlias(Base):
    __tablename__ = "team_aliases"
    __table_args__ = (UniqueConstraint("workspace_id", "email"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    workspace_id: Mapped[int] = _ws()
    member_id: Mapped[int] = mapped_column(Id, ForeignKey("team_members.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(320))


class Account(Base):
    __tablename__ = "accounts"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    workspace_id: Mapped[int] = _ws()
    name: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AccountDomain(Base):
    """A domain belongs to at most one account in a workspace."""

    __tablename__ = "account_domains"
    __table_args__ = (UniqueConstraint("workspace_id", "domain"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    workspace_id: Mapped[int] = _ws()
    account_id: Mapped[int] = mapped_column(Id, ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    domain: Mapped[str] = mapped_column(String(255))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Person(Base):
    __tablename__ = "people"
    __table_args__ = (UniqueConstraint("workspace_id", "external_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    workspace_id: Mapped[int] = _ws()
    external_id: Mapped[str | None] = mapped_column(String(200))
    name: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Where the record came from: "csv", "email" (created by an import), "api".
    source: Mapped[str] = mapped_column(String(16), default="csv")
    default_account_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("accounts.id", ondelete="SET NULL"), index=True
    )


class PersonEmail(Base):
    __tablename__ = "person_emails"
    __table_args__ = (
        UniqueConstraint("person_id", "email"),
        Index("ix_person_emails_workspace_email", "workspace_id", "email"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    workspace_id: Mapped[int] = _ws()
    person_id: Mapped[int] = mapped_column(Id, ForeignKey("people.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320))


class PersonAccount(Base):
    __tablename__ = "person_accounts"

    workspace_id: Mapped[int] = _ws()
    person_id: Mapped[int] = mapped_column(Id, ForeignKey("people.id", ondelete="CASCADE"), primary_key=True)
    account_id: Mapped[int] = mapped_column(
        Id, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class Engagement(Base):
    __tablename__ = "engagements"
    __table_args__ = (
        UniqueConstraint("workspace_id", "message_key"),
        Index("ix_engagements_workspace_thread", "workspace_id", "thread_key"),
        Index("ix_engagements_workspace_occurred", "workspace_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    workspace_id: Mapped[int] = _ws()
    message_key: Mapped[str] = mapped_column(String(512))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # "inbound" or "outbound".
    direction: Mapped[str] = mapped_column(String(8))
    # What is kept depends on the workspace's visibility at import time.
    subject: Mapped[str | None] = mapped_column(Text)
    snippet: Mapped[str | None] = mapped_column(String(200))
    text_body: Mapped[str | None] = mapped_column(Text)
    html_body: Mapped[str | None] = mapped_column(Text)
    thread_key: Mapped[str | None] = mapped_column(String(512))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Participant(Base):
    """One address of an email with its role and class at the email's time.

    A participant's people (several people may share one address) are the ``engagement_people`` rows of the
    engagement with the same address; an internal one names its team member when it is one.
    """

    __tablename__ = "participants"
    __table_args__ = (Index("ix_participants_workspace_address", "workspace_id", "address"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    workspace_id: Mapped[int] = _ws()
    engagement_id: Mapped[int] = mapped_column(
        Id, ForeignKey("engagements.id", ondelete="CASCADE"), index=True
    )
    address: Mapped[str] = mapped_column(String(320))
    name: Mapped[str | None] = mapped_column(String(300))
    # "from", "to", "cc" or "bcc".
    role: Mapped[str] = mapped_column(String(4))
    # The class at the email's time: "internal", "person", "creatable" or "unknown".
    address_class: Mapped[str] = mapped_column(String(12))
    team_member_id: Mapped[int | None] = mapped_column(Id, ForeignKey("team_members.id", ondelete="SET NULL"))


class EngagementPerson(Base):
    """Links an engagement to a person; ``occurred_at`` is copied for the person timeline index."""

    __tablename__ = "engagement_people"
    __table_args__ = (Index("ix_engagement_people_timeline", "workspace_id", "person_id", "occurred_at"),)

    workspace_id: Mapped[int] = _ws()
    engagement_id: Mapped[int] = mapped_column(
        Id, ForeignKey("engagements.id", ondelete="CASCADE"), primary_key=True
    )
    person_id: Mapped[int] = mapped_column(Id, ForeignKey("people.id", ondelete="CASCADE"), primary_key=True)
    address: Mapped[str] = mapped_column(String(320))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)


class EngagementAccount(Base):
    """Shows an engagement on an account; ``occurred_at`` is copied for the account timeline index."""

    __tablename__ = "engagement_accounts"
    __table_args__ = (Index("ix_engagement_accounts_timeline", "workspace_id", "account_id", "occurred_at"),)

    workspace_id: Mapped[int] = _ws()
    engagement_id: Mapped[int] = mapped_column(
        Id, ForeignKey("engagements.id", ondelete="CASCADE"), primary_key=True
    )
    account_id: Mapped[int] = mapped_column(
        Id, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)


class EngagementSource(Base):
    """One mailbox that saw the email, with the provider's id for it (a path for file imports)."""

    __tablename__ = "engagement_sources"
    __table_args__ = (UniqueConstraint("engagement_id", "mailbox_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    workspace_id: Mapped[int] = _ws()
    engagement_id: Mapped[int] = mapped_column(Id, ForeignKey("engagements.id", ondelete="CASCADE"))
    mailbox_id: Mapped[int] = mapped_column(Id, ForeignKey("mailboxes.id", ondelete="CASCADE"), index=True)
    provider_id: Mapped[str] = mapped_column(Text)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Tombstone(Base):
    """A user deleted the engagement for this message key; no sync brings it back (rule 6)."""

    __tablename__ = "tombstones"
    __table_args__ = (UniqueConstraint("workspace_id", "message_key"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    workspace_id: Mapped[int] = _ws()
    message_key: Mapped[str] = mapped_column(String(512))
    deleted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deleted_by: Mapped[str | None] = mapped_column(String(320))


class BlacklistEntry(Base):
    __tablename__ = "blacklist_entries"
    __table_args__ = (UniqueConstraint("workspace_id", "entry"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    workspace_id: Mapped[int] = _ws()
    # Normalised: "user@domain", "domain" or "*.domain".
    entry: Mapped[str] = mapped_column(String(320))
    added_by: Mapped[str | None] = mapped_column(String(320))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
