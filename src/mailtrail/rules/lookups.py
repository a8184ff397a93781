"""A snapshot's people, team and blacklist prepared for the lookups ``classify`` makes for every address."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple

from mailtrail.rules.addresses import strip_subaddress

if TYPE_CHECKING:
    from mailtrail.rules.types import AddressClass, PersonRef, Settings, WorkspaceSnapshot


# Distinct domains remembered per blacklist before the memory starts over (a few MB at most).
_DOMAIN_MEMORY = 200_000


@dataclass(frozen=True, slots=True)
class BlacklistIndex:
    """Blacklist entries split by form: a match is a few set lookups (same answers as blacklist_match)."""

    addresses: frozenset[str]
    domains: frozenset[str]
    # The domain part of "*.domain" entries.
    wildcards: frozenset[str]
    # Domain -> the entry covering it (or None). Mail repeats domains far more than addresses, and walking a
    # domain's parents for "*." entries is most of the cost of a match.
    by_domain: dict[str, str | None] = field(default_factory=dict, compare=False, repr=False)

    # Entry as matched -> entry as stored, where they differ (a "+tag" entry when sub-addresses are ignored).
    stored: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def of(cls, entries: Iterable[str], ignore_subaddress: bool = False) -> BlacklistIndex:
        """Split stored entries (``user@domain``, ``domain``, ``*.domain``) by form.

        With ``ignore_subaddress``, ``john+x@acme.com`` matches as ``john@acme.com`` but is still named as
        stored, so ``explain`` shows the entry the user typed.
        """
        addresses: set[str] = set()
        domains: set[str] = set()
        wildcards: set[str] = set()
        stored: dict[str, str] = {}
        for entry in entries:
            if entry.startswith("*."):
                wildcards.add(entry[2:])
            elif "@" in entry:
                key = strip_subaddress(entry) if ignore_subaddress else entry
                addresses.add(key)
                if key != entry:
                    stored[key] = entry
            else:
                domains.add(entry)
        return cls(frozenset(addresses), frozenset(domains), frozenset(wildcards), stored=stored)

    def match(self, address: str, domain: str) -> str | None:
        """The entry covering ``address`` (whose domain is ``domain``): address, exact domain, then ``*.``."""
        if address in self.addresses:
            return self.stored.get(address, address)
        try:
            return self.by_domain[domain]
        except KeyError:
            pass
        entry = self._match_domain(domain)
        if len(self.by_domain) >= _DOMAIN_MEMORY:
            self.by_domain.clear()
        self.by_domain[domain] = entry
        return entry

    def _match_domain(self, domain: str) -> str | None:
        if domain in self.domains:
            return domain
        wildcards = self.wildcards
        candidate = domain
        while candidate and wildcards:
            if candidate in wildcards:
                return "*." + candidate
            candidate = candidate.partition(".")[2]
        return None


class Settled(NamedTuple):
    """An address whose class does not depend on the email's time: blacklisted or internal."""

    lookup: str
    cls: AddressClass
    blacklist_entry: str | None
    team_member_id: int | None
    via_team: bool


# Distinct addresses remembered before the memory starts over (tens of MB at most).
_ADDRESS_MEMORY = 500_000


@dataclass(slots=True)
class Lookups:
    """People, team and blacklist keyed by the address the rules look up (``WorkspaceSnapshot.lookups``)."""

    ignore_subaddress: bool
    people: dict[str, list[PersonRef]]
    team: dict[str, int | None]
    # None when the blacklist is empty, so the common case costs one test.
    blacklist: BlacklistIndex | None
    # What they were built from (by identity and size), to notice a snapshot changed since.
    source_people: dict[str, list[PersonRef]]
    people_count: int
    source_team: dict[str, int | None]
    team_count: int
    source_blacklist: frozenset[str]
    source_settings: Settings
    source_company_domains: frozenset[str]
    source_account_domains: dict[str, tuple[int, datetime]]
    account_domain_count: int
    # Address as written -> its class when that does not depend on the time (blacklisted, internal).
    # The mailbox owner and the team are on nearly every email; they are classified by one lookup.
    settled: dict[str, Settled] = field(default_factory=dict)

    def is_current(self, snapshot: WorkspaceSnapshot) -> bool:
        """Whether these lookups still describe ``snapshot`` (cheap: identities and sizes only)."""
        return (
            self.source_people is snapshot.people_by_address
            and self.people_count == len(snapshot.people_by_address)
            and self.source_settings is snapshot.settings
            and self.source_team is snapshot.team_addresses
            and self.team_count == len(snapshot.team_addresses)
            and self.source_blacklist is snapshot.blacklist
            and self.source_company_domains is snapshot.company_domains
            and self.source_account_domains is snapshot.account_domains
            and self.account_domain_count == len(snapshot.account_domains)
        )

    @classmethod
    def build(cls, snapshot: WorkspaceSnapshot) -> Lookups:
        """The snapshot's own dicts as they are, or copies keyed without sub-addresses."""
        people, team, entries = snapshot.people_by_address, snapshot.team_addresses, snapshot.blacklist
        ignore = snapshot.settings.ignore_subaddress
        if ignore:
            people = {}
            for address, refs in snapshot.people_by_address.items():
                for ref in refs:
                    add_ref(people, strip_subaddress(address), ref)
            team = {strip_subaddress(a): member for a, member in snapshot.team_addresses.items()}
        return cls(
            ignore,
            people,
            team,
            BlacklistIndex.of(entries, ignore) if entries else None,
            snapshot.people_by_address,
            len(snapshot.people_by_address),
            snapshot.team_addresses,
            len(snapshot.team_addresses),
            snapshot.blacklist,
            snapshot.settings,
            snapshot.company_domains,
            snapshot.account_domains,
            len(snapshot.account_domains),
        )

    def settle(self, address: str, settled: Settled) -> Settled:
        """Remember that ``address`` is settled, starting over when the memory is full."""
        if len(self.settled) >= _ADDRESS_MEMORY:
            self.settled.clear()
        self.settled[address] = settled
        return settled

    def add_person(self, snapshot: WorkspaceSnapshot, address: str, ref: PersonRef) -> None:
        """Follow a person just added to ``snapshot.people_by_address`` (these lookups being current)."""
        if self.people is not snapshot.people_by_address:
            add_ref(self.people, strip_subaddress(address), ref)
        self.people_count = len(snapshot.people_by_address)


def add_ref(people: dict[str, list[PersonRef]], key: str, ref: PersonRef) -> None:
    """Add ``ref`` under ``key`` once; a stored person replaces its unstored placeholder (same label)."""
    refs = people.setdefault(key, [])
    if ref in refs:
        return
    if ref.id is not None:
        for i, old in enumerate(refs):
            if old.id is None and old.label == ref.label:
                refs[i] = ref
                return
    refs.append(ref)
