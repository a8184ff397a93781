"""People CSV load: accounts by name, the default account, every problem at once, idempotent re-loads."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailtrail.crm.accounts.repository import AccountRepository
from mailtrail.crm.accounts.service import load_accounts
from mailtrail.crm.errors import CsvLoadError
from mailtrail.crm.people.repository import PeopleRepository, StoredPerson
from mailtrail.crm.people.service import NewEmailPerson, create_people_from_email, load_people
from mailtrail.models import Person, Workspace

from .conftest import WriteCsv

ACCOUNTS = """name,domains
Acme,acme.com
Globex,globex.com
"""


@pytest.fixture
def accounts(session: Session, workspace: Workspace, write_csv: WriteCsv) -> dict[str, int]:
    load_accounts(session, workspace.id, write_csv("accounts.csv", ACCOUNTS))
    return AccountRepository(session, workspace.id).ids_by_name()


def people(session: Session, workspace: Workspace) -> dict[str, StoredPerson]:
    return {p.external_id or f"id:{p.id}": p for p in PeopleRepository(session, workspace.id).everyone()}


def test_load_creates_people_with_addresses_accounts_and_default(
    session: Session, workspace: Workspace, accounts: dict[str, int], write_csv: WriteCsv
) -> None:
    path = write_csv(
        "people.csv",
        """External ID,Name,Emails,Accounts,Default-Account,created_at
        p1,Jane Doe,Jane@ACME.com; j.doe@acme.com,Acme;Globex,Globex,2020-02-01
        p2,Joe,joe@globex.com,Globex;Acme,,
        p3,No Address,,,,
        """,
    )
    before = datetime.now(UTC)
    counts = load_people(session, workspace.id, path)
    assert (counts.created, counts.updated, counts.unchanged) == (3, 0, 0)
    stored = people(session, workspace)
    jane, joe, nobody = stored["p1"], stored["p2"], stored["p3"]
    assert jane.name == "Jane Doe"
    assert jane.emails == ["jane@acme.com", "j.doe@acme.com"]
    assert set(jane.accounts) == {accounts["Acme"], accounts["Globex"]}
    assert jane.default_account_id == accounts["Globex"]
    assert jane.created_at == datetime(2020, 2, 1, tzinfo=UTC)
    assert jane.source == "csv"
    # No default named: the first account listed.
    assert joe.default_account_id == accounts["Globex"]
    assert before <= joe.created_at <= datetime.now(UTC)
    assert nobody.emails == []
    assert nobody.accounts == []
    assert nobody.default_account_id is None


def test_reload_is_idempotent_and_updates_what_changed(
    session: Session, workspace: Workspace, accounts: dict[str, int], write_csv: WriteCsv
) -> None:
    first = write_csv(
        "people.csv",
        """external_id,name,emails,accounts,default_account
        p1,Jane,jane@acme.com,Acme,
        p2,Joe,joe@globex.com,Globex,
        ,Walk-in,walkin@acme.com,,
        """,
    )
    load_people(session, workspace.id, first)
    created = {key: p.created_at for key, p in people(session, workspace).items()}
    counts = load_people(session, workspace.id, first)
    assert (counts.created, counts.updated, counts.unchanged) == (0, 0, 3)
    assert session.scalar(select(func.count()).select_from(Person)) == 3

    second = write_csv(
        "people2.csv",
        """external_id,name,emails,accounts,default_account
        p1,Jane Roe,jane@globex.com,Globex;Acme,Acme
        p2,Joe,joe@globex.com,Globex,
        """,
    )
    counts = load_people(session, workspace.id, second)
    assert (counts.created, counts.updated, counts.unchanged) == (0, 1, 1)
    jane = people(session, workspace)["p1"]
    assert jane.name == "Jane Roe"
    assert jane.emails == ["jane@globex.com"]
    assert set(jane.accounts) == {accounts["Acme"], accounts["Globex"]}
    assert jane.default_account_id == accounts["Acme"]
    # created_at of an existing person is kept when the file gives none.
    assert jane.created_at == created["p1"]


def test_created_at_given_on_reload_replaces_the_stored_one(
    session: Session, workspace: Workspace, accounts: dict[str, int], write_csv: WriteCsv
) -> None:
    load_people(session, workspace.id, write_csv("a.csv", "external_id,emails\np1,jane@acme.com"))
    counts = load_people(
        session,
        workspace.id,
        write_csv("b.csv", "external_id,emails,created_at\np1,jane@acme.com,2019-06-30"),
    )
    assert counts.updated == 1
    assert people(session, workspace)["p1"].created_at == datetime(2019, 6, 30, tzinfo=UTC)


def test_every_problem_is_listed_and_nothing_changes(
    session: Session, workspace: Workspace, accounts: dict[str, int], write_csv: WriteCsv
) -> None:
    load_people(session, workspace.id, write_csv("ok.csv", "external_id,name,emails\np0,Zero,zero@acme.com"))
    before = people(session, workspace)
    path = write_csv(
        "bad.csv",
        """external_id,name,emails,accounts,default_account,created_at
        p1,Jane,jane@@acme.com,Acme,,
        p2,Joe,joe@globex.com,Initech,,
        p3,Ann,ann@acme.com,Acme,Globex,
        p1,Dup,dup@acme.com,,,
        p4,Late,late@acme.com,,,yesterday
        p5,Caps,caps@acme.com,acme,,
        p6,Nodomain,nobody@,,,
        p0,Changed,changed@acme.com,,,
        """,
    )
    with pytest.raises(CsvLoadError) as caught:
        load_people(session, workspace.id, path)
    p = str(path)
    assert caught.value.problems == [
        f"{p}:2: field 'emails': malformed email address: \"jane@@acme.com\" has @ in its local part",
        f"{p}:3: field 'accounts': unknown account 'Initech' (load it with `mailtrail accounts load` first)",
        f"{p}:4: field 'default_account': 'Globex' is not among the person's accounts ('Acme')",
        f"{p}:5: field 'external_id': 'p1' is already on line 2",
        f"{p}:6: field 'created_at': \"yesterday\" is not an ISO 8601 date or time "
        "(e.g. 2024-03-01 or 2024-03-01T09:30:00Z)",
        f"{p}:7: field 'accounts': unknown account 'acme' (did you mean 'Acme'?)",
        f"{p}:8: field 'emails': malformed email address: \"nobody@\" has an empty domain",
    ]
    assert people(session, workspace) == before


def test_missing_required_column_is_reported(
    session: Session, workspace: Workspace, accounts: dict[str, int], write_csv: WriteCsv
) -> None:
    path = write_csv("p.csv", "external_id,name\np1,Jane")
    with pytest.raises(CsvLoadError, match=r"p\.csv:1: field 'emails': missing required column"):
        load_people(session, workspace.id, path)


def test_the_same_address_may_belong_to_several_people(
    session: Session, workspace: Workspace, accounts: dict[str, int], write_csv: WriteCsv
) -> None:
    path = write_csv("p.csv", "external_id,emails\na,info@acme.com\nb,info@acme.com")
    assert load_people(session, workspace.id, path).created == 2
    stored = people(session, workspace)
    assert stored["a"].emails == stored["b"].emails == ["info@acme.com"]


def test_people_created_from_email_have_their_address_account_and_source(
    session: Session, workspace: Workspace, accounts: dict[str, int]
) -> None:
    at = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    linked = create_people_from_email(
        session,
        workspace.id,
        [
            NewEmailPerson("new@acme.com", "New Person", accounts["Acme"], at),
            NewEmailPerson("other@globex.com", None, None, at),
        ],
    )
    assert {address: created for address, (_, created) in linked.items()} == {
        "new@acme.com": True,
        "other@globex.com": True,
    }
    stored = {p.id: p for p in PeopleRepository(session, workspace.id).everyone()}
    first, second = stored[linked["new@acme.com"][0][0].id], stored[linked["other@globex.com"][0][0].id]
    assert (first.name, first.emails, first.accounts, first.default_account_id) == (
        "New Person",
        ["new@acme.com"],
        [accounts["Acme"]],
        accounts["Acme"],
    )
    assert first.source == "email"
    assert first.external_id is None
    assert first.created_at == at
    assert second.accounts == []
    assert second.default_account_id is None


def test_a_change_of_only_addresses_or_only_accounts_is_an_update(
    session: Session, workspace: Workspace, accounts: dict[str, int], write_csv: WriteCsv
) -> None:
    header = "external_id,name,emails,accounts"
    load_people(
        session,
        workspace.id,
        write_csv("a.csv", f"{header}\np1,Jane,jane@acme.com,Acme\np2,Joe,joe@acme.com,Acme"),
    )
    counts = load_people(
        session,
        workspace.id,
        write_csv("b.csv", f"{header}\np1,Jane,jane@globex.com,Acme\np2,Joe,joe@acme.com,Globex"),
    )
    assert (counts.created, counts.updated, counts.unchanged) == (0, 2, 0)
    stored = people(session, workspace)
    assert stored["p1"].emails == ["jane@globex.com"]
    assert stored["p1"].accounts == [accounts["Acme"]]
    assert stored["p2"].emails == ["joe@acme.com"]
    assert stored["p2"].accounts == [accounts["Globex"]]
    # The default account follows: the first account listed, since none is named.
    assert stored["p2"].default_account_id == accounts["Globex"]


def test_an_address_someone_already_has_creates_nobody_and_links_them(
    session: Session, workspace: Workspace, accounts: dict[str, int]
) -> None:
    """Another import created the person since this one read the workspace: it is linked, not duplicated."""
    at = datetime(2024, 1, 2, tzinfo=UTC)
    first = create_people_from_email(
        session, workspace.id, [NewEmailPerson("new@acme.com", "New", accounts["Acme"], at)]
    )
    again = create_people_from_email(
        session, workspace.id, [NewEmailPerson("new@acme.com", "New", accounts["Acme"], at)]
    )
    assert again["new@acme.com"][1] is False
    assert [ref.id for ref in again["new@acme.com"][0]] == [ref.id for ref in first["new@acme.com"][0]]
    assert len(PeopleRepository(session, workspace.id).everyone()) == 1
