"""The sentence `explain` shows for one participant's class, composed from the facts classify recorded."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from mailtrail.rules.addresses import domain_of
from mailtrail.rules.types import AddressClass, Classified, PersonRef

# How many people a sentence names before it says "and N more".
_NAMED = 5


def describe(c: Classified, account_names: Mapping[int, str]) -> str:
    """Why ``c`` has its class: the blacklist entry, company domain, team member, people or account domain."""
    note = f"looked up as {c.lookup} (sub-address ignored): " if c.lookup != c.address.address else ""
    return note + _SENTENCES[c.cls](c, account_names)


def _blacklisted(c: Classified, _: Mapping[int, str]) -> str:
    entry = c.blacklist_entry
    if entry is not None and "@" in entry:
        return f'the address is on the blacklist (entry "{entry}")'
    if entry is not None and entry.startswith("*."):
        return f'its domain {domain_of(c.lookup)} is covered by the blacklist entry "{entry}"'
    return f'its domain is on the blacklist (entry "{entry}")'


def _internal(c: Classified, _: Mapping[int, str]) -> str:
    if not c.via_team:
        return f"its domain {domain_of(c.lookup)} is a company domain"
    if c.team_member_id is None:
        return "it is the address of a team member or of a mailbox being imported"
    return f"it is an address or alias of team member {c.team_member_id}"


def _person(c: Classified, _: Mapping[int, str]) -> str:
    verb = "has" if len(c.people) == 1 else "have"
    why = f"{_labels(c.people)} {verb} this address and existed at the email's time ({_when(c.t)})"
    if c.later:
        why += f"; {len(c.later)} more created after the email, not linked"
    return why


def _creatable(c: Classified, names: Mapping[int, str]) -> str:
    added = c.owner[1] if c.owner else None
    why = f"{_account(c.account_id, names)} has owned its domain {domain_of(c.lookup)} since {_when(added)}"
    if c.people:
        return f"{why}; linked to {_labels(c.people)}, created after the email ({_when(c.t)})"
    return f"{why}; nobody had this address at {_when(c.t)}, so a person is created for it"


def _unknown(c: Classified, names: Mapping[int, str]) -> str:
    if c.later:
        verb = "was" if len(c.later) == 1 else "were"
        first = f"{_labels(c.later)} {verb} created after the email ({_when(c.t)})"
    else:
        first = "no person has this address"
    domain = domain_of(c.lookup)
    if c.owner is None:
        second = f"no account has the domain {domain}"
    elif c.t is not None and c.owner[1] > c.t:
        account = _account(c.owner[0], names)
        second = f"the domain {domain} was added to {account} at {_when(c.owner[1])}, after the email"
    else:
        second = "it is a role address, which never becomes a person (setting skip_role_addresses)"
    return f"{first}, and {second}"


_SENTENCES = {
    AddressClass.BLACKLISTED: _blacklisted,
    AddressClass.INTERNAL: _internal,
    AddressClass.PERSON: _person,
    AddressClass.CREATABLE: _creatable,
    AddressClass.UNKNOWN: _unknown,
}


def _account(account_id: int | None, names: Mapping[int, str]) -> str:
    if account_id is not None and account_id in names:
        return f'account "{names[account_id]}"'
    return f"account {account_id}"


def _labels(people: Sequence[PersonRef]) -> str:
    shown = ", ".join(f"person {p.label} (created {_when(p.created_at)})" for p in people[:_NAMED])
    return shown if len(people) <= _NAMED else f"{shown} and {len(people) - _NAMED} more"


def _when(moment: datetime | None) -> str:
    return moment.isoformat(timespec="seconds") if moment is not None else "an unknown time"
