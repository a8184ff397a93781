"""History ids as Gmail hands them out: large, increasing, with random gaps, reproducible for a seed.

Gmail documents ``historyId`` as a uint64 whose values "increase chronologically but are not contiguous with
random gaps in between valid IDs" (users.history.list, startHistoryId:
https://developers.google.com/gmail/api/reference/rest/v1/users.history/list). Real ids are far above 2^32, so
a client that stores them in 32 bits, or that computes "the previous id" as ``id - 1``, breaks on them; the
sandbox hands out the same kind of ids so such a client breaks in tests too. One generator serves a tenant
(the store calls it under the tenant lock), seeded so that a test's ids repeat from run to run.
"""

from __future__ import annotations

import random

# Above 2^32, with room below 2^63 for years of changes (Graph renders ids as 8 bytes, JSON readers as int64).
FIRST_ID_FLOOR = 2**32
FIRST_ID_SPREAD = 2**40
MAX_GAP = 97


class HistoryIds:
    """First ids of new mailboxes and the next id after a change; not thread-safe (callers hold a lock)."""

    def __init__(self, seed: int | None = 0) -> None:
        """``seed`` None draws from the system's randomness (the CLI); an int repeats the same ids."""
        self._random = random.Random(seed)

    def first(self) -> int:
        """The history id a new, empty mailbox starts at."""
        return FIRST_ID_FLOOR + self._random.randrange(FIRST_ID_SPREAD)

    def after(self, current: int) -> int:
        """The id of the next change after ``current``: larger by a random gap of 1 to ``MAX_GAP``."""
        return current + self._random.randint(1, MAX_GAP)
