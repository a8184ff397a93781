"""Every row of the decision table, the precedence between rows, the time used, and the settings."""

from datetime import datetime, timedelta, timezone

import pytest
from tests.unit.rules.scenario import NOW, T0, Scenario, day, email

from mailtrail.mail.parsed import ProviderFlags
from mailtrail.rules.types import AddressClass

ME = "me@ourco.com"
COLLEAGUE = "sam@ourco.com"
ANN = "ann@acme.com"


def workspace(**settings: bool | int | str) -> Scenario:
    """Our company ourco.com, customer account acme.com with Ann, a blacklisted domain."""
    s = Scenario(**settings)
    acme = s.account("acme.com")
    s.person(ANN, default_account=acme, label="ann")
    s.team(ME, member_id=1)
    s.team(COLLEAGUE, member_id=2)
    s.blacklist("spam.example")
    return s


def test_a_customer_email_is_imported() -> None:
    s = workspace()
    decision = s.decide(email(ANN, ME))
    assert decision.imported
    assert decision.reason.value == "ok"
    assert [(c.role, c.cls.value) for c in decision.participants] == [("from", "person"), ("to", "internal")]


@pytest.mark.parametrize(
    ("flags", "reason"),
    [
        (ProviderFlags(draft=True), "draft"),
        (ProviderFlags(spam=True), "spam"),
        (ProviderFlags(trash=True), "trash"),
        (ProviderFlags(not_email=True), "not_email"),
        # Rules 0a-0d in order: the first flag that holds names the reason.
        (ProviderFlags(draft=True, spam=True, trash=True, not_email=True), "draft"),
        (ProviderFlags(spam=True, trash=True), "spam"),
        (ProviderFlags(trash=True, not_email=True), "trash"),
    ],
)
def test_provider_flags_skip_an_otherwise_imported_email(flags: ProviderFlags, reason: str) -> None:
    s = workspace()
    assert s.reason(email(ANN, ME, flags=flags)) == reason


def test_draft_beats_blacklisted() -> None:
    s = workspace()
    assert s.reason(email("x@spam.example", ME, flags=ProviderFlags(draft=True))) == "draft"


def test_flags_skip_but_participants_are_still_classified_for_explain() -> None:
    s = workspace()
    decision = s.decide(email(ANN, ME, flags=ProviderFlags(spam=True)))
    assert [c.cls for c in decision.participants] == [AddressClass.PERSON, AddressClass.INTERNAL]


@pytest.mark.parametrize(
    "parsed",
    [
        email("x@spam.example", ME),
        email(ANN, ME, "x@spam.example"),
        email(ME, ANN, cc=("x@spam.example",)),
        email(ME, ANN, bcc=("x@spam.example",)),
    ],
)
def test_a_blacklisted_sender_or_any_recipient_skips_it(parsed: object) -> None:
    s = workspace()
    assert s.reason(parsed) == "blacklisted"  # type: ignore[arg-type]


def test_blacklisted_beats_internal() -> None:
    s = workspace()
    s.blacklist(COLLEAGUE)
    assert s.reason(email(ME, COLLEAGUE)) == "blacklisted"


@pytest.mark.parametrize(
    "parsed",
    [
        email(ME, COLLEAGUE),
        email(ME, COLLEAGUE, cc=("hr@ourco.com",), bcc=("boss@ourco.com",)),
        # An internal sender with no recipients counts as internal ...
        email(ME),
        # ... and so does a message the sender sent only to themself.
        email(ME, ME),
    ],
)
def test_internal_only_mail_is_skipped(parsed: object) -> None:
    s = workspace()
    assert s.reason(parsed) == "internal"  # type: ignore[arg-type]


def test_internal_beats_unknown_sender_and_no_customer() -> None:
    s = workspace()
    s.team("me.private@gmail.com", member_id=1)
    assert s.reason(email("me.private@gmail.com", ME)) == "internal"


@pytest.mark.parametrize(
    "parsed",
    [
        email("stranger@nowhere.example", ANN),
        email("stranger@nowhere.example", ME, ANN),
        # No sender at all.
        email(None, ANN),
        email(None),
    ],
)
def test_an_unknown_or_missing_sender_skips_it(parsed: object) -> None:
    s = workspace()
    assert s.reason(parsed) == "unknown_sender"  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "parsed",
    [
        email(ANN, "stranger@nowhere.example"),
        email(ANN, "stranger@nowhere.example", cc=("other@nowhere.example",)),
        email(ME, "stranger@nowhere.example"),
        # No recipients at all: a customer writing only to themself has no other recipient.
        email(ANN),
        email(ANN, ANN),
    ],
)
def test_all_unknown_or_no_recipients_skips_it(parsed: object) -> None:
    s = workspace()
    assert s.reason(parsed) == "unknown_recipients"  # type: ignore[arg-type]


def test_unknown_sender_beats_unknown_recipients() -> None:
    s = workspace()
    assert s.reason(email("stranger@nowhere.example", "other@nowhere.example")) == "unknown_sender"


def test_one_known_recipient_is_enough() -> None:
    s = workspace()
    assert s.reason(email(ANN, "stranger@nowhere.example", ME)) == "ok"


def test_no_customer_skips_internal_mail_copied_to_strangers() -> None:
    s = workspace()
    assert s.reason(email(ME, COLLEAGUE, "stranger@nowhere.example")) == "no_customer"


