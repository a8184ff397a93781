"""Who is making a request: a signed-in user (a web session) or an API token, in one workspace."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Via = Literal["session", "token"]


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller of a request.

    ``user_id`` is None for an API token (a token belongs to its workspace, not to the person who made it);
    ``role`` is ``"admin"`` or ``"member"``; ``csrf`` is the token that unsafe requests of a web session must
    send back (header ``X-CSRF-Token`` or form field ``csrf_token``), None for an API token.
    """

    user_id: int | None
    workspace_id: int
    role: str
    via: Via
    csrf: str | None

    @property
    def is_admin(self) -> bool:
        """True for an admin of the workspace."""
        return self.role == "admin"
