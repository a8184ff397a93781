"""Gmail labels and Graph folders: the two views of where a message is in a mailbox."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

SYSTEM_LABELS: tuple[str, ...] = (
    "INBOX", "SENT", "DRAFT", "SPAM", "TRASH", "UNREAD", "IMPORTANT", "STARRED", "CHAT",
    "CATEGORY_PERSONAL", "CATEGORY_SOCIAL", "CATEGORY_PROMOTIONS", "CATEGORY_UPDATES", "CATEGORY_FORUMS",
)  # fmt: skip
# Graph well-known folder name -> (display name, the Gmail label that stands for it).
WELL_KNOWN_FOLDERS: dict[str, tuple[str, str | None]] = {
    "inbox": ("Inbox", "INBOX"),
    "sentitems": ("Sent Items", "SENT"),
    "drafts": ("Drafts", "DRAFT"),
    "junkemail": ("Junk Email", "SPAM"),
    "deleteditems": ("Deleted Items", "TRASH"),
    "archive": ("Archive", None),
}
# Labels that place a message in a folder other than sentitems (moving a message replaces them).
PLACING_LABELS = frozenset({"INBOX", "SPAM", "TRASH", "DRAFT"})


@dataclass(frozen=True, slots=True)
class Label:
    """A Gmail label; ``folder_id`` is set when the label stands for a folder (custom folders)."""

    id: str
    name: str
    type: Literal["system", "user"]
    folder_id: str | None = None


@dataclass(frozen=True, slots=True)
class Folder:
    """A Graph mail folder; ``label_id`` is the Gmail label that puts a message in it (None for archive)."""

    id: str
    name: str
    parent_id: str | None
    well_known_name: str | None
    label_id: str | None
