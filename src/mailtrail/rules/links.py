"""What an imported email links to: which people (existing or to create), which accounts, which direction."""

from __future__ import annotations

from mailtrail.rules.types import (
    AddressClass,
    Decision,
    Direction,
    LinkPlan,
    PersonRef,
    PersonToCreate,
    WorkspaceSnapshot,
)

_PERSON = AddressClass.PERSON
_CREATABLE = AddressClass.CREATABLE
_INTERNAL = AddressClass.INTERNAL


def plan_links(decision: Decision, snapshot: WorkspaceSnapshot) -> LinkPlan:
    """The people, people to create and accounts of an imported email (an empty plan for a skipped one).

    Person participants link the people the decision found. For creatable ones, people are read from
    ``snapshot`` now, so a person that an earlier email of the same import created (recorded with
    ``add_person``) is linked rather than created twice.
    """
    participants = decision.participants
    sender = decision.sender
    direction: Direction = "outbound" if sender is not None and sender.cls is _INTERNAL else "inbound"
    if not decision.imported:
        return LinkPlan(direction)
    if snapshot.settings.ignore_subaddress:
        people_by_address = snapshot.lookups().people
    else:
        people_by_address = snapshot.people_by_address
    # Lists, not dicts: an email links a handful of people, and hashing a PersonRef costs more than a scan.
    linked: list[tuple[PersonRef, str]] = []
    seen: list[PersonRef] = []
    create: dict[str, PersonToCreate] = {}
    for c in participants:
        cls = c.cls
        if cls is _PERSON:
            # The people who existed at the email's time, as the decision found them.
            for ref in c.people:
                if ref not in seen:
                    seen.append(ref)
                    linked.append((ref, c.lookup))
        elif cls is _CREATABLE:
            lookup = c.lookup
            # Everyone with the address now: all created after t, perhaps by an earlier email of this import.
            refs = people_by_address.get(lookup)
            if refs:
                for ref in refs:
                    if ref not in seen:
                        seen.append(ref)
                        linked.append((ref, lookup))
            elif c.account_id is not None:
                planned = create.get(lookup)
                # The first display name met wins; a later participant can still supply a missing one.
                if planned is None or (planned.name is None and c.address.name):
                    create[lookup] = PersonToCreate(lookup, c.address.name or None, c.account_id)
    accounts: list[int] = []
    for ref in seen:
        account_id = ref.default_account_id
        if account_id is not None and account_id not in accounts:
            accounts.append(account_id)
    for new in create.values():
        if new.account_id not in accounts:
            accounts.append(new.account_id)
    return LinkPlan(direction, tuple(linked), tuple(create.values()), tuple(accounts))
