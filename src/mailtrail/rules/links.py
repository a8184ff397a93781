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


def plan_links(decision: Decision, snapshot: WorkspaceSnapshot) -> LinkPlan:
    """The people, people to create and accounts of an imported email (an empty plan for a skipped one).

    People are read from ``snapshot`` now, not from the decision, so a person that an earlier email of the
    same import created (recorded with ``add_person``) is linked rather than created twice.
    """
    sender = decision.sender
    direction: Direction = (
        "outbound" if sender is not None and sender.cls is AddressClass.INTERNAL else "inbound"
    )
    if not decision.imported:
        return LinkPlan(direction)
    t = decision.time
    people_by_address = (
        snapshot.lookups().people if snapshot.settings.ignore_subaddress else snapshot.people_by_address
    )
    linked: dict[PersonRef, str] = {}
    create: dict[str, PersonToCreate] = {}
    for c in decision.participants:
        if c.cls is AddressClass.PERSON:
            for ref in people_by_address.get(c.lookup, ()):
                if ref.created_at <= t:
                    linked.setdefault(ref, c.lookup)
        elif c.cls is AddressClass.CREATABLE:
            existing = people_by_address.get(c.lookup)
            if existing:
                for ref in existing:
                    linked.setdefault(ref, c.lookup)
            elif c.account_id is not None:
                planned = create.get(c.lookup)
                # The first display name met wins; a later participant can still supply a missing one.
                if planned is None or (planned.name is None and c.address.name):
                    create[c.lookup] = PersonToCreate(c.lookup, c.address.name or None, c.account_id)
    accounts = {ref.default_account_id: None for ref in linked if ref.default_account_id is not None}
    accounts.update({new.account_id: None for new in create.values()})
    return LinkPlan(direction, tuple(linked.items()), tuple(create.values()), tuple(accounts))
