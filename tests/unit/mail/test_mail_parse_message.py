"""parse_message: the header fields the rules and the importer read, from made-up raw messages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailtrail.mail.parsed import Address, ProviderFlags
from mailtrail.mail.rfc822 import parse_message

BASE = (
    "Message-ID: <abc.123@mail.example.com>",
    "Date: Tue, 14 May 2024 09:30:00 +0200",
    "From: Ann Customer <Ann@Customer.example>",
    "To: rep@ourco.example",
    "Subject: Renewal",
)


def message(*headers: str, body: str = "Hello.\r\n", newline: str = "\r\n") -> bytes:
    return (newline.join(headers) + newline + newline + body).encode("utf-8")


def replaced(name: str, value: str | None) -> tuple[str, ...]:
    """BASE with one header replaced (or removed when value is None)."""
    kept = tuple(h for h in BASE if not h.lower().startswith(name.lower() + ":"))
    return kept if value is None else (*kept, f"{name}: {value}")


def test_a_plain_message() -> None:
    email = parse_message(message(*BASE, "Cc: Bob <BOB@customer.example>, carol@customer.example"))
    assert email.key == "abc.123@mail.example.com"
    assert email.thread_key == email.key
    assert email.sender == Address("ann@customer.example", "Ann Customer")
    assert email.to == (Address("rep@ourco.example"),)
    assert email.cc == (Address("bob@customer.example", "Bob"), Address("carol@customer.example"))
    assert email.time == datetime(2024, 5, 14, 7, 30, tzinfo=UTC)
    assert email.subject == "Renewal"
    assert email.defects == ()
    assert email.text_body is None
    assert email.html_body is None
    assert not email.flags.not_email


def test_folded_and_encoded_headers_are_unfolded_and_decoded() -> None:
    raw = message(
        *replaced("Subject", "=?UTF-8?Q?R=C3=A9union?=\r\n =?UTF-8?Q?_de_suivi?= and\r\n\tmore"),
        "Cc: one@customer.example,\r\n\ttwo@customer.example",
    )
    email = parse_message(raw)
    assert email.subject == "Réunion de suivi and more"
    assert [a.address for a in email.cc] == ["one@customer.example", "two@customer.example"]


def test_utf8_headers_and_lf_line_endings() -> None:
    raw = message(*replaced("From", "Jörg Bäcker <jörg@bücher.example>"), newline="\n")
    email = parse_message(raw)
    assert email.sender == Address("jörg@bücher.example", "Jörg Bäcker")


def test_latin1_junk_bytes_in_headers_are_read_not_raised() -> None:
    raw = message(*BASE).replace(b"Renewal", b"Renouvellement \xe9t\xe9")
    email = parse_message(raw)
    assert email.subject == "Renouvellement été"
    assert email.sender is not None
    assert email.sender.address == "ann@customer.example"
    assert "8-bit header bytes that are not UTF-8" in email.defects


def test_no_to_header_trap_gives_no_recipients() -> None:
    email = parse_message(message(*replaced("To", "unlisted-recipients:; (no To-header on input)")))
    assert email.to == ()
    assert email.dropped_addresses == 0
    assert email.recipients() == []


def test_bcc_and_repeated_to_headers_are_read() -> None:
    email = parse_message(message(*BASE, "To: second@customer.example", "Bcc: hidden@customer.example"))
    assert [a.address for a in email.to] == ["rep@ourco.example", "second@customer.example"]
    assert email.bcc == (Address("hidden@customer.example"),)


def test_upper_case_addresses_and_trailing_dots() -> None:
    email = parse_message(message(*replaced("To", "REP@OURCO.EXAMPLE., Other@Customer.Example")))
    assert [a.address for a in email.to] == ["rep@ourco.example", "other@customer.example"]


def test_addresses_without_at_are_counted_as_dropped() -> None:
    email = parse_message(message(*replaced("To", "Sales Team, rep@ourco.example, @nowhere")))
    assert email.to == (Address("rep@ourco.example"),)
    assert email.dropped_addresses == 2


def test_empty_from_falls_back_to_sender() -> None:
    raw = message(*replaced("From", ""), "Sender: Assistant <assistant@customer.example>")
    email = parse_message(raw)
    assert email.sender == Address("assistant@customer.example", "Assistant")


def test_sender_header_alone_gives_the_sender() -> None:
    email = parse_message(message(*replaced("From", None), "Sender: assistant@customer.example"))
    assert email.sender == Address("assistant@customer.example")
    assert "no From header" in email.defects


def test_no_from_and_no_sender_gives_no_sender() -> None:
    email = parse_message(message(*replaced("From", "Moderator <moderator>")))
    assert email.sender is None
    assert email.dropped_addresses == 1


def test_an_obsolete_from_field_is_not_taken_for_an_mbox_line() -> None:
    email = parse_message(message("From  : John Doe <jdoe@machine.example>", "To: a@b.example"))
    assert email.sender == Address("jdoe@machine.example", "John Doe")


def test_an_mbox_from_line_is_skipped() -> None:
    raw = b"From ann@customer.example Tue May 14 09:30:00 2024\n" + message(*BASE, newline="\n")
    email = parse_message(raw)
    assert email.sender == Address("ann@customer.example", "Ann Customer")
    assert not email.flags.not_email


def test_blank_lines_before_the_headers_are_tolerated() -> None:
    email = parse_message(b" " * 80 + b"\r\n\r\n" + message(*BASE))
    assert email.sender is not None
    assert not email.flags.not_email
    assert "blank lines before the headers" in email.defects


@pytest.mark.parametrize(
    ("date", "expected"),
    [
        ("Thu, 25 Oct 2001 12:38:17 -0700 (PDT)", datetime(2001, 10, 25, 19, 38, 17, tzinfo=UTC)),
        ("25 Oct 2001 12:38 EST", datetime(2001, 10, 25, 17, 38, tzinfo=UTC)),
        ("Thu, 25 Oct 01 12:38:17 +0530", datetime(2001, 10, 25, 7, 8, 17, tzinfo=UTC)),
        ("Thu, 25 Oct 2001 12:38:17 -0000", datetime(2001, 10, 25, 12, 38, 17, tzinfo=UTC)),
        ("Thu, 25 Oct 2001 12:38:17 XYZ", datetime(2001, 10, 25, 12, 38, 17, tzinfo=UTC)),
        ("Thu, 25 Oct 2001 12:38:17 +9999", datetime(2001, 10, 25, 12, 38, 17, tzinfo=UTC)),
        ("Sat, 31 Dec 2016 23:59:60 +0000", datetime(2016, 12, 31, 23, 59, 59, tzinfo=UTC)),
        ("Thu,25 Oct 2001 12:38:17 +1400", datetime(2001, 10, 24, 22, 38, 17, tzinfo=UTC)),
    ],
)
def test_dates_in_odd_zones_become_utc(date: str, expected: datetime) -> None:
    email = parse_message(message(*replaced("Date", date)))
    assert email.time == expected
    assert email.time is not None
    assert email.time.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "date", ["", "<HR>", "Wed, 15 Dec 2010    59:10 -0500", "31 Feb 2020 10:00 +0000", "yesterday"]
)
def test_unparsable_dates_give_no_time(date: str) -> None:
    email = parse_message(message(*replaced("Date", date)))
    assert email.time is None
    assert any("Date" in d for d in email.defects)


def test_no_date_header_gives_no_time_and_says_so() -> None:
    email = parse_message(message(*replaced("Date", None)))
    assert email.time is None
    assert "no Date header" in email.defects


def test_the_provider_receive_time_wins_over_the_date_header() -> None:
    received = datetime(2024, 5, 15, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    email = parse_message(message(*BASE), received_at=received)
    assert email.time == datetime(2024, 5, 15, 10, 0, tzinfo=UTC)
    naive = parse_message(message(*BASE), received_at=datetime(2024, 5, 15, 10, 0))
    assert naive.time == datetime(2024, 5, 15, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("date", "year"),
    [
        ("Mon, 30 May 0001 13:10:06 -0800 (PST)", 2001),  # as some Enron messages write it
        ("Tue, 1 Jan 0002 10:00:00 +0000", 2002),
        ("Thu, 25 Oct 02 12:38:17 +0000", 2002),
        ("Thu, 25 Oct 49 12:38:17 +0000", 2049),
        ("Thu, 25 Oct 99 12:38:17 +0000", 1999),
        ("Thu, 25 Oct 0099 12:38:17 +0000", 1999),
        ("25 Oct 0002 12:38 EST", 2002),  # the lenient path
        ("Thu, 25 Oct 2049 12:38:17 +0000", 2049),
    ],
)
def test_a_year_below_100_is_read_as_rfc_5322_reads_two_digits(date: str, year: int) -> None:
    email = parse_message(message(*replaced("Date", date)))
    assert email.time is not None
    assert email.time.year == year


RECEIVED = (
    "Received: from mx.customer.example by mx.ourco.example; Wed, 15 May 2024 08:00:00 +0000",
    "Received: from laptop by mx.customer.example; Wed, 15 May 2024 07:59:00 +0000",
)


@pytest.mark.parametrize(
    "date", [None, "yesterday", "Thu, 1 Jan 1970 00:00:00 +0000", "Thu, 25 Oct 55 12:38:17 +0000"]
)
def test_a_missing_unparsable_or_pre_1971_date_gives_way_to_the_newest_received(date: str | None) -> None:
    email = parse_message(message(*replaced("Date", date), *RECEIVED))
    assert email.time == datetime(2024, 5, 15, 8, 0, tzinfo=UTC)
    assert "time taken from the newest Received header" in email.defects


def test_a_good_date_wins_over_received_headers_and_they_are_not_defects() -> None:
    email = parse_message(message(*BASE, *RECEIVED))
    assert email.time == datetime(2024, 5, 14, 7, 30, tzinfo=UTC)
    assert not any("Received" in d or "repeated" in d for d in email.defects)


def test_a_pre_1971_date_without_received_gives_no_time_so_the_import_time_is_used() -> None:
    email = parse_message(message(*replaced("Date", "Thu, 1 Jan 1970 00:00:00 +0000")))
    assert email.time is None
    assert "Date before 1971" in email.defects
    unusable = parse_message(message(*replaced("Date", None), "Received: from a by b (no time)"))
    assert unusable.time is None
    assert "no usable time in the Received header" in unusable.defects


def test_the_key_of_a_message_without_message_id_keeps_its_own_date() -> None:
    """The fallback key reads the Date, not the Received time, which differs from one mailbox to the next."""
    headers = tuple(h for h in replaced("Date", "Thu, 1 Jan 1970 00:00:00 +0000") if "Message-ID" not in h)
    here = parse_message(message(*headers, RECEIVED[0]))
    there = parse_message(message(*headers, RECEIVED[1]))
    assert here.time != there.time
    assert here.key == there.key


def test_provider_flags_are_kept() -> None:
    assert parse_message(message(*BASE), flags=ProviderFlags(spam=True)).flags == ProviderFlags(spam=True)


@pytest.mark.parametrize(
    ("value", "key"),
    [
        ("<abc@example.com>", "abc@example.com"),
        ("   <  abc@example.com  >   ", "abc@example.com"),
        ("abc@example.com", "abc@example.com"),
        ("<abc@example.com> (added by the relay)", "abc@example.com"),
        ("<1234   @   local.machine.example>", "1234   @   local.machine.example"),
    ],
)
def test_message_id_with_spaces_and_brackets(value: str, key: str) -> None:
    assert parse_message(message(*replaced("Message-ID", value))).key == key


def test_a_huge_message_id_is_hashed_to_fit() -> None:
    key = parse_message(message(*replaced("Message-ID", "<" + "x" * 2000 + "@example.com>"))).key
    assert key.startswith("id-sha256:")
    assert len(key) < 100


def test_without_message_id_the_same_raw_message_gets_the_same_key() -> None:
    raw = message(*replaced("Message-ID", None), body="Please renew.\r\n")
    first, second = parse_message(raw), parse_message(raw)
    assert first.key == second.key
    assert first.key.startswith("sha256:")
    assert "no Message-ID header" in first.defects


def test_without_message_id_a_different_body_gives_a_different_key() -> None:
    one = parse_message(message(*replaced("Message-ID", None), body="Please renew.\r\n"))
    other = parse_message(message(*replaced("Message-ID", None), body="Please cancel.\r\n"))
    assert one.key != other.key


def test_fallback_key_ignores_line_endings_bcc_recipient_order_and_the_mbox_blank_line() -> None:
    headers = replaced("Message-ID", None)
    crlf = message(*headers, "Cc: x@customer.example, y@customer.example", body="Line one.\r\nLine two.\r\n")
    lf = message(
        *headers,
        "Cc: y@customer.example, X@customer.example",
        "Bcc: only-in-the-senders-copy@ourco.example",
        body="Line one.\nLine two.\n\n",
        newline="\n",
    )
    assert parse_message(crlf).key == parse_message(lf).key


def test_without_message_id_only_the_first_4kb_of_the_body_count() -> None:
    headers = replaced("Message-ID", None)
    start = "x" * 5000
    assert (
        parse_message(message(*headers, body=start + "one")).key
        == parse_message(message(*headers, body=start + "two")).key
    )


def test_thread_key_comes_from_references_then_in_reply_to() -> None:
    both = parse_message(
        message(
            *BASE, "In-Reply-To: <parent@x.example>", "References: <root@x.example>\r\n <parent@x.example>"
        )
    )
    assert both.thread_key == "root@x.example"
    reply = parse_message(message(*BASE, "In-Reply-To: <parent@x.example> (Ann's message)"))
    assert reply.thread_key == "parent@x.example"
    empty = parse_message(message(*BASE, "In-Reply-To: ", "References:"))
    assert empty.thread_key == empty.key


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\r\n\r\n",
        b"Just some notes I wrote down.\nNothing else here.\n",
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
        b"    indented first line\nFrom: a@b.example\n\nbody",
        b"From mbox-line-only",
    ],
)
def test_input_without_a_header_block_is_not_an_email(raw: bytes) -> None:
    email = parse_message(raw)
    assert email.flags.not_email
    assert email.sender is None
    assert email.key.startswith("sha256:")


def test_not_email_inputs_with_different_content_get_different_keys() -> None:
    assert parse_message(b"note one").key != parse_message(b"note two").key


def test_nul_bytes_never_reach_the_fields() -> None:
    email = parse_message(message(*replaced("Subject", "Hi\x00there")))
    assert "\x00" not in email.subject


@settings(max_examples=300, deadline=None)
@given(
    st.binary(max_size=300)
    | st.lists(
        st.sampled_from(
            [b"From: ", b"To: ", b"Date: ", b"Subject: =?x?Q?", b"a@b", b"\r\n", b"\n ", b':;<>"(']
        ),
        max_size=30,
    ).map(b"".join)
)
def test_any_bytes_give_a_parsed_email(raw: bytes) -> None:
    email = parse_message(raw)
    assert email.key
    assert not any(d.startswith("parser error") for d in email.defects)


def test_idn_addresses_in_both_forms_are_the_same_participant() -> None:
    raw = message(
        *replaced("From", "=?utf-8?Q?J=C3=B6rg?= <Joerg@XN--BCHER-KVA.example>"),
        "Cc: Jörg <joerg@bücher.example>, other@xn--bcher-kva.example.",
    )
    email = parse_message(raw)
    assert email.sender == Address("joerg@bücher.example", "Jörg")
    assert email.cc == (Address("joerg@bücher.example", "Jörg"), Address("other@bücher.example"))
    assert [a.address for _, a in email.recipients()] == ["rep@ourco.example", "other@bücher.example"]


def test_unknown_charset_in_an_encoded_subject_is_read_as_utf8_and_noted() -> None:
    email = parse_message(message(*replaced("Subject", "=?x-unknown?Q?caf=C3=A9?=")))
    assert email.subject == "café"
    assert "bad charset 'x-unknown'" in email.defects


def test_the_content_type_trap_does_not_slow_or_break_the_header_path() -> None:
    raw = message(*BASE, "Content-Type: text/html " + "; " * 7500)
    email = parse_message(raw)
    assert email.sender == Address("ann@customer.example", "Ann Customer")
    assert email.defects == ()


def test_an_encoded_nul_never_reaches_the_subject_or_names() -> None:
    email = parse_message(
        message(*replaced("Subject", "=?utf-8?Q?a=00b?="), "Cc: =?utf-8?Q?x=00?= <c@d.example>")
    )
    assert email.subject == "a\ufffdb"
    assert email.cc == (Address("c@d.example", "x\ufffd"),)
