"""All SQL about workspaces and their company domains."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from mailtrail.models import CompanyDomain, Workspace


class WorkspaceRepository:
    """Workspaces are the one table without ``workspace_id``: each query filters by the workspace's own id."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def by_name(self, name: str) -> Workspace | None:
        """The workspace called ``name``, if any."""
        return self.session.scalars(select(Workspace).where(Workspace.name == name)).one_or_none()

    def by_id(self, workspace_id: int) -> Workspace | None:
        """The workspace with this id, if any."""
        return self.session.get(Workspace, workspace_id)

    def all(self) -> list[Workspace]:
        """Every workspace, by name."""
        return list(self.session.scalars(select(Workspace).order_by(Workspace.name)))

    def add(self, name: str) -> Workspace:
        """Insert a workspace (settings at their defaults)."""
        workspace = Workspace(name=name)
        self.session.add(workspace)
        self.session.flush()
        return workspace

    def company_domains(self, workspace_id: int) -> list[str]:
        """The workspace's company domains, sorted."""
        query = (
            select(CompanyDomain.domain)
            .where(CompanyDomain.workspace_id == workspace_id)
            .order_by(CompanyDomain.domain)
        )
        return list(self.session.scalars(query))

    def replace_company_domains(self, workspace_id: int, domains: Iterable[str]) -> None:
        """The workspace's company domains become ``domains``."""
        self.session.execute(delete(CompanyDomain).where(CompanyDomain.workspace_id == workspace_id))
        rows = [{"workspace_id": workspace_id, "domain": domain} for domain in domains]
        if rows:
            self.session.execute(insert(CompanyDomain), rows)
        self.session.flush()

    def rules_version(self, workspace_id: int) -> int | None:
        """The workspace's rules version (None when it does not exist): it grows with every rules change."""
        return self.session.scalar(select(Workspace.rules_version).where(Workspace.id == workspace_id))

    def bump_rules_version(self, workspace_id: int) -> None:
        """Something the import rules read changed: running syncs reload the rules for their next batch."""
        self.session.execute(
            update(Workspace)
            .where(Workspace.id == workspace_id)
            .values(rules_version=Workspace.rules_version + 1)
        )
