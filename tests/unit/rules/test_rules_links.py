"""What an imported email links to (people, people created, accounts, direction); the seed article FAQ."""

from tests.unit.rules.scenario import NOW, Scenario, day, email

from mailtrail.rules.types import PersonRef, PersonToCreate

ME = "me@ourco.com"


def linked_labels(s: Scenario, parsed: object) -> list[str]:
    _, plan = s.plan(parsed)  # type: ignore[arg-type]
    return sorted(ref.label for ref, _ in plan.people)


def test_direction_follows_the_sender() -> None:
    s = Scenario()
    acme = s.account("acme.com")
    s.person("ann@acme.com", default_account=acme)
    s.team(ME)
    assert s.plan(email(ME, "ann@acme.com"))[1].direction == "outbound"
    assert s.plan(email("ann@acme.com", ME))[1].direction == "inbound"
    # A customer writing to another customer (we are only in Bcc) is inbound too.
    assert s.plan(email("ann@acme.com", "bob@acme.com", bcc=(ME,)))[1].direction == "inbound"


def test_a_skipped_email_plans_nothing() -> None:
    s = Scenario()
    s.account("acme.com")
    decision, plan = s.plan(email("new@acme.com", "stranger@nowhere.example"))
    assert decision.reason.value == "unknown_recipients"
    assert (plan.people, plan.create, plan.account_ids) == ((), (), ())


def test_faq_several_people_with_one_address_are_all_linked_on_all_their_accounts() -> None:
    s = Scenario()
    acme, beta = s.account("acme.com"), s.account("beta.example")
    s.team(ME)
    one = s.person("info@acme.com", default_account=acme, label="one")
    two = s.person("info@acme.com", default_account=beta, label="two")
    _, plan = s.plan(email("info@acme.com", ME))
    assert plan.people == ((one, "info@acme.com"), (two, "info@acme.com"))
    assert plan.account_ids == (acme, beta)
    assert plan.create == ()


def test_faq_a_person_on_several_accounts_shows_it_on_the_default_account_only() -> None:
    s = Scenario()
    acme, parent = s.account("acme.com"), s.account("acme-holding.example")
    s.team(ME)
    # Jane's address is at acme.com, but her default (primary) account is the holding.
    s.person("jane@acme.com", default_account=parent)
    assert s.plan(email(ME, "jane@acme.com"))[1].account_ids == (parent,)
    assert acme != parent


def test_faq_a_person_with_no_address_is_never_linked() -> None:
    s = Scenario()
    s.team(ME)
    s.person(label="john doe, no address")
    assert s.reason(email("john@acme.com", ME)) == "unknown_sender"
    acme = s.account("acme.com")
    # With an account for the domain, a new person is created rather than the address-less one linked.
    _, plan = s.plan(email("John Doe <john@acme.com>", ME))
    assert plan.people == ()
    assert plan.create == (PersonToCreate("john@acme.com", "John Doe", acme),)


def test_faq_a_person_created_after_the_email_is_not_linked() -> None:
    s = Scenario()
    s.team(ME)
    s.person("john@unlisted.example", created=day(10), label="john")
    decision, plan = s.plan(email("john@unlisted.example", ME, "ann@acme.com", time=day(1)))
    assert decision.reason.value == "unknown_sender"
    assert plan.people == ()


def test_faq_a_person_created_after_the_email_is_linked_when_the_address_is_creatable() -> None:
    s = Scenario()
    acme = s.account("acme.com")
    s.team(ME)
    later = s.person("john@acme.com", created=day(10), default_account=acme, label="john")
    _, plan = s.plan(email("john@acme.com", ME, time=day(1)))
    assert plan.people == ((later, "john@acme.com"),)
    assert plan.create == ()


def test_faq_blacklisted_domain_subdomain_and_address_are_not_imported() -> None:
    s = Scenario()
    s.account("acme.com", "partner.example", "bulk.example")
    s.team(ME)
    s.blacklist("partner.example", "*.bulk.example", "ceo@acme.com")
    assert s.reason(email("x@partner.example", ME)) == "blacklisted"
    assert s.reason(email("x@news.bulk.example", ME)) == "blacklisted"
    assert s.reason(email("x@bulk.example", ME)) == "blacklisted"
    assert s.reason(email(ME, "ceo@acme.com", "cfo@acme.com")) == "blacklisted"
    assert s.reason(email(ME, "cfo@acme.com")) == "ok"
    # "partner.example" is that exact domain: its subdomains are not covered.
    assert s.reason(email("x@eu.partner.example", ME)) == "unknown_sender"


