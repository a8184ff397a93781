"""Each address class, their order, the settings that change them, and the sentence `explain` shows."""

from dataclasses import replace

import pytest
from tests.unit.rules.scenario import ROLE_FORMS, T0, Scenario, day

from mailtrail.mail.parsed import Address
from mailtrail.rules.classify import classify
from mailtrail.rules.types import AddressClass, Classified


def of(scenario: Scenario, address: str, at: float = 0) -> Classified:
    """The class of ``address`` as a recipient, ``at`` days after T0."""
    return classify("to", Address(address), day(at), scenario.snapshot)


def test_blacklisted_address_domain_and_subdomain_name_their_entry() -> None:
    s = Scenario()
    s.account("acme.com", "bulk.example")
    s.blacklist("john@acme.com", "@spam.com", "*.bulk.example")
    john = of(s, "john@acme.com")
    assert (john.cls, john.blacklist_entry) == (AddressClass.BLACKLISTED, "john@acme.com")
    assert '"john@acme.com"' in john.why
    assert of(s, "x@spam.com").blacklist_entry == "spam.com"
    sub = of(s, "x@eu.bulk.example")
    assert (sub.cls, sub.blacklist_entry) == (AddressClass.BLACKLISTED, "*.bulk.example")
    assert '"*.bulk.example"' in sub.why
    assert "eu.bulk.example" in sub.why
    assert of(s, "jane@acme.com").cls is AddressClass.CREATABLE


def test_blacklist_comes_before_every_other_class() -> None:
    s = Scenario()
    s.team("me@ourco.com")
    s.account("acme.com")
    s.person("ann@acme.com", created=day(-10))
    s.blacklist("me@ourco.com", "hr@ourco.com", "ann@acme.com")
    assert of(s, "me@ourco.com").cls is AddressClass.BLACKLISTED
    assert of(s, "hr@ourco.com").cls is AddressClass.BLACKLISTED
    assert of(s, "ann@acme.com").cls is AddressClass.BLACKLISTED


def test_company_domains_are_internal_by_exact_match() -> None:
    s = Scenario("ourco.com", "ourco.io")
    internal = of(s, "anyone@ourco.io")
    assert internal.cls is AddressClass.INTERNAL
    assert "ourco.io is a company domain" in internal.why
    # A subdomain of a company domain is not a company domain.
    assert of(s, "x@mail.ourco.com").cls is AddressClass.UNKNOWN


def test_a_team_member_on_a_company_domain_is_named_too() -> None:
    s = Scenario()
    s.team("me@ourco.com", member_id=3)
    me = of(s, "me@ourco.com")
    assert (me.cls, me.team_member_id) == (AddressClass.INTERNAL, 3)
    assert me.why == "its domain ourco.com is a company domain"
    assert of(s, "someone@ourco.com").team_member_id is None


def test_team_member_addresses_and_aliases_are_internal_whatever_the_domain() -> None:
    s = Scenario()
    s.account("gmail.com")
    s.team("me@ourco.com", "me.personal@gmail.com", member_id=7)
    alias = of(s, "me.personal@gmail.com")
    assert (alias.cls, alias.team_member_id) == (AddressClass.INTERNAL, 7)
    assert "team member 7" in alias.why
    # The mailbox being imported is internal even when no team member owns it.
    s.team("shared@elsewhere.net", member_id=None)
    assert of(s, "shared@elsewhere.net").cls is AddressClass.INTERNAL


def test_internal_comes_before_person() -> None:
    s = Scenario()
    s.person("me@ourco.com", created=day(-10))
    assert of(s, "me@ourco.com").cls is AddressClass.INTERNAL


def test_person_needs_a_person_created_at_or_before_t() -> None:
    s = Scenario()
    ann = s.person("ann@acme.com", created=T0, label="ann")
    at_t = of(s, "ann@acme.com")
    assert (at_t.cls, at_t.people) == (AddressClass.PERSON, (ann,))
    assert "person ann" in at_t.why
    # One second before the person existed, nobody had the address, and no account owns acme.com.
    before = classify("to", Address("ann@acme.com"), day(-1 / 86400), s.snapshot)
    assert before.cls is AddressClass.UNKNOWN
    assert "person ann" in before.why
    assert "created after the email" in before.why
    assert "no account has the domain acme.com" in before.why


