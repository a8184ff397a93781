"""Date header values to aware UTC datetimes, leniently and without raising.

A year below 100 is read as RFC 5322 (section 4.3) reads an obsolete two-digit year, however many digits it
is written with: 00-49 are 2000-2049 and 50-99 are 1950-1999 (``Date: ... 0001`` is 2001, as mail clients
read it).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_tz

_MONTHS = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1
    )
}
# The shape nearly every mailer writes: "Thu, 25 Oct 2001 12:38:17 -0700 (PDT)". Anything else goes to the
# stdlib's lenient parser.
_COMMON = re.compile(
    r"\s*(?:[A-Za-z]{3},\s*)?(\d{1,2})\s+([A-Za-z]{3})\s+(\d{4})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?"
    r"\s+([+-])(\d{2})(\d{2})(?:\s*\([^()]*\))?\s*"
)

_COMMENT = re.compile(r"\([^()]*\)")
_TIME_BLANKS = re.compile(r"\s*:\s*")


# Python's parsedate_tz turns two-digit years of 69-99 into 19xx and 0-68 into 20xx: it and RFC 5322 differ
# only for 50-68, which the lenient path moves back a century.
_STDLIB_ONLY_CENTURY = range(2050, 2069)


def full_year(year: int) -> int:
    """A Date header year as a full year: below 100 by RFC 5322's reading of a two-digit year."""
    if year < 50:
        return 2000 + year
    if year < 100:
        return 1900 + year
    return year


def parse_date(value: str, defects: list[str] | None = None) -> datetime | None:
    """A Date header value as an aware UTC datetime; None (noted in ``defects``) when it does not parse.

    "-0000" and a missing or unknown zone are taken as UTC (the last two with a defect); so is an offset
    of a day or more. A leap second (":60") is read as ":59".
    """
    notes = defects if defects is not None else []
    common = _COMMON.fullmatch(value)
    if common is not None:
        day, month_name, year, hour, minute, second, sign, off_hours, off_minutes = common.groups()
        month = _MONTHS.get(month_name.lower())
        if month is not None:
            offset = int(off_hours) * 60 + int(off_minutes)
            if int(off_hours) > 23 or int(off_minutes) > 59:
                notes.append("bad time zone offset in Date (taken as UTC)")
                offset = 0
            try:
                moment = datetime(
                    full_year(int(year)), month, int(day), int(hour), int(minute), min(int(second or 0), 59),
                    tzinfo=UTC,
                )  # fmt: skip
                return moment - timedelta(minutes=offset if sign == "+" else -offset)
            except (ValueError, OverflowError):
                pass  # impossible day or time; the lenient parser decides
    return _parse_lenient(value, notes)


def _parse_lenient(value: str, notes: list[str]) -> datetime | None:
    text = value.strip()
    if not text:
        notes.append("empty Date header")
        return None
    if "(" in text or " :" in text or ": " in text:
        # Obsolete syntax allows comments and blanks inside: "09(comment):   55  :  06".
        text = _TIME_BLANKS.sub(":", _COMMENT.sub(" ", text)).strip()
    try:
        parts = parsedate_tz(text)
    except (ValueError, TypeError, IndexError, OverflowError):
        parts = None
    if parts is None:
        notes.append("unparsable Date")
        return None
    year, month, day, hour, minute, second = parts[:6]
    if year in _STDLIB_ONLY_CENTURY and str(year) not in text:
        year -= 100  # written with two digits: RFC 5322 reads 50-68 as 1950-1968
    else:
        year = full_year(year)
    offset = parts[9]
    if offset is None:
        if "-0000" not in text:
            notes.append("Date without a known time zone (taken as UTC)")
        offset = 0
    elif abs(offset) >= 86400:
        notes.append("bad time zone offset in Date (taken as UTC)")
        offset = 0
    try:
        moment = datetime(year, month, day, hour, minute, min(second, 59), tzinfo=UTC)
        return moment - timedelta(seconds=offset)
    except (ValueError, OverflowError, TypeError):
        notes.append("unparsable Date")
        return None
