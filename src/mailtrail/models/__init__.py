"""ORM tables, by domain: ``core`` (workspaces, the CRM, engagements), ``sync`` (mailboxes and their sync) and
``auth`` (users, sessions, API tokens).

Everything is importable from ``mailtrail.models``; migrations name ``mailtrail.models.UTCDateTime``.
"""

from mailtrail.models.auth import ApiToken, SignInAttempt, User, WebSession
from mailtrail.models.base import Base, Id, UTCDateTime, utcnow
from mailtrail.models.core import (
    Account,
    AccountDomain,
    BlacklistEntry,
    CompanyDomain,
    Engagement,
    EngagementAccount,
    EngagementPerson,
    EngagementSource,
    Participant,
    Person,
    PersonAccount,
    PersonEmail,
    TeamAlias,
    TeamMember,
    Tombstone,
    Workspace,
)
from mailtrail.models.sync import (
    Credential,
    ImportCount,
    Mailbox,
    MailboxEvent,
    OAuthFlow,
    RateBudget,
    RateSpend,
)

__all__ = [
    "Account",
    "AccountDomain",
    "ApiToken",
    "Base",
    "BlacklistEntry",
    "CompanyDomain",
    "Credential",
    "Engagement",
    "EngagementAccount",
    "EngagementPerson",
    "EngagementSource",
    "Id",
    "ImportCount",
    "Mailbox",
    "MailboxEvent",
    "OAuthFlow",
    "Participant",
    "Person",
    "PersonAccount",
    "PersonEmail",
    "RateBudget",
    "RateSpend",
    "SignInAttempt",
    "TeamAlias",
    "TeamMember",
    "Tombstone",
    "UTCDateTime",
    "User",
    "WebSession",
    "Workspace",
    "utcnow",
]