def test_person_class_lists_only_the_people_who_existed_at_t() -> None:
    s = Scenario()
    old = s.person("info@acme.com", created=day(-5))
    s.person("info@acme.com", created=day(5))
    c = of(s, "info@acme.com")
    assert (c.cls, c.people) == (AddressClass.PERSON, (old,))
    assert "1 more created after the email, not linked" in c.why


def test_creatable_needs_the_account_domain_added_at_or_before_t() -> None:
    s = Scenario()
    acme = s.account("acme.com", added=T0)
    c = of(s, "john@acme.com")
    assert (c.cls, c.account_id, c.people) == (AddressClass.CREATABLE, acme, ())
    assert f"account {acme} has owned its domain acme.com since {T0.isoformat()}" in c.why
    assert "so a person is created for it" in c.why
    late = of(s, "john@acme.com", at=-1)
    assert late.cls is AddressClass.UNKNOWN
    assert f"the domain acme.com was added to account {acme} at {T0.isoformat()}, after the email" in late.why


def test_a_person_created_after_t_leaves_a_creatable_address_creatable_and_linked() -> None:
    s = Scenario()
    s.account("acme.com")
    later = s.person("john@acme.com", created=day(30))
    c = of(s, "john@acme.com")
    assert (c.cls, c.people) == (AddressClass.CREATABLE, (later,))
    assert "created after the email" in c.why


def test_amazon_com_is_creatable_and_amazon_ca_is_unknown() -> None:
    s = Scenario()
    s.account("amazon.com")
    assert of(s, "john@amazon.com").cls is AddressClass.CREATABLE
    ca = of(s, "john@amazon.ca")
    assert ca.cls is AddressClass.UNKNOWN
    assert "no person has this address, and no account has the domain amazon.ca" in ca.why
    # Account domains are exact too: a subdomain is not the account's domain.
    assert of(s, "john@eu.amazon.com").cls is AddressClass.UNKNOWN


@pytest.mark.parametrize("local", ROLE_FORMS)
def test_role_addresses_are_never_creatable_by_default(local: str) -> None:
    s = Scenario()
    s.account("acme.com")
    c = of(s, f"{local}@acme.com")
    assert c.cls is AddressClass.UNKNOWN
    assert "skip_role_addresses" in c.why
    assert of(s, f"{local}+x@acme.com").cls is AddressClass.UNKNOWN


@pytest.mark.parametrize("local", ["noreply", "no_reply", "mailer-daemon", "bounce-7"])
def test_role_addresses_are_creatable_when_the_workspace_keeps_them(local: str) -> None:
    s = Scenario(skip_role_addresses=False)
    s.account("acme.com")
    assert of(s, f"{local}@acme.com").cls is AddressClass.CREATABLE


def test_an_existing_person_with_a_role_address_still_counts() -> None:
    s = Scenario()
    s.account("acme.com")
    s.person("noreply@acme.com", created=day(-1))
    assert of(s, "noreply@acme.com").cls is AddressClass.PERSON


def test_subaddresses_are_distinct_addresses_by_default() -> None:
    s = Scenario()
    s.person("john@acme.com", created=day(-1))
    s.blacklist("jane@acme.com")
    assert of(s, "john+crm@acme.com").cls is AddressClass.UNKNOWN
    assert of(s, "jane+x@acme.com").cls is AddressClass.UNKNOWN
    c = of(s, "john@acme.com")
    assert (c.cls, c.lookup) == (AddressClass.PERSON, "john@acme.com")


def test_ignore_subaddress_strips_the_tag_before_every_lookup() -> None:
    s = Scenario(ignore_subaddress=True)
    john = s.person("john@acme.com", created=day(-1))
    s.blacklist("jane@acme.com")
    s.team("me@gmail.com")
    person = of(s, "john+crm@acme.com")
    assert (person.cls, person.lookup, person.people) == (AddressClass.PERSON, "john@acme.com", (john,))
    assert "looked up as john@acme.com" in person.why
    assert of(s, "jane+news@acme.com").blacklist_entry == "jane@acme.com"
    assert of(s, "me+lists@gmail.com").cls is AddressClass.INTERNAL
    # The address as written is kept for the participant list.
    assert person.address == Address("john+crm@acme.com")


