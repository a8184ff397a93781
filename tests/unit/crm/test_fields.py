"""Values as users type them in CSV files and on the command line: stored forms and clear refusals.

Addresses and domains are tested with the address module (tests/unit/test_addresses.py).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mailtrail.crm.fields import parse_bool, parse_time, split_list


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
