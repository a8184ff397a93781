"""extract_bodies and the HTML helpers: what a user reads of an imported email."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailtrail.mail.html import html_to_text, sanitise_html, snippet
from mailtrail.mail.rfc822 import extract_bodies

HEAD = b"From: ann@customer.example\r\nTo: rep@ourco.example\r\nSubject: Hi\r\nMIME-Version: 1.0\r\n"


def test_a_plain_text_message() -> None:
    assert extract_bodies(HEAD + b"\r\nHello there.\r\n") == ("Hello there.\r\n", None)


def test_multipart_alternative_gives_both_and_skips_attachments() -> None:
    raw = HEAD + (
        b'Content-Type: multipart/mixed; boundary="outer"\r\n\r\n'
        b"--outer\r\n"
        b'Content-Type: multipart/alternative; boundary="inner"\r\n\r\n'
        b"--inner\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        b"Caf=C3=A9 at noon?\r\n"
        b"--inner\r\nContent-Type: text/html; charset=iso-8859-1\r\n\r\n<p>Caf\xe9 at noon?</p>\r\n"
        b"--inner--\r\n"
        b"--outer\r\nContent-Type: text/plain; name=notes.txt\r\n"
        b"Content-Disposition: attachment; filename=notes.txt\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.b64encode(b"attached notes") + b"\r\n"
        b"--outer--\r\n"
    )
    text, html = extract_bodies(raw)
    assert text is not None
    assert text.strip() == "Café at noon?"
    assert html is not None
    assert html.strip() == "<p>Café at noon?</p>"


def test_an_attached_text_file_is_not_the_body() -> None:
    raw = HEAD + (
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain; name=data.csv\r\n\r\na,b,c\r\n"
        b"--b\r\nContent-Type: text/plain\r\n\r\nThe real body.\r\n--b--\r\n"
    )
    # The line break before a boundary belongs to the boundary (RFC 2046).
    assert extract_bodies(raw) == ("The real body.", None)


def test_unknown_charset_falls_back_to_utf8() -> None:
    raw = HEAD + b"Content-Type: text/plain; charset=x-no-such-charset\r\n\r\nna\xc3\xafve caf\xc3\xa9\r\n"
    assert extract_bodies(raw) == ("naïve café\r\n", None)


def test_unlabelled_8bit_text_that_is_not_utf8_is_read_as_windows_1252() -> None:
    raw = HEAD + b"\r\nIt\x92s \x93quoted\x94\r\n"
    assert extract_bodies(raw)[0] == "It’s “quoted”\r\n"


@pytest.mark.parametrize("charset", [b"rot13", b"idna", b"zlib", b'"utf-8"', b"UTF8", b"ks_c_5601-1987"])
def test_odd_charset_labels_never_raise(charset: bytes) -> None:
    raw = HEAD + b"Content-Type: text/plain; charset=" + charset + b"\r\n\r\nplain words\r\n"
    text, _ = extract_bodies(raw)
    assert text is not None
    assert "plain words" in text


def test_missing_boundaries_still_give_the_text() -> None:
    no_closing = (
        HEAD
        + b'Content-Type: multipart/alternative; boundary="b"\r\n\r\n'
        + b"--b\r\nContent-Type: text/plain\r\n\r\nStill here.\r\n"
    )
    assert extract_bodies(no_closing)[0] == "Still here."  # no closing boundary: the text runs to the end
    no_boundary = HEAD + b"Content-Type: multipart/alternative\r\n\r\nJust text.\r\n"
    assert extract_bodies(no_boundary) == ("Just text.\r\n", None)
    wrong_boundary = HEAD + b"Content-Type: multipart/alternative; boundary=zz\r\n\r\nJust text.\r\n"
    assert extract_bodies(wrong_boundary) == ("Just text.\r\n", None)


def test_the_repeated_content_type_parameter_trap() -> None:
    raw = HEAD + b"Content-Type: text/html " + b"; " * 7500 + b"\r\n\r\n<p>Still readable</p>\r\n"
    assert extract_bodies(raw) == (None, "<p>Still readable</p>\r\n")


def test_broken_base64_gives_what_can_be_read() -> None:
    raw = (
        HEAD
        + b"Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\nSGVsbG8gd29ybGQ=!!!===\r\n"
    )
    text, _ = extract_bodies(raw)
    assert text is not None
    assert text.startswith("Hello world")


def test_html_only_with_a_nul_byte() -> None:
    raw = HEAD + b"Content-Type: text/html; charset=utf-8\r\n\r\n<b>bold\x00</b>"
    assert extract_bodies(raw) == (None, "<b>bold</b>")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_any_bytes_give_bodies_or_none(raw: bytes) -> None:
    text, html = extract_bodies(HEAD + b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n' + raw)
    assert text is None or isinstance(text, str)
    assert html is None or isinstance(html, str)


def test_sanitise_html_removes_scripts_handlers_styles_images_and_script_urls() -> None:
    dirty = (
        '<p onclick="steal()" style="color:red">Hi <b>there</b></p><script>alert(1)</script>'
        '<style>p {}</style><img src="https://tracker.example/pixel.gif">'
        '<a href="javascript:alert(1)">bad</a> <a href="https://ok.example/">good</a>'
    )
    clean = sanitise_html(dirty)
    for forbidden in ("onclick", "style", "script", "alert", "<img", "tracker", "javascript"):
        assert forbidden not in clean
    assert "<p>Hi <b>there</b></p>" in clean
    assert '<a href="https://ok.example/" rel="noopener noreferrer nofollow">good</a>' in clean


def test_html_to_text_keeps_visible_text_one_line_per_block() -> None:
    html = (
        "<html><head><title>T</title><style>x{}</style></head>"
        "<body><p>Hello&nbsp;<b>Ann</b>,</p><div>See you &amp; bye</div></body></html>"
    )
    assert html_to_text(html) == "Hello Ann,\n\nSee you & bye"


def test_html_to_text_survives_broken_markup() -> None:
    assert html_to_text("<p>open <b>never closed <div <<>> text").startswith("open never closed")


def test_snippet_collapses_white_space_and_cuts_at_a_word() -> None:
    assert snippet("  Hello\r\n\r\n   there\tfriend  ") == "Hello there friend"
    long = snippet("word " * 100, 50)
    assert len(long) <= 50
    assert long.endswith("…")
    assert long.removesuffix("…").split() == ["word"] * len(long.removesuffix("…").split())


@pytest.mark.parametrize(
    ("encoding", "payload"),
    [
        (b"quoted printable", b"Caf=C3=A9 ouvert"),
        (b"Quoted_Printable", b"Caf=C3=A9 ouvert"),
        (b"Base64 ", base64.b64encode("Café ouvert".encode())),
        (b"base-64; junk", base64.b64encode("Café ouvert.".encode()).rstrip(b"=")),  # padding lost
    ],
)
def test_transfer_encodings_written_loosely_are_still_decoded(encoding: bytes, payload: bytes) -> None:
    raw = HEAD + b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: " + encoding
    text, _ = extract_bodies(raw + b"\r\n\r\n" + payload + b"\r\n")
    assert text is not None
    assert text.startswith("Café ouvert")


@pytest.mark.parametrize(
    "hostile",
    ["<" * 100_000, "<a " * 40_000, "<script" * 20_000, "<!--" * 30_000, "&" * 100_000, "<b>" * 40_000],
)
def test_hostile_html_gives_safe_output(hostile: str) -> None:
    clean = sanitise_html(hostile + "<script>alert(1)</script>")
    assert "<script" not in clean
    assert "alert(1)" not in html_to_text(hostile + "<script>alert(1)</script>")
