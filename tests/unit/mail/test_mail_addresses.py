"""Address header values to participants, as import-rules.md "Normalising an address" says.

The normalisation of one addr-spec is tested with the address module (tests/unit/test_addresses.py).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailtrail.mail.addresses import parse_addresses
from mailtrail.mail.parsed import Address


def addresses(value: str) -> list[str]:
    return [a.address for a in parse_addresses(value)[0]]


def test_display_names_and_comments_are_dropped_from_the_address_but_the_name_is_kept() -> None:
    found, dropped = parse_addresses('"Doe, John" <John.Doe@Example.COM.>, jane@example.org (Jane Roe)')
    assert found == [Address("john.doe@example.com", "Doe, John"), Address("jane@example.org", "Jane Roe")]
    assert dropped == 0


def test_encoded_word_display_name_with_an_idn_address() -> None:
    found, _ = parse_addresses("=?utf-8?Q?J=C3=B8rn_M=C3=BCller?= <User@xn--bcher-kva.example>")
    assert found == [Address("user@bücher.example", "Jørn Müller")]


def test_utf8_display_name_with_a_unicode_domain() -> None:
    found, _ = parse_addresses("Jörg Bäcker <jörg@Bücher.example>")
    assert found == [Address("jörg@bücher.example", "Jörg Bäcker")]


def test_a_whole_mailbox_sent_as_an_encoded_word_is_read() -> None:
    found, _ = parse_addresses("=?utf-8?Q?user=40b=C3=BCcher.example?=")
    assert addresses("=?utf-8?Q?user=40b=C3=BCcher.example?=") == ["user@bücher.example"]
    assert found[0].name is None


def test_encoded_words_split_inside_a_character_are_joined() -> None:
    # "Müller" in UTF-8 split between the two bytes of "ü" across two encoded-words.
    found, _ = parse_addresses("=?utf-8?B?TcM=?= =?utf-8?B?vGxsZXI=?= <m@example.com>")
    assert found[0].name == "Müller"


@pytest.mark.parametrize(
    "value",
    [
        "undisclosed-recipients:;",
        "undisclosed recipients: ;",
        "unlisted-recipients:; (no To-header on input)",
    ],
)
def test_empty_groups_add_nobody_and_drop_nothing(value: str) -> None:
    assert parse_addresses(value) == ([], 0)


def test_group_members_are_participants() -> None:
    value = "Team: Ann <ann@example.com>, bob@example.com;, carol@example.org"
    assert addresses(value) == ["ann@example.com", "bob@example.com", "carol@example.org"]


def test_addresses_without_at_or_with_empty_parts_are_dropped_and_counted() -> None:
    found, dropped = parse_addresses("nobody, @example.com, jane@, , Moderator <moderator>, ok@example.com")
    assert [a.address for a in found] == ["ok@example.com"]
    assert dropped == 4


def test_order_is_kept_and_duplicates_are_left_to_the_email() -> None:
    assert addresses("b@example.com, A@example.com, b@example.com") == [
        "b@example.com",
        "a@example.com",
        "b@example.com",
    ]


def test_leading_empty_entries_are_ignored() -> None:
    assert parse_addresses(", user-example@aol.com, e-s-a-s-2200@app.ar.com") == (
        [Address("user-example@aol.com"), Address("e-s-a-s-2200@app.ar.com")],
        0,
    )


def test_a_name_without_brackets_keeps_only_the_address() -> None:
    assert parse_addresses("John Smith john@example.com") == ([Address("john@example.com", "John Smith")], 0)


def test_obsolete_syntax_routes_and_comments_inside_brackets() -> None:
    assert addresses("<@relay.example:user@host.example>") == ["user@host.example"]
    assert addresses("John Doe <jdoe@machine(comment).  example>") == ["jdoe@machine.example"]
    assert addresses("john . doe @ example.com") == ["john.doe@example.com"]


def test_quoted_local_parts_and_two_addresses_without_a_comma() -> None:
    assert addresses('"john doe"@example.com') == ['"john doe"@example.com']
    assert addresses("<a@example.com> <b@example.com>") == ["a@example.com", "b@example.com"]


def test_unterminated_quotes_brackets_and_comments_do_not_break_the_rest() -> None:
    assert parse_addresses('"Unclosed <a@example.com>') == ([Address("a@example.com", "Unclosed")], 0)
    assert parse_addresses("junk<x@example.com") == ([Address("x@example.com", "junk")], 0)
    assert addresses("Ann <ann@example.com") == ["ann@example.com"]
    assert addresses("ann@example.com (never closed") == ["ann@example.com"]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list('ab@.,;:<>()"\\ =?xn-ü\t')), max_size=60) | st.text(max_size=60))
def test_any_text_gives_addresses_or_drops_never_an_error(value: str) -> None:
    found, dropped = parse_addresses(value)
    assert dropped >= 0
    for address in found:
        local, _, domain = address.address.rpartition("@")
        assert local
        assert domain
        assert address.address == address.address.lower()
