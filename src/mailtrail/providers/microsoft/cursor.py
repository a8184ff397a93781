"""The Graph connector's cursor: where each folder's delta stands, as JSON opaque to the engine.

``{"v": 1, "since": "<ISO 8601>", "folders": {"<folder id>": "<nextLink or deltaLink, '' before the first
request>"}, "roles": {"<folder id>": "<well-known name>"}, "todo": ["<folder id>", ...], "first": {"<folder
id>": <messages seen>}, "unfiltered": ["<folder id>", ...]}``

- ``since``: folders first seen are read from this receive time on (``$filter=receivedDateTime ge``);
- ``folders``: every folder synced, with the link Graph handed out last: a nextLink (``$skiptoken``: the round
  goes on) or a deltaLink (``$deltatoken``: the round is over; the next one starts there), as
  https://learn.microsoft.com/graph/delta-query-overview#state-tokens describes them;
- ``roles``: the well-known folders left out (Drafts, Junk Email...), by id, with their names;
- ``todo``: the folders still to read in the current pass (absent between passes: the next pass lists the
  folders again first, so new ones are found);
- ``first``: folders in their first round, with the number of messages Graph returned so far (a filtered
  first round returns at most 5,000);
- ``unfiltered``: folders whose filtered first round reached that limit, read again without ``$filter``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from mailtrail.providers.base import CursorExpired
from mailtrail.providers.microsoft.messages import parse_time

CURSOR_VERSION = 1


def is_delta_link(link: str) -> bool:
    """A deltaLink (the round is over), as opposed to a nextLink or no link yet."""
    return "deltatoken=" in link.lower()


@dataclass(slots=True)
class Cursor:
    """The decoded cursor (module docstring)."""

    since: datetime
    folders: dict[str, str] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=dict)
    todo: list[str] | None = None
    first: dict[str, int] = field(default_factory=dict)
    unfiltered: list[str] = field(default_factory=list)

    def dump(self) -> str:
        """The cursor as the engine stores it."""
        data: dict[str, object] = {
            "v": CURSOR_VERSION,
            "since": self.since.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "folders": self.folders,
            "roles": self.roles,
        }
        if self.todo is not None:
            data["todo"] = self.todo
        if self.first:
            data["first"] = self.first
        if self.unfiltered:
            data["unfiltered"] = self.unfiltered
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def load(cls, text: str) -> Cursor:
        """The cursor in ``text``; one that cannot be read is ``CursorExpired`` (then listed again)."""
        try:
            data = json.loads(text)
            since = parse_time(data["since"])
            if data["v"] != CURSOR_VERSION or since is None:
                raise ValueError("unknown cursor version, or no since")
            todo = data.get("todo")
            return cls(
                since=since,
                folders={str(k): str(v) for k, v in dict(data["folders"]).items()},
                roles={str(k): str(v) for k, v in dict(data["roles"]).items()},
                todo=[str(f) for f in todo] if todo is not None else None,
                first={str(k): int(v) for k, v in dict(data.get("first") or {}).items()},
                unfiltered=[str(f) for f in data.get("unfiltered") or ()],
            )
        except (ValueError, TypeError, KeyError, AttributeError):
            raise CursorExpired(
                "mailtrail could not read this mailbox's stored Microsoft Graph sync position"
            ) from None

    def add(self, folder_id: str) -> None:
        """A folder seen for the first time: its first round starts."""
        if folder_id not in self.folders:
            self.folders[folder_id] = ""
            self.first[folder_id] = 0

    def forget(self, folder_id: str) -> None:
        """A folder gone (deleted, or moved under an excluded one)."""
        self.folders.pop(folder_id, None)
        self.first.pop(folder_id, None)
        if folder_id in self.unfiltered:
            self.unfiltered.remove(folder_id)
        if self.todo is not None and folder_id in self.todo:
            self.todo.remove(folder_id)
