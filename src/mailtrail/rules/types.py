"""Plain data that the rules take (a workspace snapshot) and return (a Decision)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from mailtrail.mail.parsed import Address, Role


class Reason(StrEnum):
    """Reason codes, spelled exactly as the contract spells them."""

    OK = "ok"
    DUPLICATE = "duplicate"
    DRAFT = "draft"
    SPAM = "spam"
    TRASH = "trash"
    NOT_EMAIL = "not_email"
    BLACKLISTED = "blacklisted"
    INTERNAL = "internal"
    UNKNOWN_SENDER = "unknown_sender"
    UNKNOWN_RECIPIENTS = "unknown_recipients"
    NO_CUSTOMER = "no_customer"
    DELETED = "deleted"


class AddressClass(StrEnum):
    BLACKLISTED = "blacklisted"
    INTERNAL = "internal"
    PERSON = "person"
    CREATABLE = "creatable"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class PersonRef:
    """A person as the rules see it: an id (None for one created in this import but not yet stored)."""

    id: int | None
    created_at: datetime
    # What the import report prints: the external id, "new:ADDRESS" or "id:N".
    label: str
    default_account_id: int | None


@dataclass(frozen=True, slots=True)
class Settings:
    backfill_days: int = 0
    ignore_subaddress: bool = False
    skip_role_addresses: bool = True
    visibility: str = "full"


@dataclass(slots=True)
class WorkspaceSnapshot:
    """Everything the rules need to know about one workspace, as lookups. Addresses are normalised."""

    company_domains: frozenset[str] = frozenset()
    # Team members' addresses, their aliases and every mailbox being synced or imported.
    team_addresses: dict[str, int | None] = field(default_factory=dict)
    # Address -> every person with that address (any creation time).
    people_by_address: dict[str, list[PersonRef]] = field(default_factory=dict)
    # Account domain -> (account id, time the domain was added to the account).
    account_domains: dict[str, tuple[int, datetime]] = field(default_factory=dict)
    blacklist: frozenset[str] = frozenset()
    # Message keys of engagements a user deleted.
    tombstones: set[str] = field(default_factory=set)
    settings: Settings = field(default_factory=Settings)


@dataclass(frozen=True, slots=True)
class Classified:
    """One participant's class at the email's time, and why."""

    role: Role
    address: Address
    # The address as looked up (sub-address removed when the workspace ignores sub-addressing).
    lookup: str
    cls: AddressClass
    why: str
    # For class person: the people created at or before t; for creatable: the people who have the address.
    people: tuple[PersonRef, ...] = ()
    # For creatable: the account that owns the domain.
    account_id: int | None = None
    blacklist_entry: str | None = None
    team_member_id: int | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome for one email: imported (reason ok) or skipped with a reason code."""

    reason: Reason
    time: datetime
    participants: tuple[Classified, ...] = ()

    @property
    def imported(self) -> bool:
        return self.reason is Reason.OK
