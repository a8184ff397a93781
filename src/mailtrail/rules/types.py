"""Plain data that the rules take (a workspace snapshot) and return (a Decision)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Literal, NamedTuple

from mailtrail.mail.parsed import Address, Role
from mailtrail.rules.lookups import Lookups, add_ref

Direction = Literal["inbound", "outbound"]


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
    """The class of one address at an email's time, in the contract's order."""

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
    """The workspace settings the rules read (``visibility`` and ``backfill_days`` are the importer's)."""

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
    # Lookups keyed the way the settings compare addresses; built on first use (see ``lookups``).
    _lookups: Lookups | None = field(default=None, init=False, repr=False, compare=False)

    def lookups(self) -> Lookups:
        """People, team and blacklist keyed by lookup address (no sub-addresses if the workspace says so).

        Built on first use; rebuilt when a part of the snapshot is replaced or one of its dicts gains keys.
        Add people through ``add_person``; after changing values in place, call ``reset_lookups``.
        """
        lookups = self._lookups
        if lookups is None or not lookups.is_current(self):
            lookups = self._lookups = Lookups.build(self)
        return lookups

    def reset_lookups(self) -> None:
        """Forget the prepared lookups (rebuilt on next use): after changing the snapshot's dicts in place."""
        self._lookups = None

    def add_person(self, address: str, ref: PersonRef) -> None:
        """Record a person with ``address`` (one an import created) so later emails of the import see them.

        Recording a stored person (``ref.id`` set) under the label of a not-yet-stored one (``id`` None)
        replaces that placeholder instead of adding the same person twice.
        """
        lookups = self._lookups
        current = lookups is not None and lookups.is_current(self)
        add_ref(self.people_by_address, address, ref)
        if lookups is not None and current:
            lookups.add_person(self, address, ref)


class Classified(NamedTuple):
    """One participant's class at the email's time, and the facts that explain it (see ``why``).

    A named tuple rather than a frozen dataclass: millions are built per import, and it is several times
    cheaper to construct while staying immutable. The sentence ``why`` is only composed when asked for.
    """

    role: Role
    address: Address
    # The address as looked up (sub-address removed when the workspace ignores sub-addressing).
    lookup: str
    cls: AddressClass
    # For class person: the people created at or before t; for creatable: the people who have the address.
    people: tuple[PersonRef, ...] = ()
    # For creatable: the account that owns the domain.
    account_id: int | None = None
    blacklist_entry: str | None = None
    team_member_id: int | None = None
    # The facts behind ``why``: the email's time; whether a team address (not a company domain) made it
    # internal; people with the address created after t (class person or unknown); the domain's account and
    # when the domain was added to it (class creatable or unknown).
    t: datetime | None = None
    via_team: bool = False
    later: tuple[PersonRef, ...] = ()
    owner: tuple[int, datetime] | None = None

    @property
    def why(self) -> str:
        """A sentence for ``explain``: the blacklist entry, company domain, team member, people or account."""
        return self.describe()

    def describe(self, account_names: Mapping[int, str] | None = None) -> str:
        """``why``, naming accounts by name where ``account_names`` knows them."""
        # Imported here: why.py needs this module to be loaded first.
        from mailtrail.rules.why import describe

        return describe(self, account_names or {})


class Decision(NamedTuple):
    """The outcome for one email: imported (reason ok) or skipped with a reason code.

    A named tuple, like ``Classified`` and ``LinkPlan``, because one is built per email on the hot path.
    """

    reason: Reason
    time: datetime
    participants: tuple[Classified, ...] = ()

    @property
    def imported(self) -> bool:
        """Whether the email becomes an engagement (before deduplication, which is the importer's)."""
        return self.reason is Reason.OK

    @property
    def sender(self) -> Classified | None:
        """The sender's classification, or None for an email without a sender."""
        first = self.participants[0] if self.participants else None
        return first if first is not None and first.role == "from" else None


@dataclass(frozen=True, slots=True)
class PersonToCreate:
    """A person an imported email creates: a creatable address nobody has yet."""

    address: str
    name: str | None
    account_id: int

    def person_ref(self, created_at: datetime, person_id: int | None = None) -> PersonRef:
        """How the snapshot should know this person once created (see ``WorkspaceSnapshot.add_person``)."""
        return PersonRef(person_id, created_at, f"new:{self.address}", self.account_id)


class LinkPlan(NamedTuple):
    """What an imported email links to: existing people, people to create, accounts, direction."""

    direction: Direction
    # Each existing person once, with the (lookup) address through which it is linked.
    people: tuple[tuple[PersonRef, str], ...] = ()
    create: tuple[PersonToCreate, ...] = ()
    # Default accounts of the linked people, then the accounts of created people; each once, in that order.
    account_ids: tuple[int, ...] = ()
