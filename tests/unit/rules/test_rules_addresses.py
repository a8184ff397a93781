"""Blacklist matching, sub-addresses, role addresses and domains.

Blacklist entries as a user types them are tested with the address module (tests/unit/test_addresses.py);
here, that they match addresses as the parser gives them.
"""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.unit.rules.scenario import ROLE_FORMS

from mailtrail.addresses import clean_blacklist_entry
from mailtrail.mail.addresses import parse_addresses
from mailtrail.rules.addresses import blacklist_match, domain_of, is_role_address, strip_subaddress
from mailtrail.rules.lookups import BlacklistIndex

BLACKLIST = frozenset({"spam.com", "*.bulk.example", "john@acme.com", "*.bücher.example"})


@pytest.mark.parametrize(
    ("address", "entry"),
    [
        ("john@acme.com", "john@acme.com"),
        ("jane@acme.com", None),
        ("anyone@spam.com", "spam.com"),
        # "domain" is that exact domain only, not its subdomains.
        ("anyone@mx.spam.com", None),
        ("anyone@bulk.example", "*.bulk.example"),
        ("anyone@mail.bulk.example", "*.bulk.example"),
        ("anyone@a.b.mail.bulk.example", "*.bulk.example"),
        ("anyone@notbulk.example", None),
        ("anyone@bulk.example.org", None),
        ("anyone@shop.bücher.example", "*.bücher.example"),
    ],
)
def test_blacklist_match_names_the_entry_that_covers_the_address(address: str, entry: str | None) -> None:
    assert blacklist_match(address, BLACKLIST) == entry


def test_blacklist_match_prefers_the_most_specific_entry() -> None:
    blacklist = frozenset({"*.acme.com", "acme.com", "john@acme.com"})
    assert blacklist_match("john@acme.com", blacklist) == "john@acme.com"
    assert blacklist_match("jane@acme.com", blacklist) == "acme.com"
    assert blacklist_match("jane@eu.acme.com", blacklist) == "*.acme.com"


def test_empty_blacklist_matches_nothing() -> None:
    assert blacklist_match("john@acme.com", frozenset()) is None


@pytest.mark.parametrize(
    ("address", "stripped"),
    [
        ("john+crm@acme.com", "john@acme.com"),
        ("john+a+b@acme.com", "john@acme.com"),
        ("john@acme.com", "john@acme.com"),
        # A tag with nothing before it has no base address: keep it as written.
        ("+tag@acme.com", "+tag@acme.com"),
        ("john+@acme.com", "john@acme.com"),
    ],
)
def test_strip_subaddress(address: str, stripped: str) -> None:
    assert strip_subaddress(address) == stripped


@pytest.mark.parametrize("local", ROLE_FORMS)
def test_role_addresses_of_the_contract(local: str) -> None:
    assert is_role_address(f"{local}@acme.com")
    # "before any +": a tagged role address is still a role address.
    assert is_role_address(f"{local}+billing@acme.com")


@pytest.mark.parametrize("local", ["info", "support", "john", "replyto", "notifier", "my-noreply", "post"])
def test_ordinary_addresses_are_not_role_addresses(local: str) -> None:
    assert not is_role_address(f"{local}@acme.com")


def test_domain_of() -> None:
    assert domain_of("john@acme.com") == "acme.com"
    assert domain_of("john@shop.bücher.example") == "shop.bücher.example"
    assert domain_of("no-at-sign") == ""


labels = st.sampled_from(["acme", "com", "eu", "mail", "bücher", "example"])
domains = st.lists(labels, min_size=1, max_size=4).map(".".join)
locals_ = st.sampled_from(["john", "jane", "info"])
entries = st.one_of(
    st.tuples(locals_, domains).map("@".join),
    domains,
    domains.map(lambda d: "*." + d),
)


@settings(max_examples=300, deadline=None)
@given(st.frozensets(entries, max_size=6), locals_, domains)
def test_the_prepared_blacklist_answers_like_blacklist_match(
    blacklist: frozenset[str], local: str, domain: str
) -> None:
    index = BlacklistIndex.of(blacklist)
    address = f"{local}@{domain}"
    # Twice: the second answer comes from the per-domain memory.
    assert index.match(address, domain) == blacklist_match(address, blacklist)
    assert index.match(address, domain) == blacklist_match(address, blacklist)


@pytest.mark.parametrize(
    ("header", "typed"),
    [
        ("Jörg <joerg@XN--MLLER-KVA.Example.>", "müller.example"),
        ("joerg@shop.müller.example", "*.XN--MLLER-KVA.example"),
        ("joerg@bu\u0308cher\u3002example", "@BÜCHER.example"),
        ("JOHN@Acme.COM", "john@acme.com"),
    ],
)
def test_typed_entries_match_addresses_as_the_parser_gives_them(header: str, typed: str) -> None:
    (address,), dropped = parse_addresses(header)
    assert dropped == 0
    entry = clean_blacklist_entry(typed)
    assert blacklist_match(address.address, frozenset({entry})) == entry
