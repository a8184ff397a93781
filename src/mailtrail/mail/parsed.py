"""The parsed form of one email that the rules and the importer see, whatever its source."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

Role = Literal["from", "to", "cc", "bcc"]


@dataclass(frozen=True, slots=True)
class Address:
    """A normalised address (lower-case, Unicode NFC domain) and the display name it came with."""

    address: str
    name: str | None = None


@dataclass(frozen=True, slots=True)
class ProviderFlags:
    """What the provider says about the item (rules 0a-0d). A file import sets none of them."""

    draft: bool = False
    spam: bool = False
    trash: bool = False
    not_email: bool = False


@dataclass(slots=True)
class ParsedEmail:
    """One email, parsed. Bodies may be filled lazily by the parser (see ``mail.rfc822``)."""

    key: str
    # The provider's receive time; for a file, the Date header, else (missing, unparsable or before 1971) the
    # newest Received header's time; None when none is usable (the importer then uses the time of import).
    time: datetime | None
    sender: Address | None
    to: tuple[Address, ...] = ()
    cc: tuple[Address, ...] = ()
    bcc: tuple[Address, ...] = ()
    subject: str = ""
    thread_key: str | None = None
    flags: ProviderFlags = field(default_factory=ProviderFlags)
    # Addresses seen in From/Sender/To/Cc/Bcc that were no participant (no @, empty local part or domain).
    dropped_addresses: int = 0
    # Parse problems worth showing in `explain` (never raised).
    defects: tuple[str, ...] = ()
    text_body: str | None = None
    html_body: str | None = None

    def recipients(self) -> list[tuple[Role, Address]]:
        """To, Cc and Bcc in that order, without duplicates and without the sender."""
        seen = {self.sender.address} if self.sender else set()
        out: list[tuple[Role, Address]] = []
        for role, group in (("to", self.to), ("cc", self.cc), ("bcc", self.bcc)):
            for addr in group:
                if addr.address not in seen:
                    seen.add(addr.address)
                    out.append((role, addr))  # type: ignore[arg-type]
        return out
