"""People: the CSV load (``external_id,name,emails,accounts,default_account,created_at``) and the people
an import creates from emails."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session

from mailtrail.addresses import clean_address
from mailtrail.crm.accounts.repository import AccountRepository
from mailtrail.crm.csvfile import CsvProblems, CsvRow, LoadCounts, read_csv
from mailtrail.crm.fields import split_list
from mailtrail.crm.people.repository import PeopleRepository, PersonValues, StoredPerson
from mailtrail.crm.workspaces.repository import WorkspaceRepository
from mailtrail.models import utcnow
from mailtrail.rules.types import PersonRef

REQUIRED = ("external_id", "emails")
OPTIONAL = ("name", "accounts", "default_account", "created_at")
MAX_EXTERNAL_ID = 200
MAX_NAME = 300


@dataclass(frozen=True, slots=True)
class _PersonRow:
    line: int
    external_id: str | None
    name: str | None
    emails: tuple[str, ...]
    accounts: tuple[int, ...]
    default_account_id: int | None
    created_at: datetime | None


@dataclass(frozen=True, slots=True)
class NewEmailPerson:
    """A person an import creates for a creatable address (contract: source ``email``)."""

    address: str
    name: str | None
    account_id: int | None
    created_at: datetime


def load_people(session: Session, workspace_id: int, path: Path | str) -> LoadCounts:
    """Create or update the people of a CSV file, matched by ``external_id``.

    An existing person gets the file's name, addresses, accounts and default account; its ``created_at``
    changes only when the file gives one. A row without ``external_id`` matches a CSV person without one
    that has the same name and addresses, so re-loading such a file creates nobody twice.
    Raises ``CsvLoadError`` listing every problem (and changes nothing) when any row is wrong.
    """
    problems = CsvProblems(str(path))
    records = read_csv(path, required=REQUIRED, optional=OPTIONAL)
    accounts = AccountRepository(session, workspace_id).ids_by_name()
    rows = _validate(records, accounts, problems)
    problems.raise_if_any()
    repository = PeopleRepository(session, workspace_id)
    return _apply(repository, rows, repository.everyone())


def create_people_from_email(
    session: Session, workspace_id: int, people: Sequence[NewEmailPerson]
) -> dict[str, tuple[list[PersonRef], bool]]:
    """Store the people an import creates, each with its address and account (also its default).

    Another import may have created someone with the same address since this one read the workspace: then
    nobody is created and the people who have the address are returned instead (under a lock, so two
    imports at the same moment create one person). Returns, per address, the people to link and whether
    this call created them.
    """
    repository = PeopleRepository(session, workspace_id)
    repository.lock_addresses([p.address for p in people])
    found = repository.with_addresses([p.address for p in people])
    new = [p for p in people if p.address not in found]
    values = [
        PersonValues(
            external_id=None,
            name=p.name[:MAX_NAME] if p.name else None,
            created_at=p.created_at,
            source="email",
            default_account_id=p.account_id,
            emails=(p.address,),
            accounts=(p.account_id,) if p.account_id is not None else (),
        )
        for p in new
    ]
    ids = repository.add(values)
    session.flush()
    linked: dict[str, tuple[list[PersonRef], bool]] = {
        address: (
            [
                PersonRef(pid, at, external_id or f"id:{pid}", default)
                for pid, external_id, at, default in rows
            ],
            False,
        )
        for address, rows in found.items()
    }
    for person, pid in zip(new, ids, strict=True):
        ref = PersonRef(pid, person.created_at, f"new:{person.address}", person.account_id)
        linked[person.address] = ([ref], True)
    return linked


def _validate(records: list[CsvRow], accounts: dict[str, int], problems: CsvProblems) -> list[_PersonRow]:
    rows: list[_PersonRow] = []
    first_line: dict[str, int] = {}
    for record in records:
        line, values = record.line, record.values
        before = problems.count
        external_id = values["external_id"] or None
        if external_id is not None:
            if len(external_id) > MAX_EXTERNAL_ID:
                problems.add(line, "external_id", f"longer than {MAX_EXTERNAL_ID} characters")
            elif external_id in first_line:
                problems.add(
                    line, "external_id", f"'{external_id}' is already on line {first_line[external_id]}"
                )
            else:
                first_line[external_id] = line
        name = values.get("name") or None
        if name is not None and len(name) > MAX_NAME:
            problems.add(line, "name", f"longer than {MAX_NAME} characters")
        emails: list[str] = []
        for item in split_list(values["emails"], spaces=True):
            try:
                email = clean_address(item)
            except ValueError as exc:
                problems.add(line, "emails", f"malformed email address: {exc}")
                continue
            if email not in emails:
                emails.append(email)
        names: list[str] = []
        for item in split_list(values.get("accounts", "")):
            if item not in accounts:
                problems.add(line, "accounts", _unknown_account(item, accounts))
            elif item not in names:
                names.append(item)
        default_account_id = _default_account(
            line, values.get("default_account", ""), names, accounts, problems
        )
        created_at = problems.optional_time(record, "created_at")
        if problems.count == before:
            ids = tuple(accounts[n] for n in names)
            rows.append(
                _PersonRow(line, external_id, name, tuple(emails), ids, default_account_id, created_at)
            )
    return rows


def _default_account(
    line: int, given: str, names: list[str], accounts: dict[str, int], problems: CsvProblems
) -> int | None:
    if not given:
        # Contract: one of the person's accounts is the default; the first listed when none is named.
        return accounts[names[0]] if names else None
    if given not in accounts:
        problems.add(line, "default_account", _unknown_account(given, accounts))
        return None
    if given not in names:
        listed = ", ".join(f"'{n}'" for n in names) or "none"
        problems.add(line, "default_account", f"'{given}' is not among the person's accounts ({listed})")
        return None
    return accounts[given]


def _unknown_account(name: str, accounts: dict[str, int]) -> str:
    similar = [known for known in accounts if known.casefold() == name.casefold()]
    hint = (
        f" (did you mean '{similar[0]}'?)" if similar else " (load it with `mailtrail accounts load` first)"
    )
    return f"unknown account '{name}'{hint}"


def _apply(repository: PeopleRepository, rows: list[_PersonRow], existing: list[StoredPerson]) -> LoadCounts:
    now = utcnow()
    by_external = {p.external_id: p for p in existing if p.external_id is not None}
    by_signature: dict[tuple[str | None, tuple[str, ...]], StoredPerson] = {}
    for person in existing:
        if person.external_id is None and person.source == "csv":
            by_signature.setdefault((person.name, tuple(sorted(person.emails))), person)

    new: list[PersonValues] = []
    changed: list[tuple[int, PersonValues]] = []
    new_emails: list[tuple[int, Sequence[str]]] = []
    new_accounts: list[tuple[int, Sequence[int]]] = []
    unchanged = 0
    for row in rows:
        if row.external_id is not None:
            stored = by_external.get(row.external_id)
        else:
            stored = by_signature.pop((row.name, tuple(sorted(row.emails))), None)
        if stored is None:
            new.append(_values(row, row.created_at or now, "csv"))
            continue
        values = _values(row, row.created_at or stored.created_at, stored.source)
        fields_differ = (
            stored.name != values.name
            or stored.created_at != values.created_at
            or stored.default_account_id != values.default_account_id
        )
        # Order does not matter for addresses and accounts; rows are rewritten only when the sets differ.
        emails_differ = set(stored.emails) != set(values.emails)
        accounts_differ = set(stored.accounts) != set(values.accounts)
        if fields_differ:
            changed.append((stored.id, values))
        if emails_differ:
            new_emails.append((stored.id, values.emails))
        if accounts_differ:
            new_accounts.append((stored.id, values.accounts))
        unchanged += not (fields_differ or emails_differ or accounts_differ)
    repository.add(new)
    repository.update_fields(changed)
    repository.replace_emails(new_emails)
    repository.replace_accounts(new_accounts)
    WorkspaceRepository(repository.session).bump_rules_version(repository.workspace_id)
    repository.session.flush()
    updated = len(rows) - len(new) - unchanged
    return LoadCounts(created=len(new), updated=updated, unchanged=unchanged)


def _values(row: _PersonRow, created_at: datetime, source: str) -> PersonValues:
    return PersonValues(
        external_id=row.external_id,
        name=row.name,
        created_at=created_at,
        source=source,
        default_account_id=row.default_account_id,
        emails=row.emails,
        accounts=row.accounts,
    )
