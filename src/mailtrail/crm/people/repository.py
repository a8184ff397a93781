"""All SQL about people, their addresses and their accounts, always within one workspace."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, delete, func, select, text, update
from sqlalchemy.orm import Session

from mailtrail.crm.bulk import chunked, insert_rows, update_rows
from mailtrail.models import Person, PersonAccount, PersonEmail, Workspace

# Core tables for bulk statements: the ORM bulk path costs several times more per row.
PEOPLE = cast(Table, Person.__table__)
PERSON_EMAILS = cast(Table, PersonEmail.__table__)
PERSON_ACCOUNTS = cast(Table, PersonAccount.__table__)
# A person as the import's re-check reads it: id, external_id, created_at, default_account_id.
PersonRow = tuple[int, str | None, datetime, int | None]


@dataclass(slots=True)
class StoredPerson:
    """A person as stored, with its addresses and accounts (both in insertion order)."""

    id: int
    external_id: str | None
    name: str | None
    created_at: datetime
    source: str
    default_account_id: int | None
    emails: list[str]
    accounts: list[int]


@dataclass(frozen=True, slots=True)
class PersonValues:
    """What a person is made of, for inserting or updating."""

    external_id: str | None
    name: str | None
    created_at: datetime
    source: str
    default_account_id: int | None
    emails: tuple[str, ...]
    accounts: tuple[int, ...]


class PeopleRepository:
    def __init__(self, session: Session, workspace_id: int) -> None:
        self.session = session
        self.workspace_id = workspace_id

    def everyone(self) -> list[StoredPerson]:
        """Every person of the workspace with addresses and accounts: three plain-column queries."""
        ws = self.workspace_id
        people: dict[int, StoredPerson] = {}
        query = select(
            Person.id,
            Person.external_id,
            Person.name,
            Person.created_at,
            Person.source,
            Person.default_account_id,
        ).where(Person.workspace_id == ws)
        for pid, external_id, name, created_at, source, default in self.session.execute(query):
            people[pid] = StoredPerson(pid, external_id, name, created_at, source, default, [], [])
        emails = select(PersonEmail.person_id, PersonEmail.email).where(PersonEmail.workspace_id == ws)
        for pid, email in self.session.execute(emails.order_by(PersonEmail.id)):
            people[pid].emails.append(email)
        links = select(PersonAccount.person_id, PersonAccount.account_id).where(
            PersonAccount.workspace_id == ws
        )
        for pid, account_id in self.session.execute(links):
            people[pid].accounts.append(account_id)
        return list(people.values())

    def add(self, people: Sequence[PersonValues]) -> list[int]:
        """Insert people with their addresses and accounts; returns their ids in the same order."""
        if not people:
            return []
        ids = self._allocate_ids(len(people))
        rows = [
            {
                "id": pid,
                "workspace_id": self.workspace_id,
                "external_id": p.external_id,
                "name": p.name,
                "created_at": p.created_at,
                "source": p.source,
                "default_account_id": p.default_account_id,
            }
            for pid, p in zip(ids, people, strict=True)
        ]
        # Ids allocated first: RETURNING with executemany goes row by row on SQLite.
        insert_rows(self.session, PEOPLE, rows)
        self._add_details(list(zip(ids, people, strict=True)))
        return ids

    def _allocate_ids(self, count: int) -> list[int]:
        """Ids for ``count`` new people, known before inserting so that addresses and accounts can follow."""
        if self.session.get_bind().dialect.name == "postgresql":
            query = text("SELECT nextval(pg_get_serial_sequence('people', 'id')) FROM generate_series(1, :n)")
            return list(self.session.scalars(query, {"n": count}))
        # SQLite: take the write lock first (a no-op update), so no other writer can use these ids before
        # we insert them; the lock is held until this transaction ends.
        self.session.execute(
            update(Workspace).where(Workspace.id == self.workspace_id).values(name=Workspace.name)
        )
        start = (self.session.scalar(select(func.max(Person.id))) or 0) + 1
        return list(range(start, start + count))

    def update_fields(self, people: Sequence[tuple[int, PersonValues]]) -> None:
        """Overwrite these people's name, created_at and default account."""
        rows = [
            {"id": i, "name": p.name, "created_at": p.created_at, "default_account_id": p.default_account_id}
            for i, p in people
        ]
        update_rows(self.session, PEOPLE, self.workspace_id, rows)

    def replace_emails(self, people: Sequence[tuple[int, Sequence[str]]]) -> None:
        """These people's addresses become the given ones."""
        for chunk in chunked([i for i, _ in people]):
            self.session.execute(
                delete(PersonEmail).where(
                    PersonEmail.workspace_id == self.workspace_id, PersonEmail.person_id.in_(chunk)
                )
            )
        ws = self.workspace_id
        rows = [{"workspace_id": ws, "person_id": i, "email": e} for i, emails in people for e in emails]
        insert_rows(self.session, PERSON_EMAILS, rows)

    def replace_accounts(self, people: Sequence[tuple[int, Sequence[int]]]) -> None:
        """These people's accounts become the given ones."""
        for chunk in chunked([i for i, _ in people]):
            self.session.execute(
                delete(PersonAccount).where(
                    PersonAccount.workspace_id == self.workspace_id, PersonAccount.person_id.in_(chunk)
                )
            )
        ws = self.workspace_id
        rows = [
            {"workspace_id": ws, "person_id": i, "account_id": a} for i, accounts in people for a in accounts
        ]
        insert_rows(self.session, PERSON_ACCOUNTS, rows)

    def lock_addresses(self, addresses: Sequence[str]) -> None:
        """Hold, until the transaction ends, the right to create people with these addresses.

        Two imports that find the same new address at the same moment would otherwise both create a person:
        on PostgreSQL each address has a transaction-scoped advisory lock (taken in sorted order, so two
        imports never wait on each other in a circle); SQLite has one writer at a time, so its write lock
        (a no-op update) is enough.
        """
        if self.session.get_bind().dialect.name != "postgresql":
            self.session.execute(
                update(Workspace).where(Workspace.id == self.workspace_id).values(name=Workspace.name)
            )
            return
        lock = text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))")
        for address in sorted(set(addresses)):
            self.session.execute(lock, {"key": f"person:{self.workspace_id}:{address}"})

    def with_addresses(self, addresses: Sequence[str]) -> dict[str, list[PersonRow]]:
        """``(id, external_id, created_at, default_account_id)`` of the people who have each address."""
        found: dict[str, list[PersonRow]] = {}
        columns = (Person.id, Person.external_id, Person.created_at, Person.default_account_id)
        for chunk in chunked(sorted(set(addresses))):
            query = (
                select(PersonEmail.email, *columns)
                .join(Person, Person.id == PersonEmail.person_id)
                .where(PersonEmail.workspace_id == self.workspace_id, PersonEmail.email.in_(chunk))
                .order_by(Person.id)
            )
            for email, pid, external_id, created_at, default in self.session.execute(query):
                found.setdefault(email, []).append((pid, external_id, created_at, default))
        return found

    def _add_details(self, people: Sequence[tuple[int, PersonValues]]) -> None:
        ws = self.workspace_id
        emails: list[dict[str, Any]] = [
            {"workspace_id": ws, "person_id": i, "email": e} for i, p in people for e in p.emails
        ]
        links: list[dict[str, Any]] = [
            {"workspace_id": ws, "person_id": i, "account_id": a} for i, p in people for a in p.accounts
        ]
        insert_rows(self.session, PERSON_EMAILS, emails)
        insert_rows(self.session, PERSON_ACCOUNTS, links)
