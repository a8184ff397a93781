"""Accounts: the CSV load (``name,domains,created_at``), validated as a whole before anything changes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session

from mailtrail.addresses import clean_domain
from mailtrail.crm.accounts.repository import AccountRepository, StoredDomain
from mailtrail.crm.csvfile import CsvProblems, CsvRow, LoadCounts, read_csv
from mailtrail.crm.fields import split_list
from mailtrail.crm.workspaces.repository import WorkspaceRepository
from mailtrail.models import utcnow

REQUIRED = ("name", "domains")
OPTIONAL = ("created_at",)
MAX_NAME = 300


@dataclass(frozen=True, slots=True)
class _AccountRow:
    line: int
    name: str
    domains: tuple[str, ...]
    created_at: datetime | None


def load_accounts(session: Session, workspace_id: int, path: Path | str) -> LoadCounts:
    """Create or update the accounts of a CSV file, matched by name; its domains become the account's.

    Raises ``CsvLoadError`` listing every problem (and changes nothing) when any row is wrong.
    """
    problems = CsvProblems(str(path))
    rows = _validate(read_csv(path, required=REQUIRED, optional=OPTIONAL), problems)
    repository = AccountRepository(session, workspace_id)
    ids = repository.ids_by_name()
    stored = repository.domains()
    _check_ownership(rows, ids, stored, problems)
    problems.raise_if_any()
    return _apply(repository, rows, ids, stored)


def account_names(session: Session, workspace_id: int) -> dict[int, str]:
    """Every account's name by id (for reports)."""
    return AccountRepository(session, workspace_id).names_by_id()


def _validate(records: list[CsvRow], problems: CsvProblems) -> list[_AccountRow]:
    rows: list[_AccountRow] = []
    first_line: dict[str, int] = {}
    for record in records:
        line, values = record.line, record.values
        name = values["name"]
        # A row with other problems still takes part in the domain checks, so that one error lists them all.
        usable = True
        if not name:
            problems.add(line, "name", "empty (every account needs a name)")
            usable = False
        elif len(name) > MAX_NAME:
            problems.add(line, "name", f"longer than {MAX_NAME} characters")
        elif name in first_line:
            problems.add(line, "name", f"account '{name}' is already on line {first_line[name]}")
            usable = False
        else:
            first_line[name] = line
        domains: list[str] = []
        for item in split_list(values["domains"], spaces=True):
            try:
                domain = clean_domain(item)
            except ValueError as exc:
                problems.add(line, "domains", str(exc))
                continue
            if domain not in domains:
                domains.append(domain)
        created_at = problems.optional_time(record, "created_at")
        if usable:
            rows.append(_AccountRow(line, name, tuple(domains), created_at))
    return rows


def _check_ownership(
    rows: list[_AccountRow], ids: dict[str, int], stored: list[StoredDomain], problems: CsvProblems
) -> None:
    """A domain belongs to at most one account, after the load: in the file and among other accounts."""
    in_file = {row.name for row in rows}
    names = {account_id: name for name, account_id in ids.items()}
    # Accounts not in the file keep their domains; those in the file get the file's.
    owners = {d.domain: names[d.account_id] for d in stored if names[d.account_id] not in in_file}
    claimed: dict[str, _AccountRow] = {}
    for row in rows:
        for domain in row.domains:
            if domain in claimed:
                other = claimed[domain]
                problems.add(
                    row.line,
                    "domains",
                    f"domain '{domain}' is also given to account '{other.name}' on line {other.line}",
                )
            elif domain in owners:
                problems.add(
                    row.line, "domains", f"domain '{domain}' already belongs to account '{owners[domain]}'"
                )
            else:
                claimed[domain] = row


def _apply(
    repository: AccountRepository, rows: list[_AccountRow], ids: dict[str, int], stored: list[StoredDomain]
) -> LoadCounts:
    now = utcnow()
    created_at_by_id = repository.created_at_by_id()
    new_ids = repository.add_accounts([(r.name, r.created_at or now) for r in rows if r.name not in ids])
    by_account: dict[int, dict[str, StoredDomain]] = {}
    for stored_domain in stored:
        by_account.setdefault(stored_domain.account_id, {})[stored_domain.domain] = stored_domain

    removed: list[int] = []
    added: list[tuple[int, str, datetime]] = []
    redated: list[tuple[int, datetime]] = []
    recreated: list[tuple[int, datetime]] = []
    created = updated = unchanged = 0
    for row in rows:
        if row.name in new_ids:
            created += 1
            added.extend((new_ids[row.name], domain, row.created_at or now) for domain in row.domains)
            continue
        account_id = ids[row.name]
        current = by_account.get(account_id, {})
        changed = False
        if row.created_at is not None and created_at_by_id[account_id] != row.created_at:
            recreated.append((account_id, row.created_at))
            changed = True
        for name, stored_domain in current.items():
            if name not in row.domains:
                removed.append(stored_domain.id)
                changed = True
            elif row.created_at is not None and stored_domain.added_at != row.created_at:
                redated.append((stored_domain.id, row.created_at))
                changed = True
        for domain in row.domains:
            if domain not in current:
                added.append((account_id, domain, row.created_at or now))
                changed = True
        updated += changed
        unchanged += not changed
    # Removals first: a domain may move from one account of the file to another.
    repository.remove_domains(removed)
    repository.add_domains(added)
    repository.set_domain_added_at(redated)
    repository.set_created_at(recreated)
    WorkspaceRepository(repository.session).bump_rules_version(repository.workspace_id)
    repository.session.flush()
    return LoadCounts(created=created, updated=updated, unchanged=unchanged)
