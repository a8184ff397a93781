"""The workspace snapshot the rules read: contents, and nothing from another workspace."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session

from mailtrail.crm.accounts.repository import AccountRepository
from mailtrail.crm.accounts.service import load_accounts
from mailtrail.crm.blacklist.service import add_entries
from mailtrail.crm.errors import CrmError
from mailtrail.crm.people.service import NewEmailPerson, create_people_from_email, load_people
from mailtrail.crm.snapshot import load_snapshot
from mailtrail.crm.team.service import add_member
from mailtrail.crm.workspaces.service import create_workspace, set_setting
from mailtrail.models import Mailbox, Tombstone, Workspace
from mailtrail.rules.types import PersonRef, Settings

from .conftest import WriteCsv

ACCOUNTS = """name,domains,created_at
Acme,acme.com;acme.io,2020-01-01
Globex,globex.com,2021-06-01T12:00:00Z
"""
PEOPLE = """external_id,name,emails,accounts,default_account,created_at
p1,Jane,jane@acme.com;info@acme.com,Acme,,2020-02-01
p2,Joe,joe@globex.com;info@acme.com,Globex;Acme,Acme,2022-03-01
"""


def fill(session: Session, workspace: Workspace, write_csv: WriteCsv) -> None:
    """One workspace with every kind of record the snapshot reads."""
    load_accounts(session, workspace.id, write_csv("accounts.csv", ACCOUNTS))
    load_people(session, workspace.id, write_csv("people.csv", PEOPLE))
    add_member(session, workspace.id, "ann@ourco.com", ["ann.b@gmail.com"])
    add_entries(session, workspace.id, ["*.spam.com", "bad@guy.com"])
    session.add(Tombstone(workspace_id=workspace.id, message_key="deleted@example.com"))
    session.add(Mailbox(workspace_id=workspace.id, address="shared@ourco.com", provider="file"))
    session.flush()


def test_snapshot_holds_everything_the_rules_need(
    session: Session, workspace: Workspace, write_csv: WriteCsv
) -> None:
    fill(session, workspace, write_csv)
    set_setting(session, workspace, "ignore_subaddress", "true")
    accounts = AccountRepository(session, workspace.id).ids_by_name()
    ann = add_member(session, workspace.id, "ann@ourco.com").member_id
    session.add(Mailbox(workspace_id=workspace.id, address="ann@ourco.com", provider="gmail", owner_id=None))
    session.flush()

    snapshot = load_snapshot(session, workspace.id, extra_internal=["Import@Box.example"])

    assert snapshot.company_domains == frozenset({"ourco.com"})
    # A member's id wins over a mailbox row without an owner for the same address.
    assert snapshot.team_addresses == {
        "ann@ourco.com": ann,
        "ann.b@gmail.com": ann,
        "shared@ourco.com": None,
        "import@box.example": None,
    }
    assert snapshot.account_domains == {
        "acme.com": (accounts["Acme"], datetime(2020, 1, 1, tzinfo=UTC)),
        "acme.io": (accounts["Acme"], datetime(2020, 1, 1, tzinfo=UTC)),
        "globex.com": (accounts["Globex"], datetime(2021, 6, 1, 12, tzinfo=UTC)),
    }
    jane = snapshot.people_by_address["jane@acme.com"][0]
    assert jane == PersonRef(jane.id, datetime(2020, 2, 1, tzinfo=UTC), "p1", accounts["Acme"])
    joe = snapshot.people_by_address["joe@globex.com"][0]
    assert joe == PersonRef(joe.id, datetime(2022, 3, 1, tzinfo=UTC), "p2", accounts["Acme"])
    assert snapshot.people_by_address["info@acme.com"] == [jane, joe]
    assert snapshot.blacklist == frozenset({"*.spam.com", "bad@guy.com"})
    assert snapshot.tombstones == {"deleted@example.com"}
    assert snapshot.settings == Settings(ignore_subaddress=True)


def test_people_without_external_id_are_labelled_by_id(session: Session, workspace: Workspace) -> None:
    at = datetime(2024, 1, 1, 12, 30, 15, 123456, tzinfo=UTC)
    new = NewEmailPerson("new@acme.com", "New", None, at)
    linked = create_people_from_email(session, workspace.id, [new])
    pid = linked["new@acme.com"][0][0].id
    snapshot = load_snapshot(session, workspace.id)
    assert snapshot.people_by_address == {"new@acme.com": [PersonRef(pid, at, f"id:{pid}", None)]}


def test_two_workspaces_with_the_same_records_never_see_each_other(
    session: Session, workspace: Workspace, write_csv: WriteCsv
) -> None:
    other = create_workspace(session, "other", ["other.com"])
    fill(session, workspace, write_csv)
    empty = load_snapshot(session, other.id)
    assert empty.company_domains == frozenset({"other.com"})
    assert empty.team_addresses == {}
    assert empty.people_by_address == {}
    assert empty.account_domains == {}
    assert empty.blacklist == frozenset()
    assert empty.tombstones == set()

    # The same domains, people and team in the second workspace are its own rows.
    fill(session, other, write_csv)
    mine, theirs = load_snapshot(session, workspace.id), load_snapshot(session, other.id)
    my_accounts = set(AccountRepository(session, workspace.id).ids_by_name().values())
    their_accounts = set(AccountRepository(session, other.id).ids_by_name().values())
    assert my_accounts.isdisjoint(their_accounts)
    assert {account for account, _ in theirs.account_domains.values()} == their_accounts
    my_people = {ref.id for refs in mine.people_by_address.values() for ref in refs}
    their_people = {ref.id for refs in theirs.people_by_address.values() for ref in refs}
    assert len(my_people) == len(their_people) == 2
    assert my_people.isdisjoint(their_people)
    assert set(mine.team_addresses.values()).isdisjoint(set(theirs.team_addresses.values()) - {None})


def test_snapshot_of_a_missing_workspace_is_an_error(session: Session) -> None:
    with pytest.raises(CrmError, match="no workspace with id 999"):
        load_snapshot(session, 999)
