"""Address facts the rules need: domains, sub-addresses, role addresses, blacklist entries and matches."""

from __future__ import annotations

import unicodedata

from mailtrail.mail.addresses import normalise_domain as parser_domain

# Local parts (before any "+") that never get a person created when the workspace keeps role addresses out.
ROLE_LOCAL_PARTS = frozenset(
    {
        "noreply",
        "no-reply",
        "no_reply",
        "donotreply",
        "do-not-reply",
        "do_not_reply",
        "mailer-daemon",
        "postmaster",
        "notification",
        "notifications",
    }
)

# Characters that cannot appear in a domain or an address we would ever compare against.
_FORBIDDEN_IN_ENTRY = frozenset('<>()[],;:"\\/')


def domain_of(address: str) -> str:
    """The part after the last "@" of a normalised address ("" when there is none)."""
    _, at, domain = address.rpartition("@")
    return domain if at else ""


def strip_subaddress(address: str) -> str:
    """``john+crm@acme.com`` -> ``john@acme.com``; an address without a "+" tag is returned as is."""
    local, at, domain = address.rpartition("@")
    if not at or "+" not in local:
        return address
    base = local.partition("+")[0]
    # "+tag@acme.com" has no base to fall back to: keep it as written rather than invent "@acme.com".
    return f"{base}@{domain}" if base else address


def is_role_address(address: str) -> bool:
    """Whether the local part, before any "+", is a role name of the contract or starts with "bounce"."""
    local = address.rpartition("@")[0].partition("+")[0].lower()
    return local in ROLE_LOCAL_PARTS or local.startswith("bounce")


def blacklist_match(address: str, blacklist: frozenset[str]) -> str | None:
    """The entry covering ``address``: the address, its exact domain, or a ``*.`` entry for it or a parent."""
    if not blacklist:
        return None
    if address in blacklist:
        return address
    domain = domain_of(address)
    if domain in blacklist:
        return domain
    # "*.acme.com" covers acme.com and every subdomain: walk from the exact domain up to the last label.
    candidate = domain
    while candidate:
        entry = "*." + candidate
        if entry in blacklist:
            return entry
        candidate = candidate.partition(".")[2]
    return None


def normalise_domain(domain: str) -> str:
    """A domain typed by a user, in the form the parser gives domains in addresses, so the two compare equal.

    Lower-case Unicode, ``xn--`` labels decoded, NFC, no trailing dot (``mail.addresses.normalise_domain``).
    Unlike the parser, which keeps what it cannot decode, raises ``ValueError`` naming a bad ``xn--`` label.
    """
    for label in domain.strip().lower().split("."):
        if label.startswith("xn--"):
            try:
                label[4:].encode("ascii").decode("punycode")
            except (UnicodeError, ValueError) as exc:
                raise ValueError(f'"{label}" is not a valid IDNA (xn--) label') from exc
    return parser_domain(domain)


def _check_domain(entry: str, domain: str) -> None:
    """Raise ``ValueError`` for a domain part that could never match an address."""
    if not domain:
        raise ValueError(f'"{entry}": no domain')
    if any(not label for label in domain.split(".")):
        raise ValueError(f'"{entry}": empty label in domain "{domain}"')
    if "*" in domain:
        raise ValueError(f'"{entry}": "*" is only allowed as a leading "*." before a domain')


def normalise_blacklist_entry(entry: str) -> str:
    """One blacklist entry in its stored form: ``user@domain``, ``domain`` or ``*.domain``, normalised.

    Accepts ``user@domain``, ``domain``, ``@domain`` (stored as ``domain``) and ``*.domain``, in any case,
    with surrounding spaces and IDN domains in either form.
    Raises ``ValueError`` saying what is wrong otherwise.
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
        domain = _normalised(entry, rest)
        _check_domain(entry, domain)
        return "*." + domain

    local, at, domain_part = text.rpartition("@")
    if at and not domain_part:
        raise _invalid(entry, 'no domain after "@"')
    domain = _normalised(entry, domain_part)
    _check_domain(entry, domain)
    if "*" in local:
        raise _invalid(entry, '"*" is only allowed as a leading "*." before a domain')
    if not local:
        # "domain" and "@domain" are the same entry: that exact domain.
        return domain
    return unicodedata.normalize("NFC", f"{local.lower()}@{domain}")


def _normalised(entry: str, domain: str) -> str:
    try:
        return normalise_domain(domain)
    except ValueError as exc:
        raise ValueError(f'"{entry}": {exc}') from exc


def _invalid(entry: str, what: str) -> ValueError:
    return ValueError(f'"{entry}": {what}')
