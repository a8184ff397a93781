"""What every source of email hands to the ingest service (``IncomingEmail``), what the sync engine asks of a
provider's mailbox (``Connector``), and what it hears back when that fails."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from mailtrail.mail.parsed import ParsedEmail


@dataclass(frozen=True, slots=True)
class IncomingEmail:
    """One email as its source hands it over, whatever the source.

    ``email`` holds the parsed header fields with the provider's receive time and flags (draft, spam, trash,
    not an email). ``raw`` is the whole MIME message when the source has it (a file, Gmail ``format=raw``);
    otherwise only the provider's parsed fields were fetched (Gmail ``format=metadata``, Graph ``$select``)
    and the ingest service asks the source for the body only when an imported email keeps it.
    """

    # What the report names: a file's path, or the provider's message id.
    source: str
    email: ParsedEmail
    raw: bytes | None = None
    # The provider's own text preview (Gmail's snippet, Graph's bodyPreview), used when there is no raw.
    preview: str | None = None
    # The position inside an mbox file.
    index: int | None = None

    @property
    def provider_id(self) -> str:
        """The id the engagement source keeps: the provider's id, or the path (and index inside an mbox)."""
        return self.source if self.index is None else f"{self.source}#{self.index}"


@dataclass(frozen=True, slots=True)
class Page:
    """One step through a mailbox's changes: the messages to look at, and the cursor after them.

    ``cursor`` is the connector's own (opaque) position, stored with the batch that ingests ``message_ids``
    in one transaction. ``done`` says the mailbox has no more changes now; ``backlog`` estimates how many
    messages are still to come (None when the provider does not say).
    """

    message_ids: tuple[str, ...]
    cursor: str
    done: bool
    backlog: int | None = None


@dataclass(frozen=True, slots=True)
class Watch:
    """A push registration: when it lapses, and what the connector needs to renew or stop it."""

    expires_at: datetime
    state: str = ""
    # The provider's id of the registration, when notifications name it (Graph's subscription id).
    id: str | None = None


class Connector(Protocol):
    """One mailbox at one provider, as the sync engine sees it. Provider quirks stay behind it."""

    def start_cursor(self, since: datetime) -> str:
        """The cursor of a mailbox never synced: everything received from ``since`` on, then what comes."""
        ...

    def resync_cursor(self, since: datetime) -> str:
        """The cursor after the provider forgot ours (``CursorExpired``): again from ``since`` on."""
        ...

    async def page(self, cursor: str) -> Page:
        """The next messages after ``cursor``."""
        ...

    async def fetch(self, message_ids: Sequence[str], *, with_body: bool) -> list[IncomingEmail]:
        """The messages (gone ones left out), parsed; raw MIME only ``with_body``."""
        ...

    async def fetch_bodies(self, items: Sequence[IncomingEmail]) -> dict[str, bytes]:
        """Raw MIME of these messages by provider id."""
        ...

    async def watch(self, state: str | None) -> Watch | None:
        """Register (or renew) push notifications; None when the mailbox has no push set up."""
        ...

    async def aclose(self) -> None:
        """Release the HTTP connections."""
        ...


class ProviderError(Exception):
    """The provider refused or failed a request. ``detail`` is for people (the mailbox's last error)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class Throttled(ProviderError):
    """Over a quota: wait ``retry_after`` seconds (never fatal)."""

    def __init__(self, detail: str, retry_after: float) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class Unavailable(ProviderError):
    """A server error or timeout that retries did not get past: try again later."""


class AccessRevoked(ProviderError):
    """The grant no longer works (revoked, expired, consent withdrawn): the mailbox needs re-authorisation."""


class CursorExpired(ProviderError):
    """The provider no longer knows the cursor (Gmail's history id, Graph's delta token)."""
