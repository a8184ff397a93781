"""All SQL about accounts and their domains, always within one workspace."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, delete, select
from sqlalchemy.orm import Session

from mailtrail.crm.bulk import chunked, insert_rows, update_rows
from mailtrail.models import Account, AccountDomain

ACCOUNTS = cast(Table, Account.__table__)
ACCOUNT_DOMAINS = cast(Table, AccountDomain.__table__)


@dataclass(frozen=True, slots=True)
class StoredDomain:
    id: int
    account_id: int
    domain: str
    added_at: datetime


class AccountRepository:
    def __init__(self, session: Session, workspace_id: int) -> None:
        self.session = session
        self.workspace_id = workspace_id

    def ids_by_name(self) -> dict[str, int]:
        """Every account's id by name."""
        query = select(Account.name, Account.id).where(Account.workspace_id == self.workspace_id)
        return dict(self.session.execute(query).all())

    def names_by_id(self) -> dict[int, str]:
        """Every account's name by id."""
        query = select(Account.id, Account.name).where(Account.workspace_id == self.workspace_id)
        return dict(self.session.execute(query).all())

    def created_at_by_id(self) -> dict[int, datetime]:
        """Every account's creation time by id."""
        query = select(Account.id, Account.created_at).where(Account.workspace_id == self.workspace_id)
        return dict(self.session.execute(query).all())

    def domains(self) -> list[StoredDomain]:
        """Every account domain of the workspace."""
        query = select(
            AccountDomain.id, AccountDomain.account_id, AccountDomain.domain, AccountDomain.added_at
        )
        query = query.where(AccountDomain.workspace_id == self.workspace_id)
        return [StoredDomain(*row) for row in self.session.execute(query)]

    def add_accounts(self, rows: Sequence[tuple[str, datetime]]) -> dict[str, int]:
        """Insert accounts (name, created_at); returns the id of each by name."""
        if not rows:
            return {}
        params = [{"workspace_id": self.workspace_id, "name": n, "created_at": c} for n, c in rows]
        insert_rows(self.session, ACCOUNTS, params)
        names = {name for name, _ in rows}
        return {name: i for name, i in self.ids_by_name().items() if name in names}

    def set_created_at(self, changes: Sequence[tuple[int, datetime]]) -> None:
        """Set accounts' creation times (account id, time)."""
        if not changes:
            return
        rows = [{"id": i, "created_at": created_at} for i, created_at in changes]
        update_rows(self.session, ACCOUNTS, self.workspace_id, rows)

    def remove_domains(self, domain_ids: Sequence[int]) -> None:
        """Delete account domains by id."""
        for chunk in chunked(domain_ids):
            self.session.execute(
                delete(AccountDomain).where(
                    AccountDomain.workspace_id == self.workspace_id, AccountDomain.id.in_(chunk)
                )
            )

    def add_domains(self, rows: Sequence[tuple[int, str, datetime]]) -> None:
        """Insert domains (account id, domain, added_at)."""
        params: list[dict[str, Any]] = [
            {"workspace_id": self.workspace_id, "account_id": a, "domain": d, "added_at": t}
            for a, d, t in rows
        ]
        insert_rows(self.session, ACCOUNT_DOMAINS, params)

    def set_domain_added_at(self, changes: Sequence[tuple[int, datetime]]) -> None:
        """Set the time domains were added (domain id, time)."""
        if not changes:
            return
        rows = [{"id": i, "added_at": added_at} for i, added_at in changes]
        update_rows(self.session, ACCOUNT_DOMAINS, self.workspace_id, rows)
