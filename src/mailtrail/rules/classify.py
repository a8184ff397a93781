"""Classify one address at an email's time: blacklisted, internal, person, creatable or unknown."""

from __future__ import annotations

from datetime import datetime

from mailtrail.mail.parsed import Address, Role
from mailtrail.rules.addresses import blacklist_match, domain_of, is_role_address, strip_subaddress
from mailtrail.rules.types import AddressClass, Classified, PersonRef, WorkspaceSnapshot


def classify(role: Role, address: Address, t: datetime, snapshot: WorkspaceSnapshot) -> Classified:
    """The first class of the contract's five that holds for ``address`` at time ``t``, and why."""
    written = address.address
    if snapshot.settings.ignore_subaddress:
        lookups = snapshot.lookups()
        lookup = strip_subaddress(written)
        people_by_address, team, blacklist = lookups.people, lookups.team, lookups.blacklist
    else:
        # Read the snapshot's own dicts: nothing to re-key, and nothing that could go stale.
        lookup = written
        people_by_address, team, blacklist = (
            snapshot.people_by_address,
            snapshot.team_addresses,
            snapshot.blacklist,
        )
    note = f"looked up as {lookup} (sub-address ignored): " if lookup != written else ""

    entry = blacklist_match(lookup, blacklist) if blacklist else None
    if entry is not None:
        return Classified(
            role, address, lookup, AddressClass.BLACKLISTED, note + _blacklisted_why(lookup, entry),
            blacklist_entry=entry,
        )  # fmt: skip

    domain = domain_of(lookup)
    if domain in snapshot.company_domains:
        return Classified(
            role, address, lookup, AddressClass.INTERNAL, f"{note}its domain {domain} is a company domain"
        )
    if lookup in team:
        member = team[lookup]
        who = f"team member {member}" if member is not None else "a team member or a mailbox being imported"
        why = f"{note}it is an address or alias of {who}"
        return Classified(role, address, lookup, AddressClass.INTERNAL, why, team_member_id=member)

    people = people_by_address.get(lookup)
    if people:
        before = tuple(p for p in people if p.created_at <= t)
        if before:
            return Classified(
                role, address, lookup, AddressClass.PERSON, note + _person_why(before, len(people), t), before
            )

    owner = snapshot.account_domains.get(domain)
    role_blocked = snapshot.settings.skip_role_addresses and is_role_address(lookup)
    if owner is not None and owner[1] <= t and not role_blocked:
        account_id, added = owner
        why = f"account {account_id} owns its domain {domain} since {_when(added)}, at or before the email"
        if people:
            why += f"; links to {_labels(people)}, created after the email ({_when(t)})"
        else:
            why += f"; no person had it at {_when(t)}, so one is created"
        return Classified(
            role, address, lookup, AddressClass.CREATABLE, note + why, tuple(people or ()), account_id
        )

    return Classified(
        role, address, lookup, AddressClass.UNKNOWN, note + _unknown_why(domain, t, people, owner)
    )


def _blacklisted_why(lookup: str, entry: str) -> str:
    if entry == lookup:
        return f'the address is on the blacklist (entry "{entry}")'
    if entry.startswith("*."):
        return f'its domain {domain_of(lookup)} is covered by the blacklist entry "{entry}"'
    return f'its domain is on the blacklist (entry "{entry}")'


def _person_why(before: tuple[PersonRef, ...], total: int, t: datetime) -> str:
    why = f"{_labels(before)} {'has' if len(before) == 1 else 'have'} this address and existed at {_when(t)}"
    if total > len(before):
        why += f" ({total - len(before)} more created after the email, not linked)"
    return why


def _unknown_why(
    domain: str,
    t: datetime,
    people: list[PersonRef] | None,
    owner: tuple[int, datetime] | None,
) -> str:
    if people:
        first = (
            f"{_labels(people)} {'was' if len(people) == 1 else 'were'} created after the email ({_when(t)})"
        )
    else:
        first = "no person has this address"
    if owner is None:
        second = f"no account has the domain {domain}"
    elif owner[1] > t:
        second = f"the domain {domain} was added to account {owner[0]} at {_when(owner[1])}, after the email"
    else:
        second = "it is a role address, never created as a person (setting skip_role_addresses)"
    return f"{first}, and {second}"


def _labels(people: tuple[PersonRef, ...] | list[PersonRef]) -> str:
    shown = ", ".join(f"person {p.label} (created {_when(p.created_at)})" for p in people[:5])
    return shown if len(people) <= 5 else f"{shown} and {len(people) - 5} more"


def _when(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")