def test_faq_a_person_is_created_for_amazon_com_but_not_for_amazon_ca() -> None:
    s = Scenario()
    amazon = s.account("amazon.com")
    s.team(ME)
    _, plan = s.plan(email(ME, "john@amazon.com", "john@amazon.ca"))
    assert plan.create == (PersonToCreate("john@amazon.com", None, amazon),)
    assert plan.account_ids == (amazon,)


def test_people_are_created_once_per_address_with_their_display_name() -> None:
    s = Scenario(ignore_subaddress=True)
    acme = s.account("acme.com")
    s.team(ME)
    _, plan = s.plan(email(ME, "john+a@acme.com", cc=("John Smith <john+b@acme.com>", "Kim <kim@acme.com>")))
    assert plan.create == (
        PersonToCreate("john@acme.com", "John Smith", acme),
        PersonToCreate("kim@acme.com", "Kim", acme),
    )
    assert plan.account_ids == (acme,)


def test_a_person_without_default_account_is_linked_on_no_account() -> None:
    s = Scenario()
    s.team(ME)
    s.person("free@unlisted.example", default_account=None, label="free")
    _, plan = s.plan(email("free@unlisted.example", ME))
    assert [ref.label for ref, _ in plan.people] == ["free"]
    assert plan.account_ids == ()


def test_accounts_are_listed_once_linked_people_first_then_created() -> None:
    s = Scenario()
    acme, beta = s.account("acme.com"), s.account("beta.example")
    s.team(ME)
    s.person("ann@acme.com", default_account=beta)
    s.person("bob@acme.com", default_account=beta)
    _, plan = s.plan(email(ME, "ann@acme.com", "bob@acme.com", "new@acme.com", "new@beta.example"))
    assert plan.account_ids == (beta, acme)


def test_a_person_recorded_by_add_person_is_linked_by_later_emails_not_created_again() -> None:
    s = Scenario()
    acme = s.account("acme.com")
    s.team(ME)
    _, first = s.plan(email("new@acme.com", ME, time=day(2)))
    (new,) = first.create
    s.snapshot.add_person(new.address, new.person_ref(NOW))
    # Earlier in time, later in processing: the person exists now, after the email, so it stays creatable.
    decision, second = s.plan(email("new@acme.com", ME, time=day(1), key="m2"))
    assert decision.participants[0].cls.value == "creatable"
    assert [ref.label for ref, _ in second.people] == ["new:new@acme.com"]
    assert second.create == ()
    assert second.account_ids == (acme,)


def test_add_person_replaces_a_placeholder_with_the_stored_person() -> None:
    s = Scenario()
    acme = s.account("acme.com")
    new = PersonToCreate("new@acme.com", None, acme)
    s.snapshot.add_person(new.address, new.person_ref(NOW))
    s.snapshot.add_person(new.address, new.person_ref(NOW, person_id=42))
    s.snapshot.add_person(new.address, new.person_ref(NOW, person_id=42))
    assert s.snapshot.people_by_address["new@acme.com"] == [PersonRef(42, NOW, "new:new@acme.com", acme)]


def test_add_person_is_seen_through_ignore_subaddress_lookups() -> None:
    s = Scenario(ignore_subaddress=True)
    acme = s.account("acme.com")
    s.team(ME)
    assert s.reason(email("kim+x@acme.com", ME)) == "ok"  # builds the lookups
    s.snapshot.add_person("kim@acme.com", PersonRef(9, day(-1), "kim", acme))
    assert linked_labels(s, email("kim+y@acme.com", ME)) == ["kim"]


def test_a_person_whose_address_is_also_internal_is_not_linked() -> None:
    s = Scenario()
    s.team(ME)
    s.person(ME, label="me as a contact")
    acme = s.account("acme.com")
    s.person("ann@acme.com", default_account=acme, label="ann")
    assert linked_labels(s, email(ME, "ann@acme.com")) == ["ann"]


def test_a_person_with_two_addresses_on_one_email_is_linked_once() -> None:
    s = Scenario()
    acme = s.account("acme.com")
    s.team(ME)
    ann = s.person("ann@acme.com", "ann.lee@acme.com", default_account=acme, label="ann")
    _, plan = s.plan(email(ME, "ann@acme.com", cc=("ann.lee@acme.com",)))
    assert plan.people == ((ann, "ann@acme.com"),)
    assert plan.account_ids == (acme,)
