"""What every source of email hands to the ingest service: files, Gmail and Microsoft 365 alike."""

from __future__ import annotations

from dataclasses import dataclass

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
