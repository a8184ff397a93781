"""Cursors: a key survives the round trip; anything else is a 400 that says what to send."""

from datetime import UTC, datetime

import pytest

from mailtrail.api.paging import BadCursor, decode_cursor, encode_cursor, page_of


def test_a_key_comes_back_from_its_cursor_with_its_types() -> None:
    key = (datetime(2001, 5, 14, 16, 39, tzinfo=UTC), 42, "Acme, Inc. ü", None)
    cursor = encode_cursor(key)

    assert not set(cursor) & set("=/+")  # safe in a query string as is
    assert decode_cursor(cursor, (datetime, int, str, str)) == key
    assert decode_cursor(None, (int,)) is None


NOT_A_TIME = encode_cursor(({"t": "yesterday"},))


@pytest.mark.parametrize(
    ("cursor", "key"),
    [
        ("not base64!", (int,)),
        ("e30", (int,)),  # {}
        (encode_cursor((1, 2, 3)), (int,)),
        (encode_cursor(("1",)), (int,)),
        (encode_cursor((True,)), (int,)),
        (encode_cursor((1,)), (datetime,)),
        (NOT_A_TIME, (datetime,)),
        (encode_cursor((2**63,)), (int,)),  # beyond what a BIGINT holds
        (encode_cursor(("a\x00b",)), (str,)),  # PostgreSQL text cannot hold NUL
    ],
)
def test_a_cursor_this_list_did_not_give_out_is_refused(cursor: str, key: tuple[type, ...]) -> None:
    with pytest.raises(BadCursor) as refused:
        decode_cursor(cursor, key)

    assert refused.value.status_code == 400
    assert "next_cursor" in refused.value.message


def test_a_page_has_a_cursor_only_when_more_items_follow() -> None:
    full = page_of([1, 2, 3], 2, key=lambda item: (item,))
    last = page_of([1, 2], 2, key=lambda item: (item,))

    assert full.items == [1, 2]
    assert decode_cursor(full.next_cursor, (int,)) == (2,)
    assert last.items == [1, 2]
    assert last.next_cursor is None
    assert page_of([], 2, key=lambda item: (item,)).next_cursor is None
