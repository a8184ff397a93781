"""Classify one address at an email's time: blacklisted, internal, person, creatable or unknown."""

from __future__ import annotations

from datetime import datetime

from mailtrail.mail.parsed import Address, Role
from mailtrail.rules.addresses import is_role_address, strip_subaddress
from mailtrail.rules.lookups import Lookups, Settled
from mailtrail.rules.types import AddressClass, Classified, PersonRef, WorkspaceSnapshot

_BLACKLISTED = AddressClass.BLACKLISTED
_INTERNAL = AddressClass.INTERNAL
_PERSON = AddressClass.PERSON
_CREATABLE = AddressClass.CREATABLE
_UNKNOWN = AddressClass.UNKNOWN

# Classified is built with tuple.__new__, every field given in order: the named tuple's own __new__ is a
# Python function that costs about a third of a whole classification.
_new = tuple.__new__
if len(Classified._fields) != 12:
    raise ImportError("classify builds Classified with 12 fields; update it with the class")


def classify(
    role: Role,
    address: Address,
    t: datetime,
    snapshot: WorkspaceSnapshot,
    lookups: Lookups | None = None,
) -> Classified:
    """The first of the contract's five classes that holds for ``address`` at time ``t``.

    Records the facts behind it (entry, team member, people, account) so ``Classified.why`` can say why.
    ``lookups`` is ``snapshot.lookups()``, passed by a caller classifying many addresses in a row.
    This runs for every participant of every email, so it is written for speed: blacklisted and internal
    addresses are remembered per address, and no sentence is composed here.
    """
    if lookups is None:
        lookups = snapshot.lookups()
    written = address.address
    settled = lookups.settled.get(written)
    if settled is None:
        lookup = strip_subaddress(written) if lookups.ignore_subaddress else written
        _, at, domain = lookup.rpartition("@")
        if not at:
            domain = ""
        settled = _settle(written, lookup, domain, snapshot, lookups)
    if settled is not None:
        lookup, cls, entry, member, via_team = settled
        return _new(
            Classified, (role, address, lookup, cls, (), None, entry, member, None, via_team, (), None)
        )

    later: tuple[PersonRef, ...] = ()
    people = lookups.people.get(lookup)
    if people:
        if len(people) == 1:
            # The common case, one person per address, without building two tuples.
            only = people[0]
            if only.created_at <= t:
                return _new(
                    Classified,
                    (role, address, lookup, _PERSON, (only,), None, None, None, t, False, (), None),
                )
            later = (only,)
        else:
            before = tuple(p for p in people if p.created_at <= t)
            later = tuple(p for p in people if p.created_at > t)
            if before:
                return _new(
                    Classified,
                    (role, address, lookup, _PERSON, before, None, None, None, t, False, later, None),
                )

    owner = snapshot.account_domains.get(domain)
    if (
        owner is not None
        and owner[1] <= t
        and not (snapshot.settings.skip_role_addresses and is_role_address(lookup))
    ):
        # Everyone with the address was created after t: they are linked, and nobody new is created.
        return _new(
            Classified, (role, address, lookup, _CREATABLE, later, owner[0], None, None, t, False, (), owner)
        )
    return _new(Classified, (role, address, lookup, _UNKNOWN, (), None, None, None, t, False, later, owner))


def _settle(
    written: str, lookup: str, domain: str, snapshot: WorkspaceSnapshot, lookups: Lookups
) -> Settled | None:
    """Classes 1 and 2, which hold at any time: remembered for the address, or None if neither holds."""
    blacklist = lookups.blacklist
    if blacklist is not None:
        entry = blacklist.match(lookup, domain)
        if entry is not None:
            return lookups.settle(written, Settled(lookup, _BLACKLISTED, entry, None, False))
    team = lookups.team
    if domain in snapshot.company_domains:
        # Still name the team member when it is one: the importer records internal participants by member.
        return lookups.settle(written, Settled(lookup, _INTERNAL, None, team.get(lookup), False))
    if lookup in team:
        return lookups.settle(written, Settled(lookup, _INTERNAL, None, team[lookup], True))
    return None
