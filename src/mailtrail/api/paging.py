"""Cursor paging for every list of the API: keyset, never offsets.

A list is ordered by a key that is unique (for example ``(occurred_at, id)`` newest first, or ``(name, id)``);
the cursor is the key of the last item of a page, opaque to clients. The next page is the items after it, so
a row added or removed meanwhile never makes a page skip or repeat an item, and a page deep in a list of a
million costs what the first does.

```python
@router.get("/api/v1/accounts")
def accounts(user: CurrentUser, db: DbSession, cursor: CursorParam = None, limit: LimitParam = 50):
    after = decode_cursor(cursor, (str, int))   # None, or the (name, id) of the last item shown
    rows = repository.accounts_page(db, user.workspace_id, after, limit + 1)
    return page_of([AccountOut.of(row) for row in rows], limit, key=lambda a: (a.name, a.id))
```
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

from mailtrail.api.errors import ApiError

T = TypeVar("T")

MAX_LIMIT = 200
CursorParam = Annotated[
    str | None, Query(description="next_cursor of the previous page; leave out for the first page")
]
LimitParam = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"items per page, at most {MAX_LIMIT}")]


class Page(BaseModel, Generic[T]):
    """One page of a list; ``next_cursor`` is null on the last page."""

    items: list[T]
    next_cursor: str | None


class BadCursor(ApiError):
    def __init__(self) -> None:
        message = "cursor is not one this list gave out: pass next_cursor of the previous page as is"
        super().__init__(400, "bad_cursor", message)


def encode_cursor(key: Sequence[object]) -> str:
    """The opaque cursor for a sort key (strings, integers, datetimes, None)."""
    values = [{"t": value.isoformat()} if isinstance(value, datetime) else value for value in key]
    text = json.dumps(values, separators=(",", ":"), ensure_ascii=False)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, types: Sequence[type]) -> tuple[Any, ...] | None:
    """The sort key in ``cursor``, each value of the type at its place in ``types``; ``BadCursor`` (400) if it
    is not a cursor of such a key. None for no cursor (the first page)."""
    if cursor is None:
        return None
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise BadCursor() from None
    if not isinstance(values, list) or len(values) != len(types):
        raise BadCursor()
    return tuple(_typed(value, kind) for value, kind in zip(values, types, strict=True))


def _typed(value: object, kind: type) -> object:
    if value is None:
        return None
    if kind is datetime:
        if not (isinstance(value, dict) and isinstance(value.get("t"), str)):
            raise BadCursor()
        try:
            return datetime.fromisoformat(value["t"])
        except ValueError:
            raise BadCursor() from None
    # bool is an int in Python, never a key here; a key the database cannot hold was never given out.
    if not isinstance(value, kind) or isinstance(value, bool):
        raise BadCursor()
    if isinstance(value, int) and not -(2**63) <= value < 2**63:
        raise BadCursor()
    if isinstance(value, str) and "\x00" in value:
        raise BadCursor()
    return value


def page_of(items: Sequence[T], limit: int, key: Callable[[T], Sequence[object]]) -> Page[T]:
    """A page from up to ``limit + 1`` items fetched in order: the extra one only says that more follow."""
    shown = list(items[:limit])
    more = len(items) > limit and shown
    return Page[T](items=shown, next_cursor=encode_cursor(key(shown[-1])) if more else None)
