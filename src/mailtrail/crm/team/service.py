"""Team members and their aliases: every one of these addresses is internal whatever its domain."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from mailtrail.addresses import clean_address
from mailtrail.crm.errors import CrmError
from mailtrail.crm.team.repository import TeamRepository
from mailtrail.crm.workspaces.repository import WorkspaceRepository


@dataclass(slots=True)
class TeamAddition:
    """What ``add_member`` did: whether the member is new, which aliases were added or already there."""

    member_id: int
    email: str
    created: bool
    added_aliases: list[str] = field(default_factory=list)
    existing_aliases: list[str] = field(default_factory=list)


def add_member(
    session: Session, workspace_id: int, email: str, aliases: Iterable[str] = (), name: str | None = None
) -> TeamAddition:
    """Add a team member, or new aliases to an existing one; an address of another member is an error."""
    address = _clean(email, "team member address")
    wanted: list[str] = []
    for alias in aliases:
        cleaned = _clean(alias, "alias")
        if cleaned != address and cleaned not in wanted:
            wanted.append(cleaned)

    repository = TeamRepository(session, workspace_id)
    owners = repository.alias_owners([address, *wanted])
    members = repository.members_by_email([address, *wanted])
    member_id = members.get(address)
    if address in owners and owners[address] != member_id:
        other = repository.member_emails([owners[address]])[owners[address]]
        raise CrmError(f"{address} is already an alias of team member {other}")

    problems: list[str] = []
    for alias in wanted:
        if alias in members:
            problems.append(f"alias {alias} is already the address of another team member")
        elif alias in owners and owners[alias] != member_id:
            other = repository.member_emails([owners[alias]])[owners[alias]]
            problems.append(f"alias {alias} is already an alias of team member {other}")
    if problems:
        raise CrmError("; ".join(problems))

    created = member_id is None
    if member_id is None:
        member_id = repository.add_member(address, name.strip() if name and name.strip() else None)
    elif name and name.strip():
        repository.set_name(member_id, name.strip())
    new = [alias for alias in wanted if alias not in owners]
    repository.add_aliases(member_id, new)
    WorkspaceRepository(session).bump_rules_version(workspace_id)
    session.flush()
    existing = [alias for alias in wanted if alias in owners]
    return TeamAddition(member_id, address, created, new, existing)


def list_members(session: Session, workspace_id: int) -> list[tuple[int, str, str | None, list[str]]]:
    """Every member as (id, email, name, aliases), by email."""
    return TeamRepository(session, workspace_id).members()


def _clean(text: str, what: str) -> str:
    try:
        return clean_address(text)
    except ValueError as exc:
        raise CrmError(f"{what}: {exc}") from None
