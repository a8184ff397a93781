"""Workspaces and their settings, team members with aliases, and the blacklist."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session

from mailtrail.crm.blacklist.service import add_entries, list_entries, remove_entries
from mailtrail.crm.errors import CrmError
from mailtrail.crm.team.service import add_member, list_members
from mailtrail.crm.workspaces.service import (
    WorkspaceExistsError,
    company_domains,
    create_workspace,
    find_workspace,
    get_settings,
    rules_settings,
    set_setting,
)
from mailtrail.models import Workspace
from mailtrail.rules.types import Settings


def test_company_domains_are_normalised_and_deduplicated(session: Session) -> None:
    workspace = create_workspace(
        session, "  books  ", ["OurCo.COM.", "xn--bcher-kva.example", "@bücher.example"]
    )
    assert workspace.name == "books"
    assert company_domains(session, workspace) == ["bücher.example", "ourco.com"]


def test_bad_company_domain_and_taken_name_are_errors(session: Session, workspace: Workspace) -> None:
    with pytest.raises(CrmError, match=r'company domain "ann@ourco.com" is an address, not a domain'):
        create_workspace(session, "new", ["ann@ourco.com"])
    with pytest.raises(WorkspaceExistsError, match="workspace 'acme-cs' already exists"):
        create_workspace(session, "acme-cs", [])


def test_find_workspace_by_name_or_the_only_one(session: Session) -> None:
    with pytest.raises(CrmError, match="there is no workspace yet"):
        find_workspace(session)
    first = create_workspace(session, "first", [])
    assert find_workspace(session).id == first.id
    second = create_workspace(session, "second", [])
    assert find_workspace(session, "second").id == second.id
    with pytest.raises(
        CrmError, match=r"there are 2 workspaces \('first', 'second'\): choose one with --workspace"
    ):
        find_workspace(session)
    with pytest.raises(CrmError, match=r"no workspace 'third' \(workspaces: 'first', 'second'\)"):
        find_workspace(session, "third")


def test_settings_defaults_and_changes(session: Session, workspace: Workspace) -> None:
    assert get_settings(session, workspace) == {
        "company_domains": "ourco.com",
        "backfill_days": "0",
        "ignore_subaddress": "false",
        "skip_role_addresses": "true",
        "visibility": "full",
    }
    assert set_setting(session, workspace, "backfill_days", " 30 ") == "30"
    assert set_setting(session, workspace, "ignore_subaddress", "YES") == "true"
    assert set_setting(session, workspace, "skip-role-addresses", "0") == "false"
    assert set_setting(session, workspace, "visibility", "Subject") == "subject"
    assert set_setting(session, workspace, "company_domains", "ourco.com; ourco.io ourco.de") == (
        "ourco.com ourco.de ourco.io"
    )
    assert rules_settings(workspace) == Settings(
        backfill_days=30, ignore_subaddress=True, skip_role_addresses=False, visibility="subject"
    )
    assert set_setting(session, workspace, "company_domains", "") == ""


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        (
            "backfill_days",
            "-1",
            "setting 'backfill_days': -1 is negative (allowed: a whole number of days, 0 or more)",
        ),
        ("backfill_days", "ten", "setting 'backfill_days': \"ten\" is not a whole number"),
        ("ignore_subaddress", "maybe", "setting 'ignore_subaddress': \"maybe\" is not a boolean"),
        (
            "visibility",
            "all",
            "setting 'visibility': \"all\" is not a visibility (allowed: metadata | subject | full)",
        ),
        (
            "company_domains",
            "ok.com bad..com",
            "setting 'company_domains': company domain \"bad..com\" has an empty",
        ),
        ("colour", "blue", "unknown setting 'colour' (settings: company_domains, backfill_days,"),
    ],
)
def test_bad_setting_values_name_the_key_and_the_allowed_values(
    session: Session, workspace: Workspace, key: str, value: str, message: str
) -> None:
    before = get_settings(session, workspace)
    with pytest.raises(CrmError) as caught:
        set_setting(session, workspace, key, value)
    assert message in str(caught.value)
    assert get_settings(session, workspace) == before


def test_team_member_with_aliases_added_again_gets_only_new_aliases(
    session: Session, workspace: Workspace
) -> None:
    first = add_member(
        session, workspace.id, "Ann@OurCo.com", ["ann.b@gmail.com", "ANN@ourco.com"], name="Ann"
    )
    assert first.created
    assert first.email == "ann@ourco.com"
    assert first.added_aliases == ["ann.b@gmail.com"]
    again = add_member(session, workspace.id, "ann@ourco.com", ["ann.b@gmail.com", "ann@ourco.io"])
    assert not again.created
    assert again.member_id == first.member_id
    assert again.added_aliases == ["ann@ourco.io"]
    assert again.existing_aliases == ["ann.b@gmail.com"]
    assert list_members(session, workspace.id) == [
        (first.member_id, "ann@ourco.com", "Ann", ["ann.b@gmail.com", "ann@ourco.io"])
    ]


def test_an_address_of_another_member_cannot_be_an_alias(session: Session, workspace: Workspace) -> None:
    add_member(session, workspace.id, "ann@ourco.com", ["ann.b@gmail.com"])
    add_member(session, workspace.id, "bob@ourco.com")
    with pytest.raises(CrmError, match=r"alias ann@ourco\.com is already the address of another team member"):
        add_member(session, workspace.id, "bob@ourco.com", ["ann@ourco.com"])
    with pytest.raises(
        CrmError, match=r"alias ann\.b@gmail\.com is already an alias of team member ann@ourco\.com"
    ):
        add_member(session, workspace.id, "bob@ourco.com", ["bob2@ourco.com", "ann.b@gmail.com"])
    with pytest.raises(
        CrmError, match=r"ann\.b@gmail\.com is already an alias of team member ann@ourco\.com"
    ):
        add_member(session, workspace.id, "ann.b@gmail.com")
    with pytest.raises(CrmError, match='alias: "not-an-address" has no "@"'):
        add_member(session, workspace.id, "bob@ourco.com", ["not-an-address"])
    # None of the failed calls added anything.
    assert [aliases for _, _, _, aliases in list_members(session, workspace.id)] == [["ann.b@gmail.com"], []]


def test_the_same_team_address_in_two_workspaces(session: Session, workspace: Workspace) -> None:
    other = create_workspace(session, "other", [])
    add_member(session, workspace.id, "ann@ourco.com", ["ann.b@gmail.com"])
    result = add_member(session, other.id, "ann@ourco.com", ["ann.b@gmail.com"])
    assert result.created
    assert result.added_aliases == ["ann.b@gmail.com"]


def test_blacklist_entries_are_normalised_with_who_and_when(session: Session, workspace: Workspace) -> None:
    before = datetime.now(UTC)
    change = add_entries(
        session, workspace.id, ["*.Spam.COM", "@xn--bcher-kva.example", "Bad@Guy.com"], "Ann@ourco.com"
    )
    assert change.changed == ["*.spam.com", "bücher.example", "bad@guy.com"]
    again = add_entries(session, workspace.id, ["bad@guy.com", "new.com"])
    assert again.changed == ["new.com"]
    assert again.already == ["bad@guy.com"]
    listing = {item.entry: item for item in list_entries(session, workspace.id)}
    assert list(listing) == ["*.spam.com", "bad@guy.com", "bücher.example", "new.com"]
    assert listing["bad@guy.com"].added_by == "ann@ourco.com"
    assert listing["new.com"].added_by is None
    assert before <= listing["new.com"].added_at <= datetime.now(UTC)


def test_blacklist_bad_entries_and_missing_removals_change_nothing(
    session: Session, workspace: Workspace
) -> None:
    add_entries(session, workspace.id, ["spam.com", "bad@guy.com"])
    with pytest.raises(CrmError, match=r'bad blacklist entry: "a b\.com": contains spaces'):
        add_entries(session, workspace.id, ["ok.com", "a b.com"])
    with pytest.raises(CrmError, match=r"not on the blacklist: nope\.com \(nothing was removed\)"):
        remove_entries(session, workspace.id, ["spam.com", "nope.com"])
    assert [item.entry for item in list_entries(session, workspace.id)] == ["bad@guy.com", "spam.com"]
    assert remove_entries(session, workspace.id, ["SPAM.com"]).changed == ["spam.com"]
    assert [item.entry for item in list_entries(session, workspace.id)] == ["bad@guy.com"]
    with pytest.raises(CrmError, match="--by"):
        add_entries(session, workspace.id, ["x.com"], "nobody")


def test_blacklists_of_two_workspaces_are_separate(session: Session, workspace: Workspace) -> None:
    other = create_workspace(session, "other", [])
    add_entries(session, workspace.id, ["spam.com"])
    assert list_entries(session, other.id) == []
    with pytest.raises(CrmError, match="not on the blacklist"):
        remove_entries(session, other.id, ["spam.com"])
    assert add_entries(session, other.id, ["spam.com"]).changed == ["spam.com"]
