"""Addresses and domains in the one form the rules compare (import-rules.md, "Normalising an address").

Two halves, for two kinds of input:

- lenient normalisation, for what providers and files give (``normalise_address``, ``normalise_domain``):
  never raises; keeps what it cannot decode, drops (None) what is no participant. Every parsed address goes
  through it, so it is the hot path of an import.
- strict validation, for what users type in CSV files, on the command line and in settings
  (``clean_address``, ``clean_domain``, ``clean_blacklist_entry``): returns the stored form, which is exactly
  what the lenient half gives for the same valid input, or raises ``ValueError`` saying what is wrong,
  without naming the field or the place (the caller knows those and adds them).

This module sits below ``mail``, ``rules`` and ``crm``, which all import it; it imports none of them.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Literal

# Longer addresses cannot be real (RFC 5321 allows 254) and would not fit the address columns (320).
MAX_ADDRESS_LENGTH = 320
# The domain columns hold 255 characters; PostgreSQL enforces it, SQLite would not, so we check first.
MAX_DOMAIN_LENGTH = 255

# --- Lenient normalisation: what providers and files give. Never raises. ---

# The common case, checked first: ASCII dot-atom local part and host name, blanks around, one trailing dot.
_SIMPLE_ADDRESS = re.compile(
    r"\s*([A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+)@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)\.?\s*"
)
# Characters that cannot be in a domain, or in an unquoted local part: such an "address" is junk. Stray
# quotes are let through in local parts: Enron has real recipients like <a".'"fishkin@enron.com>.
_BAD_DOMAIN = re.compile(r'[@<>"(),;:\\\[\]]')
_BAD_LOCAL = re.compile(r"[<>(),;:\\\[\]]")
_WHITE = re.compile(r"\s+")
# Ideographic and full-width full stops separate domain labels like "." does (IDNA, RFC 3490 3.1).
_DOTS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})


def normalise_domain(domain: str) -> str:
    """Lower-case, strip one trailing dot, decode IDNA A-labels, NFC-normalise. Bad punycode is kept as is."""
    domain = domain.strip()
    if domain.isascii():
        domain = domain.lower()
        if domain.endswith("."):
            domain = domain[:-1]
        if "xn--" not in domain:
            return domain
    else:
        domain = unicodedata.normalize("NFC", domain.translate(_DOTS)).lower()
        if domain.endswith("."):
            domain = domain[:-1]
    labels = domain.split(".")
    for index, label in enumerate(labels):
        if label.startswith("xn--"):
            labels[index] = _decode_a_label(label)
    return unicodedata.normalize("NFC", ".".join(labels)).lower()


def _decode_a_label(label: str) -> str:
    """The Unicode form of one ``xn--`` label, or the label as written when it is not valid punycode."""
    try:
        decoded = label[4:].encode("ascii").decode("punycode")
    except (UnicodeError, ValueError):
        return label
    # An A-label must stand for non-ASCII text, and must not smuggle in separators or blanks.
    if (
        decoded.isascii()
        or not decoded
        or any(c in ".@" or c.isspace() or not c.isprintable() for c in decoded)
    ):
        return label
    return decoded


def normalise_address(addr_spec: str) -> str | None:
    """The normalised form of one addr-spec; None when it is no participant (no @, empty part, too long)."""
    simple = _SIMPLE_ADDRESS.fullmatch(addr_spec)
    if simple is not None and "--" not in addr_spec and len(addr_spec) < MAX_ADDRESS_LENGTH:
        return f"{simple.group(1)}@{simple.group(2)}".lower()
    spec = addr_spec.strip()
    at = spec.rfind("@")
    if at <= 0:
        return None
    local, domain = spec[:at], spec[at + 1 :]
    if '"' not in local:
        local = _WHITE.sub("", local)
    domain = _WHITE.sub("", domain)
    if domain.endswith("."):
        domain = domain[:-1]
    if not local or not domain or (_BAD_DOMAIN.search(domain) and not domain.startswith("[")):
        return None
    if not local.startswith('"') and _BAD_LOCAL.search(local):
        return None
    local = local.lower()
    if not local.isascii():
        local = unicodedata.normalize("NFC", local)
    normalised = normalise_domain(domain)
    if not normalised:
        return None  # a domain of nothing but dots: empty once normalised
    address = f"{local}@{normalised}"
    if len(address) > MAX_ADDRESS_LENGTH:
        return None
    return address


# --- Strict validation: what users type. Raises ValueError saying what is wrong; callers add field and place.

# What can make a normalised domain invalid; ``_domain_fault`` finds it and each strict function words it.
_DomainFault = Literal["empty label", "invalid IDNA label", "bad label", "too long"]

# Blanks, "@" and the characters that no address or domain we compare against has; quoted local parts are
# refused too (a CRM record has no use for them).
_LOCAL_FORBIDDEN = re.compile(r'[\s<>()\[\],;:"\\@]')
# Refused anywhere in a blacklist entry, before its parts are looked at, so that the message can name them.
_FORBIDDEN_IN_ENTRY = frozenset('<>()[],;:"\\/')
_STAR_ONLY_LEADING = '"*" is only allowed as a leading "*." before a domain'


def _domain_fault(domain: str) -> tuple[_DomainFault, str] | None:
    """What makes a domain (as ``normalise_domain`` gives it) invalid, and the label at fault; None if valid.

    This is the one definition of a valid domain that users may type: labels of letters and digits (any
    script), inner hyphens and underscores, every ``xn--`` label decodable, at most MAX_DOMAIN_LENGTH long.
    """
    for label in domain.split("."):
        if not label:
            return "empty label", label
        if label.startswith("xn--"):
            # normalise_domain decodes every valid A-label, so one still here is not valid: the lenient half
            # keeps it as written, but in what a user types (a CRM record, a blacklist entry) it is a typo.
            return "invalid IDNA label", label
        # Letters and digits (any script), inner hyphens; underscores appear in real internal host names.
        if not all(ch.isalnum() or ch in "-_" for ch in label) or label[0] == "-" or label[-1] == "-":
            return "bad label", label
    if len(domain) > MAX_DOMAIN_LENGTH:
        return "too long", ""
    return None


# The cache pays off in CSV loads, where the same few domains recur on every row.
@lru_cache(maxsize=65536)
def clean_domain(text: str) -> str:
    """A domain in its stored form (as ``normalise_domain`` gives it); a leading ``@`` is allowed."""
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
    fault = _domain_fault(domain)
    if fault is None:
        return domain
    kind, label = fault
    if kind == "empty label":
        raise ValueError(f'"{raw}" has an empty label')
    if kind == "invalid IDNA label":
        raise ValueError(f'"{raw}" has an invalid IDNA label "{label}"')
    if kind == "bad label":
        raise ValueError(f'"{raw}" is not a valid domain (label "{label}")')
    raise ValueError(f"domain longer than {MAX_DOMAIN_LENGTH} characters")


def clean_address(text: str) -> str:
    """An email address in its stored form, exactly as ``normalise_address`` gives it; ``<...>`` allowed."""
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
        # Both parts passed the checks above, and those refuse everything else the lenient half drops:
        # what is left is an address that is too long once normalised.
        raise ValueError(f"address longer than {MAX_ADDRESS_LENGTH} characters")
    return address


def clean_blacklist_entry(entry: str) -> str:
    """One blacklist entry in its stored form: ``user@domain``, ``domain`` or ``*.domain``.

    Accepts ``user@domain``, ``domain``, ``@domain`` (stored as ``domain``) and ``*.domain``, in any case,
    with surrounding spaces and IDN domains in either form. Domains are valid as for :func:`clean_domain`,
    addresses as for :func:`clean_address` (with no "*" or "/", which the blacklist refuses anywhere but in
    a leading ``*.``). Otherwise raises ``ValueError`` whose message starts with the entry as typed (a user
    adding several sees which one was refused) and says what is wrong.
    """
    text = entry.strip()
    if not text:
        raise _invalid(entry, "empty entry")
    if any(ch.isspace() for ch in text):
        raise _invalid(entry, "contains spaces")
    bad = sorted({ch for ch in text if ch in _FORBIDDEN_IN_ENTRY})
    if bad:
        raise _invalid(entry, f"contains {' '.join(bad)}, which no address or domain has")
    if text.count("@") > 1:
        raise _invalid(entry, 'more than one "@"')

    if text.startswith("*."):
        rest = text[2:]
        if not rest:
            raise _invalid(entry, 'no domain after "*."')
        if "@" in rest:
            raise _invalid(entry, '"*." applies to a domain, not an address')
        return "*." + _entry_domain(entry, rest)

    local, at, domain_part = text.rpartition("@")
    if at and not domain_part:
        raise _invalid(entry, 'no domain after "@"')
    domain = _entry_domain(entry, domain_part)
    if "*" in local:
        raise _invalid(entry, _STAR_ONLY_LEADING)
    if not local:
        # "domain" and "@domain" are the same entry: that exact domain.
        return domain
    try:
        # The checks above leave clean_address only the length to refuse, and give its stored form.
        return clean_address(text)
    except ValueError as exc:
        raise _invalid(entry, str(exc)) from None


def _entry_domain(entry: str, text: str) -> str:
    """The domain part of a blacklist entry, normalised and checked by the rule of :func:`clean_domain`.

    The messages are the blacklist's own (older than that rule, and what users of the blacklist see).
    """
    domain = normalise_domain(text)
    if not domain:
        raise _invalid(entry, "no domain")
    fault = _domain_fault(domain)
    if fault is None:
        return domain
    kind, label = fault
    if kind == "empty label":
        raise _invalid(entry, f'empty label in domain "{domain}"')
    if kind == "invalid IDNA label":
        raise _invalid(entry, f'"{label}" is not a valid IDNA (xn--) label')
    if kind == "bad label" and "*" in label:
        raise _invalid(entry, _STAR_ONLY_LEADING)
    if kind == "bad label":
        raise _invalid(entry, f'not a valid domain (label "{label}")')
    raise _invalid(entry, f"domain longer than {MAX_DOMAIN_LENGTH} characters")


def _invalid(entry: str, what: str) -> ValueError:
    return ValueError(f'"{entry}": {what}')
