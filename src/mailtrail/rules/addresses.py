"""Address facts of the contract: domains, sub-addresses, role addresses, blacklist matches.

They read addresses already normalised: ``mailtrail.addresses`` normalises what providers give and checks what
users type (blacklist entries included), in one form.
"""

from __future__ import annotations

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
