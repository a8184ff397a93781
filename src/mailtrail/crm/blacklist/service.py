"""The blacklist: entries `user@domain`, `domain` or `*.domain`, stored normalised, with who and when."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from mailtrail.addresses import clean_address, clean_blacklist_entry
from mailtrail.crm.blacklist.repository import BlacklistRepository
from mailtrail.crm.errors import CrmError
from mailtrail.crm.workspaces.repository import WorkspaceRepository
from mailtrail.models import utcnow


@dataclass(frozen=True, slots=True)
class BlacklistChange:
    """Entries (normalised) that changed, and those that already were as asked."""

    changed: list[str]
    already: list[str]


@dataclass(frozen=True, slots=True)
class BlacklistListing:
    entry: str
    added_by: str | None
    added_at: datetime


def add_entries(
    session: Session, workspace_id: int, entries: Iterable[str], added_by: str | None = None
) -> BlacklistChange:
    """Add entries; one already on the list is reported in ``already``, not an error."""
    wanted = _normalise_all(entries)
    by = None
    if added_by is not None:
        try:
            by = clean_address(added_by)
        except ValueError as exc:
            raise CrmError(f"--by: {exc}") from None
    repository = BlacklistRepository(session, workspace_id)
    present = repository.present(wanted)
    new = [entry for entry in wanted if entry not in present]
    repository.add(new, by, utcnow())
    WorkspaceRepository(session).bump_rules_version(workspace_id)
    session.flush()
    return BlacklistChange(changed=new, already=[entry for entry in wanted if entry in present])


def remove_entries(session: Session, workspace_id: int, entries: Iterable[str]) -> BlacklistChange:
    """Remove entries; if any is not on the list, raise ``CrmError`` and remove none."""
    wanted = _normalise_all(entries)
    repository = BlacklistRepository(session, workspace_id)
    present = repository.present(wanted)
    missing = [entry for entry in wanted if entry not in present]
    if missing:
        raise CrmError(f"not on the blacklist: {', '.join(missing)} (nothing was removed)")
    repository.remove(wanted)
    WorkspaceRepository(session).bump_rules_version(workspace_id)
    session.flush()
    return BlacklistChange(changed=wanted, already=[])


def list_entries(session: Session, workspace_id: int) -> list[BlacklistListing]:
    """Every entry, sorted."""
    return [BlacklistListing(*row) for row in BlacklistRepository(session, workspace_id).all()]


def _normalise_all(entries: Iterable[str]) -> list[str]:
    normalised: list[str] = []
    problems: list[str] = []
    for entry in entries:
        try:
            value = clean_blacklist_entry(entry)
        except ValueError as exc:
            problems.append(str(exc))
            continue
        if value not in normalised:
            normalised.append(value)
    if problems:
        raise CrmError("bad blacklist entr" + ("ies: " if len(problems) > 1 else "y: ") + "; ".join(problems))
    if not normalised:
        raise CrmError("no blacklist entry given")
    return normalised
