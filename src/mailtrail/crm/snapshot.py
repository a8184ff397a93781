"""What the rules need to know about one workspace, read in a few plain-column queries (no ORM objects)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailtrail.crm.errors import CrmError
from mailtrail.crm.fields import clean_address
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
    people = select(Person.id, Person.external_id, Person.created_at, Person.default_account_id)
    for pid, external_id, created_at, default_account_id in session.execute(
        people.where(Person.workspace_id == ws)
    ):
        refs[pid] = PersonRef(pid, created_at, external_id or f"id:{pid}", default_account_id)
    by_address: dict[str, list[PersonRef]] = {}
    emails = select(PersonEmail.email, PersonEmail.person_id).where(PersonEmail.workspace_id == ws)
    # Ordered by person so that every list is in id order, whatever order the rows were written in.
    for email, pid in session.execute(emails.order_by(PersonEmail.person_id)):
        by_address.setdefault(email, []).append(refs[pid])
    return by_address
