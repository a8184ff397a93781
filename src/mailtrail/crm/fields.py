"""Values as users type them (in CSV files and on the command line), checked and normalised.

Each function returns the stored form or raises ``ValueError`` with a message that says what is wrong,
without naming the field or the place: the caller knows those and adds them.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import lru_cache

from mailtrail.mail.addresses import normalise_address, normalise_domain

# Column sizes of the tables (models.py); PostgreSQL enforces them, SQLite would not, so we check first.
MAX_DOMAIN = 255
MAX_ADDRESS = 320

_ADDRESS_SEPARATORS = re.compile(r"[;,\s]+")
_LOCAL_FORBIDDEN = re.compile(r'[\s<>()\[\],;:"\\@]')

TRUE_WORDS = frozenset({"true", "yes", "1", "on"})
FALSE_WORDS = frozenset({"false", "no", "0", "off"})


def split_list(text: str, *, spaces: bool = False) -> list[str]:
    """Items of a ``;``-separated list, stripped, no empty ones.

    With ``spaces`` (lists of domains or addresses, which contain neither) commas and blanks separate too.
    """
    parts = _ADDRESS_SEPARATORS.split(text) if spaces else text.split(";")
    return [stripped for part in parts if (stripped := part.strip())]


@lru_cache(maxsize=65536)
def clean_domain(text: str) -> str:
    """A domain in its stored form (as the mail parser normalises domains); a leading ``@`` is allowed."""
    raw = text.strip()
    if raw.startswith("@"):
        raw = raw[1:]
    if not raw:
        raise ValueError("empty domain")
    if "@" in raw:
        raise ValueError(f'"{raw}" is an address, not a domain')
    if any(ch.isspace() for ch in raw):
        raise ValueError(f'"{raw}" contains spaces')
    domain = normalise_domain(raw)
    for label in domain.split("."):
        if not label:
            raise ValueError(f'"{raw}" has an empty label')
        if label.startswith("xn--"):
            # The parser keeps an undecodable A-label as written; in a CRM record it is a typo.
            raise ValueError(f'"{raw}" has an invalid IDNA label "{label}"')
        # Letters and digits (any script), inner hyphens; underscores appear in real internal host names.
        if not all(ch.isalnum() or ch in "-_" for ch in label) or label[0] == "-" or label[-1] == "-":
            raise ValueError(f'"{raw}" is not a valid domain (label "{label}")')
    if len(domain) > MAX_DOMAIN:
        raise ValueError(f"domain longer than {MAX_DOMAIN} characters")
    return domain


def clean_address(text: str) -> str:
    """An email address in its stored form, exactly as the mail parser normalises addresses."""
    raw = text.strip()
    if raw.startswith("<") and raw.endswith(">"):
        raw = raw[1:-1].strip()
    local, at, domain = raw.rpartition("@")
    if not at:
        raise ValueError(f'"{raw}" has no "@"')
    if not local:
        raise ValueError(f'"{raw}" has an empty local part')
    if not domain:
        raise ValueError(f'"{raw}" has an empty domain')
    if _LOCAL_FORBIDDEN.search(local):
        bad = sorted({"space" if ch.isspace() else ch for ch in _LOCAL_FORBIDDEN.findall(local)})
        raise ValueError(f'"{raw}" has {" ".join(bad)} in its local part')
    try:
        clean_domain(domain)
    except ValueError as exc:
        raise ValueError(f'"{raw}": {exc}') from None
    address = normalise_address(raw)
    if address is None:
        raise ValueError(f'"{raw}" is not an email address')
    if len(address) > MAX_ADDRESS:
        raise ValueError(f"address longer than {MAX_ADDRESS} characters")
    return address


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
