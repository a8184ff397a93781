"""All SQL about team members and their aliases, always within one workspace."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from mailtrail.models import TeamAlias, TeamMember


class TeamRepository:
    def __init__(self, session: Session, workspace_id: int) -> None:
        self.session = session
        self.workspace_id = workspace_id

    def members_by_email(self, emails: Iterable[str]) -> dict[str, int]:
        """Member id for each of ``emails`` that is a member's own address."""
        query = select(TeamMember.email, TeamMember.id).where(
            TeamMember.workspace_id == self.workspace_id, TeamMember.email.in_(list(emails))
        )
        return dict(self.session.execute(query).all())

    def alias_owners(self, emails: Iterable[str]) -> dict[str, int]:
        """Member id for each of ``emails`` that is an alias."""
        query = select(TeamAlias.email, TeamAlias.member_id).where(
            TeamAlias.workspace_id == self.workspace_id, TeamAlias.email.in_(list(emails))
        )
        return dict(self.session.execute(query).all())

    def member_emails(self, member_ids: Iterable[int]) -> dict[int, str]:
        """The own address of each of ``member_ids``."""
        query = select(TeamMember.id, TeamMember.email).where(
            TeamMember.workspace_id == self.workspace_id, TeamMember.id.in_(list(member_ids))
        )
        return dict(self.session.execute(query).all())

    def add_member(self, email: str, name: str | None) -> int:
        """Insert a member; returns its id."""
        member = TeamMember(workspace_id=self.workspace_id, email=email, name=name)
        self.session.add(member)
        self.session.flush()
        return member.id

    def set_name(self, member_id: int, name: str) -> None:
        """Change a member's name."""
        member = self.session.get(TeamMember, member_id)
        if member is not None and member.workspace_id == self.workspace_id:
            member.name = name

    def add_aliases(self, member_id: int, emails: Iterable[str]) -> None:
        """Insert aliases of one member."""
        rows = [{"workspace_id": self.workspace_id, "member_id": member_id, "email": e} for e in emails]
        if rows:
            self.session.execute(insert(TeamAlias), rows)

    def members(self) -> list[tuple[int, str, str | None, list[str]]]:
        """Every member as (id, email, name, aliases), by email."""
        aliases: dict[int, list[str]] = {}
        alias_query = (
            select(TeamAlias.member_id, TeamAlias.email)
            .where(TeamAlias.workspace_id == self.workspace_id)
            .order_by(TeamAlias.email)
        )
        for member_id, email in self.session.execute(alias_query):
            aliases.setdefault(member_id, []).append(email)
        query = (
            select(TeamMember.id, TeamMember.email, TeamMember.name)
            .where(TeamMember.workspace_id == self.workspace_id)
            .order_by(TeamMember.email)
        )
        return [(mid, email, name, aliases.get(mid, [])) for mid, email, name in self.session.execute(query)]
