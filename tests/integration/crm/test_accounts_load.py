"""Accounts CSV load: validation of every row before any change, domain ownership, idempotent re-loads."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailtrail.crm.accounts.service import load_accounts
from mailtrail.crm.errors import CrmError, CsvLoadError
from mailtrail.crm.workspaces.service import create_workspace
from mailtrail.models import Account, AccountDomain, Workspace

from .conftest import WriteCsv


def domains_by_account(session: Session, workspace_id: int) -> dict[str, dict[str, datetime]]:
    query = (
        select(Account.name, AccountDomain.domain, AccountDomain.added_at)
        .join(AccountDomain, AccountDomain.account_id == Account.id, isouter=True)
        .where(Account.workspace_id == workspace_id)
    )
    out: dict[str, dict[str, datetime]] = {}
    for name, domain, added_at in session.execute(query):
        out.setdefault(name, {})
        if domain is not None:
            out[name][domain] = added_at
    return out


def count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_load_creates_accounts_with_normalised_domains_and_times(
    session: Session, workspace: Workspace, write_csv: WriteCsv
) -> None:
    path = write_csv(
        "accounts.csv",
        """name,domains,created_at
        Acme,ACME.com; acme.io.,2020-01-01
        Bücher,xn--bcher-kva.example,2021-05-05T10:00:00+02:00
        Empty,,
        """,
    )
    counts = load_accounts(session, workspace.id, path)
    assert (counts.created, counts.updated, counts.unchanged) == (3, 0, 0)
    accounts = domains_by_account(session, workspace.id)
    assert accounts["Acme"] == {
        "acme.com": datetime(2020, 1, 1, tzinfo=UTC),
        "acme.io": datetime(2020, 1, 1, tzinfo=UTC),
    }
    assert accounts["Bücher"] == {"bücher.example": datetime(2021, 5, 5, 8, 0, tzinfo=UTC)}
    assert accounts["Empty"] == {}


def test_domains_without_created_at_are_added_now(
    session: Session, workspace: Workspace, write_csv: WriteCsv
) -> None:
    before = datetime.now(UTC)
    load_accounts(session, workspace.id, write_csv("a.csv", "name,domains\nGlobex,globex.com"))
    added = domains_by_account(session, workspace.id)["Globex"]["globex.com"]
    assert before <= added <= datetime.now(UTC)


def test_reload_is_idempotent(session: Session, workspace: Workspace, write_csv: WriteCsv) -> None:
    path = write_csv("a.csv", "name,domains\nAcme,acme.com;acme.io\nGlobex,globex.com")
    load_accounts(session, workspace.id, path)
    first = domains_by_account(session, workspace.id)
    counts = load_accounts(session, workspace.id, path)
    assert (counts.created, counts.updated, counts.unchanged) == (0, 0, 2)
    assert domains_by_account(session, workspace.id) == first
    assert count(session, Account) == 2


def test_reload_replaces_domains_and_may_move_one_between_accounts_of_the_file(
    session: Session, workspace: Workspace, write_csv: WriteCsv
) -> None:
    load_accounts(
        session, workspace.id, write_csv("a.csv", "name,domains\nAcme,acme.com;acme.io\nGlobex,globex.com")
    )
    counts = load_accounts(
        session, workspace.id, write_csv("b.csv", "name,domains\nAcme,acme.com\nGlobex,globex.com;acme.io")
    )
    assert (counts.created, counts.updated, counts.unchanged) == (0, 2, 0)
    accounts = domains_by_account(session, workspace.id)
    assert set(accounts["Acme"]) == {"acme.com"}
    assert set(accounts["Globex"]) == {"globex.com", "acme.io"}


def test_every_problem_is_listed_with_file_line_and_field_and_nothing_changes(
    session: Session, workspace: Workspace, write_csv: WriteCsv
) -> None:
    load_accounts(session, workspace.id, write_csv("first.csv", "name,domains\nAcme,acme.com"))
    before = domains_by_account(session, workspace.id)
    path = write_csv(
        "bad.csv",
        """name,domains,created_at
        Initech,initech.com,2020-13-01
        Other,acme.com,
        ,nameless.com,
        Dup,dup.com;x..com,
        Dup,dup2.com,
        Twice,dup.com,
        Fine,fine.com,
        """,
    )
    with pytest.raises(CsvLoadError) as caught:
        load_accounts(session, workspace.id, path)
    problems = caught.value.problems
    p = str(path)
    assert problems[0].startswith(f"{p}:2: field 'created_at': \"2020-13-01\" is not an ISO 8601")
    assert f"{p}:3: field 'domains': domain 'acme.com' already belongs to account 'Acme'" in problems
    assert f"{p}:4: field 'name': empty (every account needs a name)" in problems
    assert f"{p}:5: field 'domains': \"x..com\" has an empty label" in problems
    assert f"{p}:6: field 'name': account 'Dup' is already on line 5" in problems
    assert f"{p}:7: field 'domains': domain 'dup.com' is also given to account 'Dup' on line 5" in problems
    assert len(problems) == 6
    assert "nothing was changed" in str(caught.value)
    assert domains_by_account(session, workspace.id) == before
    assert count(session, Account) == 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("domains\nacme.com", "field 'name': missing required column in the header"),
        ("name,domains,size\nAcme,acme.com,1", "field 'size': unknown column"),
        ("", "no header row"),
        ("name,domains\nAcme,acme.com,extra", ":2: 3 values but the header has 2 columns"),
        ('name,domains\n"Acme,acme.com\n', "not valid CSV"),
    ],
)
def test_bad_files_are_rejected_with_a_clear_message(
    session: Session, workspace: Workspace, write_csv: WriteCsv, text: str, expected: str
) -> None:
    path = write_csv("x.csv", text) if text else write_csv("x.csv", " ")
    with pytest.raises(CsvLoadError) as caught:
        load_accounts(session, workspace.id, path)
    assert expected in str(caught.value)
    assert str(path) in str(caught.value)
    assert count(session, Account) == 0


def test_a_file_that_is_not_utf8_or_missing_is_a_clear_error(
    session: Session, workspace: Workspace, write_csv: WriteCsv
) -> None:
    path = write_csv("latin1.csv", "name,domains")
    path.write_bytes(b"name,domains\nM\xfcller,mueller.de\n")
    with pytest.raises(CsvLoadError, match=r"latin1\.csv:2: not UTF-8"):
        load_accounts(session, workspace.id, path)
    with pytest.raises(CrmError, match="no such file"):
        load_accounts(session, workspace.id, path.with_name("missing.csv"))


def test_a_domain_is_owned_per_workspace(session: Session, workspace: Workspace, write_csv: WriteCsv) -> None:
    other = create_workspace(session, "other", [])
    path = write_csv("a.csv", "name,domains\nAcme,acme.com")
    load_accounts(session, workspace.id, path)
    counts = load_accounts(session, other.id, path)
    assert counts.created == 1
    assert {name: set(d) for name, d in domains_by_account(session, other.id).items()} == {
        "Acme": {"acme.com"}
    }
    assert count(session, AccountDomain) == 2


def test_a_new_created_at_on_reload_moves_the_account_and_its_domains(
    session: Session, workspace: Workspace, write_csv: WriteCsv
) -> None:
    load_accounts(
        session, workspace.id, write_csv("a.csv", "name,domains,created_at\nAcme,acme.com,2020-01-01")
    )
    counts = load_accounts(
        session, workspace.id, write_csv("b.csv", "name,domains,created_at\nAcme,acme.com;acme.io,2019-07-01")
    )
    assert (counts.created, counts.updated) == (0, 1)
    july = datetime(2019, 7, 1, tzinfo=UTC)
    assert domains_by_account(session, workspace.id) == {"Acme": {"acme.com": july, "acme.io": july}}
    assert session.scalar(select(Account.created_at).where(Account.workspace_id == workspace.id)) == july