def test_ignore_subaddress_also_strips_the_stored_side() -> None:
    s = Scenario(ignore_subaddress=True)
    tagged = s.person("john+old@acme.com", created=day(-1))
    s.blacklist("jane+x@acme.com")
    assert of(s, "john@acme.com").people == (tagged,)
    assert of(s, "john+new@acme.com").people == (tagged,)
    jane = of(s, "jane@acme.com")
    # Named as stored, so the user recognises the entry they typed.
    assert (jane.cls, jane.blacklist_entry) == (AddressClass.BLACKLISTED, "jane+x@acme.com")
    assert jane.why == 'the address is on the blacklist (entry "jane+x@acme.com")'


def test_ignore_subaddress_role_check_uses_the_stripped_address() -> None:
    s = Scenario(ignore_subaddress=True)
    s.account("acme.com")
    assert of(s, "noreply+x@acme.com").cls is AddressClass.UNKNOWN
    assert of(s, "john+x@acme.com").lookup == "john@acme.com"


def test_idn_domains_compare_in_unicode_form() -> None:
    s = Scenario()
    # Typed in ASCII (Punycode) form by the user; the parser gives addresses in Unicode form.
    s.blacklist("*.xn--bcher-kva.example")
    s.account("müller.example")
    assert of(s, "a@shop.bücher.example").blacklist_entry == "*.bücher.example"
    assert of(s, "jörg@müller.example").cls is AddressClass.CREATABLE


def test_unknown_explains_both_halves() -> None:
    s = Scenario()
    c = of(s, "stranger@nowhere.example")
    assert c.cls is AddressClass.UNKNOWN
    assert c.why == "no person has this address, and no account has the domain nowhere.example"


def test_why_names_accounts_by_name_when_explain_knows_them() -> None:
    s = Scenario()
    acme = s.account("acme.com", added=T0)
    creatable = of(s, "john@acme.com")
    assert creatable.describe({acme: "Acme Inc"}).startswith(
        'account "Acme Inc" has owned its domain acme.com'
    )
    too_early = of(s, "john@acme.com", at=-1)
    assert 'added to account "Acme Inc"' in too_early.describe({acme: "Acme Inc"})


def test_why_for_a_mailbox_without_team_member_and_for_several_people() -> None:
    s = Scenario()
    s.team("shared@ourco.io", member_id=None)
    assert of(s, "shared@ourco.io").why == "it is the address of a team member or of a mailbox being imported"
    s.person("info@acme.com", label="a", created=day(-2))
    s.person("info@acme.com", label="b", created=day(-1))
    why = of(s, "info@acme.com").why
    assert why.startswith("person a (created ")
    assert ", person b (created " in why
    assert " have this address and existed at the email's time" in why


def test_classification_follows_snapshot_changes_made_after_first_use() -> None:
    s = Scenario()
    s.account("acme.com")
    assert of(s, "noreply@acme.com").cls is AddressClass.UNKNOWN
    # Each of these replaces or grows a part of the snapshot after it has been used once.
    s.snapshot.settings = replace(s.snapshot.settings, skip_role_addresses=False)
    assert of(s, "noreply@acme.com").cls is AddressClass.CREATABLE
    s.team("noreply@acme.com")
    assert of(s, "noreply@acme.com").cls is AddressClass.INTERNAL
    s.blacklist("*.acme.com")
    assert of(s, "noreply@acme.com").cls is AddressClass.BLACKLISTED
    assert of(s, "x@beta.example").cls is AddressClass.UNKNOWN
    s.account("beta.example")
    assert of(s, "x@beta.example").cls is AddressClass.CREATABLE
    s.snapshot.company_domains = frozenset({"beta.example"})
    assert of(s, "x@beta.example").cls is AddressClass.INTERNAL


def test_reset_lookups_after_changing_a_dict_in_place() -> None:
    s = Scenario()
    s.team("alias@gmail.com", member_id=1)
    assert of(s, "alias@gmail.com").team_member_id == 1
    # Same size, new value: only reset_lookups tells the rules.
    s.snapshot.team_addresses["alias@gmail.com"] = 2
    s.snapshot.reset_lookups()
    assert of(s, "alias@gmail.com").team_member_id == 2