def test_a_deleted_engagement_is_not_imported_again() -> None:
    s = workspace()
    s.snapshot.tombstones.add("gone@example.test")
    assert s.reason(email(ANN, ME, key="gone@example.test")) == "deleted"
    assert s.reason(email(ANN, ME, key="other@example.test")) == "ok"


def test_deleted_comes_last() -> None:
    s = workspace()
    s.snapshot.tombstones.add("gone@example.test")
    assert s.reason(email(ME, COLLEAGUE, key="gone@example.test")) == "internal"
    assert s.reason(email(ANN, ME, key="gone@example.test", flags=ProviderFlags(trash=True))) == "trash"


def test_a_creatable_customer_is_enough_to_import() -> None:
    s = workspace()
    assert s.reason(email("newbie@acme.com", ME)) == "ok"
    assert s.reason(email(ME, "newbie@acme.com")) == "ok"


def test_the_time_is_the_emails_own_or_else_now() -> None:
    s = workspace()
    assert s.decide(email(ANN, ME, time=day(3))).time == day(3)
    assert s.decide(email(ANN, ME, time=None), now=NOW).time == NOW


def test_a_time_without_zone_is_taken_as_utc() -> None:
    s = workspace()
    naive = datetime(2024, 3, 1, 12, 0)
    assert s.decide(email(ANN, ME, time=naive)).time == T0


def test_the_time_is_given_in_utc() -> None:
    s = workspace()
    paris = datetime(2024, 3, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    decided = s.decide(email(ANN, ME, time=paris)).time
    assert (decided, decided.utcoffset()) == (T0, timedelta(0))


def test_email_without_time_uses_now_for_every_check() -> None:
    s = workspace()
    s.person("late@acme.com", created=NOW, label="late")
    s.account("beta.example", added=NOW)
    decision = s.decide(email("late@acme.com", "x@beta.example", time=None), now=NOW)
    assert [c.cls.value for c in decision.participants] == ["person", "creatable"]


def test_the_sender_also_a_recipient_counts_once() -> None:
    s = workspace()
    decision = s.decide(email(ANN, ANN, ME, cc=(ANN,)))
    assert [(c.role, c.address.address) for c in decision.participants] == [("from", ANN), ("to", ME)]
    assert decision.reason.value == "ok"


def test_recipients_in_several_headers_count_once_in_to_cc_bcc_order() -> None:
    s = workspace()
    decision = s.decide(email(ANN, ME, cc=(COLLEAGUE, ME), bcc=(COLLEAGUE, "x@acme.com")))
    roles = [(c.role, c.address.address) for c in decision.participants]
    assert roles == [("from", ANN), ("to", ME), ("cc", COLLEAGUE), ("bcc", "x@acme.com")]


def test_a_person_created_after_the_email_does_not_get_it() -> None:
    s = Scenario()
    s.person("john@unlisted.example", created=day(10))
    s.team(ME)
    assert s.reason(email("john@unlisted.example", ME, time=day(5))) == "unknown_sender"
    assert s.reason(email("john@unlisted.example", ME, time=day(10))) == "ok"


def test_an_account_domain_added_after_the_email_does_not_make_it_creatable() -> None:
    s = Scenario()
    s.account("acme.com", added=day(10))
    s.team(ME)
    assert s.reason(email("john@acme.com", ME, time=day(9))) == "unknown_sender"
    assert s.reason(email("john@acme.com", ME, time=day(10))) == "ok"


def test_amazon_com_creates_a_person_and_amazon_ca_does_not() -> None:
    s = Scenario()
    s.account("amazon.com")
    s.team(ME)
    assert s.reason(email("john@amazon.com", ME)) == "ok"
    assert s.reason(email("john@amazon.ca", ME)) == "unknown_sender"
    assert s.reason(email(ME, "john@amazon.ca")) == "unknown_recipients"


def test_a_role_sender_is_unknown_unless_a_person_has_it() -> None:
    s = workspace()
    assert s.reason(email("noreply@acme.com", ME)) == "unknown_sender"
    s.person("noreply@acme.com", created=day(-1))
    assert s.reason(email("noreply@acme.com", ME)) == "ok"
    kept = workspace(skip_role_addresses=False)
    assert kept.reason(email("noreply@acme.com", ME)) == "ok"


def test_ignore_subaddress_changes_the_decision() -> None:
    plain = Scenario()
    plain.person("john@unlisted.example", created=day(-1))
    plain.team(ME)
    ignoring = Scenario(ignore_subaddress=True)
    ignoring.person("john@unlisted.example", created=day(-1))
    ignoring.team(ME)
    parsed = email("john+crm@unlisted.example", ME)
    assert plain.reason(parsed) == "unknown_sender"
    assert ignoring.reason(parsed) == "ok"
    ignoring.blacklist("john@unlisted.example")
    assert ignoring.reason(parsed) == "blacklisted"


@pytest.mark.parametrize("visibility", ["metadata", "subject", "full"])
@pytest.mark.parametrize("backfill_days", [0, 30])
def test_visibility_and_backfill_do_not_change_decisions(visibility: str, backfill_days: int) -> None:
    # visibility is what the importer stores; backfill_days is how far back a mailbox looks. Neither decides.
    s = workspace(visibility=visibility, backfill_days=backfill_days)
    emails = [
        email(ANN, ME),
        email(ME, COLLEAGUE),
        email("x@nowhere.example", ME),
        email(ANN, "x@spam.example"),
    ]
    assert [s.reason(e) for e in emails] == ["ok", "internal", "unknown_sender", "blacklisted"]
