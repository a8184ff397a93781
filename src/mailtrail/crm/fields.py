"""Values as users type them (in CSV files and on the command line), checked and normalised.

Each function returns the stored form or raises ``ValueError`` with a message that says what is wrong,
without naming the field or the place: the caller knows those and adds them. Addresses and domains are
checked by ``mailtrail.addresses`` (``clean_address``, ``clean_domain``).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import lru_cache

_ADDRESS_SEPARATORS = re.compile(r"[;,\s]+")

TRUE_WORDS = frozenset({"true", "yes", "1", "on"})
FALSE_WORDS = frozenset({"false", "no", "0", "off"})


def split_list(text: str, *, spaces: bool = False) -> list[str]:
    """Items of a ``;``-separated list, stripped, no empty ones.

    With ``spaces`` (lists of domains or addresses, which contain neither) commas and blanks separate too.
    """
    parts = _ADDRESS_SEPARATORS.split(text) if spaces else text.split(";")
    return [stripped for part in parts if (stripped := part.strip())]


def parse_bool(text: str) -> bool:
    """``true/false``, ``yes/no``, ``1/0``, ``on/off`` in any case."""
    word = text.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(f'"{text}" is not a boolean (allowed: true, false, yes, no, 1, 0)')


@lru_cache(maxsize=4096)
def parse_time(text: str) -> datetime:
    """An ISO 8601 date or date-time; without an offset it is taken as UTC."""
    raw = text.strip()
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError(
            f'"{raw}" is not an ISO 8601 date or time (e.g. 2024-03-01 or 2024-03-01T09:30:00Z)'
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)
