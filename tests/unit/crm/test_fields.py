"""Values as users type them in CSV files and on the command line: stored forms and clear refusals."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from mailtrail.crm.fields import clean_address, clean_domain, parse_bool, parse_time, split_list
from mailtrail.mail.addresses import normalise_address


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("Jane@ACME.com", "jane@acme.com"),
        (" <joe@globex.com> ", "joe@globex.com"),
        ("user@xn--bcher-kva.example", "user@bücher.example"),
        ("ÄNN@Bücher.Example.", "änn@bücher.example"),
        ("john+crm@acme.com", "john+crm@acme.com"),
        ("k..allen@enron.com", "k..allen@enron.com"),
    ],
)
def test_addresses_are_stored_as_the_parser_normalises_them(typed: str, stored: str) -> None:
    assert clean_address(typed) == stored
    # The rules compare stored addresses with parsed ones: both must agree.
    assert normalise_address(typed.strip().strip("<>").strip()) == stored


@pytest.mark.parametrize(
    ("typed", "why"),
    [
        ("jane", 'has no "@"'),
        ("@acme.com", "empty local part"),
        ("jane@", "empty domain"),
        ("ja ne@acme.com", "space in its local part"),
        ("jane@@acme.com", "@ in its local part"),
        ("jane@acme..com", "empty label"),
        ("jane@-acme.com", 'not a valid domain (label "-acme")'),
        ("jane@xn--zz.com", 'invalid IDNA label "xn--zz"'),
    ],
)
def test_malformed_addresses_say_what_is_wrong(typed: str, why: str) -> None:
    with pytest.raises(ValueError, match=re.escape(why)):
        clean_address(typed)


def test_domains() -> None:
    assert clean_domain("@ACME.com.") == "acme.com"
    assert clean_domain("xn--bcher-kva.example") == "bücher.example"
    assert clean_domain("mail_relay.ourco.com") == "mail_relay.ourco.com"
    with pytest.raises(ValueError, match="is an address, not a domain"):
        clean_domain("jane@acme.com")
    with pytest.raises(ValueError, match="empty domain"):
        clean_domain(" @ ")


def test_lists_booleans_and_times() -> None:
    assert split_list(" a.com ; ;b.com;") == ["a.com", "b.com"]
    assert split_list("a.com b.com;c.com, d.com", spaces=True) == ["a.com", "b.com", "c.com", "d.com"]
    # Account names may hold blanks and commas: only ";" separates them.
    assert split_list("Acme, Inc.; Globex Corp") == ["Acme, Inc.", "Globex Corp"]
    assert [parse_bool(v) for v in ("true", "YES", "1", "on", "false", "No", "0", "off")] == [True] * 4 + [
        False
    ] * 4
    with pytest.raises(ValueError, match="allowed: true, false, yes, no, 1, 0"):
        parse_bool("maybe")
    assert parse_time("2024-03-01") == datetime(2024, 3, 1, tzinfo=UTC)
    assert parse_time("2024-03-01T09:30:00Z") == datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
    assert parse_time("2024-03-01T09:30:00-05:00") == datetime(2024, 3, 1, 14, 30, tzinfo=UTC)
    with pytest.raises(ValueError, match="not an ISO 8601 date"):
        parse_time("03/01/2024")
