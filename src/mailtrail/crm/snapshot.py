"""What the rules need to know about one workspace, read in a few plain-column queries (no ORM objects)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, String, select, type_coerce
from sqlalchemy.orm import Session

from mailtrail.addresses import clean_address
from mailtrail.crm.errors import CrmError
from mailtrail.models import (
    AccountDomain,
    BlacklistEntry,
    CompanyDomain,
    Mailbox,
    Person,
    PersonEmail,
    TeamAlias,
    TeamMember,
    Tombstone,
    Workspace,
)
from mailtrail.rules.types import PersonRef, Settings, WorkspaceSnapshot


def load_snapshot(
    session: Session, workspace_id: int, *, extra_internal: Iterable[str] = ()
) -> WorkspaceSnapshot:
    """The workspace as lookups for the rules.

    ``extra_internal`` are more internal addresses (the mailbox being imported); each maps to no team member
    unless it is one. Raises ``CrmError`` when the workspace does not exist.
    """
    ws = workspace_id
    settings_row = session.execute(
        select(
            Workspace.backfill_days,
            Workspace.ignore_subaddress,
            Workspace.skip_role_addresses,
            Workspace.visibility,
        ).where(Workspace.id == ws)
    ).one_or_none()
    if settings_row is None:
        raise CrmError(f"no workspace with id {ws}")
    settings = Settings(
        backfill_days=settings_row.backfill_days,
        ignore_subaddress=settings_row.ignore_subaddress,
        skip_role_addresses=settings_row.skip_role_addresses,
        visibility=settings_row.visibility,
    )
    company_domains = frozenset(
        session.scalars(select(CompanyDomain.domain).where(CompanyDomain.workspace_id == ws))
    )
    return WorkspaceSnapshot(
        company_domains=company_domains,
        team_addresses=_team_addresses(session, ws, extra_internal),
        people_by_address=_people_by_address(session, ws),
        account_domains={
            domain: (account_id, added_at)
            for domain, account_id, added_at in session.execute(
                select(AccountDomain.domain, AccountDomain.account_id, AccountDomain.added_at).where(
                    AccountDomain.workspace_id == ws
                )
            )
        },
        blacklist=frozenset(
            session.scalars(select(BlacklistEntry.entry).where(BlacklistEntry.workspace_id == ws))
        ),
        tombstones=set(session.scalars(select(Tombstone.message_key).where(Tombstone.workspace_id == ws))),
        settings=settings,
    )


def _team_addresses(session: Session, ws: int, extra_internal: Iterable[str]) -> dict[str, int | None]:
    """Members' addresses and aliases, then mailboxes and ``extra_internal`` (a member's id wins)."""
    addresses: dict[str, int | None] = dict(
        session.execute(select(TeamMember.email, TeamMember.id).where(TeamMember.workspace_id == ws)).all()
    )
    aliases = select(TeamAlias.email, TeamAlias.member_id).where(TeamAlias.workspace_id == ws)
    for email, member_id in session.execute(aliases):
        addresses.setdefault(email, member_id)
    mailboxes = select(Mailbox.address, Mailbox.owner_id).where(Mailbox.workspace_id == ws)
    for address, owner_id in session.execute(mailboxes.order_by(Mailbox.id)):
        if addresses.get(address) is None:
            addresses[address] = owner_id
    for text in extra_internal:
        try:
            address = clean_address(text)
        except ValueError:
            # The importer checks the mailbox address itself; keep what it gave in the compared form.
            address = text.strip().lower()
        addresses.setdefault(address, None)
    return addresses


def _people_by_address(session: Session, ws: int) -> dict[str, list[PersonRef]]:
    refs: dict[int, PersonRef] = {}
    people = select(Person.id, Person.external_id, _created_at_column(session), Person.default_account_id)
    times: dict[object, datetime] = {}
    for pid, external_id, raw_time, default_account_id in session.execute(
        people.where(Person.workspace_id == ws)
    ):
        # People loaded or created together share a time: convert each distinct value once.
        created_at = times.get(raw_time)
        if created_at is None:
            created_at = times[raw_time] = _as_utc(raw_time)
        refs[pid] = PersonRef(pid, created_at, external_id or f"id:{pid}", default_account_id)
    by_address: dict[str, list[PersonRef]] = {}
    emails = select(PersonEmail.email, PersonEmail.person_id).where(PersonEmail.workspace_id == ws)
    shared: list[list[PersonRef]] = []
    for email, pid in session.execute(emails):
        found = by_address.get(email)
        if found is None:
            by_address[email] = [refs[pid]]
        else:
            found.append(refs[pid])
            if len(found) == 2:
                shared.append(found)
    # Lists in id order whatever order the rows come in; only addresses of several people need sorting.
    for found in shared:
        found.sort(key=_person_id)
    return by_address


def _created_at_column(session: Session) -> ColumnElement[Any]:
    """``people.created_at`` as stored: SQLite keeps text, which is cheaper to convert once per value."""
    if session.get_bind().dialect.name == "sqlite":
        return type_coerce(Person.created_at, String)
    return Person.created_at.expression


def _as_utc(value: object) -> datetime:
    if isinstance(value, str):
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    assert isinstance(value, datetime)
    return value.astimezone(UTC)


def _person_id(ref: PersonRef) -> int:
    return ref.id or 0
